// SPDX-License-Identifier: MIT
/*
 * virtio/vhost-user/backend.c: the session state machine driven by a fake front-end on a
 * socketpair (its "guest memory" is a memfd it shares through SET_MEM_TABLE, its rings are
 * written here by hand), hostile messages and rings, and the learning switch (forward, flood,
 * learn, age) with the data path run in this thread.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/fds.h"
#include "virtio/vhost-user/backend.h"
#include "virtio/vhost-user/msg.h"

#define MEM_SIZE	0x100000ull		/* 1 MiB of "guest RAM" per front-end */
#define GPA_BASE	0x40000000ull
#define QSIZE		64
#define BUF_LEN		2048
#define NFE		3
#define SEC		1000000000ull

/* Rings of queue q at GPA_BASE + 0x10000 * (q + 1): desc, avail + 0x1000, used + 0x2000. */
struct fq {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx, last_used, next_desc;
};

struct fe {
	struct vub_port *p;
	int sock;			/* our end */
	int memfd;
	uint8_t *mem;
	uint64_t ua;			/* the "front-end virtual address" of GPA_BASE */
	uint8_t mac[6];
	struct fq q[2];
	int kick[2], call[2], err[2];
	uint64_t data;			/* bump allocator offset in mem */
};

static struct vub *b;
static struct fe fe[NFE];
static uint64_t now;

static uint64_t qbase(unsigned int q)
{
	return 0x10000ull * (q + 1);
}

static void *gptr(struct fe *f, uint64_t off)
{
	return f->mem + off;
}

/* ---- the fake front-end's side of the protocol ---- */

static int fe_send(struct fe *f, uint32_t req, const void *pl, uint32_t size, const int *fds,
		   unsigned int nfds, bool need_reply)
{
	struct vu_msg m;

	vu_msg_init(&m, req, size);
	if (pl)
		memcpy(&m.payload, pl, size);
	if (need_reply)
		m.hdr.flags |= VU_FLAG_NEED_REPLY;
	for (m.nfds = 0; m.nfds < nfds; m.nfds++)
		m.fds[m.nfds] = fds[m.nfds];
	cr_assert_eq(vu_msg_send(f->sock, &m), 0);
	return vub_port_handle(f->p);
}

