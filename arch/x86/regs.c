// SPDX-License-Identifier: MIT
/*
 * Boot-CPU state per entry protocol, as pure functions over kvm_sregs/kvm_regs. The GDT and
 * (for the 64-bit Linux entry) the identity page tables go into guest memory through gm_write;
 * vmm/vcpu.c applies the registers with KVM_SET_SREGS/KVM_SET_REGS.
 *
 * Every segment is described once (struct kvm_segment) and its GDT descriptor is encoded from
 * that same description, so the hidden parts KVM checks (type, s, dpl, present, db, l, g, limit)
 * always match what a guest reloading the selector would get.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"

#define X86_CR0_PE	(1ull << 0)
#define X86_CR0_ET	(1ull << 4)
#define X86_CR0_PG	(1ull << 31)
#define X86_CR4_PAE	(1ull << 5)
#define X86_EFER_LME	(1ull << 8)
#define X86_EFER_LMA	(1ull << 10)
#define X86_RFLAGS_FIXED (1ull << 1)	/* bit 1 always reads 1; IF, VM clear */

#define PTE_P		(1ull << 0)
#define PTE_RW		(1ull << 1)
#define PTE_PWT		(1ull << 3)
#define PTE_PCD		(1ull << 4)
#define PTE_PS		(1ull << 7)

/* Segment types (SDM vol. 3 §3.4.5.1): the accessed bit is set so the CPU never writes back. */
#define SEG_TYPE_DATA_RW	0x3
#define SEG_TYPE_CODE_RX	0xb
#define SEG_TYPE_TSS_BUSY	0xb	/* 32-bit busy TSS; in long mode: 64-bit busy TSS */
#define SEG_TYPE_LDT		0x2

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u	/* Multiboot 0.6.96 §3.2 */

/* Linux arch/x86/include/asm/segment.h: GDT_ENTRY_BOOT_CS = 2, GDT_ENTRY_BOOT_DS = 3. */
#define L64_SEL_CS32	0x08
#define L64_SEL_CS	0x10
#define L64_SEL_DS	0x18
#define L64_SEL_TSS	0x20	/* 16-byte system descriptor: slots 4 and 5 */
#define L64_GDT_SLOTS	6

#define P32_SEL_CS	0x08
#define P32_SEL_DS	0x10
#define P32_SEL_TSS	0x18
#define P32_GDT_SLOTS	4

/*
 * The TSS: PVH (xen/arch-x86/hvm/start_info.h) asks for "a 32-bit TSS (active) with base 0 and
 * limit 0x67"; we use the same for every protocol. Nothing reads it before the guest loads its
 * own TR (no privilege change, no I/O bitmap check at CPL 0).
 */
#define BOOT_TSS_BASE	0
#define BOOT_TSS_LIMIT	0x67

#define PT_PML4		(LAYOUT_PAGETABLES)
#define PT_PDPT		(LAYOUT_PAGETABLES + 0x1000)
#define PT_PD(i)	(LAYOUT_PAGETABLES + 0x2000 + (i) * 0x1000ull)
#define PT_NR_PD	4		/* 4 x 1 GiB = the first 4 GiB */
#define PT_ENTRIES	512

/* layout.h: the zero page (one page at LAYOUT_BOOT_INFO) below, the command line above. */
BUILD_BUG_ON(LAYOUT_PAGETABLES < LAYOUT_BOOT_INFO + 0x1000);
BUILD_BUG_ON(PT_PD(PT_NR_PD) > LAYOUT_CMDLINE);
BUILD_BUG_ON(LAYOUT_GDT + L64_GDT_SLOTS * 8 > LAYOUT_BOOT_INFO);

static struct kvm_segment seg_flat(uint16_t sel, uint8_t type, bool code64)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = sel,
		.type = type,
		.present = 1,
		.s = 1,
		.dpl = 0,
		.db = code64 ? 0 : 1,	/* SDM §3.4.5: D must be 0 when L = 1 */
		.l = code64 ? 1 : 0,
		.g = 1,
	};
}

