// SPDX-License-Identifier: MIT
/*
 * Answers ARP requests (RFC 826) and ICMP echo requests (RFC 792) for its IPv4 address on the
 * first virtio-net NIC, from ring 3 with the poll-mode driver. Command line:
 *	ip=A.B.C.D	our address (default 10.0.0.2)
 *	count=N		exit 0 after N echo replies (default: run until the VMM stops us)
 * Counters go to the serial port as "net-responder: ..." lines when they change (at most
 * four a second: each character is an exit).
 */
#include "libguest.h"
#include "virtio-net.h"

#define ARP_LEN		28	/* Ethernet/IPv4 ARP payload */
#define IP_PROTO_ICMP	1
#define ICMP_ECHO	8
#define ICMP_ECHOREPLY	0

struct counters {
	uint64_t rx, arp_requests, echo_requests, replies, ignored, bad;
};

static struct vnet nic;
static uint8_t out_buf[VNET_BURST][VNET_MAX_FRAME];

/* ARP request for our address -> reply in out (ETH_ZLEN bytes); 0 if not for us. */
static uint16_t arp_reply(const uint8_t *f, uint16_t len, uint32_t ip, const uint8_t *mac,
			  uint8_t *out, struct counters *c)
{
	const uint8_t *a = f + ETH_HLEN;
	uint8_t *r = out + ETH_HLEN;

	if (len < ETH_HLEN + ARP_LEN)
		return c->bad++, 0;
	/* htype Ethernet, ptype IPv4, hlen 6, plen 4, op request, target = us. */
	if (get_be16(a) != 1 || get_be16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4 ||
	    get_be16(a + 6) != 1 || get_be32(a + 24) != ip)
		return c->ignored++, 0;
	c->arp_requests++;
	memset(out, 0, ETH_ZLEN);
	memcpy(out, a + 8, 6);			/* to the sender's hardware address */
	memcpy(out + 6, mac, 6);
	put_be16(out + 12, ETH_P_ARP);
	memcpy(r, a, 6);			/* htype, ptype, hlen, plen */
	put_be16(r + 6, 2);			/* reply */
	memcpy(r + 8, mac, 6);			/* sha = us */
	put_be32(r + 14, ip);			/* spa */
	memcpy(r + 18, a + 8, 10);		/* tha, tpa = the requester */
	return ETH_ZLEN;
}

/* ICMP echo request to us -> echo reply in out; 0 if not for us or malformed. */
static uint16_t icmp_reply(const uint8_t *f, uint16_t len, uint32_t ip, const uint8_t *mac,
			   uint8_t *out, struct counters *c)
{
	const uint8_t *h = f + ETH_HLEN;
	unsigned int ihl, tot;
	uint8_t *rh, *icmp;

	if (len < ETH_HLEN + 20)
		return c->bad++, 0;
	ihl = (h[0] & 0xf) * 4u;
	tot = get_be16(h + 2);
	/* RFC 791: version 4, header inside the packet, packet inside the frame (the rest is
	 * Ethernet padding), a correct header checksum. */
	if ((h[0] >> 4) != 4 || ihl < 20 || tot < ihl + 8 || tot > (unsigned int)len - ETH_HLEN ||
	    inet_csum(h, ihl) != 0)
		return c->bad++, 0;
	if (get_be32(h + 16) != ip || h[9] != IP_PROTO_ICMP)
		return c->ignored++, 0;
	/* Fragments (MF or an offset) would need reassembly: not for a responder. */
	if (get_be16(h + 6) & 0x3fff)
		return c->ignored++, 0;
	if (h[ihl] != ICMP_ECHO || h[ihl + 1] != 0)
		return c->ignored++, 0;
	if (inet_csum(h + ihl, tot - ihl) != 0)
		return c->bad++, 0;
	c->echo_requests++;

	memcpy(out, f + 6, 6);			/* back to the sender */
	memcpy(out + 6, mac, 6);
	put_be16(out + 12, ETH_P_IP);
	rh = out + ETH_HLEN;
	memcpy(rh, h, tot);			/* header, options, ICMP id/seq and payload */
	memcpy(rh + 16, h + 12, 4);		/* dst = their src */
	put_be32(rh + 12, ip);
	rh[8] = 64;				/* TTL */
	put_be16(rh + 10, 0);
	put_be16(rh + 10, inet_csum(rh, ihl));
	icmp = rh + ihl;
	icmp[0] = ICMP_ECHOREPLY;
	put_be16(icmp + 2, 0);
	put_be16(icmp + 2, inet_csum(icmp, tot - ihl));
	return (uint16_t)(ETH_HLEN + tot);
}

