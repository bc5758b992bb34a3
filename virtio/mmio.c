// SPDX-License-Identifier: MIT
/*
 * virtio-mmio version 2 register file (VIRTIO 1.2 §4.2.2). Register offsets come from the
 * system's <linux/virtio_mmio.h>; everything stateful beyond the interrupt status lives in the
 * device core (virtio/device.c).
 */
#include <linux/virtio_mmio.h>
#include <string.h>

#include "virtio/mmio.h"

#define VIRTIO_MMIO_MAGIC	0x74726976	/* "virt" */
#define VIRTIO_MMIO_V2		2

static void virtio_mmio_set_level(struct virtio_mmio *m, int level)
{
	m->level = level;
	if (m->irq.set)
		(void)m->irq.set(m->irq.ctx, level);	/* nothing to do if the VMM fails */
}

/* Lock held. The line is level-triggered: high exactly while a status bit is set. */
static void virtio_mmio_raise(struct virtio_mmio *m, uint32_t bit)
{
	m->isr |= bit;
	virtio_mmio_set_level(m, 1);
}

static void virtio_mmio_irq_queue(void *ctx, unsigned int q)
{
	struct virtio_mmio *m = ctx;

	(void)q;	/* one line for all queues: the driver scans them (§4.2.3.4) */
	pthread_mutex_lock(&m->lock);
	virtio_mmio_raise(m, VIRTIO_MMIO_INT_VRING);
	pthread_mutex_unlock(&m->lock);
}

static void virtio_mmio_irq_config(void *ctx)
{
	struct virtio_mmio *m = ctx;

	pthread_mutex_lock(&m->lock);
	virtio_mmio_raise(m, VIRTIO_MMIO_INT_CONFIG);
	pthread_mutex_unlock(&m->lock);
}

void virtio_mmio_init(struct virtio_mmio *m, struct irq_line irq, struct virtio_irq *out_irq)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->irq = irq;
	*out_irq = (struct virtio_irq){
		.queue = virtio_mmio_irq_queue,
		.config = virtio_mmio_irq_config,
		.ctx = m,
	};
}

void virtio_mmio_attach(struct virtio_mmio *m, struct virtio_dev *dev)
{
	m->dev = dev;
}

void virtio_mmio_exit(struct virtio_mmio *m)
{
	pthread_mutex_destroy(&m->lock);
}

static void virtio_mmio_ack(struct virtio_mmio *m, uint32_t bits, bool all)
{
	pthread_mutex_lock(&m->lock);
	m->isr &= all ? 0 : ~bits;
	if (!m->isr && m->level)
		virtio_mmio_set_level(m, 0);
	pthread_mutex_unlock(&m->lock);
}

static uint32_t virtio_mmio_reg_read(struct virtio_mmio *m, uint32_t off)
{
	struct virtio_dev *d = m->dev;
	uint32_t v;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:	return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:	return VIRTIO_MMIO_V2;
	case VIRTIO_MMIO_DEVICE_ID:	return d->device_id;
	case VIRTIO_MMIO_VENDOR_ID:	return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES: return virtio_dev_features(d);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:	return virtio_dev_queue_max(d);
	case VIRTIO_MMIO_QUEUE_NUM:	return virtio_dev_queue_get(d, VQF_SIZE);
	case VIRTIO_MMIO_QUEUE_READY:	return virtio_dev_queue_get(d, VQF_READY);
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		pthread_mutex_lock(&m->lock);
		v = m->isr;
		pthread_mutex_unlock(&m->lock);
		return v;
	case VIRTIO_MMIO_STATUS:	return virtio_dev_status(d);
	case VIRTIO_MMIO_QUEUE_DESC_LOW:  return virtio_dev_queue_get(d, VQF_DESC_LO);
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: return virtio_dev_queue_get(d, VQF_DESC_HI);
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: return virtio_dev_queue_get(d, VQF_AVAIL_LO);
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: return virtio_dev_queue_get(d, VQF_AVAIL_HI);
	case VIRTIO_MMIO_QUEUE_USED_LOW:  return virtio_dev_queue_get(d, VQF_USED_LO);
	case VIRTIO_MMIO_QUEUE_USED_HIGH: return virtio_dev_queue_get(d, VQF_USED_HI);
	case VIRTIO_MMIO_CONFIG_GENERATION: return virtio_dev_config_generation(d);
	/* No shared memory regions: §4.2.2, SHMLen reads all ones for a missing region. */
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:	return 0xffffffff;
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
	case VIRTIO_MMIO_DRIVER_FEATURES:
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
	case VIRTIO_MMIO_QUEUE_SEL:
	case VIRTIO_MMIO_QUEUE_NOTIFY:
	case VIRTIO_MMIO_INTERRUPT_ACK:
	case VIRTIO_MMIO_SHM_SEL:	return 0;	/* write-only */
	default:
		__atomic_fetch_add(&m->stats.unknown_regs, 1, __ATOMIC_RELAXED);
		return 0;
	}
}