static struct kvm_segment seg_tss(uint16_t sel)
{
	return (struct kvm_segment){
		.base = BOOT_TSS_BASE,
		.limit = BOOT_TSS_LIMIT,
		.selector = sel,
		.type = SEG_TYPE_TSS_BUSY,
		.present = 1,
	};
}

/* The encoding of SDM vol. 3 §3.4.5, figure 3-8 (low 8 bytes of a system descriptor). */
static uint64_t gdt_desc(const struct kvm_segment *s)
{
	uint64_t lim = s->g ? s->limit >> 12 : s->limit;
	uint64_t base = s->base;

	return (lim & 0xffff) | ((base & 0xffffff) << 16) |
	       ((uint64_t)(s->type & 0xf) << 40) | ((uint64_t)(s->s & 1) << 44) |
	       ((uint64_t)(s->dpl & 3) << 45) | ((uint64_t)(s->present & 1) << 47) |
	       (((lim >> 16) & 0xf) << 48) | ((uint64_t)(s->avl & 1) << 52) |
	       ((uint64_t)(s->l & 1) << 53) | ((uint64_t)(s->db & 1) << 54) |
	       ((uint64_t)(s->g & 1) << 55) | (((base >> 24) & 0xff) << 56);
}

static void set_data_segs(struct kvm_sregs *sregs, const struct kvm_segment *ds)
{
	sregs->ds = *ds;
	sregs->es = *ds;
	sregs->fs = *ds;
	sregs->gs = *ds;
	sregs->ss = *ds;
}

static void set_common(struct kvm_sregs *sregs, unsigned int gdt_slots)
{
	sregs->gdt.base = LAYOUT_GDT;
	sregs->gdt.limit = gdt_slots * 8 - 1;
	/* No IDT: every entry protocol runs with interrupts off until the guest loads its own. */
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	sregs->ldt = (struct kvm_segment){
		.limit = 0xffff, .type = SEG_TYPE_LDT, .present = 1,
	};
	sregs->cr2 = 0;
}

/* Identity map of [0, 4 GiB) with 2 MiB pages; the MMIO hole is mapped uncached (PCD|PWT). */
static int write_pagetables(const struct gmem *gm)
{
	uint64_t page[PT_ENTRIES];
	int r;

	memset(page, 0, sizeof(page));
	page[0] = PT_PDPT | PTE_P | PTE_RW;
	r = gm_write(gm, PT_PML4, page, sizeof(page));
	if (r)
		return r;

	memset(page, 0, sizeof(page));
	for (unsigned int i = 0; i < PT_NR_PD; i++)
		page[i] = PT_PD(i) | PTE_P | PTE_RW;
	r = gm_write(gm, PT_PDPT, page, sizeof(page));
	if (r)
		return r;

	for (unsigned int i = 0; i < PT_NR_PD; i++) {
		for (unsigned int j = 0; j < PT_ENTRIES; j++) {
			uint64_t pa = ((uint64_t)i * PT_ENTRIES + j) * MiB(2);

			page[j] = pa | PTE_P | PTE_RW | PTE_PS;
			if (pa >= LAYOUT_MMIO_HOLE)
				page[j] |= PTE_PCD | PTE_PWT;
		}
		r = gm_write(gm, PT_PD(i), page, sizeof(page));
		if (r)
			return r;
	}
	return 0;
}

