// SPDX-License-Identifier: MIT
/*
 * The virtio device core: status state machine (VIRTIO 1.2 §2.1, §3.1.1), feature negotiation
 * (§2.2), queue configuration and the "broken" state. Transports decode registers and call
 * these functions; device ops only ever see a validated queue index.
 *
 * Lock rule: d->lock is never held while calling ops (except config_rw) or the transport's
 * virtio_irq callbacks, so a transport may take its own lock in them and call back into us.
 */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <string.h>

#include "virtio/device.h"

#define S_ACK		VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRIVER	VIRTIO_CONFIG_S_DRIVER
#define S_DRIVER_OK	VIRTIO_CONFIG_S_DRIVER_OK
#define S_FEATURES_OK	VIRTIO_CONFIG_S_FEATURES_OK
#define S_NEEDS_RESET	VIRTIO_CONFIG_S_NEEDS_RESET
#define S_FAILED	VIRTIO_CONFIG_S_FAILED

BUILD_BUG_ON(VIRTIO_CONFIG_S_NEEDS_RESET != 0x40);

#define BIT64(n)	(1ull << (n))

/* What the core itself implements for every device (virtq.c). */
#define CORE_FEATURES	(BIT64(VIRTIO_F_VERSION_1) | BIT64(VIRTIO_RING_F_EVENT_IDX) | \
			 BIT64(VIRTIO_RING_F_INDIRECT_DESC))

static void virtio_dev_queues_clear(struct virtio_dev *d)
{
	unsigned int q;

	for (q = 0; q < d->nvq; q++) {
		virtq_reset(&d->vqs[q]);
		/* The size register starts at the maximum (as virtio-pci's queue_size does). */
		d->vqs[q].size = d->queue_max;
	}
}

int virtio_dev_init(struct virtio_dev *d, const char *name, uint32_t device_id,
		    const struct virtio_dev_ops *ops, void *ctx, unsigned int nvq,
		    uint16_t queue_max, uint32_t cfg_size, const struct gmem *gm,
		    struct virtio_irq irq)
{
	int ret;

