// SPDX-License-Identifier: MIT
/*
 * Boot-CPU state: the registers each entry protocol defines, and the GDT / page tables behind
 * them, read back from guest memory the way the CPU would walk them.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"

#define RAM_SIZE	MiB(32)

static struct gmem gm;
static void *ram;

static void setup(void)
{
	ram = calloc(1, RAM_SIZE);
	cr_assert_not_null(ram);
	gm_init(&gm);
	cr_assert_eq(gm_add_region(&gm, 0, RAM_SIZE, ram, -1, 0), 0);
}

static void teardown(void)
{
	free(ram);
}

/* What KVM_GET_SREGS returns after reset, roughly: real mode, CD|NW|ET. */
static struct kvm_sregs reset_sregs(void)
{
	struct kvm_sregs s;

	memset(&s, 0, sizeof(s));
	s.cr0 = 0x60000010;
	s.apic_base = 0xfee00900;
	s.cs = (struct kvm_segment){ .selector = 0xf000, .base = 0xffff0000, .limit = 0xffff,
				     .type = 0xb, .present = 1, .s = 1 };
	return s;
}

static uint64_t gdt_entry(uint16_t sel)
{
	uint64_t d;

	cr_assert_eq(gm_read(&gm, LAYOUT_GDT + sel, &d, sizeof(d)), 0);
	return d;
}

/* Decodes a descriptor (SDM vol. 3 figure 3-8) and compares with the hidden segment state. */
static void expect_desc_matches(const struct kvm_segment *s, const struct kvm_sregs *sr)
{
	uint64_t d = gdt_entry(s->selector);
	uint32_t lim = (d & 0xffff) | ((d >> 32) & 0xf0000);
	uint32_t base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);

	cr_expect(s->selector < sr->gdt.limit, "selector %#x outside GDT limit %#x",
		  s->selector, sr->gdt.limit);
	if ((d >> 55) & 1)
		lim = (lim << 12) | 0xfff;
	cr_expect_eq(lim, s->limit, "selector %#x: limit %#x vs hidden %#x", s->selector, lim,
		     s->limit);
	cr_expect_eq(base, (uint32_t)s->base);
	cr_expect_eq((d >> 40) & 0xf, s->type, "selector %#x type", s->selector);
	cr_expect_eq((d >> 44) & 1, s->s);
	cr_expect_eq((d >> 45) & 3, s->dpl);
	cr_expect_eq((d >> 47) & 1, s->present);
	cr_expect_eq((d >> 53) & 1, s->l);
	cr_expect_eq((d >> 54) & 1, s->db);
	cr_expect_eq((d >> 55) & 1, s->g);
}

TestSuite(cpu_regs, .init = setup, .fini = teardown);

Test(cpu_regs, linux64_enters_long_mode_with_boot_cs_ds)
{
	struct boot_entry be = { .proto = BOOT_LINUX64, .rip = 0x1000000, .info = LAYOUT_BOOT_INFO };
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;

	cr_assert_eq(x86_boot_cpu_state(&gm, &be, &s, &r), 0);
	cr_expect(s.cr0 & 1, "CR0.PE");
	cr_expect(s.cr0 & (1ull << 31), "CR0.PG");
	cr_expect_eq(s.cr0 & 0x60000000, 0, "CD/NW left set");
	cr_expect(s.cr4 & (1ull << 5), "CR4.PAE");
	cr_expect_eq(s.efer & 0x500, 0x500, "EFER.LME|LMA");
	cr_expect_eq(s.cr3, LAYOUT_PAGETABLES);
	cr_expect_eq(s.cs.selector, 0x10);
	cr_expect_eq(s.cs.l, 1);
	cr_expect_eq(s.cs.db, 0, "D must be 0 with L=1");
	cr_expect_eq(s.cs.type & 0x9, 0x9, "CS executable and accessed");
	cr_expect_eq(s.ds.selector, 0x18);
	cr_expect_eq(s.ss.selector, 0x18);
	cr_expect_eq(s.fs.selector, 0x18);
	cr_expect_eq(s.gs.selector, 0x18);
	cr_expect_eq(s.es.selector, 0x18);
	cr_expect_eq(r.rip, be.rip);
	cr_expect_eq(r.rsi, be.info);
	cr_expect_eq(r.rflags, 2, "IF must be clear, bit 1 set");
	cr_expect_eq(s.apic_base, 0xfee00900, "fields the protocol does not define were changed");
}

