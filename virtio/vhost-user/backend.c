// SPDX-License-Identifier: MIT
/*
 * vhost-user back-end: sessions (control) and the learning switch (data). The rules are in
 * backend.h; QEMU docs/interop/vhost-user.rst is cited as "vhost-user.rst".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/iov.h"
#include "base/log.h"
#include "mm/foreign.h"
#include "virtio/virtq.h"
#include "virtio/vhost-user/backend.h"
#include "virtio/vhost-user/msg.h"
#include "virtio/vhost-user/netshm-region.h"

#define VUB_NVRINGS		(2 * VUB_MAX_QP)
#define VUB_MAX_SEGS		64		/* buffers of one frame, either side */
#define VUB_AGE_DEFAULT_NS	(300ull * 1000000000ull)
#define VUB_HDR_MAX		sizeof(struct virtio_net_hdr_v1)
#define VUB_NS_ACK_MS		1000		/* default PEER_MAP/UNMAP ack wait */
#define VUB_NS_SCAN_NS		(100ull * 1000000ull)	/* ageing pass of the flow tables */

BUILD_BUG_ON(VUB_FDB_SIZE & (VUB_FDB_SIZE - 1));
BUILD_BUG_ON(VUB_MAX_PORTS > UINT16_MAX);
BUILD_BUG_ON(sizeof(struct virtio_net_hdr_v1) != 12);

/*
 * One vring. The control thread alone reads and writes the configuration fields; the fields
 * marked (dp) are what the worker reads, and the control side changes them only with the port
 * lock held.
 */
struct vub_vring {
	uint32_t num;
	struct vu_vring_addr addr;
	bool has_num, has_addr, has_kick;
	bool enabled;			/* SET_VRING_ENABLE */
	bool started;			/* vhost-user.rst "Ring states": started by the kick */
	uint16_t base;			/* SET_VRING_BASE, or where a stopped ring stopped */
	int kick;
	int call;			/* (dp) interrupt eventfd or -1 */
	int err;			/* (dp) error eventfd or -1 */
	struct virtq vq;		/* (dp) */
	bool run;			/* (dp) started, enabled, and the port is connected */
	bool broken;			/* (dp, written by the worker) */
	bool kick_on;			/* (worker) notifications requested by vub_sleep() */
	bool polled;			/* counted in vub.polled: running without a kick fd */
	bool dirty;			/* (worker) used entries to publish this round */
};

struct vub_port {
	struct vub *b;
	uint16_t idx;
	char name[VUB_NAME_MAX];
	pthread_mutex_t lock;
	int ctl_want;			/* control side waits for the lock: worker keeps off */
	bool held;			/* (worker) trylocked in this round */

	int sock;
	uint64_t features;
	uint64_t pfeatures;
	bool features_set;
	bool has_mem;
	struct foreign mem;		/* (dp: mem.gm through the vqs) */
	struct vub_vring vr[VUB_NVRINGS];
	uint32_t hdr_len;		/* (dp) 12 (VERSION_1 or MRG_RXBUF) or 10 */
	bool mrg;			/* (dp) */
	uint32_t gen;			/* (dp) bumped at every session end */
	bool connected;			/* (dp) */

	struct vub_stats st;
	struct log_ratelimit rl;

	/* netshm, control thread only (the region writer state is in struct vub). */
	int ns_chan;			/* SET_BACKEND_REQ_FD channel or -1 */
	bool ns_attached;
	bool ns_peer;			/* attached in peer-memory mode */
	uint32_t ns_mapped;		/* bit q: PEER_MAP(q) was sent to this port */
	uint32_t ns_dbmapped;		/* bit q: DOORBELL_MAP(q) was sent to this port */
	int ns_doorbell;		/* this port's doorbell eventfd (§8) or -1 */
	unsigned int ns_nmem;		/* kept memory table (peer mode allowed): regions */
	struct vu_mem_region ns_mem[VU_MAX_REGIONS];	/* user_addr zeroed */
	int ns_memfd[VU_MAX_REGIONS];	/* our dups of the front-end's fds */
};

struct vub {
	struct vub_config cfg;
	uint64_t features;		/* offered */
	uint64_t pfeatures;
	int epfd;			/* kick fds (EPOLLET) and wakefd */
	int wakefd;
	unsigned int nports;		/* published with release after a port is set up */
	unsigned int polled;		/* running rings with no kick fd */
	struct vub_fdb fdb;		/* worker only */

	/* netshm: the region writer, under ns_lock (control locks, worker trylocks). */
	bool ns_on;
	struct netshm_region ns;
	pthread_mutex_t ns_lock;
	int ns_resync;			/* (atomic) worker: rebuild the tables from the fdb */
	uint64_t ns_next_scan;		/* (worker) */
	uint64_t ns_flap_next;		/* (worker) */
	bool ns_flap_down;		/* (worker) entries withdrawn by the flap hook */
	struct vub_netshm_stats ns_st;	/* control-side counters (atomic stores) */

	struct vub_port ports[VUB_MAX_PORTS];
};

/* Single-writer counters: a relaxed store is enough for readers on other threads. */
#define STAT_ADD(p, f, n) \
	__atomic_store_n(&(p)->st.f, (p)->st.f + (n), __ATOMIC_RELAXED)

/* ------------------------------------------------------------------------------------------ */
/* MAC learning table                                                                          */

static uint64_t vub_mac(const uint8_t *m)
{
	return (uint64_t)m[0] << 40 | (uint64_t)m[1] << 32 | (uint64_t)m[2] << 24 |
	       (uint64_t)m[3] << 16 | (uint64_t)m[4] << 8 | m[5];
}

/* IEEE 802: the I/G bit (bit 0 of the first octet) marks group (multicast/broadcast). */
static bool vub_mac_is_group(const uint8_t *m)
{
	return m[0] & 1;
}

static unsigned int vub_fdb_hash(uint64_t mac)
{
	return (unsigned int)((mac * 0x9e3779b97f4a7c15ull) >> 52) & (VUB_FDB_SIZE - 1);
}

void vub_fdb_init(struct vub_fdb *t, uint64_t age_ns)
{
	memset(t, 0, sizeof(*t));
	t->age_ns = age_ns ? age_ns : VUB_AGE_DEFAULT_NS;
}

static bool vub_fdb_live(const struct vub_fdb *t, const struct vub_fdb_entry *e, uint64_t now)
{
	return e->mac && now - e->seen_ns < t->age_ns;
}

bool vub_fdb_learn(struct vub_fdb *t, const uint8_t *mac, uint16_t port, uint32_t gen,
		   uint64_t now)
{
	uint64_t key = vub_mac(mac);
	unsigned int h = vub_fdb_hash(key), i;
	struct vub_fdb_entry *victim = NULL, *e;
	bool changed = true;

	if (!key || vub_mac_is_group(mac))
		return false;
	for (i = 0; i < VUB_FDB_PROBE; i++) {
		e = &t->e[(h + i) & (VUB_FDB_SIZE - 1)];
		if (e->mac == key) {
			victim = e;
			changed = !vub_fdb_live(t, e, now) || e->port != port || e->gen != gen;
			break;
		}
		/* Free or aged slots first, else the least recently seen one. */
		if (!vub_fdb_live(t, e, now)) {
			if (!victim || vub_fdb_live(t, victim, now))
				victim = e;
		} else if (!victim || (vub_fdb_live(t, victim, now) &&
				       e->seen_ns < victim->seen_ns)) {
			victim = e;
		}
	}
	/* An aged entry for the same MAC further along would shadow nothing: lookups stop at
	 * the first match, which is this one or an earlier slot. */
	*victim = (struct vub_fdb_entry){ .mac = key, .seen_ns = now, .gen = gen, .port = port };
	return changed;
}

