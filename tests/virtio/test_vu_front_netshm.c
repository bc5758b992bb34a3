// SPDX-License-Identifier: MIT
/*
 * The front-end's netshm half (docs/vhost-user-shmem.md §1, §2) against a fake back-end: the
 * protocol feature it requires, NETSHM_ATTACH replies good and hostile (no callback, the
 * connection refused, every fd closed), the back-end channel in peer mode with PEER_MAP /
 * PEER_UNMAP good and hostile (nack, fds closed, session goes on), and detach before the next
 * attach when the back-end goes away and comes back. Doorbells (§8): the features they need,
 * the back-end channel in shared mode, NETSHM_DOORBELL with the VMM's eventfd after the
 * attach, DOORBELL_MAP / DOORBELL_UNMAP good and hostile.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/netshm-abi.h"
#include "lib/fds.h"
#include "virtio/vhost-user/frontend.h"
#include "virtio/vhost-user/msg.h"

#define BIT(n)		(1ull << (n))
#define RAM		(2u << 20)
#define WINDOW		0x800000000ull	/* one peer window, as LAYOUT_NETSHM_PEER_STRIDE */
#define FEATURES	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_EVENT_IDX) |		\
			 BIT(VIRTIO_RING_F_INDIRECT_DESC) | BIT(VIRTIO_NET_F_MRG_RXBUF) |	\
			 BIT(VU_F_PROTOCOL_FEATURES))
#define PF_ALL		(BIT(VU_PF_REPLY_ACK) | BIT(VU_PF_BACKEND_REQ) | BIT(VU_PF_NETSHM))

enum reply_kind { R_GOOD, R_WRONG_SIZE, R_STATUS, R_NO_FD, R_TWO_FDS, R_SMALL_FILE, R_BAD_PORT };

/* The fake back-end of one session. */
struct nb {
	int sock;
	pthread_t th;
	uint64_t pf;
	enum reply_kind kind;
	int chan;			/* the back-end channel the front-end sent us */
	unsigned int attaches_seen;
	int db_fd;			/* the doorbell eventfd NETSHM_DOORBELL brought, or -1 */
	uint64_t db_status;		/* what we ack NETSHM_DOORBELL with */
	bool db_after_attach;		/* NETSHM_DOORBELL came after NETSHM_ATTACH */
};

static struct {
	int memfd, region, small;
	uint8_t *ram;
	struct gmem gm;
	int kick[2];
	struct nb nb;
	struct vu_front *f;
	pthread_mutex_t lock;		/* the callbacks run on the front-end's thread */
	char log[64];			/* 'A' attach, 'D' detach, 'M' peer_map, 'U' peer_unmap,
					   'B' doorbell_fd, 'm' doorbell_map, 'u' doorbell_unmap */
	unsigned int nlog;
	uint64_t size;
	uint32_t port, nports, map_port, map_nregions, unmap_port;
	off_t fd_size;			/* fstat of the fd the callback was handed */
	int fail_map;
	int db;				/* our doorbell eventfd (the VMM's irqfd) */
	int db_fd_ret;			/* doorbell_fd returns this if < 0 */
	uint32_t db_map_port, db_unmap_port;
	int db_fail_map;
} t;

static bool want_doorbell;		/* opts(): netshm_doorbell */

static void note(char c)
{
	pthread_mutex_lock(&t.lock);
	if (t.nlog < sizeof(t.log) - 1)
		t.log[t.nlog++] = c;
	pthread_mutex_unlock(&t.lock);
}

static int cb_attach(void *opaque, int fd, uint64_t size, uint32_t port, uint32_t nports)
{
	struct stat st;

	cr_assert_eq(opaque, &t);
	t.size = size;
	t.port = port;
	t.nports = nports;
	t.fd_size = fstat(fd, &st) ? -1 : st.st_size;
	note('A');
	return 0;
}

static void cb_detach(void *opaque)
{
	(void)opaque;
	note('D');
}

