/* SPDX-License-Identifier: MIT */
#ifndef MM_FOREIGN_H
#define MM_FOREIGN_H

/*
 * A peer's memory, mapped from the fds it sent us (vhost-user SET_MEM_TABLE, QEMU
 * docs/interop/vhost-user.rst "Memory regions"), seen as a struct gmem keyed by the peer's
 * guest physical addresses, plus the peer's own virtual addresses (user_addr) for translating
 * vring addresses, which vhost-user gives in front-end virtual addresses.
 *
 * Everything in a region description is untrusted. foreign_map() checks, before any mmap:
 *   - 1..GMEM_MAX_REGIONS regions, size > 0, guest_addr and size 4 KiB aligned (gmem rule);
 *   - guest_addr + size, user_addr + size and mmap_offset + size do not wrap, and the mapping
 *     length fits off_t;
 *   - guest ranges and user ranges pairwise disjoint (a user address translates one way only);
 *   - the fd is a regular file (memfd, hugetlbfs, tmpfs; never a device or a socket) at least
 *     mmap_offset + size bytes long, so no access inside a region can fault with SIGBUS at map
 *     time. A peer that shrinks its file later can still cause SIGBUS (every vhost-user
 *     back-end shares this limit); a file sealed with F_SEAL_SHRINK cannot.
 * Each region is mapped MAP_SHARED read/write from offset 0 of its fd up to mmap_offset + size
 * (rounded up to the file's block size, which is the huge page size on hugetlbfs), as DPDK
 * does, so mmap_offset need not be page aligned. The fds are closed once mapped (the mappings
 * keep the memory); foreign_map() closes every fd it was given, on success and on failure.
 *
 * Thread safety: a struct foreign is built and torn down by one thread; while it is mapped,
 * f->gm and foreign_ua_to_gpa() may be read from any thread (no state changes).
 */
#include <stdint.h>

#include "base/compiler.h"
#include "base/err.h"
#include "mm/gmem.h"

struct foreign_region_desc {
	uint64_t gpa;		/* peer's guest physical address */
	uint64_t size;
	uint64_t uaddr;		/* peer's virtual address of the same bytes */
	uint64_t offset;	/* where the region starts in fd */
	int fd;
};

struct foreign_region {
	uint64_t gpa, size, uaddr;
	void *map;		/* the whole mapping, from fd offset 0 */
	size_t map_len;
};

struct foreign {
	struct gmem gm;		/* gpa -> our mapping; use gm_slice() & co. */
	unsigned int nr;
	struct foreign_region r[GMEM_MAX_REGIONS];
};

/* An empty mapping (nr == 0): foreign_unmap() on it is a no-op. */
void foreign_init(struct foreign *f);
/*
 * Maps n regions into f (which must be empty). 0, or -EINVAL (a rule above), -E2BIG (too many
 * regions), or the -errno of fstat/mmap, with a sentence in e. On failure f is left empty.
 * Closes every d[i].fd in all cases.
 */
int foreign_map(struct foreign *f, const struct foreign_region_desc *d, unsigned int n,
		struct err *e) __must_check;
/* Unmaps everything and leaves f empty. */
void foreign_unmap(struct foreign *f);
/*
 * Translates the peer virtual address range [uaddr, uaddr + len) to a guest physical address:
 * 0, or -EFAULT if the range is not inside one region (no sum can wrap).
 */
int foreign_ua_to_gpa(const struct foreign *f, uint64_t uaddr, uint64_t len, gpa_t *gpa)
	__must_check;

#endif
