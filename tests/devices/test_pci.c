// SPDX-License-Identifier: MIT
/*
 * PCI host bridge, driven through the same buses a vCPU exit would use: config mechanism #1
 * on a PIO bus, ECAM and BARs on an MMIO bus. Also bus_unregister(), which BAR moves need.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "devices/pci.h"

#define WIN_BASE	0xc0000000ull
#define WIN_END		0xd0000000ull
#define ECAM		0xe0000000ull

/* A PCI function with a plain config image; it records anything a bridge must not send it. */
struct fake {
	uint8_t cfg[PCI_CFG_SIZE];
	unsigned int misaligned;	/* accesses not naturally aligned or crossing a dword */
	unsigned int saw_owned;		/* accesses to registers the bridge owns */
	unsigned int writes;
	unsigned int mapped_calls;
	unsigned int last_bar;
	uint64_t last_gpa;
	bool last_mapped;
};

static bool bridge_owned(uint32_t off)
{
	return off == 4 || off == 5 || (off >= 0x10 && off < 0x28) || (off >= 0x30 && off < 0x34) ||
	       off == 0x3c;
}

static void fake_check(struct fake *f, uint32_t off, uint32_t len)
{
	if ((len != 1 && len != 2 && len != 4) || off % len || off / 4 != (off + len - 1) / 4 ||
	    off + len > PCI_CFG_SIZE)
		f->misaligned++;
	for (uint32_t i = 0; i < len; i++)
		f->saw_owned += bridge_owned(off + i);
}

static void fake_read(void *ctx, uint32_t off, void *data, uint32_t len)
{
	struct fake *f = ctx;

	fake_check(f, off, len);
	if (off < PCI_CFG_SIZE && len <= PCI_CFG_SIZE - off)
		memcpy(data, f->cfg + off, len);
}

static void fake_write(void *ctx, uint32_t off, const void *data, uint32_t len)
{
	struct fake *f = ctx;

	fake_check(f, off, len);
	f->writes++;
	if (off < PCI_CFG_SIZE && len <= PCI_CFG_SIZE - off)
		memcpy(f->cfg + off, data, len);
}

static void fake_mapped(void *ctx, unsigned int bar, uint64_t gpa, bool mapped)
{
	struct fake *f = ctx;

	f->mapped_calls++;
	f->last_bar = bar;
	f->last_gpa = gpa;
	f->last_mapped = mapped;
}

static const struct pci_func_ops fake_ops = {
	.cfg_read = fake_read, .cfg_write = fake_write, .bar_mapped = fake_mapped,
};

/* A BAR region / other device that counts what reaches it. */
struct region {
	unsigned int reads, writes;
	uint64_t last_off;
};

static void region_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	struct region *r = ctx;

	r->reads++;
	r->last_off = off;
	memset(data, 0xab, len);
}

static void region_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct region *r = ctx;

	(void)data; (void)len;
	r->writes++;
	r->last_off = off;
}

static const struct bus_dev_ops region_ops = { .read = region_read, .write = region_write };

static struct bus pio, mmio;
static struct pci_host h;
static struct fake f;
static struct region bar0, bar2, other, cf9;
static unsigned int slot;

static void put16(uint8_t *b, uint32_t off, uint16_t v) { memcpy(b + off, &v, 2); }

static void setup(void)
{
	struct pci_bar bars[PCI_NUM_BARS] = {
		[0] = { .size = 0x1000, .ops = &region_ops, .ctx = &bar0 },
		[2] = { .size = 0x10000, .flags = PCI_BAR_F_MEM64 | PCI_BAR_F_PREFETCH,
			.ops = &region_ops, .ctx = &bar2 },
	};

	memset(&f, 0, sizeof(f));
	memset(&bar0, 0, sizeof(bar0));
	memset(&bar2, 0, sizeof(bar2));
	memset(&other, 0, sizeof(other));
	memset(&cf9, 0, sizeof(cf9));
	for (unsigned int i = 0; i < PCI_CFG_SIZE; i++)
		f.cfg[i] = (uint8_t)(i * 7 + 3);	/* recognisable pattern */
	put16(f.cfg, 0, 0x1234);
	put16(f.cfg, 2, 0x5678);
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	cr_assert_eq(pci_host_init(&h, pci_bus_bar_map(&mmio), WIN_BASE, WIN_END), 0);
	cr_assert_eq(bus_register(&pio, PCI_HOST_PIO_BASE, PCI_HOST_PIO_LEN, &pci_host_pio_ops,
				  &h, "pci-cf8"), 0);
	cr_assert_eq(bus_register(&mmio, ECAM, PCI_ECAM_BUS_SIZE, &pci_host_ecam_ops, &h, "ecam"),
		     0);
	cr_assert_eq(pci_host_add(&h, &fake_ops, &f, bars, "fake", &slot), 0);
	cr_assert_eq(slot, 1);
}

