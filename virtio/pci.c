// SPDX-License-Identifier: MIT
/*
 * virtio-pci modern transport (VIRTIO 1.2 §4.1) with MSI-X (PCI Local Bus 3.0 §6.8.2). Register
 * offsets come from the system's <linux/virtio_pci.h> and <linux/pci_regs.h>; the device state
 * machine lives in the core (virtio/device.c), this file only decodes and routes.
 */
#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include <string.h>

#include "virtio/pci.h"

#define VIRTIO_PCI_VENDOR	0x1af4
#define VIRTIO_PCI_DEVICE_BASE	0x1040		/* §4.1.2.1: 0x1040 + device id */
#define VIRTIO_PCI_SUBSYS_ID	0x1100		/* as QEMU's modern devices */
#define VIRTIO_PCI_REVISION	1		/* §4.1.2.1: non-transitional devices >= 1 */

/* Capability list placement in config space. */
#define CAP_MSIX		0x40
#define CAP_COMMON		0x4c
#define CAP_NOTIFY		0x5c
#define CAP_ISR			0x70
#define CAP_DEVICE		0x80
#define CAP_PCI_CFG		0x90
#define CAP_PCI_CFG_DATA	(CAP_PCI_CFG + 16)

#define MSIX_CTRL_HI		(CAP_MSIX + PCI_MSIX_FLAGS + 1)	/* enable, mask-all */
#define MSIX_ENABLE		(PCI_MSIX_FLAGS_ENABLE >> 8)
#define MSIX_MASKALL		(PCI_MSIX_FLAGS_MASKALL >> 8)

#define NO_VECTOR		VIRTIO_MSI_NO_VECTOR
#define ISR_QUEUE		0x1		/* §4.1.4.5: bit 0 queue, bit 1 config */

BUILD_BUG_ON(sizeof(struct virtio_pci_common_cfg) != VIRTIO_PCI_COMMON_LEN);
BUILD_BUG_ON(VIRTIO_PCI_NOTIFY_OFF + VIRTIO_MAX_QUEUES * VIRTIO_PCI_NOTIFY_MULT >
	     VIRTIO_PCI_MSIX_OFF);
BUILD_BUG_ON(VIRTIO_PCI_MSIX_OFF + VIRTIO_PCI_MAX_VECTORS * PCI_MSIX_ENTRY_SIZE >
	     VIRTIO_PCI_PBA_OFF);
BUILD_BUG_ON(VIRTIO_PCI_MAX_VECTORS > 64);	/* the PBA is one qword */
BUILD_BUG_ON(VIRTIO_PCI_DEVICE_OFF + 0x1000 > VIRTIO_PCI_NOTIFY_OFF);	/* cfg_size <= 4 KiB */

static void bad(struct virtio_pci *p)
{
	__atomic_fetch_add(&p->stats.bad_accesses, 1, __ATOMIC_RELAXED);
}

/* ---- MSI-X ---------------------------------------------------------------------------- */

static bool msix_enabled(const struct virtio_pci *p)
{
	return p->cfg[MSIX_CTRL_HI] & MSIX_ENABLE;
}