static void fe_reply(struct fe *f, struct vu_msg *r)
{
	char why[128];

	cr_assert_eq(vu_msg_recv(f->sock, r, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(vu_msg_check(r, VU_BACK_REPLY, why, sizeof(why)), 0, "%s", why);
}

static uint64_t fe_get_u64(struct fe *f, uint32_t req)
{
	struct vu_msg r;

	cr_assert_eq(fe_send(f, req, NULL, 0, NULL, 0, false), 0);
	fe_reply(f, &r);
	return r.payload.u64;
}

static void fe_ok(struct fe *f, uint32_t req, const void *pl, uint32_t size, const int *fds,
		  unsigned int nfds)
{
	struct vu_msg r;
	int ret = fe_send(f, req, pl, size, fds, nfds, true);

	cr_assert_eq(ret, 0, "%s refused: %d", vu_req_name(VU_FRONT_REQ, req), ret);
	fe_reply(f, &r);
	cr_assert_eq(r.payload.u64, 0, "%s nacked", vu_req_name(VU_FRONT_REQ, req));
}

static void fe_state(struct fe *f, uint32_t req, uint32_t idx, uint32_t num)
{
	struct vu_vring_state s = { .index = idx, .num = num };

	fe_ok(f, req, &s, sizeof(s), NULL, 0);
}

static struct vu_vring_addr fe_addr(struct fe *f, unsigned int q)
{
	return (struct vu_vring_addr){
		.index = q,
		.desc = f->ua + qbase(q),
		.avail = f->ua + qbase(q) + 0x1000,
		.used = f->ua + qbase(q) + 0x2000,
	};
}

static void fe_mem_table(struct fe *f)
{
	struct vu_mem mem = { .nregions = 1 };
	int fd = dup(f->memfd);

	mem.regions[0] = (struct vu_mem_region){ .guest_addr = GPA_BASE, .size = MEM_SIZE,
						 .user_addr = f->ua, .mmap_offset = 0 };
	fe_ok(f, VU_REQ_SET_MEM_TABLE, &mem, 8 + sizeof(mem.regions[0]), &fd, 1);
	close(fd);
}

static void fe_features(struct fe *f, uint64_t extra)
{
	uint64_t feat = fe_get_u64(f, VU_REQ_GET_FEATURES), want;
	uint64_t pf = 1ull << VU_PF_REPLY_ACK;

	cr_assert(feat & (1ull << VU_F_PROTOCOL_FEATURES));
	cr_assert(feat & (1ull << VIRTIO_F_VERSION_1));
	cr_assert_eq(fe_send(f, VU_REQ_SET_OWNER, NULL, 0, NULL, 0, false), 0);
	cr_assert(fe_get_u64(f, VU_REQ_GET_PROTOCOL_FEATURES) & pf);
	cr_assert_eq(fe_send(f, VU_REQ_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0, false), 0);
	want = 1ull << VIRTIO_F_VERSION_1 | 1ull << VU_F_PROTOCOL_FEATURES | extra;
	fe_ok(f, VU_REQ_SET_FEATURES, &want, 8, NULL, 0);
}

static void fe_ring(struct fe *f, unsigned int q)
{
	struct vu_vring_addr a = fe_addr(f, q);
	uint64_t u;

	fe_state(f, VU_REQ_SET_VRING_NUM, q, QSIZE);
	fe_state(f, VU_REQ_SET_VRING_BASE, q, 0);
	fe_ok(f, VU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	u = q;
	fe_ok(f, VU_REQ_SET_VRING_CALL, &u, 8, &f->call[q], 1);
	fe_ok(f, VU_REQ_SET_VRING_ERR, &u, 8, &f->err[q], 1);
	fe_ok(f, VU_REQ_SET_VRING_KICK, &u, 8, &f->kick[q], 1);
	fe_state(f, VU_REQ_SET_VRING_ENABLE, q, 1);
}

static void fe_connect(struct fe *f)
{
	int sv[2];

	struct timeval tv = { .tv_sec = 2 };

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* A reply that never comes fails the test instead of hanging it. */
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	f->sock = sv[0];
	cr_assert_eq(vub_port_connect(f->p, sv[1]), 0);
	memset(f->mem, 0, MEM_SIZE);
	memset(f->q, 0, sizeof(f->q));
	f->data = 0x80000;
}

static void fe_up(struct fe *f, uint64_t extra)
{
	fe_connect(f);
	fe_features(f, extra);
	fe_mem_table(f);
	fe_ring(f, 0);
	fe_ring(f, 1);
	cr_assert_eq(vub_port_running(f->p), 2);
}

/* ---- the fake front-end's "guest driver" ---- */

static void fq_bind(struct fe *f, unsigned int q)
{
	f->q[q].desc = gptr(f, qbase(q));
	f->q[q].avail = gptr(f, qbase(q) + 0x1000);
	f->q[q].used = gptr(f, qbase(q) + 0x2000);
}

static uint16_t fq_post(struct fe *f, unsigned int q, uint64_t off, uint32_t len, bool write)
{
	struct fq *r = &f->q[q];
	uint16_t d = r->next_desc++ % QSIZE;

	if (!r->desc)
		fq_bind(f, q);
	r->desc[d] = (struct vring_desc){ .addr = GPA_BASE + off, .len = len,
					  .flags = write ? VRING_DESC_F_WRITE : 0 };
	r->avail->ring[r->avail_idx % QSIZE] = d;
	__atomic_store_n(&r->avail->idx, ++r->avail_idx, __ATOMIC_RELEASE);
	return d;
}

static int fq_used(struct fe *f, unsigned int q, uint32_t *id, uint32_t *len)
{
	struct fq *r = &f->q[q];
	struct vring_used_elem *e;

	if (!r->used)
		fq_bind(f, q);
	if (__atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE) == r->last_used)
		return 0;
	e = &r->used->ring[r->last_used++ % QSIZE];
	*id = e->id;
	*len = e->len;
	return 1;
}

static uint64_t fe_alloc(struct fe *f, uint32_t len)
{
	uint64_t off = f->data;

	f->data += (len + 63) & ~63u;
	cr_assert_leq(f->data, MEM_SIZE);
	return off;
}

static void fe_post_rx(struct fe *f, unsigned int n, uint32_t len)
{
	while (n--)
		fq_post(f, 0, fe_alloc(f, len), len, true);
}

/* A frame with a 12-byte vnet header; `tag` fills the payload. */
static void fe_send_frame(struct fe *f, const uint8_t *dst, uint32_t payload, uint8_t tag)
{
	uint32_t len = 12 + 14 + payload;
	uint64_t off = fe_alloc(f, len);
	uint8_t *p = gptr(f, off);

	memset(p, 0, 12);
	memcpy(p + 12, dst, 6);
	memcpy(p + 18, f->mac, 6);
	p[24] = 0x08;
	p[25] = 0x00;
	memset(p + 26, tag, payload);
	fq_post(f, 1, off, len, false);
}

/* Next received frame of f: 1 and its tag/length, 0 if none. */
static int fe_recv(struct fe *f, uint8_t *tag, uint32_t *frame_len, uint8_t *src)
{
	uint32_t id, len;
	const uint8_t *p;

	if (!fq_used(f, 0, &id, &len))
		return 0;
	p = gptr(f, f->q[0].desc[id].addr - GPA_BASE);
	cr_assert_geq(len, 12 + 14);
	cr_expect_eq(((const struct virtio_net_hdr_v1 *)p)->num_buffers, 1);
	*frame_len = len - 12;
	if (src)
		memcpy(src, p + 18, 6);
	*tag = len > 26 ? p[26] : 0;
	return 1;
}

static unsigned int fe_drain(struct fe *f)
{
	unsigned int n = 0;
	uint32_t len;
	uint8_t tag;

	while (fe_recv(f, &tag, &len, NULL))
		n++;
	return n;
}

static void setup(void)
{
	struct vub_config cfg = { .queue_pairs = 1, .age_ns = 10 * SEC };
	struct err e = { 0 };
	unsigned int i;

	cr_assert_eq(vub_create(&cfg, &b, &e), 0, "%s", e.msg);
	now = 1000 * SEC;
	for (i = 0; i < NFE; i++) {
		struct fe *f = &fe[i];
		char name[8];
		unsigned int q;

		memset(f, 0, sizeof(*f));
		snprintf(name, sizeof(name), "p%u", i);
		cr_assert_eq(vub_port_add(b, name, &f->p, &e), 0, "%s", e.msg);
		f->memfd = memfd_create("fe", MFD_CLOEXEC);
		cr_assert_geq(f->memfd, 0);
		cr_assert_eq(ftruncate(f->memfd, MEM_SIZE), 0);
		f->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
		cr_assert_neq(f->mem, MAP_FAILED);
		f->ua = 0x7f0000000000ull + i * 0x10000000ull;
		memcpy(f->mac, (uint8_t[6]){ 0x52, 0x54, 0, 0, 0, (uint8_t)(i + 1) }, 6);
		for (q = 0; q < 2; q++) {
			f->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			f->call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			f->err[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		}
		f->sock = -1;
	}
}

static void teardown(void)
{
	unsigned int i, q;

	vub_destroy(b);
	for (i = 0; i < NFE; i++) {
		if (fe[i].sock >= 0)
			close(fe[i].sock);
		munmap(fe[i].mem, MEM_SIZE);
		close(fe[i].memfd);
		for (q = 0; q < 2; q++) {
			close(fe[i].kick[q]);
			close(fe[i].call[q]);
			close(fe[i].err[q]);
		}
	}
}

static struct vub_stats stats(struct fe *f)
{
	struct vub_stats s;

	vub_port_stats(f->p, &s);
	return s;
}

static uint64_t efd_read(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* Forwarding still works between two live front-ends (the rest of the switch is unharmed). */
static void expect_forwarding(struct fe *a, struct fe *c)
{
	uint8_t tag;
	uint32_t len;

	fe_post_rx(c, 1, BUF_LEN);
	fe_send_frame(a, c->mac, 50, 0x77);
	vub_poll(b, now);
	cr_assert_eq(fe_recv(c, &tag, &len, NULL), 1, "frame reached the other port");
	cr_expect_eq(tag, 0x77);
	cr_expect_eq(len, 64);
}

TestSuite(vu_backend, .init = setup, .fini = teardown);

/* ---- the learning switch ---- */

Test(vu_backend, unknown_unicast_is_flooded_then_learnt_and_forwarded)
{
	uint8_t tag, src[6];
	uint32_t len;
	unsigned int i;

	for (i = 0; i < NFE; i++) {
		fe_up(&fe[i], 0);
		fe_post_rx(&fe[i], 8, BUF_LEN);
	}
	/* p0 -> p1's MAC: unknown, so p1 and p2 both get it; p0 does not. */
	fe_send_frame(&fe[0], fe[1].mac, 100, 0xa1);
	cr_expect_eq(vub_poll(b, now), 1);
	cr_assert_eq(fe_recv(&fe[1], &tag, &len, src), 1);
	cr_expect_eq(tag, 0xa1);
	cr_expect_eq(len, 14 + 100);
	cr_expect_arr_eq(src, fe[0].mac, 6);
	cr_expect_eq(fe_drain(&fe[2]), 1, "flooded");
	cr_expect_eq(fe_drain(&fe[0]), 0, "never back to the sender");
	cr_expect_eq(stats(&fe[0]).flood, 1);
	cr_expect_eq(stats(&fe[0]).rx, 1);
	cr_expect_eq(stats(&fe[1]).tx, 1);
	cr_expect_eq(efd_read(fe[1].call[0]), 1, "RX interrupt");
	cr_expect_eq(efd_read(fe[0].call[1]), 1, "TX completion interrupt");

	/* p1 answers p0: p0's MAC was learnt, so only p0 gets it. */
	fe_send_frame(&fe[1], fe[0].mac, 60, 0xb2);
	cr_expect_eq(vub_poll(b, now + SEC), 1);
	cr_assert_eq(fe_recv(&fe[0], &tag, &len, NULL), 1);
	cr_expect_eq(tag, 0xb2);
	cr_expect_eq(fe_drain(&fe[2]), 0, "not flooded: learnt");
	cr_expect_eq(stats(&fe[1]).flood, 0);

	/* And now p1 is known too: p0 -> p1 goes to p1 alone. */
	fe_send_frame(&fe[0], fe[1].mac, 60, 0xc3);
	vub_poll(b, now + 2 * SEC);
	cr_expect_eq(fe_drain(&fe[1]), 1);
	cr_expect_eq(fe_drain(&fe[2]), 0);
	/* TX chains come back with len 0. */
	{
		uint32_t id, l, n = 0;

		while (fq_used(&fe[0], 1, &id, &l)) {
			cr_expect_eq(l, 0);
			n++;
		}
		cr_expect_eq(n, 2);
	}
}

Test(vu_backend, broadcast_is_flooded_to_every_other_port)
{
	unsigned int i;

	for (i = 0; i < NFE; i++) {
		fe_up(&fe[i], 0);
		fe_post_rx(&fe[i], 4, BUF_LEN);
	}
	fe_send_frame(&fe[2], (uint8_t[6]){ 0x52, 0x54, 0, 0, 0, 0x99 }, 20, 1);	/* unknown */
	fe_send_frame(&fe[0], bcast, 20, 2);
	fe_send_frame(&fe[0], (uint8_t[6]){ 0x01, 0x00, 0x5e, 0, 0, 1 }, 20, 3);	/* multicast */
	vub_poll(b, now);
	cr_expect_eq(stats(&fe[0]).rx, 2);
	cr_expect_eq(stats(&fe[2]).rx, 1);
	cr_expect_eq(stats(&fe[1]).drops, 0);
	cr_expect_eq(stats(&fe[1]).tx, 3);
	cr_expect_eq(fe_drain(&fe[1]), 3);
	cr_expect_eq(fe_drain(&fe[2]), 2);
	cr_expect_eq(fe_drain(&fe[0]), 1);
	cr_expect_eq(stats(&fe[0]).flood, 2);
}

Test(vu_backend, aged_entry_is_forgotten_and_flooded_again)
{
	unsigned int i;

	for (i = 0; i < NFE; i++) {
		fe_up(&fe[i], 0);
		fe_post_rx(&fe[i], 8, BUF_LEN);
	}
	fe_send_frame(&fe[1], bcast, 20, 1);		/* learn p1 at `now` */
	vub_poll(b, now);
	fe_drain(&fe[0]);
	fe_drain(&fe[2]);
	fe_send_frame(&fe[0], fe[1].mac, 20, 2);
	vub_poll(b, now + 9 * SEC);			/* ageing time is 10 s */
	cr_expect_eq(fe_drain(&fe[2]), 0, "still learnt");
	cr_expect_eq(fe_drain(&fe[1]), 1);
	fe_send_frame(&fe[0], fe[1].mac, 20, 3);
	vub_poll(b, now + 11 * SEC);
	cr_expect_eq(fe_drain(&fe[2]), 1, "aged: flooded");
	cr_expect_eq(fe_drain(&fe[1]), 1);
}

Test(vu_backend, fdb_learns_ignores_group_and_zero_macs_and_ages)
{
	static struct vub_fdb t;
	const uint8_t m1[6] = { 2, 0, 0, 0, 0, 1 }, zero[6] = { 0 };
	uint16_t port;
	uint32_t gen;

	vub_fdb_init(&t, 5 * SEC);
	vub_fdb_learn(&t, bcast, 1, 0, now);
	vub_fdb_learn(&t, zero, 1, 0, now);
	cr_expect_eq(vub_fdb_lookup(&t, bcast, now, &port, &gen), 0);
	cr_expect_eq(vub_fdb_lookup(&t, zero, now, &port, &gen), 0);
	vub_fdb_learn(&t, m1, 3, 7, now);
	cr_assert_eq(vub_fdb_lookup(&t, m1, now + 4 * SEC, &port, &gen), 1);
	cr_expect_eq(port, 3);
	cr_expect_eq(gen, 7);
	vub_fdb_learn(&t, m1, 4, 8, now + SEC);		/* moved */
	cr_assert_eq(vub_fdb_lookup(&t, m1, now + 2 * SEC, &port, &gen), 1);
	cr_expect_eq(port, 4);
	cr_expect_eq(vub_fdb_lookup(&t, m1, now + 6 * SEC, &port, &gen), 0, "aged");
}

Test(vu_backend, fdb_full_bucket_evicts_the_oldest_entry)
{
	static struct vub_fdb t;
	uint8_t mac[6] = { 2, 0, 0, 0, 0, 0 };
	unsigned int i, found = 0;
	uint16_t port;
	uint32_t gen;

	vub_fdb_init(&t, 1000 * SEC);
	/* Many more MACs than slots: the table never grows, the newest are found. */
	for (i = 0; i < 4 * VUB_FDB_SIZE; i++) {
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		mac[3] = (uint8_t)(i >> 16);
		vub_fdb_learn(&t, mac, (uint16_t)(i % 7), 0, now + i);
	}
	for (i = 4 * VUB_FDB_SIZE - 64; i < 4 * VUB_FDB_SIZE; i++) {
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		mac[3] = (uint8_t)(i >> 16);
		found += vub_fdb_lookup(&t, mac, now + i, &port, &gen);
	}
	cr_expect_eq(found, 64);
}

Test(vu_backend, frame_for_a_port_without_rx_buffers_is_dropped_and_counted)
{
	fe_up(&fe[0], 0);
	fe_up(&fe[1], 0);
	fe_send_frame(&fe[0], fe[1].mac, 40, 1);
	vub_poll(b, now);
	cr_expect_eq(stats(&fe[1]).drops, 1);
	cr_expect_eq(stats(&fe[1]).tx, 0);
	fe_post_rx(&fe[1], 1, 32);			/* too small for 12 + 54 bytes */
	fe_send_frame(&fe[0], fe[1].mac, 40, 2);
	vub_poll(b, now);
	cr_expect_eq(stats(&fe[1]).drops, 2);
	cr_expect_eq(fe_drain(&fe[1]), 0, "the small buffer stays with the driver");
	fe_send_frame(&fe[0], fe[1].mac, 4, 3);		/* 12 + 18 bytes fit */
	vub_poll(b, now);
	cr_expect_eq(fe_drain(&fe[1]), 1);
	cr_expect_eq(stats(&fe[1]).tx, 1);
}

Test(vu_backend, mrg_rxbuf_spreads_a_frame_over_several_chains)
{
	uint32_t id, len, total = 0;
	const struct virtio_net_hdr_v1 *h;
	unsigned int n = 0;

	vub_destroy(b);
	{
		struct vub_config cfg = { .queue_pairs = 1, .mrg_rxbuf = true };
		struct err e = { 0 };

		cr_assert_eq(vub_create(&cfg, &b, &e), 0);
		cr_assert_eq(vub_port_add(b, "p0", &fe[0].p, &e), 0);
		cr_assert_eq(vub_port_add(b, "p1", &fe[1].p, &e), 0);
		cr_assert_eq(vub_port_add(b, "p2", &fe[2].p, &e), 0);
	}
	fe_up(&fe[0], 1ull << VIRTIO_NET_F_MRG_RXBUF);
	fe_up(&fe[1], 1ull << VIRTIO_NET_F_MRG_RXBUF);
	fe_post_rx(&fe[1], 4, 512);
	fe_send_frame(&fe[0], fe[1].mac, 1000, 0x42);		/* 12 + 1014 bytes: 3 chains */
	vub_poll(b, now);
	while (fq_used(&fe[1], 0, &id, &len)) {
		if (!n) {
			h = gptr(&fe[1], fe[1].q[0].desc[id].addr - GPA_BASE);
			cr_expect_eq(h->num_buffers, 3);
		}
		total += len;
		n++;
	}
	cr_expect_eq(n, 3);
	cr_expect_eq(total, 12 + 14 + 1000);
}

/* ---- guest mistakes in the data path ---- */

Test(vu_backend, short_tx_frame_is_malformed_and_returned)
{
	uint32_t id, len;
	uint64_t off;

	fe_up(&fe[0], 0);
	fe_up(&fe[1], 0);
	fe_post_rx(&fe[1], 2, BUF_LEN);
	off = fe_alloc(&fe[0], 20);
	fq_post(&fe[0], 1, off, 20, false);		/* 12 + 8: no Ethernet header */
	off = fe_alloc(&fe[0], 100);
	fq_post(&fe[0], 1, off, 100, true);		/* device-writable on TX */
	vub_poll(b, now);
	cr_expect_eq(stats(&fe[0]).malformed, 2);
	cr_expect_eq(stats(&fe[0]).rx, 0);
	cr_expect_eq(fe_drain(&fe[1]), 0, "nothing reached the peer");
	cr_assert_eq(fq_used(&fe[0], 1, &id, &len), 1);
	cr_expect_eq(len, 0);
	cr_expect_not(vub_port_broken(fe[0].p));
	expect_forwarding(&fe[0], &fe[1]);
}

Test(vu_backend, read_only_rx_buffer_is_malformed_on_the_receiver)
{
	fe_up(&fe[0], 0);
	fe_up(&fe[1], 0);
	fq_post(&fe[1], 0, fe_alloc(&fe[1], BUF_LEN), BUF_LEN, false);
	fe_send_frame(&fe[0], fe[1].mac, 40, 1);
	vub_poll(b, now);
	cr_expect_eq(stats(&fe[1]).malformed, 1);
	cr_expect_eq(stats(&fe[1]).tx, 0);
	{
		uint32_t id, len;

		cr_assert_eq(fq_used(&fe[1], 0, &id, &len), 1, "the bad chain is returned");
		cr_expect_eq(len, 0);
	}
	expect_forwarding(&fe[0], &fe[1]);
}

Test(vu_backend, tx_head_out_of_range_breaks_only_that_port)
{
	struct fq *r;

	fe_up(&fe[0], 0);
	fe_up(&fe[1], 0);
	fe_up(&fe[2], 0);
	fe_post_rx(&fe[0], 2, BUF_LEN);
	fe_send_frame(&fe[0], fe[1].mac, 20, 1);	/* binds the ring */
	vub_poll(b, now);
	r = &fe[0].q[1];
	r->avail->ring[r->avail_idx % QSIZE] = QSIZE;	/* head == size */
	__atomic_store_n(&r->avail->idx, ++r->avail_idx, __ATOMIC_RELEASE);
	vub_poll(b, now);
	cr_expect(vub_port_broken(fe[0].p));
	cr_expect_eq(stats(&fe[0]).broken, 1);
	cr_expect_eq(efd_read(fe[0].err[1]), 1, "error eventfd signalled");
	/* A broken port neither sends nor receives, the others go on. */
	fe_send_frame(&fe[0], fe[1].mac, 20, 2);
	vub_poll(b, now);
	cr_expect_eq(stats(&fe[0]).rx, 1);
	expect_forwarding(&fe[1], &fe[2]);
	fe_send_frame(&fe[1], fe[0].mac, 20, 3);
	vub_poll(b, now);
	cr_expect_eq(fe_drain(&fe[0]), 0);
	cr_expect_eq(vub_port_fd(fe[0].p) >= 0, true, "session kept: the front-end may restart");
}

Test(vu_backend, descriptor_loop_breaks_the_port_and_a_ring_restart_repairs_it)
{
	struct vu_vring_state s = { .index = 1 };
	struct vu_msg r;
	struct fq *q;
	uint64_t u = 1;
	int kick = eventfd(0, EFD_CLOEXEC);

	fe_up(&fe[0], 0);
	fe_up(&fe[1], 0);
	fe_send_frame(&fe[0], fe[1].mac, 20, 1);
	vub_poll(b, now);
	q = &fe[0].q[1];
	q->desc[5] = (struct vring_desc){ .addr = GPA_BASE + 0x80000, .len = 64,
					  .flags = VRING_DESC_F_NEXT, .next = 6 };
	q->desc[6] = (struct vring_desc){ .addr = GPA_BASE + 0x80000, .len = 64,
					  .flags = VRING_DESC_F_NEXT, .next = 5 };
	q->avail->ring[q->avail_idx % QSIZE] = 5;
	__atomic_store_n(&q->avail->idx, ++q->avail_idx, __ATOMIC_RELEASE);
	vub_poll(b, now);
	cr_assert(vub_port_broken(fe[0].p));

	/* The front-end stops the ring (GET_VRING_BASE), skips the bad entry and restarts. */
	cr_assert_eq(fe_send(&fe[0], VU_REQ_GET_VRING_BASE, &s, sizeof(s), NULL, 0, false), 0);
	fe_reply(&fe[0], &r);
	cr_expect_eq(r.payload.state.index, 1);
	cr_expect_eq(r.payload.state.num, 2, "stopped after the broken chain");
	cr_expect_not(vub_port_broken(fe[0].p));
	fe_state(&fe[0], VU_REQ_SET_VRING_BASE, 1, 2);
	q->last_used = 2;
	__atomic_store_n(&q->used->idx, 2, __ATOMIC_RELEASE);
	fe_ok(&fe[0], VU_REQ_SET_VRING_KICK, &u, 8, &kick, 1);
	close(kick);
	fe_post_rx(&fe[1], 1, BUF_LEN);
	fe_send_frame(&fe[0], fe[1].mac, 20, 9);
	vub_poll(b, now);
	cr_expect_eq(fe_drain(&fe[1]), 1, "the restarted ring forwards again");
}

/* ---- hostile or broken sessions ---- */

static void expect_refused(struct fe *f, int ret)
{
	cr_expect_lt(ret, 0);
	cr_expect_eq(vub_port_fd(f->p), -1, "session ended");
	cr_expect_eq(vub_port_running(f->p), 0);
	cr_expect_geq(stats(f).refused, 1);
	close(f->sock);
	f->sock = -1;
}

Test(vu_backend, memory_table_with_an_eventfd_is_refused_and_the_switch_keeps_running)
{
	struct vu_mem mem = { .nregions = 1 };
	int fd = eventfd(0, EFD_CLOEXEC);
	unsigned int before;

	fe_up(&fe[1], 0);
	fe_up(&fe[2], 0);
	fe_connect(&fe[0]);
	fe_features(&fe[0], 0);
	before = count_fds();
	mem.regions[0] = (struct vu_mem_region){ .guest_addr = GPA_BASE, .size = MEM_SIZE,
						 .user_addr = fe[0].ua };
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_SET_MEM_TABLE, &mem,
					8 + sizeof(mem.regions[0]), &fd, 1, true));
	close(fd);
	cr_expect_eq(count_fds(), before - 3, "received fd, session socket (and ours) closed");
	expect_forwarding(&fe[1], &fe[2]);
}

Test(vu_backend, memory_table_larger_than_its_file_is_refused)
{
	struct vu_mem mem = { .nregions = 1 };
	int fd = dup(fe[0].memfd);

	fe_connect(&fe[0]);
	fe_features(&fe[0], 0);
	mem.regions[0] = (struct vu_mem_region){ .guest_addr = GPA_BASE, .size = 2 * MEM_SIZE,
						 .user_addr = fe[0].ua };
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_SET_MEM_TABLE, &mem,
					8 + sizeof(mem.regions[0]), &fd, 1, true));
	close(fd);
}

