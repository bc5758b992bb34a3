/* SPDX-License-Identifier: MIT */
#ifndef VIRTIO_NET_H
#define VIRTIO_NET_H

/*
 * virtio-net device model (VIRTIO 1.2 §5.1), without I/O of its own: frames leave through a
 * struct net_port_ops (the backend: TAP, a switch port, a test double) and come in through
 * net_rx() (copy) or net_rx_prepare()/net_rx_commit() (the backend reads straight into the
 * guest's buffers).
 *
 * Queues: receiveq k = 2k, transmitq k = 2k+1 for k < pairs, controlq = 2 * pairs when MQ is
 * negotiated, 2 otherwise (§5.1.2). The vnet header is always struct virtio_net_hdr_v1
 * (12 bytes: VERSION_1 is always offered), on both sides of the port.
 *
 * Guest mistakes (STYLE.md item 3): a TX frame shorter than the header, longer than
 * NET_MAX_TX_FRAME, with a device-writable buffer, with more than NET_MAX_IOV buffers or with
 * an offload the driver did not negotiate is dropped, counted as tx_malformed and its chain
 * returned with len 0; nothing reaches the port. A broken ring goes to virtio_dev_broken().
 *
 * Threading: every queue has its own lock, so any thread may call net_notify() (or the core
 * may call ops->notify from a vCPU thread) while a backend thread delivers RX. The port's tx
 * and tx_flush run in the thread that processes the TX queue, under that queue's lock; the
 * port's rx_kick may run in any thread and must only wake the backend. The RX API for one
 * queue must be used by one backend thread at a time.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"
#include "base/err.h"
#include "mm/gmem.h"
#include "virtio/device.h"

#define NET_HDR_LEN		12	/* struct virtio_net_hdr_v1 */
#define NET_MAX_PAIRS		8
#define NET_MAX_TX_FRAME	65562	/* header + 64 KiB GSO frame + Ethernet header */
#define NET_MAX_IOV		64	/* buffers per TX chain and per RX frame */
#define NET_BATCH		32	/* chains per used-index publish */

struct virtio_net;

/* Device config space (VIRTIO 1.2 §5.1.4): mac[6], status, max_virtqueue_pairs. */
#define NET_CFG_SIZE		10
/* Reads [off, off+len) of that layout into buf (the device core checked the bounds). Shared by
 * every virtio-net front (the TAP device model, the vhost-user frontend). */
void net_config_read(const uint8_t mac[6], uint16_t status, uint16_t pairs, uint32_t off,
		     void *buf, uint32_t len);

/* The backend side of the NIC ("port"). `queue` is a queue pair index (< pairs). */
struct net_port_ops {
	/* One frame = vnet header (NET_HDR_LEN bytes) + packet, as iovecs into guest RAM, valid
	 * until tx_flush returns. 0 = taken (the chain is returned to the guest after tx_flush),
	 * -EAGAIN = the backend is full: the chain stays in the ring and the backend calls
	 * net_notify() for the TX queue when it has room; other -errno = dropped (tx_drops). */
	int (*tx)(void *ctx, unsigned int queue, const struct iovec *iov, unsigned int n);
	/* End of a batch: every frame accepted by tx must have left guest memory on return. */
	void (*tx_flush)(void *ctx, unsigned int queue);
	/* Negotiated features at DRIVER_OK (GUEST_CSUM/GUEST_TSO4/6 -> TUNSETOFFLOAD); -errno
	 * makes the device broken. May be NULL when net_opts.offloads is false. */
	int (*set_offloads)(void *ctx, uint64_t guest_features);
	/* The guest posted RX buffers on pair `queue`: retry frames kept back with -ENOSPC. */
	void (*rx_kick)(void *ctx, unsigned int queue);
};

struct net_opts {
	uint8_t mac[6];
	unsigned int pairs;		/* 1..NET_MAX_PAIRS; > 1 offers MQ */
	uint16_t queue_size;		/* max queue size, power of two <= VIRTQ_MAX_SIZE */
	bool offloads;			/* backend takes CSUM/TSO frames and TUNSETOFFLOAD */
	uint64_t disable;		/* feature bits (1ULL << VIRTIO_NET_F_*) not to offer */
	bool link_down;			/* start with the link down */
};

