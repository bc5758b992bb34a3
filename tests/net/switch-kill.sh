#!/bin/bash
# SPDX-License-Identifier: MIT
# A front-end killed mid-stream (SIGKILL: no goodbye, its memory and rings vanish) must not
# disturb vmm-switch or its other ports, and its port must work again after a reconnect:
#   1. testpmd txonly on a -> rxonly on b, frames arrive;
#   2. kill -9 the receiver: the switch keeps taking frames from a (counters grow);
#   3. a new receiver on b gets frames again;
#   4. kill -9 the sender, start a new one: b receives from it.
# Usage: switch-kill.sh VMM_SWITCH
SW_BIN=$1
. "$(dirname "$0")/switch-lib.sh"
sw_require
sw_setup

sw_start "$SW_BIN" --port a="$SW_TMP/a.sock" --port b="$SW_TMP/b.sock" --poll-us 50
sw_testpmd rx1 rxonly 0,1 "path=$SW_TMP/b.sock,queues=1"
RX=$TP_PID
sw_wait_connected b 15
sw_testpmd tx1 txonly 1,0 "path=$SW_TMP/a.sock,queues=1"
TX=$TP_PID
sw_wait_connected a 15
sleep 3
b1=$(sw_counter b tx)
[ "${b1:-0}" -gt 0 ] || sw_fail "step 1: nothing reached b"

kill -KILL "$RX"
wait "$RX" 2>/dev/null
sleep 1
[ "$(sw_counter b connected)" = no ] || sw_fail "step 2: port b still connected after its front-end died"
a1=$(sw_counter a rx)
sleep 1
a2=$(sw_counter a rx)
[ "$a2" -gt "$a1" ] || sw_fail "step 2: port a stopped forwarding when b died ($a1 -> $a2)"
kill -0 "$SW_PID" || sw_fail "step 2: vmm-switch died"

sw_testpmd rx2 rxonly 0,1 "path=$SW_TMP/b.sock,queues=1"
RX=$TP_PID
sw_wait_connected b 15
sleep 3
b2=$(sw_counter b tx)
[ "$b2" -gt "$b1" ] || sw_fail "step 3: the reconnected port b receives nothing ($b1 -> $b2)"

kill -KILL "$TX"
wait "$TX" 2>/dev/null
sleep 1
[ "$(sw_counter a connected)" = no ] || sw_fail "step 4: port a still connected after its front-end died"
b3=$(sw_counter b tx)
sw_testpmd tx2 txonly 1,0 "path=$SW_TMP/a.sock,queues=1"
TX=$TP_PID
sw_wait_connected a 15
sleep 3
b4=$(sw_counter b tx)
[ "$b4" -gt "$b3" ] || sw_fail "step 4: nothing from the restarted sender ($b3 -> $b4)"
sw_stop "$TX"
sw_stop "$RX"
got=$(sw_tp_total rx2 RX-packets)
[ "${got:-0}" -gt 0 ] || sw_fail "the second receiver counted nothing"
kill -TERM "$SW_PID"
wait "$SW_PID"
SW_PIDS=""
grep "^port " "$SW_TMP/switch.log" | tail -2
sessions=$(grep "^port a:" "$SW_TMP/switch.log" | tail -1 | awk '{ for (i = 1; i < NF; i++) if ($i == "sessions") print $(i + 1) }')
[ "$sessions" = 2 ] || sw_fail "port a: $sessions sessions, want 2"
bad=$(grep "^port " "$SW_TMP/switch.log" | tail -2 |
	awk '{ for (i = 1; i < NF; i++) if ($i == "malformed" || $i == "broken") s += $(i + 1) } END { print s + 0 }')
[ "$bad" = 0 ] || sw_fail "malformed/broken counters are not zero"
echo "b received $b1 before the receiver was killed, $b2 after it came back, $b4 after the sender was replaced"
echo "PASS"
