// SPDX-License-Identifier: MIT
/*
 * TAP backend of virtio-net: see tap.h. Kernel interface: Documentation/networking/tuntap.rst
 * and <linux/if_tun.h>; io_uring restrictions: io_uring_register(2), IORING_REGISTER_*.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "devices/tap.h"

#define TAP_TX_BATCH	NET_BATCH
#define TAP_RING_SIZE	64

/* user_data of the worker ring: kind << 32 | index. */
enum { TAP_EV_WAKE = 1, TAP_EV_RX, TAP_EV_NOTIFY };
#define TAP_UD(kind, i)	((uint64_t)(kind) << 32 | (uint32_t)(i))

struct tap_queue {
	int fd;
	struct io_uring txr;			/* WRITEV only, fixed file 0 = fd */
	bool txr_ok;
	struct iovec txiov[TAP_TX_BATCH][NET_MAX_IOV];
	unsigned int ntx;
	bool rx_armed;				/* a POLL_ADD on fd is in flight */
	bool rx_blocked;			/* waiting for rx_kick (no guest buffers) */
};

struct tap {
	char ifname[IFNAMSIZ];
	unsigned int nq;
	struct tap_queue q[TAP_MAX_QUEUES];
	bool offloads_ok;
	struct virtio_net *net;

	int wake_fd;
	int notify_fd[VIRTIO_MAX_QUEUES];	/* -1 = none; not ours */
	int notify_slot[VIRTIO_MAX_QUEUES];	/* fixed-file index in the worker ring */

	struct io_uring ring;
	bool ring_ok;
	pthread_t thread;
	bool running;
	bool stop;				/* atomic */
	bool kicked;				/* atomic: rx_kick since the worker last looked */

	uint64_t tx_frames, tx_errors, rx_frames, rx_errors;	/* atomic */
};

static void tap_count(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static int tap_uring_register(struct io_uring *r, unsigned int op, const void *arg,
			      unsigned int n)
{
	int ret = io_uring_register(r->ring_fd, op, arg, n);

	/* liburing's wrapper returns -errno, or -1 with errno when built over libc. */
	return ret == -1 ? -errno : ret;
}

/*
 * Creates a ring disabled, gives it its files, allows only `ops` (fixed files required, no
 * later io_uring_register calls), then enables it: a bug or an exploit in our loop cannot
 * make the ring open, read or write anything else.
 */
static int tap_ring_init(struct io_uring *r, unsigned int entries, const int *files,
			 unsigned int nfiles, const uint8_t *ops, unsigned int nops)
{
	struct io_uring_restriction res[8] = { 0 };
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
	unsigned int i, n = 0;
	int ret;

	ret = io_uring_queue_init_params(entries, r, &p);
	if (ret < 0)
		return ret;
	ret = io_uring_register_files(r, files, nfiles);
	if (ret < 0)
		goto fail;
	for (i = 0; i < nops; i++)
		res[n++] = (struct io_uring_restriction){ .opcode = IORING_RESTRICTION_SQE_OP,
							  .sqe_op = ops[i] };
	res[n++] = (struct io_uring_restriction){ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED,
						  .sqe_flags = IOSQE_FIXED_FILE };
	res[n++] = (struct io_uring_restriction){ .opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED,
						  .sqe_flags = IOSQE_FIXED_FILE };
	/*
	 * The raw register call: Debian's liburing 2.3 declares io_uring_register_restrictions()
	 * and io_uring_enable_rings() but does not export them from the shared library.
	 */
	ret = tap_uring_register(r, IORING_REGISTER_RESTRICTIONS, res, n);
	if (ret < 0)
		goto fail;
	ret = tap_uring_register(r, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret < 0)
		goto fail;
	return 0;
fail:
	io_uring_queue_exit(r);
	return ret;
}

/* --- fds --- */

static int tap_open_queue(struct tap *t, const char *name, bool mq, struct err *e)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd;

	if (mq)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	if (name)
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "tap: opening /dev/net/tun: %s", strerror(errno));
	/*
	 * EBUSY: a persistent TAP is still attached to the previous user's queue. Its io_uring
	 * releases registered files from a kernel work item after the process is gone, so a VMM
	 * restarted at once can race it; give that up to a second.
	 */
	for (int tries = 0; ioctl(fd, TUNSETIFF, &ifr) < 0; tries++) {
		int ret = -errno;

		if (ret == -EBUSY && tries < 100) {
			usleep(10000);
			continue;
		}
		close(fd);
		return err_set(e, ret, "tap: TUNSETIFF %s: %s", name && *name ? name : "(new)",
			       strerror(-ret));
	}
	memcpy(t->ifname, ifr.ifr_name, IFNAMSIZ);
	t->ifname[IFNAMSIZ - 1] = 0;
	return fd;
}

