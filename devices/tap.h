/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_TAP_H
#define DEVICES_TAP_H

/*
 * TAP backend of virtio-net (implements struct net_port_ops, virtio/net.h).
 *
 * Each queue pair has one TAP fd (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, plus IFF_MULTI_QUEUE
 * for more than one), with a 12-byte vnet header (TUNSETVNETHDRSZ) so frames cross the
 * boundary with their struct virtio_net_hdr_v1 unchanged. fds are opened here, or adopted
 * from an orchestrator (then they must already be such TAP queues; the tap owns and closes
 * them from tap_create on, even when it fails).
 *
 * One worker thread per NIC runs an io_uring loop: POLL_ADD on the TAP fds, on the notify
 * eventfds (ioeventfds, one per virtqueue) and on an internal wake eventfd (stop, rx_kick).
 * RX: when a TAP fd is readable the worker readv()s frames straight into guest buffers lent
 * by net_rx_prepare() until the fd is empty, the guest has no buffers (then it waits for
 * rx_kick) or NET_BATCH frames went in (then it flushes and polls again, for fairness).
 * TX: frames are queued as WRITEV SQEs on a per-queue ring and submitted in one
 * io_uring_enter per batch at tx_flush, which waits for their completion (the guest gets its
 * buffers back only after the kernel copied them). Every ring is created disabled, gets its
 * fixed files and IORING_REGISTER_RESTRICTIONS (only the opcodes it uses, fixed files
 * required, no further register calls), and is then enabled.
 *
 * Threading: tap_create/attach/set_notify_fd/start/destroy from one control thread; the
 * port ops from the net device's threads (see net.h).
 */
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/err.h"
#include "virtio/net.h"

#define TAP_MAX_QUEUES	NET_MAX_PAIRS

struct tap_opts {
	const char *ifname;		/* to create; NULL or "" = kernel picks tapN */
	int fds[TAP_MAX_QUEUES];	/* or adopt these TAP queue fds (nfds == queues) */
	unsigned int nfds;
	unsigned int queues;		/* 1..TAP_MAX_QUEUES */
};

struct tap_stats {
	uint64_t tx_frames, tx_errors;	/* writev results */
	uint64_t rx_frames, rx_errors;	/* readv results */
};

struct tap;

int tap_create(const struct tap_opts *o, struct tap **out, struct err *e) __must_check;
/* Stops the worker (if started), closes the TAP fds and the rings. NULL is fine. */
void tap_destroy(struct tap *t);

const char *tap_ifname(const struct tap *t);
/* Does the kernel take TUNSETOFFLOAD (CSUM, TSO4, TSO6)? Then set net_opts.offloads. */
bool tap_offloads(const struct tap *t);

/* Makes t the port of n (net_set_port); n must have at most tap queues pairs. */
void tap_attach(struct tap *t, struct virtio_net *n);
/* The eventfd KVM signals when the driver kicks virtqueue vq; before tap_start. The fd stays
 * the caller's. -EINVAL for vq >= VIRTIO_MAX_QUEUES or efd < 0, -EBUSY once started. */
int tap_set_notify_fd(struct tap *t, unsigned int vq, int efd) __must_check;
/* Sets up the worker ring and starts the worker thread (after tap_attach). */
int tap_start(struct tap *t, struct err *e) __must_check;
void tap_stats(const struct tap *t, struct tap_stats *out);

/* ctx = struct tap *. */
extern const struct net_port_ops tap_port_ops;

#endif
