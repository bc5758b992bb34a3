// SPDX-License-Identifier: MIT
/*
 * Device interrupt latency (the "device interrupt test"): our VMM's interrupt generator
 * (devices/irqgen.h, `vmm run --irqgen on`) wakes a host thread every interval, writes the host
 * TSC into a stamp page in guest memory and sends an MSI; the handler here reads the stamp
 * sequence number and its own TSC. latency = guest TSC - (host stamp + TSC offset).
 *
 * The TSC offset (KVM: guest TSC = host TSC + offset, set when the vCPU is created; PVM and
 * nested hosts may differ) is not assumed but bounded: from below, loosely, by reading the
 * device's host-TSC register after an rdtsc of our own (an exit, ~30 us from ring 3); from
 * above, tightly, by watching the stamp page's sequence number whenever main() waits: a new
 * stamp reaches us ~0.1-0.4 us after the host wrote it, so min(t - h) over the whole run
 * exceeds the offset by about that much. Samples are binned against the lower bound and the
 * histogram is shifted to the upper bound at the end (latency.h, lat_shift): latencies are
 * under-estimated by at most that transfer time. Every sample also bounds the offset from
 * above (g - h > offset); if the stamp watch never got tight (main() was never running when a
 * stamp landed, possible in a short run on a loaded host) that bound wins and the output says
 * so. A lower bound above the upper one (a broken clock relation) fails the test.
 *
 * The handler is a raw IDT entry (irq_set_raw_entry): it reads the sequence number first and
 * only then the TSC, so it can only pair itself with a stamp taken before it ran. main() in
 * ring 3 pairs and bins: a sequence number seen twice is a duplicate (skipped), a gap means
 * interrupts were merged in the IRR (counted as coalesced).
 *
 * Command line: interval_us= (default 1000, IRQGEN_MIN_PERIOD_US..IRQGEN_MAX_PERIOD_US),
 * samples= (default 100000), tsc_khz=. Without the device (QEMU, or no --irqgen) it skips.
 */
#include "latency.h"

#define LAT_VEC		0x43
#define STALL_US	1000000ull
#define CAL_ROUNDS	256

uint64_t lat_stamp_page[IRQGEN_STAMP_PAGE / 8] __attribute__((aligned(IRQGEN_STAMP_PAGE)));
volatile uint64_t lat_count;
uint64_t lat_gtsc[LAT_RING], lat_gseq[LAT_RING];

void lat_irq_entry(void);

asm(
	"	.text\n"
	"	.globl lat_irq_entry\n"
	"lat_irq_entry:\n"
	"	pushq %rax\n"
	"	pushq %rcx\n"
	"	pushq %rdx\n"
	"	movq lat_stamp_page(%rip), %rcx\n"	/* IRQGEN_STAMP_SEQ */
	"	rdtsc\n"
	"	shlq $32, %rdx\n"
	"	orq %rdx, %rax\n"
	"	movq lat_count(%rip), %rdx\n"
	"	andl $" LAT_STR(LAT_RING_MASK) ", %edx\n"
	"	movq %rax, lat_gtsc(,%rdx,8)\n"
	"	movq %rcx, lat_gseq(,%rdx,8)\n"
	"	incq lat_count(%rip)\n"
	"	movl $0xfee000b0, %ecx\n"		/* EOI */
	"	movl $0, (%rcx)\n"
	"	popq %rdx\n"
	"	popq %rcx\n"
	"	popq %rax\n"
	"	iretq\n");

static struct lat_stats stats;

static inline uint32_t reg_read(uint32_t off) { return inl(GUEST_IRQGEN_BASE + off); }
static inline void reg_write(uint32_t off, uint32_t v) { outl(GUEST_IRQGEN_BASE + off, v); }

/*
 * Lower bound of the guest-minus-host TSC offset: the host reads its TSC between two of ours
 * (an exit to the device's TSC register). Loose: an exit from ring 3 takes ~30 us here.
 */
static int64_t offset_floor(void)
{
	int64_t lo = INT64_MIN;

	for (int i = 0; i < CAL_ROUNDS; i++) {
		uint64_t t0 = rdtsc(), h = reg_read(IRQGEN_REG_TSC_LO);

		h |= (uint64_t)reg_read(IRQGEN_REG_TSC_HI) << 32;
		if ((int64_t)(t0 - h) > lo)
			lo = (int64_t)(t0 - h);
	}
	return lo;
}

