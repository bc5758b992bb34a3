// SPDX-License-Identifier: MIT
/*
 * virtio/vhost-user/frontend.c against a fake back-end thread: the message sequence and its
 * payloads (memory table = gmem with its fds, vring addresses = our hvas, kick/call fds that
 * really are ours), hostile replies (wrong size, unknown features, a reply to another request,
 * a nack, a wrong ring index), hang-up -> link down, reconnect with the used index as base,
 * anonymous RAM refused, and no fd left open (/proc/self/fd).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/fds.h"
#include "virtio/vhost-user/frontend.h"
#include "virtio/vhost-user/msg.h"

#define BIT(n)		(1ull << (n))
#define RAM		(4u << 20)
#define QSIZE		256
#define GOOD_FEATURES	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_EVENT_IDX) |	\
			 BIT(VIRTIO_RING_F_INDIRECT_DESC) | BIT(VIRTIO_NET_F_MRG_RXBUF) |	\
			 BIT(VIRTIO_NET_F_MQ) | BIT(VU_F_PROTOCOL_FEATURES))

enum fb_mode { FB_OK, FB_SHORT_FEATURES, FB_WRONG_ID, FB_NACK_MEM, FB_BAD_BASE_INDEX };

struct rec {
	uint32_t req, flags;
	union vu_payload p;
	int fds[VU_MAX_FDS];
	unsigned int nfds;
};

/* The fake back-end: records every request (keeping its fds) and answers per mode. */
struct fb {
	int sock, lfd;
	unsigned int sessions;		/* listen mode: accept this many sessions */
	pthread_t th;
	uint64_t features, pf, qnum;
	enum fb_mode mode;
	pthread_mutex_t lock;
	struct rec rec[128];
	unsigned int n;
	_Atomic unsigned int accepted;
};

/* The test's guest: memfd RAM in two regions, eventfd kicks, interrupts counted. */
static struct {
	int memfd;
	uint8_t *ram;
	struct gmem gm;
	int kick[2];
	_Atomic unsigned int queue_irqs[4], config_irqs;
	struct fb fb;
	struct vu_front *f;
} t;

static void irq_queue(void *ctx, unsigned int q)
{
	(void)ctx;
	if (q < 4)
		t.queue_irqs[q]++;
}

static void irq_config(void *ctx)
{
	(void)ctx;
	t.config_irqs++;
}

static const struct virtio_irq test_irq = { .queue = irq_queue, .config = irq_config };

static void fb_serve(struct fb *b, int s)
{
	for (;;) {
		struct vu_msg m, r;
		char why[128];

		if (vu_msg_recv_checked(s, VU_FRONT_REQ, &m, why, sizeof(why)))
			return;
		pthread_mutex_lock(&b->lock);
		if (b->n < ARRAY_SIZE(b->rec)) {
			struct rec *x = &b->rec[b->n++];

			x->req = m.hdr.request;
			x->flags = m.hdr.flags;
			x->p = m.payload;
			x->nfds = m.nfds;
			memcpy(x->fds, m.fds, sizeof(m.fds));
			m.nfds = 0;	/* kept in the record */
		}
		pthread_mutex_unlock(&b->lock);
		vu_msg_close_fds(&m);

		switch (m.hdr.request) {
		case VU_REQ_GET_FEATURES:
			if (b->mode == FB_SHORT_FEATURES) {
				vu_msg_reply_init(&r, &m, 4);
			} else if (b->mode == FB_WRONG_ID) {
				vu_msg_init(&r, VU_REQ_GET_PROTOCOL_FEATURES, 8);
				r.hdr.flags |= VU_FLAG_REPLY;
			} else {
				vu_msg_reply_init(&r, &m, 8);
			}
			r.payload.u64 = b->features;
			break;
		case VU_REQ_GET_PROTOCOL_FEATURES:
			vu_msg_reply_init(&r, &m, 8);
			r.payload.u64 = b->pf;
			break;
		case VU_REQ_GET_QUEUE_NUM:
			vu_msg_reply_init(&r, &m, 8);
			r.payload.u64 = b->qnum;
			break;
		case VU_REQ_GET_VRING_BASE:
			vu_msg_reply_init(&r, &m, sizeof(struct vu_vring_state));
			r.payload.state.index = m.payload.state.index +
						(b->mode == FB_BAD_BASE_INDEX);
			break;
		default:
			if (!vu_msg_need_reply(&m))
				continue;
			vu_msg_reply_init(&r, &m, 8);
			r.payload.u64 = b->mode == FB_NACK_MEM &&
					m.hdr.request == VU_REQ_SET_MEM_TABLE;
			break;
		}
		if (vu_msg_send(s, &r))
			return;
	}
}

