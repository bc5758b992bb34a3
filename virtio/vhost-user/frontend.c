// SPDX-License-Identifier: MIT
/*
 * vhost-user front-end for virtio-net: the device model is ours, the data queues belong to an
 * external back-end. Message sequence after QEMU docs/interop/vhost-user.rst ("Starting the
 * device", "Ring states", "Stopping"); see frontend.h for the contract.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/netshm-abi.h"
#include "virtio/net.h"
#include "virtio/vhost-user/frontend.h"
#include "virtio/vhost-user/msg.h"

#define F(n)		(1ull << (n))
/* Bits the back-end implements for us: the ring layout and the vnet header. */
#define BACKEND_DATA	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) |		\
			 F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_NET_F_MRG_RXBUF) |	\
			 F(VIRTIO_NET_F_MQ))
#define BACKEND_KNOWN	(BACKEND_DATA | F(VU_F_PROTOCOL_FEATURES))
#define PF_WANT		(F(VU_PF_MQ) | F(VU_PF_REPLY_ACK))

#define REPLY_TIMEOUT_S	5	/* a back-end that does not answer at all is dropped */
#define RETRY_MS	100	/* first client connect: poll interval */

enum { TAG_WAKE = 0x1000, TAG_LISTEN, TAG_SOCK, TAG_TIMER, TAG_BACK };

struct vu_front {
	struct virtio_dev vdev;
	const struct gmem *gm;
	struct sockaddr_un addr;
	bool server, fd_mode;
	unsigned int pairs, ndq, nvq;
	int kick_fds[2 * VU_FRONT_MAX_PAIRS];
	int call_fds[2 * VU_FRONT_MAX_PAIRS];
	uint8_t mac[6];
	_Atomic uint16_t status;	/* config status: VIRTIO_NET_S_LINK_UP */

	int epfd, wake_fd, timer_fd, listen_fd;
	pthread_t thread;
	bool thread_started;
	_Atomic bool stop;

	/* Session, under lock. Lock order: lock, then vdev.lock (config changes). */
	pthread_mutex_t lock;
	int sock;			/* -1: no back-end */
	bool connected;			/* features and protocol features negotiated */
	uint64_t backend_features;	/* GET_FEATURES & BACKEND_KNOWN */
	uint64_t protocol_features;	/* negotiated */
	uint64_t sent_features;		/* last SET_FEATURES */
	bool active;			/* DRIVER_OK seen: vqs and guest_features valid */
	struct virtq *vqs;
	uint64_t guest_features;
	bool resume;			/* rings ran before in this activation: base = used idx */
	bool started;			/* the back-end has the rings */
	unsigned int active_pairs;
	struct vu_front_stats stats;
	char why[160];

	/* netshm (docs/vhost-user-shmem.md), under lock. */
	unsigned int ns_mode;		/* 0 off, VU_NETSHM_MODE_* */
	struct vu_front_netshm_ops ns_ops;
	uint64_t ns_window;
	bool ns_doorbell;		/* doorbell=on (§8) */
	int bsock;			/* back-end channel (peer mode, doorbells), -1 if none */
	bool ns_attached;		/* ns_ops.attach succeeded on this connection */
	uint32_t ns_port, ns_nports;
};

static bool vf_has_pf(const struct vu_front *f, unsigned int bit)
{
	return f->protocol_features & F(bit);
}

/* ---- link state ---- */

static void vf_set_link(struct vu_front *f, bool up)
{
	uint16_t old = atomic_load(&f->status);
	uint16_t val = up ? (old | VIRTIO_NET_S_LINK_UP) : (old & ~VIRTIO_NET_S_LINK_UP);

	if (val == old)
		return;
	atomic_store(&f->status, val);
	virtio_dev_config_changed(&f->vdev);	/* config interrupt if DRIVER_OK */
}

/* ---- one request, its reply ---- */

static void vf_serve_backend(struct vu_front *f);

/*
 * Waits (lock held) until the main socket has a reply, serving the back-end channel
 * meanwhile: a back-end may send PEER_MAP and wait for our ack before it answers us (vmm-switch
 * does so right after the NETSHM_ATTACH reply), which would otherwise stall both sides until
 * one times out. Returns with the socket readable, after REPLY_TIMEOUT_S (the receive then
 * times out by itself), or with f->sock < 0 if serving the channel dropped the session.
 */
static void vf_wait_reply(struct vu_front *f)
{
	uint64_t deadline = now_ns() + REPLY_TIMEOUT_S * 1000000000ull;

	while (f->bsock >= 0 && f->sock >= 0) {
		struct pollfd p[2] = { { .fd = f->sock, .events = POLLIN },
				       { .fd = f->bsock, .events = POLLIN } };
		uint64_t now = now_ns();
		int n;

		if (now >= deadline)
			return;
		n = poll(p, 2, (int)((deadline - now + 999999) / 1000000));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || p[0].revents)
			return;
		if (p[1].revents)
			vf_serve_backend(f);
	}
}

/*
 * Sends m and, if the request has a reply body (or REPLY_ACK is on), waits for the reply and
 * checks it answers m. reply may be NULL for bodiless requests. -EPROTO for any bad reply.
 */
