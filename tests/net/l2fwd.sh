#!/bin/sh
# SPDX-License-Identifier: MIT
# Two namespaces joined only by net-l2fwd.elf: A has vt0 (10.0.0.1), B has vt1 (10.0.0.2);
# the guest forwards every frame between its two NICs, so A pings B across it (ARP included).
# The TAPs are made in the vmm's namespace A and vt1 moves to B once the vmm holds it.
# A ping to an address nobody has must fail first (the check can fail).
#
#   l2fwd.sh VMM GUEST_DIR
set -u
. "$(dirname "$0")/lib.sh"

if [ $# -ne 2 ]; then
	echo "usage: $0 VMM GUEST_DIR" >&2
	exit 2
fi
vmm=$1 image=$2/net-l2fwd.elf
net_require ping
net_setup
a=vmmtest-$$-a b=vmmtest-$$-b
log=$NET_TMP/guest.log
fail() { echo "FAIL: $*"; echo "--- guest log:"; cat "$log"; exit 1; }

net_ns_add "$a"
net_ns_add "$b"
net_tap "$a" vt0 10.0.0.1/24
net_tap "$a" vt1
ip netns exec "$a" "$vmm" run --kernel "$image" --net tap=vt0 --net tap=vt1 --memory size=64M \
	--serial stdio --timeout 120 >"$log" 2>&1 &
NET_PIDS="$!"
net_wait_log "$log" "net-l2fwd: forwarding" 10 || exit 1
ip -n "$a" link set vt1 netns "$b" || fail "moving vt1 to $b"
ip -n "$b" addr add 10.0.0.2/24 dev vt1 || exit 1
ip -n "$b" link set vt1 up || exit 1

if ip netns exec "$a" ping -c 2 -i 0.2 -W 1 10.0.0.3 >/dev/null 2>&1; then
	fail "ping to 10.0.0.3 (nobody) succeeded"
fi
out=$(ip netns exec "$a" ping -c 20 -i 0.05 -W 2 10.0.0.2 2>&1)
echo "$out" | tail -n 2
got=$(net_received "$out")
[ "${got:-0}" -eq 20 ] || fail "expected 20 replies across the forwarder, got ${got:-0}"
sleep 1.2			# the guest prints its counts once a second
tail -n 1 "$log"
kill "$NET_PIDS" 2>/dev/null
wait "$NET_PIDS"
status=$?
NET_PIDS=""
[ "$status" -eq 143 ] || fail "vmm ended with status $status before we stopped it"
echo "PASS: l2fwd (20/20 across the guest)"
