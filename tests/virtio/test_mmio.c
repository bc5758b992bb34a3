// SPDX-License-Identifier: MIT
/* virtio/mmio.c: register decode, access widths, interrupts, config space bounds. */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/lib/vq_driver.h"
#include "virtio/mmio.h"

/* Offsets and values from VIRTIO 1.2 §4.2.2, spelled out so the test does not trust mmio.c. */
#define MAGIC		0x000
#define VERSION		0x004
#define DEVICE_ID	0x008
#define VENDOR_ID	0x00c
#define DEV_FEAT	0x010
#define DEV_FEAT_SEL	0x014
#define DRV_FEAT	0x020
#define DRV_FEAT_SEL	0x024
#define QUEUE_SEL	0x030
#define QUEUE_NUM_MAX	0x034
#define QUEUE_NUM	0x038
#define QUEUE_READY	0x044
#define QUEUE_NOTIFY	0x050
#define INT_STATUS	0x060
#define INT_ACK		0x064
#define STATUS		0x070
#define DESC_LO		0x080
#define DESC_HI		0x084
#define AVAIL_LO	0x090
#define AVAIL_HI	0x094
#define USED_LO		0x0a0
#define USED_HI		0x0a4
#define CONFIG_GEN	0x0fc
#define CONFIG		0x100

#define QSIZE		128
#define NVQ		2
#define CFG_SIZE	12

static struct vqd drv;
static struct virtio_mmio mm;
static struct virtio_dev dev;
static int line, line_sets, notifies, cfg_calls;
static uint8_t cfg[CFG_SIZE];

static int irq_set(void *ctx, int level)
{
	(void)ctx;
	line = level;
	line_sets++;
	return 0;
}

static uint64_t feat(void *ctx)
{
	(void)ctx;
	return 1ull << 5;
}

static int activate(void *ctx, struct virtq *vqs, unsigned int nvq, uint64_t f)
{
	(void)ctx;
	(void)vqs;
	(void)nvq;
	(void)f;
	return 0;
}

