// SPDX-License-Identifier: MIT
/*
 * vhost-user-shmem traffic generator and checker (tests/net/netshm-*.sh), on the first
 * virtio-net NIC and the netshm device (lib/netshm.h). Every VM both sends and receives:
 *	dst=MAC[,MAC...]  destinations (at most 7); frames=N to each (default 10000, <= 1M)
 *	bcast=M           also M broadcast frames (always the switch path), mixed in
 *	len=L             frame length 64..2000 (default 64)
 *	senders=K         how many sources must send to us (default 0: receive nothing)
 *	rx_frames=N       unicast frames each source sends us (default frames)
 *	rx_bcast=M        broadcast frames each source sends (default bcast)
 *	from=MAC/D/B[,MAC/D/B...]  instead of senders/rx_frames/rx_bcast: exactly these sources
 *	                  (at most 8), each with its own data (D) and broadcast (B) expectation:
 *	                  a number N (exactly frames 0..N-1, each once), `*` (any number, each at
 *	                  most once: a stream joined halfway) or `~` (counted, never judged: a
 *	                  stream a scribbler may disturb). Frames from other sources are counted
 *	                  as `other` and not judged.
 *	lossy_fast=1      corrupt frames that came through the fast path are counted, not fatal
 *	                  (a hostile guest can write every pair area in shared mode); corrupt
 *	                  frames through the switch path stay fatal
 *	kpps=R            at most R thousand frames per second in all (both paths; default 0 =
 *	                  no limit): stretches a run so that a test can act while frames flow
 *	wait_fast=S       before sending, wait up to S seconds until every destination has a
 *	                  usable fast ring (default 10; the switch must have learned them)
 *	slow=1            force the switch path for everything (nshm.force_slow)
 *	slow_kpps=R       at most R thousand frames per second through the switch path (default
 *	                  5): the switch drops what the receiver's RX queue (256) cannot take,
 *	                  and with three pollers on two cores the host deschedules a receiver
 *	                  for milliseconds (measured: 1184 of 22000 dropped at 30 kpps, none at
 *	                  5-10 kpps); 0 = no limit
 *	timeout=S         give up after S seconds (default 60); linger=MS (default 300) keeps
 *	                  receiving after everything arrived, to catch duplicates
 *	netshm=0          no netshm device: plain virtio-net (to compare)
 *	doorbell=1        doorbells (§8, the VM needs doorbell=on): a receiver with nothing to
 *	                  send, once data flows, sleeps whenever a poll finds nothing: arms its
 *	                  rings and spins on the doorbell interrupt counter until it moves, or
 *	                  until db_idle_ms (default 20; then it polls the NIC and goes on) with
 *	                  nothing pending. A fast-path frame left pending for db_lost_ms (default
 *	                  500) without an interrupt is a lost doorbell: FAIL. A sender waits (within
 *	                  wait_fast) until every destination's doorbell is wired here and fails if
 *	                  one never is; nshm_tx_burst rings whoever asked.
 *	doorbell=2        the same, with the interrupt on the device's IOAPIC pin instead of
 *	                  its MSI (both are what a guest may choose, §8)
 *	db_poke=1         once, write DOORBELL(our own port), which is never wired: the write
 *	                  must exit to the VMM and be dropped (its --stats count it)
 * Until its first data frame arrives a VM sends a broadcast hello every 100 ms, so that the
 * switch learns its MAC and installs fast-path entries towards it.
 *
 * Frame: Ethernet header (ethertype 0x88b6), "NS", kind, source port, length, sequence per
 * (source, destination) (broadcasts have their own), Internet checksum over the payload.
 * The receiver keeps a bitmap per source and kind: a frame is bad (checksum, length, kind),
 * a duplicate, out of range, or new; a sequence below the highest seen counts as reordered
 * (allowed: the fast and the switch path may overtake each other). The path a frame came by
 * is known from its buffer (region or peer_mem: fast; else the NIC): the fast path carries
 * only unicast frames to us, so a broadcast or someone else's frame there is bad; a unicast
 * frame for another MAC through the switch path was flooded (the switch did not know that
 * MAC, e.g. its VM just died) and is counted as `flooded`, not judged.
 * Exit 0 only if every expected frame arrived exactly once and intact and everything we had
 * to send was sent; 1 otherwise; 2 bad arguments; 3 no device.
 */
