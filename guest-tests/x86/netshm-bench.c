// SPDX-License-Identifier: MIT
/*
 * vhost-user-shmem benchmarks (tools/bench/netshm-bench.sh): rate and ping-pong latency over
 * the fast path or, with slow=1, the switch path (nshm.force_slow), on the first virtio-net
 * NIC and the netshm device.
 *	mode=tx    sends 64-byte frames (len=L) to dst=MAC in batches of 32 for secs=S
 *	           (default 10), after waiting up to wait_fast=S (default 10) for a fast ring
 *	mode=rx    receives; one line per second "netshm-bench: sample I: R kpps (fast F slow S)"
 *	           and at the end one "netshm-bench: summary ..." line with frames, seconds,
 *	           median/min/max kpps over the samples. Stops idle=S (default 2) seconds after
 *	           the last frame, or wait=S (default 60) without any.
 *	mode=ping  count=N (default 10000) round trips to dst=MAC, one frame at a time; prints
 *	           min/median/p99/max in ns ("netshm-bench: rtt ...")
 *	mode=pong  echoes every ping frame back to its source until idle=S after the last one
 *	netshm=0   no netshm device (another back-end): everything through the NIC
 * Every VM says hello (a broadcast) every 100 ms until it sees traffic, so the switch learns
 * its MAC. Rates come from the TSC (tsc_khz(); its frequency may be a guess: compare with the
 * host's counters).
 */
#include "libguest.h"
#include "netshm.h"
#include "virtio-net.h"

#define NB_ETHERTYPE	0x88b7
#define NB_MAX_SAMPLES	3600
#define NB_MAX_PINGS	100000

enum { NB_DATA = 1, NB_HELLO = 2, NB_PING = 3, NB_PONG = 4 };

static struct vnet nic;
static struct nshm ns;
static uint64_t samples[NB_MAX_SAMPLES];
static uint64_t rtt[NB_MAX_PINGS];
static struct nshm_rx_mem peer_mem[NSHM_MAX_INBOUND];	/* peer-memory mode: our rings */
static uint8_t frames[NSHM_BURST][128];
static uint64_t khz;
static bool saw_traffic;
static uint64_t next_hello;

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void nb_fill(uint8_t *f, const uint8_t *dst, uint8_t kind, uint32_t seq)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, vnet_mac(&nic), 6);
	put_be16(f + 12, NB_ETHERTYPE);
	f[14] = kind;
	put_be32(f + 16, seq);
}

static void nb_hello(void)
{
	uint8_t f[ETH_ZLEN] = { 0 };
	struct vnet_pkt p = { f, ETH_ZLEN };

	if (saw_traffic || rdtsc() < next_hello)
		return;
	nb_fill(f, bcast, NB_HELLO, 0);
	(void)nshm_tx_burst(&ns, &nic, &p, 1);
	next_hello = rdtsc() + 100 * khz;
}

/* Shell sort: ring 3 runs natively, 1e5 values take milliseconds. */
static void nb_sort(uint64_t *a, unsigned int n)
{
	for (unsigned int gap = n / 2; gap; gap = gap == 2 ? 1 : gap * 5 / 11)
		for (unsigned int i = gap; i < n; i++) {
			uint64_t v = a[i];
			unsigned int j = i;

			for (; j >= gap && a[j - gap] > v; j -= gap)
				a[j] = a[j - gap];
			a[j] = v;
		}
}

static bool nb_wait_fast(const uint8_t *dst, uint64_t secs)
{
	uint64_t until = rdtsc() + secs * 1000 * khz;
	struct vnet_pkt pkts[NSHM_BURST];

	if (ns.force_slow)
		return true;
	while (rdtsc() < until) {
		if (nshm_fast_ready(&ns, dst))
			return true;
		nb_hello();
		(void)nshm_rx_burst(&ns, &nic, pkts, NSHM_BURST);
	}
	printf("netshm-bench: destination not fast after %lu s: the switch path is used\n", secs);
	return false;
}

static int nb_tx(const uint8_t *dst, uint64_t secs, uint64_t len)
{
	struct vnet_pkt q[NSHM_BURST], pkts[NSHM_BURST];
	uint64_t t0, end, sent = 0, seq = 0;

	(void)nb_wait_fast(dst, 10);
	for (unsigned int i = 0; i < NSHM_BURST; i++) {
		nb_fill(frames[i], dst, NB_DATA, 0);
		q[i] = (struct vnet_pkt){ frames[i], (uint16_t)len };
	}
	t0 = rdtsc();
	end = t0 + secs * 1000 * khz;
	while (rdtsc() < end) {
		unsigned int k;

		/* A sequence number in each frame; no other per-frame work than the copy. */
		for (unsigned int i = 0; i < NSHM_BURST; i++)
			put_be32(frames[i] + 16, (uint32_t)(seq + i));
		k = nshm_tx_burst(&ns, &nic, q, NSHM_BURST);
		/* The frames not taken are sent again next time (their sequence moves on). */
		sent += k;
		seq += k;
		if (k < NSHM_BURST) {
			(void)nshm_rx_burst(&ns, &nic, pkts, NSHM_BURST);	/* keep RX drained */
			cpu_relax();
		}
	}
	printf("netshm-bench: sent %lu frames in %lu ms: %lu kpps\n", sent,
	       (rdtsc() - t0) / khz, sent / ((rdtsc() - t0) / khz ? (rdtsc() - t0) / khz : 1));
	return 0;
}

