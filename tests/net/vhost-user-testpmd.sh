#!/bin/sh
# SPDX-License-Identifier: MIT
# Interop with DPDK's vhost PMD (Debian package dpdk-dev: /usr/bin/dpdk-testpmd) as the
# vhost-user back-end of our NICs.
#
# 1. One VM, server mode: testpmd (client=1, txonly) sends 64-byte frames; the guest
#    (net-blast mode=rx) must receive them. Then the back-end first, on both transports:
#    testpmd listens before the VM (client mode) exists, so it is attached before DRIVER_OK.
# 2. Two VMs on two testpmd vhost ports in io forward mode (port 0 <-> port 1), one VM in
#    server mode (testpmd connects, client=1) and one in client mode (testpmd listens):
#    every frame net-blast sends in VM X must arrive in VM Y, then the same with the roles
#    swapped (both directions, both socket modes on each side). testpmd's port counters must
#    agree: frames and bytes out of one port = frames and bytes into the other.
#
# testpmd runs with --no-huge (malloc'd mbufs: the vhost PMD maps the guests' memfds itself, it
# needs no hugepages of its own) and 2 lcores: lcore 0 main, lcore 1 forwarding. io forwarding
# runs with TX retry (up to 2 s per burst) so that nothing is dropped for a descheduled VM.
#
#   vhost-user-testpmd.sh VMM GUEST_DIR
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 VMM GUEST_DIR" >&2
	exit 2
fi
vmm=$1 image=$2/net-blast.elf
FRAMES=${FRAMES:-20000}
if ! command -v dpdk-testpmd >/dev/null 2>&1; then
	echo "SKIP: needs dpdk-testpmd (Debian package dpdk-dev)"
	exit 77
fi
if [ ! -w /dev/kvm ]; then
	echo "SKIP: needs /dev/kvm"
	exit 77
fi

tmp=$(mktemp -d /tmp/vmm-vutest.XXXXXX) || exit 1
PIDS=""
cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*"
	for f in "$tmp"/*.log; do
		echo "--- $f"
		grep -v '^\s*$' "$f" | tail -n 25
	done
	exit 1
}

# wait_log FILE PATTERN SECONDS
wait_log() {
	i=0
	while [ "$i" -lt $(($3 * 10)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# testpmd LOG ARGS...: runs testpmd in the background, non-interactive (txonly and the like).
testpmd() {
	log=$1
	shift
	dpdk-testpmd -l 0,1 --no-pci --no-huge -m 256 --no-shconf --file-prefix "vut$$" \
		--log-level=lib.eal:error "$@" --auto-start --stats-period 1 --nb-cores=1 \
		--total-num-mbufs=8192 >"$log" 2>&1 </dev/null &
	PIDS="$PIDS $!"
}

# testpmd_cmd LOG ARGS...: interactive testpmd fed through a fifo (fd 3), for commands that
# have no command-line form: "set fwd io retry" and the TX retry budget. Two CPUs, three busy
# pollers: a receiver VM can be off its CPU for milliseconds, and io forwarding without retry
# drops what its ring cannot take at that moment (measured: 2816 of 20000 arrived).
testpmd_cmd() {
	log=$1
	shift
	rm -f "$tmp/tp.fifo"
	mkfifo "$tmp/tp.fifo" || exit 1
	dpdk-testpmd -l 0,1 --no-pci --no-huge -m 256 --no-shconf --file-prefix "vut$$" \
		--log-level=lib.eal:error "$@" -i --nb-cores=1 --total-num-mbufs=8192 \
		<"$tmp/tp.fifo" >"$log" 2>&1 &
	TP=$!
	PIDS="$PIDS $TP"
	exec 3>"$tmp/tp.fifo"
	echo "set fwd io retry" >&3
	echo "set burst tx delay 1000 retry 2000" >&3
	echo "start" >&3
}

stop_all() {
	exec 3>&- 2>/dev/null
	for p in $PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	PIDS=""
}

# vm NAME NETOPT CMDLINE: one VM with net-blast on a vhost-user NIC.
vm() {
	"$vmm" run --kernel "$image" --cmdline "$3" --memory size=64M,shared=on \
		--net "$2" --serial stdio --timeout 120 >"$tmp/$1.log" 2>&1 &
	PIDS="$PIDS $!"
}

# received LOG: frames counted by net-blast mode=rx.
received() {
	sed -n 's/^net-blast: received \([0-9]*\) frames.*/\1/p' "$1" | tail -n 1
}

# last port counter: port_stat LOG PORT FIELD (RX-packets, TX-packets, RX-bytes, TX-bytes)
port_stat() {
	awk -v port="$2" -v field="$3:" '
		/NIC statistics for port/ { cur = $(NF-1) }
		cur == port { for (i = 1; i < NF; i++) if ($i == field) v = $(i + 1) }
		END { print v + 0 }' "$1"
}

# --- 1: testpmd -> VM, VM in server mode ---------------------------------------------------
vm rx1 "vhost-user=$tmp/rx1.sock,mode=server" "mode=rx frames=1000 wait=60"
wait_log "$tmp/rx1.log" "receiving up to" 20 || fail "guest did not start"
testpmd "$tmp/tp1.log" --vdev "net_vhost0,iface=$tmp/rx1.sock,queues=1,client=1" \
	-- --forward-mode=txonly --txpkts=64
wait_log "$tmp/rx1.log" "received" 30 || fail "no frames from testpmd txonly reached the guest"
got=$(received "$tmp/rx1.log")
[ "${got:-0}" -ge 1000 ] || fail "guest received ${got:-0} of 1000 frames from testpmd"
echo "ok 1: testpmd txonly -> VM (server mode): $got frames"
stop_all