#include "libguest.h"
#include "netshm.h"
#include "virtio-net.h"

#define NT_ETHERTYPE	0x88b6		/* IEEE local experimental 2 */
#define NT_MAX_DST	7
#define NT_MAX_SRC	8
#define NT_MAX_FRAMES	(1u << 20)
#define NT_HDR		26		/* eth 14, "NS" 2, kind, port, len 2, seq 4, csum 2 */
#define NT_NBUF		64		/* > 2 * burst: see nt_alloc() */
#define NT_SLOW_BURST	64		/* switch-path frames saved up at most: RX queue / 4 */
#define NT_DB_VECTOR	0x50		/* the doorbell interrupt's vector */
#define NT_DB_SAMPLES	8192		/* wake latencies kept (the rest only counted) */

enum { KIND_DATA = 1, KIND_HELLO = 2, KIND_BCAST = 3 };
enum { EXP_EXACT, EXP_ANY, EXP_COUNT };	/* per stream: N, `*`, `~` (see from=) */

struct nt_src {
	uint64_t mac;
	uint8_t mode[2];
	uint32_t want[2];		/* EXP_EXACT: frames 0..want-1 */
	uint64_t got[2], dup[2], range[2], reord[2];
	uint32_t max_seq[2];
	bool any[2];
	uint8_t seen[2][NT_MAX_FRAMES / 8];
};

static struct vnet nic;
static struct nshm ns;
static struct nt_src src[NT_MAX_SRC];
static unsigned int nsrc;
static struct nshm_rx_mem peer_mem[NSHM_MAX_INBOUND];	/* peer-memory mode: our rings */
static uint8_t bufs[NT_NBUF][NETSHM_BUF_SIZE] __attribute__((aligned(64)));
static unsigned int buf_next;

static struct {
	uint8_t dst[NT_MAX_DST][6];
	unsigned int ndst;
	uint64_t frames, bcast, len, senders, rx_frames, rx_bcast, wait_fast, timeout, linger;
	uint64_t slow_kpps, kpps, db_idle_ms, db_lost_ms;
	bool slow, use_ns, lossy_fast, from, doorbell, db_poke, db_pin;
} cfg = {
	.frames = 10000, .len = 64, .wait_fast = 10, .timeout = 60, .linger = 300, .slow_kpps = 5,
	.use_ns = true, .rx_frames = ~0ull, .rx_bcast = ~0ull, .db_idle_ms = 20, .db_lost_ms = 500,
};

/* Receiver sleeps (doorbell=1): how each ended, and the wake latencies. */
static struct {
	uint64_t sleeps, wakes, idle, lost, busy;
	uint64_t nlat;
	uint32_t lat_ns[NT_DB_SAMPLES];	/* frames visible -> interrupt seen, in ring 3 */
} db;

static uint64_t bad_fast, bad_slow, foreign, hellos, data_rx, flooded, other;

static uint8_t *nt_alloc(void)
{
	/* At most one burst (32) is pending and it is the newest: 64 buffers never collide. */
	return bufs[buf_next++ % NT_NBUF];
}

static void nt_fill(uint8_t *f, const uint8_t *dst, unsigned int kind, uint32_t seq, uint16_t len)
{
	const uint8_t *me = vnet_mac(&nic);
	uint32_t x = seq * 2654435761u ^ (uint32_t)nshm_mac_key(me);

	memcpy(f, dst, 6);
	memcpy(f + 6, me, 6);
	put_be16(f + 12, NT_ETHERTYPE);
	f[14] = 'N';
	f[15] = 'S';
	f[16] = (uint8_t)kind;
	f[17] = (uint8_t)ns.port;
	put_be16(f + 18, len);
	put_be32(f + 20, seq);
	for (unsigned int i = NT_HDR; i < len; i++) {
		x = x * 1103515245u + 12345u;
		f[i] = (uint8_t)(x >> 16);
	}
	put_be16(f + 24, inet_csum(f + NT_HDR, len - NT_HDR));
}

