/* SPDX-License-Identifier: MIT */
#ifndef MM_GMEM_H
#define MM_GMEM_H

/*
 * Guest physical memory: a small table of RAM regions, and the only way the rest of the VMM
 * reaches guest memory. Every accessor checks that [gpa, gpa + len) lies entirely inside ONE
 * region, with arithmetic that cannot wrap; a range that touches a hole, crosses a region
 * boundary or runs past the end is refused (-EFAULT / NULL). Nothing is ever partially copied.
 *
 * The table is built before the VM runs and is read-only afterwards, so the accessors take no
 * lock and may be called from any thread.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

typedef uint64_t gpa_t;

#define GMEM_MAX_REGIONS 8

struct gmem_region {
	gpa_t gpa;
	uint64_t len;
	uint8_t *hva;
	int fd;			/* backing fd (memfd/hugetlbfs) or -1; for vhost-user */
	uint64_t fd_offset;	/* offset of hva in fd */
};

struct gmem {
	unsigned int nr;
	struct gmem_region r[GMEM_MAX_REGIONS];
};

void gm_init(struct gmem *gm);
/* Adds a region. -EINVAL: zero length, wrap, unaligned to 4 KiB, overlap; -ENOSPC: table full. */
int gm_add_region(struct gmem *gm, gpa_t gpa, uint64_t len, void *hva, int fd,
		  uint64_t fd_offset) __must_check;

int gm_read(const struct gmem *gm, gpa_t gpa, void *dst, size_t len) __must_check;
int gm_write(const struct gmem *gm, gpa_t gpa, const void *src, size_t len) __must_check;
int gm_fill(const struct gmem *gm, gpa_t gpa, int c, size_t len) __must_check;
/* Host pointer to [gpa, gpa+len), or NULL if that range is not inside one region. */
void *gm_slice(const struct gmem *gm, gpa_t gpa, size_t len);
bool gm_is_ram(const struct gmem *gm, gpa_t gpa, size_t len);
uint64_t gm_ram_size(const struct gmem *gm);
/* Highest RAM address + 1. */
gpa_t gm_end(const struct gmem *gm);

#define gm_for_each_region(gm, reg) \
	for ((reg) = (gm)->r; (reg) < (gm)->r + (gm)->nr; (reg)++)

#endif
