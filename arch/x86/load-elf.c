// SPDX-License-Identifier: MIT
/*
 * ELF images: vmlinux through the 64-bit Linux boot protocol, PVH kernels (Xen's
 * XEN_ELFNOTE_PHYS32_ENTRY note, docs/misc/pvh.pandoc), and the ELF part of multiboot.
 * Segments go to p_paddr: we load physical images, there is no paging yet.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/boot-priv.h"

/* Linux x86_64 __START_KERNEL_map: a vmlinux whose e_entry is virtual is offset by this. */
#define ELF_KERNEL_MAP	0xffffffff80000000ull
/* Far more program headers than any kernel has; bounds the walk. */
#define ELF_MAX_PHDRS	256u

/* Class-independent view of the headers we use. */
struct elf_img {
	unsigned int cls;
	uint16_t machine;
	uint64_t entry, phoff;
	uint16_t phnum, phentsize;
};

struct elf_phdr {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
};

bool load_elf_is_elf(const uint8_t *img, size_t len, unsigned int *elfclass)
{
	if (!img || len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG))
		return false;
	if (img[EI_DATA] != ELFDATA2LSB)
		return false;
	if (img[EI_CLASS] == ELFCLASS32 && len >= sizeof(Elf32_Ehdr))
		*elfclass = ELFCLASS32;
	else if (img[EI_CLASS] == ELFCLASS64 && len >= sizeof(Elf64_Ehdr))
		*elfclass = ELFCLASS64;
	else
		return false;
	return true;
}

static int elf_parse(const uint8_t *img, size_t len, struct elf_img *ei, struct err *e)
{
	uint64_t tbl_len, tbl_end;

	if (!load_elf_is_elf(img, len, &ei->cls))
		return err_set(e, -ENOEXEC, "not a little-endian ELF32/ELF64 image");
	if (ei->cls == ELFCLASS64) {
		Elf64_Ehdr h;

		memcpy(&h, img, sizeof(h));
		*ei = (struct elf_img){ .cls = ELFCLASS64, .machine = h.e_machine,
					.entry = h.e_entry, .phoff = h.e_phoff, .phnum = h.e_phnum,
					.phentsize = h.e_phentsize };
		if (h.e_type != ET_EXEC || ei->phentsize != sizeof(Elf64_Phdr))
			return err_set(e, -ENOEXEC, "ELF64 image is not an executable with 64-bit phdrs");
	} else {
		Elf32_Ehdr h;

		memcpy(&h, img, sizeof(h));
		*ei = (struct elf_img){ .cls = ELFCLASS32, .machine = h.e_machine,
					.entry = h.e_entry, .phoff = h.e_phoff, .phnum = h.e_phnum,
					.phentsize = h.e_phentsize };
		if (h.e_type != ET_EXEC || ei->phentsize != sizeof(Elf32_Phdr))
			return err_set(e, -ENOEXEC, "ELF32 image is not an executable with 32-bit phdrs");
	}
	/* kvm-unit-tests ship 64-bit code as elf32-i386, so both machines are fine either way. */
	if (ei->machine != EM_X86_64 && ei->machine != EM_386)
		return err_set(e, -ENOEXEC, "ELF machine %u is not x86", ei->machine);
	if (!ei->phnum || ei->phnum > ELF_MAX_PHDRS)
		return err_set(e, -ENOEXEC, "ELF image has %u program headers", ei->phnum);
	tbl_len = (uint64_t)ei->phnum * ei->phentsize;
	if (__builtin_add_overflow(ei->phoff, tbl_len, &tbl_end) || tbl_end > len)
		return err_set(e, -EINVAL, "ELF program headers lie beyond the end of the file");
	return 0;
}

static struct elf_phdr elf_phdr(const uint8_t *img, const struct elf_img *ei, unsigned int i)
{
	const uint8_t *p = img + ei->phoff + (uint64_t)i * ei->phentsize;

	if (ei->cls == ELFCLASS64) {
		Elf64_Phdr ph;

		memcpy(&ph, p, sizeof(ph));
		return (struct elf_phdr){ .type = ph.p_type, .offset = ph.p_offset,
					  .paddr = ph.p_paddr, .filesz = ph.p_filesz,
					  .memsz = ph.p_memsz };
	} else {
		Elf32_Phdr ph;

		memcpy(&ph, p, sizeof(ph));
		return (struct elf_phdr){ .type = ph.p_type, .offset = ph.p_offset,
					  .paddr = ph.p_paddr, .filesz = ph.p_filesz,
					  .memsz = ph.p_memsz };
	}
}

int load_elf_segments(const struct gmem *gm, const uint8_t *img, size_t len, uint64_t *entry,
		      struct boot_extent *ext, struct err *e)
{
	struct boot_extent x = { .lo = UINT64_MAX, .hi = 0 };
	struct elf_img ei;
	uint64_t end;
	unsigned int i;
	int ret;

	ret = elf_parse(img, len, &ei, e);
	if (ret)
		return ret;

