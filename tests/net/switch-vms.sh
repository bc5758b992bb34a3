#!/bin/sh
# SPDX-License-Identifier: MIT
# Our VMs through our switch: vmm-switch serves three ports; VM A (net-blast tx) floods
# broadcast-less unknown-unicast frames, VMs B and C (net-blast rx) must each receive their
# quota. Then B is killed mid-stream and restarted on the same port: the restarted B must
# receive again while A keeps sending (the switch and A survive a peer VMM dying).
#
#   switch-vms.sh VMM SWITCH GUEST_DIR
set -u
if [ $# -ne 3 ]; then
	echo "usage: $0 VMM SWITCH GUEST_DIR" >&2
	exit 2
fi
vmm=$1 switch=$2 img=$3/net-blast.elf
tmp=$(mktemp -d /tmp/vmm-switch-vms.XXXXXX) || exit 1
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; for f in "$tmp"/*.log; do echo "--- $f"; cat "$f"; done; exit 1; }

"$switch" --mrg-rxbuf --port a="$tmp/a.sock" --port b="$tmp/b.sock" --port c="$tmp/c.sock" \
	>"$tmp/switch.log" 2>&1 &
sw=$!
pids="$pids $sw"
for i in $(seq 50); do grep -q ready "$tmp/switch.log" && break; sleep 0.1; done
grep -q ready "$tmp/switch.log" || fail "vmm-switch did not start"

vm() {	# vm NAME PORT CMDLINE: runs in the background, status in NAME.rc
	( "$vmm" run --kernel "$img" --memory size=64M,shared=on --timeout 120 \
		--net "vhost-user=$tmp/$2.sock,mode=client" --cmdline "$3" >"$tmp/$1.log" 2>&1
	  echo $? >"$tmp/$1.rc" ) >/dev/null 2>&1 &
	echo $!		# the job must not hold the $(...) pipe open
}
wait_rc() {	# wait_rc NAME SECONDS -> prints the status or "none"
	for i in $(seq $(($2 * 10))); do
		[ -s "$tmp/$1.rc" ] && { cat "$tmp/$1.rc"; return; }
		sleep 0.1
	done
	echo none
}

b=$(vm b b "mode=rx frames=20000 wait=60 idle=30")
c=$(vm c c "mode=rx frames=20000 wait=60 idle=30")
pids="$pids $b $c"
sleep 1
a=$(vm a a "mode=tx frames=100000000")
pids="$pids $a"

[ "$(wait_rc b 60)" = 0 ] || fail "VM B did not receive its 20000 frames"
[ "$(wait_rc c 60)" = 0 ] || fail "VM C did not receive its 20000 frames"
echo "PASS: VM A -> vmm-switch -> VMs B and C (flooded)"

# A VMM killed mid-stream: start B again, kill its vmm while frames flow, start a third B.
rm -f "$tmp/b.rc"
b=$(vm b b "mode=rx frames=100000000 wait=60 idle=30")
pids="$pids $b"
sleep 2
pkill -9 -f "vhost-user=$tmp/b.sock" || fail "could not find VM B's vmm to kill"
sleep 1
kill -0 "$sw" 2>/dev/null || fail "vmm-switch died with VM B"
[ -s "$tmp/a.rc" ] && fail "VM A stopped when VM B was killed"
b=$(vm b2 b "mode=rx frames=20000 wait=60 idle=30")
pids="$pids $b"
[ "$(wait_rc b2 60)" = 0 ] || fail "the restarted VM B did not receive"
kill -0 "$sw" 2>/dev/null || fail "vmm-switch died"
echo "PASS: a VMM killed mid-stream, restarted on its port, receives again; A and the switch went on"
kill -USR1 "$sw"
sleep 0.5
cat "$tmp/switch.log"
exit 0
