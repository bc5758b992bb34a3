// SPDX-License-Identifier: MIT
/*
 * Ring-0 setup, called once from entry.S: identity paging for all RAM and the 3..4 GiB hole,
 * the IDT, the TSS. Runs emulated (about 1 us per instruction on our hosts): no loops that
 * can be avoided, and nothing that belongs in ring 3 (the boot-info copy is in boot.c).
 */
#include "libguest.h"

#define PTE_PWU		0x7ull
#define PTE_PS		0x80ull
#define PD_PAGES	16		/* entry.S: pd_pages, 2-MiB-page fallback up to 16 GiB */
#define MAX_GIB_1G	512		/* one PDPT */

struct idt_entry {
	uint16_t off0, sel;
	uint8_t ist, attr;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));

struct tss64 {
	uint32_t rsv0;
	uint64_t rsp[3];
	uint64_t rsv1, ist[7], rsv2;
	uint16_t rsv3, iomap_base;
	uint8_t iomap[8192 + 1];
} __attribute__((packed));
_Static_assert(__builtin_offsetof(struct tss64, iomap) == 104, "TSS layout (SDM Vol. 3 §8.7)");

extern uint64_t pml4[512], pdpt[512], pd_pages[PD_PAGES][512];
extern uint64_t gdt_tss[2];
extern char irq_stubs[], kstack_top[];
extern uint64_t boot_raw;
extern uint32_t boot_kind;

static struct idt_entry idt[256] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
uint64_t setup_mapped_top;		/* for boot.c: what we mapped, reported in ring 3 */

static bool has_1g_pages(void)
{
	uint32_t r[4];

	cpuid(0x80000001, 0, r);
	return r[3] & (1u << 26);
}

/*
 * The end of the highest RAM range, read straight from the loader's structures with every
 * count bounded; boot.c validates and copies them properly later, in ring 3.
 */
static uint64_t raw_ram_top(void)
{
	uint64_t top = 0;

	if (boot_kind == BOOT_MULTIBOOT) {
		/* Multiboot 0.6.96 §3.3: flags bit 6, mmap_length at 44, mmap_addr at 48; each
		 * entry is size(4) base(8) length(8) type(4), the next one size + 4 bytes on. */
		const uint8_t *mbi = (const uint8_t *)boot_raw;
		uint32_t len, addr, off = 0;

		if (!(*(const uint32_t *)mbi & (1u << 6)))
			return GiB(4);
		len = *(const uint32_t *)(mbi + 44);
		addr = *(const uint32_t *)(mbi + 48);
		for (int i = 0; i < BOOT_MAX_RANGES && off < len && len - off >= 24; i++) {
			const uint8_t *e = (const uint8_t *)(uint64_t)addr + off;
			uint64_t base = *(const uint64_t *)(e + 4), l = *(const uint64_t *)(e + 12);

			if (*(const uint32_t *)(e + 20) == MEM_RAM && base + l > top && base + l > base)
				top = base + l;
			off += *(const uint32_t *)e + 4;
		}
	} else {
		/* Linux zeropage: e820_entries at 0x1e8, e820_table (20-byte entries) at 0x2d0. */
		const uint8_t *bp = (const uint8_t *)boot_raw;
		unsigned int n = bp[0x1e8];

		for (unsigned int i = 0; i < n && i < 128; i++) {
			const uint8_t *e = bp + 0x2d0 + 20 * i;
			uint64_t base = *(const uint64_t *)e, l = *(const uint64_t *)(e + 8);

			if (*(const uint32_t *)(e + 16) == MEM_RAM && base + l > top && base + l > base)
				top = base + l;
		}
	}
	return top;
}