struct net_queue_stats {
	uint64_t tx_packets, tx_bytes, tx_drops, tx_malformed;
	uint64_t rx_packets, rx_bytes, rx_drops, rx_malformed;
};

struct net_ctrl_stats {
	uint64_t ok, err;		/* commands acked VIRTIO_NET_OK / VIRTIO_NET_ERR */
	uint64_t malformed;		/* chains without a writable ack byte (returned len 0) */
};

/* Validates o (-EINVAL with a sentence) and creates the device; the port is set later. */
int net_create(const struct net_opts *o, const struct gmem *gm, struct virtio_irq irq,
	       struct virtio_net **out, struct err *e) __must_check;
void net_destroy(struct virtio_net *n);
/* The device core, for the transport (virtio_mmio_init etc.). */
struct virtio_dev *net_vdev(struct virtio_net *n);
/* Before the guest sets DRIVER_OK (no port: TX frames are dropped, RX is refused). */
void net_set_port(struct virtio_net *n, const struct net_port_ops *ops, void *ctx);

/* A driver kick for virtqueue vq (from an ioeventfd): same as virtio_dev_notify(). */
void net_notify(struct virtio_net *n, unsigned int vq);
/* Link state: updates config status (VIRTIO_NET_S_LINK_UP) and raises a config interrupt. */
void net_set_link(struct virtio_net *n, bool up);

/*
 * RX, copying: header (NET_HDR_LEN bytes, num_buffers is filled in here) + packet, given as
 * cnt iovecs in host memory. With MRG_RXBUF the frame may spread over several chains. Returns
 * 0 (delivered; visible after net_rx_flush), -ENOSPC when the guest has not posted enough
 * buffers (nothing consumed: the caller keeps the frame and waits for rx_kick), -EINVAL when
 * the frame was dropped (shorter than the header, larger than the buffers the guest could
 * ever post, device not running), or -EIO if the ring is broken.
 */
int net_rx(struct virtio_net *n, unsigned int queue, const struct iovec *frame,
	   unsigned int cnt) __must_check;

/*
 * RX, zero copy: net_rx_prepare() lends the backend the guest buffers for the next frame
 * (enough chains for the largest frame the guest negotiated to receive, with MRG_RXBUF; one
 * chain otherwise). The backend reads the frame, header first, into buf->iov (e.g. readv on
 * a TAP with a 12-byte vnet header) and calls net_rx_commit() with the bytes written
 * (0 = nothing: the buffers are kept for the next frame). Errors as net_rx. A reset between
 * prepare and commit makes the commit a no-op.
 */
struct net_rx_buf {
	const struct iovec *iov;
	unsigned int niov;
	size_t cap;			/* bytes the iovecs hold */
};
int net_rx_prepare(struct virtio_net *n, unsigned int queue, struct net_rx_buf *buf) __must_check;
void net_rx_commit(struct virtio_net *n, unsigned int queue, size_t len);
/* End of an RX batch: one used-index publish and at most one interrupt. net_rx and
 * net_rx_commit also flush by themselves every NET_BATCH frames. */
void net_rx_flush(struct virtio_net *n, unsigned int queue);

/* Queue pairs the driver enabled (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET; 1 without MQ). RX on a
 * higher pair is steered to pair `queue % active`. */
unsigned int net_active_pairs(struct virtio_net *n);
/* Negotiated features, 0 before DRIVER_OK. */
uint64_t net_features(struct virtio_net *n);
void net_stats(struct virtio_net *n, unsigned int pair, struct net_queue_stats *out);
void net_ctrl_stats(struct virtio_net *n, struct net_ctrl_stats *out);
/* RX filter state from the control queue (for a backend that filters). */
struct net_rx_mode {
	bool promisc, allmulti;
	uint8_t mac[6];
	uint32_t uc_entries, mc_entries;	/* sizes of the last MAC_TABLE_SET */
};
void net_rx_mode(struct virtio_net *n, struct net_rx_mode *out);

#endif