static void nt_send_now(const uint8_t *dst, unsigned int kind, uint32_t seq)
{
	struct vnet_pkt p = { nt_alloc(), ETH_ZLEN + 4 };

	nt_fill(p.data, dst, kind, seq, p.len);
	if (cfg.use_ns)
		(void)nshm_tx_burst(&ns, &nic, &p, 1);
	else
		(void)vnet_tx_burst(&nic, &p, 1);
}

/* The source's entry; with from= only listed sources have one (NULL: not judged). */
static struct nt_src *nt_src_of(const uint8_t *mac)
{
	uint64_t k = nshm_mac_key(mac);

	for (unsigned int i = 0; i < nsrc; i++)
		if (src[i].mac == k)
			return &src[i];
	if (cfg.from || nsrc == NT_MAX_SRC)
		return NULL;
	src[nsrc] = (struct nt_src){
		.mac = k,
		.want = { (uint32_t)cfg.rx_frames, (uint32_t)cfg.rx_bcast },
	};
	return &src[nsrc++];
}

/* Did this frame come through a pair ring (its buffer is in the region or in peer_mem)? */
static bool nt_fast(const struct vnet_pkt *p)
{
	uintptr_t a = (uintptr_t)p->data;

	if (!cfg.use_ns)
		return false;
	if (a >= (uintptr_t)ns.region && a - (uintptr_t)ns.region < ns.regs.region_size)
		return true;
	return a >= (uintptr_t)peer_mem && a < (uintptr_t)(peer_mem + NSHM_MAX_INBOUND);
}

static bool nt_stream_complete(const struct nt_src *s, unsigned int k)
{
	return s->mode[k] != EXP_EXACT || s->got[k] == s->want[k];
}

static bool nt_stream_good(const struct nt_src *s, unsigned int k)
{
	if (s->mode[k] == EXP_COUNT)
		return true;
	return nt_stream_complete(s, k) && !s->dup[k] && !s->range[k];
}

static void nt_check(const struct vnet_pkt *p)
{
	static const uint8_t bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t *f = p->data;
	bool fast = nt_fast(p);
	unsigned int kind, k;
	uint32_t seq, lim;
	struct nt_src *s;

	if (p->len < NT_HDR || get_be16(f + 12) != NT_ETHERTYPE || f[14] != 'N' || f[15] != 'S') {
		foreign++;
		return;
	}
	kind = f[16];
	if (kind == KIND_HELLO && !fast) {
		hellos++;
		return;
	}
	/* The fast path carries unicast data only; the dst must fit the kind. */
	if ((kind != KIND_DATA && kind != KIND_BCAST) || (fast && kind != KIND_DATA) ||
	    get_be16(f + 18) != p->len ||
	    inet_csum(f + NT_HDR, p->len - NT_HDR) != get_be16(f + 24) ||
	    (kind == KIND_BCAST && memcmp(f, bc, 6)) || (kind == KIND_DATA && (f[0] & 1))) {
		*(fast ? &bad_fast : &bad_slow) += 1;
		return;
	}
	if (kind == KIND_DATA && memcmp(f, vnet_mac(&nic), 6)) {
		if (fast)
			bad_fast++;
		else
			flooded++;	/* unknown unicast, flooded by the switch */
		return;
	}
	s = nt_src_of(f + 6);
	if (!s) {
		if (cfg.from)
			other++;
		else
			*(fast ? &bad_fast : &bad_slow) += 1;	/* more than NT_MAX_SRC sources */
		return;
	}
	k = kind == KIND_BCAST;
	lim = s->mode[k] == EXP_EXACT ? s->want[k] : NT_MAX_FRAMES;
	seq = get_be32(f + 20);
	if (seq >= lim) {
		s->range[k]++;
		return;
	}
	if (s->seen[k][seq / 8] & (1u << (seq % 8))) {
		s->dup[k]++;
		return;
	}
	s->seen[k][seq / 8] |= (uint8_t)(1u << (seq % 8));
	s->got[k]++;
	if (!k)
		data_rx++;
	if (s->any[k] && seq < s->max_seq[k])
		s->reord[k]++;
	if (!s->any[k] || seq > s->max_seq[k])
		s->max_seq[k] = seq;
	s->any[k] = true;
}

