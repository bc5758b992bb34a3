/* SPDX-License-Identifier: MIT */
#ifndef GUEST_LATENCY_H
#define GUEST_LATENCY_H

/*
 * Shared by x86/latency-timer.c and x86/latency-irq.c (each is its own image, so this header
 * holds the code): the histogram, its statistics and the output that tools/latency/ parses.
 *
 * The ring-0 handlers only store raw TSC values into a ring; main() in ring 3 (native speed
 * on our hosts) drains the ring with lat_add(). Output, after the kvm-unit-tests lines:
 *   - cyclictest's --histogram format (rt-tests cyclictest.c print_hist(), one thread):
 *     "# Histogram", "%06u %06u" rows (1 us buckets; empty ones are left out),
 *     "# Total:", "# Min Latencies:", "# Avg Latencies:", "# Max Latencies:",
 *     "# Histogram Overflows:", "# Histogram Overflow at cycle number:", "# Thread 0:";
 *   - one machine-readable line, "latency: test=NAME samples=N min_ns=... avg_ns=...
 *     max_ns=... p50_us=... p99_us=... p999_us=... p9999_us=... overflows=N negative=N".
 */
#include "libguest.h"
#include "report.h"

#define LAT_HIST_US	10000		/* 1 us buckets [0, 10000 us); then the overflow count */
/*
 * Ring-0 -> ring-3 sample ring, a power of two. Large because after the vCPU was off its CPU
 * for X ms the overdue deadlines fire back to back (cyclictest semantics) and main() gets no
 * time in between: 65536 entries cover a 6.5 s stall at a 100 us interval.
 */
#define LAT_RING	65536
#define LAT_RING_MASK	65535		/* spelled out: the handlers' asm uses it */
_Static_assert(LAT_RING_MASK + 1 == LAT_RING && !(LAT_RING & LAT_RING_MASK), "ring size");
#define LAT_STR_(x)	#x
#define LAT_STR(x)	LAT_STR_(x)
#define LAT_MAX_OFLOW_CYCLES 64		/* cycle numbers kept for the overflow line */
#define LAT_DEFAULT_SAMPLES 100000
#define LAT_MAX_SAMPLES	(1ull << 40)

struct lat_stats {
	uint64_t khz;			/* TSC kHz used for every conversion */
	uint64_t n;			/* samples added */
	int64_t sum;			/* TSC ticks */
	int64_t min, max;		/* TSC ticks */
	uint64_t negative;		/* samples < 0: impossible unless the clock relation broke */
	uint64_t overflow;
	uint64_t oflow_cycle[LAT_MAX_OFLOW_CYCLES];
	uint32_t hist[LAT_HIST_US];
};

static inline uint64_t lat_ticks_to_ns(const struct lat_stats *s, uint64_t t)
{
	/* t * 1e6 / khz; split so that t up to 2^64 / 1e6 ticks (hours) cannot wrap. */
	return t / s->khz * 1000000 + t % s->khz * 1000000 / s->khz;
}

static inline void lat_init(struct lat_stats *s, uint64_t khz)
{
	memset(s, 0, sizeof(*s));
	s->khz = khz ? khz : 1;
	s->min = INT64_MAX;
	s->max = INT64_MIN;
}

/* One sample of `ticks` (may be negative); `cycle` is its number for the overflow list. */
static inline void lat_add(struct lat_stats *s, int64_t ticks, uint64_t cycle)
{
	uint64_t us;

	s->n++;
	s->sum += ticks;
	if (ticks < s->min)
		s->min = ticks;
	if (ticks > s->max)
		s->max = ticks;
	if (ticks < 0) {
		s->negative++;
		s->hist[0]++;
		return;
	}
	us = lat_ticks_to_ns(s, (uint64_t)ticks) / 1000;
	if (us < LAT_HIST_US) {
		s->hist[us]++;
	} else {
		if (s->overflow < LAT_MAX_OFLOW_CYCLES)
			s->oflow_cycle[s->overflow] = cycle;
		s->overflow++;
	}
}

/*
 * Subtracts `ticks` (>= 0) from every sample added so far, for a clock offset that is only
 * known at the end (latency-irq.c). Exact for min, max and the average; the histogram moves
 * down by floor(ticks in us) buckets, so a sample may end up one bucket too high. Samples that
 * would go below bucket 0 land in it; they are counted as negative only if the exact minimum
 * turned negative (then at least one is).
 */
