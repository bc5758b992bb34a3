// SPDX-License-Identifier: MIT
/*
 * A hostile virtio-net driver. On NIC 0 it brings the device up, then posts one broken
 * transmit ring at a time (STYLE.md item 3, virtio/virtq.h) and kicks:
 * - a broken ring (descriptor loop, next out of range, buffer outside RAM or across its end,
 *   indirect table with a bad length, avail.idx jump, head out of range) must make the device
 *   report DEVICE_NEEDS_RESET (VIRTIO 1.2 §2.1.2);
 * - a bad frame in a well-formed chain (device-writable TX buffer, shorter than the vnet
 *   header) must be dropped and its chain returned, the device still running;
 * - queue registers rewritten after DRIVER_OK must be ignored (the geometry is frozen), and a
 *   good frame on the original ring must still go out.
 * After each attack it resets NIC 0 and checks that NIC 1 still works: an ARP request to the
 * host side (peer=A.B.C.D, from me=A.B.C.D, default 10.0.1.2) must be answered; without
 * peer= a frame sent on NIC 1 must complete. Last, NIC 0 must work again after a reset.
 * Exit 0 if every expectation held (report_summary()).
 */
#include "libguest.h"
#include "report.h"
#include "virtio-net.h"

#define WAIT_US		1000000		/* how long the device gets to react */
#define FRAME_LEN	60
#define OUTSIDE_RAM	0xcf000000ull	/* in the 3..4 GiB MMIO hole: never RAM (layout.h) */

static struct vnet nic[2];
static uint32_t my_ip = 10u << 24 | 1u << 8 | 2;	/* 10.0.1.2 */
static uint32_t peer_ip;
static bool have_peer;
/* A harmless frame (header + broadcast, local experimental ethertype) and scratch space. */
static uint8_t good[VNET_HDR_LEN + FRAME_LEN] __attribute__((aligned(64)));
static struct vring_desc indirect[4] __attribute__((aligned(16)));

static void build_good_frame(void)
{
	uint8_t *f = good + VNET_HDR_LEN;

	memset(good, 0, sizeof(good));
	memset(f, 0xff, 6);
	memcpy(f + 6, vnet_mac(&nic[0]), 6);
	put_be16(f + 12, 0x88b5);			/* IEEE 802 local experimental */
	memcpy(f + 14, "vmm net-malicious", 17);
}

/* ---- raw ring access on NIC 0's transmit queue ---- */

static struct vring_desc *txd(uint16_t i)
{
	return &nic[0].tx_mem.desc[i];
}

/* Publishes what was added and kicks, whatever the device asked for. */
static void post_and_kick(uint16_t head)
{
	struct vq *q = &nic[0].txq;

	vq_add(q, head);
	vq_publish_quiet(q);
	virtio_mb();
	q->tp->ops->notify(q->tp, q->index);
}

static void attack_loop(void)
{
	*txd(0) = (struct vring_desc){ (uint64_t)good, 16, VRING_DESC_F_NEXT, 1 };
	*txd(1) = (struct vring_desc){ (uint64_t)good + 16, 16, VRING_DESC_F_NEXT, 0 };
	post_and_kick(0);
}

static void attack_next_out_of_range(void)
{
	*txd(0) = (struct vring_desc){ (uint64_t)good, 16, VRING_DESC_F_NEXT,
				       (uint16_t)(nic[0].txq.size + 7) };
	post_and_kick(0);
}

static void attack_outside_ram(void)
{
	*txd(0) = (struct vring_desc){ OUTSIDE_RAM, sizeof(good), 0, 0 };
	post_and_kick(0);
}

static void attack_above_ram(void)
{
	*txd(0) = (struct vring_desc){ boot_info()->ram_top + MiB(1), sizeof(good), 0, 0 };
	post_and_kick(0);
}

static void attack_across_end_of_ram(void)
{
	/* Starts in the last RAM page and runs 64 bytes past the end. */
	*txd(0) = (struct vring_desc){ boot_info()->ram_top - 64, 128, 0, 0 };
	post_and_kick(0);
}

static void attack_indirect_bad_len(void)
{
	indirect[0] = (struct vring_desc){ (uint64_t)good, sizeof(good), 0, 0 };
	/* §2.7.5.3.1: the table length is a multiple of 16. */
	*txd(0) = (struct vring_desc){ (uint64_t)indirect, 17, VRING_DESC_F_INDIRECT, 0 };
	post_and_kick(0);
}

static void attack_indirect_outside_ram(void)
{
	*txd(0) = (struct vring_desc){ OUTSIDE_RAM, 64, VRING_DESC_F_INDIRECT, 0 };
	post_and_kick(0);
}

