// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "devices/bus.h"

void bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name ? name : "bus";
}

/* a < b+lb && b < a+la, with both ends known not to wrap (checked at registration). */
static bool ranges_overlap(uint64_t a, uint64_t la, uint64_t b, uint64_t lb)
{
	return a < b + lb && b < a + la;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_dev_ops *ops,
		 void *ctx, const char *devname)
{
	uint64_t end;
	unsigned int i, pos;

	if (!devname)
		devname = "?";
	if (!len || !ops || !ops->read || !ops->write || __builtin_add_overflow(base, len, &end))
		return -EINVAL;

	/* Registration is rare and the table small: a plain scan finds the culprit's name. */
	for (i = 0; i < b->nr; i++) {
		const struct bus_range *r = &b->r[i];

		if (ranges_overlap(base, len, r->base, r->len)) {
			pr_err("%s bus: %s [%#llx, %#llx) overlaps %s [%#llx, %#llx)", b->name,
			       devname, (unsigned long long)base, (unsigned long long)end,
			       r->name, (unsigned long long)r->base,
			       (unsigned long long)(r->base + r->len));
			return -EEXIST;
		}
	}
	if (b->nr >= BUS_MAX_DEVS)
		return -ENOSPC;

	for (pos = 0; pos < b->nr && b->r[pos].base < base; pos++)
		;
	memmove(&b->r[pos + 1], &b->r[pos], (b->nr - pos) * sizeof(b->r[0]));
	b->r[pos] = (struct bus_range){
		.base = base, .len = len, .ops = ops, .ctx = ctx, .name = devname,
	};
	b->nr++;
	return 0;
}

/*
 * Binary search for the range holding all of addr .. addr + len - 1. Ranges are sorted and
 * disjoint, so only the last one with base <= addr can hold addr.
 */
static const struct bus_range *bus_find(const struct bus *b, uint64_t addr, uint32_t len)
{
	unsigned int lo = 0, hi = b->nr;
	const struct bus_range *r;
	uint64_t off;

	if (len == 0 || len > BUS_MAX_ACCESS)
		return NULL;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (b->r[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	r = &b->r[lo - 1];
	off = addr - r->base;
	/* off < r->len and off + len <= r->len, written so nothing can wrap. */
	if (off >= r->len || len > r->len - off)
		return NULL;
	return r;
}

static void bus_unclaimed(struct bus *b, uint64_t addr, uint32_t len, bool write)
{
	__atomic_fetch_add(write ? &b->stats.unclaimed_writes : &b->stats.unclaimed_reads, 1,
			   __ATOMIC_RELAXED);
	/* A guest can probe ports in a loop: say it once, then only count. */
	if (b->verbose && !__atomic_exchange_n(&b->unclaimed_logged, true, __ATOMIC_RELAXED))
		pr_info("%s bus: unclaimed %s of %u bytes at %#llx (further ones only counted)",
			b->name, write ? "write" : "read", len, (unsigned long long)addr);
}

bool bus_read(struct bus *b, uint64_t addr, void *data, uint32_t len)
{
	const struct bus_range *r = bus_find(b, addr, len);

	if (!r) {
		if (len)
			memset(data, 0xff, len);
		bus_unclaimed(b, addr, len, false);
		return false;
	}
	memset(data, 0, len);
	r->ops->read(r->ctx, addr - r->base, data, len);
	return true;
}

bool bus_write(struct bus *b, uint64_t addr, const void *data, uint32_t len)
{
	const struct bus_range *r = bus_find(b, addr, len);

	if (!r) {
		bus_unclaimed(b, addr, len, true);
		return false;
	}
	r->ops->write(r->ctx, addr - r->base, data, len);
	return true;
}