static bool msix_masked(const struct virtio_pci *p, unsigned int v)
{
	return (p->cfg[MSIX_CTRL_HI] & MSIX_MASKALL) ||
	       (p->msix[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

/* Lock held. */
static void msix_send(struct virtio_pci *p, unsigned int v)
{
	const struct virtio_pci_msix_entry *e = &p->msix[v];
	int r = -ENOSYS;

	if (p->msi.send)
		r = p->msi.send(p->msi.ctx, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
	if (r)
		p->stats.msi_failed++;
	else
		p->stats.msi_sent++;
}

/* Lock held. §6.8.2.9: a masked vector's message waits in the PBA. */
static void msix_fire(struct virtio_pci *p, uint16_t v)
{
	if (v >= p->nvec || !msix_enabled(p))
		return;
	if (msix_masked(p, v))
		p->pba |= 1ull << v;
	else
		msix_send(p, v);
}

/* Lock held: deliver what is pending and no longer masked. */
static void msix_deliver_pending(struct virtio_pci *p)
{
	if (!msix_enabled(p))
		return;
	for (unsigned int v = 0; v < p->nvec; v++) {
		if ((p->pba & (1ull << v)) && !msix_masked(p, v)) {
			p->pba &= ~(1ull << v);
			msix_send(p, v);
		}
	}
}

static uint16_t vector_or_none(const struct virtio_pci *p, uint16_t v)
{
	/* §4.1.5.1.2: a vector the device cannot map reads back as NO_VECTOR. */
	return v < p->nvec ? v : NO_VECTOR;
}

static void virtio_pci_irq_queue(void *ctx, unsigned int q)
{
	struct virtio_pci *p = ctx;

	pthread_mutex_lock(&p->lock);
	/* §4.1.4.5.1: the queue bit is set only when MSI-X is off. */
	if (!msix_enabled(p))
		p->isr |= ISR_QUEUE;
	msix_fire(p, q < VIRTIO_MAX_QUEUES ? p->queue_vector[q] : NO_VECTOR);
	pthread_mutex_unlock(&p->lock);
}

static void virtio_pci_irq_config(void *ctx)
{
	struct virtio_pci *p = ctx;

	pthread_mutex_lock(&p->lock);
	p->isr |= VIRTIO_PCI_ISR_CONFIG;
	msix_fire(p, p->config_vector);
	pthread_mutex_unlock(&p->lock);
}

/* ---- setup ---------------------------------------------------------------------------- */

void virtio_pci_init(struct virtio_pci *p, struct msi_sink msi, struct virtio_irq *out_irq)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->msi = msi;
	p->config_vector = NO_VECTOR;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		p->queue_vector[q] = NO_VECTOR;
	*out_irq = (struct virtio_irq){
		.queue = virtio_pci_irq_queue,
		.config = virtio_pci_irq_config,
		.ctx = p,
	};
}

static void put16(uint8_t *b, uint32_t off, uint16_t v)
{
	memcpy(b + off, &v, 2);
}

static void put32(uint8_t *b, uint32_t off, uint32_t v)
{
	memcpy(b + off, &v, 4);
}

static uint32_t get32(const uint8_t *b, uint32_t off)
{
	uint32_t v;

	memcpy(&v, b + off, 4);
	return v;
}

/* struct virtio_pci_cap (§4.1.4) at `at`, pointing to `next`. */
static void vcap(uint8_t *cfg, uint8_t at, uint8_t next, uint8_t len, uint8_t type,
		 uint32_t offset, uint32_t length)
{
	cfg[at + VIRTIO_PCI_CAP_VNDR] = PCI_CAP_ID_VNDR;
	cfg[at + VIRTIO_PCI_CAP_NEXT] = next;
	cfg[at + VIRTIO_PCI_CAP_LEN] = len;
	cfg[at + VIRTIO_PCI_CAP_CFG_TYPE] = type;
	cfg[at + VIRTIO_PCI_CAP_BAR] = VIRTIO_PCI_BAR;
	put32(cfg, at + VIRTIO_PCI_CAP_OFFSET, offset);
	put32(cfg, at + VIRTIO_PCI_CAP_LENGTH, length);
}

static uint32_t class_of(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET:	return 0x020000;	/* network, ethernet */
	case VIRTIO_ID_BLOCK:	return 0x018000;	/* storage, other */
	case VIRTIO_ID_CONSOLE:	return 0x078000;	/* communication, other */
	default:		return 0xff0000;	/* unassigned class */
	}
}

void virtio_pci_attach(struct virtio_pci *p, struct virtio_dev *d)
{
	uint8_t *c = p->cfg, *w = p->wmask;
	uint32_t class = class_of(d->device_id);

	pthread_mutex_lock(&p->lock);
	memset(c, 0, sizeof(p->cfg));
	memset(w, 0, sizeof(p->wmask));
	p->nvec = d->nvq + 1;		/* one per queue, one for config changes */
	/* §6.8.2.9: each vector's mask bit is set at reset. */
	for (unsigned int v = 0; v < VIRTIO_PCI_MAX_VECTORS; v++)
		p->msix[v] = (struct virtio_pci_msix_entry){ .ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT };
	p->pba = 0;

	put16(c, PCI_VENDOR_ID, VIRTIO_PCI_VENDOR);
	put16(c, PCI_DEVICE_ID, VIRTIO_PCI_DEVICE_BASE + d->device_id);
	put16(c, PCI_STATUS, PCI_STATUS_CAP_LIST);
	c[PCI_REVISION_ID] = VIRTIO_PCI_REVISION;
	c[PCI_CLASS_PROG] = class & 0xff;
	c[PCI_CLASS_DEVICE] = (class >> 8) & 0xff;
	c[PCI_CLASS_DEVICE + 1] = class >> 16;
	c[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	put16(c, PCI_SUBSYSTEM_VENDOR_ID, VIRTIO_PCI_VENDOR);
	put16(c, PCI_SUBSYSTEM_ID, VIRTIO_PCI_SUBSYS_ID);
	c[PCI_CAPABILITY_LIST] = CAP_MSIX;
	c[PCI_INTERRUPT_PIN] = 0;	/* no INTx: MSI-X only */

	/* MSI-X, §6.8.2: table and PBA in BAR 0; enable and mask-all are the writable bits. */
	c[CAP_MSIX] = PCI_CAP_ID_MSIX;
	c[CAP_MSIX + 1] = CAP_COMMON;
	put16(c, CAP_MSIX + PCI_MSIX_FLAGS, p->nvec - 1);
	put32(c, CAP_MSIX + PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_OFF | VIRTIO_PCI_BAR);
	put32(c, CAP_MSIX + PCI_MSIX_PBA, VIRTIO_PCI_PBA_OFF | VIRTIO_PCI_BAR);
	w[MSIX_CTRL_HI] = MSIX_ENABLE | MSIX_MASKALL;

	vcap(c, CAP_COMMON, CAP_NOTIFY, sizeof(struct virtio_pci_cap), VIRTIO_PCI_CAP_COMMON_CFG,
	     VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN);
	vcap(c, CAP_NOTIFY, CAP_ISR, sizeof(struct virtio_pci_notify_cap),
	     VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF, d->nvq * VIRTIO_PCI_NOTIFY_MULT);
	put32(c, CAP_NOTIFY + VIRTIO_PCI_NOTIFY_CAP_MULT, VIRTIO_PCI_NOTIFY_MULT);
	/* A device without config space gets no DEVICE_CFG capability (it is optional). */
	vcap(c, CAP_ISR, d->cfg_size ? CAP_DEVICE : CAP_PCI_CFG, sizeof(struct virtio_pci_cap),
	     VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1);
	if (d->cfg_size)
		vcap(c, CAP_DEVICE, CAP_PCI_CFG, sizeof(struct virtio_pci_cap),
		     VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF, d->cfg_size);
	/* §4.1.4.9: bar, offset, length and the data window are the driver's to write. */
	vcap(c, CAP_PCI_CFG, 0, sizeof(struct virtio_pci_cfg_cap), VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
	w[CAP_PCI_CFG + VIRTIO_PCI_CAP_BAR] = 0xff;
	memset(w + CAP_PCI_CFG + VIRTIO_PCI_CAP_OFFSET, 0xff, 8);
	memset(w + CAP_PCI_CFG_DATA, 0xff, 4);

	p->dev = d;
	pthread_mutex_unlock(&p->lock);
}

void virtio_pci_exit(struct virtio_pci *p)
{
	pthread_mutex_destroy(&p->lock);
}

/* ---- common_cfg ----------------------------------------------------------------------- */

/*
 * Read-back of registers the core keeps but has no getter for. The fields are public in
 * struct virtio_dev and read under its lock, so there is no second copy to drift.
 */
enum core_field { CF_DFSELECT, CF_GFSELECT, CF_GF, CF_QSEL };

static uint32_t core_peek(struct virtio_dev *d, enum core_field f)
{
	uint32_t v = 0;

	pthread_mutex_lock(&d->lock);
	switch (f) {
	case CF_DFSELECT:	v = d->host_features_sel; break;
	case CF_GFSELECT:	v = d->guest_features_sel; break;
	case CF_GF:
		if (d->guest_features_sel < 2)
			v = (uint32_t)(d->guest_features >> (32 * d->guest_features_sel));
		break;
	case CF_QSEL:		v = d->queue_sel; break;
	}
	pthread_mutex_unlock(&d->lock);
	return v;
}

/* Natural width of the common_cfg field at `off`, 0 if no field starts there. */
static uint32_t common_width(uint32_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_GFSELECT: case VIRTIO_PCI_COMMON_GF:
	case VIRTIO_PCI_COMMON_Q_DESCLO: case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO: case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO: case VIRTIO_PCI_COMMON_Q_USEDHI:
		return 4;
	case VIRTIO_PCI_COMMON_MSIX: case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT: case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX: case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return 2;
	case VIRTIO_PCI_COMMON_STATUS: case VIRTIO_PCI_COMMON_CFGGENERATION:
		return 1;
	default:
		return 0;
	}
}

static enum virtio_queue_field common_qfield(uint32_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_DESCLO:	return VQF_DESC_LO;
	case VIRTIO_PCI_COMMON_Q_DESCHI:	return VQF_DESC_HI;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:	return VQF_AVAIL_LO;
	case VIRTIO_PCI_COMMON_Q_AVAILHI:	return VQF_AVAIL_HI;
	case VIRTIO_PCI_COMMON_Q_USEDLO:	return VQF_USED_LO;
	default:				return VQF_USED_HI;
	}
}

static uint32_t common_read(struct virtio_pci *p, uint32_t off)
{
	struct virtio_dev *d = p->dev;
	uint32_t v = 0, q;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:	return core_peek(d, CF_DFSELECT);
	case VIRTIO_PCI_COMMON_DF:		return virtio_dev_features(d);
	case VIRTIO_PCI_COMMON_GFSELECT:	return core_peek(d, CF_GFSELECT);
	case VIRTIO_PCI_COMMON_GF:		return core_peek(d, CF_GF);
	case VIRTIO_PCI_COMMON_NUMQ:		return d->nvq;
	case VIRTIO_PCI_COMMON_STATUS:		return virtio_dev_status(d);
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return (uint8_t)virtio_dev_config_generation(d);
	case VIRTIO_PCI_COMMON_Q_SELECT:	return core_peek(d, CF_QSEL);
	case VIRTIO_PCI_COMMON_Q_SIZE:		return virtio_dev_queue_get(d, VQF_SIZE);
	case VIRTIO_PCI_COMMON_Q_ENABLE:	return virtio_dev_queue_get(d, VQF_READY);
	case VIRTIO_PCI_COMMON_Q_NOFF:
		q = core_peek(d, CF_QSEL);
		return q < d->nvq ? q : 0;	/* doorbell q at notify + q * multiplier */
	case VIRTIO_PCI_COMMON_MSIX:
	case VIRTIO_PCI_COMMON_Q_MSIX:
		q = core_peek(d, CF_QSEL);
		pthread_mutex_lock(&p->lock);
		if (off == VIRTIO_PCI_COMMON_MSIX)
			v = p->config_vector;
		else
			v = q < d->nvq ? p->queue_vector[q] : NO_VECTOR;
		pthread_mutex_unlock(&p->lock);
		return v;
	default:
		return virtio_dev_queue_get(d, common_qfield(off));
	}
}

/* Status 0 reset the core; the transport's share: vectors, ISR, pending messages. */
static void transport_reset(struct virtio_pci *p)
{
	pthread_mutex_lock(&p->lock);
	p->config_vector = NO_VECTOR;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		p->queue_vector[q] = NO_VECTOR;
	p->isr = 0;
	p->pba = 0;
	pthread_mutex_unlock(&p->lock);
}

static void common_write(struct virtio_pci *p, uint32_t off, uint32_t v)
{
	struct virtio_dev *d = p->dev;
	uint32_t q;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:	virtio_dev_select_features(d, v, false); break;
	case VIRTIO_PCI_COMMON_GFSELECT:	virtio_dev_select_features(d, v, true); break;
	case VIRTIO_PCI_COMMON_GF:		virtio_dev_set_driver_features(d, v); break;
	case VIRTIO_PCI_COMMON_STATUS:
		virtio_dev_set_status(d, (uint8_t)v);
		if (!(uint8_t)v)
			transport_reset(p);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:	virtio_dev_select_queue(d, (uint16_t)v); break;
	case VIRTIO_PCI_COMMON_Q_SIZE:		virtio_dev_queue_set(d, VQF_SIZE, v); break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:	virtio_dev_queue_set(d, VQF_READY, v); break;
	case VIRTIO_PCI_COMMON_MSIX:
		pthread_mutex_lock(&p->lock);
		p->config_vector = vector_or_none(p, (uint16_t)v);
		pthread_mutex_unlock(&p->lock);
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		q = core_peek(d, CF_QSEL);
		pthread_mutex_lock(&p->lock);
		if (q < d->nvq)
			p->queue_vector[q] = vector_or_none(p, (uint16_t)v);
		pthread_mutex_unlock(&p->lock);
		break;
	case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_CFGGENERATION:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		bad(p);				/* read-only */
		break;
	default:
		virtio_dev_queue_set(d, common_qfield(off), v);
		break;
	}
}

