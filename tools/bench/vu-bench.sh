#!/bin/sh
# SPDX-License-Identifier: MIT
# VM to VM over vhost-user (issue 5, "Benchmarks"): one VM sends 64-byte frames (60 + FCS) in
# bursts of 32 (net-blast mode=tx), another VM receives them (net-blast mode=rx), through
#	switch:  vmm-switch --mrg-rxbuf, two ports (the frames are broadcasts: flooded to the
#	         one other port; a frame the receiver's RX ring cannot take is dropped);
#	testpmd: dpdk-testpmd --no-huge, two net_vhost ports, "set fwd io retry" (port 0 <->
#	         port 1, TX retry up to 2 s per burst: nothing is dropped).
# and, for reference, with no VM at all: two dpdk-testpmd processes, one txonly (64-byte
# frames) and one rxonly, connected by
#	memif:   net_memif (receiver role=server, sender role=client; copy mode);
#	vhost:   net_vhost (receiver) <-> net_virtio_user (sender).
# All configurations run interleaved in each of ROUNDS rounds (default 10).
# Rate, VM configs: frames the receiving VM got per second between its first and its last
# frame (net-blast's TSC count), one sample per run; the frames it got in total are printed
# too (the switch drops, testpmd waits). Rate, reference pairs: the receiver's Rx-pps from
# testpmd's own port statistics (--stats-period 1), one sample per second, REFSECS samples per
# run after the first second with traffic.
#
# CPU placement (2 cores), default:
#	sender VM:   taskset -c 0, vCPU pinned to CPU 0 (--cpus 1,affinity=0)
#	receiver VM: taskset -c 1, vCPU pinned to CPU 1
#	back-end:    vmm-switch taskset -c 0 --cpu 0; testpmd --main-lcore 1 -l 0,1 (forwarding
#	             lcore on CPU 0; the main lcore sleeps at its prompt on CPU 1).
#	             (three busy pollers on two cores: the back-end shares CPU 0 with the sender)
#	memif/vhost: the sender testpmd --lcores 0@0,1@0 (main + forwarding lcore on CPU 0), the
#	             receiver --lcores 0@1,1@1: one busy poller per core.
#	TXCPU=, RXCPU=, SWCPU= move them; FLOAT=1 pins nothing (the kernel places every thread).
# Every thread of every process, with its affinity, is listed once per configuration (round
# 1): that is the placement as the kernel saw it, not only as intended.
# Needs root, /dev/kvm and dpdk-testpmd (Debian dpdk-dev).
#
#   vu-bench.sh VMM SWITCH GUEST_DIR [ROUNDS]
# env: FRAMES=200000; CONFIGS="switch testpmd memif vhost"; REFSECS=10; TPDELAY=1000
# TPRETRY=2000 (testpmd's "set burst tx delay D retry R": the default holds a burst up to 2 s,
# polling every 1 ms; DPDK's own default is 1 us x 64); RAW=FILE keeps the per-run lines and
# per-second samples, KEEP=1 keeps the logs.
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 VMM SWITCH GUEST_DIR [ROUNDS]" >&2
	exit 2
fi
vmm=$1 switch=$2 image=$3/net-blast.elf rounds=${4:-10}
FRAMES=${FRAMES:-200000}
TPDELAY=${TPDELAY:-1000} TPRETRY=${TPRETRY:-2000}	# testpmd TX retry: us between tries, tries
CONFIGS=${CONFIGS:-switch testpmd memif vhost}
REFSECS=${REFSECS:-10}
TXCPU=${TXCPU:-0} RXCPU=${RXCPU:-1} SWCPU=${SWCPU:-0}
# FLOAT=1: no pinning at all (every thread may run on either CPU; the kernel places them).
if [ "${FLOAT:-0}" = 1 ]; then
	TXCPU=0-1 RXCPU=0-1 SWCPU=0-1
	VCPUPIN="" SWPIN="" TPLCORES="--lcores 0@(0-1),1@(0-1) --main-lcore 0"
	REFTX="0@(0-1),1@(0-1)" REFRX="0@(0-1),1@(0-1)"
