// SPDX-License-Identifier: MIT
/* A peer's memory regions mapped from its fds (vhost-user back-end): see foreign.h. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mm/foreign.h"

#define FOREIGN_ALIGN	KiB(4)
#define FOREIGN_OFF_MAX	((uint64_t)INT64_MAX)	/* off_t is 64-bit signed (LFS) */

void foreign_init(struct foreign *f)
{
	memset(f, 0, sizeof(*f));
	gm_init(&f->gm);
}

static void foreign_close_fds(const struct foreign_region_desc *d, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (d[i].fd >= 0)
			close(d[i].fd);
}

/* Half-open ranges [a, a+alen) and [b, b+blen), both known not to wrap. */
static bool foreign_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int foreign_check(const struct foreign_region_desc *d, unsigned int n, struct err *e)
{
	uint64_t end;
	unsigned int i, j;

	if (!n)
		return err_set(e, -EINVAL, "memory table has no region");
	if (n > GMEM_MAX_REGIONS)
		return err_set(e, -E2BIG, "memory table has %u regions, at most %u are supported", n,
			       GMEM_MAX_REGIONS);
	for (i = 0; i < n; i++) {
		const struct foreign_region_desc *r = &d[i];

		if (!r->size)
			return err_set(e, -EINVAL, "region %u is empty", i);
		if (!IS_ALIGNED(r->gpa, FOREIGN_ALIGN) || !IS_ALIGNED(r->size, FOREIGN_ALIGN))
			return err_set(e, -EINVAL, "region %u (gpa 0x%llx size 0x%llx) is not 4 KiB aligned",
				       i, (unsigned long long)r->gpa, (unsigned long long)r->size);
		if (__builtin_add_overflow(r->gpa, r->size, &end) ||
		    __builtin_add_overflow(r->uaddr, r->size, &end))
			return err_set(e, -EINVAL, "region %u wraps the address space", i);
		/* We map [0, offset + size): that length must fit off_t (and size_t). */
		if (__builtin_add_overflow(r->offset, r->size, &end) || end > FOREIGN_OFF_MAX ||
		    end > SIZE_MAX - FOREIGN_ALIGN)
			return err_set(e, -EINVAL, "region %u: mmap offset + size is too large", i);
		if (r->fd < 0)
			return err_set(e, -EINVAL, "region %u has no fd", i);
		for (j = 0; j < i; j++) {
			if (foreign_overlap(r->gpa, r->size, d[j].gpa, d[j].size))
				return err_set(e, -EINVAL, "regions %u and %u overlap (guest)", j, i);
			if (foreign_overlap(r->uaddr, r->size, d[j].uaddr, d[j].size))
				return err_set(e, -EINVAL, "regions %u and %u overlap (user)", j, i);
		}
	}
	return 0;
}

static int foreign_map_one(struct foreign_region *out, const struct foreign_region_desc *d,
			   unsigned int i, struct err *e)
{
	uint64_t need = d->offset + d->size;	/* checked by foreign_check() */
	uint64_t blk = FOREIGN_ALIGN, len;
	struct stat st;
	void *p;

	if (fstat(d->fd, &st))
		return err_set(e, -errno, "region %u: fstat: %s", i, strerror(errno));
	/* A device (/dev/mem), socket or pipe fd is not guest memory. */
	if (!S_ISREG(st.st_mode))
		return err_set(e, -EINVAL, "region %u: fd is not a memory file", i);
	/* Touching a page past the end of the file would be SIGBUS in our process. */
	if (st.st_size < 0 || (uint64_t)st.st_size < need)
		return err_set(e, -EINVAL, "region %u: file has %lld bytes, region needs %llu", i,
			       (long long)st.st_size, (unsigned long long)need);
	/* hugetlbfs reports its page size here; mmap lengths must be multiples of it. */
	if (st.st_blksize > 0 && !((uint64_t)st.st_blksize & ((uint64_t)st.st_blksize - 1)) &&
	    (uint64_t)st.st_blksize >= FOREIGN_ALIGN)
		blk = st.st_blksize;
	len = ALIGN_UP(need, blk);
	if (len < need || len > SIZE_MAX)
		return err_set(e, -EINVAL, "region %u: mapping length overflows", i);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, 0);
	if (p == MAP_FAILED)
		return err_set(e, -errno, "region %u: mmap of %llu bytes: %s", i,
			       (unsigned long long)len, strerror(errno));
	*out = (struct foreign_region){
		.gpa = d->gpa, .size = d->size, .uaddr = d->uaddr, .map = p, .map_len = len,
	};
	return 0;
}

int foreign_map(struct foreign *f, const struct foreign_region_desc *d, unsigned int n,
		struct err *e)
{
	unsigned int i;
	int ret;

	foreign_init(f);
	ret = foreign_check(d, n, e);
	for (i = 0; !ret && i < n; i++) {
		ret = foreign_map_one(&f->r[i], &d[i], i, e);
		if (ret)
			break;
		f->nr = i + 1;
		ret = gm_add_region(&f->gm, d[i].gpa, d[i].size,
				    (uint8_t *)f->r[i].map + d[i].offset, -1, 0);
		if (ret)
			err_set(e, ret, "region %u: not a valid guest memory region", i);
	}
	foreign_close_fds(d, n);
	if (ret)
		foreign_unmap(f);
	return ret;
}

void foreign_unmap(struct foreign *f)
{
	unsigned int i;

	for (i = 0; i < f->nr; i++)
		munmap(f->r[i].map, f->r[i].map_len);
	foreign_init(f);
}

int foreign_ua_to_gpa(const struct foreign *f, uint64_t uaddr, uint64_t len, gpa_t *gpa)
{
	unsigned int i;

	for (i = 0; i < f->nr; i++) {
		const struct foreign_region *r = &f->r[i];

		/* Same shape as gm_find(): no sum is formed. */
		if (uaddr < r->uaddr || uaddr - r->uaddr >= r->size ||
		    len > r->size - (uaddr - r->uaddr))
			continue;
		*gpa = r->gpa + (uaddr - r->uaddr);
		return 0;
	}
	return -EFAULT;
}
