// SPDX-License-Identifier: MIT
/*
 * virtio-net device model, driven like a guest would: rings for several queues in one real
 * struct gmem (a small local driver: tests/lib/vq_driver.h lays out one queue per gmem), and
 * an in-memory port that records what reaches the backend.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "virtio/net.h"

#define F(b)		(1ull << (b))
#define MEM_SIZE	(4u << 20)
#define QSZ		64u
#define DATA_GPA	0x100000ull
#define BASE_FEATURES	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | \
			 F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CTRL_VQ) | \
			 F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_CTRL_MAC_ADDR))

struct dq {
	gpa_t desc, avail, used;
	uint16_t avail_idx, next_desc, last_used;
};

struct seg {
	gpa_t gpa;
	uint32_t len;
	bool write;
};

#define MAX_FRAMES 80
static struct {
	struct gmem gm;
	uint8_t *mem;
	struct virtio_net *n;
	struct virtio_dev *d;
	struct dq q[VIRTIO_MAX_QUEUES];
	gpa_t data;
	int irqs[VIRTIO_MAX_QUEUES], cfg_irqs;
	/* the port double */
	struct { uint8_t buf[2048]; size_t len; unsigned int queue; } fr[MAX_FRAMES];
	unsigned int nframes, flushes, kicks, offload_calls;
	int tx_ret;
	uint64_t offloads;
} T;

static void irq_queue(void *ctx, unsigned int q)
{
	(void)ctx;
	T.irqs[q]++;
}

static void irq_config(void *ctx)
{
	(void)ctx;
	T.cfg_irqs++;
}

static int port_tx(void *ctx, unsigned int queue, const struct iovec *iov, unsigned int n)
{
	size_t off = 0;
	unsigned int i;

	(void)ctx;
	if (T.tx_ret)
		return T.tx_ret;
	cr_assert_lt(T.nframes, MAX_FRAMES);
	for (i = 0; i < n; i++) {
		size_t l = iov[i].iov_len;

		if (off + l <= sizeof(T.fr[0].buf))
			memcpy(T.fr[T.nframes].buf + off, iov[i].iov_base, l);
		off += l;
	}
	T.fr[T.nframes].len = off;
	T.fr[T.nframes].queue = queue;
	T.nframes++;
	return 0;
}

static void port_flush(void *ctx, unsigned int queue)
{
	(void)ctx;
	(void)queue;
	T.flushes++;
}

static int port_offloads(void *ctx, uint64_t f)
{
	(void)ctx;
	T.offload_calls++;
	T.offloads = f;
	return 0;
}

static void port_kick(void *ctx, unsigned int queue)
{
	(void)ctx;
	(void)queue;
	T.kicks++;
}

static const struct net_port_ops port = {
	.tx = port_tx, .tx_flush = port_flush, .set_offloads = port_offloads, .rx_kick = port_kick,
};

static void *ptr(gpa_t gpa)
{
	return T.mem + gpa;
}

static gpa_t alloc(uint32_t len)
{
	gpa_t g = T.data;

	T.data = (T.data + len + 15) & ~15ull;
	cr_assert_leq(T.data, MEM_SIZE);
	return g;
}

static void make_dev(const struct net_opts *o)
{
	struct err e = { 0 };
	unsigned int i;

	memset(&T, 0, sizeof(T));
	T.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(T.mem, MAP_FAILED);
	gm_init(&T.gm);
	cr_assert_eq(gm_add_region(&T.gm, 0, MEM_SIZE, T.mem, -1, 0), 0);
	cr_assert_eq(net_create(o, &T.gm, (struct virtio_irq){ irq_queue, irq_config, NULL }, &T.n,
				&e), 0, "%s", e.msg);
	T.d = net_vdev(T.n);
	net_set_port(T.n, &port, NULL);
	T.data = DATA_GPA;
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		T.q[i].desc = 0x10000 + i * 0x4000;
		T.q[i].avail = T.q[i].desc + 0x1000;
		T.q[i].used = T.q[i].desc + 0x2000;
	}
}

static void dev_default(void)
{
	make_dev(&(struct net_opts){ .mac = { 0x52, 0x54, 0, 1, 2, 3 }, .pairs = 2,
				     .queue_size = QSZ, .offloads = true });
}

static void teardown(void)
{
	net_destroy(T.n);
	munmap(T.mem, MEM_SIZE);
}

