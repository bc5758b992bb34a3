// SPDX-License-Identifier: MIT
/*
 * virtio/vhost-user/backend.c, the vhost-user-shmem side (docs/vhost-user-shmem.md), driven by
 * fake front-ends on socketpairs (the same shape as test_vu_backend.c): NETSHM_ATTACH and its
 * refusals, flow-table entries following MAC learning, ageing and disconnects, and PEER_MAP /
 * PEER_UNMAP on the back-end channel, answered by a responder thread per front-end.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/netshm-abi.h"
#include "lib/fds.h"
#include "virtio/vhost-user/backend.h"
#include "virtio/vhost-user/msg.h"

#define MEM_SIZE	0x100000ull
#define GPA_BASE	0x40000000ull
#define QSIZE		64
#define NFE		3
#define SEC		1000000000ull
#define PF_NETSHM	(1ull << VU_PF_NETSHM)
#define PF_CHAN		(1ull << VU_PF_BACKEND_REQ)

struct fq {
	struct vring_desc *desc;
	struct vring_avail *avail;
	uint16_t avail_idx, next_desc;
};

/* The far end of a back-end channel: acks (or ignores) what the switch sends, records it. */
struct chan {
	int fd;
	bool mute;			/* never answer */
	int stop;
	pthread_t t;
	pthread_mutex_t lock;
	unsigned int n;
	struct vu_msg msgs[8];
};

struct fe {
	struct vub_port *p;
	int sock;
	int memfd;
	uint8_t *mem;
	uint64_t ua;
	uint8_t mac[6];
	struct fq q[2];
	int kick[2], call[2], err[2];
	uint64_t data;
	struct chan ch;
	bool has_chan;
};

static struct vub *b;
static struct fe fe[NFE];
static uint64_t now;

/* ---- fake front-end (as in test_vu_backend.c) ---- */

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

static void fe_connect(struct fe *f)
{
	struct timeval tv = { .tv_sec = 2 };
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	f->sock = sv[0];
	cr_assert_eq(vub_port_connect(f->p, sv[1]), 0);
	memset(f->mem, 0, MEM_SIZE);		/* a fresh guest: no frames of the last session */
	memset(f->q, 0, sizeof(f->q));
	f->data = 0x80000;
}

/* Features, with the protocol features pf on top of REPLY_ACK. */
static void fe_features(struct fe *f, uint64_t pf)
{
	uint64_t want = 1ull << VIRTIO_F_VERSION_1 | 1ull << VU_F_PROTOCOL_FEATURES;

	pf |= 1ull << VU_PF_REPLY_ACK;
	cr_assert_eq(fe_get_u64(f, VU_REQ_GET_FEATURES) & want, want);
	cr_assert_eq(fe_get_u64(f, VU_REQ_GET_PROTOCOL_FEATURES) & pf, pf);
	cr_assert_eq(fe_send(f, VU_REQ_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0, false), 0);
	fe_ok(f, VU_REQ_SET_FEATURES, &want, 8, NULL, 0);
}

static void fe_mem_table(struct fe *f)
{
	struct vu_mem mem = { .nregions = 1 };
	int fd = dup(f->memfd);

	mem.regions[0] = (struct vu_mem_region){ .guest_addr = GPA_BASE, .size = MEM_SIZE,
						 .user_addr = f->ua };
	fe_ok(f, VU_REQ_SET_MEM_TABLE, &mem, 8 + sizeof(mem.regions[0]), &fd, 1);
	close(fd);
}

static uint64_t qbase(unsigned int q)
{
	return 0x10000ull * (q + 1);
}

static void fe_ring(struct fe *f, unsigned int q)
{
	struct vu_vring_state st = { .index = q, .num = QSIZE };
	struct vu_vring_addr a = { .index = q, .desc = f->ua + qbase(q),
				   .avail = f->ua + qbase(q) + 0x1000,
				   .used = f->ua + qbase(q) + 0x2000 };
	uint64_t u = q;

	fe_ok(f, VU_REQ_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	fe_ok(f, VU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	fe_ok(f, VU_REQ_SET_VRING_CALL, &u, 8, &f->call[q], 1);
	fe_ok(f, VU_REQ_SET_VRING_ERR, &u, 8, &f->err[q], 1);
	fe_ok(f, VU_REQ_SET_VRING_KICK, &u, 8, &f->kick[q], 1);
	st.num = 1;
	fe_ok(f, VU_REQ_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0);
}

static void *chan_run(void *arg)
{
	struct chan *c = arg;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		struct vu_msg m;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		if (vu_msg_recv_checked(c->fd, VU_BACK_REQ, &m, NULL, 0)) {
			if (pfd.revents & POLLHUP)
				break;
			continue;
		}
		pthread_mutex_lock(&c->lock);
		if (c->n < ARRAY_SIZE(c->msgs))
			c->msgs[c->n++] = m;	/* keeps its fds */
		else
			vu_msg_close_fds(&m);
		pthread_mutex_unlock(&c->lock);
		if (!c->mute && vu_msg_need_reply(&m) && vu_msg_send_ack(c->fd, &m, 0))
			break;
	}
	return NULL;
}

/* SET_BACKEND_REQ_FD with a socketpair whose far end a responder thread serves. */
static void fe_chan(struct fe *f, bool mute)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->ch.fd = sv[0];
	f->ch.mute = mute;
	f->ch.n = 0;
	pthread_mutex_init(&f->ch.lock, NULL);
	cr_assert_eq(pthread_create(&f->ch.t, NULL, chan_run, &f->ch), 0);
	f->has_chan = true;
	fe_ok(f, VU_REQ_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1);
	close(sv[1]);
}

