/* SPDX-License-Identifier: MIT */
#ifndef GUEST_VIRTIO_NET_H
#define GUEST_VIRTIO_NET_H

/*
 * A poll-mode virtio-net driver for ring 3, shaped like a tiny DPDK ethdev (VIRTIO 1.2 §5.1):
 *
 *	static struct vnet nic;				// big: rings and buffers inside
 *	vnet_probe(0, &nic);				// first virtio-net device
 *	vnet_init(&nic, &VNET_CONF_DEFAULT);		// negotiate, queues, RX filled, DRIVER_OK
 *	n = vnet_rx_burst(&nic, pkts, 32);		// frames stay valid until the next rx_burst
 *	vnet_tx_burst(&nic, pkts, n);			// copies, one publish, at most one kick
 *
 * One queue pair (receiveq 0, transmitq 1), no control queue, no offloads: the vnet header
 * (struct virtio_net_hdr_v1, 12 bytes) is all zeros on TX and ignored on RX except
 * num_buffers. Every buffer is one descriptor of VNET_BUF_SIZE bytes (header + frame, the
 * "any layout" of VERSION_1, §5.1.6.2), so frames up to VNET_MAX_FRAME bytes.
 *
 * Interrupts are suppressed (we poll); notifications go to the device only when it asks
 * (VRING_USED_F_NO_NOTIFY or avail_event with EVENT_IDX), so a busy device costs no exits.
 * Not thread-safe: one CPU drives one struct vnet.
 */
#include <stdbool.h>
#include <stdint.h>

#include "virtio.h"

#define VNET_HDR_LEN		12	/* struct virtio_net_hdr_v1 (§5.1.6) */
#define VNET_BUF_SIZE		2048
#define VNET_MAX_FRAME		(VNET_BUF_SIZE - VNET_HDR_LEN)
#define VNET_MIN_FRAME		14	/* an Ethernet header */
#define VNET_BURST		32	/* most frames per rx_burst */

/* virtio-net feature bits (§5.1.3) */
#define VNET_F_MAC		VIRTIO_F_BIT(5)
#define VNET_F_MRG_RXBUF	VIRTIO_F_BIT(15)
#define VNET_F_STATUS		VIRTIO_F_BIT(16)
/* What vnet_init may take (besides VERSION_1 and MAC, which it requires). */
#define VNET_F_OPTIONAL		(VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC | VNET_F_MRG_RXBUF | \
				 VNET_F_STATUS)

struct vnet_conf {
	uint16_t queue_size;		/* 0 = the device's maximum (capped at VQ_MAX_SIZE) */
	uint64_t optional;		/* subset of VNET_F_OPTIONAL to take if offered */
};
#define VNET_CONF_DEFAULT	((struct vnet_conf){ .optional = VIRTIO_F_EVENT_IDX | VNET_F_STATUS })

struct vnet_pkt {
	uint8_t *data;			/* Ethernet frame, no vnet header, no FCS */
	uint16_t len;
};

struct vnet_stats {
	uint64_t rx_packets, rx_bytes;
	uint64_t rx_errors;		/* RX used entries with a bad length or num_buffers */
	uint64_t bad_used;		/* used entries naming a buffer the device did not have */
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_dropped;		/* frames shorter than 14 or longer than VNET_MAX_FRAME */
	uint64_t tx_full;		/* bursts cut short: every TX buffer in flight */
	uint64_t kicks;			/* QueueNotify writes (exits) */
};

struct vnet {
	struct virtio_tp tp;
	unsigned int index;		/* which virtio-net device (probe order) */
	uint64_t features;		/* negotiated */
	uint8_t mac[6];
	bool running;			/* DRIVER_OK accepted, no device error seen by us */
	struct vq rxq, txq;
	uint16_t rx_hold[VNET_BURST];	/* buffers lent out by the last rx_burst */
	unsigned int rx_nhold;
	uint16_t tx_free[VQ_MAX_SIZE];
	unsigned int tx_nfree;
	bool tx_inflight[VQ_MAX_SIZE];
	struct vnet_stats st;
	struct vq_mem rx_mem, tx_mem;
	uint8_t rx_buf[VQ_MAX_SIZE][VNET_BUF_SIZE] __attribute__((aligned(64)));
	uint8_t tx_buf[VQ_MAX_SIZE][VNET_BUF_SIZE] __attribute__((aligned(64)));
};

/*
 * Finds the idx-th virtio-net device (0-based) and zeroes n. 0 or -ENODEV. Order: the
 * virtio-mmio slots, then virtio-pci functions on bus 0; "transport=mmio" or "transport=pci"
 * on the command line restricts the search to one of them (any other value finds nothing).
 * A PCI function whose capabilities do not fit its BARs is -ENODEV too.
 */
int vnet_probe(unsigned int idx, struct vnet *n);
/*
 * Resets the device and brings it up (§3.1.1): features VERSION_1 | MAC | (c->optional &
 * offered), both queues, every RX buffer posted, DRIVER_OK, MAC read from config space.
 * May be called again to restart the device. 0 or -errno (-ENOTSUP, -EIO, -ENOENT).
 */
int vnet_init(struct vnet *n, const struct vnet_conf *c);
/* Resets the device; the rings and buffers are ours again afterwards. */
void vnet_stop(struct vnet *n);

/*
 * Returns the buffers of the previous burst to the device, then takes up to max (capped at
 * VNET_BURST) received frames. pkts[i].data stays valid until the next vnet_rx_burst().
 */
unsigned int vnet_rx_burst(struct vnet *n, struct vnet_pkt *pkts, unsigned int max);
/*
 * Reclaims completed TX buffers, copies up to cnt frames into free ones, publishes them with
 * one avail->idx store and kicks once if the device wants it. Returns how many frames were
 * consumed (sent, or dropped as malformed and counted); fewer than cnt when the ring is full.
 */
unsigned int vnet_tx_burst(struct vnet *n, const struct vnet_pkt *pkts, unsigned int cnt);
/* Reclaims completed TX buffers; returns how many are still with the device. */
unsigned int vnet_tx_inflight(struct vnet *n);

const uint8_t *vnet_mac(const struct vnet *n);
/* VIRTIO_NET_S_LINK_UP from config space (true without VNET_F_STATUS, §5.1.4). One exit. */
bool vnet_link_up(struct vnet *n);
/* The device status register (VIRTIO_S_*), e.g. to see NEEDS_RESET. One exit. */
uint8_t vnet_dev_status(struct vnet *n);

/* ---- packet helpers for the network test guests (network byte order on the wire) ---- */
#define ETH_HLEN		14
#define ETH_ZLEN		60	/* minimum frame without FCS */
#define ETH_P_IP		0x0800
#define ETH_P_ARP		0x0806

static inline uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}
/* RFC 1071 Internet checksum of len bytes; put_be16() the result. Over a block that holds
 * its own correct checksum it returns 0. */
uint16_t inet_csum(const uint8_t *p, size_t len);
/* "a.b.c.d" (exactly len chars) -> host-order address; false on anything else. */
bool inet_parse(const char *s, size_t len, uint32_t *out);

#endif
