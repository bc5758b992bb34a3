#!/bin/sh
# SPDX-License-Identifier: MIT
# vhost-user-shmem (docs/vhost-user-shmem.md §3, §6), shared-region mode: a hostile guest M
# (netshm-malicious.elf) scribbles pseudo-random bytes over the region, mostly over the pair
# areas of the others (headers, rings, buffers), and every 1000th store into the control
# part, while two honest VMs A and B exchange traffic:
#   A -> B: NA unicast frames (the fast path while A's ring to B is usable, else the switch)
#           and MA broadcasts (the switch path);
#   B -> A: NB unicast frames forced through the switch (slow=1) and MB broadcasts.
# The switch path is paced low (1-2 kpps): vmm-switch drops what a receiver's RX queue cannot
# take, and with M's busy vCPU (and its thousands of exits) a receiver is descheduled longer.
#
# What the design promises in shared mode, and what this test asserts:
#   - vmm-switch never reads the pair part, the VMMs read nothing of the region: the switch
#     and all three VMMs survive (the honest VMMs exit with their guests' status 0, M's with
#     its guest's status, the switch exits 0 on SIGTERM; no broken ring, no refused session
#     on the honest ports);
#   - the control part is read-only to guests (STATUS.CTRL_RO, KVM_CAP_READONLY_MEM): each of
#     M's control-part stores exits and is dropped: M reads back no change (its exit status
#     0) and its VMM counts exactly as many dropped guest stores as M made;
#   - the switch path goes through the honest guests' private RAM, which M cannot reach:
#     every switch-path frame arrives exactly once and intact (B's unicast frames and both
#     broadcast streams, checked exactly; a corrupt frame arriving through the switch fails);
#   - the honest guests detect the scribbling (re-initialised rings, ring errors, bad frames
#     through the fast path: at least one of these counters moves) and never crash;
#   - once M is gone, the honest guests re-initialise their rings and a fresh A -> B run
#     through the same region is exact again, over the fast path (the control part, i.e.
#     header and flow tables, survived).
# What is NOT guaranteed, hence not asserted: A's unicast frames to B. In shared mode every
# guest can write every pair area, so frames on the fast path between honest guests can be
# lost (a scribbled ring is re-initialised), duplicated (a scribbled used entry hands a stale
# buffer back) or corrupted (the checksum catches payload changes with probability 1 - 2^-16,
# a scribbled sequence number not at all). B counts them (from=A/~/MA, lossy_fast=1: counted,
# not judged) and the script prints the counts.
#
#   netshm-malicious.sh VMM SWITCH GUEST_DIR
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 VMM SWITCH GUEST_DIR" >&2
	exit 2
fi
NS_VMM=$1 NS_SWITCH=$2 NS_GUESTS=$3
na=10000 ma=1000 nb=4000 mb=1000 secs=8
mac_a=52:54:00:5e:00:0a
mac_b=52:54:00:5e:00:0b
mac_m=52:54:00:5e:00:0d
. "$(dirname "$0")/netshm-lib.sh"
ns_setup netshm-malicious

ns_start_switch "a b m"
# M first, so that it scribbles for the whole exchange; --stats prints the dropped stores.
ns_vm m m "$mac_m" netshm-malicious "secs=$secs ctrl_every=1000" --stats
ns_wait_log m "scribbling for" 10 || ns_fail "M did not start scribbling"
# A first: B (slow=1) sends at once, and the switch drops frames for a port whose RX ring
# does not run yet. A waits until its ring to B is usable (B re-initialises it whenever it
# finds it scribbled, so A sees it intact now and then) before it sends.
ns_vm a a "$mac_a" netshm-traffic "dst=$mac_b frames=$na bcast=$ma kpps=5 slow_kpps=2 \
wait_fast=20 from=$mac_b/$nb/$mb lossy_fast=1 timeout=60"
ns_wait_log a "netshm-traffic: port" 10 || ns_fail "A did not come up"
ns_vm b b "$mac_b" netshm-traffic \
	"dst=$mac_a frames=$nb bcast=$mb slow=1 slow_kpps=1 from=$mac_a/~/$ma lossy_fast=1 timeout=60"
