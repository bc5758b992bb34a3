/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_IRQGEN_H
#define DEVICES_IRQGEN_H

/*
 * Interrupt generator: the host side of the device-interrupt latency test
 * (guest-tests/x86/latency-irq.c, docs/latency.md). A host thread wakes every period_us,
 * reads the host TSC, writes it into a guest "stamp page", and raises an interrupt: an MSI with
 * the address/data pair the guest programmed (through struct msi_sink), or, if the guest left
 * the MSI address at 0, an edge on the wired line (struct irq_line: set 1, then 0). The guest
 * handler reads its own TSC; the difference is the delivery latency.
 *
 * Registers: base/guest-abi.h, IRQGEN_REG_*, port I/O at GUEST_IRQGEN_BASE, GUEST_IRQGEN_LEN
 * bytes. Only aligned 4-byte accesses count; others read 0 and are ignored.
 *
 * Validation (a refused write changes nothing and sets IRQGEN_STS_ERROR until the next
 * accepted write):
 *  - PERIOD_US outside IRQGEN_MIN_PERIOD_US..IRQGEN_MAX_PERIOD_US;
 *  - STAMP_LO with bits 11:0 set (the page must be 4 KiB aligned);
 *  - any configuration write while running (stop first);
 *  - CTRL=1 without a period, without a stamp page, with a stamp page that mem.slice() does
 *    not map as one 4 KiB range, without a usable interrupt (MSI address set but no msi_sink,
 *    or no MSI address and no irq_line), or when the thread cannot be created.
 *
 * Guest memory: the device never sees struct gmem (devices/ may include base/ only). The
 * builder passes `mem`, whose slice() returns a host pointer for [gpa, gpa + len) if that
 * whole range is guest RAM in one region, else NULL (vmm/ implements it with gm_slice()).
 * It is called once per start, from the vCPU thread that writes CTRL; the pointer is used by
 * the device thread until stop, so guest RAM must stay mapped while the device lives (it does:
 * regions are never removed before the devices are torn down). The stamp page is written with
 * __atomic release stores (tsc slot, then seq) and never read back.
 *
 * TSC relation: the device stamps with the host's rdtsc; KVM gives the guest host TSC * scale
 * + offset (scale 1 unless KVM_SET_TSC_KHZ; offset set when the vCPU is created). The device
 * does not assume either: reading IRQGEN_REG_TSC_LO returns the host TSC at the moment of the
 * exit, so the guest brackets it with its own rdtsc and bounds the offset (docs/latency.md).
 *
 * Threads: irqgen_init/irqgen_exit from the builder; register accesses from any vCPU thread
 * (a mutex serialises them); the device thread is created by CTRL=1 and joined by CTRL=0 or
 * irqgen_exit(), which wakes it at once (condition variable, not a sleep).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/contracts.h"

/* Guest memory as the device may see it: see the contract above. */
struct irqgen_mem {
	void *(*slice)(void *ctx, uint64_t gpa, size_t len);
	void *ctx;
};

struct irqgen_config {
	struct irq_line irq;		/* optional: wired line, edge (1 then 0) */
	struct msi_sink msi;		/* optional: used when the guest set an MSI address */
	struct irqgen_mem mem;		/* required */
	int cpu;			/* host CPU for the thread, -1 = not pinned */
	int rt_prio;			/* SCHED_FIFO priority 1..99, 0 = normal scheduling */
};

struct irqgen {
	struct irqgen_config cfg;
	pthread_mutex_t lock;		/* registers, start/stop */
	pthread_cond_t wake;		/* CLOCK_MONOTONIC; signalled by stop */
	pthread_t thread;
	bool running;			/* under lock: the thread exists */
	bool stop;			/* under lock: the thread must return */
	bool error;
	uint32_t period_us;
	uint64_t stamp_gpa;
	uint64_t msi_addr;
	uint32_t msi_data, tsc_hi;
	uint64_t *stamp;		/* host view of the stamp page while running */
	/* Written by the thread with __atomic stores, read by anyone. */
	uint64_t count, overruns, errors;
};

/* Returns 0 or -errno (-EINVAL: no mem.slice or a bad cpu/rt_prio; pthread init errors). */
int irqgen_init(struct irqgen *g, const struct irqgen_config *cfg) __must_check;
/* Stops and joins the thread if it runs, then frees what init made. */
void irqgen_exit(struct irqgen *g);

uint32_t irqgen_read(struct irqgen *g, uint64_t off);
void irqgen_write(struct irqgen *g, uint64_t off, uint32_t val);

/* ctx = struct irqgen *: width/alignment checks, then irqgen_read/irqgen_write. */
extern const struct bus_dev_ops irqgen_bus_ops;

#endif