int vub_fdb_lookup(const struct vub_fdb *t, const uint8_t *mac, uint64_t now, uint16_t *port,
		   uint32_t *gen)
{
	uint64_t key = vub_mac(mac);
	unsigned int h = vub_fdb_hash(key), i;

	if (!key || vub_mac_is_group(mac))
		return 0;
	for (i = 0; i < VUB_FDB_PROBE; i++) {
		const struct vub_fdb_entry *e = &t->e[(h + i) & (VUB_FDB_SIZE - 1)];

		if (e->mac != key)
			continue;
		if (!vub_fdb_live(t, e, now))
			return 0;
		*port = e->port;
		*gen = e->gen;
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Locking between the control thread and the worker                                          */

static void vub_ctl_lock(struct vub_port *p)
{
	__atomic_store_n(&p->ctl_want, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&p->lock);
}

static void vub_ctl_unlock(struct vub_port *p)
{
	pthread_mutex_unlock(&p->lock);
	__atomic_store_n(&p->ctl_want, 0, __ATOMIC_RELEASE);
}

static unsigned int vub_nports_acquire(const struct vub *b)
{
	return __atomic_load_n(&b->nports, __ATOMIC_ACQUIRE);
}

/* Worker: take every port the control side is not busy with. No system call when free. */
static void vub_hold_all(struct vub *b, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct vub_port *p = &b->ports[i];

		p->held = !__atomic_load_n(&p->ctl_want, __ATOMIC_ACQUIRE) &&
			  !pthread_mutex_trylock(&p->lock);
	}
}

static void vub_release_all(struct vub *b, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (b->ports[i].held)
			pthread_mutex_unlock(&b->ports[i].lock);
		b->ports[i].held = false;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* netshm flow tables, worker side (rules in backend.h)                                        */

/* mac is behind port r now: every other table points at r, r's own and unattached ones do not.
 * Region lock held. */
static void vub_ns_point(struct vub *b, const uint8_t *mac, unsigned int r)
{
	unsigned int s;

	for (s = 0; s < b->ns.nports; s++) {
		/* -ENOENT/-EINVAL (not attached, r == s, r outside the region), -ENOSPC (counted):
		 * whatever the table said about mac is stale now. */
		if (s != r && !b->ns_flap_down && !netshm_region_install(&b->ns, s, mac, r))
			continue;
		netshm_region_withdraw(&b->ns, s, mac);
	}
}

/* A learning event (new or moved MAC), never a per-frame call. No system call: trylock. */
static void vub_ns_learnt(struct vub *b, const uint8_t *mac, unsigned int r)
{
	if (pthread_mutex_trylock(&b->ns_lock)) {
		/* The control side holds the tables: the next pass rebuilds them. */
		__atomic_store_n(&b->ns_resync, 1, __ATOMIC_RELEASE);
		return;
	}
	vub_ns_point(b, mac, r);
	pthread_mutex_unlock(&b->ns_lock);
}

static void vub_mac_bytes(uint64_t key, uint8_t *m)
{
	unsigned int i;

	for (i = 0; i < 6; i++)
		m[i] = (uint8_t)(key >> (40 - 8 * i));
}

/* Is (mac -> peer) what the MAC table says now? A port not held this round is not judged. */
static bool vub_ns_entry_live(struct vub *b, const uint8_t *mac, unsigned int peer,
			      unsigned int n, uint64_t now)
{
	uint16_t port;
	uint32_t gen;

	if (!vub_fdb_lookup(&b->fdb, mac, now, &port, &gen) || port != peer || peer >= n)
		return false;
	return !b->ports[peer].held || b->ports[peer].gen == gen;
}

/*
 * The periodic pass, from vub_poll() with the ports held: flap hook, ageing (and MACs the fdb
 * evicted), and the rebuild after an attach or a failed trylock.
 */
static void vub_ns_tick(struct vub *b, unsigned int n, uint64_t now)
{
	uint64_t half = (uint64_t)b->cfg.netshm_flap_ms * 1000000ull / 2;
	bool flap = half && now >= b->ns_flap_next, resync;
	unsigned int s, i, peer;
	uint8_t mac[6];

	if (!flap && now < b->ns_next_scan && !__atomic_load_n(&b->ns_resync, __ATOMIC_ACQUIRE))
		return;
	if (pthread_mutex_trylock(&b->ns_lock))
		return;		/* the next round */
	resync = __atomic_exchange_n(&b->ns_resync, 0, __ATOMIC_ACQ_REL);
	if (flap) {
		if (b->ns_flap_next)	/* the first period starts now */
			b->ns_flap_down = !b->ns_flap_down;
		b->ns_flap_next = now + (half ? half : 1);
		if (b->ns_flap_down)
			for (s = 0; s < b->ns.nports; s++)
				netshm_region_withdraw_table(&b->ns, s);
		else
			resync = true;
	}
	for (s = 0; s < b->ns.nports; s++)
		for (i = 0; i < NETSHM_MAX_ENTRIES; i++)
			if (netshm_region_entry(&b->ns, s, i, mac, &peer) &&
			    !vub_ns_entry_live(b, mac, peer, n, now))
				netshm_region_withdraw(&b->ns, s, mac);
	if (resync && !b->ns_flap_down) {
		for (i = 0; i < VUB_FDB_SIZE; i++) {
			const struct vub_fdb_entry *e = &b->fdb.e[i];

			if (!vub_fdb_live(&b->fdb, e, now) || e->port >= n)
				continue;
			if (!b->ports[e->port].held) {
				__atomic_store_n(&b->ns_resync, 1, __ATOMIC_RELEASE);
				continue;
			}
			if (b->ports[e->port].gen != e->gen || !b->ports[e->port].connected)
				continue;
			vub_mac_bytes(e->mac, mac);
			vub_ns_point(b, mac, e->port);
		}
	}
	b->ns_next_scan = now + VUB_NS_SCAN_NS;
	pthread_mutex_unlock(&b->ns_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Data path                                                                                   */

static void vub_signal(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the peer is signalled already. */
	}
}

static bool vub_port_ok(const struct vub_port *p)
{
	unsigned int i;

	if (!p->held || !p->connected)
		return false;
	for (i = 0; i < VUB_NVRINGS; i++)
		if (p->vr[i].broken)
			return false;
	return true;
}

static void vub_ring_broken(struct vub_port *p, struct vub_vring *vr, const char *what)
{
	vr->broken = true;
	STAT_ADD(p, broken, 1);
	log_ratelimited(&p->rl, LOG_WARN, "vmm-switch: port %s: vring %u broken (%s); port stopped "
			"until the front-end restarts the ring", p->name,
			(unsigned int)(vr - p->vr), what);
	vub_signal(vr->err);	/* vhost-user.rst SET_VRING_ERR */
}

/* The first running RX ring of a port (even indices: receiveq1, receiveq2, ...). */
static struct vub_vring *vub_rx_ring(struct vub_port *p)
{
	unsigned int i;

	for (i = 0; i < VUB_NVRINGS; i += 2)
		if (p->vr[i].run)
			return &p->vr[i];
	return NULL;
}

struct vub_frame {
	const struct iovec *iov;
	unsigned int niov;
	size_t off;			/* the source's vnet header is skipped */
	size_t len;			/* Ethernet frame bytes */
};

/* Copies f's bytes into dst from byte doff on; bounded by both iovecs. dst is not const:
 * gcc warns about const pointers to arrays it cannot prove filled. */
static __attribute__((noinline)) void vub_copy(struct iovec *dst, unsigned int nd, size_t doff,
					       const struct vub_frame *f)
{
	size_t done = 0, soff = f->off;
	unsigned int si = 0, di = 0;

	/* Skip to the starting buffers. */
	while (si < f->niov && soff >= f->iov[si].iov_len)
		soff -= f->iov[si++].iov_len;
	while (di < nd && doff >= dst[di].iov_len)
		doff -= dst[di++].iov_len;
	while (done < f->len && si < f->niov && di < nd) {
		size_t n = f->iov[si].iov_len - soff;

		if (n > dst[di].iov_len - doff)
			n = dst[di].iov_len - doff;
		if (n > f->len - done)
			n = f->len - done;
		memcpy((uint8_t *)dst[di].iov_base + doff, (const uint8_t *)f->iov[si].iov_base + soff,
		       n);
		done += n;
		soff += n;
		doff += n;
		if (soff == f->iov[si].iov_len) {
			si++;
			soff = 0;
		}
		if (doff == dst[di].iov_len) {
			di++;
			doff = 0;
		}
	}
}

/*
 * Delivers one frame into port d's RX ring: one chain, or with MRG_RXBUF as many chains as
 * the frame needs (VIRTIO 1.2 §5.1.6.4). Nothing is pushed unless the whole frame fits.
 */
static void vub_deliver(struct vub_port *d, const struct vub_frame *f)
{
	struct vub_vring *vr = vub_rx_ring(d);
	struct iovec iov[VUB_MAX_SEGS];
	uint16_t heads[VUB_MAX_SEGS];
	uint32_t caps[VUB_MAX_SEGS];
	struct virtio_net_hdr_v1 hdr = { .num_buffers = 1 };
	size_t need = d->hdr_len + f->len, have = 0, left;
	unsigned int nchains = 0, niov = 0, i;
	struct vq_chain c;
	struct vq_buf buf;
	struct iovec hiov;
	int ret;

	if (!vr || vr->broken) {
		STAT_ADD(d, drops, 1);
		return;
	}
	while (have < need) {
		bool bad = false;
		uint32_t cap = 0;

		if (nchains == VUB_MAX_SEGS || (nchains && !d->mrg))
			goto no_room;
		ret = virtq_pop(&vr->vq, &c);
		if (ret == 0)
			goto no_room;
		if (ret < 0) {
			vub_ring_broken(d, vr, "RX avail ring");
			goto undo;
		}
		while ((ret = vq_chain_next(&c, &buf)) == 1) {
			/* §2.7.4.2 allows readable buffers first; on RX they make no sense. */
			if (!buf.write || niov == VUB_MAX_SEGS) {
				bad = true;
				continue;
			}
			iov[niov++] = (struct iovec){ .iov_base = buf.hva, .iov_len = buf.len };
			cap += buf.len;
		}
		if (ret < 0) {
			virtq_unpop(&vr->vq, 1);
			vub_ring_broken(d, vr, "RX descriptor chain");
			goto undo;
		}
		if (bad) {
			/* Bad payload: this frame's chains go back with len 0, the frame is dropped. */
			STAT_ADD(d, malformed, 1);
			for (i = 0; i < nchains; i++)
				virtq_push_used(&vr->vq, heads[i], 0);
			virtq_push_used(&vr->vq, c.head, 0);
			vr->dirty = true;
			return;
		}
		heads[nchains] = c.head;
		caps[nchains++] = cap;
		have += cap;
	}

	hdr.num_buffers = (uint16_t)nchains;
	hiov = (struct iovec){ .iov_base = &hdr, .iov_len = d->hdr_len };
	/* A header can span buffers: copy it like frame bytes. */
	vub_copy(iov, niov, 0, &(struct vub_frame){ .iov = &hiov, .niov = 1, .len = d->hdr_len });
	vub_copy(iov, niov, d->hdr_len, f);
	left = need;
	for (i = 0; i < nchains; i++) {
		uint32_t n = left < caps[i] ? (uint32_t)left : caps[i];

		virtq_push_used(&vr->vq, heads[i], n);
		left -= n;
	}
	vr->dirty = true;
	STAT_ADD(d, tx, 1);
	STAT_ADD(d, tx_bytes, f->len);
	return;

no_room:
	STAT_ADD(d, drops, 1);
undo:
	/* Not one used entry was pushed for these chains: give them back. */
	if (nchains && !vr->broken)
		virtq_unpop(&vr->vq, nchains);
}

static void vub_forward(struct vub *b, struct vub_port *src, const struct vub_frame *f,
			unsigned int n, uint64_t now)
{
	uint8_t eth[12];
	uint16_t port;
	uint32_t gen;
	unsigned int i;

	if (iov_to_buf(f->iov, f->niov, f->off, eth, sizeof(eth)) != sizeof(eth))
		return;		/* cannot happen: len >= VUB_FRAME_MIN */
	/* Learning is change-driven for the flow tables: a refresh costs nothing more. */
	if (vub_fdb_learn(&b->fdb, eth + 6, src->idx, src->gen, now) && b->ns_on)
		vub_ns_learnt(b, eth + 6, src->idx);
	if (vub_fdb_lookup(&b->fdb, eth, now, &port, &gen) && port < n) {
		struct vub_port *d = &b->ports[port];

		/* A port the control side holds is busy being reconfigured: drop for now. */
		if (!d->held) {
			STAT_ADD(d, drops, 1);
			return;
		}
		if (d->gen != gen || !d->connected) {
			/* Learnt on a session that has ended: unknown again. */
		} else if (d == src) {
			return;	/* the destination is behind the port it came from: filter */
		} else {
			if (vub_port_ok(d))
				vub_deliver(d, f);
			else
				STAT_ADD(d, drops, 1);
			return;
		}
	}
	STAT_ADD(src, flood, 1);
	for (i = 0; i < n; i++) {
		struct vub_port *d = &b->ports[i];

		if (d == src || !d->held || !d->connected)
			continue;
		if (vub_port_ok(d))
			vub_deliver(d, f);
		else
			STAT_ADD(d, drops, 1);
	}
}

/* One batch from one TX ring. Returns frames taken; stops the port on a broken ring. */
static unsigned int vub_tx_ring(struct vub *b, struct vub_port *p, struct vub_vring *vr,
				unsigned int n, uint64_t now)
{
	struct iovec iov[VUB_MAX_SEGS];
	unsigned int done = 0;

	if (vr->kick_on) {
		virtq_enable_notify(&vr->vq, false);	/* we poll: no kicks */
		vr->kick_on = false;
	}
	while (done < VUB_BATCH) {
		struct vq_chain c;
		struct vq_buf buf;
		unsigned int niov = 0;
		bool bad = false;
		int ret = virtq_pop(&vr->vq, &c);

		if (ret == 0)
			break;
		if (ret < 0) {
			vub_ring_broken(p, vr, "TX avail ring");
			break;
		}
		while ((ret = vq_chain_next(&c, &buf)) == 1) {
			/* A device-writable buffer on TX is a bad payload (STYLE.md §3). */
			if (buf.write || niov == VUB_MAX_SEGS) {
				bad = true;
				continue;
			}
			iov[niov++] = (struct iovec){ .iov_base = buf.hva, .iov_len = buf.len };
		}
		if (ret < 0) {
			vub_ring_broken(p, vr, "TX descriptor chain");
			break;
		}
		done++;
		/* c.total counts every buffer: readable only when !bad. */
		if (bad || c.total < p->hdr_len + VUB_FRAME_MIN ||
		    c.total - p->hdr_len > VUB_FRAME_MAX) {
			STAT_ADD(p, malformed, 1);
		} else {
			struct vub_frame f = {
				.iov = iov, .niov = niov, .off = p->hdr_len,
				.len = c.total - p->hdr_len,
			};

			STAT_ADD(p, rx, 1);
			STAT_ADD(p, rx_bytes, f.len);
			vub_forward(b, p, &f, n, now);
		}
		/* §2.7.8: TX buffers are returned with len 0 (the device wrote nothing). */
		virtq_push_used(&vr->vq, c.head, 0);
		vr->dirty = true;
	}
	return done;
}

static void vub_publish(struct vub_port *p)
{
	unsigned int i;

	for (i = 0; i < VUB_NVRINGS; i++) {
		struct vub_vring *vr = &p->vr[i];

		if (!vr->dirty)
			continue;
		vr->dirty = false;
		virtq_publish(&vr->vq);
		if (virtq_should_notify(&vr->vq))
			vub_signal(vr->call);
	}
}

unsigned int vub_poll(struct vub *b, uint64_t now)
{
	unsigned int n = vub_nports_acquire(b), total = 0, i, q;

	vub_hold_all(b, n);
	for (i = 0; i < n; i++) {
		struct vub_port *p = &b->ports[i];

		for (q = 1; q < VUB_NVRINGS && vub_port_ok(p); q += 2)
			if (p->vr[q].run)
				total += vub_tx_ring(b, p, &p->vr[q], n, now);
	}
	for (i = 0; i < n; i++)
		if (b->ports[i].held)
			vub_publish(&b->ports[i]);
	if (b->ns_on)
		vub_ns_tick(b, n, now);
	vub_release_all(b, n);
	return total;
}

int vub_sleep(struct vub *b, int timeout_ms)
{
	unsigned int n = vub_nports_acquire(b), i, q;
	struct epoll_event ev[16];
	bool work = false;
	int ret;

	vub_hold_all(b, n);
	for (i = 0; i < n; i++) {
		struct vub_port *p = &b->ports[i];

		for (q = 1; q < VUB_NVRINGS && vub_port_ok(p); q += 2) {
			struct vub_vring *vr = &p->vr[q];

			if (!vr->run)
				continue;
			if (!vr->kick_on) {
				virtq_enable_notify(&vr->vq, true);
				vr->kick_on = true;
			}
			/* Re-check after enabling (virtq.h): a frame posted before it sent no kick. */
			if (virtq_pending(&vr->vq) != 0)
				work = true;
		}
	}
	vub_release_all(b, n);
	if (work || (b->ns_on && __atomic_load_n(&b->ns_resync, __ATOMIC_ACQUIRE)))
		return 1;
	if (__atomic_load_n(&b->polled, __ATOMIC_RELAXED) && (timeout_ms < 0 || timeout_ms > 1))
		timeout_ms = 1;
	/* The flap hook's steps are due even when no frame comes through the switch. */
	if (b->ns_on && b->cfg.netshm_flap_ms) {
		int half = (int)(b->cfg.netshm_flap_ms / 2) + 1;

		if (timeout_ms < 0 || timeout_ms > half)
			timeout_ms = half;
	}
	/* Edge-triggered: no read of the eventfds is needed, each kick is one edge. */
	ret = epoll_wait(b->epfd, ev, ARRAY_SIZE(ev), timeout_ms);
	return ret > 0;
}

void vub_wake(struct vub *b)
{
	vub_signal(b->wakefd);
}

/* ------------------------------------------------------------------------------------------ */
/* Control path: sessions                                                                      */

static unsigned int vub_nvrings(const struct vub *b)
{
	return 2 * b->cfg.queue_pairs;
}

static bool vub_has_feature(const struct vub_port *p, unsigned int bit)
{
	return p->features & (1ull << bit);
}

static bool vub_has_pfeature(const struct vub_port *p, unsigned int bit)
{
	return p->pfeatures & (1ull << bit);
}

/* Recomputes what the worker may run. Called with the port lock held. */
static void vub_vring_update(struct vub_port *p, struct vub_vring *vr)
{
	/* vhost-user.rst "Ring states": without PROTOCOL_FEATURES a ring starts enabled. */
	bool enabled = vr->enabled || !vub_has_feature(p, VU_F_PROTOCOL_FEATURES);
	bool run = vr->started && enabled && p->connected && vr->vq.active;
	bool polled = run && vr->kick < 0;

	if (polled != vr->polled) {
		if (polled)
			__atomic_fetch_add(&p->b->polled, 1, __ATOMIC_RELAXED);
		else
			__atomic_fetch_sub(&p->b->polled, 1, __ATOMIC_RELAXED);
		vr->polled = polled;
	}
	vr->run = run;
}

static void vub_kick_del(struct vub_port *p, struct vub_vring *vr)
{
	if (vr->kick >= 0) {
		epoll_ctl(p->b->epfd, EPOLL_CTL_DEL, vr->kick, NULL);
		close(vr->kick);
	}
	vr->kick = -1;
}

/* (Re)activates a started ring on the current memory table. Port lock held. */
static int vub_vring_activate(struct vub_port *p, struct vub_vring *vr, char *why, size_t len)
{
	uint16_t base = vr->vq.active ? vr->vq.last_avail : vr->base;
	uint64_t dlen = (uint64_t)vr->num * sizeof(struct vring_desc);
	uint64_t alen = 6 + 2 * (uint64_t)vr->num, ulen = 6 + 8 * (uint64_t)vr->num;
	const char *vwhy = NULL;
	struct virtq *vq = &vr->vq;
	gpa_t d, a, u;
	int ret;

	/* Ring addresses are front-end virtual addresses (vhost-user.rst SET_VRING_ADDR). */
	if (foreign_ua_to_gpa(&p->mem, vr->addr.desc, dlen, &d) ||
	    foreign_ua_to_gpa(&p->mem, vr->addr.avail, alen, &a) ||
	    foreign_ua_to_gpa(&p->mem, vr->addr.used, ulen, &u)) {
		snprintf(why, len, "vring %u lies outside the memory table",
			 (unsigned int)(vr - p->vr));
		virtq_reset(vq);
		return -EFAULT;
	}
	virtq_reset(vq);
	vq->size = (uint16_t)vr->num;
	vq->desc_gpa = d;
	vq->avail_gpa = a;
	vq->used_gpa = u;
	ret = virtq_activate(vq, &p->mem.gm, VIRTQ_MAX_SIZE,
			     vub_has_feature(p, VIRTIO_RING_F_EVENT_IDX), &vwhy);
	if (ret) {
		snprintf(why, len, "vring %u: %s", (unsigned int)(vr - p->vr), vwhy);
		virtq_reset(vq);
		return ret;
	}
	/* The ring resumes where it stopped: nothing is in flight across a stop (we complete
	 * every chain in the round that pops it), so used and avail indices agree, as in DPDK. */
	vq->last_avail = base;
	vq->used_idx = base;
	vr->broken = false;
	vr->kick_on = false;
	return 0;
}

/* Stops a ring (GET_VRING_BASE, session end): remembers where it stopped. */
static void vub_vring_stop(struct vub_port *p, struct vub_vring *vr)
{
	vub_ctl_lock(p);
	if (vr->vq.active)
		vr->base = vr->vq.last_avail;
	vr->started = false;
	vub_vring_update(p, vr);
	virtq_reset(&vr->vq);
	vr->broken = false;
	vub_ctl_unlock(p);
	vub_kick_del(p, vr);
	vr->has_kick = false;
}

static void vub_vring_clear(struct vub_port *p, struct vub_vring *vr)
{
	int call, err;

	vub_vring_stop(p, vr);
	vub_ctl_lock(p);
	call = vr->call;
	err = vr->err;
	vr->call = vr->err = -1;
	vub_ctl_unlock(p);
	if (call >= 0)
		close(call);
	if (err >= 0)
		close(err);
	vr->num = 0;
	vr->has_num = vr->has_addr = vr->enabled = false;
	vr->base = 0;
	memset(&vr->addr, 0, sizeof(vr->addr));
}

/* ------------------------------------------------------------------------------------------ */
/* netshm, control side (docs/vhost-user-shmem.md §1, §2, §6)                                  */

#define NS_STAT_ADD(b, f, n)	__atomic_fetch_add(&(b)->ns_st.f, (n), __ATOMIC_RELAXED)

static void vub_ns_chan_close(struct vub_port *p)
{
	if (p->ns_chan >= 0)
		close(p->ns_chan);
	p->ns_chan = -1;
}

static void vub_ns_chan_error(struct vub_port *p, const char *what, int ret)
{
	pr_warn("vmm-switch: port %s: back-end channel %s failed (%s); channel dropped", p->name,
		what, strerror(-ret));
	NS_STAT_ADD(p->b, chan_errors, 1);
	vub_ns_chan_close(p);
}

/* Reads and discards replies that came after their request timed out. */
static bool vub_ns_drain(struct vub_port *p)
{
	struct pollfd pfd = { .fd = p->ns_chan, .events = POLLIN };
	char why[128];
	struct vu_msg m;
	int ret;

	while (poll(&pfd, 1, 0) > 0) {
		ret = vu_msg_recv(p->ns_chan, &m, why, sizeof(why));
		if (ret) {
			vub_ns_chan_error(p, "read", ret);
			return false;
		}
		vu_msg_close_fds(&m);
	}
	return true;
}

/*
 * Sends a back-end request with NEED_REPLY on to's channel and waits for its REPLY_ACK. A nack,
 * a malformed reply or no reply in time: logged, counted in *nacks, the session goes on. A
 * channel that cannot be written or read is dropped.
 */
static void vub_ns_request(struct vub_port *to, struct vu_msg *m, uint64_t *nacks)
{
	struct vub *b = to->b;
	uint64_t ms = b->cfg.netshm_ack_ms ? b->cfg.netshm_ack_ms : VUB_NS_ACK_MS;
	const char *name = vu_req_name(VU_BACK_REQ, m->hdr.request);
	uint64_t deadline;
	char why[160] = "";
	struct vu_msg r;
	int ret;

	if (to->ns_chan < 0 || !vub_ns_drain(to))
		return;
	m->hdr.flags |= VU_FLAG_NEED_REPLY;
	ret = vu_msg_send(to->ns_chan, m);
	if (ret) {
		vub_ns_chan_error(to, "write", ret);
		return;
	}
	deadline = now_ns() + ms * 1000000ull;
	for (;;) {
		struct pollfd pfd = { .fd = to->ns_chan, .events = POLLIN };
		uint64_t t = now_ns();

		if (t >= deadline)
			break;
		ret = poll(&pfd, 1, (int)((deadline - t + 999999) / 1000000));
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			break;
		ret = vu_msg_recv(to->ns_chan, &r, why, sizeof(why));
		if (ret) {
			vub_ns_chan_error(to, "read", ret);
			return;
		}
		ret = vu_msg_check_or_close(&r, VU_FRONT_REPLY, why, sizeof(why));
		if (!ret && r.hdr.request != m->hdr.request) {
			vu_msg_close_fds(&r);
			continue;	/* a late reply to an earlier request */
		}
		vu_msg_close_fds(&r);
		if (ret || r.payload.u64) {
			__atomic_fetch_add(nacks, 1, __ATOMIC_RELAXED);
			pr_warn("vmm-switch: port %s: %s refused by the front-end (%s)", to->name,
				name, ret ? why : "non-zero status");
		}
		return;
	}
	__atomic_fetch_add(nacks, 1, __ATOMIC_RELAXED);
	pr_warn("vmm-switch: port %s: %s not acknowledged within %llu ms", to->name, name,
		(unsigned long long)ms);
}

static bool vub_ns_peer_port(const struct vub_port *p)
{
	return p->ns_attached && p->ns_peer;
}

/* PEER_MAP(q) to `to`: q's memory table and fds (ours stay open). */
static void vub_ns_peer_map(struct vub_port *to, struct vub_port *q)
{
	struct vu_msg m;
	unsigned int i;

	if (!q->ns_nmem || to->ns_chan < 0)
		return;
	vu_msg_init(&m, VU_BREQ_NETSHM_PEER_MAP,
		    (uint32_t)(offsetof(struct vu_netshm_peer_map, mem.regions) +
			       q->ns_nmem * sizeof(struct vu_mem_region)));
	m.payload.netshm_peer_map.port = q->idx;
	m.payload.netshm_peer_map.mem.nregions = q->ns_nmem;
	for (i = 0; i < q->ns_nmem; i++) {
		m.payload.netshm_peer_map.mem.regions[i] = q->ns_mem[i];
		m.fds[i] = q->ns_memfd[i];
	}
	m.nfds = q->ns_nmem;
	to->ns_mapped |= 1u << q->idx;
	NS_STAT_ADD(to->b, peer_maps, 1);
	vub_ns_request(to, &m, &to->b->ns_st.peer_nacks);
}

/* PEER_MAP(q) to every other peer-mode port (q attached in peer mode, with memory). */
static void vub_ns_announce(struct vub_port *q)
{
	struct vub *b = q->b;
	unsigned int i;

	for (i = 0; i < b->nports; i++)
		if (&b->ports[i] != q && vub_ns_peer_port(&b->ports[i]))
			vub_ns_peer_map(&b->ports[i], q);
}

/*
 * PEER_UNMAP(q) (doorbell false) or DOORBELL_UNMAP(q) to every port that was sent the matching
 * MAP (its ns_mapped or ns_dbmapped bit q, cleared here).
 */
static void vub_ns_unmap_all(struct vub_port *q, bool doorbell)
{
	struct vub *b = q->b;
	unsigned int i;

	for (i = 0; i < b->nports; i++) {
		struct vub_port *p = &b->ports[i];
		uint32_t *mask = doorbell ? &p->ns_dbmapped : &p->ns_mapped;
		struct vu_msg m;

		if (p == q || !(*mask & (1u << q->idx)))
			continue;
		*mask &= ~(1u << q->idx);
		vu_msg_init(&m, doorbell ? VU_BREQ_NETSHM_DOORBELL_UNMAP : VU_BREQ_NETSHM_PEER_UNMAP,
			    sizeof(struct vu_netshm_peer));
		m.payload.netshm_peer.port = q->idx;
		if (doorbell) {
			NS_STAT_ADD(b, doorbell_unmaps, 1);
			vub_ns_request(p, &m, &b->ns_st.doorbell_nacks);
		} else {
			NS_STAT_ADD(b, peer_unmaps, 1);
			vub_ns_request(p, &m, &b->ns_st.peer_nacks);
		}
	}
}

/* PEER_UNMAP(q) to every port that was sent PEER_MAP(q). */
static void vub_ns_unannounce(struct vub_port *q)
{
	vub_ns_unmap_all(q, false);
}

/* §8: doorbells go to attached ports that have a channel and answer on it (REPLY_ACK). */
static bool vub_ns_db_receiver(const struct vub_port *to)
{
	return to->ns_attached && to->ns_chan >= 0 && vub_has_pfeature(to, VU_PF_REPLY_ACK);
}

/* DOORBELL_MAP(q) to `to`: q's eventfd (ours stays open). Never a port's own doorbell. */
static void vub_ns_db_map(struct vub_port *to, struct vub_port *q)
{
	struct vub *b = to->b;
	struct vu_msg m;

	if (to == q || q->ns_doorbell < 0 || !vub_ns_db_receiver(to))
		return;
	vu_msg_init(&m, VU_BREQ_NETSHM_DOORBELL_MAP, sizeof(struct vu_netshm_peer));
	m.payload.netshm_peer.port = q->idx;
	m.fds[0] = q->ns_doorbell;
	m.nfds = 1;
	to->ns_dbmapped |= 1u << q->idx;
	NS_STAT_ADD(b, doorbell_maps, 1);
	vub_ns_request(to, &m, &b->ns_st.doorbell_nacks);
}

/* Every existing doorbell to p (p's attach or channel is new). */
static void vub_ns_db_catch_up(struct vub_port *p)
{
	unsigned int i;

	for (i = 0; i < p->b->nports; i++)
		vub_ns_db_map(p, &p->b->ports[i]);
}

/* q's doorbell to every other port. */
static void vub_ns_db_announce(struct vub_port *q)
{
	unsigned int i;

	for (i = 0; i < q->b->nports; i++)
		vub_ns_db_map(&q->b->ports[i], q);
}

/* Session end of q: DOORBELL_UNMAP(q) to every port that got the MAP, then q's fd goes. */
static void vub_ns_db_forget(struct vub_port *q)
{
	struct vub *b = q->b;

	vub_ns_unmap_all(q, true);
	if (q->ns_doorbell >= 0) {
		close(q->ns_doorbell);
		q->ns_doorbell = -1;
		__atomic_fetch_sub(&b->ns_st.doorbells, 1, __ATOMIC_RELAXED);
	}
}

static void vub_ns_forget_mem(struct vub_port *p)
{
	unsigned int i;

	for (i = 0; i < p->ns_nmem; i++) {
		close(p->ns_memfd[i]);
		p->ns_memfd[i] = -1;
	}
	p->ns_nmem = 0;
}

/*
 * SET_MEM_TABLE, before foreign_map() closes the fds: keeps dups for PEER_MAP when peer mode
 * may be used. A table that PEER_MAP could not carry (not page aligned) is not kept.
 */
static void vub_ns_keep_mem(struct vub_port *p, const struct vu_msg *m)
{
	const struct vu_mem *mem = &m->payload.mem;
	unsigned int i;

	vub_ns_forget_mem(p);
	if (!p->b->ns_on || !p->b->cfg.netshm_peer)
		return;
	for (i = 0; i < mem->nregions; i++) {
		const struct vu_mem_region *r = &mem->regions[i];
		int fd;

		if ((r->guest_addr | r->size | r->mmap_offset) & 4095) {
			pr_warn("vmm-switch: port %s: memory region %u is not page aligned; its "
				"memory cannot be shared in peer mode", p->name, i);
			vub_ns_forget_mem(p);
			return;
		}
		fd = fcntl(m->fds[i], F_DUPFD_CLOEXEC, 0);
		if (fd < 0) {
			pr_warn("vmm-switch: port %s: cannot keep memory fd: %s", p->name,
				strerror(errno));
			vub_ns_forget_mem(p);
			return;
		}
		/* §2: user_addr 0; the front-end's addresses are not for its peers. */
		p->ns_mem[i] = (struct vu_mem_region){ .guest_addr = r->guest_addr,
						       .size = r->size,
						       .mmap_offset = r->mmap_offset };
		p->ns_memfd[i] = fd;
		p->ns_nmem = i + 1;
	}
}

/* Session end: the port leaves the region, its peers unmap it, its channel is closed. */
static void vub_ns_detach(struct vub_port *p)
{
	struct vub *b = p->b;

	if (!b->ns_on)
		return;
	if (p->ns_attached) {
		pthread_mutex_lock(&b->ns_lock);
		netshm_region_port_detach(&b->ns, p->idx);
		pthread_mutex_unlock(&b->ns_lock);
		p->ns_attached = false;
		p->ns_peer = false;
		__atomic_fetch_sub(&b->ns_st.attached, 1, __ATOMIC_RELAXED);
	}
	vub_ns_unannounce(p);
	vub_ns_db_forget(p);
	p->ns_mapped = 0;
	p->ns_dbmapped = 0;
	vub_ns_forget_mem(p);
	vub_ns_chan_close(p);
}

/* NETSHM_ATTACH: always answered (§2); a refusal is a status, the session goes on. */
static int vub_ns_attach(struct vub_port *p, const struct vu_msg *m)
{
	const struct vu_netshm_attach *a = &m->payload.netshm_attach;
	struct vub *b = p->b;
	bool peer = a->mode == VU_NETSHM_MODE_PEER;
	struct vu_netshm_attach_reply *rp;
	uint32_t status = 0;
	struct vu_msg r;
	unsigned int i;
	int ret;

	if (p->ns_attached)
		status = EBUSY;
	else if (peer && !b->cfg.netshm_peer)
		status = EPERM;
	else if (p->idx >= b->ns.nports)
		status = ENOSPC;
	else if (peer && (!vub_has_pfeature(p, VU_PF_BACKEND_REQ) ||
			  !vub_has_pfeature(p, VU_PF_REPLY_ACK) || p->ns_chan < 0))
		status = EINVAL;	/* §1: peer mode needs the channel and acks */
	vu_msg_reply_init(&r, m, sizeof(struct vu_netshm_attach_reply));
	rp = &r.payload.netshm_attach_reply;
	rp->version = NETSHM_VERSION;
	rp->status = status;
	if (status) {
		NS_STAT_ADD(b, refused, 1);
		pr_info("vmm-switch: port %s: netshm attach (mode %u) refused: %s", p->name,
			a->mode, strerror((int)status));
		return vu_msg_send(p->sock, &r);
	}
	pthread_mutex_lock(&b->ns_lock);
	ret = netshm_region_port_attach(&b->ns, p->idx, peer);
	pthread_mutex_unlock(&b->ns_lock);
	if (ret)
		return ret;	/* cannot happen: idx < nports */
	p->ns_attached = true;
	p->ns_peer = peer;
	NS_STAT_ADD(b, attached, 1);
	NS_STAT_ADD(b, attaches, 1);
	rp->port = p->idx;
	rp->nports = b->ns.nports;
	rp->region_size = b->ns.size;
	r.fds[0] = b->ns.fd;
	r.nfds = 1;
	/* MACs learnt before the attach get their entries in the worker's next pass. */
	__atomic_store_n(&b->ns_resync, 1, __ATOMIC_RELEASE);
	vub_wake(b);
	pr_info("vmm-switch: port %s: netshm attached as port %u (%s mode)", p->name, p->idx,
		peer ? "peer" : "shared");
	ret = vu_msg_send(p->sock, &r);
	if (ret)
		return ret;
	/* §2 "When the back-end sends them": after the reply, both directions. */
	if (peer) {
		for (i = 0; i < b->nports; i++)
			if (&b->ports[i] != p && vub_ns_peer_port(&b->ports[i]))
				vub_ns_peer_map(p, &b->ports[i]);
		vub_ns_announce(p);
	}
	/* §8: the doorbells that exist already (p has none yet: it needs this attach first). */
	vub_ns_db_catch_up(p);
	return 0;
}

/* Session state back to "just connected": RESET_OWNER and session end. */
static void vub_session_reset(struct vub_port *p)
{
	struct foreign old;
	unsigned int i;

	vub_ns_detach(p);

	for (i = 0; i < VUB_NVRINGS; i++)
		vub_vring_clear(p, &p->vr[i]);
	vub_ctl_lock(p);
	old = p->mem;
	foreign_init(&p->mem);
	p->has_mem = false;
	p->gen++;		/* MACs learnt on this session are forgotten */
	p->features = 0;
	p->pfeatures = 0;
	p->features_set = false;
	p->hdr_len = sizeof(struct virtio_net_hdr_v1);
	p->mrg = false;
	vub_ctl_unlock(p);
	foreign_unmap(&old);
}

void vub_port_disconnect(struct vub_port *p)
{
	if (p->sock < 0)
		return;
	vub_ctl_lock(p);
	p->connected = false;
	vub_ctl_unlock(p);
	vub_session_reset(p);
	close(p->sock);
	p->sock = -1;
}

static int vub_reply_u64(struct vub_port *p, const struct vu_msg *req, uint64_t v)
{
	struct vu_msg r;

	vu_msg_reply_init(&r, req, sizeof(uint64_t));
	r.payload.u64 = v;
	return vu_msg_send(p->sock, &r);
}

static int vub_check_index(struct vub_port *p, uint32_t idx, char *why, size_t len)
{
	if (!vu_vring_index_valid(idx, vub_nvrings(p->b))) {
		snprintf(why, len, "vring index %u is not below %u", idx, vub_nvrings(p->b));
		return -EINVAL;
	}
	return 0;
}

static int vub_set_features(struct vub_port *p, uint64_t f, char *why, size_t len)
{
	unsigned int i;

	if (f & ~p->b->features) {
		snprintf(why, len, "features 0x%llx were not offered",
			 (unsigned long long)(f & ~p->b->features));
		return -EINVAL;
	}
	for (i = 0; i < VUB_NVRINGS; i++) {
		if (p->vr[i].started && f != p->features) {
			snprintf(why, len, "features changed while vring %u runs", i);
			return -EBUSY;
		}
	}
	vub_ctl_lock(p);
	p->features = f;
	p->features_set = true;
	p->mrg = f & (1ull << VIRTIO_NET_F_MRG_RXBUF);
	/* VIRTIO 1.2 §5.1.6: the header has num_buffers with VERSION_1 or MRG_RXBUF. */
	p->hdr_len = (p->mrg || (f & (1ull << VIRTIO_F_VERSION_1))) ?
		     sizeof(struct virtio_net_hdr_v1) : sizeof(struct virtio_net_hdr);
	for (i = 0; i < VUB_NVRINGS; i++)
		vub_vring_update(p, &p->vr[i]);
	vub_ctl_unlock(p);
	return 0;
}

static int vub_set_mem_table(struct vub_port *p, struct vu_msg *m, char *why, size_t len)
{
	struct foreign_region_desc d[VU_MAX_REGIONS];
	struct foreign fresh, old;
	struct err e = { 0 };
	unsigned int i;
	int ret = 0;

	for (i = 0; i < m->payload.mem.nregions; i++) {
		const struct vu_mem_region *r = &m->payload.mem.regions[i];

		d[i] = (struct foreign_region_desc){
			.gpa = r->guest_addr, .size = r->size, .uaddr = r->user_addr,
			.offset = r->mmap_offset, .fd = m->fds[i],
		};
	}
	vub_ns_keep_mem(p, m);
	/* foreign_map() closes the fds whatever happens. */
	m->nfds = 0;
	ret = foreign_map(&fresh, d, m->payload.mem.nregions, &e);
	if (ret) {
		snprintf(why, len, "memory table: %.160s", e.msg);
		return ret;
	}
	vub_ctl_lock(p);
	old = p->mem;
	p->mem = fresh;
	p->has_mem = true;
	/* Running rings move to the new table (memory hot-plug) or the session ends. */
	for (i = 0; i < VUB_NVRINGS && !ret; i++) {
		struct vub_vring *vr = &p->vr[i];

		if (vr->started)
			ret = vub_vring_activate(p, vr, why, len);
		vub_vring_update(p, vr);
	}
	/* No ring may keep a pointer into the old table: stop them all (the session ends). */
	for (i = 0; ret && i < VUB_NVRINGS; i++) {
		virtq_reset(&p->vr[i].vq);
		p->vr[i].started = false;
		vub_vring_update(p, &p->vr[i]);
	}
	vub_ctl_unlock(p);
	foreign_unmap(&old);
	/* §2: PEER_MAP again when a peer-mode port sends a new table. */
	if (!ret && vub_ns_peer_port(p))
		vub_ns_announce(p);
	return ret;
}

static int vub_start_ring(struct vub_port *p, struct vub_vring *vr, char *why, size_t len)
{
	int ret;

	if (!p->has_mem || !vr->has_num || !vr->has_addr) {
		snprintf(why, len, "vring %u kicked before its %s was set", (unsigned int)(vr - p->vr),
			 !p->has_mem ? "memory table" : !vr->has_num ? "size" : "address");
		return -EINVAL;
	}
	vub_ctl_lock(p);
	ret = vub_vring_activate(p, vr, why, len);
	if (!ret)
		vr->started = true;
	vub_vring_update(p, vr);
	vub_ctl_unlock(p);
	return ret;
}

static int vub_set_kick(struct vub_port *p, struct vu_msg *m, char *why, size_t len)
{
	uint32_t idx = m->payload.u64 & VU_VRING_IDX_MASK;
	struct vub_vring *vr;
	int fd = -1, ret;

	ret = vub_check_index(p, idx, why, len);
	if (ret)
		return ret;
	vr = &p->vr[idx];
	if (!(m->payload.u64 & VU_VRING_NOFD)) {
		fd = m->fds[0];
		m->nfds = 0;
	}
	/* The worker never reads kick fds (edge-triggered epoll): swap it without the lock. */
	vub_kick_del(p, vr);
	vr->kick = fd;
	vr->has_kick = true;
	if (fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = vr };

		if (epoll_ctl(p->b->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			snprintf(why, len, "kick fd of vring %u cannot be polled: %s", idx,
				 strerror(errno));
			return -EINVAL;
		}
	}
	if (vr->started) {
		vub_ctl_lock(p);
		vub_vring_update(p, vr);
		vub_ctl_unlock(p);
		ret = 0;
	} else {
		ret = vub_start_ring(p, vr, why, len);
	}
	vub_wake(p->b);
	return ret;
}

/* SET_VRING_CALL / SET_VRING_ERR: swap the fd the worker signals. */
static int vub_set_eventfd(struct vub_port *p, struct vu_msg *m, bool call, char *why,
			   size_t len)
{
	uint32_t idx = m->payload.u64 & VU_VRING_IDX_MASK;
	int fd = -1, old, ret;

	ret = vub_check_index(p, idx, why, len);
	if (ret)
		return ret;
	if (!(m->payload.u64 & VU_VRING_NOFD)) {
		fd = m->fds[0];
		m->nfds = 0;
	}
	vub_ctl_lock(p);
	if (call) {
		old = p->vr[idx].call;
		p->vr[idx].call = fd;
	} else {
		old = p->vr[idx].err;
		p->vr[idx].err = fd;
	}
	vub_ctl_unlock(p);
	if (old >= 0)
		close(old);
	return 0;
}

/*
 * vhost-user.rst "REPLY_ACK": requests without a reply of their own, and SET_MEM_TABLE outside
 * postcopy (which we never offer), are acked when they ask for it.
 */
static bool vub_wants_ack(const struct vub_port *p, const struct vu_msg *m)
{
	const struct vu_req_info *ri = vu_req_info(VU_FRONT_REQ, m->hdr.request);

	return ri && (ri->reply == VU_P_ACK || ri->id == VU_REQ_SET_MEM_TABLE) &&
	       vu_msg_need_reply(m) && vub_has_pfeature(p, VU_PF_REPLY_ACK);
}

/* SET_BACKEND_REQ_FD: acked first, then the doorbells this port missed (the front-end serves
 * its channel only once the request is answered). */
static int vub_ns_set_chan(struct vub_port *p, struct vu_msg *m)
{
	int ret = 0;

	vub_ns_chan_close(p);
	p->ns_chan = m->fds[0];
	m->nfds = 0;
	if (vub_wants_ack(p, m))
		ret = vu_msg_send_ack(p->sock, m, 0);
	if (!ret)
		vub_ns_db_catch_up(p);
	return ret;
}

/* "anon_inode:[eventfd]" is how the kernel names an eventfd (fs/eventfd.c). */
static bool vub_is_eventfd(int fd)
{
	static const char want[] = "anon_inode:[eventfd]";
	char path[32], link[sizeof(want) + 1];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	return n == (ssize_t)sizeof(want) - 1 && !memcmp(link, want, sizeof(want) - 1);
}

/*
 * NETSHM_DOORBELL (§8): kept after an attach, once per session; a refusal is a status in the
 * ack (the fd stays in m and is closed), the session goes on. Acked before the fd goes to the
 * peers, so the front-end is not kept waiting behind their acks.
 */
static int vub_ns_doorbell(struct vub_port *p, struct vu_msg *m)
{
	struct vub *b = p->b;
	uint32_t status = 0;
	int ret = 0;

	if (!p->ns_attached)
		status = ENOTCONN;
	else if (p->ns_doorbell >= 0)
		status = EBUSY;
	else if (!vub_is_eventfd(m->fds[0]))
		status = EINVAL;
	if (status) {
		NS_STAT_ADD(b, doorbell_refused, 1);
		pr_info("vmm-switch: port %s: netshm doorbell refused: %s", p->name,
			strerror((int)status));
	} else {
		p->ns_doorbell = m->fds[0];
		m->nfds = 0;
		NS_STAT_ADD(b, doorbells, 1);
		NS_STAT_ADD(b, doorbell_regs, 1);
	}
	if (vub_wants_ack(p, m))
		ret = vu_msg_send_ack(p->sock, m, status);
	if (!ret && !status)
		vub_ns_db_announce(p);
	return ret;
}

/*
 * One checked message. 0 when handled (replies sent), or < 0 with a reason: the caller ends
 * the session. Fds the handler keeps are taken out of m (nfds = 0); the caller closes the rest.
 */
static int vub_dispatch(struct vub_port *p, struct vu_msg *m, char *why, size_t len)
{
	const struct vu_req_info *ri = vu_req_info(VU_FRONT_REQ, m->hdr.request);
	union vu_payload *pl = &m->payload;
	struct vub *b = p->b;
	struct vub_vring *vr;
	struct vu_msg r;
	int ret = 0;

	switch (m->hdr.request) {
	case VU_REQ_GET_FEATURES:
		return vub_reply_u64(p, m, b->features);
	case VU_REQ_SET_FEATURES:
		ret = vub_set_features(p, pl->u64, why, len);
		break;
	case VU_REQ_GET_PROTOCOL_FEATURES:
		return vub_reply_u64(p, m, b->pfeatures);
	case VU_REQ_SET_PROTOCOL_FEATURES:
		if (pl->u64 & ~b->pfeatures) {
			snprintf(why, len, "protocol features 0x%llx were not offered",
				 (unsigned long long)(pl->u64 & ~b->pfeatures));
			return -EINVAL;
		}
		p->pfeatures = pl->u64;
		break;
	case VU_REQ_SET_OWNER:
		break;
	case VU_REQ_RESET_OWNER:
		vub_session_reset(p);
		break;
	case VU_REQ_GET_QUEUE_NUM:
		return vub_reply_u64(p, m, b->cfg.queue_pairs);
	case VU_REQ_SET_MEM_TABLE:
		ret = vub_set_mem_table(p, m, why, len);
		break;
	case VU_REQ_SET_VRING_NUM:
		ret = vub_check_index(p, pl->state.index, why, len);
		if (ret)
			return ret;
		vr = &p->vr[pl->state.index];
		if (!vu_vring_num_valid(pl->state.num, VIRTQ_MAX_SIZE)) {
			snprintf(why, len, "vring size %u is not a power of two up to %u",
				 pl->state.num, VIRTQ_MAX_SIZE);
			return -EINVAL;
		}
		if (vr->started) {
			snprintf(why, len, "vring %u resized while running", pl->state.index);
			return -EBUSY;
		}
		vr->num = pl->state.num;
		vr->has_num = true;
		break;
	case VU_REQ_SET_VRING_ADDR:
		if (!vu_vring_addr_valid(&pl->addr, vub_nvrings(b), why, len))
			return -EINVAL;
		if (pl->addr.flags & VU_VRING_F_LOG) {
			snprintf(why, len, "vring logging without VHOST_F_LOG_ALL");
			return -EINVAL;
		}
		vr = &p->vr[pl->addr.index];
		vr->addr = pl->addr;
		vr->has_addr = true;
		if (vr->started) {
			vub_ctl_lock(p);
			ret = vub_vring_activate(p, vr, why, len);
			vub_vring_update(p, vr);
			vub_ctl_unlock(p);
		}
		break;
	case VU_REQ_SET_VRING_BASE:
		ret = vub_check_index(p, pl->state.index, why, len);
		if (ret)
			return ret;
		vr = &p->vr[pl->state.index];
		/* Split rings: the next avail index, 16 bits (no packed rings offered). */
		if (pl->state.num > UINT16_MAX) {
			snprintf(why, len, "vring base %u does not fit 16 bits", pl->state.num);
			return -EINVAL;
		}
		if (vr->started) {
			snprintf(why, len, "vring %u base set while running", pl->state.index);
			return -EBUSY;
		}
		vr->base = (uint16_t)pl->state.num;
		break;
	case VU_REQ_GET_VRING_BASE:
		ret = vub_check_index(p, pl->state.index, why, len);
		if (ret)
			return ret;
		vr = &p->vr[pl->state.index];
		vub_vring_stop(p, vr);
		vu_msg_reply_init(&r, m, sizeof(struct vu_vring_state));
		r.payload.state = (struct vu_vring_state){ .index = pl->state.index,
							   .num = vr->base };
		return vu_msg_send(p->sock, &r);
	case VU_REQ_SET_VRING_KICK:
		ret = vub_set_kick(p, m, why, len);
		break;
	case VU_REQ_SET_VRING_CALL:
		ret = vub_set_eventfd(p, m, true, why, len);
		break;
	case VU_REQ_SET_VRING_ERR:
		ret = vub_set_eventfd(p, m, false, why, len);
		break;
	case VU_REQ_SET_VRING_ENABLE:
		/* vhost-user.rst: only with VHOST_USER_F_PROTOCOL_FEATURES negotiated. */
		if (!vub_has_feature(p, VU_F_PROTOCOL_FEATURES)) {
			snprintf(why, len, "SET_VRING_ENABLE without protocol features");
			return -EPROTO;
		}
		ret = vub_check_index(p, pl->state.index, why, len);
		if (ret)
			return ret;
		vr = &p->vr[pl->state.index];
		vub_ctl_lock(p);
		vr->enabled = pl->state.num;
		vub_vring_update(p, vr);
		vub_ctl_unlock(p);
		vub_wake(b);
		break;
	case VU_REQ_SET_BACKEND_REQ_FD:
		if (!vub_has_pfeature(p, VU_PF_BACKEND_REQ)) {
			snprintf(why, len, "SET_BACKEND_REQ_FD: not negotiated");
			return -EOPNOTSUPP;
		}
		return vub_ns_set_chan(p, m);
	case VU_REQ_NETSHM_ATTACH:
	case VU_REQ_NETSHM_DOORBELL:
		/* §1: without bit 48 negotiated, ids 1001.. are unknown requests. */
		if (!vub_has_pfeature(p, VU_PF_NETSHM)) {
			snprintf(why, len, "unknown request %u (netshm not negotiated)",
				 m->hdr.request);
			return -EOPNOTSUPP;
		}
		if (m->hdr.request == VU_REQ_NETSHM_DOORBELL)
			return vub_ns_doorbell(p, m);
		return vub_ns_attach(p, m);
	default:
		/* Everything else needs a feature we never offer (LOG_ALL, CONFIG, MEM_SLOTS...). */
		snprintf(why, len, "%s: not negotiated", ri ? ri->name : "unknown request");
		return -EOPNOTSUPP;
	}
	if (ret)
		return ret;
	if (vub_wants_ack(p, m))
		return vu_msg_send_ack(p->sock, m, 0);
	return 0;
}

int vub_port_handle(struct vub_port *p)
{
	struct vu_msg m;
	char why[192] = "";
	int ret;

	if (p->sock < 0)
		return -ENOTCONN;
	ret = vu_msg_recv_checked(p->sock, VU_FRONT_REQ, &m, why, sizeof(why));
	if (ret == -EAGAIN)
		return ret;
	if (!ret) {
		pr_debug("vmm-switch: port %s: %s%s", p->name, vu_req_name(VU_FRONT_REQ, m.hdr.request),
			 vu_msg_need_reply(&m) ? " (needs reply)" : "");
		ret = vub_dispatch(p, &m, why, sizeof(why));
		vu_msg_close_fds(&m);
		if (ret) {
			/* Tell a front-end that waits for an ack why it is being dropped. */
			if (vub_wants_ack(p, &m) && vu_msg_send_ack(p->sock, &m, 1)) {
				/* The session ends anyway. */
			}
		}
	}
	if (!ret)
		return 0;
	if (ret == -ECONNRESET) {
		pr_info("vmm-switch: port %s: front-end disconnected", p->name);
	} else {
		__atomic_fetch_add(&p->st.refused, 1, __ATOMIC_RELAXED);
		pr_warn("vmm-switch: port %s: session refused: %s (%s)", p->name,
			why[0] ? why : "bad message", strerror(-ret));
	}
	vub_port_disconnect(p);
	return ret;
}

int vub_port_connect(struct vub_port *p, int sock)
{
	if (p->sock >= 0) {
		close(sock);
		return -EBUSY;
	}
	vub_session_reset(p);
	p->sock = sock;
	vub_ctl_lock(p);
	p->connected = true;
	vub_ctl_unlock(p);
	__atomic_fetch_add(&p->st.sessions, 1, __ATOMIC_RELAXED);
	return 0;
}

int vub_port_fd(const struct vub_port *p)
{
	return p->sock;
}

const char *vub_port_name(const struct vub_port *p)
{
	return p->name;
}

unsigned int vub_nports(const struct vub *b)
{
	return vub_nports_acquire(b);
}

struct vub_port *vub_port_at(struct vub *b, unsigned int i)
{
	return i < vub_nports_acquire(b) ? &b->ports[i] : NULL;
}

void vub_port_stats(const struct vub_port *p, struct vub_stats *s)
{
#define VUB_LOAD(f) s->f = __atomic_load_n(&p->st.f, __ATOMIC_RELAXED)
	VUB_LOAD(rx); VUB_LOAD(rx_bytes); VUB_LOAD(tx); VUB_LOAD(tx_bytes); VUB_LOAD(drops);
	VUB_LOAD(flood); VUB_LOAD(malformed); VUB_LOAD(broken); VUB_LOAD(refused);
	VUB_LOAD(sessions);
#undef VUB_LOAD
}

bool vub_port_broken(const struct vub_port *p)
{
	unsigned int i;

	for (i = 0; i < VUB_NVRINGS; i++)
		if (__atomic_load_n(&p->vr[i].broken, __ATOMIC_RELAXED))
			return true;
	return false;
}

unsigned int vub_port_running(const struct vub_port *p)
{
	unsigned int i, n = 0;

	for (i = 0; i < VUB_NVRINGS; i++)
		n += __atomic_load_n(&p->vr[i].run, __ATOMIC_RELAXED);
	return n;
}

int vub_port_add(struct vub *b, const char *name, struct vub_port **out, struct err *e)
{
	unsigned int n = b->nports, i;
	struct vub_port *p;

	if (!name || !name[0] || strlen(name) >= VUB_NAME_MAX)
		return err_set(e, -EINVAL, "port name must be 1..%d characters", VUB_NAME_MAX - 1);
	for (i = 0; i < n; i++)
		if (!strcmp(b->ports[i].name, name))
			return err_set(e, -EINVAL, "port %s is given twice", name);
	if (n >= VUB_MAX_PORTS)
		return err_set(e, -ENOSPC, "at most %d ports", VUB_MAX_PORTS);
	p = &b->ports[n];
	memset(p, 0, sizeof(*p));
	p->b = b;
	p->idx = (uint16_t)n;
	snprintf(p->name, sizeof(p->name), "%s", name);
	pthread_mutex_init(&p->lock, NULL);
	p->sock = -1;
	p->ns_chan = -1;
	p->ns_doorbell = -1;
	for (i = 0; i < VU_MAX_REGIONS; i++)
		p->ns_memfd[i] = -1;
	foreign_init(&p->mem);
	p->hdr_len = sizeof(struct virtio_net_hdr_v1);
	for (i = 0; i < VUB_NVRINGS; i++)
		p->vr[i].kick = p->vr[i].call = p->vr[i].err = -1;
	/* The worker sees the port only after it is complete. */
	__atomic_store_n(&b->nports, n + 1, __ATOMIC_RELEASE);
	*out = p;
	return 0;
}

int vub_create(const struct vub_config *cfg, struct vub **out, struct err *e)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	struct vub *b;

	if (cfg->queue_pairs < 1 || cfg->queue_pairs > VUB_MAX_QP)
		return err_set(e, -EINVAL, "queue pairs must be 1..%d", VUB_MAX_QP);
	b = calloc(1, sizeof(*b));
	if (!b)
		return err_set(e, -ENOMEM, "out of memory");
	b->cfg = *cfg;
	b->features = 1ull << VIRTIO_F_VERSION_1 | 1ull << VU_F_PROTOCOL_FEATURES |
		      1ull << VIRTIO_RING_F_EVENT_IDX | 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	if (cfg->mrg_rxbuf)
		b->features |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
	if (cfg->queue_pairs > 1)
		b->features |= 1ull << VIRTIO_NET_F_MQ;
	b->pfeatures = 1ull << VU_PF_MQ | 1ull << VU_PF_REPLY_ACK;
	vub_fdb_init(&b->fdb, cfg->age_ns);
	if (cfg->netshm_ports) {
		int ret = netshm_region_create(&b->ns, cfg->netshm_ports,
					       cfg->netshm_no_huge ? NETSHM_REGION_NO_HUGE : 0, e);

		if (ret) {
			free(b);
			return ret;
		}
		b->ns_on = true;
		pthread_mutex_init(&b->ns_lock, NULL);
		/* §1: bit 48; PEER_MAP and DOORBELL_MAP need the back-end channel (and REPLY_ACK). */
		b->pfeatures |= 1ull << VU_PF_NETSHM | 1ull << VU_PF_BACKEND_REQ;
	}
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	b->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->epfd < 0 || b->wakefd < 0 ||
	    epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->wakefd, &ev)) {
		int ret = -errno;

		if (b->epfd >= 0)
			close(b->epfd);
		if (b->wakefd >= 0)
			close(b->wakefd);
		if (b->ns_on) {
			netshm_region_destroy(&b->ns);
			pthread_mutex_destroy(&b->ns_lock);
		}
		free(b);
		return err_set(e, ret, "epoll/eventfd: %s", strerror(-ret));
	}
	*out = b;
	return 0;
}

