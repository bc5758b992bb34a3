// SPDX-License-Identifier: MIT
/*
 * virtio-net device model (VIRTIO 1.2 §5.1). The datapath peer is a struct net_port_ops; this
 * file does no I/O. See net.h for the contract and docs/virtio-net.md for the design.
 */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>

#include "base/iov.h"
#include "base/log.h"
#include "virtio/net.h"

#define BIT64(n)	(1ull << (n))
#define NET_CTRL_MAX	4096	/* longest control command we read */
#define NET_ETH_MAX	1518	/* Ethernet frame + VLAN tag, without FCS */
#define NET_GSO_MAX	65550	/* 64 KiB IP packet + Ethernet + VLAN headers */

BUILD_BUG_ON(sizeof(struct virtio_net_hdr_v1) != NET_HDR_LEN);
BUILD_BUG_ON(NET_MAX_TX_FRAME != NET_HDR_LEN + NET_GSO_MAX);

#define NET_GUEST_OFFLOADS	(BIT64(VIRTIO_NET_F_GUEST_CSUM) | BIT64(VIRTIO_NET_F_GUEST_TSO4) | \
				 BIT64(VIRTIO_NET_F_GUEST_TSO6))
#define NET_HOST_OFFLOADS	(BIT64(VIRTIO_NET_F_CSUM) | BIT64(VIRTIO_NET_F_HOST_TSO4) | \
				 BIT64(VIRTIO_NET_F_HOST_TSO6))

/* Chains popped from a receive queue and not yet used: lent to the backend, or kept. */
struct net_rxq {
	struct {
		uint16_t head;
		uint32_t cap;
		unsigned int niov;
	} ch[NET_MAX_IOV];
	unsigned int nch;
	struct iovec iov[NET_MAX_IOV];
	unsigned int niov;
	size_t cap;
	unsigned int unpublished;	/* frames pushed since the last publish */
	uint64_t lent_epoch;
};

struct virtio_net {
	struct virtio_dev vdev;
	struct net_opts o;
	unsigned int nvq;
	pthread_mutex_t qlock[VIRTIO_MAX_QUEUES];	/* one per virtqueue */

	const struct net_port_ops *port;
	void *port_ctx;

	/* Written with every qlock held (activate/reset); read under any one of them. */
	bool active;
	uint64_t features;
	struct virtq *vqs;
	unsigned int ctrl_vq;
	size_t rx_need;			/* largest frame (with header) the guest may receive */
	uint64_t epoch;			/* bumped by reset */

	unsigned int active_pairs;	/* atomic */
	uint16_t status;		/* atomic: config status (VIRTIO_NET_S_LINK_UP) */
	uint8_t mac[6];			/* under vdev.lock (config_rw runs with it held) */

	struct net_rxq rx[NET_MAX_PAIRS];		/* under the RX queue's qlock */
	unsigned int lent_to[NET_MAX_PAIRS];	/* backend queue -> pair of its last prepare */
	struct net_queue_stats st[NET_MAX_PAIRS];	/* rx_* under RX qlock, tx_* under TX */
	struct net_rx_mode mode;			/* under the ctrl qlock */
	struct net_ctrl_stats ctrl_st;
	struct log_ratelimit rl[NET_MAX_PAIRS];	/* under the TX qlock */
};

static inline bool net_has(const struct virtio_net *n, unsigned int bit)
{
	return n->features & BIT64(bit);
}

/* --- iovec helpers: bounded copies, no sum can wrap (off and len are checked in steps) --- */

static size_t iov_total(const struct iovec *iov, unsigned int cnt)
{
	size_t t = 0;
	unsigned int i;

	for (i = 0; i < cnt; i++) {
		if (__builtin_add_overflow(t, iov[i].iov_len, &t))
			return SIZE_MAX;
	}
	return t;
}

/* Copies all of src (scnt iovecs) into dst; dst must hold at least that much. */
static void iov_copy(const struct iovec *dst, unsigned int dcnt, const struct iovec *src,
		     unsigned int scnt)
{
	size_t off = 0;
	unsigned int i;

	for (i = 0; i < scnt; i++) {
		iov_from_buf(dst, dcnt, off, src[i].iov_base, src[i].iov_len);
		off += src[i].iov_len;
	}
}

/* --- locking --- */

static void net_lock_all(struct virtio_net *n)
{
	unsigned int q;

	for (q = 0; q < n->nvq; q++)
		pthread_mutex_lock(&n->qlock[q]);
}

static void net_unlock_all(struct virtio_net *n)
{
	unsigned int q = n->nvq;

	while (q--)
		pthread_mutex_unlock(&n->qlock[q]);
}

static void net_broken(struct virtio_net *n, const char *why)
{
	virtio_dev_broken(&n->vdev, why);
}

/* --- TX (§5.1.6.2) --- */