	if (!ops || !ops->features || !ops->activate || !ops->notify || !ops->reset || !gm)
		return -EINVAL;
	if (!irq.queue || !irq.config)
		return -EINVAL;
	if (!nvq || nvq > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	if (!queue_max || (queue_max & (queue_max - 1)) || queue_max > VIRTQ_MAX_SIZE)
		return -EINVAL;
	/* The mmio transport has 0xf00 bytes of config space; pci at most 4 KiB. */
	if (cfg_size > 0x1000)
		return -EINVAL;

	memset(d, 0, sizeof(*d));
	ret = pthread_mutex_init(&d->lock, NULL);
	if (ret)
		return -ret;
	d->name = name ? name : "virtio";
	d->device_id = device_id;
	d->ops = ops;
	d->ctx = ctx;
	d->gm = gm;
	d->irq = irq;
	d->nvq = nvq;
	d->queue_max = queue_max;
	d->cfg_size = cfg_size;
	d->host_features = ops->features(ctx) | CORE_FEATURES;
	virtio_dev_queues_clear(d);
	return 0;
}

void virtio_dev_exit(struct virtio_dev *d)
{
	pthread_mutex_destroy(&d->lock);
}

uint8_t virtio_dev_status(struct virtio_dev *d)
{
	uint8_t s;

	pthread_mutex_lock(&d->lock);
	s = d->status;
	pthread_mutex_unlock(&d->lock);
	return s;
}

/* Called with the lock held; returns true if the caller must raise the config interrupt. */
static bool virtio_dev_mark_broken(struct virtio_dev *d)
{
	if (d->broken)
		return false;
	__atomic_store_n(&d->broken, true, __ATOMIC_RELEASE);
	d->status |= S_NEEDS_RESET;
	d->stats.broken++;
	return true;
}

static void virtio_dev_report_broken(struct virtio_dev *d, const char *why)
{
	/* A guest can break and reset a device in a loop: never more than a line a second. */
	log_ratelimited(&d->rl, LOG_WARN, "%s: device broken by the driver (%s), needs reset",
			d->name, why);
	/* §2.1.2: NEEDS_RESET comes with a configuration change notification. */
	d->irq.config(d->irq.ctx);
}

void virtio_dev_broken(struct virtio_dev *d, const char *why)
{
	bool raise;

	pthread_mutex_lock(&d->lock);
	raise = virtio_dev_mark_broken(d);
	pthread_mutex_unlock(&d->lock);
	if (raise)
		virtio_dev_report_broken(d, why);
}

bool virtio_dev_is_broken(struct virtio_dev *d)
{
	return __atomic_load_n(&d->broken, __ATOMIC_ACQUIRE);
}

static void virtio_dev_reset(struct virtio_dev *d)
{
	/* First stop the device's I/O thread from touching the queues, then clear them. */
	d->ops->reset(d->ctx);

	pthread_mutex_lock(&d->lock);
	virtio_dev_queues_clear(d);
	d->status = 0;
	__atomic_store_n(&d->broken, false, __ATOMIC_RELEASE);
	d->guest_features = 0;
	d->host_features_sel = 0;
	d->guest_features_sel = 0;
	d->queue_sel = 0;
	pthread_mutex_unlock(&d->lock);
}

/* §2.2.1 / §6.1: only offered bits, and a modern driver (we have no legacy interface). */
static bool virtio_dev_features_ok(const struct virtio_dev *d)
{
	if (d->guest_features & ~d->host_features)
		return false;
	return d->guest_features & BIT64(VIRTIO_F_VERSION_1);
}

/*
 * DRIVER_OK, lock held: freeze and check the geometry of every ready queue. Returns the
 * reason the device cannot start, or NULL.
 */
static const char *virtio_dev_activate_queues(struct virtio_dev *d)
{
	bool event_idx = d->guest_features & BIT64(VIRTIO_RING_F_EVENT_IDX);
	const char *why = NULL;
	unsigned int q;

	for (q = 0; q < d->nvq; q++) {
		struct virtq *vq = &d->vqs[q];

		if (!vq->ready)
			continue;
		if (virtq_activate(vq, d->gm, d->queue_max, event_idx, &why))
			return why;
	}
	return NULL;
}

void virtio_dev_set_status(struct virtio_dev *d, uint8_t val)
{
	const char *why = NULL;
	uint8_t old, want, add;
	bool raise = false;
	int ret;

	/* §2.4: writing 0 resets the device. */
	if (!val) {
		virtio_dev_reset(d);
		return;
	}

	pthread_mutex_lock(&d->lock);
	old = d->status;
	/* NEEDS_RESET belongs to the device: the driver can neither set nor clear it. */
	want = (val & ~S_NEEDS_RESET) | (old & S_NEEDS_RESET);
	add = want & ~old;
	/* §2.1.1: the driver never clears a bit (except by reset). */
	if ((want & old) != old)
		goto bad;
	if (!add) {			/* the same status again: harmless */
		pthread_mutex_unlock(&d->lock);
		return;
	}
	/* While broken, only FAILED may be added (the driver giving up); then reset. */
	if (d->broken && (add & ~S_FAILED))
		goto bad;
	/* §3.1.1: ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK in this order. */
	if ((add & S_DRIVER) && !(want & S_ACK))
		goto bad;
	if ((add & S_FEATURES_OK) && !(want & S_DRIVER))
		goto bad;
	if ((add & S_FEATURES_OK) && !virtio_dev_features_ok(d)) {
		/* §3.1.1 step 6: the bit does not stick; the driver reads it back and fails. */
		d->stats.bad_status_writes++;
		want &= ~S_FEATURES_OK;
		add &= ~S_FEATURES_OK;
	}
	if ((add & S_DRIVER_OK) && !(want & S_FEATURES_OK))
		goto bad;

	if (!(add & S_DRIVER_OK)) {
		d->status = want;
		pthread_mutex_unlock(&d->lock);
		return;
	}

	d->status = want & ~S_DRIVER_OK;
	why = virtio_dev_activate_queues(d);
	if (why) {
		raise = virtio_dev_mark_broken(d);
		pthread_mutex_unlock(&d->lock);
		if (raise)
			virtio_dev_report_broken(d, why);
		return;
	}
	pthread_mutex_unlock(&d->lock);

	/*
	 * DRIVER_OK becomes visible (and notifications are accepted) only once the device model
	 * has taken the queues, so ops->notify never runs on a device that is not active.
	 */
	ret = d->ops->activate(d->ctx, d->vqs, d->nvq, d->guest_features);

	pthread_mutex_lock(&d->lock);
	if (ret < 0)
		raise = virtio_dev_mark_broken(d);
	else if (!d->broken && d->status == (want & ~S_DRIVER_OK))
		d->status = want;
	pthread_mutex_unlock(&d->lock);
	if (raise)
		virtio_dev_report_broken(d, "the device model refused to start");
	return;
bad:
	d->stats.bad_status_writes++;
	pthread_mutex_unlock(&d->lock);
}

uint32_t virtio_dev_features(struct virtio_dev *d)
{
	uint32_t v = 0;

	pthread_mutex_lock(&d->lock);
	if (d->host_features_sel < 2)
		v = (uint32_t)(d->host_features >> (32 * d->host_features_sel));
	pthread_mutex_unlock(&d->lock);
	return v;
}

void virtio_dev_select_features(struct virtio_dev *d, uint32_t sel, bool driver)
{
	pthread_mutex_lock(&d->lock);
	if (driver)
		d->guest_features_sel = sel;
	else
		d->host_features_sel = sel;
	pthread_mutex_unlock(&d->lock);
}

void virtio_dev_set_driver_features(struct virtio_dev *d, uint32_t val)
{
	uint32_t sel;

	pthread_mutex_lock(&d->lock);
	sel = d->guest_features_sel;
	/* §3.1.1: features are negotiated after DRIVER and frozen by FEATURES_OK. */
	if (!(d->status & S_DRIVER) || (d->status & S_FEATURES_OK) || d->broken) {
		d->stats.bad_status_writes++;
	} else if (sel < 2) {
		d->guest_features &= ~(0xffffffffull << (32 * sel));
		d->guest_features |= (uint64_t)val << (32 * sel);
	}
	pthread_mutex_unlock(&d->lock);
}

void virtio_dev_select_queue(struct virtio_dev *d, uint16_t q)
{
	pthread_mutex_lock(&d->lock);
	d->queue_sel = q;
	pthread_mutex_unlock(&d->lock);
}

uint32_t virtio_dev_queue_get(struct virtio_dev *d, enum virtio_queue_field f)
{
	const struct virtq *vq;
	uint32_t v = 0;

	pthread_mutex_lock(&d->lock);
	if (d->queue_sel >= d->nvq)
		goto out;
	vq = &d->vqs[d->queue_sel];
	switch (f) {
	case VQF_SIZE:		v = vq->size; break;
	case VQF_READY:		v = vq->ready; break;
	case VQF_DESC_LO:	v = (uint32_t)vq->desc_gpa; break;
	case VQF_DESC_HI:	v = (uint32_t)(vq->desc_gpa >> 32); break;
	case VQF_AVAIL_LO:	v = (uint32_t)vq->avail_gpa; break;
	case VQF_AVAIL_HI:	v = (uint32_t)(vq->avail_gpa >> 32); break;
	case VQF_USED_LO:	v = (uint32_t)vq->used_gpa; break;
	case VQF_USED_HI:	v = (uint32_t)(vq->used_gpa >> 32); break;
	}
out:
	pthread_mutex_unlock(&d->lock);
	return v;
}

uint16_t virtio_dev_queue_max(struct virtio_dev *d)
{
	uint16_t v;

	pthread_mutex_lock(&d->lock);
	v = d->queue_sel < d->nvq ? d->queue_max : 0;
	pthread_mutex_unlock(&d->lock);
	return v;
}

static void set_lo(gpa_t *g, uint32_t v)
{
	*g = (*g & ~0xffffffffull) | v;
}

static void set_hi(gpa_t *g, uint32_t v)
{
	*g = (*g & 0xffffffffull) | (uint64_t)v << 32;
}

void virtio_dev_queue_set(struct virtio_dev *d, enum virtio_queue_field f, uint32_t val)
{
	struct virtq *vq;

	pthread_mutex_lock(&d->lock);
	/*
	 * Only between FEATURES_OK and DRIVER_OK: afterwards the geometry is frozen, so a driver
	 * cannot resize or move a live ring under the device (CVE-2026-5747 class).
	 */
	if ((d->status & (S_FEATURES_OK | S_DRIVER_OK)) != S_FEATURES_OK || d->broken) {
		d->stats.late_queue_writes++;
		goto out;
	}
	if (d->queue_sel >= d->nvq)
		goto out;
	vq = &d->vqs[d->queue_sel];
	switch (f) {
	/* A value that does not fit 16 bits must not alias a valid size: 0 fails activation. */
	case VQF_SIZE:		vq->size = val > UINT16_MAX ? 0 : (uint16_t)val; break;
	case VQF_READY:		vq->ready = val & 1; break;
	case VQF_DESC_LO:	set_lo(&vq->desc_gpa, val); break;
	case VQF_DESC_HI:	set_hi(&vq->desc_gpa, val); break;
	case VQF_AVAIL_LO:	set_lo(&vq->avail_gpa, val); break;
	case VQF_AVAIL_HI:	set_hi(&vq->avail_gpa, val); break;
	case VQF_USED_LO:	set_lo(&vq->used_gpa, val); break;
	case VQF_USED_HI:	set_hi(&vq->used_gpa, val); break;
	}
out:
	pthread_mutex_unlock(&d->lock);
}

void virtio_dev_config_rw(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len, bool write)
{
	/* No sum is formed: off <= cfg_size, then len against what is left. */
	if (!len || off > d->cfg_size || len > d->cfg_size - off || !d->ops->config_rw) {
		if (!write)
			memset(buf, 0, len);
		return;
	}
	pthread_mutex_lock(&d->lock);
	d->ops->config_rw(d->ctx, off, buf, len, write);
	pthread_mutex_unlock(&d->lock);
}

uint32_t virtio_dev_config_generation(struct virtio_dev *d)
{
	uint32_t g;

	pthread_mutex_lock(&d->lock);
	g = d->config_generation;
	pthread_mutex_unlock(&d->lock);
	return g;
}

void virtio_dev_config_changed(struct virtio_dev *d)
{
	bool raise;

	pthread_mutex_lock(&d->lock);
	d->config_generation++;		/* §2.5.1: a reader retries across a change */
	raise = (d->status & S_DRIVER_OK) && !d->broken;
	pthread_mutex_unlock(&d->lock);
	if (raise)
		d->irq.config(d->irq.ctx);
}

void virtio_dev_notify(struct virtio_dev *d, uint32_t q)
{
	bool ok;

	pthread_mutex_lock(&d->lock);
	ok = (d->status & S_DRIVER_OK) && !d->broken && q < d->nvq && d->vqs[q].active;
	if (!ok)
		d->stats.ignored_notifies++;
	pthread_mutex_unlock(&d->lock);
	if (ok)
		d->ops->notify(d->ctx, q);
}

void virtio_dev_signal_used(struct virtio_dev *d, unsigned int q)
{
	bool raise = false;

	if (q >= d->nvq)
		return;
	pthread_mutex_lock(&d->lock);
	if (!d->broken && d->vqs[q].active)
		raise = virtq_should_notify(&d->vqs[q]);
	pthread_mutex_unlock(&d->lock);
	if (raise)
		d->irq.queue(d->irq.ctx, q);
}