static int cb_peer_map(void *opaque, uint32_t port, const struct vu_mem *mem, const int *fds)
{
	struct stat st;

	(void)opaque;
	t.map_port = port;
	t.map_nregions = mem->nregions;
	t.fd_size = fstat(fds[0], &st) ? -1 : st.st_size;
	note('M');
	return t.fail_map;
}

static void cb_peer_unmap(void *opaque, uint32_t port)
{
	(void)opaque;
	t.unmap_port = port;
	note('U');
}

static int cb_doorbell_fd(void *opaque)
{
	(void)opaque;
	note('B');
	return t.db_fd_ret < 0 ? t.db_fd_ret : t.db;
}

/* Rings the fd it is handed with 7: the test reads it back from its own eventfd. */
static int cb_doorbell_map(void *opaque, uint32_t port, int fd)
{
	uint64_t v = 7;

	(void)opaque;
	t.db_map_port = port;
	cr_expect_eq(write(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	note('m');
	return t.db_fail_map;
}

static void cb_doorbell_unmap(void *opaque, uint32_t port)
{
	(void)opaque;
	t.db_unmap_port = port;
	note('u');
}

static void nop_queue(void *ctx, unsigned int q)
{
	(void)ctx;
	(void)q;
}

static void nop_config(void *ctx)
{
	(void)ctx;
}

static int memfd_of(const char *name, uint64_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void attach_reply(struct nb *b, const struct vu_msg *m, struct vu_msg *r)
{
	struct vu_netshm_attach_reply *rp = &r->payload.netshm_attach_reply;

	vu_msg_reply_init(r, m, sizeof(*rp));
	*rp = (struct vu_netshm_attach_reply){ .version = NETSHM_VERSION, .port = 0, .nports = 2,
					       .region_size = NETSHM_REGION_SIZE(2) };
	r->fds[0] = t.region;
	r->nfds = 1;
	switch (b->kind) {
	case R_GOOD:
		break;
	case R_WRONG_SIZE:
		rp->region_size += 0x200000;
		break;
	case R_STATUS:
		rp->status = EPERM;
		r->nfds = 0;
		break;
	case R_NO_FD:
		r->nfds = 0;
		break;
	case R_TWO_FDS:
		r->fds[1] = t.region;
		r->nfds = 2;
		break;
	case R_SMALL_FILE:
		r->fds[0] = t.small;
		break;
	case R_BAD_PORT:
		rp->port = 2;
		break;
	}
}

static void *nb_thread(void *arg)
{
	struct nb *b = arg;

	for (;;) {
		struct vu_msg m, r;
		char why[128];

		if (vu_msg_recv_checked(b->sock, VU_FRONT_REQ, &m, why, sizeof(why)))
			return NULL;
		switch (m.hdr.request) {
		case VU_REQ_GET_FEATURES:
			vu_msg_reply_init(&r, &m, 8);
			r.payload.u64 = FEATURES;
			break;
		case VU_REQ_GET_PROTOCOL_FEATURES:
			vu_msg_reply_init(&r, &m, 8);
			r.payload.u64 = b->pf;
			break;
		case VU_REQ_SET_BACKEND_REQ_FD:
			b->chan = m.fds[0];
			m.nfds = 0;
			goto ack;
		case VU_REQ_NETSHM_ATTACH:
			b->attaches_seen++;
			attach_reply(b, &m, &r);
			break;
		case VU_REQ_NETSHM_DOORBELL:
			b->db_after_attach = b->attaches_seen > 0;
			b->db_fd = m.fds[0];
			if (!vu_msg_need_reply(&m))
				continue;
			vu_msg_reply_init(&r, &m, 8);
			r.payload.u64 = b->db_status;
			break;
		default:
ack:
			vu_msg_close_fds(&m);
			if (!vu_msg_need_reply(&m))
				continue;
			vu_msg_reply_init(&r, &m, 8);
			break;
		}
		if (vu_msg_send(b->sock, &r))
			return NULL;
	}
}

static void setup(void)
{
	memset(&t, 0, sizeof(t));
	want_doorbell = false;
	pthread_mutex_init(&t.lock, NULL);
	t.memfd = memfd_of("ns-ram", RAM);
	t.region = memfd_of("ns-region", NETSHM_REGION_SIZE(2));
	t.small = memfd_of("ns-small", 4096);
	t.ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, t.memfd, 0);
	cr_assert_neq(t.ram, MAP_FAILED);
	gm_init(&t.gm);
	cr_assert_eq(gm_add_region(&t.gm, 0, RAM, t.ram, t.memfd, 0), 0);
	for (int i = 0; i < 2; i++) {
		t.kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		cr_assert_geq(t.kick[i], 0);
	}
	t.nb.sock = t.nb.chan = t.nb.db_fd = -1;
	t.nb.pf = PF_ALL;
	t.db = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cr_assert_geq(t.db, 0);
}

static void stop_backend(void)
{
	if (t.nb.sock >= 0)
		shutdown(t.nb.sock, SHUT_RDWR);
	if (t.nb.th)
		pthread_join(t.nb.th, NULL);
	t.nb.th = 0;
	if (t.nb.sock >= 0)
		close(t.nb.sock);
	if (t.nb.chan >= 0)
		close(t.nb.chan);
	if (t.nb.db_fd >= 0)
		close(t.nb.db_fd);
	t.nb.sock = t.nb.chan = t.nb.db_fd = -1;
}

static void teardown(void)
{
	vu_front_destroy(t.f);
	t.f = NULL;
	stop_backend();
	for (int i = 0; i < 2; i++)
		close(t.kick[i]);
	munmap(t.ram, RAM);
	close(t.memfd);
	close(t.region);
	close(t.small);
	close(t.db);
}

TestSuite(vu_front_ns, .init = setup, .fini = teardown);

static struct vu_front_opts opts(int fd, unsigned int mode)
{
	return (struct vu_front_opts){
		.netshm_doorbell = want_doorbell,
		.fd = fd, .pairs = 1, .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
		.kick_fds = { t.kick[0], t.kick[1] },
		.netshm_mode = mode,
		.netshm_ops = { .opaque = &t, .attach = cb_attach, .detach = cb_detach,
				.peer_map = cb_peer_map, .peer_unmap = cb_peer_unmap,
				.doorbell_fd = cb_doorbell_fd, .doorbell_map = cb_doorbell_map,
				.doorbell_unmap = cb_doorbell_unmap },
		.netshm_peer_window = WINDOW,
	};
}

/* Fake back-end on a socketpair, the front-end on the other end (fd mode). */
static int start(unsigned int mode, struct err *e)
{
	struct virtio_irq irq = { .queue = nop_queue, .config = nop_config };
	int sv[2];
	int r;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	t.nb.sock = sv[1];
	cr_assert_eq(pthread_create(&t.nb.th, NULL, nb_thread, &t.nb), 0);
	struct vu_front_opts o = opts(sv[0], mode);

	r = vu_front_create(&o, &t.gm, irq, &t.f, e);
	if (r)
		stop_backend();
	return r;
}

static void expect_refused(unsigned int mode, const char *needle)
{
	struct err e = { 0 };
	unsigned int before = count_fds();

	cr_assert_neq(start(mode, &e), 0, "the back-end was accepted");
	cr_expect(strstr(e.msg, needle), "message '%s' lacks '%s'", e.msg, needle);
	cr_expect_eq(t.nlog, 0, "callbacks ran: %s", t.log);
	cr_expect_eq(count_fds(), before, "an fd leaked");
}

Test(vu_front_ns, backend_without_the_netshm_feature_is_refused)
{
	t.nb.pf = BIT(VU_PF_REPLY_ACK) | BIT(VU_PF_BACKEND_REQ);
	expect_refused(VU_NETSHM_MODE_SHARED, "NETSHM");
	cr_expect_eq(t.nb.attaches_seen, 0);
}

Test(vu_front_ns, peer_mode_without_backend_req_is_refused)
{
	t.nb.pf = BIT(VU_PF_REPLY_ACK) | BIT(VU_PF_NETSHM);
	expect_refused(VU_NETSHM_MODE_PEER, "BACKEND_REQ");
}

Test(vu_front_ns, attach_reply_with_wrong_region_size_is_refused)
{
	t.nb.kind = R_WRONG_SIZE;
	expect_refused(VU_NETSHM_MODE_SHARED, "region");
}

Test(vu_front_ns, attach_refused_by_status_is_named)
{
	t.nb.kind = R_STATUS;
	expect_refused(VU_NETSHM_MODE_SHARED, strerror(EPERM));
}

Test(vu_front_ns, attach_reply_without_fd_is_refused)
{
	t.nb.kind = R_NO_FD;
	expect_refused(VU_NETSHM_MODE_SHARED, "fd");
}

Test(vu_front_ns, attach_reply_with_two_fds_is_refused)
{
	t.nb.kind = R_TWO_FDS;
	expect_refused(VU_NETSHM_MODE_SHARED, "fd");
}

Test(vu_front_ns, region_file_smaller_than_the_region_is_refused)
{
	t.nb.kind = R_SMALL_FILE;
	expect_refused(VU_NETSHM_MODE_SHARED, "at least");
}

Test(vu_front_ns, port_not_below_nports_is_refused)
{
	t.nb.kind = R_BAD_PORT;
	expect_refused(VU_NETSHM_MODE_SHARED, "port");
}

Test(vu_front_ns, good_attach_hands_the_region_over_and_closes_the_fd)
{
	struct err e = { 0 };
	struct vu_front_stats s;
	unsigned int before = count_fds();

	cr_assert_eq(start(VU_NETSHM_MODE_SHARED, &e), 0, "%s", e.msg);
	cr_expect_str_eq(t.log, "A");
	cr_expect_eq(t.size, NETSHM_REGION_SIZE(2));
	cr_expect_eq(t.port, 0);
	cr_expect_eq(t.nports, 2);
	cr_expect_eq(t.fd_size, (off_t)NETSHM_REGION_SIZE(2), "the fd was the region");
	cr_expect_eq(t.nb.chan, -1, "no back-end channel in shared mode");
	vu_front_stats(t.f, &s);
	cr_expect_eq(s.ns_attaches, 1);
	vu_front_destroy(t.f);
	t.f = NULL;
	stop_backend();
	cr_expect_str_eq(t.log, "AD");
	cr_expect_eq(count_fds(), before, "the received region fd leaked");
}

/* ---- peer mode: the back-end channel ---- */

static uint64_t peer_request(struct vu_msg *m)
{
	struct vu_msg r;
	char why[128];

	m->hdr.flags |= VU_FLAG_NEED_REPLY;
	cr_assert_eq(vu_msg_send(t.nb.chan, m), 0);
	/* Unchecked: the reply to an unknown id would fail the table lookup. */
	cr_assert_eq(vu_msg_recv(t.nb.chan, &r, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(r.hdr.request, m->hdr.request);
	cr_assert_eq(r.hdr.flags & VU_FLAG_REPLY, VU_FLAG_REPLY);
	cr_assert_eq(r.hdr.size, 8);
	cr_assert_eq(r.nfds, 0);
	return r.payload.u64;
}

static void peer_map_msg(struct vu_msg *m, uint32_t port, uint64_t gpa, uint64_t size, int fd)
{
	vu_msg_init(m, VU_BREQ_NETSHM_PEER_MAP,
		    offsetof(struct vu_netshm_peer_map, mem.regions) + sizeof(struct vu_mem_region));
	m->payload.netshm_peer_map.port = port;
	m->payload.netshm_peer_map.mem.nregions = 1;
	m->payload.netshm_peer_map.mem.regions[0] = (struct vu_mem_region){
		.guest_addr = gpa, .size = size };
	m->fds[0] = fd;
	m->nfds = 1;
}

static void start_peer(void)
{
	struct err e = { 0 };

	cr_assert_eq(start(VU_NETSHM_MODE_PEER, &e), 0, "%s", e.msg);
	cr_assert_geq(t.nb.chan, 0, "SET_BACKEND_REQ_FD sent");
	cr_assert_str_eq(t.log, "A");
}

Test(vu_front_ns, peer_map_reaches_the_vmm_with_its_fd)
{
	struct vu_msg m;
	int fd = memfd_of("peer", 0x10000);

	start_peer();
	peer_map_msg(&m, 1, 0x100000, 0x10000, fd);
	cr_expect_eq(peer_request(&m), 0);
	cr_expect_str_eq(t.log, "AM");
	cr_expect_eq(t.map_port, 1);
	cr_expect_eq(t.map_nregions, 1);
	cr_expect_eq(t.fd_size, 0x10000);
	close(fd);
}

/* m is refused; the VMM's callbacks saw only `log` (the setup's); the session goes on. */
static void expect_request_refused(struct vu_msg *m, const char *what, const char *log)
{
	struct vu_front_stats s;
	unsigned int before = count_fds();

	cr_expect_neq(peer_request(m), 0, "%s accepted", what);
	cr_expect_str_eq(t.log, log, "%s reached the VMM", what);
	/* Our fd stays ours; the front-end's received copy must be gone. */
	cr_expect_eq(count_fds(), before, "%s: the received fd leaked", what);
	vu_front_stats(t.f, &s);
	cr_expect_geq(s.ns_refused, 1);
	cr_expect(vu_front_connected(t.f), "%s: the session goes on", what);
}

static void expect_nack(struct vu_msg *m, const char *what)
{
	expect_request_refused(m, what, "A");
}

Test(vu_front_ns, peer_map_of_own_port_is_refused)
{
	struct vu_msg m;
	int fd = memfd_of("peer", 0x10000);

	start_peer();
	peer_map_msg(&m, 0, 0, 0x10000, fd);
	expect_nack(&m, "own port");
	close(fd);
}

Test(vu_front_ns, peer_map_of_port_beyond_nports_is_refused)
{
	struct vu_msg m;
	int fd = memfd_of("peer", 0x10000);

	start_peer();
	peer_map_msg(&m, 2, 0, 0x10000, fd);
	expect_nack(&m, "port 2 of 2");
	close(fd);
}

Test(vu_front_ns, peer_region_past_the_window_is_refused)
{
	struct vu_msg m;
	int fd = memfd_of("peer", 0x10000);

	start_peer();
	peer_map_msg(&m, 1, WINDOW - 0x1000, 0x10000, fd);
	expect_nack(&m, "past the window");
	close(fd);
}

Test(vu_front_ns, peer_fd_smaller_than_its_region_is_refused)
{
	struct vu_msg m;
	int fd = memfd_of("peer", 0x1000);

	start_peer();
	peer_map_msg(&m, 1, 0, 0x10000, fd);
	expect_nack(&m, "short file");
	close(fd);
}

Test(vu_front_ns, peer_map_with_unaligned_region_is_refused)
{
	struct vu_msg m;
	int fd = memfd_of("peer", 0x10000);

	start_peer();
	peer_map_msg(&m, 1, 0x800, 0x1000, fd);
	expect_nack(&m, "unaligned");
	close(fd);
}

Test(vu_front_ns, peer_map_the_vmm_cannot_do_is_nacked)
{
	struct vu_msg m;
	int fd = memfd_of("peer", 0x10000);

	start_peer();
	t.fail_map = -ENOMEM;
	peer_map_msg(&m, 1, 0, 0x10000, fd);
	cr_expect_neq(peer_request(&m), 0);
	cr_expect_str_eq(t.log, "AM");
	cr_expect(vu_front_connected(t.f));
	close(fd);
}

Test(vu_front_ns, peer_unmap_reaches_the_vmm)
{
	struct vu_msg m;

	start_peer();
	vu_msg_init(&m, VU_BREQ_NETSHM_PEER_UNMAP, sizeof(struct vu_netshm_peer));
	m.payload.netshm_peer.port = 1;
	cr_expect_eq(peer_request(&m), 0);
	cr_expect_str_eq(t.log, "AU");
	cr_expect_eq(t.unmap_port, 1);
	m.payload.netshm_peer.port = 7;
	cr_expect_neq(peer_request(&m), 0, "port 7 of 2");
	cr_expect_str_eq(t.log, "AU");
}

Test(vu_front_ns, unknown_backend_request_is_nacked_and_the_session_goes_on)
{
	struct vu_msg m;

	start_peer();
	vu_msg_init(&m, 1005, 0);
	cr_expect_neq(peer_request(&m), 0);
	cr_expect(vu_front_connected(t.f));
	cr_expect_str_eq(t.log, "A");
}

static bool detached(void)
{
	bool d;

	pthread_mutex_lock(&t.lock);
	d = t.nlog >= 2 && t.log[t.nlog - 1] == 'D';
	pthread_mutex_unlock(&t.lock);
	return d;
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

Test(vu_front_ns, hangup_detaches)
{
	start_peer();
	shutdown(t.nb.sock, SHUT_RDWR);
	cr_expect(wait_for(detached, 3000), "log %s", t.log);
	cr_expect_str_eq(t.log, "AD");
}

Test(vu_front_ns, backend_channel_hangup_drops_the_session)
{
	start_peer();
	close(t.nb.chan);
	t.nb.chan = -1;
	cr_expect(wait_for(detached, 3000), "log %s", t.log);
	cr_expect_not(vu_front_connected(t.f));
}

static bool reattached(void)
{
	bool d;

	pthread_mutex_lock(&t.lock);
	d = t.nlog >= 3;
	pthread_mutex_unlock(&t.lock);
	return d;
}

Test(vu_front_ns, reconnect_detaches_then_attaches_again, .timeout = 20)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct virtio_irq irq = { .queue = nop_queue, .config = nop_config };
	struct err e = { 0 };
	struct vu_front_opts o = opts(-1, VU_NETSHM_MODE_PEER);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/vu-front-ns-%d.sock", getpid());
	o.path = sa.sun_path;
	o.server = true;
	cr_assert_eq(vu_front_create(&o, &t.gm, irq, &t.f, &e), 0, "%s", e.msg);
	for (int round = 0; round < 2; round++) {
		t.nb.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_eq(connect(t.nb.sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
		cr_assert_eq(pthread_create(&t.nb.th, NULL, nb_thread, &t.nb), 0);
		if (round == 0) {
			for (int ms = 0; ms < 3000 && !t.nlog; ms += 10)
				poll(NULL, 0, 10);
			cr_assert_str_eq(t.log, "A");
			stop_backend();
			cr_assert(wait_for(detached, 3000), "log %s", t.log);
		}
	}
	cr_assert(wait_for(reattached, 3000), "log %s", t.log);
	cr_expect_str_eq(t.log, "ADA", "detach before the next attach");
	vu_front_destroy(t.f);
	t.f = NULL;
	cr_expect_str_eq(t.log, "ADAD", "destroy detaches too");
}

/* ---- doorbells (§8) ---- */

Test(vu_front_ns, doorbell_without_backend_req_is_refused)
{
	want_doorbell = true;
	t.nb.pf = BIT(VU_PF_REPLY_ACK) | BIT(VU_PF_NETSHM);
	expect_refused(VU_NETSHM_MODE_SHARED, "doorbell=on needs the back-end's BACKEND_REQ");
	cr_expect_eq(t.nb.attaches_seen, 0);
}

Test(vu_front_ns, doorbell_without_reply_ack_is_refused)
{
	want_doorbell = true;
	t.nb.pf = BIT(VU_PF_BACKEND_REQ) | BIT(VU_PF_NETSHM);
	expect_refused(VU_NETSHM_MODE_SHARED, "REPLY_ACK");
}

Test(vu_front_ns, doorbell_refused_by_the_backend_drops_the_session)
{
	want_doorbell = true;
	t.nb.db_status = EBUSY;
	struct err e = { 0 };

	cr_assert_neq(start(VU_NETSHM_MODE_SHARED, &e), 0, "accepted");
	cr_expect(strstr(e.msg, "NETSHM_DOORBELL"), "%s", e.msg);
	cr_expect_str_eq(t.log, "ABD", "attached, doorbell asked, detached");
}

Test(vu_front_ns, doorbell_without_an_eventfd_drops_the_session)
{
	want_doorbell = true;
	t.db_fd_ret = -EBADF;
	struct err e = { 0 };

	cr_assert_neq(start(VU_NETSHM_MODE_SHARED, &e), 0, "accepted");
	cr_expect(strstr(e.msg, "doorbell"), "%s", e.msg);
	cr_expect_eq(t.nb.db_fd, -1, "nothing sent");
}

static void start_db(unsigned int mode)
{
	struct err e = { 0 };

	want_doorbell = true;
	cr_assert_eq(start(mode, &e), 0, "%s", e.msg);
	cr_assert_geq(t.nb.chan, 0, "SET_BACKEND_REQ_FD sent");
	cr_assert_str_eq(t.log, "AB");
}

Test(vu_front_ns, doorbell_goes_to_the_backend_after_attach_in_shared_mode)
{
	struct vu_front_stats s;
	uint64_t one = 1, v = 0;

	start_db(VU_NETSHM_MODE_SHARED);
	cr_assert_geq(t.nb.db_fd, 0, "NETSHM_DOORBELL carried an fd");
	cr_expect(t.nb.db_after_attach);
	/* It is the VMM's eventfd: a ring through the back-end's copy shows up in ours. */
	cr_assert_eq(write(t.nb.db_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	cr_expect_eq(read(t.db, &v, sizeof(v)), (ssize_t)sizeof(v));
	cr_expect_eq(v, 1);
	vu_front_stats(t.f, &s);
	cr_expect_eq(s.ns_doorbells, 1);
	cr_expect(vu_front_connected(t.f));
}

Test(vu_front_ns, no_doorbell_without_doorbell_on)
{
	struct err e = { 0 };

	cr_assert_eq(start(VU_NETSHM_MODE_SHARED, &e), 0, "%s", e.msg);
	cr_expect_eq(t.nb.db_fd, -1);
	cr_expect_str_eq(t.log, "A");
}

static void db_msg(struct vu_msg *m, uint32_t req, uint32_t port, int fd)
{
	vu_msg_init(m, req, sizeof(struct vu_netshm_peer));
	m->payload.netshm_peer.port = port;
	if (fd >= 0) {
		m->fds[0] = fd;
		m->nfds = 1;
	}
}

Test(vu_front_ns, doorbell_map_reaches_the_vmm_with_its_fd)
{
	struct vu_front_stats s;
	struct vu_msg m;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t v = 0;

	start_db(VU_NETSHM_MODE_SHARED);
	db_msg(&m, VU_BREQ_NETSHM_DOORBELL_MAP, 1, fd);
	cr_expect_eq(peer_request(&m), 0);
	cr_expect_str_eq(t.log, "ABm");
	cr_expect_eq(t.db_map_port, 1);
	cr_expect_eq(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v), "the VMM got our eventfd");
	cr_expect_eq(v, 7);
	vu_front_stats(t.f, &s);
	cr_expect_eq(s.ns_doorbell_maps, 1);
	close(fd);
}

static void expect_db_nack(struct vu_msg *m, const char *what)
{
	expect_request_refused(m, what, "AB");	/* attach, doorbell sent */
}

Test(vu_front_ns, doorbell_map_of_own_port_is_refused)
{
	struct vu_msg m;
	int fd = eventfd(0, EFD_CLOEXEC);

	start_db(VU_NETSHM_MODE_SHARED);
	db_msg(&m, VU_BREQ_NETSHM_DOORBELL_MAP, 0, fd);
	expect_db_nack(&m, "own port");
	close(fd);
}

Test(vu_front_ns, doorbell_map_of_port_beyond_nports_is_refused)
{
	struct vu_msg m;
	int fd = eventfd(0, EFD_CLOEXEC);

	start_db(VU_NETSHM_MODE_SHARED);
	db_msg(&m, VU_BREQ_NETSHM_DOORBELL_MAP, 2, fd);
	expect_db_nack(&m, "port 2 of 2");
	db_msg(&m, VU_BREQ_NETSHM_DOORBELL_MAP, 8, fd);
	expect_db_nack(&m, "port 8");
	close(fd);
}

Test(vu_front_ns, doorbell_map_without_fd_is_refused)
{
	struct vu_msg m;

	start_db(VU_NETSHM_MODE_SHARED);
	db_msg(&m, VU_BREQ_NETSHM_DOORBELL_MAP, 1, -1);
	expect_db_nack(&m, "no fd");
}

Test(vu_front_ns, doorbell_map_the_vmm_cannot_do_is_nacked)
{
	struct vu_msg m;
	int fd = eventfd(0, EFD_CLOEXEC);

	start_db(VU_NETSHM_MODE_SHARED);
	t.db_fail_map = -EINVAL;
	db_msg(&m, VU_BREQ_NETSHM_DOORBELL_MAP, 1, fd);
	cr_expect_eq(peer_request(&m), EINVAL);
	cr_expect_str_eq(t.log, "ABm");
	cr_expect(vu_front_connected(t.f));
	close(fd);
}

Test(vu_front_ns, doorbell_unmap_reaches_the_vmm)
{
	struct vu_msg m;

	start_db(VU_NETSHM_MODE_SHARED);
	db_msg(&m, VU_BREQ_NETSHM_DOORBELL_UNMAP, 1, -1);
	cr_expect_eq(peer_request(&m), 0);
	cr_expect_str_eq(t.log, "ABu");
	cr_expect_eq(t.db_unmap_port, 1);
	db_msg(&m, VU_BREQ_NETSHM_DOORBELL_UNMAP, 2, -1);
	cr_expect_neq(peer_request(&m), 0, "port 2 of 2");
	cr_expect_str_eq(t.log, "ABu");
}

Test(vu_front_ns, doorbell_requests_without_doorbell_on_are_refused)
{
	struct vu_msg m;
	int fd = eventfd(0, EFD_CLOEXEC);
	unsigned int before;

	start_peer();
	before = count_fds();
	db_msg(&m, VU_BREQ_NETSHM_DOORBELL_MAP, 1, fd);
	cr_expect_neq(peer_request(&m), 0);
	db_msg(&m, VU_BREQ_NETSHM_DOORBELL_UNMAP, 1, -1);
	cr_expect_neq(peer_request(&m), 0);
	cr_expect_str_eq(t.log, "A");
	cr_expect_eq(count_fds(), before, "the received fd leaked");
	cr_expect(vu_front_connected(t.f));
	close(fd);
}

Test(vu_front_ns, peer_map_in_shared_mode_with_doorbells_is_refused)
{
	struct vu_msg m;
	int fd = memfd_of("peer", 0x10000);

	start_db(VU_NETSHM_MODE_SHARED);
	peer_map_msg(&m, 1, 0x100000, 0x10000, fd);
	expect_db_nack(&m, "PEER_MAP in shared mode");
	close(fd);
}

Test(vu_front_ns, doorbells_in_peer_mode_too)
{
	struct vu_msg m;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	start_db(VU_NETSHM_MODE_PEER);
	cr_expect_geq(t.nb.db_fd, 0);
	db_msg(&m, VU_BREQ_NETSHM_DOORBELL_MAP, 1, fd);
	cr_expect_eq(peer_request(&m), 0);
	cr_expect_str_eq(t.log, "ABm");
	close(fd);
}

Test(vu_front_ns, doorbell_without_its_callbacks_is_refused_at_create)
{
	struct virtio_irq irq = { .queue = nop_queue, .config = nop_config };
	struct err e = { 0 };
	struct vu_front_opts o;

	want_doorbell = true;
	o = opts(-1, VU_NETSHM_MODE_SHARED);
	o.path = "/nonexistent";
	o.netshm_ops.doorbell_map = NULL;
	cr_expect_eq(vu_front_create(&o, &t.gm, irq, &t.f, &e), -EINVAL);
	cr_expect(strstr(e.msg, "doorbell"), "%s", e.msg);
	o = opts(-1, 0);
	o.path = "/nonexistent";
	cr_expect_eq(vu_front_create(&o, &t.gm, irq, &t.f, &e), -EINVAL, "doorbell without netshm");
}