static void *fb_thread(void *arg)
{
	struct fb *b = arg;

	if (b->lfd < 0) {
		fb_serve(b, b->sock);
		return NULL;
	}
	for (unsigned int i = 0; i < b->sessions; i++) {
		int s = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (s < 0)
			return NULL;
		pthread_mutex_lock(&b->lock);
		b->sock = s;
		pthread_mutex_unlock(&b->lock);
		t.fb.accepted++;
		fb_serve(b, s);
		pthread_mutex_lock(&b->lock);
		b->sock = -1;
		pthread_mutex_unlock(&b->lock);
		close(s);
	}
	return NULL;
}

static void setup(void)
{
	memset(&t, 0, sizeof(t));
	t.memfd = memfd_create("vu-test-ram", MFD_CLOEXEC);
	cr_assert_geq(t.memfd, 0);
	cr_assert_eq(ftruncate(t.memfd, RAM), 0);
	t.ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, t.memfd, 0);
	cr_assert_neq(t.ram, MAP_FAILED);
	gm_init(&t.gm);
	/* Two regions of one file with a hole between them in guest physical space. */
	cr_assert_eq(gm_add_region(&t.gm, 0, RAM / 2, t.ram, t.memfd, 0), 0);
	cr_assert_eq(gm_add_region(&t.gm, 0x10000000, RAM / 2, t.ram + RAM / 2, t.memfd,
				   RAM / 2), 0);
	for (int i = 0; i < 2; i++) {
		t.kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		cr_assert_geq(t.kick[i], 0);
	}
	t.fb.sock = t.fb.lfd = -1;
	t.fb.features = GOOD_FEATURES;
	t.fb.pf = BIT(VU_PF_REPLY_ACK) | BIT(VU_PF_MQ);
	t.fb.qnum = 1;
	pthread_mutex_init(&t.fb.lock, NULL);
}

static void fb_close_recorded_fds(void)
{
	for (unsigned int i = 0; i < t.fb.n; i++)
		for (unsigned int j = 0; j < t.fb.rec[i].nfds; j++)
			close(t.fb.rec[i].fds[j]);
	t.fb.n = 0;
}

static void teardown(void)
{
	vu_front_destroy(t.f);
	t.f = NULL;
	if (t.fb.th)
		pthread_join(t.fb.th, NULL);
	fb_close_recorded_fds();
	if (t.fb.lfd >= 0)
		close(t.fb.lfd);
	for (int i = 0; i < 2; i++)
		close(t.kick[i]);
	munmap(t.ram, RAM);
	close(t.memfd);
}

static struct vu_front_opts opts(int fd)
{
	struct vu_front_opts o = {
		.fd = fd, .pairs = 1, .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
		.kick_fds = { t.kick[0], t.kick[1] },
	};

	return o;
}

/* Starts the fake back-end on a socketpair and creates the front-end on the other end. */
static int start_pair(struct err *e)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	t.fb.sock = sv[1];
	cr_assert_eq(pthread_create(&t.fb.th, NULL, fb_thread, &t.fb), 0);
	struct vu_front_opts o = opts(sv[0]);
	int r = vu_front_create(&o, &t.gm, test_irq, &t.f, e);

	if (r) {
		shutdown(sv[1], SHUT_RDWR);	/* the front-end closed sv[0]: the thread ends */
		pthread_join(t.fb.th, NULL);
		t.fb.th = 0;
	}
	return r;
}

static void end_pair(void)
{
	vu_front_destroy(t.f);
	t.f = NULL;
	pthread_join(t.fb.th, NULL);
	t.fb.th = 0;
	close(t.fb.sock);
}

/* Rings of queue q at 0x10000 + q * 0x4000: desc, avail (+0x1000), used (+0x2000). */
static uint64_t ring_gpa(unsigned int q, unsigned int part)
{
	return 0x10000 + q * 0x4000 + part * 0x1000;
}

