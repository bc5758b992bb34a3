#!/bin/sh
# SPDX-License-Identifier: MIT
# VM to VM over vhost-user (issue 5, "Benchmarks"): one VM sends 64-byte frames (60 + FCS) in
# bursts of 32 (net-blast mode=tx), another VM receives them (net-blast mode=rx), through
#	switch:  vmm-switch --mrg-rxbuf, two ports (the frames are broadcasts: flooded to the
#	         one other port; a frame the receiver's RX ring cannot take is dropped);
#	testpmd: dpdk-testpmd --no-huge, two net_vhost ports, "set fwd io retry" (port 0 <->
#	         port 1, TX retry up to 2 s per burst: nothing is dropped).
# The two configurations run interleaved, ROUNDS rounds (default 10). Rate = frames the
# receiving VM got per second between its first and its last frame (net-blast's TSC count);
# the frames it got in total are printed too (the switch drops, testpmd waits).
#
# CPU placement (2 cores: three busy pollers share two cores), default:
#	sender VM:   taskset -c 0, vCPU pinned to CPU 0 (--cpus 1,affinity=0)
#	receiver VM: taskset -c 1, vCPU pinned to CPU 1
#	back-end:    vmm-switch taskset -c 0 --cpu 0; testpmd --main-lcore 1 -l 0,1 (forwarding
#	             lcore on CPU 0; the main lcore sleeps at its prompt on CPU 1).
#	TXCPU=, RXCPU=, SWCPU= move them; FLOAT=1 pins nothing (the kernel places every thread).
# Needs root, /dev/kvm and dpdk-testpmd (Debian dpdk-dev).
#
#   vu-bench.sh VMM SWITCH GUEST_DIR [ROUNDS]
# env: FRAMES=200000; CONFIGS="switch testpmd"; TPDELAY=1000 TPRETRY=2000 (testpmd's "set burst
# tx delay D retry R": the default holds a burst up to 2 s, polling every 1 ms; DPDK's own
# default is 1 us x 64); RAW=FILE keeps the per-run lines, KEEP=1 keeps the logs.
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 VMM SWITCH GUEST_DIR [ROUNDS]" >&2
	exit 2
fi
vmm=$1 switch=$2 image=$3/net-blast.elf rounds=${4:-10}
FRAMES=${FRAMES:-200000}
TPDELAY=${TPDELAY:-1000} TPRETRY=${TPRETRY:-2000}	# testpmd TX retry: us between tries, tries
CONFIGS=${CONFIGS:-switch testpmd}
TXCPU=${TXCPU:-0} RXCPU=${RXCPU:-1} SWCPU=${SWCPU:-0}
# FLOAT=1: no pinning at all (every thread may run on either CPU; the kernel places them).
if [ "${FLOAT:-0}" = 1 ]; then
	TXCPU=0-1 RXCPU=0-1 SWCPU=0-1
	VCPUPIN="" SWPIN="" TPLCORES="--lcores 0@(0-1),1@(0-1) --main-lcore 0"
else
	VCPUPIN=1 SWPIN="--cpu $SWCPU"
	# testpmd's main lcore (idle at its prompt) on the other CPU; forwarding lcore = SWCPU
	TPLCORES="-l 0,1 --main-lcore $((1 - SWCPU))"
fi
command -v dpdk-testpmd >/dev/null 2>&1 || { echo "SKIP: needs dpdk-testpmd"; exit 77; }
[ -w /dev/kvm ] || { echo "SKIP: needs /dev/kvm"; exit 77; }

tmp=$(mktemp -d /tmp/vu-bench.XXXXXX) || exit 1
raw=${RAW:-$tmp/raw}
: >"$raw"
PIDS=""
stop_all() {
	exec 3>&- 2>/dev/null
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	PIDS=""
}
trap 'stop_all; [ "${KEEP:-0}" = 1 ] || rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