static void attack_avail_jump(void)
{
	struct vq *q = &nic[0].txq;

	*txd(0) = (struct vring_desc){ (uint64_t)good, sizeof(good), 0, 0 };
	/* §2.7.6: at most `size` entries outstanding; claim size + 1 new ones. */
	q->avail_idx += q->size + 1;
	vq_publish_quiet(q);
	virtio_mb();
	q->tp->ops->notify(q->tp, q->index);
}

static void attack_head_out_of_range(void)
{
	post_and_kick((uint16_t)(nic[0].txq.size + 3));
}

static void attack_write_only_tx(void)
{
	*txd(0) = (struct vring_desc){ (uint64_t)good, sizeof(good), VRING_DESC_F_WRITE, 0 };
	post_and_kick(0);
}

static void attack_short_frame(void)
{
	*txd(0) = (struct vring_desc){ (uint64_t)good, 4, 0, 0 };
	post_and_kick(0);
}

static bool late_writes_ignored;

static void attack_late_queue_writes(void)
{
	struct virtio_tp *tp = &nic[0].tp;
	uint16_t size = nic[0].txq.size;
	uint32_t desc_lo = (uint32_t)(uint64_t)nic[0].tx_mem.desc;

	/* After DRIVER_OK the queue registers are frozen (§4.2.2.3 forbids these writes). */
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_SEL, 1);
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_NUM, size / 2);
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)OUTSIDE_RAM);
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)OUTSIDE_RAM);
	late_writes_ignored = virtio_mmio_read(tp, VIRTIO_MMIO_QUEUE_NUM) == size &&
			      virtio_mmio_read(tp, VIRTIO_MMIO_QUEUE_DESC_LOW) == desc_lo;
	/* A good frame on the original ring must still be sent. */
	*txd(0) = (struct vring_desc){ (uint64_t)good, sizeof(good), 0, 0 };
	post_and_kick(0);
}

struct attack {
	const char *name;
	void (*run)(void);
	bool breaks;		/* true: NEEDS_RESET expected; false: chain returned, still running */
};

static const struct attack attacks[] = {
	{ "descriptor loop", attack_loop, true },
	{ "next out of range", attack_next_out_of_range, true },
	{ "buffer in the MMIO hole", attack_outside_ram, true },
	{ "buffer above the top of RAM", attack_above_ram, true },
	{ "buffer crossing the end of RAM", attack_across_end_of_ram, true },
	{ "indirect table length 17", attack_indirect_bad_len, true },
	{ "indirect table outside RAM", attack_indirect_outside_ram, true },
	{ "avail.idx jump by size + 1", attack_avail_jump, true },
	{ "avail head out of range", attack_head_out_of_range, true },
	{ "device-writable TX buffer", attack_write_only_tx, false },
	{ "frame shorter than the vnet header", attack_short_frame, false },
	{ "queue registers rewritten after DRIVER_OK", attack_late_queue_writes, false },
};

/* ---- NIC 1: is the device next door still alive? ---- */

static void arp_request(uint8_t *f)
{
	uint8_t *a = f + ETH_HLEN;

	memset(f, 0, FRAME_LEN);
	memset(f, 0xff, 6);
	memcpy(f + 6, vnet_mac(&nic[1]), 6);
	put_be16(f + 12, ETH_P_ARP);
	put_be16(a, 1);
	put_be16(a + 2, ETH_P_IP);
	a[4] = 6;
	a[5] = 4;
	put_be16(a + 6, 1);				/* request */
	memcpy(a + 8, vnet_mac(&nic[1]), 6);
	put_be32(a + 14, my_ip);
	put_be32(a + 24, peer_ip);
}

static bool is_arp_reply_from_peer(const struct vnet_pkt *p)
{
	const uint8_t *a = p->data + ETH_HLEN;

	return p->len >= ETH_HLEN + 28 && get_be16(p->data + 12) == ETH_P_ARP &&
	       get_be16(a + 6) == 2 && get_be32(a + 14) == peer_ip && get_be32(a + 24) == my_ip;
}

