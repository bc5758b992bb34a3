// SPDX-License-Identifier: MIT
/* virtio/device.c: state machine, feature negotiation, frozen geometry, the broken state. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <string.h>

#include "tests/lib/vq_driver.h"
#include "virtio/device.h"

#define QSIZE		256
#define NVQ		2
#define CFG_SIZE	16
#define DEV_FEATURE	(1ull << 5)	/* a device-specific bit the mock offers */

#define S_ACK		VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRIVER	VIRTIO_CONFIG_S_DRIVER
#define S_FEAT_OK	VIRTIO_CONFIG_S_FEATURES_OK
#define S_DRIVER_OK	VIRTIO_CONFIG_S_DRIVER_OK
#define S_NEEDS_RESET	0x40
#define F_VERSION_1	(1ull << VIRTIO_F_VERSION_1)
#define F_EVENT_IDX	(1ull << VIRTIO_RING_F_EVENT_IDX)
#define F_INDIRECT	(1ull << VIRTIO_RING_F_INDIRECT_DESC)

/* A mock device model: on notify it consumes chains, fills writable buffers with 0xab. */
static struct mock {
	struct virtio_dev dev;
	int activated, resets, notifies, queue_irqs, config_irqs, cfg_calls;
	int activate_ret;
	uint64_t features;
	uint8_t cfg[CFG_SIZE];
} m;
static struct vqd drv;

static uint64_t mock_features(void *ctx)
{
	(void)ctx;
	return DEV_FEATURE;
}

static int mock_activate(void *ctx, struct virtq *vqs, unsigned int nvq, uint64_t features)
{
	(void)ctx;
	(void)vqs;
	(void)nvq;
	m.activated++;
	m.features = features;
	return m.activate_ret;
}

static void mock_notify(void *ctx, unsigned int q)
{
	struct virtq *vq = &m.dev.vqs[q];
	struct vq_chain c;
	struct vq_buf b;
	uint32_t written;
	int r;

	(void)ctx;
	m.notifies++;
	cr_assert_lt(q, NVQ, "core passed an unchecked queue index");
	while ((r = virtq_pop(vq, &c)) == 1) {
		written = 0;
		while ((r = vq_chain_next(&c, &b)) == 1) {
			if (b.write) {
				memset(b.hva, 0xab, b.len < 64 ? b.len : 64);
				written += b.len;
			}
		}
		if (r < 0)
			break;
		virtq_push_used(vq, c.head, written);
	}
	if (r < 0) {
		virtio_dev_broken(&m.dev, "malformed chain");
		return;
	}
	virtq_publish(vq);
	virtio_dev_signal_used(&m.dev, q);
}

static void mock_reset(void *ctx)
{
	(void)ctx;
	m.resets++;
}

static void mock_config_rw(void *ctx, uint32_t off, void *buf, uint32_t len, bool write)
{
	(void)ctx;
	m.cfg_calls++;
	cr_assert(off < CFG_SIZE && len <= CFG_SIZE - off, "core passed config %u+%u", off, len);
	if (write)
		memcpy(m.cfg + off, buf, len);
	else
		memcpy(buf, m.cfg + off, len);
}

static const struct virtio_dev_ops mock_ops = {
	.features = mock_features,
	.activate = mock_activate,
	.notify = mock_notify,
	.reset = mock_reset,
	.config_rw = mock_config_rw,
};

static void irq_queue(void *ctx, unsigned int q)
{
	(void)ctx;
	(void)q;
	m.queue_irqs++;
}

static void irq_config(void *ctx)
{
	(void)ctx;
	m.config_irqs++;
}

static const struct virtio_irq mock_irq = { .queue = irq_queue, .config = irq_config };

static int log_lines;

static void count_sink(void *ctx, enum log_level lvl, const char *line)
{
	(void)ctx;
	(void)lvl;
	(void)line;
	log_lines++;
}

