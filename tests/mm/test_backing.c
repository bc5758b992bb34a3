// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/backing.h"

static uint64_t page(void)
{
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Number of resident pages of [p, p + len), per mincore(2). */
static uint64_t resident_pages(const void *p, uint64_t len)
{
	uint64_t n = (len + page() - 1) / page(), res = 0;
	unsigned char *vec = calloc(n, 1);

	cr_assert_not_null(vec);
	cr_assert_eq(mincore((void *)p, len, vec), 0, "mincore: %s", strerror(errno));
	for (uint64_t i = 0; i < n; i++)
		res += vec[i] & 1;
	free(vec);
	return res;
}

/* ---- base pages ---------------------------------------------------------------------- */

Test(backing, anon_block_is_private_writable_and_has_no_fd)
{
	struct mem_block b;
	struct err e = { 0 };

	cr_assert_eq(mem_alloc(&(struct mem_opts){ .size = MiB(1) }, &b, &e), 0, "%s", e.msg);
	cr_expect_eq(b.fd, -1);
	cr_expect_eq(b.size, MiB(1));
	cr_expect_eq(b.page_size, page());
	cr_expect_eq(b.backend, MEM_ANON);
	b.hva[0] = 1;
	b.hva[MiB(1) - 1] = 2;
	cr_expect_eq(b.hva[0] + b.hva[MiB(1) - 1], 3);
	mem_free(&b);
	cr_expect_null(b.hva);
	cr_expect_eq(b.fd, -1);
}

Test(backing, memfd_block_is_visible_through_a_second_mapping_of_its_fd)
{
	struct mem_block b;
	struct err e = { 0 };
	uint8_t *alias;

	cr_assert_eq(mem_alloc(&(struct mem_opts){ .size = MiB(2), .backend = MEM_MEMFD }, &b, &e),
		     0, "%s", e.msg);
	cr_assert_geq(b.fd, 0);
	cr_expect_neq(fcntl(b.fd, F_GETFD), -1);
	cr_expect(fcntl(b.fd, F_GETFD) & FD_CLOEXEC);
	alias = mmap(NULL, MiB(2), PROT_READ | PROT_WRITE, MAP_SHARED, b.fd, 0);
	cr_assert_neq(alias, MAP_FAILED);
	b.hva[12345] = 0x5a;
	cr_expect_eq(alias[12345], 0x5a);
	alias[MiB(2) - 1] = 0xa5;
	cr_expect_eq(b.hva[MiB(2) - 1], 0xa5);
	munmap(alias, MiB(2));
	mem_free(&b);
}

Test(backing, memfd_block_cannot_be_truncated_by_a_peer)
{
	struct mem_block b;
	struct err e = { 0 };

	cr_assert_eq(mem_alloc(&(struct mem_opts){ .size = MiB(1), .backend = MEM_MEMFD }, &b, &e),
		     0, "%s", e.msg);
	/* A truncated memfd would SIGBUS the VMM on the next guest access. */
	cr_expect_eq(ftruncate(b.fd, 4096), -1);
	cr_expect_eq(errno, EPERM);
	mem_free(&b);
}

Test(backing, size_not_page_multiple_is_refused)
{
	struct mem_block b;
	struct err e = { 0 };

	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = MiB(1) + 1 }, &b, &e), -EINVAL);
	cr_expect(strstr(e.msg, "not a multiple of the page size"), "%s", e.msg);
	cr_expect_null(b.hva);
	cr_expect_eq(b.fd, -1);
	mem_free(&b);
	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = 0 }, &b, &e), -EINVAL);
}

Test(backing, hugepage_size_not_multiple_is_refused)
{
	struct mem_block b;
	struct err e = { 0 };

	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = MiB(3), .hugepage_size = MiB(2) },
			       &b, &e), -EINVAL);
	cr_expect(strstr(e.msg, "2 MiB"), "%s", e.msg);
}

Test(backing, unknown_hugepage_size_is_refused)
{
	struct mem_block b;
	struct err e = { 0 };

	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = MiB(8), .hugepage_size = MiB(4) },
			       &b, &e), -EINVAL);
	cr_expect(strstr(e.msg, "unknown hugepage size"), "%s", e.msg);
	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = MiB(8), .hugepage_size = 4096,
						   .backend = MEM_MEMFD }, &b, &e), -EINVAL);
}

Test(backing, unknown_backend_is_refused)
{
	struct mem_block b;

	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = MiB(1), .backend = 7 }, &b, NULL),
		     -EINVAL);
}

Test(backing, thp_with_hugepages_is_refused)
{
	struct mem_block b;
	struct err e = { 0 };

	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = MiB(2), .hugepage_size = MiB(2),
						   .thp = true }, &b, &e), -EINVAL);
	cr_expect(strstr(e.msg, "thp"), "%s", e.msg);
}

