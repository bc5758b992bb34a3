// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "arch/x86/boot-priv.h"
#include "base/log.h"

const char *boot_proto_name(enum boot_proto p)
{
	switch (p) {
	case BOOT_AUTO:
		return "auto";
	case BOOT_LINUX64:
		return "linux64";
	case BOOT_PVH:
		return "pvh";
	case BOOT_MULTIBOOT:
		return "multiboot";
	}
	return "unknown";
}

static bool boot_is_bzimage(const uint8_t *img, size_t len)
{
	uint16_t flag;
	uint32_t hdrs;

	if (len < 0x206)
		return false;
	memcpy(&flag, img + 0x1fe, sizeof(flag));
	memcpy(&hdrs, img + 0x202, sizeof(hdrs));
	return flag == BOOT_FLAG_MAGIC && hdrs == BOOT_HDRS_MAGIC;
}

static bool boot_is_elf64_x86(const uint8_t *img, size_t len)
{
	unsigned int cls;
	Elf64_Ehdr eh;

	if (!load_elf_is_elf(img, len, &cls) || cls != ELFCLASS64)
		return false;
	memcpy(&eh, img, sizeof(eh));
	return eh.e_machine == EM_X86_64;
}

enum boot_proto boot_detect(const uint8_t *img, size_t len)
{
	struct mb_header mh;
	uint64_t entry;
	unsigned int cls;
	bool elf;
	size_t off;

	if (!img)
		return BOOT_AUTO;
	if (boot_is_bzimage(img, len))
		return BOOT_LINUX64;
	elf = load_elf_is_elf(img, len, &cls);
	/* Multiboot 0.6.96 §3.1.5: a non-ELF image is loadable only through the a.out kludge. */
	if (load_multiboot_find(img, len, &off, &mh) == 1 &&
	    (elf || (mh.flags & MB_HF_AOUT_KLUDGE)))
		return BOOT_MULTIBOOT;
	if (!elf)
		return BOOT_AUTO;
	if (boot_is_elf64_x86(img, len))
		return BOOT_LINUX64;
	if (cls == ELFCLASS32 && load_elf_pvh_entry(img, len, &entry) == 1)
		return BOOT_PVH;
	return BOOT_AUTO;
}

int boot_load(const struct gmem *gm, enum boot_proto proto, const uint8_t *img, size_t len,
	      const struct boot_args *args, struct boot_entry *out, struct err *e)
{
	static const struct boot_args none;

	if (!gm || !img || !out)
		return err_set(e, -EINVAL, "boot_load: missing guest memory, image or result");
	if (!args)
		args = &none;
	if (proto == BOOT_AUTO)
		proto = boot_detect(img, len);

	switch (proto) {
	case BOOT_LINUX64:
		if (boot_is_bzimage(img, len))
			return load_bzimage(gm, img, len, args, out, e);
		return load_elf(gm, BOOT_LINUX64, img, len, args, out, e);
	case BOOT_PVH:
		return load_elf(gm, BOOT_PVH, img, len, args, out, e);
	case BOOT_MULTIBOOT:
		return load_multiboot(gm, img, len, args, out, e);
	case BOOT_AUTO:
		break;
	}
	return err_set(e, -ENOEXEC, "not a bzImage, ELF or multiboot image");
}

gpa_t boot_low_ram_end(const struct gmem *gm)
{
	const struct gmem_region *r;

	gm_for_each_region(gm, r) {
		if (r->gpa <= LAYOUT_HIMEM && LAYOUT_HIMEM - r->gpa < r->len)
			return r->gpa + r->len < LAYOUT_MMIO_HOLE ? r->gpa + r->len
								   : LAYOUT_MMIO_HOLE;
	}
	return 0;
}

int boot_check_range(const struct gmem *gm, uint64_t addr, uint64_t len, const char *what,
		     struct err *e)
{
	uint64_t end;

	if (__builtin_add_overflow(addr, len, &end))
		return err_set(e, -EINVAL, "%s at 0x%llx of 0x%llx bytes wraps around",
			       what, (unsigned long long)addr, (unsigned long long)len);
	if (!len)
		return 0;
	/* GDT, boot info, page tables, cmdline, scratch, EBDA, ACPI and MP tables all live here. */
	if (addr < LAYOUT_HIMEM)
		return err_set(e, -EINVAL, "%s [0x%llx, 0x%llx) overlaps the boot data below 1 MiB",
			       what, (unsigned long long)addr, (unsigned long long)end);
	if (addr < LAYOUT_MMIO_HOLE_END && end > LAYOUT_MMIO_HOLE)
		return err_set(e, -EINVAL, "%s [0x%llx, 0x%llx) lies in the MMIO hole", what,
			       (unsigned long long)addr, (unsigned long long)end);
	if (len > SIZE_MAX || !gm_is_ram(gm, addr, (size_t)len))
		return err_set(e, -EINVAL, "%s [0x%llx, 0x%llx) is not inside guest RAM", what,
			       (unsigned long long)addr, (unsigned long long)end);
	return 0;
}