/* An adopted fd must be a TAP queue with exactly the flags we would have used. */
static int tap_check_adopted(struct tap *t, int fd, bool mq, struct err *e)
{
	short want = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	struct ifreq ifr = { 0 };
	int fl;

	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return err_set(e, -EINVAL, "tap: fd %d is not a TUN/TAP fd", fd);
	if ((ifr.ifr_flags & (want | IFF_TUN)) != want)
		return err_set(e, -EINVAL, "tap: fd %d (%.16s) is not a TAP with IFF_NO_PI|IFF_VNET_HDR",
			       fd, ifr.ifr_name);
	if (mq && !(ifr.ifr_flags & IFF_MULTI_QUEUE))
		return err_set(e, -EINVAL, "tap: fd %d (%.16s) is not IFF_MULTI_QUEUE", fd,
			       ifr.ifr_name);
	if (t->ifname[0] && strncmp(t->ifname, ifr.ifr_name, IFNAMSIZ))
		return err_set(e, -EINVAL, "tap: fds belong to different interfaces (%s, %.16s)",
			       t->ifname, ifr.ifr_name);
	memcpy(t->ifname, ifr.ifr_name, IFNAMSIZ);
	t->ifname[IFNAMSIZ - 1] = 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return err_set(e, -errno, "tap: fd %d: O_NONBLOCK: %s", fd, strerror(errno));
	return 0;
}

static int tap_setup_queue(struct tap *t, struct tap_queue *q, struct err *e)
{
	static const uint8_t ops[] = { IORING_OP_WRITEV };
	int hdr = NET_HDR_LEN;
	int ret;

	/* virtio_net_hdr_v1 (12 bytes) on both sides: frames pass through unchanged. */
	if (ioctl(q->fd, TUNSETVNETHDRSZ, &hdr) < 0)
		return err_set(e, -errno, "tap %s: TUNSETVNETHDRSZ: %s", t->ifname, strerror(errno));
	ret = tap_ring_init(&q->txr, TAP_TX_BATCH, &q->fd, 1, ops, ARRAY_SIZE(ops));
	if (ret < 0)
		return err_set(e, ret, "tap %s: TX io_uring: %s", t->ifname, strerror(-ret));
	q->txr_ok = true;
	return 0;
}

int tap_create(const struct tap_opts *o, struct tap **out, struct err *e)
{
	unsigned int i;
	struct tap *t;
	int ret;

	if (!o->queues || o->queues > TAP_MAX_QUEUES || (o->nfds && o->nfds != o->queues) ||
	    o->nfds > TAP_MAX_QUEUES) {
		ret = err_set(e, -EINVAL, "tap: %u queues with %u fds (1..%u queues, fds 0 or one each)",
			      o->queues, o->nfds, TAP_MAX_QUEUES);
		goto err_close_adopted;
	}
	if (o->ifname && strlen(o->ifname) >= IFNAMSIZ) {
		ret = err_set(e, -EINVAL, "tap: interface name '%s' is too long", o->ifname);
		goto err_close_adopted;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		ret = err_set(e, -ENOMEM, "tap: out of memory");
		goto err_close_adopted;
	}
	t->wake_fd = -1;
	for (i = 0; i < TAP_MAX_QUEUES; i++)
		t->q[i].fd = -1;
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		t->notify_fd[i] = -1;
	/* From here on the adopted fds are in t and tap_destroy closes them. */
	for (i = 0; i < o->nfds; i++)
		t->q[i].fd = o->fds[i];
	t->nq = o->queues;

	for (i = 0; i < t->nq; i++) {
		if (o->nfds) {
			ret = tap_check_adopted(t, t->q[i].fd, t->nq > 1, e);
		} else {
			ret = tap_open_queue(t, i ? t->ifname : o->ifname, t->nq > 1, e);
			if (ret >= 0)
				t->q[i].fd = ret;
		}
		if (ret < 0)
			goto err_destroy;
		ret = tap_setup_queue(t, &t->q[i], e);
		if (ret < 0)
			goto err_destroy;
	}
	/* Probe: may the kernel hand us frames with partial checksums and TSO? Then off. */
	{
		unsigned int f = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

		t->offloads_ok = ioctl(t->q[0].fd, TUNSETOFFLOAD, f) == 0;
		if (ioctl(t->q[0].fd, TUNSETOFFLOAD, 0u) < 0) {
			ret = err_set(e, -errno, "tap %s: TUNSETOFFLOAD: %s", t->ifname,
				      strerror(errno));
			goto err_destroy;
		}
	}
	t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->wake_fd < 0) {
		ret = err_set(e, -errno, "tap: eventfd: %s", strerror(errno));
		goto err_destroy;
	}
	*out = t;
	return 0;

