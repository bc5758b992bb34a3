// SPDX-License-Identifier: MIT
/*
 * virtio/pci.c: config space and capability chain as a driver walks it, common_cfg through the
 * device core, doorbells, ISR, MSI-X masking and pending bits. Offsets are the specs'
 * (VIRTIO 1.2 §4.1.4, PCI Local Bus 3.0 §6.7, §6.8.2), spelled out here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tests/lib/vq_driver.h"
#include "virtio/pci.h"

/* common_cfg, §4.1.4.3 */
#define DFSELECT	0x00
#define DF		0x04
#define GFSELECT	0x08
#define GF		0x0c
#define MSIX_CONFIG	0x10
#define NUM_QUEUES	0x12
#define STATUS		0x14
#define CFG_GEN		0x15
#define Q_SELECT	0x16
#define Q_SIZE		0x18
#define Q_MSIX		0x1a
#define Q_ENABLE	0x1c
#define Q_NOFF		0x1e
#define Q_DESC		0x20
#define Q_AVAIL		0x28
#define Q_USED		0x30

#define NO_VECTOR	0xffff
#define QSIZE		64
#define NVQ		3
#define CFG_SIZE	12

static struct vqd drv;
static struct virtio_pci vp;
static struct virtio_dev dev;
static int notifies, sends, send_ret;
static uint64_t last_addr;
static uint32_t last_data;
static uint8_t devcfg[CFG_SIZE];

static uint64_t feat(void *ctx)
{
	(void)ctx;
	return 1ull << 5;
}

static int activate(void *ctx, struct virtq *vqs, unsigned int nvq, uint64_t f)
{
	(void)ctx; (void)vqs; (void)nvq; (void)f;
	return 0;
}

/* Completes whatever is posted, then signals like a device model. */
static void notify(void *ctx, unsigned int q)
{
	struct virtq *vq = &dev.vqs[q];
	struct vq_chain c;
	struct vq_buf b;

	(void)ctx;
	notifies++;
	while (virtq_pop(vq, &c) == 1) {
		while (vq_chain_next(&c, &b) == 1)
			;
		virtq_push_used(vq, c.head, 0);
	}
	virtq_publish(vq);
	virtio_dev_signal_used(&dev, q);
}

static void reset(void *ctx)
{
	(void)ctx;
}

static void config_rw(void *ctx, uint32_t off, void *buf, uint32_t len, bool write)
{
	(void)ctx;
	cr_assert(off < CFG_SIZE && len <= CFG_SIZE - off);
	if (write)
		memcpy(devcfg + off, buf, len);
	else
		memcpy(buf, devcfg + off, len);
}

static const struct virtio_dev_ops ops = {
	.features = feat, .activate = activate, .notify = notify, .reset = reset,
	.config_rw = config_rw,
};

static int msi_send(void *ctx, uint64_t addr, uint32_t data)
{
	(void)ctx;
	sends++;
	last_addr = addr;
	last_data = data;
	return send_ret;
}

static void quiet(void *ctx, enum log_level lvl, const char *l)
{
	(void)ctx; (void)lvl; (void)l;
}

static void setup(void)
{
	struct virtio_irq virq;

	notifies = sends = send_ret = 0;
	last_addr = last_data = 0;
	for (unsigned int i = 0; i < CFG_SIZE; i++)
		devcfg[i] = (uint8_t)(0x20 + i);
	log_set_sink(quiet, NULL);
	cr_assert_eq(vqd_init(&drv, QSIZE), 0);
	virtio_pci_init(&vp, (struct msi_sink){ .send = msi_send }, &virq);
	cr_assert_eq(virtio_dev_init(&dev, "pci-test", 1, &ops, NULL, NVQ, QSIZE, CFG_SIZE,
				     &drv.gm, virq), 0);
	virtio_pci_attach(&vp, &dev);
}

static void teardown(void)
{
	virtio_dev_exit(&dev);
	virtio_pci_exit(&vp);
	vqd_exit(&drv);
	log_set_sink(NULL, NULL);
}