void vub_destroy(struct vub *b)
{
	unsigned int i;

	if (!b)
		return;
	for (i = 0; i < b->nports; i++) {
		vub_port_disconnect(&b->ports[i]);
		vub_session_reset(&b->ports[i]);
		pthread_mutex_destroy(&b->ports[i].lock);
	}
	close(b->epfd);
	close(b->wakefd);
	if (b->ns_on) {
		netshm_region_destroy(&b->ns);
		pthread_mutex_destroy(&b->ns_lock);
	}
	free(b);
}

void vub_netshm_stats(const struct vub *b, struct vub_netshm_stats *s)
{
	struct netshm_region_stats rs = { 0 };

	memset(s, 0, sizeof(*s));
	if (!b->ns_on)
		return;
	netshm_region_stats(&b->ns, &rs);
#define VUB_NS_LOAD(f) s->f = __atomic_load_n(&b->ns_st.f, __ATOMIC_RELAXED)
	VUB_NS_LOAD(attached); VUB_NS_LOAD(attaches); VUB_NS_LOAD(refused);
	VUB_NS_LOAD(peer_maps); VUB_NS_LOAD(peer_unmaps); VUB_NS_LOAD(peer_nacks);
	VUB_NS_LOAD(chan_errors); VUB_NS_LOAD(doorbells); VUB_NS_LOAD(doorbell_regs);
	VUB_NS_LOAD(doorbell_refused); VUB_NS_LOAD(doorbell_maps); VUB_NS_LOAD(doorbell_unmaps);
	VUB_NS_LOAD(doorbell_nacks);
#undef VUB_NS_LOAD
	s->installed = rs.installed;
	s->withdrawn = rs.withdrawn;
	s->full = rs.full;
	s->huge = b->ns.huge;
}
