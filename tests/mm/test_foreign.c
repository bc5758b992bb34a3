// SPDX-License-Identifier: MIT
/* mm/foreign.c: a peer's memory table mapped from fds; every bad region is refused before
 * any mmap, and every fd is closed whatever happens. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/fds.h"
#include "mm/foreign.h"

#define MB	(1ull << 20)
#define UA	0x7f0000000000ull

static int memfd(uint64_t size)
{
	int fd = memfd_create("foreign-test", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static struct foreign_region_desc region(uint64_t gpa, uint64_t size, uint64_t ua, uint64_t off,
					 int fd)
{
	return (struct foreign_region_desc){ .gpa = gpa, .size = size, .uaddr = ua,
					     .offset = off, .fd = fd };
}

/* Maps d, expects `want`; on failure f must be empty and no fd may be left open. */
static int map_expect(struct foreign *f, struct foreign_region_desc *d, unsigned int n, int want)
{
	unsigned int before = count_fds();
	struct err e = { 0 };
	int ret = foreign_map(f, d, n, &e);
	unsigned int i, open_fds = 0;

	for (i = 0; i < n; i++)
		open_fds += d[i].fd >= 0;
	cr_expect_eq(ret, want, "foreign_map: %d (%s), want %d", ret, e.msg, want);
	cr_expect_eq(count_fds(), before - open_fds, "every fd is closed");
	if (ret) {
		cr_expect_eq(f->nr, 0);
		cr_expect_eq(f->gm.nr, 0);
		cr_expect_neq(e.msg[0], '\0', "a reason is given");
	}
	return ret;
}

Test(foreign, good_table_is_shared_with_the_peer_and_translates_user_addresses)
{
	int fd0 = memfd(2 * MB), fd1 = memfd(4 * MB);
	uint8_t *peer0 = mmap(NULL, 2 * MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd0, 0);
	uint8_t *peer1 = mmap(NULL, 4 * MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, 0);
	struct foreign_region_desc d[2] = {
		region(0, 2 * MB, UA, 0, fd0),
		region(16 * MB, 2 * MB, UA + 64 * MB, MB + 100, fd1),	/* unaligned offset */
	};
	struct foreign f;
	uint8_t *p;
	gpa_t gpa;

	cr_assert_neq(peer0, MAP_FAILED);
	cr_assert_neq(peer1, MAP_FAILED);
	cr_assert_eq(map_expect(&f, d, 2, 0), 0);
	cr_expect_eq(f.nr, 2);
	peer0[0x1234] = 0x5a;
	peer1[MB + 100 + 0x10] = 0xa5;
	p = gm_slice(&f.gm, 0x1234, 1);
	cr_assert_not_null(p);
	cr_expect_eq(*p, 0x5a, "the mapping is the peer's memory");
	p = gm_slice(&f.gm, 16 * MB + 0x10, 1);
	cr_assert_not_null(p);
	cr_expect_eq(*p, 0xa5, "mmap_offset is honoured");
	*p = 0x11;
	cr_expect_eq(peer1[MB + 100 + 0x10], 0x11, "MAP_SHARED: writes reach the peer");
	cr_expect_null(gm_slice(&f.gm, 16 * MB + 2 * MB - 8, 16), "past the region's end");

	cr_expect_eq(foreign_ua_to_gpa(&f, UA + 0x100, 16, &gpa), 0);
	cr_expect_eq(gpa, 0x100);
	cr_expect_eq(foreign_ua_to_gpa(&f, UA + 64 * MB + 8, 8, &gpa), 0);
	cr_expect_eq(gpa, 16 * MB + 8);
	foreign_unmap(&f);
	cr_expect_eq(f.nr, 0);
	munmap(peer0, 2 * MB);
	munmap(peer1, 4 * MB);
}

Test(foreign, user_range_outside_or_across_a_region_is_refused)
{
	struct foreign_region_desc d = region(0, MB, UA, 0, memfd(MB));
	struct foreign f;
	gpa_t gpa = 0;

	cr_assert_eq(map_expect(&f, &d, 1, 0), 0);
	cr_expect_eq(foreign_ua_to_gpa(&f, UA - 1, 1, &gpa), -EFAULT);
	cr_expect_eq(foreign_ua_to_gpa(&f, UA + MB, 1, &gpa), -EFAULT);
	cr_expect_eq(foreign_ua_to_gpa(&f, UA + MB - 8, 16, &gpa), -EFAULT, "crosses the end");
	cr_expect_eq(foreign_ua_to_gpa(&f, UA + 8, UINT64_MAX, &gpa), -EFAULT, "huge length");
	cr_expect_eq(foreign_ua_to_gpa(&f, UINT64_MAX, 2, &gpa), -EFAULT, "wraps");
	foreign_unmap(&f);
}

