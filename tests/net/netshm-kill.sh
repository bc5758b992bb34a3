#!/bin/sh
# SPDX-License-Identifier: MIT
# vhost-user-shmem (docs/vhost-user-shmem.md §6), shared-region mode: a peer's VMM killed
# mid-stream. Three of our VMs on one vmm-switch --netshm:
#   A sends N unicast frames to B and N to C through the fast path (paced, kpps=, so that
#   they flow for seconds); B broadcasts MB frames at 1 kpps (the switch path) all along.
#   While the frames flow, C's VMM gets SIGKILL. Then:
#   - vmm-switch runs on; it logs C's port going away, counts one attached port less, and
#     has withdrawn the flow entries towards C (its `withdrawn` counter moves);
#   - A neither hangs nor crashes: its frames to C find no entry any more and take the switch
#     path, which floods them (C's MAC is forgotten) to B, who counts them as `flooded`;
#   - A -> B still delivers all N frames exactly once, and all of B's broadcasts, sent before,
#     during and after the kill, reach A exactly once (the switch path kept working);
#   - a restarted C on the same port exchanges frames with A through the fast path both ways:
#     it sends A KC frames (A waits for all of them), and receives the rest of A's stream to
#     C (it joined halfway: any number, each at most once, from=MAC/*/0), at least one of
#     them through its new fast ring.
#
#   netshm-kill.sh VMM SWITCH GUEST_DIR [N]
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 VMM SWITCH GUEST_DIR [N]" >&2
	exit 2
fi
NS_VMM=$1 NS_SWITCH=$2 NS_GUESTS=$3
n=${4:-30000}
mb=5000 kc=4000
mac_a=52:54:00:5e:00:0a
mac_b=52:54:00:5e:00:0b
mac_c=52:54:00:5e:00:0c
. "$(dirname "$0")/netshm-lib.sh"
ns_setup netshm-kill

ns_start_switch "a b c"
# A: 2 x N frames at 8 kpps (about 7 s) once B's and C's rings are usable; it waits for
# all of B's broadcasts and C2's frames. A first: B broadcasts at once, and the switch drops
# frames for a port whose RX ring does not run yet.
ns_vm a a "$mac_a" netshm-traffic \
	"dst=$mac_b,$mac_c frames=$n kpps=8 wait_fast=20 from=$mac_b/0/$mb,$mac_c/$kc/0 timeout=60"
ns_wait_log a "netshm-traffic: port" 10 || ns_fail "A did not come up"
ns_vm b b "$mac_b" netshm-traffic "bcast=$mb slow_kpps=1 from=$mac_a/$n/0 timeout=60"
ns_vm c c "$mac_c" netshm-traffic "from=$mac_a/$n/0 timeout=60"
ns_wait_log a "2 of 2 destinations fast" 25 || ns_fail "A's fast path to B and C never got ready"

# ---- C's VMM killed while A's frames flow ----
sleep 1.5
ns_sw_stats || ns_fail "vmm-switch did not print its counters"
[ "$(ns_sw_counter attached)" = 3 ] || ns_fail "3 ports should be attached before the kill"
withdrawn0=$(ns_sw_counter withdrawn)
kill -9 "$(cat "$NS_TMP/c.pid")" || ns_fail "could not kill C's vmm"
[ "$(ns_wait_rc c 5)" = 137 ] || ns_fail "C's vmm did not die of SIGKILL"
sleep 0.5
kill -0 "$NS_SW" 2>/dev/null || ns_fail "vmm-switch died with C"
[ -s "$NS_TMP/a.rc" ] && ns_fail "A stopped when C was killed (status $(cat "$NS_TMP/a.rc"))"
[ -s "$NS_TMP/b.rc" ] && ns_fail "B stopped when C was killed (status $(cat "$NS_TMP/b.rc"))"
grep -q "port c: front-end disconnected" "$NS_TMP/switch.log" ||
	ns_fail "the switch did not log C's port going away"
ns_sw_stats || ns_fail "vmm-switch did not print its counters"
[ "$(ns_sw_counter attached)" = 2 ] || ns_fail "C's port still counts as attached"
[ "$(ns_sw_counter connected c)" = no ] || ns_fail "C's port still counts as connected"
withdrawn1=$(ns_sw_counter withdrawn)
[ "$withdrawn1" -gt "$withdrawn0" ] ||
	ns_fail "no flow entry withdrawn when C went away ($withdrawn0 -> $withdrawn1)"

# ---- C restarted on its port: C2 -> A (all KC frames), A -> C2 (the rest of A's stream) ----
ns_vm c2 c "$mac_c" netshm-traffic \
	"dst=$mac_a frames=$kc kpps=2 wait_fast=20 from=$mac_a/*/0 timeout=40"
for vm in c2 a b; do
	rc=$(ns_wait_rc $vm 60)
	[ "$rc" = 0 ] || ns_fail "VM $vm exited $rc: frames lost, duplicated or corrupt (or not sent)"
done
kill -0 "$NS_SW" 2>/dev/null || ns_fail "vmm-switch died"

flooded=$(ns_counter b flooded)
[ "$flooded" -gt 0 ] || ns_fail "B saw none of A's frames to C flooded by the switch after the kill"
got=$(ns_from c2 "$mac_a" data)
[ -n "$got" ] && [ "$got" -gt 0 ] || ns_fail "the restarted C received nothing from A"
[ "$(ns_counter c2 fast_rx)" -gt 0 ] || ns_fail "A -> restarted C: nothing through the fast path"
[ "$(ns_counter c2 fast_tx)" -gt 0 ] || ns_fail "restarted C -> A: nothing through the fast path"
[ "$(ns_counter a fast_rx)" -gt 0 ] || ns_fail "A received nothing through the fast path"
ns_sw_stats || ns_fail "vmm-switch did not print its counters"
[ "$(ns_sw_counter sessions c)" = 2 ] || ns_fail "port c did not count 2 sessions"
[ "$(ns_sw_counter attaches)" = 4 ] || ns_fail "the switch did not count 4 attaches"
for p in a b c; do
	[ "$(ns_sw_counter broken "$p")" = 0 ] && [ "$(ns_sw_counter refused "$p")" = 0 ] ||
		ns_fail "port $p: broken rings or refused sessions"
done
ns_stop_switch
[ "$NS_SW_RC" = 0 ] || ns_fail "vmm-switch exited $NS_SW_RC on SIGTERM"
echo "PASS: C's VMM killed mid-stream: switch, A and B went on, A -> B $n frames and B's $mb" \
	"broadcasts exactly once; $flooded of A's frames to C flooded after the kill; the" \
	"restarted C got $got of A's frames and sent A its $kc"
grep -h "netshm-traffic:" "$NS_TMP/a.log" "$NS_TMP/b.log" "$NS_TMP/c2.log" |
	grep -E "netshm port|from |flooded"
exit 0