static int vf_call(struct vu_front *f, struct vu_msg *m, struct vu_msg *reply)
{
	const struct vu_req_info *ri = vu_req_info(VU_FRONT_REQ, m->hdr.request);
	bool body = ri->reply != VU_P_ACK && m->hdr.request != VU_REQ_SET_MEM_TABLE;
	struct vu_msg tmp;
	int r;

	if (f->sock < 0)
		return -ENOTCONN;
	if (!body && vf_has_pf(f, VU_PF_REPLY_ACK))
		m->hdr.flags |= VU_FLAG_NEED_REPLY;
	r = vu_msg_send(f->sock, m);
	if (r) {
		snprintf(f->why, sizeof(f->why), "sending %s: %s", ri->name, strerror(-r));
		return r;
	}
	if (!body && !(m->hdr.flags & VU_FLAG_NEED_REPLY))
		return 0;
	if (!reply)
		reply = &tmp;
	vf_wait_reply(f);
	if (f->sock < 0)
		return -ENOTCONN;	/* the back-end channel failed meanwhile: dropped */
	r = vu_msg_recv_checked(f->sock, VU_BACK_REPLY, reply, f->why, sizeof(f->why));
	if (r) {
		if (r == -EAGAIN)
			snprintf(f->why, sizeof(f->why), "no reply to %s within %d s", ri->name,
				 REPLY_TIMEOUT_S);
		if (r == -EPROTO || r == -EOPNOTSUPP || r == -EINVAL || r == -EAGAIN)
			f->stats.bad_replies++;
		return -EPROTO;
	}
	/* Only NETSHM_ATTACH's reply carries an fd (its caller owns it); close the rest. */
	if (ri->reply_fds == VU_FD_NONE || reply->hdr.request != m->hdr.request)
		vu_msg_close_fds(reply);
	if (reply->hdr.request != m->hdr.request) {
		f->stats.bad_replies++;
		snprintf(f->why, sizeof(f->why), "reply to %s while waiting for %s",
			 vu_req_name(VU_BACK_REPLY, reply->hdr.request), ri->name);
		return -EPROTO;
	}
	if (!body) {
		if (reply->hdr.size != sizeof(uint64_t)) {
			f->stats.bad_replies++;
			snprintf(f->why, sizeof(f->why), "%s: reply is not an ack", ri->name);
			return -EPROTO;
		}
		if (reply->payload.u64) {
			snprintf(f->why, sizeof(f->why), "back-end refused %s (status %llu)",
				 ri->name, (unsigned long long)reply->payload.u64);
			return -EPROTO;
		}
	}
	return 0;
}

static int vf_u64(struct vu_front *f, uint32_t req, uint64_t val)
{
	struct vu_msg m;

	vu_msg_init(&m, req, sizeof(uint64_t));
	m.payload.u64 = val;
	return vf_call(f, &m, NULL);
}

static int vf_plain(struct vu_front *f, uint32_t req)
{
	struct vu_msg m;

	vu_msg_init(&m, req, 0);
	return vf_call(f, &m, NULL);
}

static int vf_get_u64(struct vu_front *f, uint32_t req, uint64_t *val)
{
	struct vu_msg m, r;
	int ret;

	vu_msg_init(&m, req, 0);
	ret = vf_call(f, &m, &r);
	if (!ret)
		*val = r.payload.u64;
	return ret;
}

static int vf_state(struct vu_front *f, uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_msg m;

	vu_msg_init(&m, req, sizeof(struct vu_vring_state));
	m.payload.state = (struct vu_vring_state){ .index = index, .num = num };
	return vf_call(f, &m, NULL);
}

static int vf_vring_fd(struct vu_front *f, uint32_t req, unsigned int q, int fd)
{
	struct vu_msg m;

	vu_msg_init(&m, req, sizeof(uint64_t));
	m.payload.u64 = q;
	if (fd < 0) {
		m.payload.u64 |= VU_VRING_NOFD;
	} else {
		m.fds[0] = fd;
		m.nfds = 1;
	}
	return vf_call(f, &m, NULL);
}

/* ---- session ---- */

static void vf_arm_retry(struct vu_front *f)
{
	struct itimerspec its = { .it_value = { 1, 0 }, .it_interval = { 1, 0 } };

	if (f->fd_mode)
		return;
	if (f->server) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_LISTEN };

		epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->listen_fd, &ev);
	} else if (timerfd_settime(f->timer_fd, 0, &its, NULL)) {
		pr_warn("%s: cannot arm the reconnect timer: %s", f->vdev.name, strerror(errno));
	}
}

static void vf_netshm_end(struct vu_front *f);

/* Drops the session (lock held): link down, rings forgotten, reconnect armed. */
static void vf_drop(struct vu_front *f, const char *why)
{
	if (f->sock < 0)
		return;
	epoll_ctl(f->epfd, EPOLL_CTL_DEL, f->sock, NULL);
	close(f->sock);
	f->sock = -1;
	f->connected = false;
	vf_netshm_end(f);
	if (f->started)
		f->resume = true;
	f->started = false;
	f->stats.disconnects++;
	pr_warn("%s: vhost-user back-end lost (%s); link down%s", f->vdev.name, why,
		f->fd_mode ? "" : ", waiting for it to come back");
	vf_set_link(f, false);
	vf_arm_retry(f);
}

/* ---- netshm: the session part (docs/vhost-user-shmem.md §1, §2) ---- */

/* The connection is gone (lock held): back-end channel closed, the VMM unmaps everything. */
static void vf_netshm_end(struct vu_front *f)
{
	if (f->bsock >= 0) {
		epoll_ctl(f->epfd, EPOLL_CTL_DEL, f->bsock, NULL);
		close(f->bsock);
		f->bsock = -1;
	}
	if (f->ns_attached) {
		f->ns_attached = false;
		f->ns_ops.detach(f->ns_ops.opaque);
	}
}

/* Peer mode, doorbells: SET_BACKEND_REQ_FD with one end of a socketpair; we serve the other. */
static int vf_backend_channel(struct vu_front *f)
{
	struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_BACK };
	struct vu_msg m;
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		snprintf(f->why, sizeof(f->why), "back-end channel: socketpair: %s",
			 strerror(errno));
		return -errno;
	}
	/* A message that stops half way must not hold the thread for ever. */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, 0);
	m.fds[0] = sv[1];
	m.nfds = 1;
	r = vf_call(f, &m, NULL);
	close(sv[1]);		/* the back-end has its copy now (or never will) */
	if (r) {
		close(sv[0]);
		return r;
	}
	if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, sv[0], &ev)) {
		r = -errno;
		snprintf(f->why, sizeof(f->why), "back-end channel: epoll: %s", strerror(errno));
		close(sv[0]);
		return r;
	}
	f->bsock = sv[0];
	return 0;
}

