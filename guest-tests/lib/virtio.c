// SPDX-License-Identifier: MIT
/*
 * virtio 1.x driver core for test guests: the virtio-mmio v2 transport (VIRTIO 1.2 §4.2), the
 * initialisation sequence (§3.1.1) and the driver side of split virtqueues (§2.7).
 */
#include "libguest.h"
#include "virtio.h"

#define EINVAL		22
#define ENOENT		2
#define ENODEV		19
#define EIO		5
#define ENOTSUP		95
#define ETIMEDOUT	110

#define VIRTIO_MMIO_V2	2

/* ---- virtio-mmio transport ---- */

static uint32_t mmio_device_id(struct virtio_tp *tp)
{
	return virtio_mmio_read(tp, VIRTIO_MMIO_DEVICE_ID);
}

static uint8_t mmio_get_status(struct virtio_tp *tp)
{
	return (uint8_t)virtio_mmio_read(tp, VIRTIO_MMIO_STATUS);
}

static void mmio_set_status(struct virtio_tp *tp, uint8_t status)
{
	virtio_mmio_write(tp, VIRTIO_MMIO_STATUS, status);
}

static uint64_t mmio_get_features(struct virtio_tp *tp)
{
	uint64_t f;

	virtio_mmio_write(tp, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)virtio_mmio_read(tp, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	virtio_mmio_write(tp, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | virtio_mmio_read(tp, VIRTIO_MMIO_DEVICE_FEATURES);
}

static void mmio_set_features(struct virtio_tp *tp, uint64_t f)
{
	virtio_mmio_write(tp, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	virtio_mmio_write(tp, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	virtio_mmio_write(tp, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	virtio_mmio_write(tp, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

static uint64_t mmio_config_read(struct virtio_tp *tp, uint32_t off, unsigned int len)
{
	uint64_t a = tp->base + VIRTIO_MMIO_CONFIG + off;

	/* §4.2.2.2: config space accesses use the field's own width. */
	switch (len) {
	case 1: return *(volatile uint8_t *)a;
	case 2: return *(volatile uint16_t *)a;
	case 4: return *(volatile uint32_t *)a;
	case 8: return *(volatile uint64_t *)a;
	}
	return 0;
}

static uint32_t mmio_config_generation(struct virtio_tp *tp)
{
	return virtio_mmio_read(tp, VIRTIO_MMIO_CONFIG_GENERATION);
}

static uint16_t mmio_queue_max(struct virtio_tp *tp, uint16_t q)
{
	uint32_t max;

	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_SEL, q);
	max = virtio_mmio_read(tp, VIRTIO_MMIO_QUEUE_NUM_MAX);
	return max > 0xffff ? 0 : (uint16_t)max;
}

static int mmio_queue_setup(struct virtio_tp *tp, uint16_t q, uint16_t size, uint64_t desc,
			    uint64_t avail, uint64_t used)
{
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_SEL, q);
	/* §4.2.3.2: the queue must not be in use already. */
	if (virtio_mmio_read(tp, VIRTIO_MMIO_QUEUE_READY))
		return -EINVAL;
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_NUM, size);
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_READY, 1);
	return virtio_mmio_read(tp, VIRTIO_MMIO_QUEUE_READY) == 1 ? 0 : -EINVAL;
}

static void mmio_notify(struct virtio_tp *tp, uint16_t q)
{
	/* An ioeventfd on our VMM: one exit into the host kernel, none to user space. */
	virtio_mmio_write(tp, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

const struct virtio_tp_ops virtio_mmio_ops = {
	.device_id = mmio_device_id,
	.get_status = mmio_get_status,
	.set_status = mmio_set_status,
	.get_features = mmio_get_features,
	.set_features = mmio_set_features,
	.config_read = mmio_config_read,
	.config_generation = mmio_config_generation,
	.queue_max = mmio_queue_max,
	.queue_setup = mmio_queue_setup,
	.notify = mmio_notify,
};

int virtio_mmio_find(uint32_t device_id, unsigned int idx, struct virtio_tp *tp)
{
	for (unsigned int slot = 0; slot < VIRTIO_MMIO_SLOTS; slot++) {
		struct virtio_tp t = {
			.ops = &virtio_mmio_ops,
			.base = VIRTIO_MMIO_BASE + slot * VIRTIO_MMIO_SLOT_SIZE,
		};

		/* §4.2.3.1.1: magic, then version 2 (we have no legacy driver), then id 0 = empty. */
		if (virtio_mmio_read(&t, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC)
			continue;
		if (virtio_mmio_read(&t, VIRTIO_MMIO_VERSION) != VIRTIO_MMIO_V2)
			continue;
		if (virtio_mmio_read(&t, VIRTIO_MMIO_DEVICE_ID) != device_id)
			continue;
		if (idx-- == 0) {
			*tp = t;
			return 0;
		}
	}
	return -ENODEV;
}

/* ---- initialisation (§3.1.1) ---- */

int virtio_reset(struct virtio_tp *tp)
{
	tp->ops->set_status(tp, 0);
	/* §4.2.3.1.1 / §2.4.1: reset is complete when status reads 0. */
	for (int i = 0; i < 1000; i++) {
		if (tp->ops->get_status(tp) == 0)
			return 0;
		udelay(100);
	}
	return -ETIMEDOUT;
}

int virtio_negotiate(struct virtio_tp *tp, uint64_t required, uint64_t optional,
		     uint64_t *out)
{
	uint64_t offered, want;
	int r;

	r = virtio_reset(tp);
	if (r)
		return r;
	tp->ops->set_status(tp, VIRTIO_S_ACKNOWLEDGE);
	tp->ops->set_status(tp, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
	offered = tp->ops->get_features(tp);
	if ((offered & required) != required) {
		tp->ops->set_status(tp, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FAILED);
		return -ENOTSUP;
	}
	want = offered & (required | optional);
	tp->ops->set_features(tp, want);
	tp->ops->set_status(tp, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
	/* §3.1.1 step 6: the device may refuse our subset; FEATURES_OK then does not stick. */
	if (!(tp->ops->get_status(tp) & VIRTIO_S_FEATURES_OK)) {
		tp->ops->set_status(tp, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FAILED);
		return -EIO;
	}
	*out = want;
	return 0;
}

int virtio_driver_ok(struct virtio_tp *tp)
{
	uint8_t s = VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK;

	tp->ops->set_status(tp, s | VIRTIO_S_DRIVER_OK);
	s = tp->ops->get_status(tp);
	return (s & VIRTIO_S_DRIVER_OK) && !(s & VIRTIO_S_NEEDS_RESET) ? 0 : -EIO;
}

/* ---- split virtqueue ---- */

int vq_init(struct vq *vq, struct virtio_tp *tp, uint16_t index, uint16_t size,
	    struct vq_mem *mem, bool event_idx)
{
	uint16_t max = tp->ops->queue_max(tp, index);
	int r;

	if (!max)
		return -ENOENT;
	if (!size || size > max)
		size = max;
	if (size > VQ_MAX_SIZE)
		size = VQ_MAX_SIZE;
	/* §2.7: split queue sizes are powers of two; round down. */
	while (size & (size - 1))
		size &= size - 1;
	memset(mem, 0, sizeof(*mem));
	*vq = (struct vq){ .tp = tp, .mem = mem, .index = index, .size = size,
			   .event_idx = event_idx };
	/* The guest's memory is identity mapped: virtual address = guest physical address. */
	r = tp->ops->queue_setup(tp, index, size, (uint64_t)mem->desc, (uint64_t)&mem->avail,
				 (uint64_t)&mem->used);
	return r;
}

/* §2.7.10: does new_idx pass event (in [old, new_idx), modulo 2^16)? Linux vring_need_event. */
static bool vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool vq_publish(struct vq *vq)
{
	uint16_t old = vq->kicked_idx, now = vq->avail_idx;
	bool kick;

	if (old == now)
		return false;
	/* Descriptors and ring entries first, then the index (§2.7.13.3.1 "virtio_wmb"). */
	virtio_wmb();
	*(volatile uint16_t *)&vq->mem->avail.idx = now;
	vq->kicked_idx = now;
	/*
	 * Store (avail->idx) then load (flags / avail_event): the one order x86 may swap. Pairs
	 * with the device's full barrier between enabling notifications and re-reading avail->idx,
	 * so that one of us always sees the other and no kick is lost.
	 */
	virtio_mb();
	if (vq->event_idx) {
		kick = vq_need_event(*vq_avail_event(vq), now, old);
	} else {
		kick = !(*(volatile uint16_t *)&vq->mem->used.flags & VRING_USED_F_NO_NOTIFY);
	}
	if (kick)
		vq->tp->ops->notify(vq->tp, vq->index);
	return kick;
}

void vq_publish_quiet(struct vq *vq)
{
	virtio_wmb();		/* ring entries before the index, as in vq_publish() */
	*(volatile uint16_t *)&vq->mem->avail.idx = vq->avail_idx;
	vq->kicked_idx = vq->avail_idx;
}

void vq_suppress_interrupts(struct vq *vq)
{
	if (vq->event_idx) {
		/*
		 * §2.7.10: interrupt when used->idx passes used_event. Half the index space ahead of
		 * what we consumed cannot be reached while at most `size` entries are outstanding.
		 */
		*vq_used_event(vq) = (uint16_t)(vq->last_used + 0x8000);
	} else {
		*(volatile uint16_t *)&vq->mem->avail.flags = VRING_AVAIL_F_NO_INTERRUPT;
	}
}
