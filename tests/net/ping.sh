#!/bin/sh
# SPDX-License-Identifier: MIT
# The real Linux stack pings net-responder.elf through a TAP (vt0) in a private network
# namespace:
#   1. a ping to an address nobody has must fail (the check below can fail);
#   2. ping -c 20 -i 0.05 to the guest: 0% loss;
#   3. with tc netem (or iptables -m statistic where the kernel has no sch_netem) dropping
#      20% of what the host sends, pings are still answered (some loss,
#      not all), and the guest counted at least every request that was answered.
#
#   ping.sh VMM GUEST_DIR [mmio|pci]
# The third argument (or TRANSPORT; default mmio) is the NIC's transport: the vmm gets
# --net tap=vt0,transport=T and the guest transport=T, so it finds only that device.
# GUEST_IP (default 10.0.0.2) is the guest's address, PING_IP (default the same) the one
# pinged: PING_IP=10.0.0.9 makes this test fail, as it must (for either transport).
set -u
. "$(dirname "$0")/lib.sh"

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: $0 VMM GUEST_DIR [mmio|pci]" >&2
	exit 2
fi
vmm=$1 image=$2/net-responder.elf
transport=${3:-${TRANSPORT:-mmio}}
case $transport in
mmio|pci) ;;
*) echo "$0: transport must be mmio or pci, not '$transport'" >&2; exit 2 ;;
esac
guest_ip=${GUEST_IP:-10.0.0.2}
ping_ip=${PING_IP:-$guest_ip}
net_require ping
net_setup
ns=vmmtest-$$
log=$NET_TMP/guest.log
fail() { echo "FAIL: $*"; echo "--- guest log:"; cat "$log"; exit 1; }

net_ns_add "$ns"
net_tap "$ns" vt0 10.0.0.1/24
ip netns exec "$ns" "$vmm" run --kernel "$image" --net tap=vt0,transport=$transport \
	--memory size=64M --cmdline "ip=$guest_ip transport=$transport" --serial stdio \
	--timeout 120 >"$log" 2>&1 &
NET_PIDS="$!"
net_wait_log "$log" "net-responder: .* at " 10 || exit 1

# 1. Nobody has 10.0.0.3: ping must report failure, or the checks below mean nothing.
if ip netns exec "$ns" ping -c 2 -i 0.2 -W 1 10.0.0.3 >/dev/null 2>&1; then
	fail "ping to 10.0.0.3 (nobody) succeeded"
fi

# 2. No loss.
out=$(ip netns exec "$ns" ping -c 20 -i 0.05 -W 2 "$ping_ip" 2>&1)
echo "$out" | tail -n 2
got=$(net_received "$out")
[ "${got:-0}" -eq 20 ] || fail "expected 20 replies from $ping_ip, got ${got:-0}"

# 3. 20% of the requests dropped on their way to the guest (vt0's egress).
net_loss "$ns" vt0 20 || fail "no way to add loss"
out=$(ip netns exec "$ns" ping -c 50 -i 0.05 -W 1 "$ping_ip" 2>&1)
echo "$out" | tail -n 2
lossy=$(net_received "$out")
lossy=${lossy:-0}
# P(no loss at all) = 0.8^50 ~ 1e-5.
[ "$lossy" -gt 0 ] || fail "no reply at all through 20% loss"
[ "$lossy" -lt 50 ] || fail "no loss through netem loss 20% (is netem working?)"

# The guest prints its counters at most four times a second: wait for the last ones.
want=$((20 + lossy))
i=0
while :; do
	echo=$(sed -n 's/.* echo=\([0-9]*\) .*/\1/p' "$log" | tail -n 1)
	[ "${echo:-0}" -ge "$want" ] && break
	i=$((i + 1))
	[ "$i" -lt 50 ] || fail "guest counted ${echo:-0} echo requests, expected >= $want"
	sleep 0.1
done
[ "$echo" -le 70 ] || fail "guest counted $echo echo requests, but only 70 were sent"
grep 'net-responder: rx=' "$log" | tail -n 1
kill "$NET_PIDS" 2>/dev/null
wait "$NET_PIDS"
status=$?
NET_PIDS=""
# 143 = our SIGTERM; anything in 120..124 would be the vmm's own failure codes.
[ "$status" -eq 143 ] || fail "vmm ended with status $status before we stopped it"
echo "PASS: ping over $transport (20/20, then $lossy/50 through 20% loss; guest saw $echo requests)"
