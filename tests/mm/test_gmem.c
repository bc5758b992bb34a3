// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "mm/gmem.h"

/*
 * Two adjacent regions [0x1000, 0x3000) and [0x3000, 0x4000), a hole, then [0x10000, 0x12000).
 * Each region is backed by its own buffer so a wrong offset shows up as wrong bytes.
 */
static struct gmem gm;
static uint8_t ram_a[0x2000], ram_b[0x1000], ram_c[0x2000];

static void setup(void)
{
	gm_init(&gm);
	cr_assert_eq(gm_add_region(&gm, 0x3000, sizeof(ram_b), ram_b, -1, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x10000, sizeof(ram_c), ram_c, -1, 0), 0);
	cr_assert_eq(gm_add_region(&gm, 0x1000, sizeof(ram_a), ram_a, -1, 0), 0);
	for (size_t i = 0; i < sizeof(ram_a); i++)
		ram_a[i] = (uint8_t)i;
	memset(ram_b, 0xbb, sizeof(ram_b));
	memset(ram_c, 0xcc, sizeof(ram_c));
}

TestSuite(gmem, .init = setup);

Test(gmem, regions_are_kept_sorted_by_gpa)
{
	const struct gmem_region *r;
	gpa_t prev = 0;

	cr_expect_eq(gm.nr, 3);
	gm_for_each_region(&gm, r) {
		cr_expect_geq(r->gpa, prev);
		prev = r->gpa;
	}
	cr_expect_eq(gm.r[0].hva, ram_a);
	cr_expect_eq(gm.r[2].hva, ram_c);
	cr_expect_eq(gm_end(&gm), 0x12000);
	cr_expect_eq(gm_ram_size(&gm), 0x5000);
}

Test(gmem, read_write_round_trip)
{
	uint8_t out[16], in[16];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0xa0 + i);
	cr_assert_eq(gm_write(&gm, 0x10ff8, in, sizeof(in)), 0);
	cr_expect_arr_eq(ram_c + 0xff8, in, sizeof(in));
	cr_assert_eq(gm_read(&gm, 0x10ff8, out, sizeof(out)), 0);
	cr_expect_arr_eq(out, in, sizeof(in));
	cr_assert_eq(gm_read(&gm, 0x1010, out, 4), 0);
	cr_expect_eq(out[0], 0x10);
	cr_expect_eq(out[3], 0x13);
}

Test(gmem, whole_region_is_accessible)
{
	cr_expect_eq(gm_slice(&gm, 0x1000, sizeof(ram_a)), ram_a);
	cr_expect_eq(gm_slice(&gm, 0x3fff, 1), ram_b + 0xfff);
	cr_expect(gm_is_ram(&gm, 0x10000, 0x2000));
}

Test(gmem, range_crossing_region_end_is_refused)
{
	uint8_t buf[16];

	memset(buf, 0x55, sizeof(buf));
	cr_expect_eq(gm_read(&gm, 0x11ff8, buf, 16), -EFAULT);
	cr_expect_eq(gm_write(&gm, 0x11ff8, buf, 16), -EFAULT);
	cr_expect_eq(gm_fill(&gm, 0x11fff, 0, 2), -EFAULT);
	cr_expect_null(gm_slice(&gm, 0x11fff, 2));
	/* Nothing is partially copied. */
	cr_expect_eq(ram_c[0x1ff8], 0xcc);
	cr_expect_eq(ram_c[0x1fff], 0xcc);
}

Test(gmem, range_spanning_two_adjacent_regions_is_refused)
{
	uint8_t buf[8] = { 0 };

	/* 0x2ffc..0x3004 is contiguous guest RAM, but not one host buffer. */
	cr_expect(gm_is_ram(&gm, 0x2ffc, 4));
	cr_expect(gm_is_ram(&gm, 0x3000, 4));
	cr_expect_not(gm_is_ram(&gm, 0x2ffc, 8));
	cr_expect_eq(gm_write(&gm, 0x2ffc, buf, 8), -EFAULT);
	cr_expect_eq(ram_b[0], 0xbb);
}

Test(gmem, access_in_hole_is_refused)
{
	uint8_t b;

	cr_expect_eq(gm_read(&gm, 0x0, &b, 1), -EFAULT);
	cr_expect_eq(gm_read(&gm, 0xfff, &b, 1), -EFAULT);
	cr_expect_eq(gm_read(&gm, 0x4000, &b, 1), -EFAULT);
	cr_expect_eq(gm_read(&gm, 0x8000, &b, 1), -EFAULT);
	cr_expect_eq(gm_read(&gm, 0x12000, &b, 1), -EFAULT);
	/* A range starting in the hole and ending inside a region is not RAM either. */
	cr_expect_not(gm_is_ram(&gm, 0xff00, 0x200));
}

Test(gmem, gpa_plus_len_wrapping_at_2_64_is_refused)
{
	cr_expect_null(gm_slice(&gm, 0x10000, SIZE_MAX));
	cr_expect_null(gm_slice(&gm, 0x10001, SIZE_MAX));
	cr_expect_null(gm_slice(&gm, UINT64_MAX, 2));
	cr_expect_null(gm_slice(&gm, UINT64_MAX - 0xfff, 0x1001));
	/* gpa + len would wrap to exactly 0x1010, which is inside region a. */
	cr_expect_null(gm_slice(&gm, UINT64_MAX - 0xf, 0x1020));
	cr_expect_eq(gm_fill(&gm, 0x1001, 0, SIZE_MAX), -EFAULT);
}