/* NETSHM_ATTACH and its reply, checked as §2 says; then the region goes to the VMM. */
static int vf_netshm_attach(struct vu_front *f)
{
	const struct vu_netshm_attach_reply *rp;
	struct vu_msg m, rep;
	struct stat st;
	int r;

	vu_msg_init(&m, VU_REQ_NETSHM_ATTACH, sizeof(struct vu_netshm_attach));
	m.payload.netshm_attach = (struct vu_netshm_attach){ .version = NETSHM_VERSION,
							     .mode = f->ns_mode };
	r = vf_call(f, &m, &rep);
	if (r)
		return r;
	rp = &rep.payload.netshm_attach_reply;
	if (rp->status) {
		snprintf(f->why, sizeof(f->why), "back-end refused NETSHM_ATTACH (%s mode): %s",
			 f->ns_mode == VU_NETSHM_MODE_PEER ? "peer" : "shared",
			 rp->status < 4096 ? strerror((int)rp->status) : "unknown status");
		r = -EPROTO;
		goto out;
	}
	/* vu_msg_check() did these already; they are what makes the mapping safe: again. */
	if (rep.nfds != 1 || rp->nports < 2 || rp->nports > NETSHM_MAX_PORTS ||
	    rp->port >= rp->nports || rp->region_size != NETSHM_REGION_SIZE(rp->nports)) {
		f->stats.bad_replies++;
		snprintf(f->why, sizeof(f->why), "NETSHM_ATTACH reply: port %u of %u, size 0x%llx, "
			 "%u fds", rp->port, rp->nports, (unsigned long long)rp->region_size,
			 rep.nfds);
		r = -EPROTO;
		goto out;
	}
	if (fstat(rep.fds[0], &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < rp->region_size) {
		f->stats.bad_replies++;
		snprintf(f->why, sizeof(f->why), "NETSHM_ATTACH: the region fd is not a file of "
			 "at least 0x%llx bytes", (unsigned long long)rp->region_size);
		r = -EPROTO;
		goto out;
	}
	r = f->ns_ops.attach(f->ns_ops.opaque, rep.fds[0], rp->region_size, rp->port,
			     rp->nports);
	if (r) {
		snprintf(f->why, sizeof(f->why), "mapping the netshm region: %s", strerror(-r));
		r = -EPROTO;
		goto out;
	}
	f->ns_attached = true;
	f->ns_port = rp->port;
	f->ns_nports = rp->nports;
	f->stats.ns_attaches++;
	pr_info("%s: netshm attached: port %u of %u, region 0x%llx bytes", f->vdev.name,
		rp->port, rp->nports, (unsigned long long)rp->region_size);
out:
	vu_msg_close_fds(&rep);
	return r;
}

/* §8: our doorbell eventfd (the VMM's irqfd) to the back-end, once per session. */
static int vf_netshm_doorbell(struct vu_front *f)
{
	struct vu_msg m;
	int fd = f->ns_ops.doorbell_fd(f->ns_ops.opaque), r;

	if (fd < 0) {
		snprintf(f->why, sizeof(f->why), "no doorbell eventfd: %s", strerror(-fd));
		return -EPROTO;
	}
	vu_msg_init(&m, VU_REQ_NETSHM_DOORBELL, sizeof(struct vu_netshm_doorbell));
	m.fds[0] = fd;		/* borrowed: vu_msg_send() does not close it */
	m.nfds = 1;
	r = vf_call(f, &m, NULL);
	if (!r)
		f->stats.ns_doorbells++;
	return r;
}

/* The protocol features netshm needs, and the back-end channel; then the attach. */
static int vf_netshm_setup(struct vu_front *f)
{
	if (!vf_has_pf(f, VU_PF_NETSHM)) {
		snprintf(f->why, sizeof(f->why), "shmem=%s needs the back-end's NETSHM protocol "
			 "feature (bit %d), which it does not offer: is it vmm-switch --netshm?",
			 f->ns_mode == VU_NETSHM_MODE_PEER ? "peer" : "shared", VU_PF_NETSHM);
		return -EPROTO;
	}
	if (f->ns_mode == VU_NETSHM_MODE_PEER || f->ns_doorbell) {
		if (!vf_has_pf(f, VU_PF_BACKEND_REQ) || !vf_has_pf(f, VU_PF_REPLY_ACK)) {
			snprintf(f->why, sizeof(f->why), "%s needs the back-end's "
				 "BACKEND_REQ and REPLY_ACK protocol features",
				 f->ns_mode == VU_NETSHM_MODE_PEER ? "shmem=peer" : "doorbell=on");
			return -EPROTO;
		}
		int r = vf_backend_channel(f);

		if (r)
			return r;
	}
	int r = vf_netshm_attach(f);

	if (!r && f->ns_doorbell)
		r = vf_netshm_doorbell(f);
	return r;
}

/* One PEER_MAP (lock held): 0 or -errno for the REPLY_ACK. Closes m's fds. */
static int vf_peer_map(struct vu_front *f, struct vu_msg *m)
{
	const struct vu_netshm_peer_map *pm = &m->payload.netshm_peer_map;
	char why[160];
	int r = 0;

	if (!vu_netshm_peer_map_valid(pm, f->ns_nports, f->ns_port, f->ns_window, why,
				      sizeof(why))) {
		pr_warn("%s: PEER_MAP refused: %s", f->vdev.name, why);
		r = -EINVAL;
		goto out;
	}
	for (uint32_t i = 0; i < pm->mem.nregions; i++) {
		const struct vu_mem_region *reg = &pm->mem.regions[i];
		struct stat st;
		uint64_t end;

		if (__builtin_add_overflow(reg->mmap_offset, reg->size, &end) ||
		    fstat(m->fds[i], &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < end) {
			pr_warn("%s: PEER_MAP refused: region %u fd is not a file of at least "
				"0x%llx bytes", f->vdev.name, i, (unsigned long long)end);
			r = -EINVAL;
			goto out;
		}
	}
	r = f->ns_ops.peer_map(f->ns_ops.opaque, pm->port, &pm->mem, m->fds);
	if (r)
		pr_warn("%s: PEER_MAP of port %u failed: %s", f->vdev.name, pm->port,
			strerror(-r));
	else
		f->stats.ns_peer_maps++;
out:
	vu_msg_close_fds(m);
	return r;
}

/* One DOORBELL_MAP (lock held): 0 or -errno for the REPLY_ACK. Closes m's fd. */
static int vf_doorbell_map(struct vu_front *f, struct vu_msg *m)
{
	uint32_t port = m->payload.netshm_peer.port;
	int r;

	if (port >= f->ns_nports || port == f->ns_port) {
		pr_warn("%s: DOORBELL_MAP refused: port %u (%u ports, ours is %u)", f->vdev.name,
			port, f->ns_nports, f->ns_port);
		r = -EINVAL;
	} else {
		r = f->ns_ops.doorbell_map(f->ns_ops.opaque, port, m->fds[0]);
		if (r)
			pr_warn("%s: DOORBELL_MAP of port %u failed: %s", f->vdev.name, port,
				strerror(-r));
		else
			f->stats.ns_doorbell_maps++;
	}
	vu_msg_close_fds(m);
	return r;
}

static int vf_doorbell_unmap(struct vu_front *f, uint32_t port)
{
	if (port >= f->ns_nports)
		return -EINVAL;
	f->ns_ops.doorbell_unmap(f->ns_ops.opaque, port);
	f->stats.ns_doorbell_unmaps++;
	return 0;
}

/* Whether request req of the back-end channel was negotiated on this session (§1, §8). */
static bool vf_breq_negotiated(const struct vu_front *f, uint32_t req)
{
	if (!f->ns_attached)
		return false;
	if (req == VU_BREQ_NETSHM_PEER_MAP || req == VU_BREQ_NETSHM_PEER_UNMAP)
		return f->ns_mode == VU_NETSHM_MODE_PEER;
	if (req == VU_BREQ_NETSHM_DOORBELL_MAP || req == VU_BREQ_NETSHM_DOORBELL_UNMAP)
		return f->ns_doorbell;
	return false;	/* e.g. CONFIG_CHANGE_MSG: we asked for none */
}

/*
 * One request from the back-end channel (lock held). A malformed or unexpected request is
 * refused with a non-zero REPLY_ACK and the session goes on (§2); a channel that fails
 * (hang-up, broken stream, reply cannot be sent) drops the session.
 */
static void vf_serve_backend(struct vu_front *f)
{
	struct vu_msg m;
	char why[160];
	int r, status;

	r = vu_msg_recv(f->bsock, &m, why, sizeof(why));
	if (r) {
		vf_drop(f, r == -ECONNRESET ? "back-end channel closed" : why);
		return;
	}
	r = vu_msg_check_or_close(&m, VU_BACK_REQ, why, sizeof(why));
	if (r == -EPROTO) {		/* header nonsense: nothing to answer to */
		f->stats.ns_refused++;
		pr_warn("%s: back-end request refused: %s", f->vdev.name, why);
		return;
	}
	if (r) {
		status = r;
		pr_warn("%s: back-end request refused: %s", f->vdev.name, why);
	} else if (!vf_breq_negotiated(f, m.hdr.request)) {
		vu_msg_close_fds(&m);	/* §1: not negotiated here: unknown */
		status = -EOPNOTSUPP;
	} else if (m.hdr.request == VU_BREQ_NETSHM_DOORBELL_MAP) {
		status = vf_doorbell_map(f, &m);
	} else if (m.hdr.request == VU_BREQ_NETSHM_DOORBELL_UNMAP) {
		status = vf_doorbell_unmap(f, m.payload.netshm_peer.port);
	} else if (m.hdr.request == VU_BREQ_NETSHM_PEER_MAP) {
		status = vf_peer_map(f, &m);
	} else if (m.hdr.request == VU_BREQ_NETSHM_PEER_UNMAP) {
		uint32_t port = m.payload.netshm_peer.port;

		status = port < f->ns_nports && !m.payload.netshm_peer.reserved ? 0 : -EINVAL;
		if (!status) {
			f->ns_ops.peer_unmap(f->ns_ops.opaque, port);
			f->stats.ns_peer_unmaps++;
		}
	} else {
		vu_msg_close_fds(&m);	/* e.g. CONFIG_CHANGE_MSG: we asked for none */
		status = -EOPNOTSUPP;
	}
	if (status)
		f->stats.ns_refused++;
	if (vu_msg_need_reply(&m)) {
		r = vu_msg_send_ack(f->bsock, &m, (uint64_t)-status);
		if (r)
			vf_drop(f, "cannot answer on the back-end channel");
	}
}

static int vf_negotiate(struct vu_front *f)
{
	const uint64_t need = BACKEND_DATA & ~(f->pairs > 1 ? 0 : F(VIRTIO_NET_F_MQ));
	uint64_t feat, pf = 0, nq;
	int r;

	f->protocol_features = 0;
	r = vf_get_u64(f, VU_REQ_GET_FEATURES, &feat);
	if (r)
		return r;
	feat &= BACKEND_KNOWN;		/* never act on a bit we did not ask about */
	if ((feat & need) != need) {
		snprintf(f->why, sizeof(f->why), "back-end lacks virtio features 0x%llx",
			 (unsigned long long)(need & ~feat));
		return -EPROTO;
	}
	r = vf_plain(f, VU_REQ_SET_OWNER);
	if (r)
		return r;
	if (feat & F(VU_F_PROTOCOL_FEATURES)) {
		r = vf_get_u64(f, VU_REQ_GET_PROTOCOL_FEATURES, &pf);
		if (r)
			return r;
		pf &= PF_WANT | (f->ns_mode ? F(VU_PF_NETSHM) : 0) |
		      (f->ns_mode == VU_NETSHM_MODE_PEER || f->ns_doorbell ?
		       F(VU_PF_BACKEND_REQ) : 0);
		if (f->pairs == 1)
			pf &= ~F(VU_PF_MQ);
		r = vf_u64(f, VU_REQ_SET_PROTOCOL_FEATURES, pf);
		if (r)
			return r;
		/* REPLY_ACK applies from the next request on. */
		f->protocol_features = pf;
	}
	if (f->pairs > 1) {
		if (!vf_has_pf(f, VU_PF_MQ)) {
			snprintf(f->why, sizeof(f->why),
				 "%u queue pairs need the back-end's MQ protocol feature", f->pairs);
			return -EPROTO;
		}
		r = vf_get_u64(f, VU_REQ_GET_QUEUE_NUM, &nq);
		if (r)
			return r;
		if (nq < f->pairs) {
			snprintf(f->why, sizeof(f->why), "back-end serves %llu queue pairs, not %u",
				 (unsigned long long)nq, f->pairs);
			return -EPROTO;
		}
	}
	if (f->ns_mode) {
		r = vf_netshm_setup(f);
		if (r)
			return r;
	}
	f->backend_features = feat;
	f->connected = true;
	f->stats.connects++;
	return 0;
}

static bool vf_queue_enabled(const struct vu_front *f, unsigned int q)
{
	return q / 2 < f->active_pairs;
}

static int vf_send_mem_table(struct vu_front *f)
{
	const struct gmem_region *reg;
	struct vu_msg m;
	unsigned int n = 0;

	vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
	gm_for_each_region(f->gm, reg) {
		m.payload.mem.regions[n] = (struct vu_mem_region){
			.guest_addr = reg->gpa, .size = reg->len,
			.user_addr = (uint64_t)(uintptr_t)reg->hva, .mmap_offset = reg->fd_offset,
		};
		m.fds[n++] = reg->fd;
	}
	m.payload.mem.nregions = n;
	m.nfds = n;
	m.hdr.size = offsetof(struct vu_mem, regions) + n * sizeof(struct vu_mem_region);
	return vf_call(f, &m, NULL);
}

/*
 * One kick per enabled data ring, as QEMU does when it starts its ioeventfds
 * (virtio_device_start_ioeventfd): buffers the driver made available before the back-end had
 * (or ran) the ring - RX buffers posted before DRIVER_OK, anything queued while the back-end
 * was away or the pair was disabled - were announced, if at all, before the back-end watched
 * this fd. A back-end that waits for a kick before it looks at a ring would never see them;
 * a polling one just finds the fd readable once. The eventfd is the guest's doorbell, so
 * this is exactly what a guest notify does.
 */
static void vf_kick_enabled(struct vu_front *f)
{
	for (unsigned int q = 0; q < f->ndq; q++) {
		uint64_t one = 1;

		if (f->vqs[q].active && vf_queue_enabled(f, q) &&
		    write(f->kick_fds[q], &one, sizeof(one)) < 0)
			pr_debug("%s: start kick %u: %s", f->vdev.name, q, strerror(errno));
	}
}

/* Hands the rings to the back-end (lock held, connected and active). */
static int vf_start(struct vu_front *f)
{
	uint64_t feat = f->guest_features & f->backend_features & BACKEND_DATA;
	int r;

	if (f->backend_features & F(VU_F_PROTOCOL_FEATURES))
		feat |= F(VU_F_PROTOCOL_FEATURES);	/* vhost-user.rst: must stay set */
	r = vf_u64(f, VU_REQ_SET_FEATURES, feat);
	if (r)
		return r;
	f->sent_features = feat;
	r = vf_send_mem_table(f);
	if (r)
		return r;
	for (unsigned int q = 0; q < f->ndq; q++) {
		struct virtq *vq = &f->vqs[q];
		struct vu_msg m;
		uint16_t base = 0;

		if (!vq->active)
			continue;
		/* After a crash GET_VRING_BASE is gone: resume where the back-end last
		 * published (every buffer before used->idx was consumed and returned). */
		if (f->resume)
			base = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
		r = vf_state(f, VU_REQ_SET_VRING_NUM, q, vq->size);
		if (!r)
			r = vf_state(f, VU_REQ_SET_VRING_BASE, q, base);
		if (r)
			return r;
		vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, sizeof(struct vu_vring_addr));
		m.payload.addr = (struct vu_vring_addr){
			.index = q,
			.desc = (uint64_t)(uintptr_t)vq->desc,
			.avail = (uint64_t)(uintptr_t)vq->avail,
			.used = (uint64_t)(uintptr_t)vq->used,
			.log = vq->used_gpa,
		};
		r = vf_call(f, &m, NULL);
		if (!r)
			r = vf_vring_fd(f, VU_REQ_SET_VRING_KICK, q, f->kick_fds[q]);
		if (!r)
			r = vf_vring_fd(f, VU_REQ_SET_VRING_CALL, q, f->call_fds[q]);
		if (r)
			return r;
	}
	/* With PROTOCOL_FEATURES rings start disabled ("Ring states"). */
	if (f->backend_features & F(VU_F_PROTOCOL_FEATURES))
		for (unsigned int q = 0; q < f->ndq; q++) {
			if (!f->vqs[q].active)
				continue;
			r = vf_state(f, VU_REQ_SET_VRING_ENABLE, q, vf_queue_enabled(f, q));
			if (r)
				return r;
		}
	vf_kick_enabled(f);
	f->started = true;
	f->resume = true;
	f->stats.starts++;
	return 0;
}

/* Takes the rings back (lock held): disable, then GET_VRING_BASE stops each ring. */
static int vf_stop(struct vu_front *f)
{
	int r;

	for (unsigned int q = 0; q < f->ndq; q++) {
		struct vu_msg m, rep;

		if (!f->vqs[q].active)
			continue;
		if (f->backend_features & F(VU_F_PROTOCOL_FEATURES)) {
			r = vf_state(f, VU_REQ_SET_VRING_ENABLE, q, 0);
			if (r)
				return r;
		}
		vu_msg_init(&m, VU_REQ_GET_VRING_BASE, sizeof(struct vu_vring_state));
		m.payload.state.index = q;
		r = vf_call(f, &m, &rep);
		if (r)
			return r;
		if (rep.payload.state.index != q || rep.payload.state.num > UINT16_MAX) {
			f->stats.bad_replies++;
			snprintf(f->why, sizeof(f->why), "GET_VRING_BASE for ring %u answered "
				 "ring %u base %u", q, rep.payload.state.index,
				 rep.payload.state.num);
			return -EPROTO;
		}
	}
	f->started = false;
	return 0;
}

/* A new connection (lock held): negotiate, resume the rings if the guest runs, link up. */
static void vf_session_up(struct vu_front *f, int sock)
{
	struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
	struct epoll_event ev = { .events = EPOLLRDHUP, .data.u32 = TAG_SOCK };

	/* A first reply byte that never comes: recvmsg gives EAGAIN, vu_msg_recv -EAGAIN. */
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	f->sock = sock;
	if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, sock, &ev)) {
		close(sock);
		f->sock = -1;
		vf_arm_retry(f);
		return;
	}
	if (vf_negotiate(f) || (f->active && vf_start(f))) {
		vf_drop(f, f->why);
		return;
	}
	pr_info("%s: vhost-user back-end connected (features 0x%llx, protocol 0x%llx)",
		f->vdev.name, (unsigned long long)f->backend_features,
		(unsigned long long)f->protocol_features);
	vf_set_link(f, true);
}