static void setup(void)
{
	log_lines = 0;
	log_set_sink(count_sink, NULL);	/* the "device broken" lines are expected here */
	memset(&m, 0, sizeof(m));
	cr_assert_eq(vqd_init(&drv, QSIZE), 0);
	cr_assert_eq(virtio_dev_init(&m.dev, "mock", 42, &mock_ops, NULL, NVQ, QSIZE, CFG_SIZE,
				     &drv.gm, mock_irq), 0);
}

static void teardown(void)
{
	virtio_dev_exit(&m.dev);
	vqd_exit(&drv);
	log_set_sink(NULL, NULL);
}

TestSuite(device, .init = setup, .fini = teardown);

static void write_features(uint64_t f)
{
	virtio_dev_select_features(&m.dev, 0, true);
	virtio_dev_set_driver_features(&m.dev, (uint32_t)f);
	virtio_dev_select_features(&m.dev, 1, true);
	virtio_dev_set_driver_features(&m.dev, (uint32_t)(f >> 32));
}

static void negotiate(uint64_t f)
{
	virtio_dev_set_status(&m.dev, S_ACK);
	virtio_dev_set_status(&m.dev, S_ACK | S_DRIVER);
	write_features(f);
	virtio_dev_set_status(&m.dev, S_ACK | S_DRIVER | S_FEAT_OK);
}

static void program_queue(uint16_t q, struct vqd_geometry g)
{
	virtio_dev_select_queue(&m.dev, q);
	virtio_dev_queue_set(&m.dev, VQF_SIZE, g.size);
	virtio_dev_queue_set(&m.dev, VQF_DESC_LO, (uint32_t)g.desc);
	virtio_dev_queue_set(&m.dev, VQF_DESC_HI, (uint32_t)(g.desc >> 32));
	virtio_dev_queue_set(&m.dev, VQF_AVAIL_LO, (uint32_t)g.avail);
	virtio_dev_queue_set(&m.dev, VQF_AVAIL_HI, (uint32_t)(g.avail >> 32));
	virtio_dev_queue_set(&m.dev, VQF_USED_LO, (uint32_t)g.used);
	virtio_dev_queue_set(&m.dev, VQF_USED_HI, (uint32_t)(g.used >> 32));
	virtio_dev_queue_set(&m.dev, VQF_READY, 1);
}

/* The whole §3.1.1 sequence with queue 0 on the mock driver's rings. */
static void start(enum vqd_geom g, uint64_t f)
{
	negotiate(f);
	program_queue(0, vqd_geometry(&drv, g));
	virtio_dev_set_status(&m.dev, S_ACK | S_DRIVER | S_FEAT_OK | S_DRIVER_OK);
}

static uint16_t post_good(void)
{
	return vqd_post(&drv, (struct vqd_seg[]){ { vqd_alloc(&drv, 8), 8, false },
						  { vqd_alloc(&drv, 16), 16, true } }, 2);
}

Test(device, init_with_bad_parameters_is_refused)
{
	struct virtio_dev d;

	cr_expect_eq(virtio_dev_init(&d, "x", 1, &mock_ops, NULL, 0, 256, 0, &drv.gm, mock_irq),
		     -EINVAL);
	cr_expect_eq(virtio_dev_init(&d, "x", 1, &mock_ops, NULL, VIRTIO_MAX_QUEUES + 1, 256, 0,
				     &drv.gm, mock_irq), -EINVAL);
	cr_expect_eq(virtio_dev_init(&d, "x", 1, &mock_ops, NULL, 1, 100, 0, &drv.gm, mock_irq),
		     -EINVAL);
	cr_expect_eq(virtio_dev_init(&d, "x", 1, &mock_ops, NULL, 1, 2048, 0, &drv.gm, mock_irq),
		     -EINVAL);
	cr_expect_eq(virtio_dev_init(&d, "x", 1, &mock_ops, NULL, 1, 256, 0, NULL, mock_irq),
		     -EINVAL);
	cr_expect_eq(virtio_dev_init(&d, "x", 1, NULL, NULL, 1, 256, 0, &drv.gm, mock_irq), -EINVAL);
}