	/* Check every segment before copying any, so a refusal leaves the image unapplied. */
	for (i = 0; i < ei.phnum; i++) {
		struct elf_phdr ph = elf_phdr(img, &ei, i);

		if (ph.type != PT_LOAD || !ph.memsz)
			continue;
		if (ph.filesz > ph.memsz)
			return err_set(e, -EINVAL, "ELF segment %u: filesz 0x%llx > memsz 0x%llx", i,
				       (unsigned long long)ph.filesz, (unsigned long long)ph.memsz);
		if (__builtin_add_overflow(ph.offset, ph.filesz, &end) || end > len)
			return err_set(e, -EINVAL, "ELF segment %u: file data lies beyond the end of the file",
				       i);
		ret = boot_check_range(gm, ph.paddr, ph.memsz, "ELF segment", e);
		if (ret)
			return err_prefix(e, "segment %u", i);
		if (ph.paddr < x.lo)
			x.lo = ph.paddr;
		if (ph.paddr + ph.memsz > x.hi)
			x.hi = ph.paddr + ph.memsz;
	}
	if (x.hi == 0)
		return err_set(e, -ENOEXEC, "ELF image has no loadable segment");
	/* Every protocol we enter is 32-bit or runs on page tables that map low RAM only. */
	if (x.hi > LAYOUT_MMIO_HOLE)
		return err_set(e, -EINVAL, "ELF image ends at 0x%llx, above the MMIO hole at 0x%llx",
			       (unsigned long long)x.hi, (unsigned long long)LAYOUT_MMIO_HOLE);

	for (i = 0; i < ei.phnum; i++) {
		struct elf_phdr ph = elf_phdr(img, &ei, i);

		if (ph.type != PT_LOAD || !ph.memsz)
			continue;
		/* gm_*() refuse a zero-length access at a region's end: skip empty parts. */
		if ((ph.filesz && gm_write(gm, ph.paddr, img + ph.offset, ph.filesz)) ||
		    (ph.memsz > ph.filesz &&
		     gm_fill(gm, ph.paddr + ph.filesz, 0, ph.memsz - ph.filesz)))
			return err_set(e, -EFAULT, "cannot copy ELF segment %u", i);
	}
	*entry = ei.entry;
	*ext = x;
	return 0;
}

/* Walks the notes of every PT_NOTE segment (ELF gABI "Note Section": 4-byte aligned). */
int load_elf_pvh_entry(const uint8_t *img, size_t len, uint64_t *entry)
{
	struct elf_img ei;
	unsigned int i;

	if (elf_parse(img, len, &ei, NULL))
		return -ENOEXEC;
	for (i = 0; i < ei.phnum; i++) {
		struct elf_phdr ph = elf_phdr(img, &ei, i);
		uint64_t off, end;

		if (ph.type != PT_NOTE)
			continue;
		if (__builtin_add_overflow(ph.offset, ph.filesz, &end) || end > len)
			return -EINVAL;
		for (off = ph.offset; end - off >= 12;) {
			uint32_t nh[3], namesz, descsz;
			uint64_t name_off, desc_off, next;

			memcpy(nh, img + off, sizeof(nh));
			namesz = nh[0];
			descsz = nh[1];
			name_off = off + 12;
			/* Both sizes are < 2^32 and off < 2^63 here, so these sums cannot wrap. */
			desc_off = name_off + ALIGN_UP((uint64_t)namesz, 4);
			next = desc_off + ALIGN_UP((uint64_t)descsz, 4);
			if (desc_off > end || descsz > end - desc_off)
				return -EINVAL;
			/* Linux emits the entry as _ASM_PTR: 4 bytes on i386, 8 on x86_64. */
			if (nh[2] == PVH_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
			    !memcmp(img + name_off, "Xen", 4) && (descsz == 4 || descsz == 8)) {
				uint64_t v = 0;

				memcpy(&v, img + desc_off, descsz);
				if (v >> 32)
					return -EINVAL;
				*entry = v;
				return 1;
			}
			if (next > end)
				break;
			off = next;
		}
	}
	return 0;
}

static bool elf_entry_loaded(const uint8_t *img, size_t len, uint64_t entry)
{
	struct elf_img ei;
	unsigned int i;

	if (elf_parse(img, len, &ei, NULL))
		return false;
	for (i = 0; i < ei.phnum; i++) {
		struct elf_phdr ph = elf_phdr(img, &ei, i);

		/* Segments were range-checked by load_elf_segments(), so this cannot wrap. */
		if (ph.type == PT_LOAD && entry >= ph.paddr && entry - ph.paddr < ph.memsz)
			return true;
	}
	return false;
}

