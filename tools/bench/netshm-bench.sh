#!/bin/sh
# SPDX-License-Identifier: MIT
# vhost-user-shmem benchmark (issue 7, "Benchmarks"): one sender VM and one receiver VM, 64-byte
# frames (60 + FCS) in batches of 32 (guest netshm-bench), through
#	fast:    vmm-switch --netshm, both VMs shmem=shared: the sender writes into the
#	         receiver's ring in the shared region;
#	peer:    vmm-switch --netshm --netshm-peer, shmem=peer,protect=none: the ring lives in
#	         the receiver's RAM, reached through the sender's peer window;
#	switch:  the fast setup with slow=1 in both guests: every frame through virtio-net and
#	         vmm-switch (the switch path of the same VMs);
#	testpmd: dpdk-testpmd with two net_vhost ports, "set fwd io retry", as the back-end
#	         (no netshm device: netshm=0).
# All configurations run interleaved in each of ROUNDS rounds (default 5). The receiver prints
# one rate sample per second (TSC); every sample of a configuration goes into its median,
# min and max (the host moves the vCPUs: the rate flips between levels within one run).
# Then the ping-pong latency (one frame, echoed) over the fast and the switch path:
# min/median/p99/max of COUNT round trips per run. Then the doorbell wake-up (§8, guest
# netshm-traffic doorbell=1|2): a receiver that sleeps between batches (rings armed), a sender
# at 20 kpps that rings it; per run min/median/p99/max of the time from frames visible in the
# ring to the receiver's interrupt handler, with the interrupt as the device's MSI ("msi")
# and on its IOAPIC pin ("pin").
#
# CPU placement (2 cores): sender VM on CPU 0, receiver VM on CPU 1, the back-end on CPU 0
# (with the sender: three busy pollers on two cores on the switch and testpmd paths; on the
# fast path the switch is idle). TXCPU=, RXCPU=, SWCPU= move them.
# Needs root, /dev/kvm; testpmd configurations are skipped without dpdk-testpmd.
#
#   netshm-bench.sh VMM SWITCH GUEST_DIR [ROUNDS]
# env: SECS=10 (sending time per run), COUNT=10000 (round trips), CONFIGS="fast peer switch
# testpmd", LATENCY="fast switch", DOORBELL="msi pin", DBFRAMES=20000, KEEP=1 keeps the logs,
# RAW=FILE keeps the samples.
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 VMM SWITCH GUEST_DIR [ROUNDS]" >&2
	exit 2
fi
vmm=$1 switch=$2 image=$3/netshm-bench.elf rounds=${4:-5}
SECS=${SECS:-10} COUNT=${COUNT:-10000}
CONFIGS=${CONFIGS-fast peer switch testpmd}
LATENCY=${LATENCY-fast switch}
DOORBELL=${DOORBELL-msi pin} DBFRAMES=${DBFRAMES:-20000}
TXCPU=${TXCPU:-0} RXCPU=${RXCPU:-1} SWCPU=${SWCPU:-0}
MAC_TX=52:54:00:5e:01:0a MAC_RX=52:54:00:5e:01:0b
[ -w /dev/kvm ] || { echo "SKIP: needs /dev/kvm"; exit 77; }
have_testpmd=0
command -v dpdk-testpmd >/dev/null 2>&1 && have_testpmd=1

tmp=$(mktemp -d /tmp/netshm-bench.XXXXXX) || exit 1
raw=${RAW:-$tmp/raw}
: >"$raw"
PIDS=""
. "$(dirname "$0")/bench-lib.sh"
trap 'stop_all; rm -rf /var/run/dpdk/nsb$$; [ "${KEEP:-0}" = 1 ] || rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

vm() {	# vm NAME CPU SOCKET NETOPTS MAC CMDLINE [IMAGE]
	taskset -c "$2" "$vmm" run --kernel "${7:-$image}" --memory size=64M,shared=on \
		--cpus "1,affinity=$2" --net "vhost-user=$3,mode=client,mac=$5$4" \
		--cmdline "$6" --serial stdio --timeout $((SECS + 120)) >"$tmp/$1.log" 2>&1 &
	PIDS="$PIDS $!"
}