/* Is the header of an outgoing frame one the driver was allowed to send? */
static bool net_tx_hdr_ok(const struct virtio_net *n, const struct virtio_net_hdr_v1 *h,
			  size_t pkt_len)
{
	uint8_t gso = h->gso_type;

	if (h->flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		return false;
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		/* §5.1.6.2.1: only with VIRTIO_NET_F_CSUM; the checksum field must be inside the
		 * packet. Both fields are 16 bits: the 32-bit sum cannot wrap. */
		if (!net_has(n, VIRTIO_NET_F_CSUM))
			return false;
		if ((uint32_t)h->csum_start + h->csum_offset + 2 > pkt_len)
			return false;
	}
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return net_has(n, VIRTIO_NET_F_HOST_TSO4) && h->gso_size;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return net_has(n, VIRTIO_NET_F_HOST_TSO6) && h->gso_size;
	default:	/* UDP (UFO) and ECN are never offered */
		return false;
	}
}

/*
 * Collects one TX chain into iov. 0 = a frame to send, 1 = malformed (drop, len 0),
 * -EINVAL = the ring is broken.
 */
static int net_tx_collect(struct virtio_net *n, struct vq_chain *c, struct iovec *iov,
			  unsigned int *niov, size_t *total)
{
	struct virtio_net_hdr_v1 h;
	bool malformed = false;
	struct vq_buf b;
	unsigned int k = 0;
	int r;

	while ((r = vq_chain_next(c, &b)) == 1) {
		/* Keep walking a malformed chain: a broken ring later in it must still count. */
		if (b.write || k == NET_MAX_IOV) {
			malformed = true;
			continue;
		}
		iov[k++] = (struct iovec){ .iov_base = b.hva, .iov_len = b.len };
	}
	if (r < 0)
		return r;
	/* c->total is what the walk summed with overflow checks (<= UINT32_MAX). */
	*total = c->total;
	*niov = k;
	if (malformed || c->total < NET_HDR_LEN || c->total > NET_MAX_TX_FRAME)
		return 1;
	iov_to_buf(iov, k, 0, &h, sizeof(h));
	return net_tx_hdr_ok(n, &h, c->total - NET_HDR_LEN) ? 0 : 1;
}

static void net_tx(struct virtio_net *n, unsigned int pair)
{
	unsigned int vqi = 2 * pair + 1;
	struct virtq *vq = &n->vqs[vqi];
	struct net_queue_stats *st = &n->st[pair];
	struct iovec iov[NET_MAX_IOV];
	uint16_t heads[NET_BATCH];
	bool stop = false;

	while (!stop) {
		unsigned int nb = 0, sent = 0, i;
		const char *broken = NULL;
		struct vq_chain c;
		size_t total;

		/* While we drain, the driver need not kick (§2.7.10). */
		virtq_enable_notify(vq, false);
		while (nb < NET_BATCH) {
			unsigned int niov;
			int r = virtq_pop(vq, &c);

			if (r == 0)
				break;
			if (r < 0) {
				broken = "transmit queue: bad avail index";
				break;
			}
			r = net_tx_collect(n, &c, iov, &niov, &total);
			if (r < 0) {
				broken = "transmit queue: bad descriptor chain";
				break;
			}
			if (r > 0) {
				st->tx_malformed++;
				log_ratelimited(&n->rl[pair], LOG_WARN, "%s: malformed TX frame (%zu bytes) dropped",
						n->vdev.name, total);
				heads[nb++] = c.head;
				continue;
			}
			r = n->port ? n->port->tx(n->port_ctx, pair, iov, niov) : -ENOTCONN;
			if (r == -EAGAIN) {
				/* The backend is full: leave the chain in the ring for its net_notify(). */
				virtq_unpop(vq, 1);
				stop = true;
				break;
			}
			if (r < 0) {
				st->tx_drops++;
			} else {
				st->tx_packets++;
				st->tx_bytes += total - NET_HDR_LEN;
				sent++;
			}
			heads[nb++] = c.head;
		}
		if (sent)
			n->port->tx_flush(n->port_ctx, pair);
		/* TX buffers are device-readable only: used len is 0 (§2.7.8). */
		for (i = 0; i < nb; i++)
			virtq_push_used(vq, heads[i], 0);
		if (nb) {
			virtq_publish(vq);
			virtio_dev_signal_used(&n->vdev, vqi);
		}
		if (broken) {
			net_broken(n, broken);
			return;
		}
		if (nb < NET_BATCH && !stop) {
			int p;

			virtq_enable_notify(vq, true);
			/* Re-check after enabling: a frame posted in between would get no kick. */
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			p = virtq_pending(vq);
			if (p == 0)
				return;
			if (p < 0) {
				net_broken(n, "transmit queue: bad avail index");
				return;
			}
		}
	}
	virtq_enable_notify(vq, true);
}

/* --- RX (§5.1.6.3, §5.1.6.4) --- */

