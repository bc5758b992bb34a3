// SPDX-License-Identifier: MIT
/*
 * Modern virtio-pci transport (VIRTIO 1.2 §4.1) for the ring-3 drivers; see virtio-pci.h.
 * Config space through mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2), registers through the
 * BARs the capabilities name (§4.1.4).
 */
#include "libguest.h"
#include "virtio-pci.h"

#define EINVAL		22
#define ENODEV		19

#define PCI_CONF_ADDR	0xcf8
#define PCI_CONF_DATA	0xcfc
#define PCI_SLOTS	32

/* Type 0 header (PCI Local Bus 3.0 §6.1) */
#define PCI_VENDOR_ID	0x00
#define PCI_COMMAND	0x04
#define PCI_STATUS	0x06
#define PCI_BAR0	0x10
#define PCI_CAP_PTR	0x34
#define PCI_CMD_MEM	0x0002
#define PCI_CMD_MASTER	0x0004
#define PCI_STATUS_CAPS	0x0010
#define PCI_BAR_IO	0x1
#define PCI_BAR_TYPE64	0x4		/* bits 2:1 = 10b */
#define PCI_BAR_FLAGS	0xfull
#define PCI_NUM_BARS	6
#define PCI_CAP_VENDOR	0x09
#define PCI_MAX_CAPS	48		/* (256 - 64) / 4: more links than that is a loop */

/* struct virtio_pci_cap (§4.1.4) and cfg_type values */
#define VPCI_CAP_TYPE	3
#define VPCI_CAP_BAR	4
#define VPCI_CAP_OFF	8
#define VPCI_CAP_LEN	12
#define VPCI_NOTIFY_MULT 16
#define VPCI_CAP_SIZE	16
#define VPCI_NOTIFY_CAP_SIZE 20
enum { VPCI_COMMON = 1, VPCI_NOTIFY = 2, VPCI_ISR = 3, VPCI_DEVICE = 4, VPCI_NTYPES };

/* struct virtio_pci_common_cfg (§4.1.4.3) */
#define VPCI_DFSELECT	0x00
#define VPCI_DF		0x04
#define VPCI_GFSELECT	0x08
#define VPCI_GF		0x0c
#define VPCI_MSIX_CFG	0x10
#define VPCI_NUM_QUEUES	0x12
#define VPCI_STATUS	0x14
#define VPCI_CFG_GEN	0x15
#define VPCI_Q_SELECT	0x16
#define VPCI_Q_SIZE	0x18
#define VPCI_Q_MSIX	0x1a
#define VPCI_Q_ENABLE	0x1c
#define VPCI_Q_NOFF	0x1e
#define VPCI_Q_DESC	0x20
#define VPCI_Q_DRIVER	0x28
#define VPCI_Q_DEVICE	0x30
#define VPCI_COMMON_LEN	0x38

/* ---- configuration mechanism #1, bus 0, function 0 ---- */

static void pci_cfg_addr(uint8_t slot, uint8_t off)
{
	outl(PCI_CONF_ADDR, 0x80000000u | (uint32_t)(slot & 31) << 11 | (off & 0xfc));
}

uint32_t pci_cfg_read32(uint8_t slot, uint8_t off)
{
	pci_cfg_addr(slot, off);
	return inl(PCI_CONF_DATA);
}

void pci_cfg_write32(uint8_t slot, uint8_t off, uint32_t v)
{
	pci_cfg_addr(slot, off);
	outl(PCI_CONF_DATA, v);
}

uint16_t pci_cfg_read16(uint8_t slot, uint8_t off)
{
	pci_cfg_addr(slot, off);
	return inw(PCI_CONF_DATA + (off & 2));
}

void pci_cfg_write16(uint8_t slot, uint8_t off, uint16_t v)
{
	pci_cfg_addr(slot, off);
	outw(PCI_CONF_DATA + (off & 2), v);
}

uint8_t pci_cfg_read8(uint8_t slot, uint8_t off)
{
	pci_cfg_addr(slot, off);
	return inb(PCI_CONF_DATA + (off & 3));
}