static void driver_ok(struct virtio_dev *d)
{
	uint32_t lo, hi;

	virtio_dev_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	virtio_dev_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	virtio_dev_select_features(d, 0, false);
	lo = virtio_dev_features(d);
	virtio_dev_select_features(d, 1, false);
	hi = virtio_dev_features(d);
	virtio_dev_select_features(d, 0, true);
	virtio_dev_set_driver_features(d, lo);
	virtio_dev_select_features(d, 1, true);
	virtio_dev_set_driver_features(d, hi);
	virtio_dev_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			      VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned int q = 0; q < 2; q++) {
		virtio_dev_select_queue(d, q);
		virtio_dev_queue_set(d, VQF_SIZE, QSIZE);
		virtio_dev_queue_set(d, VQF_DESC_LO, ring_gpa(q, 0));
		virtio_dev_queue_set(d, VQF_AVAIL_LO, ring_gpa(q, 1));
		virtio_dev_queue_set(d, VQF_USED_LO, ring_gpa(q, 2));
		virtio_dev_queue_set(d, VQF_READY, 1);
	}
	virtio_dev_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			      VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

static uint16_t link_status(void)
{
	uint16_t st = 0xffff;

	virtio_dev_config_rw(vu_front_vdev(t.f), 6, &st, 2, false);
	return st;
}

/* Index of the first recorded request `req` at or after `from`, or -1. */
static int find(uint32_t req, unsigned int from)
{
	int r = -1;

	pthread_mutex_lock(&t.fb.lock);
	for (unsigned int i = from; i < t.fb.n; i++)
		if (t.fb.rec[i].req == req) {
			r = (int)i;
			break;
		}
	pthread_mutex_unlock(&t.fb.lock);
	return r;
}

static bool wait_for(bool (*cond)(void), int ms)
{
	for (; ms > 0; ms -= 10) {
		if (cond())
			return true;
		poll(NULL, 0, 10);
	}
	return cond();
}

TestSuite(vu_front, .init = setup, .fini = teardown);

