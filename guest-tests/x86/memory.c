// SPDX-License-Identifier: MIT
/*
 * Walks the boot memory map and checks it against "mem=SIZE" from the command line; writes a
 * pattern to every byte of RAM outside this image (ring 3, 8-byte stores), reads it back;
 * checks that the 3..4 GiB hole and the first byte past RAM read as all ones and ignore writes.
 */
#include "libguest.h"
#include "report.h"

#define HOLE_START	0xc0000000ul
#define HOLE_END	0x100000000ul
#define LOW_RAM_END	0x9fc00ul		/* EBDA and BIOS area up to 1 MiB are reserved */
#define SEED		0x5a5aa5a5c3c33c3cul

struct span_result {
	uint64_t bytes, bad;
	uint64_t first_bad;
};

static inline uint64_t pattern(uint64_t a)
{
	/* Address-dependent, so an alias (two addresses, one cell) shows up. */
	return (a * 0x9e3779b97f4a7c15ul) ^ SEED;
}

static void fill(uint64_t a, uint64_t end)
{
	for (; a < end && (a & 7); a++)
		*(volatile uint8_t *)a = (uint8_t)pattern(a & ~7ull);
	for (; a + 8 <= end; a += 8)
		*(uint64_t *)a = pattern(a);
	for (; a < end; a++)
		*(volatile uint8_t *)a = (uint8_t)pattern(a & ~7ull);
	barrier();
}

static void check(uint64_t a, uint64_t end, struct span_result *r)
{
	r->bytes += end - a;
	for (; a < end && (a & 7); a++)
		if (*(volatile uint8_t *)a != (uint8_t)pattern(a & ~7ull) && !r->bad++)
			r->first_bad = a;
	for (; a + 8 <= end; a += 8)
		if (*(uint64_t *)a != pattern(a) && !r->bad++)
			r->first_bad = a;
	for (; a < end; a++)
		if (*(volatile uint8_t *)a != (uint8_t)pattern(a & ~7ull) && !r->bad++)
			r->first_bad = a;
}

/* Calls fn on [a, b) minus the image (code, data, stacks, page tables, IDT, GDT, TSS). */
static void for_each_free(uint64_t a, uint64_t b, void (*fn)(uint64_t, uint64_t, void *), void *ctx)
{
	uint64_t is = (uint64_t)__image_start, ie = (uint64_t)__image_end;

	if (a < is)
		fn(a, b < is ? b : is, ctx);
	if (b > ie)
		fn(a > ie ? a : ie, b, ctx);
}

static void do_fill(uint64_t a, uint64_t b, void *ctx)
{
	(void)ctx;
	fill(a, b);
}

static void do_check(uint64_t a, uint64_t b, void *ctx)
{
	check(a, b, ctx);
}

/* Our vmm reads unclaimed addresses as all ones; QEMU (runner=qemu) reads them as 0. */
static void check_unbacked(const char *what, uint64_t a, uint64_t ones)
{
	uint64_t v = mmio_read64(a);

	report(v == ones, "read at %#lx (%s) is %#lx (%#lx)", a, what, ones, v);
	mmio_write64(a, 0x0123456789abcdeful);
	v = mmio_read64(a);
	report(v == ones, "write at %#lx (%s) does not stick (%#lx)", a, what, v);
}

int main(void)
{
	const struct boot_info *bi = boot_info();
	uint64_t mem, top, ram = 0, tested = 0, ones = ~0ul, slack;
	const char *v;
	size_t vlen;
	bool qemu = cmdline_get("runner", &v, &vlen) && vlen == 4 && !memcmp(v, "qemu", 4);
	bool in_hole = false, low_ok = false;
	struct span_result r = { 0 };

	report_prefix_push("memory");
	if (!cmdline_get_size("mem", &mem)) {
		report(false, "the test needs mem=SIZE on the command line");
		report_summary();
	}
	/* Our layout: RAM up to min(mem, 3 GiB), the rest from 4 GiB. */
	top = mem <= HOLE_START ? mem : HOLE_END + (mem - HOLE_START);

	for (uint32_t i = 0; i < bi->nr_ranges; i++) {
		const struct mem_range *m = &bi->ranges[i];

		report_info("map %u: %#lx..%#lx type %u", i, m->addr, m->addr + m->len, m->type);
		if (m->type != MEM_RAM)
			continue;
		ram += m->len;
		if (m->addr < HOLE_END && m->addr + m->len > HOLE_START)
			in_hole = true;
		if (m->addr == 0 && m->len == LOW_RAM_END)
			low_ok = true;
	}
	report(bi->nr_ranges > 0, "boot map has %u entries", bi->nr_ranges);
	report(low_ok, "low RAM is [0, %#lx)", LOW_RAM_END);
	report(!in_hole, "no RAM in the 3..4 GiB hole");
	/* mem= minus the reserved 0x9fc00..1 MiB, exactly; QEMU's BIOS also reserves up to
	 * 256 KiB at the top of low RAM for itself, so under runner=qemu that much may lack. */
	slack = qemu ? KiB(256) : 0;
	report(ram <= mem - (MiB(1) - LOW_RAM_END) && ram + slack >= mem - (MiB(1) - LOW_RAM_END),
	       "RAM total %lu KiB matches mem=%lu KiB", ram >> 10, mem >> 10);
	report(bi->ram_top <= top && bi->ram_top + slack >= top,
	       "RAM ends at %#lx (expected %#lx)", bi->ram_top, top);

	for (uint32_t i = 0; i < bi->nr_ranges; i++) {
		const struct mem_range *m = &bi->ranges[i];

		if (m->type == MEM_RAM)
			for_each_free(m->addr, m->addr + m->len, do_fill, NULL);
	}
	for (uint32_t i = 0; i < bi->nr_ranges; i++) {
		const struct mem_range *m = &bi->ranges[i];

		if (m->type == MEM_RAM)
			for_each_free(m->addr, m->addr + m->len, do_check, &r);
	}
	tested = r.bytes;
	report(r.bad == 0, "pattern over %lu bytes of RAM (%lu MiB), %lu bad words, first at %#lx",
	       tested, tested >> 20, r.bad, r.first_bad);
	report(tested + ((uint64_t)__image_end - (uint64_t)__image_start) >= ram,
	       "tested all RAM but the %lu KiB image", ((uint64_t)__image_end -
						      (uint64_t)__image_start) >> 10);

	if (qemu)
		ones = 0;
	report_prefix_push("hole");
	check_unbacked("PCI MMIO window", HOLE_START, ones);
	check_unbacked("below ECAM", 0xdffff000ul, ones);
	report_prefix_pop();
	report_prefix_push("past RAM");
	check_unbacked("end of RAM", top, ones);
	report_prefix_pop();
	return report_summary();
}
