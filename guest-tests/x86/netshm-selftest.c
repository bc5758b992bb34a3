// SPDX-License-Identifier: MIT
/*
 * lib/netshm.c without a device or a switch: one guest plays the switch (it writes the region
 * header and the flow tables into a region in its own RAM) and two ports (struct nshm a =
 * port 0, b = port 1, attached with nshm_attach_mem()). No NIC: a frame that would take the
 * switch path is not consumed, so nshm_tx_burst()'s return value tells which path it got.
 * Checks the fast path itself (frames intact and in order, ring full, buffers recycled) and
 * every hostile input of docs/vhost-user-shmem.md §3 we can write: torn, invalid and
 * misdirected flow entries, a scribbled descriptor, header, avail index, used index and used
 * id, a ring being re-initialised. Runs under our vmm and under QEMU (tests.cfg).
 *
 * Doorbells (§8): the sender's DOORBELL(q) writes go to a page of our RAM standing in for
 * BAR0, so that which port was rung, and how often, can be read back: one ring per batch
 * only while the receiver is armed and the doorbell is wired; arm/disarm flip NO_INTERRUPT
 * and the receiver undoes a scribbled flag. The IOAPIC routing the receiver's interrupt
 * needs is checked by reading back a redirection entry.
 *
 * EPT views (protect=vmfunc) cannot exist here: what is checked is that without them the
 * view trampolines are never entered (peer mode included), how a device STATUS picks the
 * switch method, that the trampolines hold the VMFUNC / VMCALL / VMMCALL encodings, and that
 * executing them in a VM without views does not pass for a successful switch.
 */
#include "libguest.h"
#include "netshm.h"
#include "report.h"
#include "virtio-net.h"

static uint8_t region[NETSHM_REGION_SIZE(2)] __attribute__((aligned(4096)));
static struct nshm a, b;
static uint8_t frames[NSHM_BURST][128];
static const uint8_t mac_a[6] = { 0x52, 0x54, 0, 0x5e, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x52, 0x54, 0, 0x5e, 0, 0x0b };
static const uint8_t mac_x[6] = { 0x52, 0x54, 0, 0x5e, 0, 0x0c };
static uint32_t seq_tx, seq_rx;
static struct nshm_rx_mem peer_mem[NSHM_MAX_INBOUND];
static uint64_t alias_pd[512] __attribute__((aligned(4096)));
extern uint64_t pdpt[512];

/*
 * Peer-memory mode in one guest: port 1's "window" in port 0's view must show port 1's RAM,
 * which is our own RAM. With peer = 32 GiB and stride = 32 GiB, window 1 is at 64 GiB: we map
 * [64 GiB, 65 GiB) to physical [0, 1 GiB) (2 MiB pages), an alias of our RAM.
 */
static bool peer_setup(void)
{
	if (pdpt[64])
		return false;
	for (unsigned int i = 0; i < 512; i++)
		alias_pd[i] = MiB(2) * i + 0x87;
	pdpt[64] = (uint64_t)alias_pd | 0x7;
	if (nshm_attach_mem(&a, region, 0, 2) || nshm_attach_mem(&b, region, 1, 2))
		return false;
	for (struct nshm *n = &a; n; n = n == &a ? &b : NULL) {
		n->peer_mode = true;
		n->regs.status |= NETSHM_STS_PEER;
		n->regs.peer = GiB(32);
		n->regs.peer_stride = GiB(32);
		n->regs.peer_mapped = 0x3;
	}
	return nshm_init(&a, peer_mem) == 0 && nshm_init(&b, peer_mem + 1) == 0;
}

static volatile struct netshm_table *table(uint32_t sender)
{
	return (volatile struct netshm_table *)(region + NETSHM_TABLE_OFF +
						 sender * NETSHM_TABLE_STRIDE);
}

/* The switch's writer side of §3: seq odd, fields, seq even, then gen. */
static void sw_entry(uint32_t sender, unsigned int i, const uint8_t *mac, uint8_t peer,
		     uint8_t flags)
{
	volatile struct netshm_table *t = table(sender);
	volatile struct netshm_entry *e = &t->e[i];

	e->seq++;
	barrier();
	for (int k = 0; k < 6; k++)
		e->mac[k] = mac[k];
	e->peer = peer;
	e->flags = flags;
	barrier();
	e->seq++;
	if (t->count < i + 1)
		t->count = i + 1;
	t->gen++;
}

