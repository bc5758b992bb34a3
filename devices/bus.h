/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_BUS_H
#define DEVICES_BUS_H

/*
 * An address-range map from a vCPU exit to a device (one for port I/O, one for MMIO).
 *
 * Contract:
 *  - bus_init() happens before any vCPU runs. bus_read()/bus_write() take no lock and may be
 *    called concurrently from any number of vCPU threads. A device that has state locks it
 *    itself (base/contracts.h).
 *  - bus_register()/bus_unregister() may also run while vCPUs run (a guest moving a PCI BAR):
 *    writers are serialised by `wlock`, and readers see the table through a seqlock (`seq` is
 *    odd while a writer changes it; a reader that saw it change retries its lookup). Every
 *    field a reader looks at is loaded and stored with __atomic builtins, so there is no data
 *    race. A reader copies the range it found before it dispatches: after bus_unregister()
 *    returns, an access that looked the range up just before may still reach the device, so
 *    a device stays alive for as long as the bus is used (vmm/ stops vCPUs before teardown).
 *  - Ranges are [base, base + len), non-empty, not wrapping past 2^64, and never overlap.
 *  - An access claims a device only if all of addr .. addr + len - 1 lies in one range and
 *    1 <= len <= 8. The device then sees off = addr - base and, for reads, a zeroed buffer.
 *  - Anything else is unclaimed: a read returns all ones (what an empty ISA/PCI bus returns),
 *    a write is dropped, and the matching counter in stats goes up (atomically).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/contracts.h"
#include "base/log.h"

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
	unsigned int seq;		/* seqlock over nr and r[]: odd while being changed */
	pthread_mutex_t wlock;		/* serialises register/unregister */
	struct log_ratelimit rl;	/* overlap messages (guest BAR moves can loop) */
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
 * Safe against concurrent bus_read()/bus_write() and other writers (see the contract above).
 */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_dev_ops *ops,
		 void *ctx, const char *devname) __must_check;

/*
 * Removes the range registered as exactly [base, base + len). Returns 0, or -ENOENT if there
 * is no such range (a partial match removes nothing). Same thread rules as bus_register().
 */
int bus_unregister(struct bus *b, uint64_t base, uint64_t len) __must_check;

/* Returns true if a device claimed the access; data holds len bytes either way. */
bool bus_read(struct bus *b, uint64_t addr, void *data, uint32_t len);
bool bus_write(struct bus *b, uint64_t addr, const void *data, uint32_t len);

#endif
