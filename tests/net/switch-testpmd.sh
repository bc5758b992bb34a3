#!/bin/bash
# SPDX-License-Identifier: MIT
# vmm-switch between two DPDK virtio-user front-ends (dpdk-testpmd): txonly on port a floods
# (unknown unicast) into port b, where testpmd rxonly counts it. Port a: we listen (server);
# port b: we connect (client) to a testpmd that listens (virtio-user server=1).
# Usage: switch-testpmd.sh VMM_SWITCH [SECONDS]
SW_BIN=$1
SECS=${2:-5}
. "$(dirname "$0")/switch-lib.sh"
sw_require
sw_setup

sw_start "$SW_BIN" --port a="$SW_TMP/a.sock" --port b="$SW_TMP/b.sock,mode=client" --poll-us 50
sw_testpmd rx rxonly 0,1 "path=$SW_TMP/b.sock,server=1,queues=1"
RX=$TP_PID
sw_wait_connected b 15
sw_testpmd tx txonly 1,0 "path=$SW_TMP/a.sock,queues=1"
TX=$TP_PID
sw_wait_connected a 15
sleep "$SECS"
sw_stop "$TX"
sleep 0.5
sw_stop "$RX"
kill -TERM "$SW_PID"
wait "$SW_PID"
SW_PIDS=""

sent=$(sw_tp_total tx TX-packets)
got=$(sw_tp_total rx RX-packets)
a_rx=$(grep "^port a:" "$SW_TMP/switch.log" | tail -1 | awk '{print $4}')
b_tx=$(grep "^port b:" "$SW_TMP/switch.log" | tail -1 | awk '{print $6}')
bad=$(grep "^port " "$SW_TMP/switch.log" | tail -2 |
	awk '{ for (i = 1; i < NF; i++) if ($i == "malformed" || $i == "broken" || $i == "refused") s += $(i + 1) } END { print s + 0 }')
echo "testpmd tx sent $sent, vmm-switch took $a_rx from a and delivered $b_tx to b," \
     "testpmd rx counted $got in ${SECS}s"
[ -n "$sent" ] && [ "$sent" -gt 0 ] || sw_fail "txonly sent nothing"
[ -n "$got" ] && [ "$got" -gt 0 ] || sw_fail "no frame arrived at port b"
[ "$b_tx" = "$got" ] || sw_fail "switch delivered $b_tx, testpmd counted $got"
[ "$bad" = 0 ] || sw_fail "malformed/broken/refused counters are not zero"
grep "^port " "$SW_TMP/switch.log" | tail -2
awk -v a="$a_rx" -v b="$got" -v s="$SECS" \
	'BEGIN { printf "rate: %.2f Mpps taken from a, %.2f Mpps delivered to b (64-byte frames)\n", a / s / 1e6, b / s / 1e6 }'
echo "PASS"