wait_log() {	# wait_log FILE PATTERN SECONDS
	i=0
	while [ "$i" -lt $(($3 * 10)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

vm() {	# vm NAME CPU SOCKET CMDLINE
	taskset -c "$2" "$vmm" run --kernel "$image" --memory size=64M,shared=on \
		--cpus "1${VCPUPIN:+,affinity=$2}" --net "vhost-user=$3,mode=client,reconnect=20" \
		--cmdline "$4" --serial stdio --timeout 120 >"$tmp/$1.log" 2>&1 &
	PIDS="$PIDS $!"
}

# The receiver first and ready, then the sender; the run ends when the receiver has all
# frames or saw none for idle=2 s (vmm-switch drops what a full RX ring cannot take).
pair() {	# pair CONFIG SOCK_RX SOCK_TX
	vm rx "$RXCPU" "$2" "mode=rx frames=$FRAMES wait=30 idle=2"
	wait_log "$tmp/rx.log" "receiving up to" 30 || { echo "$1: receiver did not start"; return 1; }
	vm tx "$TXCPU" "$3" "mode=tx frames=$FRAMES"
	# event_idx ends the line (the serial port is written a byte per exit: wait for all of it)
	wait_log "$tmp/rx.log" "net-blast: received.*event_idx" 120 || { echo "$1: receiver did not finish"; return 1; }
	line=$(grep 'net-blast: received' "$tmp/rx.log" | tail -n 1)
	got=$(echo "$line" | sed -n 's/.*received \([0-9]*\) frames.*/\1/p')
	pps=$(echo "$line" | sed -n 's/.*: \([0-9]*\) pps.*/\1/p')
	if [ -z "$got" ] || [ -z "$pps" ]; then
		echo "$1: unreadable receiver line: $line" | tee -a "$raw.bad"
		return 1
	fi
	echo "$1 $pps $got" | tee -a "$raw"
	[ "${KEEP:-0}" = 1 ] && { mkdir -p "$tmp/keep"; for f in "$tmp"/*.log; do cp "$f" "$tmp/keep/$1-$r-${f##*/}"; done; }
	return 0
}

run_switch() {
	rm -f "$tmp"/*.sock "$tmp"/*.log
	taskset -c "$SWCPU" "$switch" --mrg-rxbuf $SWPIN --port a="$tmp/a.sock" \
		--port b="$tmp/b.sock" >"$tmp/switch.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_log "$tmp/switch.log" ready 5 || { echo "vmm-switch did not start"; stop_all; return 1; }
	pair switch "$tmp/b.sock" "$tmp/a.sock"
	stop_all
}

run_testpmd() {
	rm -f "$tmp"/*.sock "$tmp"/*.log "$tmp/tp.fifo"
	mkfifo "$tmp/tp.fifo" || exit 1
	dpdk-testpmd $TPLCORES --no-pci --no-huge -m 256 --no-shconf \
		--file-prefix "vub$$" --log-level=lib.eal:error \
		--vdev "net_vhost0,iface=$tmp/a.sock,queues=1" \
		--vdev "net_vhost1,iface=$tmp/b.sock,queues=1" \
		-- -i --nb-cores=1 --total-num-mbufs=8192 <"$tmp/tp.fifo" >"$tmp/tp.log" 2>&1 &
	PIDS="$PIDS $!"
	exec 3>"$tmp/tp.fifo"
	echo "set fwd io retry" >&3
	echo "set burst tx delay $TPDELAY retry $TPRETRY" >&3
	echo "start" >&3
	# testpmd's stdout is a file (fully buffered): wait for its sockets instead.
	i=0
	while [ "$i" -lt 200 ] && ! { [ -S "$tmp/a.sock" ] && [ -S "$tmp/b.sock" ]; }; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -S "$tmp/b.sock" ] || { echo "testpmd did not start"; stop_all; return 1; }
	sleep 1
	pair testpmd "$tmp/b.sock" "$tmp/a.sock"
	stop_all
}

r=1
while [ "$r" -le "$rounds" ]; do
	echo "round $r"
	for c in $CONFIGS; do "run_$c"; done
	r=$((r + 1))
done

echo
echo "| config | runs | kpps median [min-max] | frames received per run, median of $FRAMES sent |"
echo "|---|---|---|---|"
for c in switch testpmd; do
	n=$(awk -v c="$c" '$1 == c' "$raw" | wc -l)
	[ "$n" -gt 0 ] || continue
	awk -v c="$c" '$1 == c { print $2 }' "$raw" | sort -n >"$tmp/s"
	g=$(awk -v c="$c" '$1 == c { print $3 }' "$raw" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	awk -v c="$c" -v n="$n" -v g="$g" '{ a[NR] = $1 } END {
		m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		printf "| %s | %d | %.1f [%.1f-%.1f] | %s |\n", c, n, m / 1e3, a[1] / 1e3, a[NR] / 1e3, g
	}' "$tmp/s"
done