/* "N", "any" (`*`) or "~" for the statistics line; static buffers, one per kind. */
static const char *nt_exp_str(const struct nt_src *s, unsigned int k)
{
	static char buf[2][24];

	if (s->mode[k] == EXP_ANY)
		return "any";
	if (s->mode[k] == EXP_COUNT)
		return "~";
	snprintf(buf[k], sizeof(buf[k]), "%u", s->want[k]);
	return buf[k];
}

static bool nt_rx_done(void)
{
	unsigned int full = 0;

	for (unsigned int i = 0; i < nsrc; i++)
		if (nt_stream_complete(&src[i], 0) && nt_stream_complete(&src[i], 1))
			full++;
	return full >= cfg.senders;
}

static unsigned int nt_poll_rx(void)
{
	struct vnet_pkt pkts[NSHM_BURST];
	unsigned int n;

	n = cfg.use_ns ? nshm_rx_burst(&ns, &nic, pkts, NSHM_BURST)
		       : vnet_rx_burst(&nic, pkts, NSHM_BURST);
	for (unsigned int i = 0; i < n; i++)
		nt_check(&pkts[i]);
	return n;
}

/*
 * One sleep of the §8 receiver: arm, wait for the interrupt counter. Ring 3 cannot HLT, so
 * waiting is spinning on the counter the ring-0 handler bumps. Meanwhile used->idx is only
 * looked at (never taken) to time when frames became visible: their wake latency, and the
 * lost-doorbell verdict. A wait with nothing pending ends after db_idle_ms, so that the NIC
 * (whose interrupts we do not use) is still polled.
 */
static void nt_sleep(uint64_t khz)
{
	uint64_t irq0 = nshm_doorbell_irqs, t0 = rdtsc(), seen = 0, now;

	if (!nshm_rx_arm(&ns)) {
		db.busy++;		/* frames came in while we armed: poll instead */
		return;
	}
	db.sleeps++;
	for (;;) {
		if (nshm_doorbell_irqs != irq0)
			break;
		now = rdtsc();
		if (!seen && nshm_rx_pending(&ns))
			seen = now;
		if (seen ? now - seen >= cfg.db_lost_ms * khz : now - t0 >= cfg.db_idle_ms * khz)
			break;
		cpu_relax();
	}
	now = rdtsc();
	nshm_rx_disarm(&ns);
	if (nshm_doorbell_irqs != irq0) {
		db.wakes++;
		if (seen && db.nlat < NT_DB_SAMPLES)
			db.lat_ns[db.nlat++] = (uint32_t)((now - seen) * 1000000 / khz);
	} else if (seen) {
		db.lost++;
		printf("netshm-traffic: lost doorbell: fast frames pending %lu ms, no interrupt\n",
		       cfg.db_lost_ms);
	} else {
		db.idle++;
	}
}

static void nt_sort(uint32_t *a, uint64_t n)
{
	/* Shell sort (Ciura's gaps): a few thousand samples, once. */
	static const unsigned int gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };

	for (unsigned int g = 0; g < ARRAY_SIZE(gaps); g++)
		for (uint64_t i = gaps[g]; i < n; i++) {
			uint32_t v = a[i];
			uint64_t j = i;

			for (; j >= gaps[g] && a[j - gaps[g]] > v; j -= gaps[g])
				a[j] = a[j - gaps[g]];
			a[j] = v;
		}
}