static int vf_connect_once(struct vu_front *f, int *out)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&f->addr, sizeof(f->addr))) {
		int r = -errno;

		close(s);
		return r;
	}
	*out = s;
	return 0;
}

/* ---- control queue (ours: the back-end only sees data queues) ---- */

static uint8_t vf_ctrl_cmd(struct vu_front *f, uint8_t class, uint8_t cmd, const uint8_t *d,
			   size_t len)
{
	uint16_t n;

	switch (class) {
	case VIRTIO_NET_CTRL_RX:	/* the back-end does not filter: every mode holds */
		return len == 1 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MAC:
		return cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MQ:
		if (cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || len != sizeof(n) ||
		    !(f->guest_features & F(VIRTIO_NET_F_MQ)))
			return VIRTIO_NET_ERR;
		memcpy(&n, d, sizeof(n));
		/* §5.1.6.5.5: 1..max_virtqueue_pairs. */
		if (n < 1 || n > f->pairs)
			return VIRTIO_NET_ERR;
		f->active_pairs = n;
		if (f->started && f->connected) {
			for (unsigned int q = 0; q < f->ndq; q++)
				if (f->vqs[q].active &&
				    vf_state(f, VU_REQ_SET_VRING_ENABLE, q, vf_queue_enabled(f, q))) {
					vf_drop(f, f->why);
					break;
				}
			if (f->started)
				vf_kick_enabled(f);	/* newly enabled rings may hold buffers */
		}
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}

static void vf_ctrl(struct vu_front *f, unsigned int q)
{
	struct virtq *vq;
	const char *broken = NULL;

	pthread_mutex_lock(&f->lock);
	if (!f->active || !(f->guest_features & F(VIRTIO_NET_F_CTRL_VQ))) {
		pthread_mutex_unlock(&f->lock);
		return;
	}
	vq = &f->vqs[q];
	for (;;) {
		uint8_t in[64], *ack = NULL, st = VIRTIO_NET_ERR;
		size_t n = 0;
		bool too_long = false;
		struct vq_chain c;
		struct vq_buf b;
		int r = virtq_pop(vq, &c);

		if (r <= 0) {
			if (r < 0)
				broken = "control queue ring is broken";
			break;
		}
		while ((r = vq_chain_next(&c, &b)) == 1) {
			if (b.write) {
				if (!ack)
					ack = b.hva;
			} else if (!ack && b.len <= sizeof(in) - n) {
				memcpy(in + n, b.hva, b.len);
				n += b.len;
			} else {
				too_long = true;	/* readable after writable, or > 64 bytes */
			}
		}
		if (r < 0) {
			broken = "control queue chain is malformed";
			break;
		}
		if (!ack || n < 2 || too_long) {	/* §5.1.6.5: class, command, data, ack */
			f->stats.ctrl_err++;
			virtq_push_used(vq, c.head, 0);
			continue;
		}
		st = vf_ctrl_cmd(f, in[0], in[1], in + 2, n - 2);
		if (st == VIRTIO_NET_OK)
			f->stats.ctrl_ok++;
		else
			f->stats.ctrl_err++;
		*(volatile uint8_t *)ack = st;
		virtq_push_used(vq, c.head, 1);
	}
	virtq_publish(vq);
	pthread_mutex_unlock(&f->lock);
	if (broken)
		virtio_dev_broken(&f->vdev, broken);
	else
		virtio_dev_signal_used(&f->vdev, q);
}

/* ---- device ops ---- */

static uint64_t vf_features(void *ctx)
{
	struct vu_front *f = ctx;
	uint64_t v = F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF);

	if (f->pairs > 1)
		v |= F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ);
	return v;
}

