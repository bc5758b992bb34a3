/* SPDX-License-Identifier: MIT */
#ifndef BASE_GUEST_ABI_H
#define BASE_GUEST_ABI_H

/*
 * Constants shared by the VMM and the freestanding test guests (guest-tests/). No includes:
 * this file must compile with -ffreestanding.
 */

/* QEMU isa-debug-exit compatible: a write of v ends the VM with status (v << 1) | 1. */
#define GUEST_EXIT_PORT		0xf4
#define GUEST_EXIT_WIDTH	4

#define GUEST_COM1_BASE		0x3f8
#define GUEST_COM1_IRQ		4

/* ACPI PM1a blocks advertised in the FADT (same values as QEMU's microvm/ich9 are not needed). */
#define GUEST_PM1A_EVT_BLK	0x600	/* 4 bytes: status, enable */
#define GUEST_PM1A_CNT_BLK	0x604	/* 2 bytes */
#define GUEST_ACPI_S5_TYP	5	/* SLP_TYP value for S5 in the DSDT's \_S5 package */
#define GUEST_PM1_SLP_EN	(1u << 13)
#define GUEST_PM1_SLP_TYP_SHIFT	10

#define GUEST_RESET_PORT_CF9	0xcf9
#define GUEST_I8042_CMD_PORT	0x64

#endif
