// SPDX-License-Identifier: MIT
/*
 * TAP backend against a REAL tap device. Each test runs in its own process (criterion forks),
 * which moves itself into a fresh network namespace with unshare(CLONE_NEWNET): the tap and
 * everything else vanish with the process on every path, pass, fail or crash. Needs root
 * (CAP_NET_ADMIN); skipped otherwise.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "devices/tap.h"

#define F(b)		(1ull << (b))
#define MEM_SIZE	(1u << 20)
#define QSZ		16u
#define ETH_TEST	0x88b5		/* IEEE 802 local experimental EtherType */
#define IFNAME		"vnt0"

static void enter_netns(void)
{
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs root for a network namespace and a tap");
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
	/* No IPv6 on new interfaces: no router/neighbour solicitations mixed into our frames. */
	fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		cr_expect_eq(write(fd, "1", 1), 1);
		close(fd);
	}
}

static void if_up(const char *name, const char *addr)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(s, 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin->sin_addr);
	cr_assert_eq(ioctl(s, SIOCSIFADDR, &ifr), 0, "SIOCSIFADDR: %s", strerror(errno));
	inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
	cr_assert_eq(ioctl(s, SIOCSIFNETMASK, &ifr), 0);
	cr_assert_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0, "SIOCSIFFLAGS: %s", strerror(errno));
	close(s);
}

static int packet_sock(const char *name)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = (int)if_nametoindex(name) };
	struct timeval tv = { .tv_sec = 2 };
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));

	cr_assert_geq(s, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	cr_assert_eq(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return s;
}

/* An Ethernet frame of our test type with a marker payload. */
static size_t make_eth(uint8_t *buf, uint16_t type, const char *marker)
{
	struct ether_header *eh = (struct ether_header *)buf;
	size_t ml = strlen(marker);

	memcpy(eh->ether_dhost, (uint8_t[]){ 0x02, 0, 0, 0, 0, 0x02 }, 6);
	memcpy(eh->ether_shost, (uint8_t[]){ 0x02, 0, 0, 0, 0, 0x01 }, 6);
	eh->ether_type = htons(type);
	memset(buf + sizeof(*eh), 0, 60);
	memcpy(buf + sizeof(*eh), marker, ml);
	return sizeof(*eh) + (ml < 60 ? 60 : ml);
}

/* Waits for a frame of our type on the packet socket; returns its length or -1. */
static ssize_t recv_test_frame(int s, uint16_t type, uint8_t *buf, size_t len)
{
	int tries;

	for (tries = 0; tries < 20; tries++) {
		ssize_t n = recv(s, buf, len, 0);

		if (n < 0)
			return -1;
		if (n >= 14 && ((struct ether_header *)buf)->ether_type == htons(type))
			return n;
	}
	return -1;
}

static struct tap *make_tap(unsigned int queues)
{
	struct err e = { 0 };
	struct tap *t = NULL;

	cr_assert_eq(tap_create(&(struct tap_opts){ .ifname = IFNAME, .queues = queues }, &t, &e),
		     0, "%s", e.msg);
	cr_assert_str_eq(tap_ifname(t), IFNAME);
	return t;
}

Test(tap, tx_frames_appear_on_the_interface)
{
	uint8_t hdr[NET_HDR_LEN] = { 0 }, eth[128], got[2048];
	struct tap_stats st;
	struct tap *t;
	size_t len;
	ssize_t n;
	int s;

	enter_netns();
	t = make_tap(1);
	if_up(IFNAME, "10.77.0.1");
	s = packet_sock(IFNAME);
	len = make_eth(eth, ETH_TEST, "tap tx test");
	cr_assert_eq(tap_port_ops.tx(t, 0, (struct iovec[]){ { hdr, sizeof(hdr) }, { eth, len } }, 2),
		     0);
	tap_port_ops.tx_flush(t, 0);
	n = recv_test_frame(s, ETH_TEST, got, sizeof(got));
	cr_assert_eq(n, (ssize_t)len, "frame not seen on " IFNAME " (%zd)", n);
	cr_expect_eq(memcmp(got, eth, len), 0);
	tap_stats(t, &st);
	cr_expect_eq(st.tx_frames, 1);
	cr_expect_eq(st.tx_errors, 0);
	close(s);
	tap_destroy(t);
}

Test(tap, bad_gso_header_is_refused_by_the_kernel)
{
	struct virtio_net_hdr_v1 h = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 0 };
	uint8_t eth[128];
	struct tap_stats st;
	struct tap *t;
	size_t len;

	enter_netns();
	t = make_tap(1);
	if_up(IFNAME, "10.77.0.1");
	len = make_eth(eth, ETH_TEST, "bad gso");
	cr_assert_eq(tap_port_ops.tx(t, 0, (struct iovec[]){ { &h, sizeof(h) }, { eth, len } }, 2),
		     0);
	tap_port_ops.tx_flush(t, 0);
	tap_stats(t, &st);
	cr_expect_eq(st.tx_errors, 1, "the kernel must refuse gso_size 0 (tx_errors counts it)");
	tap_destroy(t);
}