/* Returns a chain with len 0: for an RX chain the driver got wrong. */
static void net_rx_reject(struct virtio_net *n, unsigned int pair, struct virtq *vq,
			  uint16_t head)
{
	n->st[pair].rx_malformed++;
	virtq_push_used(vq, head, 0);
	n->rx[pair].unpublished++;
}

/*
 * Pops chains into rxq until it holds `need` bytes (MRG_RXBUF) or one chain. 0, or -EIO
 * when the ring is broken.
 */
static int net_rx_fill(struct virtio_net *n, unsigned int pair, size_t need)
{
	struct net_rxq *rq = &n->rx[pair];
	struct virtq *vq = &n->vqs[2 * pair];
	bool mrg = net_has(n, VIRTIO_NET_F_MRG_RXBUF);

	while (mrg ? rq->cap < need && rq->nch < vq->size : rq->nch == 0) {
		unsigned int first = rq->niov, k = first;
		bool malformed = false;
		struct vq_chain c;
		struct vq_buf b;
		int r = virtq_pop(vq, &c);

		if (r == 0)
			break;
		if (r < 0) {
			net_broken(n, "receive queue: bad avail index");
			return -EIO;
		}
		while ((r = vq_chain_next(&c, &b)) == 1) {
			if (!b.write) {
				malformed = true;	/* §5.1.6.3: RX buffers are device-writable */
				continue;
			}
			if (k < NET_MAX_IOV)
				rq->iov[k] = (struct iovec){ .iov_base = b.hva, .iov_len = b.len };
			k++;
		}
		if (r < 0) {
			net_broken(n, "receive queue: bad descriptor chain");
			return -EIO;
		}
		if (malformed || c.total == 0 || k - first > NET_MAX_IOV) {
			net_rx_reject(n, pair, vq, c.head);
			continue;
		}
		if (k > NET_MAX_IOV) {
			/* Does not fit beside the chains we hold: keep it for the next frame. */
			virtq_unpop(vq, 1);
			break;
		}
		rq->ch[rq->nch].head = c.head;
		rq->ch[rq->nch].cap = (uint32_t)c.total;
		rq->ch[rq->nch].niov = k - first;
		rq->nch++;
		rq->niov = k;
		rq->cap += c.total;
	}
	return 0;
}

static void net_rx_publish(struct virtio_net *n, unsigned int pair)
{
	struct net_rxq *rq = &n->rx[pair];

	if (!rq->unpublished)
		return;
	rq->unpublished = 0;
	virtq_publish(&n->vqs[2 * pair]);
	virtio_dev_signal_used(&n->vdev, 2 * pair);
}

/*
 * §5.1.6.4.1: what the backend put in the header must be something the driver negotiated:
 * no GSO type it cannot take (drop the frame), and flags zero without GUEST_CSUM.
 */
static bool net_rx_hdr_ok(struct virtio_net *n, const struct iovec *iov, unsigned int cnt)
{
	struct virtio_net_hdr_v1 h;
	uint8_t zero = 0;

	iov_to_buf(iov, cnt, 0, &h, sizeof(h));
	switch (h.gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!net_has(n, VIRTIO_NET_F_GUEST_TSO4))
			return false;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!net_has(n, VIRTIO_NET_F_GUEST_TSO6))
			return false;
		break;
	default:
		return false;
	}
	if (h.flags && !net_has(n, VIRTIO_NET_F_GUEST_CSUM))
		iov_from_buf(iov, cnt, offsetof(struct virtio_net_hdr_v1, flags), &zero, 1);
	return true;
}

/* The frame (len bytes, header first) is in rq's buffers: hand the chains it used back. */
static void net_rx_done(struct virtio_net *n, unsigned int pair, size_t len)
{
	struct net_rxq *rq = &n->rx[pair];
	struct virtq *vq = &n->vqs[2 * pair];
	unsigned int used = 0, iovs = 0, i;
	size_t left = len;
	uint16_t nbuf;

	while (left && used < rq->nch) {
		uint32_t l = left < rq->ch[used].cap ? (uint32_t)left : rq->ch[used].cap;

		virtq_push_used(vq, rq->ch[used].head, l);
		left -= l;
		iovs += rq->ch[used].niov;
		used++;
	}
	/* §5.1.6.4: num_buffers is the number of chains; 1 without MRG_RXBUF (VERSION_1). */
	nbuf = (uint16_t)used;
	iov_from_buf(rq->iov, rq->niov, offsetof(struct virtio_net_hdr_v1, num_buffers), &nbuf,
		     sizeof(nbuf));

	for (i = 0; i < used; i++)
		rq->cap -= rq->ch[i].cap;
	rq->nch -= used;
	rq->niov -= iovs;
	memmove(rq->ch, rq->ch + used, rq->nch * sizeof(rq->ch[0]));
	memmove(rq->iov, rq->iov + iovs, rq->niov * sizeof(rq->iov[0]));

	n->st[pair].rx_packets++;
	n->st[pair].rx_bytes += len - NET_HDR_LEN;
	if (++rq->unpublished >= NET_BATCH)
		net_rx_publish(n, pair);
}

