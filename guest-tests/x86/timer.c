// SPDX-License-Identifier: MIT
/*
 * LAPIC timer into a ring-0 handler while main() spins in ring 3: periodic mode, then
 * TSC-deadline mode when CPUID.1:ECX[24] says it exists. Checks that enough interrupts
 * arrive within a bounded time, that they interrupted ring 3, and that the ring-3 register
 * state (a pattern in r8-r15 and rbx) survives them.
 */
#include "libguest.h"
#include "report.h"

#define PERIODIC_VEC	0x40
#define DEADLINE_VEC	0x41
#define WANT_TICKS	50
#define TIMEOUT_US	5000000ull

static volatile uint64_t ticks, user_ticks;
static uint64_t deadline_delta;

static void periodic_tick(struct irq_frame *f)
{
	ticks++;
	user_ticks += (f->cs & 3) == 3;
}

static void deadline_tick(struct irq_frame *f)
{
	uint64_t next;
	uint32_t lo, hi;

	ticks++;
	user_ticks += (f->cs & 3) == 3;
	if (ticks >= WANT_TICKS)
		return;
	/* Ring 0 here: re-arm directly (SDM Vol. 3 §11.5.4.1). */
	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	next = (((uint64_t)hi << 32) | lo) + deadline_delta;
	asm volatile("wrmsr" :: "c"(MSR_TSC_DEADLINE), "a"((uint32_t)next),
		     "d"((uint32_t)(next >> 32)));
}

/*
 * Loads a pattern into r8-r15 and rbx, spins (ring 3) until *cnt >= target or the TSC passes
 * tsc_end, then returns the OR of (register ^ pattern): 0 if every register survived.
 */
static uint64_t spin_with_pattern(volatile uint64_t *cnt, uint64_t target, uint64_t tsc_end)
{
	uint64_t bad;

	asm volatile(
		"movabs $0x8888888888888881, %%r8\n\t"
		"movabs $0x9999999999999992, %%r9\n\t"
		"movabs $0xaaaaaaaaaaaaaaa3, %%r10\n\t"
		"movabs $0xbbbbbbbbbbbbbbb4, %%r11\n\t"
		"movabs $0xccccccccccccccc5, %%r12\n\t"
		"movabs $0xddddddddddddddd6, %%r13\n\t"
		"movabs $0xeeeeeeeeeeeeeee7, %%r14\n\t"
		"movabs $0xfffffffffffffff8, %%r15\n\t"
		"movabs $0x0123456789abcdef, %%rbx\n\t"
		"1: pause\n\t"
		"cmpq %%rdi, (%%rsi)\n\t"
		"jae 2f\n\t"
		"rdtsc\n\t"
		"shlq $32, %%rdx\n\t"
		"orq %%rdx, %%rax\n\t"
		"cmpq %%rcx, %%rax\n\t"
		"jb 1b\n"
		"2: xorl %%eax, %%eax\n\t"
		"movabs $0x8888888888888881, %%rdx\n\t xorq %%rdx, %%r8\n\t orq %%r8, %%rax\n\t"
		"movabs $0x9999999999999992, %%rdx\n\t xorq %%rdx, %%r9\n\t orq %%r9, %%rax\n\t"
		"movabs $0xaaaaaaaaaaaaaaa3, %%rdx\n\t xorq %%rdx, %%r10\n\t orq %%r10, %%rax\n\t"
		"movabs $0xbbbbbbbbbbbbbbb4, %%rdx\n\t xorq %%rdx, %%r11\n\t orq %%r11, %%rax\n\t"
		"movabs $0xccccccccccccccc5, %%rdx\n\t xorq %%rdx, %%r12\n\t orq %%r12, %%rax\n\t"
		"movabs $0xddddddddddddddd6, %%rdx\n\t xorq %%rdx, %%r13\n\t orq %%r13, %%rax\n\t"
		"movabs $0xeeeeeeeeeeeeeee7, %%rdx\n\t xorq %%rdx, %%r14\n\t orq %%r14, %%rax\n\t"
		"movabs $0xfffffffffffffff8, %%rdx\n\t xorq %%rdx, %%r15\n\t orq %%r15, %%rax\n\t"
		"movabs $0x0123456789abcdef, %%rdx\n\t xorq %%rdx, %%rbx\n\t orq %%rbx, %%rax\n\t"
		: "=&a"(bad)
		: "S"(cnt), "D"(target), "c"(tsc_end)
		: "rdx", "rbx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "cc", "memory");
	return bad;
}

static void run(uint64_t khz)
{
	uint64_t t0 = rdtsc(), bad, dt, n, user;

	bad = spin_with_pattern(&ticks, WANT_TICKS, t0 + TIMEOUT_US * khz / 1000);
	dt = rdtsc() - t0;
	n = ticks;
	user = user_ticks;
	report(n >= WANT_TICKS, "%lu of %u interrupts in %lu us", n, WANT_TICKS, dt * 1000 / khz);
	report(user > 0, "%lu of them interrupted ring 3", user);
	report(bad == 0, "ring-3 registers survived (diff %#lx)", bad);
}

int main(void)
{
	uint64_t khz = tsc_khz();
	uint32_t r[4];

	report_prefix_push("timer");
	report(cpu_ring() == 3, "main() runs in ring 3");
	lapic_enable();

	/* Periodic, divide by 16; 1 ms at KVM's and QEMU's 1 GHz APIC timer clock. */
	report_prefix_push("periodic");
	handle_irq(PERIODIC_VEC, periodic_tick);
	lapic_write(APIC_TDCR, 0x3);
	lapic_write(APIC_LVT_TIMER, PERIODIC_VEC | APIC_TIMER_PERIODIC);
	lapic_write(APIC_TMICT, 1000000 / 16);
	run(khz);
	lapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	lapic_write(APIC_TMICT, 0);
	report_prefix_pop();

	report_prefix_push("tsc-deadline");
	cpuid(1, 0, r);
	if (!(r[2] & (1u << 24))) {
		report_skip("CPUID.1:ECX[24] clear: no TSC-deadline mode");
	} else {
		ticks = user_ticks = 0;
		deadline_delta = khz;		/* 1 ms */
		handle_irq(DEADLINE_VEC, deadline_tick);
		lapic_write(APIC_LVT_TIMER, DEADLINE_VEC | APIC_TIMER_TSCDEADLINE);
		sys_wrmsr(MSR_TSC_DEADLINE, rdtsc() + deadline_delta);
		run(khz);
		sys_wrmsr(MSR_TSC_DEADLINE, 0);
		lapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	}
	report_prefix_pop();
	return report_summary();
}