static void chan_stop(struct fe *f)
{
	unsigned int i;

	if (!f->has_chan)
		return;
	__atomic_store_n(&f->ch.stop, 1, __ATOMIC_RELEASE);
	pthread_join(f->ch.t, NULL);
	close(f->ch.fd);
	for (i = 0; i < f->ch.n; i++)
		vu_msg_close_fds(&f->ch.msgs[i]);
	f->has_chan = false;
}

/* NETSHM_ATTACH: the reply (checked by vu_msg_check); its fd (if any) in *fd. */
static struct vu_netshm_attach_reply fe_attach(struct fe *f, uint32_t mode, int *fd)
{
	struct vu_netshm_attach a = { .version = NETSHM_VERSION, .mode = mode };
	struct vu_msg r;

	cr_assert_eq(fe_send(f, VU_REQ_NETSHM_ATTACH, &a, sizeof(a), NULL, 0, false), 0);
	fe_reply(f, &r);
	cr_assert_eq(r.hdr.request, VU_REQ_NETSHM_ATTACH);
	if (fd)
		*fd = r.nfds ? r.fds[0] : -1;
	else
		vu_msg_close_fds(&r);
	return r.payload.netshm_attach_reply;
}

/* Connected, features with pf, memory, both rings running. */
static void fe_up(struct fe *f, uint64_t pf)
{
	fe_connect(f);
	fe_features(f, pf);
	fe_mem_table(f);
	fe_ring(f, 0);
	fe_ring(f, 1);
	cr_assert_eq(vub_port_running(f->p), 2);
}

static void fe_send_frame(struct fe *f, const uint8_t *dst)
{
	uint32_t len = 12 + 60;
	uint64_t off = f->data;
	uint8_t *p = f->mem + off;
	struct fq *r = &f->q[1];
	uint16_t d;

	f->data += 128;
	memset(p, 0, len);
	memcpy(p + 12, dst, 6);
	memcpy(p + 18, f->mac, 6);
	if (!r->desc) {
		r->desc = (void *)(f->mem + qbase(1));
		r->avail = (void *)(f->mem + qbase(1) + 0x1000);
	}
	d = r->next_desc++ % QSIZE;
	r->desc[d] = (struct vring_desc){ .addr = GPA_BASE + off, .len = len };
	r->avail->ring[r->avail_idx % QSIZE] = d;
	__atomic_store_n(&r->avail->idx, ++r->avail_idx, __ATOMIC_RELEASE);
}

