#!/bin/sh
# SPDX-License-Identifier: MIT
# vhost-user-shmem doorbells (docs/vhost-user-shmem.md §8), two of our VMs on
# vmm-switch --netshm, both with --net ...,shmem=shared,doorbell=on:
#   1. B (netshm-traffic doorbell=1, then 2, then 1 in peer-memory mode) sleeps whenever a poll finds nothing: it arms its rings
#      (clears NO_INTERRUPT) and spins on its doorbell interrupt counter. A sends N unicast
#      frames at a paced rate (so that B does sleep between batches) and rings B's doorbell
#      after each batch B asked for: one MMIO write that KVM turns into an ioeventfd in A's VM
#      and an irqfd in B's, no VMM user space on the way. Asserted: every frame arrived exactly
#      once and intact; B woke by interrupt (> 0 wakes and interrupts), no fast frame ever
#      waited db_lost_ms without one; A rang (> 0) and never found B's doorbell unwired; the
#      VMMs' --stats say B has its doorbell on GSI 20, routed to the MSI B's guest enabled, and
#      A has B's doorbell wired; the switch
#      (SIGUSR1) took both doorbells and mapped them. A also writes DOORBELL(its own port),
#      never wired: its VMM must count exactly that one dropped write.
#   2. Without doorbell=on: STATUS.DOORBELL clear, DOORBELL_PEERS 0 in the guest, no --stats
#      doorbell line; a guest asking for doorbell=1 is told it has none (exit 3).
#   3. Refusals: doorbell=on without shmem= (a config error naming the reason), and against
#      a vmm-switch without --netshm (the VMM exits with an error naming the missing
#      feature before the guest runs).
#
#   netshm-doorbell.sh VMM SWITCH GUEST_DIR [N]
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 VMM SWITCH GUEST_DIR [N]" >&2
	exit 2
fi
NS_VMM=$1 NS_SWITCH=$2 NS_GUESTS=$3
n=${4:-20000}
mac_a=52:54:00:5e:00:0a
mac_b=52:54:00:5e:00:0b
. "$(dirname "$0")/netshm-lib.sh"
ns_setup netshm-doorbell

# db_field NAME KEY: a number from netshm-traffic's "doorbell: sleeps ..." line.
db_field() {
	sed -n "/netshm-traffic: doorbell: sleeps/s/.* $2 \([0-9]*\).*/\1/p" "$NS_TMP/$1.log" |
		tail -1
}
# lib_field NAME KEY: a number from lib/netshm.c's "netshm doorbell: ..." line.
lib_field() {
	sed -n "s/.*netshm doorbell: .* $2 \([0-9a-fx]*\).*/\1/p" "$NS_TMP/$1.log" | tail -1
}