/* Linux boot protocol 2.15 "64-bit boot protocol": long mode, identity paging, __BOOT_CS/DS. */
static int boot_linux64(const struct gmem *gm, const struct boot_entry *be,
			struct kvm_sregs *sregs, struct kvm_regs *regs)
{
	struct kvm_segment cs32 = seg_flat(L64_SEL_CS32, SEG_TYPE_CODE_RX, false);
	struct kvm_segment cs = seg_flat(L64_SEL_CS, SEG_TYPE_CODE_RX, true);
	struct kvm_segment ds = seg_flat(L64_SEL_DS, SEG_TYPE_DATA_RW, false);
	struct kvm_segment tr = seg_tss(L64_SEL_TSS);
	uint64_t gdt[L64_GDT_SLOTS] = {
		[L64_SEL_CS32 / 8] = gdt_desc(&cs32),
		[L64_SEL_CS / 8] = gdt_desc(&cs),
		[L64_SEL_DS / 8] = gdt_desc(&ds),
		[L64_SEL_TSS / 8] = gdt_desc(&tr),
		[L64_SEL_TSS / 8 + 1] = (uint64_t)BOOT_TSS_BASE >> 32,	/* base[63:32] */
	};
	int r;

	r = gm_write(gm, LAYOUT_GDT, gdt, sizeof(gdt));
	if (r)
		return r;
	r = write_pagetables(gm);
	if (r)
		return r;

	sregs->cs = cs;
	set_data_segs(sregs, &ds);
	sregs->tr = tr;
	set_common(sregs, L64_GDT_SLOTS);
	sregs->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	sregs->cr3 = PT_PML4;
	sregs->cr4 = X86_CR4_PAE;
	sregs->efer = X86_EFER_LME | X86_EFER_LMA;

	regs->rip = be->rip;
	regs->rsi = be->info;
	return 0;
}

/*
 * The flat 32-bit state PVH (start_info.h: CR0.PE only, CR4 = 0, flat CS/DS, TR a 32-bit TSS
 * with base 0 limit 0x67) and Multiboot 0.6.96 §3.2 (flat CS/DS, PG off, IF and VM clear) share.
 */
static int boot_flat32(const struct gmem *gm, struct kvm_sregs *sregs)
{
	struct kvm_segment cs = seg_flat(P32_SEL_CS, SEG_TYPE_CODE_RX, false);
	struct kvm_segment ds = seg_flat(P32_SEL_DS, SEG_TYPE_DATA_RW, false);
	struct kvm_segment tr = seg_tss(P32_SEL_TSS);
	uint64_t gdt[P32_GDT_SLOTS] = {
		[P32_SEL_CS / 8] = gdt_desc(&cs),
		[P32_SEL_DS / 8] = gdt_desc(&ds),
		[P32_SEL_TSS / 8] = gdt_desc(&tr),
	};
	int r;

	r = gm_write(gm, LAYOUT_GDT, gdt, sizeof(gdt));
	if (r)
		return r;

	sregs->cs = cs;
	set_data_segs(sregs, &ds);
	sregs->tr = tr;
	set_common(sregs, P32_GDT_SLOTS);
	sregs->cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs->cr3 = 0;
	sregs->cr4 = 0;
	sregs->efer = 0;
	return 0;
}

int x86_boot_cpu_state(const struct gmem *gm, const struct boot_entry *be,
		       struct kvm_sregs *sregs, struct kvm_regs *regs)
{
	int r;

	if (!gm || !be || !sregs || !regs)
		return -EINVAL;

	memset(regs, 0, sizeof(*regs));
	regs->rflags = X86_RFLAGS_FIXED;

	switch (be->proto) {
	case BOOT_LINUX64:
		/* Only the first 4 GiB are mapped: an entry or zero page above is unreachable. */
		if (be->rip >= LAYOUT_HIGH_RAM || be->info >= LAYOUT_HIGH_RAM)
			return -EINVAL;
		return boot_linux64(gm, be, sregs, regs);
	case BOOT_PVH:
	case BOOT_MULTIBOOT:
		/* Both entries are 32-bit: an address above 4 GiB cannot be reached. */
		if (be->rip > UINT32_MAX || be->info > UINT32_MAX)
			return -EINVAL;
		r = boot_flat32(gm, sregs);
		if (r)
			return r;
		regs->rip = be->rip;
		regs->rbx = be->info;
		if (be->proto == BOOT_MULTIBOOT)
			regs->rax = MULTIBOOT_BOOTLOADER_MAGIC;
		return 0;
	default:
		return -EINVAL;
	}
}
