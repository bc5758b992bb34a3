// SPDX-License-Identifier: MIT
/*
 * Multiboot 1 (Multiboot Specification 0.6.96): ELF images, or any image through the "a.out
 * kludge" address fields (header flag 16). Entered in 32-bit protected mode with EAX =
 * 0x2BADB002 and EBX = multiboot_info (registers are regs.c's job).
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/boot-priv.h"
#include "base/log.h"

#define MB_HEADER_MIN		12u		/* magic, flags, checksum */
#define MB_LOADER_NAME		"vmm"
#define MB_MODULE_ALIGN		KiB(4)
/* Header flags 0..15 are requirements (§3.1.2); these are the ones we honour. */
#define MB_HF_KNOWN		(MB_HF_PAGE_ALIGN | MB_HF_MEMINFO | MB_HF_VIDEO)

int load_multiboot_find(const uint8_t *img, size_t len, size_t *off, struct mb_header *hdr)
{
	size_t limit = len < MB_SEARCH_LIMIT ? len : MB_SEARCH_LIMIT, o;
	bool bad = false;

	/* §3.1.1: 32-bit aligned and entirely inside the first 8192 bytes. */
	for (o = 0; limit >= MB_HEADER_MIN && o <= limit - MB_HEADER_MIN; o += 4) {
		struct mb_header h = { 0 };
		size_t need;

		memcpy(&h, img + o, MB_HEADER_MIN);
		if (h.magic != MB_HEADER_MAGIC)
			continue;
		if ((uint32_t)(h.magic + h.flags + h.checksum) != 0) {
			if (!bad)
				*off = o;
			bad = true;
			continue;
		}
		need = h.flags & MB_HF_AOUT_KLUDGE ? sizeof(h) : MB_HEADER_MIN;
		if (limit - o < need) {
			if (!bad)
				*off = o;
			bad = true;
			continue;
		}
		memcpy(&h, img + o, need);
		*off = o;
		*hdr = h;
		return 1;
	}
	return bad ? -EINVAL : 0;
}

/* §3.1.3: the file from (header offset - (header_addr - load_addr)) goes to load_addr. */
static int mb_load_kludge(const struct gmem *gm, const uint8_t *img, size_t len, size_t hoff,
			  const struct mb_header *h, uint64_t *entry, struct boot_extent *k,
			  struct err *e)
{
	uint64_t delta, file_off, load_len, img_end, mem_end;
	int ret;

	if (h->load_addr > h->header_addr)
		return err_set(e, -EINVAL, "multiboot load_addr 0x%x is above header_addr 0x%x",
			       h->load_addr, h->header_addr);
	delta = h->header_addr - h->load_addr;
	if (delta > hoff)
		return err_set(e, -EINVAL, "multiboot load_addr 0x%x lies before the start of the file",
			       h->load_addr);
	file_off = hoff - delta;
	if (!h->load_end_addr) {
		load_len = len - file_off;
	} else {
		if (h->load_end_addr < h->load_addr)
			return err_set(e, -EINVAL, "multiboot load_end_addr 0x%x is below load_addr 0x%x",
				       h->load_end_addr, h->load_addr);
		load_len = (uint64_t)h->load_end_addr - h->load_addr;
		if (load_len > len - file_off)
			return err_set(e, -EINVAL, "multiboot image is truncated: load_end_addr 0x%x lies beyond the end of the file",
				       h->load_end_addr);
	}
	/* All four are 32-bit values in a 64-bit sum: no wrap. */
	img_end = h->load_addr + load_len;
	mem_end = img_end;
	if (h->bss_end_addr) {
		if (h->bss_end_addr < img_end)
			return err_set(e, -EINVAL, "multiboot bss_end_addr 0x%x is below the image end 0x%llx",
				       h->bss_end_addr, (unsigned long long)img_end);
		mem_end = h->bss_end_addr;
	}
	if (h->entry_addr < h->load_addr || h->entry_addr >= img_end)
		return err_set(e, -ENOEXEC, "multiboot entry_addr 0x%x is outside the loaded image",
			       h->entry_addr);
	ret = boot_check_range(gm, h->load_addr, mem_end - h->load_addr, "multiboot image", e);
	if (ret)
		return ret;
	if ((load_len && gm_write(gm, h->load_addr, img + file_off, load_len)) ||
	    (mem_end > img_end && gm_fill(gm, img_end, 0, mem_end - img_end)))
		return err_set(e, -EFAULT, "cannot copy the multiboot image");
	*entry = h->entry_addr;
	*k = (struct boot_extent){ .lo = h->load_addr, .hi = mem_end };
	return 0;
}