TestSuite(vpci, .init = setup, .fini = teardown);

/* Config space the way the bridge delivers it: aligned pieces. */
static uint32_t cfg_rd(uint32_t off, uint32_t len)
{
	uint32_t v = 0;

	virtio_pci_func_ops.cfg_read(&vp, off, &v, len);
	return v;
}

static void cfg_wr(uint32_t off, uint32_t v, uint32_t len)
{
	virtio_pci_func_ops.cfg_write(&vp, off, &v, len);
}

static uint64_t bar_rd(uint64_t off, uint32_t len)
{
	uint64_t v = 0x5a5a5a5a5a5a5a5aull;

	virtio_pci_bar_ops.read(&vp, off, &v, len);
	if (len < 8)
		v &= (1ull << (8 * len)) - 1;
	return v;
}

static void bar_wr(uint64_t off, uint64_t v, uint32_t len)
{
	virtio_pci_bar_ops.write(&vp, off, &v, len);
}

/* A driver's view of one capability. */
struct cap {
	uint8_t at, id, len, type, bar;
	uint32_t off, length;
};

static unsigned int walk_caps(struct cap *caps, unsigned int max)
{
	unsigned int n = 0;
	uint8_t at = cfg_rd(0x34, 1);
	bool seen[256] = { false };

	cr_assert_neq(cfg_rd(0x06, 2) & 0x10, 0, "status: no capability list");
	while (at) {
		struct cap *c = &caps[n];

		cr_assert_geq(at, 0x40, "capability inside the header");
		cr_assert_eq(at % 4, 0, "capability not dword aligned");
		cr_assert(!seen[at], "capability loop at %#x", at);
		cr_assert_lt(n, max);
		seen[at] = true;
		*c = (struct cap){ .at = at, .id = cfg_rd(at, 1) };
		if (c->id == 0x09) {
			c->len = cfg_rd(at + 2, 1);
			c->type = cfg_rd(at + 3, 1);
			c->bar = cfg_rd(at + 4, 1);
			c->off = cfg_rd(at + 8, 4);
			c->length = cfg_rd(at + 12, 4);
			cr_assert_leq(at + c->len, 256, "capability past config space");
		}
		n++;
		at = cfg_rd(at + 1, 1);
	}
	return n;
}

static const struct cap *find_cap(const struct cap *caps, unsigned int n, uint8_t type)
{
	for (unsigned int i = 0; i < n; i++)
		if (caps[i].id == 0x09 && caps[i].type == type)
			return &caps[i];
	return NULL;
}

Test(vpci, identity_is_modern_virtio_net)
{
	cr_expect_eq(cfg_rd(0x00, 2), 0x1af4);
	cr_expect_eq(cfg_rd(0x02, 2), 0x1041, "0x1040 + device id 1");
	cr_expect_eq(cfg_rd(0x08, 1), 1, "revision 1: not transitional");
	cr_expect_eq(cfg_rd(0x08, 4) >> 8, 0x020000, "class network/ethernet");
	cr_expect_eq(cfg_rd(0x0e, 1), 0, "header type 0");
	cr_expect_eq(cfg_rd(0x2c, 2), 0x1af4);
	cr_expect_geq(cfg_rd(0x2e, 2), 0x40, "subsystem id");
	cr_expect_eq(cfg_rd(0x3d, 1), 0, "no INTx pin");
	cr_expect_eq(cfg_rd(0x100, 4), 0, "no extended capabilities");
}

