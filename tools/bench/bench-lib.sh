# SPDX-License-Identifier: MIT
# Shared by the VM-to-VM benchmark scripts (vu-bench.sh, netshm-bench.sh); sourced.
# The caller keeps its background pids in PIDS and may hold testpmd's command fifo on fd 3.

stop_all() {
	{ exec 3>&-; } 2>/dev/null	# (only this line's stderr: the script's own stays)
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	PIDS=""
}

wait_log() {	# wait_log FILE PATTERN SECONDS
	i=0
	while [ "$i" -lt $(($3 * 10)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