static int nb_rx(uint64_t idle_s, uint64_t wait_s)
{
	struct vnet_pkt pkts[NSHM_BURST];
	uint64_t got = 0, last, t0 = 0, tick = 0, in_tick = 0, nsamp = 0;
	uint64_t fast0 = 0, slow0 = 0;

	last = rdtsc();
	for (;;) {
		unsigned int n = nshm_rx_burst(&ns, &nic, pkts, NSHM_BURST);
		uint64_t now = rdtsc();

		if (n) {
			if (!got) {
				t0 = tick = now;
				saw_traffic = true;
			}
			got += n;
			in_tick += n;
			last = now;
		} else {
			nb_hello();
			if ((now - last) / khz > (got ? idle_s : wait_s) * 1000)
				break;
		}
		if (got && now - tick >= 1000 * khz) {
			uint64_t kpps = in_tick * khz / ((now - tick) ? (now - tick) : 1);

			printf("netshm-bench: sample %lu: %lu kpps (fast %lu slow %lu)\n", nsamp, kpps,
			       ns.st.fast_rx - fast0, ns.st.slow_rx - slow0);
			if (nsamp < NB_MAX_SAMPLES)
				samples[nsamp] = kpps;
			nsamp++;
			fast0 = ns.st.fast_rx;
			slow0 = ns.st.slow_rx;
			in_tick = 0;
			tick = now;
		}
	}
	if (nsamp > NB_MAX_SAMPLES)
		nsamp = NB_MAX_SAMPLES;
	nb_sort(samples, (unsigned int)nsamp);
	printf("netshm-bench: summary frames %lu ms %lu samples %lu median_kpps %lu min_kpps %lu "
	       "max_kpps %lu fast_rx %lu slow_rx %lu\n", got, got ? (last - t0) / khz : 0, nsamp,
	       nsamp ? samples[nsamp / 2] : 0, nsamp ? samples[0] : 0,
	       nsamp ? samples[nsamp - 1] : 0, ns.st.fast_rx, ns.st.slow_rx);
	nshm_print_stats("netshm-bench", &ns);
	return got ? 0 : 1;
}

static int nb_ping(const uint8_t *dst, uint64_t count, uint64_t wait_s)
{
	struct vnet_pkt pkts[NSHM_BURST], p = { frames[0], ETH_ZLEN };
	uint64_t lost = 0, n = 0;

	/*
	 * The echo comes back fast only if the switch knows our MAC (then B's table has us):
	 * say hello even if B is already reachable, and give the switch time to install it.
	 */
	nb_hello();
	for (uint64_t until = rdtsc() + 300 * khz; rdtsc() < until;)
		(void)nshm_rx_burst(&ns, &nic, pkts, NSHM_BURST);
	(void)nb_wait_fast(dst, wait_s);
	for (uint32_t seq = 0; seq < count; seq++) {
		uint64_t t0, deadline;
		bool back = false;

		nb_fill(frames[0], dst, NB_PING, seq);
		t0 = rdtsc();
		deadline = t0 + 100 * khz;		/* 100 ms: lost */
		while (!nshm_tx_burst(&ns, &nic, &p, 1))
			cpu_relax();
		while (!back && rdtsc() < deadline) {
			unsigned int k = nshm_rx_burst(&ns, &nic, pkts, NSHM_BURST);

			for (unsigned int i = 0; i < k; i++)
				if (pkts[i].len >= 20 && get_be16(pkts[i].data + 12) == NB_ETHERTYPE &&
				    pkts[i].data[14] == NB_PONG && get_be32(pkts[i].data + 16) == seq)
					back = true;
		}
		if (!back) {
			lost++;
			continue;
		}
		if (n < NB_MAX_PINGS)
			rtt[n++] = rdtsc() - t0;
	}
	nb_sort(rtt, (unsigned int)n);
	/* Cycles to ns: c * 1e6 / kHz. */
#define NS(c) ((c) * 1000000 / khz)
	printf("netshm-bench: rtt %s n %lu lost %lu min_ns %lu median_ns %lu p99_ns %lu max_ns %lu\n",
	       ns.force_slow ? "switch" : "fast", n, lost, n ? NS(rtt[0]) : 0,
	       n ? NS(rtt[n / 2]) : 0, n ? NS(rtt[n * 99 / 100]) : 0, n ? NS(rtt[n - 1]) : 0);
	nshm_print_stats("netshm-bench", &ns);
	return n ? 0 : 1;
}