/* The driver side of §3.1.1; queues 0..nq-1 are set up. Returns the final status. */
static uint8_t drv_start(uint64_t features, unsigned int nq)
{
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	unsigned int i;

	virtio_dev_set_status(T.d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	virtio_dev_set_status(T.d, s);
	virtio_dev_select_features(T.d, 0, true);
	virtio_dev_set_driver_features(T.d, (uint32_t)features);
	virtio_dev_select_features(T.d, 1, true);
	virtio_dev_set_driver_features(T.d, (uint32_t)(features >> 32));
	s |= VIRTIO_CONFIG_S_FEATURES_OK;
	virtio_dev_set_status(T.d, s);
	cr_assert(virtio_dev_status(T.d) & VIRTIO_CONFIG_S_FEATURES_OK, "features refused");
	for (i = 0; i < nq; i++) {
		virtio_dev_select_queue(T.d, (uint16_t)i);
		virtio_dev_queue_set(T.d, VQF_SIZE, QSZ);
		virtio_dev_queue_set(T.d, VQF_DESC_LO, (uint32_t)T.q[i].desc);
		virtio_dev_queue_set(T.d, VQF_AVAIL_LO, (uint32_t)T.q[i].avail);
		virtio_dev_queue_set(T.d, VQF_USED_LO, (uint32_t)T.q[i].used);
		virtio_dev_queue_set(T.d, VQF_READY, 1);
	}
	virtio_dev_set_status(T.d, s | VIRTIO_CONFIG_S_DRIVER_OK);
	return virtio_dev_status(T.d);
}

static void drv_ok(uint64_t features, unsigned int nq)
{
	cr_assert(drv_start(features, nq) & VIRTIO_CONFIG_S_DRIVER_OK);
}

static uint16_t post(unsigned int qi, const struct seg *s, unsigned int n)
{
	struct dq *q = &T.q[qi];
	struct vring_desc *desc = ptr(q->desc);
	struct vring_avail *avail = ptr(q->avail);
	uint16_t head = q->next_desc, idx = head;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t next = (uint16_t)((idx + 1) % QSZ);

		desc[idx] = (struct vring_desc){
			.addr = s[i].gpa, .len = s[i].len,
			.flags = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = next,
		};
		idx = next;
	}
	q->next_desc = idx;
	avail->ring[q->avail_idx % QSZ] = head;
	q->avail_idx++;
	__atomic_store_n(&avail->idx, q->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static uint16_t used_idx(unsigned int qi)
{
	struct vring_used *u = ptr(T.q[qi].used);

	return __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
}

static int get_used(unsigned int qi, uint32_t *id, uint32_t *len)
{
	struct dq *q = &T.q[qi];
	struct vring_used *u = ptr(q->used);

	if (q->last_used == used_idx(qi))
		return 0;
	*id = u->ring[q->last_used % QSZ].id;
	*len = u->ring[q->last_used % QSZ].len;
	q->last_used++;
	return 1;
}

/* A TX frame: 12-byte header (given or zero) + payload of `len` bytes, as two buffers. */
static uint16_t post_tx(unsigned int qi, const struct virtio_net_hdr_v1 *h, uint32_t len,
			uint8_t fill)
{
	gpa_t hg = alloc(NET_HDR_LEN), pg = alloc(len);
	struct virtio_net_hdr_v1 z = { 0 };

	memcpy(ptr(hg), h ? h : &z, NET_HDR_LEN);
	memset(ptr(pg), fill, len);
	return post(qi, (struct seg[]){ { hg, NET_HDR_LEN, false }, { pg, len, false } }, 2);
}

static uint16_t post_rx(unsigned int qi, uint32_t len, gpa_t *gpa)
{
	gpa_t g = alloc(len);

	if (gpa)
		*gpa = g;
	return post(qi, (struct seg[]){ { g, len, true } }, 1);
}

/* --- TX: bad payload costs the guest a frame, nothing else --- */

static void expect_tx_dropped(uint16_t head)
{
	struct net_queue_stats st;
	uint32_t id, len;

	net_notify(T.n, 1);
	net_stats(T.n, 0, &st);
	cr_expect_eq(st.tx_malformed, 1);
	cr_expect_eq(st.tx_packets, 0);
	cr_expect_eq(T.nframes, 0, "nothing may reach the port");
	cr_assert_eq(get_used(1, &id, &len), 1, "the chain must come back");
	cr_expect_eq(id, head);
	cr_expect_eq(len, 0);
	cr_expect_not(virtio_dev_status(T.d) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

Test(net, tx_short_frame_is_dropped, .init = dev_default, .fini = teardown)
{
	gpa_t g = alloc(8);

	drv_ok(BASE_FEATURES, 3);
	expect_tx_dropped(post(1, (struct seg[]){ { g, 8, false } }, 1));
}

Test(net, tx_oversized_frame_is_dropped, .init = dev_default, .fini = teardown)
{
	drv_ok(BASE_FEATURES, 3);
	expect_tx_dropped(post_tx(1, NULL, NET_MAX_TX_FRAME - NET_HDR_LEN + 1, 0xab));
}

Test(net, tx_largest_frame_is_sent, .init = dev_default, .fini = teardown)
{
	struct net_queue_stats st;

	drv_ok(BASE_FEATURES, 3);
	post_tx(1, NULL, NET_MAX_TX_FRAME - NET_HDR_LEN, 0xab);
	net_notify(T.n, 1);
	net_stats(T.n, 0, &st);
	cr_expect_eq(st.tx_malformed, 0);
	cr_expect_eq(T.nframes, 1);
	cr_expect_eq(T.fr[0].len, NET_MAX_TX_FRAME);
}

Test(net, tx_writable_buffer_is_dropped, .init = dev_default, .fini = teardown)
{
	gpa_t h = alloc(NET_HDR_LEN), p = alloc(100);

	drv_ok(BASE_FEATURES, 3);
	expect_tx_dropped(post(1, (struct seg[]){ { h, NET_HDR_LEN, false }, { p, 100, true } }, 2));
}

Test(net, tx_gso_without_host_tso_is_dropped, .init = dev_default, .fini = teardown)
{
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				       .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448,
				       .csum_start = 34, .csum_offset = 16 };

	/* CSUM negotiated, HOST_TSO4 not. */
	drv_ok(BASE_FEATURES | F(VIRTIO_NET_F_CSUM), 3);
	expect_tx_dropped(post_tx(1, &h, 200, 0));
}

Test(net, tx_csum_without_csum_feature_is_dropped, .init = dev_default, .fini = teardown)
{
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				       .csum_start = 34, .csum_offset = 16 };

	drv_ok(BASE_FEATURES, 3);
	expect_tx_dropped(post_tx(1, &h, 200, 0));
}

Test(net, tx_csum_offset_past_the_frame_is_dropped, .init = dev_default, .fini = teardown)
{
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				       .csum_start = 190, .csum_offset = 16 };

	drv_ok(BASE_FEATURES | F(VIRTIO_NET_F_CSUM), 3);
	expect_tx_dropped(post_tx(1, &h, 200, 0));
}

Test(net, tx_gso_with_host_tso_is_sent, .init = dev_default, .fini = teardown)
{
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				       .gso_type = VIRTIO_NET_HDR_GSO_TCPV6, .gso_size = 1440,
				       .csum_start = 54, .csum_offset = 16 };

	drv_ok(BASE_FEATURES | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO6), 3);
	post_tx(1, &h, 3000, 0x11);
	net_notify(T.n, 1);
	cr_assert_eq(T.nframes, 1);
	cr_expect_eq(memcmp(T.fr[0].buf, &h, NET_HDR_LEN), 0, "the header passes unchanged");
}

