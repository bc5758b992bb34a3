// SPDX-License-Identifier: MIT
/*
 * Linux boot protocol checker (Linux boot protocol 2.15, 64-bit entry). Built as a bzImage by
 * scripts/mkbzimage.py; entered at load address + 0x200 in long mode with RSI = boot_params.
 * Verifies what the loader wrote into the zeropage: e820, command line, initrd, loader type.
 * The VMM must be run with --cmdline BOOTPARAMS_CMDLINE and --initrd bootparams.initrd.
 */
#include "libguest.h"
#include "report.h"
#include "../scripts/initrd-pattern.h"

#define BOOTPARAMS_CMDLINE	"console=ttyS0 bootparams.check=1 spaces=\"kept\""
#define INITRD_ADDR_MAX		0x7ffffffful	/* what scripts/mkbzimage.py puts in the header */
#define LOW_RAM_END		0x9fc00ul

#define BP(type, off)		(*(const type *)(bp + (off)))

static bool in_ram(const struct boot_info *bi, uint64_t a, uint64_t len)
{
	for (uint32_t i = 0; i < bi->nr_ranges; i++) {
		const struct mem_range *m = &bi->ranges[i];

		if (m->type == MEM_RAM && a >= m->addr && a - m->addr <= m->len &&
		    len <= m->len - (a - m->addr))
			return true;
	}
	return false;
}

int main(void)
{
	const struct boot_info *bi = boot_info();
	const uint8_t *bp = (const uint8_t *)bi->raw;
	bool low_ok = true, hole_ok = true;
	uint64_t img, size, bad = 0, first_bad = 0;

	report_prefix_push("bootparams");
	report(bi->kind == BOOT_LINUX, "entered through the 64-bit Linux boot protocol");
	report(BP(uint16_t, 0x1fe) == 0xaa55 && !memcmp(bp + 0x202, "HdrS", 4) &&
	       BP(uint16_t, 0x206) == 0x020f, "setup header copied (version %#x)",
	       BP(uint16_t, 0x206));
	report(bp[0x210] == 0xff, "type_of_loader is 0xff (%#x)", bp[0x210]);

	report_prefix_push("e820");
	report(bp[0x1e8] > 0 && bp[0x1e8] <= 128, "%u entries", bp[0x1e8]);
	for (uint32_t i = 0; i < bi->nr_ranges; i++) {
		const struct mem_range *m = &bi->ranges[i];

		report_info("%#lx..%#lx type %u", m->addr, m->addr + m->len, m->type);
		if (m->type != MEM_RAM)
			continue;
		if (m->addr < MiB(1) && m->addr + m->len > LOW_RAM_END)
			low_ok = false;
		if (m->addr < GiB(4) && m->addr + m->len > 0xc0000000ul)
			hole_ok = false;
	}
	report(in_ram(bi, 0, LOW_RAM_END), "RAM from 0 to %#lx", LOW_RAM_END);
	report(low_ok, "no RAM in %#lx..1 MiB", LOW_RAM_END);
	report(hole_ok, "no RAM in the 3..4 GiB hole");
	report(in_ram(bi, (uint64_t)__image_start, __image_end - __image_start),
	       "this image (%p..%p) is in RAM", __image_start, __image_end);
	report_prefix_pop();

	report(!strcmp(bi->cmdline, BOOTPARAMS_CMDLINE), "cmd_line_ptr -> \"%s\"", bi->cmdline);

	report_prefix_push("initrd");
	img = BP(uint32_t, 0x218) | (uint64_t)BP(uint32_t, 0x0c0) << 32;
	size = BP(uint32_t, 0x21c) | (uint64_t)BP(uint32_t, 0x0c4) << 32;
	report(size == BOOTPARAMS_INITRD_SIZE, "ramdisk_size %lu (want %u)", size,
	       BOOTPARAMS_INITRD_SIZE);
	report(img && img + size > img && img + size - 1 <= INITRD_ADDR_MAX,
	       "ramdisk_image %#lx..%#lx below initrd_addr_max", img, img + size);
	report(in_ram(bi, img, size), "initrd lies in RAM");
	report(img >= (uint64_t)__image_end || img + size <= (uint64_t)__image_start,
	       "initrd does not overlap the kernel");
	if (size == BOOTPARAMS_INITRD_SIZE && in_ram(bi, img, size)) {
		for (uint64_t i = 0; i < size; i++)
			if (((const uint8_t *)img)[i] != initrd_pattern(i) && !bad++)
				first_bad = i;
		report(bad == 0, "%lu bytes match the build-time pattern (%lu bad, first at %lu)",
		       size, bad, first_bad);
	} else {
		report(false, "initrd contents not checked");
	}
	report_prefix_pop();
	return report_summary();
}
