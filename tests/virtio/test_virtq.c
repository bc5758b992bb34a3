// SPDX-License-Identifier: MIT
/* virtio/virtq.c against the mock driver: good chains, then every malformed one. */
#include <criterion/criterion.h>
#include <errno.h>

#include "tests/lib/vq_driver.h"
#include "virtio/virtq.h"

#define QSIZE 256

static struct vqd drv;
static struct virtq vq;

static void setup(void)
{
	const char *why = NULL;

	cr_assert_eq(vqd_init(&drv, QSIZE), 0);
	vqd_configure(&drv, &vq, VQD_GEOM_OK);
	cr_assert_eq(virtq_activate(&vq, &drv.gm, QSIZE, false, &why), 0, "%s", why);
}

static void teardown(void)
{
	vqd_exit(&drv);
}

TestSuite(virtq, .init = setup, .fini = teardown);

/* Pops and walks everything; returns the first error, or the number of buffers seen. */
static int drain(unsigned int *nbufs)
{
	struct vq_chain c;
	struct vq_buf b;
	int r;

	*nbufs = 0;
	while ((r = virtq_pop(&vq, &c)) == 1) {
		while ((r = vq_chain_next(&c, &b)) == 1)
			(*nbufs)++;
		if (r < 0)
			return r;
		virtq_push_used(&vq, c.head, 0);
	}
	return r;
}

Test(virtq, good_chain_yields_buffers_in_order)
{
	gpa_t a = vqd_alloc(&drv, 10), b2 = vqd_alloc(&drv, 20), w = vqd_alloc(&drv, 30);
	uint16_t head = vqd_post(&drv, (struct vqd_seg[]){ { a, 10, false }, { b2, 20, false },
							   { w, 30, true } }, 3);
	struct vq_chain c;
	struct vq_buf b;
	uint32_t id, len;

	cr_assert_eq(virtq_pending(&vq), 1);
	cr_assert_eq(virtq_pop(&vq, &c), 1);
	cr_expect_eq(c.head, head);
	cr_assert_eq(vq_chain_next(&c, &b), 1);
	cr_expect(b.hva == vqd_ptr(&drv, a, 10) && b.len == 10 && !b.write && b.gpa == a);
	cr_assert_eq(vq_chain_next(&c, &b), 1);
	cr_expect(b.hva == vqd_ptr(&drv, b2, 20) && b.len == 20 && !b.write);
	cr_assert_eq(vq_chain_next(&c, &b), 1);
	cr_expect(b.hva == vqd_ptr(&drv, w, 30) && b.len == 30 && b.write);
	cr_expect_eq(vq_chain_next(&c, &b), 0);
	cr_expect_eq(vq_chain_next(&c, &b), 0);
	cr_expect_eq(c.total, 60);

	virtq_push_used(&vq, c.head, 30);
	cr_expect_eq(vqd_get_used(&drv, &id, &len), 0, "visible before publish");
	virtq_publish(&vq);
	cr_assert_eq(vqd_get_used(&drv, &id, &len), 1);
	cr_expect_eq(id, head);
	cr_expect_eq(len, 30);
	cr_expect_eq(virtq_pop(&vq, &c), 0);
}

Test(virtq, good_indirect_chain_yields_buffers)
{
	gpa_t r = vqd_alloc(&drv, 8), w = VQD_R1_GPA + 0x100;
	struct vq_chain c;
	struct vq_buf b;

	vqd_post_indirect(&drv, (struct vqd_seg[]){ { r, 8, false }, { w, 64, true } }, 2);
	cr_assert_eq(virtq_pop(&vq, &c), 1);
	cr_assert_eq(vq_chain_next(&c, &b), 1);
	cr_expect(b.hva == vqd_ptr(&drv, r, 8) && !b.write);
	cr_assert_eq(vq_chain_next(&c, &b), 1);
	cr_expect(b.hva == vqd_ptr(&drv, w, 64) && b.write && b.len == 64);
	cr_expect_eq(vq_chain_next(&c, &b), 0);
}

Test(virtq, indirect_table_not_16_byte_aligned_is_accepted)
{
	gpa_t r = vqd_alloc(&drv, 8), t = vqd_alloc(&drv, 3 * 16) + 8;
	uint16_t h = vqd_alloc_desc(&drv);
	struct vq_chain c;
	struct vq_buf b;

	/* §2.7.5.3 puts no alignment on indirect tables. */
	vqd_set_desc(&drv, t, 0, r, 8, VRING_DESC_F_NEXT, 1);
	vqd_set_desc(&drv, t, 1, r, 4, VRING_DESC_F_WRITE, 0);
	vqd_set_desc(&drv, drv.desc, h, t, 32, VRING_DESC_F_INDIRECT, 0);
	vqd_avail_push(&drv, h);
	cr_assert_eq(virtq_pop(&vq, &c), 1);
	cr_assert_eq(vq_chain_next(&c, &b), 1);
	cr_expect(b.len == 8 && !b.write);
	cr_assert_eq(vq_chain_next(&c, &b), 1);
	cr_expect(b.len == 4 && b.write);
	cr_expect_eq(vq_chain_next(&c, &b), 0);
}