err_destroy:
	tap_destroy(t);
	return ret;
err_close_adopted:
	for (i = 0; i < o->nfds && i < TAP_MAX_QUEUES; i++)
		if (o->fds[i] >= 0)
			close(o->fds[i]);
	return ret;
}

const char *tap_ifname(const struct tap *t)
{
	return t->ifname;
}

bool tap_offloads(const struct tap *t)
{
	return t->offloads_ok;
}

void tap_attach(struct tap *t, struct virtio_net *n)
{
	t->net = n;
	net_set_port(n, &tap_port_ops, t);
}

int tap_set_notify_fd(struct tap *t, unsigned int vq, int efd)
{
	if (vq >= VIRTIO_MAX_QUEUES || efd < 0)
		return -EINVAL;
	if (t->running)
		return -EBUSY;
	t->notify_fd[vq] = efd;
	return 0;
}

void tap_stats(const struct tap *t, struct tap_stats *out)
{
	*out = (struct tap_stats){
		.tx_frames = __atomic_load_n(&t->tx_frames, __ATOMIC_RELAXED),
		.tx_errors = __atomic_load_n(&t->tx_errors, __ATOMIC_RELAXED),
		.rx_frames = __atomic_load_n(&t->rx_frames, __ATOMIC_RELAXED),
		.rx_errors = __atomic_load_n(&t->rx_errors, __ATOMIC_RELAXED),
	};
}

/* --- port ops --- */

static void tap_tx_flush(void *ctx, unsigned int queue);

static int tap_tx(void *ctx, unsigned int queue, const struct iovec *iov, unsigned int n)
{
	struct tap *t = ctx;
	struct tap_queue *q;
	struct io_uring_sqe *sqe;

	if (queue >= t->nq || !n || n > NET_MAX_IOV)
		return -EINVAL;
	q = &t->q[queue];
	if (q->ntx == TAP_TX_BATCH)
		tap_tx_flush(t, queue);
	sqe = io_uring_get_sqe(&q->txr);
	if (!sqe)
		return -EAGAIN;		/* cannot happen: the ring has TAP_TX_BATCH entries */
	/* The net device reuses its iovec array: keep our own until the SQE is consumed. */
	memcpy(q->txiov[q->ntx], iov, n * sizeof(*iov));
	io_uring_prep_writev(sqe, 0, q->txiov[q->ntx], n, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	q->ntx++;
	return 0;
}

static void tap_tx_flush(void *ctx, unsigned int queue)
{
	struct tap *t = ctx;
	struct tap_queue *q;
	unsigned int done = 0;

	if (queue >= t->nq)
		return;
	q = &t->q[queue];
	if (!q->ntx)
		return;
	/*
	 * One io_uring_enter for the batch; the fd is non-blocking, so the writes complete
	 * inline. Wait for all of them: only then may the guest have its buffers back.
	 */
	(void)io_uring_submit_and_wait(&q->txr, q->ntx);	/* the CQEs tell what happened */
	while (done < q->ntx) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(&q->txr, &cqe) < 0)
			break;
		if (cqe->res < 0)
			tap_count(&t->tx_errors);	/* e.g. the kernel refused a bad GSO frame */
		else
			tap_count(&t->tx_frames);
		io_uring_cqe_seen(&q->txr, cqe);
		done++;
	}
	q->ntx = 0;
}