Test(vu_front, setup_sequence_and_payloads_match_gmem)
{
	static const uint32_t want[] = {
		VU_REQ_GET_FEATURES, VU_REQ_SET_OWNER, VU_REQ_GET_PROTOCOL_FEATURES,
		VU_REQ_SET_PROTOCOL_FEATURES, VU_REQ_SET_FEATURES, VU_REQ_SET_MEM_TABLE,
		VU_REQ_SET_VRING_NUM, VU_REQ_SET_VRING_BASE, VU_REQ_SET_VRING_ADDR,
		VU_REQ_SET_VRING_KICK, VU_REQ_SET_VRING_CALL,
		VU_REQ_SET_VRING_NUM, VU_REQ_SET_VRING_BASE, VU_REQ_SET_VRING_ADDR,
		VU_REQ_SET_VRING_KICK, VU_REQ_SET_VRING_CALL,
		VU_REQ_SET_VRING_ENABLE, VU_REQ_SET_VRING_ENABLE,
	};
	struct err e = { 0 };
	struct stat a, b;
	uint64_t v;

	cr_assert_eq(start_pair(&e), 0, "%s", e.msg);
	cr_expect(vu_front_connected(t.f));
	cr_expect_eq(link_status() & VIRTIO_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);
	driver_ok(vu_front_vdev(t.f));
	cr_assert(vu_front_running(t.f));

	cr_assert_eq(t.fb.n, ARRAY_SIZE(want));
	for (unsigned int i = 0; i < ARRAY_SIZE(want); i++)
		cr_expect_eq(t.fb.rec[i].req, want[i], "message %u is %s, not %s", i,
			     vu_req_name(VU_FRONT_REQ, t.fb.rec[i].req),
			     vu_req_name(VU_FRONT_REQ, want[i]));
	/* Protocol features: only REPLY_ACK (MQ is offered but one pair needs none). */
	cr_expect_eq(t.fb.rec[3].p.u64, BIT(VU_PF_REPLY_ACK));
	/* REPLY_ACK asked for once negotiated. */
	cr_expect(t.fb.rec[4].flags & VU_FLAG_NEED_REPLY);
	cr_expect_eq(t.fb.rec[4].p.u64 & BIT(VU_F_PROTOCOL_FEATURES), BIT(VU_F_PROTOCOL_FEATURES));
	cr_expect_eq(t.fb.rec[4].p.u64 & ~GOOD_FEATURES, 0);

	/* Memory table: every gmem region, user_addr = our hva, the memfd itself. */
	const struct rec *mt = &t.fb.rec[5];

	cr_assert_eq(mt->p.mem.nregions, 2);
	cr_assert_eq(mt->nfds, 2);
	fstat(t.memfd, &a);
	for (unsigned int i = 0; i < 2; i++) {
		const struct vu_mem_region *r = &mt->p.mem.regions[i];

		cr_expect_eq(r->guest_addr, t.gm.r[i].gpa);
		cr_expect_eq(r->size, t.gm.r[i].len);
		cr_expect_eq(r->user_addr, (uint64_t)(uintptr_t)t.gm.r[i].hva);
		cr_expect_eq(r->mmap_offset, t.gm.r[i].fd_offset);
		fstat(mt->fds[i], &b);
		cr_expect(a.st_ino == b.st_ino && a.st_dev == b.st_dev, "region %u fd is the memfd", i);
	}
	for (unsigned int q = 0; q < 2; q++) {
		const struct rec *num = &t.fb.rec[6 + 5 * q], *base = num + 1, *addr = num + 2;
		const struct rec *kick = num + 3, *call = num + 4;

		cr_expect_eq(num->p.state.index, q);
		cr_expect_eq(num->p.state.num, QSIZE);
		cr_expect_eq(base->p.state.num, 0);
		cr_expect_eq(addr->p.addr.index, q);
		cr_expect_eq(addr->p.addr.desc, (uint64_t)(uintptr_t)(t.ram + ring_gpa(q, 0)));
		cr_expect_eq(addr->p.addr.avail, (uint64_t)(uintptr_t)(t.ram + ring_gpa(q, 1)));
		cr_expect_eq(addr->p.addr.used, (uint64_t)(uintptr_t)(t.ram + ring_gpa(q, 2)));
		cr_expect_eq(addr->p.addr.log, ring_gpa(q, 2));
		/* The kick fd is the caller's eventfd: what the back-end reads is what we write. */
		cr_assert_eq(kick->nfds, 1);
		v = 0;
		cr_expect_eq(read(t.kick[q], &v, 8), 8, "no start kick on ring %u", q);
		cr_expect_eq(v, 1);
		v = 3;
		cr_expect_eq(write(kick->fds[0], &v, 8), 8);
		v = 0;
		cr_expect_eq(read(t.kick[q], &v, 8), 8);
		cr_expect_eq(v, 3);
		/* The call fd raises queue q's interrupt through the front-end's thread. */
		cr_assert_eq(call->nfds, 1);
		v = 1;
		cr_expect_eq(write(call->fds[0], &v, 8), 8);
		for (int i = 0; i < 200 && !t.queue_irqs[q]; i++)
			poll(NULL, 0, 5);
		cr_expect_eq(t.queue_irqs[q], 1, "queue %u interrupt", q);
	}
	cr_expect_eq(t.fb.rec[16].p.state.num, 1);
	cr_expect_eq(t.fb.rec[17].p.state.num, 1);
	end_pair();
}

/*
 * The back-end attached before the guest's DRIVER_OK (DPDK testpmd started first): the
 * handshake alone at connect, the whole ring setup at DRIVER_OK, then one kick per ring so
 * that RX buffers the driver posted before DRIVER_OK (VIRTIO 1.2 §5.1.6.3) are announced to
 * a back-end that got the kick fd after they were made available.
 */
static bool handshake_recorded(void)
{
	return find(VU_REQ_SET_PROTOCOL_FEATURES, 0) >= 0;
}

