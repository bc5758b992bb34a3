# SPDX-License-Identifier: MIT
# Shared helpers for the network tests (sourced, not run). They need root, /dev/net/tun and
# iproute2; without root or /dev/net/tun a test exits 77 (ctest: skipped); a missing tool is
# a failure (tools/setup.sh test installs them).

net_require() {
	if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ]; then
		echo "SKIP: needs root and /dev/net/tun"
		exit 77
	fi
	for tool in ip "$@"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "FAIL: needs $tool (tools/setup.sh test installs it)"
			exit 1
		fi
	done
}

# Everything a test creates is registered here and undone by net_cleanup (trap on EXIT).
NET_PIDS=""
NET_NAMESPACES=""
NET_TMP=""

net_cleanup() {
	for pid in $NET_PIDS; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for ns in $NET_NAMESPACES; do
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "$NET_TMP" ] && rm -rf "$NET_TMP"
}

net_setup() {
	trap net_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	NET_TMP=$(mktemp -d /tmp/vmm-nettest.XXXXXX) || exit 1
}

net_ns_add() {
	ip netns add "$1" || { echo "FAIL: ip netns add $1"; exit 1; }
	NET_NAMESPACES="$NET_NAMESPACES $1"
	ip -n "$1" link set lo up
}

# net_tap NS NAME [ADDR/PREFIX]: a persistent TAP (the vmm attaches to it by name), up.
net_tap() {
	ip -n "$1" tuntap add dev "$2" mode tap vnet_hdr || { echo "FAIL: tuntap $2"; exit 1; }
	if [ -n "${3:-}" ]; then
		ip -n "$1" addr add "$3" dev "$2" || exit 1
	fi
	ip -n "$1" link set "$2" up || exit 1
}

# net_wait_log FILE PATTERN SECONDS: waits until the guest printed PATTERN.
net_wait_log() {
	i=0
	while [ "$i" -lt $(($3 * 10)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "FAIL: no '$2' from the guest within $3 s; its log:"
	cat "$1"
	return 1
}

# net_received "PING OUTPUT": the number of replies ping counted.
net_received() {
	printf '%s\n' "$1" | sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p' | tail -n 1
}

# net_loss NS DEV PERCENT: drops PERCENT % of what the host sends out of DEV. tc netem when
# the kernel has sch_netem, else the iptables "statistic" match (nft or legacy backend).
net_loss() {
	if ip netns exec "$1" tc qdisc add dev "$2" root netem loss "$3%" 2>/dev/null; then
		echo "loss: tc netem loss $3%"
		return 0
	fi
	p=$(printf '0.%02d' "$3")
	for ipt in iptables iptables-legacy; do
		command -v "$ipt" >/dev/null 2>&1 || continue
		if ip netns exec "$1" "$ipt" -A OUTPUT -o "$2" -m statistic --mode random \
			--probability "$p" -j DROP 2>/dev/null; then
			echo "loss: no sch_netem here; $ipt -m statistic --probability $p"
			return 0
		fi
	done
	echo "FAIL: cannot drop packets: needs sch_netem (tc) or iptables with -m statistic"
	return 1
}
