/* SPDX-License-Identifier: MIT */
#ifndef VIRTIO_VHOST_USER_BACKEND_H
#define VIRTIO_VHOST_USER_BACKEND_H

/*
 * Our vhost-user back-end: a learning Ethernet switch whose ports are vhost-user sessions
 * (virtio-net devices, one per connected front-end). QEMU docs/interop/vhost-user.rst,
 * back-end side. It is what tools/switch/vmm-switch runs; docs/vmm-switch.md has the rules.
 *
 * Two roles, two threads:
 *   control  vub_port_connect/handle/disconnect/add: one thread (the caller's event loop)
 *            reads messages, negotiates features, maps the front-end's memory (mm/foreign),
 *            sets up vrings. Every message goes through vu_msg_recv_checked() and then the
 *            session rules (feature negotiated, index < queue count, ring inside the memory
 *            table, ...). A message that breaks a rule ends the session: fds closed, port
 *            reset, socket closed; the port then waits for a new connection (return < 0).
 *   data     vub_poll() and vub_sleep(): one worker thread. It pops up to VUB_BATCH frames per
 *            TX ring per round with the validating split-ring walker (virtio/virtq.h), learns
 *            source MACs, and copies each frame into the destination port's RX ring(s)
 *            (flooding broadcast, multicast and unknown unicast). No system call per frame;
 *            one call-eventfd write per ring per round when the driver wants an interrupt.
 * They meet through one mutex per port: the worker only trylocks it (and skips a port whose
 * control side wants it), the control side locks it only to change what the worker reads.
 *
 * Guest mistakes cost the guest's port only (STYLE.md §3): a bad payload (short or oversized
 * frame, writable TX buffer, read-only RX buffer) is dropped and counted (malformed); a broken
 * ring (-EINVAL from virtq) stops the port's data path, is counted, logged (rate limited) and
 * signalled on the ring's error eventfd, until the front-end restarts that ring or reconnects.
 */
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/err.h"

#define VUB_MAX_PORTS		64
#define VUB_MAX_QP		4		/* queue pairs per port (MQ) */
#define VUB_BATCH		32		/* frames per TX ring per round */
#define VUB_FRAME_MAX		65562		/* Ethernet frame without vnet header (64K + VLAN) */
#define VUB_FRAME_MIN		14		/* an Ethernet header */
#define VUB_FDB_SIZE		4096		/* MAC table slots (power of two) */
#define VUB_NAME_MAX		32

struct vub_config {
	unsigned int queue_pairs;	/* offered per port (GET_QUEUE_NUM), 1..VUB_MAX_QP */
	bool mrg_rxbuf;			/* offer VIRTIO_NET_F_MRG_RXBUF */
	uint64_t age_ns;		/* MAC table ageing time; 0 = default (300 s) */
	/*
	 * vhost-user-shmem (docs/vhost-user-shmem.md). netshm_ports 0: off. 2..NETSHM_MAX_PORTS:
	 * a region for that many ports is created by vub_create(); ports 0..netshm_ports-1 may
	 * attach (others get ENOSPC), VU_PF_NETSHM and BACKEND_REQ are offered.
	 */
	unsigned int netshm_ports;
	bool netshm_peer;		/* also allow peer-memory mode (else EPERM) */
	bool netshm_no_huge;		/* plain memfd, no hugetlb attempt (tests) */
	unsigned int netshm_ack_ms;	/* wait for a PEER_MAP/UNMAP ack; 0 = 1000 */
	/*
	 * Test hook (vmm-switch --netshm-flap): every flap_ms the worker withdraws every flow
	 * entry and re-installs them from the MAC table flap_ms / 2 later. 0 = off.
	 */
	unsigned int netshm_flap_ms;
};

