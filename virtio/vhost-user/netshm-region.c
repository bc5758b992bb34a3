// SPDX-License-Identifier: MIT
/*
 * vhost-user-shmem region, switch side (docs/vhost-user-shmem.md §3). The rules are in
 * netshm-region.h; the one to keep in mind: the region is written here, never read.
 */
#include <linux/memfd.h>	/* MFD_HUGE_2MB; before <sys/mman.h> (which guards its copy) */

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"
#include "virtio/vhost-user/netshm-region.h"

BUILD_BUG_ON(sizeof(struct netshm_entry) != 16);
BUILD_BUG_ON(sizeof(struct netshm_table) > NETSHM_TABLE_STRIDE);
BUILD_BUG_ON(sizeof(struct netshm_hdr) > NETSHM_TABLE_OFF);
BUILD_BUG_ON(NETSHM_TABLE_OFF + NETSHM_MAX_PORTS * NETSHM_TABLE_STRIDE > NETSHM_CTRL_SIZE);
BUILD_BUG_ON(NETSHM_PAIR_BUF_OFF + NETSHM_QSIZE * NETSHM_BUF_SIZE > NETSHM_PAIR_STRIDE);
BUILD_BUG_ON(NETSHM_MAX_PORTS > 255);	/* entry.peer is a byte */

#define NETSHM_SEALS	(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static struct netshm_table *region_table(struct netshm_region *r, unsigned int s)
{
	return (struct netshm_table *)(r->base + NETSHM_TABLE_OFF +
				       (size_t)s * NETSHM_TABLE_STRIDE);
}

static struct netshm_hdr *region_hdr(struct netshm_region *r)
{
	return (struct netshm_hdr *)r->base;
}