static void teardown(void)
{
	pci_host_exit(&h);
}

TestSuite(pci, .init = setup, .fini = teardown);

static uint32_t cf8_addr(unsigned int bus, unsigned int dev, unsigned int fn, uint32_t reg)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static uint32_t m1_read(unsigned int bus, unsigned int dev, unsigned int fn, uint32_t reg,
			uint32_t len)
{
	uint32_t a = cf8_addr(bus, dev, fn, reg), v = 0;

	cr_assert(bus_write(&pio, 0xcf8, &a, 4));
	cr_assert(bus_read(&pio, 0xcfc + (reg & 3), &v, len));
	return v;
}

static void m1_write(unsigned int dev, uint32_t reg, uint32_t v, uint32_t len)
{
	uint32_t a = cf8_addr(0, dev, 0, reg);

	cr_assert(bus_write(&pio, 0xcf8, &a, 4));
	cr_assert(bus_write(&pio, 0xcfc + (reg & 3), &v, len));
}

static uint64_t ecam_read(unsigned int dev, uint32_t reg, uint32_t len)
{
	uint64_t v = 0;

	bus_read(&mmio, ECAM + ((uint64_t)dev << 15) + reg, &v, len);
	return v;
}

static void ecam_write(unsigned int dev, uint32_t reg, uint64_t v, uint32_t len)
{
	cr_assert(bus_write(&mmio, ECAM + ((uint64_t)dev << 15) + reg, &v, len));
}

static bool claimed(uint64_t gpa, struct region *want)
{
	unsigned int before = want->reads;
	uint32_t v;

	return bus_read(&mmio, gpa, &v, 4) && want->reads == before + 1;
}

Test(pci, mechanism1_and_ecam_read_the_same_header)
{
	for (unsigned int dev = 0; dev <= 1; dev++)
		for (uint32_t reg = 0; reg < 0x100; reg += 4)
			cr_expect_eq(m1_read(0, dev, 0, reg, 4), ecam_read(dev, reg, 4),
				     "dev %u reg %#x", dev, reg);
	cr_expect_eq(m1_read(0, 1, 0, 0, 4), 0x56781234);
	cr_expect_eq(f.misaligned, 0);
	cr_expect_eq(f.saw_owned, 0, "the function saw command/BAR/ROM/line accesses");
}

Test(pci, host_bridge_is_redhat_1b36_0008_class_060000)
{
	cr_expect_eq(m1_read(0, 0, 0, 0, 4), 0x00081b36);
	cr_expect_eq(m1_read(0, 0, 0, 8, 4) >> 8, 0x060000);
	cr_expect_eq(m1_read(0, 0, 0, 0xc, 4) >> 16 & 0xff, 0, "header type 0, one function");
	for (uint32_t reg = 0x10; reg < 0x28; reg += 4)
		cr_expect_eq(m1_read(0, 0, 0, reg, 4), 0, "host bridge has no BARs");
}