Test(vpci, capability_chain_walk_finds_every_structure_inside_the_bar)
{
	struct cap caps[16];
	unsigned int n = walk_caps(caps, 16), msix = 0;
	const struct cap *common, *notify_c, *isr, *devc, *pcic;

	for (unsigned int i = 0; i < n; i++) {
		if (caps[i].id == 0x11)
			msix = caps[i].at;
		if (caps[i].id != 0x09 || caps[i].type == 5)
			continue;
		cr_expect_eq(caps[i].bar, 0, "type %u in BAR %u", caps[i].type, caps[i].bar);
		cr_expect_leq(caps[i].off, VIRTIO_PCI_BAR_SIZE);
		cr_expect_leq(caps[i].length, VIRTIO_PCI_BAR_SIZE - caps[i].off,
			      "type %u runs past the BAR", caps[i].type);
		cr_expect_geq(caps[i].len, 16);
	}
	common = find_cap(caps, n, 1);
	notify_c = find_cap(caps, n, 2);
	isr = find_cap(caps, n, 3);
	devc = find_cap(caps, n, 4);
	pcic = find_cap(caps, n, 5);
	cr_assert(common && notify_c && isr && devc && pcic);
	cr_expect_geq(common->length, 0x38, "common_cfg too short");
	cr_expect_geq(isr->length, 1);
	cr_expect_eq(devc->length, CFG_SIZE);
	cr_expect_geq(notify_c->len, 20);
	cr_expect_eq(cfg_rd(notify_c->at + 16, 4), 4, "notify_off_multiplier");
	cr_expect_geq(notify_c->length, NVQ * 4);
	cr_expect_geq(pcic->len, 20);

	/* MSI-X: nvq + 1 vectors, table and PBA in BAR 0 and inside it. */
	cr_assert_neq(msix, 0, "no MSI-X capability");
	{
		uint16_t ctl = cfg_rd(msix + 2, 2);
		uint32_t t = cfg_rd(msix + 4, 4), p = cfg_rd(msix + 8, 4);
		uint32_t nvec = (ctl & 0x7ff) + 1;

		cr_expect_eq(nvec, NVQ + 1);
		cr_expect_eq(ctl & 0xc000, 0, "MSI-X enabled or masked out of reset");
		cr_expect_eq(t & 7, 0);
		cr_expect_eq(p & 7, 0);
		cr_expect_leq((t & ~7u) + nvec * 16, VIRTIO_PCI_BAR_SIZE);
		cr_expect_leq((p & ~7u) + 8, VIRTIO_PCI_BAR_SIZE);
		/* Table and PBA do not overlap the virtio structures. */
		for (unsigned int i = 0; i < n; i++)
			if (caps[i].id == 0x09 && caps[i].type != 5)
				cr_expect(caps[i].off + caps[i].length <= (t & ~7u) ||
					  caps[i].off >= (t & ~7u) + nvec * 16,
					  "type %u overlaps the MSI-X table", caps[i].type);
	}
}

Test(vpci, read_only_config_fields_ignore_writes)
{
	uint16_t ctl = cfg_rd(0x42, 2);

	cfg_wr(0x00, 0xffffffff, 4);
	cfg_wr(0x08, 0, 4);
	cfg_wr(0x34, 0, 1);
	cfg_wr(0x42, 0x07ff, 2);			/* table size is not writable */
	cr_expect_eq(cfg_rd(0x00, 4), 0x10411af4);
	cr_expect_eq(cfg_rd(0x08, 4) >> 8, 0x020000);
	cr_expect_eq(cfg_rd(0x34, 1), 0x40);
	cr_expect_eq(cfg_rd(0x42, 2), ctl);
	cfg_wr(0x42, 0xc000 | ctl, 2);
	cr_expect_eq(cfg_rd(0x42, 2), 0xc000 | ctl, "enable and mask-all are writable");
}

static void start_queue(unsigned int q, bool halves)
{
	bar_wr(Q_SELECT, q, 2);
	cr_assert_eq(bar_rd(Q_SIZE, 2), QSIZE);
	if (halves) {
		bar_wr(Q_DESC, (uint32_t)drv.desc, 4);
		bar_wr(Q_DESC + 4, drv.desc >> 32, 4);
		bar_wr(Q_AVAIL, (uint32_t)drv.avail, 4);
		bar_wr(Q_AVAIL + 4, drv.avail >> 32, 4);
		bar_wr(Q_USED, (uint32_t)drv.used, 4);
		bar_wr(Q_USED + 4, drv.used >> 32, 4);
	} else {
		bar_wr(Q_DESC, drv.desc, 8);
		bar_wr(Q_AVAIL, drv.avail, 8);
		bar_wr(Q_USED, drv.used, 8);
	}
	bar_wr(Q_ENABLE, 1, 2);
}