static int vf_activate(void *ctx, struct virtq *vqs, unsigned int nvq, uint64_t features)
{
	struct vu_front *f = ctx;

	pthread_mutex_lock(&f->lock);
	f->vqs = vqs;
	f->guest_features = features;
	f->active = true;
	f->resume = false;
	f->active_pairs = 1;	/* §5.1.6.5.5: only the first pair until VQ_PAIRS_SET */
	(void)nvq;		/* the core's queue count is ours: f->nvq */
	if (f->connected && vf_start(f))
		vf_drop(f, f->why);	/* the guest keeps its device; the link is down */
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void vf_reset(void *ctx)
{
	struct vu_front *f = ctx;

	pthread_mutex_lock(&f->lock);
	if (f->started && f->connected && vf_stop(f))
		vf_drop(f, f->why);
	f->started = false;
	f->active = false;
	f->resume = false;
	f->vqs = NULL;
	pthread_mutex_unlock(&f->lock);
}

static void vf_notify(void *ctx, unsigned int q)
{
	struct vu_front *f = ctx;
	uint64_t one = 1;

	if (q >= f->ndq) {
		vf_ctrl(f, q);
		return;
	}
	/* A doorbell that reached us (no ioeventfd on it): pass it on to the back-end. */
	if (write(f->kick_fds[q], &one, sizeof(one)) < 0)
		pr_debug("%s: kick %u: %s", f->vdev.name, q, strerror(errno));
}

static void vf_config_rw(void *ctx, uint32_t off, void *buf, uint32_t len, bool write)
{
	struct vu_front *f = ctx;

	if (write)		/* VIRTIO 1.2 §5.1.4: read-only for a modern driver */
		return;
	net_config_read(f->mac, atomic_load(&f->status), (uint16_t)f->pairs, off, buf, len);
}

static const struct virtio_dev_ops vf_ops = {
	.features = vf_features,
	.activate = vf_activate,
	.notify = vf_notify,
	.reset = vf_reset,
	.config_rw = vf_config_rw,
};

/* ---- the thread: call fds, hang-ups, reconnects ---- */

static void vf_event(struct vu_front *f, uint32_t tag)
{
	uint64_t v;
	int s;

	if (tag < 2 * VU_FRONT_MAX_PAIRS) {
		if (read(f->call_fds[tag], &v, sizeof(v)) != sizeof(v))
			return;
		__atomic_fetch_add(&f->stats.calls, 1, __ATOMIC_RELAXED);
		f->vdev.irq.queue(f->vdev.irq.ctx, tag);
		return;
	}
	switch (tag) {
	case TAG_SOCK: {
		struct pollfd p = { .fd = -1, .events = POLLRDHUP };

		pthread_mutex_lock(&f->lock);
		/* The event may be stale (this batch already replaced the session). */
		p.fd = f->sock;
		if (p.fd >= 0 && poll(&p, 1, 0) == 1)
			vf_drop(f, "connection closed");
		pthread_mutex_unlock(&f->lock);
		break;
	}
	case TAG_BACK: {
		struct pollfd p = { .fd = -1, .events = POLLIN };

		pthread_mutex_lock(&f->lock);
		/* Stale events (served inside vf_call, or a dropped session) are skipped. */
		p.fd = f->bsock;
		if (p.fd >= 0 && poll(&p, 1, 0) == 1)
			vf_serve_backend(f);
		pthread_mutex_unlock(&f->lock);
		break;
	}
	case TAG_LISTEN:
		s = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0)
			break;
		pthread_mutex_lock(&f->lock);
		if (f->sock >= 0) {
			close(s);	/* one back-end at a time */
		} else {
			epoll_ctl(f->epfd, EPOLL_CTL_DEL, f->listen_fd, NULL);
			vf_session_up(f, s);
		}
		pthread_mutex_unlock(&f->lock);
		break;
	case TAG_TIMER:
		if (read(f->timer_fd, &v, sizeof(v)) != sizeof(v))
			break;
		pthread_mutex_lock(&f->lock);
		if (f->sock < 0 && !vf_connect_once(f, &s)) {
			struct itimerspec off = { 0 };

			timerfd_settime(f->timer_fd, 0, &off, NULL);
			vf_session_up(f, s);
		}
		pthread_mutex_unlock(&f->lock);
		break;
	default:
		break;
	}
}