Test(pci, unaligned_and_cross_dword_ecam_accesses_are_split_for_the_function)
{
	/* 4 bytes at 0x41 cross into the next dword; 8 at 0x48; 2 at 0x43 straddle. */
	uint32_t want4, want2;
	uint64_t want8;

	memcpy(&want4, f.cfg + 0x41, 4);
	memcpy(&want8, f.cfg + 0x48, 8);
	memcpy(&want2, f.cfg + 0x43, 2);
	want2 &= 0xffff;
	cr_expect_eq(ecam_read(1, 0x41, 4), want4);
	cr_expect_eq(ecam_read(1, 0x48, 8), want8);
	cr_expect_eq(ecam_read(1, 0x43, 2), want2);
	ecam_write(1, 0x45, 0x11223344, 4);
	cr_expect_eq(f.cfg[0x45], 0x44);
	cr_expect_eq(f.cfg[0x48], 0x11);
	/* Mechanism #1 byte/word reads inside CONFIG_DATA. */
	cr_expect_eq(m1_read(0, 1, 0, 0x41, 1), f.cfg[0x41]);
	cr_expect_eq(m1_read(0, 1, 0, 0x42, 2), f.cfg[0x42] | f.cfg[0x43] << 8);
	cr_expect_eq(f.misaligned, 0, "the function got an unaligned access");
}

Test(pci, access_straddling_address_and_data_ports_is_ignored)
{
	uint32_t a = cf8_addr(0, 1, 0, 0), v = 0x12345678;

	cr_assert(bus_write(&pio, 0xcf8, &a, 4));
	cr_assert(bus_write(&pio, 0xcfa, &v, 4));	/* 0xcfa-0xcfd */
	cr_assert(bus_read(&pio, 0xcf8, &v, 4));
	cr_expect_eq(v, a, "CONFIG_ADDRESS changed by a straddling write");
	cr_expect_eq(f.writes, 0);
	cr_expect_geq(h.stats.bad_accesses, 1);
}

Test(pci, config_address_keeps_only_defined_bits_and_ignores_byte_writes)
{
	uint32_t v = 0xffffffff;
	uint8_t b = 0x01;

	cr_assert(bus_write(&pio, 0xcf8, &v, 4));
	cr_assert(bus_read(&pio, 0xcf8, &v, 4));
	cr_expect_eq(v, 0x80fffffc);
	/* Linux's type-1 probe pokes 0xcfb with a byte; it must not change the register. */
	cr_assert(bus_write(&pio, 0xcfb, &b, 1));
	cr_assert(bus_read(&pio, 0xcf8, &v, 4));
	cr_expect_eq(v, 0x80fffffc);
}

Test(pci, disabled_config_address_reads_all_ones_and_drops_writes)
{
	uint32_t a = 1u << 11, v = 0;		/* dev 1, enable bit clear */

	cr_assert(bus_write(&pio, 0xcf8, &a, 4));
	cr_assert(bus_read(&pio, 0xcfc, &v, 4));
	cr_expect_eq(v, 0xffffffff);
	cr_assert(bus_write(&pio, 0xcfc, &v, 4));
	cr_expect_eq(f.writes, 0);
}

Test(pci, out_of_range_bus_slot_and_function_read_all_ones)
{
	uint64_t v = 0;

	cr_expect_eq(m1_read(1, 1, 0, 0, 4), 0xffffffff, "bus 1");
	cr_expect_eq(m1_read(255, 0, 0, 0, 4), 0xffffffff, "bus 255");
	cr_expect_eq(m1_read(0, 31, 0, 0, 4), 0xffffffff, "empty slot");
	cr_expect_eq(m1_read(0, 1, 1, 0, 4), 0xffffffff, "function 1");
	cr_expect_eq(m1_read(0, 1, 7, 0, 2), 0xffff, "function 7");
	cr_expect_eq(ecam_read(1, 0x1000 | 0, 4), 0xffffffff, "ECAM function 1");
	/* Bus 1 is outside the ECAM range we register: the bus itself answers all ones. */
	cr_expect(!bus_read(&mmio, ECAM + (1u << 20), &v, 4));
	cr_expect_eq(v & 0xffffffff, 0xffffffff);
	pci_host_cfg_read(&h, 0, 99, 0, 0, &v, 4);
	cr_expect_eq(v & 0xffffffff, 0xffffffff, "device number past 31");
	m1_write(31, 0x40, 0, 4);			/* to nobody: nothing happens */
	cr_expect_eq(f.writes, 0);
}