static void sw_init(void)
{
	volatile struct netshm_hdr *h = (volatile struct netshm_hdr *)region;

	h->version = NETSHM_VERSION;
	h->nports = 2;
	h->region_size = NETSHM_REGION_SIZE(2);
	h->table_off = NETSHM_TABLE_OFF;
	h->table_stride = NETSHM_TABLE_STRIDE;
	h->pair_off = NETSHM_PAIR_OFF;
	h->pair_stride = NETSHM_PAIR_STRIDE;
	h->qsize = NETSHM_QSIZE;
	h->buf_size = NETSHM_BUF_SIZE;
	h->port_state[0] = h->port_state[1] = NETSHM_PORT_ATTACHED | 1u << NETSHM_PORT_EPOCH_SHIFT;
	barrier();
	h->magic = NETSHM_HDR_MAGIC;
}

/* Up to n frames a -> dst, each with the next sequence number; returns how many a took. */
static unsigned int send(const uint8_t *dst, unsigned int n)
{
	struct vnet_pkt p[NSHM_BURST];
	unsigned int k;

	for (unsigned int i = 0; i < n; i++) {
		memcpy(frames[i], dst, 6);
		memcpy(frames[i] + 6, mac_a, 6);
		put_be16(frames[i] + 12, 0x88b6);
		put_be32(frames[i] + 14, seq_tx + i);
		memset(frames[i] + 18, (uint8_t)(seq_tx + i), 60 - 18);
		p[i] = (struct vnet_pkt){ frames[i], (uint16_t)(60 + (seq_tx + i) % 64) };
	}
	k = nshm_tx_burst(&a, NULL, p, n);
	seq_tx += k;
	return k;
}

/* Drains b; counts frames that are not the next expected one intact. */
static unsigned int recv(unsigned int *bad)
{
	struct vnet_pkt p[NSHM_BURST];
	unsigned int n, total = 0;

	do {
		n = nshm_rx_burst(&b, NULL, p, NSHM_BURST);
		for (unsigned int i = 0; i < n; i++, seq_rx++) {
			const uint8_t *f = p[i].data;

			if (p[i].len != 60 + seq_rx % 64 || memcmp(f, mac_b, 6) ||
			    get_be32(f + 14) != seq_rx || f[59] != (uint8_t)seq_rx)
				(*bad)++;
		}
		total += n;
	} while (n);
	return total;
}

static volatile unsigned int ud_vmfunc, ud_hcall;
static volatile uint64_t ud_view[8];		/* ECX of each faulting VMFUNC */

/* #UD, ring 0: only from a trampoline's instruction, which is then skipped. */
static void ud_handler(struct irq_frame *f)
{
	if (f->rip == (uint64_t)nshm_vmfunc_insn)
		ud_view[ud_vmfunc++ & 7] = f->rcx;
	else if (f->rip == (uint64_t)nshm_vmcall_insn || f->rip == (uint64_t)nshm_vmmcall_insn)
		ud_hcall++;
	else
		exit(EXIT_UNHANDLED_EXCEPTION);
	f->rip += 3;
}

static bool amd(void)
{
	uint32_t r[4];

	cpuid(0, 0, r);
	return r[1] == 0x68747541 || r[1] == 0x6f677948;	/* "Auth"enticAMD, "Hygo"nGenuine */
}