/* ---- BARs ---- */

struct pci_bar_info {
	uint64_t addr, size;		/* size 0: not a memory BAR we can use */
	bool is64;
};

/*
 * Reads BAR b of slot and sizes it the way firmware does: MEM off, all ones, read back,
 * restore (§6.2.5.1). Only memory BARs; a 64-bit one takes b and b + 1.
 */
static int pci_bar_probe(uint8_t slot, unsigned int b, struct pci_bar_info *out)
{
	uint8_t reg = (uint8_t)(PCI_BAR0 + 4 * b);
	uint16_t cmd = pci_cfg_read16(slot, PCI_COMMAND);
	uint32_t lo = pci_cfg_read32(slot, reg), hi = 0, mlo, mhi = 0xffffffffu;
	uint64_t mask;

	*out = (struct pci_bar_info){ 0 };
	if (lo & PCI_BAR_IO)
		return -EINVAL;
	out->is64 = (lo & 0x6) == PCI_BAR_TYPE64;
	if (out->is64) {
		if (b + 1 >= PCI_NUM_BARS)
			return -EINVAL;
		hi = pci_cfg_read32(slot, reg + 4);
	}
	pci_cfg_write16(slot, PCI_COMMAND, cmd & ~PCI_CMD_MEM);
	pci_cfg_write32(slot, reg, 0xffffffffu);
	mlo = pci_cfg_read32(slot, reg);
	pci_cfg_write32(slot, reg, lo);
	if (out->is64) {
		pci_cfg_write32(slot, reg + 4, 0xffffffffu);
		mhi = pci_cfg_read32(slot, reg + 4);
		pci_cfg_write32(slot, reg + 4, hi);
	}
	pci_cfg_write16(slot, PCI_COMMAND, cmd);

	mask = ((uint64_t)mhi << 32 | mlo) & ~PCI_BAR_FLAGS;
	if (!mask)
		return -EINVAL;		/* an unimplemented BAR */
	out->size = ~mask + 1;		/* the lowest writable address bit */
	out->addr = ((uint64_t)hi << 32 | lo) & ~PCI_BAR_FLAGS;
	return 0;
}

/* Our page tables map the 3..4 GiB hole for ring 3 (libguest.h); a BAR must sit there. */
static bool pci_bar_reachable(const struct pci_bar_info *bi)
{
	return bi->addr >= 0xc0000000ull && bi->addr <= 0x100000000ull &&
	       bi->size <= 0x100000000ull - bi->addr;
}

static bool pci_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * First naturally aligned place for `size` bytes in VIRTIO_PCI_WINDOW that overlaps no memory
 * BAR on bus 0 (sizing each one: this runs before anything else uses the devices).
 */
static int pci_bar_place(uint64_t size, uint64_t *out)
{
	uint64_t cand = VIRTIO_PCI_WINDOW_START;

	if (size < 4096)
		size = 4096;		/* page granular, as our VMM places them too */
	if (size > VIRTIO_PCI_WINDOW_END - VIRTIO_PCI_WINDOW_START)
		return -EINVAL;
	while (cand <= VIRTIO_PCI_WINDOW_END - size) {
		bool clash = false;

		for (uint8_t s = 0; s < PCI_SLOTS && !clash; s++) {
			if ((pci_cfg_read32(s, PCI_VENDOR_ID) & 0xffff) == 0xffff)
				continue;
			for (unsigned int b = 0; b < PCI_NUM_BARS && !clash; b++) {
				struct pci_bar_info bi;

				if (pci_bar_probe(s, b, &bi) == 0 && bi.addr &&
				    pci_overlaps(cand, size, bi.addr, bi.size))
					clash = true;
				if (bi.is64)
					b++;
			}
		}
		if (!clash) {
			*out = cand;
			return 0;
		}
		cand += size;
	}
	return -EINVAL;
}