Test(virtq, zero_length_buffers_are_skipped)
{
	gpa_t a = vqd_alloc(&drv, 8);
	struct vq_chain c;
	struct vq_buf b;

	vqd_post(&drv, (struct vqd_seg[]){ { a, 0, false }, { a, 8, false }, { VQD_HOLE_GPA, 0, true } },
		 3);
	cr_assert_eq(virtq_pop(&vq, &c), 1);
	cr_assert_eq(vq_chain_next(&c, &b), 1);
	cr_expect_eq(b.len, 8);
	cr_expect_eq(vq_chain_next(&c, &b), 0);
}

Test(virtq, chain_as_long_as_the_queue_is_accepted)
{
	struct vqd_seg s[QSIZE];
	unsigned int i, n;

	for (i = 0; i < QSIZE; i++)
		s[i] = (struct vqd_seg){ vqd_alloc(&drv, 4), 4, i >= QSIZE / 2 };
	vqd_post(&drv, s, QSIZE);
	cr_expect_eq(drain(&n), 0);
	cr_expect_eq(n, QSIZE);
}

Test(virtq, indirect_table_of_max_entries_is_accepted)
{
	static struct vqd_seg s[VIRTQ_MAX_INDIRECT];
	gpa_t a = vqd_alloc(&drv, 4);
	unsigned int i, n;

	for (i = 0; i < VIRTQ_MAX_INDIRECT; i++)
		s[i] = (struct vqd_seg){ a, 4, false };
	vqd_post_indirect(&drv, s, VIRTQ_MAX_INDIRECT);
	cr_expect_eq(drain(&n), 0);
	cr_expect_eq(n, VIRTQ_MAX_INDIRECT);
}

Test(virtq, indices_wrap_past_65535)
{
	gpa_t a = vqd_alloc(&drv, 4);
	struct vq_chain c;
	struct vq_buf b;
	uint32_t id, len;
	unsigned int i;

	for (i = 0; i < 70000; i++) {
		uint16_t head = vqd_post(&drv, (struct vqd_seg[]){ { a, 4, true } }, 1);

		cr_assert_eq(virtq_pop(&vq, &c), 1, "iteration %u", i);
		cr_assert_eq(vq_chain_next(&c, &b), 1);
		virtq_push_used(&vq, c.head, 4);
		virtq_publish(&vq);
		cr_assert_eq(vqd_get_used(&drv, &id, &len), 1);
		cr_assert_eq(id, head);
	}
}

Test(virtq, unpop_returns_the_same_chain)
{
	gpa_t a = vqd_alloc(&drv, 4);
	uint16_t head = vqd_post(&drv, (struct vqd_seg[]){ { a, 4, true } }, 1);
	struct vq_chain c;

	cr_assert_eq(virtq_pop(&vq, &c), 1);
	virtq_unpop(&vq, 1);
	cr_assert_eq(virtq_pop(&vq, &c), 1);
	cr_expect_eq(c.head, head);
	cr_expect_eq(virtq_pop(&vq, &c), 0);
}

Test(virtq, inactive_queue_pops_nothing)
{
	struct vq_chain c;

	vqd_post(&drv, (struct vqd_seg[]){ { vqd_alloc(&drv, 4), 4, true } }, 1);
	virtq_reset(&vq);
	cr_expect_eq(virtq_pop(&vq, &c), 0);
	cr_expect_eq(virtq_pending(&vq), 0);
	cr_expect_not(virtq_should_notify(&vq));
}

/* Each malformed chain: -EINVAL from pop or chain_next, and nothing is returned as used. */
static void expect_refused(enum vqd_hostile h)
{
	unsigned int n;

	vqd_post_hostile(&drv, h);
	cr_expect_eq(drain(&n), -EINVAL, "hostile case %d was accepted", h);
	cr_expect_eq(vqd_used_idx(&drv), 0);
}