start_switch() {	# start_switch ARGS...
	rm -f "$tmp"/*.sock "$tmp"/*.log
	taskset -c "$SWCPU" "$switch" --mrg-rxbuf --cpu "$SWCPU" --port a="$tmp/a.sock" --port b="$tmp/b.sock" \
		"$@" >"$tmp/switch.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_log "$tmp/switch.log" ready 5
}

start_testpmd() {
	rm -f "$tmp"/*.sock "$tmp"/*.log "$tmp/tp.fifo"
	mkfifo "$tmp/tp.fifo" || exit 1
	dpdk-testpmd -l 0,1 --main-lcore $((1 - SWCPU)) --no-pci --no-huge -m 256 --no-shconf \
		--file-prefix "nsb$$" --log-level=lib.eal:error \
		--vdev "net_vhost0,iface=$tmp/a.sock,queues=1" \
		--vdev "net_vhost1,iface=$tmp/b.sock,queues=1" \
		-- -i --nb-cores=1 --total-num-mbufs=8192 <"$tmp/tp.fifo" >"$tmp/tp.log" 2>&1 &
	PIDS="$PIDS $!"
	exec 3>"$tmp/tp.fifo"
	echo "set fwd io retry" >&3
	echo "start" >&3
	i=0
	while [ "$i" -lt 200 ] && ! { [ -S "$tmp/a.sock" ] && [ -S "$tmp/b.sock" ]; }; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -S "$tmp/b.sock" ] && sleep 1
}

# rate CONFIG: receiver first, then the sender; the receiver's per-second samples go to RAW.
rate() {
	case $1 in
	fast)	start_switch --netshm || return 1; opts=",shmem=shared" args="" ;;
	peer)	start_switch --netshm --netshm-peer || return 1
		opts=",shmem=peer,protect=none" args="" ;;
	switch)	start_switch --netshm || return 1; opts=",shmem=shared" args="slow=1" ;;
	testpmd) [ "$have_testpmd" = 1 ] || return 0
		start_testpmd || return 1; opts="" args="netshm=0" ;;
	esac
	vm rx "$RXCPU" "$tmp/b.sock" "$opts" "$MAC_RX" "mode=rx wait=30 idle=2 $args"
	wait_log "$tmp/rx.log" "netshm-bench: port\|netshm-bench: no" 30
	vm tx "$TXCPU" "$tmp/a.sock" "$opts" "$MAC_TX" "mode=tx dst=$MAC_RX secs=$SECS $args"
	if ! wait_log "$tmp/rx.log" "netshm-bench: summary" $((SECS + 90)); then
		echo "$1: no summary from the receiver" | tee -a "$raw.bad"
		tail -5 "$tmp/rx.log" "$tmp/tx.log"
		stop_all
		return 1
	fi
	sleep 0.5
	# Samples after the sender stopped (zeros while the receiver waits idle=) are dropped;
	# then the first and the last one, which are partial (the sender started / stopped
	# inside them).
	sed -n 's/.*sample [0-9]*: \([0-9]*\) kpps.*/\1/p' "$tmp/rx.log" |
		awk '{ v[NR] = $1; if ($1 > 0) last = NR }
		     END { for (i = 2; i < last; i++) print v[i] }' |
		while read -r k; do echo "$1 $k"; done >>"$raw"
	grep "summary" "$tmp/rx.log" | sed "s/^/  $1 round $r: /"
	if [ "${KEEP:-0}" = 1 ]; then
		mkdir -p "$tmp/keep"
		for f in rx tx switch tp; do
			[ -f "$tmp/$f.log" ] && cp "$tmp/$f.log" "$tmp/keep/$1-$r-$f.log"
		done
	fi
	stop_all
}

latency() {	# latency CONFIG
	start_switch --netshm || return 1
	args=""
	[ "$1" = switch ] && args="slow=1"
	vm pong "$RXCPU" "$tmp/b.sock" ",shmem=shared" "$MAC_RX" "mode=pong wait=30 idle=2 $args"
	wait_log "$tmp/pong.log" "netshm-bench: port" 30
	vm ping "$TXCPU" "$tmp/a.sock" ",shmem=shared" "$MAC_TX" "mode=ping dst=$MAC_RX count=$COUNT $args"
	if wait_log "$tmp/ping.log" "netshm-bench: rtt" 120; then
		sleep 0.2
		grep "rtt" "$tmp/ping.log" | sed "s/.*rtt /lat $1 round $r: /" | tee -a "$raw.lat"
	else
		echo "$1: no rtt line" | tee -a "$raw.bad"
	fi
	stop_all
}

doorbell() {	# doorbell msi|pin
	start_switch --netshm || return 1
	mode=1
	[ "$1" = pin ] && mode=2
	traffic=$(dirname "$image")/netshm-traffic.elf
	vm rx "$RXCPU" "$tmp/b.sock" ",shmem=shared,doorbell=on" "$MAC_RX" \
		"senders=1 rx_frames=$DBFRAMES rx_bcast=0 doorbell=$mode timeout=120" "$traffic"
	sleep 0.5
	vm tx "$TXCPU" "$tmp/a.sock" ",shmem=shared,doorbell=on" "$MAC_TX" \
		"dst=$MAC_RX frames=$DBFRAMES bcast=0 kpps=20 doorbell=1 wait_fast=20 timeout=120" \
		"$traffic"
	if wait_log "$tmp/rx.log" "wake latency.*samples)" 130; then
		sed -n "s/.*wake latency ns /doorbell $1 round $r: /p" "$tmp/rx.log" |
			tee -a "$raw.db"
	else
		echo "doorbell $1: no wake latency line" | tee -a "$raw.bad"
	fi
	stop_all
}

r=1
while [ "$r" -le "$rounds" ]; do
	for c in $CONFIGS; do rate "$c"; done
	for c in $LATENCY; do latency "$c"; done
	for c in $DOORBELL; do doorbell "$c"; done
	r=$((r + 1))
done

echo "== rate, 64-byte frames, kpps over all 1-second samples (sender CPU $TXCPU, receiver" \
	"CPU $RXCPU, back-end CPU $SWCPU)"
for c in $CONFIGS; do
	grep "^$c " "$raw" | awk '{ print $2 }' | sort -n | awk -v c="$c" '
		{ v[NR] = $1 }
		END { if (NR) printf "%-8s samples %4d median %8d min %8d max %8d kpps\n", c, NR,
			v[int((NR + 1) / 2)], v[1], v[NR];
		      else printf "%-8s no samples\n", c }'
done
fast=$(grep "^fast " "$raw" | awk '{ print $2 }' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
sw=$(grep "^switch " "$raw" | awk '{ print $2 }' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
[ -n "${fast:-}" ] && [ -n "${sw:-}" ] && [ "$sw" -gt 0 ] &&
	echo "fast / switch (medians): $(awk -v a="$fast" -v b="$sw" 'BEGIN { printf "%.1f", a / b }')x"
if [ -s "$raw.lat" ]; then
	echo "== ping-pong round trip, ns (per run: min / median / p99 / max)"
	cat "$raw.lat"
fi
if [ -s "$raw.db" ]; then
	echo "== doorbell wake-up, ns (per run: min / median / p99 / max)"
	cat "$raw.db"
fi
[ -s "$raw.bad" ] && { echo "== failed runs"; cat "$raw.bad"; }
exit 0
