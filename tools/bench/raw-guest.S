/* SPDX-License-Identifier: MIT */
/*
 * The raw benchmark guests: no library, no paging, no IDT. Entered as Multiboot 0.6.96 §3.2
 * describes (32-bit flat protected mode, paging off), so the very same bytes run under our vmm,
 * under QEMU (-kernel) and under tools/kvm-floor.c. Everything here runs in ring 0, which the
 * PVM host emulates at about 1 us per instruction: keep every path a handful of instructions.
 *
 *   -DRAW_STARTUP  first instructions: one byte '!' to COM1, then status 0 to port 0xf4
 *   -DRAW_EXITS    NR_EXITS PIO writes, PIO reads, MMIO reads (unclaimed everywhere), each
 *                  phase timed with rdtsc; prints "pio-out HEX\npio-in HEX\nmmio-in HEX\n"
 *                  (TSC cycles per phase, 16 hex digits), then exits with status 0
 *   -DRAW_IDLE     one byte '!' to COM1, then spins forever (for the memory benchmark)
 */
#include "base/guest-abi.h"

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0		/* no requirements: we read no boot information */

/* Unclaimed by our vmm, QEMU (pc and microvm) and the floor: every access is a user exit. */
#define BENCH_PORT	0x7f0
#define BENCH_MMIO	0xd0000000	/* MMIO hole, no device under any of the three */
#define NR_EXITS	20000
#define UNROLL		10		/* ring-0 loop instructions are emulated too: amortise */

	.section .text.multiboot, "ax"
	.code32
	.balign 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
#if defined(RAW_STARTUP) || defined(RAW_IDLE)
	movw $GUEST_COM1_BASE, %dx
	movb $'!', %al
	outb %al, %dx
#endif
#ifdef RAW_IDLE
1:	pause
	jmp 1b
#endif
#ifdef RAW_EXITS
	movl $stack_top, %esp
	movl $name_out, %esi
	movl $phase_out, %edi
	call timed
	movl $name_in, %esi
	movl $phase_in, %edi
	call timed
	movl $name_mmio, %esi
	movl $phase_mmio, %edi
	call timed
#endif
	movw $GUEST_EXIT_PORT, %dx
	xorl %eax, %eax
	outl %eax, %dx
2:	hlt
	jmp 2b

#ifdef RAW_EXITS
/* Runs the phase at EDI with ECX = NR_EXITS / UNROLL, prints the name at ESI and the cycles. */
timed:
	pushl %edi
	rdtsc
	movl %eax, %ebx
	movl %edx, %ebp
	popl %edi
	movl $NR_EXITS / UNROLL, %ecx
	call *%edi
	rdtsc
	subl %ebx, %eax
	sbbl %ebp, %edx
	movl %eax, %ebx			/* EBP:EBX = cycles */
	movl %edx, %ebp
	movw $GUEST_COM1_BASE, %dx
3:	lodsb				/* name, NUL-terminated */
	testb %al, %al
	jz 4f
	outb %al, %dx
	jmp 3b
4:	movl %ebp, %edi
	call hex32
	movl %ebx, %edi
	call hex32
	movb $'\n', %al
	outb %al, %dx
	ret

/* Prints EDI as 8 hex digits to the port in DX. */
hex32:
	movl $8, %ecx
5:	roll $4, %edi
	movl %edi, %eax
	andl $0xf, %eax
	movb hexdigits(%eax), %al
	outb %al, %dx
	loop 5b
	ret

phase_out:
	movw $BENCH_PORT, %dx
6:	.rept UNROLL
	outb %al, %dx
	.endr
	loop 6b
	ret

phase_in:
	movw $BENCH_PORT, %dx
7:	.rept UNROLL
	inb %dx, %al
	.endr
	loop 7b
	ret

phase_mmio:
	movl $BENCH_MMIO, %edx
8:	.rept UNROLL
	movl (%edx), %eax
	.endr
	loop 8b
	ret

	.section .rodata
hexdigits:	.ascii "0123456789abcdef"
name_out:	.asciz "pio-out "
name_in:	.asciz "pio-in "
name_mmio:	.asciz "mmio-in "

	.bss
	.balign 16
	.skip 4096
stack_top:
#endif