static int elf_pvh_info(const struct gmem *gm, const struct boot_extent *k,
			const struct boot_args *args, struct err *e)
{
	struct pvh_start_info si = {
		.magic = PVH_START_MAGIC,
		.version = 1,
		.cmdline_paddr = LAYOUT_CMDLINE,
		.rsdp_paddr = args->acpi_rsdp,
	};
	struct e820_ent map[E820_MAX];
	struct pvh_memmap_entry mm[E820_MAX];
	struct pvh_modlist_entry mod;
	gpa_t at = LAYOUT_SCRATCH, initrd;
	int n, i, ret;

	ret = boot_write_cmdline(gm, args->cmdline, LAYOUT_CMDLINE_MAX - 1, e);
	if (ret)
		return ret;

	n = boot_e820(gm, map, e);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		mm[i] = (struct pvh_memmap_entry){
			.addr = map[i].addr, .size = map[i].size, .type = map[i].type,
		};
	BUILD_BUG_ON(LAYOUT_SCRATCH + sizeof(mm) + sizeof(mod) > LAYOUT_SCRATCH_END);
	if (gm_write(gm, at, mm, n * sizeof(mm[0])))
		return err_set(e, -EFAULT, "no guest RAM for the PVH memory map at 0x%llx",
			       (unsigned long long)at);
	si.memmap_paddr = at;
	si.memmap_entries = (uint32_t)n;
	at += n * sizeof(mm[0]);

	if (args->initrd_len) {
		if (!args->initrd)
			return err_set(e, -EINVAL, "initrd length given without data");
		/* PVH is entered in 32-bit mode: everything stays below 4 GiB. */
		ret = boot_place_top(gm, args->initrd_len, k->hi, LAYOUT_MMIO_HOLE, KiB(4),
				     "initrd", &initrd, e);
		if (ret)
			return ret;
		mod = (struct pvh_modlist_entry){ .paddr = initrd, .size = args->initrd_len };
		if (gm_write(gm, initrd, args->initrd, args->initrd_len) ||
		    gm_write(gm, at, &mod, sizeof(mod)))
			return err_set(e, -EFAULT, "cannot copy the PVH module");
		si.nr_modules = 1;
		si.modlist_paddr = at;
	}

	if (gm_write(gm, LAYOUT_BOOT_INFO, &si, sizeof(si)))
		return err_set(e, -EFAULT, "no guest RAM for hvm_start_info at 0x%llx",
			       (unsigned long long)LAYOUT_BOOT_INFO);
	return 0;
}

/* vmlinux: a zero page like a boot loader's, since there is no setup header to copy. */
static int elf_linux_info(const struct gmem *gm, const struct boot_extent *k,
			  const struct boot_args *args, struct err *e)
{
	struct boot_params bp;

	memset(&bp, 0, sizeof(bp));
	bp.hdr.boot_flag = BOOT_FLAG_MAGIC;
	bp.hdr.header = BOOT_HDRS_MAGIC;
	bp.hdr.version = 0x020f;
	bp.hdr.loadflags = LOADED_HIGH;
	bp.hdr.kernel_alignment = 0x1000000;
	bp.hdr.cmdline_size = LAYOUT_CMDLINE_MAX - 1;
	bp.hdr.initrd_addr_max = 0x7fffffff;
	bp.hdr.code32_start = (uint32_t)k->lo;
	return boot_linux_params(gm, &bp, k, args, e);
}

int load_elf(const struct gmem *gm, enum boot_proto proto, const uint8_t *img, size_t len,
	     const struct boot_args *args, struct boot_entry *out, struct err *e)
{
	static const struct boot_args none;
	struct boot_extent k;
	uint64_t entry, pvh_entry = 0;
	struct elf_img ei;
	int ret, pvh;

	if (!args)
		args = &none;
	ret = elf_parse(img, len, &ei, e);
	if (ret)
		return ret;
	pvh = load_elf_pvh_entry(img, len, &pvh_entry);
	if (pvh < 0)
		return err_set(e, -EINVAL, "ELF image has a malformed note segment");
	if (proto == BOOT_AUTO)
		proto = ei.cls == ELFCLASS64 && ei.machine == EM_X86_64 ? BOOT_LINUX64 : BOOT_PVH;

	switch (proto) {
	case BOOT_LINUX64:
		if (ei.cls != ELFCLASS64 || ei.machine != EM_X86_64)
			return err_set(e, -ENOEXEC, "the 64-bit Linux boot protocol needs an x86_64 ELF64 vmlinux");
		break;
	case BOOT_PVH:
		if (pvh != 1)
			return err_set(e, -ENOEXEC, "ELF image has no XEN_ELFNOTE_PHYS32_ENTRY note for PVH");
		break;
	default:
		return err_set(e, -ENOEXEC, "load_elf cannot boot an ELF image as %s",
			       boot_proto_name(proto));
	}

	ret = load_elf_segments(gm, img, len, &entry, &k, e);
	if (ret)
		return ret;
	if (proto == BOOT_PVH) {
		entry = pvh_entry;
	} else if (entry >= ELF_KERNEL_MAP) {
		/* vmlinux.lds.S sets ENTRY(phys_startup_64); older links carry the virtual one. */
		entry -= ELF_KERNEL_MAP;
	}
	if (!elf_entry_loaded(img, len, entry))
		return err_set(e, -ENOEXEC, "entry point 0x%llx is outside the loaded segments",
			       (unsigned long long)entry);

	ret = proto == BOOT_PVH ? elf_pvh_info(gm, &k, args, e) : elf_linux_info(gm, &k, args, e);
	if (ret)
		return ret;
	*out = (struct boot_entry){ .proto = proto, .rip = entry, .info = LAYOUT_BOOT_INFO };
	return 0;
}