Test(vu_backend, ring_outside_the_memory_table_is_refused_at_kick)
{
	struct vu_vring_addr a;
	uint64_t u = 1;
	int ret;

	fe_connect(&fe[0]);
	fe_features(&fe[0], 0);
	fe_mem_table(&fe[0]);
	fe_state(&fe[0], VU_REQ_SET_VRING_NUM, 1, QSIZE);
	a = fe_addr(&fe[0], 1);
	a.used = fe[0].ua + MEM_SIZE - 16;		/* the used ring runs past the end */
	fe_ok(&fe[0], VU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	ret = fe_send(&fe[0], VU_REQ_SET_VRING_KICK, &u, 8, &fe[0].kick[1], 1, true);
	expect_refused(&fe[0], ret);
}

Test(vu_backend, ring_address_not_in_any_region_is_refused)
{
	struct vu_vring_addr a;
	uint64_t u = 0;

	fe_connect(&fe[0]);
	fe_features(&fe[0], 0);
	fe_mem_table(&fe[0]);
	fe_state(&fe[0], VU_REQ_SET_VRING_NUM, 0, QSIZE);
	a = fe_addr(&fe[0], 0);
	a.desc = GPA_BASE + qbase(0);		/* a guest address, not a user address */
	fe_ok(&fe[0], VU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_SET_VRING_KICK, &u, 8, &fe[0].kick[0], 1,
				       false));
}