/* Maps GiB [from, to) identity, user-accessible; entry.S or setup_paging_linux did PML4[0]. */
static void map_gib(unsigned int from, unsigned int to)
{
	if (has_1g_pages()) {
		if (to > MAX_GIB_1G)
			to = MAX_GIB_1G;
		for (unsigned int g = from; g < to; g++)
			pdpt[g] = GiB(g) | PTE_PS | PTE_PWU;
		setup_mapped_top = GiB(to);
		return;
	}
	if (to > PD_PAGES)
		to = PD_PAGES;
	for (unsigned int g = from; g < to; g++) {
		for (unsigned int i = 0; i < 512; i++)
			pd_pages[g][i] = GiB(g) + MiB(2) * i + (PTE_PS | PTE_PWU);
		pdpt[g] = (uint64_t)pd_pages[g] | PTE_PWU;
	}
	setup_mapped_top = GiB(to);
}

/* All RAM, the hole below 4 GiB, and one GiB past the top of RAM (to probe it). */
static unsigned int gib_needed(void)
{
	uint64_t top = raw_ram_top();
	uint64_t gib = (top >> 30) + 2;

	return gib < 4 ? 4 : (unsigned int)(gib > MAX_GIB_1G ? MAX_GIB_1G : gib);
}

/* Linux 64-bit entry: the loader's tables are live, ours (in .bss) are not yet. */
void setup_paging_linux(void)
{
	/* Fresh guest RAM is zero, but the boot protocol does not promise a zeroed .bss. */
	for (unsigned int i = 0; i < 512; i++)
		pml4[i] = pdpt[i] = 0;
	pml4[0] = (uint64_t)pdpt | PTE_PWU;
	map_gib(0, gib_needed());
	asm volatile("mov %0, %%cr3" :: "r"(pml4) : "memory");
}

void setup_ring0(void)
{
	uint64_t stubs = (uint64_t)irq_stubs, t = (uint64_t)&tss;

	if (boot_kind == BOOT_MULTIBOOT)
		map_gib(1, gib_needed());	/* entry.S mapped GiB 0 */
	asm volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");

	for (unsigned int v = 0; v < 256; v++) {
		uint64_t h = stubs + 16 * v;

		idt[v] = (struct idt_entry){
			.off0 = h, .sel = 0x08, .off1 = h >> 16, .off2 = h >> 32,
			.attr = 0x8e,		/* present, DPL 0, 64-bit interrupt gate */
		};
	}
	tss.rsp[0] = (uint64_t)kstack_top;
	/* Every port allowed from ring 3 (SDM Vol. 3 §19.5.2; the trailing byte must be 0xff).
	 * IOPL=3 alone would do, but the PVM host does not keep IOPL across our iretq. The
	 * bitmap is .bss: zero from the loader (multiboot ELF) or fresh RAM (bzImage). */
	tss.iomap_base = 104;
	tss.iomap[8192] = 0xff;
	/* 64-bit TSS descriptor, SDM Vol. 3 §8.2.3: available TSS (type 9), present. */
	gdt_tss[0] = (sizeof(tss) - 1) | ((t & 0xffffff) << 16) | (0x89ull << 40) |
		     (((t >> 24) & 0xff) << 56);
	gdt_tss[1] = t >> 32;

	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr = {
		sizeof(idt) - 1, (uint64_t)idt
	};
	asm volatile("lidt %0; ltr %w1" :: "m"(idtr), "r"(0x30) : "memory");

}

/*
 * Points IDT entry `vector` straight at `entry`, bypassing irq_common and irq_dispatch: for
 * handlers whose every ring-0 instruction is measured (the latency tests). Called from ring 3,
 * which works because the IDT lies in identity-mapped memory with user access. The entry
 * must save what it clobbers, send its own EOI and end with iretq.
 */
bool irq_set_raw_entry(unsigned int vector, void (*entry)(void))
{
	uint64_t h = (uint64_t)entry;

	if (vector < 32 || vector >= 255 || vector == SERVICE_VECTOR || !entry)
		return false;
	idt[vector] = (struct idt_entry){
		.off0 = h, .sel = 0x08, .off1 = h >> 16, .off2 = h >> 32, .attr = 0x8e,
	};
	return true;
}
