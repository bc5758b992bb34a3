// SPDX-License-Identifier: MIT
/*
 * Exit round-trip benchmark from ring 3 (tools/bench/, docs/benchmarks.md): N PIO writes and
 * N PIO reads of a port nobody claims, and N MMIO reads of an address in the MMIO hole that no
 * device claims, each phase timed with rdtsc. Every access is a full exit to the VMM's user
 * space and back. The ring-0 numbers come from the raw guest (tools/bench/raw-guest.S), which
 * also runs under the raw-KVM floor.
 *
 * Command line: n=COUNT (default 20000). Prints, per phase, "ring3 NAME cycles=TOTAL n=COUNT"
 * and a human line with cycles and ns per exit (ns from the guest's TSC frequency guess;
 * tools/bench/bench.py recomputes ns with the host's measured TSC rate). Exit status 0.
 */
#include "libguest.h"

#define BENCH_PORT	0x7f0		/* same as tools/bench/raw-guest.S */
#define BENCH_MMIO	0xd0000000ull	/* 3..4 GiB hole: mapped user-accessible by the library */
#define UNROLL		10

static void pio_out(uint64_t n)
{
	for (uint64_t i = 0; i < n; i += UNROLL)
		asm volatile(".rept 10; outb %%al, %%dx; .endr" :: "a"(0), "d"(BENCH_PORT));
}

static void pio_in(uint64_t n)
{
	uint8_t v;

	for (uint64_t i = 0; i < n; i += UNROLL)
		asm volatile(".rept 10; inb %%dx, %%al; .endr" : "=a"(v) : "d"(BENCH_PORT));
	(void)v;
}

static void mmio_in(uint64_t n)
{
	uint32_t v;

	for (uint64_t i = 0; i < n; i += UNROLL)
		asm volatile(".rept 10; movl (%1), %0; .endr" : "=r"(v) : "r"(BENCH_MMIO) : "memory");
	(void)v;
}

static void phase(const char *name, void (*fn)(uint64_t), uint64_t n, uint64_t khz)
{
	uint64_t t0, cyc;

	fn(UNROLL);				/* warm: first-touch paths off the clock */
	t0 = rdtsc();
	fn(n);
	cyc = rdtsc() - t0;
	printf("ring3 %s cycles=%lu n=%lu\n", name, cyc, n);
	printf("# %s: %lu cycles/exit, %lu ns/exit at %lu kHz\n", name, cyc / n,
	       cyc * 1000000 / khz / n, khz);
}

int main(void)
{
	uint64_t n = 20000, khz = tsc_khz();

	if (cmdline_get_size("n", &n) && (n < UNROLL || n > 100000000)) {
		printf("bench-exits: n=%lu out of range\n", n);
		return 1;
	}
	n -= n % UNROLL;
	phase("pio-out", pio_out, n, khz);
	phase("pio-in", pio_in, n, khz);
	phase("mmio-in", mmio_in, n, khz);
	return 0;
}
