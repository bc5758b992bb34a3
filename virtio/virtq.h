/* SPDX-License-Identifier: MIT */
#ifndef VIRTIO_VIRTQ_H
#define VIRTIO_VIRTQ_H

/*
 * Split virtqueues (VIRTIO 1.2 §2.7), device side. Everything the driver controls is untrusted:
 *
 * - Geometry (size, desc/avail/used addresses) is checked once, by virtq_activate(), when the
 *   driver sets DRIVER_OK: size a power of two <= VIRTQ_MAX_SIZE (and <= the device's maximum),
 *   the three areas aligned (16/2/4) and each entirely inside one RAM region (gm_slice). The
 *   result is frozen: a later write to the transport's queue registers cannot change what this
 *   queue reads (the device core refuses such writes anyway).
 * - virtq_pop() checks that avail.idx moved by at most `size` and that the head is < size.
 * - vq_chain_next() walks one chain with a ttl (a loop is an error, not a silent end), checks
 *   next < size, allows one level of indirection (VIRTQ_DESC_F_INDIRECT only on a top-level
 *   descriptor, table length a non-zero multiple of 16 and inside RAM, no nested indirect, at
 *   most size... we allow up to VIRTQ_MAX_INDIRECT entries), requires every device-readable
 *   buffer to come before every device-writable one, sums lengths with overflow checks (the
 *   total must fit the used element's 32-bit len), and
 *   checks each buffer with gm_slice(): a buffer that crosses the end of RAM or a region
 *   boundary is -EINVAL. Zero-length buffers are skipped (not returned), but count in the ttl.
 *   Each descriptor is copied out of guest memory once before use (no double fetch).
 *
 * A -EINVAL from virtq_pop() or vq_chain_next() means the ring is broken: the caller (device
 * core) marks the device DEVICE_NEEDS_RESET and stops processing it.
 *
 * Threading: one thread processes a given queue at a time (the device's I/O thread).
 */
#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "mm/gmem.h"

#define VIRTQ_MAX_SIZE		1024
#define VIRTQ_MAX_INDIRECT	1024

struct virtq {
	/* Written by the device core while the driver configures the queue. */
	uint16_t size;
	bool ready;
	gpa_t desc_gpa, avail_gpa, used_gpa;

	/* Valid after virtq_activate(). */
	const struct gmem *gm;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	bool event_idx;
	uint16_t last_avail;		/* next avail entry we will consume */
	uint16_t used_idx;		/* our shadow of used->idx */
	uint16_t signalled_used;	/* used_idx at the last interrupt (event idx) */
	bool signalled_valid;
	bool active;
};

struct vq_chain {
	struct virtq *vq;
	uint16_t head;
	uint16_t next;			/* next descriptor index in the current table */
	uint32_t ttl;			/* descriptors left before we call it a loop */
	const struct vring_desc *table;	/* desc ring or the indirect table */
	uint32_t table_len;		/* entries in table */
	bool indirect;			/* walking an indirect table */
	bool seen_write;		/* a device-writable buffer was returned */
	bool done;
	uint64_t total;			/* bytes in buffers returned so far */
};

struct vq_buf {
	void *hva;
	uint32_t len;
	bool write;			/* device-writable */
	gpa_t gpa;
};

/* -EINVAL with the reason in *why (a static string) if the geometry is not acceptable. */
int virtq_activate(struct virtq *vq, const struct gmem *gm, uint16_t max_size, bool event_idx,
		   const char **why) __must_check;
void virtq_reset(struct virtq *vq);

/* 1 and a chain, 0 if the ring is empty, -EINVAL if the driver broke the ring. */
int virtq_pop(struct virtq *vq, struct vq_chain *c) __must_check;
/* 1 and a buffer, 0 at the end of the chain, -EINVAL for a malformed chain. */
int vq_chain_next(struct vq_chain *c, struct vq_buf *b) __must_check;
/* Puts back the last popped chain (e.g. no RX buffer space after all). */
void virtq_unpop(struct virtq *vq, unsigned int n);

/* Adds a used element; entries become visible to the driver at virtq_publish(). */
void virtq_push_used(struct virtq *vq, uint16_t head, uint32_t len);
void virtq_publish(struct virtq *vq);
/* After virtq_publish(): must the driver be interrupted? (VIRTQ_AVAIL_F_NO_INTERRUPT or the
 * used_event index, VIRTIO 1.2 §2.7.7.2). With event idx it records the used index it was
 * asked about (as vhost and QEMU do), so the next call only looks at newer entries. */
bool virtq_should_notify(struct virtq *vq);
/* Ask the driver for kicks (true) or not (false): used.flags or avail_event. */
void virtq_enable_notify(struct virtq *vq, bool enable);
/* Number of available entries not yet consumed (0..size), or -EINVAL if avail.idx jumped. */
int virtq_pending(const struct virtq *vq);

#endif
