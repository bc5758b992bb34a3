// SPDX-License-Identifier: MIT
#include <errno.h>

#include "test_load_util.h"

/* Multiboot 0.6.96 §3.3, as a test-side mirror of what the loader writes. */
struct t_mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
	uint32_t boot_loader_name;
};
struct t_mb_mod {
	uint32_t mod_start, mod_end, string, reserved;
};
struct t_mb_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

#define KLUDGE_BASE	0x200000u
#define ELF_BASE	0x400000u
#define MB_KLUDGE_FLAGS	((1u << 16) | 3u)

static struct tgm t;
static uint8_t img[16 * 1024];

static void setup(void)
{
	tgm_setup(&t, T_LOW_RAM, 0);
}

static void teardown(void)
{
	tgm_teardown(&t);
}

TestSuite(multiboot, .init = setup, .fini = teardown);

/* A raw (non-ELF) image of `len` bytes with an a.out-kludge header at `hoff`. */
static size_t kludge_image(size_t hoff, size_t len, uint32_t bss)
{
	size_t i;
	uint32_t addr[5] = {
		KLUDGE_BASE + (uint32_t)hoff,		/* header_addr */
		KLUDGE_BASE,				/* load_addr */
		0,					/* load_end_addr: to end of file */
		bss ? KLUDGE_BASE + (uint32_t)len + bss : 0,
		KLUDGE_BASE + (uint32_t)hoff + 32,	/* entry */
	};

	for (i = 0; i < len; i++)
		img[i] = (uint8_t)(i * 3 + 1);
	mb_header(img + hoff, MB_KLUDGE_FLAGS, addr);
	return len;
}
/* An ELF32 multiboot kernel as kvm-unit-tests links them: header first in .text. */
static size_t elf_image(uint32_t flags)
{
	uint8_t text[256];
	struct tseg s = { PT_LOAD, ELF_BASE, text, sizeof(text), 0x2000 };
	size_t i;

	for (i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)(0x90 + i);
	mb_header(text, flags, NULL);
	return elf_build(img, sizeof(img), ELFCLASS32, EM_386, ELF_BASE + 12, &s, 1);
}

Test(multiboot, header_at_4096_is_found)
{
	size_t len = kludge_image(4096, 6000, 0);
	struct boot_entry be;
	struct err e = { 0 };

	cr_expect_eq(boot_detect(img, len), BOOT_MULTIBOOT);
	cr_assert_eq(load_multiboot(&t.gm, img, len, NULL, &be, &e), 0, "%s", e.msg);
	cr_expect_eq(be.rip, KLUDGE_BASE + 4096 + 32);
}

Test(multiboot, header_at_8192_is_not_found)
{
	size_t len = kludge_image(8192, 9000, 0);
	struct boot_entry be;
	struct err e = { 0 };

	cr_expect_eq(boot_detect(img, len), BOOT_AUTO);
	cr_expect_eq(load_multiboot(&t.gm, img, len, NULL, &be, &e), -ENOEXEC);
	cr_expect_eq(boot_load(&t.gm, BOOT_AUTO, img, len, NULL, &be, &e), -ENOEXEC);
	cr_expect_str_eq(e.msg, "not a bzImage, ELF or multiboot image");
}

Test(multiboot, header_cut_by_8192_limit_is_not_used)
{
	/* magic+flags+checksum fit, the five address fields would not. */
	size_t len = kludge_image(8180, 9000, 0);
	struct boot_entry be;
	struct err e = { 0 };

	cr_expect_eq(load_multiboot(&t.gm, img, len, NULL, &be, &e), -ENOEXEC);
}

Test(multiboot, unaligned_header_is_not_found)
{
	size_t len = kludge_image(4098, 6000, 0);
	struct boot_entry be;
	struct err e = { 0 };

	cr_expect_eq(load_multiboot(&t.gm, img, len, NULL, &be, &e), -ENOEXEC);
}