#define HOSTILE(name, h) Test(virtq, name) { expect_refused(h); }
HOSTILE(descriptor_loop_is_refused, VQD_DESC_LOOP)
HOSTILE(next_index_out_of_range_is_refused, VQD_NEXT_OUT_OF_RANGE)
HOSTILE(head_index_out_of_range_is_refused, VQD_HEAD_OUT_OF_RANGE)
HOSTILE(avail_idx_jump_beyond_size_is_refused, VQD_AVAIL_IDX_JUMP)
HOSTILE(indirect_len_zero_is_refused, VQD_INDIRECT_LEN_ZERO)
HOSTILE(indirect_len_not_multiple_of_16_is_refused, VQD_INDIRECT_LEN_NOT_MULTIPLE_OF_16)
HOSTILE(nested_indirect_is_refused, VQD_INDIRECT_NESTED)
HOSTILE(indirect_with_next_is_refused, VQD_INDIRECT_WITH_NEXT)
HOSTILE(indirect_table_in_hole_is_refused, VQD_INDIRECT_TABLE_IN_HOLE)
HOSTILE(indirect_table_too_large_is_refused, VQD_INDIRECT_TOO_MANY_ENTRIES)
HOSTILE(indirect_loop_is_refused, VQD_INDIRECT_LOOP)
HOSTILE(indirect_next_out_of_range_is_refused, VQD_INDIRECT_NEXT_OUT_OF_RANGE)
HOSTILE(writable_before_readable_is_refused, VQD_WRITABLE_BEFORE_READABLE)
HOSTILE(buffer_past_end_of_ram_is_refused, VQD_BUF_PAST_END_OF_RAM)
HOSTILE(buffer_spanning_two_regions_is_refused, VQD_BUF_SPANS_TWO_REGIONS)
HOSTILE(buffer_in_hole_is_refused, VQD_BUF_IN_HOLE)
HOSTILE(buffer_len_0xffffffff_is_refused, VQD_BUF_LEN_MAX)
HOSTILE(buffer_address_wrap_is_refused, VQD_BUF_ADDR_WRAPS)

Test(virtq, total_length_overflow_is_refused)
{
	struct vq_chain c;
	struct vq_buf b;
	unsigned int n = 0;
	int r;

	vqd_post_hostile(&drv, VQD_TOTAL_LEN_OVERFLOW);
	cr_assert_eq(virtq_pop(&vq, &c), 1);
	while ((r = vq_chain_next(&c, &b)) == 1)
		n++;
	cr_expect_eq(r, -EINVAL);
	/* Every buffer was valid: it is the 1024th that would pass 2^32 - 1. */
	cr_expect_eq(n, VIRTQ_MAX_INDIRECT - 1);
	cr_expect_leq(c.total, UINT32_MAX);
}

Test(virtq, every_hostile_case_is_refused)
{
	int h;

	for (h = 0; h < VQD_HOSTILE_NR; h++) {
		teardown();
		setup();
		expect_refused(h);
	}
}

/* Geometry: refused at activation, with a reason, and the queue stays inactive. */
static void expect_geometry_refused(enum vqd_geom g)
{
	const char *why = NULL;

	vqd_configure(&drv, &vq, g);
	cr_expect_eq(virtq_activate(&vq, &drv.gm, QSIZE, false, &why), -EINVAL,
		     "geometry %d was accepted", g);
	cr_expect_not_null(why);
	cr_expect_not(vq.active);
}

#define GEOM(name, g) Test(virtq, name) { expect_geometry_refused(g); }
GEOM(size_zero_is_refused, VQD_GEOM_SIZE_ZERO)
GEOM(size_not_power_of_two_is_refused, VQD_GEOM_SIZE_NOT_POW2)
GEOM(size_above_device_max_is_refused, VQD_GEOM_SIZE_ABOVE_MAX)
GEOM(size_above_virtq_max_is_refused, VQD_GEOM_SIZE_ABOVE_LIMIT)
GEOM(misaligned_desc_is_refused, VQD_GEOM_DESC_MISALIGNED)
GEOM(misaligned_avail_is_refused, VQD_GEOM_AVAIL_MISALIGNED)
GEOM(misaligned_used_is_refused, VQD_GEOM_USED_MISALIGNED)
GEOM(used_ring_partly_outside_ram_is_refused, VQD_GEOM_USED_PAST_END_OF_RAM)
GEOM(desc_ring_in_hole_is_refused, VQD_GEOM_DESC_IN_HOLE)
GEOM(avail_ring_spanning_two_regions_is_refused, VQD_GEOM_AVAIL_SPANS_REGIONS)
GEOM(desc_ring_address_wrap_is_refused, VQD_GEOM_DESC_ADDR_WRAPS)

Test(virtq, rings_ending_exactly_at_end_of_ram_are_accepted)
{
	const char *why = NULL;

	vqd_configure(&drv, &vq, VQD_GEOM_OK);
	vq.used_gpa = VQD_RAM_END - (6 + 8 * QSIZE);
	vq.used_gpa &= ~3ull;
	cr_expect_eq(virtq_activate(&vq, &drv.gm, QSIZE, false, &why), 0, "%s", why);
}