Test(vu_backend, vring_index_out_of_range_is_refused)
{
	struct vu_vring_state s = { .index = 2, .num = QSIZE };	/* 1 queue pair: rings 0, 1 */

	fe_up(&fe[1], 0);
	fe_up(&fe[2], 0);
	fe_connect(&fe[0]);
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_SET_VRING_NUM, &s, sizeof(s), NULL, 0,
				       false));
	fe_connect(&fe[0]);
	s.index = 0x80000000u;
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_GET_VRING_BASE, &s, sizeof(s), NULL, 0,
				       false));
	expect_forwarding(&fe[2], &fe[1]);
}

Test(vu_backend, bad_vring_size_and_base_are_refused)
{
	struct vu_vring_state s = { .index = 0, .num = 2048 };	/* > VIRTQ_MAX_SIZE */

	fe_connect(&fe[0]);
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_SET_VRING_NUM, &s, sizeof(s), NULL, 0,
				       false));
	fe_connect(&fe[0]);
	s.num = 0x10000;
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_SET_VRING_BASE, &s, sizeof(s), NULL, 0,
				       false));
}

Test(vu_backend, kick_before_memory_table_is_refused)
{
	uint64_t u = 0;

	fe_connect(&fe[0]);
	fe_features(&fe[0], 0);
	fe_state(&fe[0], VU_REQ_SET_VRING_NUM, 0, QSIZE);
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_SET_VRING_KICK, &u, 8, &fe[0].kick[0], 1,
				       false));
}

