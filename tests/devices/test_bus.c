// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "devices/bus.h"

/* A device that records the last access it saw. */
struct rec {
	int calls;
	bool write;
	uint64_t off;
	uint32_t len;
	uint8_t wdata[8];
	bool zeroed;		/* read buffer was all zeros on entry */
};

static void rec_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	struct rec *r = ctx;
	uint8_t *p = data;

	r->calls++;
	r->write = false;
	r->off = off;
	r->len = len;
	r->zeroed = true;
	for (uint32_t i = 0; i < len; i++)
		r->zeroed &= p[i] == 0;
}

static void rec_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct rec *r = ctx;

	r->calls++;
	r->write = true;
	r->off = off;
	r->len = len;
	memcpy(r->wdata, data, len < 8 ? len : 8);
}

static const struct bus_dev_ops rec_ops = { .read = rec_read, .write = rec_write };

static struct bus b;

static char last_line[256];
static void keep_sink(void *ctx, enum log_level lvl, const char *line)
{
	(void)ctx; (void)lvl;
	snprintf(last_line, sizeof(last_line), "%s", line);
}

static void setup(void)
{
	bus_init(&b, "test");
}

TestSuite(bus, .init = setup);

Test(bus, zero_length_range_is_refused)
{
	struct rec d = { 0 };

	cr_expect_eq(bus_register(&b, 0x100, 0, &rec_ops, &d, "d"), -EINVAL);
	cr_expect_eq(b.nr, 0);
}

Test(bus, wrapping_range_is_refused)
{
	struct rec d = { 0 };

	cr_expect_eq(bus_register(&b, UINT64_MAX - 1, 3, &rec_ops, &d, "d"), -EINVAL);
	cr_expect_eq(bus_register(&b, 1, UINT64_MAX, &rec_ops, &d, "d"), -EINVAL);
	/* base + len == 2^64 also wraps to 0 */
	cr_expect_eq(bus_register(&b, UINT64_MAX - 0xfff, 0x1000, &rec_ops, &d, "d"), -EINVAL);
	cr_expect_eq(b.nr, 0);
	cr_expect_eq(bus_register(&b, UINT64_MAX - 0xfff, 0xfff, &rec_ops, &d, "d"), 0);
}

Test(bus, null_ops_are_refused)
{
	static const struct bus_dev_ops half = { .read = rec_read };

	cr_expect_eq(bus_register(&b, 0x100, 1, NULL, NULL, "d"), -EINVAL);
	cr_expect_eq(bus_register(&b, 0x100, 1, &half, NULL, "d"), -EINVAL);
	cr_expect_eq(b.nr, 0);
}

Test(bus, overlapping_ranges_are_refused)
{
	struct rec d = { 0 };

	log_set_sink(keep_sink, NULL);	/* the overlap messages are expected: keep stderr quiet */
	cr_assert_eq(bus_register(&b, 0x100, 0x10, &rec_ops, &d, "a"), 0);
	cr_expect_eq(bus_register(&b, 0x0f8, 0x10, &rec_ops, &d, "left"), -EEXIST);
	cr_expect_eq(bus_register(&b, 0x108, 0x10, &rec_ops, &d, "right"), -EEXIST);
	cr_expect_eq(bus_register(&b, 0x104, 0x4, &rec_ops, &d, "inside"), -EEXIST);
	cr_expect_eq(bus_register(&b, 0x0f0, 0x40, &rec_ops, &d, "covering"), -EEXIST);
	cr_expect_eq(bus_register(&b, 0x100, 0x10, &rec_ops, &d, "same"), -EEXIST);
	cr_expect_eq(bus_register(&b, 0x10f, 1, &rec_ops, &d, "last byte"), -EEXIST);
	cr_expect_eq(b.nr, 1);
	/* Touching is not overlapping. */
	cr_expect_eq(bus_register(&b, 0x0f0, 0x10, &rec_ops, &d, "below"), 0);
	cr_expect_eq(bus_register(&b, 0x110, 0x10, &rec_ops, &d, "above"), 0);
	cr_expect_eq(b.nr, 3);
	log_set_sink(NULL, NULL);
}

Test(bus, overlap_message_names_both_devices)
{
	struct rec d = { 0 };

	log_set_sink(keep_sink, NULL);
	cr_assert_eq(bus_register(&b, 0x60, 5, &rec_ops, &d, "i8042"), 0);
	cr_expect_eq(bus_register(&b, 0x64, 1, &rec_ops, &d, "intruder"), -EEXIST);
	log_set_sink(NULL, NULL);
	cr_expect(strstr(last_line, "i8042") && strstr(last_line, "intruder"), "message: %s",
		  last_line);
}