# --- 1-mmio, 1-pci: the back-end first --------------------------------------------------
# testpmd listens, the VM (client mode) connects at create, so the rings are handed over from
# the vCPU thread at DRIVER_OK, after the guest posted its RX buffers (without a kick:
# net-blast publishes them quietly before DRIVER_OK).
for tr in mmio pci; do
	rm -f "$tmp"/*.sock "$tmp"/tp1.log "$tmp"/rx1.log
	testpmd "$tmp/tp1.log" --vdev "net_vhost0,iface=$tmp/rx1.sock,queues=1" \
		-- --forward-mode=txonly --txpkts=64
	i=0
	while [ ! -S "$tmp/rx1.sock" ] && [ "$i" -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
	vm rx1 "vhost-user=$tmp/rx1.sock,mode=client,reconnect=20,transport=$tr" \
		"mode=rx frames=1000 wait=30"
	wait_log "$tmp/rx1.log" "received" 40 ||
		fail "backend first ($tr): no frames from testpmd txonly reached the guest"
	got=$(received "$tmp/rx1.log")
	[ "${got:-0}" -ge 1000 ] ||
		fail "backend first ($tr): guest received ${got:-0} of 1000 frames from testpmd"
	echo "ok 1-$tr: testpmd (listening first) txonly -> VM (client mode, $tr): $got frames"
	stop_all
done

# --- 2: VM -> testpmd io forward -> VM, both directions ------------------------------------
# run_fwd TAG: VM "srv" is the server side of port 0 (testpmd client=1), VM "cli" connects
# to port 1 (testpmd listens). $1 = which of them sends.
run_fwd() {
	sender=$1
	if [ "$sender" = srv ]; then srv_cmd="mode=tx frames=$FRAMES"; cli_cmd="mode=rx frames=$FRAMES wait=90 idle=3"
	else srv_cmd="mode=rx frames=$FRAMES wait=90 idle=3"; cli_cmd="mode=tx frames=$FRAMES"; fi
	rm -f "$tmp"/*.sock "$tmp"/srv.log "$tmp"/cli.log "$tmp"/tp2.log
	# The receiver first, so nothing is forwarded into a port whose VM is not up yet.
	if [ "$sender" = srv ]; then
		testpmd_cmd "$tmp/tp2.log" --vdev "net_vhost0,iface=$tmp/srv.sock,queues=1,client=1" \
			--vdev "net_vhost1,iface=$tmp/cli.sock,queues=1" --
		vm cli "vhost-user=$tmp/cli.sock,mode=client,reconnect=20" "$cli_cmd"
		wait_log "$tmp/cli.log" "receiving up to" 30 || fail "receiver VM did not start"
		sleep 1
		vm srv "vhost-user=$tmp/srv.sock,mode=server" "$srv_cmd"
		rx_log=$tmp/cli.log tx_log=$tmp/srv.log
	else
		vm srv "vhost-user=$tmp/srv.sock,mode=server" "$srv_cmd"
		wait_log "$tmp/srv.log" "receiving up to" 30 || fail "receiver VM did not start"
		testpmd_cmd "$tmp/tp2.log" --vdev "net_vhost0,iface=$tmp/srv.sock,queues=1,client=1" \
			--vdev "net_vhost1,iface=$tmp/cli.sock,queues=1" --
		sleep 2
		vm cli "vhost-user=$tmp/cli.sock,mode=client,reconnect=20" "$cli_cmd"
		rx_log=$tmp/srv.log tx_log=$tmp/cli.log
	fi
	wait_log "$tx_log" "net-blast: sent" 60 || fail "sender ($sender) did not finish"
	wait_log "$rx_log" "net-blast: received" 60 || fail "receiver did not finish"
	# quit, not kill: testpmd's stdout is a file (fully buffered) and must be flushed.
	echo "show port stats all" >&3
	echo "quit" >&3
	exec 3>&-
	wait "$TP"
	got=$(received "$rx_log")
	if [ "$sender" = srv ]; then in_port=0 out_port=1; else in_port=1 out_port=0; fi
	rxp=$(port_stat "$tmp/tp2.log" $in_port RX-packets)
	rxb=$(port_stat "$tmp/tp2.log" $in_port RX-bytes)
	txp=$(port_stat "$tmp/tp2.log" $out_port TX-packets)
	txb=$(port_stat "$tmp/tp2.log" $out_port TX-bytes)
	echo "  sender $sender: testpmd port $in_port rx $rxp frames/$rxb bytes," \
	     "port $out_port tx $txp frames/$txb bytes; receiver counted ${got:-0}"
	[ "$rxp" -eq "$FRAMES" ] || fail "testpmd got $rxp of $FRAMES frames from the sender"
	[ "$rxb" -eq $((FRAMES * 60)) ] || fail "testpmd got $rxb bytes, not $((FRAMES * 60))"
	[ "$txp" -eq "$rxp" ] && [ "$txb" -eq "$rxb" ] ||
		fail "io forward lost frames: in $rxp/$rxb, out $txp/$txb"
	[ "${got:-0}" -eq "$FRAMES" ] || fail "receiver VM counted ${got:-0} of $FRAMES frames"
	stop_all
}

run_fwd srv
echo "ok 2: VM (server mode) -> testpmd io -> VM (client mode): $FRAMES/$FRAMES frames"
run_fwd cli
echo "ok 3: VM (client mode) -> testpmd io -> VM (server mode): $FRAMES/$FRAMES frames"
echo "PASS: vhost-user-testpmd"
