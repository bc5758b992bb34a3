// SPDX-License-Identifier: MIT
/*
 * Boot information, copied in ring 3 before main() so that tests may then overwrite any RAM
 * outside the image. Every length and count from the loader is bounded here.
 */
#include "libguest.h"

uint64_t boot_raw;			/* written by entry.S: EBX (multiboot) or RSI (Linux) */
uint32_t boot_kind;
extern uint64_t setup_mapped_top;

static struct boot_info info;

const struct boot_info *boot_info(void)
{
	return &info;
}

static void add_range(uint64_t addr, uint64_t len, uint32_t type)
{
	if (info.nr_ranges >= BOOT_MAX_RANGES || !len)
		return;
	info.ranges[info.nr_ranges++] = (struct mem_range){ addr, len, type };
	if (type == MEM_RAM && addr + len > addr) {
		info.ram_total += len;
		if (addr + len > info.ram_top)
			info.ram_top = addr + len;
	}
}

static void copy_cmdline(uint64_t addr)
{
	const char *s = (const char *)addr;
	size_t i;

	if (!addr)
		return;
	for (i = 0; i + 1 < sizeof(info.cmdline) && s[i]; i++)
		info.cmdline[i] = s[i];
	info.cmdline[i] = '\0';
}

static void from_multiboot(const uint8_t *mbi)
{
	uint32_t flags = *(const uint32_t *)mbi;

	/* Multiboot 0.6.96 §3.3: bit 2 cmdline (offset 16), bit 6 mmap (lengths at 44, 48). */
	if (flags & (1u << 2))
		copy_cmdline(*(const uint32_t *)(mbi + 16));
	if (flags & (1u << 6)) {
		uint32_t len = *(const uint32_t *)(mbi + 44);
		const uint8_t *base = (const uint8_t *)(uint64_t)*(const uint32_t *)(mbi + 48);

		for (uint32_t off = 0; off < len && len - off >= 24;) {
			const uint8_t *e = base + off;
			uint32_t size = *(const uint32_t *)e;

			add_range(*(const uint64_t *)(e + 4), *(const uint64_t *)(e + 12),
				  *(const uint32_t *)(e + 20));
			if (size < 20)
				break;		/* malformed; do not loop on it */
			off += size + 4;
		}
	}
}

static void from_linux(const uint8_t *bp)
{
	/* Linux boot protocol 2.15, zeropage: e820_entries 0x1e8, e820_table 0x2d0 (x128),
	 * hdr.cmd_line_ptr 0x228 with ext_cmd_line_ptr 0x0c8 as the high half. */
	uint64_t cmd = *(const uint32_t *)(bp + 0x228) |
		       (uint64_t)*(const uint32_t *)(bp + 0xc8) << 32;
	unsigned int n = bp[0x1e8];

	copy_cmdline(cmd);
	for (unsigned int i = 0; i < n && i < 128; i++) {
		const uint8_t *e = bp + 0x2d0 + 20 * i;

		add_range(*(const uint64_t *)e, *(const uint64_t *)(e + 8),
			  *(const uint32_t *)(e + 16));
	}
}

bool cmdline_get(const char *key, const char **val, size_t *len)
{
	size_t klen = strlen(key);
	const char *p = info.cmdline;

	while (*p) {
		const char *w = p;

		while (*p && *p != ' ')
			p++;
		if ((size_t)(p - w) > klen && !strncmp(w, key, klen) && w[klen] == '=') {
			*val = w + klen + 1;
			*len = (size_t)(p - *val);
			return true;
		}
		while (*p == ' ')
			p++;
	}
	return false;
}

bool cmdline_get_size(const char *key, uint64_t *out)
{
	const char *v;
	size_t len;

	return cmdline_get(key, &v, &len) && parse_size(v, len, out);
}

void user_start(void)
{
	info.kind = boot_kind;
	info.raw = boot_raw;
	if (boot_kind == BOOT_MULTIBOOT)
		from_multiboot((const uint8_t *)boot_raw);
	else
		from_linux((const uint8_t *)boot_raw);
	if (info.ram_top + GiB(1) > setup_mapped_top && setup_mapped_top < GiB(512))
		printf("WARNING: RAM ends at %#lx but only %#lx is mapped\n", info.ram_top,
		       setup_mapped_top);
	exit(main());
}