static void pci_bar_set(uint8_t slot, unsigned int b, const struct pci_bar_info *bi)
{
	uint8_t reg = (uint8_t)(PCI_BAR0 + 4 * b);
	uint16_t cmd = pci_cfg_read16(slot, PCI_COMMAND);

	/* MEM off while the two halves disagree (our host maps every intermediate address). */
	pci_cfg_write16(slot, PCI_COMMAND, cmd & ~PCI_CMD_MEM);
	pci_cfg_write32(slot, reg, (uint32_t)bi->addr);
	if (bi->is64)
		pci_cfg_write32(slot, reg + 4, (uint32_t)(bi->addr >> 32));
	pci_cfg_write16(slot, PCI_COMMAND, cmd);
}

/* ---- discovery ---- */

struct vpci_cap {
	bool found;
	uint8_t bar;
	uint32_t off, len, mult;
};

/* The first usable capability of each cfg_type (§4.1.4: "the driver SHOULD use the first"). */
static int vpci_read_caps(uint8_t slot, struct vpci_cap caps[VPCI_NTYPES])
{
	uint8_t ptr;

	memset(caps, 0, sizeof(*caps) * VPCI_NTYPES);
	if (!(pci_cfg_read16(slot, PCI_STATUS) & PCI_STATUS_CAPS))
		return -EINVAL;
	ptr = pci_cfg_read8(slot, PCI_CAP_PTR) & 0xfc;
	for (unsigned int n = 0; ptr; n++) {
		uint32_t hdr, w1;
		uint8_t type, len, bar;

		/* Capabilities live after the header; a longer list than fits is a loop. */
		if (ptr < 0x40 || n == PCI_MAX_CAPS)
			return -EINVAL;
		hdr = pci_cfg_read32(slot, ptr);	/* id, next, cap_len, cfg_type */
		len = (uint8_t)(hdr >> 16);
		type = (uint8_t)(hdr >> 24);
		if ((hdr & 0xff) == PCI_CAP_VENDOR && len >= VPCI_CAP_SIZE &&
		    ptr <= 256 - VPCI_CAP_SIZE && type > 0 && type < VPCI_NTYPES && !caps[type].found) {
			w1 = pci_cfg_read32(slot, ptr + VPCI_CAP_BAR);
			bar = (uint8_t)w1;
			/* BAR values 0x6..0xff are reserved: skip such a capability (§4.1.4). */
			if (bar < PCI_NUM_BARS) {
				caps[type] = (struct vpci_cap){
					.found = true, .bar = bar,
					.off = pci_cfg_read32(slot, ptr + VPCI_CAP_OFF),
					.len = pci_cfg_read32(slot, ptr + VPCI_CAP_LEN),
				};
				if (type == VPCI_NOTIFY) {
					if (len < VPCI_NOTIFY_CAP_SIZE || ptr > 256 - VPCI_NOTIFY_CAP_SIZE)
						caps[type].found = false;
					else
						caps[type].mult = pci_cfg_read32(slot, ptr + VPCI_NOTIFY_MULT);
				}
			}
		}
		ptr = (uint8_t)(hdr >> 8) & 0xfc;
	}
	return 0;
}

