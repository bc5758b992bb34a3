// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <time.h>

#include "devices/rtc.h"

static struct rtc r;

static void setup(void)
{
	rtc_init(&r);
}

static void teardown(void)
{
	rtc_exit(&r);
}

TestSuite(rtc, .init = setup, .fini = teardown);

static uint8_t cmos_read(uint8_t idx)
{
	uint8_t v = 0;

	rtc_bus_ops.write(&r, 0, &idx, 1);
	rtc_bus_ops.read(&r, 1, &v, 1);
	return v;
}

static void cmos_write(uint8_t idx, uint8_t v)
{
	rtc_bus_ops.write(&r, 0, &idx, 1);
	rtc_bus_ops.write(&r, 1, &v, 1);
}

static bool is_bcd(uint8_t v)
{
	return (v & 0x0f) < 10 && (v >> 4) < 10;
}

static unsigned int bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

Test(rtc, returns_bcd_time_from_the_host_clock)
{
	uint8_t sec, min, hour, wday, mday, mon, year, cent;
	struct tm tm;
	time_t t;

	/* Retry if a second boundary falls between the reads and the host's clock. */
	for (int tries = 0; tries < 5; tries++) {
		sec = cmos_read(0x00);
		min = cmos_read(0x02);
		hour = cmos_read(0x04);
		wday = cmos_read(0x06);
		mday = cmos_read(0x07);
		mon = cmos_read(0x08);
		year = cmos_read(0x09);
		cent = cmos_read(0x32);
		t = time(NULL);
		if (cmos_read(0x00) == sec)
			break;
	}
	gmtime_r(&t, &tm);
	cr_expect(is_bcd(sec) && is_bcd(min) && is_bcd(hour) && is_bcd(mday) && is_bcd(mon) &&
		  is_bcd(year) && is_bcd(cent));
	cr_expect_eq(bcd(sec), (unsigned int)tm.tm_sec);
	cr_expect_eq(bcd(min), (unsigned int)tm.tm_min);
	cr_expect_eq(bcd(hour), (unsigned int)tm.tm_hour, "24-hour mode by default");
	cr_expect_eq(wday, tm.tm_wday + 1);
	cr_expect_eq(bcd(mday), (unsigned int)tm.tm_mday);
	cr_expect_eq(bcd(mon), (unsigned int)tm.tm_mon + 1);
	cr_expect_eq(bcd(cent) * 100 + bcd(year), (unsigned int)tm.tm_year + 1900);
}

Test(rtc, binary_mode_when_the_guest_sets_dm)
{
	uint8_t year;
	struct tm tm;
	time_t t = time(NULL);

	cmos_write(0x0b, 0x06);
	year = cmos_read(0x09);
	gmtime_r(&t, &tm);
	cr_expect_eq(year, (tm.tm_year + 1900) % 100);
}

Test(rtc, status_registers_say_valid_and_not_updating)
{
	cr_expect_eq(cmos_read(0x0a) & 0x80, 0, "UIP must read 0");
	cmos_write(0x0a, 0xa6);
	cr_expect_eq(cmos_read(0x0a), 0x26, "UIP is read-only");
	cr_expect_eq(cmos_read(0x0b) & 0x06, 0x02, "BCD, 24-hour");
	cr_expect_eq(cmos_read(0x0c), 0);
	cr_expect_eq(cmos_read(0x0d), 0x80, "VRT: RAM and time valid");
	cmos_write(0x0d, 0x00);
	cr_expect_eq(cmos_read(0x0d), 0x80);
}

Test(rtc, register_index_wraps_at_0x80)
{
	cmos_write(0x0f, 0x0a);		/* shutdown status: plain storage */
	cr_expect_eq(cmos_read(0x0f), 0x0a);
	/* Bit 7 is the NMI mask: 0x8f must reach register 0x0f, never cmos[0x8f]. */
	cr_expect_eq(cmos_read(0x8f), 0x0a);
	cmos_write(0xff, 0x5a);
	cr_expect_eq(cmos_read(0x7f), 0x5a);
	cr_expect_eq(r.index, 0x7f);
}

Test(rtc, time_writes_are_ignored)
{
	uint8_t before = cmos_read(0x09);

	cmos_write(0x09, 0x99);
	cmos_write(0x00, 0x99);
	cr_expect_eq(cmos_read(0x09), before);
	cr_expect_neq(cmos_read(0x00), 0x99);
}

Test(rtc, plain_cmos_bytes_are_storage)
{
	for (unsigned int i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			cmos_write((uint8_t)i, (uint8_t)(i ^ 0xa5));
	for (unsigned int i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			cr_expect_eq(cmos_read((uint8_t)i), (uint8_t)(i ^ 0xa5), "reg %#x", i);
}