Test(vu_front, backend_connected_before_driver_ok_gets_rings_then_a_kick)
{
	static const uint32_t rings[] = {
		VU_REQ_SET_FEATURES, VU_REQ_SET_MEM_TABLE,
		VU_REQ_SET_VRING_NUM, VU_REQ_SET_VRING_BASE, VU_REQ_SET_VRING_ADDR,
		VU_REQ_SET_VRING_KICK, VU_REQ_SET_VRING_CALL,
		VU_REQ_SET_VRING_NUM, VU_REQ_SET_VRING_BASE, VU_REQ_SET_VRING_ADDR,
		VU_REQ_SET_VRING_KICK, VU_REQ_SET_VRING_CALL,
		VU_REQ_SET_VRING_ENABLE, VU_REQ_SET_VRING_ENABLE,
	};
	struct err e = { 0 };
	struct vring_avail *avail = (void *)(t.ram + ring_gpa(0, 1));
	unsigned int hs;
	uint64_t v;

	cr_assert_eq(start_pair(&e), 0, "%s", e.msg);
	cr_assert(vu_front_connected(t.f));
	cr_expect_not(vu_front_running(t.f));
	/* SET_PROTOCOL_FEATURES has no ack: the fake back-end may still be recording it. */
	cr_assert(wait_for(handshake_recorded, 2000));
	poll(NULL, 0, 50);	/* and nothing else arrives on its own */
	hs = t.fb.n;
	cr_expect_eq(hs, 4, "only the handshake before DRIVER_OK, got %u messages", hs);
	cr_expect_eq(find(VU_REQ_SET_VRING_ADDR, 0), -1);
	cr_expect_eq(find(VU_REQ_SET_VRING_KICK, 0), -1);
	/* The driver fills the RX ring before DRIVER_OK, without a notify. */
	avail->idx = 16;
	cr_expect_eq(read(t.kick[0], &v, 8), -1, "no kick yet");

	driver_ok(vu_front_vdev(t.f));
	cr_assert(vu_front_running(t.f));
	cr_assert_eq(t.fb.n, hs + ARRAY_SIZE(rings));
	for (unsigned int i = 0; i < ARRAY_SIZE(rings); i++)
		cr_expect_eq(t.fb.rec[hs + i].req, rings[i], "message %u is %s, not %s", hs + i,
			     vu_req_name(VU_FRONT_REQ, t.fb.rec[hs + i].req),
			     vu_req_name(VU_FRONT_REQ, rings[i]));
	for (unsigned int q = 0; q < 2; q++) {
		const struct rec *base = &t.fb.rec[hs + 3 + 5 * q];
		const struct rec *addr = base + 1, *kick = base + 2;

		cr_expect_eq(base->p.state.num, 0, "a fresh ring starts at 0");
		cr_expect_eq(addr->p.addr.avail, (uint64_t)(uintptr_t)(t.ram + ring_gpa(q, 1)));
		cr_assert_eq(kick->nfds, 1);
		/* What the back-end reads on its kick fd: one kick, after it got the fd. */
		v = 0;
		cr_expect_eq(read(kick->fds[0], &v, 8), 8, "ring %u was not kicked", q);
		cr_expect_eq(v, 1);
		cr_expect_eq(t.fb.rec[hs + 12 + q].p.state.num, 1, "ring %u enabled", q);
	}
	end_pair();
}

Test(vu_front, reset_stops_rings_with_get_vring_base)
{
	struct err e = { 0 };
	unsigned int n;

	cr_assert_eq(start_pair(&e), 0, "%s", e.msg);
	driver_ok(vu_front_vdev(t.f));
	n = t.fb.n;
	virtio_dev_set_status(vu_front_vdev(t.f), 0);
	cr_expect_not(vu_front_running(t.f));
	cr_assert_eq(t.fb.n, n + 4);
	cr_expect_eq(t.fb.rec[n].req, VU_REQ_SET_VRING_ENABLE);
	cr_expect_eq(t.fb.rec[n].p.state.num, 0);
	cr_expect_eq(t.fb.rec[n + 1].req, VU_REQ_GET_VRING_BASE);
	cr_expect_eq(t.fb.rec[n + 3].req, VU_REQ_GET_VRING_BASE);
	cr_expect_eq(t.fb.rec[n + 3].p.state.index, 1);
	cr_expect(vu_front_connected(t.f));
	/* Started again: a fresh mem table and base 0. */
	driver_ok(vu_front_vdev(t.f));
	cr_expect(vu_front_running(t.f));
	cr_expect_geq(find(VU_REQ_SET_MEM_TABLE, n), 0);
	end_pair();
}

Test(vu_front, reply_of_wrong_size_is_refused)
{
	struct err e = { 0 };
	unsigned int before = count_fds();

	t.fb.mode = FB_SHORT_FEATURES;
	cr_expect_eq(start_pair(&e), -EPROTO);
	cr_expect_null(t.f);
	cr_expect(strstr(e.msg, "payload of 4 bytes"), "%s", e.msg);
	close(t.fb.sock);
	cr_expect_eq(count_fds(), before - 0, "no fd left (socketpair closed both ends)");
}

