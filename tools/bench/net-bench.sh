#!/bin/sh
# SPDX-License-Identifier: MIT
# virtio-net packet rates, ours against QEMU 7.2 with the same guest image and the same TAP
# (docs/benchmarks.md, "virtio-net"). 64-byte frames (60 + FCS), batches of 32:
#   tx    guest -> TAP: net-blast.elf mode=tx; the host counts vt0's rx_packets.
#   rx    TAP -> guest: net-blast.elf mode=rx; net-sender (AF_PACKET on vt0) feeds the TAP;
#         the host counts vt0's tx_packets (what the VMM read from the TAP).
#   tx0/rx0  the same with event_idx=0 (the guest does not negotiate VIRTIO_F_EVENT_IDX).
# Configurations, interleaved in every round (A B C A B C ...), so host noise hits all alike:
#   ours-pci   vmm --net tap=vt0,transport=pci   (guest: transport=pci)
#   qemu-pci   qemu-system-x86_64 -M pc ... -device virtio-net-pci,disable-legacy=on (vhost=off)
#   ours-mmio  vmm --net tap=vt0                 (guest: transport=mmio)
#   base-pci   BASE_VMM=/path/to/an/older/vmm: the same as ours-pci with that binary
# A run's rate is the host counter's slope over the samples (every 0.2 s) strictly inside the
# active window (start-up and tail excluded). Cells: median [min-max] over the rounds; the
# ratio is ours / QEMU of medians; kicks come from the guest (each kick is one exit).
#
#   net-bench.sh VMM GUEST_DIR [ROUNDS] [BENCHES]
# ROUNDS default 10; BENCHES default "tx rx tx0 rx0". FRAMES_TX / FRAMES_RX (defaults 300000 /
# 200000) per run. Needs root, /dev/net/tun, qemu-system-x86_64 and a C compiler (for
# net-sender.c). Raw per-run lines go to $NET_BENCH_RAW if set.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tests/net/lib.sh"