Test(vu_backend, features_not_offered_are_refused)
{
	uint64_t f = 1ull << VIRTIO_NET_F_GUEST_TSO4 | 1ull << VIRTIO_F_VERSION_1;

	fe_connect(&fe[0]);
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_SET_FEATURES, &f, 8, NULL, 0, false));
	fe_connect(&fe[0]);
	f = 1ull << VU_PF_CONFIG;
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_SET_PROTOCOL_FEATURES, &f, 8, NULL, 0,
				       false));
}

Test(vu_backend, request_for_a_feature_never_offered_is_refused_and_its_fd_closed)
{
	struct vu_log l = { .mmap_size = 4096 };
	int fd = memfd_create("log", MFD_CLOEXEC);
	unsigned int before;

	fe_connect(&fe[0]);
	fe_features(&fe[0], 0);
	before = count_fds();
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_SET_LOG_BASE, &l, sizeof(l), &fd, 1, false));
	close(fd);
	cr_expect_eq(count_fds(), before - 3, "received fd, session socket (and ours) closed");
}

Test(vu_backend, malformed_message_is_refused)
{
	struct vu_msg m;

	fe_connect(&fe[0]);
	vu_msg_init(&m, VU_REQ_SET_FEATURES, 4);		/* u64 payload cut to 4 bytes */
	cr_assert_eq(vu_msg_send(fe[0].sock, &m), 0);
	expect_refused(&fe[0], vub_port_handle(fe[0].p));
	fe_connect(&fe[0]);
	vu_msg_init(&m, 9999, 0);
	cr_assert_eq(vu_msg_send(fe[0].sock, &m), 0);
	expect_refused(&fe[0], vub_port_handle(fe[0].p));
}