Test(bus, full_table_is_refused)
{
	struct rec d = { 0 };

	for (unsigned int i = 0; i < BUS_MAX_DEVS; i++)
		cr_assert_eq(bus_register(&b, 0x1000 + 0x10 * i, 0x10, &rec_ops, &d, "d"), 0);
	cr_expect_eq(bus_register(&b, 0, 0x10, &rec_ops, &d, "one too many"), -ENOSPC);
	cr_expect_eq(b.nr, BUS_MAX_DEVS);
}

Test(bus, table_is_sorted_whatever_the_registration_order)
{
	struct rec d = { 0 };
	const uint64_t bases[] = { 0x500, 0x100, 0x300, 0x700, 0x000 };

	for (unsigned int i = 0; i < 5; i++)
		cr_assert_eq(bus_register(&b, bases[i], 0x10, &rec_ops, &d, "d"), 0);
	for (unsigned int i = 1; i < b.nr; i++)
		cr_expect_lt(b.r[i - 1].base, b.r[i].base);
}

Test(bus, first_and_last_byte_reach_the_device_with_offsets)
{
	struct rec d = { 0 };
	uint8_t buf[4];

	cr_assert_eq(bus_register(&b, 0x3f8, 8, &rec_ops, &d, "com1"), 0);
	cr_expect(bus_read(&b, 0x3f8, buf, 1));
	cr_expect_eq(d.off, 0);
	cr_expect(bus_write(&b, 0x3ff, "\x5a", 1));
	cr_expect_eq(d.off, 7);
	cr_expect_eq(d.wdata[0], 0x5a);
	cr_expect(bus_read(&b, 0x3fc, buf, 4));	/* ends exactly on the last byte */
	cr_expect_eq(d.off, 4);
	cr_expect_eq(d.len, 4);
	cr_expect_eq(d.calls, 3);
	cr_expect(!bus_read(&b, 0x3f7, buf, 1));
	cr_expect(!bus_read(&b, 0x400, buf, 1));
	cr_expect_eq(d.calls, 3);
}

Test(bus, access_straddling_the_end_is_unclaimed)
{
	struct rec d = { 0 }, next = { 0 };
	uint8_t buf[4] = { 0 };

	cr_assert_eq(bus_register(&b, 0x70, 2, &rec_ops, &d, "rtc"), 0);
	cr_assert_eq(bus_register(&b, 0x72, 2, &rec_ops, &next, "next"), 0);
	cr_expect(!bus_read(&b, 0x71, buf, 2));
	cr_expect(!bus_write(&b, 0x71, buf, 4));
	cr_expect(!bus_read(&b, 0x6f, buf, 2));	/* straddles the start */
	cr_expect_eq(d.calls + next.calls, 0);
	cr_expect_eq(b.stats.unclaimed_reads, 2);
	cr_expect_eq(b.stats.unclaimed_writes, 1);
}

Test(bus, access_at_top_of_address_space_does_not_wrap)
{
	struct rec d = { 0 };
	uint8_t buf[8];

	cr_assert_eq(bus_register(&b, 0, 0x10, &rec_ops, &d, "low"), 0);
	/* UINT64_MAX .. UINT64_MAX + 7 would wrap onto "low" if the check were careless. */
	cr_expect(!bus_read(&b, UINT64_MAX, buf, 8));
	cr_expect(!bus_write(&b, UINT64_MAX - 3, buf, 8));
	cr_expect_eq(d.calls, 0);
}

Test(bus, unclaimed_read_returns_all_ones_and_counts)
{
	uint8_t buf[8];

	memset(buf, 0, sizeof(buf));
	cr_expect(!bus_read(&b, 0x80, buf, 8));
	for (int i = 0; i < 8; i++)
		cr_expect_eq(buf[i], 0xff);
	cr_expect_eq(b.stats.unclaimed_reads, 1);
	cr_expect_eq(b.stats.unclaimed_writes, 0);
}

Test(bus, unclaimed_write_counts)
{
	uint32_t v = 1;

	cr_expect(!bus_write(&b, 0x80, &v, 4));
	cr_expect(!bus_write(&b, 0x81, &v, 1));
	cr_expect_eq(b.stats.unclaimed_writes, 2);
	cr_expect_eq(b.stats.unclaimed_reads, 0);
}