Test(device, host_features_add_version_1_event_idx_and_indirect)
{
	uint64_t f;

	virtio_dev_select_features(&m.dev, 0, false);
	f = virtio_dev_features(&m.dev);
	virtio_dev_select_features(&m.dev, 1, false);
	f |= (uint64_t)virtio_dev_features(&m.dev) << 32;
	cr_expect_eq(f, DEV_FEATURE | F_VERSION_1 | F_EVENT_IDX | F_INDIRECT);
	virtio_dev_select_features(&m.dev, 2, false);
	cr_expect_eq(virtio_dev_features(&m.dev), 0);
}

Test(device, good_sequence_activates_and_processes_a_chain)
{
	uint32_t id, len;
	uint16_t head;

	start(VQD_GEOM_OK, F_VERSION_1 | DEV_FEATURE);
	cr_assert_eq(virtio_dev_status(&m.dev), S_ACK | S_DRIVER | S_FEAT_OK | S_DRIVER_OK);
	cr_expect_eq(m.activated, 1);
	cr_expect_eq(m.features, F_VERSION_1 | DEV_FEATURE);
	head = post_good();
	virtio_dev_notify(&m.dev, 0);
	cr_assert_eq(vqd_get_used(&drv, &id, &len), 1);
	cr_expect_eq(id, head);
	cr_expect_eq(len, 16);
	cr_expect_eq(m.queue_irqs, 1);
}

Test(device, features_ok_without_version_1_is_refused)
{
	negotiate(DEV_FEATURE);
	cr_expect_eq(virtio_dev_status(&m.dev) & S_FEAT_OK, 0);
	cr_expect_geq(m.dev.stats.bad_status_writes, 1);
	/* And DRIVER_OK cannot follow. */
	virtio_dev_set_status(&m.dev, S_ACK | S_DRIVER | S_FEAT_OK | S_DRIVER_OK);
	cr_expect_eq(virtio_dev_status(&m.dev) & (S_FEAT_OK | S_DRIVER_OK), 0);
	cr_expect_eq(m.activated, 0);
}

Test(device, features_ok_with_unoffered_bits_is_refused)
{
	negotiate(F_VERSION_1 | (1ull << 6));
	cr_expect_eq(virtio_dev_status(&m.dev) & S_FEAT_OK, 0);
	negotiate(F_VERSION_1 | (1ull << 50));
	cr_expect_eq(virtio_dev_status(&m.dev) & S_FEAT_OK, 0);
}

Test(device, feature_write_after_features_ok_is_ignored)
{
	negotiate(F_VERSION_1);
	cr_assert(virtio_dev_status(&m.dev) & S_FEAT_OK);
	write_features(F_VERSION_1 | DEV_FEATURE | F_EVENT_IDX);
	cr_expect_eq(m.dev.guest_features, F_VERSION_1);
	cr_expect_eq(m.dev.stats.bad_status_writes, 2);
}

Test(device, feature_write_before_driver_is_ignored)
{
	virtio_dev_set_status(&m.dev, S_ACK);
	write_features(F_VERSION_1);
	cr_expect_eq(m.dev.guest_features, 0);
}

Test(device, clearing_status_bits_is_ignored)
{
	negotiate(F_VERSION_1);
	virtio_dev_set_status(&m.dev, S_ACK);
	cr_expect_eq(virtio_dev_status(&m.dev), S_ACK | S_DRIVER | S_FEAT_OK);
	cr_expect_eq(m.dev.stats.bad_status_writes, 1);
	/* Rewriting the same value is not an error. */
	virtio_dev_set_status(&m.dev, S_ACK | S_DRIVER | S_FEAT_OK);
	cr_expect_eq(m.dev.stats.bad_status_writes, 1);
}

Test(device, skipped_status_steps_are_ignored)
{
	virtio_dev_set_status(&m.dev, S_DRIVER);
	cr_expect_eq(virtio_dev_status(&m.dev), 0);
	virtio_dev_set_status(&m.dev, S_ACK);
	virtio_dev_set_status(&m.dev, S_ACK | S_FEAT_OK);
	cr_expect_eq(virtio_dev_status(&m.dev), S_ACK);
	virtio_dev_set_status(&m.dev, S_ACK | S_DRIVER | S_DRIVER_OK);
	cr_expect_eq(virtio_dev_status(&m.dev), S_ACK);
	cr_expect_eq(m.activated, 0);
	cr_expect_eq(m.dev.stats.bad_status_writes, 3);
}

