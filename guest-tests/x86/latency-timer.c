// SPDX-License-Identifier: MIT
/*
 * Timer latency, cyclictest's method: the LAPIC timer is armed for absolute deadlines on a
 * fixed grid (deadline[i] = start + (i + 1) * interval, like clock_nanosleep(TIMER_ABSTIME)),
 * and the handler measures now - deadline with the TSC. TSC-deadline mode (SDM Vol. 3
 * §11.5.4.1) when CPUID.1:ECX[24] says it exists; otherwise one-shot mode with the count
 * derived from a TSC calibration of the APIC timer, where the deadline is the TSC read just
 * before the count is written plus the interval.
 *
 * Guest ring 0 is emulated on our hosts (~1 us per instruction), so the handler is a raw IDT
 * entry (irq_set_raw_entry) of about 25 instructions whose first real work is rdtsc: it stores
 * now - deadline into a ring, re-arms and sends the EOI. main() in ring 3 drains the ring into
 * the histogram (latency.h) and prints it in cyclictest's --histogram format.
 *
 * Command line: interval_us= (default 1000, 10..1000000), samples= (default 100000),
 * tsc_khz= (the TSC rate; default: CPUID estimate). main() spins in ring 3 between samples,
 * so the interrupt always hits a running vCPU (ring 3 cannot hlt; see docs/latency.md). Fails (exit 1) if fewer samples than asked
 * arrived, if the timer stalls for a second, if a latency was negative (an early interrupt),
 * or if the ring overflowed.
 */
#include "latency.h"

#define LAT_VEC			0x42
#define STALL_US		1000000ull

/* Written by ring 3 before arming, then by the handler only. */
uint64_t lat_deadline, lat_interval;
uint32_t lat_apic_count;
volatile uint64_t lat_count;
int64_t lat_ring[LAT_RING];

void lat_deadline_entry(void);
void lat_oneshot_entry(void);

/*
 * Both entries save only the registers they use. rdtsc comes first, so the sample is the
 * delivery latency plus three pushes. The EOI address (0xfee000b0) does not fit a
 * sign-extended disp32, hence the register. Absolute addressing of lat_ring is fine: the image
 * is linked at 1 MiB (-fno-pic, guest.ld).
 */
asm(
	"	.text\n"
	"	.globl lat_deadline_entry\n"
	"lat_deadline_entry:\n"
	"	pushq %rax\n"
	"	pushq %rcx\n"
	"	pushq %rdx\n"
	"	rdtsc\n"
	"	shlq $32, %rdx\n"
	"	orq %rdx, %rax\n"
	"	subq lat_deadline(%rip), %rax\n"
	"	movq lat_count(%rip), %rcx\n"
	"	andl $" LAT_STR(LAT_RING_MASK) ", %ecx\n"
	"	movq %rax, lat_ring(,%rcx,8)\n"
	"	incq lat_count(%rip)\n"
	"	movq lat_deadline(%rip), %rax\n"
	"	addq lat_interval(%rip), %rax\n"
	"	movq %rax, lat_deadline(%rip)\n"
	"	movq %rax, %rdx\n"
	"	shrq $32, %rdx\n"
	"	movl $0x6e0, %ecx\n"			/* IA32_TSC_DEADLINE */
	"	wrmsr\n"
	"	movl $0xfee000b0, %ecx\n"
	"	movl $0, (%rcx)\n"
	"	popq %rdx\n"
	"	popq %rcx\n"
	"	popq %rax\n"
	"	iretq\n"
	"\n"
	"	.globl lat_oneshot_entry\n"
	"lat_oneshot_entry:\n"
	"	pushq %rax\n"
	"	pushq %rcx\n"
	"	pushq %rdx\n"
	"	rdtsc\n"
	"	shlq $32, %rdx\n"
	"	orq %rdx, %rax\n"
	"	movq %rax, %rdx\n"
	"	subq lat_deadline(%rip), %rax\n"
	"	movq lat_count(%rip), %rcx\n"
	"	andl $" LAT_STR(LAT_RING_MASK) ", %ecx\n"
	"	movq %rax, lat_ring(,%rcx,8)\n"
	"	incq lat_count(%rip)\n"
	"	addq lat_interval(%rip), %rdx\n"
	"	movq %rdx, lat_deadline(%rip)\n"
	"	movl lat_apic_count(%rip), %eax\n"
	"	movl $0xfee00380, %ecx\n"		/* TMICT */
	"	movl %eax, (%rcx)\n"
	"	movl $0xfee000b0, %ecx\n"
	"	movl $0, (%rcx)\n"
	"	popq %rdx\n"
	"	popq %rcx\n"
	"	popq %rax\n"
	"	iretq\n");

