#!/bin/sh
# SPDX-License-Identifier: MIT
# vhost-user-shmem (docs/vhost-user-shmem.md), shared-region mode, three of our VMs on one
# vmm-switch --netshm, the fast path and the switch path busy at the same time:
#   A sends N unicast frames to B and to C, B sends N to A and to C (the fast path, paced
#   to kpps= so that they flow for seconds), C sends N/5 to A and to B with slow=1 (forced
#   through the switch, at 2 kpps), and each of them broadcasts (always the switch path):
#   A and B N/10, C N/50. Every VM checks every frame of its two sources exactly once and
#   intact (netshm-traffic from=: sequence bitmap, checksum, the path a frame came by) and
#   exits 0 only then.
# The switch path is paced well below what it can carry: vmm-switch drops what a receiver's
# RX queue (256) cannot take, and three polling guests plus the switch on two cores leave a
# receiver descheduled for tens of milliseconds at a time (measured: about 0.7 % of C's
# frames dropped with C at 5 kpps and N frames per destination).
# Then, from the guests' counters: every frame A and B put into a fast ring came out of one
# (sum of fast_tx == sum of fast_rx), A and B and C each received through the fast path, and
# C's unicast frames plus everybody's broadcasts went through the switch.
#
#   netshm-3vm.sh VMM SWITCH GUEST_DIR [N]
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 VMM SWITCH GUEST_DIR [N]" >&2
	exit 2
fi
NS_VMM=$1 NS_SWITCH=$2 NS_GUESTS=$3
n=${4:-20000}
m=$((n / 10))
nc=$((n / 5)) mc=$((n / 50))
mac_a=52:54:00:5e:00:0a
mac_b=52:54:00:5e:00:0b
mac_c=52:54:00:5e:00:0c
. "$(dirname "$0")/netshm-lib.sh"
ns_setup netshm-3vm

ns_start_switch "a b c"
# A and B wait (wait_fast) until both their destinations have a usable ring; C (slow=1)
# sends at once, so it starts when A's and B's NICs are up (the switch drops frames for a
# port whose RX ring does not run yet).
from_a=$mac_a/$n/$m from_b=$mac_b/$n/$m from_c=$mac_c/$nc/$mc
ns_vm a a "$mac_a" netshm-traffic \
	"dst=$mac_b,$mac_c frames=$n bcast=$m kpps=10 wait_fast=20 from=$from_b,$from_c timeout=60"
ns_vm b b "$mac_b" netshm-traffic \
	"dst=$mac_a,$mac_c frames=$n bcast=$m kpps=10 wait_fast=20 from=$from_a,$from_c timeout=60"
ns_wait_log a "netshm-traffic: port" 10 && ns_wait_log b "netshm-traffic: port" 10 ||
	ns_fail "A or B did not come up"
ns_vm c c "$mac_c" netshm-traffic \
	"dst=$mac_a,$mac_b frames=$nc bcast=$mc slow=1 slow_kpps=2 from=$from_a,$from_b timeout=60"
for vm in a b c; do
	rc=$(ns_wait_rc $vm 75)
	[ "$rc" = 0 ] || ns_fail "VM $vm exited $rc: frames lost, duplicated or corrupt (or not sent)"
done
kill -0 "$NS_SW" 2>/dev/null || ns_fail "vmm-switch died"

sum() { s=0; for v in "$@"; do s=$((s + ${v:-0})); done; echo $s; }
fast_tx=$(sum "$(ns_counter a fast_tx)" "$(ns_counter b fast_tx)" "$(ns_counter c fast_tx)")
fast_rx=$(sum "$(ns_counter a fast_rx)" "$(ns_counter b fast_rx)" "$(ns_counter c fast_rx)")
for vm in a b c; do
	v=$(ns_counter $vm fast_rx)
	[ -n "$v" ] && [ "$v" -gt 0 ] || ns_fail "VM $vm received nothing through the fast path"
done
[ "$(ns_counter c fast_tx)" = 0 ] || ns_fail "C (slow=1) sent through the fast path"
[ "$fast_tx" = "$fast_rx" ] || ns_fail "$fast_tx frames into fast rings, $fast_rx out of them"
c_slow=$(ns_counter c slow_tx)
[ "$c_slow" -ge $((2 * nc + mc)) ] ||
	ns_fail "C sent $c_slow frames to the switch, expected >= $((2 * nc + mc))"
for vm in a b; do
	v=$(ns_counter $vm slow_rx)
	# C's unicast frames and the broadcasts of the two others, all through the switch
	[ "$v" -ge $((nc + mc + m)) ] ||
		ns_fail "VM $vm got $v frames from the switch, expected >= $((nc + mc + m))"
done
ns_sw_stats || ns_fail "vmm-switch did not print its counters"
# Three attaches, an entry towards each other port in every table, all gone with the VMs.
[ "$(ns_sw_counter attaches)" = 3 ] && [ "$(ns_sw_counter attached)" = 0 ] ||
	ns_fail "the switch did not count 3 attaches, and 0 attached ports after the VMs ended"
[ "$(ns_sw_counter installed)" -ge 6 ] || ns_fail "fewer than 6 flow entries installed"
for p in a b c; do
	[ "$(ns_sw_counter broken "$p")" = 0 ] && [ "$(ns_sw_counter refused "$p")" = 0 ] ||
		ns_fail "port $p: broken rings or refused sessions"
done
ns_stop_switch
[ "$NS_SW_RC" = 0 ] || ns_fail "vmm-switch exited $NS_SW_RC on SIGTERM"
echo "PASS: 3 VMs, $((4 * n + 2 * nc)) unicast frames ($fast_tx through the fast path," \
	"$((2 * nc)) from C through the switch) and $((2 * m + mc)) broadcasts, every frame" \
	"exactly once"
grep -h "netshm-traffic:" "$NS_TMP/a.log" "$NS_TMP/b.log" "$NS_TMP/c.log" |
	grep -E "netshm port|from "
exit 0