Test(device, driver_cannot_set_needs_reset)
{
	virtio_dev_set_status(&m.dev, S_ACK | S_NEEDS_RESET);
	cr_expect_eq(virtio_dev_status(&m.dev), S_ACK);
}

Test(device, queue_write_before_features_ok_is_ignored)
{
	virtio_dev_set_status(&m.dev, S_ACK | S_DRIVER);
	virtio_dev_select_queue(&m.dev, 0);
	virtio_dev_queue_set(&m.dev, VQF_SIZE, 16);
	virtio_dev_queue_set(&m.dev, VQF_DESC_LO, 0x1234000);
	cr_expect_eq(virtio_dev_queue_get(&m.dev, VQF_SIZE), QSIZE);
	cr_expect_eq(virtio_dev_queue_get(&m.dev, VQF_DESC_LO), 0);
	cr_expect_eq(m.dev.stats.late_queue_writes, 2);
}

Test(device, queue_select_out_of_range_reads_zero_and_ignores_writes)
{
	negotiate(F_VERSION_1);
	virtio_dev_select_queue(&m.dev, NVQ);
	cr_expect_eq(virtio_dev_queue_max(&m.dev), 0);
	virtio_dev_queue_set(&m.dev, VQF_SIZE, 16);
	virtio_dev_queue_set(&m.dev, VQF_READY, 1);
	cr_expect_eq(virtio_dev_queue_get(&m.dev, VQF_SIZE), 0);
	cr_expect_eq(virtio_dev_queue_get(&m.dev, VQF_READY), 0);
	virtio_dev_select_queue(&m.dev, 0xffff);
	cr_expect_eq(virtio_dev_queue_max(&m.dev), 0);
	virtio_dev_select_queue(&m.dev, 1);
	cr_expect_eq(virtio_dev_queue_max(&m.dev), QSIZE);
}

/*
 * CVE-2026-5747 class: after DRIVER_OK the driver shrinks/grows QueueNum and moves the rings.
 * The device must keep using the geometry it validated.
 */
Test(device, queue_resize_and_move_after_driver_ok_has_no_effect)
{
	struct virtq *vq = &m.dev.vqs[0];
	struct vring_desc *desc;
	uint32_t id, len;
	unsigned int i;

	/* The driver's ring has 128 entries; the device would allow 256. */
	vqd_exit(&drv);
	cr_assert_eq(vqd_init(&drv, 128), 0);
	start(VQD_GEOM_OK, F_VERSION_1);
	cr_assert(vq->active);
	desc = vq->desc;

	virtio_dev_select_queue(&m.dev, 0);
	virtio_dev_queue_set(&m.dev, VQF_SIZE, 256);		/* grow */
	virtio_dev_queue_set(&m.dev, VQF_SIZE, 2);		/* shrink */
	virtio_dev_queue_set(&m.dev, VQF_DESC_LO, (uint32_t)(VQD_RAM_END - 0x1000));
	virtio_dev_queue_set(&m.dev, VQF_USED_LO, (uint32_t)VQD_HOLE_GPA);
	virtio_dev_queue_set(&m.dev, VQF_READY, 0);
	cr_expect_eq(m.dev.stats.late_queue_writes, 5);
	cr_expect_eq(vq->size, 128);
	cr_expect(vq->desc == desc && vq->ready && vq->active);
	cr_expect_eq(virtio_dev_queue_get(&m.dev, VQF_DESC_LO), (uint32_t)drv.desc);

	/* 300 chains wrap the 128-entry rings: every one comes back where the driver looks. */
	for (i = 0; i < 300; i++) {
		uint16_t head = post_good();

		virtio_dev_notify(&m.dev, 0);
		cr_assert_eq(vqd_get_used(&drv, &id, &len), 1, "chain %u", i);
		cr_assert_eq(id, head);
		cr_assert_eq(len, 16);
	}
	cr_expect_not(virtio_dev_is_broken(&m.dev));
}

