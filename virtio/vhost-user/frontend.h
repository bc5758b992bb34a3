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

/*
 * vhost-user-shmem (docs/vhost-user-shmem.md): what the front-end hands to the VMM, which maps
 * things into the guest (KVM stays out of this layer). All four are called from the
 * front-end's thread or from a thread inside vu_front_* (a vCPU at DRIVER_OK), with the
 * front-end's lock held: they must not call back into the front-end.
 *
 * - attach: after a NETSHM_ATTACH reply passed every check of §2 (version, status 0, port <
 *   nports, nports 2..NETSHM_MAX_PORTS, size == NETSHM_REGION_SIZE(nports), one fd that is a
 *   regular file of at least size bytes). region_fd is borrowed: it is closed when attach
 *   returns, so map (or dup) it inside. Non-zero: the connection is dropped.
 * - detach: the connection that attached is gone (hang-up, bad message, destroy): remove the
 *   region and every peer window from the guest. Always called before the next attach.
 * - peer_map: a PEER_MAP that passed vu_netshm_peer_map_valid() (port < nports, != own port,
 *   regions page aligned, disjoint, guest_addr + size <= peer_window) and fstat (each fd a
 *   regular file with at least mmap_offset + size bytes). mem->nregions fds, borrowed as
 *   above. A second peer_map for a port replaces the first (the callee unmaps it first).
 *   Returns 0 or -errno; the back-end gets the status as its REPLY_ACK, the session goes on.
 * - peer_unmap: PEER_UNMAP(port), port < nports; unmapping a port not mapped is fine.
 * Doorbells (§8, netshm_doorbell only; NULL otherwise):
 * - doorbell_fd: after attach: our guest's doorbell eventfd (already an irqfd; owned by the
 *   VMM, stays open), sent with NETSHM_DOORBELL; < 0 (-errno): the connection is dropped.
 * - doorbell_map: a DOORBELL_MAP with port < nports, != own port: wire fd (borrowed as above:
 *   dup it) as port's doorbell. A second map of a port replaces the first. 0 or -errno, the
 *   back-end's REPLY_ACK; the session goes on either way.
 * - doorbell_unmap: DOORBELL_UNMAP(port), port < nports; a port not mapped is fine.
 * detach also unwires every doorbell of the connection that ended.
 */
struct vu_mem;
struct vu_front_netshm_ops {
	void *opaque;
	int (*attach)(void *opaque, int region_fd, uint64_t size, uint32_t port,
		      uint32_t nports);
	void (*detach)(void *opaque);
	int (*peer_map)(void *opaque, uint32_t port, const struct vu_mem *mem, const int *fds);
	void (*peer_unmap)(void *opaque, uint32_t port);
	int (*doorbell_fd)(void *opaque);
	int (*doorbell_map)(void *opaque, uint32_t port, int fd);
	void (*doorbell_unmap)(void *opaque, uint32_t port);
};

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
	/*
	 * netshm: 0 (off), VU_NETSHM_MODE_SHARED or VU_NETSHM_MODE_PEER. When set, every
	 * connection requires the back-end's VU_PF_NETSHM (peer mode also BACKEND_REQ and
	 * REPLY_ACK, and opens the back-end channel), sends NETSHM_ATTACH after
	 * SET_PROTOCOL_FEATURES and calls netshm_ops; a back-end that fails any of it is refused
	 * like any other (link down, the guest runs on). peer_window: size of one peer window
	 * (PEER_MAP regions must end below it), > 0 in peer mode.
	 * netshm_doorbell (§8, needs netshm_mode and the doorbell callbacks): also requires
	 * BACKEND_REQ and REPLY_ACK (the back-end channel is opened in shared mode too), sends
	 * NETSHM_DOORBELL after the attach (a refusal drops the connection) and serves
	 * DOORBELL_MAP / DOORBELL_UNMAP.
	 */
	unsigned int netshm_mode;
	struct vu_front_netshm_ops netshm_ops;
	uint64_t netshm_peer_window;
	bool netshm_doorbell;
};

struct vu_front_stats {
	uint64_t connects;		/* sessions established (features negotiated) */
	uint64_t disconnects;		/* sessions lost or dropped */
	uint64_t starts;		/* times the rings were handed to the back-end */
	uint64_t calls;			/* call eventfd wake-ups turned into interrupts */
	uint64_t bad_replies;		/* replies that failed a check (connection dropped) */
	uint64_t ctrl_ok, ctrl_err;	/* control queue commands */
	uint64_t ns_attaches;		/* NETSHM_ATTACH accepted (region handed to the VMM) */
	uint64_t ns_peer_maps, ns_peer_unmaps;	/* back-end requests carried out */
	uint64_t ns_doorbells;		/* NETSHM_DOORBELL acked by the back-end */
	uint64_t ns_doorbell_maps, ns_doorbell_unmaps;	/* back-end requests carried out */
	uint64_t ns_refused;		/* back-end channel requests refused (nack) */
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