/* A bump allocator over the scratch area below the EBDA, for the info's lists and strings. */
struct mb_scratch {
	gpa_t cur;
};

static int mb_reserve(struct mb_scratch *s, uint64_t len, gpa_t *at, struct err *e)
{
	gpa_t a = ALIGN_UP(s->cur, 8);

	if (a > LAYOUT_SCRATCH_END || len > LAYOUT_SCRATCH_END - a)
		return err_set(e, -E2BIG, "multiboot lists and strings overflow the %llu-byte scratch area",
			       (unsigned long long)(LAYOUT_SCRATCH_END - LAYOUT_SCRATCH));
	s->cur = a + len;
	*at = a;
	return 0;
}

static int mb_put(const struct gmem *gm, struct mb_scratch *s, const void *data, uint64_t len,
		  uint32_t *at, struct err *e)
{
	gpa_t a = 0;
	int ret;

	ret = mb_reserve(s, len, &a, e);
	if (ret)
		return ret;
	if (gm_write(gm, a, data, len))
		return err_set(e, -EFAULT, "no guest RAM for the multiboot scratch area at 0x%llx",
			       (unsigned long long)a);
	*at = (uint32_t)a;
	return 0;
}

static int mb_write_info(const struct gmem *gm, const struct boot_extent *k,
			 const struct boot_args *args, struct err *e)
{
	struct mb_scratch s = { .cur = LAYOUT_SCRATCH };
	struct mb_info info = {
		.flags = MB_INFO_MEM | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MMAP |
			 MB_INFO_LOADER_NAME,
		.mem_lower = 640,	/* KiB of conventional memory (§3.3); EBDA at its top */
		.cmdline = (uint32_t)LAYOUT_CMDLINE,
	};
	struct e820_ent map[E820_MAX];
	struct mb_mmap_entry mm[E820_MAX];
	gpa_t low_end = boot_low_ram_end(gm), next, mods = 0;
	unsigned int i;
	int n, ret;

	if (low_end > LAYOUT_HIMEM)
		info.mem_upper = (uint32_t)((low_end - LAYOUT_HIMEM) >> 10);

	ret = boot_write_cmdline(gm, args->cmdline, LAYOUT_CMDLINE_MAX - 1, e);
	if (ret)
		return ret;

	n = boot_e820(gm, map, e);
	if (n < 0)
		return n;
	for (i = 0; i < (unsigned int)n; i++)
		mm[i] = (struct mb_mmap_entry){
			.size = sizeof(mm[i]) - sizeof(mm[i].size),
			.addr = map[i].addr, .len = map[i].size, .type = map[i].type,
		};
	ret = mb_put(gm, &s, mm, n * sizeof(mm[0]), &info.mmap_addr, e);
	if (ret)
		return ret;
	info.mmap_length = n * sizeof(mm[0]);
	ret = mb_put(gm, &s, MB_LOADER_NAME, sizeof(MB_LOADER_NAME), &info.boot_loader_name, e);
	if (ret)
		return ret;

	if (args->nr_modules && !args->modules)
		return err_set(e, -EINVAL, "%u multiboot modules given without a list", args->nr_modules);
	/* The module list goes in first so that strings can follow it in one pass. */
	ret = mb_reserve(&s, (uint64_t)args->nr_modules * sizeof(struct mb_module), &mods, e);
	if (ret)
		return ret;
	info.mods_addr = (uint32_t)mods;
	info.mods_count = args->nr_modules;

	next = k->hi;
	for (i = 0; i < args->nr_modules; i++) {
		const struct boot_module *m = &args->modules[i];
		const char *str = m->cmdline ? m->cmdline : "";
		struct mb_module mod = { 0 };
		gpa_t at;

		if (m->len && !m->data)
			return err_set(e, -EINVAL, "multiboot module %u has a length but no data", i);
		/* §3.1.2 bit 0 asks for page alignment; we always give it. */
		at = ALIGN_UP(next, MB_MODULE_ALIGN);
		if (at < next || boot_check_range(gm, at, m->len, "module", NULL) ||
		    (m->len == 0 && !gm_is_ram(gm, at, 0)))
			return err_set(e, -ENOMEM, "multiboot module %u of %zu bytes does not fit above 0x%llx",
				       i, m->len, (unsigned long long)next);
		if (gm_write(gm, at, m->data, m->len))
			return err_set(e, -EFAULT, "cannot copy multiboot module %u", i);
		mod.mod_start = (uint32_t)at;
		mod.mod_end = (uint32_t)(at + m->len);
		ret = mb_put(gm, &s, str, strlen(str) + 1, &mod.string, e);
		if (ret)
			return ret;
		if (gm_write(gm, mods + (gpa_t)i * sizeof(mod), &mod, sizeof(mod)))
			return err_set(e, -EFAULT, "cannot write the multiboot module list");
		next = at + m->len;
	}

	if (gm_write(gm, LAYOUT_BOOT_INFO, &info, sizeof(info)))
		return err_set(e, -EFAULT, "no guest RAM for multiboot_info at 0x%llx",
			       (unsigned long long)LAYOUT_BOOT_INFO);
	return 0;
}

