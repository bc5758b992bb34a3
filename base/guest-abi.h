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

/*
 * Interrupt generator (devices/irqgen.h), the host side of guest-tests/x86/latency-irq.c; our
 * VMM only (--irqgen). Port I/O, 32-bit registers, 4-byte accesses at 4-byte offsets only.
 * 0x510-0x51b is QEMU's fw_cfg, hence 0x520.
 */
#define GUEST_IRQGEN_BASE		0x520
#define GUEST_IRQGEN_LEN		0x40
#define IRQGEN_ID			0x47515249	/* "IRQG" */
#define IRQGEN_REG_ID			0x00	/* R: IRQGEN_ID */
#define IRQGEN_REG_CTRL			0x04	/* W: 1 start, 0 stop; R: IRQGEN_STS_* */
#define IRQGEN_REG_PERIOD_US		0x08	/* RW: IRQGEN_MIN_PERIOD_US..IRQGEN_MAX_PERIOD_US */
#define IRQGEN_REG_STAMP_LO		0x0c	/* RW: stamp page guest-physical address, */
#define IRQGEN_REG_STAMP_HI		0x10	/*     4 KiB aligned */
#define IRQGEN_REG_MSI_ADDR_LO		0x14	/* RW: MSI address; 0 = use the wired line */
#define IRQGEN_REG_MSI_ADDR_HI		0x18
#define IRQGEN_REG_MSI_DATA		0x1c	/* RW: MSI data (x86: the vector in bits 7:0) */
#define IRQGEN_REG_COUNT		0x20	/* R: interrupts raised since the last start */
#define IRQGEN_REG_OVERRUNS		0x24	/* R: periods skipped (the host thread woke late) */
#define IRQGEN_REG_ERRORS		0x28	/* R: failed raises */
#define IRQGEN_REG_TSC_LO		0x2c	/* R: host TSC now; latches the high half for */
#define IRQGEN_REG_TSC_HI		0x30	/* R: this register */
#define IRQGEN_STS_RUNNING		0x1u
#define IRQGEN_STS_ERROR		0x2u	/* the last register write was refused */
#define IRQGEN_MIN_PERIOD_US		10
#define IRQGEN_MAX_PERIOD_US		1000000
/* Stamp page: u64 seq at 0, u64 tsc[IRQGEN_STAMP_SLOTS] from 8. For the n-th interrupt
 * (0-based) the device writes tsc[n % SLOTS] = host TSC, then seq = n + 1, then raises it. */
#define IRQGEN_STAMP_SEQ		0
#define IRQGEN_STAMP_TSC		8
#define IRQGEN_STAMP_SLOTS		511
#define IRQGEN_STAMP_PAGE		4096

#endif