static void print_counters(const struct counters *c)
{
	printf("net-responder: rx=%lu arp=%lu echo=%lu replies=%lu ignored=%lu bad=%lu "
	       "tx_full=%lu kicks=%lu\n", c->rx, c->arp_requests, c->echo_requests, c->replies,
	       c->ignored, c->bad, nic.st.tx_full, nic.st.kicks);
}

int main(void)
{
	struct vnet_conf conf = VNET_CONF_DEFAULT;
	struct counters c = { 0 }, shown = { 0 };
	uint64_t count = 0, echo_replies = 0, last_print, tick;
	const char *v;
	size_t vlen;
	uint32_t ip = 10u << 24 | 2;		/* 10.0.0.2 */
	const uint8_t *mac;
	int r;

	if (cmdline_get("ip", &v, &vlen) && !inet_parse(v, vlen, &ip)) {
		printf("net-responder: bad ip= on the command line\n");
		return 2;
	}
	if (cmdline_get("count", &v, &vlen) && !parse_size(v, vlen, &count)) {
		printf("net-responder: bad count= on the command line\n");
		return 2;
	}
	r = vnet_probe(0, &nic);
	if (!r)
		r = vnet_init(&nic, &conf);
	if (r) {
		printf("net-responder: no usable virtio-net device (%d)\n", r);
		return 3;
	}
	mac = vnet_mac(&nic);
	printf("net-responder: %u.%u.%u.%u at %02x:%02x:%02x:%02x:%02x:%02x, features 0x%lx, "
	       "queue size %u\n", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff,
	       mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], nic.features, nic.rxq.size);

	tick = tsc_khz() * 250;			/* 250 ms */
	last_print = rdtsc();
	for (;;) {
		struct vnet_pkt in[VNET_BURST], out[VNET_BURST];
		unsigned int n = vnet_rx_burst(&nic, in, VNET_BURST), k = 0, sent = 0;

		for (unsigned int i = 0; i < n; i++) {
			uint16_t len = 0, type;

			c.rx++;
			if (in[i].len < ETH_HLEN) {
				c.bad++;
				continue;
			}
			type = get_be16(in[i].data + 12);
			if (type == ETH_P_ARP)
				len = arp_reply(in[i].data, in[i].len, ip, mac, out_buf[k], &c);
			else if (type == ETH_P_IP)
				len = icmp_reply(in[i].data, in[i].len, ip, mac, out_buf[k], &c);
			else
				c.ignored++;
			if (!len)
				continue;
			if (type == ETH_P_IP)
				echo_replies++;
			out[k] = (struct vnet_pkt){ .data = out_buf[k], .len = len };
			k++;
		}
		/* The ring has 256 buffers and the device drains it: a few retries at most. */
		for (unsigned int tries = 0; sent < k && tries < 1000000; tries++)
			sent += vnet_tx_burst(&nic, out + sent, k - sent);
		c.replies += sent;

		if (count && echo_replies >= count) {
			while (vnet_tx_inflight(&nic))
				cpu_relax();
			print_counters(&c);
			printf("net-responder: %lu echo replies sent, done\n", echo_replies);
			return 0;
		}
		if (memcmp(&c, &shown, sizeof(c)) && rdtsc() - last_print > tick) {
			print_counters(&c);
			shown = c;
			last_print = rdtsc();
		}
		if (!n)
			cpu_relax();
	}
}