Test(gmem, len_larger_than_region_is_refused)
{
	cr_expect_null(gm_slice(&gm, 0x3000, 0x1001));
	cr_expect_null(gm_slice(&gm, 0x1000, 0x5000));
	cr_expect_eq(gm_fill(&gm, 0x10000, 0, 0x2001), -EFAULT);
	cr_expect_eq(ram_c[0], 0xcc);
}

/* Decision: len == 0 is valid exactly when gpa is inside a region (not at its end). */
Test(gmem, zero_len_is_valid_only_inside_a_region)
{
	uint8_t b = 0x42;

	cr_expect_eq(gm_read(&gm, 0x1000, &b, 0), 0);
	cr_expect_eq(gm_write(&gm, 0x11fff, &b, 0), 0);
	cr_expect_eq(gm_slice(&gm, 0x10004, 0), ram_c + 4);
	cr_expect_eq(gm_read(&gm, 0x8000, &b, 0), -EFAULT);
	cr_expect_eq(gm_write(&gm, 0x12000, &b, 0), -EFAULT);	/* one past the last region */
	cr_expect_eq(gm_fill(&gm, 0x0, 0, 0), -EFAULT);
	cr_expect_not(gm_is_ram(&gm, UINT64_MAX, 0));
	/* 0x3000 is the end of region a but the start of region b: inside b. */
	cr_expect_eq(gm_slice(&gm, 0x3000, 0), ram_b);
}

Test(gmem, overlapping_region_is_refused)
{
	static uint8_t x[0x4000];

	cr_expect_eq(gm_add_region(&gm, 0x2000, 0x1000, x, -1, 0), -EINVAL);	/* inside a */
	cr_expect_eq(gm_add_region(&gm, 0x0, 0x2000, x, -1, 0), -EINVAL);	/* tail into a */
	cr_expect_eq(gm_add_region(&gm, 0x3000, 0x1000, x, -1, 0), -EINVAL);	/* same as b */
	cr_expect_eq(gm_add_region(&gm, 0xf000, 0x4000, x, -1, 0), -EINVAL);	/* covers c */
	cr_expect_eq(gm_add_region(&gm, 0x11000, 0x2000, x, -1, 0), -EINVAL);	/* head in c */
	cr_expect_eq(gm.nr, 3);
	/* Touching, not overlapping: accepted. */
	cr_expect_eq(gm_add_region(&gm, 0x4000, 0x1000, x, -1, 0), 0);
	cr_expect_eq(gm_add_region(&gm, 0x0, 0x1000, x, -1, 0), 0);
	cr_expect_eq(gm.r[0].gpa, 0);
}

Test(gmem, unaligned_region_is_refused)
{
	static uint8_t x[0x2000];

	cr_expect_eq(gm_add_region(&gm, 0x20800, 0x1000, x, -1, 0), -EINVAL);
	cr_expect_eq(gm_add_region(&gm, 0x20000, 0x800, x, -1, 0), -EINVAL);
	cr_expect_eq(gm_add_region(&gm, 0x20000, 0x1000, x, 3, 0x10), -EINVAL);
	cr_expect_eq(gm.nr, 3);
}

Test(gmem, zero_length_null_hva_and_wrapping_region_are_refused)
{
	static uint8_t x[0x1000];

	cr_expect_eq(gm_add_region(&gm, 0x20000, 0, x, -1, 0), -EINVAL);
	cr_expect_eq(gm_add_region(&gm, 0x20000, 0x1000, NULL, -1, 0), -EINVAL);
	cr_expect_eq(gm_add_region(&gm, UINT64_MAX - 0xfff, 0x1000, x, -1, 0), -EINVAL);
	cr_expect_eq(gm_add_region(&gm, 0xfffffffffffff000ull, 0x2000, x, -1, 0), -EINVAL);
	cr_expect_eq(gm_add_region(&gm, 0x20000, 0x1000, x, 3, UINT64_MAX - 0xfff), -EINVAL);
	cr_expect_eq(gm.nr, 3);
}

Test(gmem, full_table_is_refused)
{
	static uint8_t x[0x1000];
	unsigned int i;

	for (i = gm.nr; i < GMEM_MAX_REGIONS; i++)
		cr_assert_eq(gm_add_region(&gm, 0x100000 + i * 0x2000, 0x1000, x, -1, 0), 0);
	cr_expect_eq(gm.nr, GMEM_MAX_REGIONS);
	cr_expect_eq(gm_add_region(&gm, 0x800000, 0x1000, x, -1, 0), -ENOSPC);
	cr_expect_eq(gm.nr, GMEM_MAX_REGIONS);
}

Test(gmem, fd_and_offset_are_recorded)
{
	static uint8_t x[0x2000];
	const struct gmem_region *r;

	cr_assert_eq(gm_add_region(&gm, 0x40000, 0x2000, x, 7, 0x3000), 0);
	r = &gm.r[gm.nr - 1];
	cr_expect_eq(r->fd, 7);
	cr_expect_eq(r->fd_offset, 0x3000);
	cr_expect_eq(gm.r[0].fd, -1);
	cr_expect_eq(gm_end(&gm), 0x42000);
}

Test(gmem_empty, empty_table_has_no_ram)
{
	struct gmem g;
	uint8_t b;

	gm_init(&g);
	cr_expect_eq(gm_end(&g), 0);
	cr_expect_eq(gm_ram_size(&g), 0);
	cr_expect_eq(gm_read(&g, 0, &b, 1), -EFAULT);
	cr_expect_null(gm_slice(&g, 0, 0));
}