Test(pci, bar_sizing_reads_back_the_size_mask)
{
	uint32_t save0 = m1_read(0, 1, 0, 0x10, 4);
	uint32_t save2 = m1_read(0, 1, 0, 0x18, 4), save3 = m1_read(0, 1, 0, 0x1c, 4);

	cr_expect_eq(save0 & 0xf, 0, "32-bit non-prefetchable memory BAR");
	cr_expect_eq(save2 & 0xf, 0xc, "64-bit prefetchable memory BAR");
	m1_write(1, 0x10, 0xffffffff, 4);
	cr_expect_eq(m1_read(0, 1, 0, 0x10, 4), 0xfffff000);
	m1_write(1, 0x18, 0xffffffff, 4);
	m1_write(1, 0x1c, 0xffffffff, 4);
	cr_expect_eq(m1_read(0, 1, 0, 0x18, 4), 0xffff000c);
	cr_expect_eq(m1_read(0, 1, 0, 0x1c, 4), 0xffffffff);
	m1_write(1, 0x14, 0xffffffff, 4);		/* unused BAR: reads 0 */
	cr_expect_eq(m1_read(0, 1, 0, 0x14, 4), 0);
	m1_write(1, 0x30, 0xffffffff, 4);		/* no expansion ROM */
	cr_expect_eq(m1_read(0, 1, 0, 0x30, 4), 0);
	m1_write(1, 0x10, save0, 4);
	m1_write(1, 0x18, save2, 4);
	m1_write(1, 0x1c, save3, 4);
	cr_expect_eq(m1_read(0, 1, 0, 0x10, 4), save0);
	cr_expect(claimed(save0, &bar0), "BAR 0 decodes again after sizing");
	cr_expect(claimed(save2 & ~0xfu, &bar2));
}

Test(pci, initial_placement_is_aligned_inside_the_window_and_decodes)
{
	uint64_t a0, a2;

	cr_assert_eq(pci_host_bar_addr(&h, slot, 0, &a0), 0);
	cr_assert_eq(pci_host_bar_addr(&h, slot, 2, &a2), 0);
	cr_expect_eq(pci_host_bar_addr(&h, slot, 1, &a0), -ENODEV, "BAR 1: upper half");
	cr_expect(a0 >= WIN_BASE && a0 + 0x1000 <= WIN_END);
	cr_expect(a2 >= WIN_BASE && a2 + 0x10000 <= WIN_END);
	cr_expect_eq(a0 % 0x1000, 0);
	cr_expect_eq(a2 % 0x10000, 0);
	cr_expect_eq(m1_read(0, 1, 0, 4, 2) & 2, 2, "command.MEM set by 'firmware'");
	cr_expect(claimed(a0 + 0xffc, &bar0));
	cr_expect_eq(bar0.last_off, 0xffc);
	cr_expect(claimed(a2 + 0x8000, &bar2));
	cr_expect_eq(f.last_mapped, true);
}

Test(pci, moving_a_bar_unclaims_the_old_address_and_claims_the_new)
{
	uint64_t old, now;
	uint32_t v;

	cr_assert_eq(pci_host_bar_addr(&h, slot, 0, &old), 0);
	ecam_write(1, 0x10, 0xc8000000, 4);
	cr_expect(!bus_read(&mmio, old, &v, 4), "old address still decodes");
	cr_expect(claimed(0xc8000010, &bar0));
	cr_expect_eq(bar0.last_off, 0x10);
	cr_assert_eq(pci_host_bar_addr(&h, slot, 0, &now), 0);
	cr_expect_eq(now, 0xc8000000);
	cr_expect_eq(f.last_bar, 0);
	cr_expect_eq(f.last_gpa, 0xc8000000);
	cr_expect(f.last_mapped);

	/* A 64-bit BAR can go above 4 GiB: low half first, then high half, as Linux does. */
	ecam_write(1, 0x18, 0, 4);
	ecam_write(1, 0x1c, 0x10, 4);
	cr_assert_eq(pci_host_bar_addr(&h, slot, 2, &now), 0);
	cr_expect_eq(now, 0x1000000000ull);
	cr_expect(claimed(0x1000000000ull + 4, &bar2));
	cr_expect_eq(h.stats.bar_conflicts, 0);
}

