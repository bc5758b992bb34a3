// SPDX-License-Identifier: MIT
/*
 * Multiqueue virtio-net (VIRTIO 1.2 §5.1.6.5.5) on the first virtio-net NIC, from ring 3 by
 * polling, for tests/net/vhost-user-mq.sh. The library driver (lib/virtio-net.c) drives one
 * queue pair; this guest drives every pair itself with the lib's split-queue primitives:
 *	1. negotiates VERSION_1 | MAC | CTRL_VQ | MQ (+ EVENT_IDX if offered), reads
 *	   max_virtqueue_pairs, sets up receiveqN/transmitqN for pairs=P (default: all, at most
 *	   MQ_MAX_PAIRS) and the control queue at 2 * max_virtqueue_pairs (§5.1.2);
 *	2. DRIVER_OK, then VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET P on the control queue (§5.1.6.5.5;
 *	   until then only pair 0 may be used) and checks the ack;
 *	3. echo: sends frames=N tagged frames (broadcast, ethertype 0x88b5, payload "MQ", pair,
 *	   sequence) on every transmitq and expects each back on the receiveq of the same pair
 *	   (a back-end that forwards queue k to queue k of the same port: testpmd io forward,
 *	   rxq k -> txq k). At most WINDOW frames per pair are in flight, fewer than the RX ring
 *	   holds, so a back-end without TX retry drops nothing.
 * Reports one PASS/FAIL line per pair and direction; exit 0 when all passed (report_summary).
 * wait=S (default 30): give up S seconds after the start of the echo.
 */
#include "libguest.h"
#include "report.h"
#include "virtio-net.h"
#include "virtio-pci.h"

#define MQ_MAX_PAIRS	3	/* control queue index 2 * 3 = 6 < VIRTIO_TP_MAX_QUEUES */
#define MQ_QSIZE	256
#define MQ_WINDOW	128	/* frames in flight per pair: < MQ_QSIZE - VNET_BURST */
#define MQ_ETHERTYPE	0x88b5	/* IEEE local experimental */

#define VNET_F_CTRL_VQ		VIRTIO_F_BIT(17)	/* §5.1.3 */
#define VNET_F_MQ		VIRTIO_F_BIT(22)
#define VNET_CFG_MAX_PAIRS	8			/* struct virtio_net_config */
#define VNET_CTRL_MQ		4			/* §5.1.6.5.5 */
#define VNET_CTRL_MQ_VQ_PAIRS_SET 0
#define VNET_CTRL_OK		0

struct mq_pair {
	struct vq rxq, txq;
	struct vq_mem rx_mem, tx_mem;
	uint16_t tx_free[MQ_QSIZE];
	unsigned int tx_nfree;
	bool tx_inflight[MQ_QSIZE];
	uint64_t sent, got, foreign, bad;	/* foreign: a frame tagged with another pair */
	uint8_t rx_buf[MQ_QSIZE][VNET_BUF_SIZE] __attribute__((aligned(64)));
	uint8_t tx_buf[MQ_QSIZE][VNET_BUF_SIZE] __attribute__((aligned(64)));
};

static struct {
	struct virtio_tp tp;
	uint64_t features;
	uint8_t mac[6];
	unsigned int pairs, max_pairs;
	struct vq ctrlq;
	struct vq_mem ctrl_mem;
	uint8_t ctrl_cmd[4] __attribute__((aligned(16)));
	volatile uint8_t ctrl_ack;
	struct mq_pair p[MQ_MAX_PAIRS];
} nic;

static int mq_probe(void)
{
	const char *v;
	size_t len;
	bool mmio = true, pci = true;

	if (cmdline_get("transport", &v, &len)) {
		mmio = len == 4 && !memcmp(v, "mmio", 4);
		pci = len == 3 && !memcmp(v, "pci", 3);
	}
	if (mmio && !virtio_mmio_find(VIRTIO_ID_NET, 0, &nic.tp))
		return 0;
	if (pci && !virtio_pci_find(VIRTIO_ID_NET, 0, &nic.tp))
		return 0;
	return -1;
}