static bool parse_u(const char *key, uint64_t *out, uint64_t max)
{
	const char *v;
	size_t len;

	if (!cmdline_get(key, &v, &len))
		return true;
	return parse_size(v, len, out) && *out <= max;
}

/* One expectation of from=: a number, `*` or `~`, ending at '/', ',' or the end. */
static bool nt_parse_exp(const char *v, size_t len, size_t *at, uint8_t *mode, uint32_t *want)
{
	size_t end = *at;
	uint64_t n;

	while (end < len && v[end] != '/' && v[end] != ',')
		end++;
	*want = 0;
	if (end - *at == 1 && (v[*at] == '*' || v[*at] == '~')) {
		*mode = v[*at] == '*' ? EXP_ANY : EXP_COUNT;
	} else {
		if (!parse_size(v + *at, end - *at, &n) || n > NT_MAX_FRAMES)
			return false;
		*mode = EXP_EXACT;
		*want = (uint32_t)n;
	}
	*at = end;
	return true;
}

/* from=MAC/D/B[,MAC/D/B...]: the sources, each with its data and broadcast expectation. */
static bool nt_parse_from(void)
{
	const char *v;
	size_t len, at = 0;

	if (!cmdline_get("from", &v, &len))
		return true;
	cfg.from = true;
	while (at < len) {
		struct nt_src *s = &src[nsrc];
		uint8_t mac[6];

		if (nsrc == NT_MAX_SRC || len - at < 18 || !nshm_parse_mac(v + at, 17, mac) ||
		    v[at + 17] != '/')
			return false;
		*s = (struct nt_src){ .mac = nshm_mac_key(mac) };
		at += 18;
		if (!nt_parse_exp(v, len, &at, &s->mode[0], &s->want[0]) || at == len ||
		    v[at++] != '/' || !nt_parse_exp(v, len, &at, &s->mode[1], &s->want[1]))
			return false;
		if (at < len && (v[at++] != ',' || at == len))
			return false;
		nsrc++;
	}
	cfg.senders = nsrc;
	return nsrc > 0;
}

static bool nt_args(void)
{
	uint64_t slow = 0, use = 1, lossy = 0, door = 0, poke = 0;
	const char *v;
	size_t len;

	if (cmdline_get("dst", &v, &len)) {
		for (size_t at = 0; at < len; at += 18) {
			if (cfg.ndst == NT_MAX_DST || len - at < 17 ||
			    !nshm_parse_mac(v + at, 17, cfg.dst[cfg.ndst]) ||
			    (len - at > 17 && v[at + 17] != ','))
				return false;
			cfg.ndst++;
		}
	}
	if (!parse_u("frames", &cfg.frames, NT_MAX_FRAMES) ||
	    !parse_u("bcast", &cfg.bcast, NT_MAX_FRAMES) ||
	    !parse_u("len", &cfg.len, 2000) || cfg.len < 64 ||
	    !parse_u("senders", &cfg.senders, NT_MAX_SRC) ||
	    !parse_u("wait_fast", &cfg.wait_fast, 3600) ||
	    !parse_u("timeout", &cfg.timeout, 3600) ||
	    !parse_u("linger", &cfg.linger, 60000) ||
	    !parse_u("slow_kpps", &cfg.slow_kpps, 100000) ||
	    !parse_u("kpps", &cfg.kpps, 100000) || !parse_u("lossy_fast", &lossy, 1) ||
	    !parse_u("slow", &slow, 1) || !parse_u("netshm", &use, 1) ||
	    !parse_u("doorbell", &door, 2) || !parse_u("db_poke", &poke, 1) ||
	    !parse_u("db_idle_ms", &cfg.db_idle_ms, 60000) || !cfg.db_idle_ms ||
	    !parse_u("db_lost_ms", &cfg.db_lost_ms, 60000) || !cfg.db_lost_ms)
		return false;
	if (cfg.rx_frames == ~0ull)
		cfg.rx_frames = cfg.frames;
	if (cfg.rx_bcast == ~0ull)
		cfg.rx_bcast = cfg.bcast;
	if (!parse_u("rx_frames", &cfg.rx_frames, NT_MAX_FRAMES) ||
	    !parse_u("rx_bcast", &cfg.rx_bcast, NT_MAX_FRAMES) || !nt_parse_from())
		return false;
	cfg.slow = slow;
	cfg.use_ns = use;
	cfg.lossy_fast = lossy;
	cfg.doorbell = door;
	cfg.db_pin = door == 2;
	cfg.db_poke = poke;
	return (use || (!door && !poke));	/* doorbells need the netshm device */
}