Test(device, event_idx_is_passed_to_the_queue_when_negotiated)
{
	start(VQD_GEOM_OK, F_VERSION_1 | F_EVENT_IDX);
	cr_expect(m.dev.vqs[0].event_idx);
	cr_expect_not(m.dev.vqs[1].active, "queue 1 was not ready");
}

Test(device, signal_used_honours_no_interrupt)
{
	start(VQD_GEOM_OK, F_VERSION_1);
	vqd_set_avail_flags(&drv, VRING_AVAIL_F_NO_INTERRUPT);
	post_good();
	virtio_dev_notify(&m.dev, 0);
	cr_expect_eq(vqd_used_idx(&drv), 1);
	cr_expect_eq(m.queue_irqs, 0);
}

Test(device, notify_before_driver_ok_is_ignored)
{
	negotiate(F_VERSION_1);
	program_queue(0, vqd_geometry(&drv, VQD_GEOM_OK));
	post_good();
	virtio_dev_notify(&m.dev, 0);
	cr_expect_eq(m.notifies, 0);
	cr_expect_eq(m.dev.stats.ignored_notifies, 1);
}

Test(device, notify_for_bad_or_inactive_queue_is_ignored)
{
	start(VQD_GEOM_OK, F_VERSION_1);
	virtio_dev_notify(&m.dev, 1);		/* not ready */
	virtio_dev_notify(&m.dev, NVQ);
	virtio_dev_notify(&m.dev, 0xffffffff);
	cr_expect_eq(m.notifies, 0);
	cr_expect_eq(m.dev.stats.ignored_notifies, 3);
}

Test(device, activate_failure_marks_device_broken)
{
	m.activate_ret = -EIO;
	start(VQD_GEOM_OK, F_VERSION_1);
	cr_expect_eq(virtio_dev_status(&m.dev) & (S_DRIVER_OK | S_NEEDS_RESET), S_NEEDS_RESET);
	cr_expect_eq(m.config_irqs, 1);
	cr_expect_eq(m.dev.stats.broken, 1);
}

/* Bad geometry at DRIVER_OK: broken instead of active, and the device model never starts. */
static void expect_geometry_breaks_device(enum vqd_geom g)
{
	start(g, F_VERSION_1);
	cr_expect(virtio_dev_is_broken(&m.dev), "geometry %d accepted", g);
	cr_expect_eq(virtio_dev_status(&m.dev), S_ACK | S_DRIVER | S_FEAT_OK | S_NEEDS_RESET);
	cr_expect_eq(m.activated, 0);
	cr_expect_eq(m.config_irqs, 1);
	cr_expect_eq(m.dev.stats.broken, 1);
	cr_expect_not(m.dev.vqs[0].active);
}

#define GEOM(name, g) Test(device, name) { expect_geometry_breaks_device(g); }
GEOM(size_zero_breaks_device, VQD_GEOM_SIZE_ZERO)
GEOM(size_not_power_of_two_breaks_device, VQD_GEOM_SIZE_NOT_POW2)
GEOM(size_above_queue_max_breaks_device, VQD_GEOM_SIZE_ABOVE_MAX)
GEOM(size_above_virtq_max_breaks_device, VQD_GEOM_SIZE_ABOVE_LIMIT)
GEOM(size_wider_than_16_bits_breaks_device, VQD_GEOM_SIZE_WIDER_THAN_16BIT)
GEOM(misaligned_desc_breaks_device, VQD_GEOM_DESC_MISALIGNED)
GEOM(misaligned_avail_breaks_device, VQD_GEOM_AVAIL_MISALIGNED)
GEOM(misaligned_used_breaks_device, VQD_GEOM_USED_MISALIGNED)
GEOM(used_ring_partly_outside_ram_breaks_device, VQD_GEOM_USED_PAST_END_OF_RAM)
GEOM(desc_ring_in_hole_breaks_device, VQD_GEOM_DESC_IN_HOLE)
GEOM(avail_ring_spanning_two_regions_breaks_device, VQD_GEOM_AVAIL_SPANS_REGIONS)
GEOM(desc_ring_address_wrap_breaks_device, VQD_GEOM_DESC_ADDR_WRAPS)