/* §3.1.1 with both MQ features required; the queues of `want` pairs and the control queue. */
static int mq_init(unsigned int want)
{
	const uint64_t need = VIRTIO_F_VERSION_1 | VNET_F_MAC | VNET_F_CTRL_VQ | VNET_F_MQ;
	bool ev;
	int r;

	r = virtio_negotiate(&nic.tp, need, VIRTIO_F_EVENT_IDX, &nic.features);
	if (r) {
		printf("net-mq: feature negotiation failed (%d): the NIC needs queues>1\n", r);
		return r;
	}
	ev = nic.features & VIRTIO_F_EVENT_IDX;
	nic.max_pairs = (unsigned int)nic.tp.ops->config_read(&nic.tp, VNET_CFG_MAX_PAIRS, 2);
	/* §5.1.4.1: 1..0x8000 with MQ; we lay out at most MQ_MAX_PAIRS + the control queue. */
	if (nic.max_pairs < 1 || nic.max_pairs > MQ_MAX_PAIRS) {
		printf("net-mq: max_virtqueue_pairs %u (this guest: 1..%u)\n", nic.max_pairs,
		       MQ_MAX_PAIRS);
		return -1;
	}
	nic.pairs = want && want < nic.max_pairs ? want : nic.max_pairs;
	for (unsigned int k = 0; k < nic.pairs; k++) {
		struct mq_pair *p = &nic.p[k];

		r = vq_init(&p->rxq, &nic.tp, (uint16_t)(2 * k), MQ_QSIZE, &p->rx_mem, ev);
		if (!r)
			r = vq_init(&p->txq, &nic.tp, (uint16_t)(2 * k + 1), MQ_QSIZE, &p->tx_mem, ev);
		if (r) {
			printf("net-mq: pair %u: queue setup failed (%d)\n", k, r);
			return r;
		}
		/* Buffer i is descriptor i on both queues (as lib/virtio-net.c). */
		for (uint16_t i = 0; i < p->rxq.size; i++) {
			p->rx_mem.desc[i] = (struct vring_desc){
				.addr = (uint64_t)p->rx_buf[i], .len = VNET_BUF_SIZE,
				.flags = VRING_DESC_F_WRITE,
			};
			vq_add(&p->rxq, i);
		}
		p->tx_nfree = 0;
		for (uint16_t i = p->txq.size; i-- > 0;) {
			p->tx_mem.desc[i] = (struct vring_desc){ .addr = (uint64_t)p->tx_buf[i] };
			p->tx_free[p->tx_nfree++] = i;
		}
		vq_suppress_interrupts(&p->rxq);
		vq_suppress_interrupts(&p->txq);
		vq_publish_quiet(&p->rxq);
	}
	/* §5.1.2: the control queue follows the last pair the device has, not the ones we use. */
	r = vq_init(&nic.ctrlq, &nic.tp, (uint16_t)(2 * nic.max_pairs), 0, &nic.ctrl_mem, ev);
	if (r) {
		printf("net-mq: control queue %u: setup failed (%d)\n", 2 * nic.max_pairs, r);
		return r;
	}
	vq_suppress_interrupts(&nic.ctrlq);
	r = virtio_driver_ok(&nic.tp);
	if (r) {
		printf("net-mq: DRIVER_OK refused (%d)\n", r);
		return r;
	}
	for (unsigned int i = 0; i < 6; i++)
		nic.mac[i] = (uint8_t)nic.tp.ops->config_read(&nic.tp, i, 1);
	/* One RX kick on pair 0 once running (lib/virtio-net.c does the same). */
	nic.tp.ops->notify(&nic.tp, 0);
	return 0;
}

/* §5.1.6.5: class, command, data (driver -> device), then a one-byte ack (device -> driver). */
static int mq_pairs_set(uint16_t pairs)
{
	struct vq *vq = &nic.ctrlq;
	uint64_t t0 = rdtsc(), limit = tsc_khz() * 1000;	/* 1 s */
	struct vring_used_elem e;

	nic.ctrl_cmd[0] = VNET_CTRL_MQ;
	nic.ctrl_cmd[1] = VNET_CTRL_MQ_VQ_PAIRS_SET;
	nic.ctrl_cmd[2] = (uint8_t)pairs;		/* le16 virtqueue_pairs */
	nic.ctrl_cmd[3] = (uint8_t)(pairs >> 8);
	nic.ctrl_ack = 0xff;
	vq->mem->desc[0] = (struct vring_desc){ .addr = (uint64_t)nic.ctrl_cmd, .len = 4,
						.flags = VRING_DESC_F_NEXT, .next = 1 };
	vq->mem->desc[1] = (struct vring_desc){ .addr = (uint64_t)&nic.ctrl_ack, .len = 1,
						.flags = VRING_DESC_F_WRITE };
	vq_add(vq, 0);
	/* Always kick: the control queue is not polled by anyone. */
	virtio_wmb();
	*(volatile uint16_t *)&vq->mem->avail.idx = vq->avail_idx;
	vq->kicked_idx = vq->avail_idx;
	virtio_mb();
	nic.tp.ops->notify(&nic.tp, vq->index);
	while (!vq_used_pending(vq)) {
		if (rdtsc() - t0 > limit)
			return -1;
		cpu_relax();
	}
	e = vq_used_next(vq);
	if (e.id != 0 || e.len < 1)
		return -2;
	return nic.ctrl_ack == VNET_CTRL_OK ? 0 : -3;
}

