// SPDX-License-Identifier: MIT
/*
 * A hostile netshm guest (tests/net/netshm-*.sh): for secs=S (default 5) it writes
 * pseudo-random bytes over the shared region: mostly over its peers' pair areas (headers,
 * rings, buffers: pair (s, r) for every r != us), sometimes anywhere in the pair part, and
 * every ctrl_every=N-th write (default 1000; 0 = never) into the control part (the region
 * header and the flow tables). The VMM must drop control-part stores when STATUS.CTRL_RO
 * (each one is an exit there); we check that they were dropped by reading the header back.
 * The other guests, their VMMs and the switch must survive all of this; that is what the
 * test script checks. We exit 0 when the scribbling is done (1 if a control-part store
 * stuck although the device said CTRL_RO; 3 without a device).
 */
#include "libguest.h"
#include "netshm.h"
#include "virtio-net.h"

static struct nshm ns;

static uint64_t xs = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64 (Marsaglia 2003) */
	xs ^= xs << 13;
	xs ^= xs >> 7;
	xs ^= xs << 17;
	return xs;
}

int main(void)
{
	uint64_t secs = 5, ctrl_every = 1000, khz = tsc_khz() ? tsc_khz() : 1, end, n = 0;
	uint64_t ctrl = 0, stuck = 0, pair_part;
	volatile uint8_t *reg;
	const char *v;
	size_t len;
	int r;

	if ((cmdline_get("secs", &v, &len) && !parse_size(v, len, &secs)) ||
	    (cmdline_get("ctrl_every", &v, &len) && !parse_size(v, len, &ctrl_every))) {
		printf("netshm-malicious: secs= ctrl_every=\n");
		return 2;
	}
	r = nshm_probe(&ns, 10000);
	if (r) {
		printf("netshm-malicious: no usable netshm device (%d)\n", r);
		return 3;
	}
	reg = ns.region;
	pair_part = ns.regs.region_size - NETSHM_PAIR_OFF;
	xs ^= rdtsc();
	printf("netshm-malicious: port %u/%u, region %lu bytes, ctrl_ro %u, scribbling for %lu s\n",
	       ns.port, ns.nports, ns.regs.region_size, !!(ns.regs.status & NETSHM_STS_CTRL_RO),
	       secs);
	end = rdtsc() + secs * 1000 * khz;
	while (rdtsc() < end) {
		for (unsigned int i = 0; i < 4096; i++, n++) {
			uint64_t x = rnd(), off;

			if (ctrl_every && n % ctrl_every == 0) {
				/* The control part: header, tables (read-only for us, we hope). */
				uint32_t before, after;

				off = (x >> 8) % (NETSHM_CTRL_SIZE / 4) * 4;
				before = *(volatile uint32_t *)(reg + off);
				*(volatile uint32_t *)(reg + off) = before ^ 0xa5a5a5a5u;
				after = *(volatile uint32_t *)(reg + off);
				ctrl++;
				if (after != before)
					stuck++;
				continue;
			}
			if (x & 1) {
				/* A peer's inbound ring from us or from anyone: headers and rings
				 * (first 16 KiB) of pair (s, r), r != us. */
				uint32_t s = (uint32_t)(x >> 8) % ns.nports;
				uint32_t t = (uint32_t)(x >> 16) % ns.nports;

				if (t == ns.port)
					t = (t + 1) % ns.nports;
				if (s == t)
					continue;
				off = NETSHM_PAIR_OFF +
				      ((uint64_t)s * ns.nports + t) * NETSHM_PAIR_STRIDE +
				      (x >> 24) % (NETSHM_PAIR_BUF_OFF / 8) * 8;
			} else {
				off = NETSHM_PAIR_OFF + (x >> 8) % (pair_part / 8) * 8;
			}
			*(volatile uint64_t *)(reg + off) = rnd();
		}
	}
	printf("netshm-malicious: %lu writes, %lu into the control part, %lu of them stuck\n", n,
	       ctrl, stuck);
	if (stuck && (ns.regs.status & NETSHM_STS_CTRL_RO)) {
		printf("netshm-malicious: FAIL: CTRL_RO but control-part stores took effect\n");
		return 1;
	}
	return 0;
}
