// SPDX-License-Identifier: MIT
#include <errno.h>

#include "test_load_util.h"

#define XEN_HVM_START_MAGIC	0x336ec578u

static struct tgm t;
static uint8_t img[64 * 1024];
static uint8_t text[0x300];

struct t_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct t_memmap {
	uint64_t addr, size;
	uint32_t type, reserved;
};
struct t_mod {
	uint64_t paddr, size, cmdline_paddr, reserved;
};

static void setup(void)
{
	size_t i;

	tgm_setup(&t, T_LOW_RAM, T_HIGH_RAM);
	for (i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)(i * 13 + 5);
}

static void teardown(void)
{
	tgm_teardown(&t);
}

/* A one-segment vmlinux: text at `paddr`, bss after it. */
static size_t vmlinux(uint64_t paddr, uint64_t filesz, uint64_t memsz, uint64_t entry)
{
	struct tseg s = { PT_LOAD, paddr, text, filesz, memsz };

	return elf_build(img, sizeof(img), ELFCLASS64, EM_X86_64, entry, &s, 1);
}

static int load64(size_t len, struct err *e)
{
	struct boot_entry be;

	return load_elf(&t.gm, BOOT_LINUX64, img, len, NULL, &be, e);
}

TestSuite(elf, .init = setup, .fini = teardown);

Test(elf, vmlinux_loads_with_bss_zeroed_and_zero_page_synthesised)
{
	static const char cmdline[] = "console=ttyS0 panic=-1";
	uint8_t initrd[3000];
	struct boot_args a = { .cmdline = cmdline, .initrd = initrd,
			       .initrd_len = sizeof(initrd), .acpi_rsdp = 0xe0000 };
	size_t len = vmlinux(0x1000000, sizeof(text), 0x2000, 0xffffffff81000010ull);
	struct boot_entry be;
	struct err e = { 0 };
	struct boot_params *bp;
	uint8_t *g = tgm_ptr(&t, 0x1000000, 0x3000);
	uint64_t want_initrd = (T_LOW_RAM - sizeof(initrd)) & ~0xfffull;
	size_t i;

	memset(initrd, 0xa5, sizeof(initrd));
	memset(g, 0xcc, 0x3000);
	cr_assert_eq(load_elf(&t.gm, BOOT_LINUX64, img, len, &a, &be, &e), 0, "%s", e.msg);
	cr_expect_eq(be.proto, BOOT_LINUX64);
	cr_expect_eq(be.rip, 0x1000010, "virtual e_entry is made physical");
	cr_expect_eq(be.info, LAYOUT_BOOT_INFO);
	cr_expect_arr_eq(g, text, sizeof(text));
	for (i = sizeof(text); i < 0x2000; i++)
		cr_assert_eq(g[i], 0, "bss byte at +0x%zx not zeroed", i);
	cr_expect_eq(g[0x2000], 0xcc, "bytes past memsz are untouched");

	bp = tgm_ptr(&t, LAYOUT_BOOT_INFO, sizeof(*bp));
	cr_expect_eq(bp->hdr.boot_flag, 0xaa55);
	cr_expect_eq(bp->hdr.header, 0x53726448);
	cr_expect_eq(bp->hdr.version, 0x020f);
	cr_expect_eq(bp->hdr.type_of_loader, 0xff);
	cr_expect_eq(bp->hdr.kernel_alignment, 0x1000000);
	cr_expect_eq(bp->hdr.cmd_line_ptr, LAYOUT_CMDLINE);
	cr_expect_str_eq((char *)tgm_ptr(&t, LAYOUT_CMDLINE, sizeof(cmdline)), cmdline);
	cr_expect_eq(bp->acpi_rsdp_addr, 0xe0000);
	cr_expect_eq(bp->hdr.ramdisk_image, want_initrd);
	cr_expect_eq(bp->hdr.ramdisk_size, sizeof(initrd));
	cr_expect_arr_eq(tgm_ptr(&t, want_initrd, sizeof(initrd)), initrd, sizeof(initrd));
	/* Low RAM split around the BIOS area, plus the region at 4 GiB. */
	cr_expect_eq(bp->e820_entries, 4);
	cr_expect_eq(bp->e820_table[3].addr, LAYOUT_HIGH_RAM);
	cr_expect_eq(bp->e820_table[3].size, T_HIGH_RAM);
	cr_expect_eq(bp->e820_table[3].type, E820_RAM);
}