/* One attempt: memfd (hugetlb or not), size, seals, mapping. 0 or -errno, nothing left open. */
static int region_alloc(struct netshm_region *r, bool huge, const char **what)
{
	unsigned int fl = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	void *p;
	int fd, ret;

	if (huge)
		fl |= MFD_HUGETLB | MFD_HUGE_2MB;
	*what = "memfd_create";
	fd = memfd_create("vmm-switch-netshm", fl);
	if (fd < 0)
		return -errno;
	*what = "ftruncate";
	if (ftruncate(fd, (off_t)r->size))
		goto fail;
	/* A hugetlb mapping reserves its pages here: ENOMEM when the pool is short. */
	*what = "mmap";
	p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	*what = "F_ADD_SEALS";
	if (fcntl(fd, F_ADD_SEALS, NETSHM_SEALS)) {
		ret = -errno;
		munmap(p, r->size);
		close(fd);
		return ret;
	}
	r->fd = fd;
	r->base = p;
	r->huge = huge;
	return 0;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

int netshm_region_create(struct netshm_region *r, unsigned int nports, unsigned int flags,
			 struct err *e)
{
	struct netshm_hdr *h;
	const char *what = "";
	int ret = -EINVAL;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (nports < 2 || nports > NETSHM_MAX_PORTS)
		return err_set(e, -EINVAL, "netshm needs 2..%d ports, not %u", NETSHM_MAX_PORTS,
			       nports);
	r->nports = nports;
	r->size = NETSHM_REGION_SIZE(nports);
	if (!(flags & NETSHM_REGION_NO_HUGE)) {
		ret = region_alloc(r, true, &what);
		if (ret)
			pr_warn("vmm-switch: netshm region: no 2 MiB hugepages (%s: %s); using a "
				"plain memfd (4 KiB pages, slower fast path)", what,
				strerror(-ret));
	}
	if (ret) {
		ret = region_alloc(r, false, &what);
		if (ret)
			return err_set(e, ret, "netshm region of %llu bytes: %s: %s",
				       (unsigned long long)r->size, what, strerror(-ret));
	}
	/* The file is zero-filled: only the non-zero fields need a store. */
	h = region_hdr(r);
	h->version = NETSHM_VERSION;
	h->nports = nports;
	h->flags = 0;
	h->region_size = r->size;
	h->table_off = NETSHM_TABLE_OFF;
	h->table_stride = NETSHM_TABLE_STRIDE;
	h->pair_off = NETSHM_PAIR_OFF;
	h->pair_stride = NETSHM_PAIR_STRIDE;
	h->qsize = NETSHM_QSIZE;
	h->buf_size = NETSHM_BUF_SIZE;
	/* §3: the magic last, so a reader that sees it sees the rest. */
	__atomic_store_n(&h->magic, NETSHM_HDR_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

void netshm_region_destroy(struct netshm_region *r)
{
	if (r->base)
		munmap(r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
	r->base = NULL;
	r->fd = -1;
}

/* ---- port state ---- */

static void region_put_state(struct netshm_region *r, unsigned int port, uint32_t v)
{
	r->port_state[port] = v;
	__atomic_store_n(&region_hdr(r)->port_state[port], v, __ATOMIC_RELEASE);
}

int netshm_region_port_attach(struct netshm_region *r, unsigned int port, bool peer)
{
	uint32_t epoch;

	if (port >= r->nports)
		return -EINVAL;
	/* Bits 8..31: wraps after 2^24 attaches, which only has to differ from the last one. */
	epoch = (r->port_state[port] >> NETSHM_PORT_EPOCH_SHIFT) + 1;
	region_put_state(r, port, epoch << NETSHM_PORT_EPOCH_SHIFT | NETSHM_PORT_ATTACHED |
			 (peer ? NETSHM_PORT_PEER : 0));
	return 0;
}

void netshm_region_port_detach(struct netshm_region *r, unsigned int port)
{
	if (port >= r->nports)
		return;
	/* Entries first: a guest that sees the port gone finds no entry leading to it. */
	netshm_region_withdraw_peer(r, port);
	netshm_region_withdraw_table(r, port);
	region_put_state(r, port, r->port_state[port] & ~(NETSHM_PORT_ATTACHED | NETSHM_PORT_PEER));
}

bool netshm_region_attached(const struct netshm_region *r, unsigned int port)
{
	return port < r->nports && (r->port_state[port] & NETSHM_PORT_ATTACHED);
}

uint32_t netshm_region_port_state(const struct netshm_region *r, unsigned int port)
{
	return port < r->nports ? r->port_state[port] : 0;
}

/* ---- flow tables ---- */

#define STAT_INC(r, f) __atomic_store_n(&(r)->st.f, (r)->st.f + 1, __ATOMIC_RELAXED)

/* Seqlock write of entry i of table s from the shadow (spec §3 "Flow tables", rule 1). */
static void table_store_entry(struct netshm_region *r, unsigned int s, unsigned int i)
{
	struct netshm_shadow_table *st = &r->t[s];
	struct netshm_shadow_entry *se = &st->e[i];
	struct netshm_entry *e = &region_table(r, s)->e[i];
	unsigned int k;

	se->seq++;		/* odd: readers retry */
	__atomic_store_n(&e->seq, se->seq, __ATOMIC_RELAXED);
	/* The odd seq must be visible before any field changes (StoreStore). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (k = 0; k < 6; k++)
		__atomic_store_n(&e->mac[k], se->mac[k], __ATOMIC_RELAXED);
	__atomic_store_n(&e->peer, se->peer, __ATOMIC_RELAXED);
	__atomic_store_n(&e->flags, se->valid ? NETSHM_ENTRY_VALID : 0, __ATOMIC_RELAXED);
	__atomic_store_n(&e->reserved, 0, __ATOMIC_RELAXED);
	se->seq++;		/* even: the fields above are complete */
	__atomic_store_n(&e->seq, se->seq, __ATOMIC_RELEASE);
	if (i + 1 > st->count) {
		st->count = i + 1;
		__atomic_store_n(&region_table(r, s)->count, st->count, __ATOMIC_RELAXED);
	}
}

/* Rule 2: one gen step after a call's changes (count was stored before it). */
static void table_bump(struct netshm_region *r, unsigned int s)
{
	struct netshm_table *t = region_table(r, s);

	r->t[s].gen++;
	__atomic_store_n(&t->gen, r->t[s].gen, __ATOMIC_RELEASE);
}

static int table_find(const struct netshm_shadow_table *st, const uint8_t *mac)
{
	unsigned int i;

	for (i = 0; i < st->count; i++)
		if (st->e[i].valid && !memcmp(st->e[i].mac, mac, 6))
			return (int)i;
	return -1;
}

static bool mac_usable(const uint8_t *mac)
{
	static const uint8_t zero[6];

	/* IEEE 802: the I/G bit marks group addresses; those always go through the switch. */
	return !(mac[0] & 1) && memcmp(mac, zero, 6);
}

int netshm_region_install(struct netshm_region *r, unsigned int s, const uint8_t *mac,
			  unsigned int peer)
{
	struct netshm_shadow_table *st;
	int i;

	if (s >= r->nports || peer >= r->nports || s == peer || !mac_usable(mac))
		return -EINVAL;
	if (!netshm_region_attached(r, s) || !netshm_region_attached(r, peer))
		return -ENOENT;
	st = &r->t[s];
	i = table_find(st, mac);
	if (i >= 0 && st->e[i].peer == peer)
		return 0;
	if (i < 0) {
		for (i = 0; i < NETSHM_MAX_ENTRIES && st->e[i].valid; i++)
			;
		if (i == NETSHM_MAX_ENTRIES) {
			STAT_INC(r, full);
			return -ENOSPC;
		}
		memcpy(st->e[i].mac, mac, 6);
		st->e[i].valid = true;
	}
	st->e[i].peer = (uint8_t)peer;
	table_store_entry(r, s, (unsigned int)i);
	table_bump(r, s);
	STAT_INC(r, installed);
	return 0;
}

static void table_clear(struct netshm_region *r, unsigned int s, unsigned int i)
{
	r->t[s].e[i].valid = false;
	table_store_entry(r, s, i);
	STAT_INC(r, withdrawn);
}

int netshm_region_withdraw(struct netshm_region *r, unsigned int s, const uint8_t *mac)
{
	int i;

	if (s >= r->nports)
		return 0;
	i = table_find(&r->t[s], mac);
	if (i < 0)
		return 0;
	table_clear(r, s, (unsigned int)i);
	table_bump(r, s);
	return 1;
}

unsigned int netshm_region_withdraw_peer(struct netshm_region *r, unsigned int peer)
{
	unsigned int s, i, n = 0, here;

	for (s = 0; s < r->nports; s++) {
		here = 0;
		for (i = 0; i < r->t[s].count; i++) {
			if (r->t[s].e[i].valid && r->t[s].e[i].peer == peer) {
				table_clear(r, s, i);
				here++;
			}
		}
		if (here)
			table_bump(r, s);
		n += here;
	}
	return n;
}

unsigned int netshm_region_withdraw_table(struct netshm_region *r, unsigned int s)
{
	unsigned int i, n = 0;

	if (s >= r->nports)
		return 0;
	for (i = 0; i < r->t[s].count; i++) {
		if (r->t[s].e[i].valid) {
			table_clear(r, s, i);
			n++;
		}
	}
	if (n)
		table_bump(r, s);
	return n;
}

bool netshm_region_entry(const struct netshm_region *r, unsigned int s, unsigned int i,
			 uint8_t *mac, unsigned int *peer)
{
	const struct netshm_shadow_entry *se;

	if (s >= r->nports || i >= NETSHM_MAX_ENTRIES)
		return false;
	se = &r->t[s].e[i];
	if (!se->valid)
		return false;
	memcpy(mac, se->mac, 6);
	*peer = se->peer;
	return true;
}

void netshm_region_stats(const struct netshm_region *r, struct netshm_region_stats *st)
{
	st->installed = __atomic_load_n(&r->st.installed, __ATOMIC_RELAXED);
	st->withdrawn = __atomic_load_n(&r->st.withdrawn, __ATOMIC_RELAXED);
	st->full = __atomic_load_n(&r->st.full, __ATOMIC_RELAXED);
}
