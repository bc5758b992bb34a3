/* SPDX-License-Identifier: MIT */
#ifndef TESTS_LIB_VQ_DRIVER_H
#define TESTS_LIB_VQ_DRIVER_H

/*
 * A mock virtio *driver* (after rust-vmm virtio-queue's mock.rs): it owns a real struct gmem
 * and lays out a split virtqueue in it the way a guest would, posts chains (readable buffers
 * then writable ones, direct or through an indirect table), reads the used ring, and can post
 * hostile chains and hostile ring geometries on purpose.
 *
 * Guest memory (each region its own host allocation, so a range that "works" across a
 * boundary is a real host bug that ASan sees):
 *
 *   R0 [0, 1 MiB)        rings at 0x1000 / 0x5000 / 0x6000 (room for size 1024), data above
 *   R1 [1 MiB, 2 MiB)    adjacent to R0 but a different region
 *   hole [2 MiB, 3 MiB)
 *   R2 [3 MiB, 11 MiB)   large buffers (e.g. to overflow a chain's 32-bit total)
 */
#include <stdbool.h>
#include <stdint.h>

#include "mm/gmem.h"
#include "virtio/virtq.h"

#define VQD_R0_GPA	0x000000ull
#define VQD_R0_LEN	0x100000ull
#define VQD_R1_GPA	0x100000ull
#define VQD_R1_LEN	0x100000ull
#define VQD_HOLE_GPA	0x200000ull
#define VQD_R2_GPA	0x300000ull
#define VQD_R2_LEN	0x800000ull
#define VQD_RAM_END	(VQD_R2_GPA + VQD_R2_LEN)

#define VQD_DESC_GPA	0x1000ull
#define VQD_AVAIL_GPA	0x5000ull
#define VQD_USED_GPA	0x6000ull
#define VQD_DATA_GPA	0x10000ull

struct vqd {
	struct gmem gm;
	uint8_t *mem[3];
	uint16_t size;
	gpa_t desc, avail, used;
	uint16_t avail_idx;	/* the driver's next avail.idx */
	uint16_t next_desc;	/* next free descriptor slot (bump allocator, wraps) */
	uint16_t last_used;	/* next used element the driver will read */
	gpa_t data;		/* next free data byte in R0 */
};

/* One buffer of a chain. */
struct vqd_seg {
	gpa_t gpa;
	uint32_t len;
	bool write;		/* device-writable */
};

/* Ring geometries a driver can program; VQD_GEOM_OK is the good one. */
enum vqd_geom {
	VQD_GEOM_OK,
	VQD_GEOM_SIZE_ZERO,
	VQD_GEOM_SIZE_NOT_POW2,
	VQD_GEOM_SIZE_ABOVE_MAX,	/* twice the queue's size (the device's maximum) */
	VQD_GEOM_SIZE_ABOVE_LIMIT,	/* 2 * VIRTQ_MAX_SIZE */
	VQD_GEOM_SIZE_WIDER_THAN_16BIT,	/* 0x10000 + size: aliases size if truncated */
	VQD_GEOM_DESC_MISALIGNED,
	VQD_GEOM_AVAIL_MISALIGNED,
	VQD_GEOM_USED_MISALIGNED,
	VQD_GEOM_USED_PAST_END_OF_RAM,
	VQD_GEOM_DESC_IN_HOLE,
	VQD_GEOM_AVAIL_SPANS_REGIONS,
	VQD_GEOM_DESC_ADDR_WRAPS,
	VQD_GEOM_NR,
};

struct vqd_geometry {
	uint32_t size;		/* as written to the QueueNum register (may exceed 16 bits) */
	gpa_t desc, avail, used;
};

/* Malformed chains; each one must make virtq_pop() or vq_chain_next() return -EINVAL. */
enum vqd_hostile {
	VQD_DESC_LOOP,			/* a -> b -> a */
	VQD_NEXT_OUT_OF_RANGE,		/* next == size */
	VQD_HEAD_OUT_OF_RANGE,		/* avail ring entry == size */
	VQD_AVAIL_IDX_JUMP,		/* avail.idx moved by size + 1 */
	VQD_INDIRECT_LEN_ZERO,
	VQD_INDIRECT_LEN_NOT_MULTIPLE_OF_16,
	VQD_INDIRECT_NESTED,
	VQD_INDIRECT_WITH_NEXT,
	VQD_INDIRECT_TABLE_IN_HOLE,
	VQD_INDIRECT_TOO_MANY_ENTRIES,	/* VIRTQ_MAX_INDIRECT + 1 */
	VQD_INDIRECT_LOOP,		/* entries 0 -> 1 -> 0 inside the table */
	VQD_INDIRECT_NEXT_OUT_OF_RANGE,
	VQD_WRITABLE_BEFORE_READABLE,
	VQD_BUF_PAST_END_OF_RAM,
	VQD_BUF_SPANS_TWO_REGIONS,
	VQD_BUF_IN_HOLE,
	VQD_BUF_LEN_MAX,		/* len 0xffffffff */
	VQD_BUF_ADDR_WRAPS,		/* addr + len wraps past 2^64 */
	VQD_TOTAL_LEN_OVERFLOW,		/* every buffer valid, the sum > 32 bits */
	VQD_HOSTILE_NR,
};

int vqd_init(struct vqd *d, uint16_t size) __must_check;
void vqd_exit(struct vqd *d);

/* Good or hostile geometry values, and a shortcut that writes them into a struct virtq. */
struct vqd_geometry vqd_geometry(const struct vqd *d, enum vqd_geom g);
void vqd_configure(const struct vqd *d, struct virtq *vq, enum vqd_geom g);

/* Host pointer for [gpa, gpa + len) (aborts if not RAM: a bug in the test). */
void *vqd_ptr(const struct vqd *d, gpa_t gpa, size_t len);
/* len bytes of data area in R0, 16-byte aligned, zeroed. */
gpa_t vqd_alloc(struct vqd *d, uint32_t len);

/* Raw descriptor i of the table at `table` (the ring itself: d->desc). */
void vqd_set_desc(struct vqd *d, gpa_t table, uint16_t i, gpa_t addr, uint32_t len,
		  uint16_t flags, uint16_t next);
/* Puts head in the avail ring and publishes avail.idx (release). */
void vqd_avail_push(struct vqd *d, uint16_t head);
void vqd_set_avail_idx(struct vqd *d, uint16_t idx);
uint16_t vqd_alloc_desc(struct vqd *d);

/* Posts a chain of n buffers in the ring / through one indirect table; returns the head. */
uint16_t vqd_post(struct vqd *d, const struct vqd_seg *s, unsigned int n);
uint16_t vqd_post_indirect(struct vqd *d, const struct vqd_seg *s, unsigned int n);
/* Posts one malformed chain (or index). */
void vqd_post_hostile(struct vqd *d, enum vqd_hostile h);

/* 1 and the next used element, or 0 if the device has not published one. */
int vqd_get_used(struct vqd *d, uint32_t *id, uint32_t *len);
uint16_t vqd_used_idx(const struct vqd *d);
uint16_t vqd_used_flags(const struct vqd *d);
uint16_t vqd_avail_event(const struct vqd *d);
void vqd_set_used_event(struct vqd *d, uint16_t idx);
void vqd_set_avail_flags(struct vqd *d, uint16_t flags);

#endif
