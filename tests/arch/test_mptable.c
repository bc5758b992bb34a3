// SPDX-License-Identifier: MIT
/*
 * MP table 1.4, read the way a guest finds it (MP spec §4: scan 0xf0000-0xfffff on 16-byte
 * boundaries for "_MP_"). Offsets are the spec's, not mptable-defs.h's.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"

#define RAM_SIZE	MiB(16)

static struct gmem gm;
static uint8_t *ram;

static void setup(void)
{
	ram = calloc(1, RAM_SIZE);
	cr_assert_not_null(ram);
	gm_init(&gm);
	cr_assert_eq(gm_add_region(&gm, 0, RAM_SIZE, ram, -1, 0), 0);
}

static void teardown(void)
{
	free(ram);
}

TestSuite(mptable, .init = setup, .fini = teardown);

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static const uint8_t *scan_mpf(void)
{
	for (gpa_t a = 0xf0000; a < 0x100000; a += 16)
		if (!memcmp(ram + a, "_MP_", 4))
			return ram + a;
	return NULL;
}

struct counts {
	unsigned int cpus, bsps, buses, ioapics, ioints, lints, extint, nmi;
	bool irq_seen[16];
	int irq_pin[16];
};

static struct counts walk(unsigned int nr)
{
	const uint8_t *mpf, *t;
	struct counts c = { 0 };
	uint32_t cfg;
	uint16_t len, count;
	size_t off = 44;

	cr_assert_eq(mptable_build(&gm, nr), 0, "%u vCPUs", nr);
	mpf = scan_mpf();
	cr_assert_not_null(mpf, "no floating pointer in 0xf0000-0xfffff");
	cr_expect_eq(mpf[8], 1, "length in paragraphs");
	cr_expect_eq(mpf[9], 4, "spec 1.4");
	cr_expect_eq(sum(mpf, 16), 0, "floating pointer checksum");
	cr_expect_eq(mpf[11], 0, "feature1 = 0: a configuration table follows");

	cfg = le32(mpf + 4);
	cr_assert_gt(cfg, 0);
	cr_assert_lt(cfg, 0x100000);
	t = ram + cfg;
	cr_assert_eq(memcmp(t, "PCMP", 4), 0);
	len = le16(t + 4);
	count = le16(t + 34);
	cr_assert_leq(cfg + len, 0x100000, "table runs past the BIOS area");
	cr_expect_eq(t[6], 4);
	cr_expect_eq(sum(t, len), 0, "configuration table checksum");
	cr_expect_eq(le32(t + 36), LAYOUT_LAPIC);

	for (unsigned int i = 0; i < count; i++) {
		cr_assert_lt(off, len, "entry %u past the table length", i);
		switch (t[off]) {
		case 0:
			cr_expect_eq(t[off + 1], c.cpus, "APIC id = index");
			cr_expect_eq(t[off + 3] & 1, 1, "enabled");
			c.bsps += (t[off + 3] >> 1) & 1;
			if (t[off + 3] & 2)
				cr_expect_eq(t[off + 1], 0, "BSP is APIC 0");
			c.cpus++;
			off += 20;
			break;
		case 1:
			cr_expect_eq(memcmp(t + off + 2, "ISA   ", 6), 0);
			c.buses++;
			off += 8;
			break;
		case 2:
			cr_expect_eq(t[off + 3] & 1, 1, "IOAPIC usable");
			cr_expect_eq(le32(t + off + 4), LAYOUT_IOAPIC);
			c.ioapics++;
			off += 8;
			break;
		case 3:
			cr_assert_lt(t[off + 5], 16, "ISA IRQ");
			cr_expect(!c.irq_seen[t[off + 5]], "IRQ %u twice", t[off + 5]);
			c.irq_seen[t[off + 5]] = true;
			c.irq_pin[t[off + 5]] = t[off + 7];
			c.ioints++;
			off += 8;
			break;
		case 4:
			c.extint += t[off + 1] == 3 && t[off + 7] == 0;
			c.nmi += t[off + 1] == 1 && t[off + 7] == 1;
			c.lints++;
			off += 8;
			break;
		default:
			cr_assert_fail("unknown entry type %u", t[off]);
		}
	}
	cr_expect_eq(off, len, "entry count and length disagree");
	return c;
}

Test(mptable, processor_count_and_bsp)
{
	static const unsigned int n[] = { 1, 2, 4, 64, 255 };

	for (unsigned int i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
		struct counts c = walk(n[i]);

		cr_expect_eq(c.cpus, n[i]);
		cr_expect_eq(c.bsps, 1, "exactly one BSP");
		cr_expect_eq(c.buses, 1);
		cr_expect_eq(c.ioapics, 1);
	}
}

Test(mptable, isa_irqs_and_local_interrupts)
{
	struct counts c = walk(2);

	cr_expect_eq(c.irq_pin[0], 2, "IRQ0 on pin 2, as the MADT says");
	for (unsigned int irq = 1; irq < 16; irq++) {
		if (irq == 2)
			continue;
		cr_expect(c.irq_seen[irq], "ISA IRQ %u missing", irq);
		cr_expect_eq(c.irq_pin[irq], irq);
	}
	cr_expect_eq(c.extint, 1, "ExtINT on LINT0");
	cr_expect_eq(c.nmi, 1, "NMI on LINT1");
}

Test(mptable, bad_vcpu_counts_are_refused)
{
	memset(ram + LAYOUT_MPTABLE, 0xcc, LAYOUT_BIOS_END - LAYOUT_MPTABLE);
	cr_expect_eq(mptable_build(&gm, 0), -EINVAL);
	cr_expect_eq(mptable_build(&gm, 256), -E2BIG);
	cr_expect_eq(mptable_build(&gm, 4096), -E2BIG);
	cr_expect_eq(mptable_build(NULL, 1), -EINVAL);
	for (gpa_t a = LAYOUT_MPTABLE; a < LAYOUT_BIOS_END; a++)
		cr_assert_eq(ram[a], 0xcc, "written on failure at %#lx", (unsigned long)a);
}

Test(mptable, guest_without_the_bios_area_is_refused)
{
	struct gmem small;

	gm_init(&small);
	cr_assert_eq(gm_add_region(&small, 0, KiB(640), ram, -1, 0), 0);
	cr_expect_eq(mptable_build(&small, 1), -EFAULT);
}
