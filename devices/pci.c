// SPDX-License-Identifier: MIT
/*
 * PCI host bridge: configuration mechanism #1 and ECAM for bus 0, the type-0 header registers
 * every function shares (command, BARs, ROM BAR, interrupt line), BAR sizing and placement.
 * Register layout: PCI Local Bus 3.0 §6.1 (figure 6-1), §6.2.2 (command), §6.2.5.1 (BARs).
 */
#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "devices/pci.h"

#define PCI_COMMAND		0x04
#define PCI_BAR0		0x10
#define PCI_BAR_END		0x28
#define PCI_ROM			0x30
#define PCI_INTR_LINE		0x3c

#define CMD_IO			(1u << 0)
#define CMD_MEM			(1u << 1)
#define CMD_MASTER		(1u << 2)
#define CMD_SERR		(1u << 8)
#define CMD_INTX_DISABLE	(1u << 10)
#define CMD_WRITABLE		(CMD_IO | CMD_MEM | CMD_MASTER | CMD_SERR | CMD_INTX_DISABLE)

/* BAR low bits, §6.2.5.1: bit 0 = 0 memory, bits 2:1 = 10b 64-bit, bit 3 prefetchable. */
#define BAR_MEM_TYPE64		0x4
#define BAR_MEM_PREFETCH	0x8
#define BAR_MEM_FLAGS		0xfu

#define CFG_ADDR_ENABLE		0x80000000u
#define CFG_ADDR_MASK		0x80fffffcu	/* bits 30:24 reserved, 1:0 always 0 */

/* The host bridge's own header: read-only, no capabilities, no BARs. */
static void bridge_cfg_read(void *ctx, uint32_t off, void *data, uint32_t len)
{
	static const uint8_t hdr[0x40] = {
		[0x00] = PCI_HOST_VENDOR & 0xff, [0x01] = PCI_HOST_VENDOR >> 8,
		[0x02] = PCI_HOST_DEVICE & 0xff, [0x03] = PCI_HOST_DEVICE >> 8,
		[0x0b] = 0x06,			/* class bridge, subclass host, prog-if 0 */
		[0x0e] = 0x00,			/* header type 0, single function */
	};

	(void)ctx;
	if (off < sizeof(hdr) && len <= sizeof(hdr) - off)
		memcpy(data, hdr + off, len);
}

static void bridge_cfg_write(void *ctx, uint32_t off, const void *data, uint32_t len)
{
	(void)ctx; (void)off; (void)data; (void)len;
}

static const struct pci_func_ops bridge_ops = {
	.cfg_read = bridge_cfg_read,
	.cfg_write = bridge_cfg_write,
};

static bool owned_byte(uint32_t off)
{
	return off == PCI_COMMAND || off == PCI_COMMAND + 1 ||
	       (off >= PCI_BAR0 && off < PCI_BAR_END) ||
	       (off >= PCI_ROM && off < PCI_ROM + 4) || off == PCI_INTR_LINE;
}

/* The 64-bit BAR whose upper half register `i` is, or -1. */
static int bar_upper_of(const struct pci_slot *s, unsigned int i)
{
	if (i == 0 || s->bars[i].size || !s->bars[i - 1].size ||
	    !(s->bars[i - 1].flags & PCI_BAR_F_MEM64))
		return -1;
	return (int)i - 1;
}

static uint32_t bar_reg_value(const struct pci_slot *s, unsigned int i)
{
	const struct pci_bar *b = &s->bars[i];
	uint32_t v;

	if (!b->size)
		return bar_upper_of(s, i) >= 0 ? s->bar_reg[i] : 0;
	v = s->bar_reg[i];
	if (b->flags & PCI_BAR_F_MEM64)
		v |= BAR_MEM_TYPE64;
	if (b->flags & PCI_BAR_F_PREFETCH)
		v |= BAR_MEM_PREFETCH;
	return v;
}

/* The bridge-owned dword at `dw` (a multiple of 4), for reads and read-modify-write. */
static uint32_t owned_dword(const struct pci_slot *s, uint32_t dw)
{
	if (dw == PCI_COMMAND)
		return s->command;
	if (dw >= PCI_BAR0 && dw < PCI_BAR_END)
		return bar_reg_value(s, (dw - PCI_BAR0) / 4);
	if (dw == PCI_INTR_LINE)
		return s->intr_line;
	return 0;				/* ROM BAR: no ROM, reads 0 */
}

static uint64_t bar_addr(const struct pci_slot *s, unsigned int i)
{
	uint64_t a = s->bar_reg[i];

	if (s->bars[i].flags & PCI_BAR_F_MEM64)
		a |= (uint64_t)s->bar_reg[i + 1] << 32;
	return a;
}

