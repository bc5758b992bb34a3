#!/bin/sh
# SPDX-License-Identifier: MIT
# vhost-user-shmem (docs/vhost-user-shmem.md), shared-region mode, two of our VMs on
# vmm-switch --netshm:
#   1. B says hello (a broadcast: the switch learns B's MAC and installs B in A's flow
#      table); A waits until its fast ring to B is usable, then sends N unicast frames to B
#      (fast path) and M broadcasts (always the switch path) mixed in. B checks every frame
#      (sequence bitmap, checksum) and exits 0 only if all N + M arrived exactly once.
#      Both guests' counters must show the fast path was used.
#   2. The same with the switch's --netshm-flap hook: A's flow entries are withdrawn and
#      re-installed every few ms while the frames flow, so frames move between the two
#      paths; still every frame exactly once, and both paths carried unicast frames.
#   3. Peer-memory mode (vmm-switch --netshm-peer, shmem=peer,protect=none): B's ring lives
#      in B's RAM and A writes into it through its peer window; every frame exactly once.
# The guests pace the switch path (netshm-traffic slow_kpps=, default 5 kpps): vmm-switch
# drops what a receiver's RX queue cannot take, and with three pollers on two cores a
# receiver is descheduled for milliseconds.
#
#   netshm-2vm.sh VMM SWITCH GUEST_DIR [N]
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 VMM SWITCH GUEST_DIR [N]" >&2
	exit 2
fi
NS_VMM=$1 NS_SWITCH=$2 NS_GUESTS=$3
n=${4:-50000}
m=$((n / 10))
mac_a=52:54:00:5e:00:0a
mac_b=52:54:00:5e:00:0b
. "$(dirname "$0")/netshm-lib.sh"
ns_setup netshm-2vm

run_pair() {	# run_pair WHAT: B receives, A sends; both must exit 0
	ns_vm b b "$mac_b" netshm-traffic "senders=1 rx_frames=$n rx_bcast=$m timeout=90"
	sleep 0.5
	ns_vm a a "$mac_a" netshm-traffic "dst=$mac_b frames=$n bcast=$m wait_fast=20 timeout=90"
	rb=$(ns_wait_rc b 110)
	ra=$(ns_wait_rc a 20)
	[ "$ra" = 0 ] || ns_fail "$1: VM A (sender) exited $ra"
	[ "$rb" = 0 ] || ns_fail "$1: VM B (receiver) exited $rb: frames lost, duplicated or corrupt"
	kill -0 "$NS_SW" 2>/dev/null || ns_fail "$1: vmm-switch died"
}

# ---- 1. fast path and switch path at once ----
NS_SHMEM=shmem=shared
ns_start_switch "a b"
run_pair "shared region"
fast_tx=$(ns_counter a fast_tx) fast_rx=$(ns_counter b fast_rx) slow_rx=$(ns_counter b slow_rx)
[ -n "$fast_tx" ] && [ "$fast_tx" -gt 0 ] || ns_fail "A sent nothing through the fast path"
[ -n "$fast_rx" ] && [ "$fast_rx" -gt 0 ] || ns_fail "B received nothing through the fast path"
[ "$fast_rx" = "$fast_tx" ] || ns_fail "A sent $fast_tx fast frames, B received $fast_rx"
[ "$slow_rx" -ge "$m" ] || ns_fail "B got $slow_rx frames from the switch, expected >= $m broadcasts"
echo "PASS: $n unicast frames A -> B ($fast_tx through the fast path) and $m broadcasts" \
	"through the switch, every frame exactly once"
grep -h "netshm-traffic:" "$NS_TMP/a.log" "$NS_TMP/b.log" | grep -E "netshm port|from "
ns_stop_switch

# ---- 2. flow-table updates under traffic ----
if "$NS_SWITCH" --help 2>&1 | grep -q -- --netshm-flap; then
	ns_start_switch "a b" --netshm-flap 20
	run_pair "flapping flow table"
	fast_tx=$(ns_counter a fast_tx) slow_tx=$(ns_counter a slow_tx)
	[ "$fast_tx" -gt 0 ] || ns_fail "flap: A sent nothing through the fast path"
	[ "$slow_tx" -gt "$m" ] || ns_fail "flap: no unicast frame took the switch path" \
		"(slow_tx $slow_tx, broadcasts $m): the table never changed under traffic?"
	echo "PASS: flow entries withdrawn and re-installed every 20 ms under traffic:" \
		"$fast_tx fast, $((slow_tx - m)) unicast through the switch, none lost or duplicated"
	grep -h "netshm-traffic:" "$NS_TMP/a.log" "$NS_TMP/b.log" | grep -E "netshm port|from "
	ns_stop_switch
fi

# ---- 3. peer-memory mode (protect=none): A writes into the ring in B's own RAM ----
NS_SHMEM=shmem=peer,protect=none
ns_start_switch "a b" --netshm-peer
run_pair "peer memory"
fast_tx=$(ns_counter a fast_tx) fast_rx=$(ns_counter b fast_rx)
grep -q "netshm port 0/2 peer" "$NS_TMP/a.log" || ns_fail "peer: A's device did not say peer mode"
[ -n "$fast_tx" ] && [ "$fast_tx" -gt 0 ] && [ "$fast_rx" = "$fast_tx" ] ||
	ns_fail "peer: fast path not used (A sent $fast_tx, B received $fast_rx)"
echo "PASS: peer-memory mode (protect=none): $fast_tx frames into B's own RAM, every frame" \
	"exactly once"
exit 0