/* §3.1.1 through common_cfg, queue 0 on the mock driver's rings. */
static void start(bool halves)
{
	bar_wr(STATUS, 1, 1);
	bar_wr(STATUS, 3, 1);
	bar_wr(GFSELECT, 1, 4);
	bar_wr(GF, 1, 4);				/* VIRTIO_F_VERSION_1 */
	bar_wr(STATUS, 3 | 8, 1);
	cr_assert_eq(bar_rd(STATUS, 1), 3 | 8);
	start_queue(0, halves);
	bar_wr(STATUS, 3 | 8 | 4, 1);
	cr_assert_eq(bar_rd(STATUS, 1), 3 | 8 | 4);
}

static void post(void)
{
	vqd_post(&drv, (struct vqd_seg[]){ { vqd_alloc(&drv, 8), 8, true } }, 1);
}

static void msix_enable(bool maskall)
{
	cfg_wr(0x43, maskall ? 0xc0 : 0x80, 1);
}

/* Table entry v: address, data, vector control. */
static void msix_entry(unsigned int v, uint64_t addr, uint32_t data, bool masked)
{
	uint64_t t = VIRTIO_PCI_MSIX_OFF + 16 * v;

	bar_wr(t, addr, 8);
	bar_wr(t + 8, data, 4);
	bar_wr(t + 12, masked, 4);
}

static uint64_t pba(void)
{
	return bar_rd(VIRTIO_PCI_PBA_OFF, 8);
}

Test(vpci, common_cfg_drives_the_device_core)
{
	uint32_t id, len;

	cr_expect_eq(bar_rd(NUM_QUEUES, 2), NVQ);
	start(false);
	cr_expect_eq(dev.vqs[0].desc_gpa, drv.desc);
	cr_expect_eq(dev.vqs[0].used_gpa, drv.used);
	cr_expect(dev.vqs[0].active);
	cr_expect_eq(bar_rd(Q_DESC, 8), drv.desc, "64-bit read back");
	cr_expect_eq(bar_rd(Q_AVAIL + 4, 4), drv.avail >> 32);
	post();
	bar_wr(VIRTIO_PCI_NOTIFY_OFF + 0, 0, 2);
	cr_expect_eq(notifies, 1);
	cr_expect_eq(vqd_get_used(&drv, &id, &len), 1);
	/* Queue writes after DRIVER_OK are the core's business: refused there, not here. */
	bar_wr(Q_SIZE, 16, 2);
	cr_expect_eq(bar_rd(Q_SIZE, 2), QSIZE);
	cr_expect_eq(dev.stats.late_queue_writes, 1);
}

Test(vpci, queue_addresses_as_32bit_halves)
{
	start(true);
	cr_expect_eq(dev.vqs[0].desc_gpa, drv.desc);
	cr_expect_eq(dev.vqs[0].avail_gpa, drv.avail);
	cr_expect_eq(dev.vqs[0].used_gpa, drv.used);
}

Test(vpci, feature_selects_and_driver_features_read_back)
{
	bar_wr(DFSELECT, 1, 4);
	cr_expect_eq(bar_rd(DFSELECT, 4), 1);
	cr_expect_eq(bar_rd(DF, 4) & 1, 1, "VERSION_1 offered");
	bar_wr(DFSELECT, 0, 4);
	cr_expect_eq(bar_rd(DF, 4) & (1u << 5), 1u << 5);
	bar_wr(DFSELECT, 7, 4);
	cr_expect_eq(bar_rd(DF, 4), 0, "select beyond 64 bits");
	bar_wr(STATUS, 1, 1);
	bar_wr(STATUS, 3, 1);
	bar_wr(GFSELECT, 0, 4);
	bar_wr(GF, 1u << 5, 4);
	bar_wr(GFSELECT, 1, 4);
	bar_wr(GF, 1, 4);
	cr_expect_eq(bar_rd(GFSELECT, 4), 1);
	cr_expect_eq(bar_rd(GF, 4), 1);
	bar_wr(GFSELECT, 0, 4);
	cr_expect_eq(bar_rd(GF, 4), 1u << 5);
	cr_expect_eq(dev.guest_features, (1ull << 32) | (1u << 5));
	bar_wr(DF, 0, 4);				/* read-only */
	cr_expect_eq(vp.stats.bad_accesses, 1);
}

