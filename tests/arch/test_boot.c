// SPDX-License-Identifier: MIT
#include <errno.h>

#include "test_load_util.h"

static uint8_t img[32 * 1024];

Test(boot_detect, each_format_is_recognised)
{
	uint8_t kern[64] = { 0 }, note[32];
	struct tseg seg = { PT_LOAD, 0x1000000, kern, sizeof(kern), sizeof(kern) };
	struct tseg pvh[2] = { { PT_LOAD, 0x100000, kern, sizeof(kern), sizeof(kern) },
			       { PT_NOTE, 0, note, 0, 0 } };
	uint32_t addr[5] = { 0x200000, 0x200000, 0, 0, 0x200020 };
	size_t len;

	len = bz_build(img, sizeof(img), kern, sizeof(kern));
	cr_expect_eq(boot_detect(img, len), BOOT_LINUX64, "bzImage");

	len = elf_build(img, sizeof(img), ELFCLASS64, EM_X86_64, 0x1000000, &seg, 1);
	cr_expect_eq(boot_detect(img, len), BOOT_LINUX64, "vmlinux");

	pvh[1].filesz = pvh_note(note, 0x100000, 4);
	len = elf_build(img, sizeof(img), ELFCLASS32, EM_386, 0x100000, pvh, 2);
	cr_expect_eq(boot_detect(img, len), BOOT_PVH, "ELF32 + PVH note");

	mb_header(kern, 3, NULL);
	seg.paddr = 0x400000;
	len = elf_build(img, sizeof(img), ELFCLASS32, EM_386, 0x400000, &seg, 1);
	cr_expect_eq(boot_detect(img, len), BOOT_MULTIBOOT, "ELF32 + multiboot header");
	len = elf_build(img, sizeof(img), ELFCLASS64, EM_X86_64, 0x400000, &seg, 1);
	cr_expect_eq(boot_detect(img, len), BOOT_MULTIBOOT, "ELF64 + multiboot header");

	memset(img, 0, 4096);
	mb_header(img + 64, (1u << 16), addr);
	cr_expect_eq(boot_detect(img, 4096), BOOT_MULTIBOOT, "raw a.out kludge");
}

Test(boot_detect, garbage_is_unknown)
{
	memset(img, 0x5a, sizeof(img));
	cr_expect_eq(boot_detect(img, sizeof(img)), BOOT_AUTO);
	cr_expect_eq(boot_detect(img, 0), BOOT_AUTO);
	cr_expect_eq(boot_detect(NULL, 100), BOOT_AUTO);
	memcpy(img, ELFMAG, SELFMAG);
	cr_expect_eq(boot_detect(img, SELFMAG + 1), BOOT_AUTO, "ELF magic but truncated header");
}

Test(boot_detect, elf32_without_note_or_header_is_unknown)
{
	uint8_t kern[64] = { 0 };
	struct tseg seg = { PT_LOAD, 0x100000, kern, sizeof(kern), sizeof(kern) };
	size_t len = elf_build(img, sizeof(img), ELFCLASS32, EM_386, 0x100000, &seg, 1);
	struct gmem gm;
	struct boot_entry be;
	struct err e = { 0 };

	gm_init(&gm);
	cr_expect_eq(boot_detect(img, len), BOOT_AUTO);
	cr_expect_eq(boot_load(&gm, BOOT_AUTO, img, len, NULL, &be, &e), -ENOEXEC);
	cr_expect_str_eq(e.msg, "not a bzImage, ELF or multiboot image");
}

Test(boot_load, multiboot_asked_for_vmlinux_is_refused)
{
	uint8_t kern[64] = { 0 };
	struct tseg seg = { PT_LOAD, 0x1000000, kern, sizeof(kern), sizeof(kern) };
	size_t len = elf_build(img, sizeof(img), ELFCLASS64, EM_X86_64, 0x1000000, &seg, 1);
	struct tgm t;
	struct boot_entry be;
	struct err e = { 0 };

	tgm_setup(&t, T_LOW_RAM, 0);
	cr_expect_eq(boot_load(&t.gm, BOOT_MULTIBOOT, img, len, NULL, &be, &e), -ENOEXEC);
	tgm_teardown(&t);
}