static void virtio_mmio_reg_write(struct virtio_mmio *m, uint32_t off, uint32_t v)
{
	struct virtio_dev *d = m->dev;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:	virtio_dev_select_features(d, v, false); break;
	case VIRTIO_MMIO_DRIVER_FEATURES:	virtio_dev_set_driver_features(d, v); break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:	virtio_dev_select_features(d, v, true); break;
	/* A selector beyond 16 bits must not alias queue v & 0xffff: clamp to invalid. */
	case VIRTIO_MMIO_QUEUE_SEL:
		virtio_dev_select_queue(d, v > UINT16_MAX ? UINT16_MAX : (uint16_t)v);
		break;
	case VIRTIO_MMIO_QUEUE_NUM:		virtio_dev_queue_set(d, VQF_SIZE, v); break;
	case VIRTIO_MMIO_QUEUE_READY:		virtio_dev_queue_set(d, VQF_READY, v); break;
	/* Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index (§4.2.2). */
	case VIRTIO_MMIO_QUEUE_NOTIFY:		virtio_dev_notify(d, v); break;
	case VIRTIO_MMIO_INTERRUPT_ACK:		virtio_mmio_ack(m, v, false); break;
	case VIRTIO_MMIO_STATUS:
		/* Status is 8 bits wide (§2.1); the upper bits are reserved. */
		virtio_dev_set_status(d, (uint8_t)v);
		if (!(uint8_t)v)
			virtio_mmio_ack(m, 0, true);	/* reset: nothing pending any more */
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:	virtio_dev_queue_set(d, VQF_DESC_LO, v); break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:	virtio_dev_queue_set(d, VQF_DESC_HI, v); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:	virtio_dev_queue_set(d, VQF_AVAIL_LO, v); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:	virtio_dev_queue_set(d, VQF_AVAIL_HI, v); break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:	virtio_dev_queue_set(d, VQF_USED_LO, v); break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:	virtio_dev_queue_set(d, VQF_USED_HI, v); break;
	case VIRTIO_MMIO_SHM_SEL:		break;
	default:
		__atomic_fetch_add(&m->stats.unknown_regs, 1, __ATOMIC_RELAXED);
		break;
	}
}

static bool virtio_mmio_config_width_ok(uint32_t len)
{
	return len == 1 || len == 2 || len == 4 || len == 8;
}

static void virtio_mmio_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	struct virtio_mmio *m = ctx;
	uint32_t v;

	if (len <= 8)
		memset(data, 0, len);
	if (!m->dev)
		return;
	if (off >= VIRTIO_MMIO_CONFIG && off < VIRTIO_MMIO_REGION_SIZE &&
	    virtio_mmio_config_width_ok(len)) {
		virtio_dev_config_rw(m->dev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len, false);
		return;
	}
	/* §4.2.2.2: registers are accessed 32 bits wide and aligned, nothing else. */
	if (off >= VIRTIO_MMIO_CONFIG || len != 4 || off % 4) {
		__atomic_fetch_add(&m->stats.bad_accesses, 1, __ATOMIC_RELAXED);
		return;
	}
	v = virtio_mmio_reg_read(m, (uint32_t)off);
	memcpy(data, &v, 4);	/* little-endian, as the guest (x86) expects */
}

static void virtio_mmio_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_mmio *m = ctx;
	uint8_t buf[8];
	uint32_t v;

	if (!m->dev)
		return;
	if (off >= VIRTIO_MMIO_CONFIG && off < VIRTIO_MMIO_REGION_SIZE &&
	    virtio_mmio_config_width_ok(len)) {
		memcpy(buf, data, len);		/* config_rw takes a non-const buffer */
		virtio_dev_config_rw(m->dev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), buf, len, true);
		return;
	}
	if (off >= VIRTIO_MMIO_CONFIG || len != 4 || off % 4) {
		__atomic_fetch_add(&m->stats.bad_accesses, 1, __ATOMIC_RELAXED);
		return;
	}
	memcpy(&v, data, 4);
	virtio_mmio_reg_write(m, (uint32_t)off, v);
}

const struct bus_dev_ops virtio_mmio_bus_ops = {
	.read = virtio_mmio_read,
	.write = virtio_mmio_write,
};