/* Per-port counters, as seen from the switch. Written by the worker, read by anyone. */
struct vub_stats {
	uint64_t rx;		/* frames received from the port (its TX ring), valid ones */
	uint64_t rx_bytes;
	uint64_t tx;		/* frames delivered into the port's RX ring */
	uint64_t tx_bytes;
	uint64_t drops;		/* frames for this port not delivered (no RX buffer, not ready) */
	uint64_t flood;		/* frames from this port sent to all other ports */
	uint64_t malformed;	/* bad payload in a well-formed chain (dropped, chain returned) */
	uint64_t broken;	/* times a ring of this port was found broken */
	uint64_t refused;	/* sessions ended for a bad message (control side) */
	uint64_t sessions;	/* connections accepted */
};

/* MAC learning table: open addressing, at most VUB_FDB_PROBE probes, oldest entry evicted. */
#define VUB_FDB_PROBE		8
struct vub_fdb_entry {
	uint64_t mac;		/* 48-bit MAC in the low bits; 0 = free */
	uint64_t seen_ns;
	uint32_t gen;		/* port generation when learnt: a reset port forgets its MACs */
	uint16_t port;
};

struct vub_fdb {
	uint64_t age_ns;
	struct vub_fdb_entry e[VUB_FDB_SIZE];
};

void vub_fdb_init(struct vub_fdb *t, uint64_t age_ns);
/*
 * Learns mac (6 bytes) on port; group addresses and 00:00:00:00:00:00 are ignored. True if
 * that changed what the table says (new, aged out before, or moved to another port or port
 * generation): the events netshm flow tables follow; a refresh returns false.
 */
bool vub_fdb_learn(struct vub_fdb *t, const uint8_t *mac, uint16_t port, uint32_t gen,
		   uint64_t now_ns);
/* 1 and the port/gen of a live (not aged) entry for mac, else 0. */
int vub_fdb_lookup(const struct vub_fdb *t, const uint8_t *mac, uint64_t now_ns,
		   uint16_t *port, uint32_t *gen);

struct vub;
struct vub_port;

/* vhost-user-shmem counters (any thread; relaxed snapshot). */
struct vub_netshm_stats {
	uint64_t attached;		/* ports attached now */
	uint64_t attaches;		/* successful NETSHM_ATTACH */
	uint64_t refused;		/* NETSHM_ATTACH answered with a non-zero status */
	uint64_t installed;		/* flow entries made valid or re-pointed */
	uint64_t withdrawn;		/* flow entries withdrawn */
	uint64_t full;			/* installs refused: table full (frame kept the switch path) */
	uint64_t peer_maps;		/* PEER_MAP sent */
	uint64_t peer_unmaps;		/* PEER_UNMAP sent */
	uint64_t peer_nacks;		/* PEER_MAP/UNMAP not acked (non-zero, timeout) */
	uint64_t chan_errors;		/* back-end channels dropped for a write or read error */
	/* Doorbells (docs/vhost-user-shmem.md §8). */
	uint64_t doorbells;		/* ports with a doorbell registered now */
	uint64_t doorbell_regs;		/* NETSHM_DOORBELL accepted */
	uint64_t doorbell_refused;	/* NETSHM_DOORBELL refused (ENOTCONN, EBUSY, EINVAL) */
	uint64_t doorbell_maps;		/* DOORBELL_MAP sent */
	uint64_t doorbell_unmaps;	/* DOORBELL_UNMAP sent */
	uint64_t doorbell_nacks;	/* DOORBELL_MAP/UNMAP not acked (non-zero, timeout) */
	bool huge;			/* the region is on 2 MiB hugepages */
};

int vub_create(const struct vub_config *cfg, struct vub **out, struct err *e) __must_check;
/* Disconnects every port and frees everything. No worker may be inside vub_poll/vub_sleep. */
void vub_destroy(struct vub *b);

/* ---- control side (one thread) ---- */

/* A new, unconnected port. -ENOSPC past VUB_MAX_PORTS, -EINVAL for a bad or duplicate name. */
int vub_port_add(struct vub *b, const char *name, struct vub_port **out, struct err *e)
	__must_check;
