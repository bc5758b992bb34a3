#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest -> TAP packet rate: net-blast.elf sends FRAMES frames of LEN bytes (default 2000000
# of 60 bytes, i.e. 64 on a wire with FCS) from ring 3 through virtio-net into a TAP in a
# private namespace; the host counts them in vt0's rx_packets every 0.5 s. Prints the guest's
# own average, then the host's per-interval rates (median, min, max: the host moves our vCPUs,
# so single numbers lie, see shared/ENVIRONMENT.md). Needs root and /dev/net/tun.
#
#   net-rate.sh VMM GUEST_DIR [FRAMES] [LEN]
set -u
. "$(dirname "$0")/../../tests/net/lib.sh"

if [ $# -lt 2 ]; then
	echo "usage: $0 VMM GUEST_DIR [FRAMES] [LEN]" >&2
	exit 2
fi
vmm=$1 image=$2/net-blast.elf frames=${3:-2000000} len=${4:-60}
net_require
net_setup
ns=vmmbench-$$
log=$NET_TMP/guest.log
samples=$NET_TMP/samples

net_ns_add "$ns"
net_tap "$ns" vt0
rx() { ip netns exec "$ns" cat /sys/class/net/vt0/statistics/rx_packets; }

start=$(rx)
ip netns exec "$ns" "$vmm" run --kernel "$image" --net tap=vt0 --memory size=64M \
	--cmdline "frames=$frames len=$len" --serial stdio --timeout 600 >"$log" 2>&1 &
pid=$!
NET_PIDS=$pid
prev=$start
: >"$samples"
while kill -0 "$pid" 2>/dev/null; do
	sleep 0.5
	now=$(rx)
	# Skip the idle intervals at the start and the tail.
	[ $((now - prev)) -gt 0 ] && echo $(((now - prev) * 2)) >>"$samples"
	prev=$now
done
wait "$pid"
status=$?
NET_PIDS=""
cat "$log"
got=$(($(rx) - start))
echo "host: $got of $frames frames arrived on vt0 (guest status $status)"
if [ -s "$samples" ]; then
	sort -n "$samples" | awk '{ v[NR] = $1 } END {
		printf "host: %d samples of 0.5 s: median %d pps, min %d, max %d\n",
		       NR, v[int((NR + 1) / 2)], v[1], v[NR] }'
fi
[ "$status" -eq 0 ]