Test(net, tx_batch_of_32_is_one_publish, .init = dev_default, .fini = teardown)
{
	struct net_queue_stats st;
	unsigned int i;

	drv_ok(BASE_FEATURES, 3);
	for (i = 0; i < NET_BATCH; i++)
		post_tx(1, NULL, 60, (uint8_t)i);
	net_notify(T.n, 1);
	cr_expect_eq(T.nframes, NET_BATCH);
	cr_expect_eq(T.flushes, 1);
	cr_expect_eq(used_idx(1), NET_BATCH);
	cr_expect_eq(T.irqs[1], 1, "one interrupt for the batch, got %d", T.irqs[1]);
	cr_expect_eq(T.fr[31].buf[NET_HDR_LEN], 31);
	net_stats(T.n, 0, &st);
	cr_expect_eq(st.tx_packets, NET_BATCH);
	cr_expect_eq(st.tx_bytes, NET_BATCH * 60);
}

Test(net, tx_33_frames_are_two_batches, .init = dev_default, .fini = teardown)
{
	unsigned int i;

	drv_ok(BASE_FEATURES, 3);
	for (i = 0; i < NET_BATCH + 1; i++)
		post_tx(1, NULL, 60, (uint8_t)i);
	net_notify(T.n, 1);
	cr_expect_eq(T.nframes, NET_BATCH + 1);
	cr_expect_eq(T.flushes, 2);
	cr_expect_eq(T.irqs[1], 2);
}

Test(net, tx_no_interrupt_flag_is_honoured, .init = dev_default, .fini = teardown)
{
	struct vring_avail *a;

	drv_ok(BASE_FEATURES, 3);
	a = ptr(T.q[1].avail);
	a->flags = VRING_AVAIL_F_NO_INTERRUPT;
	post_tx(1, NULL, 60, 1);
	net_notify(T.n, 1);
	cr_expect_eq(T.nframes, 1);
	cr_expect_eq(T.irqs[1], 0);
}

Test(net, tx_backend_full_keeps_the_chain, .init = dev_default, .fini = teardown)
{
	drv_ok(BASE_FEATURES, 3);
	post_tx(1, NULL, 60, 7);
	T.tx_ret = -EAGAIN;
	net_notify(T.n, 1);
	cr_expect_eq(used_idx(1), 0, "the chain stays with the device");
	T.tx_ret = 0;
	net_notify(T.n, 1);		/* the backend has room again */
	cr_expect_eq(T.nframes, 1);
	cr_expect_eq(used_idx(1), 1);
}