Test(cpu_regs, linux64_gdt_matches_hidden_segments)
{
	struct boot_entry be = { .proto = BOOT_LINUX64, .rip = 0x1000000, .info = LAYOUT_BOOT_INFO };
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;
	uint64_t tss_hi;

	cr_assert_eq(x86_boot_cpu_state(&gm, &be, &s, &r), 0);
	cr_expect_eq(s.gdt.base, LAYOUT_GDT);
	cr_expect_eq(gdt_entry(0), 0, "null descriptor");
	expect_desc_matches(&s.cs, &s);
	expect_desc_matches(&s.ds, &s);
	/* The 32-bit code segment at 0x08, for completeness. */
	cr_expect_eq((gdt_entry(0x08) >> 54) & 1, 1, "0x08 is a 32-bit code segment");
	cr_expect_eq((gdt_entry(0x08) >> 43) & 1, 1);
	/* TR: present busy TSS, the 16-byte long-mode descriptor. */
	cr_expect_eq(s.tr.type, 11);
	cr_expect_eq(s.tr.present, 1);
	cr_expect_eq(s.tr.s, 0);
	expect_desc_matches(&s.tr, &s);
	tss_hi = gdt_entry(s.tr.selector + 8);
	cr_expect_eq(tss_hi, s.tr.base >> 32);
	cr_expect(s.tr.selector + 15 <= s.gdt.limit, "16-byte TSS descriptor inside the GDT");
	cr_expect_eq(s.ldt.type, 2);
	cr_expect_eq(s.ldt.present, 1);
}

Test(cpu_regs, linux64_pagetables_identity_map_4g_with_2m_pages)
{
	struct boot_entry be = { .proto = BOOT_LINUX64, .rip = 0x1000000, .info = LAYOUT_BOOT_INFO };
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;
	uint64_t pml4e, pdpte, pde, other;

	cr_assert_eq(x86_boot_cpu_state(&gm, &be, &s, &r), 0);
	cr_assert_eq(gm_read(&gm, s.cr3, &pml4e, 8), 0);
	cr_assert(pml4e & 1, "PML4[0] present");
	cr_assert_eq(gm_read(&gm, s.cr3 + 8, &other, 8), 0);
	cr_expect_eq(other, 0, "only the first 512 GiB slot is used");

	/* Walk every 2 MiB of the first 4 GiB like the MMU would. */
	for (uint64_t va = 0; va < GiB(4); va += MiB(2)) {
		uint64_t pdpt = pml4e & 0x000ffffffffff000ull, pd;

		cr_assert_eq(gm_read(&gm, pdpt + ((va >> 30) & 511) * 8, &pdpte, 8), 0);
		cr_assert(pdpte & 1, "PDPTE for %#lx present", (unsigned long)va);
		cr_assert_eq(pdpte & 0x80, 0, "PDPTE must point to a PD, not a 1G page");
		pd = pdpte & 0x000ffffffffff000ull;
		cr_assert_eq(gm_read(&gm, pd + ((va >> 21) & 511) * 8, &pde, 8), 0);
		cr_assert_eq(pde & 0x83, 0x83, "PDE for %#lx: P|RW|PS", (unsigned long)va);
		cr_assert_eq(pde & 0x000fffffffe00000ull, va, "identity at %#lx", (unsigned long)va);
	}
	cr_assert_eq(gm_read(&gm, (pml4e & ~0xfffull) + 4 * 8, &pdpte, 8), 0);
	cr_expect_eq(pdpte, 0, "nothing mapped above 4 GiB");
}

