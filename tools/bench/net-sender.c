// SPDX-License-Identifier: MIT
/*
 * Host-side frame source for the TAP -> guest benchmark (tools/bench/net-bench.sh): sends
 * 60-byte broadcast frames (64 on a wire with the FCS) in batches of 32 (one sendmmsg each)
 * on an AF_PACKET socket bound to the TAP interface itself. A frame sent *out of* a TAP
 * netdev is what the TAP's reader (the VMM) reads, so this feeds the guest's receive queue.
 *
 *	net-sender IFNAME SECONDS
 *
 * The TAP drops what does not fit its queue (tx_dropped) and gives the sender no back-
 * pressure, and the machine has two cores shared with the VMM. So the sender paces itself:
 * after each batch it sleeps `gap`, and every 10 ms it looks at the interface's tx_dropped:
 * more drops -> longer gap, none -> shorter. The queue then stays full without a third
 * busy thread. Prints the frames it sent and how many the TAP dropped.
 * Compiled by net-bench.sh (cc -O2); not part of the library build.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH		32
#define FRAME_LEN	60
#define GAP_MIN_NS	2000
#define GAP_MAX_NS	5000000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long long read_counter(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtoll(buf, NULL, 10);
}

int main(int argc, char **argv)
{
	static uint8_t frame[FRAME_LEN];
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { .iov_base = frame, .iov_len = sizeof(frame) };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	long long drops0, drops, last_drops;
	uint64_t sent = 0, end, next_check, gap = 20000;
	char path[128];
	int one = 1, s, dfd;
	double secs;

	if (argc != 3 || (secs = atof(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s IFNAME SECONDS\n", argv[0]);
		return 2;
	}
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (!sll.sll_ifindex) {
		fprintf(stderr, "net-sender: no interface %s\n", argv[1]);
		return 1;
	}
	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_dropped", argv[1]);
	dfd = open(path, O_RDONLY | O_CLOEXEC);
	s = socket(AF_PACKET, SOCK_RAW, 0);
	if (s < 0 || dfd < 0 || bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("net-sender: socket/bind/open");
		return 1;
	}
	/* Straight to the driver's xmit (tun_net_xmit): the qdisc would only add a queue. */
	if (setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		perror("net-sender: PACKET_QDISC_BYPASS (continuing through the qdisc)");
	prctl(PR_SET_TIMERSLACK, 1UL);

	memset(frame, 0xff, 6);					/* broadcast */
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x01", 6);	/* locally administered */
	frame[12] = 0x88;					/* local experimental */
	frame[13] = 0xb5;
	for (int i = 0; i < BATCH; i++)
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };

	drops0 = last_drops = read_counter(dfd);
	end = now_ns() + (uint64_t)(secs * 1e9);
	next_check = now_ns() + 10000000;
	while (now_ns() < end) {
		int n = sendmmsg(s, msgs, BATCH, 0);
		struct timespec ts = { 0, 0 };

		if (n < 0) {
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
				perror("net-sender: sendmmsg");
				return 1;
			}
			n = 0;
		}
		sent += (uint64_t)n;
		if (now_ns() >= next_check) {
			drops = read_counter(dfd);
			if (drops > last_drops)
				gap = gap * 5 / 4 + 1000 < GAP_MAX_NS ? gap * 5 / 4 + 1000 : GAP_MAX_NS;
			else
				gap = gap * 9 / 10 > GAP_MIN_NS ? gap * 9 / 10 : GAP_MIN_NS;
			last_drops = drops;
			next_check = now_ns() + 10000000;
		}
		ts.tv_nsec = (long)gap;
		nanosleep(&ts, NULL);
	}
	drops = read_counter(dfd);
	printf("net-sender: %llu frames sent on %s, %lld dropped by the TAP\n",
	       (unsigned long long)sent, argv[1], drops >= 0 && drops0 >= 0 ? drops - drops0 : -1);
	return 0;
}