# ---- 1. doorbells under traffic, B's interrupt as the device's MSI, then on its pin ----
# db_run DOORBELL VMM_ROUTE GUEST_MODE [SHMEM SWITCH_ARG]: netshm-traffic doorbell=DOORBELL
# (1 MSI, 2 pin); B's VMM must say "doorbell on GSI 20 (VMM_ROUTE)", B's guest "on irq
# 20GUEST_MODE peers". SHMEM (default shmem=shared) and SWITCH_ARG: peer-memory mode.
db_run() {
	NS_SHMEM=${4:-shmem=shared},doorbell=on
	# shellcheck disable=SC2086 # ${5:-}: no argument or one word
	ns_start_switch "a b" ${5:-}
	ns_vm b b "$mac_b" netshm-traffic \
		"senders=1 rx_frames=$n rx_bcast=0 doorbell=$1 timeout=90" --stats
	sleep 0.5
	ns_vm a a "$mac_a" netshm-traffic \
		"dst=$mac_b frames=$n bcast=0 kpps=20 doorbell=1 db_poke=1 wait_fast=20 timeout=90" \
		--stats
	rb=$(ns_wait_rc b 110)
	ra=$(ns_wait_rc a 20)
	[ "$ra" = 0 ] || ns_fail "doorbells ($2): VM A (sender) exited $ra"
	[ "$rb" = 0 ] || ns_fail "doorbells ($2): VM B (receiver) exited $rb: frames lost or" \
		"corrupt, or a lost doorbell"
	kill -0 "$NS_SW" 2>/dev/null || ns_fail "vmm-switch died"

	fast_tx=$(ns_counter a fast_tx) fast_rx=$(ns_counter b fast_rx)
	[ -n "$fast_tx" ] && [ "$fast_tx" -gt 0 ] && [ "$fast_rx" = "$fast_tx" ] ||
		ns_fail "fast path not used (A sent $fast_tx, B received $fast_rx)"
	grep -q "netshm-traffic: doorbell: status on, irq 20," "$NS_TMP/b.log" ||
		ns_fail "B's device did not say STATUS.DOORBELL with IRQ 20"
	grep -q "doorbells wired to 1 of 1 destinations" "$NS_TMP/a.log" ||
		ns_fail "A never saw B's doorbell in DOORBELL_PEERS"
	wakes=$(db_field b wakes) irqs=$(db_field b irqs) lost=$(db_field b lost)
	sleeps=$(db_field b sleeps)
	[ -n "$wakes" ] && [ "$wakes" -gt 0 ] && [ "$irqs" -gt 0 ] ||
		ns_fail "B was never woken by a doorbell (sleeps $sleeps, wakes $wakes, irqs $irqs)"
	[ "$lost" = 0 ] || ns_fail "B: $lost lost doorbells"
	rung=$(lib_field a rung) unwired=$(lib_field a unwired)
	[ -n "$rung" ] && [ "$rung" -gt 0 ] || ns_fail "A never rang B's doorbell (rung '$rung')"
	[ "$unwired" = 0 ] ||
		ns_fail "A found B's doorbell unwired $unwired times after it was wired"
	[ "$irqs" -le "$rung" ] || ns_fail "B took $irqs interrupts, A rang only $rung times"
	# The VMMs' view (--stats): B's irqfd and its route, A's ioeventfd for port 1 (b), A's
	# poke dropped. With MSI, B's VMM routes GSI 20 to the guest's message (KVM injects it
	# in the ringing vCPU's context); with the pin it stays on the IOAPIC.
	grep -q "^netshm: doorbell on GSI 20 ($2); " "$NS_TMP/b.log" ||
		ns_fail "B's VMM has no doorbell on GSI 20 routed to the $2"
	grep -q "netshm doorbell: on irq 20$3 peers" "$NS_TMP/b.log" ||
		ns_fail "B's guest did not take its doorbell through the $2"
	grep -q "^netshm: doorbell on GSI 20 (IOAPIC pin); peers' doorbells wired 0x2; .*unwired doorbell writes 1$" \
		"$NS_TMP/a.log" ||
		ns_fail "A's VMM: B's doorbell not wired, or the poke not counted once"
	grep -q "unwired doorbell writes 0$" "$NS_TMP/b.log" ||
		ns_fail "B's VMM counted doorbell writes that exited"
	ns_sw_stats || ns_fail "vmm-switch printed no counters"
	# Both VMs gone by now: the cumulative counters (doorbells is what is registered now, 0).
	sw_db=$(ns_sw_counter doorbell_regs) sw_maps=$(ns_sw_counter doorbell_maps)
	sw_nacks=$(ns_sw_counter doorbell_nacks)
	[ "$sw_db" = 2 ] && [ "$sw_maps" -ge 2 ] && [ "$sw_nacks" = 0 ] ||
		ns_fail "switch: doorbell_regs $sw_db, doorbell_maps $sw_maps, nacks $sw_nacks"
	echo "PASS: $n frames A -> B intact with doorbells (${4:-shmem=shared}, $2): B slept" \
		"$sleeps times, woken" \
		"by $wakes interrupts ($irqs in all) of $rung rings, none lost;" \
		"switch doorbell_regs $sw_db maps $sw_maps"
	grep -h "netshm-traffic: doorbell: sleeps\|netshm doorbell:" "$NS_TMP/a.log" \
		"$NS_TMP/b.log"
	ns_stop_switch
}
db_run 1 MSI " msi"
db_run 2 "IOAPIC pin" ""
# Peer-memory mode: B's ring (and its avail->flags) in B's RAM, reached through A's window.
db_run 1 MSI " msi" shmem=peer,protect=none --netshm-peer