int load_multiboot(const struct gmem *gm, const uint8_t *img, size_t len,
		   const struct boot_args *args, struct boot_entry *out, struct err *e)
{
	static const struct boot_args none;
	struct boot_extent k;
	struct mb_header h;
	uint64_t entry;
	unsigned int cls;
	size_t off = 0;
	int ret;

	if (!args)
		args = &none;
	ret = load_multiboot_find(img, len, &off, &h);
	if (ret < 0)
		return err_set(e, -ENOEXEC, "multiboot header at 0x%zx has a bad checksum or is cut short",
			       off);
	if (ret == 0)
		return err_set(e, -ENOEXEC, "no multiboot header in the first %u bytes", MB_SEARCH_LIMIT);
	if (h.flags & 0xffff & ~MB_HF_KNOWN)
		return err_set(e, -ENOEXEC, "multiboot header requires unsupported features (flags 0x%x)",
			       h.flags);
	if (h.flags & MB_HF_VIDEO)
		pr_info("multiboot: no framebuffer, ignoring the video mode request");
	if (args->initrd_len)
		pr_warn("multiboot: the initrd is ignored; pass it as a module");

	if (h.flags & MB_HF_AOUT_KLUDGE) {
		ret = mb_load_kludge(gm, img, len, off, &h, &entry, &k, e);
	} else if (load_elf_is_elf(img, len, &cls)) {
		ret = load_elf_segments(gm, img, len, &entry, &k, e);
		/* The entry is a 32-bit EIP, and must be code we loaded. */
		if (!ret && (entry < k.lo || entry >= k.hi))
			ret = err_set(e, -ENOEXEC, "multiboot ELF entry 0x%llx is outside the loaded image",
				      (unsigned long long)entry);
	} else {
		ret = err_set(e, -ENOEXEC, "multiboot image is not ELF and has no address fields (flag 16)");
	}
	if (ret)
		return ret;

	ret = mb_write_info(gm, &k, args, e);
	if (ret)
		return ret;
	*out = (struct boot_entry){ .proto = BOOT_MULTIBOOT, .rip = entry, .info = LAYOUT_BOOT_INFO };
	return 0;
}