/* Which pair a backend queue delivers to (§5.1.6.5.5: only the enabled pairs). */
static int net_rx_pair(struct virtio_net *n, unsigned int queue, unsigned int *pair)
{
	unsigned int act;

	if (queue >= n->o.pairs)
		return -EINVAL;
	act = __atomic_load_n(&n->active_pairs, __ATOMIC_ACQUIRE);
	*pair = queue % (act ? act : 1);
	return 0;
}

/* Asks for a kick when the driver posts more buffers; true if some came in meanwhile. */
static bool net_rx_wait(struct virtio_net *n, unsigned int pair)
{
	struct virtq *vq = &n->vqs[2 * pair];

	virtq_enable_notify(vq, true);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_pending(vq) != 0;
}

static bool net_rx_usable(struct virtio_net *n, unsigned int pair)
{
	return n->active && n->vqs[2 * pair].active && !virtio_dev_is_broken(&n->vdev);
}

int net_rx(struct virtio_net *n, unsigned int queue, const struct iovec *frame, unsigned int cnt)
{
	struct net_rxq *rq;
	unsigned int pair;
	bool mrg, retried = false;
	size_t len;
	int ret;

	if (net_rx_pair(n, queue, &pair))
		return -EINVAL;
	rq = &n->rx[pair];
	len = iov_total(frame, cnt);
	pthread_mutex_lock(&n->qlock[2 * pair]);
	if (!net_rx_usable(n, pair)) {
		ret = virtio_dev_is_broken(&n->vdev) ? -EIO : -EINVAL;
		goto out;
	}
	if (len < NET_HDR_LEN || len > NET_MAX_TX_FRAME) {
		n->st[pair].rx_malformed++;
		ret = -EINVAL;
		goto out;
	}
	mrg = net_has(n, VIRTIO_NET_F_MRG_RXBUF);
again:
	ret = net_rx_fill(n, pair, len);
	if (ret)
		goto out;
	if (!rq->nch || (mrg && rq->cap < len)) {
		/* Could the driver still post what is missing? */
		if (!mrg || (rq->nch < n->vqs[2 * pair].size && rq->niov < NET_MAX_IOV)) {
			if (!retried && net_rx_wait(n, pair)) {
				retried = true;
				goto again;
			}
			ret = -ENOSPC;
			goto out;
		}
	}
	if (rq->cap < len) {
		/* The driver's buffers can never hold it (§5.1.6.3.1 asks for big enough ones). */
		n->st[pair].rx_drops++;
		ret = -EINVAL;
		goto out;
	}
	iov_copy(rq->iov, rq->niov, frame, cnt);
	if (!net_rx_hdr_ok(n, rq->iov, rq->niov)) {
		n->st[pair].rx_malformed++;	/* the buffers stay for the next frame */
		ret = -EINVAL;
		goto out;
	}
	net_rx_done(n, pair, len);
	ret = 0;
out:
	pthread_mutex_unlock(&n->qlock[2 * pair]);
	return ret;
}

int net_rx_prepare(struct virtio_net *n, unsigned int queue, struct net_rx_buf *buf)
{
	struct net_rxq *rq;
	unsigned int pair;
	bool retried = false;
	int ret;

	if (net_rx_pair(n, queue, &pair))
		return -EINVAL;
	rq = &n->rx[pair];
	pthread_mutex_lock(&n->qlock[2 * pair]);
	if (!net_rx_usable(n, pair)) {
		ret = virtio_dev_is_broken(&n->vdev) ? -EIO : -EINVAL;
		goto out;
	}
again:
	ret = net_rx_fill(n, pair, n->rx_need);
	if (ret)
		goto out;
	/* With MRG_RXBUF, wait until a frame of any size fits, unless the ring cannot give
	 * more (every entry is ours, or the iovec array is full). */
	if (!rq->nch || (net_has(n, VIRTIO_NET_F_MRG_RXBUF) && rq->cap < n->rx_need &&
			 rq->nch < n->vqs[2 * pair].size && rq->niov < NET_MAX_IOV)) {
		if (!retried && net_rx_wait(n, pair)) {
			retried = true;
			goto again;
		}
		ret = -ENOSPC;
		goto out;
	}
	n->lent_to[queue] = pair;
	rq->lent_epoch = n->epoch;
	*buf = (struct net_rx_buf){ .iov = rq->iov, .niov = rq->niov, .cap = rq->cap };
	ret = 0;
out:
	pthread_mutex_unlock(&n->qlock[2 * pair]);
	return ret;
}