else
	VCPUPIN=1 SWPIN="--cpu $SWCPU"
	# testpmd's main lcore (idle at its prompt) on the other CPU; forwarding lcore = SWCPU
	TPLCORES="-l 0,1 --main-lcore $((1 - SWCPU))"
	# reference pairs: one process per core, its main and forwarding lcore on that core
	REFTX="0@$TXCPU,1@$TXCPU" REFRX="0@$RXCPU,1@$RXCPU"
fi
command -v dpdk-testpmd >/dev/null 2>&1 || { echo "SKIP: needs dpdk-testpmd"; exit 77; }
[ -w /dev/kvm ] || { echo "SKIP: needs /dev/kvm"; exit 77; }

tmp=$(mktemp -d /tmp/vu-bench.XXXXXX) || exit 1
raw=${RAW:-$tmp/raw}
: >"$raw"
PIDS=""
. "$(dirname "$0")/bench-lib.sh"
# --no-shconf still leaves a runtime directory per --file-prefix
trap 'stop_all; rm -rf /var/run/dpdk/vub$$ /var/run/dpdk/vub$$-*; [ "${KEEP:-0}" = 1 ] || rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

vm() {	# vm NAME CPU SOCKET CMDLINE
	taskset -c "$2" "$vmm" run --kernel "$image" --memory size=64M,shared=on \
		--cpus "1${VCPUPIN:+,affinity=$2}" --net "vhost-user=$3,mode=client,reconnect=20" \
		--cmdline "$4" --serial stdio --timeout 120 >"$tmp/$1.log" 2>&1 &
	VMPID=$!
	PIDS="$PIDS $!"
}

# placement LABEL PID: every thread of PID (name@CPUs it may run on), once per configuration
# (round 1); also kept in RAW.placement.
placement() {
	[ "$r" = 1 ] || return 0
	line=""
	for t in /proc/"$2"/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue
		aff=$(taskset -pc "${t##*/}" 2>/dev/null | sed 's/.*: //')
		line="$line $(echo "$comm" | tr ' ' _)@$aff"
	done
	echo "  placement $1 (pid $2):$line" | tee -a "$raw.placement"
}

# The receiver first and ready, then the sender; the run ends when the receiver has all
# frames or saw none for idle=2 s (vmm-switch drops what a full RX ring cannot take).
pair() {	# pair CONFIG SOCK_RX SOCK_TX
	vm rx "$RXCPU" "$2" "mode=rx frames=$FRAMES wait=30 idle=2"
	rxpid=$VMPID
	wait_log "$tmp/rx.log" "receiving up to" 30 || { echo "$1: receiver did not start"; return 1; }
	vm tx "$TXCPU" "$3" "mode=tx frames=$FRAMES"
	if [ "$r" = 1 ]; then	# while the frames flow (costs a few ms of CPU, round 1 only)
		wait_log "$tmp/tx.log" "net-blast: sending" 20
		placement "$1 back-end" "$BEPID"
		placement "$1 receiver VM" "$rxpid"
		placement "$1 sender VM" "$VMPID"
	fi
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
	BEPID=$!
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
	BEPID=$!
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

# ---- reference pairs: two testpmd processes, no VM ----------------------------------------
# tp_ref NAME LCORES VDEV MODE: a non-interactive testpmd (--stats-period keeps it running and
# prints its port statistics, with Rx-pps/Tx-pps over the last period, every second).
tp_ref() {
	dpdk-testpmd --lcores "$2" --main-lcore 0 --no-pci --no-huge -m 256 --no-shconf \
		--file-prefix "vub$$-$1" --log-level=lib.eal:error --vdev "$3" -- \
		--forward-mode="$4" --txpkts=60 --nb-cores=1 --auto-start --stats-period 1 \
		--total-num-mbufs=16384 >"$tmp/$1.log" 2>&1 </dev/null &
	TPPID=$!
	PIDS="$PIDS $!"
}

# rx_pps LOG: the receiver's Rx-pps samples, one a line.
rx_pps() {
	tr -d '\033' <"$1" | awk '/Rx-pps:/ { for (i = 1; i < NF; i++) if ($i == "Rx-pps:") print $(i + 1) }'
}

# ref_pair CONFIG RX_VDEV TX_VDEV SOCKET: receiver (rxonly) first, then the sender (txonly);
# REFSECS one-second samples of the receiver's Rx-pps after the first second with traffic
# (that one is partial: the sender started inside it).
ref_pair() {
	rm -f "$tmp"/*.sock "$tmp"/*.log
	tp_ref rx "$REFRX" "$2" rxonly
	rxpid=$TPPID
	i=0
	while [ "$i" -lt 300 ] && [ ! -S "$4" ]; do sleep 0.1; i=$((i + 1)); done
	[ -S "$4" ] || { echo "$1: receiver testpmd did not start"; stop_all; return 1; }
	tp_ref tx "$REFTX" "$3" txonly
	i=0
	while [ "$i" -lt 300 ] && ! rx_pps "$tmp/rx.log" | grep -q '^[1-9]'; do
		sleep 0.1
		i=$((i + 1))
	done
	rx_pps "$tmp/rx.log" | grep -q '^[1-9]' || { echo "$1: no traffic"; stop_all; return 1; }
	# one check a second: the script's own processes should not steal the pollers' CPUs
	placement "$1 receiver" "$rxpid"
	placement "$1 sender" "$TPPID"
	i=0
	while [ "$i" -lt $((REFSECS + 10)) ] &&
	      [ "$(rx_pps "$tmp/rx.log" | awk 'f || $1 > 0 { f = 1; n++ } END { print n + 0 }')" -le "$REFSECS" ]; do
		sleep 1
		i=$((i + 1))
	done
	stop_all
	rx_pps "$tmp/rx.log" | awk -v c="$1" -v n="$REFSECS" -v r="$r" '
		!f && $1 == 0 { next }
		!f { f = 1; next }		# the partial first second
		k < n { print c, $1, "-", r; k++ }' | tee -a "$raw" |
		awk '{ printf "%s%.0f", (NR > 1 ? " " : $1 " kpps: "), $2 / 1e3 } END { print "" }'
	[ "${KEEP:-0}" = 1 ] && { mkdir -p "$tmp/keep"; for f in "$tmp"/*.log; do cp "$f" "$tmp/keep/$1-$r-${f##*/}"; done; }
	return 0
}

