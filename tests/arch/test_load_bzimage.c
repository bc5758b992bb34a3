// SPDX-License-Identifier: MIT
#include <errno.h>

#include "test_load_util.h"

static struct tgm t;
static uint8_t img[64 * 1024];
static uint8_t kern[4000];
static size_t len;

static void setup(void)
{
	size_t i;

	tgm_setup(&t, T_LOW_RAM, 0);
	for (i = 0; i < sizeof(kern); i++)
		kern[i] = (uint8_t)(i * 7 + 1);
	len = bz_build(img, sizeof(img), kern, sizeof(kern));
}

static void teardown(void)
{
	tgm_teardown(&t);
}

static int load(const struct boot_args *a, struct boot_entry *be, struct err *e)
{
	return load_bzimage(&t.gm, img, len, a, be, e);
}

static struct boot_params *zero_page(void)
{
	return tgm_ptr(&t, LAYOUT_BOOT_INFO, sizeof(struct boot_params));
}

TestSuite(bzimage, .init = setup, .fini = teardown);

Test(bzimage, minimal_image_loads_with_zero_page_filled)
{
	static const char cmdline[] = "console=ttyS0 root=/dev/vda";
	uint8_t initrd[10000];
	struct boot_args a = { .cmdline = cmdline, .initrd = initrd,
			       .initrd_len = sizeof(initrd), .acpi_rsdp = 0xe0000 };
	struct boot_entry be;
	struct err e = { 0 };
	struct boot_params *bp;
	uint64_t want_initrd;
	size_t i;

	for (i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	memset(tgm_ptr(&t, LAYOUT_CMDLINE, 4096), 'X', 4096);
	cr_assert_eq(load(&a, &be, &e), 0, "%s", e.msg);

	cr_expect_eq(be.proto, BOOT_LINUX64);
	cr_expect_eq(be.rip, 0x1000000 + 0x200);
	cr_expect_eq(be.info, LAYOUT_BOOT_INFO);
	cr_expect_arr_eq(tgm_ptr(&t, 0x1000000, sizeof(kern)), kern, sizeof(kern));

	bp = zero_page();
	cr_expect_eq(bp->hdr.boot_flag, 0xaa55);
	cr_expect_eq(bp->hdr.header, 0x53726448);
	cr_expect_eq(bp->hdr.type_of_loader, 0xff);
	cr_expect(bp->hdr.loadflags & CAN_USE_HEAP);
	cr_expect(bp->hdr.loadflags & LOADED_HIGH);
	cr_expect_eq(bp->hdr.cmd_line_ptr, LAYOUT_CMDLINE);
	cr_expect_eq(bp->ext_cmd_line_ptr, 0);
	cr_expect_str_eq((char *)tgm_ptr(&t, LAYOUT_CMDLINE, sizeof(cmdline)), cmdline);
	cr_expect_eq(bp->acpi_rsdp_addr, 0xe0000);

	cr_expect_eq(bp->e820_entries, 3);
	cr_expect_eq(bp->e820_table[0].addr, 0);
	cr_expect_eq(bp->e820_table[0].size, 0x9fc00);
	cr_expect_eq(bp->e820_table[0].type, E820_RAM);
	cr_expect_eq(bp->e820_table[1].addr, 0x9fc00);
	cr_expect_eq(bp->e820_table[1].size, 0x100000 - 0x9fc00);
	cr_expect_eq(bp->e820_table[1].type, E820_RESERVED);
	cr_expect_eq(bp->e820_table[2].addr, 0x100000);
	cr_expect_eq(bp->e820_table[2].size, T_LOW_RAM - 0x100000);
	cr_expect_eq(bp->e820_table[2].type, E820_RAM);

	/* initrd_addr_max (2 GiB) is above RAM: the initrd ends at the top of RAM. */
	want_initrd = (T_LOW_RAM - sizeof(initrd)) & ~0xfffull;
	cr_expect_eq(bp->hdr.ramdisk_image, want_initrd);
	cr_expect_eq(bp->ext_ramdisk_image, 0);
	cr_expect_eq(bp->hdr.ramdisk_size, sizeof(initrd));
	cr_expect_arr_eq(tgm_ptr(&t, want_initrd, sizeof(initrd)), initrd, sizeof(initrd));
}

Test(bzimage, no_cmdline_gives_empty_string)
{
	struct boot_entry be;
	struct err e = { 0 };

	memset(tgm_ptr(&t, LAYOUT_CMDLINE, 16), 'X', 16);
	cr_assert_eq(load(NULL, &be, &e), 0, "%s", e.msg);
	cr_expect_eq(*(char *)tgm_ptr(&t, LAYOUT_CMDLINE, 1), '\0');
	cr_expect_eq(zero_page()->hdr.ramdisk_image, 0);
}

Test(bzimage, initrd_stays_below_initrd_addr_max)
{
	uint8_t initrd[5000] = { 1, 2, 3 };
	struct boot_args a = { .initrd = initrd, .initrd_len = sizeof(initrd) };
	struct boot_entry be;
	struct err e = { 0 };
	uint64_t want = (0x2000000 - sizeof(initrd)) & ~0xfffull;

	bz_hdr(img)->initrd_addr_max = 0x1ffffff;
	cr_assert_eq(load(&a, &be, &e), 0, "%s", e.msg);
	cr_expect_eq(zero_page()->hdr.ramdisk_image, want);
	cr_expect_leq(want + sizeof(initrd), 0x2000000);
	cr_expect_arr_eq(tgm_ptr(&t, want, sizeof(initrd)), initrd, sizeof(initrd));
}

Test(bzimage, cmdline_at_cmdline_size_is_accepted)
{
	char cmd[256];
	struct boot_args a = { .cmdline = cmd };
	struct boot_entry be;
	struct err e = { 0 };

	memset(cmd, 'a', 255);
	cmd[255] = 0;
	bz_hdr(img)->cmdline_size = 255;
	cr_assert_eq(load(&a, &be, &e), 0, "%s", e.msg);
	cr_expect_str_eq((char *)tgm_ptr(&t, LAYOUT_CMDLINE, 256), cmd);
}

Test(bzimage, cmdline_longer_than_cmdline_size_is_refused)
{
	char cmd[257];
	struct boot_args a = { .cmdline = cmd };
	struct boot_entry be;
	struct err e = { 0 };

	memset(cmd, 'a', 256);
	cmd[256] = 0;
	bz_hdr(img)->cmdline_size = 255;
	cr_expect_eq(load(&a, &be, &e), -E2BIG);
	cr_expect_eq(e.code, -E2BIG);
}

Test(bzimage, cmdline_longer_than_layout_max_is_refused)
{
	static char cmd[LAYOUT_CMDLINE_MAX + 10];
	struct boot_args a = { .cmdline = cmd };
	struct boot_entry be;
	struct err e = { 0 };

	memset(cmd, 'a', LAYOUT_CMDLINE_MAX);
	bz_hdr(img)->cmdline_size = 0xffffffff;
	cr_expect_eq(load(&a, &be, &e), -E2BIG);
}

Test(bzimage, truncated_image_is_refused)
{
	struct boot_entry be;
	struct err e = { 0 };

	len -= 32;
	cr_expect_eq(load(NULL, &be, &e), -EINVAL);
	cr_expect(strstr(e.msg, "truncated"), "%s", e.msg);
}

Test(bzimage, image_shorter_than_setup_is_refused)
{
	struct boot_entry be;
	struct err e = { 0 };

	len = T_BZ_SETUP_SIZE - 1;
	cr_expect_eq(load(NULL, &be, &e), -EINVAL);
	len = 0x100;
	cr_expect_eq(load(NULL, &be, &e), -EINVAL);
}

Test(bzimage, missing_aa55_is_refused)
{
	struct boot_entry be;
	struct err e = { 0 };

	bz_hdr(img)->boot_flag = 0xaa56;
	cr_expect_eq(load(NULL, &be, &e), -ENOEXEC);
}

Test(bzimage, missing_hdrs_is_refused)
{
	struct boot_entry be;
	struct err e = { 0 };

	img[0x202] = 'h';
	cr_expect_eq(load(NULL, &be, &e), -ENOEXEC);
}

Test(bzimage, protocol_2_11_is_refused)
{
	struct boot_entry be;
	struct err e = { 0 };

	bz_hdr(img)->version = 0x020b;
	cr_expect_eq(load(NULL, &be, &e), -ENOEXEC);
	cr_expect(strstr(e.msg, "2.11"), "%s", e.msg);
}

Test(bzimage, kernel_without_xlf_kernel_64_is_refused)
{
	struct boot_entry be;
	struct err e = { 0 };

	bz_hdr(img)->xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;
	cr_expect_eq(load(NULL, &be, &e), -ENOEXEC);
	cr_expect_str_eq(e.msg, "kernel does not support the 64-bit boot protocol");
}

Test(bzimage, kernel_bigger_than_ram_is_refused)
{
	struct boot_entry be;
	struct err e = { 0 };

	bz_hdr(img)->init_size = (uint32_t)T_LOW_RAM;
	cr_expect_eq(load(NULL, &be, &e), -ENOMEM);
}

Test(bzimage, pref_address_in_mmio_hole_is_refused)
{
	struct boot_entry be;
	struct err e = { 0 };

	bz_hdr(img)->pref_address = 0xd0000000;
	cr_expect_eq(load(NULL, &be, &e), -ENOMEM);
}

Test(bzimage, unaligned_pref_address_is_rounded_up_to_kernel_alignment)
{
	struct boot_entry be;
	struct err e = { 0 };

	bz_hdr(img)->pref_address = 0x1000001;
	cr_assert_eq(load(NULL, &be, &e), 0, "%s", e.msg);
	cr_expect_eq(be.rip, 0x1200000 + 0x200);
}

Test(bzimage, kernel_alignment_not_power_of_two_is_refused)
{
	struct boot_entry be;
	struct err e = { 0 };

	bz_hdr(img)->kernel_alignment = 0x300000;
	cr_expect_eq(load(NULL, &be, &e), -EINVAL);
}

Test(bzimage, initrd_that_does_not_fit_is_refused)
{
	/* 64 MiB of RAM, kernel up to 18 MiB: 60 MiB cannot fit above it. */
	size_t n = MiB(60);
	uint8_t *initrd = calloc(1, n);
	struct boot_args a = { .initrd = initrd, .initrd_len = n };
	struct boot_entry be;
	struct err e = { 0 };

	cr_assert_not_null(initrd);
	cr_expect_eq(load(&a, &be, &e), -ENOMEM);
	cr_expect(strstr(e.msg, "does not fit below"), "%s", e.msg);
	free(initrd);
}

Test(bzimage, initrd_below_kernel_end_is_refused)
{
	/* initrd_addr_max inside the kernel's init_size: nowhere to go. */
	uint8_t initrd[4096] = { 0 };
	struct boot_args a = { .initrd = initrd, .initrd_len = sizeof(initrd) };
	struct boot_entry be;
	struct err e = { 0 };

	bz_hdr(img)->initrd_addr_max = 0x1100000;
	cr_expect_eq(load(&a, &be, &e), -ENOMEM);
}

Test(bzimage, ram_smaller_than_zero_page_area_fails_cleanly)
{
	struct tgm small;
	struct boot_entry be;
	struct err e = { 0 };

	tgm_setup(&small, MiB(1), 0);
	cr_expect_eq(load_bzimage(&small.gm, img, len, NULL, &be, &e), -ENOMEM);
	tgm_teardown(&small);
}