Test(vpci, wrong_width_common_cfg_access_is_ignored_and_counted)
{
	bar_wr(STATUS, 1, 4);				/* 8-bit field */
	bar_wr(STATUS, 1, 2);
	cr_expect_eq(bar_rd(STATUS, 1), 0);
	bar_wr(Q_SELECT, 1, 4);				/* 16-bit field */
	cr_expect_eq(bar_rd(Q_SELECT, 2), 0);
	cr_expect_eq(bar_rd(DF, 2), 0, "32-bit field read as 16");
	cr_expect_eq(bar_rd(DF + 1, 4), 0, "unaligned");
	cr_expect_eq(bar_rd(Q_DESC + 4, 8), 0, "8 bytes straddling two fields");
	cr_expect_eq(bar_rd(DFSELECT, 8), 0, "8 bytes on a 32-bit field");
	cr_expect_eq(vp.stats.bad_accesses, 7);
}

Test(vpci, queue_select_beyond_nvq_selects_nothing)
{
	bar_wr(Q_SELECT, NVQ, 2);
	cr_expect_eq(bar_rd(Q_SELECT, 2), NVQ);
	cr_expect_eq(bar_rd(Q_SIZE, 2), 0, "size 0: no such queue");
	cr_expect_eq(bar_rd(Q_MSIX, 2), NO_VECTOR);
	cr_expect_eq(bar_rd(Q_NOFF, 2), 0);
	bar_wr(Q_MSIX, 1, 2);
	cr_expect_eq(bar_rd(Q_MSIX, 2), NO_VECTOR);
}

Test(vpci, each_queue_has_its_own_4_byte_doorbell)
{
	uint64_t gpa;

	for (unsigned int q = 0; q < NVQ; q++) {
		bar_wr(Q_SELECT, q, 2);
		cr_expect_eq(bar_rd(Q_NOFF, 2), q);
	}
	cr_expect_eq(virtio_pci_notify_addr(&vp, 0, &gpa), -ENODEV, "BAR not placed yet");
	virtio_pci_func_ops.bar_mapped(&vp, 0, 0xc0000000, true);
	for (unsigned int q = 0; q < NVQ; q++) {
		cr_assert_eq(virtio_pci_notify_addr(&vp, q, &gpa), 0);
		cr_expect_eq(gpa, 0xc0000000 + VIRTIO_PCI_NOTIFY_OFF + 4 * q);
	}
	cr_expect_eq(virtio_pci_notify_addr(&vp, NVQ, &gpa), -EINVAL);
	virtio_pci_func_ops.bar_mapped(&vp, 0, 0xc0000000, false);
	cr_expect_eq(virtio_pci_notify_addr(&vp, 0, &gpa), -ENODEV, "BAR off");
	virtio_pci_func_ops.bar_mapped(&vp, 0, 0xc1000000, true);
	cr_assert_eq(virtio_pci_notify_addr(&vp, 1, &gpa), 0);
	cr_expect_eq(gpa, 0xc1000000 + VIRTIO_PCI_NOTIFY_OFF + 4, "BAR moved");
}

Test(vpci, doorbell_address_names_the_queue_not_the_value)
{
	start(false);
	post();
	bar_wr(VIRTIO_PCI_NOTIFY_OFF + 4 * 1, 0, 2);	/* queue 1 is not ready */
	cr_expect_eq(notifies, 0);
	cr_expect_eq(dev.stats.ignored_notifies, 1);
	bar_wr(VIRTIO_PCI_NOTIFY_OFF + 4 * 0, 2, 2);	/* value 2, doorbell 0 */
	cr_expect_eq(notifies, 1);
}