/* --- a guest: rings in a real gmem, driven through the device core --- */

static struct {
	struct gmem gm;
	uint8_t *mem;
	struct virtio_net *n;
	struct virtio_dev *d;
	gpa_t data;
	uint16_t avail_idx[2], next_desc[2];
	int irqs;
} G;

static gpa_t q_desc(unsigned int q)
{
	return 0x10000 + q * 0x4000;
}

static void g_irq(void *ctx, unsigned int q)
{
	(void)ctx;
	(void)q;
	__atomic_fetch_add(&G.irqs, 1, __ATOMIC_RELAXED);
}

static void g_cfg(void *ctx)
{
	(void)ctx;
}

static void guest_start(struct tap *t, uint64_t features)
{
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	struct err e = { 0 };
	unsigned int q;

	memset(&G, 0, sizeof(G));
	G.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(G.mem, MAP_FAILED);
	gm_init(&G.gm);
	cr_assert_eq(gm_add_region(&G.gm, 0, MEM_SIZE, G.mem, -1, 0), 0);
	cr_assert_eq(net_create(&(struct net_opts){ .mac = { 0x52, 0x54, 0, 0, 0, 1 }, .pairs = 1,
						    .queue_size = QSZ, .offloads = tap_offloads(t) },
				&G.gm, (struct virtio_irq){ g_irq, g_cfg, NULL }, &G.n, &e), 0, "%s",
		     e.msg);
	G.d = net_vdev(G.n);
	G.data = 0x80000;
	tap_attach(t, G.n);

	virtio_dev_set_status(G.d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	virtio_dev_set_status(G.d, s);
	virtio_dev_select_features(G.d, 0, true);
	virtio_dev_set_driver_features(G.d, (uint32_t)features);
	virtio_dev_select_features(G.d, 1, true);
	virtio_dev_set_driver_features(G.d, (uint32_t)(features >> 32));
	s |= VIRTIO_CONFIG_S_FEATURES_OK;
	virtio_dev_set_status(G.d, s);
	for (q = 0; q < 2; q++) {
		virtio_dev_select_queue(G.d, (uint16_t)q);
		virtio_dev_queue_set(G.d, VQF_SIZE, QSZ);
		virtio_dev_queue_set(G.d, VQF_DESC_LO, (uint32_t)q_desc(q));
		virtio_dev_queue_set(G.d, VQF_AVAIL_LO, (uint32_t)q_desc(q) + 0x1000);
		virtio_dev_queue_set(G.d, VQF_USED_LO, (uint32_t)q_desc(q) + 0x2000);
		virtio_dev_queue_set(G.d, VQF_READY, 1);
	}
	virtio_dev_set_status(G.d, s | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert(virtio_dev_status(G.d) & VIRTIO_CONFIG_S_DRIVER_OK);
}

static void guest_stop(void)
{
	net_destroy(G.n);
	munmap(G.mem, MEM_SIZE);
}

static gpa_t g_alloc(uint32_t len)
{
	gpa_t g = G.data;

	G.data += (len + 15) & ~15u;
	cr_assert_leq(G.data, MEM_SIZE);
	return g;
}

/* One buffer chain (a TX frame in one readable buffer, or an RX buffer). */
static void g_post(unsigned int q, gpa_t gpa, uint32_t len, bool write)
{
	struct vring_desc *desc = (void *)(G.mem + q_desc(q));
	struct vring_avail *avail = (void *)(G.mem + q_desc(q) + 0x1000);
	uint16_t head = G.next_desc[q];

	desc[head] = (struct vring_desc){ .addr = gpa, .len = len,
					  .flags = write ? VRING_DESC_F_WRITE : 0 };
	G.next_desc[q] = (uint16_t)((head + 1) % QSZ);
	avail->ring[G.avail_idx[q] % QSZ] = head;
	G.avail_idx[q]++;
	__atomic_store_n(&avail->idx, G.avail_idx[q], __ATOMIC_RELEASE);
}

static struct vring_used *g_used(unsigned int q)
{
	return (void *)(G.mem + q_desc(q) + 0x2000);
}

/* Waits up to 2 s for used->idx of queue q to reach want. */
static bool g_wait_used(unsigned int q, uint16_t want)
{
	struct timespec ts = { .tv_nsec = 1000000 };
	int i;

	for (i = 0; i < 2000; i++) {
		if (__atomic_load_n(&g_used(q)->idx, __ATOMIC_ACQUIRE) == want)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static void kick(int efd)
{
	uint64_t one = 1;

	cr_assert_eq(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

Test(tap, injected_frames_reach_the_guest_ring)
{
	uint8_t eth[128], *buf = NULL;
	struct virtio_net_hdr_v1 h;
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = 6 };
	struct net_queue_stats st;
	struct err e = { 0 };
	struct tap *t;
	gpa_t rxg[4];
	uint16_t i, got;
	size_t len;
	int s, efd0;

	enter_netns();
	t = make_tap(1);
	if_up(IFNAME, "10.77.0.1");
	s = packet_sock(IFNAME);
	to.sll_ifindex = (int)if_nametoindex(IFNAME);
	guest_start(t, F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF));
	efd0 = eventfd(0, EFD_CLOEXEC);
	cr_assert_eq(tap_set_notify_fd(t, 0, efd0), 0);
	cr_assert_eq(tap_start(t, &e), 0, "%s", e.msg);
	cr_expect_eq(tap_set_notify_fd(t, 1, efd0), -EBUSY);

	/* No RX buffers yet: the frame waits in the tap until the guest posts and kicks. */
	len = make_eth(eth, ETH_TEST, "tap rx test");
	cr_assert_eq(sendto(s, eth, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
	usleep(50 * 1000);
	cr_expect_eq(g_used(0)->idx, 0);
	for (i = 0; i < 4; i++) {
		rxg[i] = g_alloc(2048);
		g_post(0, rxg[i], 2048, true);
	}
	kick(efd0);

	/* The frame, then possibly other traffic: find ours among the used buffers. */
	cr_assert(g_wait_used(0, 1) || g_used(0)->idx > 0, "nothing reached the guest");
	got = g_used(0)->idx;
	for (i = 0; i < got && i < 4; i++) {
		struct vring_used_elem *u = &g_used(0)->ring[i];

		buf = G.mem + rxg[u->id];
		if (u->len >= NET_HDR_LEN + 14 && !memcmp(buf + NET_HDR_LEN, eth, len))
			break;
	}
	cr_assert_lt(i, got, "our frame is not among %u used buffers", got);
	cr_expect_eq(g_used(0)->ring[i].len, NET_HDR_LEN + len);
	memcpy(&h, buf, sizeof(h));
	cr_expect_eq(h.num_buffers, 1);
	cr_expect_geq(__atomic_load_n(&G.irqs, __ATOMIC_RELAXED), 1);
	net_stats(G.n, 0, &st);
	cr_expect_geq(st.rx_packets, 1);

	close(s);
	tap_destroy(t);		/* stops the worker before the guest memory goes */
	close(efd0);
	guest_stop();
}

Test(tap, guest_tx_through_the_notify_eventfd)
{
	uint8_t eth[128], got[2048];
	struct err e = { 0 };
	struct tap *t;
	gpa_t g;
	size_t len;
	ssize_t n;
	int s, efd1;

	enter_netns();
	t = make_tap(1);
	if_up(IFNAME, "10.77.0.1");
	s = packet_sock(IFNAME);
	guest_start(t, F(VIRTIO_F_VERSION_1));
	efd1 = eventfd(0, EFD_CLOEXEC);
	cr_assert_eq(tap_set_notify_fd(t, 1, efd1), 0);
	cr_assert_eq(tap_start(t, &e), 0, "%s", e.msg);

	len = make_eth(eth, ETH_TEST, "guest tx test");
	g = g_alloc(NET_HDR_LEN + (uint32_t)len);
	memset(G.mem + g, 0, NET_HDR_LEN);
	memcpy(G.mem + g + NET_HDR_LEN, eth, len);
	g_post(1, g, NET_HDR_LEN + (uint32_t)len, false);
	kick(efd1);			/* what KVM does for the ioeventfd */

	n = recv_test_frame(s, ETH_TEST, got, sizeof(got));
	cr_assert_eq(n, (ssize_t)len, "guest frame not seen on " IFNAME);
	cr_expect_eq(memcmp(got, eth, len), 0);
	cr_expect(g_wait_used(1, 1), "the TX chain came back");
	cr_expect_eq(g_used(1)->ring[0].len, 0);

	close(s);
	tap_destroy(t);
	close(efd1);
	guest_stop();
}

Test(tap, multi_queue_opens_one_fd_per_queue)
{
	struct tap *t;

	enter_netns();
	t = make_tap(4);
	tap_destroy(t);
}

/* --- bad input, no root needed --- */

Test(tap, bad_options_are_refused)
{
	struct err e = { 0 };
	struct tap *t;

	cr_expect_eq(tap_create(&(struct tap_opts){ .queues = 0 }, &t, &e), -EINVAL);
	cr_expect_eq(tap_create(&(struct tap_opts){ .queues = TAP_MAX_QUEUES + 1 }, &t, &e),
		     -EINVAL);
	cr_expect_eq(tap_create(&(struct tap_opts){ .ifname = "a-name-longer-than-16", .queues = 1 },
				&t, &e), -EINVAL);
	cr_expect_neq(e.msg[0], 0);
}

Test(tap, adopting_fewer_fds_than_queues_is_refused_and_closes_them)
{
	struct err e = { 0 };
	struct tap *t;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_expect_eq(tap_create(&(struct tap_opts){ .fds = { p[0] }, .nfds = 1, .queues = 2 }, &t,
				&e), -EINVAL);
	cr_expect_eq(fcntl(p[0], F_GETFD), -1, "an adopted fd belongs to the tap, even on failure");
	close(p[1]);
}

Test(tap, adopting_a_non_tap_fd_is_refused)
{
	struct err e = { 0 };
	struct tap *t;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_expect_eq(tap_create(&(struct tap_opts){ .fds = { p[0] }, .nfds = 1, .queues = 1 }, &t,
				&e), -EINVAL);
	cr_expect_eq(fcntl(p[0], F_GETFD), -1);
	close(p[1]);
}

Test(tap, adopting_a_tap_without_vnet_hdr_is_refused)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	struct err e = { 0 };
	struct tap *t;
	int fd;

	enter_netns();
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", IFNAME);
	cr_assert_eq(ioctl(fd, TUNSETIFF, &ifr), 0);
	cr_expect_eq(tap_create(&(struct tap_opts){ .fds = { fd }, .nfds = 1, .queues = 1 }, &t, &e),
		     -EINVAL);
	cr_expect(strstr(e.msg, "VNET_HDR"), "%s", e.msg);
}

Test(tap, adopted_tap_fd_works)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	struct err e = { 0 };
	struct tap *t;
	int fd;

	enter_netns();
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", IFNAME);
	cr_assert_eq(ioctl(fd, TUNSETIFF, &ifr), 0);
	cr_assert_eq(tap_create(&(struct tap_opts){ .fds = { fd }, .nfds = 1, .queues = 1 }, &t, &e),
		     0, "%s", e.msg);
	cr_expect_str_eq(tap_ifname(t), IFNAME);
	cr_expect(fcntl(fd, F_GETFL) & O_NONBLOCK);
	tap_destroy(t);
}