if [ $# -lt 2 ]; then
	echo "usage: $0 VMM GUEST_DIR [ROUNDS] [BENCHES]" >&2
	exit 2
fi
vmm=$1 image=$2/net-blast.elf rounds=${3:-10} benches=${4:-tx rx tx0 rx0}
frames_tx=${FRAMES_TX:-300000} frames_rx=${FRAMES_RX:-200000}
net_require qemu-system-x86_64 "${CC:-cc}"
net_setup
raw=${NET_BENCH_RAW:-$NET_TMP/raw}
: >"$raw"
sender=$NET_TMP/net-sender
"${CC:-cc}" -O2 -Wall -o "$sender" "$here/net-sender.c" || exit 1
configs="ours-pci qemu-pci ours-mmio"
[ -n "${BASE_VMM:-}" ] && configs="$configs base-pci"
ns=vmmbench-$$
net_ns_add "$ns"
net_tap "$ns" vt0
# Room for the sender's bursts while the reader catches up (the default is 1000).
ip -n "$ns" link set vt0 txqueuelen 4096

counter() { ip netns exec "$ns" cat "/sys/class/net/vt0/statistics/$1"; }

# run CONFIG BENCH: one VM run; appends "CONFIG BENCH rate frames kicks" to $raw.
run() {
	cfg=$1 bench=$2 log=$NET_TMP/guest.log samples=$NET_TMP/samples
	case $bench in
	tx*) mode=tx stat=rx_packets frames=$frames_tx ;;
	rx*) mode=rx stat=tx_packets frames=$frames_rx ;;
	esac
	ev=1
	case $bench in *0) ev=0 ;; esac
	args="mode=$mode frames=$frames event_idx=$ev idle=1"
	case $cfg in
	qemu-pci)
		set -- qemu-system-x86_64 -accel kvm -cpu host,-arch-capabilities -M pc -m 64M \
			-nodefaults -display none -serial stdio \
			-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$image" \
			-append "$args transport=pci" \
			-netdev tap,id=n0,ifname=vt0,script=no,downscript=no,vhost=off \
			-device virtio-net-pci,netdev=n0,disable-legacy=on,mac=52:54:00:12:34:56 ;;
	ours-pci|base-pci)
		bin=$vmm
		[ "$cfg" = base-pci ] && bin=$BASE_VMM
		set -- "$bin" run --kernel "$image" --net tap=vt0,transport=pci --memory size=64M \
			--cmdline "$args transport=pci" --serial stdio --timeout 300 ;;
	ours-mmio)
		set -- "$vmm" run --kernel "$image" --net tap=vt0 --memory size=64M \
			--cmdline "$args transport=mmio" --serial stdio --timeout 300 ;;
	esac
	ip netns exec "$ns" timeout 300 "$@" >"$log" 2>&1 </dev/null &
	pid=$!
	spid=""
	if [ "$mode" = rx ]; then
		ip netns exec "$ns" "$sender" vt0 300 >/dev/null &
		spid=$!
	fi
	: >"$samples"
	while kill -0 "$pid" 2>/dev/null; do
		echo "$(date +%s%N) $(counter $stat)" >>"$samples"
		sleep 0.2
	done
	wait "$pid"
	status=$?
	[ -n "$spid" ] && { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
	echo "$(date +%s%N) $(counter $stat)" >>"$samples"
	line=$(grep 'net-blast: \(sent\|received\)' "$log" | tail -n 1)
	got=$(echo "$line" | sed -n 's/.* \([0-9]*\) frames in .*/\1/p')
	kicks=$(echo "$line" | sed -n 's/.* kicks \([0-9]*\),.*/\1/p')
	# QEMU's isa-debug-exit reports (0 << 1) | 1 for the guest's exit(0).
	if [ -z "$got" ] || { [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; }; then
		echo "net-bench: $cfg $bench failed (status $status):" >&2
		cat "$log" >&2
		return 1
	fi
	rate=$(awk '{ t[NR] = $1; c[NR] = $2 } END {
		f = 0; l = 0
		for (k = 2; k <= NR; k++) if (c[k] > c[k - 1]) { if (!f) f = k; l = k }
		if (!f) { print 0; exit }
		a = f; b = l - 1
		if (b <= a) { a = f - 1; b = l }
		printf "%d\n", (c[b] - c[a]) * 1e9 / (t[b] - t[a]) }' "$samples")
	echo "$cfg $bench $rate $got $kicks" | tee -a "$raw"
}

i=1
while [ "$i" -le "$rounds" ]; do
	echo "--- round $i of $rounds"
	for b in $benches; do
		for c in $configs; do
			run "$c" "$b" || exit 1
		done
	done
	i=$((i + 1))
done

# stats: median min max of the numbers on stdin (one per line).
stats() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)], v[1], v[NR] }'; }
# col CONFIG BENCH EXPR: EXPR over $3 = rate, $4 = frames, $5 = kicks of the matching runs.
col() { awk -v c="$1" -v b="$2" '$1 == c && $2 == b { print '"$3"' }' "$raw" | stats; }

echo
echo "| bench | config | kpps median [min-max] | ÷ QEMU | frames/kick | kicks/s |"
echo "|---|---|---|---|---|---|"
for b in $benches; do
	set -- $(col qemu-pci "$b" '$3')
	q=${1:-0}
	for c in $configs; do
		set -- $(col "$c" "$b" '$3')
		[ $# -eq 3 ] || continue
		r="$1 $2 $3"
		set -- $(col "$c" "$b" '($5 ? $4 / $5 : $4)')
		fpk=$1
		set -- $(col "$c" "$b" '($4 ? $5 * $3 / $4 : 0)')
		kps=$1
		echo "$b $c $r $q $fpk $kps" | awk '{ printf "| %s | %s | %.1f [%.1f-%.1f] | %.2f | %.0f | %.0f |\n",
			$1, $2, $3 / 1000, $4 / 1000, $5 / 1000, $6 ? $3 / $6 : 0, $7, $8 }'
	done
done