Test(net, tx_backend_error_is_a_drop, .init = dev_default, .fini = teardown)
{
	struct net_queue_stats st;

	drv_ok(BASE_FEATURES, 3);
	post_tx(1, NULL, 60, 7);
	T.tx_ret = -EIO;
	net_notify(T.n, 1);
	net_stats(T.n, 0, &st);
	cr_expect_eq(st.tx_drops, 1);
	cr_expect_eq(used_idx(1), 1);
}

Test(net, tx_avail_index_jump_breaks_the_device, .init = dev_default, .fini = teardown)
{
	struct vring_avail *a;

	drv_ok(BASE_FEATURES, 3);
	a = ptr(T.q[1].avail);
	__atomic_store_n(&a->idx, QSZ + 1, __ATOMIC_RELEASE);
	net_notify(T.n, 1);
	cr_expect(virtio_dev_status(T.d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	cr_expect_eq(T.cfg_irqs, 1);
	cr_expect_eq(T.nframes, 0);
	/* Broken: nothing more is processed until reset. */
	post_tx(1, NULL, 60, 7);
	net_notify(T.n, 1);
	cr_expect_eq(T.nframes, 0);
}

Test(net, tx_descriptor_loop_breaks_the_device, .init = dev_default, .fini = teardown)
{
	struct vring_desc *d;
	uint16_t head;

	drv_ok(BASE_FEATURES, 3);
	head = post_tx(1, NULL, 60, 7);
	d = ptr(T.q[1].desc);
	d[(head + 1) % QSZ].flags |= VRING_DESC_F_NEXT;
	d[(head + 1) % QSZ].next = head;
	net_notify(T.n, 1);
	cr_expect(virtio_dev_status(T.d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	cr_expect_eq(T.nframes, 0);
}

/* --- RX --- */

static struct iovec frame_iov[2];
static uint8_t frame_hdr[NET_HDR_LEN], frame_data[4000];

static const struct iovec *make_frame(size_t pkt_len)
{
	size_t i;

	memset(frame_hdr, 0, sizeof(frame_hdr));
	for (i = 0; i < pkt_len; i++)
		frame_data[i] = (uint8_t)(i * 7);
	frame_iov[0] = (struct iovec){ frame_hdr, NET_HDR_LEN };
	frame_iov[1] = (struct iovec){ frame_data, pkt_len };
	return frame_iov;
}

Test(net, rx_mrg_spreads_3000_bytes_over_3_buffers, .init = dev_default, .fini = teardown)
{
	struct virtio_net_hdr_v1 h;
	gpa_t g[3];
	uint16_t head[3];
	uint32_t id, len, lens[3] = { 1100, 1100, 800 };
	uint8_t out[3000];
	size_t off = 0;
	unsigned int i;

	drv_ok(BASE_FEATURES, 3);
	for (i = 0; i < 3; i++)
		head[i] = post_rx(0, 1100, &g[i]);
	cr_assert_eq(net_rx(T.n, 0, make_frame(3000 - NET_HDR_LEN), 2), 0);
	cr_expect_eq(T.irqs[0], 0, "published at flush, not before");
	net_rx_flush(T.n, 0);
	cr_expect_eq(T.irqs[0], 1);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(get_used(0, &id, &len), 1);
		cr_expect_eq(id, head[i]);
		cr_expect_eq(len, lens[i]);
		memcpy(out + off, ptr(g[i]), len);
		off += len;
	}
	memcpy(&h, out, sizeof(h));
	cr_expect_eq(h.num_buffers, 3);
	cr_expect_eq(memcmp(out + NET_HDR_LEN, frame_data, 3000 - NET_HDR_LEN), 0);
}

Test(net, rx_without_buffers_is_enospc, .init = dev_default, .fini = teardown)
{
	struct net_rx_buf b;

	drv_ok(BASE_FEATURES, 3);
	/* DRIVER_OK itself kicks (once per pair): buffers may have been posted before it. */
	unsigned int k0 = T.kicks;

	cr_expect_geq(k0, 1);
	cr_expect_eq(net_rx(T.n, 0, make_frame(100), 2), -ENOSPC);
	cr_expect_eq(net_rx_prepare(T.n, 0, &b), -ENOSPC);
	/* Posting buffers kicks the backend. */
	post_rx(0, 2048, NULL);
	net_notify(T.n, 0);
	cr_expect_eq(T.kicks, k0 + 1);
	cr_expect_eq(net_rx(T.n, 0, make_frame(100), 2), 0);
}

Test(net, rx_mrg_with_too_few_buffers_waits, .init = dev_default, .fini = teardown)
{
	drv_ok(BASE_FEATURES, 3);
	post_rx(0, 1000, NULL);
	cr_expect_eq(net_rx(T.n, 0, make_frame(1500), 2), -ENOSPC);
	cr_expect_eq(used_idx(0), 0);
	post_rx(0, 1000, NULL);
	cr_expect_eq(net_rx(T.n, 0, make_frame(1500), 2), 0);
	net_rx_flush(T.n, 0);
	cr_expect_eq(used_idx(0), 2);
}

Test(net, rx_frame_shorter_than_header_is_refused, .init = dev_default, .fini = teardown)
{
	struct iovec iov = { frame_hdr, 4 };
	struct net_queue_stats st;

	drv_ok(BASE_FEATURES, 3);
	post_rx(0, 2048, NULL);
	cr_expect_eq(net_rx(T.n, 0, &iov, 1), -EINVAL);
	net_stats(T.n, 0, &st);
	cr_expect_eq(st.rx_malformed, 1);
}

Test(net, rx_without_mrg_drops_frame_larger_than_buffer, .init = dev_default, .fini = teardown)
{
	struct virtio_net_hdr_v1 h;
	struct net_queue_stats st;
	uint32_t id, len;
	gpa_t g;

	drv_ok(BASE_FEATURES & ~F(VIRTIO_NET_F_MRG_RXBUF), 3);
	post_rx(0, 100, &g);
	cr_expect_eq(net_rx(T.n, 0, make_frame(200), 2), -EINVAL);
	net_stats(T.n, 0, &st);
	cr_expect_eq(st.rx_drops, 1);
	cr_expect_eq(used_idx(0), 0, "the buffer stays for a frame that fits");
	cr_expect_eq(net_rx(T.n, 0, make_frame(60), 2), 0);
	net_rx_flush(T.n, 0);
	cr_assert_eq(get_used(0, &id, &len), 1);
	cr_expect_eq(len, NET_HDR_LEN + 60);
	memcpy(&h, ptr(g), sizeof(h));
	cr_expect_eq(h.num_buffers, 1, "VERSION_1 without MRG_RXBUF: always 1");
}

Test(net, rx_gso_frame_the_guest_did_not_negotiate_is_dropped, .init = dev_default,
     .fini = teardown)
{
	struct virtio_net_hdr_v1 h;
	struct net_queue_stats st;
	uint32_t id, len;
	gpa_t g;

	drv_ok(BASE_FEATURES, 3);
	post_rx(0, 4096, &g);
	make_frame(1000);
	frame_hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	frame_hdr[1] = VIRTIO_NET_HDR_GSO_TCPV4;
	cr_expect_eq(net_rx(T.n, 0, frame_iov, 2), -EINVAL);
	net_stats(T.n, 0, &st);
	cr_expect_eq(st.rx_malformed, 1);
	cr_expect_eq(used_idx(0), 0);
	/* No GUEST_CSUM: flags are cleared (§5.1.6.4.1), the frame itself goes in. */
	frame_hdr[1] = VIRTIO_NET_HDR_GSO_NONE;
	cr_expect_eq(net_rx(T.n, 0, frame_iov, 2), 0);
	net_rx_flush(T.n, 0);
	cr_assert_eq(get_used(0, &id, &len), 1);
	memcpy(&h, ptr(g), sizeof(h));
	cr_expect_eq(h.flags, 0);
}

Test(net, rx_readable_buffer_is_returned_empty, .init = dev_default, .fini = teardown)
{
	struct net_queue_stats st;
	uint32_t id, len;
	gpa_t g = alloc(2048);
	uint16_t bad;

	drv_ok(BASE_FEATURES, 3);
	bad = post(0, (struct seg[]){ { g, 2048, false } }, 1);
	post_rx(0, 2048, NULL);
	cr_expect_eq(net_rx(T.n, 0, make_frame(100), 2), 0);
	net_rx_flush(T.n, 0);
	cr_assert_eq(get_used(0, &id, &len), 1);
	cr_expect_eq(id, bad);
	cr_expect_eq(len, 0);
	net_stats(T.n, 0, &st);
	cr_expect_eq(st.rx_malformed, 1);
	cr_expect_eq(st.rx_packets, 1);
}

Test(net, rx_zero_copy_prepare_commit, .init = dev_default, .fini = teardown)
{
	struct virtio_net_hdr_v1 h = { 0 };
	struct net_rx_buf b;
	uint32_t id, len;
	gpa_t g;
	unsigned int i;

	drv_ok(BASE_FEATURES, 3);
	post_rx(0, 2048, &g);
	cr_assert_eq(net_rx_prepare(T.n, 0, &b), 0);
	cr_expect_eq(b.cap, 2048);
	memset(b.iov[0].iov_base, 0x5a, 100);
	memcpy(b.iov[0].iov_base, &h, sizeof(h));
	net_rx_commit(T.n, 0, 100);
	net_rx_flush(T.n, 0);
	cr_assert_eq(get_used(0, &id, &len), 1);
	cr_expect_eq(len, 100);
	memcpy(&h, ptr(g), sizeof(h));
	cr_expect_eq(h.num_buffers, 1);
	/* A commit of 0 keeps the buffers for the next frame. */
	post_rx(0, 2048, NULL);
	cr_assert_eq(net_rx_prepare(T.n, 0, &b), 0);
	net_rx_commit(T.n, 0, 0);
	cr_assert_eq(net_rx_prepare(T.n, 0, &b), 0);
	cr_expect_eq(b.cap, 2048);
	/* 32 frames flush by themselves. */
	for (i = 0; i < NET_BATCH + 1; i++)
		post_rx(0, 2048, NULL);
	for (i = 0; i < NET_BATCH; i++) {
		cr_assert_eq(net_rx_prepare(T.n, 0, &b), 0);
		net_rx_commit(T.n, 0, 60);
	}
	cr_expect_eq(used_idx(0), 1 + NET_BATCH);
}

Test(net, rx_commit_after_reset_is_ignored, .init = dev_default, .fini = teardown)
{
	struct net_rx_buf b;

	drv_ok(BASE_FEATURES, 3);
	post_rx(0, 2048, NULL);
	cr_assert_eq(net_rx_prepare(T.n, 0, &b), 0);
	virtio_dev_set_status(T.d, 0);
	net_rx_commit(T.n, 0, 100);	/* must not touch the (gone) rings */
	cr_expect_eq(used_idx(0), 0);
	cr_expect_eq(net_rx(T.n, 0, make_frame(60), 2), -EINVAL);
}

Test(net, rx_on_disabled_pair_is_steered_to_enabled_one, .init = dev_default, .fini = teardown)
{
	drv_ok(BASE_FEATURES | F(VIRTIO_NET_F_MQ), 5);
	post_rx(0, 2048, NULL);
	post_rx(2, 2048, NULL);
	cr_expect_eq(net_active_pairs(T.n), 1);
	cr_expect_eq(net_rx(T.n, 1, make_frame(60), 2), 0);
	net_rx_flush(T.n, 1);
	cr_expect_eq(used_idx(0), 1);
	cr_expect_eq(used_idx(2), 0);
	cr_expect_eq(net_rx(T.n, 2, make_frame(60), 2), -EINVAL, "no such pair");
}

/* --- control queue --- */

/* Sends class/cmd + data with a 1-byte ack; returns the ack (or -1 if none). */
static int ctrl(unsigned int vq, const void *msg, uint32_t len)
{
	gpa_t m = alloc(len ? len : 1), a = alloc(1);
	uint32_t id, ulen;

	*(uint8_t *)ptr(a) = 0xee;
	memcpy(ptr(m), msg, len);
	post(vq, (struct seg[]){ { m, len, false }, { a, 1, true } }, 2);
	net_notify(T.n, vq);
	if (get_used(vq, &id, &ulen) != 1)
		return -1;
	cr_expect_eq(ulen, 1);
	return *(uint8_t *)ptr(a);
}

Test(net, ctrl_promisc_and_allmulti, .init = dev_default, .fini = teardown)
{
	struct net_rx_mode m;

	drv_ok(BASE_FEATURES, 3);
	cr_expect_eq(ctrl(2, (uint8_t[]){ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1 }, 3),
		     VIRTIO_NET_OK);
	cr_expect_eq(ctrl(2, (uint8_t[]){ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 1 }, 3),
		     VIRTIO_NET_OK);
	net_rx_mode(T.n, &m);
	cr_expect(m.promisc);
	cr_expect(m.allmulti);
	cr_expect_eq(T.irqs[2], 2);
}

Test(net, ctrl_short_header_is_err, .init = dev_default, .fini = teardown)
{
	drv_ok(BASE_FEATURES, 3);
	cr_expect_eq(ctrl(2, (uint8_t[]){ VIRTIO_NET_CTRL_RX }, 1), VIRTIO_NET_ERR);
	cr_expect_eq(ctrl(2, "", 0), VIRTIO_NET_ERR);
}

Test(net, ctrl_unknown_class_is_err, .init = dev_default, .fini = teardown)
{
	struct net_ctrl_stats st;

	drv_ok(BASE_FEATURES, 3);
	cr_expect_eq(ctrl(2, (uint8_t[]){ 99, 0, 0 }, 3), VIRTIO_NET_ERR);
	cr_expect_eq(ctrl(2, (uint8_t[]){ VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 1, 0 }, 4),
		     VIRTIO_NET_ERR, "CTRL_VLAN is not offered");
	cr_expect_eq(ctrl(2, (uint8_t[]){ VIRTIO_NET_CTRL_RX, 7, 1 }, 3), VIRTIO_NET_ERR);
	cr_expect_eq(ctrl(2, (uint8_t[]){ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1, 0 }, 4),
		     VIRTIO_NET_ERR, "promisc data is exactly one byte");
	net_ctrl_stats(T.n, &st);
	cr_expect_eq(st.err, 4);
	cr_expect_eq(st.ok, 0);
}

static int mq_set(uint16_t pairs)
{
	uint8_t m[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET };

	memcpy(m + 2, &pairs, 2);
	return ctrl(4, m, 4);		/* MQ: the control queue is 2 * max pairs */
}

Test(net, ctrl_mq_pairs_zero_or_above_max_is_err, .init = dev_default, .fini = teardown)
{
	drv_ok(BASE_FEATURES | F(VIRTIO_NET_F_MQ), 5);
	cr_expect_eq(mq_set(0), VIRTIO_NET_ERR);
	cr_expect_eq(mq_set(3), VIRTIO_NET_ERR);
	cr_expect_eq(mq_set(0x8000), VIRTIO_NET_ERR);
	cr_expect_eq(net_active_pairs(T.n), 1);
	cr_expect_eq(mq_set(2), VIRTIO_NET_OK);
	cr_expect_eq(net_active_pairs(T.n), 2);
}

Test(net, ctrl_mq_without_mq_feature_is_err, .init = dev_default, .fini = teardown)
{
	uint8_t m[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1, 0 };

	drv_ok(BASE_FEATURES, 3);
	cr_expect_eq(ctrl(2, m, 4), VIRTIO_NET_ERR);
}

Test(net, ctrl_mac_addr_set_updates_config, .init = dev_default, .fini = teardown)
{
	uint8_t m[8] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 2, 0, 0, 0, 0, 9 };
	uint8_t mac[6];

	drv_ok(BASE_FEATURES, 3);
	cr_expect_eq(ctrl(2, m, 8), VIRTIO_NET_OK);
	virtio_dev_config_rw(T.d, 0, mac, 6, false);
	cr_expect_eq(memcmp(mac, m + 2, 6), 0);
	cr_expect_eq(ctrl(2, m, 7), VIRTIO_NET_ERR, "a 5-byte MAC");
}

Test(net, ctrl_mac_table_set_checks_counts, .init = dev_default, .fini = teardown)
{
	uint8_t m[2 + 4 + 12 + 4 + 6] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET };
	uint32_t uc = 2, mc = 1, huge = 0xffffffff;
	struct net_rx_mode mode;

	memcpy(m + 2, &uc, 4);
	memcpy(m + 18, &mc, 4);
	drv_ok(BASE_FEATURES, 3);
	cr_expect_eq(ctrl(2, m, sizeof(m)), VIRTIO_NET_OK);
	net_rx_mode(T.n, &mode);
	cr_expect_eq(mode.uc_entries, 2);
	cr_expect_eq(mode.mc_entries, 1);
	cr_expect_eq(ctrl(2, m, sizeof(m) - 1), VIRTIO_NET_ERR, "truncated multicast table");
	cr_expect_eq(ctrl(2, m, 2 + 4 + 12), VIRTIO_NET_ERR, "no multicast table");
	memcpy(m + 2, &huge, 4);
	cr_expect_eq(ctrl(2, m, sizeof(m)), VIRTIO_NET_ERR, "count * 6 beyond the message");
}

Test(net, ctrl_without_ack_buffer_is_malformed, .init = dev_default, .fini = teardown)
{
	struct net_ctrl_stats st;
	uint32_t id, len;
	gpa_t m = alloc(3);

	drv_ok(BASE_FEATURES, 3);
	post(2, (struct seg[]){ { m, 3, false } }, 1);
	net_notify(T.n, 2);
	cr_assert_eq(get_used(2, &id, &len), 1);
	cr_expect_eq(len, 0);
	net_ctrl_stats(T.n, &st);
	cr_expect_eq(st.malformed, 1);
}

Test(net, ctrl_oversized_command_is_err, .init = dev_default, .fini = teardown)
{
	static uint8_t big[8192] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC };

	drv_ok(BASE_FEATURES, 3);
	cr_expect_eq(ctrl(2, big, sizeof(big)), VIRTIO_NET_ERR);
}

