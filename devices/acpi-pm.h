/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_ACPI_PM_H
#define DEVICES_ACPI_PM_H

/*
 * The fixed-hardware PM1a event and control blocks the FADT advertises (ACPI 6.5 §4.8.3).
 * Register at GUEST_PM1A_EVT_BLK, length ACPI_PM_NR_PORTS: the event block (4 bytes) and the
 * control block (2 bytes) sit back to back (base/guest-abi.h).
 *   [0..1] PM1_STS  write-1-to-clear; we raise no events except WAK_STS (below)
 *   [2..3] PM1_EN   plain storage (there is no SCI source behind it)
 *   [4..5] PM1_CNT  SCI_EN (bit 0) always reads 1: ACPI mode is on from boot, there is no SMI
 *                   handler to hand over from. SLP_EN (bit 13, write-only) with
 *                   SLP_TYP == GUEST_ACPI_S5_TYP -> VM_REQ_POWEROFF. Other sleep types are
 *                   not supported: logged once, and WAK_STS is set at once, so the guest
 *                   "wakes" immediately instead of polling WAK_STS forever (ACPICA's
 *                   acpi_hw_legacy_sleep() spins on it after writing SLP_EN).
 * Accesses of 1, 2 or 4 bytes at any offset are taken byte by byte. Any thread; ctl.request
 * is called outside the lock.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/contracts.h"

#define ACPI_PM_NR_PORTS	6

struct acpi_pm {
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	struct vm_control ctl;
	bool warned_sleep;	/* unsupported sleep type already logged */
};

void acpi_pm_init(struct acpi_pm *p, struct vm_control ctl);
void acpi_pm_exit(struct acpi_pm *p);
extern const struct bus_dev_ops acpi_pm_bus_ops;	/* ctx = struct acpi_pm * */

#endif