static void views_checks(void)
{
	static const uint8_t vmfunc[3] = { 0x0f, 0x01, 0xd4 }, vmcall[3] = { 0x0f, 0x01, 0xc1 },
			     vmmcall[3] = { 0x0f, 0x01, 0xd9 };
	const uint32_t V = NETSHM_STS_VIEWS, F = NETSHM_STS_VMFUNC, H = NETSHM_STS_HCALL;
	long r;

	report_prefix_push("views");
	report(nshm_view_entries == 0 && !a.st.view_switches && !b.st.view_switches &&
	       a.view == NSHM_VIEW_NONE, "no views: every batch above ran without a view switch");
	report(nshm_view_pick(NETSHM_STS_PEER | NETSHM_STS_REGION, 0, false) == NSHM_VIEW_NONE &&
	       nshm_view_pick(V | F, 1, false) == NSHM_VIEW_VMFUNC &&
	       nshm_view_pick(V | F, 1, true) == NSHM_VIEW_VMFUNC &&
	       nshm_view_pick(V | H, 1, false) == NSHM_VIEW_VMCALL &&
	       nshm_view_pick(V | H, 3, true) == NSHM_VIEW_VMMCALL,
	       "STATUS.VMFUNC -> VMFUNC; STATUS.HCALL -> VMCALL (Intel) / VMMCALL (AMD)");
	report(nshm_view_pick(V, 1, false) == -95 && nshm_view_pick(V | F | H, 1, false) == -95 &&
	       nshm_view_pick(V | F, 0, false) == -95 && nshm_view_pick(V | H, 512, false) == -95,
	       "VIEWS without exactly one method, or view 0 / >= 512: refused (-ENOTSUP)");
	report(!memcmp(nshm_vmfunc_insn, vmfunc, 3) && !memcmp(nshm_vmcall_insn, vmcall, 3) &&
	       !memcmp(nshm_vmmcall_insn, vmmcall, 3),
	       "trampolines: VMFUNC 0f 01 d4, VMCALL 0f 01 c1, VMMCALL 0f 01 d9");

	/* No views in this VM: VMFUNC must fault, the hypercall must fault or be refused. */
	handle_irq(6, ud_handler);
	r = nshm_view_vmfunc(1);
	report(ud_vmfunc == 1, "VMFUNC(0, 1) without views: #UD, not a switch (returned %ld)", r);
	r = amd() ? nshm_view_vmmcall(1) : nshm_view_vmcall(1);
	report(ud_hcall == 1 || r != 0, "view-switch hypercall without views: %s (%ld)",
	       ud_hcall ? "#UD" : "refused", r);
	report(nshm_view_entries == 2, "each trampoline entry counted (%lu)", nshm_view_entries);

	/*
	 * Where tx_burst switches, with a's method forced to VMFUNC: each VMFUNC faults here and
	 * is skipped, so this shows when and with which view the trampoline is entered, not
	 * that a view changed (that needs the patched KVM: docs/kvm-views.md §9).
	 */
	{
		unsigned int bad = 0, k;

		/* Fresh shared-mode ports: the peer-mode alias window above is gone. */
		bool ok = !nshm_attach_mem(&a, region, 0, 2) && !nshm_attach_mem(&b, region, 1, 2) &&
			  !nshm_init(&a, NULL) && !nshm_init(&b, NULL);

		report(ok, "shared-mode ports attached again");
		a.view = NSHM_VIEW_VMFUNC;
		a.regs.peer_view = 1;
		ud_vmfunc = 0;
		sw_entry(0, 0, mac_b, 1, NETSHM_ENTRY_VALID);
		seq_tx = seq_rx = 0;
		k = send(mac_b, 4);
		report(k == 4 && recv(&bad) == 4 && !bad && ud_vmfunc == 2 && ud_view[0] == 1 &&
		       ud_view[1] == 0 && a.st.view_switches == 2,
		       "a fast batch: VMFUNC to view 1 before it, to view 0 after it (%u: %lu, %lu)",
		       ud_vmfunc, ud_view[0], ud_view[1]);
		report(send(mac_x, 1) == 0 && ud_vmfunc == 2,
		       "a batch with nothing for a peer: no switch");
		a.view = NSHM_VIEW_NONE;
	}
	handle_irq(6, NULL);
	report_prefix_pop();
}

static struct nshm_in *b_in(void)
{
	return &b.in[0];		/* b's ring for frames from port 0 */
}

static void b_verify(void)
{
	struct vnet_pkt p[NSHM_BURST];

	/* nshm_rx_burst looks at its own rings every 64th poll. */
	for (int i = 0; i < 64; i++)
		(void)nshm_rx_burst(&b, NULL, p, NSHM_BURST);
}

/* A stand-in for BAR0: DOORBELL(q) writes land here. */
static volatile uint32_t fake_bar[NETSHM_BAR0_SIZE / 4] __attribute__((aligned(4096)));