void net_rx_commit(struct virtio_net *n, unsigned int queue, size_t len)
{
	unsigned int pair;
	struct net_rxq *rq;

	if (queue >= n->o.pairs || !len)
		return;
	pair = n->lent_to[queue];
	rq = &n->rx[pair];
	pthread_mutex_lock(&n->qlock[2 * pair]);
	/* A reset since prepare: those chains are gone. */
	if (!net_rx_usable(n, pair) || rq->lent_epoch != n->epoch)
		goto out;
	if (len < NET_HDR_LEN || len > rq->cap || !net_rx_hdr_ok(n, rq->iov, rq->niov)) {
		n->st[pair].rx_malformed++;
		goto out;
	}
	net_rx_done(n, pair, len);
out:
	pthread_mutex_unlock(&n->qlock[2 * pair]);
}

void net_rx_flush(struct virtio_net *n, unsigned int queue)
{
	unsigned int pair;

	if (net_rx_pair(n, queue, &pair))
		return;
	pthread_mutex_lock(&n->qlock[2 * pair]);
	if (n->active)
		net_rx_publish(n, pair);
	/* Also the pair the last prepare went to, if the steering changed in between. */
	pthread_mutex_unlock(&n->qlock[2 * pair]);
	if (n->lent_to[queue] != pair) {
		pair = n->lent_to[queue];
		pthread_mutex_lock(&n->qlock[2 * pair]);
		if (n->active)
			net_rx_publish(n, pair);
		pthread_mutex_unlock(&n->qlock[2 * pair]);
	}
}

/* --- control queue (§5.1.6.5) --- */

static uint8_t net_ctrl_rx(struct virtio_net *n, uint8_t cmd, const uint8_t *d, size_t len)
{
	if (!net_has(n, VIRTIO_NET_F_CTRL_RX) || len != 1)
		return VIRTIO_NET_ERR;
	switch (cmd) {
	case VIRTIO_NET_CTRL_RX_PROMISC:
		n->mode.promisc = d[0];
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_RX_ALLMULTI:
		n->mode.allmulti = d[0];
		return VIRTIO_NET_OK;
	default:	/* ALLUNI etc. need CTRL_RX_EXTRA, not offered */
		return VIRTIO_NET_ERR;
	}
}

/* §5.1.6.5.2: two tables, each a le32 count followed by that many MAC addresses. */
static uint8_t net_ctrl_mac_table(struct virtio_net *n, const uint8_t *d, size_t len)
{
	uint32_t cnt[2];
	size_t off = 0;
	int t;

	for (t = 0; t < 2; t++) {
		if (len - off < sizeof(uint32_t))
			return VIRTIO_NET_ERR;
		memcpy(&cnt[t], d + off, sizeof(uint32_t));
		off += sizeof(uint32_t);
		/* cnt * 6 in 64 bits cannot wrap; len - off >= 0 here. */
		if ((uint64_t)cnt[t] * 6 > len - off)
			return VIRTIO_NET_ERR;
		off += (size_t)cnt[t] * 6;
	}
	if (off != len)
		return VIRTIO_NET_ERR;
	n->mode.uc_entries = cnt[0];
	n->mode.mc_entries = cnt[1];
	return VIRTIO_NET_OK;
}

static uint8_t net_ctrl_mac(struct virtio_net *n, uint8_t cmd, const uint8_t *d, size_t len)
{
	switch (cmd) {
	case VIRTIO_NET_CTRL_MAC_TABLE_SET:
		if (!net_has(n, VIRTIO_NET_F_CTRL_RX))
			return VIRTIO_NET_ERR;
		return net_ctrl_mac_table(n, d, len);
	case VIRTIO_NET_CTRL_MAC_ADDR_SET:
		if (!net_has(n, VIRTIO_NET_F_CTRL_MAC_ADDR) || len != 6)
			return VIRTIO_NET_ERR;
		memcpy(n->mode.mac, d, 6);
		/* The config mac follows the command, as the driver expects when it reads it. */
		pthread_mutex_lock(&n->vdev.lock);
		memcpy(n->mac, d, 6);
		pthread_mutex_unlock(&n->vdev.lock);
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}

static uint8_t net_ctrl_mq(struct virtio_net *n, uint8_t cmd, const uint8_t *d, size_t len)
{
	uint16_t pairs;

	if (!net_has(n, VIRTIO_NET_F_MQ) || cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || len != 2)
		return VIRTIO_NET_ERR;
	memcpy(&pairs, d, 2);
	/* §5.1.6.5.6.1: 1..max_virtqueue_pairs, else the command fails. */
	if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > n->o.pairs)
		return VIRTIO_NET_ERR;
	__atomic_store_n(&n->active_pairs, pairs, __ATOMIC_RELEASE);
	return VIRTIO_NET_OK;
}

static uint8_t net_ctrl_cmd(struct virtio_net *n, const uint8_t *msg, size_t len)
{
	if (len < 2)
		return VIRTIO_NET_ERR;
	switch (msg[0]) {
	case VIRTIO_NET_CTRL_RX:
		return net_ctrl_rx(n, msg[1], msg + 2, len - 2);
	case VIRTIO_NET_CTRL_MAC:
		return net_ctrl_mac(n, msg[1], msg + 2, len - 2);
	case VIRTIO_NET_CTRL_MQ:
		return net_ctrl_mq(n, msg[1], msg + 2, len - 2);
	default:
		return VIRTIO_NET_ERR;
	}
}