/* --- features --- */

Test(net, all_optional_features_off_still_works, .fini = teardown)
{
	uint64_t off = F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF) |
		       F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
		       F(VIRTIO_NET_F_CTRL_MAC_ADDR) | F(VIRTIO_NET_F_MQ);
	uint32_t lo, hi, id, len;
	gpa_t g;

	make_dev(&(struct net_opts){ .pairs = 1, .queue_size = QSZ, .disable = off });
	virtio_dev_select_features(T.d, 0, false);
	lo = virtio_dev_features(T.d);
	virtio_dev_select_features(T.d, 1, false);
	hi = virtio_dev_features(T.d);
	cr_expect_eq(lo & 0xffffff, 0, "no device feature offered: %#x", lo);
	cr_expect(hi & (1u << (VIRTIO_F_VERSION_1 - 32)));
	cr_expect_eq(T.offload_calls, 0);

	drv_ok(F(VIRTIO_F_VERSION_1), 2);
	cr_expect_eq(T.offload_calls, 0, "the backend has no offloads to set");
	post_tx(1, NULL, 60, 3);
	net_notify(T.n, 1);
	cr_expect_eq(T.nframes, 1);
	post_rx(0, 1600, &g);
	cr_expect_eq(net_rx(T.n, 0, make_frame(1514), 2), 0);
	net_rx_flush(T.n, 0);
	cr_assert_eq(get_used(0, &id, &len), 1);
	cr_expect_eq(len, NET_HDR_LEN + 1514);
}