Test(vu_backend, vring_enable_without_protocol_features_is_refused)
{
	uint64_t f = 1ull << VIRTIO_F_VERSION_1;
	struct vu_vring_state s = { .index = 0, .num = 1 };

	fe_connect(&fe[0]);
	cr_assert_eq(fe_send(&fe[0], VU_REQ_SET_FEATURES, &f, 8, NULL, 0, false), 0);
	expect_refused(&fe[0], fe_send(&fe[0], VU_REQ_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0,
				       false));
}

Test(vu_backend, disconnect_resets_the_port_forgets_its_macs_and_it_can_reconnect)
{
	unsigned int before = count_fds();
	uint8_t tag;
	uint32_t len;

	fe_up(&fe[0], 0);
	fe_up(&fe[1], 0);
	fe_up(&fe[2], 0);
	fe_post_rx(&fe[2], 4, BUF_LEN);
	fe_send_frame(&fe[0], bcast, 20, 1);		/* learn p0 */
	vub_poll(b, now);
	fe_drain(&fe[2]);
	close(fe[0].sock);
	fe[0].sock = -1;
	cr_expect_eq(vub_port_handle(fe[0].p), -ECONNRESET);
	cr_expect_eq(vub_port_fd(fe[0].p), -1);
	cr_expect_eq(stats(&fe[0]).refused, 0, "a clean disconnect is not a refusal");
	/* p0's MAC is forgotten: traffic for it floods (to p2) instead of vanishing. */
	fe_send_frame(&fe[1], fe[0].mac, 20, 2);
	vub_poll(b, now);
	cr_expect_eq(fe_drain(&fe[2]), 1);
	/* Reconnect: a fresh session works. */
	fe_up(&fe[0], 0);
	fe_post_rx(&fe[0], 1, BUF_LEN);
	fe_send_frame(&fe[1], fe[0].mac, 20, 3);
	vub_poll(b, now);
	cr_assert_eq(fe_recv(&fe[0], &tag, &len, NULL), 1);
	cr_expect_eq(tag, 3);
	cr_expect_eq(stats(&fe[0]).sessions, 2);
	(void)before;
}