Test(elf, physical_entry_is_kept)
{
	size_t len = vmlinux(0x1000000, sizeof(text), sizeof(text), 0x1000000);
	struct boot_entry be;
	struct err e = { 0 };

	cr_assert_eq(boot_load(&t.gm, BOOT_AUTO, img, len, NULL, &be, &e), 0, "%s", e.msg);
	cr_expect_eq(be.proto, BOOT_LINUX64);
	cr_expect_eq(be.rip, 0x1000000);
}

Test(elf, segment_outside_ram_is_refused)
{
	struct err e = { 0 };

	cr_expect_eq(load64(vmlinux(0x8000000, 0x100, 0x100, 0x8000000), &e), -EINVAL);
	cr_expect(strstr(e.msg, "not inside guest RAM"), "%s", e.msg);
}

Test(elf, segment_straddling_end_of_ram_is_refused)
{
	struct err e = { 0 };

	cr_expect_eq(load64(vmlinux(T_LOW_RAM - 0x100, 0x100, 0x200, T_LOW_RAM - 0x100), &e),
		     -EINVAL);
}

Test(elf, segment_in_mmio_hole_is_refused)
{
	struct err e = { 0 };

	cr_expect_eq(load64(vmlinux(0xd0000000, 0x100, 0x100, 0xd0000000), &e), -EINVAL);
	cr_expect(strstr(e.msg, "MMIO hole"), "%s", e.msg);
}

Test(elf, segment_in_high_ram_is_refused)
{
	/* RAM, but above what the 32-bit and identity-mapped entries can reach. */
	struct err e = { 0 };

	cr_expect_eq(load64(vmlinux(LAYOUT_HIGH_RAM, 0x100, 0x100, LAYOUT_HIGH_RAM), &e), -EINVAL);
}

Test(elf, segment_over_boot_data_below_1mib_is_refused)
{
	struct err e = { 0 };

	cr_expect_eq(load64(vmlinux(LAYOUT_BOOT_INFO, 0x100, 0x100, LAYOUT_BOOT_INFO), &e), -EINVAL);
	cr_expect_eq(load64(vmlinux(LAYOUT_CMDLINE, 0x100, 0x100, LAYOUT_CMDLINE), &e), -EINVAL);
	cr_expect_eq(load64(vmlinux(0xff000, 0x100, 0x2000, 0x100000), &e), -EINVAL);
}

Test(elf, filesz_larger_than_memsz_is_refused)
{
	struct err e = { 0 };

	cr_expect_eq(load64(vmlinux(0x1000000, 0x200, 0x100, 0x1000000), &e), -EINVAL);
	cr_expect(strstr(e.msg, "filesz"), "%s", e.msg);
}

Test(elf, file_data_beyond_end_of_file_is_refused)
{
	size_t len = vmlinux(0x1000000, sizeof(text), sizeof(text), 0x1000000);
	struct err e = { 0 };

	cr_expect_eq(load64(len - 1, &e), -EINVAL);
	elf64_phdr(img, 0)->p_offset = UINT64_MAX - 8;
	cr_expect_eq(load64(len, &e), -EINVAL, "offset + filesz wraps");
}

Test(elf, paddr_plus_memsz_wrapping_is_refused)
{
	size_t len = vmlinux(0x1000000, 0x100, 0x100, 0x1000000);
	struct err e = { 0 };

	elf64_phdr(img, 0)->p_paddr = 0xfffffffffffff000ull;
	elf64_phdr(img, 0)->p_memsz = 0x2000;
	cr_expect_eq(load64(len, &e), -EINVAL);
	cr_expect(strstr(e.msg, "wraps"), "%s", e.msg);
}

Test(elf, phdr_table_beyond_end_of_file_is_refused)
{
	size_t len = vmlinux(0x1000000, 0x100, 0x100, 0x1000000);
	struct err e = { 0 };

	((Elf64_Ehdr *)img)->e_phnum = 200;
	cr_expect_eq(load64(len, &e), -EINVAL);
	((Elf64_Ehdr *)img)->e_phnum = 1;
	((Elf64_Ehdr *)img)->e_phoff = UINT64_MAX - 10;
	cr_expect_eq(load64(len, &e), -EINVAL);
}

