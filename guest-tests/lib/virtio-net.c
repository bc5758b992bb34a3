// SPDX-License-Identifier: MIT
/*
 * Poll-mode virtio-net driver for ring 3 (VIRTIO 1.2 §5.1); the API is in virtio-net.h.
 * Descriptor i always points at buffer i of its queue: a used id names the buffer, so RX
 * needs no bookkeeping beyond "which ids did the caller borrow", and TX keeps a free stack.
 */
#include "libguest.h"
#include "virtio-net.h"
#include "virtio-pci.h"

#define ENODEV		19
#define VNET_RXQ	0	/* receiveq1 (§5.1.2) */
#define VNET_TXQ	1	/* transmitq1 */
#define VNET_CFG_MAC	0	/* struct virtio_net_config (§5.1.4) */
#define VNET_CFG_STATUS	6
#define VNET_S_LINK_UP	1

struct vnet_hdr {			/* struct virtio_net_hdr_v1 */
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};
_Static_assert(sizeof(struct vnet_hdr) == VNET_HDR_LEN, "virtio_net_hdr_v1 is 12 bytes");

/* How many virtio-mmio net devices there are (at most VIRTIO_MMIO_SLOTS). */
static unsigned int vnet_mmio_count(void)
{
	struct virtio_tp tp;
	unsigned int k = 0;

	while (k < VIRTIO_MMIO_SLOTS && !virtio_mmio_find(VIRTIO_ID_NET, k, &tp))
		k++;
	return k;
}

int vnet_probe(unsigned int idx, struct vnet *n)
{
	const char *v;
	size_t len;
	bool mmio = true, pci = true;
	struct virtio_tp tp;
	unsigned int k = idx;

	if (cmdline_get("transport", &v, &len)) {
		mmio = len == 4 && !memcmp(v, "mmio", 4);
		pci = len == 3 && !memcmp(v, "pci", 3);
	}
	/* Probe order: the virtio-mmio slots, then PCI bus 0 in slot order. */
	if (mmio) {
		if (!virtio_mmio_find(VIRTIO_ID_NET, idx, &tp))
			goto found;
		k = idx - vnet_mmio_count();
	}
	if (pci && !virtio_pci_find(VIRTIO_ID_NET, k, &tp))
		goto found;
	return -ENODEV;
found:
	memset(n, 0, sizeof(*n));
	n->tp = tp;
	n->index = idx;
	return 0;
}

static void vnet_read_mac(struct vnet *n)
{
	uint32_t gen;

	/* §2.5.1: re-read if the configuration generation changed meanwhile. */
	do {
		gen = n->tp.ops->config_generation(&n->tp);
		for (unsigned int i = 0; i < 6; i++)
			n->mac[i] = (uint8_t)n->tp.ops->config_read(&n->tp, VNET_CFG_MAC + i, 1);
	} while (gen != n->tp.ops->config_generation(&n->tp));
}

int vnet_init(struct vnet *n, const struct vnet_conf *c)
{
	uint64_t required = VIRTIO_F_VERSION_1 | VNET_F_MAC;
	bool ev;
	int r;

	n->running = false;
	r = virtio_negotiate(&n->tp, required, c->optional & VNET_F_OPTIONAL, &n->features);
	if (r)
		return r;
	ev = n->features & VIRTIO_F_EVENT_IDX;
	r = vq_init(&n->rxq, &n->tp, VNET_RXQ, c->queue_size, &n->rx_mem, ev);
	if (r)
		return r;
	r = vq_init(&n->txq, &n->tp, VNET_TXQ, c->queue_size, &n->tx_mem, ev);
	if (r)
		return r;

	/* §5.1.6.3: fill the receive queue before DRIVER_OK; buffer i is descriptor i. */
	for (uint16_t i = 0; i < n->rxq.size; i++) {
		n->rx_mem.desc[i] = (struct vring_desc){
			.addr = (uint64_t)n->rx_buf[i], .len = VNET_BUF_SIZE,
			.flags = VRING_DESC_F_WRITE,
		};
		vq_add(&n->rxq, i);
	}
	n->rx_nhold = 0;
	n->tx_nfree = 0;
	for (uint16_t i = n->txq.size; i-- > 0;) {
		n->tx_mem.desc[i] = (struct vring_desc){ .addr = (uint64_t)n->tx_buf[i] };
		n->tx_free[n->tx_nfree++] = i;
		n->tx_inflight[i] = false;
	}
	vq_suppress_interrupts(&n->rxq);
	vq_suppress_interrupts(&n->txq);
	/* Not started yet: make the buffers visible without a kick the device would ignore. */
	vq_publish_quiet(&n->rxq);

	r = virtio_driver_ok(&n->tp);
	if (r)
		return r;
	/*
	 * One RX kick now that the device runs, as Linux (virtnet_open) and DPDK
	 * (virtio_dev_start) do: a device may wait for it before looking at the buffers.
	 */
	n->tp.ops->notify(&n->tp, VNET_RXQ);
	n->st.kicks++;
	vnet_read_mac(n);
	n->running = true;
	return 0;
}

void vnet_stop(struct vnet *n)
{
	n->running = false;
	(void)virtio_reset(&n->tp);
}