/* §4.1.3.1: natural width only; a 64-bit field also as one 8-byte or two 4-byte accesses. */
static void common_rw(struct virtio_pci *p, uint32_t off, uint8_t *data, uint32_t len, bool wr)
{
	bool qword = off >= VIRTIO_PCI_COMMON_Q_DESCLO && off < VIRTIO_PCI_COMMON_LEN &&
		     off % 8 == 0 && len == 8;
	uint32_t v;

	if (qword) {
		common_rw(p, off, data, 4, wr);
		common_rw(p, off + 4, data + 4, 4, wr);
		return;
	}
	if (common_width(off) != len) {
		bad(p);
		return;
	}
	if (wr) {
		v = 0;
		memcpy(&v, data, len);
		common_write(p, off, v);
	} else {
		v = common_read(p, off);
		memcpy(data, &v, len);		/* little-endian guest */
	}
}

/* ---- the BAR -------------------------------------------------------------------------- */

static void msix_table_rw(struct virtio_pci *p, uint32_t off, uint8_t *data, uint32_t len,
			  bool wr)
{
	unsigned int v = off / PCI_MSIX_ENTRY_SIZE;
	uint32_t *reg, val;

	/* §6.8.2: aligned dword or aligned qword accesses only. */
	if (!((len == 4 && off % 4 == 0) || (len == 8 && off % 8 == 0))) {
		bad(p);
		return;
	}
	if (len == 8) {
		msix_table_rw(p, off, data, 4, wr);
		msix_table_rw(p, off + 4, data + 4, 4, wr);
		return;
	}
	pthread_mutex_lock(&p->lock);
	if (v >= p->nvec)
		goto out;			/* cannot happen: the region is sized nvec */
	reg = (uint32_t *)&p->msix[v] + (off % PCI_MSIX_ENTRY_SIZE) / 4;
	if (!wr) {
		memcpy(data, reg, 4);
		goto out;
	}
	memcpy(&val, data, 4);
	switch (off % PCI_MSIX_ENTRY_SIZE) {
	case PCI_MSIX_ENTRY_LOWER_ADDR:	*reg = val & ~3u; break;	/* dword aligned */
	case PCI_MSIX_ENTRY_VECTOR_CTRL:
		*reg = val & PCI_MSIX_ENTRY_CTRL_MASKBIT;
		msix_deliver_pending(p);	/* unmasking sends what waited */
		break;
	default:			*reg = val; break;
	}
out:
	pthread_mutex_unlock(&p->lock);
}

