/* SPDX-License-Identifier: MIT */
#ifndef ARCH_X86_BOOT_PRIV_H
#define ARCH_X86_BOOT_PRIV_H

/*
 * Private to the loaders (boot.c, e820.c, load-*.c): wire formats that have no system header,
 * and the checked helpers the loaders share. Nothing outside arch/x86/ includes this.
 */
#include <asm/bootparam.h>	/* linux-libc-dev: struct boot_params, setup_header */
#include <elf.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "base/compiler.h"

/* The zero page layout the 64-bit boot protocol fixes (Linux boot protocol 2.15, zero-page.rst). */
BUILD_BUG_ON(sizeof(struct boot_params) != 4096);
BUILD_BUG_ON(offsetof(struct boot_params, hdr) != 0x1f1);
BUILD_BUG_ON(offsetof(struct boot_params, acpi_rsdp_addr) != 0x070);
BUILD_BUG_ON(offsetof(struct boot_params, ext_ramdisk_image) != 0x0c0);
BUILD_BUG_ON(offsetof(struct boot_params, e820_entries) != 0x1e8);
BUILD_BUG_ON(offsetof(struct boot_params, e820_table) != 0x2d0);
BUILD_BUG_ON(offsetof(struct boot_params, hdr.version) != 0x206);
BUILD_BUG_ON(offsetof(struct boot_params, hdr.xloadflags) != 0x236);
BUILD_BUG_ON(offsetof(struct boot_params, hdr.init_size) != 0x260);

#define BOOT_HDRS_MAGIC		0x53726448u	/* "HdrS" at 0x202 */
#define BOOT_FLAG_MAGIC		0xaa55u		/* at 0x1fe */
#define BOOT_LINUX_MIN_VERSION	0x020cu		/* 2.12: xloadflags, XLF_KERNEL_64 */
#define BOOT_LINUX_RSDP_VERSION	0x020eu		/* 2.14: acpi_rsdp_addr */
#define BOOT_LOADER_TYPE	0xffu		/* "undefined" boot loader id */
#define BOOT_KERNEL_HIGH	MiB(16)		/* LOAD_PHYSICAL_ADDR of x86_64 defconfig */

/* Xen public/arch-x86/hvm/start_info.h, version 1 (PVH boot ABI). */
#define PVH_START_MAGIC		0x336ec578u
#define PVH_ELFNOTE_PHYS32_ENTRY 18
struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;		/* version 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};
BUILD_BUG_ON(sizeof(struct pvh_start_info) != 56);
BUILD_BUG_ON(offsetof(struct pvh_start_info, memmap_paddr) != 40);

struct pvh_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};
BUILD_BUG_ON(sizeof(struct pvh_modlist_entry) != 32);

struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;			/* same values as e820 */
	uint32_t reserved;
};
BUILD_BUG_ON(sizeof(struct pvh_memmap_entry) != 24);

/* Multiboot 0.6.96 §3.1 (header) and §3.3 (boot information). */
#define MB_HEADER_MAGIC		0x1badb002u
#define MB_BOOT_MAGIC		0x2badb002u	/* EAX at entry; set by regs.c */
#define MB_SEARCH_LIMIT		8192u
#define MB_HF_PAGE_ALIGN	(1u << 0)
#define MB_HF_MEMINFO		(1u << 1)
#define MB_HF_VIDEO		(1u << 2)
#define MB_HF_AOUT_KLUDGE	(1u << 16)

struct mb_header {
	uint32_t magic, flags, checksum;
	/* valid with flag bit 16 (§3.1.3) */
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};
BUILD_BUG_ON(sizeof(struct mb_header) != 32);

#define MB_INFO_MEM		(1u << 0)
#define MB_INFO_CMDLINE		(1u << 2)
#define MB_INFO_MODS		(1u << 3)
#define MB_INFO_MMAP		(1u << 6)
#define MB_INFO_LOADER_NAME	(1u << 9)

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe_control_info, vbe_mode_info;
	uint16_t vbe_mode, vbe_interface_seg, vbe_interface_off, vbe_interface_len;
};
BUILD_BUG_ON(offsetof(struct mb_info, mmap_length) != 44);
BUILD_BUG_ON(offsetof(struct mb_info, boot_loader_name) != 64);
BUILD_BUG_ON(sizeof(struct mb_info) != 88);

struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
};
BUILD_BUG_ON(sizeof(struct mb_module) != 16);

/* `size` counts the 20 bytes that follow it (§3.3, "mmap_*"). */
struct mb_mmap_entry {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __packed;
BUILD_BUG_ON(sizeof(struct mb_mmap_entry) != 24);

/* What a loader put into guest RAM: [lo, hi). */
struct boot_extent {
	gpa_t lo, hi;
};

/* boot.c */
/* [addr, addr+len) must not wrap, stay above the boot data below 1 MiB, stay out of the MMIO
 * hole and lie inside one RAM region. -EINVAL otherwise; `what` names it in the message. */
int boot_check_range(const struct gmem *gm, uint64_t addr, uint64_t len, const char *what,
		     struct err *e) __must_check;
/* End of the RAM region that holds 1 MiB, capped at the MMIO hole; 0 if there is none. */
gpa_t boot_low_ram_end(const struct gmem *gm);
/* Copies the command line (NULL = "") with its NUL to LAYOUT_CMDLINE; -E2BIG above `max` chars. */
int boot_write_cmdline(const struct gmem *gm, const char *cmdline, size_t max,
		       struct err *e) __must_check;
/* Highest `align`-aligned address in [floor, ceil) with room for len bytes of RAM. -ENOMEM. */
int boot_place_top(const struct gmem *gm, uint64_t len, gpa_t floor, gpa_t ceil, uint64_t align,
		   const char *what, gpa_t *out, struct err *e) __must_check;
/* Linux: cmdline, initrd, e820, RSDP into *bp, then *bp to LAYOUT_BOOT_INFO. */
int boot_linux_params(const struct gmem *gm, struct boot_params *bp, const struct boot_extent *k,
		      const struct boot_args *args, struct err *e) __must_check;

/* load-elf.c */
bool load_elf_is_elf(const uint8_t *img, size_t len, unsigned int *elfclass);
/* Copies every PT_LOAD to p_paddr (bss zeroed); *ext = what was loaded. e_entry returned raw. */
int load_elf_segments(const struct gmem *gm, const uint8_t *img, size_t len, uint64_t *entry,
		      struct boot_extent *ext, struct err *e) __must_check;
/* 1 and *entry if the image carries XEN_ELFNOTE_PHYS32_ENTRY, 0 if not, -errno if malformed. */
int load_elf_pvh_entry(const uint8_t *img, size_t len, uint64_t *entry) __must_check;

/* load-multiboot.c */
/* 1 and the header's offset if a header with a valid checksum sits in the first 8 KiB, else 0. */
int load_multiboot_find(const uint8_t *img, size_t len, size_t *off, struct mb_header *hdr);

/* x86_e820() with the loaders' error sentence: the entry count or -E2BIG. */
int boot_e820(const struct gmem *gm, struct e820_ent map[E820_MAX], struct err *e) __must_check;

#endif
