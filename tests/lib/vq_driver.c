// SPDX-License-Identifier: MIT
/* Mock virtio driver for unit tests: see vq_driver.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/vq_driver.h"

static const struct {
	gpa_t gpa;
	uint64_t len;
} vqd_regions[3] = {
	{ VQD_R0_GPA, VQD_R0_LEN },
	{ VQD_R1_GPA, VQD_R1_LEN },
	{ VQD_R2_GPA, VQD_R2_LEN },
};

int vqd_init(struct vqd *d, uint16_t size)
{
	unsigned int i;
	int ret;

	memset(d, 0, sizeof(*d));
	if (!size || size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	gm_init(&d->gm);
	for (i = 0; i < 3; i++) {
		d->mem[i] = calloc(1, vqd_regions[i].len);
		if (!d->mem[i]) {
			vqd_exit(d);
			return -ENOMEM;
		}
		ret = gm_add_region(&d->gm, vqd_regions[i].gpa, vqd_regions[i].len, d->mem[i],
				    -1, 0);
		if (ret) {
			vqd_exit(d);
			return ret;
		}
	}
	d->size = size;
	d->desc = VQD_DESC_GPA;
	d->avail = VQD_AVAIL_GPA;
	d->used = VQD_USED_GPA;
	d->data = VQD_DATA_GPA;
	return 0;
}

void vqd_exit(struct vqd *d)
{
	unsigned int i;

	for (i = 0; i < 3; i++) {
		free(d->mem[i]);
		d->mem[i] = NULL;
	}
}

struct vqd_geometry vqd_geometry(const struct vqd *d, enum vqd_geom g)
{
	struct vqd_geometry r = { .size = d->size, .desc = d->desc, .avail = d->avail,
				  .used = d->used };

	switch (g) {
	case VQD_GEOM_OK:
	case VQD_GEOM_NR:			break;
	case VQD_GEOM_SIZE_ZERO:		r.size = 0; break;
	case VQD_GEOM_SIZE_NOT_POW2:		r.size = d->size - 1 ? d->size - 1 : 3; break;
	case VQD_GEOM_SIZE_ABOVE_MAX:		r.size = 2u * d->size; break;
	case VQD_GEOM_SIZE_ABOVE_LIMIT:		r.size = 2u * VIRTQ_MAX_SIZE; break;
	case VQD_GEOM_SIZE_WIDER_THAN_16BIT:	r.size = 0x10000u + d->size; break;
	case VQD_GEOM_DESC_MISALIGNED:		r.desc += 8; break;
	case VQD_GEOM_AVAIL_MISALIGNED:		r.avail += 1; break;
	case VQD_GEOM_USED_MISALIGNED:		r.used += 2; break;
	case VQD_GEOM_USED_PAST_END_OF_RAM:	r.used = VQD_RAM_END - 16; break;
	case VQD_GEOM_DESC_IN_HOLE:		r.desc = VQD_HOLE_GPA; break;
	case VQD_GEOM_AVAIL_SPANS_REGIONS:	r.avail = VQD_R1_GPA - 4; break;
	case VQD_GEOM_DESC_ADDR_WRAPS:		r.desc = 0xfffffffffffff000ull; break;
	}
	return r;
}

void vqd_configure(const struct vqd *d, struct virtq *vq, enum vqd_geom g)
{
	struct vqd_geometry r = vqd_geometry(d, g);

	virtq_reset(vq);
	/* struct virtq holds 16 bits: what the device core stores for a wider value is 0. */
	vq->size = r.size > UINT16_MAX ? 0 : (uint16_t)r.size;
	vq->ready = true;
	vq->desc_gpa = r.desc;
	vq->avail_gpa = r.avail;
	vq->used_gpa = r.used;
}

void *vqd_ptr(const struct vqd *d, gpa_t gpa, size_t len)
{
	void *p = gm_slice(&d->gm, gpa, len);

	if (!p) {
		fprintf(stderr, "vq_driver: %#llx+%zu is not RAM\n", (unsigned long long)gpa, len);
		abort();
	}
	return p;
}

gpa_t vqd_alloc(struct vqd *d, uint32_t len)
{
	gpa_t g = d->data;

	if (len > VQD_R0_LEN - g) {
		fprintf(stderr, "vq_driver: data area of R0 exhausted\n");
		abort();
	}
	d->data = ALIGN_UP(g + len, 16);
	memset(vqd_ptr(d, g, len), 0, len);
	return g;
}

void vqd_set_desc(struct vqd *d, gpa_t table, uint16_t i, gpa_t addr, uint32_t len,
		  uint16_t flags, uint16_t next)
{
	struct vring_desc e = { .addr = addr, .len = len, .flags = flags, .next = next };

	/* memcpy: an indirect table may legally sit at any address (tests use 8-aligned ones). */
	memcpy(vqd_ptr(d, table + (gpa_t)i * sizeof(e), sizeof(e)), &e, sizeof(e));
}