int main(void)
{
	uint64_t khz = lat_tsc_khz(), interval_us = 1000, samples, done = 0, seen = 0, last;
	uint64_t last_seq = 0, dup = 0, coalesced = 0, stale = 0, stall;
	volatile uint64_t *seqp = &lat_stamp_page[IRQGEN_STAMP_SEQ / 8];
	const uint64_t *host = &lat_stamp_page[IRQGEN_STAMP_TSC / 8];
	uint64_t watch_seq;
	int64_t off_lo, off_hi, off_min_sample = INT64_MAX, off;
	bool ring_ok = true;

	report_prefix_push("latency-irq");
	if (reg_read(IRQGEN_REG_ID) != IRQGEN_ID) {
		report_skip("no interrupt generator at %#x (vmm run --irqgen on)", GUEST_IRQGEN_BASE);
		return report_summary();
	}
	if (cmdline_get("interval_us", &(const char *){ 0 }, &(size_t){ 0 }) &&
	    (!cmdline_get_size("interval_us", &interval_us) ||
	     interval_us < IRQGEN_MIN_PERIOD_US || interval_us > IRQGEN_MAX_PERIOD_US)) {
		report(false, "interval_us= must be %u..%u", IRQGEN_MIN_PERIOD_US,
		       IRQGEN_MAX_PERIOD_US);
		return report_summary();
	}
	if (!lat_samples(&samples)) {
		report(false, "samples= must be 1..%lu", (uint64_t)LAT_MAX_SAMPLES);
		return report_summary();
	}
	lat_init(&stats, khz);
	report_info("interval %lu us, %lu samples, TSC %lu kHz", interval_us, samples, khz);

	lapic_enable();
	if (!irq_set_raw_entry(LAT_VEC, lat_irq_entry)) {
		report(false, "cannot install the handler for vector %#x", LAT_VEC);
		return report_summary();
	}
	reg_write(IRQGEN_REG_PERIOD_US, (uint32_t)interval_us);
	reg_write(IRQGEN_REG_STAMP_LO, (uint32_t)(uint64_t)lat_stamp_page);
	reg_write(IRQGEN_REG_STAMP_HI, (uint32_t)((uint64_t)lat_stamp_page >> 32));
	/* MSI to this CPU, fixed delivery, edge (SDM Vol. 3 §11.11.1-2) */
	reg_write(IRQGEN_REG_MSI_ADDR_LO, 0xfee00000u | lapic_id() << 12);
	reg_write(IRQGEN_REG_MSI_ADDR_HI, 0);
	reg_write(IRQGEN_REG_MSI_DATA, LAT_VEC);
	reg_write(IRQGEN_REG_CTRL, 1);
	if (!(reg_read(IRQGEN_REG_CTRL) & IRQGEN_STS_RUNNING)) {
		report(false, "the interrupt generator refused to start");
		return report_summary();
	}

	/* Samples are binned as g - h - off_lo (never negative: off_lo is a true lower bound)
	 * and shifted by off_hi - off_lo at the end. off_hi is refined during the whole run. */
	stall = STALL_US * khz / 1000;
	off_lo = offset_floor();
	off_hi = INT64_MAX;
	seen = lat_count;
	last_seq = *seqp;
	watch_seq = last_seq;

	last = rdtsc();
	while (done < samples) {
		uint64_t n = lat_count;

		if (n == seen) {
			uint64_t s = *seqp, t = rdtsc();

			if (s != watch_seq) {
				/* A new stamp: t >= h + offset + the cache-line transfer. */
				barrier();
				if ((int64_t)(t - host[(s - 1) % IRQGEN_STAMP_SLOTS]) < off_hi)
					off_hi = (int64_t)(t - host[(s - 1) % IRQGEN_STAMP_SLOTS]);
				watch_seq = s;
			}
			if (t - last > stall)
				break;
			continue;
		}
		if (n - seen > LAT_RING) {
			ring_ok = false;
			break;
		}
		for (; seen < n && done < samples; seen++) {
			uint64_t s = lat_gseq[seen & LAT_RING_MASK], g = lat_gtsc[seen & LAT_RING_MASK], h;

			if (s <= last_seq) {		/* seq read twice, or calibration time */
				dup++;
				continue;
			}
			coalesced += s - last_seq - 1;
			last_seq = s;
			h = host[(s - 1) % IRQGEN_STAMP_SLOTS];
			barrier();
			if (*seqp - s >= IRQGEN_STAMP_SLOTS - 1) {	/* slot reused under us */
				stale++;
				continue;
			}
			/* Every sample also bounds the offset from above (its latency is > 0). */
			if ((int64_t)(g - h) < off_min_sample)
				off_min_sample = (int64_t)(g - h);
			lat_add(&stats, (int64_t)(g - (uint64_t)off_lo - h), done++);
		}
		last = rdtsc();
	}
	reg_write(IRQGEN_REG_CTRL, 0);

	/*
	 * The stamp watch is tight only if main() happened to run while a stamp was written; on
	 * a loaded host, in a short run, it may not have. The samples' own bound then wins, and
	 * the minimum latency reads 0: say so rather than print a negative latency.
	 */
	off = off_hi < off_min_sample ? off_hi : off_min_sample;
	report_info("guest - host TSC offset in [%ld, %ld] ticks (stamp watch %ld, samples %ld)",
		    off_lo, off, off_hi, off_min_sample);
	if (off == off_min_sample && off_hi != off_min_sample)
		report_info("the stamp watch never got tight: latencies are under-estimated by up "
			    "to the true minimum latency");
	report(off_lo <= off, "TSC relation consistent (exit bound <= stamp bound)");
	if (done && off_lo <= off)
		lat_shift(&stats, (uint64_t)(off - off_lo));
	lat_print(&stats, "irq");
	report_info("device: %u raised, %u overruns, %u errors; %lu coalesced, %lu duplicate, "
		    "%lu stale", reg_read(IRQGEN_REG_COUNT), reg_read(IRQGEN_REG_OVERRUNS),
		    reg_read(IRQGEN_REG_ERRORS), coalesced, dup, stale);
	report(ring_ok, "ring-3 consumer kept up");
	report(done == samples, "%lu of %lu samples", done, samples);
	report(reg_read(IRQGEN_REG_ERRORS) == 0, "the VMM raised every interrupt");
	return report_summary();
}