run_memif() {
	sock=$tmp/memif.sock
	ref_pair memif "net_memif0,role=server,socket=$sock,socket-abstract=no" \
		"net_memif0,role=client,socket=$sock,socket-abstract=no" "$sock"
}

run_vhost() {
	sock=$tmp/vhost.sock
	ref_pair vhost "net_vhost0,iface=$sock,queues=1" "net_virtio_user0,path=$sock,queues=1" "$sock"
}

r=1
while [ "$r" -le "$rounds" ]; do
	echo "round $r"
	for c in $CONFIGS; do "run_$c"; done
	r=$((r + 1))
done

# what one sample is, and where the busy pollers ran
what() {
	case $1 in
	switch|testpmd) echo "VM -> $1 -> VM; 1 sample = 1 run (receiver VM's first-to-last frame)" ;;
	memif) echo "testpmd txonly -> memif -> testpmd rxonly; 1 sample = 1 s of Rx-pps" ;;
	vhost) echo "testpmd txonly -> virtio-user/vhost-user -> testpmd rxonly; 1 sample = 1 s of Rx-pps" ;;
	esac
}
where() {
	if [ "${FLOAT:-0}" = 1 ]; then echo "unpinned"; return; fi
	case $1 in
	switch|testpmd) echo "sender vCPU $TXCPU + back-end $SWCPU, receiver vCPU $RXCPU" ;;
	*) echo "sender CPU $TXCPU, receiver CPU $RXCPU" ;;
	esac
}

echo
echo "| config | what | busy pollers on | samples | kpps median [min-max] | frames received per run, median of $FRAMES sent |"
echo "|---|---|---|---|---|---|"
for c in switch testpmd memif vhost; do
	n=$(awk -v c="$c" '$1 == c' "$raw" | wc -l)
	[ "$n" -gt 0 ] || continue
	awk -v c="$c" '$1 == c { print $2 }' "$raw" | sort -n >"$tmp/s"
	g=$(awk -v c="$c" '$1 == c { print $3 }' "$raw" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	awk -v c="$c" -v n="$n" -v g="$g" -v w="$(what "$c")" -v p="$(where "$c")" '{ a[NR] = $1 } END {
		m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		printf "| %s | %s | %s | %d | %.1f [%.1f-%.1f] | %s |\n", c, w, p, n, m / 1e3, a[1] / 1e3, a[NR] / 1e3, g
	}' "$tmp/s"
done
