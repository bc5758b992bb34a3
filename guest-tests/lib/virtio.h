/* SPDX-License-Identifier: MIT */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

/*
 * Driver side of virtio 1.x for test guests, written for ring 3 (main()): every register
 * access is an exit (~35 us on our hosts) but ring memory is plain memory, so the data path
 * touches registers only to kick, and only when the device asks for kicks.
 *
 * Two layers:
 * - struct virtio_tp: a transport (register access through struct virtio_tp_ops):
 *   virtio-mmio v2 (VIRTIO 1.2 §4.2.2, here) or modern virtio-pci (§4.1, virtio-pci.h).
 * - struct vq: one split virtqueue (§2.7) whose memory the caller owns (struct vq_mem), with
 *   the barriers and the notification-suppression logic (§2.7.7, §2.7.10) in one place.
 *
 * Nothing here trusts the device blindly: used ids and lengths are range-checked by the
 * users (virtio-net.c) before they index anything.
 *
 * Memory model: the device is a host thread on another CPU reading guest RAM. x86 is TSO:
 * stores are not reordered with stores, loads not with loads, so virtio_wmb/virtio_rmb are
 * compiler barriers; only a store followed by a load of another location (publish avail->idx,
 * then read the device's suppression flag) needs mfence (virtio_mb).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- virtio-mmio v2 registers (VIRTIO 1.2 §4.2.2) ---- */
#define VIRTIO_MMIO_BASE		0xd0000000ull	/* our VMM: slot i at base + i * 4 KiB */
#define VIRTIO_MMIO_SLOT_SIZE		0x1000ull
#define VIRTIO_MMIO_SLOTS		8
#define VIRTIO_MMIO_MAGIC		0x74726976u	/* "virt" */

#define VIRTIO_MMIO_MAGIC_VALUE		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR_ID		0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL	0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL	0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

/* ---- device status (§2.1) and feature bits (§6, §5.1.3) ---- */
#define VIRTIO_S_ACKNOWLEDGE		0x01
#define VIRTIO_S_DRIVER			0x02
#define VIRTIO_S_DRIVER_OK		0x04
#define VIRTIO_S_FEATURES_OK		0x08
#define VIRTIO_S_NEEDS_RESET		0x40
#define VIRTIO_S_FAILED			0x80

#define VIRTIO_F_BIT(n)			(1ull << (n))
#define VIRTIO_F_INDIRECT_DESC		VIRTIO_F_BIT(28)
#define VIRTIO_F_EVENT_IDX		VIRTIO_F_BIT(29)
#define VIRTIO_F_VERSION_1		VIRTIO_F_BIT(32)

#define VIRTIO_ID_NET			1

/* ---- split ring layout (§2.7.5, §2.7.6, §2.7.8) ---- */
#define VRING_DESC_F_NEXT		1
#define VRING_DESC_F_WRITE		2
#define VRING_DESC_F_INDIRECT		4
#define VRING_AVAIL_F_NO_INTERRUPT	1
#define VRING_USED_F_NO_NOTIFY		1

/* Largest queue this driver lays out; struct vq_mem is sized for it. */
#define VQ_MAX_SIZE			256

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

/*
 * Ring memory for one queue of up to VQ_MAX_SIZE entries. For a smaller size N the trailers
 * (used_event = avail.ring[N], avail_event after used.ring[N - 1]) sit inside the arrays.
 */
struct vq_mem {
	struct vring_desc desc[VQ_MAX_SIZE];		/* 16-byte aligned (§2.7) */
	struct {
		uint16_t flags;
		uint16_t idx;
		uint16_t ring[VQ_MAX_SIZE + 1];		/* + used_event */
	} avail __attribute__((aligned(16)));
	struct {
		uint16_t flags;
		uint16_t idx;
		struct vring_used_elem ring[VQ_MAX_SIZE];
		uint16_t avail_event;
	} used __attribute__((aligned(16)));
} __attribute__((aligned(4096)));

/* ---- barriers (see the memory model above) ---- */
static inline void virtio_wmb(void) { asm volatile("" ::: "memory"); }
static inline void virtio_rmb(void) { asm volatile("" ::: "memory"); }
static inline void virtio_mb(void) { asm volatile("mfence" ::: "memory"); }

/* ---- transport ---- */
struct virtio_tp;

struct virtio_tp_ops {
	uint32_t (*device_id)(struct virtio_tp *tp);
	uint8_t (*get_status)(struct virtio_tp *tp);
	void (*set_status)(struct virtio_tp *tp, uint8_t status);
	uint64_t (*get_features)(struct virtio_tp *tp);
	void (*set_features)(struct virtio_tp *tp, uint64_t features);
	/* Device config space; len 1, 2, 4 or 8 and naturally aligned. */
	uint64_t (*config_read)(struct virtio_tp *tp, uint32_t off, unsigned int len);
	uint32_t (*config_generation)(struct virtio_tp *tp);
	uint16_t (*queue_max)(struct virtio_tp *tp, uint16_t q);	/* 0: no such queue */
	/* Size and ring addresses, then ready (§4.2.3.2). 0 or -errno. */
	int (*queue_setup)(struct virtio_tp *tp, uint16_t q, uint16_t size, uint64_t desc,
			   uint64_t avail, uint64_t used);
	void (*notify)(struct virtio_tp *tp, uint16_t q);
};