# ---- 2. doorbell off: nothing of it in the device ----
NS_SHMEM=shmem=shared
ns_start_switch "a b"
ns_vm b b "$mac_b" netshm-traffic "senders=1 rx_frames=2000 rx_bcast=0 timeout=60" --stats
sleep 0.5
ns_vm a a "$mac_a" netshm-traffic "dst=$mac_b frames=2000 bcast=0 wait_fast=20 timeout=60" --stats
rb=$(ns_wait_rc b 80)
ra=$(ns_wait_rc a 20)
[ "$ra" = 0 ] && [ "$rb" = 0 ] || ns_fail "doorbell off: VMs exited $ra (A) and $rb (B)"
for v in a b; do
	grep -q "netshm-traffic: doorbell: status off, irq 0, peers' doorbells wired 0x0$" \
		"$NS_TMP/$v.log" || ns_fail "doorbell off: $v's device shows doorbell state"
	! grep -q "^netshm: doorbell on" "$NS_TMP/$v.log" ||
		ns_fail "doorbell off: $v's VMM has a doorbell"
	! grep -q "netshm doorbell:" "$NS_TMP/$v.log" ||
		ns_fail "doorbell off: $v's driver rang or armed"
done
ns_vm c b "$mac_b" netshm-traffic "senders=1 doorbell=1 timeout=10"
rc=$(ns_wait_rc c 20)
[ "$rc" = 3 ] && grep -q "doorbell=1 but no usable doorbell (-19)" "$NS_TMP/c.log" ||
	ns_fail "doorbell=1 without doorbell=on: exit $rc, expected 3 and a message"
echo "PASS: doorbell off: STATUS.DOORBELL clear, DOORBELL_PEERS 0, no VMM doorbell, and a" \
	"guest asking for one is told so"
ns_stop_switch

# ---- 3. refusals ----
out=$("$NS_VMM" run --kernel "$NS_GUESTS/netshm-traffic.elf" --memory size=64M,shared=on \
	--net "vhost-user=$NS_TMP/none.sock,doorbell=on" --timeout 5 2>&1)
rc=$?
[ "$rc" != 0 ] && echo "$out" | grep -q "doorbell=on needs shmem=" ||
	ns_fail "doorbell=on without shmem=: exit $rc, output: $out"
out1=$(echo "$out" | grep "doorbell=on needs shmem=" | head -1)
"$NS_SWITCH" --mrg-rxbuf -v --port a="$NS_TMP/plain.sock" >"$NS_TMP/plain-switch.log" 2>&1 &
sw=$!
NS_PIDS="$NS_PIDS $sw"
for _i in $(seq 50); do grep -q ready "$NS_TMP/plain-switch.log" && break; sleep 0.1; done
out=$("$NS_VMM" run --kernel "$NS_GUESTS/netshm-traffic.elf" --memory size=64M,shared=on \
	--net "vhost-user=$NS_TMP/plain.sock,shmem=shared,doorbell=on" --timeout 10 2>&1)
rc=$?
kill "$sw" 2>/dev/null
out2=$(echo "$out" | grep "^vmm: NIC 0: .*needs the back-end's NETSHM protocol feature" | head -1)
[ "$rc" != 0 ] && [ -n "$out2" ] && ! echo "$out" | grep -q "netshm-traffic:" ||
	ns_fail "doorbell=on against a switch without --netshm: exit $rc, output: $out"
echo "PASS: refused: doorbell=on without shmem= ($out1), and against a switch without" \
	"--netshm (exit $rc: $out2)"
exit 0
