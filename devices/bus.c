// SPDX-License-Identifier: MIT
/*
 * Address-range bus. Lookups are lock-free; the table changes under a seqlock (bus.h). The
 * fence pairing is the classic one (Boehm, "Can seqlocks get along with programming language
 * memory models?", 2012): the writer makes `seq` odd, then a release fence, then its relaxed
 * stores; the reader makes its relaxed loads, then an acquire fence, then re-reads `seq`. A
 * reader that saw any store of a change therefore also sees the odd `seq` and retries.
 */
#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "devices/bus.h"

#define LD(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

void bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name ? name : "bus";
	pthread_mutex_init(&b->wlock, NULL);	/* default mutex: nothing to destroy on Linux */
}

/* a < b+lb && b < a+la, with both ends known not to wrap (checked at registration). */
static bool ranges_overlap(uint64_t a, uint64_t la, uint64_t b, uint64_t lb)
{
	return a < b + lb && b < a + la;
}

static void range_store(struct bus_range *dst, const struct bus_range *src)
{
	ST(dst->base, src->base);
	ST(dst->len, src->len);
	ST(dst->ops, src->ops);
	ST(dst->ctx, src->ctx);
	ST(dst->name, src->name);
}

static void range_load(struct bus_range *dst, const struct bus_range *src)
{
	dst->base = LD(src->base);
	dst->len = LD(src->len);
	dst->ops = LD(src->ops);
	dst->ctx = LD(src->ctx);
	dst->name = LD(src->name);
}

/* wlock held. */
static void bus_write_begin(struct bus *b)
{
	ST(b->seq, b->seq + 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void bus_write_end(struct bus *b)
{
	__atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELEASE);
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_dev_ops *ops,
		 void *ctx, const char *devname)
{
	const struct bus_range add = {
		.base = base, .len = len, .ops = ops, .ctx = ctx, .name = devname ? devname : "?",
	};
	uint64_t end;
	unsigned int i, pos;
	int ret = 0;

	if (!len || !ops || !ops->read || !ops->write || __builtin_add_overflow(base, len, &end))
		return -EINVAL;

	pthread_mutex_lock(&b->wlock);
	/* Registration is rare and the table small: a plain scan finds the culprit's name. */
	for (i = 0; i < b->nr; i++) {
		const struct bus_range *r = &b->r[i];

		if (ranges_overlap(base, len, r->base, r->len)) {
			/* Rate-limited: a guest moving a PCI BAR can get here in a loop. */
			log_ratelimited(&b->rl, LOG_ERROR,
					"%s bus: %s [%#llx, %#llx) overlaps %s [%#llx, %#llx)",
					b->name, add.name, (unsigned long long)base,
					(unsigned long long)end, r->name,
					(unsigned long long)r->base,
					(unsigned long long)(r->base + r->len));
			ret = -EEXIST;
			goto out;
		}
	}
	if (b->nr >= BUS_MAX_DEVS) {
		ret = -ENOSPC;
		goto out;
	}

	for (pos = 0; pos < b->nr && b->r[pos].base < base; pos++)
		;
	bus_write_begin(b);
	for (i = b->nr; i > pos; i--)
		range_store(&b->r[i], &b->r[i - 1]);
	range_store(&b->r[pos], &add);
	ST(b->nr, b->nr + 1);
	bus_write_end(b);
out:
	pthread_mutex_unlock(&b->wlock);
	return ret;
}

int bus_unregister(struct bus *b, uint64_t base, uint64_t len)
{
	unsigned int i, pos;
	int ret = -ENOENT;

	pthread_mutex_lock(&b->wlock);
	for (pos = 0; pos < b->nr; pos++)
		if (b->r[pos].base == base && b->r[pos].len == len)
			break;
	if (pos < b->nr) {
		bus_write_begin(b);
		for (i = pos; i + 1 < b->nr; i++)
			range_store(&b->r[i], &b->r[i + 1]);
		range_store(&b->r[b->nr - 1], &(struct bus_range){ 0 });
		ST(b->nr, b->nr - 1);
		bus_write_end(b);
		ret = 0;
	}
	pthread_mutex_unlock(&b->wlock);
	return ret;
}

/*
 * Binary search for the range holding all of addr .. addr + len - 1, copied into *out. Ranges
 * are sorted and disjoint, so only the last one with base <= addr can hold addr. Runs inside
 * a seqlock read section: the table may be half-changed, so every index stays bounded and the
 * caller retries if `seq` moved.
 */
static bool bus_find(const struct bus *b, uint64_t addr, uint32_t len, struct bus_range *out)
{
	unsigned int lo = 0, hi = LD(b->nr);
	uint64_t off;

	if (hi > BUS_MAX_DEVS)
		hi = BUS_MAX_DEVS;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (LD(b->r[mid].base) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	range_load(out, &b->r[lo - 1]);
	off = addr - out->base;
	/* off < len and off + len <= r->len, written so nothing can wrap. */
	return out->ops && off < out->len && len <= out->len - off;
}

static bool bus_lookup(struct bus *b, uint64_t addr, uint32_t len, struct bus_range *out)
{
	unsigned int seq;
	bool found;

	if (len == 0 || len > BUS_MAX_ACCESS)
		return false;
	for (;;) {
		seq = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
		if (seq & 1) {
			__builtin_ia32_pause();	/* a writer is at work: a few stores */
			continue;
		}
		found = bus_find(b, addr, len, out);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (LD(b->seq) == seq)
			return found;
	}
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
	struct bus_range r;

	if (!bus_lookup(b, addr, len, &r)) {
		if (len)
			memset(data, 0xff, len);
		bus_unclaimed(b, addr, len, false);
		return false;
	}
	memset(data, 0, len);
	r.ops->read(r.ctx, addr - r.base, data, len);
	return true;
}

bool bus_write(struct bus *b, uint64_t addr, const void *data, uint32_t len)
{
	struct bus_range r;

	if (!bus_lookup(b, addr, len, &r)) {
		bus_unclaimed(b, addr, len, true);
		return false;
	}
	r.ops->write(r.ctx, addr - r.base, data, len);
	return true;
}