Test(pci, bar_moved_over_another_device_is_refused_and_counted)
{
	uint64_t a;

	cr_assert_eq(bus_register(&mmio, 0xc9000000, 0x1000, &region_ops, &other, "other"), 0);
	ecam_write(1, 0x10, 0xc9000000, 4);
	cr_expect_eq(h.stats.bar_conflicts, 1);
	cr_expect_eq(pci_host_bar_addr(&h, slot, 0, &a), -ENODEV, "BAR decodes over 'other'");
	cr_expect(claimed(0xc9000000, &other), "the other device lost its range");
	cr_expect_eq(bar0.reads, 0);
	cr_expect_eq(f.last_mapped, false);
	/* Over the ECAM window too. */
	ecam_write(1, 0x10, (uint32_t)ECAM, 4);
	cr_expect_eq(h.stats.bar_conflicts, 2);
	cr_expect_eq(ecam_read(1, 0, 4), 0x56781234, "ECAM still works");
	/* The guest may try again somewhere free. */
	ecam_write(1, 0x10, 0xca000000, 4);
	cr_expect_eq(pci_host_bar_addr(&h, slot, 0, &a), 0);
	cr_expect(claimed(0xca000000, &bar0));
}

Test(pci, memory_decode_off_unmaps_every_bar)
{
	uint64_t a0, a2;
	uint32_t v;

	cr_assert_eq(pci_host_bar_addr(&h, slot, 0, &a0), 0);
	cr_assert_eq(pci_host_bar_addr(&h, slot, 2, &a2), 0);
	m1_write(1, 4, 0, 2);
	cr_expect(!bus_read(&mmio, a0, &v, 4));
	cr_expect(!bus_read(&mmio, a2, &v, 4));
	/* While off, sizing does not map anything at the all-ones address. */
	m1_write(1, 0x10, 0xffffffff, 4);
	cr_expect(!bus_read(&mmio, 0xfffff000, &v, 4));
	m1_write(1, 0x10, (uint32_t)a0, 4);
	m1_write(1, 4, 2, 2);
	cr_expect(claimed(a0, &bar0));
	cr_expect(claimed(a2, &bar2));
}

Test(pci, sizing_a_64bit_bar_with_decode_on_wraps_and_is_refused)
{
	uint32_t v;

	m1_write(1, 0x18, 0xffffffff, 4);
	m1_write(1, 0x1c, 0xffffffff, 4);	/* 0xffff_ffff_ffff_0000 + 64 KiB wraps */
	cr_expect_geq(h.stats.bar_conflicts, 1);
	cr_expect(!bus_read(&mmio, 0xffffffffffff0000ull, &v, 4));
}

Test(pci, command_register_keeps_only_writable_bits)
{
	m1_write(1, 4, 0xffff, 2);
	cr_expect_eq(m1_read(0, 1, 0, 4, 2), 0x0507);
	/* Status (bytes 6-7) belongs to the function; a dword write passes its half on. */
	m1_write(1, 4, 0xabcd0002, 4);
	cr_expect_eq(m1_read(0, 1, 0, 4, 2), 0x0002);
	cr_expect_eq(f.cfg[6], 0xcd);
	cr_expect_eq(f.cfg[7], 0xab);
	cr_expect_eq(f.saw_owned, 0);
	/* Interrupt line is plain storage for the OS. */
	m1_write(1, 0x3c, 0x0b, 1);
	cr_expect_eq(m1_read(0, 1, 0, 0x3c, 1), 0x0b);
}

Test(pci, cf9_byte_reaches_the_chained_reset_register_only)
{
	uint8_t b = 0x06;
	uint32_t a = cf8_addr(0, 0, 0, 0);

	cr_assert(bus_write(&pio, 0xcf9, &b, 1));
	cr_expect_eq(cf9.writes, 0, "nothing chained yet");
	pci_host_chain_cf9(&h, &region_ops, &cf9);
	cr_assert(bus_write(&pio, 0xcf9, &b, 1));
	cr_expect_eq(cf9.writes, 1);
	cr_expect_eq(cf9.last_off, 0);
	cr_assert(bus_read(&pio, 0xcf9, &b, 1));
	cr_expect_eq(cf9.reads, 1);
	cr_assert(bus_write(&pio, 0xcf8, &a, 4));
	cr_expect_eq(cf9.writes, 1, "a CONFIG_ADDRESS write went to the reset register");
}