/* Queues whose virtio-pci doorbell address the transport caches (the others: no notify). */
#define VIRTIO_TP_MAX_QUEUES		8

struct virtio_tp {
	const struct virtio_tp_ops *ops;
	uint64_t base;				/* mmio: the slot's address; pci: common_cfg */
	/* virtio-pci only (virtio-pci.c): addresses inside the function's BARs, all checked
	 * against the BAR sizes at probe time. */
	struct {
		uint64_t device_cfg;		/* 0: the device has no DEVICE_CFG */
		uint32_t device_cfg_len;
		uint64_t notify;		/* NOTIFY_CFG region */
		uint32_t notify_len, notify_mult;
		uint64_t doorbell[VIRTIO_TP_MAX_QUEUES];	/* 0 until queue_setup */
		uint16_t num_queues;
		uint8_t slot;			/* bus 0 device number */
	} pci;
};

extern const struct virtio_tp_ops virtio_mmio_ops;

/* Register access for tests that want to misbehave (net-malicious.c); mmio only. */
static inline uint32_t virtio_mmio_read(const struct virtio_tp *tp, uint32_t off)
{
	return *(volatile uint32_t *)(tp->base + off);
}
static inline void virtio_mmio_write(const struct virtio_tp *tp, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(tp->base + off) = v;
}

/*
 * Finds the idx-th (0-based) virtio-mmio v2 device with `device_id` in the VMM's slots
 * (an empty slot reads all ones). 0 and *tp filled, or -ENODEV.
 */
int virtio_mmio_find(uint32_t device_id, unsigned int idx, struct virtio_tp *tp);

/* Writes 0 and waits until the device reads back 0 (§2.4.1). 0 or -ETIMEDOUT. */
int virtio_reset(struct virtio_tp *tp);
/*
 * §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, features = offered & (required | optional),
 * FEATURES_OK and its read-back. -ENOTSUP if a required bit is not offered, -EIO if the
 * device refused FEATURES_OK (FAILED is then set). *out = the negotiated set.
 */
int virtio_negotiate(struct virtio_tp *tp, uint64_t required, uint64_t optional,
		     uint64_t *out);
/* §3.1.1 step 8. -EIO if the device did not take it (NEEDS_RESET or a bad geometry). */
int virtio_driver_ok(struct virtio_tp *tp);

/* ---- split virtqueue, driver side ---- */
struct vq {
	struct virtio_tp *tp;
	struct vq_mem *mem;
	uint16_t index;				/* queue number on the device */
	uint16_t size;				/* power of two <= VQ_MAX_SIZE */
	uint16_t avail_idx;			/* next avail idx we publish (shadow) */
	uint16_t kicked_idx;			/* avail idx at the last publish */
	uint16_t last_used;			/* next used entry we consume */
	bool event_idx;
	bool no_interrupt;			/* ask the device not to interrupt us */
};

/*
 * Sets up queue `index` with `size` entries (0 = QueueNumMax capped at VQ_MAX_SIZE; else
 * capped the same way and rounded down to a power of two) in `mem`, which is zeroed. Call
 * between FEATURES_OK and DRIVER_OK. 0, -ENOENT (no such queue) or -EINVAL.
 */
int vq_init(struct vq *vq, struct virtio_tp *tp, uint16_t index, uint16_t size,
	    struct vq_mem *mem, bool event_idx);

/* Puts head `id` in the next avail slot (not yet visible to the device). */
static inline void vq_add(struct vq *vq, uint16_t id)
{
	vq->mem->avail.ring[vq->avail_idx & (vq->size - 1)] = id;
	vq->avail_idx++;
}

/*
 * Makes every vq_add() since the last publish visible (one avail->idx store) and kicks the
 * device unless it suppressed notifications (§2.7.10 / §2.7.7). Returns true if it kicked.
 */
bool vq_publish(struct vq *vq);
/* The same without a kick: before DRIVER_OK, when the device would ignore it. */
void vq_publish_quiet(struct vq *vq);

/* Used entries not yet consumed, as the device published them (a snapshot). */
static inline uint16_t vq_used_pending(const struct vq *vq)
{
	uint16_t idx = *(volatile uint16_t *)&vq->mem->used.idx;

	/* The ring entries are read after the index (pairs with the device's release). */
	virtio_rmb();
	return (uint16_t)(idx - vq->last_used);
}

/* The next used element; only after vq_used_pending() said there is one. */
static inline struct vring_used_elem vq_used_next(struct vq *vq)
{
	struct vring_used_elem e = vq->mem->used.ring[vq->last_used & (vq->size - 1)];

	vq->last_used++;
	return e;
}

/* The event-index trailers (§2.7.10): used_event after avail.ring, avail_event after used.ring. */
static inline volatile uint16_t *vq_used_event(struct vq *vq)
{
	return (volatile uint16_t *)&vq->mem->avail.ring[vq->size];
}
static inline volatile uint16_t *vq_avail_event(struct vq *vq)
{
	return (volatile uint16_t *)((char *)vq->mem->used.ring +
				     (size_t)vq->size * sizeof(struct vring_used_elem));
}

/* Tells the device not to interrupt for used buffers (we poll). */
void vq_suppress_interrupts(struct vq *vq);

#endif