Test(elf, entry_outside_segments_is_refused)
{
	struct err e = { 0 };

	cr_expect_eq(load64(vmlinux(0x1000000, 0x100, 0x100, 0x2000000), &e), -ENOEXEC);
}

Test(elf, bad_segment_after_good_one_copies_nothing)
{
	struct tseg s[2] = {
		{ PT_LOAD, 0x1000000, text, 0x100, 0x100 },
		{ PT_LOAD, 0xd0000000, text, 0x100, 0x100 },
	};
	size_t len = elf_build(img, sizeof(img), ELFCLASS64, EM_X86_64, 0x1000000, s, 2);
	uint8_t *g = tgm_ptr(&t, 0x1000000, 0x100);
	struct err e = { 0 };

	memset(g, 0xcc, 0x100);
	cr_expect_eq(load64(len, &e), -EINVAL);
	cr_expect_eq(g[0], 0xcc);
}

Test(elf, elf32_is_refused_for_linux64)
{
	struct tseg s = { PT_LOAD, 0x1000000, text, 0x100, 0x100 };
	size_t len = elf_build(img, sizeof(img), ELFCLASS32, EM_386, 0x1000000, &s, 1);
	struct err e = { 0 };

	cr_expect_eq(load64(len, &e), -ENOEXEC);
}

Test(elf, non_x86_machine_is_refused)
{
	struct tseg s = { PT_LOAD, 0x1000000, text, 0x100, 0x100 };
	size_t len = elf_build(img, sizeof(img), ELFCLASS64, EM_AARCH64, 0x1000000, &s, 1);
	struct err e = { 0 };

	cr_expect_eq(load64(len, &e), -ENOEXEC);
}

/* ---- PVH -------------------------------------------------------------------------------- */

static size_t pvh_image(unsigned int cls, uint16_t machine, uint32_t descsz)
{
	uint8_t note[32];
	struct tseg s[2] = {
		{ PT_LOAD, 0x100000, text, sizeof(text), 0x1000 },
		{ PT_NOTE, 0, note, 0, 0 },
	};

	s[1].filesz = pvh_note(note, 0x100040, descsz);
	return elf_build(img, sizeof(img), cls, machine, 0x100000, s, 2);
}

Test(elf, pvh_note_parsed_and_start_info_written)
{
	static const char cmdline[] = "earlyprintk=ttyS0";
	uint8_t initrd[6000];
	struct boot_args a = { .cmdline = cmdline, .initrd = initrd,
			       .initrd_len = sizeof(initrd), .acpi_rsdp = 0xe0000 };
	size_t len = pvh_image(ELFCLASS32, EM_386, 4);
	struct boot_entry be;
	struct err e = { 0 };
	struct t_start_info *si;
	struct t_memmap *mm;
	struct t_mod *mod;

	memset(initrd, 0x3c, sizeof(initrd));
	cr_assert_eq(boot_detect(img, len), BOOT_PVH);
	cr_assert_eq(boot_load(&t.gm, BOOT_AUTO, img, len, &a, &be, &e), 0, "%s", e.msg);
	cr_expect_eq(be.proto, BOOT_PVH);
	cr_expect_eq(be.rip, 0x100040, "entry comes from the note, not e_entry");
	cr_expect_eq(be.info, LAYOUT_BOOT_INFO);
	cr_expect_arr_eq(tgm_ptr(&t, 0x100000, sizeof(text)), text, sizeof(text));

	si = tgm_ptr(&t, LAYOUT_BOOT_INFO, sizeof(*si));
	cr_expect_eq(si->magic, XEN_HVM_START_MAGIC);
	cr_expect_eq(si->version, 1);
	cr_expect_eq(si->rsdp_paddr, 0xe0000);
	cr_expect_eq(si->cmdline_paddr, LAYOUT_CMDLINE);
	cr_expect_str_eq((char *)tgm_ptr(&t, si->cmdline_paddr, sizeof(cmdline)), cmdline);

	cr_assert_eq(si->memmap_entries, 4);
	mm = tgm_ptr(&t, si->memmap_paddr, 4 * sizeof(*mm));
	cr_expect_eq(mm[0].addr, 0);
	cr_expect_eq(mm[0].size, 0x9fc00);
	cr_expect_eq(mm[0].type, E820_RAM);
	cr_expect_eq(mm[1].type, E820_RESERVED);
	cr_expect_eq(mm[2].addr, 0x100000);
	cr_expect_eq(mm[2].size, T_LOW_RAM - 0x100000);
	cr_expect_eq(mm[3].addr, LAYOUT_HIGH_RAM);

	cr_assert_eq(si->nr_modules, 1);
	mod = tgm_ptr(&t, si->modlist_paddr, sizeof(*mod));
	cr_expect_eq(mod->size, sizeof(initrd));
	cr_expect_eq(mod->paddr & 0xfff, 0);
	cr_expect_leq(mod->paddr + mod->size, T_LOW_RAM);
	cr_expect_geq(mod->paddr, 0x101000);
	cr_expect_arr_eq(tgm_ptr(&t, mod->paddr, sizeof(initrd)), initrd, sizeof(initrd));
}

