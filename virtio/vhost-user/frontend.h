/* SPDX-License-Identifier: MIT */
#ifndef VIRTIO_VHOST_USER_FRONTEND_H
#define VIRTIO_VHOST_USER_FRONTEND_H

/*
 * vhost-user front-end: a virtio-net NIC whose data path is served by an external vhost-user
 * back-end (DPDK's vhost PMD, OVS-DPDK, vmm-switch), after QEMU docs/interop/vhost-user.rst.
 *
 * The device model stays ours: status machine, feature negotiation and config space (MAC, link
 * status, max_virtqueue_pairs) through virtio/device.c and any transport, and the control
 * queue (MQ pair selection, RX mode: acked) is processed here. Only the data queues go to the
 * back-end: at DRIVER_OK (ops->activate) we send SET_FEATURES, SET_MEM_TABLE (every gmem
 * region: its fd, fd_offset as mmap_offset, gpa, size, user_addr = our hva) and per data queue
 * SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR (our hvas), SET_VRING_KICK, SET_VRING_CALL,
 * then SET_VRING_ENABLE. On a device reset: SET_VRING_ENABLE 0 and GET_VRING_BASE per queue.
 *
 * Features offered to the guest are fixed (VERSION_1, EVENT_IDX, INDIRECT_DESC from the core;
 * MAC, STATUS, MRG_RXBUF; CTRL_VQ + MQ with pairs > 1), so the guest never depends on which
 * back-end is connected. A back-end that lacks one of them (masked GET_FEATURES) is refused.
 *
 * Notifications:
 * - kick: the caller hands in one eventfd per data queue (the VMM's KVM ioeventfd on that
 *   queue's doorbell), so a guest notify goes straight to the back-end, no VMM thread.
 * - call: one eventfd per data queue, created here and polled by the front-end's thread, which
 *   raises the interrupt through the transport's virtio_irq (virtio-mmio needs the ISR bit set,
 *   so an irqfd alone cannot do it).
 *
 * Connection: client mode connects at create (retrying once a second for reconnect_s seconds;
 * -ECONNREFUSED/-ENOENT after that). Server mode listens and accepts in the background. When
 * the back-end goes away (HUP or a bad reply) the link goes down (config interrupt), the guest
 * keeps running; the thread then reconnects (client: every second; server: accepts again),
 * replays the setup with each ring's base taken from its used index (GET_VRING_BASE is not
 * available after a crash) and brings the link up.
 *
 * Every reply is untrusted: vu_msg_recv_checked(VU_BACK_REPLY), the reply must answer the
 * request just sent, feature words are masked to what we know, GET_VRING_BASE must name the
 * queue asked for. A bad reply drops the connection (-EPROTO), never the guest.
 *
 * Threads: one thread per front-end ("vu-front"). Device ops run on vCPU threads; socket
 * exchanges are serialised by a mutex. Nothing here knows KVM.
 */
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/err.h"
#include "mm/gmem.h"
#include "virtio/device.h"

#define VU_FRONT_MAX_PAIRS	8
#define VU_FRONT_QUEUE_SIZE	256

struct vu_front;

struct vu_front_opts {
	const char *path;		/* socket path (ignored when fd >= 0) */
	bool server;			/* listen on path instead of connecting to it */
	int fd;				/* >= 0: an already connected socket, taken over (closed
					   by destroy or by a failed create); never reconnected.
					   -1 otherwise */
	unsigned int pairs;		/* queue pairs, 1..VU_FRONT_MAX_PAIRS */
	unsigned int reconnect_s;	/* client: seconds to keep retrying the first connect */
	uint8_t mac[6];
	uint16_t queue_size;		/* max queue size offered; 0 = VU_FRONT_QUEUE_SIZE */
	/* Kick eventfds for virtqueues 0..2*pairs-1 (owned by the caller, must outlive us). */
	int kick_fds[2 * VU_FRONT_MAX_PAIRS];
};

struct vu_front_stats {
	uint64_t connects;		/* sessions established (features negotiated) */
	uint64_t disconnects;		/* sessions lost or dropped */
	uint64_t starts;		/* times the rings were handed to the back-end */
	uint64_t calls;			/* call eventfd wake-ups turned into interrupts */
	uint64_t bad_replies;		/* replies that failed a check (connection dropped) */
	uint64_t ctrl_ok, ctrl_err;	/* control queue commands */
};

/*
 * Checks o and gm (-EINVAL with a sentence: every RAM region needs an fd, i.e. memfd or
 * hugepages), creates the device core with irq (from the transport's init), connects (client)
 * or listens (server), and starts the thread. The device is then handed to the transport with
 * vu_front_vdev().
 */
int vu_front_create(const struct vu_front_opts *o, const struct gmem *gm, struct virtio_irq irq,
		    struct vu_front **out, struct err *e) __must_check;
/* Stops the thread and closes everything it opened (not the kick fds). NULL is a no-op. */
void vu_front_destroy(struct vu_front *f);
struct virtio_dev *vu_front_vdev(struct vu_front *f);

bool vu_front_connected(struct vu_front *f);
/* True while the back-end has the rings (DRIVER_OK and connected). */
bool vu_front_running(struct vu_front *f);
void vu_front_stats(struct vu_front *f, struct vu_front_stats *out);
/* The guest features the device negotiated and those sent with SET_FEATURES (0 if none). */
uint64_t vu_front_backend_features(struct vu_front *f);

#endif