/*
 * A malformed chain through the device core: NEEDS_RESET, one config interrupt, the counter,
 * nothing in the used ring, and nothing more processed until the driver resets the device;
 * after a reset the same driver can start over.
 */
static void expect_chain_breaks_device(enum vqd_hostile h)
{
	uint32_t id, len;
	uint16_t head;

	start(VQD_GEOM_OK, F_VERSION_1 | F_INDIRECT);
	vqd_post_hostile(&drv, h);
	virtio_dev_notify(&m.dev, 0);
	cr_expect(virtio_dev_is_broken(&m.dev), "hostile case %d accepted", h);
	cr_expect(virtio_dev_status(&m.dev) & S_NEEDS_RESET);
	cr_expect_eq(m.config_irqs, 1);
	cr_expect_eq(m.queue_irqs, 0);
	cr_expect_eq(m.dev.stats.broken, 1);
	cr_expect_eq(vqd_used_idx(&drv), 0);

	/* Broken: a good chain is not processed, DRIVER_OK again changes nothing. */
	post_good();
	virtio_dev_notify(&m.dev, 0);
	cr_expect_eq(m.notifies, 1);
	cr_expect_eq(vqd_used_idx(&drv), 0);
	virtio_dev_set_status(&m.dev, S_ACK | S_DRIVER | S_FEAT_OK | S_DRIVER_OK | S_NEEDS_RESET);
	cr_expect_eq(m.activated, 1);
	virtio_dev_broken(&m.dev, "again");
	cr_expect_eq(m.dev.stats.broken, 1, "already broken: not counted twice");
	cr_expect_eq(m.config_irqs, 1);

	/* Reset, fresh rings, start again: works. */
	virtio_dev_set_status(&m.dev, 0);
	cr_expect_eq(m.resets, 1);
	cr_expect_eq(virtio_dev_status(&m.dev), 0);
	cr_expect_not(virtio_dev_is_broken(&m.dev));
	cr_expect_not(m.dev.vqs[0].active);
	vqd_exit(&drv);
	cr_assert_eq(vqd_init(&drv, QSIZE), 0);
	start(VQD_GEOM_OK, F_VERSION_1);
	cr_assert_eq(m.activated, 2);
	head = post_good();
	virtio_dev_notify(&m.dev, 0);
	cr_assert_eq(vqd_get_used(&drv, &id, &len), 1);
	cr_expect_eq(id, head);
	cr_expect_eq(m.queue_irqs, 1);
}

#define HOSTILE(name, h) Test(device, name) { expect_chain_breaks_device(h); }
HOSTILE(descriptor_loop_breaks_device, VQD_DESC_LOOP)
HOSTILE(next_index_out_of_range_breaks_device, VQD_NEXT_OUT_OF_RANGE)
HOSTILE(head_index_out_of_range_breaks_device, VQD_HEAD_OUT_OF_RANGE)
HOSTILE(avail_idx_jump_breaks_device, VQD_AVAIL_IDX_JUMP)
HOSTILE(indirect_len_zero_breaks_device, VQD_INDIRECT_LEN_ZERO)
HOSTILE(indirect_len_not_multiple_of_16_breaks_device, VQD_INDIRECT_LEN_NOT_MULTIPLE_OF_16)
HOSTILE(nested_indirect_breaks_device, VQD_INDIRECT_NESTED)
HOSTILE(indirect_with_next_breaks_device, VQD_INDIRECT_WITH_NEXT)
HOSTILE(indirect_table_in_hole_breaks_device, VQD_INDIRECT_TABLE_IN_HOLE)
HOSTILE(indirect_table_too_large_breaks_device, VQD_INDIRECT_TOO_MANY_ENTRIES)
HOSTILE(indirect_loop_breaks_device, VQD_INDIRECT_LOOP)
HOSTILE(indirect_next_out_of_range_breaks_device, VQD_INDIRECT_NEXT_OUT_OF_RANGE)
HOSTILE(writable_before_readable_breaks_device, VQD_WRITABLE_BEFORE_READABLE)
HOSTILE(buffer_past_end_of_ram_breaks_device, VQD_BUF_PAST_END_OF_RAM)
HOSTILE(buffer_spanning_two_regions_breaks_device, VQD_BUF_SPANS_TWO_REGIONS)
HOSTILE(buffer_in_hole_breaks_device, VQD_BUF_IN_HOLE)
HOSTILE(buffer_len_0xffffffff_breaks_device, VQD_BUF_LEN_MAX)
HOSTILE(buffer_address_wrap_breaks_device, VQD_BUF_ADDR_WRAPS)
HOSTILE(total_length_overflow_breaks_device, VQD_TOTAL_LEN_OVERFLOW)