Test(boot_load, missing_arguments_are_refused)
{
	struct gmem gm;
	struct boot_entry be;
	struct err e = { 0 };

	gm_init(&gm);
	cr_expect_eq(boot_load(&gm, BOOT_AUTO, NULL, 0, NULL, &be, &e), -EINVAL);
	cr_expect_eq(boot_load(&gm, BOOT_AUTO, img, 0, NULL, NULL, &e), -EINVAL);
}

Test(boot_proto, names)
{
	cr_expect_str_eq(boot_proto_name(BOOT_LINUX64), "linux64");
	cr_expect_str_eq(boot_proto_name(BOOT_PVH), "pvh");
	cr_expect_str_eq(boot_proto_name(BOOT_MULTIBOOT), "multiboot");
	cr_expect_str_eq(boot_proto_name(BOOT_AUTO), "auto");
	cr_expect_str_eq(boot_proto_name((enum boot_proto)42), "unknown");
}

Test(e820, low_ram_is_split_around_bios_area)
{
	struct tgm t;
	struct e820_ent m[E820_MAX];

	tgm_setup(&t, T_LOW_RAM, T_HIGH_RAM);
	cr_assert_eq(x86_e820(&t.gm, m, E820_MAX), 4);
	cr_expect_eq(m[0].addr, 0);
	cr_expect_eq(m[0].size, LAYOUT_EBDA);
	cr_expect_eq(m[0].type, E820_RAM);
	cr_expect_eq(m[1].addr, LAYOUT_EBDA);
	cr_expect_eq(m[1].size, LAYOUT_BIOS_END - LAYOUT_EBDA);
	cr_expect_eq(m[1].type, E820_RESERVED);
	cr_expect_eq(m[2].addr, LAYOUT_HIMEM);
	cr_expect_eq(m[2].size, T_LOW_RAM - LAYOUT_HIMEM);
	cr_expect_eq(m[2].type, E820_RAM);
	cr_expect_eq(m[3].addr, LAYOUT_HIGH_RAM);
	cr_expect_eq(m[3].size, T_HIGH_RAM);
	cr_expect_eq(m[3].type, E820_RAM);
	tgm_teardown(&t);
}

Test(e820, adjacent_regions_are_merged)
{
	static uint8_t a[MiB(2)] __attribute__((aligned(4096)));
	static uint8_t b[MiB(2)] __attribute__((aligned(4096)));
	struct gmem gm;
	struct e820_ent m[E820_MAX];

	gm_init(&gm);
	cr_assert_eq(gm_add_region(&gm, MiB(2), sizeof(b), b, -1, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0, sizeof(a), a, -1, 0), 0);
	cr_assert_eq(x86_e820(&gm, m, E820_MAX), 3);
	cr_expect_eq(m[2].addr, LAYOUT_HIMEM);
	cr_expect_eq(m[2].size, MiB(4) - LAYOUT_HIMEM);
}

Test(e820, table_too_small_is_refused)
{
	struct tgm t;
	struct e820_ent m[3];

	tgm_setup(&t, T_LOW_RAM, T_HIGH_RAM);
	cr_expect_eq(x86_e820(&t.gm, m, 3), -E2BIG);
	cr_expect_eq(x86_e820(&t.gm, m, 0), -E2BIG);
	tgm_teardown(&t);
}

Test(e820, empty_memory_has_no_entries)
{
	struct gmem gm;
	struct e820_ent m[E820_MAX];

	gm_init(&gm);
	cr_expect_eq(x86_e820(&gm, m, E820_MAX), 0);
}