Test(vu_backend, second_connection_to_a_busy_port_is_refused)
{
	int sv[2];

	fe_up(&fe[0], 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_expect_eq(vub_port_connect(fe[0].p, sv[1]), -EBUSY);
	cr_expect_eq(fcntl(sv[1], F_GETFD), -1, "the extra socket is closed");
	close(sv[0]);
	cr_expect_eq(vub_port_running(fe[0].p), 2);
}

Test(vu_backend, replacing_the_memory_table_moves_running_rings)
{
	fe_up(&fe[0], 0);
	fe_up(&fe[1], 0);
	fe_mem_table(&fe[1]);		/* same layout, new mapping */
	cr_expect_eq(vub_port_running(fe[1].p), 2);
	expect_forwarding(&fe[0], &fe[1]);
}

Test(vu_backend, sleep_returns_at_once_when_a_ring_has_work)
{
	fe_up(&fe[0], 0);
	fe_up(&fe[1], 0);
	vub_sleep(b, 0);		/* the wake-ups of the ring set-up */
	cr_expect_eq(vub_sleep(b, 0), 0, "nothing to do");
	cr_expect_eq(fe[0].q[1].used ? fe[0].q[1].used->flags : 0, 0, "kicks requested");
	fe_send_frame(&fe[0], fe[1].mac, 20, 1);
	cr_expect_eq(vub_sleep(b, 1000), 1);
	vub_wake(b);
	cr_expect_eq(vub_poll(b, now), 1);
	cr_expect_eq(vub_sleep(b, 100), 1, "woken by vub_wake");
}