/* Notification suppression. */
static void push_one(void)
{
	struct vq_chain c;

	vqd_post(&drv, (struct vqd_seg[]){ { vqd_alloc(&drv, 4), 4, true } }, 1);
	cr_assert_eq(virtq_pop(&vq, &c), 1);
	virtq_push_used(&vq, c.head, 0);
	virtq_publish(&vq);
}

Test(virtq, no_interrupt_flag_suppresses_notify_without_event_idx)
{
	push_one();
	cr_expect(virtq_should_notify(&vq));
	vqd_set_avail_flags(&drv, VRING_AVAIL_F_NO_INTERRUPT);
	push_one();
	cr_expect_not(virtq_should_notify(&vq));
	vqd_set_avail_flags(&drv, 0);
	push_one();
	cr_expect(virtq_should_notify(&vq));
}

Test(virtq, event_idx_notifies_only_when_used_event_is_crossed)
{
	const char *why;

	vqd_configure(&drv, &vq, VQD_GEOM_OK);
	cr_assert_eq(virtq_activate(&vq, &drv.gm, QSIZE, true, &why), 0);
	/* With event idx the flag is ignored (§2.7.7.2): it must not suppress. */
	vqd_set_avail_flags(&drv, VRING_AVAIL_F_NO_INTERRUPT);
	vqd_set_used_event(&drv, 0);
	push_one();					/* used idx 1 */
	cr_expect(virtq_should_notify(&vq), "first entry crosses used_event 0");
	vqd_set_used_event(&drv, 3);			/* "after entry 3" */
	push_one();					/* 2 */
	cr_expect_not(virtq_should_notify(&vq));
	push_one();					/* 3 */
	cr_expect_not(virtq_should_notify(&vq));
	push_one();					/* 4: entry 3 is used */
	cr_expect(virtq_should_notify(&vq));
	cr_expect_not(virtq_should_notify(&vq), "nothing new since");
	/* A batch that jumps over used_event notifies once. */
	vqd_set_used_event(&drv, 5);
	push_one();
	push_one();
	push_one();					/* 7 */
	cr_expect(virtq_should_notify(&vq));
}

Test(virtq, event_idx_used_event_behind_does_not_notify)
{
	const char *why;
	int i;

	vqd_configure(&drv, &vq, VQD_GEOM_OK);
	cr_assert_eq(virtq_activate(&vq, &drv.gm, QSIZE, true, &why), 0);
	push_one();
	cr_expect(virtq_should_notify(&vq));
	/* The driver does not want to hear before 1000: 2..10 stay quiet. */
	vqd_set_used_event(&drv, 1000);
	for (i = 0; i < 9; i++) {
		push_one();
		cr_expect_not(virtq_should_notify(&vq));
	}
}

Test(virtq, enable_notify_sets_used_flags_without_event_idx)
{
	virtq_enable_notify(&vq, false);
	cr_expect_eq(vqd_used_flags(&drv), VRING_USED_F_NO_NOTIFY);
	virtq_enable_notify(&vq, true);
	cr_expect_eq(vqd_used_flags(&drv), 0);
}

Test(virtq, enable_notify_sets_avail_event_with_event_idx)
{
	const char *why;
	struct vq_chain c;

	vqd_configure(&drv, &vq, VQD_GEOM_OK);
	cr_assert_eq(virtq_activate(&vq, &drv.gm, QSIZE, true, &why), 0);
	vqd_post(&drv, (struct vqd_seg[]){ { vqd_alloc(&drv, 4), 4, true } }, 1);
	vqd_post(&drv, (struct vqd_seg[]){ { vqd_alloc(&drv, 4), 4, true } }, 1);
	cr_assert_eq(virtq_pop(&vq, &c), 1);
	cr_assert_eq(virtq_pop(&vq, &c), 1);
	virtq_enable_notify(&vq, true);
	cr_expect_eq(vqd_avail_event(&drv), 2);
	cr_expect_eq(vqd_used_flags(&drv), 0);
}

Test(virtq, frozen_geometry_ignores_later_register_values)
{
	struct vq_chain c;
	uint16_t head;

	/* What a transport might store after DRIVER_OK must not move the live ring. */
	vq.desc_gpa = VQD_R1_GPA;
	vq.avail_gpa = VQD_R1_GPA + 0x8000;
	head = vqd_post(&drv, (struct vqd_seg[]){ { vqd_alloc(&drv, 4), 4, true } }, 1);
	cr_assert_eq(virtq_pop(&vq, &c), 1);
	cr_expect_eq(c.head, head);
}
