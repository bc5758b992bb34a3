/* SPDX-License-Identifier: MIT */
#ifndef TESTS_ARCH_TEST_LOAD_UTIL_H
#define TESTS_ARCH_TEST_LOAD_UTIL_H

/*
 * Helpers for the loader tests: guest memory over anonymous mappings, and images built in
 * memory (bzImage, ELF32/ELF64 with optional notes). Header-only so each test_*.c stays one
 * file in the glob.
 */
#include <asm/bootparam.h>
#include <criterion/criterion.h>
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"

#define T_LOW_RAM	MiB(64)
#define T_HIGH_RAM	MiB(1)

struct tgm {
	struct gmem gm;
	uint8_t *low, *high;
	uint64_t low_len, high_len;
};

static inline void tgm_setup(struct tgm *t, uint64_t low_len, uint64_t high_len)
{
	memset(t, 0, sizeof(*t));
	gm_init(&t->gm);
	t->low_len = low_len;
	t->low = mmap(NULL, low_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		      MAP_NORESERVE, -1, 0);
	cr_assert(t->low != MAP_FAILED);
	cr_assert_eq(gm_add_region(&t->gm, 0, low_len, t->low, -1, 0), 0);
	if (high_len) {
		t->high_len = high_len;
		t->high = mmap(NULL, high_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		cr_assert(t->high != MAP_FAILED);
		cr_assert_eq(gm_add_region(&t->gm, LAYOUT_HIGH_RAM, high_len, t->high, -1, 0), 0);
	}
}

static inline void tgm_teardown(struct tgm *t)
{
	munmap(t->low, t->low_len);
	if (t->high)
		munmap(t->high, t->high_len);
}

static inline void *tgm_ptr(struct tgm *t, gpa_t gpa, size_t len)
{
	void *p = gm_slice(&t->gm, gpa, len);

	cr_assert_not_null(p, "gpa 0x%llx+%zu is not RAM", (unsigned long long)gpa, len);
	return p;
}

/* ---- bzImage ---------------------------------------------------------------------------- */

#define T_BZ_SETUP_SECTS	4
#define T_BZ_SETUP_SIZE		((T_BZ_SETUP_SECTS + 1) * 512)

/* A header as a 2.15 x86_64 kernel has it; the caller may patch it through bz_hdr(). */
static inline size_t bz_build(uint8_t *buf, size_t cap, const uint8_t *kern, size_t klen)
{
	struct setup_header h = {
		.setup_sects = T_BZ_SETUP_SECTS,
		.syssize = (uint32_t)((klen + 15) / 16),
		.boot_flag = 0xaa55,
		.jump = 0x6aeb,			/* jmp to 0x26c: the header ends at 0x202 + 0x6a */
		.header = 0x53726448,
		.version = 0x020f,
		.loadflags = LOADED_HIGH,
		.code32_start = 0x100000,
		.initrd_addr_max = 0x7fffffff,
		.kernel_alignment = 0x200000,
		.relocatable_kernel = 1,
		.min_alignment = 21,
		.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
		.cmdline_size = 2047,
		.pref_address = 0x1000000,
		.init_size = 0x200000,
	};
	size_t len = T_BZ_SETUP_SIZE + (size_t)h.syssize * 16;

	cr_assert_leq(len, cap);
	memset(buf, 0, len);
	memcpy(buf + 0x1f1, &h, sizeof(h));
	memcpy(buf + T_BZ_SETUP_SIZE, kern, klen);
	return len;
}

static inline struct setup_header *bz_hdr(uint8_t *buf)
{
	return (struct setup_header *)(buf + 0x1f1);
}

/* ---- ELF -------------------------------------------------------------------------------- */

struct tseg {
	uint32_t type;
	uint64_t paddr;
	const void *data;
	uint64_t filesz, memsz;
};

/* Lays out ehdr, phdrs, then each segment's data in order. Returns the image length. */
static inline size_t elf_build(uint8_t *buf, size_t cap, unsigned int cls, uint16_t machine,
			       uint64_t entry, const struct tseg *s, unsigned int n)
{
	size_t ehsz = cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsz = cls == ELFCLASS64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t off = ehsz + n * phsz;
	unsigned int i;

	cr_assert_leq(off, cap);
	memset(buf, 0, off);
	for (i = 0; i < n; i++) {
		uint8_t *ph = buf + ehsz + i * phsz;

		off = (off + 3) & ~(size_t)3;
		cr_assert_leq(off + s[i].filesz, cap);
		if (s[i].data)
			memcpy(buf + off, s[i].data, s[i].filesz);
		if (cls == ELFCLASS64) {
			Elf64_Phdr p = { .p_type = s[i].type, .p_offset = off, .p_paddr = s[i].paddr,
					 .p_vaddr = s[i].paddr, .p_filesz = s[i].filesz,
					 .p_memsz = s[i].memsz, .p_align = 4 };
			memcpy(ph, &p, sizeof(p));
		} else {
			Elf32_Phdr p = { .p_type = s[i].type, .p_offset = (uint32_t)off,
					 .p_paddr = (uint32_t)s[i].paddr,
					 .p_vaddr = (uint32_t)s[i].paddr,
					 .p_filesz = (uint32_t)s[i].filesz,
					 .p_memsz = (uint32_t)s[i].memsz, .p_align = 4 };
			memcpy(ph, &p, sizeof(p));
		}
		off += s[i].filesz;
	}
	if (cls == ELFCLASS64) {
		Elf64_Ehdr h = { .e_type = ET_EXEC, .e_machine = machine, .e_version = EV_CURRENT,
				 .e_entry = entry, .e_phoff = sizeof(h), .e_ehsize = sizeof(h),
				 .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = (uint16_t)n };
		memcpy(h.e_ident, ELFMAG, SELFMAG);
		h.e_ident[EI_CLASS] = ELFCLASS64;
		h.e_ident[EI_DATA] = ELFDATA2LSB;
		h.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(buf, &h, sizeof(h));
	} else {
		Elf32_Ehdr h = { .e_type = ET_EXEC, .e_machine = machine, .e_version = EV_CURRENT,
				 .e_entry = (uint32_t)entry, .e_phoff = sizeof(h),
				 .e_ehsize = sizeof(h), .e_phentsize = sizeof(Elf32_Phdr),
				 .e_phnum = (uint16_t)n };
		memcpy(h.e_ident, ELFMAG, SELFMAG);
		h.e_ident[EI_CLASS] = ELFCLASS32;
		h.e_ident[EI_DATA] = ELFDATA2LSB;
		h.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(buf, &h, sizeof(h));
	}
	return off;
}

static inline Elf64_Phdr *elf64_phdr(uint8_t *buf, unsigned int i)
{
	return (Elf64_Phdr *)(buf + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

/* A Xen PHYS32_ENTRY note, descsz 4 (i386 style) or 8 (x86_64 _ASM_PTR). Returns its size. */
static inline size_t pvh_note(uint8_t *buf, uint64_t entry, uint32_t descsz)
{
	uint32_t nh[3] = { 4, descsz, 18 };

	memcpy(buf, nh, sizeof(nh));
	memcpy(buf + 12, "Xen", 4);
	memset(buf + 16, 0, 8);
	memcpy(buf + 16, &entry, descsz);
	return 16 + ((descsz + 3) & ~3u);
}

/* Multiboot header words (magic, flags, checksum, then the five address fields). */
static inline void mb_header(uint8_t *at, uint32_t flags, const uint32_t addr[5])
{
	uint32_t w[8] = { 0x1badb002, flags, -(0x1badb002u + flags) };

	if (addr)
		memcpy(&w[3], addr, 5 * sizeof(uint32_t));
	memcpy(at, w, addr ? sizeof(w) : 12);
}

#endif