static int vpci_setup(uint8_t slot, struct virtio_tp *tp)
{
	struct pci_bar_info bars[PCI_NUM_BARS];
	struct vpci_cap caps[VPCI_NTYPES];
	uint64_t addr[VPCI_NTYPES] = { 0 };
	unsigned int probed = 0;
	int r;

	r = vpci_read_caps(slot, caps);
	if (r)
		return r;
	/* COMMON, NOTIFY and DEVICE are required for a network device; ISR is not (we poll). */
	if (!caps[VPCI_COMMON].found || !caps[VPCI_NOTIFY].found || !caps[VPCI_DEVICE].found)
		return -EINVAL;
	for (unsigned int t = 1; t < VPCI_NTYPES; t++) {
		struct vpci_cap *c = &caps[t];
		struct pci_bar_info *bi = &bars[c->bar];

		if (!c->found)
			continue;
		if (!(probed & 1u << c->bar)) {
			r = pci_bar_probe(slot, c->bar, bi);
			if (r)
				return r;
			if (!pci_bar_reachable(bi)) {
				r = pci_bar_place(bi->size, &bi->addr);
				if (r)
					return r;
				pci_bar_set(slot, c->bar, bi);
			}
			probed |= 1u << c->bar;
		}
		/* The region must lie inside its BAR (sizes are u32, the BAR at most 4 GiB here). */
		if (c->off > bi->size || c->len > bi->size - c->off)
			return -EINVAL;
		addr[t] = bi->addr + c->off;
	}
	if (caps[VPCI_COMMON].len < VPCI_COMMON_LEN)
		return -EINVAL;
	pci_cfg_write16(slot, PCI_COMMAND,
			pci_cfg_read16(slot, PCI_COMMAND) | PCI_CMD_MEM | PCI_CMD_MASTER);

	*tp = (struct virtio_tp){ .ops = &virtio_pci_ops, .base = addr[VPCI_COMMON] };
	tp->pci.device_cfg = addr[VPCI_DEVICE];
	tp->pci.device_cfg_len = caps[VPCI_DEVICE].len;
	tp->pci.notify = addr[VPCI_NOTIFY];
	tp->pci.notify_len = caps[VPCI_NOTIFY].len;
	tp->pci.notify_mult = caps[VPCI_NOTIFY].mult;
	tp->pci.slot = slot;
	tp->pci.num_queues = *(volatile uint16_t *)(tp->base + VPCI_NUM_QUEUES);
	return 0;
}

int virtio_pci_find(uint32_t device_id, unsigned int idx, struct virtio_tp *tp)
{
	for (uint8_t slot = 0; slot < PCI_SLOTS; slot++) {
		uint32_t id = pci_cfg_read32(slot, PCI_VENDOR_ID);

		/* Only modern ids: a transitional device (0x1000 + n) needs the legacy interface. */
		if ((id & 0xffff) != VIRTIO_PCI_VENDOR ||
		    id >> 16 != VIRTIO_PCI_DEVICE_MODERN + device_id)
			continue;
		if (idx-- == 0)
			return vpci_setup(slot, tp) ? -EINVAL : 0;
	}
	return -ENODEV;
}

/* ---- transport ops ---- */

static volatile uint8_t *vpci8(struct virtio_tp *tp, uint32_t off)
{
	return (volatile uint8_t *)(tp->base + off);
}
static volatile uint16_t *vpci16(struct virtio_tp *tp, uint32_t off)
{
	return (volatile uint16_t *)(tp->base + off);
}
static volatile uint32_t *vpci32(struct virtio_tp *tp, uint32_t off)
{
	return (volatile uint32_t *)(tp->base + off);
}

/* §4.1.3.1: 64-bit fields as two 32-bit accesses, low half first (QEMU takes no 8-byte ones). */
static void vpci_write64(struct virtio_tp *tp, uint32_t off, uint64_t v)
{
	*vpci32(tp, off) = (uint32_t)v;
	*vpci32(tp, off + 4) = (uint32_t)(v >> 32);
}

static uint32_t vpci_device_id(struct virtio_tp *tp)
{
	return pci_cfg_read16(tp->pci.slot, PCI_VENDOR_ID + 2) - VIRTIO_PCI_DEVICE_MODERN;
}

static uint8_t vpci_get_status(struct virtio_tp *tp)
{
	return *vpci8(tp, VPCI_STATUS);
}

static void vpci_set_status(struct virtio_tp *tp, uint8_t status)
{
	*vpci8(tp, VPCI_STATUS) = status;
}

static uint64_t vpci_get_features(struct virtio_tp *tp)
{
	uint64_t f;

	*vpci32(tp, VPCI_DFSELECT) = 1;
	f = (uint64_t)*vpci32(tp, VPCI_DF) << 32;
	*vpci32(tp, VPCI_DFSELECT) = 0;
	return f | *vpci32(tp, VPCI_DF);
}