static void notify(void *ctx, unsigned int q)
{
	struct virtq *vq = &dev.vqs[q];
	struct vq_chain c;
	struct vq_buf b;
	int r;

	(void)ctx;
	notifies++;
	while ((r = virtq_pop(vq, &c)) == 1) {
		while ((r = vq_chain_next(&c, &b)) == 1)
			;
		if (r < 0)
			break;
		virtq_push_used(vq, c.head, 0);
	}
	if (r < 0) {
		virtio_dev_broken(&dev, "test");
		return;
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
	cfg_calls++;
	cr_assert(off < CFG_SIZE && len <= CFG_SIZE - off);
	if (write)
		memcpy(cfg + off, buf, len);
	else
		memcpy(buf, cfg + off, len);
}

static const struct virtio_dev_ops ops = {
	.features = feat, .activate = activate, .notify = notify, .reset = reset,
	.config_rw = config_rw,
};

static void quiet(void *ctx, enum log_level lvl, const char *l)
{
	(void)ctx;
	(void)lvl;
	(void)l;
}

static void setup(void)
{
	struct virtio_irq virq;
	unsigned int i;

	line = line_sets = notifies = cfg_calls = 0;
	for (i = 0; i < CFG_SIZE; i++)
		cfg[i] = (uint8_t)(0x10 + i);
	log_set_sink(quiet, NULL);
	cr_assert_eq(vqd_init(&drv, QSIZE), 0);
	virtio_mmio_init(&mm, (struct irq_line){ .set = irq_set }, &virq);
	cr_assert_eq(virtio_dev_init(&dev, "mmio-test", 1, &ops, NULL, NVQ, QSIZE, CFG_SIZE,
				     &drv.gm, virq), 0);
	virtio_mmio_attach(&mm, &dev);
}

static void teardown(void)
{
	virtio_dev_exit(&dev);
	virtio_mmio_exit(&mm);
	vqd_exit(&drv);
	log_set_sink(NULL, NULL);
}

TestSuite(mmio, .init = setup, .fini = teardown);

static uint64_t rd(uint64_t off, uint32_t len)
{
	uint64_t v = 0xdeadbeefdeadbeefull;

	virtio_mmio_bus_ops.read(&mm, off, &v, len);
	if (len < 8)
		v &= (1ull << (8 * len)) - 1;
	return v;
}

static void wr(uint64_t off, uint64_t v, uint32_t len)
{
	virtio_mmio_bus_ops.write(&mm, off, &v, len);
}

static uint32_t rd32(uint64_t off)
{
	return (uint32_t)rd(off, 4);
}

static void wr32(uint64_t off, uint32_t v)
{
	wr(off, v, 4);
}

/* §3.1.1 through the registers; queue 0 on the mock driver's rings. */
static void start(void)
{
	wr32(STATUS, 1);
	wr32(STATUS, 3);
	wr32(DRV_FEAT_SEL, 1);
	wr32(DRV_FEAT, 1);			/* VIRTIO_F_VERSION_1 = bit 32 */
	wr32(STATUS, 3 | 8);
	cr_assert_eq(rd32(STATUS), 3 | 8);
	wr32(QUEUE_SEL, 0);
	cr_assert_eq(rd32(QUEUE_NUM_MAX), QSIZE);
	wr32(QUEUE_NUM, QSIZE);
	wr32(DESC_LO, (uint32_t)drv.desc);
	wr32(DESC_HI, 0);
	wr32(AVAIL_LO, (uint32_t)drv.avail);
	wr32(AVAIL_HI, 0);
	wr32(USED_LO, (uint32_t)drv.used);
	wr32(USED_HI, 0);
	wr32(QUEUE_READY, 1);
	wr32(STATUS, 3 | 8 | 4);
	cr_assert_eq(rd32(STATUS), 3 | 8 | 4);
}

static void post(void)
{
	vqd_post(&drv, (struct vqd_seg[]){ { vqd_alloc(&drv, 8), 8, true } }, 1);
}

Test(mmio, identification_registers)
{
	cr_expect_eq(rd32(MAGIC), 0x74726976);
	cr_expect_eq(rd32(VERSION), 2);
	cr_expect_eq(rd32(DEVICE_ID), 1);
	cr_expect_eq(rd32(VENDOR_ID), VIRTIO_MMIO_VENDOR);
	wr32(DEV_FEAT_SEL, 1);
	cr_expect_eq(rd32(DEV_FEAT) & 1, 1, "VERSION_1 offered");
	wr32(DEV_FEAT_SEL, 0);
	cr_expect_eq(rd32(DEV_FEAT) & (1u << 5), 1u << 5);
}

Test(mmio, unaligned_register_read_reads_zero)
{
	cr_expect_eq(rd(MAGIC + 1, 4), 0);
	cr_expect_eq(rd(MAGIC + 2, 2), 0);
	cr_expect_eq(rd(MAGIC, 1), 0);
	cr_expect_eq(rd(MAGIC, 2), 0);
	cr_expect_eq(rd(MAGIC, 8), 0);
	cr_expect_eq(mm.stats.bad_accesses, 5);
}

Test(mmio, narrow_or_unaligned_register_write_is_ignored)
{
	wr(STATUS, 1, 1);
	wr(STATUS, 1, 2);
	wr(STATUS - 2, 0x10000, 4);
	wr(STATUS, 1, 8);
	cr_expect_eq(rd32(STATUS), 0);
	cr_expect_eq(mm.stats.bad_accesses, 4);
}

Test(mmio, unknown_register_reads_zero_and_is_counted)
{
	cr_expect_eq(rd32(0x0f0), 0);
	wr32(0x0f0, 1);
	cr_expect_eq(mm.stats.unknown_regs, 2);
}

Test(mmio, chain_processed_raises_queue_interrupt)
{
	uint32_t id, len;

	start();
	post();
	wr32(QUEUE_NOTIFY, 0);
	cr_expect_eq(notifies, 1);
	cr_expect_eq(vqd_get_used(&drv, &id, &len), 1);
	cr_expect_eq(rd32(INT_STATUS), 1);
	cr_expect_eq(line, 1);
}

Test(mmio, queue_notify_for_queue_beyond_nvq_is_ignored)
{
	start();
	post();
	wr32(QUEUE_NOTIFY, NVQ);
	wr32(QUEUE_NOTIFY, 0x10000);
	wr32(QUEUE_NOTIFY, 0xffffffff);
	cr_expect_eq(notifies, 0);
	cr_expect_eq(dev.stats.ignored_notifies, 3);
	cr_expect_eq(vqd_used_idx(&drv), 0);
}

Test(mmio, interrupt_ack_lowers_the_line)
{
	start();
	post();
	wr32(QUEUE_NOTIFY, 0);
	virtio_dev_config_changed(&dev);
	cr_assert_eq(rd32(INT_STATUS), 3);
	cr_assert_eq(line, 1);
	wr32(INT_ACK, 1);
	cr_expect_eq(rd32(INT_STATUS), 2);
	cr_expect_eq(line, 1, "config bit still pending");
	wr32(INT_ACK, 2);
	cr_expect_eq(rd32(INT_STATUS), 0);
	cr_expect_eq(line, 0);
}

Test(mmio, narrow_interrupt_ack_does_not_lower_the_line)
{
	start();
	post();
	wr32(QUEUE_NOTIFY, 0);
	wr(INT_ACK, 1, 1);
	cr_expect_eq(rd32(INT_STATUS), 1);
	cr_expect_eq(line, 1);
}

Test(mmio, broken_device_raises_config_interrupt)
{
	start();
	vqd_post_hostile(&drv, VQD_DESC_LOOP);
	wr32(QUEUE_NOTIFY, 0);
	cr_expect_eq(rd32(STATUS) & 0x40, 0x40);
	cr_expect_eq(rd32(INT_STATUS), 2);
	cr_expect_eq(line, 1);
}

Test(mmio, status_reset_clears_interrupt_and_lowers_line)
{
	start();
	post();
	wr32(QUEUE_NOTIFY, 0);
	cr_assert_eq(line, 1);
	wr32(STATUS, 0);
	cr_expect_eq(rd32(STATUS), 0);
	cr_expect_eq(rd32(INT_STATUS), 0);
	cr_expect_eq(line, 0);
}

Test(mmio, queue_sel_above_16_bits_does_not_alias_queue_0)
{
	wr32(STATUS, 1);
	wr32(STATUS, 3);
	wr32(DRV_FEAT_SEL, 1);
	wr32(DRV_FEAT, 1);
	wr32(STATUS, 3 | 8);
	wr32(QUEUE_SEL, 0x10000);
	cr_expect_eq(rd32(QUEUE_NUM_MAX), 0);
	wr32(QUEUE_NUM, 16);
	wr32(QUEUE_SEL, 0);
	cr_expect_eq(rd32(QUEUE_NUM), QSIZE);
}

Test(mmio, queue_registers_rewritten_after_driver_ok_have_no_effect)
{
	uint32_t id, len;
	int i;

	start();
	wr32(QUEUE_SEL, 0);
	wr32(QUEUE_NUM, 2);
	wr32(DESC_LO, (uint32_t)VQD_HOLE_GPA);
	wr32(USED_LO, (uint32_t)(VQD_RAM_END - 8));
	wr32(QUEUE_READY, 0);
	cr_expect_eq(rd32(QUEUE_NUM), QSIZE);
	cr_expect_eq(rd32(DESC_LO), (uint32_t)drv.desc);
	cr_expect_eq(rd32(QUEUE_READY), 1);
	for (i = 0; i < 3 * QSIZE; i++) {
		post();
		wr32(QUEUE_NOTIFY, 0);
		cr_assert_eq(vqd_get_used(&drv, &id, &len), 1, "chain %d", i);
	}
}

Test(mmio, config_space_in_bounds_any_width)
{
	cr_expect_eq(rd(CONFIG, 1), 0x10);
	cr_expect_eq(rd(CONFIG + 1, 2), 0x1211);
	cr_expect_eq(rd(CONFIG + 4, 4), 0x17161514);
	cr_expect_eq(rd(CONFIG, 8), 0x1716151413121110ull);
	wr(CONFIG + 8, 0xa1a2a3a4, 4);
	cr_expect_eq(cfg[8], 0xa4);
	cr_expect_eq(cfg[11], 0xa1);
}

Test(mmio, config_space_past_config_size_reads_zero)
{
	cr_expect_eq(rd(CONFIG + CFG_SIZE - 2, 4), 0);
	cr_expect_eq(rd(CONFIG + CFG_SIZE, 1), 0);
	cr_expect_eq(rd(0xff8, 8), 0);
	wr(CONFIG + CFG_SIZE - 1, 0xffff, 2);
	cr_expect_eq(cfg[CFG_SIZE - 1], 0x10 + CFG_SIZE - 1);
	cr_expect_eq(cfg_calls, 0);
}

Test(mmio, config_space_odd_width_is_refused)
{
	cr_expect_eq(rd(CONFIG, 3), 0);
	wr(CONFIG, 0xffffff, 3);
	cr_expect_eq(cfg[0], 0x10);
	cr_expect_eq(cfg_calls, 0);
	cr_expect_eq(mm.stats.bad_accesses, 2);
}

Test(mmio, config_generation_follows_changes)
{
	uint32_t g = rd32(CONFIG_GEN);

	virtio_dev_config_changed(&dev);
	cr_expect_eq(rd32(CONFIG_GEN), g + 1);
}

Test(mmio, unattached_transport_reads_zero)
{
	struct virtio_mmio lone;
	struct virtio_irq virq;
	uint32_t v = 0xffffffff;

	virtio_mmio_init(&lone, (struct irq_line){ .set = irq_set }, &virq);
	virtio_mmio_bus_ops.read(&lone, MAGIC, &v, 4);
	cr_expect_eq(v, 0);
	virtio_mmio_bus_ops.write(&lone, STATUS, &v, 4);
	virtio_mmio_exit(&lone);
}