unsigned int vnet_rx_burst(struct vnet *n, struct vnet_pkt *pkts, unsigned int max)
{
	struct vq *vq = &n->rxq;
	unsigned int cnt = 0;
	uint16_t pending;

	if (!n->running)
		return 0;
	if (max > VNET_BURST)
		max = VNET_BURST;
	/* The caller is done with the previous burst's frames: give the buffers back. */
	for (unsigned int i = 0; i < n->rx_nhold; i++)
		vq_add(vq, n->rx_hold[i]);
	n->rx_nhold = 0;

	pending = vq_used_pending(vq);
	if (pending > vq->size) {
		/* The device published more than we ever posted: stop trusting this ring. */
		n->st.bad_used++;
		n->running = false;
		return 0;
	}
	while (cnt < max && pending) {
		struct vring_used_elem e = vq_used_next(vq);
		struct vnet_hdr *h;

		pending--;
		if (e.id >= vq->size) {
			/* Not a buffer of ours: nothing to recycle; the ring is now short of one. */
			n->st.bad_used++;
			continue;
		}
		h = (struct vnet_hdr *)n->rx_buf[e.id];
		/*
		 * §5.1.6.4: every frame fits one of our buffers, so a device that merges must still
		 * say num_buffers = 1; anything else (or a bad length) is dropped.
		 */
		if (e.len < VNET_HDR_LEN + VNET_MIN_FRAME || e.len > VNET_BUF_SIZE ||
		    ((n->features & VNET_F_MRG_RXBUF) && h->num_buffers != 1)) {
			n->st.rx_errors++;
			vq_add(vq, (uint16_t)e.id);
			continue;
		}
		pkts[cnt] = (struct vnet_pkt){ .data = n->rx_buf[e.id] + VNET_HDR_LEN,
					       .len = (uint16_t)(e.len - VNET_HDR_LEN) };
		n->rx_hold[n->rx_nhold++] = (uint16_t)e.id;
		n->st.rx_packets++;
		n->st.rx_bytes += pkts[cnt].len;
		cnt++;
	}
	vq_suppress_interrupts(vq);
	if (vq_publish(vq))
		n->st.kicks++;
	return cnt;
}

static void vnet_tx_reclaim(struct vnet *n)
{
	struct vq *vq = &n->txq;
	uint16_t pending = vq_used_pending(vq);

	if (pending > vq->size) {
		n->st.bad_used++;
		n->running = false;
		return;
	}
	while (pending--) {
		struct vring_used_elem e = vq_used_next(vq);

		/* Only ids we gave the device, once each: a confused device cannot double-free. */
		if (e.id >= vq->size || !n->tx_inflight[e.id]) {
			n->st.bad_used++;
			continue;
		}
		n->tx_inflight[e.id] = false;
		n->tx_free[n->tx_nfree++] = (uint16_t)e.id;
	}
}

unsigned int vnet_tx_inflight(struct vnet *n)
{
	vnet_tx_reclaim(n);
	return n->txq.size - n->tx_nfree;
}

unsigned int vnet_tx_burst(struct vnet *n, const struct vnet_pkt *pkts, unsigned int cnt)
{
	struct vq *vq = &n->txq;
	unsigned int i;

	if (!n->running)
		return 0;
	vnet_tx_reclaim(n);
	for (i = 0; i < cnt; i++) {
		uint16_t len = pkts[i].len, id;
		uint8_t *buf;

		if (len < VNET_MIN_FRAME || len > VNET_MAX_FRAME) {
			n->st.tx_dropped++;
			continue;
		}
		if (!n->tx_nfree) {
			n->st.tx_full++;
			break;
		}
		id = n->tx_free[--n->tx_nfree];
		buf = n->tx_buf[id];
		/* No offloads negotiated: an all-zero header (§5.1.6.2, VIRTIO_NET_HDR_GSO_NONE). */
		memset(buf, 0, VNET_HDR_LEN);
		memcpy(buf + VNET_HDR_LEN, pkts[i].data, len);
		n->tx_mem.desc[id].len = VNET_HDR_LEN + len;
		n->tx_mem.desc[id].flags = 0;
		n->tx_inflight[id] = true;
		vq_add(vq, id);
		n->st.tx_packets++;
		n->st.tx_bytes += len;
	}
	if (vq_publish(vq))
		n->st.kicks++;
	return i;
}

const uint8_t *vnet_mac(const struct vnet *n)
{
	return n->mac;
}

bool vnet_link_up(struct vnet *n)
{
	if (!(n->features & VNET_F_STATUS))
		return true;
	return n->tp.ops->config_read(&n->tp, VNET_CFG_STATUS, 2) & VNET_S_LINK_UP;
}

uint8_t vnet_dev_status(struct vnet *n)
{
	return n->tp.ops->get_status(&n->tp);
}

uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint64_t sum = 0;
	size_t i;

	/* RFC 1071: big-endian 16-bit words, an odd last byte padded with zero, folded. */
	for (i = 0; i + 1 < len; i += 2)
		sum += get_be16(p + i);
	if (i < len)
		sum += (uint32_t)p[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

bool inet_parse(const char *s, size_t len, uint32_t *out)
{
	uint32_t addr = 0, part = 0;
	unsigned int dots = 0, digits = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (!digits || part > 255 || (i < len && ++dots > 3))
				return false;
			addr = addr << 8 | part;
			part = 0;
			digits = 0;
		} else if (s[i] >= '0' && s[i] <= '9' && digits < 3) {
			part = part * 10 + (uint32_t)(s[i] - '0');
			digits++;
		} else {
			return false;
		}
	}
	if (dots != 3)
		return false;
	*out = addr;
	return true;
}
