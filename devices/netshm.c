// SPDX-License-Identifier: MIT
/* The netshm PCI function: see netshm.h and docs/vhost-user-shmem.md §4. */
#include <errno.h>
#include <string.h>

#include "devices/netshm.h"

#define CFG_HDR		0x40	/* type 0 header; the rest of config space reads 0 */

int netshm_dev_init(struct netshm_dev *d)
{
	memset(d, 0, sizeof(*d));
	return -pthread_mutex_init(&d->lock, NULL);
}

void netshm_dev_exit(struct netshm_dev *d)
{
	pthread_mutex_destroy(&d->lock);
}

void netshm_dev_set(struct netshm_dev *d, const struct netshm_dev_state *st)
{
	pthread_mutex_lock(&d->lock);
	d->st = *st;
	d->gen++;
	pthread_mutex_unlock(&d->lock);
}

void netshm_dev_get(struct netshm_dev *d, struct netshm_dev_state *st, uint32_t *gen)
{
	pthread_mutex_lock(&d->lock);
	if (st)
		*st = d->st;
	if (gen)
		*gen = d->gen;
	pthread_mutex_unlock(&d->lock);
}

void netshm_dev_stats(struct netshm_dev *d, struct netshm_dev_stats *out)
{
	out->bad_reads = __atomic_load_n(&d->stats.bad_reads, __ATOMIC_RELAXED);
	out->writes = __atomic_load_n(&d->stats.writes, __ATOMIC_RELAXED);
	out->doorbell_slow = __atomic_load_n(&d->stats.doorbell_slow, __ATOMIC_RELAXED);
}

static uint32_t reg_locked(const struct netshm_dev *d, uint32_t off)
{
	const struct netshm_dev_state *s = &d->st;

	switch (off) {
	case NETSHM_REG_MAGIC:		return NETSHM_DEV_MAGIC;
	case NETSHM_REG_VERSION:	return NETSHM_VERSION;
	case NETSHM_REG_STATUS:		return s->status;
	case NETSHM_REG_GEN:		return d->gen;
	case NETSHM_REG_PORT:		return s->port;
	case NETSHM_REG_NPORTS:		return s->nports;
	case NETSHM_REG_REGION_LO:	return (uint32_t)s->region_gpa;
	case NETSHM_REG_REGION_HI:	return (uint32_t)(s->region_gpa >> 32);
	case NETSHM_REG_RSIZE_LO:	return (uint32_t)s->region_size;
	case NETSHM_REG_RSIZE_HI:	return (uint32_t)(s->region_size >> 32);
	case NETSHM_REG_PEER_LO:	return (uint32_t)s->peer_base;
	case NETSHM_REG_PEER_HI:	return (uint32_t)(s->peer_base >> 32);
	case NETSHM_REG_PSTRIDE_LO:	return (uint32_t)s->peer_stride;
	case NETSHM_REG_PSTRIDE_HI:	return (uint32_t)(s->peer_stride >> 32);
	case NETSHM_REG_PEER_MAPPED:	return s->peer_mapped;
	case NETSHM_REG_PEER_VIEW:	return s->peer_view;
	case NETSHM_REG_IRQ:		return s->irq;
	case NETSHM_REG_DOORBELL_PEERS:	return s->doorbell_peers;
	default:			return 0;	/* reserved */
	}
}

uint32_t netshm_dev_reg(struct netshm_dev *d, uint32_t off)
{
	uint32_t v;

	pthread_mutex_lock(&d->lock);
	v = reg_locked(d, off);
	pthread_mutex_unlock(&d->lock);
	return v;
}

static void netshm_bar_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	struct netshm_dev *d = ctx;
	uint32_t v;

	/* base/netshm-abi.h: 32-bit registers; anything else reads as an absent device. */
	if (len != 4 || off % 4 || off >= NETSHM_BAR0_SIZE) {
		__atomic_fetch_add(&d->stats.bad_reads, 1, __ATOMIC_RELAXED);
		memset(data, 0xff, len);
		return;
	}
	v = netshm_dev_reg(d, (uint32_t)off);
	memcpy(data, &v, sizeof(v));	/* x86 is little-endian, as the ABI */
}

static void netshm_bar_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct netshm_dev *d = ctx;

	(void)data;
	/* §8: a doorbell KVM did not take (its bit is clear in DOORBELL_PEERS) is dropped. */
	if (len == 4 && off % 4 == 0 && off >= NETSHM_REG_DOORBELL(0) &&
	    off < NETSHM_REG_DOORBELL(NETSHM_MAX_PORTS))
		__atomic_fetch_add(&d->stats.doorbell_slow, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&d->stats.writes, 1, __ATOMIC_RELAXED);
}

const struct bus_dev_ops netshm_bar_ops = {
	.read = netshm_bar_read,
	.write = netshm_bar_write,
};

/* PCI Local Bus 3.0 §6.1: the type 0 header fields the function owns. */
static void netshm_cfg_read(void *ctx, uint32_t off, void *data, uint32_t len)
{
	struct netshm_dev *d = ctx;
	uint8_t h[CFG_HDR] = { 0 };
	uint16_t vendor = NETSHM_PCI_VENDOR, device = NETSHM_PCI_DEVICE;
	struct netshm_dev_state st;

	if (off >= CFG_HDR || len > CFG_HDR - off)
		return;		/* pre-filled with zeros: no capabilities, no extended space */
	memcpy(h + 0x00, &vendor, 2);
	memcpy(h + 0x02, &device, 2);
	h[0x08] = NETSHM_VERSION;			/* revision */
	h[0x09] = NETSHM_PCI_CLASS & 0xff;		/* prog-if */
	h[0x0a] = (NETSHM_PCI_CLASS >> 8) & 0xff;	/* subclass */
	h[0x0b] = (NETSHM_PCI_CLASS >> 16) & 0xff;	/* class */
	memcpy(h + 0x2c, &vendor, 2);			/* subsystem vendor / id */
	memcpy(h + 0x2e, &device, 2);
	netshm_dev_get(d, &st, NULL);
	h[0x3d] = st.status & NETSHM_STS_DOORBELL ? 1 : 0;	/* INTA: the doorbell (§8) */
	/* 0x06 status 0 (no capability list), 0x0e header type 0. */
	memcpy(data, h + off, len);
}

static void netshm_cfg_write(void *ctx, uint32_t off, const void *data, uint32_t len)
{
	(void)ctx;
	(void)off;
	(void)data;
	(void)len;	/* nothing writable here: the bridge keeps command/BARs/line */
}

static void netshm_bar_mapped(void *ctx, unsigned int bar, uint64_t gpa, bool mapped)
{
	struct netshm_dev *d = ctx;

	if (bar == 0 && d->bar_hook)
		d->bar_hook(d->bar_ctx, gpa, mapped);
}

const struct pci_func_ops netshm_pci_ops = {
	.cfg_read = netshm_cfg_read,
	.cfg_write = netshm_cfg_write,
	.bar_mapped = netshm_bar_mapped,
};

int netshm_dev_add(struct netshm_dev *d, struct pci_host *h, unsigned int *slot)
{
	struct pci_bar bars[PCI_NUM_BARS] = {
		[0] = { .size = NETSHM_BAR0_SIZE, .ops = &netshm_bar_ops, .ctx = d },
	};
	struct netshm_dev_state st;
	int r = pci_host_add(h, &netshm_pci_ops, d, bars, "netshm", slot);

	netshm_dev_get(d, &st, NULL);
	if (!r && (st.status & NETSHM_STS_DOORBELL)) {
		uint8_t line = (uint8_t)st.irq;

		/* As firmware would: the bridge owns the line byte (PCI 3.0 §6.2.4). */
		pci_host_cfg_write(h, 0, *slot, 0, 0x3c, &line, 1);
	}
	return r;
}
