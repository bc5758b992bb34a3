// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "mm/gmem.h"

#define GM_ALIGN	KiB(4)

void gm_init(struct gmem *gm)
{
	memset(gm, 0, sizeof(*gm));
}

int gm_add_region(struct gmem *gm, gpa_t gpa, uint64_t len, void *hva, int fd,
		  uint64_t fd_offset)
{
	uint64_t end, fd_end;
	unsigned int i, pos;

	if (!len || !hva)
		return -EINVAL;
	/* end == 2^64 does not fit either: gm_end() must stay representable. */
	if (__builtin_add_overflow(gpa, len, &end))
		return -EINVAL;
	if (!IS_ALIGNED(gpa, GM_ALIGN) || !IS_ALIGNED(len, GM_ALIGN))
		return -EINVAL;
	/* vhost-user peers mmap(fd, fd_offset, len): offset must be page aligned and not wrap. */
	if (fd >= 0 && (!IS_ALIGNED(fd_offset, GM_ALIGN) ||
			__builtin_add_overflow(fd_offset, len, &fd_end)))
		return -EINVAL;
	for (i = 0; i < gm->nr; i++) {
		const struct gmem_region *r = &gm->r[i];

		/* Both ends are known not to wrap, so half-open comparison is exact. */
		if (gpa < r->gpa + r->len && r->gpa < end)
			return -EINVAL;
	}
	if (gm->nr >= GMEM_MAX_REGIONS)
		return -ENOSPC;

	/* Keep the table sorted by gpa so gm_end() and gm_for_each_region() are in order. */
	for (pos = 0; pos < gm->nr && gm->r[pos].gpa < gpa; pos++)
		;
	memmove(&gm->r[pos + 1], &gm->r[pos], (gm->nr - pos) * sizeof(gm->r[0]));
	gm->r[pos] = (struct gmem_region){
		.gpa = gpa,
		.len = len,
		.hva = hva,
		.fd = fd >= 0 ? fd : -1,
		.fd_offset = fd >= 0 ? fd_offset : 0,
	};
	gm->nr++;
	return 0;
}

/*
 * The one range check. [gpa, gpa + len) must lie inside one region; no sum is formed, so
 * nothing can wrap. The offset test is strict (>=): a zero-length access is valid only at a
 * gpa inside a region, never at a region's end or in a hole, so len == 0 still says "this gpa
 * is RAM" and callers cannot use it to probe past the end.
 */
static const struct gmem_region *gm_find(const struct gmem *gm, gpa_t gpa, size_t len)
{
	unsigned int i;

	for (i = 0; i < gm->nr; i++) {
		const struct gmem_region *r = &gm->r[i];

		if (gpa < r->gpa || gpa - r->gpa >= r->len || len > r->len - (gpa - r->gpa))
			continue;
		return r;
	}
	return NULL;
}

void *gm_slice(const struct gmem *gm, gpa_t gpa, size_t len)
{
	const struct gmem_region *r = gm_find(gm, gpa, len);

	return r ? r->hva + (gpa - r->gpa) : NULL;
}

int gm_read(const struct gmem *gm, gpa_t gpa, void *dst, size_t len)
{
	const void *src = gm_slice(gm, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int gm_write(const struct gmem *gm, gpa_t gpa, const void *src, size_t len)
{
	void *dst = gm_slice(gm, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int gm_fill(const struct gmem *gm, gpa_t gpa, int c, size_t len)
{
	void *dst = gm_slice(gm, gpa, len);

	if (!dst)
		return -EFAULT;
	memset(dst, c, len);
	return 0;
}

bool gm_is_ram(const struct gmem *gm, gpa_t gpa, size_t len)
{
	return gm_find(gm, gpa, len) != NULL;
}

uint64_t gm_ram_size(const struct gmem *gm)
{
	uint64_t sum = 0;
	unsigned int i;

	/* Regions do not overlap and each end fits in 64 bits, so the sum cannot wrap. */
	for (i = 0; i < gm->nr; i++)
		sum += gm->r[i].len;
	return sum;
}

gpa_t gm_end(const struct gmem *gm)
{
	const struct gmem_region *last;

	if (!gm->nr)
		return 0;
	last = &gm->r[gm->nr - 1];
	return last->gpa + last->len;
}