Test(backing, thp_on_base_pages_is_accepted)
{
	struct mem_block b;
	struct err e = { 0 };

	cr_assert_eq(mem_alloc(&(struct mem_opts){ .size = MiB(4), .thp = true }, &b, &e), 0,
		     "%s", e.msg);
	cr_expect_eq(b.page_size, page());
	mem_free(&b);
}

Test(backing, hugetlbfs_path_that_is_not_hugetlbfs_is_refused)
{
	struct mem_block b;
	struct err e = { 0 };

	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = MiB(2), .backend = MEM_HUGETLBFS,
						   .hugetlbfs_path = "/tmp" }, &b, &e), -EINVAL);
	cr_expect(strstr(e.msg, "/tmp is not a hugetlbfs mount"), "%s", e.msg);
	cr_expect_eq(b.fd, -1);
	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = MiB(2), .backend = MEM_HUGETLBFS },
			       &b, &e), -EINVAL);
	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = MiB(2), .backend = MEM_HUGETLBFS,
						   .hugetlbfs_path = "/nonexistent-vmm" }, &b, &e),
		     -ENOENT);
}

Test(backing, mem_free_of_zeroed_block_leaves_fd_0_alone)
{
	struct mem_block b;
	int before = fcntl(0, F_GETFD);

	memset(&b, 0, sizeof(b));
	mem_free(&b);
	mem_free(NULL);
	cr_expect_eq(fcntl(0, F_GETFD), before);
	cr_expect_eq(b.fd, -1);
}