Test(elf, pvh_note_with_8_byte_entry_in_elf64_loads_when_asked)
{
	size_t len = pvh_image(ELFCLASS64, EM_X86_64, 8);
	struct boot_entry be;
	struct err e = { 0 };

	/* Linux's vmlinux carries the note too, but is a 64-bit kernel first. */
	cr_expect_eq(boot_detect(img, len), BOOT_LINUX64);
	cr_assert_eq(boot_load(&t.gm, BOOT_PVH, img, len, NULL, &be, &e), 0, "%s", e.msg);
	cr_expect_eq(be.proto, BOOT_PVH);
	cr_expect_eq(be.rip, 0x100040);
	cr_expect_eq(((struct t_start_info *)tgm_ptr(&t, LAYOUT_BOOT_INFO, 56))->nr_modules, 0);
}

Test(elf, pvh_without_note_is_refused)
{
	struct tseg s = { PT_LOAD, 0x100000, text, sizeof(text), sizeof(text) };
	size_t len = elf_build(img, sizeof(img), ELFCLASS32, EM_386, 0x100000, &s, 1);
	struct boot_entry be;
	struct err e = { 0 };

	cr_expect_eq(boot_detect(img, len), BOOT_AUTO);
	cr_expect_eq(boot_load(&t.gm, BOOT_PVH, img, len, NULL, &be, &e), -ENOEXEC);
	cr_expect(strstr(e.msg, "XEN_ELFNOTE_PHYS32_ENTRY"), "%s", e.msg);
}

Test(elf, pvh_note_with_wrong_name_is_ignored)
{
	size_t len = pvh_image(ELFCLASS32, EM_386, 4);
	struct boot_entry be;
	struct err e = { 0 };
	/* The note follows the two phdrs; its name starts 12 bytes in. */
	Elf32_Phdr *ph = (Elf32_Phdr *)(img + sizeof(Elf32_Ehdr) + sizeof(Elf32_Phdr));

	img[ph->p_offset + 12] = 'Y';
	cr_expect_eq(boot_load(&t.gm, BOOT_PVH, img, len, NULL, &be, &e), -ENOEXEC);
}

Test(elf, pvh_note_running_past_its_segment_is_refused)
{
	size_t len = pvh_image(ELFCLASS32, EM_386, 4);
	struct boot_entry be;
	struct err e = { 0 };
	Elf32_Phdr *ph = (Elf32_Phdr *)(img + sizeof(Elf32_Ehdr) + sizeof(Elf32_Phdr));
	uint32_t huge = 0xfffffff0;

	memcpy(img + ph->p_offset + 4, &huge, 4);	/* descsz */
	cr_expect_eq(boot_load(&t.gm, BOOT_PVH, img, len, NULL, &be, &e), -EINVAL);
}

Test(elf, pvh_entry_outside_segments_is_refused)
{
	uint8_t note[32];
	struct tseg s[2] = {
		{ PT_LOAD, 0x100000, text, sizeof(text), sizeof(text) },
		{ PT_NOTE, 0, note, 0, 0 },
	};
	size_t len;
	struct boot_entry be;
	struct err e = { 0 };

	s[1].filesz = pvh_note(note, 0x300000, 4);
	len = elf_build(img, sizeof(img), ELFCLASS32, EM_386, 0x100000, s, 2);
	cr_expect_eq(boot_load(&t.gm, BOOT_PVH, img, len, NULL, &be, &e), -ENOEXEC);
}