int boot_write_cmdline(const struct gmem *gm, const char *cmdline, size_t max, struct err *e)
{
	size_t n;

	if (!cmdline)
		cmdline = "";
	if (max > LAYOUT_CMDLINE_MAX - 1)
		max = LAYOUT_CMDLINE_MAX - 1;
	n = strnlen(cmdline, max + 1);
	if (n > max)
		return err_set(e, -E2BIG, "command line is longer than %zu bytes", max);
	if (gm_write(gm, LAYOUT_CMDLINE, cmdline, n + 1))
		return err_set(e, -EFAULT, "no guest RAM for the command line at 0x%llx",
			       (unsigned long long)LAYOUT_CMDLINE);
	return 0;
}

int boot_place_top(const struct gmem *gm, uint64_t len, gpa_t floor, gpa_t ceil, uint64_t align,
		   const char *what, gpa_t *out, struct err *e)
{
	gpa_t low_end = boot_low_ram_end(gm), addr;

	if (ceil > low_end)
		ceil = low_end;
	if (floor < LAYOUT_HIMEM)
		floor = LAYOUT_HIMEM;
	if (len > ceil || ALIGN_DOWN(ceil - len, align) < floor)
		return err_set(e, -ENOMEM, "%s of %llu bytes does not fit below 0x%llx",
			       what, (unsigned long long)len, (unsigned long long)ceil);
	addr = ALIGN_DOWN(ceil - len, align);
	if (boot_check_range(gm, addr, len, what, e))
		return err_set(e, -ENOMEM, "%s of %llu bytes does not fit below 0x%llx",
			       what, (unsigned long long)len, (unsigned long long)ceil);
	*out = addr;
	return 0;
}

int boot_e820(const struct gmem *gm, struct e820_ent map[E820_MAX], struct err *e)
{
	int n = x86_e820(gm, map, E820_MAX);

	if (n < 0)
		return err_set(e, n, "guest memory map has more than %u entries", E820_MAX);
	return n;
}

int boot_linux_params(const struct gmem *gm, struct boot_params *bp, const struct boot_extent *k,
		      const struct boot_args *args, struct err *e)
{
	struct e820_ent map[E820_MAX];
	uint64_t ceil;
	gpa_t initrd;
	int n, i, ret;

	/* Linux boot protocol 2.06+: cmdline_size excludes the terminating NUL. */
	ret = boot_write_cmdline(gm, args->cmdline, bp->hdr.cmdline_size, e);
	if (ret)
		return ret;
	bp->hdr.cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
	bp->ext_cmd_line_ptr = (uint32_t)(LAYOUT_CMDLINE >> 32);
	bp->hdr.type_of_loader = BOOT_LOADER_TYPE;

	if (args->initrd_len) {
		if (!args->initrd)
			return err_set(e, -EINVAL, "initrd length given without data");
		/* initrd_addr_max is the highest address the initrd's last byte may occupy. */
		ceil = (uint64_t)bp->hdr.initrd_addr_max + 1;
		ret = boot_place_top(gm, args->initrd_len, k->hi, ceil, KiB(4), "initrd",
				     &initrd, e);
		if (ret)
			return ret;
		if (gm_write(gm, initrd, args->initrd, args->initrd_len))
			return err_set(e, -EFAULT, "cannot copy the initrd to 0x%llx",
				       (unsigned long long)initrd);
		bp->hdr.ramdisk_image = (uint32_t)initrd;
		bp->ext_ramdisk_image = (uint32_t)(initrd >> 32);
		bp->hdr.ramdisk_size = (uint32_t)args->initrd_len;
		bp->ext_ramdisk_size = (uint32_t)((uint64_t)args->initrd_len >> 32);
	}

	n = boot_e820(gm, map, e);
	if (n < 0)
		return n;
	BUILD_BUG_ON(E820_MAX > E820_MAX_ENTRIES_ZEROPAGE);
	for (i = 0; i < n; i++)
		bp->e820_table[i] = (struct boot_e820_entry){
			.addr = map[i].addr, .size = map[i].size, .type = map[i].type,
		};
	bp->e820_entries = (uint8_t)n;

	if (bp->hdr.version >= BOOT_LINUX_RSDP_VERSION)
		bp->acpi_rsdp_addr = args->acpi_rsdp;
	else if (args->acpi_rsdp)
		pr_info("boot protocol 2.%02x has no acpi_rsdp_addr; the kernel scans for the RSDP",
			bp->hdr.version & 0xff);

	if (gm_write(gm, LAYOUT_BOOT_INFO, bp, sizeof(*bp)))
		return err_set(e, -EFAULT, "no guest RAM for the zero page at 0x%llx",
			       (unsigned long long)LAYOUT_BOOT_INFO);
	return 0;
}