Test(vu_front, reply_to_another_request_is_refused)
{
	struct err e = { 0 };

	t.fb.mode = FB_WRONG_ID;
	cr_expect_eq(start_pair(&e), -EPROTO);
	cr_expect(strstr(e.msg, "reply to GET_PROTOCOL_FEATURES while waiting for GET_FEATURES"),
		  "%s", e.msg);
	close(t.fb.sock);
}

Test(vu_front, unknown_feature_bits_are_masked)
{
	struct err e = { 0 };

	t.fb.features = ~0ull;
	t.fb.pf = ~0ull;
	cr_assert_eq(start_pair(&e), 0, "%s", e.msg);
	driver_ok(vu_front_vdev(t.f));
	int i = find(VU_REQ_SET_PROTOCOL_FEATURES, 0), j = find(VU_REQ_SET_FEATURES, 0);

	cr_assert(i >= 0 && j >= 0);
	cr_expect_eq(t.fb.rec[i].p.u64, BIT(VU_PF_REPLY_ACK), "0x%llx",
		     (unsigned long long)t.fb.rec[i].p.u64);
	cr_expect_eq(t.fb.rec[j].p.u64 & ~GOOD_FEATURES, 0, "0x%llx",
		     (unsigned long long)t.fb.rec[j].p.u64);
	cr_expect_eq(vu_front_backend_features(t.f), t.fb.rec[j].p.u64);
	end_pair();
}

Test(vu_front, backend_without_event_idx_is_refused)
{
	struct err e = { 0 };

	t.fb.features = GOOD_FEATURES & ~BIT(VIRTIO_RING_F_EVENT_IDX);
	cr_expect_eq(start_pair(&e), -EPROTO);
	cr_expect(strstr(e.msg, "lacks virtio features 0x20000000"), "%s", e.msg);
	close(t.fb.sock);
}

Test(vu_front, nack_of_mem_table_drops_the_backend_not_the_guest)
{
	struct err e = { 0 };
	struct vu_front_stats st;

	t.fb.mode = FB_NACK_MEM;
	cr_assert_eq(start_pair(&e), 0, "%s", e.msg);
	driver_ok(vu_front_vdev(t.f));
	cr_expect_not(vu_front_connected(t.f));
	cr_expect_eq(link_status() & VIRTIO_NET_S_LINK_UP, 0);
	cr_expect(virtio_dev_status(vu_front_vdev(t.f)) & VIRTIO_CONFIG_S_DRIVER_OK);
	cr_expect_not(virtio_dev_is_broken(vu_front_vdev(t.f)));
	vu_front_stats(t.f, &st);
	cr_expect_eq(st.disconnects, 1);
	end_pair();
}

Test(vu_front, get_vring_base_for_another_ring_is_refused)
{
	struct err e = { 0 };
	struct vu_front_stats st;

	t.fb.mode = FB_BAD_BASE_INDEX;
	cr_assert_eq(start_pair(&e), 0, "%s", e.msg);
	driver_ok(vu_front_vdev(t.f));
	virtio_dev_set_status(vu_front_vdev(t.f), 0);
	cr_expect_not(vu_front_connected(t.f));
	vu_front_stats(t.f, &st);
	cr_expect_eq(st.bad_replies, 1);
	end_pair();
}

Test(vu_front, anonymous_ram_is_refused)
{
	struct vu_front_opts o = opts(-1);
	struct gmem gm;
	struct err e = { 0 };
	static uint8_t anon[1 << 16] __attribute__((aligned(4096)));

	o.path = "/nonexistent";
	gm_init(&gm);
	cr_assert_eq(gm_add_region(&gm, 0, sizeof(anon), anon, -1, 0), 0);
	cr_expect_eq(vu_front_create(&o, &gm, test_irq, &t.f, &e), -EINVAL);
	cr_expect(strstr(e.msg, "shared=on"), "%s", e.msg);
}

Test(vu_front, client_without_backend_fails_after_timeout)
{
	struct vu_front_opts o = opts(-1);
	struct err e = { 0 };
	unsigned int before = count_fds();

	o.path = "/tmp/vu-front-test-nobody.sock";
	cr_expect_eq(vu_front_create(&o, &t.gm, test_irq, &t.f, &e), -ENOENT);
	cr_expect(strstr(e.msg, "cannot connect"), "%s", e.msg);
	cr_expect_eq(count_fds(), before);
}