Test(device, config_access_out_of_bounds_is_refused)
{
	uint8_t buf[8];
	uint32_t v = 0xffffffff;

	memset(m.cfg, 0x5a, sizeof(m.cfg));
	memset(buf, 0xee, sizeof(buf));
	virtio_dev_config_rw(&m.dev, CFG_SIZE - 4, buf, 8, false);	/* straddles the end */
	cr_expect_eq(buf[0], 0);
	cr_expect_eq(buf[7], 0);
	virtio_dev_config_rw(&m.dev, 0xfffffffc, &v, 4, false);	/* off + len wraps */
	cr_expect_eq(v, 0);
	virtio_dev_config_rw(&m.dev, CFG_SIZE, &v, 1, true);
	virtio_dev_config_rw(&m.dev, 0, buf, 0, true);
	cr_expect_eq(m.cfg_calls, 0);
	virtio_dev_config_rw(&m.dev, CFG_SIZE - 4, &v, 4, false);	/* the last 4 bytes */
	cr_expect_eq(v, 0x5a5a5a5a);
	cr_expect_eq(m.cfg_calls, 1);
}

Test(device, config_change_bumps_generation_and_interrupts_after_driver_ok)
{
	uint32_t g = virtio_dev_config_generation(&m.dev);

	virtio_dev_config_changed(&m.dev);
	cr_expect_eq(virtio_dev_config_generation(&m.dev), g + 1);
	cr_expect_eq(m.config_irqs, 0, "no config interrupt before DRIVER_OK");
	start(VQD_GEOM_OK, F_VERSION_1);
	virtio_dev_config_changed(&m.dev);
	cr_expect_eq(virtio_dev_config_generation(&m.dev), g + 2);
	cr_expect_eq(m.config_irqs, 1);
}

Test(device, reset_clears_features_and_queues)
{
	start(VQD_GEOM_OK, F_VERSION_1 | F_EVENT_IDX);
	virtio_dev_set_status(&m.dev, 0);
	cr_expect_eq(m.dev.guest_features, 0);
	cr_expect_not(m.dev.vqs[0].ready);
	cr_expect_eq(m.dev.vqs[0].size, QSIZE);
	cr_expect_eq(m.dev.vqs[0].desc_gpa, 0);
	post_good();
	virtio_dev_notify(&m.dev, 0);
	cr_expect_eq(m.notifies, 0);
}

Test(device, break_and_reset_loop_logs_at_most_once_a_second)
{
	int i;

	for (i = 0; i < 5; i++) {
		vqd_exit(&drv);
		cr_assert_eq(vqd_init(&drv, QSIZE), 0);
		start(VQD_GEOM_OK, F_VERSION_1);
		vqd_post_hostile(&drv, VQD_DESC_LOOP);
		virtio_dev_notify(&m.dev, 0);
		cr_assert(virtio_dev_is_broken(&m.dev));
		virtio_dev_set_status(&m.dev, 0);
	}
	cr_expect_eq(m.dev.stats.broken, 5);
	cr_expect_eq(m.config_irqs, 5);
	cr_expect_eq(log_lines, 1);
}