static void vpci_set_features(struct virtio_tp *tp, uint64_t f)
{
	*vpci32(tp, VPCI_GFSELECT) = 0;
	*vpci32(tp, VPCI_GF) = (uint32_t)f;
	*vpci32(tp, VPCI_GFSELECT) = 1;
	*vpci32(tp, VPCI_GF) = (uint32_t)(f >> 32);
	/* We poll: no configuration-change interrupt (§4.1.5.1.2). */
	*vpci16(tp, VPCI_MSIX_CFG) = VIRTIO_PCI_NO_VECTOR;
}

static uint64_t vpci_config_read(struct virtio_tp *tp, uint32_t off, unsigned int len)
{
	uint64_t a = tp->pci.device_cfg + off;

	if (off > tp->pci.device_cfg_len || len > tp->pci.device_cfg_len - off)
		return 0;
	/* §4.1.3.1: the field's own width; 64-bit fields as two aligned 32-bit reads. */
	switch (len) {
	case 1: return *(volatile uint8_t *)a;
	case 2: return *(volatile uint16_t *)a;
	case 4: return *(volatile uint32_t *)a;
	case 8: return *(volatile uint32_t *)a | (uint64_t)*(volatile uint32_t *)(a + 4) << 32;
	}
	return 0;
}

static uint32_t vpci_config_generation(struct virtio_tp *tp)
{
	return *vpci8(tp, VPCI_CFG_GEN);
}

static uint16_t vpci_queue_max(struct virtio_tp *tp, uint16_t q)
{
	if (q >= tp->pci.num_queues)
		return 0;
	*vpci16(tp, VPCI_Q_SELECT) = q;
	/* §4.1.4.3: before the driver writes it, queue_size reads the maximum (0 = absent). */
	return *vpci16(tp, VPCI_Q_SIZE);
}

static int vpci_queue_setup(struct virtio_tp *tp, uint16_t q, uint16_t size, uint64_t desc,
			    uint64_t avail, uint64_t used)
{
	uint64_t off;

	if (q >= VIRTIO_TP_MAX_QUEUES || q >= tp->pci.num_queues)
		return -EINVAL;
	*vpci16(tp, VPCI_Q_SELECT) = q;
	if (*vpci16(tp, VPCI_Q_ENABLE))
		return -EINVAL;		/* §4.1.4.3.2: set up only a disabled queue */
	/* §4.1.4.4: doorbell = notify region + queue_notify_off * multiplier, 2 bytes, inside
	 * the region (u16 * u32 cannot overflow 64 bits). */
	off = (uint64_t)*vpci16(tp, VPCI_Q_NOFF) * tp->pci.notify_mult;
	if (off > tp->pci.notify_len || tp->pci.notify_len - off < 2)
		return -EINVAL;
	*vpci16(tp, VPCI_Q_SIZE) = size;
	*vpci16(tp, VPCI_Q_MSIX) = VIRTIO_PCI_NO_VECTOR;
	vpci_write64(tp, VPCI_Q_DESC, desc);
	vpci_write64(tp, VPCI_Q_DRIVER, avail);
	vpci_write64(tp, VPCI_Q_DEVICE, used);
	*vpci16(tp, VPCI_Q_ENABLE) = 1;
	if (*vpci16(tp, VPCI_Q_ENABLE) != 1)
		return -EINVAL;
	tp->pci.doorbell[q] = tp->pci.notify + off;
	return 0;
}

static void vpci_notify(struct virtio_tp *tp, uint16_t q)
{
	/* §4.1.5.2: the 16-bit queue index (no NOTIFICATION_DATA). An ioeventfd on both VMMs. */
	if (q < VIRTIO_TP_MAX_QUEUES && tp->pci.doorbell[q])
		*(volatile uint16_t *)tp->pci.doorbell[q] = q;
}

const struct virtio_tp_ops virtio_pci_ops = {
	.device_id = vpci_device_id,
	.get_status = vpci_get_status,
	.set_status = vpci_set_status,
	.get_features = vpci_get_features,
	.set_features = vpci_set_features,
	.config_read = vpci_config_read,
	.config_generation = vpci_config_generation,
	.queue_max = vpci_queue_max,
	.queue_setup = vpci_queue_setup,
	.notify = vpci_notify,
};