static bool disconnected(void)
{
	return !vu_front_connected(t.f);
}

Test(vu_front, hangup_takes_the_link_down_and_raises_config_irq)
{
	struct err e = { 0 };

	cr_assert_eq(start_pair(&e), 0, "%s", e.msg);
	driver_ok(vu_front_vdev(t.f));
	unsigned int irqs = t.config_irqs;

	shutdown(t.fb.sock, SHUT_RDWR);
	cr_assert(wait_for(disconnected, 2000));
	cr_expect_eq(link_status() & VIRTIO_NET_S_LINK_UP, 0);
	cr_expect_gt(t.config_irqs, irqs);
	cr_expect_not(virtio_dev_is_broken(vu_front_vdev(t.f)));
	end_pair();
}

static bool second_session_started(void)
{
	return t.fb.accepted == 2 && vu_front_running(t.f);
}

Test(vu_front, reconnect_replays_setup_from_the_used_index, .timeout = 20)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct err e = { 0 };
	unsigned int before = count_fds(), n;
	struct vring_used *used = (void *)(t.ram + ring_gpa(0, 2));

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/vu-front-test-%d.sock", getpid());
	unlink(sa.sun_path);
	t.fb.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(t.fb.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(t.fb.lfd, 1), 0);
	t.fb.sessions = 2;
	cr_assert_eq(pthread_create(&t.fb.th, NULL, fb_thread, &t.fb), 0);

	struct vu_front_opts o = opts(-1);

	o.path = sa.sun_path;
	o.reconnect_s = 2;
	cr_assert_eq(vu_front_create(&o, &t.gm, test_irq, &t.f, &e), 0, "%s", e.msg);
	driver_ok(vu_front_vdev(t.f));
	cr_assert(vu_front_running(t.f));
	used->idx = 5;		/* the back-end returned 5 buffers on the RX ring */
	n = t.fb.n;

	pthread_mutex_lock(&t.fb.lock);
	shutdown(t.fb.sock, SHUT_RDWR);		/* the back-end "crashes" */
	pthread_mutex_unlock(&t.fb.lock);
	cr_assert(wait_for(second_session_started, 5000), "reconnected within 5 s");
	cr_expect_eq(link_status() & VIRTIO_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);

	int i = find(VU_REQ_SET_VRING_BASE, n);

	cr_assert_geq(i, 0);
	cr_expect_eq(t.fb.rec[i].p.state.index, 0);
	cr_expect_eq(t.fb.rec[i].p.state.num, 5, "base = used index after a crash");
	cr_expect_geq(find(VU_REQ_SET_MEM_TABLE, n), 0);

	vu_front_destroy(t.f);
	t.f = NULL;
	pthread_join(t.fb.th, NULL);
	t.fb.th = 0;
	fb_close_recorded_fds();
	close(t.fb.lfd);
	t.fb.lfd = -1;
	unlink(sa.sun_path);
	cr_expect_eq(count_fds(), before, "every fd closed after two sessions");
}

static bool connected(void)
{
	return vu_front_connected(t.f);
}

Test(vu_front, server_mode_accepts_a_backend_later)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct err e = { 0 };
	struct vu_front_opts o = opts(-1);
	int s;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/vu-front-srv-%d.sock", getpid());
	o.path = sa.sun_path;
	o.server = true;
	cr_assert_eq(vu_front_create(&o, &t.gm, test_irq, &t.f, &e), 0, "%s", e.msg);
	cr_expect_eq(link_status() & VIRTIO_NET_S_LINK_UP, 0, "no back-end yet: link down");
	driver_ok(vu_front_vdev(t.f));
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	t.fb.sock = s;
	cr_assert_eq(pthread_create(&t.fb.th, NULL, fb_thread, &t.fb), 0);
	cr_assert(wait_for(connected, 3000));
	cr_expect(vu_front_running(t.f), "rings handed over at accept");
	cr_expect_eq(link_status() & VIRTIO_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);
	end_pair();
	cr_expect_neq(access(sa.sun_path, F_OK), 0, "socket removed at destroy");
}
