# SPDX-License-Identifier: MIT
# Shared helpers for the vhost-user-shmem tests (tests/net/netshm-*.sh; sourced, not run):
# one vmm-switch --netshm and our VMs on its ports. The caller sets NS_VMM, NS_SWITCH and
# NS_GUESTS (the guest image directory), then calls ns_setup. Every VM's log is NAME.log in
# $NS_TMP, its VMM's pid NAME.pid and its VMM's exit status NAME.rc (128 + signal if killed).

NS_SHMEM=shmem=shared		# the --net shmem= options of the next ns_vm

ns_setup() {	# ns_setup NAME
	NS_TMP=$(mktemp -d "/tmp/vmm-$1.XXXXXX") || exit 1
	NS_PIDS=""
	NS_SW=""
	trap ns_cleanup EXIT
	trap 'exit 1' INT TERM HUP
}

ns_cleanup() {
	for p in $NS_PIDS; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	# NS_KEEP=1: leave the logs (guests, VMMs, switch) for a look.
	if [ -n "${NS_KEEP:-}" ]; then echo "logs kept in $NS_TMP"; else rm -rf "$NS_TMP"; fi
}

ns_fail() {
	echo "FAIL: $*"
	ns_sw_stats >/dev/null 2>&1	# the switch's per-port counters, into its log
	for f in "$NS_TMP"/*.log; do echo "--- $f"; tail -40 "$f"; done
	exit 1
}

ns_start_switch() {	# ns_start_switch "PORT..." EXTRA-ARGS...: vmm-switch --netshm, -v
	_args=""
	for _p in $1; do
		rm -f "$NS_TMP/$_p.sock"
		_args="$_args --port $_p=$NS_TMP/$_p.sock"
	done
	shift
	# shellcheck disable=SC2086 # $_args: one word per option, paths without blanks
	"$NS_SWITCH" --mrg-rxbuf --netshm -v $_args "$@" >"$NS_TMP/switch.log" 2>&1 &
	NS_SW=$!
	NS_PIDS="$NS_PIDS $NS_SW"
	for _i in $(seq 50); do grep -q ready "$NS_TMP/switch.log" && break; sleep 0.1; done
	grep -q ready "$NS_TMP/switch.log" || ns_fail "vmm-switch --netshm did not start"
}

ns_stop_switch() {	# SIGTERM; its exit status in NS_SW_RC
	kill -TERM "$NS_SW" 2>/dev/null
	wait "$NS_SW"
	# shellcheck disable=SC2034 # read by the caller
	NS_SW_RC=$?
}

# ns_vm NAME PORT MAC IMAGE CMDLINE [VMM-OPTION...]: a VM in the background on PORT's socket.
ns_vm() {
	_n=$1 _port=$2 _mac=$3 _img=$4 _cmd=$5
	shift 5
	rm -f "$NS_TMP/$_n.rc" "$NS_TMP/$_n.pid"
	( "$NS_VMM" run --kernel "$NS_GUESTS/$_img.elf" --memory size=64M,shared=on --timeout 120 \
		--net "vhost-user=$NS_TMP/$_port.sock,mode=client,$NS_SHMEM,mac=$_mac" \
		--cmdline "$_cmd" "$@" >"$NS_TMP/$_n.log" 2>&1 &
	  echo $! >"$NS_TMP/$_n.pid"
	  wait $!
	  echo $? >"$NS_TMP/$_n.rc" ) >/dev/null 2>&1 &
	NS_PIDS="$NS_PIDS $!"
	for _i in $(seq 100); do [ -s "$NS_TMP/$_n.pid" ] && break; sleep 0.01; done
	NS_PIDS="$NS_PIDS $(cat "$NS_TMP/$_n.pid")"
}

ns_wait_rc() {	# ns_wait_rc NAME SECONDS -> prints the VMM's exit status or "none"
	for _i in $(seq $(($2 * 10))); do
		[ -s "$NS_TMP/$1.rc" ] && { cat "$NS_TMP/$1.rc"; return; }
		sleep 0.1
	done
	echo none
}

ns_wait_log() {	# ns_wait_log NAME PATTERN SECONDS: until the VM's log has the pattern
	for _i in $(seq $(($3 * 10))); do
		grep -q "$2" "$NS_TMP/$1.log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# ns_counter NAME KEY: a counter from the guest's "netshm port ..." statistics line, or from
# netshm-traffic's "hellos ..., flooded N, ..." line.
ns_counter() {
	sed -n -e "s/.*netshm port .* $2 \([0-9]*\).*/\1/p" \
	       -e "s/.*netshm-traffic: hellos .* $2 \([0-9]*\),.*/\1/p" "$NS_TMP/$1.log" | tail -1
}

# ns_from NAME MAC FIELD: what netshm-traffic received from MAC: FIELD "data" or "bcast".
ns_from() {
	sed -n "s/.*netshm-traffic: from $2: .*$3 \([0-9]*\)\/.*/\1/p" "$NS_TMP/$1.log" | tail -1
}

ns_sw_stats() {	# SIGUSR1: the switch prints its counters; waits until they are in its log
	_n0=$(grep -c "^netshm:" "$NS_TMP/switch.log")
	kill -USR1 "$NS_SW" 2>/dev/null || return 1
	for _i in $(seq 50); do
		[ "$(grep -c "^netshm:" "$NS_TMP/switch.log")" -gt "$_n0" ] && return 0
		sleep 0.05
	done
	return 1
}

# ns_sw_counter KEY [PORT]: from the last counters the switch printed: the netshm line, or
# PORT's line.
ns_sw_counter() {
	if [ $# -gt 1 ]; then
		sed -n "s/^port $2:.* $1 \([0-9a-z]*\).*/\1/p" "$NS_TMP/switch.log" | tail -1
	else
		sed -n "s/^netshm:.* $1 \([0-9a-z]*\).*/\1/p" "$NS_TMP/switch.log" | tail -1
	fi
}
