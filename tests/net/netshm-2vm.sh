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
vmm=$1 switch=$2 img=$3/netshm-traffic.elf
n=${4:-50000}
m=$((n / 10))
mac_a=52:54:00:5e:00:0a
mac_b=52:54:00:5e:00:0b
tmp=$(mktemp -d /tmp/vmm-netshm-2vm.XXXXXX) || exit 1
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	kill -USR1 "${sw:-0}" 2>/dev/null && sleep 0.5	# the switch's per-port counters
	for f in "$tmp"/*.log; do echo "--- $f"; tail -40 "$f"; done
	exit 1
}

# counter LOG NAME: a counter from the guest's "netshm port ..." statistics line
counter() {
	sed -n "s/.*netshm port .* $2 \([0-9]*\).*/\1/p" "$tmp/$1.log" | tail -1
}

start_switch() {	# start_switch EXTRA-ARGS...
	rm -f "$tmp/a.sock" "$tmp/b.sock"
	"$switch" --mrg-rxbuf --netshm --port a="$tmp/a.sock" --port b="$tmp/b.sock" "$@" \
		>"$tmp/switch.log" 2>&1 &
	sw=$!
	pids="$pids $sw"
	for i in $(seq 50); do grep -q ready "$tmp/switch.log" && break; sleep 0.1; done
	grep -q ready "$tmp/switch.log" || fail "vmm-switch --netshm did not start"
}

vm() {	# vm NAME PORT MAC CMDLINE: runs in the background, status in NAME.rc
	rm -f "$tmp/$1.rc"
	( "$vmm" run --kernel "$img" --memory size=64M,shared=on --timeout 120 \
		--net "vhost-user=$tmp/$2.sock,mode=client,$shmem,mac=$3" \
		--cmdline "$4" >"$tmp/$1.log" 2>&1
	  echo $? >"$tmp/$1.rc" ) >/dev/null 2>&1 &
	pids="$pids $!"
}

wait_rc() {	# wait_rc NAME SECONDS -> prints the status or "none"
	for i in $(seq $(($2 * 10))); do
		[ -s "$tmp/$1.rc" ] && { cat "$tmp/$1.rc"; return; }
		sleep 0.1
	done
	echo none
}

run_pair() {	# run_pair WHAT: B receives, A sends; both must exit 0
	vm b b "$mac_b" "senders=1 rx_frames=$n rx_bcast=$m timeout=90"
	sleep 0.5
	vm a a "$mac_a" "dst=$mac_b frames=$n bcast=$m wait_fast=20 timeout=90"
	rb=$(wait_rc b 110)
	ra=$(wait_rc a 20)
	[ "$ra" = 0 ] || fail "$1: VM A (sender) exited $ra"
	[ "$rb" = 0 ] || fail "$1: VM B (receiver) exited $rb: frames lost, duplicated or corrupt"
	kill -0 "$sw" 2>/dev/null || fail "$1: vmm-switch died"
}

# ---- 1. fast path and switch path at once ----
shmem=shmem=shared
start_switch
run_pair "shared region"
fast_tx=$(counter a fast_tx) fast_rx=$(counter b fast_rx) slow_rx=$(counter b slow_rx)
[ -n "$fast_tx" ] && [ "$fast_tx" -gt 0 ] || fail "A sent nothing through the fast path"
[ -n "$fast_rx" ] && [ "$fast_rx" -gt 0 ] || fail "B received nothing through the fast path"
[ "$fast_rx" = "$fast_tx" ] || fail "A sent $fast_tx fast frames, B received $fast_rx"
[ "$slow_rx" -ge "$m" ] || fail "B got $slow_rx frames from the switch, expected >= $m broadcasts"
echo "PASS: $n unicast frames A -> B ($fast_tx through the fast path) and $m broadcasts" \
	"through the switch, every frame exactly once"
grep -h "netshm-traffic:" "$tmp/a.log" "$tmp/b.log" | grep -E "netshm port|from "
kill -TERM "$sw" 2>/dev/null
wait "$sw" 2>/dev/null

# ---- 2. flow-table updates under traffic ----
if "$switch" --help 2>&1 | grep -q -- --netshm-flap; then
	start_switch --netshm-flap 20
	run_pair "flapping flow table"
	fast_tx=$(counter a fast_tx) slow_tx=$(counter a slow_tx)
	[ "$fast_tx" -gt 0 ] || fail "flap: A sent nothing through the fast path"
	[ "$slow_tx" -gt "$m" ] || fail "flap: no unicast frame took the switch path" \
		"(slow_tx $slow_tx, broadcasts $m): the table never changed under traffic?"
	echo "PASS: flow entries withdrawn and re-installed every 20 ms under traffic:" \
		"$fast_tx fast, $((slow_tx - m)) unicast through the switch, none lost or duplicated"
	grep -h "netshm-traffic:" "$tmp/a.log" "$tmp/b.log" | grep -E "netshm port|from "
	kill -TERM "$sw" 2>/dev/null
	wait "$sw" 2>/dev/null
fi

# ---- 3. peer-memory mode (protect=none): A writes into the ring in B's own RAM ----
shmem=shmem=peer,protect=none
start_switch --netshm-peer
run_pair "peer memory"
fast_tx=$(counter a fast_tx) fast_rx=$(counter b fast_rx)
grep -q "netshm port 0/2 peer" "$tmp/a.log" || fail "peer: A's device did not say peer mode"
[ -n "$fast_tx" ] && [ "$fast_tx" -gt 0 ] && [ "$fast_rx" = "$fast_tx" ] ||
	fail "peer: fast path not used (A sent $fast_tx, B received $fast_rx)"
echo "PASS: peer-memory mode (protect=none): $fast_tx frames into B's own RAM, every frame" \
	"exactly once"
exit 0