Test(multiboot, bad_checksum_is_refused)
{
	size_t len = kludge_image(0, 4000, 0);
	struct boot_entry be;
	struct err e = { 0 };

	img[8] ^= 1;
	cr_expect_eq(boot_detect(img, len), BOOT_AUTO);
	cr_expect_eq(load_multiboot(&t.gm, img, len, NULL, &be, &e), -ENOEXEC);
	cr_expect(strstr(e.msg, "checksum"), "%s", e.msg);
}

Test(multiboot, unsupported_required_flag_is_refused)
{
	size_t len = elf_image(1u << 3);
	struct boot_entry be;
	struct err e = { 0 };

	cr_expect_eq(load_multiboot(&t.gm, img, len, NULL, &be, &e), -ENOEXEC);
	cr_expect(strstr(e.msg, "unsupported"), "%s", e.msg);
}

Test(multiboot, video_mode_request_is_ignored)
{
	size_t len = elf_image(1u << 2);
	struct boot_entry be;
	struct err e = { 0 };

	cr_expect_eq(load_multiboot(&t.gm, img, len, NULL, &be, &e), 0, "%s", e.msg);
}

Test(multiboot, raw_image_without_address_fields_is_refused)
{
	struct boot_entry be;
	struct err e = { 0 };

	memset(img, 0x90, 4096);
	mb_header(img, 3, NULL);
	cr_expect_eq(boot_detect(img, 4096), BOOT_AUTO);
	cr_expect_eq(load_multiboot(&t.gm, img, 4096, NULL, &be, &e), -ENOEXEC);
}

Test(multiboot, elf32_image_loads_with_info)
{
	static const char cmdline[] = "x86/apic.flat -smp 1";
	size_t len = elf_image(3);
	struct boot_args a = { .cmdline = cmdline };
	struct boot_entry be;
	struct err e = { 0 };
	struct t_mb_info *mi;
	struct t_mb_mmap *mm;
	uint8_t *g = tgm_ptr(&t, ELF_BASE, 0x2000);
	size_t i;

	memset(g, 0xcc, 0x2000);
	cr_assert_eq(boot_detect(img, len), BOOT_MULTIBOOT);
	cr_assert_eq(boot_load(&t.gm, BOOT_AUTO, img, len, &a, &be, &e), 0, "%s", e.msg);
	cr_expect_eq(be.proto, BOOT_MULTIBOOT);
	cr_expect_eq(be.rip, ELF_BASE + 12);
	cr_expect_eq(be.info, LAYOUT_BOOT_INFO);
	cr_expect_eq(g[12], 0x90 + 12);
	for (i = 256; i < 0x2000; i++)
		cr_assert_eq(g[i], 0, "bss at +0x%zx not zeroed", i);

	mi = tgm_ptr(&t, LAYOUT_BOOT_INFO, sizeof(*mi));
	cr_expect_eq(mi->flags, (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9));
	cr_expect_eq(mi->mem_lower, 640);
	cr_expect_eq(mi->mem_upper, (T_LOW_RAM - MiB(1)) / 1024);
	cr_expect_eq(mi->cmdline, LAYOUT_CMDLINE);
	cr_expect_str_eq((char *)tgm_ptr(&t, mi->cmdline, sizeof(cmdline)), cmdline);
	cr_expect_str_eq((char *)tgm_ptr(&t, mi->boot_loader_name, 4), "vmm");
	cr_expect_eq(mi->mods_count, 0);

	cr_assert_eq(mi->mmap_length, 3 * sizeof(*mm));
	mm = tgm_ptr(&t, mi->mmap_addr, mi->mmap_length);
	for (i = 0; i < 3; i++)
		cr_expect_eq(mm[i].size, 20);
	cr_expect_eq(mm[0].addr, 0);
	cr_expect_eq(mm[0].len, 0x9fc00);
	cr_expect_eq(mm[0].type, 1);
	cr_expect_eq(mm[1].addr, 0x9fc00);
	cr_expect_eq(mm[1].type, 2);
	cr_expect_eq(mm[2].addr, MiB(1));
	cr_expect_eq(mm[2].len, T_LOW_RAM - MiB(1));
	cr_expect_eq(mm[2].type, 1);
}

