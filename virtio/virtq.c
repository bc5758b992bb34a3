// SPDX-License-Identifier: MIT
/*
 * Split virtqueues, device side (VIRTIO 1.2 §2.7). The rules are in virtq.h; this file keeps
 * them in one place so that no device model ever reads a struct vring_desc itself.
 *
 * Memory model: the rings live in guest RAM that a running guest writes concurrently. Fields
 * the driver publishes are read with __atomic loads (single-copy atomic, never re-read), every
 * descriptor is copied into a local before it is validated, and every barrier below says
 * which driver-side barrier it pairs with. Hot paths (pop, chain_next, push, publish) do no
 * allocation and no system call.
 */
#include <errno.h>
#include <string.h>

#include "virtio/virtq.h"

/* VIRTIO 1.2 §2.7: alignment of descriptor table, available ring, used ring. */
#define VIRTQ_DESC_ALIGN	16
#define VIRTQ_AVAIL_ALIGN	2
#define VIRTQ_USED_ALIGN	4

BUILD_BUG_ON(sizeof(struct vring_desc) != 16);
BUILD_BUG_ON(sizeof(struct vring_used_elem) != 8);
BUILD_BUG_ON(VIRTQ_MAX_SIZE > 32768);	/* §2.7: Queue Size is at most 32768 */

/* Area sizes including the event-idx trailers (§2.7: 6 + 2 * size and 6 + 8 * size). */
static size_t virtq_desc_bytes(uint16_t size)
{
	return (size_t)size * sizeof(struct vring_desc);
}

static size_t virtq_avail_bytes(uint16_t size)
{
	return 6 + 2 * (size_t)size;
}

static size_t virtq_used_bytes(uint16_t size)
{
	return 6 + 8 * (size_t)size;
}

static uint16_t *virtq_used_event(struct virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

static uint16_t *virtq_avail_event(struct virtq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

int virtq_activate(struct virtq *vq, const struct gmem *gm, uint16_t max_size, bool event_idx,
		   const char **why)
{
	uint16_t size = vq->size;
	void *desc, *avail, *used;
	const char *dummy;

	if (!why)
		why = &dummy;
	vq->active = false;
	if (!size || (size & (size - 1))) {
		*why = "queue size is not a power of two";
		return -EINVAL;
	}
	if (size > VIRTQ_MAX_SIZE || size > max_size) {
		*why = "queue size is larger than the maximum";
		return -EINVAL;
	}
	if (!IS_ALIGNED(vq->desc_gpa, VIRTQ_DESC_ALIGN) ||
	    !IS_ALIGNED(vq->avail_gpa, VIRTQ_AVAIL_ALIGN) ||
	    !IS_ALIGNED(vq->used_gpa, VIRTQ_USED_ALIGN)) {
		*why = "queue rings are misaligned";
		return -EINVAL;
	}
	desc = gm_slice(gm, vq->desc_gpa, virtq_desc_bytes(size));
	avail = gm_slice(gm, vq->avail_gpa, virtq_avail_bytes(size));
	used = gm_slice(gm, vq->used_gpa, virtq_used_bytes(size));
	if (!desc || !avail || !used) {
		*why = "queue rings are not inside guest RAM";
		return -EINVAL;
	}

	/* Geometry is frozen from here on: only these pointers and `size` are used. */
	vq->gm = gm;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->event_idx = event_idx;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->active = true;
	return 0;
}

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

/*
 * avail->idx is the driver's publication point: it writes ring entries, then (after its
 * write barrier, virtio_wmb) the index. The acquire load pairs with that barrier, so the
 * entries we read after it are at least as new as the index.
 */
static uint16_t virtq_avail_idx(const struct virtq *vq)
{
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
}

int virtq_pending(const struct virtq *vq)
{
	uint16_t n;

	if (!vq->active)
		return 0;
	n = (uint16_t)(virtq_avail_idx(vq) - vq->last_avail);
	/* §2.7.6: the driver can have at most `size` entries outstanding. */
	return n > vq->size ? -EINVAL : n;
}

int virtq_pop(struct virtq *vq, struct vq_chain *c)
{
	uint16_t head;
	int n = virtq_pending(vq);

	if (n <= 0)
		return n;
	/* Ordered after the acquire in virtq_pending(); relaxed = one untorn read. */
	head = __atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->size - 1)],
			       __ATOMIC_RELAXED);
	if (head >= vq->size)
		return -EINVAL;
	vq->last_avail++;
	*c = (struct vq_chain){
		.vq = vq,
		.head = head,
		.next = head,
		.ttl = vq->size,
		.table = vq->desc,
		.table_len = vq->size,
	};
	return 1;
}

void virtq_unpop(struct virtq *vq, unsigned int n)
{
	vq->last_avail -= (uint16_t)n;
}

/*
 * One copy of a descriptor, READ_ONCE-style: memcpy (an indirect table need not be 8-byte
 * aligned) followed by a compiler barrier, so the compiler can neither re-read a field from
 * guest memory later nor merge two reads: every check below sees the values we use.
 */
