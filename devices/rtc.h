/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_RTC_H
#define DEVICES_RTC_H

/*
 * MC146818 RTC + CMOS RAM, as much as Linux reads. Register at 0x70, length RTC_NR_PORTS:
 * 0x70 index (bit 7, NMI disable, is ignored: index = value & 0x7f), 0x71 data.
 * - Time and date (0x00, 0x02, 0x04, 0x06-0x09, century 0x32) come from the host clock in UTC
 *   on every read, in BCD and 24-hour form unless the guest set DM / cleared 24h in status
 *   register B. Writes to them are ignored: guest time always follows the host.
 * - Status A reads "update not in progress" (UIP = 0); B is storage; C reads 0 (no interrupt
 *   sources: the RTC has no interrupt line here); D reads VRT (battery good).
 * - Everything else (alarms, 0x0e-0x7f: shutdown status 0x0f, ...) is plain storage.
 * Any thread.
 */
#include <pthread.h>
#include <stdint.h>

#include "base/contracts.h"

#define RTC_NR_PORTS	2

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[128];
};

void rtc_init(struct rtc *r);
void rtc_exit(struct rtc *r);
extern const struct bus_dev_ops rtc_bus_ops;	/* ctx = struct rtc * */

#endif