Test(multiboot, aout_kludge_image_loads_with_bss)
{
	size_t len = kludge_image(0, 3000, 0x1000);
	struct boot_entry be;
	struct err e = { 0 };
	uint8_t *g = tgm_ptr(&t, KLUDGE_BASE, 3000 + 0x1000 + 16);
	size_t i;

	memset(g, 0xcc, 3000 + 0x1000 + 16);
	cr_assert_eq(boot_detect(img, len), BOOT_MULTIBOOT);
	cr_assert_eq(boot_load(&t.gm, BOOT_AUTO, img, len, NULL, &be, &e), 0, "%s", e.msg);
	cr_expect_eq(be.proto, BOOT_MULTIBOOT);
	cr_expect_eq(be.rip, KLUDGE_BASE + 32);
	cr_expect_arr_eq(g, img, 3000);
	for (i = 3000; i < 3000 + 0x1000; i++)
		cr_assert_eq(g[i], 0, "bss at +0x%zx not zeroed", i);
	cr_expect_eq(g[3000 + 0x1000], 0xcc);
}

Test(multiboot, aout_kludge_load_end_limits_copy)
{
	uint32_t addr[5] = { KLUDGE_BASE, KLUDGE_BASE, KLUDGE_BASE + 1000, 0, KLUDGE_BASE + 32 };
	uint8_t *g = tgm_ptr(&t, KLUDGE_BASE, 2000);
	struct boot_entry be;
	struct err e = { 0 };

	memset(img, 0x11, 3000);
	mb_header(img, MB_KLUDGE_FLAGS, addr);
	memset(g, 0xcc, 2000);
	cr_assert_eq(load_multiboot(&t.gm, img, 3000, NULL, &be, &e), 0, "%s", e.msg);
	cr_expect_eq(g[999], 0x11);
	cr_expect_eq(g[1000], 0xcc);
}

Test(multiboot, aout_kludge_load_addr_above_header_addr_is_refused)
{
	uint32_t addr[5] = { KLUDGE_BASE, KLUDGE_BASE + 16, 0, 0, KLUDGE_BASE + 32 };
	struct boot_entry be;
	struct err e = { 0 };

	memset(img, 0, 4096);
	mb_header(img, MB_KLUDGE_FLAGS, addr);
	cr_expect_eq(load_multiboot(&t.gm, img, 4096, NULL, &be, &e), -EINVAL);
}

Test(multiboot, aout_kludge_load_addr_before_file_start_is_refused)
{
	/* Header at file offset 0 claims to be 0x100 bytes into the image. */
	uint32_t addr[5] = { KLUDGE_BASE + 0x100, KLUDGE_BASE, 0, 0, KLUDGE_BASE + 0x120 };
	struct boot_entry be;
	struct err e = { 0 };

	memset(img, 0, 4096);
	mb_header(img, MB_KLUDGE_FLAGS, addr);
	cr_expect_eq(load_multiboot(&t.gm, img, 4096, NULL, &be, &e), -EINVAL);
}

Test(multiboot, aout_kludge_load_end_beyond_file_is_refused)
{
	uint32_t addr[5] = { KLUDGE_BASE, KLUDGE_BASE, KLUDGE_BASE + 8192, 0, KLUDGE_BASE + 32 };
	struct boot_entry be;
	struct err e = { 0 };

	memset(img, 0, 4096);
	mb_header(img, MB_KLUDGE_FLAGS, addr);
	cr_expect_eq(load_multiboot(&t.gm, img, 4096, NULL, &be, &e), -EINVAL);
}

Test(multiboot, aout_kludge_bss_end_below_image_end_is_refused)
{
	uint32_t addr[5] = { KLUDGE_BASE, KLUDGE_BASE, 0, KLUDGE_BASE + 100, KLUDGE_BASE + 32 };
	struct boot_entry be;
	struct err e = { 0 };

	memset(img, 0, 4096);
	mb_header(img, MB_KLUDGE_FLAGS, addr);
	cr_expect_eq(load_multiboot(&t.gm, img, 4096, NULL, &be, &e), -EINVAL);
}

