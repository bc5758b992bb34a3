/* SPDX-License-Identifier: MIT */
#ifndef ARCH_X86_BOOT_H
#define ARCH_X86_BOOT_H

/*
 * Kernel loaders. Each parses an image held in host memory with checked arithmetic, copies it
 * into guest RAM through gm_*(), writes the boot information its protocol defines, and returns
 * where and how to enter. Nothing here touches KVM; vmm/ turns a boot_entry into registers with
 * x86_boot_cpu_state() (arch/x86/regs.h).
 *
 * A malformed image (truncated, bad magic, segment outside RAM or in the MMIO hole, initrd that
 * does not fit, cmdline too long) is refused with -EINVAL / -ENOEXEC / -E2BIG / -ENOMEM and one
 * sentence in `e`; guest memory may then be partly written, which does not matter since the VM
 * is not started.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "mm/gmem.h"

enum boot_proto {
	BOOT_AUTO = 0,
	BOOT_LINUX64,		/* bzImage or vmlinux, 64-bit boot protocol: RSI = boot_params */
	BOOT_PVH,		/* ELF with XEN_ELFNOTE_PHYS32_ENTRY: 32-bit, EBX = hvm_start_info */
	BOOT_MULTIBOOT,		/* multiboot 1: 32-bit, EAX = magic, EBX = multiboot_info */
};

struct boot_entry {
	enum boot_proto proto;
	gpa_t rip;
	gpa_t info;		/* boot_params / hvm_start_info / multiboot_info */
};

struct boot_module {
	const uint8_t *data;
	size_t len;
	const char *cmdline;	/* multiboot module string, may be NULL */
};

struct boot_args {
	const char *cmdline;			/* may be NULL */
	const uint8_t *initrd;			/* Linux initrd / PVH module; may be NULL */
	size_t initrd_len;
	const struct boot_module *modules;	/* multiboot modules */
	unsigned int nr_modules;
	gpa_t acpi_rsdp;			/* 0 if no ACPI tables were built */
};

/* Detects the format (bzImage, ELF with multiboot header, ELF with PVH note, ELF64 vmlinux). */
enum boot_proto boot_detect(const uint8_t *img, size_t len);
const char *boot_proto_name(enum boot_proto p);

/* proto = BOOT_AUTO picks boot_detect()'s answer; asking for a protocol the image does not
 * support (PVH on an ELF without the note, say) is -ENOEXEC. */
int boot_load(const struct gmem *gm, enum boot_proto proto, const uint8_t *img, size_t len,
	      const struct boot_args *args, struct boot_entry *out, struct err *e) __must_check;

int load_bzimage(const struct gmem *gm, const uint8_t *img, size_t len,
		 const struct boot_args *args, struct boot_entry *out, struct err *e) __must_check;
int load_elf(const struct gmem *gm, enum boot_proto proto, const uint8_t *img, size_t len,
	     const struct boot_args *args, struct boot_entry *out, struct err *e) __must_check;
int load_multiboot(const struct gmem *gm, const uint8_t *img, size_t len,
		   const struct boot_args *args, struct boot_entry *out, struct err *e) __must_check;

/* e820, built from the gmem map: RAM regions minus the reserved low areas (EBDA..1 MiB). */
#define E820_RAM	1
#define E820_RESERVED	2
#define E820_ACPI	3
#define E820_MAX	32
struct e820_ent {
	uint64_t addr, size;
	uint32_t type;
};
int x86_e820(const struct gmem *gm, struct e820_ent *out, unsigned int max) __must_check;

#endif