rm_=$(ns_wait_rc m $((secs + 30)))
ra=$(ns_wait_rc a 60)
rb=$(ns_wait_rc b 30)
kill -0 "$NS_SW" 2>/dev/null || ns_fail "vmm-switch died"
[ "$rm_" = 0 ] || ns_fail "M's vmm exited $rm_ (1: a control-part store took effect)"
[ "$ra" = 0 ] || ns_fail "A exited $ra: B's switch-path frames lost, duplicated or corrupt"
[ "$rb" = 0 ] || ns_fail "B exited $rb: A's broadcasts lost, duplicated or corrupt"

# M's control-part stores: made, none stuck, every one dropped by its VMM.
grep -q "ctrl_ro 1" "$NS_TMP/m.log" ||
	ns_fail "M's control part is not read-only (no KVM_CAP_READONLY_MEM?)"
line=$(grep "netshm-malicious: .* writes, " "$NS_TMP/m.log")
writes=$(echo "$line" | sed -n 's/.*: \([0-9]*\) writes, \([0-9]*\) into .*/\1/p')
ctrl=$(echo "$line" | sed -n 's/.*: \([0-9]*\) writes, \([0-9]*\) into .*/\2/p')
stuck=$(echo "$line" | sed -n 's/.* \([0-9]*\) of them stuck.*/\1/p')
dropped=$(sed -n 's/.*dropped guest stores \([0-9]*\).*/\1/p' "$NS_TMP/m.log" | tail -1)
[ -n "$ctrl" ] && [ "$ctrl" -gt 0 ] || ns_fail "M made no control-part store"
[ "$stuck" = 0 ] || ns_fail "$stuck of M's control-part stores took effect"
[ "$dropped" = "$ctrl" ] ||
	ns_fail "M made $ctrl control-part stores, its VMM dropped ${dropped:-?}"

# The honest guests noticed the scribbling and went on.
hits=0
for k in b:rx_reinits b:rx_ring_errors b:bad_fast a:tx_ring_errors; do
	v=$(ns_counter "${k%%:*}" "${k#*:}")
	hits=$((hits + ${v:-0}))
done
[ "$hits" -gt 0 ] || ns_fail "the honest guests saw nothing of $writes scribbled words"
ns_sw_stats || ns_fail "vmm-switch did not print its counters"
for p in a b; do
	[ "$(ns_sw_counter broken "$p")" = 0 ] && [ "$(ns_sw_counter refused "$p")" = 0 ] ||
		ns_fail "port $p: broken rings or refused sessions"
done
echo "PASS: M scribbled $writes words ($ctrl into the control part, all dropped): switch and" \
	"VMMs alive, B's $nb unicast frames and $((ma + mb)) broadcasts through the switch exactly" \
	"once; A -> B unicast: $(ns_from b "$mac_a" data) of $na counted (not guaranteed)," \
	"$hits ring errors, re-initialisations and bad fast frames seen"
grep -h "netshm-traffic:" "$NS_TMP/a.log" "$NS_TMP/b.log" | grep -E "netshm port|from |flooded"

# ---- after the scribbler: the same region, exact again, over the fast path ----
ns_vm b2 b "$mac_b" netshm-traffic "from=$mac_a/$na/$ma timeout=60"
ns_vm a2 a "$mac_a" netshm-traffic "dst=$mac_b frames=$na bcast=$ma wait_fast=20 timeout=60"
for vm in a2 b2; do
	rc=$(ns_wait_rc $vm 70)
	[ "$rc" = 0 ] || ns_fail "after the scribbler: VM $vm exited $rc"
done
fast_tx=$(ns_counter a2 fast_tx) fast_rx=$(ns_counter b2 fast_rx)
[ "$fast_tx" -gt 0 ] && [ "$fast_rx" = "$fast_tx" ] ||
	ns_fail "after the scribbler: A sent $fast_tx frames through the fast path, B got $fast_rx"
ns_stop_switch
[ "$NS_SW_RC" = 0 ] || ns_fail "vmm-switch exited $NS_SW_RC on SIGTERM"
echo "PASS: after the scribbler: $na frames A -> B ($fast_tx through the fast path) and $ma" \
	"broadcasts, every frame exactly once"
exit 0
