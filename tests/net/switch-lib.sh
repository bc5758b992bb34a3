# SPDX-License-Identifier: MIT
# Shared helpers for the vmm-switch tests (sourced, not run): vmm-switch between DPDK testpmd
# processes whose virtio-user PMD is the vhost-user front-end (Debian package dpdk-dev ships
# dpdk-testpmd). No hugepages: --no-huge gives memfd-backed memory that virtio-user can share.
# Without dpdk-testpmd, or without root (DPDK's runtime directory), a test exits 77 (skipped).

sw_require() {
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: needs root (DPDK runtime directory)"
		exit 77
	fi
	if ! command -v dpdk-testpmd >/dev/null 2>&1; then
		echo "SKIP: needs dpdk-testpmd (Debian package dpdk-dev)"
		exit 77
	fi
}

SW_PIDS=""
SW_PREFIXES=""
SW_TMP=""

sw_cleanup() {
	for pid in $SW_PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $SW_PIDS; do
		wait "$pid" 2>/dev/null
	done
	for p in $SW_PREFIXES; do
		rm -rf "/var/run/dpdk/$p"
	done
	[ -n "$SW_TMP" ] && rm -rf "$SW_TMP"
}

sw_setup() {
	trap sw_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	SW_TMP=$(mktemp -d /tmp/vmm-switch-test.XXXXXX) || exit 1
}

# sw_start SWITCH_BINARY ARGS...: starts vmm-switch (log in $SW_TMP/switch.log), waits until
# it listens; sets SW_PID.
sw_start() {
	"$@" >"$SW_TMP/switch.log" 2>&1 &
	SW_PID=$!
	SW_PIDS="$SW_PIDS $SW_PID"
	i=0
	while ! grep -q "vmm-switch: ready" "$SW_TMP/switch.log" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt 50 ] || ! kill -0 "$SW_PID" 2>/dev/null; then
			echo "FAIL: vmm-switch did not start"
			cat "$SW_TMP/switch.log"
			exit 1
		fi
		sleep 0.1
	done
}

# sw_testpmd NAME MODE LCORES VDEV_ARGS: a testpmd in the background (log $SW_TMP/NAME.log);
# MODE is txonly, rxonly or io. Sets TP_PID. LCORES: "main,forwarding" CPU list.
sw_testpmd() {
	prefix="vsw$$-$1"
	SW_PREFIXES="$SW_PREFIXES $prefix"
	dpdk-testpmd -l "$3" --no-pci --no-huge -m 256 --file-prefix="$prefix" \
		--vdev "net_virtio_user0,$4" -- --forward-mode="$2" --nb-cores=1 \
		--total-num-mbufs=8192 --stats-period 1 >"$SW_TMP/$1.log" 2>&1 &
	TP_PID=$!
	SW_PIDS="$SW_PIDS $TP_PID"
}

# sw_stop PID: SIGINT (testpmd prints its totals and exits), then wait.
sw_stop() {
	kill -INT "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# sw_counter PORT KEY: one counter of vmm-switch (SIGUSR1 makes it print them).
sw_counter() {
	kill -USR1 "$SW_PID"
	sleep 0.3
	grep "^port $1:" "$SW_TMP/switch.log" | tail -1 |
		awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'
}

# sw_tp_total NAME KEY: RX-packets or TX-packets from a stopped testpmd's totals.
sw_tp_total() {
	grep -A3 "Accumulated forward statistics" "$SW_TMP/$1.log" |
		sed -n "s/.*$2: *\([0-9]*\).*/\1/p" | head -1
}

# sw_wait_connected PORT SECONDS: until vmm-switch reports the port connected and running.
sw_wait_connected() {
	i=0
	while [ "$(sw_counter "$1" connected)" != yes ]; do
		i=$((i + 1))
		if [ "$i" -gt $(($2 * 3)) ]; then
			echo "FAIL: port $1 never connected"
			cat "$SW_TMP/switch.log"
			exit 1
		fi
	done
}

sw_fail() {
	echo "FAIL: $*"
	echo "--- vmm-switch log"
	tail -20 "$SW_TMP/switch.log"
	for f in "$SW_TMP"/*.log; do
		echo "--- $f"
		grep -iE "error|fail|statistics|packets" "$f" | tail -8
	done
	exit 1
}