Test(foreign, file_shorter_than_the_region_is_refused)
{
	struct foreign_region_desc d = region(0, 2 * MB, UA, 0, memfd(MB));
	struct foreign f;

	map_expect(&f, &d, 1, -EINVAL);	/* would SIGBUS us on the second MiB */
}

Test(foreign, offset_past_the_end_of_the_file_is_refused)
{
	struct foreign_region_desc d = region(0, MB, UA, MB, memfd(MB));
	struct foreign f;

	map_expect(&f, &d, 1, -EINVAL);
}

Test(foreign, offset_plus_size_overflow_is_refused)
{
	struct foreign_region_desc d = region(0, MB, UA, UINT64_MAX - 4096, memfd(MB));
	struct foreign f;

	map_expect(&f, &d, 1, -EINVAL);
	d = region(0, MB, UA, (1ull << 63) - 4096, memfd(MB));	/* does not fit off_t */
	map_expect(&f, &d, 1, -EINVAL);
}

Test(foreign, guest_or_user_address_wrap_is_refused)
{
	struct foreign_region_desc d = region(0xfffffffffff00000ull, MB, UA, 0, memfd(MB));
	struct foreign f;

	map_expect(&f, &d, 1, -EINVAL);
	d = region(0, MB, 0xfffffffffff80000ull, 0, memfd(MB));
	map_expect(&f, &d, 1, -EINVAL);
}

Test(foreign, eventfd_socket_and_pipe_are_not_memory)
{
	int sv[2], pp[2];
	struct foreign_region_desc d;
	struct foreign f;

	d = region(0, MB, UA, 0, eventfd(0, EFD_CLOEXEC));
	map_expect(&f, &d, 1, -EINVAL);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	d = region(0, MB, UA, 0, sv[0]);
	map_expect(&f, &d, 1, -EINVAL);
	cr_assert_eq(pipe(pp), 0);
	close(pp[1]);
	d = region(0, MB, UA, 0, pp[0]);
	map_expect(&f, &d, 1, -EINVAL);
}

Test(foreign, read_only_fd_cannot_be_mapped_shared_writable)
{
	char path[] = "/tmp/vuback-foreign-XXXXXX";
	int wfd = mkstemp(path), rfd;
	struct foreign_region_desc d;
	struct foreign f;

	cr_assert_geq(wfd, 0);
	cr_assert_eq(ftruncate(wfd, MB), 0);
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	unlink(path);
	close(wfd);
	d = region(0, MB, UA, 0, rfd);
	map_expect(&f, &d, 1, -EACCES);
}

Test(foreign, overlapping_guest_ranges_are_refused)
{
	struct foreign_region_desc d[2] = {
		region(0, 2 * MB, UA, 0, memfd(2 * MB)),
		region(MB, 2 * MB, UA + 16 * MB, 0, memfd(2 * MB)),
	};
	struct foreign f;

	map_expect(&f, d, 2, -EINVAL);
}

Test(foreign, overlapping_user_ranges_are_refused)
{
	struct foreign_region_desc d[2] = {
		region(0, 2 * MB, UA, 0, memfd(2 * MB)),
		region(16 * MB, 2 * MB, UA + MB, 0, memfd(2 * MB)),
	};
	struct foreign f;

	map_expect(&f, d, 2, -EINVAL);
}

Test(foreign, unaligned_or_empty_region_is_refused)
{
	struct foreign_region_desc d;
	struct foreign f;

	d = region(0x800, MB, UA, 0, memfd(2 * MB));
	map_expect(&f, &d, 1, -EINVAL);
	d = region(0, MB + 1, UA, 0, memfd(2 * MB));
	map_expect(&f, &d, 1, -EINVAL);
	d = region(0, 0, UA, 0, memfd(2 * MB));
	map_expect(&f, &d, 1, -EINVAL);
}

Test(foreign, zero_or_too_many_regions_are_refused)
{
	struct foreign_region_desc d[GMEM_MAX_REGIONS + 1];
	struct foreign f;
	unsigned int i;

	map_expect(&f, d, 0, -EINVAL);
	for (i = 0; i < GMEM_MAX_REGIONS + 1; i++)
		d[i] = region(i * MB, MB, UA + i * MB, 0, memfd(MB));
	map_expect(&f, d, GMEM_MAX_REGIONS + 1, -E2BIG);
}

Test(foreign, a_bad_last_region_unmaps_the_good_ones)
{
	struct foreign_region_desc d[3] = {
		region(0, MB, UA, 0, memfd(MB)),
		region(4 * MB, MB, UA + 4 * MB, 0, memfd(MB)),
		region(8 * MB, 2 * MB, UA + 8 * MB, 0, memfd(MB)),	/* file too short */
	};
	struct foreign f;

	map_expect(&f, d, 3, -EINVAL);
	cr_expect_null(gm_slice(&f.gm, 0, 1));
}