static uint32_t rung(uint32_t q)
{
	return fake_bar[NETSHM_REG_DOORBELL(q) / 4];
}

static uint16_t b_flags(void)
{
	return b_in()->avail_idx[-1];
}

static void doorbell_checks(void)
{
	unsigned int bad = 0;
	uint64_t e0;

	report_prefix_push("doorbell");
	a.doorbell = &fake_bar[NETSHM_REG_DOORBELL(0) / 4];
	a.regs.doorbell_peers = 0x2;		/* port 1's doorbell wired in a's VM */
	recv(&bad);
	report(b_flags() == VRING_AVAIL_F_NO_INTERRUPT && !b.rx_armed,
	       "inbound ring initialised with NO_INTERRUPT: no doorbells by default");
	report(send(mac_b, 4) == 4 && !rung(1) && !a.st.doorbells && !a.st.doorbell_unwired,
	       "receiver not armed: not rung");
	report(!nshm_rx_arm(&b) && b_flags() == VRING_AVAIL_F_NO_INTERRUPT && !b.st.rx_arms,
	       "arm with frames pending: refused, NO_INTERRUPT set again");
	report(recv(&bad) == 4 && !bad && !nshm_rx_pending(&b), "drained");
	report(nshm_rx_arm(&b) && b_flags() == 0 && b.st.rx_arms == 1, "armed: NO_INTERRUPT clear");
	e0 = b.st.rx_reinits;
	b_verify();
	report(b.st.rx_reinits == e0 && b_flags() == 0 && b.rx_armed,
	       "the verify pass accepts an armed ring (not taken for a scribbled one)");
	report(send(mac_b, NSHM_BURST) == NSHM_BURST && rung(1) == 1 && a.st.doorbells == 1 &&
	       !rung(0), "a batch of 32 into an armed ring: port 1 rung once");
	report(nshm_rx_pending(&b), "receiver sees frames pending");
	fake_bar[NETSHM_REG_DOORBELL(1) / 4] = 0;
	report(send(mac_b, 1) == 1 && rung(1) == 1 && a.st.doorbells == 2,
	       "still armed: the next batch rings again");
	a.regs.doorbell_peers = 0;
	fake_bar[NETSHM_REG_DOORBELL(1) / 4] = 0;
	report(send(mac_b, 1) == 1 && !rung(1) && a.st.doorbell_unwired == 1 && a.st.doorbells == 2,
	       "doorbell not wired: not written (it would exit to the VMM), counted");
	a.regs.doorbell_peers = 0x2;
	nshm_rx_disarm(&b);
	report(b_flags() == VRING_AVAIL_F_NO_INTERRUPT && !b.rx_armed, "disarmed: NO_INTERRUPT set");
	report(send(mac_b, 2) == 2 && !rung(1) && a.st.doorbells == 2 && a.st.doorbell_unwired == 1,
	       "disarmed: not rung");
	report(recv(&bad) == NSHM_BURST + 4 && !bad, "every frame arrived intact");
	b_in()->avail_idx[-1] = 0;		/* a hostile peer asks for doorbells in our name */
	b_verify();
	report(b_flags() == VRING_AVAIL_F_NO_INTERRUPT && b.st.rx_reinits == e0 + 1,
	       "scribbled NO_INTERRUPT: ring re-initialised, flag restored");
	report(send(mac_b, 2) == 2 && recv(&bad) == 2 && !bad && !rung(1), "fast again, not rung");
	report(nshm_doorbell_setup(&b, 0x50, false) == -19, "nshm_doorbell_setup without a device: -ENODEV");
	a.doorbell = NULL;
	a.regs.doorbell_peers = 0;
	report_prefix_pop();

	/* The IOAPIC routing the receiver does (pin 23: nothing else here uses it). */
	report(ioapic_pins() >= 24, "IOAPIC with %u pins", ioapic_pins());
	report(ioapic_route(23, 0x50, lapic_id()) && ioapic_read(0x10 + 2 * 23 + 1) >> 24 == lapic_id(),
	       "IOAPIC pin 23 -> vector 0x50, edge, to our APIC: read back");
	ioapic_mask(23);
	report(ioapic_read(0x10 + 2 * 23) & (1u << 16), "and masked again");
	report(!ioapic_route(24, 0x50, 0) && !ioapic_route(23, 0x10, 0) && !ioapic_route(23, 0x50, 256),
	       "pin, vector or APIC id out of range: refused");
}

