/* SPDX-License-Identifier: MIT */
/*
 * AP start-up code, copied to SMP_TRAMPOLINE (0x8000) by smp_install_trampoline(). A STARTUP
 * IPI with vector 0x08 starts the AP in real mode at 0800:0000 (SDM Vol. 3 §9.4.4). It goes
 * to protected mode, then long mode on the BSP's page tables (pml4), checks in to ap_checkin
 * and halts with interrupts off. All of it is ring 0 (emulated on our hosts): kept short.
 */
#define T(x)	((x) - ap_tramp_start + 0x8000)

	.section .rodata.trampoline, "a"
	.globl ap_tramp_start, ap_tramp_end
	.code16
ap_tramp_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl T(ap_gdt_desc)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $T(ap32)

	.code32
ap32:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $0x20, %eax				/* PAE */
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx			/* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax
	movl %eax, %cr0
	ljmp $0x18, $T(ap64)

	.code64
ap64:
	movl $0xfee00020, %edx			/* xAPIC ID register */
	movl (%rdx), %eax
	shrl $24, %eax
	movl $1, %ecx
	lock xaddl %ecx, ap_checkin		/* .started: our slot */
	cmpl $64, %ecx				/* ACPI_MAX_CPUS */
	jae 1f
	movl %eax, ap_checkin + 8(, %rcx, 4)	/* .apic_id[slot] */
1:	lock incl ap_checkin + 4		/* .done, after the slot (x86 stores are ordered) */
2:	cli
	hlt
	jmp 2b

	.balign 8
ap_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff		/* 0x08 code, 32-bit */
	.quad 0x00cf92000000ffff		/* 0x10 data */
	.quad 0x00af9a000000ffff		/* 0x18 code, 64-bit */
ap_gdt_desc:
	.word ap_gdt_desc - ap_gdt - 1
	.long T(ap_gdt)
ap_tramp_end:
