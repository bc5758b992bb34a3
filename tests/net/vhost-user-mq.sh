#!/bin/sh
# SPDX-License-Identifier: MIT
# Multiqueue through the vhost-user front-end: our VMM with --net vhost-user=SOCK,queues=2
# against DPDK testpmd's vhost PMD with queues=2 and --rxq=2 --txq=2, io forward on one port
# (testpmd stream "RX queue k -> TX queue k": each frame goes back into the guest on the pair
# it came from). The guest (net-mq.elf) negotiates CTRL_VQ + MQ, sends VQ_PAIRS_SET 2 on the
# control queue, then echoes tagged frames on both pairs and checks that each comes back on its
# own pair (guest -> testpmd and testpmd -> guest on queue pair 0 and on queue pair 1).
# (--stats-period: a non-interactive testpmd would otherwise exit at EOF on stdin;
# --disable-link-check: auto-start without waiting for a link the VMM brings up later.)
# testpmd's per-stream counters must agree: queue 0 and queue 1 each received and sent FRAMES.
# Run twice: virtio-mmio with our VMM connecting (testpmd listens), virtio-pci with our VMM
# listening (testpmd client=1).
#
#   vhost-user-mq.sh VMM GUEST_DIR
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 VMM GUEST_DIR" >&2
	exit 2
fi
vmm=$1 image=$2/net-mq.elf
FRAMES=${FRAMES:-2000}
if ! command -v dpdk-testpmd >/dev/null 2>&1; then
	echo "SKIP: needs dpdk-testpmd (Debian package dpdk-dev)"
	exit 77
fi
if [ ! -w /dev/kvm ]; then
	echo "SKIP: needs /dev/kvm"
	exit 77
fi

tmp=$(mktemp -d /tmp/vmm-vumq.XXXXXX) || exit 1
PIDS=""
stop_all() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	PIDS=""
}
trap 'stop_all; rm -rf "$tmp" /var/run/dpdk/vumq$$' EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*"
	for f in "$tmp"/*.log; do
		echo "--- $f"
		grep -v '^\s*$' "$f" | tail -n 30
	done
	exit 1
}

# stream_stat LOG QUEUE FIELD: testpmd's "Forward Stats for RX Port= 0/Queue= Q -> ..." block.
stream_stat() {
	awk -v q="$2" -v field="$3:" '
		/Forward Stats for RX Port=/ { cur = $0; sub(/.*Queue= */, "", cur); sub(/ .*/, "", cur) }
		/Forward statistics for port/ { cur = "" }
		cur == q { for (i = 1; i < NF; i++) if ($i == field) v = $(i + 1) }
		END { print v + 0 }' "$1"
}

# run TAG TRANSPORT MODE: MODE is client (testpmd listens) or server (testpmd connects).
run() {
	tag=$1 tr=$2 mode=$3
	rm -f "$tmp"/*.sock "$tmp"/*.log
	if [ "$mode" = client ]; then
		tpopt="" vmopt="mode=client,reconnect=20"
	else
		tpopt=",client=1" vmopt="mode=server"
	fi
	dpdk-testpmd -l 0,1 --no-pci --no-huge -m 256 --no-shconf --file-prefix "vumq$$" \
		--log-level=lib.eal:error --vdev "net_vhost0,iface=$tmp/mq.sock,queues=2$tpopt" \
		-- --rxq=2 --txq=2 --nb-cores=1 --forward-mode=io --auto-start --stats-period 1 \
		--total-num-mbufs=8192 --disable-link-check >"$tmp/tp.log" 2>&1 </dev/null &
	tp=$!
	PIDS="$PIDS $tp"
	# Starting to forward, testpmd drains its RX queues: frames the guest sent before
	# that would be dropped, so the guest starts only once testpmd forwards.
	i=0
	until grep -q "Logical Core .* forwards packets" "$tmp/tp.log"; do
		i=$((i + 1))
		[ $i -le 300 ] || fail "$tag: testpmd did not start forwarding"
		sleep 0.1
	done
	"$vmm" run --kernel "$image" --memory size=64M,shared=on \
		--net "vhost-user=$tmp/mq.sock,$vmopt,queues=2,transport=$tr" \
		--cmdline "frames=$FRAMES wait=60 transport=$tr" --serial stdio --timeout 120 \
		>"$tmp/vm.log" 2>&1
	rc=$?
	# SIGINT: testpmd stops forwarding and prints its per-stream totals (stdout is a file).
	kill -INT "$tp" 2>/dev/null
	wait "$tp"
	PIDS=""
	grep -E '^(PASS|FAIL|INFO|SUMMARY)' "$tmp/vm.log" | sed 's/^/  /'
	[ "$rc" -eq 0 ] || fail "$tag: guest exit status $rc"
	grep -q "SUMMARY: 5 tests, 0 unexpected failures" "$tmp/vm.log" ||
		fail "$tag: guest did not pass all of its checks"
	for q in 0 1; do
		rx=$(stream_stat "$tmp/tp.log" $q RX-packets)
		tx=$(stream_stat "$tmp/tp.log" $q TX-packets)
		echo "  testpmd queue $q: rx $rx, tx $tx"
		[ "$rx" -eq "$FRAMES" ] || fail "$tag: testpmd RX queue $q got $rx of $FRAMES frames"
		[ "$tx" -eq "$FRAMES" ] || fail "$tag: testpmd TX queue $q sent $tx of $FRAMES frames"
	done
	echo "ok $tag: $FRAMES frames each way on queue pairs 0 and 1"
}

run mmio-client mmio client
run pci-server pci server
echo "PASS: vhost-user-mq"