Test(net, offloads_are_offered_only_when_the_backend_takes_them, .fini = teardown)
{
	uint32_t lo;

	make_dev(&(struct net_opts){ .pairs = 1, .queue_size = QSZ });
	virtio_dev_select_features(T.d, 0, false);
	lo = virtio_dev_features(T.d);
	cr_expect_eq(lo & (uint32_t)(F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
				     F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6)), 0);
	cr_expect_eq(lo & (uint32_t)F(VIRTIO_NET_F_MQ), 0, "MQ needs more than one pair");
}

Test(net, guest_offloads_reach_the_backend, .init = dev_default, .fini = teardown)
{
	uint64_t f = BASE_FEATURES | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4);

	drv_ok(f, 3);
	cr_expect_eq(T.offload_calls, 1);
	cr_expect_eq(T.offloads, f);
	cr_expect_eq(net_features(T.n), f);
}

Test(net, guest_tso_without_guest_csum_breaks_the_device, .init = dev_default, .fini = teardown)
{
	uint8_t s = drv_start(BASE_FEATURES | F(VIRTIO_NET_F_GUEST_TSO4), 3);

	cr_expect_not(s & VIRTIO_CONFIG_S_DRIVER_OK);
	cr_expect(s & VIRTIO_CONFIG_S_NEEDS_RESET);
}

