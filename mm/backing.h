/* SPDX-License-Identifier: MIT */
#ifndef MM_BACKING_H
#define MM_BACKING_H

/*
 * Guest RAM allocation: where the bytes behind a struct gmem region come from.
 *
 * Nothing here ever falls back silently: if the caller asks for hugepages and the pool is too
 * small, or for hugetlbfs and the path is not a hugetlbfs mount, the call fails with -errno and
 * one sentence in struct err that says what to do. Hugetlb memory is mapped so that the kernel
 * reserves every page at mmap time (no MAP_NORESERVE): a short pool is an error at allocation,
 * never a SIGBUS in the middle of a guest run.
 *
 * Thread safety: the functions keep no state; a block is owned by one caller. mem_prefault()
 * starts its own threads and joins them before it returns.
 */
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/err.h"

enum mem_backend { MEM_ANON, MEM_MEMFD, MEM_HUGETLBFS };

struct mem_opts {
	uint64_t size;			/* bytes; must be a multiple of the page size */
	enum mem_backend backend;	/* ANON: private anonymous (not shareable, fd = -1);
					   MEMFD: memfd_create, MAP_SHARED (fd kept, for vhost-user);
					   HUGETLBFS: a file created+unlinked in hugetlbfs_path */
	uint64_t hugepage_size;		/* 0 = base pages; MiB(2) or GiB(1): ANON -> MAP_HUGETLB|
					   MAP_HUGE_2MB/1GB, MEMFD -> MFD_HUGETLB|MFD_HUGE_2MB/1GB,
					   HUGETLBFS -> must equal the mount's page size (statfs
					   f_bsize); for HUGETLBFS 0 means "the mount's page size" */
	const char *hugetlbfs_path;	/* HUGETLBFS only */
	bool thp;			/* base pages: madvise(MADV_HUGEPAGE); -EINVAL with hugepages */
};

struct mem_block {
	uint8_t *hva;
	uint64_t size;
	int fd;				/* memfd / unlinked hugetlbfs file, or -1 (ANON) */
	uint64_t page_size;		/* base page size or the hugepage size */
	enum mem_backend backend;
};

/* Counters of one hugepage size, from /sys/kernel/mm/hugepages/hugepages-<kB>kB/. */
struct hugepage_pool {
	uint64_t total, free, resv, surplus;
};

/*
 * Allocates and maps guest RAM. On success *out owns the mapping (and fd); on failure *out is a
 * block mem_free() accepts. Errors: -EINVAL (size 0 or not a page multiple, unknown hugepage
 * size, path not hugetlbfs or of another page size, thp with hugepages), -ENOMEM (hugepage pool
 * too small: the message names the numbers and the command that reserves more; or mmap failed),
 * -ENOENT (hugepage size not supported by this kernel), other -errno from the syscalls.
 */
int mem_alloc(const struct mem_opts *o, struct mem_block *out, struct err *e) __must_check;

/* munmap + close; safe on a zeroed block and on a block mem_alloc() failed to fill. */
void mem_free(struct mem_block *b);

/* Reads the pool of page_size (bytes). -EINVAL: not a power of two >= 4 KiB; -ENOENT: the
 * kernel has no pool of that size; -EIO: unparsable sysfs contents. */
int hugepage_pool_read(uint64_t page_size, struct hugepage_pool *p) __must_check;

/*
 * Populates host page tables for the whole block with MADV_POPULATE_WRITE, split into
 * page-aligned chunks over `threads` threads (0 = online CPUs, at most 8; never more than 64,
 * never more threads than pages). Kernels without POPULATE_WRITE (EINVAL) get one written byte
 * per page instead (contents are preserved), with a log line saying so. For hugetlb blocks a
 * failure means the pool ran dry and is reported as -ENOMEM. *ns (if not NULL) = wall time.
 */
int mem_prefault(const struct mem_block *b, unsigned int threads, uint64_t *ns,
		 struct err *e) __must_check;

/* mlock()s the block (which also populates it). EPERM/ENOMEM -> the message names
 * RLIMIT_MEMLOCK and its current value. *ns (if not NULL) = wall time. */
int mem_lock(const struct mem_block *b, uint64_t *ns, struct err *e) __must_check;

#endif