static int tap_set_offloads(void *ctx, uint64_t f)
{
	struct tap *t = ctx;
	unsigned int tf = 0;

	/* TUN_F_* say what the reader (our guest) accepts: the GUEST_* features. */
	if (f & (1ull << VIRTIO_NET_F_GUEST_CSUM))
		tf |= TUN_F_CSUM;
	if (f & (1ull << VIRTIO_NET_F_GUEST_TSO4))
		tf |= TUN_F_TSO4;
	if (f & (1ull << VIRTIO_NET_F_GUEST_TSO6))
		tf |= TUN_F_TSO6;
	if (ioctl(t->q[0].fd, TUNSETOFFLOAD, tf) < 0)
		return -errno;
	return 0;
}

static void tap_wake(struct tap *t)
{
	uint64_t one = 1;
	ssize_t r = write(t->wake_fd, &one, sizeof(one));

	(void)r;	/* EAGAIN: the counter is already non-zero, the worker wakes anyway */
}

static void tap_rx_kick(void *ctx, unsigned int queue)
{
	struct tap *t = ctx;

	(void)queue;	/* any tap queue may be steered to this pair: wake them all */
	__atomic_store_n(&t->kicked, true, __ATOMIC_RELEASE);
	if (t->running && pthread_equal(pthread_self(), t->thread))
		return;		/* the worker looks at `kicked` after this event */
	tap_wake(t);
}

const struct net_port_ops tap_port_ops = {
	.tx = tap_tx,
	.tx_flush = tap_tx_flush,
	.set_offloads = tap_set_offloads,
	.rx_kick = tap_rx_kick,
};

/* --- worker --- */

static void tap_poll(struct tap *t, int slot, uint64_t ud, bool multishot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);

	if (!sqe) {
		io_uring_submit(&t->ring);
		sqe = io_uring_get_sqe(&t->ring);
	}
	if (multishot)
		io_uring_prep_poll_multishot(sqe, slot, POLLIN);
	else
		io_uring_prep_poll_add(sqe, slot, POLLIN);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, ud);
}

/* Frames from TAP queue qi into the guest until empty, no buffers, or a batch. */
static void tap_rx(struct tap *t, unsigned int qi)
{
	struct tap_queue *q = &t->q[qi];
	unsigned int i;

	for (i = 0; i < NET_BATCH; i++) {
		struct net_rx_buf b;
		ssize_t len;
		int ret;

		ret = net_rx_prepare(t->net, qi, &b);
		if (ret < 0) {
			/* -ENOSPC: no buffers; others: not running yet. rx_kick resumes us. */
			q->rx_blocked = true;
			break;
		}
		/* Plain readv: tun has no batched read, and io_uring READVs on an fd that may
		 * become empty could complete around a hole, stranding a lent chain. */
		len = readv(q->fd, b.iov, (int)b.niov);
		if (len < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			tap_count(&t->rx_errors);	/* frame lost (e.g. larger than buffers) */
			continue;
		}
		tap_count(&t->rx_frames);
		net_rx_commit(t->net, qi, (size_t)len);
	}
	net_rx_flush(t->net, qi);
	if (!q->rx_blocked && !q->rx_armed) {
		q->rx_armed = true;
		tap_poll(t, 1 + (int)qi, TAP_UD(TAP_EV_RX, qi), false);
	}
}

static void tap_handle_kick(struct tap *t)
{
	unsigned int i;

	if (!__atomic_exchange_n(&t->kicked, false, __ATOMIC_ACQ_REL))
		return;
	for (i = 0; i < t->nq; i++) {
		if (t->q[i].rx_blocked) {
			t->q[i].rx_blocked = false;
			tap_rx(t, i);
		}
	}
}