static void fe_close(struct fe *f)
{
	close(f->sock);
	f->sock = -1;
	cr_expect_eq(vub_port_handle(f->p), -ECONNRESET);
	cr_expect_eq(vub_port_fd(f->p), -1);
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ---- fixture ---- */

static void setup_cfg(const struct vub_config *cfg)
{
	struct err e = { 0 };
	unsigned int i, q;

	cr_assert_eq(vub_create(cfg, &b, &e), 0, "%s", e.msg);
	now = 1000 * SEC;
	for (i = 0; i < NFE; i++) {
		struct fe *f = &fe[i];
		char name[8];

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

static void setup(void)
{
	struct vub_config cfg = { .queue_pairs = 1, .age_ns = 10 * SEC, .netshm_ports = NFE,
				  .netshm_peer = true, .netshm_no_huge = true,
				  .netshm_ack_ms = 300 };

	setup_cfg(&cfg);
}

static void setup_no_peer(void)
{
	struct vub_config cfg = { .queue_pairs = 1, .netshm_ports = 2, .netshm_no_huge = true };

	setup_cfg(&cfg);
}

static void setup_off(void)
{
	struct vub_config cfg = { .queue_pairs = 1 };

	setup_cfg(&cfg);
}

static void teardown(void)
{
	unsigned int i, q;

	/* Channels after: vub_destroy() sends PEER_UNMAPs and waits for their acks. */
	vub_destroy(b);
	for (i = 0; i < NFE; i++) {
		chan_stop(&fe[i]);
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

static struct vub_netshm_stats ns_stats(void)
{
	struct vub_netshm_stats s;

	vub_netshm_stats(b, &s);
	return s;
}

/* The region as a VMM maps it. */
static const uint8_t *map_region(int fd, uint64_t size)
{
	struct stat st;
	void *p;

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_geq((uint64_t)st.st_size, size);
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	cr_assert_neq(p, MAP_FAILED);
	close(fd);
	return p;
}

static const struct netshm_table *table(const uint8_t *reg, unsigned int s)
{
	return (const void *)(reg + NETSHM_TABLE_OFF + s * NETSHM_TABLE_STRIDE);
}

/* The valid entry for mac in table s: its peer, or -1. */
static int lookup(const uint8_t *reg, unsigned int s, const uint8_t *mac)
{
	const struct netshm_table *t = table(reg, s);
	unsigned int i;

	for (i = 0; i < t->count && i < NETSHM_MAX_ENTRIES; i++)
		if ((t->e[i].flags & NETSHM_ENTRY_VALID) && !memcmp(t->e[i].mac, mac, 6))
			return t->e[i].peer;
	return -1;
}

/* ---- attach ---- */

TestSuite(vub_netshm, .init = setup, .fini = teardown);

Test(vub_netshm, attach_gives_the_port_and_the_region_fd)
{
	struct vu_netshm_attach_reply r;
	const uint8_t *reg;
	int fd;

	fe_up(&fe[1], PF_NETSHM);
	r = fe_attach(&fe[1], VU_NETSHM_MODE_SHARED, &fd);
	cr_assert_eq(r.status, 0);
	cr_expect_eq(r.version, NETSHM_VERSION);
	cr_expect_eq(r.port, 1);
	cr_expect_eq(r.nports, NFE);
	cr_expect_eq(r.region_size, NETSHM_REGION_SIZE(NFE));
	reg = map_region(fd, r.region_size);
	cr_expect_eq(((const struct netshm_hdr *)reg)->magic, NETSHM_HDR_MAGIC);
	cr_expect_eq(((const struct netshm_hdr *)reg)->port_state[1],
		     1u << NETSHM_PORT_EPOCH_SHIFT | NETSHM_PORT_ATTACHED);
	cr_expect_eq(ns_stats().attached, 1);
	munmap((void *)reg, r.region_size);
}

Test(vub_netshm, second_attach_on_a_session_is_ebusy_and_the_session_goes_on)
{
	struct vu_netshm_attach_reply r;
	int fd;

	fe_up(&fe[0], PF_NETSHM);
	cr_assert_eq(fe_attach(&fe[0], VU_NETSHM_MODE_SHARED, NULL).status, 0);
	r = fe_attach(&fe[0], VU_NETSHM_MODE_SHARED, &fd);
	cr_expect_eq(r.status, EBUSY);
	cr_expect_eq(fd, -1, "no region fd with a refusal");
	r = fe_attach(&fe[0], VU_NETSHM_MODE_SHARED, &fd);
	cr_expect_eq(r.status, EBUSY);
	cr_expect_eq(ns_stats().refused, 2);
	cr_expect_neq(vub_port_fd(fe[0].p), -1);
	cr_expect_neq(fe_get_u64(&fe[0], VU_REQ_GET_FEATURES), 0);
}

Test(vub_netshm, attach_before_negotiation_is_refused_like_an_unknown_request)
{
	struct vu_netshm_attach a = { .version = NETSHM_VERSION, .mode = VU_NETSHM_MODE_SHARED };

	fe_up(&fe[0], 0);
	cr_expect_eq(fe_send(&fe[0], VU_REQ_NETSHM_ATTACH, &a, sizeof(a), NULL, 0, false),
		     -EOPNOTSUPP);
	cr_expect_eq(vub_port_fd(fe[0].p), -1, "session ended");
	cr_expect_eq(ns_stats().attached, 0);
}

Test(vub_netshm, bad_attach_payload_ends_the_session)
{
	struct vu_netshm_attach a = { .version = NETSHM_VERSION, .mode = 3 };

	fe_up(&fe[0], PF_NETSHM);
	cr_expect_eq(fe_send(&fe[0], VU_REQ_NETSHM_ATTACH, &a, sizeof(a), NULL, 0, false),
		     -EINVAL);
	cr_expect_eq(vub_port_fd(fe[0].p), -1);
}

Test(vub_netshm, peer_mode_without_a_backend_channel_is_einval)
{
	fe_up(&fe[0], PF_NETSHM | PF_CHAN);
	cr_expect_eq(fe_attach(&fe[0], VU_NETSHM_MODE_PEER, NULL).status, EINVAL);
	cr_expect_eq(fe_attach(&fe[0], VU_NETSHM_MODE_SHARED, NULL).status, 0, "still free");
}

Test(vub_netshm, backend_channel_without_negotiation_ends_the_session)
{
	int sv[2];

	fe_up(&fe[0], PF_NETSHM);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_expect_eq(fe_send(&fe[0], VU_REQ_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1, false),
		     -EOPNOTSUPP);
	close(sv[0]);
	close(sv[1]);
}

/* Suites with their own configuration (a test's .init would run after the suite's). */
TestSuite(vub_netshm_2ports, .init = setup_no_peer, .fini = teardown);
TestSuite(vub_netshm_off, .init = setup_off, .fini = teardown);

Test(vub_netshm_2ports, port_beyond_the_region_is_enospc)
{
	fe_up(&fe[2], PF_NETSHM);	/* the region has 2 ports: 0 and 1 */
	cr_expect_eq(fe_attach(&fe[2], VU_NETSHM_MODE_SHARED, NULL).status, ENOSPC);
}

Test(vub_netshm_2ports, peer_mode_not_allowed_is_eperm)
{
	fe_up(&fe[0], PF_NETSHM);
	cr_expect_eq(fe_attach(&fe[0], VU_NETSHM_MODE_PEER, NULL).status, EPERM);
	cr_expect_eq(fe_attach(&fe[0], VU_NETSHM_MODE_SHARED, NULL).status, 0);
}

Test(vub_netshm_off, netshm_off_offers_no_bit_48_and_refuses_the_id)
{
	uint64_t pf;

	fe_connect(&fe[0]);
	pf = fe_get_u64(&fe[0], VU_REQ_GET_PROTOCOL_FEATURES);
	cr_expect_eq(pf & PF_NETSHM, 0);
	pf = PF_NETSHM;
	cr_expect_eq(fe_send(&fe[0], VU_REQ_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0, false),
		     -EINVAL, "bit 48 was not offered");
}

/* ---- flow tables ---- */

static const uint8_t *up_and_attach(unsigned int n)
{
	struct vu_netshm_attach_reply r = { 0 };
	const uint8_t *reg = NULL;
	unsigned int i;
	int fd;

	for (i = 0; i < n; i++) {
		fe_up(&fe[i], PF_NETSHM);
		r = fe_attach(&fe[i], VU_NETSHM_MODE_SHARED, &fd);
		cr_assert_eq(r.status, 0);
		if (i == 0)
			reg = map_region(fd, r.region_size);
		else
			close(fd);
	}
	return reg;
}

Test(vub_netshm, entry_appears_in_the_other_tables_after_a_frame_from_a_mac)
{
	const uint8_t *reg = up_and_attach(3);

	fe_send_frame(&fe[0], bcast);
	vub_poll(b, now);
	cr_expect_eq(lookup(reg, 1, fe[0].mac), 0);
	cr_expect_eq(lookup(reg, 2, fe[0].mac), 0);
	cr_expect_eq(lookup(reg, 0, fe[0].mac), -1, "never in its own table");
	cr_expect_eq(table(reg, 1)->e[0].seq % 2, 0);
	cr_expect_gt(table(reg, 1)->gen, 0);

	/* The same MAC again: a refresh, no table write. */
	{
		uint32_t gen = table(reg, 1)->gen;

		fe_send_frame(&fe[0], bcast);
		vub_poll(b, now + 1000);
		cr_expect_eq(table(reg, 1)->gen, gen);
	}
	/* It moves to port 2: tables 0 and 1 point at 2, table 2 forgets it. */
	memcpy(fe[2].mac, fe[0].mac, 6);
	fe_send_frame(&fe[2], bcast);
	vub_poll(b, now + 2000);
	cr_expect_eq(lookup(reg, 1, fe[0].mac), 2);
	cr_expect_eq(lookup(reg, 0, fe[0].mac), 2);
	cr_expect_eq(lookup(reg, 2, fe[0].mac), -1);
	cr_expect_geq(ns_stats().installed, 3);
}

Test(vub_netshm, mac_learnt_before_the_attach_is_installed_after_it)
{
	struct vu_netshm_attach_reply r;
	const uint8_t *reg;
	int fd;

	fe_up(&fe[0], PF_NETSHM);
	fe_up(&fe[1], PF_NETSHM);
	fe_send_frame(&fe[0], bcast);
	vub_poll(b, now);
	r = fe_attach(&fe[1], VU_NETSHM_MODE_SHARED, &fd);
	reg = map_region(fd, r.region_size);
	vub_poll(b, now + 1000);
	cr_expect_eq(lookup(reg, 1, fe[0].mac), -1, "port 0 is not attached");
	cr_assert_eq(fe_attach(&fe[0], VU_NETSHM_MODE_SHARED, NULL).status, 0);
	vub_poll(b, now + 2000);
	cr_expect_eq(lookup(reg, 1, fe[0].mac), 0, "installed by the resync");
}

Test(vub_netshm, entries_are_withdrawn_when_the_port_disconnects)
{
	const uint8_t *reg = up_and_attach(3);

	fe_send_frame(&fe[0], bcast);
	fe_send_frame(&fe[1], bcast);
	vub_poll(b, now);
	cr_assert_eq(lookup(reg, 1, fe[0].mac), 0);
	cr_assert_eq(lookup(reg, 0, fe[1].mac), 1);
	fe_close(&fe[0]);
	/* Synchronous: no worker round is needed. */
	cr_expect_eq(lookup(reg, 1, fe[0].mac), -1);
	cr_expect_eq(lookup(reg, 2, fe[0].mac), -1);
	cr_expect_eq(lookup(reg, 0, fe[1].mac), -1, "its own table is cleared");
	cr_expect_eq(lookup(reg, 2, fe[1].mac), 1, "others stay");
	cr_expect_eq(((const struct netshm_hdr *)reg)->port_state[0] & NETSHM_PORT_ATTACHED, 0);
	cr_expect_eq(ns_stats().attached, 2);
	/* A new session on the port attaches with a new epoch, and the old MAC is not back. */
	fe_up(&fe[0], PF_NETSHM);
	cr_assert_eq(fe_attach(&fe[0], VU_NETSHM_MODE_SHARED, NULL).status, 0);
	vub_poll(b, now + 1000);
	cr_expect_eq(((const struct netshm_hdr *)reg)->port_state[0] >> NETSHM_PORT_EPOCH_SHIFT,
		     2);
	cr_expect_eq(lookup(reg, 1, fe[0].mac), -1, "learnt on a session that ended");
}

Test(vub_netshm, aged_mac_is_withdrawn)
{
	const uint8_t *reg = up_and_attach(2);

	fe_send_frame(&fe[0], bcast);
	vub_poll(b, now);
	cr_assert_eq(lookup(reg, 1, fe[0].mac), 0);
	vub_poll(b, now + 5 * SEC);
	cr_expect_eq(lookup(reg, 1, fe[0].mac), 0);
	vub_poll(b, now + 11 * SEC);			/* ageing time is 10 s */
	cr_expect_eq(lookup(reg, 1, fe[0].mac), -1);
	cr_expect_geq(ns_stats().withdrawn, 1);
}

Test(vub_netshm, full_table_is_counted_and_frames_still_flow)
{
	const uint8_t *reg = up_and_attach(2);
	unsigned int i;

	for (i = 0; i < NETSHM_MAX_ENTRIES + 3; i++) {
		fe[0].mac[5] = (uint8_t)(0x40 + i);
		fe_send_frame(&fe[0], bcast);
	}
	vub_poll(b, now);
	vub_poll(b, now + 1000);
	cr_expect_eq(table(reg, 1)->count, NETSHM_MAX_ENTRIES);
	cr_expect_eq(ns_stats().full, 3);
	{
		struct vub_stats s;

		vub_port_stats(fe[0].p, &s);
		cr_expect_eq(s.rx, NETSHM_MAX_ENTRIES + 3, "every frame went the switch way");
	}
}

/* ---- peer-memory mode: the back-end channel ---- */

static void peer_up(struct fe *f, bool mute)
{
	fe_connect(f);
	fe_features(f, PF_NETSHM | PF_CHAN);
	fe_chan(f, mute);
	fe_mem_table(f);
	cr_assert_eq(fe_attach(f, VU_NETSHM_MODE_PEER, NULL).status, 0);
}

static bool same_file(int a, int c)
{
	struct stat sa, sc;

	return !fstat(a, &sa) && !fstat(c, &sc) && sa.st_ino == sc.st_ino &&
	       sa.st_dev == sc.st_dev;
}

static void expect_peer_map(struct chan *c, unsigned int i, struct fe *of, unsigned int port)
{
	const struct vu_msg *m = &c->msgs[i];

	cr_assert_gt(c->n, i);
	cr_assert_eq(m->hdr.request, VU_BREQ_NETSHM_PEER_MAP);
	cr_expect(vu_msg_need_reply(m));
	cr_expect_eq(m->payload.netshm_peer_map.port, port);
	cr_assert_eq(m->payload.netshm_peer_map.mem.nregions, 1);
	cr_expect_eq(m->payload.netshm_peer_map.mem.regions[0].guest_addr, GPA_BASE);
	cr_expect_eq(m->payload.netshm_peer_map.mem.regions[0].size, MEM_SIZE);
	cr_expect_eq(m->payload.netshm_peer_map.mem.regions[0].user_addr, 0);
	cr_assert_eq(m->nfds, 1);
	cr_expect(same_file(m->fds[0], of->memfd), "the fd is the peer's RAM");
}

Test(vub_netshm, peer_map_arrives_on_the_channel_with_the_peers_ram_fd)
{
	peer_up(&fe[0], false);
	cr_expect_eq(fe[0].ch.n, 0, "nobody to map yet");
	peer_up(&fe[1], false);
	/* Port 1's attach: PEER_MAP(0) to port 1, PEER_MAP(1) to port 0. */
	expect_peer_map(&fe[1].ch, 0, &fe[0], 0);
	expect_peer_map(&fe[0].ch, 0, &fe[1], 1);
	cr_expect_eq(ns_stats().peer_maps, 2);
	cr_expect_eq(ns_stats().peer_nacks, 0);

	/* A new memory table of port 0 is announced again. */
	fe_mem_table(&fe[0]);
	expect_peer_map(&fe[1].ch, 1, &fe[0], 0);

	/* Port 1 goes: port 0 gets PEER_UNMAP(1). */
	fe_close(&fe[1]);
	cr_assert_eq(fe[0].ch.n, 2);
	cr_expect_eq(fe[0].ch.msgs[1].hdr.request, VU_BREQ_NETSHM_PEER_UNMAP);
	cr_expect_eq(fe[0].ch.msgs[1].payload.netshm_peer.port, 1);
	cr_expect_eq(ns_stats().peer_unmaps, 1);
}

Test(vub_netshm, shared_mode_port_gets_no_peer_map)
{
	peer_up(&fe[0], false);
	fe_up(&fe[1], PF_NETSHM);
	cr_assert_eq(fe_attach(&fe[1], VU_NETSHM_MODE_SHARED, NULL).status, 0);
	cr_expect_eq(fe[0].ch.n, 0, "port 1 did not opt in: its RAM is not shared");
	cr_expect_eq(ns_stats().peer_maps, 0);
}

Test(vub_netshm, peer_that_does_not_answer_is_counted_and_its_session_goes_on)
{
	peer_up(&fe[0], true);
	peer_up(&fe[1], false);
	cr_expect_eq(ns_stats().peer_nacks, 1, "port 0 never acked");
	cr_expect_neq(vub_port_fd(fe[0].p), -1);
	cr_expect_neq(vub_port_fd(fe[1].p), -1);
	cr_expect_neq(fe_get_u64(&fe[0], VU_REQ_GET_FEATURES), 0);
}

Test(vub_netshm, channel_that_is_closed_is_dropped_not_the_session)
{
	peer_up(&fe[0], false);
	chan_stop(&fe[0]);		/* the far end goes away */
	peer_up(&fe[1], false);
	cr_expect_eq(ns_stats().chan_errors, 1);
	cr_expect_neq(vub_port_fd(fe[0].p), -1);
	expect_peer_map(&fe[1].ch, 0, &fe[0], 0);
}

/* ---- doorbells (§8) ---- */

/* NETSHM_DOORBELL with fd (ours stays open): the ack's status. */
static uint64_t fe_doorbell(struct fe *f, int fd)
{
	struct vu_netshm_doorbell d = { 0 };
	struct vu_msg r;

	cr_assert_eq(fe_send(f, VU_REQ_NETSHM_DOORBELL, &d, sizeof(d), &fd, 1, true), 0);
	fe_reply(f, &r);
	cr_assert_eq(r.hdr.request, VU_REQ_NETSHM_DOORBELL);
	return r.payload.u64;
}

static int new_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	cr_assert_geq(fd, 0);
	return fd;
}

/* Shared mode with a back-end channel (doorbell=on in shared mode, §8 negotiation). */
static void shared_chan_up(struct fe *f)
{
	fe_up(f, PF_NETSHM | PF_CHAN);
	fe_chan(f, false);
	cr_assert_eq(fe_attach(f, VU_NETSHM_MODE_SHARED, NULL).status, 0);
}

/* One write on a, one read on c: the same eventfd counter. */
static void expect_same_eventfd(int a, int c)
{
	uint64_t v = 7;

	cr_assert_eq(write(a, &v, sizeof(v)), sizeof(v));
	v = 0;
	cr_expect_eq(read(c, &v, sizeof(v)), sizeof(v), "nothing arrived on the other end");
	cr_expect_eq(v, 7);
}

static void expect_db_map(struct chan *c, unsigned int i, unsigned int port, int efd)
{
	const struct vu_msg *m = &c->msgs[i];

	cr_assert_gt(c->n, i, "message %u missing", i);
	cr_assert_eq(m->hdr.request, VU_BREQ_NETSHM_DOORBELL_MAP, "message %u is %s", i,
		     vu_req_name(VU_BACK_REQ, m->hdr.request));
	cr_expect(vu_msg_need_reply(m));
	cr_expect_eq(m->payload.netshm_peer.port, port);
	cr_expect_eq(m->payload.netshm_peer.reserved, 0);
	cr_assert_eq(m->nfds, 1);
	expect_same_eventfd(m->fds[0], efd);
	expect_same_eventfd(efd, m->fds[0]);
}

static void expect_db_unmap(struct chan *c, unsigned int i, unsigned int port)
{
	const struct vu_msg *m = &c->msgs[i];

	cr_assert_gt(c->n, i, "message %u missing", i);
	cr_assert_eq(m->hdr.request, VU_BREQ_NETSHM_DOORBELL_UNMAP, "message %u is %s", i,
		     vu_req_name(VU_BACK_REQ, m->hdr.request));
	cr_expect(vu_msg_need_reply(m));
	cr_expect_eq(m->payload.netshm_peer.port, port);
	cr_expect_eq(m->nfds, 0);
}

Test(vub_netshm, doorbell_before_the_attach_is_enotconn_and_the_session_goes_on)
{
	int efd = new_eventfd();
	unsigned int before = count_fds();

	fe_up(&fe[0], PF_NETSHM | PF_CHAN);
	before = count_fds();
	cr_expect_eq(fe_doorbell(&fe[0], efd), ENOTCONN);
	cr_expect_eq(count_fds(), before, "the refused fd leaked");
	cr_expect_eq(ns_stats().doorbell_refused, 1);
	cr_expect_eq(ns_stats().doorbells, 0);
	cr_expect_neq(vub_port_fd(fe[0].p), -1);
	/* After the attach the same eventfd is fine. */
	cr_assert_eq(fe_attach(&fe[0], VU_NETSHM_MODE_SHARED, NULL).status, 0);
	cr_expect_eq(fe_doorbell(&fe[0], efd), 0);
	cr_expect_eq(ns_stats().doorbells, 1);
	close(efd);
}

Test(vub_netshm, doorbell_that_is_not_an_eventfd_is_einval)
{
	int memfd = memfd_create("not-an-eventfd", MFD_CLOEXEC), pv[2];
	unsigned int before;

	cr_assert_geq(memfd, 0);
	cr_assert_eq(pipe2(pv, O_CLOEXEC), 0);
	fe_up(&fe[0], PF_NETSHM);
	cr_assert_eq(fe_attach(&fe[0], VU_NETSHM_MODE_SHARED, NULL).status, 0);
	before = count_fds();
	cr_expect_eq(fe_doorbell(&fe[0], memfd), EINVAL);
	cr_expect_eq(fe_doorbell(&fe[0], pv[0]), EINVAL);
	cr_expect_eq(fe_doorbell(&fe[0], fe[0].sock), EINVAL, "a socket");
	cr_expect_eq(count_fds(), before, "a refused fd leaked");
	cr_expect_eq(ns_stats().doorbell_refused, 3);
	cr_expect_eq(ns_stats().doorbells, 0);
	cr_expect_neq(vub_port_fd(fe[0].p), -1);
	close(memfd);
	close(pv[0]);
	close(pv[1]);
}

Test(vub_netshm, second_doorbell_is_ebusy_and_the_first_stays)
{
	int e1 = new_eventfd(), e2 = new_eventfd();

	shared_chan_up(&fe[1]);
	fe_up(&fe[0], PF_NETSHM);
	cr_assert_eq(fe_attach(&fe[0], VU_NETSHM_MODE_SHARED, NULL).status, 0);
	cr_expect_eq(fe_doorbell(&fe[0], e1), 0);
	cr_expect_eq(fe_doorbell(&fe[0], e2), EBUSY);
	cr_expect_eq(ns_stats().doorbell_regs, 1);
	cr_expect_eq(ns_stats().doorbell_refused, 1);
	cr_expect_eq(fe[1].ch.n, 1, "the refused one is not sent");
	expect_db_map(&fe[1].ch, 0, 0, e1);
	close(e1);
	close(e2);
}

Test(vub_netshm, doorbell_without_netshm_negotiated_ends_the_session)
{
	struct vu_netshm_doorbell d = { 0 };
	int efd = new_eventfd();

	fe_up(&fe[0], 0);
	cr_expect_eq(fe_send(&fe[0], VU_REQ_NETSHM_DOORBELL, &d, sizeof(d), &efd, 1, true),
		     -EOPNOTSUPP);
	cr_expect_eq(vub_port_fd(fe[0].p), -1);
	close(efd);
}

Test(vub_netshm, doorbell_with_nonzero_flags_ends_the_session)
{
	struct vu_netshm_doorbell d = { .flags = 1 };
	int efd = new_eventfd();

	fe_up(&fe[0], PF_NETSHM);
	cr_assert_eq(fe_attach(&fe[0], VU_NETSHM_MODE_SHARED, NULL).status, 0);
	cr_expect_eq(fe_send(&fe[0], VU_REQ_NETSHM_DOORBELL, &d, sizeof(d), &efd, 1, true),
		     -EINVAL);
	cr_expect_eq(vub_port_fd(fe[0].p), -1);
	cr_expect_eq(ns_stats().doorbells, 0);
	close(efd);
}

Test(vub_netshm, doorbell_arrives_at_the_other_port_as_the_same_eventfd)
{
	int e0 = new_eventfd();

	shared_chan_up(&fe[0]);
	shared_chan_up(&fe[1]);
	cr_expect_eq(fe_doorbell(&fe[0], e0), 0);
	cr_expect_eq(fe[0].ch.n, 0, "never a port's own doorbell");
	cr_assert_eq(fe[1].ch.n, 1);
	expect_db_map(&fe[1].ch, 0, 0, e0);
	cr_expect_eq(ns_stats().doorbell_maps, 1);
	cr_expect_eq(ns_stats().doorbell_nacks, 0);

	/* Port 0 goes: port 1 is told, and nobody else. */
	fe_close(&fe[0]);
	cr_assert_eq(fe[1].ch.n, 2);
	expect_db_unmap(&fe[1].ch, 1, 0);
	cr_expect_eq(ns_stats().doorbell_unmaps, 1);
	cr_expect_eq(ns_stats().doorbells, 0);
	close(e0);
}

Test(vub_netshm, port_attaching_later_gets_the_existing_doorbells)
{
	int e0 = new_eventfd(), e1 = new_eventfd(), e2 = new_eventfd();

	shared_chan_up(&fe[0]);
	cr_expect_eq(fe_doorbell(&fe[0], e0), 0);
	shared_chan_up(&fe[1]);
	cr_expect_eq(fe_doorbell(&fe[1], e1), 0);
	/* Port 1 got 0's at its attach; port 0 got 1's when it arrived. */
	cr_assert_eq(fe[1].ch.n, 1);
	expect_db_map(&fe[1].ch, 0, 0, e0);
	cr_assert_eq(fe[0].ch.n, 1);
	expect_db_map(&fe[0].ch, 0, 1, e1);

	/* Port 2 attaches last, in peer mode: both doorbells, in port order, after no PEER_MAP
	 * (nobody else is in peer mode). */
	peer_up(&fe[2], false);
	cr_assert_eq(fe[2].ch.n, 2);
	expect_db_map(&fe[2].ch, 0, 0, e0);
	expect_db_map(&fe[2].ch, 1, 1, e1);
	cr_expect_eq(fe_doorbell(&fe[2], e2), 0);
	expect_db_map(&fe[0].ch, 1, 2, e2);
	expect_db_map(&fe[1].ch, 1, 2, e2);
	cr_expect_eq(ns_stats().doorbell_maps, 6);

	/* Port 1 goes: DOORBELL_UNMAP(1) at 0 and 2. */
	fe_close(&fe[1]);
	expect_db_unmap(&fe[0].ch, 2, 1);
	expect_db_unmap(&fe[2].ch, 2, 1);
	cr_expect_eq(ns_stats().doorbells, 2);
	close(e0);
	close(e1);
	close(e2);
}

Test(vub_netshm, channel_set_after_the_attach_gets_the_existing_doorbells)
{
	int e0 = new_eventfd();

	shared_chan_up(&fe[0]);
	cr_expect_eq(fe_doorbell(&fe[0], e0), 0);
	fe_up(&fe[1], PF_NETSHM | PF_CHAN);
	cr_assert_eq(fe_attach(&fe[1], VU_NETSHM_MODE_SHARED, NULL).status, 0);
	cr_expect_eq(ns_stats().doorbell_maps, 0, "no channel yet");
	fe_chan(&fe[1], false);
	cr_assert_eq(fe[1].ch.n, 1);
	expect_db_map(&fe[1].ch, 0, 0, e0);
	fe_close(&fe[0]);
	expect_db_unmap(&fe[1].ch, 1, 0);
	close(e0);
}

Test(vub_netshm, port_without_a_channel_gets_nothing_and_nothing_breaks)
{
	int e0 = new_eventfd(), e2 = new_eventfd();

	shared_chan_up(&fe[0]);
	fe_up(&fe[2], PF_NETSHM);		/* polling only: no channel */
	cr_assert_eq(fe_attach(&fe[2], VU_NETSHM_MODE_SHARED, NULL).status, 0);
	cr_expect_eq(fe_doorbell(&fe[0], e0), 0);
	cr_expect_eq(ns_stats().doorbell_maps, 0, "port 2 has no channel");
	/* It may still have a doorbell of its own for the others to ring. */
	cr_expect_eq(fe_doorbell(&fe[2], e2), 0);
	cr_assert_eq(fe[0].ch.n, 1);
	expect_db_map(&fe[0].ch, 0, 2, e2);
	fe_close(&fe[0]);
	cr_expect_eq(ns_stats().doorbell_unmaps, 0, "port 2 never got a map");
	cr_expect_neq(vub_port_fd(fe[2].p), -1);
	cr_expect_neq(fe_get_u64(&fe[2], VU_REQ_GET_FEATURES), 0);
	fe_close(&fe[2]);
	cr_expect_eq(ns_stats().doorbells, 0);
	close(e0);
	close(e2);
}

Test(vub_netshm, unattached_port_with_a_channel_gets_no_doorbell)
{
	int e0 = new_eventfd();

	shared_chan_up(&fe[0]);
	fe_up(&fe[1], PF_NETSHM | PF_CHAN);
	fe_chan(&fe[1], false);
	cr_expect_eq(fe_doorbell(&fe[0], e0), 0);
	cr_expect_eq(fe[1].ch.n, 0);
	cr_expect_eq(ns_stats().doorbell_maps, 0);
	close(e0);
}

Test(vub_netshm, doorbell_peer_that_does_not_answer_is_counted_and_its_session_goes_on)
{
	int e0 = new_eventfd();

	fe_up(&fe[1], PF_NETSHM | PF_CHAN);
	fe_chan(&fe[1], true);
	cr_assert_eq(fe_attach(&fe[1], VU_NETSHM_MODE_SHARED, NULL).status, 0);
	shared_chan_up(&fe[0]);
	cr_expect_eq(fe_doorbell(&fe[0], e0), 0);
	cr_expect_eq(ns_stats().doorbell_maps, 1);
	cr_expect_eq(ns_stats().doorbell_nacks, 1, "port 1 never acked");
	cr_expect_eq(ns_stats().peer_nacks, 0, "counted as a doorbell, not a PEER_MAP");
	cr_expect_neq(vub_port_fd(fe[0].p), -1);
	cr_expect_neq(vub_port_fd(fe[1].p), -1);
	cr_expect_neq(fe_get_u64(&fe[1], VU_REQ_GET_FEATURES), 0);
	close(e0);
}

Test(vub_netshm, doorbells_with_peer_mode_and_teardown_leak_no_fd)
{
	int e[2];
	unsigned int before = count_fds(), i;

	for (i = 0; i < 2; i++) {
		e[i] = new_eventfd();
		peer_up(&fe[i], false);
		cr_expect_eq(fe_doorbell(&fe[i], e[i]), 0);
	}
	/* Port 1's attach: PEER_MAP(0) and DOORBELL_MAP(0) to 1, PEER_MAP(1) to 0; then 1's
	 * doorbell to 0. */
	expect_peer_map(&fe[1].ch, 0, &fe[0], 0);
	expect_db_map(&fe[1].ch, 1, 0, e[0]);
	expect_peer_map(&fe[0].ch, 0, &fe[1], 1);
	expect_db_map(&fe[0].ch, 1, 1, e[1]);
	/* A RESET_OWNER ends the doorbell like a disconnect (and drops that port's channel). */
	cr_expect_eq(fe_send(&fe[0], VU_REQ_RESET_OWNER, NULL, 0, NULL, 0, false), 0);
	cr_assert_eq(fe[1].ch.n, 4);
	cr_expect_eq(fe[1].ch.msgs[2].hdr.request, VU_BREQ_NETSHM_PEER_UNMAP);
	expect_db_unmap(&fe[1].ch, 3, 0);
	cr_expect_eq(ns_stats().doorbells, 1);
	fe_close(&fe[0]);
	fe_close(&fe[1]);
	cr_expect_eq(fe[0].ch.n, 2, "port 0's channel was closed by its reset");
	cr_expect_eq(ns_stats().doorbells, 0);
	for (i = 0; i < 2; i++) {
		chan_stop(&fe[i]);
		close(e[i]);
	}
	cr_expect_eq(count_fds(), before, "an fd leaked");
}