static void bar_unmap(struct pci_host *h, struct pci_slot *s, unsigned int i)
{
	if (!s->mapped[i])
		return;
	h->map.unmap(h->map.ctx, s->mapped_at[i], s->bars[i].size);
	s->mapped[i] = false;
	if (s->ops->bar_mapped)
		s->ops->bar_mapped(s->ctx, i, s->mapped_at[i], false);
}

/* Lock held. Makes the bus match the BAR's register and command.MEM. */
static int bar_update(struct pci_host *h, struct pci_slot *s, unsigned int i)
{
	const struct pci_bar *b = &s->bars[i];
	uint64_t addr = bar_addr(s, i);
	bool want = (s->command & CMD_MEM) && addr;
	int r;

	if (!b->size || (s->mapped[i] && want && s->mapped_at[i] == addr))
		return 0;
	bar_unmap(h, s, i);
	if (!want)
		return 0;
	r = h->map.map(h->map.ctx, addr, b->size, b->ops, b->ctx, s->name);
	if (r) {
		/* Overlap or wrap: the BAR stays off until the guest moves it somewhere free. */
		__atomic_fetch_add(&h->stats.bar_conflicts, 1, __ATOMIC_RELAXED);
		return r;
	}
	s->mapped[i] = true;
	s->mapped_at[i] = addr;
	if (s->ops->bar_mapped)
		s->ops->bar_mapped(s->ctx, i, addr, true);
	return 0;
}

static void owned_store(struct pci_host *h, struct pci_slot *s, uint32_t dw, uint32_t v)
{
	unsigned int i;
	int up;

	if (dw == PCI_COMMAND) {
		s->command = v & CMD_WRITABLE;
		for (i = 0; i < PCI_NUM_BARS; i++)
			(void)bar_update(h, s, i);	/* refusals are counted */
	} else if (dw >= PCI_BAR0 && dw < PCI_BAR_END) {
		i = (dw - PCI_BAR0) / 4;
		up = bar_upper_of(s, i);
		if (s->bars[i].size) {
			/* Only address bits >= the size stick: sizing reads back ~(size-1). */
			s->bar_reg[i] = v & (uint32_t)~(s->bars[i].size - 1) & ~BAR_MEM_FLAGS;
			(void)bar_update(h, s, i);
		} else if (up >= 0) {
			s->bar_reg[i] = v & (uint32_t)(~(s->bars[up].size - 1) >> 32);
			(void)bar_update(h, s, up);
		}
	} else if (dw == PCI_INTR_LINE) {
		s->intr_line = v & 0xff;
	}
}

/* A naturally aligned piece inside one dword. */
static void slot_read(struct pci_slot *s, uint32_t off, uint8_t *p, uint32_t len)
{
	bool first = owned_byte(off), mixed = false;
	uint32_t i, v;

	for (i = 1; i < len; i++)
		mixed |= owned_byte(off + i) != first;
	if (mixed) {
		for (i = 0; i < len; i++)
			slot_read(s, off + i, p + i, 1);
		return;
	}
	if (first) {
		v = owned_dword(s, off & ~3u) >> (8 * (off & 3));
		memcpy(p, &v, len);		/* little-endian host and guest */
		return;
	}
	memset(p, 0, len);
	s->ops->cfg_read(s->ctx, off, p, len);
}

static void slot_write(struct pci_host *h, struct pci_slot *s, uint32_t off, const uint8_t *p,
		       uint32_t len)
{
	bool first = owned_byte(off), mixed = false;
	uint32_t i, v, shift, mask;

	for (i = 1; i < len; i++)
		mixed |= owned_byte(off + i) != first;
	if (mixed) {
		for (i = 0; i < len; i++)
			slot_write(h, s, off + i, p + i, 1);
		return;
	}
	if (!first) {
		s->ops->cfg_write(s->ctx, off, p, len);
		return;
	}
	shift = 8 * (off & 3);
	mask = (len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1) << shift;
	v = 0;
	memcpy(&v, p, len);
	v = (owned_dword(s, off & ~3u) & ~mask) | (v << shift);
	owned_store(h, s, off & ~3u, v);
}

static struct pci_slot *slot_find(struct pci_host *h, unsigned int bus, unsigned int dev,
				  unsigned int fn)
{
	if (bus != 0 || dev >= PCI_MAX_SLOTS || fn != 0 || !h->slots[dev].ops)
		return NULL;
	return &h->slots[dev];
}

/* Natural width of the next piece: the largest of 4/2/1 that is aligned and fits. */
static uint32_t piece(uint32_t off, uint32_t len)
{
	uint32_t w = 4;

	while (w > len || off % w)
		w /= 2;
	return w;
}