static struct lat_stats stats;

/* APIC timer ticks per ms at divide-by-1, measured against the TSC over 10 ms (ring 3). */
static uint64_t apic_ticks_per_ms(uint64_t khz)
{
	uint64_t t0, t1;
	uint32_t left;

	lapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	lapic_write(APIC_TDCR, 0xb);		/* divide by 1, SDM Vol. 3 Figure 11-10 */
	lapic_write(APIC_TMICT, 0xffffffff);
	t0 = rdtsc();
	udelay(10000);
	left = lapic_read(APIC_TMCCT);
	t1 = rdtsc();
	lapic_write(APIC_TMICT, 0);
	if (t1 <= t0)
		return 0;
	return (uint64_t)(0xffffffffu - left) * khz / (t1 - t0);
}

static bool arm(bool deadline, uint64_t khz, uint64_t interval_us)
{
	lat_interval = interval_us * khz / 1000;
	lat_count = 0;
	if (deadline) {
		if (!irq_set_raw_entry(LAT_VEC, lat_deadline_entry))
			return false;
		lapic_write(APIC_LVT_TIMER, LAT_VEC | APIC_TIMER_TSCDEADLINE);
		lat_deadline = rdtsc() + lat_interval;
		sys_wrmsr(MSR_TSC_DEADLINE, lat_deadline);
		return true;
	}
	uint64_t per_ms = apic_ticks_per_ms(khz), cnt = per_ms * interval_us / 1000;

	report_info("one-shot mode: APIC timer %lu ticks/ms", per_ms);
	if (!cnt || cnt > 0xffffffffu)
		return false;
	lat_apic_count = cnt;
	if (!irq_set_raw_entry(LAT_VEC, lat_oneshot_entry))
		return false;
	lapic_write(APIC_LVT_TIMER, LAT_VEC);
	lat_deadline = rdtsc() + lat_interval;
	lapic_write(APIC_TMICT, lat_apic_count);
	return true;
}

int main(void)
{
	uint64_t khz = lat_tsc_khz(), interval_us = 1000, samples, done = 0, last, stall;
	bool deadline, ring_ok = true;
	uint32_t r[4];

	report_prefix_push("latency-timer");
	if (cmdline_get("interval_us", &(const char *){ 0 }, &(size_t){ 0 }) &&
	    (!cmdline_get_size("interval_us", &interval_us) || interval_us < 10 ||
	     interval_us > 1000000)) {
		report(false, "interval_us= must be 10..1000000");
		return report_summary();
	}
	if (!lat_samples(&samples)) {
		report(false, "samples= must be 1..%lu", (uint64_t)LAT_MAX_SAMPLES);
		return report_summary();
	}
	cpuid(1, 0, r);
	deadline = r[2] & (1u << 24);
	lat_init(&stats, khz);
	report_info("%s mode, interval %lu us, %lu samples, TSC %lu kHz",
		    deadline ? "tsc-deadline" : "one-shot", interval_us, samples, khz);
	lapic_enable();
	if (!arm(deadline, khz, interval_us)) {
		report(false, "cannot arm the APIC timer for %lu us", interval_us);
		return report_summary();
	}

	stall = STALL_US * khz / 1000;
	last = rdtsc();
	while (done < samples) {
		uint64_t n = lat_count;

		if (n == done) {
			if (rdtsc() - last > stall)
				break;
			cpu_relax();
			continue;
		}
		if (n - done > LAT_RING) {	/* the handler lapped us: samples lost */
			ring_ok = false;
			break;
		}
		for (; done < n && done < samples; done++)
			lat_add(&stats, lat_ring[done & LAT_RING_MASK], done);
		last = rdtsc();
	}
	lapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	if (deadline)
		sys_wrmsr(MSR_TSC_DEADLINE, 0);
	else
		lapic_write(APIC_TMICT, 0);

	lat_print(&stats, "timer");
	report(ring_ok, "ring-3 consumer kept up");
	report(done == samples, "%lu of %lu samples", done, samples);
	report(stats.negative == 0, "no early interrupt (%lu negative latencies)", stats.negative);
	return report_summary();
}