Test(vpci, doorbell_beyond_nvq_or_straddling_is_ignored)
{
	start(false);
	post();
	bar_wr(VIRTIO_PCI_NOTIFY_OFF + 4 * NVQ, 0, 2);
	bar_wr(VIRTIO_PCI_NOTIFY_OFF + 2, 0, 4);	/* crosses into queue 1's doorbell */
	bar_wr(VIRTIO_PCI_NOTIFY_OFF + 0x800, 0, 2);
	cr_expect_eq(notifies, 0);
	cr_expect_eq(vp.stats.bad_accesses, 3);
	cr_expect_eq(bar_rd(VIRTIO_PCI_NOTIFY_OFF, 2), 0, "doorbells read 0");
}

Test(vpci, masked_vector_sets_pba_and_delivers_on_unmask)
{
	msix_enable(false);
	msix_entry(1, 0xfee00000, 0x4041, true);
	start(false);
	bar_wr(Q_SELECT, 0, 2);
	bar_wr(Q_MSIX, 1, 2);
	cr_assert_eq(bar_rd(Q_MSIX, 2), 1);
	post();
	bar_wr(VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	cr_expect_eq(notifies, 1);
	cr_expect_eq(sends, 0, "sent through a masked vector");
	cr_expect_eq(pba(), 1u << 1);
	/* The driver may reprogram a masked entry: the new message is what goes out. */
	bar_wr(VIRTIO_PCI_MSIX_OFF + 16 + 8, 0x4042, 4);
	bar_wr(VIRTIO_PCI_MSIX_OFF + 16 + 12, 0, 4);
	cr_expect_eq(sends, 1);
	cr_expect_eq(last_addr, 0xfee00000);
	cr_expect_eq(last_data, 0x4042);
	cr_expect_eq(pba(), 0);
	/* Unmasked now: the next one goes straight out. */
	post();
	bar_wr(VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	cr_expect_eq(sends, 2);
	cr_expect_eq(vp.stats.msi_sent, 2);
}

Test(vpci, function_mask_holds_every_vector_until_cleared)
{
	msix_enable(true);
	msix_entry(0, 0xfee01000, 0x30, false);
	start(false);
	bar_wr(MSIX_CONFIG, 0, 2);
	virtio_dev_config_changed(&dev);
	cr_expect_eq(sends, 0);
	cr_expect_eq(pba(), 1);
	cfg_wr(0x43, 0x80, 1);				/* clear mask-all, keep enable */
	cr_expect_eq(sends, 1);
	cr_expect_eq(last_addr, 0xfee01000);
	cr_expect_eq(last_data, 0x30);
	cr_expect_eq(pba(), 0);
}

Test(vpci, no_vector_sends_nothing)
{
	msix_enable(false);
	msix_entry(0, 0xfee00000, 0x20, false);
	start(false);
	cr_expect_eq(bar_rd(MSIX_CONFIG, 2), NO_VECTOR, "reset value");
	bar_wr(Q_SELECT, 0, 2);
	cr_expect_eq(bar_rd(Q_MSIX, 2), NO_VECTOR, "reset value");
	post();
	bar_wr(VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	virtio_dev_config_changed(&dev);
	cr_expect_eq(notifies, 1);
	cr_expect_eq(sends, 0);
	cr_expect_eq(pba(), 0, "NO_VECTOR is not 'pending'");
	cr_expect_eq(bar_rd(VIRTIO_PCI_ISR_OFF, 1), 2, "config bit only: MSI-X is on");
}

Test(vpci, vector_beyond_the_table_reads_back_no_vector)
{
	bar_wr(MSIX_CONFIG, NVQ + 1, 2);
	cr_expect_eq(bar_rd(MSIX_CONFIG, 2), NO_VECTOR);
	bar_wr(MSIX_CONFIG, NVQ, 2);
	cr_expect_eq(bar_rd(MSIX_CONFIG, 2), NVQ, "last vector is valid");
	bar_wr(Q_SELECT, 2, 2);
	bar_wr(Q_MSIX, 0x7fff, 2);
	cr_expect_eq(bar_rd(Q_MSIX, 2), NO_VECTOR);
}

Test(vpci, msix_disabled_sends_nothing_and_uses_the_isr)
{
	msix_entry(1, 0xfee00000, 0x41, false);
	start(false);
	bar_wr(Q_SELECT, 0, 2);
	bar_wr(Q_MSIX, 1, 2);
	post();
	bar_wr(VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	cr_expect_eq(sends, 0);
	cr_expect_eq(pba(), 0);
	cr_expect_eq(bar_rd(VIRTIO_PCI_ISR_OFF, 1), 1, "queue bit");
	cr_expect_eq(bar_rd(VIRTIO_PCI_ISR_OFF, 1), 0, "reading cleared it");
	bar_wr(VIRTIO_PCI_ISR_OFF, 1, 1);		/* read-only */
	cr_expect_eq(vp.stats.bad_accesses, 1);
}

Test(vpci, msix_table_writes_with_bad_widths_are_ignored)
{
	uint64_t t = VIRTIO_PCI_MSIX_OFF + 16 * 2;

	cr_expect_eq(bar_rd(t + 12, 4), 1, "vectors start masked");
	bar_wr(t, 0xfee00000, 2);
	bar_wr(t + 1, 0xfee00000, 4);
	bar_wr(t + 12, 0, 1);
	bar_wr(t + 4, 0x1234, 8);			/* qword not qword-aligned */
	cr_expect_eq(bar_rd(t, 8), 0);
	cr_expect_eq(bar_rd(t + 12, 4), 1);
	cr_expect_eq(bar_rd(t, 2), 0, "narrow read");
	cr_expect_eq(vp.stats.bad_accesses, 5);
	bar_wr(t, 0x12345678fee00003ull, 8);
	cr_expect_eq(bar_rd(t, 4), 0xfee00000, "address is dword aligned");
	cr_expect_eq(bar_rd(t + 4, 4), 0x12345678);
	bar_wr(t + 12, 0xfffffffe, 4);
	cr_expect_eq(bar_rd(t + 12, 4), 0, "only the mask bit exists");
	bar_wr(VIRTIO_PCI_PBA_OFF, ~0ull, 8);
	cr_expect_eq(pba(), 0, "PBA is read-only");
}

Test(vpci, failed_msi_is_counted)
{
	msix_enable(false);
	msix_entry(0, 0xfee00000, 0x20, false);
	start(false);
	bar_wr(MSIX_CONFIG, 0, 2);
	send_ret = -EIO;
	virtio_dev_config_changed(&dev);
	cr_expect_eq(sends, 1);
	cr_expect_eq(vp.stats.msi_failed, 1);
}

Test(vpci, reset_clears_vectors_isr_and_pending_bits)
{
	msix_enable(false);
	msix_entry(1, 0xfee00000, 0x20, true);
	start(false);
	bar_wr(MSIX_CONFIG, 1, 2);
	bar_wr(Q_SELECT, 0, 2);
	bar_wr(Q_MSIX, 1, 2);
	virtio_dev_config_changed(&dev);
	cr_assert_eq(pba(), 2);
	bar_wr(STATUS, 0, 1);
	cr_expect_eq(bar_rd(STATUS, 1), 0);
	cr_expect_eq(bar_rd(MSIX_CONFIG, 2), NO_VECTOR);
	cr_expect_eq(bar_rd(Q_SELECT, 2), 0);
	cr_expect_eq(bar_rd(Q_MSIX, 2), NO_VECTOR);
	cr_expect_eq(bar_rd(VIRTIO_PCI_ISR_OFF, 1), 0);
	cr_expect_eq(pba(), 0);
	bar_wr(VIRTIO_PCI_MSIX_OFF + 16 + 12, 0, 4);
	cr_expect_eq(sends, 0, "a stale message went out after reset");
}

Test(vpci, device_config_region_is_bounded_by_the_core)
{
	cr_expect_eq(bar_rd(VIRTIO_PCI_DEVICE_OFF + 4, 4), 0x27262524);
	cr_expect_eq(bar_rd(VIRTIO_PCI_DEVICE_OFF + 0, 8), 0x2726252423222120ull);
	bar_wr(VIRTIO_PCI_DEVICE_OFF + 1, 0x99, 1);
	cr_expect_eq(devcfg[1], 0x99);
	cr_expect_eq(bar_rd(VIRTIO_PCI_DEVICE_OFF + CFG_SIZE - 2, 4), 0, "runs past cfg_size");
	cr_expect_eq(bar_rd(VIRTIO_PCI_DEVICE_OFF + 0x800, 4), 0);
	cr_expect_eq(bar_rd(VIRTIO_PCI_DEVICE_OFF, 3), 0, "3-byte access");
}

Test(vpci, unused_bar_space_reads_zero)
{
	cr_expect_eq(bar_rd(0x40, 4), 0);
	cr_expect_eq(bar_rd(VIRTIO_PCI_ISR_OFF + 4, 4), 0);
	cr_expect_eq(bar_rd(VIRTIO_PCI_MSIX_OFF + 16 * (NVQ + 1), 4), 0, "past the table");
	cr_expect_eq(bar_rd(VIRTIO_PCI_BAR_SIZE, 4), 0, "past the BAR");
	cr_expect_eq(vp.stats.bad_accesses, 3);
}

Test(vpci, pci_cfg_window_reaches_the_bar)
{
	const uint8_t at = 0x90;			/* found by the walk below */
	struct cap caps[16];
	unsigned int n = walk_caps(caps, 16);
	const struct cap *c = find_cap(caps, n, 5);

	cr_assert_not_null(c);
	cr_assert_eq(c->at, at);
	cfg_wr(at + 4, 0, 1);				/* BAR 0 */
	cfg_wr(at + 8, STATUS, 4);
	cfg_wr(at + 12, 1, 4);
	cfg_wr(at + 16, 1, 1);				/* status = ACKNOWLEDGE */
	cr_expect_eq(bar_rd(STATUS, 1), 1);
	cfg_wr(at + 8, NUM_QUEUES, 4);
	cfg_wr(at + 12, 2, 4);
	cr_expect_eq(cfg_rd(at + 16, 2), NVQ);
	/* Length 3, misaligned offset, other BAR: nothing happens. */
	cfg_wr(at + 12, 3, 4);
	cfg_wr(at + 16, 0, 4);
	cfg_wr(at + 8, STATUS + 1, 4);
	cfg_wr(at + 12, 2, 4);
	cfg_wr(at + 16, 0, 2);
	cfg_wr(at + 4, 2, 1);
	cfg_wr(at + 8, STATUS, 4);
	cfg_wr(at + 12, 1, 4);
	cfg_wr(at + 16, 0, 1);
	cr_expect_eq(bar_rd(STATUS, 1), 1, "a refused window access reset the device");
	cr_expect_eq(vp.stats.bad_accesses, 3);
}

Test(vpci, nothing_before_attach)
{
	struct virtio_pci p2;
	struct virtio_irq irq;
	uint32_t v = 0x5a5a5a5a;

	virtio_pci_init(&p2, (struct msi_sink){ 0 }, &irq);
	virtio_pci_func_ops.cfg_read(&p2, 0, &v, 4);
	cr_expect_eq(v, 0x5a5a5a5a, "config read before attach changed the buffer");
	virtio_pci_bar_ops.read(&p2, 0, &v, 4);
	cr_expect_eq(v, 0);
	virtio_pci_bar_ops.write(&p2, STATUS, &v, 1);
	cr_expect_eq(virtio_pci_notify_addr(&p2, 0, &(uint64_t){ 0 }), -ENODEV);
	virtio_pci_exit(&p2);
}