static void pba_read(struct virtio_pci *p, uint32_t off, uint8_t *data, uint32_t len)
{
	uint64_t v;

	if (!((len == 4 && off % 4 == 0) || (len == 8 && off == 0))) {
		bad(p);
		return;
	}
	pthread_mutex_lock(&p->lock);
	v = p->pba >> (8 * off);
	pthread_mutex_unlock(&p->lock);
	memcpy(data, &v, len);
}

static void bar_rw(struct virtio_pci *p, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	struct virtio_dev *d = p->dev;
	uint32_t nvq = d->nvq;

	if (off < VIRTIO_PCI_COMMON_LEN) {
		common_rw(p, (uint32_t)off, data, len, wr);
	} else if (off == VIRTIO_PCI_ISR_OFF && len <= 4) {
		if (wr) {
			bad(p);			/* read-only */
			return;
		}
		/* §4.1.4.5: reading the ISR clears it. */
		pthread_mutex_lock(&p->lock);
		data[0] = p->isr;
		p->isr = 0;
		pthread_mutex_unlock(&p->lock);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
		if (len != 1 && len != 2 && len != 4 && len != 8) {
			bad(p);
			return;
		}
		/* The core checks off + len against the device's config size. */
		virtio_dev_config_rw(d, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), data, len, wr);
	} else if (off >= VIRTIO_PCI_NOTIFY_OFF &&
		   off - VIRTIO_PCI_NOTIFY_OFF < nvq * VIRTIO_PCI_NOTIFY_MULT) {
		uint32_t rel = (uint32_t)(off - VIRTIO_PCI_NOTIFY_OFF);

		/* The doorbell's address names the queue; the value is not looked at. */
		if (!wr || rel % VIRTIO_PCI_NOTIFY_MULT + len > VIRTIO_PCI_NOTIFY_MULT) {
			if (wr)
				bad(p);
			return;
		}
		virtio_dev_notify(d, rel / VIRTIO_PCI_NOTIFY_MULT);
	} else if (off >= VIRTIO_PCI_MSIX_OFF &&
		   off - VIRTIO_PCI_MSIX_OFF < p->nvec * PCI_MSIX_ENTRY_SIZE) {
		msix_table_rw(p, (uint32_t)(off - VIRTIO_PCI_MSIX_OFF), data, len, wr);
	} else if (off >= VIRTIO_PCI_PBA_OFF && off - VIRTIO_PCI_PBA_OFF < 8) {
		if (wr)
			return;			/* §6.8.2: the PBA is read-only */
		pba_read(p, (uint32_t)(off - VIRTIO_PCI_PBA_OFF), data, len);
	} else {
		bad(p);
	}
}

