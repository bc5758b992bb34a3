/* SPDX-License-Identifier: MIT */
/*
 * Test-guest entry. Two ways in:
 *  - _start: Multiboot 0.6.96 §3.2 machine state: 32-bit protected mode, paging off,
 *    EAX = 0x2BADB002, EBX = multiboot_info.
 *  - _start_linux64: Linux boot protocol 2.15 "64-bit boot protocol": long mode on the
 *    loader's identity map, RSI = boot_params (bzImage payload, at load address + 0x200).
 * Both end in start64: setup_ring0() (lib/setup.c) finishes paging, IDT and TSS, then we iretq
 * to ring 3 with IOPL=3 and IF=1. (The PVM host drops IOPL from the iretq frame; the TSS I/O
 * bitmap, which allows every port, is what lets ring 3 do port I/O there.) Ring-0 code is emulated on our hosts at about 1 us per
 * instruction, so every instruction here is one we need.
 */
#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00000003	/* page-align modules, want mem_* and mmap */

#define SEL_KCODE	0x08
#define SEL_KDATA	0x10
#define SEL_UDATA	0x23
#define SEL_UCODE	0x2b
#define SEL_TSS		0x30

#define PTE_PWU		0x7		/* present, writable, user */
#define PTE_PS		0x80

#define STACK_SIZE	16384

	.section .text.multiboot, "ax"
	.code32
	.balign 4
mb_header:
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.globl _start
_start:
	cli
	movl %ebx, boot_raw
	movl $1, boot_kind			/* BOOT_MULTIBOOT */
	movl $kstack_top, %esp
	cmpl $0x2badb002, %eax
	jne bad_magic32
	/* The BIOS (under QEMU) leaves the 8259 unmasked with its timer ticking: mask both. */
	movb $0xff, %al
	outb %al, $0x21
	outb %al, $0xa1
	/* Map the first GiB so that lib/setup.c can run; it maps the rest (all RAM + hole). */
	movl $pdpt + PTE_PWU, pml4
	movl $0x80000001, %eax
	cpuid
	btl $26, %edx				/* CPUID 0x80000001 EDX[26]: 1-GiB pages */
	jnc 1f
	movl $PTE_PS + PTE_PWU, pdpt
	jmp 3f
1:	movl $pd_pages + PTE_PWU, pdpt
	movl $pd_pages, %edi
	movl $PTE_PS + PTE_PWU, %eax
	xorl %ecx, %ecx
2:	movl %eax, (%edi, %ecx, 8)
	addl $0x200000, %eax
	incl %ecx
	cmpl $512, %ecx
	jb 2b
3:	movl %cr4, %eax
	orl $0x20, %eax				/* PAE */
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx			/* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax			/* PG | PE */
	movl %eax, %cr0
	lgdt gdt_desc
	ljmp $SEL_KCODE, $start64

bad_magic32:
	movl $0xf4, %edx
	movl $125, %eax				/* EXIT_BAD_BOOT */
	outl %eax, %dx
	cli
4:	hlt
	jmp 4b

	/* bzImage payload: this section is placed at load address + 0x200 by bzimage.ld. */
	.section .text.linux64, "ax"
	.code64
	.globl _start_linux64
_start_linux64:
	cli
	/* We are linked at a fixed address and not position independent: refuse other homes. */
	leaq _start_linux64(%rip), %rax
	movq $_start_linux64, %rcx
	cmpq %rax, %rcx
	jne bad_load64
	movq %rsi, boot_raw
	movl $2, boot_kind			/* BOOT_LINUX */
	movq $kstack_top, %rsp
	movb $0xff, %al
	outb %al, $0x21
	outb %al, $0xa1
	call setup_paging_linux			/* builds our tables from the e820, loads CR3 */
	lgdt gdt_desc
	pushq $SEL_KCODE
	pushq $start64
	lretq
bad_load64:
	movl $0xf4, %edx
	movl $125, %eax
	outl %eax, %dx
	cli
5:	hlt
	jmp 5b

	.text
	.code64
start64:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movq $kstack_top, %rsp
	call setup_ring0
	pushq $SEL_UDATA
	pushq $ustack_top
	pushq $0x3202				/* IOPL=3, IF, reserved bit 1 */
	pushq $SEL_UCODE
	pushq $user_entry
	iretq

user_entry:					/* ring 3 from here on */
	movl $SEL_UDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	call user_start
6:	jmp 6b

/*
 * One 16-byte stub per vector: push a 0 where the CPU pushes no error code, then the vector.
 * Exceptions with an error code (SDM Vol. 3 §6.15): 8, 10-14, 17, 21, 29, 30.
 */
	.balign 16
	.globl irq_stubs
irq_stubs:
	vector = 0
	.rept 256
	.balign 16
	.if vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 || vector == 30
	.else
	pushq $0
	.endif
	pushq $vector
	jmp irq_common
	vector = vector + 1
	.endr

irq_common:
	/* Layout must match struct irq_frame (libguest.h). 16-byte aligned at the call. */
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	call irq_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

	.data
	.balign 16
	.globl gdt
gdt:
	.quad 0
	.quad 0x00af9a000000ffff		/* 0x08 ring-0 code, 64-bit */
	.quad 0x00cf92000000ffff		/* 0x10 ring-0 data */
	.quad 0x00cf9a000000ffff		/* 0x18 ring-0 code, 32-bit (unused once in long mode) */
	.quad 0x00cff2000000ffff		/* 0x20 ring-3 data */
	.quad 0x00affa000000ffff		/* 0x28 ring-3 code, 64-bit */
	.globl gdt_tss
gdt_tss:
	.quad 0, 0				/* 0x30 TSS, filled by setup.c */
gdt_end:
	.balign 8
	.word 0, 0, 0
gdt_desc:
	.word gdt_end - gdt - 1
	.quad gdt

	.bss
	.balign 4096
	.globl pml4, pdpt, pd_pages
pml4:	.skip 4096
pdpt:	.skip 4096
pd_pages: .skip 4096 * 16			/* 2-MiB-page fallback: 16 GiB */
	.balign 16
	.skip STACK_SIZE
	.globl kstack_top
kstack_top:
	.skip STACK_SIZE * 4
ustack_top:
