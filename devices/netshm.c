// SPDX-License-Identifier: MIT
/* The netshm PCI function: see netshm.h and docs/vhost-user-shmem.md §4. */
#include <errno.h>
#include <string.h>

#include "devices/netshm.h"

#define CFG_HDR		0x40	/* type 0 header; the rest of config space reads 0 */
/*
 * With a doorbell: one MSI capability (PCI 3.0 §6.8.1, 64-bit address, one vector, no
 * per-vector masking) at CFG_HDR, the only thing in config space a guest writes here.
 */
#define CFG_MSI		CFG_HDR
#define CFG_END		(CFG_MSI + NETSHM_MSI_CAP_SIZE)
#define PCI_STATUS_CAP_LIST	0x10
#define PCI_CAP_ID_MSI		0x05
#define MSI_CTRL_64BIT		0x80
#define MSI_CTRL_ENABLE		0x01
/* Writable bits per byte of the capability: enable; address (dword aligned); data. */
static const uint8_t msi_rw[NETSHM_MSI_CAP_SIZE] = {
	[2] = MSI_CTRL_ENABLE, [4] = 0xfc, [5] = 0xff, [6] = 0xff, [7] = 0xff,
	[8] = 0xff, [9] = 0xff, [10] = 0xff, [11] = 0xff, [12] = 0xff, [13] = 0xff,
};

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
	out->msi_changes = __atomic_load_n(&d->stats.msi_changes, __ATOMIC_RELAXED);
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
	uint16_t vendor = NETSHM_PCI_VENDOR, device = NETSHM_PCI_DEVICE;
	struct netshm_dev_state st;
	uint8_t h[CFG_END] = { 0 };
	bool msi;

	netshm_dev_get(d, &st, NULL);
	msi = st.status & NETSHM_STS_DOORBELL;
	if (off >= (msi ? CFG_END : CFG_HDR) || len > (msi ? CFG_END : CFG_HDR) - off)
		return;		/* pre-filled with zeros: no extended space */
	memcpy(h + 0x00, &vendor, 2);
	memcpy(h + 0x02, &device, 2);
	h[0x08] = NETSHM_VERSION;			/* revision */
	h[0x09] = NETSHM_PCI_CLASS & 0xff;		/* prog-if */
	h[0x0a] = (NETSHM_PCI_CLASS >> 8) & 0xff;	/* subclass */
	h[0x0b] = (NETSHM_PCI_CLASS >> 16) & 0xff;	/* class */
	memcpy(h + 0x2c, &vendor, 2);			/* subsystem vendor / id */
	memcpy(h + 0x2e, &device, 2);
	h[0x3d] = msi ? 1 : 0;			/* INTA: the doorbell (§8) */
	if (msi) {
		h[0x06] = PCI_STATUS_CAP_LIST;
		h[0x34] = CFG_MSI;			/* capabilities pointer */
		pthread_mutex_lock(&d->lock);
		memcpy(h + CFG_MSI, d->msi_cap, NETSHM_MSI_CAP_SIZE);
		pthread_mutex_unlock(&d->lock);
		h[CFG_MSI] = PCI_CAP_ID_MSI;
		h[CFG_MSI + 1] = 0;			/* last capability */
		h[CFG_MSI + 2] |= MSI_CTRL_64BIT;	/* one vector (MMC 0) */
	}
	/* 0x0e header type 0. */
	memcpy(data, h + off, len);
}

/* The MSI message the capability holds now: enable, address, data. */
static void msi_of(const uint8_t *c, bool *on, uint64_t *addr, uint32_t *data)
{
	uint32_t lo, hi;
	uint16_t v;

	memcpy(&lo, c + 4, 4);
	memcpy(&hi, c + 8, 4);
	memcpy(&v, c + 12, 2);
	*on = c[2] & MSI_CTRL_ENABLE;
	*addr = (uint64_t)hi << 32 | lo;
	*data = v;
}

/*
 * A write into the MSI capability (the PCI host's lock held): the writable bits stick, and a
 * change of what the device would send goes to msi_hook outside our lock (the VMM's side
 * takes its own lock, which is taken before ours elsewhere).
 */
static void netshm_msi_write(struct netshm_dev *d, uint32_t off, const uint8_t *p, uint32_t len)
{
	bool on0, on1;
	uint64_t a0, a1;
	uint32_t d0, d1;

	pthread_mutex_lock(&d->lock);
	msi_of(d->msi_cap, &on0, &a0, &d0);
	for (uint32_t i = 0; i < len; i++) {
		uint32_t b = off - CFG_MSI + i;

		d->msi_cap[b] = (uint8_t)((d->msi_cap[b] & ~msi_rw[b]) | (p[i] & msi_rw[b]));
	}
	msi_of(d->msi_cap, &on1, &a1, &d1);
	pthread_mutex_unlock(&d->lock);
	if (on0 == on1 && (!on1 || (a0 == a1 && d0 == d1)))
		return;
	__atomic_fetch_add(&d->stats.msi_changes, 1, __ATOMIC_RELAXED);
	if (d->msi_hook)
		d->msi_hook(d->bar_ctx, on1, a1, d1);
}

static void netshm_cfg_write(void *ctx, uint32_t off, const void *data, uint32_t len)
{
	struct netshm_dev *d = ctx;
	struct netshm_dev_state st;

	netshm_dev_get(d, &st, NULL);
	if ((st.status & NETSHM_STS_DOORBELL) && off >= CFG_MSI && off < CFG_END &&
	    len <= CFG_END - off) {
		netshm_msi_write(d, off, data, len);
		return;
	}
	/* Nothing else is writable here: the bridge keeps command/BARs/line. */
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