Test(multiboot, aout_kludge_in_mmio_hole_is_refused)
{
	uint32_t addr[5] = { 0xd0000000, 0xd0000000, 0, 0, 0xd0000020 };
	struct boot_entry be;
	struct err e = { 0 };

	memset(img, 0, 4096);
	mb_header(img, MB_KLUDGE_FLAGS, addr);
	cr_expect_eq(load_multiboot(&t.gm, img, 4096, NULL, &be, &e), -EINVAL);
}

Test(multiboot, aout_kludge_entry_outside_image_is_refused)
{
	uint32_t addr[5] = { KLUDGE_BASE, KLUDGE_BASE, 0, 0, KLUDGE_BASE + 4096 };
	struct boot_entry be;
	struct err e = { 0 };

	memset(img, 0, 4096);
	mb_header(img, MB_KLUDGE_FLAGS, addr);
	cr_expect_eq(load_multiboot(&t.gm, img, 4096, NULL, &be, &e), -ENOEXEC);
}

Test(multiboot, modules_copied_page_aligned_with_strings)
{
	uint8_t m0[5000], m1[100];
	struct boot_module mods[2] = {
		{ .data = m0, .len = sizeof(m0), .cmdline = "initrd.img" },
		{ .data = m1, .len = sizeof(m1), .cmdline = NULL },
	};
	struct boot_args a = { .modules = mods, .nr_modules = 2 };
	size_t len = elf_image(3);
	struct boot_entry be;
	struct err e = { 0 };
	struct t_mb_info *mi;
	struct t_mb_mod *mm;

	memset(m0, 0xab, sizeof(m0));
	memset(m1, 0xcd, sizeof(m1));
	cr_assert_eq(boot_load(&t.gm, BOOT_MULTIBOOT, img, len, &a, &be, &e), 0, "%s", e.msg);
	mi = tgm_ptr(&t, LAYOUT_BOOT_INFO, sizeof(*mi));
	cr_expect(mi->flags & (1u << 3));
	cr_assert_eq(mi->mods_count, 2);
	mm = tgm_ptr(&t, mi->mods_addr, 2 * sizeof(*mm));

	/* Kernel occupies [4 MiB, 4 MiB + 8 KiB): modules follow, page aligned, in order. */
	cr_expect_eq(mm[0].mod_start, ELF_BASE + 0x2000);
	cr_expect_eq(mm[0].mod_end, mm[0].mod_start + sizeof(m0));
	cr_expect_eq(mm[1].mod_start, (mm[0].mod_end + 0xfff) & ~0xfffu);
	cr_expect_eq(mm[1].mod_end, mm[1].mod_start + sizeof(m1));
	cr_expect_arr_eq(tgm_ptr(&t, mm[0].mod_start, sizeof(m0)), m0, sizeof(m0));
	cr_expect_arr_eq(tgm_ptr(&t, mm[1].mod_start, sizeof(m1)), m1, sizeof(m1));
	cr_expect_str_eq((char *)tgm_ptr(&t, mm[0].string, 11), "initrd.img");
	cr_expect_str_eq((char *)tgm_ptr(&t, mm[1].string, 1), "");
}

Test(multiboot, module_that_does_not_fit_is_refused)
{
	size_t n = MiB(62);
	uint8_t *big = calloc(1, n);
	struct boot_module mod = { .data = big, .len = n };
	struct boot_args a = { .modules = &mod, .nr_modules = 1 };
	size_t len = elf_image(3);
	struct boot_entry be;
	struct err e = { 0 };

	cr_assert_not_null(big);
	cr_expect_eq(load_multiboot(&t.gm, img, len, &a, &be, &e), -ENOMEM);
	cr_expect(strstr(e.msg, "does not fit"), "%s", e.msg);
	free(big);
}

Test(multiboot, too_many_modules_for_scratch_area_is_refused)
{
	static struct boot_module mods[10000];
	struct boot_args a = { .modules = mods, .nr_modules = 10000 };
	size_t len = elf_image(3);
	struct boot_entry be;
	struct err e = { 0 };

	cr_expect_eq(load_multiboot(&t.gm, img, len, &a, &be, &e), -E2BIG);
}