static void *tap_worker(void *arg)
{
	struct tap *t = arg;
	sigset_t all;
	unsigned int i;
	int ret;

	/* Signals belong to the vCPU threads (kicks) and the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	tap_poll(t, 0, TAP_UD(TAP_EV_WAKE, 0), true);
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (t->notify_fd[i] >= 0)
			tap_poll(t, t->notify_slot[i], TAP_UD(TAP_EV_NOTIFY, i), true);
	for (i = 0; i < t->nq; i++)
		tap_rx(t, i);

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		/* Blocks when idle: no busy loop. */
		ret = io_uring_submit_and_wait(&t->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			pr_err("tap %s: io_uring_enter: %s; worker stops", t->ifname, strerror(-ret));
			break;
		}
		io_uring_for_each_cqe(&t->ring, head, cqe) {
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			unsigned int idx = (uint32_t)ud;
			bool more = cqe->flags & IORING_CQE_F_MORE;
			uint64_t v;

			seen++;
			switch (ud >> 32) {
			case TAP_EV_WAKE:
				if (read(t->wake_fd, &v, sizeof(v)) < 0) {
					/* already drained by an earlier event */
				}
				if (!more)
					tap_poll(t, 0, ud, true);
				break;
			case TAP_EV_RX:
				t->q[idx].rx_armed = false;
				if (cqe->res < 0)	/* should not happen; poll again */
					tap_count(&t->rx_errors);
				tap_rx(t, idx);
				break;
			case TAP_EV_NOTIFY:
				if (read(t->notify_fd[idx], &v, sizeof(v)) < 0) {
					/* a spurious wakeup: nothing to consume */
				}
				net_notify(t->net, idx);
				if (!more)
					tap_poll(t, t->notify_slot[idx], ud, true);
				break;
			}
		}
		io_uring_cq_advance(&t->ring, seen);
		tap_handle_kick(t);
	}
	return NULL;
}

int tap_start(struct tap *t, struct err *e)
{
	static const uint8_t ops[] = { IORING_OP_POLL_ADD };
	int files[1 + TAP_MAX_QUEUES + VIRTIO_MAX_QUEUES];
	unsigned int nfiles = 0, i;
	int ret;

	if (!t->net)
		return err_set(e, -EINVAL, "tap %s: start before attach", t->ifname);
	if (t->running)
		return err_set(e, -EBUSY, "tap %s: already started", t->ifname);
	/* Fixed files: 0 = wake, 1..nq = TAP queues, then the notify eventfds. */
	files[nfiles++] = t->wake_fd;
	for (i = 0; i < t->nq; i++)
		files[nfiles++] = t->q[i].fd;
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (t->notify_fd[i] < 0)
			continue;
		t->notify_slot[i] = (int)nfiles;
		files[nfiles++] = t->notify_fd[i];
	}
	ret = tap_ring_init(&t->ring, TAP_RING_SIZE, files, nfiles, ops, ARRAY_SIZE(ops));
	if (ret < 0)
		return err_set(e, ret, "tap %s: io_uring: %s", t->ifname, strerror(-ret));
	t->ring_ok = true;
	/* `running` before the thread exists: tap_rx_kick compares against t->thread. */
	t->running = true;
	ret = pthread_create(&t->thread, NULL, tap_worker, t);
	if (ret) {
		t->running = false;
		return err_set(e, -ret, "tap %s: worker thread: %s", t->ifname, strerror(ret));
	}
	pthread_setname_np(t->thread, "tap-io");
	return 0;
}

void tap_destroy(struct tap *t)
{
	unsigned int i;

	if (!t)
		return;
	if (t->running) {
		__atomic_store_n(&t->stop, true, __ATOMIC_RELEASE);
		tap_wake(t);
		pthread_join(t->thread, NULL);
		t->running = false;
	}
	if (t->ring_ok)
		io_uring_queue_exit(&t->ring);
	for (i = 0; i < TAP_MAX_QUEUES; i++) {
		if (t->q[i].txr_ok)
			io_uring_queue_exit(&t->q[i].txr);
		if (t->q[i].fd >= 0)
			close(t->q[i].fd);
	}
	if (t->wake_fd >= 0)
		close(t->wake_fd);
	free(t);
}