Test(pci, bad_bar_descriptors_are_refused)
{
	struct fake g = { 0 };
	struct pci_bar bars[PCI_NUM_BARS] = { 0 };
	unsigned int s;

	bars[0] = (struct pci_bar){ .size = 0x3000, .ops = &region_ops };
	cr_expect_eq(pci_host_add(&h, &fake_ops, &g, bars, "g", &s), -EINVAL, "not a power of 2");
	bars[0] = (struct pci_bar){ .size = 8, .ops = &region_ops };
	cr_expect_eq(pci_host_add(&h, &fake_ops, &g, bars, "g", &s), -EINVAL, "below 16 bytes");
	bars[0] = (struct pci_bar){ .size = 0x1000 };
	cr_expect_eq(pci_host_add(&h, &fake_ops, &g, bars, "g", &s), -EINVAL, "no ops");
	bars[0] = (struct pci_bar){ 0 };
	bars[5] = (struct pci_bar){ .size = 0x1000, .flags = PCI_BAR_F_MEM64, .ops = &region_ops };
	cr_expect_eq(pci_host_add(&h, &fake_ops, &g, bars, "g", &s), -EINVAL, "64-bit in BAR 5");
	bars[5] = (struct pci_bar){ 0 };
	bars[1] = (struct pci_bar){ .size = 0x1000, .flags = PCI_BAR_F_MEM64, .ops = &region_ops };
	bars[2] = (struct pci_bar){ .size = 0x1000, .ops = &region_ops };
	cr_expect_eq(pci_host_add(&h, &fake_ops, &g, bars, "g", &s), -EINVAL, "upper half used");
	bars[1] = bars[2] = (struct pci_bar){ 0 };
	bars[0] = (struct pci_bar){ .size = GiB(4), .ops = &region_ops };
	cr_expect_eq(pci_host_add(&h, &fake_ops, &g, bars, "g", &s), -EINVAL, "4 GiB in 32 bits");
	bars[0] = (struct pci_bar){ .size = GiB(1), .flags = PCI_BAR_F_MEM64, .ops = &region_ops };
	cr_expect_eq(pci_host_add(&h, &fake_ops, &g, bars, "g", &s), -ENOSPC, "window too small");
	cr_expect_eq(m1_read(0, 2, 0, 0, 4), 0xffffffff, "a refused function left a trace");
}

Test(pci, slots_run_out_after_31_functions)
{
	static struct fake g[PCI_MAX_SLOTS];
	unsigned int s, n = 0;

	while (pci_host_add(&h, &fake_ops, &g[n], NULL, "g", &s) == 0)
		n++;
	cr_expect_eq(n, PCI_MAX_SLOTS - 2, "slot 0 is the bridge, slot 1 the fixture's");
	cr_expect_eq(pci_host_add(&h, &fake_ops, &g[0], NULL, "g", &s), -ENOSPC);
}

Test(pci, placement_over_a_busy_range_fails_and_leaves_nothing)
{
	struct pci_host h2;
	struct fake g = { 0 };
	struct region r2 = { 0 };
	struct pci_bar bars[PCI_NUM_BARS] = {
		[0] = { .size = 0x1000, .ops = &region_ops, .ctx = &r2 },
		[1] = { .size = 0x1000, .ops = &region_ops, .ctx = &r2 },
	};
	unsigned int s;
	uint32_t v;

	/* The window's second page is taken: BAR 0 maps, BAR 1 fails, BAR 0 must go again. */
	cr_assert_eq(bus_register(&mmio, 0xd0001000, 0x1000, &region_ops, &other, "x"), 0);
	cr_assert_eq(pci_host_init(&h2, pci_bus_bar_map(&mmio), 0xd0000000, 0xd1000000), 0);
	cr_expect_eq(pci_host_add(&h2, &fake_ops, &g, bars, "g", &s), -EEXIST);
	cr_expect(!bus_read(&mmio, 0xd0000000, &v, 4));
	pci_host_exit(&h2);
}