static void mq_rx(unsigned int k)
{
	struct mq_pair *p = &nic.p[k];
	struct vq *vq = &p->rxq;
	uint16_t pending = vq_used_pending(vq);

	if (pending > vq->size) {
		p->bad += pending;
		return;
	}
	while (pending--) {
		struct vring_used_elem e = vq_used_next(vq);
		const uint8_t *f;

		if (e.id >= vq->size) {
			p->bad++;
			continue;
		}
		f = p->rx_buf[e.id] + VNET_HDR_LEN;
		if (e.len < VNET_HDR_LEN + ETH_ZLEN || e.len > VNET_BUF_SIZE ||
		    get_be16(f + 12) != MQ_ETHERTYPE || f[14] != 'M' || f[15] != 'Q')
			p->bad++;
		else if (f[16] != k)
			p->foreign++;
		else
			p->got++;
		vq_add(vq, (uint16_t)e.id);
	}
	vq_suppress_interrupts(vq);
	vq_publish(vq);
}

static void mq_tx(unsigned int k, uint64_t frames)
{
	struct mq_pair *p = &nic.p[k];
	struct vq *vq = &p->txq;
	uint16_t pending = vq_used_pending(vq);
	unsigned int n = 0;

	if (pending > vq->size) {
		p->bad += pending;
		return;
	}
	while (pending--) {
		struct vring_used_elem e = vq_used_next(vq);

		if (e.id >= vq->size || !p->tx_inflight[e.id]) {
			p->bad++;
			continue;
		}
		p->tx_inflight[e.id] = false;
		p->tx_free[p->tx_nfree++] = (uint16_t)e.id;
	}
	while (n < VNET_BURST && p->sent < frames && p->tx_nfree &&
	       p->sent - p->got - p->foreign < MQ_WINDOW) {
		uint16_t id = p->tx_free[--p->tx_nfree];
		uint8_t *buf = p->tx_buf[id], *f = buf + VNET_HDR_LEN;

		memset(buf, 0, VNET_HDR_LEN + ETH_ZLEN);
		memset(f, 0xff, 6);
		memcpy(f + 6, nic.mac, 6);
		put_be16(f + 12, MQ_ETHERTYPE);
		f[14] = 'M';
		f[15] = 'Q';
		f[16] = (uint8_t)k;
		put_be32(f + 17, (uint32_t)p->sent);
		p->tx_mem.desc[id].len = VNET_HDR_LEN + ETH_ZLEN;
		p->tx_mem.desc[id].flags = 0;
		p->tx_inflight[id] = true;
		vq_add(vq, id);
		p->sent++;
		n++;
	}
	if (n)
		vq_publish(vq);
}

int main(void)
{
	uint64_t frames = 1000, want = 0, wait = 30, t0, khz;
	const char *v;
	size_t vlen;
	bool done;
	int r;

	if ((cmdline_get("frames", &v, &vlen) && !parse_size(v, vlen, &frames)) ||
	    (cmdline_get("pairs", &v, &vlen) && (!parse_size(v, vlen, &want) ||
						 want > MQ_MAX_PAIRS)) ||
	    (cmdline_get("wait", &v, &vlen) && !parse_size(v, vlen, &wait))) {
		printf("net-mq: bad frames=, pairs= (0..%u) or wait=\n", MQ_MAX_PAIRS);
		return 2;
	}
	if (mq_probe()) {
		printf("net-mq: no virtio-net device\n");
		return 3;
	}
	r = mq_init((unsigned int)want);
	if (r)
		return 3;
	report_prefix_push("net-mq");
	report_info("max_virtqueue_pairs %u, using %u, features 0x%lx", nic.max_pairs, nic.pairs,
		    nic.features);
	r = mq_pairs_set((uint16_t)nic.pairs);
	report(r == 0, "VQ_PAIRS_SET %u acked (%d)", nic.pairs, r);
	/* Pairs 1.. may now hold posted RX buffers the back-end has not looked at. */
	for (unsigned int k = 1; k < nic.pairs; k++)
		nic.tp.ops->notify(&nic.tp, nic.p[k].rxq.index);

	printf("net-mq: echo %lu frames on each of %u pairs\n", frames, nic.pairs);
	khz = tsc_khz() ? tsc_khz() : 1;
	t0 = rdtsc();
	do {
		done = true;
		for (unsigned int k = 0; k < nic.pairs; k++) {
			mq_rx(k);
			mq_tx(k, frames);
			if (nic.p[k].got + nic.p[k].foreign < frames)
				done = false;
		}
		if (!done)
			cpu_relax();
	} while (!done && (rdtsc() - t0) / khz < wait * 1000);

	for (unsigned int k = 0; k < nic.pairs; k++) {
		struct mq_pair *p = &nic.p[k];

		report(p->sent == frames, "pair %u: transmitq%u sent %lu of %lu", k, k + 1, p->sent,
		       frames);
		report(p->got == frames && !p->foreign && !p->bad,
		       "pair %u: receiveq%u got %lu of its own frames back (%lu of another pair, "
		       "%lu malformed)", k, k + 1, p->got, p->foreign, p->bad);
	}
	report_summary();
}