int main(void)
{
	static const uint8_t bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint64_t khz = tsc_khz() ? tsc_khz() : 1, t0, deadline, next_hello = 0, done_at = 0;
	uint64_t total, sent = 0, bsent = 0, seq[NT_MAX_DST] = { 0 };
	struct vnet_pkt q[NSHM_BURST];
	unsigned int nq = 0, rot = 0;
	int64_t tokens = 0, rtokens = 0;
	uint64_t tb_last, rtb_last;
	unsigned int db_ready = 0;
	bool ok = true;
	int r;

	if (!nt_args()) {
		printf("netshm-traffic: bad arguments (dst=MAC[,MAC] frames= bcast= len=64..2000 "
		       "senders= rx_frames= rx_bcast= from=MAC/D/B,... lossy_fast= kpps= wait_fast= "
		       "slow= slow_kpps= timeout= linger= netshm= doorbell= db_idle_ms= db_lost_ms= "
		       "db_poke=)\n");
		return 2;
	}
	r = vnet_probe(0, &nic);
	if (!r)
		r = vnet_init(&nic, &VNET_CONF_DEFAULT);
	if (r) {
		printf("netshm-traffic: no usable virtio-net device (%d)\n", r);
		return 3;
	}
	if (cfg.use_ns) {
		r = nshm_probe(&ns, 10000);
		if (!r)
			r = nshm_init(&ns, peer_mem);
		if (r) {
			printf("netshm-traffic: no usable netshm device (%d)\n", r);
			return 3;
		}
		ns.force_slow = cfg.slow;
		printf("netshm-traffic: doorbell: status %s, irq %u, peers' doorbells wired 0x%x\n",
		       ns.regs.status & NETSHM_STS_DOORBELL ? "on" : "off", ns.regs.irq,
		       ns.regs.doorbell_peers);
	}
	if (cfg.doorbell && cfg.senders) {
		r = nshm_doorbell_setup(&ns, NT_DB_VECTOR, cfg.db_pin);
		if (r) {
			printf("netshm-traffic: doorbell=1 but no usable doorbell (%d): the VM needs "
			       "--net ...,doorbell=on\n", r);
			return 3;
		}
	}
	if (cfg.db_poke) {
		/* Our own port's bit is never set (§8): the write exits and is dropped. */
		mmio_write32(ns.bar0 + NETSHM_REG_DOORBELL(ns.port), 1);
		printf("netshm-traffic: poked DOORBELL(%u), our own port's, never wired\n", ns.port);
	}
	printf("netshm-traffic: port %u/%u mac %02x:%02x:%02x:%02x:%02x:%02x, "
	       "%u destinations x %lu frames, %lu broadcasts, len %lu, expecting %lu senders%s\n", ns.port, ns.nports,
	       nic.mac[0], nic.mac[1], nic.mac[2], nic.mac[3], nic.mac[4], nic.mac[5], cfg.ndst,
	       cfg.frames, cfg.bcast, cfg.len, cfg.senders, cfg.slow ? " (switch path forced)" : "");

	t0 = tb_last = rtb_last = rdtsc();
	deadline = t0 + cfg.timeout * 1000 * khz;
	/* Wait (receiving, saying hello) until every destination is reachable the fast way. */
	if (cfg.use_ns && !cfg.slow && cfg.ndst) {
		uint64_t until = t0 + cfg.wait_fast * 1000 * khz;
		unsigned int ready = 0;

		while (rdtsc() < until) {
			ready = 0;
			for (unsigned int d = 0; d < cfg.ndst; d++)
				ready += nshm_fast_ready(&ns, cfg.dst[d]);
			/* Doorbells: wired by the VMM when the switch says (§8); GEN reads exit. */
			db_ready = 0;
			for (unsigned int d = 0; cfg.doorbell && ready == cfg.ndst && d < cfg.ndst; d++)
				db_ready += nshm_doorbell_wired(&ns, cfg.dst[d]);
			if (ready == cfg.ndst && (!cfg.doorbell || db_ready == cfg.ndst))
				break;
			if (rdtsc() >= next_hello && !data_rx) {
				nt_send_now(bc, KIND_HELLO, 0);
				next_hello = rdtsc() + 100 * khz;
			}
			nt_poll_rx();
		}
		printf("netshm-traffic: %u of %u destinations fast after %lu ms\n", ready, cfg.ndst,
		       (rdtsc() - t0) / khz);
		if (cfg.doorbell)
			printf("netshm-traffic: doorbells wired to %u of %u destinations\n", db_ready,
			       cfg.ndst);
	}

	total = cfg.frames * cfg.ndst;
	while (rdtsc() < deadline) {
		uint64_t now = rdtsc();

		if (now >= next_hello && !data_rx && cfg.senders) {
			nt_send_now(bc, KIND_HELLO, 0);
			next_hello = now + 100 * khz;
		}
		/* Top the burst up, mixing broadcasts in proportion, then send what fits. */
		while (nq < NSHM_BURST && (sent < total || bsent < cfg.bcast)) {
			uint8_t *f = nt_alloc();

			if (bsent < cfg.bcast && (sent == total || bsent * total <= sent * cfg.bcast)) {
				nt_fill(f, bc, KIND_BCAST, (uint32_t)bsent++, (uint16_t)cfg.len);
			} else {
				unsigned int d = rot++ % cfg.ndst;

				nt_fill(f, cfg.dst[d], KIND_DATA, (uint32_t)seq[d]++, (uint16_t)cfg.len);
				sent++;
			}
			q[nq++] = (struct vnet_pkt){ f, (uint16_t)cfg.len };
		}
		/*
		 * Switch-path token bucket (units: frames * kHz): slow_kpps frames per ms, at most
		 * NT_SLOW_BURST saved up, so that a flow entry withdrawn after a long fast phase
		 * does not release a saved-up flood onto the switch.
		 */
		if (cfg.slow_kpps) {
			tokens += (int64_t)((now - tb_last) * cfg.slow_kpps);
			if (tokens > (int64_t)(NT_SLOW_BURST * khz))
				tokens = (int64_t)(NT_SLOW_BURST * khz);
			tb_last = now;
			if (nq && tokens <= 0) {
				nt_poll_rx();
				continue;
			}
		}
		/* The same for all frames (kpps=), so that a run lasts as long as a test needs. */
		unsigned int nsend = nq;

		if (cfg.kpps && nq) {
			rtokens += (int64_t)((now - rtb_last) * cfg.kpps);
			if (rtokens > (int64_t)(NSHM_BURST * khz))
				rtokens = (int64_t)(NSHM_BURST * khz);
			rtb_last = now;
			if (rtokens < (int64_t)khz) {
				nt_poll_rx();
				continue;
			}
			if ((uint64_t)rtokens / khz < nsend)
				nsend = (unsigned int)((uint64_t)rtokens / khz);
		}
		if (nsend) {
			uint64_t slow0 = cfg.use_ns ? ns.st.slow_tx : nic.st.tx_packets;
			unsigned int k = cfg.use_ns ? nshm_tx_burst(&ns, &nic, q, nsend)
						    : vnet_tx_burst(&nic, q, nsend);

			tokens -= (int64_t)(((cfg.use_ns ? ns.st.slow_tx : nic.st.tx_packets) - slow0) *
					    khz);
			rtokens -= (int64_t)(k * khz);

			for (unsigned int i = k; i < nq; i++)
				q[i - k] = q[i];
			nq -= k;
		}
		if (!nt_poll_rx() && cfg.doorbell && cfg.senders && data_rx && !nq &&
		    sent == total && bsent == cfg.bcast && !nt_rx_done())
			nt_sleep(khz);
		if (!nq && sent == total && bsent == cfg.bcast && nt_rx_done()) {
			if (!done_at)
				done_at = now;
			else if (now - done_at >= cfg.linger * khz)
				break;
		}
	}
	/* Frames handed to the NIC must have left it before we stop the VM. */
	for (uint64_t until = rdtsc() + 1000 * khz; vnet_tx_inflight(&nic) && rdtsc() < until;)
		cpu_relax();

	if (nq || sent != total || bsent != cfg.bcast) {
		printf("netshm-traffic: FAIL: sent only %lu of %lu frames and %lu of %lu broadcasts\n",
		       sent - nq, total, bsent, cfg.bcast);
		ok = false;
	}
	for (unsigned int i = 0; i < nsrc; i++) {
		struct nt_src *s = &src[i];
		bool good = nt_stream_good(s, 0) && nt_stream_good(s, 1);

		printf("netshm-traffic: from %02x:%02x:%02x:%02x:%02x:%02x: data %lu/%s dup %lu "
		       "out-of-range %lu reordered %lu; bcast %lu/%s dup %lu reordered %lu: %s\n",
		       (unsigned int)(s->mac & 0xff), (unsigned int)(s->mac >> 8 & 0xff),
		       (unsigned int)(s->mac >> 16 & 0xff), (unsigned int)(s->mac >> 24 & 0xff),
		       (unsigned int)(s->mac >> 32 & 0xff), (unsigned int)(s->mac >> 40 & 0xff),
		       s->got[0], nt_exp_str(s, 0), s->dup[0], s->range[0], s->reord[0], s->got[1],
		       nt_exp_str(s, 1), s->dup[1], s->reord[1], good ? "ok" : "BAD");
		ok &= good;
	}
	if (!nt_rx_done()) {
		printf("netshm-traffic: FAIL: %u sources seen, %lu expected complete\n", nsrc,
		       cfg.senders);
		ok = false;
	}
	if (cfg.doorbell && cfg.ndst && !cfg.slow && db_ready != cfg.ndst) {
		printf("netshm-traffic: FAIL: doorbell=1: %u of %u destinations' doorbells wired\n",
		       db_ready, cfg.ndst);
		ok = false;
	}
	if (cfg.doorbell && cfg.senders) {
		uint64_t n = db.nlat;

		nt_sort(db.lat_ns, n);
		printf("netshm-traffic: doorbell: sleeps %lu wakes %lu idle %lu lost %lu busy %lu "
		       "irqs %lu; wake latency ns min %u median %u p99 %u max %u (%lu samples)\n",
		       db.sleeps, db.wakes, db.idle, db.lost, db.busy, nshm_doorbell_irqs,
		       n ? db.lat_ns[0] : 0, n ? db.lat_ns[n / 2] : 0,
		       n ? db.lat_ns[n * 99 / 100] : 0, n ? db.lat_ns[n - 1] : 0, n);
		if (db.lost) {
			printf("netshm-traffic: FAIL: %lu lost doorbells\n", db.lost);
			ok = false;
		}
	}
	if (bad_slow) {
		printf("netshm-traffic: FAIL: %lu corrupt frames through the switch path\n", bad_slow);
		ok = false;
	}
	if (bad_fast && !cfg.lossy_fast) {
		printf("netshm-traffic: FAIL: %lu corrupt frames through the fast path\n", bad_fast);
		ok = false;
	}
	printf("netshm-traffic: hellos %lu, foreign %lu, flooded %lu, other %lu, bad_fast %lu, "
	       "bad_slow %lu, %lu ms\n", hellos, foreign, flooded, other, bad_fast, bad_slow,
	       (rdtsc() - t0) / khz);
	if (cfg.use_ns)
		nshm_print_stats("netshm-traffic", &ns);
	printf("netshm-traffic: %s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