static void virtio_pci_bar_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	struct virtio_pci *p = ctx;

	if (len <= 8)
		memset(data, 0, len);
	if (!p->dev || len > 8 || off >= VIRTIO_PCI_BAR_SIZE)
		return;
	bar_rw(p, off, data, len, false);
}

static void virtio_pci_bar_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_pci *p = ctx;
	uint8_t buf[8];

	if (!p->dev || len > 8 || off >= VIRTIO_PCI_BAR_SIZE)
		return;
	memcpy(buf, data, len);		/* the handlers share one non-const path */
	bar_rw(p, off, buf, len, true);
}

const struct bus_dev_ops virtio_pci_bar_ops = {
	.read = virtio_pci_bar_read,
	.write = virtio_pci_bar_write,
};

/* ---- config space --------------------------------------------------------------------- */

/*
 * VIRTIO_PCI_CAP_PCI_CFG (§4.1.4.9): an access to pci_cfg_data becomes a BAR access of
 * cap.length bytes at cap.offset. Called without p->lock (the BAR handlers take it).
 */
static void pci_cfg_window(struct virtio_pci *p, uint8_t win[4], bool wr)
{
	uint32_t off, len;
	uint8_t bar;

	pthread_mutex_lock(&p->lock);
	bar = p->cfg[CAP_PCI_CFG + VIRTIO_PCI_CAP_BAR];
	off = get32(p->cfg, CAP_PCI_CFG + VIRTIO_PCI_CAP_OFFSET);
	len = get32(p->cfg, CAP_PCI_CFG + VIRTIO_PCI_CAP_LENGTH);
	if (wr)
		memcpy(win, p->cfg + CAP_PCI_CFG_DATA, 4);
	pthread_mutex_unlock(&p->lock);

	/* §4.1.4.9.1: length 1, 2 or 4 and offset a multiple of it, inside the BAR. */
	if (bar != VIRTIO_PCI_BAR || (len != 1 && len != 2 && len != 4) || off % len ||
	    off >= VIRTIO_PCI_BAR_SIZE) {
		bad(p);
		return;
	}
	if (wr) {
		virtio_pci_bar_write(p, off, win, len);
		return;
	}
	memset(win, 0, 4);
	virtio_pci_bar_read(p, off, win, len);
	pthread_mutex_lock(&p->lock);
	memcpy(p->cfg + CAP_PCI_CFG_DATA, win, 4);
	pthread_mutex_unlock(&p->lock);
}