static void prefault_check(enum mem_backend be, uint64_t size, unsigned int threads)
{
	struct mem_block b;
	struct err e = { 0 };
	uint64_t ns = 0;

	cr_assert_eq(mem_alloc(&(struct mem_opts){ .size = size, .backend = be }, &b, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(resident_pages(b.hva, b.size), 0, "fresh block already resident");
	b.hva[page()] = 0x77;	/* prefault must keep contents */
	cr_assert_eq(mem_prefault(&b, threads, &ns, &e), 0, "%s", e.msg);
	cr_expect_eq(resident_pages(b.hva, b.size), size / page());
	cr_expect_eq(b.hva[page()], 0x77);
	cr_expect_gt(ns, 0);
	mem_free(&b);
}

Test(backing, prefault_with_1_thread_makes_every_page_resident)
{
	prefault_check(MEM_ANON, MiB(32), 1);
}

Test(backing, prefault_with_4_threads_makes_every_page_resident)
{
	prefault_check(MEM_ANON, MiB(32) + 3 * page(), 4);
}

Test(backing, prefault_memfd_with_auto_threads_makes_every_page_resident)
{
	prefault_check(MEM_MEMFD, MiB(16), 0);
}

Test(backing, prefault_with_more_threads_than_pages_is_fine)
{
	prefault_check(MEM_ANON, 3 * page(), 1000);
}

Test(backing, prefault_and_lock_of_unallocated_block_are_refused)
{
	struct mem_block b = { .fd = -1 };
	struct err e = { 0 };

	cr_expect_eq(mem_prefault(&b, 1, NULL, &e), -EINVAL);
	cr_expect_eq(mem_lock(&b, NULL, &e), -EINVAL);
	cr_expect_eq(mem_prefault(NULL, 1, NULL, &e), -EINVAL);
}

Test(backing, lock_makes_every_page_resident)
{
	struct mem_block b;
	struct err e = { 0 };
	uint64_t ns = 0;

	cr_assert_eq(mem_alloc(&(struct mem_opts){ .size = MiB(4) }, &b, &e), 0, "%s", e.msg);
	if (mem_lock(&b, &ns, &e))
		cr_skip_test("mlock not allowed here: %s", e.msg);
	cr_expect_eq(resident_pages(b.hva, b.size), MiB(4) / page());
	mem_free(&b);
}

Test(backing, lock_over_rlimit_memlock_names_the_limit)
{
	struct mem_block b;
	struct err e = { 0 };
	int status, ret;
	pid_t pid;

	cr_assert_eq(mem_alloc(&(struct mem_opts){ .size = MiB(4) }, &b, &e), 0, "%s", e.msg);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Root bypasses RLIMIT_MEMLOCK (CAP_IPC_LOCK): become nobody with a zero limit. */
		struct rlimit rl = { 0, 0 };

		if (setrlimit(RLIMIT_MEMLOCK, &rl) || (getuid() == 0 && setresuid(65534, 65534,
										  65534)))
			_exit(3);
		ret = mem_lock(&b, NULL, &e);
		if (ret != -EPERM && ret != -ENOMEM)
			_exit(1);
		_exit(strstr(e.msg, "RLIMIT_MEMLOCK is 0 bytes") ? 0 : 2);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	mem_free(&b);
}

Test(backing, pool_read_of_bad_page_size_is_refused)
{
	struct hugepage_pool p;

	cr_expect_eq(hugepage_pool_read(0, &p), -EINVAL);
	cr_expect_eq(hugepage_pool_read(3000, &p), -EINVAL);
	cr_expect_eq(hugepage_pool_read(MiB(2) + 4096, &p), -EINVAL);
	cr_expect_eq(hugepage_pool_read(MiB(4), &p), -ENOENT);	/* no such pool on x86 */
	cr_expect_eq(hugepage_pool_read(MiB(2), &p), 0);
	cr_expect_geq(p.total + p.surplus, p.free);
}

/* ---- hugepages ----------------------------------------------------------------------- */

/*
 * Hugepage tests change the machine-wide pool, so they hold an exclusive lock (criterion runs
 * tests in parallel processes) and put nr_hugepages back in .fini.
 */
static int hp_lock_fd = -1;
static uint64_t hp_old_total[2];
static bool hp_changed[2];

static const char *hp_nr_path(uint64_t ps)
{
	return ps == GiB(1) ? "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"
			    : "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
}

static int hp_write_total(uint64_t ps, uint64_t total)
{
	FILE *f = fopen(hp_nr_path(ps), "w");
	int ret;

	if (!f)
		return -errno;
	ret = fprintf(f, "%" PRIu64 "\n", total) < 0 ? -EIO : 0;
	if (fclose(f))
		ret = -errno;
	return ret;
}

static uint64_t hp_avail(const struct hugepage_pool *p)
{
	return p->free > p->resv ? p->free - p->resv : 0;
}

/* Makes `need` 2 MiB pages usable, or skips the test if the kernel cannot find them. */
static void hp_reserve(uint64_t need)
{
	struct hugepage_pool p;

	cr_assert_eq(hugepage_pool_read(MiB(2), &p), 0);
	if (hp_avail(&p) >= need)
		return;
	if (!hp_changed[0]) {
		hp_old_total[0] = p.total;
		hp_changed[0] = true;
	}
	if (hp_write_total(MiB(2), p.total + need - hp_avail(&p)))
		cr_skip_test("cannot raise the 2 MiB pool (not root?)");
	cr_assert_eq(hugepage_pool_read(MiB(2), &p), 0);
	if (hp_avail(&p) < need)
		cr_skip_test("kernel found only %" PRIu64 " of %" PRIu64 " 2 MiB pages",
			     hp_avail(&p), need);
}

static void hp_setup(void)
{
	hp_lock_fd = open("/tmp/vmm-test-hugepages.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(hp_lock_fd, 0);
	cr_assert_eq(flock(hp_lock_fd, LOCK_EX), 0);
}

static void hp_teardown(void)
{
	if (hp_changed[0] && hp_write_total(MiB(2), hp_old_total[0]))
		fprintf(stderr, "could not restore the 2 MiB hugepage pool to %" PRIu64 "\n",
			hp_old_total[0]);
	close(hp_lock_fd);
}

TestSuite(hugepages, .init = hp_setup, .fini = hp_teardown);

Test(hugepages, request_larger_than_2m_pool_is_refused_with_the_numbers)
{
	struct hugepage_pool p;
	struct mem_block b;
	struct err e = { 0 };
	char want[256];
	uint64_t need;

	cr_assert_eq(hugepage_pool_read(MiB(2), &p), 0);
	need = hp_avail(&p) + 10;
	for (int be = MEM_ANON; be <= MEM_MEMFD; be++) {
		cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = need * MiB(2),
							   .hugepage_size = MiB(2),
							   .backend = be }, &b, &e), -ENOMEM);
		snprintf(want, sizeof(want), "guest RAM needs %" PRIu64 " hugepages of 2 MiB but "
			 "only %" PRIu64 " are free (total %" PRIu64 "); reserve more with: echo %"
			 PRIu64 " > /proc/sys/vm/nr_hugepages", need, hp_avail(&p), p.total,
			 p.total + 10);
		cr_expect_str_eq(e.msg, want);
		cr_expect_null(b.hva);
		cr_expect_eq(b.fd, -1);
	}
}

Test(hugepages, request_larger_than_1g_pool_is_refused_with_the_numbers)
{
	struct hugepage_pool p;
	struct mem_block b;
	struct err e = { 0 };
	char want[64];
	uint64_t need;

	if (hugepage_pool_read(GiB(1), &p) == -ENOENT)
		cr_skip_test("no 1 GiB hugepage pool on this machine");
	need = hp_avail(&p) + 1;
	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = need * GiB(1), .hugepage_size = GiB(1),
						   .backend = MEM_MEMFD }, &b, &e), -ENOMEM);
	snprintf(want, sizeof(want), "needs %" PRIu64 " hugepages of 1 GiB", need);
	cr_expect(strstr(e.msg, want), "%s", e.msg);
	cr_expect(strstr(e.msg, "> /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"),
		  "%s", e.msg);
}