static void *vf_thread(void *arg)
{
	struct vu_front *f = arg;
	struct epoll_event ev[16];

	while (!atomic_load(&f->stop)) {
		int n = epoll_wait(f->epfd, ev, ARRAY_SIZE(ev), -1);

		if (n < 0 && errno != EINTR) {
			pr_err("%s: epoll_wait: %s", f->vdev.name, strerror(errno));
			break;
		}
		for (int i = 0; i < n && !atomic_load(&f->stop); i++)
			if (ev[i].data.u32 != TAG_WAKE)
				vf_event(f, ev[i].data.u32);
	}
	return NULL;
}

/* ---- life cycle ---- */

static int vf_epoll_add(struct vu_front *f, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int vf_check_opts(const struct vu_front_opts *o, const struct gmem *gm, struct err *e)
{
	const struct gmem_region *reg;

	if (o->pairs < 1 || o->pairs > VU_FRONT_MAX_PAIRS)
		return err_set(e, -EINVAL, "vhost-user: %u queue pairs (1..%u)", o->pairs,
			       VU_FRONT_MAX_PAIRS);
	if (o->queue_size && ((o->queue_size & (o->queue_size - 1)) ||
			      o->queue_size > VIRTQ_MAX_SIZE))
		return err_set(e, -EINVAL, "vhost-user: queue size %u", o->queue_size);
	if (o->fd < 0 && (!o->path || !*o->path ||
			  strlen(o->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
		return err_set(e, -EINVAL, "vhost-user: socket path missing or longer than %zu",
			       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (!gm->nr || gm->nr > VU_MAX_REGIONS)
		return err_set(e, -EINVAL, "vhost-user: %u RAM regions (1..%u)", gm->nr,
			       VU_MAX_REGIONS);
	gm_for_each_region(gm, reg)
		if (reg->fd < 0)
			return err_set(e, -EINVAL, "vhost-user needs guest RAM a back-end can map, "
				       "but RAM at 0x%llx is private anonymous memory: use "
				       "--memory ...,shared=on or hugepages=2M",
				       (unsigned long long)reg->gpa);
	for (unsigned int q = 0; q < 2 * o->pairs; q++)
		if (o->kick_fds[q] < 0)
			return err_set(e, -EINVAL, "vhost-user: no kick fd for queue %u", q);
	if (o->netshm_mode && o->netshm_mode != VU_NETSHM_MODE_SHARED &&
	    o->netshm_mode != VU_NETSHM_MODE_PEER)
		return err_set(e, -EINVAL, "vhost-user: netshm mode %u", o->netshm_mode);
	if (o->netshm_mode && (!o->netshm_ops.attach || !o->netshm_ops.detach ||
			       !o->netshm_ops.peer_map || !o->netshm_ops.peer_unmap))
		return err_set(e, -EINVAL, "vhost-user: netshm without its callbacks");
	if (o->netshm_doorbell && (!o->netshm_mode || !o->netshm_ops.doorbell_fd ||
				   !o->netshm_ops.doorbell_map || !o->netshm_ops.doorbell_unmap))
		return err_set(e, -EINVAL, "vhost-user: netshm doorbell without netshm or its "
			       "callbacks");
	if (o->netshm_mode == VU_NETSHM_MODE_PEER && !o->netshm_peer_window)
		return err_set(e, -EINVAL, "vhost-user: netshm peer mode without a peer window");
	return 0;
}

static int vf_listen(struct vu_front *f, struct err *e)
{
	struct stat st;

	/* A socket left by a previous run would make bind fail; remove only a socket. */
	if (!lstat(f->addr.sun_path, &st) && S_ISSOCK(st.st_mode))
		unlink(f->addr.sun_path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (f->listen_fd < 0)
		return err_set(e, -errno, "vhost-user: socket: %s", strerror(errno));
	if (bind(f->listen_fd, (struct sockaddr *)&f->addr, sizeof(f->addr)) ||
	    listen(f->listen_fd, 1))
		return err_set(e, -errno, "vhost-user: listening on %s: %s", f->addr.sun_path,
			       strerror(errno));
	return vf_epoll_add(f, f->listen_fd, TAG_LISTEN);
}

static int vf_connect_first(struct vu_front *f, unsigned int reconnect_s, int *sock,
			    struct err *e)
{
	uint64_t deadline = now_ns() + (uint64_t)reconnect_s * 1000000000ull;
	int r;

	for (;;) {
		r = vf_connect_once(f, sock);
		if (!r)
			return 0;
		if (now_ns() >= deadline)
			return err_set(e, r, "vhost-user: cannot connect to %s%s: %s",
				       f->addr.sun_path, reconnect_s ? " (reconnect timeout)" : "",
				       strerror(-r));
		poll(NULL, 0, RETRY_MS);
	}
}

int vu_front_create(const struct vu_front_opts *o, const struct gmem *gm, struct virtio_irq irq,
		    struct vu_front **out, struct err *e)
{
	struct vu_front *f;
	int r, sock = -1;

	r = vf_check_opts(o, gm, e);
	f = r ? NULL : calloc(1, sizeof(*f));
	if (!f) {
		if (o->fd >= 0)
			close(o->fd);	/* taken over whatever happens */
		return r ? r : err_set(e, -ENOMEM, "vhost-user: out of memory");
	}
	f->gm = gm;
	f->pairs = o->pairs;
	f->ndq = 2 * o->pairs;
	f->nvq = f->ndq + (o->pairs > 1);
	f->server = o->server;
	f->fd_mode = o->fd >= 0;
	f->sock = f->epfd = f->wake_fd = f->timer_fd = f->listen_fd = f->bsock = -1;
	f->ns_mode = o->netshm_mode;
	f->ns_ops = o->netshm_ops;
	f->ns_window = o->netshm_peer_window;
	f->ns_doorbell = o->netshm_doorbell;
	f->active_pairs = 1;
	memcpy(f->mac, o->mac, sizeof(f->mac));
	for (unsigned int q = 0; q < 2 * VU_FRONT_MAX_PAIRS; q++)
		f->kick_fds[q] = f->call_fds[q] = -1;
	memcpy(f->kick_fds, o->kick_fds, sizeof(int) * f->ndq);
	if (f->fd_mode)
		f->sock = o->fd;	/* taken over: closed by destroy, even on failure */
	f->addr.sun_family = AF_UNIX;
	if (!f->fd_mode)
		strcpy(f->addr.sun_path, o->path);
	r = pthread_mutex_init(&f->lock, NULL);
	if (r) {
		if (f->fd_mode)
			close(o->fd);
		free(f);
		return err_set(e, -r, "vhost-user: mutex: %s", strerror(r));
	}
	r = virtio_dev_init(&f->vdev, "vhost-user-net", VIRTIO_ID_NET, &vf_ops, f, f->nvq,
			    o->queue_size ? o->queue_size : VU_FRONT_QUEUE_SIZE, NET_CFG_SIZE, gm, irq);
	if (r) {
		if (f->fd_mode)
			close(o->fd);
		pthread_mutex_destroy(&f->lock);
		free(f);
		return err_set(e, r, "vhost-user: device init: %s", strerror(-r));
	}

	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	f->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (f->epfd < 0 || f->wake_fd < 0 || f->timer_fd < 0) {
		r = err_set(e, -errno, "vhost-user: epoll/eventfd/timerfd: %s", strerror(errno));
		goto err;
	}
	r = vf_epoll_add(f, f->wake_fd, TAG_WAKE);
	if (!r)
		r = vf_epoll_add(f, f->timer_fd, TAG_TIMER);
	for (unsigned int q = 0; !r && q < f->ndq; q++) {
		f->call_fds[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r = f->call_fds[q] < 0 ? -errno : vf_epoll_add(f, f->call_fds[q], q);
	}
	if (r) {
		err_set(e, r, "vhost-user: call eventfds: %s", strerror(-r));
		goto err;
	}

	if (f->fd_mode) {
		sock = o->fd;
		f->sock = sock;		/* closed by destroy if anything fails */
	} else if (f->server) {
		r = vf_listen(f, e);
		if (r)
			goto err;
	} else {
		r = vf_connect_first(f, o->reconnect_s, &sock, e);
		if (r)
			goto err;
	}
	if (sock >= 0) {
		pthread_mutex_lock(&f->lock);
		vf_session_up(f, sock);
		r = f->connected ? 0 : -EPROTO;
		pthread_mutex_unlock(&f->lock);
		if (r) {
			/* A back-end that fails the handshake at create is a configuration error. */
			err_set(e, r, "vhost-user: %s", f->why);
			goto err;
		}
	}
	r = pthread_create(&f->thread, NULL, vf_thread, f);
	if (r) {
		err_set(e, -r, "vhost-user: thread: %s", strerror(r));
		r = -r;
		goto err;
	}
	f->thread_started = true;
	*out = f;
	return 0;
err:
	vu_front_destroy(f);
	return r;
}

void vu_front_destroy(struct vu_front *f)
{
	uint64_t one = 1;

	if (!f)
		return;
	if (f->thread_started) {
		atomic_store(&f->stop, true);
		if (write(f->wake_fd, &one, sizeof(one)) < 0)
			pr_warn("%s: cannot wake the thread: %s", f->vdev.name, strerror(errno));
		pthread_join(f->thread, NULL);
	}
	if (f->sock >= 0)
		close(f->sock);
	vf_netshm_end(f);	/* the VMM unmaps while it still can: before it goes */
	if (f->listen_fd >= 0) {
		close(f->listen_fd);
		unlink(f->addr.sun_path);
	}
	for (unsigned int q = 0; q < 2 * VU_FRONT_MAX_PAIRS; q++)
		if (f->call_fds[q] >= 0)
			close(f->call_fds[q]);
	if (f->timer_fd >= 0)
		close(f->timer_fd);
	if (f->wake_fd >= 0)
		close(f->wake_fd);
	if (f->epfd >= 0)
		close(f->epfd);
	virtio_dev_exit(&f->vdev);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

struct virtio_dev *vu_front_vdev(struct vu_front *f)
{
	return &f->vdev;
}

bool vu_front_connected(struct vu_front *f)
{
	bool c;

	pthread_mutex_lock(&f->lock);
	c = f->connected;
	pthread_mutex_unlock(&f->lock);
	return c;
}

bool vu_front_running(struct vu_front *f)
{
	bool s;

	pthread_mutex_lock(&f->lock);
	s = f->started && f->connected;
	pthread_mutex_unlock(&f->lock);
	return s;
}

void vu_front_stats(struct vu_front *f, struct vu_front_stats *out)
{
	pthread_mutex_lock(&f->lock);
	*out = f->stats;
	out->calls = __atomic_load_n(&f->stats.calls, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&f->lock);
}

uint64_t vu_front_backend_features(struct vu_front *f)
{
	uint64_t v;

	pthread_mutex_lock(&f->lock);
	v = f->sent_features;
	pthread_mutex_unlock(&f->lock);
	return v;
}