void vqd_avail_push(struct vqd *d, uint16_t head)
{
	struct vring_avail *a = vqd_ptr(d, d->avail, 4 + 2 * (size_t)d->size);

	a->ring[d->avail_idx % d->size] = head;
	d->avail_idx++;
	/* The driver's side of virtq.c's acquire: ring entry before index. */
	__atomic_store_n(&a->idx, d->avail_idx, __ATOMIC_RELEASE);
}

void vqd_set_avail_idx(struct vqd *d, uint16_t idx)
{
	struct vring_avail *a = vqd_ptr(d, d->avail, 4);

	d->avail_idx = idx;
	__atomic_store_n(&a->idx, idx, __ATOMIC_RELEASE);
}

uint16_t vqd_alloc_desc(struct vqd *d)
{
	uint16_t i = d->next_desc;

	d->next_desc = (uint16_t)((d->next_desc + 1) % d->size);
	return i;
}

static void vqd_fill_table(struct vqd *d, gpa_t table, const uint16_t *slot,
			   const struct vqd_seg *s, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t flags = s[i].write ? VRING_DESC_F_WRITE : 0;

		if (i + 1 < n)
			flags |= VRING_DESC_F_NEXT;
		vqd_set_desc(d, table, slot[i], s[i].gpa, s[i].len, flags,
			     i + 1 < n ? slot[i + 1] : 0);
	}
}

uint16_t vqd_post(struct vqd *d, const struct vqd_seg *s, unsigned int n)
{
	uint16_t slot[VIRTQ_MAX_SIZE];
	unsigned int i;

	if (!n || n > d->size)
		abort();
	for (i = 0; i < n; i++)
		slot[i] = vqd_alloc_desc(d);
	vqd_fill_table(d, d->desc, slot, s, n);
	vqd_avail_push(d, slot[0]);
	return slot[0];
}

uint16_t vqd_post_indirect(struct vqd *d, const struct vqd_seg *s, unsigned int n)
{
	uint16_t slot[VIRTQ_MAX_INDIRECT];
	uint16_t head = vqd_alloc_desc(d);
	unsigned int i;
	gpa_t table;

	if (!n || n > VIRTQ_MAX_INDIRECT)
		abort();
	table = vqd_alloc(d, n * sizeof(struct vring_desc));
	for (i = 0; i < n; i++)
		slot[i] = (uint16_t)i;
	vqd_fill_table(d, table, slot, s, n);
	vqd_set_desc(d, d->desc, head, table, n * sizeof(struct vring_desc),
		     VRING_DESC_F_INDIRECT, 0);
	vqd_avail_push(d, head);
	return head;
}

static void vqd_post_one(struct vqd *d, gpa_t addr, uint32_t len, uint16_t flags)
{
	uint16_t h = vqd_alloc_desc(d);

	vqd_set_desc(d, d->desc, h, addr, len, flags, 0);
	vqd_avail_push(d, h);
}