static void huge_block_check(enum mem_backend be, const char *path)
{
	struct hugepage_pool before, after;
	struct mem_block b;
	struct err e = { 0 };
	uint64_t ns;

	hp_reserve(4);
	cr_assert_eq(hugepage_pool_read(MiB(2), &before), 0);
	cr_assert_eq(mem_alloc(&(struct mem_opts){ .size = MiB(8), .backend = be,
						   .hugepage_size = path ? 0 : MiB(2),
						   .hugetlbfs_path = path }, &b, &e), 0, "%s", e.msg);
	cr_expect_eq(b.page_size, MiB(2));
	cr_expect_eq(b.fd >= 0, be != MEM_ANON);
	/* Reserved at mmap time, before any touch: the pool cannot be taken away from us. */
	cr_assert_eq(hugepage_pool_read(MiB(2), &after), 0);
	cr_expect_eq(after.resv, before.resv + 4, "resv %" PRIu64 " -> %" PRIu64, before.resv,
		     after.resv);
	cr_assert_eq(mem_prefault(&b, 2, &ns, &e), 0, "%s", e.msg);
	cr_expect_eq(resident_pages(b.hva, b.size), MiB(8) / page());
	cr_assert_eq(hugepage_pool_read(MiB(2), &after), 0);
	cr_expect_eq(after.free, before.free - 4);
	b.hva[MiB(8) - 1] = 0x11;
	mem_free(&b);
	cr_assert_eq(hugepage_pool_read(MiB(2), &after), 0);
	cr_expect_eq(after.free, before.free);
}

Test(hugepages, memfd_2m_block_works_when_the_pool_has_pages)
{
	huge_block_check(MEM_MEMFD, NULL);
}

Test(hugepages, anon_2m_block_works_when_the_pool_has_pages)
{
	huge_block_check(MEM_ANON, NULL);
}

/* A private mount namespace keeps the test's hugetlbfs mount away from everyone else. */
static void private_hugetlbfs(char *dir, size_t len, const char *opts)
{
	snprintf(dir, len, "/tmp/vmm-test-hugetlbfs-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("none", dir, "hugetlbfs", 0, opts)) {
		rmdir(dir);
		cr_skip_test("cannot mount hugetlbfs: %s", strerror(errno));
	}
}

Test(hugepages, hugetlbfs_block_takes_the_mount_page_size)
{
	char dir[64];

	private_hugetlbfs(dir, sizeof(dir), "pagesize=2M");
	huge_block_check(MEM_HUGETLBFS, dir);
	umount(dir);
	rmdir(dir);
}

Test(hugepages, hugetlbfs_mount_of_another_page_size_is_refused)
{
	struct mem_block b;
	struct err e = { 0 };
	char dir[64];

	private_hugetlbfs(dir, sizeof(dir), "pagesize=2M");
	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = GiB(1), .backend = MEM_HUGETLBFS,
						   .hugepage_size = GiB(1),
						   .hugetlbfs_path = dir }, &b, &e), -EINVAL);
	cr_expect(strstr(e.msg, "has 2 MiB pages, not the 1 GiB requested"), "%s", e.msg);
	umount(dir);
	rmdir(dir);
}

Test(hugepages, hugetlbfs_request_larger_than_pool_is_refused)
{
	struct hugepage_pool p;
	struct mem_block b;
	struct err e = { 0 };
	char dir[64];

	private_hugetlbfs(dir, sizeof(dir), "pagesize=2M");
	cr_assert_eq(hugepage_pool_read(MiB(2), &p), 0);
	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = (hp_avail(&p) + 1) * MiB(2),
						   .backend = MEM_HUGETLBFS,
						   .hugetlbfs_path = dir }, &b, &e), -ENOMEM);
	cr_expect(strstr(e.msg, "hugepages of 2 MiB but only"), "%s", e.msg);
	umount(dir);
	rmdir(dir);
}

Test(hugepages, hugetlbfs_mount_size_limit_fails_at_alloc_not_at_first_touch)
{
	struct mem_block b;
	struct err e = { 0 };
	char dir[64];

	hp_reserve(4);
	private_hugetlbfs(dir, sizeof(dir), "pagesize=2M,size=4M");
	/* The pool has the pages, the mount does not: mmap must refuse, not SIGBUS later. */
	cr_expect_eq(mem_alloc(&(struct mem_opts){ .size = MiB(8), .backend = MEM_HUGETLBFS,
						   .hugetlbfs_path = dir }, &b, &e), -ENOMEM);
	cr_expect(strstr(e.msg, "size= limit"), "%s", e.msg);
	cr_expect_null(b.hva);
	umount(dir);
	rmdir(dir);
}
