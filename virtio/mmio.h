/* SPDX-License-Identifier: MIT */
#ifndef VIRTIO_MMIO_H
#define VIRTIO_MMIO_H

/*
 * virtio-mmio transport, version 2 (VIRTIO 1.2 §4.2.2), offset-relative: register it on the
 * MMIO bus with length VIRTIO_MMIO_REGION_SIZE and virtio_mmio_bus_ops.
 *
 * - Registers 0x000-0x0ff accept only 32-bit aligned accesses (§4.2.2.2); anything else reads 0
 *   and is ignored on write, counted in stats.bad_accesses. Unknown registers read 0.
 * - Config space 0x100-0xfff: 1/2/4/8-byte accesses go to virtio_dev_config_rw(), which checks
 *   the bounds against the device's config size (outside: reads 0, writes dropped).
 * - Interrupts: one level-triggered line. A queue interrupt sets InterruptStatus bit 0, a
 *   config interrupt bit 1, and both raise the line; InterruptACK clears bits and lowers the
 *   line when none is left; a device reset (Status = 0) clears both and lowers it.
 * - QueueNotify hands the written value to virtio_dev_notify(), which ignores bad queues.
 *
 * Locking: m->lock covers the interrupt status and the line only; it is never held while
 * calling into the device core, so the core may raise interrupts from any thread.
 */
#include <pthread.h>
#include <stdint.h>

#include "base/contracts.h"
#include "virtio/device.h"

#define VIRTIO_MMIO_REGION_SIZE	0x1000	/* regs 0x000-0x0ff, config from 0x100 */
#define VIRTIO_MMIO_VENDOR	0x314d4d56	/* "VMM1", little-endian ASCII */

struct virtio_mmio_stats {
	uint64_t bad_accesses;		/* register access not 32-bit aligned, bad config width */
	uint64_t unknown_regs;		/* access to a register we do not implement */
};

struct virtio_mmio {
	struct virtio_dev *dev;
	struct irq_line irq;
	uint32_t isr;			/* InterruptStatus */
	int level;			/* last level given to irq.set */
	pthread_mutex_t lock;
	struct virtio_mmio_stats stats;
};

/* Two steps because the device core needs the transport's virtio_irq at init: */
void virtio_mmio_init(struct virtio_mmio *m, struct irq_line irq, struct virtio_irq *out_irq);
void virtio_mmio_attach(struct virtio_mmio *m, struct virtio_dev *dev);
void virtio_mmio_exit(struct virtio_mmio *m);

/* ctx = struct virtio_mmio *. Before virtio_mmio_attach() reads are 0 and writes ignored. */
extern const struct bus_dev_ops virtio_mmio_bus_ops;

#endif
