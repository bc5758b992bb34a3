/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_BUS_H
#define DEVICES_BUS_H

/*
 * An address-range map from a vCPU exit to a device (one for port I/O, one for MMIO).
 *
 * Contract:
 *  - bus_init() and every bus_register() happen before any vCPU runs; after that the table is
 *    read-only, so bus_read()/bus_write() take no lock and may be called concurrently from any
 *    number of vCPU threads. A device that has state locks it itself (base/contracts.h).
 *  - Ranges are [base, base + len), non-empty, not wrapping past 2^64, and never overlap.
 *  - An access claims a device only if all of addr .. addr + len - 1 lies in one range and
 *    1 <= len <= 8. The device then sees off = addr - base and, for reads, a zeroed buffer.
 *  - Anything else is unclaimed: a read returns all ones (what an empty ISA/PCI bus returns),
 *    a write is dropped, and the matching counter in stats goes up (atomically).
 */
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/contracts.h"

#define BUS_MAX_DEVS	64
#define BUS_MAX_ACCESS	8	/* widest access a vCPU exit can carry (MMIO: 8 bytes) */

struct bus_stats {
	uint64_t unclaimed_reads;	/* updated with __atomic builtins */
	uint64_t unclaimed_writes;
};

struct bus_range {
	uint64_t base, len;
	const struct bus_dev_ops *ops;
	void *ctx;
	const char *name;		/* not copied: must outlive the bus */
};

struct bus {
	const char *name;		/* "pio" / "mmio", for messages */
	unsigned int nr;		/* entries used in r[] */
	struct bus_range r[BUS_MAX_DEVS];	/* sorted by base */
	struct bus_stats stats;
	bool verbose;			/* log the first unclaimed access (pr_info) */
	bool unclaimed_logged;		/* set atomically by the first such access */
};

void bus_init(struct bus *b, const char *name);

/*
 * Adds [base, base + len) -> ops/ctx. Returns 0, or
 *   -EINVAL  len is 0, base + len overflows 64 bits, ops or one of its callbacks is NULL;
 *   -EEXIST  the range overlaps a registered one (logged with both device names);
 *   -ENOSPC  BUS_MAX_DEVS ranges are already registered.
 * Not thread-safe: call before vCPUs run.
 */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_dev_ops *ops,
		 void *ctx, const char *devname) __must_check;

/* Returns true if a device claimed the access; data holds len bytes either way. */
bool bus_read(struct bus *b, uint64_t addr, void *data, uint32_t len);
bool bus_write(struct bus *b, uint64_t addr, const void *data, uint32_t len);

#endif