static int nb_pong(uint64_t idle_s, uint64_t wait_s)
{
	struct vnet_pkt pkts[NSHM_BURST];
	uint64_t last = rdtsc(), echoed = 0;

	for (;;) {
		unsigned int k = nshm_rx_burst(&ns, &nic, pkts, NSHM_BURST), m = 0;
		uint8_t tmp[6];

		for (unsigned int i = 0; i < k; i++) {
			uint8_t *f = pkts[i].data;

			if (pkts[i].len < 20 || get_be16(f + 12) != NB_ETHERTYPE || f[14] != NB_PING)
				continue;
			/* Frames stay ours until the next rx_burst: answer in place. */
			memcpy(tmp, f + 6, 6);
			memcpy(f, tmp, 6);
			memcpy(f + 6, vnet_mac(&nic), 6);
			f[14] = NB_PONG;
			pkts[m++] = pkts[i];
		}
		for (unsigned int done = 0; done < m;)
			done += nshm_tx_burst(&ns, &nic, pkts + done, m - done);
		echoed += m;
		if (m) {
			saw_traffic = true;
			last = rdtsc();
		} else {
			nb_hello();
			if ((rdtsc() - last) / khz > (echoed ? idle_s : wait_s) * 1000)
				break;
		}
	}
	printf("netshm-bench: echoed %lu\n", echoed);
	nshm_print_stats("netshm-bench", &ns);
	return echoed ? 0 : 1;
}

int main(void)
{
	uint64_t secs = 10, len = ETH_ZLEN + 4, idle = 2, wait = 60, count = 10000, slow = 0;
	uint64_t use_ns = 1;
	uint8_t dst[6] = { 0 };
	const char *v, *mode = "rx";
	size_t vlen, mlen = 2;
	bool have_dst = false;
	int r;

	khz = tsc_khz() ? tsc_khz() : 1;
	if (cmdline_get("mode", &v, &vlen)) {
		mode = v;
		mlen = vlen;
	}
	if (cmdline_get("dst", &v, &vlen)) {
		if (!nshm_parse_mac(v, vlen, dst))
			goto bad;
		have_dst = true;
	}
	if ((cmdline_get("secs", &v, &vlen) && !parse_size(v, vlen, &secs)) ||
	    (cmdline_get("len", &v, &vlen) && (!parse_size(v, vlen, &len) || len < 60 ||
						len > 2000)) ||
	    (cmdline_get("idle", &v, &vlen) && !parse_size(v, vlen, &idle)) ||
	    (cmdline_get("wait", &v, &vlen) && !parse_size(v, vlen, &wait)) ||
	    (cmdline_get("count", &v, &vlen) && !parse_size(v, vlen, &count)) ||
	    (cmdline_get("slow", &v, &vlen) && (!parse_size(v, vlen, &slow) || slow > 1)) ||
	    (cmdline_get("netshm", &v, &vlen) && (!parse_size(v, vlen, &use_ns) || use_ns > 1)))
		goto bad;
	r = vnet_probe(0, &nic);
	if (!r)
		r = vnet_init(&nic, &VNET_CONF_DEFAULT);
	if (!r && use_ns)
		r = nshm_probe(&ns, 10000);
	if (!r && use_ns)
		r = nshm_init(&ns, peer_mem);
	if (r) {
		printf("netshm-bench: no usable virtio-net or netshm device (%d)\n", r);
		return 3;
	}
	/* netshm=0: no device (another back-end, e.g. testpmd); everything takes the NIC. */
	ns.force_slow = slow || !use_ns;
	printf("netshm-bench: port %u/%u, %s path\n", ns.port, ns.nports, slow ? "switch" : "fast");
	if (mlen == 2 && !memcmp(mode, "tx", 2) && have_dst)
		return nb_tx(dst, secs, len);
	if (mlen == 2 && !memcmp(mode, "rx", 2))
		return nb_rx(idle, wait);
	if (mlen == 4 && !memcmp(mode, "ping", 4) && have_dst)
		return nb_ping(dst, count, wait < 10 ? wait : 10);
	if (mlen == 4 && !memcmp(mode, "pong", 4))
		return nb_pong(idle, wait);
bad:
	printf("netshm-bench: mode=tx|rx|ping|pong, dst=MAC for tx and ping; secs= len=60..2000 "
	       "idle= wait= count= slow=0|1\n");
	return 2;
}