static void net_ctrl(struct virtio_net *n)
{
	struct virtq *vq = &n->vqs[n->ctrl_vq];
	unsigned int nb = 0;
	struct vq_chain c;
	int r;

	while ((r = virtq_pop(vq, &c)) == 1) {
		uint8_t msg[NET_CTRL_MAX];
		uint8_t *ack = NULL;
		bool too_long = false;
		struct vq_buf b;
		size_t len = 0;

		while ((r = vq_chain_next(&c, &b)) == 1) {
			if (b.write) {
				if (!ack)
					ack = b.hva;
				continue;
			}
			if (b.len > sizeof(msg) - len) {
				too_long = true;
				continue;
			}
			memcpy(msg + len, b.hva, b.len);
			len += b.len;
		}
		if (r < 0)
			break;
		if (!ack) {
			/* No status byte to answer in: a malformed command, returned unanswered. */
			n->ctrl_st.malformed++;
			virtq_push_used(vq, c.head, 0);
		} else {
			uint8_t st = too_long ? VIRTIO_NET_ERR : net_ctrl_cmd(n, msg, len);

			if (st == VIRTIO_NET_OK)
				n->ctrl_st.ok++;
			else
				n->ctrl_st.err++;
			__atomic_store_n(ack, st, __ATOMIC_RELAXED);
			virtq_push_used(vq, c.head, 1);
		}
		if (++nb == NET_BATCH) {
			virtq_publish(vq);
			virtio_dev_signal_used(&n->vdev, n->ctrl_vq);
			nb = 0;
		}
	}
	if (nb) {
		virtq_publish(vq);
		virtio_dev_signal_used(&n->vdev, n->ctrl_vq);
	}
	if (r < 0)
		net_broken(n, "control queue: bad ring");
}

/* --- virtio_dev_ops --- */

static uint64_t net_dev_features(void *ctx)
{
	struct virtio_net *n = ctx;
	uint64_t f = BIT64(VIRTIO_F_VERSION_1) | BIT64(VIRTIO_NET_F_MAC) |
		     BIT64(VIRTIO_NET_F_STATUS) | BIT64(VIRTIO_NET_F_MRG_RXBUF) |
		     BIT64(VIRTIO_NET_F_CTRL_VQ) | BIT64(VIRTIO_NET_F_CTRL_RX) |
		     BIT64(VIRTIO_NET_F_CTRL_MAC_ADDR);

	if (n->o.pairs > 1)
		f |= BIT64(VIRTIO_NET_F_MQ);
	if (n->o.offloads)
		f |= NET_GUEST_OFFLOADS | NET_HOST_OFFLOADS;
	f &= ~n->o.disable;
	/* §5.1.3.1 dependencies: never offer a feature without the one it needs. */
	if (!(f & BIT64(VIRTIO_NET_F_CTRL_VQ)))
		f &= ~(BIT64(VIRTIO_NET_F_CTRL_RX) | BIT64(VIRTIO_NET_F_CTRL_MAC_ADDR) |
		       BIT64(VIRTIO_NET_F_MQ));
	if (!(f & BIT64(VIRTIO_NET_F_GUEST_CSUM)))
		f &= ~(BIT64(VIRTIO_NET_F_GUEST_TSO4) | BIT64(VIRTIO_NET_F_GUEST_TSO6));
	if (!(f & BIT64(VIRTIO_NET_F_CSUM)))
		f &= ~(BIT64(VIRTIO_NET_F_HOST_TSO4) | BIT64(VIRTIO_NET_F_HOST_TSO6));
	return f | BIT64(VIRTIO_F_VERSION_1);
}

/* §5.1.3.1: the driver must not accept a feature without the one it depends on. */
static bool net_features_consistent(uint64_t f)
{
	if (!(f & BIT64(VIRTIO_NET_F_CTRL_VQ)) &&
	    (f & (BIT64(VIRTIO_NET_F_CTRL_RX) | BIT64(VIRTIO_NET_F_CTRL_MAC_ADDR) |
		  BIT64(VIRTIO_NET_F_MQ))))
		return false;
	if (!(f & BIT64(VIRTIO_NET_F_GUEST_CSUM)) &&
	    (f & (BIT64(VIRTIO_NET_F_GUEST_TSO4) | BIT64(VIRTIO_NET_F_GUEST_TSO6))))
		return false;
	if (!(f & BIT64(VIRTIO_NET_F_CSUM)) &&
	    (f & (BIT64(VIRTIO_NET_F_HOST_TSO4) | BIT64(VIRTIO_NET_F_HOST_TSO6))))
		return false;
	return true;
}