static bool nic1_alive(void)
{
	uint8_t frame[FRAME_LEN];
	struct vnet_pkt out = { frame, FRAME_LEN }, in[VNET_BURST];
	uint64_t start = rdtsc(), per_us = tsc_khz() / 1000, sent_at = 0;

	if (!have_peer) {
		memcpy(frame, good + VNET_HDR_LEN, FRAME_LEN);
		memcpy(frame + 6, vnet_mac(&nic[1]), 6);
		if (vnet_tx_burst(&nic[1], &out, 1) != 1)
			return false;
		while (vnet_tx_inflight(&nic[1]))
			if (rdtsc() - start > 2 * WAIT_US * per_us)
				return false;
		return true;
	}
	arp_request(frame);
	while (rdtsc() - start < 2 * WAIT_US * per_us) {
		unsigned int n;

		/* Resend every 200 ms: the host may still be bringing the interface up. */
		if (!sent_at || rdtsc() - sent_at > 200000 * per_us) {
			if (vnet_tx_burst(&nic[1], &out, 1) == 1)
				sent_at = rdtsc();
		}
		n = vnet_rx_burst(&nic[1], in, VNET_BURST);
		for (unsigned int i = 0; i < n; i++)
			if (is_arp_reply_from_peer(&in[i]))
				return true;
	}
	return false;
}

/* ---- the runs ---- */

static bool wait_needs_reset(void)
{
	for (unsigned int t = 0; t < WAIT_US; t += 1000) {
		if (vnet_dev_status(&nic[0]) & VIRTIO_S_NEEDS_RESET)
			return true;
		udelay(1000);
	}
	return false;
}

static bool wait_tx_returned(void)
{
	for (unsigned int t = 0; t < WAIT_US; t += 100) {
		if (vq_used_pending(&nic[0].txq))
			return true;
		udelay(100);
	}
	return false;
}

static void run_attack(const struct attack *a, const struct vnet_conf *conf)
{
	uint8_t s;

	report_prefix_push(a->name);
	if (vnet_init(&nic[0], conf)) {
		report(false, "NIC 0 comes up");
		report_prefix_pop();
		return;
	}
	a->run();
	if (a->breaks) {
		report(wait_needs_reset(), "NIC 0 reports DEVICE_NEEDS_RESET");
	} else {
		bool back = wait_tx_returned();

		s = vnet_dev_status(&nic[0]);
		report(back, "NIC 0 returned the chain");
		report(!(s & VIRTIO_S_NEEDS_RESET) && (s & VIRTIO_S_DRIVER_OK),
		       "NIC 0 still running (status 0x%x)", s);
		if (a->run == attack_late_queue_writes)
			report(late_writes_ignored, "QueueNum/QueueDesc read back unchanged");
	}
	vnet_stop(&nic[0]);
	report(vnet_dev_status(&nic[0]) == 0, "NIC 0 reset");
	report(nic1_alive(), "NIC 1 still works");
	report_prefix_pop();
}

int main(void)
{
	struct vnet_conf conf = {
		.optional = VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC | VNET_F_STATUS,
	};
	struct vnet_pkt p;
	const char *v;
	size_t vlen;
	unsigned int i;

	if (cmdline_get("peer", &v, &vlen)) {
		if (!inet_parse(v, vlen, &peer_ip)) {
			printf("net-malicious: bad peer=\n");
			return 2;
		}
		have_peer = true;
	}
	if (cmdline_get("me", &v, &vlen) && !inet_parse(v, vlen, &my_ip)) {
		printf("net-malicious: bad me=\n");
		return 2;
	}
	for (i = 0; i < 2; i++) {
		if (vnet_probe(i, &nic[i]) || vnet_init(&nic[i], &conf)) {
			printf("net-malicious: needs two virtio-net NICs (NIC %u missing)\n", i);
			return 3;
		}
	}
	report((nic[0].features & VIRTIO_F_INDIRECT_DESC) && (nic[0].features & VIRTIO_F_EVENT_IDX),
	       "INDIRECT_DESC and EVENT_IDX negotiated (features 0x%lx)", nic[0].features);
	printf("net-malicious: RAM top 0x%lx, peer %s\n", boot_info()->ram_top,
	       have_peer ? "set (ARP checks)" : "none (TX completion checks)");
	build_good_frame();
	if (!nic1_alive()) {
		/* Nothing below would mean anything (and each check would wait for nothing). */
		report(false, "NIC 1 works before the attacks");
		return report_summary();
	}
	report(true, "NIC 1 works before the attacks");

	for (i = 0; i < ARRAY_SIZE(attacks); i++)
		run_attack(&attacks[i], &conf);

	/* NIC 0 itself must be usable again after all that. */
	report_prefix_push("after the attacks");
	report(vnet_init(&nic[0], &conf) == 0, "NIC 0 comes up again");
	p = (struct vnet_pkt){ good + VNET_HDR_LEN, FRAME_LEN };
	report(vnet_tx_burst(&nic[0], &p, 1) == 1 && wait_tx_returned() &&
	       !(vnet_dev_status(&nic[0]) & VIRTIO_S_NEEDS_RESET), "NIC 0 sends a frame");
	report(nic1_alive(), "NIC 1 still works");
	report_prefix_pop();
	return report_summary();
}