static bool touches_window(uint32_t off, uint32_t len)
{
	return off < CAP_PCI_CFG_DATA + 4 && off + len > CAP_PCI_CFG_DATA;
}

static void virtio_pci_cfg_read(void *ctx, uint32_t off, void *data, uint32_t len)
{
	struct virtio_pci *p = ctx;
	uint8_t win[4];

	/* The bridge hands us aligned 1/2/4-byte pieces inside 4 KiB; be safe anyway. */
	if (!p->dev || off >= VIRTIO_PCI_CFG_SIZE || len > VIRTIO_PCI_CFG_SIZE - off)
		return;
	if (touches_window(off, len))
		pci_cfg_window(p, win, false);
	pthread_mutex_lock(&p->lock);
	memcpy(data, p->cfg + off, len);
	pthread_mutex_unlock(&p->lock);
}

static void virtio_pci_cfg_write(void *ctx, uint32_t off, const void *data, uint32_t len)
{
	struct virtio_pci *p = ctx;
	const uint8_t *v = data;
	uint8_t win[4];

	if (!p->dev || off >= VIRTIO_PCI_CFG_SIZE || len > VIRTIO_PCI_CFG_SIZE - off)
		return;
	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint8_t m = p->wmask[off + i];

		p->cfg[off + i] = (p->cfg[off + i] & ~m) | (v[i] & m);
	}
	/* Enable set or mask-all cleared: messages that waited go out now. */
	if (off <= MSIX_CTRL_HI && off + len > MSIX_CTRL_HI)
		msix_deliver_pending(p);
	pthread_mutex_unlock(&p->lock);
	if (touches_window(off, len))
		pci_cfg_window(p, win, true);
}

static void virtio_pci_bar_mapped(void *ctx, unsigned int bar, uint64_t gpa, bool mapped)
{
	struct virtio_pci *p = ctx;

	if (bar != VIRTIO_PCI_BAR)
		return;
	if (mapped)
		__atomic_store_n(&p->bar_gpa, gpa, __ATOMIC_RELAXED);
	__atomic_store_n(&p->bar_mapped, mapped, __ATOMIC_RELEASE);
}

const struct pci_func_ops virtio_pci_func_ops = {
	.cfg_read = virtio_pci_cfg_read,
	.cfg_write = virtio_pci_cfg_write,
	.bar_mapped = virtio_pci_bar_mapped,
};

int virtio_pci_notify_addr(const struct virtio_pci *p, unsigned int q, uint64_t *gpa)
{
	if (!p->dev)
		return -ENODEV;
	if (q >= p->dev->nvq)
		return -EINVAL;
	if (!__atomic_load_n(&p->bar_mapped, __ATOMIC_ACQUIRE))
		return -ENODEV;
	*gpa = __atomic_load_n(&p->bar_gpa, __ATOMIC_RELAXED) + VIRTIO_PCI_NOTIFY_OFF +
	       (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT;
	return 0;
}