static void vq_desc_fetch(const struct vring_desc *src, struct vring_desc *d)
{
	memcpy(d, src, sizeof(*d));
	__asm__ __volatile__("" : : : "memory");
}

int vq_chain_next(struct vq_chain *c, struct vq_buf *b)
{
	const struct gmem *gm = c->vq->gm;
	struct vring_desc d;
	uint64_t total;
	bool write;
	void *hva;

	for (;;) {
		if (c->done)
			return 0;
		if (c->next >= c->table_len)
			return -EINVAL;
		/* More descriptors than the table holds: the chain loops. */
		if (c->ttl == 0)
			return -EINVAL;
		c->ttl--;
		vq_desc_fetch(&c->table[c->next], &d);

		if (d.flags & VRING_DESC_F_INDIRECT) {
			uint32_t n = d.len / sizeof(struct vring_desc);
			const struct vring_desc *t;

			/* §2.7.5.3.1: no INDIRECT|NEXT, no indirect inside an indirect table. */
			if (c->indirect || (d.flags & VRING_DESC_F_NEXT))
				return -EINVAL;
			if (!d.len || d.len % sizeof(struct vring_desc) || n > VIRTQ_MAX_INDIRECT)
				return -EINVAL;
			t = gm_slice(gm, d.addr, d.len);
			if (!t)
				return -EINVAL;
			/* §2.7.5.3.2: the device ignores F_WRITE on the indirect descriptor. */
			c->table = t;
			c->table_len = n;
			c->next = 0;
			c->ttl = n;
			c->indirect = true;
			continue;
		}

		if (d.flags & VRING_DESC_F_NEXT)
			c->next = d.next;	/* range-checked on the next call */
		else
			c->done = true;

		/* §2.7.4.2: device-readable descriptors come before device-writable ones. */
		write = d.flags & VRING_DESC_F_WRITE;
		if (!write && c->seen_write)
			return -EINVAL;
		if (write)
			c->seen_write = true;
		if (!d.len)
			continue;

		/* used.len is 32 bits: a chain whose total does not fit cannot be reported. */
		if (__builtin_add_overflow(c->total, (uint64_t)d.len, &total) || total > UINT32_MAX)
			return -EINVAL;
		hva = gm_slice(gm, d.addr, d.len);
		if (!hva)
			return -EINVAL;
		c->total = total;
		*b = (struct vq_buf){ .hva = hva, .len = d.len, .write = write, .gpa = d.addr };
		return 1;
	}
}

void virtq_push_used(struct virtq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];

	/* Not visible to the driver until virtq_publish(); relaxed = no torn stores. */
	__atomic_store_n(&e->id, (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	vq->used_idx++;
}

void virtq_publish(struct virtq *vq)
{
	/*
	 * Release: the used elements written by virtq_push_used() are visible before the new
	 * index, pairing with the driver's read barrier (virtio_rmb) after it reads used->idx.
	 */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

/* §2.7.10: true if event lies in [old, new) modulo 2^16 (Linux vring_need_event). */
static bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t old, event;
	bool valid;

	if (!vq->active)
		return false;
	/*
	 * Full barrier: our used->idx store must be visible before we read the driver's flags or
	 * used_event. The driver does the mirror image (writes used_event, mb, re-reads
	 * used->idx); without a store->load barrier on both sides each could miss the other and
	 * the driver would sleep on a used ring we filled.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx) {
		uint16_t flags = __atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED);

		return !(flags & VRING_AVAIL_F_NO_INTERRUPT);	/* §2.7.7.2 */
	}
	event = __atomic_load_n(virtq_used_event(vq), __ATOMIC_RELAXED);
	old = vq->signalled_used;
	valid = vq->signalled_valid;
	/*
	 * Record what the driver has now been told about whether or not we interrupt: if it moves
	 * used_event back into [old, new) later, it re-reads used->idx itself (§2.7.7.2).
	 */
	vq->signalled_used = vq->used_idx;
	vq->signalled_valid = true;
	return !valid || virtq_need_event(event, vq->used_idx, old);
}

void virtq_enable_notify(struct virtq *vq, bool enable)
{
	if (!vq->active)
		return;
	if (vq->event_idx) {
		/*
		 * §2.7.10: "kick me when you add entry last_avail". Disabling needs no write:
		 * avail_event then stays behind and the driver's vring_need_event() says no.
		 */
		if (enable)
			__atomic_store_n(virtq_avail_event(vq), vq->last_avail, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&vq->used->flags, enable ? 0 : VRING_USED_F_NO_NOTIFY,
				 __ATOMIC_RELAXED);
	}
	/*
	 * Full barrier: the store above must be visible before the caller re-checks avail->idx
	 * (virtq_pending/virtq_pop), pairing with the driver's mb between writing avail->idx and
	 * reading our flags/avail_event. Otherwise a kick could be lost in between.
	 */
	if (enable)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