void pci_host_cfg_read(struct pci_host *h, unsigned int bus, unsigned int dev, unsigned int fn,
		       uint32_t off, void *data, uint32_t len)
{
	struct pci_slot *s;
	uint8_t *p = data;
	uint32_t w;

	memset(p, 0xff, len);
	pthread_mutex_lock(&h->lock);
	s = slot_find(h, bus, dev, fn);
	for (; s && len && off < PCI_CFG_SIZE; off += w, p += w, len -= w) {
		w = piece(off, len);
		slot_read(s, off, p, w);
	}
	pthread_mutex_unlock(&h->lock);
}

void pci_host_cfg_write(struct pci_host *h, unsigned int bus, unsigned int dev,
			unsigned int fn, uint32_t off, const void *data, uint32_t len)
{
	const uint8_t *p = data;
	struct pci_slot *s;
	uint32_t w;

	pthread_mutex_lock(&h->lock);
	s = slot_find(h, bus, dev, fn);
	for (; s && len && off < PCI_CFG_SIZE; off += w, p += w, len -= w) {
		w = piece(off, len);
		slot_write(h, s, off, p, w);
	}
	pthread_mutex_unlock(&h->lock);
}

int pci_host_init(struct pci_host *h, struct pci_bar_map map, uint64_t win_base,
		  uint64_t win_end)
{
	if (!map.map || !map.unmap || win_base >= win_end)
		return -EINVAL;
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->map = map;
	h->win_next = win_base;
	h->win_end = win_end;
	h->slots[0] = (struct pci_slot){ .ops = &bridge_ops, .name = "pci-host" };
	return 0;
}

void pci_host_exit(struct pci_host *h)
{
	pthread_mutex_lock(&h->lock);
	for (unsigned int d = 0; d < PCI_MAX_SLOTS; d++)
		for (unsigned int i = 0; h->slots[d].ops && i < PCI_NUM_BARS; i++)
			bar_unmap(h, &h->slots[d], i);
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_destroy(&h->lock);
}

void pci_host_chain_cf9(struct pci_host *h, const struct bus_dev_ops *ops, void *ctx)
{
	pthread_mutex_lock(&h->lock);
	h->cf9_ops = ops;
	h->cf9_ctx = ctx;
	pthread_mutex_unlock(&h->lock);
}

static bool bars_valid(const struct pci_bar *bars)
{
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *b = &bars[i];

		if (!b->size)
			continue;
		if (b->size < 16 || (b->size & (b->size - 1)) ||
		    (b->flags & ~(PCI_BAR_F_MEM64 | PCI_BAR_F_PREFETCH)) ||
		    !b->ops || !b->ops->read || !b->ops->write)
			return false;
		if (!(b->flags & PCI_BAR_F_MEM64) && b->size > GiB(2))
			return false;
		if (b->flags & PCI_BAR_F_MEM64) {
			if (i + 1 >= PCI_NUM_BARS || bars[i + 1].size)
				return false;
			i++;			/* the upper half */
		}
	}
	return true;
}

int pci_host_add(struct pci_host *h, const struct pci_func_ops *ops, void *ctx,
		 const struct pci_bar *bars, const char *name, unsigned int *slot)
{
	struct pci_slot *s = NULL;
	uint64_t next;
	unsigned int d, i;
	int r = 0;

	if (!ops || !ops->cfg_read || !ops->cfg_write || (bars && !bars_valid(bars)))
		return -EINVAL;

	pthread_mutex_lock(&h->lock);
	for (d = 1; d < PCI_MAX_SLOTS && !s; d++)
		if (!h->slots[d].ops)
			s = &h->slots[d];
	if (!s) {
		r = -ENOSPC;
		goto out;
	}
	d = s - h->slots;
	*s = (struct pci_slot){ .ops = ops, .ctx = ctx, .name = name ? name : "pci" };
	if (bars)
		memcpy(s->bars, bars, sizeof(s->bars));

	/* Firmware's job: natural alignment, at least a page so no two BARs share one. */
	next = h->win_next;
	for (i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t size = s->bars[i].size, align = size < KiB(4) ? KiB(4) : size, at;

		if (!size)
			continue;
		at = ALIGN_UP(next, align);
		if (at < next || at >= h->win_end || size > h->win_end - at) {
			r = -ENOSPC;
			goto undo;
		}
		s->bar_reg[i] = (uint32_t)at;
		if (s->bars[i].flags & PCI_BAR_F_MEM64)
			s->bar_reg[i + 1] = (uint32_t)(at >> 32);
		next = at + size;
	}
	s->command = CMD_MEM;
	for (i = 0; i < PCI_NUM_BARS; i++) {
		r = bar_update(h, s, i);
		if (r)
			goto undo;
	}
	h->win_next = next;
	*slot = d;
	goto out;
undo:
	for (i = 0; i < PCI_NUM_BARS; i++)
		bar_unmap(h, s, i);
	*s = (struct pci_slot){ 0 };
out:
	pthread_mutex_unlock(&h->lock);
	return r;
}

