/* SPDX-License-Identifier: MIT */
#ifndef VIRTIO_DEVICE_H
#define VIRTIO_DEVICE_H

/*
 * The virtio device core: what every transport (virtio/mmio.c, later virtio/pci.c) shares.
 * It owns the status state machine, feature negotiation, queue selection and configuration,
 * config generation and the "broken" state; transports only decode registers and call it, and
 * a device's ops never see an unchecked queue number.
 *
 * State machine (VIRTIO 1.2 §2.1, §3.1.1), enforced:
 * - writing 0 to status resets the device (ops->reset, all queues cleared);
 * - status bits cannot be cleared except by reset (such a write is ignored and counted);
 * - driver features may be written only while DRIVER is set and FEATURES_OK is not; FEATURES_OK
 *   is accepted only if the driver's features are a subset of the device's and include
 *   VIRTIO_F_VERSION_1 (otherwise the bit does not stick, as the spec says);
 * - queue registers may be written only while FEATURES_OK is set and DRIVER_OK is not;
 * - DRIVER_OK activates every ready queue (virtq_activate); a bad geometry marks the device
 *   broken instead of activating it. After DRIVER_OK the geometry is frozen.
 * Broken (virtio_dev_broken): DEVICE_NEEDS_RESET is set, a config interrupt is raised, the
 * counter `broken` grows, one log line per second at most, and no queue is processed until
 * the driver resets the device.
 *
 * Locking: `lock` serialises register accesses (vCPU threads) against notify/used signalling
 * (the I/O thread). ops are called with the lock NOT held, except config_rw.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/contracts.h"
#include "base/log.h"
#include "mm/gmem.h"
#include "virtio/virtq.h"

#define VIRTIO_MAX_QUEUES	17	/* 8 queue pairs + control queue */

struct virtio_dev_ops {
	uint64_t (*features)(void *ctx);		/* device features incl. VIRTIO_F_* */
	/* DRIVER_OK: queues are active; `features` are the negotiated ones. -errno = broken. */
	int (*activate)(void *ctx, struct virtq *vqs, unsigned int nvq, uint64_t features);
	void (*notify)(void *ctx, unsigned int q);	/* q < nvq; device is active */
	void (*reset)(void *ctx);			/* stop using the queues */
	/* Device config space; off+len is inside cfg_size (checked by the core). */
	void (*config_rw)(void *ctx, uint32_t off, void *buf, uint32_t len, bool write);
};

/* How the transport interrupts the driver: a queue's used buffers, or a config change. */
struct virtio_irq {
	void (*queue)(void *ctx, unsigned int q);
	void (*config)(void *ctx);
	void *ctx;
};

enum virtio_queue_field {
	VQF_SIZE, VQF_READY, VQF_DESC_LO, VQF_DESC_HI, VQF_AVAIL_LO, VQF_AVAIL_HI,
	VQF_USED_LO, VQF_USED_HI,
};

struct virtio_dev_stats {
	uint64_t broken;		/* times the device was marked broken */
	uint64_t bad_status_writes;	/* writes that tried to clear bits or skip steps */
	uint64_t late_queue_writes;	/* queue register writes outside FEATURES_OK..DRIVER_OK */
	uint64_t ignored_notifies;	/* notifications for a bad queue or an inactive device */
};

struct virtio_dev {
	pthread_mutex_t lock;
	const char *name;
	uint32_t device_id;
	const struct virtio_dev_ops *ops;
	void *ctx;
	const struct gmem *gm;
	struct virtio_irq irq;

	unsigned int nvq;
	uint16_t queue_max;
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	uint16_t queue_sel;

	uint64_t host_features, guest_features;
	uint32_t host_features_sel, guest_features_sel;
	uint8_t status;
	uint32_t cfg_size;
	uint32_t config_generation;
	bool broken;
	struct virtio_dev_stats stats;
	struct log_ratelimit rl;
};

int virtio_dev_init(struct virtio_dev *d, const char *name, uint32_t device_id,
		    const struct virtio_dev_ops *ops, void *ctx, unsigned int nvq,
		    uint16_t queue_max, uint32_t cfg_size, const struct gmem *gm,
		    struct virtio_irq irq) __must_check;
void virtio_dev_exit(struct virtio_dev *d);

/* Register-level API for transports (called from vCPU threads). */
uint8_t virtio_dev_status(struct virtio_dev *d);
void virtio_dev_set_status(struct virtio_dev *d, uint8_t status);
uint32_t virtio_dev_features(struct virtio_dev *d);		/* at host_features_sel */
void virtio_dev_select_features(struct virtio_dev *d, uint32_t sel, bool driver);
void virtio_dev_set_driver_features(struct virtio_dev *d, uint32_t val);
void virtio_dev_select_queue(struct virtio_dev *d, uint16_t q);	/* any value; checked at use */
/* Current value of a field of the selected queue; 0 if queue_sel >= nvq. */
uint32_t virtio_dev_queue_get(struct virtio_dev *d, enum virtio_queue_field f);
uint16_t virtio_dev_queue_max(struct virtio_dev *d);		/* 0 if queue_sel >= nvq */
void virtio_dev_queue_set(struct virtio_dev *d, enum virtio_queue_field f, uint32_t val);
void virtio_dev_config_rw(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len, bool write);
uint32_t virtio_dev_config_generation(struct virtio_dev *d);

/* A driver notification for queue q (from an ioeventfd or a register write). Any q. */
void virtio_dev_notify(struct virtio_dev *d, uint32_t q);

/* For device models (the I/O thread). */
void virtio_dev_signal_used(struct virtio_dev *d, unsigned int q);	/* if virtq_should_notify */
void virtio_dev_config_changed(struct virtio_dev *d);
void virtio_dev_broken(struct virtio_dev *d, const char *why);
bool virtio_dev_is_broken(struct virtio_dev *d);

#endif