/* Starts a session on a connected AF_UNIX stream socket (takes it; closes it on error).
 * -EBUSY if the port already has one. */
int vub_port_connect(struct vub_port *p, int sock) __must_check;
/* The session socket, or -1 when not connected. Readable: call vub_port_handle(). */
int vub_port_fd(const struct vub_port *p);
/*
 * Reads and handles one message. 0, -EAGAIN (non-blocking socket, nothing to read), or a
 * negative error after which the session has been ended (-ECONNRESET: the front-end closed;
 * -EPROTO/-EINVAL/-EOPNOTSUPP/-EFAULT...: a bad message, counted in refused). After an end
 * the port is reset and vub_port_fd() is -1.
 */
int vub_port_handle(struct vub_port *p) __must_check;
/* Ends the session (if any): rings stopped, memory unmapped, fds closed, MACs forgotten. */
void vub_port_disconnect(struct vub_port *p);
const char *vub_port_name(const struct vub_port *p);
unsigned int vub_nports(const struct vub *b);
struct vub_port *vub_port_at(struct vub *b, unsigned int i);
/* A consistent-enough snapshot of the counters (any thread). */
void vub_port_stats(const struct vub_port *p, struct vub_stats *s);
/* True if a ring of the port is broken (stopped until restarted). */
bool vub_port_broken(const struct vub_port *p);
/* Number of rings currently running (started and enabled). */
unsigned int vub_port_running(const struct vub_port *p);

/* ---- data side (one worker thread) ---- */

/* One round over every port; returns the number of frames taken from TX rings. */
unsigned int vub_poll(struct vub *b, uint64_t now_ns);
/*
 * Adaptive polling's sleep: asks every running TX ring for kicks, re-checks them, and if they
 * are still empty waits up to timeout_ms (-1: forever) for a kick or vub_wake(). Returns 1 if
 * there may be work (woken or found some), 0 on timeout. A ring started without a kick fd
 * (polling mode) caps the wait at 1 ms. The next vub_poll() turns kicks off again.
 */
int vub_sleep(struct vub *b, int timeout_ms);
/* Wakes a worker in vub_sleep() (any thread; async-signal-safe). */
void vub_wake(struct vub *b);

/*
 * ---- vhost-user-shmem (docs/vhost-user-shmem.md; docs/vmm-switch.md "netshm") ----
 *
 * Control side: NETSHM_ATTACH (reply + region fd), SET_BACKEND_REQ_FD (the channel is kept per
 * session and closed at its end), PEER_MAP / PEER_UNMAP sent on that channel with NEED_REPLY;
 * the control thread waits up to netshm_ack_ms for each ack. A nack or a timeout is logged and
 * counted and the session goes on; a write or read error drops the channel (not the session).
 *
 * Doorbells (§8): NETSHM_DOORBELL is accepted after a successful attach, once per session, with
 * an eventfd (else the ack says ENOTCONN, EBUSY or EINVAL; the session goes on). The switch
 * keeps the fd for the session and sends DOORBELL_MAP(q, fd) to every other attached port with
 * a back-end channel and REPLY_ACK (also to one whose attach or channel comes later), and
 * DOORBELL_UNMAP(q) to those ports when q's session ends; sent and acked as PEER_MAP is.
 *
 * Flow tables: learning a MAC (new or moved) on port r installs mac -> r in every other
 * attached port's table and withdraws it from r's; ageing, a move and r's session end withdraw.
 * Who writes the tables: one mutex (the region writer). The control thread takes it for attach
 * and detach (synchronous: when a session has ended, no entry names its port). The worker only
 * trylocks it, on learning events (never per frame) and in a periodic pass (ageing, resync
 * after an attach, the flap hook); if the trylock fails it sets a resync flag and the next
 * pass rebuilds the tables from the MAC table, so no event is lost.
 */
void vub_netshm_stats(const struct vub *b, struct vub_netshm_stats *s);

#endif