Test(net, mq_without_ctrl_vq_breaks_the_device, .init = dev_default, .fini = teardown)
{
	uint8_t s = drv_start(F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MQ), 4);

	cr_expect(s & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* --- config, link, creation --- */

Test(net, link_down_raises_config_interrupt, .init = dev_default, .fini = teardown)
{
	uint16_t st, pairs;
	uint8_t mac[6];

	drv_ok(BASE_FEATURES, 3);
	virtio_dev_config_rw(T.d, 0, mac, 6, false);
	cr_expect_eq(mac[5], 3);
	virtio_dev_config_rw(T.d, 6, &st, 2, false);
	cr_expect_eq(st, VIRTIO_NET_S_LINK_UP);
	virtio_dev_config_rw(T.d, 8, &pairs, 2, false);
	cr_expect_eq(pairs, 2);
	net_set_link(T.n, false);
	cr_expect_eq(T.cfg_irqs, 1);
	virtio_dev_config_rw(T.d, 6, &st, 2, false);
	cr_expect_eq(st, 0);
	net_set_link(T.n, false);
	cr_expect_eq(T.cfg_irqs, 1, "no change, no interrupt");
	/* Config writes are ignored (read-only for VERSION_1). */
	st = 0xffff;
	virtio_dev_config_rw(T.d, 6, &st, 2, true);
	virtio_dev_config_rw(T.d, 6, &st, 2, false);
	cr_expect_eq(st, 0);
}

Test(net, bad_options_are_refused)
{
	struct gmem gm;
	struct virtio_net *n;
	struct err e = { 0 };
	struct virtio_irq irq = { irq_queue, irq_config, NULL };

	gm_init(&gm);
	cr_expect_eq(net_create(&(struct net_opts){ .pairs = 0, .queue_size = 64 }, &gm, irq, &n, &e),
		     -EINVAL);
	cr_expect_eq(net_create(&(struct net_opts){ .pairs = NET_MAX_PAIRS + 1, .queue_size = 64 },
				&gm, irq, &n, &e), -EINVAL);
	cr_expect_eq(net_create(&(struct net_opts){ .pairs = 1, .queue_size = 100 }, &gm, irq, &n,
				&e), -EINVAL);
	cr_expect_eq(net_create(&(struct net_opts){ .pairs = 1, .queue_size = 2048 }, &gm, irq, &n,
				&e), -EINVAL);
	cr_expect_eq(net_create(&(struct net_opts){ .mac = { 1 }, .pairs = 1, .queue_size = 64 },
				&gm, irq, &n, &e), -EINVAL, "multicast MAC");
	cr_expect_neq(e.msg[0], 0);
}

Test(net, notify_on_unknown_queue_is_ignored, .init = dev_default, .fini = teardown)
{
	drv_ok(BASE_FEATURES, 3);
	net_notify(T.n, 4);		/* not set up */
	net_notify(T.n, 1000);
	cr_expect_not(virtio_dev_status(T.d) & VIRTIO_CONFIG_S_NEEDS_RESET);
}
