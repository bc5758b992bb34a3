// SPDX-License-Identifier: MIT
/* Register map: Motorola MC146818A datasheet, "Address Map" and "Register A-D" sections. */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "devices/rtc.h"

#define RTC_SECONDS	0x00
#define RTC_MINUTES	0x02
#define RTC_HOURS	0x04
#define RTC_WDAY	0x06
#define RTC_MDAY	0x07
#define RTC_MONTH	0x08
#define RTC_YEAR	0x09
#define RTC_REG_A	0x0a
#define RTC_REG_B	0x0b
#define RTC_REG_C	0x0c
#define RTC_REG_D	0x0d
#define RTC_CENTURY	0x32	/* the PC convention; the FADT's CENTURY field may name it */

#define A_UIP		0x80
#define A_DEFAULT	0x26	/* 32.768 kHz time base, 1024 Hz periodic rate */
#define B_24H		0x02
#define B_DM_BINARY	0x04
#define D_VRT		0x80

#define INDEX_MASK	0x7f	/* bit 7 of the index port is the NMI mask on PCs */

void rtc_init(struct rtc *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->cmos[RTC_REG_A] = A_DEFAULT;
	r->cmos[RTC_REG_B] = B_24H;
	r->cmos[RTC_REG_D] = D_VRT;
}

void rtc_exit(struct rtc *r)
{
	pthread_mutex_destroy(&r->lock);
}

static uint8_t rtc_encode(const struct rtc *r, unsigned int v)
{
	if (r->cmos[RTC_REG_B] & B_DM_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static bool rtc_is_clock_reg(uint8_t reg)
{
	switch (reg) {
	case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS: case RTC_WDAY:
	case RTC_MDAY: case RTC_MONTH: case RTC_YEAR: case RTC_CENTURY:
		return true;
	default:
		return false;
	}
}

/* reg is a clock register: its value now, from the host's UTC clock. */
static uint8_t rtc_clock_read(const struct rtc *r, uint8_t reg)
{
	time_t t = time(NULL);
	unsigned int h;
	struct tm tm;
	uint8_t v;

	if (!gmtime_r(&t, &tm))
		return 0;
	switch (reg) {
	case RTC_SECONDS:
		v = rtc_encode(r, (unsigned int)tm.tm_sec);
		break;
	case RTC_MINUTES:
		v = rtc_encode(r, (unsigned int)tm.tm_min);
		break;
	case RTC_HOURS:
		if (r->cmos[RTC_REG_B] & B_24H) {
			v = rtc_encode(r, (unsigned int)tm.tm_hour);
			break;
		}
		/* 12-hour mode: 12, 1 .. 11 with bit 7 set for PM. */
		h = (unsigned int)tm.tm_hour % 12;
		v = (uint8_t)(rtc_encode(r, h ? h : 12) | (tm.tm_hour >= 12 ? 0x80 : 0));
		break;
	case RTC_WDAY:
		v = rtc_encode(r, (unsigned int)tm.tm_wday + 1);	/* Sunday = 1 */
		break;
	case RTC_MDAY:
		v = rtc_encode(r, (unsigned int)tm.tm_mday);
		break;
	case RTC_MONTH:
		v = rtc_encode(r, (unsigned int)tm.tm_mon + 1);
		break;
	case RTC_YEAR:
		v = rtc_encode(r, (unsigned int)(tm.tm_year + 1900) % 100);
		break;
	default:
		v = rtc_encode(r, (unsigned int)(tm.tm_year + 1900) / 100);
		break;
	}
	return v;
}

static uint8_t rtc_read_reg(struct rtc *r, uint8_t reg)
{
	if (rtc_is_clock_reg(reg))
		return rtc_clock_read(r, reg);
	switch (reg) {
	case RTC_REG_A:
		return r->cmos[reg] & ~A_UIP;	/* we never update: time is read fresh */
	case RTC_REG_C:
		return 0;
	case RTC_REG_D:
		return D_VRT;
	default:
		return r->cmos[reg];
	}
}

static void rtc_write_reg(struct rtc *r, uint8_t reg, uint8_t val)
{
	if (rtc_is_clock_reg(reg))
		return;
	switch (reg) {
	case RTC_REG_A:
		r->cmos[reg] = val & ~A_UIP;
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break;		/* read-only */
	default:
		r->cmos[reg] = val;
		break;
	}
}

static void rtc_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	struct rtc *r = ctx;
	uint8_t *p = data;

	if (!len)
		return;
	pthread_mutex_lock(&r->lock);
	if (off == 0)
		p[0] = r->index;	/* write-only on real chipsets; harmless to echo */
	else if (off == 1)
		p[0] = rtc_read_reg(r, r->index);
	pthread_mutex_unlock(&r->lock);
}

static void rtc_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct rtc *r = ctx;
	uint8_t val;

	if (!len)
		return;
	val = ((const uint8_t *)data)[0];
	pthread_mutex_lock(&r->lock);
	if (off == 0)
		r->index = val & INDEX_MASK;
	else if (off == 1)
		rtc_write_reg(r, r->index, val);
	pthread_mutex_unlock(&r->lock);
}

const struct bus_dev_ops rtc_bus_ops = {
	.read = rtc_read,
	.write = rtc_write,
};