Test(pci, bad_window_is_refused)
{
	struct pci_host h2;

	cr_expect_eq(pci_host_init(&h2, pci_bus_bar_map(&mmio), 0x2000, 0x1000), -EINVAL);
	cr_expect_eq(pci_host_init(&h2, (struct pci_bar_map){ 0 }, 0x1000, 0x2000), -EINVAL);
}

/* ---- bus_unregister -------------------------------------------------------------------- */

TestSuite(bus_unregister);

Test(bus_unregister, only_an_exact_range_is_removed)
{
	struct bus b;
	struct region r = { 0 };
	uint32_t v;

	bus_init(&b, "t");
	cr_assert_eq(bus_register(&b, 0x1000, 0x100, &region_ops, &r, "a"), 0);
	cr_assert_eq(bus_register(&b, 0x2000, 0x100, &region_ops, &r, "b"), 0);
	cr_expect_eq(bus_unregister(&b, 0x1000, 0x80), -ENOENT, "partial length");
	cr_expect_eq(bus_unregister(&b, 0x1010, 0xf0), -ENOENT, "partial base");
	cr_expect_eq(bus_unregister(&b, 0x3000, 0x100), -ENOENT, "nothing there");
	cr_expect_eq(b.nr, 2);
	cr_expect_eq(bus_unregister(&b, 0x1000, 0x100), 0);
	cr_expect_eq(b.nr, 1);
	cr_expect(!bus_read(&b, 0x1000, &v, 4));
	cr_expect(bus_read(&b, 0x2000, &v, 4), "the neighbour went too");
	cr_expect_eq(bus_unregister(&b, 0x1000, 0x100), -ENOENT, "twice");
	/* The freed range can be registered again. */
	cr_expect_eq(bus_register(&b, 0x1000, 0x100, &region_ops, &r, "a"), 0);
	cr_expect_eq(b.r[0].base, 0x1000);
	cr_expect_eq(b.r[1].base, 0x2000);
}

struct hammer {
	struct bus *b;
	bool stop;
	unsigned long misses, wrong;
};

static void stable_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	(void)ctx; (void)len;
	*(uint32_t *)data = 0x57ab1e00 | (uint32_t)off;
}

static void stable_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	(void)ctx; (void)off; (void)data; (void)len;
}

static const struct bus_dev_ops stable_ops = { .read = stable_read, .write = stable_write };

static void *hammer_reader(void *arg)
{
	struct hammer *hm = arg;

	while (!__atomic_load_n(&hm->stop, __ATOMIC_RELAXED)) {
		uint32_t v = 0;

		if (!bus_read(hm->b, 0x5004, &v, 4))
			hm->misses++;
		else if (v != 0x57ab1e04)
			hm->wrong++;
	}
	return NULL;
}

Test(bus_unregister, readers_never_miss_a_stable_range_while_others_move)
{
	struct bus b;
	struct region r = { 0 };
	struct hammer hm = { .b = &b };
	pthread_t t;

	bus_init(&b, "t");
	cr_assert_eq(bus_register(&b, 0x5000, 0x100, &stable_ops, NULL, "stable"), 0);
	cr_assert_eq(pthread_create(&t, NULL, hammer_reader, &hm), 0);
	/* Ranges below and above the stable one shift its index in the sorted table. */
	for (unsigned int i = 0; i < 20000; i++) {
		uint64_t lo = 0x1000 + (i % 16) * 0x100, hi = 0x9000 + (i % 16) * 0x100;

		cr_assert_eq(bus_register(&b, lo, 0x100, &region_ops, &r, "lo"), 0);
		cr_assert_eq(bus_register(&b, hi, 0x100, &region_ops, &r, "hi"), 0);
		cr_assert_eq(bus_unregister(&b, lo, 0x100), 0);
		cr_assert_eq(bus_unregister(&b, hi, 0x100), 0);
	}
	__atomic_store_n(&hm.stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	cr_expect_eq(hm.misses, 0, "stable range missed %lu times", hm.misses);
	cr_expect_eq(hm.wrong, 0);
	cr_expect_eq(b.nr, 1);
}