static int net_dev_activate(void *ctx, struct virtq *vqs, unsigned int nvq, uint64_t features)
{
	struct virtio_net *n = ctx;
	bool gso;
	int ret;

	if (nvq != n->nvq || !net_features_consistent(features))
		return -EINVAL;
	if (n->o.offloads && n->port && n->port->set_offloads) {
		ret = n->port->set_offloads(n->port_ctx, features);
		if (ret < 0)
			return ret;
	} else if (features & NET_GUEST_OFFLOADS) {
		return -EINVAL;
	}
	gso = features & (BIT64(VIRTIO_NET_F_GUEST_TSO4) | BIT64(VIRTIO_NET_F_GUEST_TSO6));

	net_lock_all(n);
	n->vqs = vqs;
	n->features = features;
	n->ctrl_vq = (features & BIT64(VIRTIO_NET_F_MQ)) ? 2 * n->o.pairs : 2;
	n->rx_need = NET_HDR_LEN + (gso ? NET_GSO_MAX : NET_ETH_MAX);
	__atomic_store_n(&n->active_pairs, 1, __ATOMIC_RELEASE);	/* §5.1.6.5.5 */
	n->active = true;
	net_unlock_all(n);
	/* Buffers the driver posted before DRIVER_OK came with no kick we acted on (VIRTIO 1.2
	 * §3.1.1 lets it post them first): tell the backend it may receive now. */
	if (n->port && n->port->rx_kick)
		for (unsigned int p = 0; p < n->o.pairs; p++)
			n->port->rx_kick(n->port_ctx, p);
	return 0;
}

static void net_dev_reset(void *ctx)
{
	struct virtio_net *n = ctx;
	unsigned int p;

	/* Waits for any queue being processed; afterwards nothing touches the rings. */
	net_lock_all(n);
	n->active = false;
	n->features = 0;
	n->vqs = NULL;
	n->epoch++;
	for (p = 0; p < NET_MAX_PAIRS; p++) {
		n->rx[p].nch = n->rx[p].niov = 0;
		n->rx[p].cap = 0;
		n->rx[p].unpublished = 0;
	}
	memset(&n->mode, 0, sizeof(n->mode));
	__atomic_store_n(&n->active_pairs, 1, __ATOMIC_RELEASE);
	net_unlock_all(n);
}

static void net_dev_notify(void *ctx, unsigned int q)
{
	struct virtio_net *n = ctx;
	bool kick = false;

	pthread_mutex_lock(&n->qlock[q]);
	if (!n->active || !n->vqs[q].active || virtio_dev_is_broken(&n->vdev))
		goto out;
	if (q == n->ctrl_vq && net_has(n, VIRTIO_NET_F_CTRL_VQ))
		net_ctrl(n);
	else if (q >= 2 * n->o.pairs)
		;	/* the control queue's slot without CTRL_VQ: nothing there */
	else if (q & 1)
		net_tx(n, q / 2);
	else
		kick = true;
out:
	pthread_mutex_unlock(&n->qlock[q]);
	/* Outside the lock: the backend may call net_rx_prepare() from its rx_kick. */
	if (kick && n->port && n->port->rx_kick)
		n->port->rx_kick(n->port_ctx, q / 2);
}

void net_config_read(const uint8_t mac[6], uint16_t status, uint16_t pairs, uint32_t off,
		     void *buf, uint32_t len)
{
	uint8_t cfg[NET_CFG_SIZE];

	memcpy(cfg, mac, 6);
	memcpy(cfg + 6, &status, 2);		/* little endian: x86 only, as the whole VMM */
	memcpy(cfg + 8, &pairs, 2);
	memcpy(buf, cfg + off, len);		/* off + len <= NET_CFG_SIZE: checked by the core */
}

static void net_dev_config_rw(void *ctx, uint32_t off, void *buf, uint32_t len, bool write)
{
	struct virtio_net *n = ctx;

	/* §5.1.4: the config space is read-only for a VERSION_1 driver; writes are ignored. */
	if (write)
		return;
	net_config_read(n->mac, __atomic_load_n(&n->status, __ATOMIC_ACQUIRE),
			(uint16_t)n->o.pairs, off, buf, len);
}

static const struct virtio_dev_ops net_dev_ops = {
	.features = net_dev_features,
	.activate = net_dev_activate,
	.notify = net_dev_notify,
	.reset = net_dev_reset,
	.config_rw = net_dev_config_rw,
};

/* --- lifecycle and accessors --- */

int net_create(const struct net_opts *o, const struct gmem *gm, struct virtio_irq irq,
	       struct virtio_net **out, struct err *e)
{
	struct virtio_net *n;
	unsigned int q;
	int ret;