int pci_host_bar_addr(struct pci_host *h, unsigned int slot, unsigned int bar, uint64_t *gpa)
{
	int r = -ENODEV;

	if (slot >= PCI_MAX_SLOTS || bar >= PCI_NUM_BARS)
		return -ENODEV;
	pthread_mutex_lock(&h->lock);
	if (h->slots[slot].ops && h->slots[slot].mapped[bar]) {
		*gpa = h->slots[slot].mapped_at[bar];
		r = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* Mechanism #1: CONFIG_ADDRESS (dword at 0), reset control (byte at 1), CONFIG_DATA (4-7). */
static void pci_pio_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	struct pci_host *h = ctx;
	uint32_t ca;

	if (off >= 4 && off < PCI_HOST_PIO_LEN && len <= PCI_HOST_PIO_LEN - off) {
		ca = __atomic_load_n(&h->config_address, __ATOMIC_RELAXED);
		if (!(ca & CFG_ADDR_ENABLE)) {
			memset(data, 0xff, len);
			return;
		}
		pci_host_cfg_read(h, (ca >> 16) & 0xff, (ca >> 11) & 0x1f, (ca >> 8) & 7,
				  (ca & 0xfc) + (uint32_t)(off - 4), data, len);
	} else if (off == 0 && len == 4) {
		ca = __atomic_load_n(&h->config_address, __ATOMIC_RELAXED);
		memcpy(data, &ca, 4);
	} else if (off == 1 && len == 1 && h->cf9_ops) {
		h->cf9_ops->read(h->cf9_ctx, 0, data, 1);
	} else {
		__atomic_fetch_add(&h->stats.bad_accesses, 1, __ATOMIC_RELAXED);
		memset(data, 0xff, len);
	}
}

static void pci_pio_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct pci_host *h = ctx;
	uint32_t ca;

	if (off >= 4 && off < PCI_HOST_PIO_LEN && len <= PCI_HOST_PIO_LEN - off) {
		ca = __atomic_load_n(&h->config_address, __ATOMIC_RELAXED);
		if (ca & CFG_ADDR_ENABLE)
			pci_host_cfg_write(h, (ca >> 16) & 0xff, (ca >> 11) & 0x1f, (ca >> 8) & 7,
					   (ca & 0xfc) + (uint32_t)(off - 4), data, len);
	} else if (off == 0 && len == 4) {
		memcpy(&ca, data, 4);
		__atomic_store_n(&h->config_address, ca & CFG_ADDR_MASK, __ATOMIC_RELAXED);
	} else if (off == 1 && len == 1 && h->cf9_ops) {
		h->cf9_ops->write(h->cf9_ctx, 0, data, 1);
	} else {
		/* e.g. Linux's type-1 probe writes a byte to 0xcfb: ignored, as on a PIIX. */
		__atomic_fetch_add(&h->stats.bad_accesses, 1, __ATOMIC_RELAXED);
	}
}

const struct bus_dev_ops pci_host_pio_ops = {
	.read = pci_pio_read,
	.write = pci_pio_write,
};

/* ECAM offset: bus 27:20, device 19:15, function 14:12, register 11:0. */
static void pci_ecam_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	pci_host_cfg_read(ctx, (unsigned int)(off >> 20), (off >> 15) & 0x1f, (off >> 12) & 7,
			  off & 0xfff, data, len);
}

static void pci_ecam_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	pci_host_cfg_write(ctx, (unsigned int)(off >> 20), (off >> 15) & 0x1f, (off >> 12) & 7,
			   off & 0xfff, data, len);
}

const struct bus_dev_ops pci_host_ecam_ops = {
	.read = pci_ecam_read,
	.write = pci_ecam_write,
};

static int pci_bus_map(void *ctx, uint64_t gpa, uint64_t len, const struct bus_dev_ops *ops,
		       void *dev, const char *name)
{
	return bus_register(ctx, gpa, len, ops, dev, name);
}

static void pci_bus_unmap(void *ctx, uint64_t gpa, uint64_t len)
{
	if (bus_unregister(ctx, gpa, len))
		pr_err("pci: BAR [%#llx, +%#llx) was not on the bus", (unsigned long long)gpa,
		       (unsigned long long)len);
}

struct pci_bar_map pci_bus_bar_map(struct bus *mmio)
{
	return (struct pci_bar_map){ .map = pci_bus_map, .unmap = pci_bus_unmap, .ctx = mmio };
}