Test(cpu_regs, pvh_is_flat_32bit_with_ebx_info)
{
	struct boot_entry be = { .proto = BOOT_PVH, .rip = 0x1000000, .info = LAYOUT_BOOT_INFO };
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;

	s.efer = 0x500;		/* stale long-mode state must be cleared */
	s.cr4 = 0x20;
	cr_assert_eq(x86_boot_cpu_state(&gm, &be, &s, &r), 0);
	cr_expect_eq(s.cr0, 0x11, "CR0 = PE|ET");
	cr_expect_eq(s.cr4, 0);
	cr_expect_eq(s.efer, 0);
	cr_expect_eq(s.cs.selector, 0x8);
	cr_expect_eq(s.cs.db, 1);
	cr_expect_eq(s.cs.l, 0);
	cr_expect_eq(s.cs.g, 1);
	cr_expect_eq(s.cs.limit, 0xffffffff);
	cr_expect_eq(s.cs.base, 0);
	cr_expect_eq(s.ds.selector, 0x10);
	cr_expect_eq(s.ss.selector, 0x10);
	cr_expect_eq(s.ds.type, 3);
	cr_expect_eq(s.tr.base, 0, "PVH: TSS base 0");
	cr_expect_eq(s.tr.limit, 0x67, "PVH: TSS limit 0x67");
	cr_expect_eq(s.tr.type, 11);
	expect_desc_matches(&s.cs, &s);
	expect_desc_matches(&s.ds, &s);
	expect_desc_matches(&s.tr, &s);
	cr_expect_eq(r.rip, be.rip);
	cr_expect_eq(r.rbx, be.info);
	cr_expect_eq(r.rflags, 2);
}

Test(cpu_regs, multiboot_has_magic_in_eax)
{
	struct boot_entry be = { .proto = BOOT_MULTIBOOT, .rip = 0x100000, .info = 0x80000 };
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;

	cr_assert_eq(x86_boot_cpu_state(&gm, &be, &s, &r), 0);
	cr_expect_eq(r.rax, 0x2BADB002);
	cr_expect_eq(r.rbx, 0x80000);
	cr_expect_eq(r.rip, 0x100000);
	cr_expect_eq(r.rflags & ((1 << 9) | (1 << 17)), 0, "IF and VM clear");
	cr_expect_eq(s.cr0 & (1ull << 31), 0, "paging off");
	cr_expect_eq(s.cr0 & 1, 1, "protected mode");
	cr_expect_eq(s.cs.db, 1);
	expect_desc_matches(&s.cs, &s);
}

Test(cpu_regs, unknown_protocol_is_refused)
{
	struct boot_entry be = { .proto = BOOT_AUTO, .rip = 0x100000 };
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;

	cr_expect_eq(x86_boot_cpu_state(&gm, &be, &s, &r), -EINVAL);
	be.proto = 77;
	cr_expect_eq(x86_boot_cpu_state(&gm, &be, &s, &r), -EINVAL);
}

Test(cpu_regs, entry_above_32bit_reach_is_refused)
{
	struct boot_entry be = { .proto = BOOT_PVH, .rip = GiB(4) + 0x1000 };
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;

	cr_expect_eq(x86_boot_cpu_state(&gm, &be, &s, &r), -EINVAL);
	be = (struct boot_entry){ .proto = BOOT_MULTIBOOT, .rip = 0x100000, .info = GiB(8) };
	cr_expect_eq(x86_boot_cpu_state(&gm, &be, &s, &r), -EINVAL);
	/* The 64-bit entry only has the first 4 GiB mapped. */
	be = (struct boot_entry){ .proto = BOOT_LINUX64, .rip = GiB(5), .info = LAYOUT_BOOT_INFO };
	cr_expect_eq(x86_boot_cpu_state(&gm, &be, &s, &r), -EINVAL);
}

Test(cpu_regs, guest_without_low_memory_is_refused)
{
	struct boot_entry be = { .proto = BOOT_LINUX64, .rip = 0x1000000, .info = LAYOUT_BOOT_INFO };
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;
	struct gmem high;

	/* RAM only from 1 MiB: the GDT and page tables have nowhere to go. */
	gm_init(&high);
	cr_assert_eq(gm_add_region(&high, MiB(1), MiB(16), (uint8_t *)ram + MiB(1), -1, 0), 0);
	cr_expect_eq(x86_boot_cpu_state(&high, &be, &s, &r), -EFAULT);
	be.proto = BOOT_PVH;
	cr_expect_eq(x86_boot_cpu_state(&high, &be, &s, &r), -EFAULT);
}