int main(void)
{
	unsigned int bad = 0, n, k;
	uint64_t e0;

	sw_init();
	report(!nshm_attach_mem(&a, region, 0, 2) && !nshm_attach_mem(&b, region, 1, 2),
	       "attach ports 0 and 1");
	report(nshm_init(&a, NULL) == 0 && nshm_init(&b, NULL) == 0, "inbound rings set up");
	report(b_in()->hdr->magic == NETSHM_PAIR_MAGIC && b_in()->hdr->space == NETSHM_SPACE_REGION &&
	       b_in()->hdr->qsize == NETSHM_QSIZE && b_in()->hdr->epoch == 1,
	       "pair (0 -> 1) header ready, region space, epoch 1");
	{
		/* Static: struct nshm holds its page directories (120 KiB), more than our stack. */
		static struct nshm tmp;

		((volatile struct netshm_hdr *)region)->qsize = 128;
		report(nshm_attach_mem(&tmp, region, 0, 2) == -22, "region header with another qsize refused");
		((volatile struct netshm_hdr *)region)->qsize = NETSHM_QSIZE;
		report(nshm_attach_mem(&tmp, region, 2, 2) == -22, "port >= nports refused");
	}

	report_prefix_push("table");
	report(send(mac_b, 1) == 0 && a.st.fast_tx == 0, "no entry: not fast");
	sw_entry(0, 0, mac_b, 1, NETSHM_ENTRY_VALID);
	report(nshm_fast_ready(&a, mac_b) && !nshm_fast_ready(&a, mac_x), "entry for b: fast");
	table(0)->e[0].seq++;			/* a writer in the middle of an update */
	table(0)->gen++;
	e0 = a.st.table_bad;
	report(!nshm_fast_ready(&a, mac_b) && a.st.table_bad > e0, "torn entry (odd seq) is absent");
	table(0)->e[0].seq++;
	table(0)->gen++;
	report(nshm_fast_ready(&a, mac_b), "entry readable again");
	sw_entry(0, 1, mac_x, 0, NETSHM_ENTRY_VALID);	/* names the table's own port */
	sw_entry(0, 2, mac_a, 7, NETSHM_ENTRY_VALID);	/* peer >= nports */
	e0 = a.st.table_bad;
	report(!nshm_fast_ready(&a, mac_x) && !nshm_fast_ready(&a, mac_a) && a.st.table_bad >= e0 + 2,
	       "entries naming our own port or a port >= nports are refused");
	table(0)->count = 1000;
	table(0)->gen++;
	report(nshm_fast_ready(&a, mac_b), "count > 32 is capped");
	table(0)->count = 3;
	table(0)->gen++;
	{
		uint8_t mc[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };

		sw_entry(0, 3, mc, 1, NETSHM_ENTRY_VALID);
		report(!nshm_fast_ready(&a, mc), "a multicast destination is never fast");
	}
	report_prefix_pop();

	report_prefix_push("fast path");
	k = send(mac_b, NSHM_BURST);
	n = recv(&bad);
	report(k == NSHM_BURST && n == NSHM_BURST && !bad && a.st.fast_tx == NSHM_BURST &&
	       b.st.fast_rx == NSHM_BURST, "32 frames a -> b intact, in order (%u, %u, bad %u)", k,
	       n, bad);
	k = 0;
	while (send(mac_b, NSHM_BURST) == NSHM_BURST)
		k += NSHM_BURST;
	k += a.out[1].last_avail - (uint16_t)(NSHM_BURST + k);
	report(a.st.ring_full > 0 && seq_tx - NSHM_BURST == NETSHM_QSIZE,
	       "ring full after exactly %u frames (%u)", NETSHM_QSIZE, seq_tx - NSHM_BURST);
	n = recv(&bad);
	report(n == NETSHM_QSIZE && !bad, "receiver drains all %u, intact and in order", n);
	for (unsigned int round = 0; round < 100; round++) {
		send(mac_b, NSHM_BURST);
		recv(&bad);
	}
	report(seq_rx == seq_tx && !bad && !b.st.rx_ring_errors && !a.st.tx_ring_errors,
	       "100 more bursts: buffers recycled, %u frames, no errors", seq_rx);
	a.force_slow = true;
	report(send(mac_b, 1) == 0, "force_slow: not fast");
	a.force_slow = false;
	report_prefix_pop();

	report_prefix_push("hostile");
	/* A scribbled descriptor: the sender stops using the ring; the receiver notices it. */
	{
		uint16_t head = b_in()->avail_ring[a.out[1].last_avail & (NETSHM_QSIZE - 1)];
		uint32_t ep = b_in()->epoch;

		b_in()->desc[head].len = 8;
		e0 = a.st.tx_ring_errors;
		report(send(mac_b, 1) == 0 && a.st.tx_ring_errors == e0 + 1,
		       "descriptor shorter than the frame: ring refused");
		report(send(mac_b, 1) == 0, "and stays refused in the same epoch");
		b_verify();
		report(b_in()->epoch == ep + 1 && b.st.rx_reinits == 1,
		       "receiver found its descriptor scribbled and re-initialised");
		report(send(mac_b, 4) == 4 && recv(&bad) == 4 && !bad, "new epoch: fast again");
	}
	{
		uint16_t head = b_in()->avail_ring[a.out[1].last_avail & (NETSHM_QSIZE - 1)];

		b_in()->desc[head].addr = NETSHM_REGION_SIZE(2) - 30;	/* frame would cross the end */
		report(send(mac_b, 1) == 0, "descriptor at the end of the region: refused");
		b_verify();
		b_in()->desc[b_in()->avail_ring[a.out[1].last_avail & 255]].addr = 0x100;
		report(send(mac_b, 1) == 0, "descriptor into the control part: refused");
		b_verify();
		b_in()->desc[b_in()->avail_ring[a.out[1].last_avail & 255]].flags = 3;
		report(send(mac_b, 1) == 0, "descriptor with NEXT: refused");
		b_verify();
		b_in()->avail_ring[a.out[1].last_avail & 255] = 300;
		report(send(mac_b, 1) == 0, "avail entry >= qsize: refused");
		b_verify();
		report(send(mac_b, 1) == 1 && recv(&bad) == 1 && !bad, "fast again after each");
	}
	*b_in()->avail_idx += 1000;
	report(send(mac_b, 1) == 0, "avail->idx jumped by 1000: refused");
	b_verify();
	report(send(mac_b, 1) == 1 && recv(&bad) == 1 && !bad, "receiver re-initialised: fast again");
	{
		volatile struct netshm_pair *h = b_in()->hdr;
		uint64_t d = h->desc;

		h->desc = NETSHM_REGION_SIZE(2) - 64;	/* desc table would leave the region */
		h->epoch++;
		report(send(mac_b, 1) == 0, "header with a desc table outside the region: refused");
		h->desc = d;
		h->epoch++;
		h->qsize = 100;
		report(send(mac_b, 1) == 0, "header with qsize 100: refused");
		h->qsize = NETSHM_QSIZE;
		h->magic = 0;
		report(send(mac_b, 1) == 0, "magic 0 (re-initialising): not used");
		b_verify();
		report(send(mac_b, 1) == 1 && recv(&bad) == 1 && !bad, "fast again");
	}
	e0 = b.st.rx_reinits;
	*b_in()->used_idx += 1000;
	report(recv(&bad) == 0 && b.st.rx_reinits == e0 + 1,
	       "used->idx jumped by 1000: ring re-initialised");
	report(send(mac_b, 2) == 2 && recv(&bad) == 2 && !bad, "sender resynchronised: fast again");
	{
		struct vnet_pkt p[NSHM_BURST];

		send(mac_b, 2);
		b_in()->used_ring[(*b_in()->used_idx - 2) & 255].id = 300;
		b_in()->used_ring[(*b_in()->used_idx - 1) & 255].len = 5000;
		e0 = b.st.rx_ring_errors;
		report(nshm_rx_burst(&b, NULL, p, NSHM_BURST) == 0 && b.st.rx_ring_errors == e0 + 2,
		       "used id >= qsize and used len > 2048: skipped and counted");
		seq_rx += 2;
		nshm_init(&b, NULL);
		report(send(mac_b, 3) == 3 && recv(&bad) == 3 && !bad, "after re-init: fast again");
	}
	/* What a removed region looks like (reads all ones): b stops polling, a stops sending. */
	b_in()->hdr->magic = 0xffffffffu;
	*b_in()->used_idx = 0xffff;
	report(recv(&bad) == 0 && b.st.region_lost == 1 && !b_in()->active,
	       "region gone (all ones): ring dropped, not re-initialised in a loop");
	report(send(mac_b, 1) == 0, "and nobody sends into it");
	nshm_init(&b, NULL);
	report(send(mac_b, 2) == 2 && recv(&bad) == 2 && !bad, "nshm_init again: fast again");
	report_prefix_pop();
	doorbell_checks();

	{
		/* Both sides on one vCPU, 64-byte frames: the cost of the ring code itself. */
		uint64_t khz = tsc_khz() ? tsc_khz() : 1, t0 = rdtsc(), cyc, nf = 0;
		struct vnet_pkt p[NSHM_BURST], in[NSHM_BURST];

		for (unsigned int i = 0; i < NSHM_BURST; i++)
			p[i] = (struct vnet_pkt){ frames[i], 64 };
		for (unsigned int i = 0; i < NSHM_BURST; i++)
			memcpy(frames[i], mac_b, 6);
		while (rdtsc() - t0 < 200 * khz) {
			unsigned int k = nshm_tx_burst(&a, NULL, p, NSHM_BURST);

			nf += nshm_rx_burst(&b, NULL, in, NSHM_BURST);
			(void)k;
		}
		nf += nshm_rx_burst(&b, NULL, in, NSHM_BURST);
		cyc = rdtsc() - t0;
		report_info("one vCPU sending and receiving 64-byte frames: %lu frames, %lu kpps, "
			    "%lu cycles per frame (tx + rx)", nf, nf * khz / cyc,
			    nf ? cyc / nf : 0);
		seq_tx = seq_rx = 0;
	}
	report_prefix_push("peer mode");
	if (peer_setup()) {
		unsigned int k2, n2;
		uint64_t e1;

		seq_tx = seq_rx = 0;
		bad = 0;
		report(b_in()->hdr->space == NETSHM_SPACE_PEER &&
		       b_in()->hdr->desc == (uint64_t)peer_mem[1].desc && b_in()->hdr->epoch >= 2,
		       "pair header: peer space, the ring at its guest-physical address");
		a.regs.peer_mapped = 0x1;		/* port 1's memory not mapped (yet) */
		report(send(mac_b, 1) == 0, "window of the receiver not mapped: not fast");
		a.regs.peer_mapped = 0x3;
		k2 = send(mac_b, NSHM_BURST);
		n2 = recv(&bad);
		report(k2 == NSHM_BURST && n2 == NSHM_BURST && !bad,
		       "32 frames through the receiver's own RAM, intact and in order");
		for (unsigned int round = 0; round < 50; round++) {
			send(mac_b, NSHM_BURST);
			recv(&bad);
		}
		report(seq_rx == seq_tx && !bad, "50 more bursts: %u frames", seq_rx);
		e1 = a.st.tx_ring_errors;
		b_in()->desc[b_in()->avail_ring[a.out[1].last_avail & 255]].addr = GiB(NSHM_PEER_GIB);
		report(send(mac_b, 1) == 0 && a.st.tx_ring_errors == e1 + 1,
		       "descriptor beyond the mapped part of the window: refused");
		b_verify();
		report(send(mac_b, 1) == 1 && recv(&bad) == 1 && !bad, "re-initialised: fast again");
	} else {
		report(false, "could not set up the alias window");
	}
	pdpt[64] = 0;		/* not present again: nothing uses the alias any more */
	report_prefix_pop();

	sw_entry(0, 0, mac_b, 1, 0);			/* withdrawn (peer gone) */
	report(send(mac_b, 1) == 0, "withdrawn entry: not fast");
	report(b.st.fast_rx == a.st.fast_tx && !bad, "every frame sent fast arrived exactly once (%lu)",
	       b.st.fast_rx);
	views_checks();
	nshm_print_stats("a", &a);
	nshm_print_stats("b", &b);
	return report_summary();
}
