/* SPDX-License-Identifier: MIT */
#ifndef ARCH_X86_MPTABLE_DEFS_H
#define ARCH_X86_MPTABLE_DEFS_H

/*
 * Wire formats of the Intel MultiProcessor Specification 1.4 (chapter 4) that mptable.c
 * writes. Private to arch/x86/ and tests/arch/.
 */
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define MPF_SIGNATURE	"_MP_"
#define MPC_SIGNATURE	"PCMP"
#define MP_SPEC_REV	4		/* 1.4 */

/* §4.1, table 4-1: MP Floating Pointer Structure. */
struct mpf_intel {
	char signature[4];
	uint32_t physptr;		/* configuration table address */
	uint8_t length;			/* 1 (16-byte units) */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature1;		/* 0: configuration table present */
	uint8_t feature2;		/* bit 7 IMCRP */
	uint8_t feature3, feature4, feature5;
} __packed;
BUILD_BUG_ON(sizeof(struct mpf_intel) != 16);

/* §4.2, table 4-2: MP Configuration Table Header. */
struct mpc_table {
	char signature[4];
	uint16_t length;		/* base table, header included */
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;		/* entry count */
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __packed;
BUILD_BUG_ON(sizeof(struct mpc_table) != 44);

/* Entry types, table 4-3. */
#define MP_PROCESSOR	0
#define MP_BUS		1
#define MP_IOAPIC	2
#define MP_INTSRC	3
#define MP_LINTSRC	4

struct mpc_cpu {			/* §4.3.1, 20 bytes */
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;		/* signature: stepping, model, family */
	uint32_t featureflag;		/* CPUID.1:EDX */
	uint32_t reserved[2];
} __packed;
BUILD_BUG_ON(sizeof(struct mpc_cpu) != 20);
#define MP_CPU_ENABLED	(1u << 0)
#define MP_CPU_BSP	(1u << 1)

struct mpc_bus {			/* §4.3.2 */
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __packed;
BUILD_BUG_ON(sizeof(struct mpc_bus) != 8);

struct mpc_ioapic {			/* §4.3.3 */
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;			/* bit 0 EN */
	uint32_t apicaddr;
} __packed;
BUILD_BUG_ON(sizeof(struct mpc_ioapic) != 8);
#define MP_IOAPIC_USABLE (1u << 0)

/* §4.3.4 I/O and §4.3.5 local interrupt assignment: the same 8-byte shape. */
struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;		/* PO bits 1:0, EL bits 3:2 */
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;		/* IOAPIC id, or LAPIC id (0xff = all) */
	uint8_t dstirq;			/* INTIN# or LINTIN# */
} __packed;
BUILD_BUG_ON(sizeof(struct mpc_intsrc) != 8);

#define MP_INT		0
#define MP_NMI		1
#define MP_SMI		2
#define MP_EXTINT	3

#define MP_IRQ_CONFORMS		0x0
#define MP_IRQ_ACTIVE_HIGH	0x1
#define MP_IRQ_ACTIVE_LOW	0x3
#define MP_IRQ_EDGE		(0x1 << 2)
#define MP_IRQ_LEVEL		(0x3 << 2)

#endif