	if (!o->pairs || o->pairs > NET_MAX_PAIRS)
		return err_set(e, -EINVAL, "virtio-net: %u queue pairs (1..%u)", o->pairs,
			       NET_MAX_PAIRS);
	if (!o->queue_size || (o->queue_size & (o->queue_size - 1)) ||
	    o->queue_size > VIRTQ_MAX_SIZE)
		return err_set(e, -EINVAL, "virtio-net: queue size %u is not a power of two <= %u",
			       o->queue_size, VIRTQ_MAX_SIZE);
	if (o->mac[0] & 1)
		return err_set(e, -EINVAL, "virtio-net: MAC address is a multicast address");

	n = calloc(1, sizeof(*n));
	if (!n)
		return err_set(e, -ENOMEM, "virtio-net: out of memory");
	n->o = *o;
	/* A control queue slot always exists: the driver decides whether it uses it. */
	n->nvq = 2 * o->pairs + 1;
	memcpy(n->mac, o->mac, 6);
	n->status = o->link_down ? 0 : VIRTIO_NET_S_LINK_UP;
	n->active_pairs = 1;
	for (q = 0; q < n->nvq; q++)
		pthread_mutex_init(&n->qlock[q], NULL);
	ret = virtio_dev_init(&n->vdev, "virtio-net", VIRTIO_ID_NET, &net_dev_ops, n, n->nvq,
			      o->queue_size, NET_CFG_SIZE, gm, irq);
	if (ret) {
		for (q = 0; q < n->nvq; q++)
			pthread_mutex_destroy(&n->qlock[q]);
		free(n);
		return err_set(e, ret, "virtio-net: device core refused the configuration");
	}
	*out = n;
	return 0;
}

void net_destroy(struct virtio_net *n)
{
	unsigned int q;

	if (!n)
		return;
	virtio_dev_exit(&n->vdev);
	for (q = 0; q < n->nvq; q++)
		pthread_mutex_destroy(&n->qlock[q]);
	free(n);
}

struct virtio_dev *net_vdev(struct virtio_net *n)
{
	return &n->vdev;
}

void net_set_port(struct virtio_net *n, const struct net_port_ops *ops, void *ctx)
{
	net_lock_all(n);
	n->port = ops;
	n->port_ctx = ctx;
	net_unlock_all(n);
}

void net_notify(struct virtio_net *n, unsigned int vq)
{
	virtio_dev_notify(&n->vdev, vq);
}

void net_set_link(struct virtio_net *n, bool up)
{
	uint16_t s = up ? VIRTIO_NET_S_LINK_UP : 0;

	if (__atomic_exchange_n(&n->status, s, __ATOMIC_ACQ_REL) == s)
		return;
	/* Without STATUS the driver assumes the link is up and never reads it (§5.1.4). */
	virtio_dev_config_changed(&n->vdev);
}

unsigned int net_active_pairs(struct virtio_net *n)
{
	return __atomic_load_n(&n->active_pairs, __ATOMIC_ACQUIRE);
}

uint64_t net_features(struct virtio_net *n)
{
	uint64_t f;

	pthread_mutex_lock(&n->qlock[0]);
	f = n->features;
	pthread_mutex_unlock(&n->qlock[0]);
	return f;
}

void net_stats(struct virtio_net *n, unsigned int pair, struct net_queue_stats *out)
{
	struct net_queue_stats s;

	memset(out, 0, sizeof(*out));
	if (pair >= n->o.pairs)
		return;
	pthread_mutex_lock(&n->qlock[2 * pair]);
	s = n->st[pair];
	pthread_mutex_unlock(&n->qlock[2 * pair]);
	out->rx_packets = s.rx_packets;
	out->rx_bytes = s.rx_bytes;
	out->rx_drops = s.rx_drops;
	out->rx_malformed = s.rx_malformed;
	pthread_mutex_lock(&n->qlock[2 * pair + 1]);
	s = n->st[pair];
	pthread_mutex_unlock(&n->qlock[2 * pair + 1]);
	out->tx_packets = s.tx_packets;
	out->tx_bytes = s.tx_bytes;
	out->tx_drops = s.tx_drops;
	out->tx_malformed = s.tx_malformed;
}

/* The control queue is vq 2 (no MQ) or 2 * pairs: hold both, in lock_all's order. */
static void net_ctrl_lock(struct virtio_net *n, bool lock)
{
	unsigned int hi = n->nvq - 1;

	if (lock) {
		pthread_mutex_lock(&n->qlock[2]);
		if (hi != 2)
			pthread_mutex_lock(&n->qlock[hi]);
	} else {
		if (hi != 2)
			pthread_mutex_unlock(&n->qlock[hi]);
		pthread_mutex_unlock(&n->qlock[2]);
	}
}

void net_ctrl_stats(struct virtio_net *n, struct net_ctrl_stats *out)
{
	net_ctrl_lock(n, true);
	*out = n->ctrl_st;
	net_ctrl_lock(n, false);
}

void net_rx_mode(struct virtio_net *n, struct net_rx_mode *out)
{
	net_ctrl_lock(n, true);
	*out = n->mode;
	net_ctrl_lock(n, false);
}