void vqd_post_hostile(struct vqd *d, enum vqd_hostile h)
{
	const uint32_t D = sizeof(struct vring_desc);
	gpa_t buf = vqd_alloc(d, 64), t, t2;
	uint16_t a, b;
	unsigned int i;

	switch (h) {
	case VQD_DESC_LOOP:
		a = vqd_alloc_desc(d);
		b = vqd_alloc_desc(d);
		vqd_set_desc(d, d->desc, a, buf, 16, VRING_DESC_F_NEXT, b);
		vqd_set_desc(d, d->desc, b, buf, 16, VRING_DESC_F_NEXT, a);
		vqd_avail_push(d, a);
		break;
	case VQD_NEXT_OUT_OF_RANGE:
		a = vqd_alloc_desc(d);
		vqd_set_desc(d, d->desc, a, buf, 16, VRING_DESC_F_NEXT, d->size);
		vqd_avail_push(d, a);
		break;
	case VQD_HEAD_OUT_OF_RANGE:
		vqd_avail_push(d, d->size);
		break;
	case VQD_AVAIL_IDX_JUMP:
		vqd_set_avail_idx(d, (uint16_t)(d->avail_idx + d->size + 1));
		break;
	case VQD_INDIRECT_LEN_ZERO:
		vqd_post_one(d, vqd_alloc(d, D), 0, VRING_DESC_F_INDIRECT);
		break;
	case VQD_INDIRECT_LEN_NOT_MULTIPLE_OF_16:
		t = vqd_alloc(d, 2 * D);
		vqd_set_desc(d, t, 0, buf, 16, 0, 0);
		vqd_post_one(d, t, D + 8, VRING_DESC_F_INDIRECT);
		break;
	case VQD_INDIRECT_NESTED:
		t = vqd_alloc(d, D);
		t2 = vqd_alloc(d, D);
		vqd_set_desc(d, t2, 0, buf, 16, 0, 0);
		vqd_set_desc(d, t, 0, t2, D, VRING_DESC_F_INDIRECT, 0);
		vqd_post_one(d, t, D, VRING_DESC_F_INDIRECT);
		break;
	case VQD_INDIRECT_WITH_NEXT:
		t = vqd_alloc(d, D);
		vqd_set_desc(d, t, 0, buf, 16, 0, 0);
		a = vqd_alloc_desc(d);
		b = vqd_alloc_desc(d);
		vqd_set_desc(d, d->desc, a, t, D, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, b);
		vqd_set_desc(d, d->desc, b, buf, 16, 0, 0);
		vqd_avail_push(d, a);
		break;
	case VQD_INDIRECT_TABLE_IN_HOLE:
		vqd_post_one(d, VQD_HOLE_GPA, 4 * D, VRING_DESC_F_INDIRECT);
		break;
	case VQD_INDIRECT_TOO_MANY_ENTRIES:
		t = VQD_R2_GPA;		/* room for it, zeroed: valid-looking entries */
		vqd_post_one(d, t, (VIRTQ_MAX_INDIRECT + 1) * D, VRING_DESC_F_INDIRECT);
		break;
	case VQD_INDIRECT_LOOP:
		t = vqd_alloc(d, 2 * D);
		vqd_set_desc(d, t, 0, buf, 16, VRING_DESC_F_NEXT, 1);
		vqd_set_desc(d, t, 1, buf, 16, VRING_DESC_F_NEXT, 0);
		vqd_post_one(d, t, 2 * D, VRING_DESC_F_INDIRECT);
		break;
	case VQD_INDIRECT_NEXT_OUT_OF_RANGE:
		t = vqd_alloc(d, 2 * D);
		vqd_set_desc(d, t, 0, buf, 16, VRING_DESC_F_NEXT, 2);
		vqd_set_desc(d, t, 1, buf, 16, 0, 0);
		vqd_post_one(d, t, 2 * D, VRING_DESC_F_INDIRECT);
		break;
	case VQD_WRITABLE_BEFORE_READABLE:
		vqd_post(d, (struct vqd_seg[]){ { buf, 16, true }, { buf + 16, 16, false } }, 2);
		break;
	case VQD_BUF_PAST_END_OF_RAM:
		vqd_post_one(d, VQD_RAM_END - 8, 16, 0);
		break;
	case VQD_BUF_SPANS_TWO_REGIONS:
		vqd_post_one(d, VQD_R1_GPA - 8, 16, 0);
		break;
	case VQD_BUF_IN_HOLE:
		vqd_post_one(d, VQD_HOLE_GPA + 0x100, 16, VRING_DESC_F_WRITE);
		break;
	case VQD_BUF_LEN_MAX:
		vqd_post_one(d, buf, 0xffffffff, VRING_DESC_F_WRITE);
		break;
	case VQD_BUF_ADDR_WRAPS:
		vqd_post_one(d, 0xfffffffffffffff0ull, 0x20, 0);
		break;
	case VQD_TOTAL_LEN_OVERFLOW:
		/* 1024 buffers of 4 MiB + 4 KiB, all inside R2: 4 GiB + 4 MiB in total. */
		t = vqd_alloc(d, VIRTQ_MAX_INDIRECT * D);
		for (i = 0; i < VIRTQ_MAX_INDIRECT; i++)
			vqd_set_desc(d, t, (uint16_t)i, VQD_R2_GPA, 0x401000,
				     VRING_DESC_F_WRITE |
				     (i + 1 < VIRTQ_MAX_INDIRECT ? VRING_DESC_F_NEXT : 0),
				     (uint16_t)(i + 1));
		vqd_post_one(d, t, VIRTQ_MAX_INDIRECT * D, VRING_DESC_F_INDIRECT);
		break;
	case VQD_HOSTILE_NR:
		abort();
	}
}

int vqd_get_used(struct vqd *d, uint32_t *id, uint32_t *len)
{
	struct vring_used *u = vqd_ptr(d, d->used, 4 + 8 * (size_t)d->size);
	/* Acquire pairs with virtq_publish()'s release: element before index. */
	uint16_t idx = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
	struct vring_used_elem *e;

	if (idx == d->last_used)
		return 0;
	e = &u->ring[d->last_used % d->size];
	*id = e->id;
	*len = e->len;
	d->last_used++;
	return 1;
}

uint16_t vqd_used_idx(const struct vqd *d)
{
	struct vring_used *u = vqd_ptr(d, d->used, 4);

	return __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
}

uint16_t vqd_used_flags(const struct vqd *d)
{
	struct vring_used *u = vqd_ptr(d, d->used, 4);

	return __atomic_load_n(&u->flags, __ATOMIC_ACQUIRE);
}

uint16_t vqd_avail_event(const struct vqd *d)
{
	uint16_t *p = vqd_ptr(d, d->used + 4 + 8 * (gpa_t)d->size, 2);

	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

void vqd_set_used_event(struct vqd *d, uint16_t idx)
{
	uint16_t *p = vqd_ptr(d, d->avail + 4 + 2 * (gpa_t)d->size, 2);

	__atomic_store_n(p, idx, __ATOMIC_RELEASE);
}

void vqd_set_avail_flags(struct vqd *d, uint16_t flags)
{
	struct vring_avail *a = vqd_ptr(d, d->avail, 4);

	__atomic_store_n(&a->flags, flags, __ATOMIC_RELEASE);
}