Test(bus, len_0_and_len_9_are_refused)
{
	struct rec d = { 0 };
	uint8_t buf[9] = { 0 };

	cr_assert_eq(bus_register(&b, 0x1000, 0x100, &rec_ops, &d, "wide"), 0);
	cr_expect(!bus_read(&b, 0x1000, buf, 0));
	cr_expect(!bus_read(&b, 0x1000, buf, 9));
	cr_expect(!bus_write(&b, 0x1000, buf, 0));
	cr_expect(!bus_write(&b, 0x1000, buf, 9));
	cr_expect_eq(d.calls, 0);
	cr_expect_eq(buf[8], 0xff);
	cr_expect_eq(b.stats.unclaimed_reads, 2);
	cr_expect_eq(b.stats.unclaimed_writes, 2);
	cr_expect(bus_read(&b, 0x1000, buf, 8));
}

Test(bus, read_buffer_is_zeroed_before_dispatch)
{
	struct rec d = { 0 };
	uint8_t buf[8];

	cr_assert_eq(bus_register(&b, 0xd000, 0x100, &rec_ops, &d, "d"), 0);
	memset(buf, 0xaa, sizeof(buf));
	cr_expect(bus_read(&b, 0xd010, buf, 8));
	cr_expect(d.zeroed);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(buf[i], 0);
}

static int info_lines;
static void count_sink(void *ctx, enum log_level lvl, const char *line)
{
	(void)ctx; (void)line;
	if (lvl == LOG_INFO)
		info_lines++;
}

Test(bus, verbose_bus_logs_the_first_unclaimed_access_only)
{
	uint8_t buf[1];

	log_set_sink(count_sink, NULL);
	log_set_level(LOG_INFO);
	for (int i = 0; i < 100; i++)
		bus_read(&b, 0x80, buf, 1);
	cr_expect_eq(info_lines, 0);	/* not verbose: counted only */
	b.verbose = true;
	for (int i = 0; i < 100; i++)
		bus_write(&b, 0x80, buf, 1);
	log_set_sink(NULL, NULL);
	cr_expect_eq(info_lines, 1);
	cr_expect_eq(b.stats.unclaimed_reads, 100);
	cr_expect_eq(b.stats.unclaimed_writes, 100);
}

/*
 * Many devices at random places, in random order: every random access must go where a plain
 * scan over all ranges says it goes (or nowhere).
 */
Test(bus, many_devices_binary_search_matches_brute_force)
{
	static struct rec devs[BUS_MAX_DEVS];
	uint64_t base[BUS_MAX_DEVS], len[BUS_MAX_DEVS], at = 0x1000;
	unsigned int order[BUS_MAX_DEVS];

	srand(12345);
	for (unsigned int i = 0; i < BUS_MAX_DEVS; i++) {
		at += (uint64_t)(rand() % 3) * (1 + rand() % 64);	/* gaps, sometimes none */
		base[i] = at;
		len[i] = 1 + (uint64_t)(rand() % 32);
		at += len[i];
		order[i] = i;
	}
	for (unsigned int i = BUS_MAX_DEVS - 1; i > 0; i--) {
		unsigned int j = (unsigned int)rand() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned int i = 0; i < BUS_MAX_DEVS; i++) {
		unsigned int k = order[i];

		cr_assert_eq(bus_register(&b, base[k], len[k], &rec_ops, &devs[k], "d"), 0);
	}

	for (int n = 0; n < 200000; n++) {
		uint64_t addr = 0x0f00 + (uint64_t)(rand() % (int)(at - 0x0f00 + 0x100));
		uint32_t alen = 1 + (uint32_t)(rand() % 8);
		int want = -1, calls[BUS_MAX_DEVS];
		uint8_t buf[8] = { 0 };
		bool got;

		for (unsigned int i = 0; i < BUS_MAX_DEVS; i++) {
			calls[i] = devs[i].calls;
			if (addr >= base[i] && addr + alen <= base[i] + len[i])
				want = (int)i;
		}
		got = (n & 1) ? bus_write(&b, addr, buf, alen) : bus_read(&b, addr, buf, alen);
		cr_assert_eq(got, want >= 0, "addr %#llx len %u", (unsigned long long)addr, alen);
		for (unsigned int i = 0; i < BUS_MAX_DEVS; i++)
			cr_assert_eq(devs[i].calls - calls[i], (int)i == want,
				     "dev %u, addr %#llx len %u", i, (unsigned long long)addr, alen);
		if (want >= 0)
			cr_assert_eq(devs[want].off, addr - base[want]);
	}
}

static void *unclaimed_reader(void *arg)
{
	uint8_t buf[2];

	for (int i = 0; i < 100000; i++)
		bus_read(arg, 0x80, buf, 2);
	return NULL;
}

Test(bus, concurrent_unclaimed_reads_are_all_counted)
{
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, unclaimed_reader, &b), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	cr_expect_eq(b.stats.unclaimed_reads, 200000);
}