static inline void lat_shift(struct lat_stats *s, uint64_t ticks)
{
	uint64_t k = lat_ticks_to_ns(s, ticks) / 1000, below = 0;

	if (!s->n || !ticks)
		return;
	s->min -= (int64_t)ticks;
	s->max -= (int64_t)ticks;
	s->sum -= (int64_t)(ticks * s->n);
	for (uint64_t b = 0; b < LAT_HIST_US; b++) {
		if (b < k)
			below += s->hist[b];
		s->hist[b] = b + k < LAT_HIST_US ? s->hist[b + k] : 0;
	}
	s->hist[0] += below;
	if (s->min < 0)
		s->negative = below ? below : 1;
}

/* The smallest bucket b such that at least ppm/1e6 of the samples are <= b; LAT_HIST_US if
 * the percentile lies in the overflow. */
static inline uint64_t lat_percentile_us(const struct lat_stats *s, uint64_t ppm)
{
	/* ceil(n * ppm / 1e6) without overflow for n < 2^40 */
	uint64_t want = (s->n * ppm + 999999) / 1000000, acc = 0;

	if (!want)
		want = 1;
	for (uint64_t b = 0; b < LAT_HIST_US; b++) {
		acc += s->hist[b];
		if (acc >= want)
			return b;
	}
	return LAT_HIST_US;
}

static inline int64_t lat_signed_ns(const struct lat_stats *s, int64_t t)
{
	return t < 0 ? -(int64_t)lat_ticks_to_ns(s, (uint64_t)-t) : (int64_t)lat_ticks_to_ns(s, (uint64_t)t);
}

static inline void lat_print(const struct lat_stats *s, const char *test)
{
	int64_t min_ns = s->n ? lat_signed_ns(s, s->min) : 0;
	int64_t max_ns = s->n ? lat_signed_ns(s, s->max) : 0;
	int64_t avg_ns = s->n ? lat_signed_ns(s, s->sum / (int64_t)s->n) : 0;

	/* Empty buckets are left out: every byte is two exits here, and plotting scripts take
	 * the rows as (x, y) points anyway. */
	printf("# Histogram\n");
	for (uint64_t b = 0; b < LAT_HIST_US; b++)
		if (s->hist[b])
			printf("%06lu %06u\n", b, s->hist[b]);
	printf("# Total: %09lu\n", s->n);
	printf("# Min Latencies: %05ld\n", min_ns < 0 ? -((-min_ns + 999) / 1000) : min_ns / 1000);
	printf("# Avg Latencies: %05ld\n", avg_ns / 1000);
	printf("# Max Latencies: %05ld\n", max_ns / 1000);
	printf("# Histogram Overflows: %05lu\n", s->overflow);
	printf("# Histogram Overflow at cycle number:\n# Thread 0:");
	for (uint64_t i = 0; i < s->overflow && i < LAT_MAX_OFLOW_CYCLES; i++)
		printf(" %05lu", s->oflow_cycle[i]);
	if (s->overflow > LAT_MAX_OFLOW_CYCLES)
		printf(" # %05lu others", s->overflow - LAT_MAX_OFLOW_CYCLES);
	printf("\n\n");
	printf("latency: test=%s samples=%lu min_ns=%ld avg_ns=%ld max_ns=%ld p50_us=%lu "
	       "p99_us=%lu p999_us=%lu p9999_us=%lu overflows=%lu negative=%lu tsc_khz=%lu\n",
	       test, s->n, min_ns, avg_ns, max_ns, lat_percentile_us(s, 500000),
	       lat_percentile_us(s, 990000), lat_percentile_us(s, 999000),
	       lat_percentile_us(s, 999900), s->overflow, s->negative, s->khz);
}

/*
 * The TSC rate: tsc_khz=N on the command line (tools/latency/ passes the host's measured rate,
 * because our VMM and QEMU may not expose CPUID 0x15/0x40000010), else the library's estimate.
 */
static inline uint64_t lat_tsc_khz(void)
{
	uint64_t khz;

	if (cmdline_get_size("tsc_khz", &khz) && khz >= 1000 && khz <= 100000000)
		return khz;
	return tsc_khz();
}

/* samples= (default LAT_DEFAULT_SAMPLES, 1 .. LAT_MAX_SAMPLES). */
static inline bool lat_samples(uint64_t *out)
{
	*out = LAT_DEFAULT_SAMPLES;
	if (!cmdline_get("samples", &(const char *){ 0 }, &(size_t){ 0 }))
		return true;
	return cmdline_get_size("samples", out) && *out >= 1 && *out <= LAT_MAX_SAMPLES;
}

#endif
