// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "base/iov.h"

Test(iov, copies_across_segments_from_an_offset)
{
	char a[3] = "abc", b[4] = "defg", out[8] = { 0 };
	struct iovec v[2] = { { a, 3 }, { b, 4 } };

	cr_expect_eq(iov_to_buf(v, 2, 2, out, 4), 4);
	cr_expect_str_eq(out, "cdef");
	cr_expect_eq(iov_from_buf(v, 2, 1, "XYZ", 3), 3);
	cr_expect_eq(memcmp(a, "aXY", 3), 0);
	cr_expect_eq(b[0], 'Z');
}

Test(iov, copy_past_the_end_is_cut_short)
{
	char a[2] = "ab", out[8] = { 0 };
	struct iovec v[1] = { { a, 2 } };

	cr_expect_eq(iov_to_buf(v, 1, 1, out, 8), 1);
	cr_expect_eq(iov_to_buf(v, 1, 5, out, 8), 0);
	cr_expect_eq(iov_from_buf(v, 1, 0, "123456", 6), 2);
}

Test(iov, size_saturates_instead_of_wrapping)
{
	struct iovec v[2] = { { NULL, SIZE_MAX - 1 }, { NULL, 5 } };

	cr_expect_eq(iov_size(v, 1), SIZE_MAX - 1);
	cr_expect_eq(iov_size(v, 2), SIZE_MAX);
}
