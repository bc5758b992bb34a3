/* SPDX-License-Identifier: MIT */
#ifndef ARCH_X86_ACPI_TABLES_H
#define ARCH_X86_ACPI_TABLES_H

/*
 * Wire formats of the ACPI tables acpi.c writes (ACPI 6.5 §5.2), and the small AML encoder it
 * uses, exposed for the unit tests. Private to arch/x86/ and tests/arch/.
 */
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

/* ACPI 6.5 §5.2.5.3, table 5.3: Root System Description Pointer, revision 2. */
struct acpi_rsdp {
	char signature[8];		/* "RSD PTR " */
	uint8_t checksum;		/* first 20 bytes sum to 0 */
	char oem_id[6];
	uint8_t revision;		/* 2 */
	uint32_t rsdt_addr;
	uint32_t length;		/* 36 */
	uint64_t xsdt_addr;
	uint8_t ext_checksum;		/* all 36 bytes sum to 0 */
	uint8_t reserved[3];
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_rsdp) != 36);
BUILD_BUG_ON(offsetof(struct acpi_rsdp, xsdt_addr) != 24);

/* ACPI 6.5 §5.2.6, table 5.4: System Description Table Header. */
struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_header) != 36);

/* ACPI 6.5 §5.2.3.2, table 5.1: Generic Address Structure. */
struct acpi_gas {
	uint8_t space_id;		/* 1 = System I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;		/* 1 byte, 2 word, 3 dword, 4 qword */
	uint64_t address;
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_gas) != 12);

/* ACPI 6.5 §5.2.9, table 5.9: Fixed ACPI Description Table, major version 6. */
struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_fadt) != 276);
BUILD_BUG_ON(offsetof(struct acpi_fadt, pm1a_evt_blk) != 56);
BUILD_BUG_ON(offsetof(struct acpi_fadt, iapc_boot_arch) != 109);
BUILD_BUG_ON(offsetof(struct acpi_fadt, flags) != 112);
BUILD_BUG_ON(offsetof(struct acpi_fadt, x_dsdt) != 140);
BUILD_BUG_ON(offsetof(struct acpi_fadt, x_pm1a_evt_blk) != 148);
BUILD_BUG_ON(offsetof(struct acpi_fadt, hypervisor_vendor_id) != 268);

#define ACPI_FADT_WBINVD		(1u << 0)
#define ACPI_FADT_PWR_BUTTON		(1u << 4)	/* 1: no fixed-feature power button */
#define ACPI_FADT_SLP_BUTTON		(1u << 5)
#define ACPI_FADT_RESET_REG_SUP		(1u << 10)
#define ACPI_FADT_HW_REDUCED		(1u << 20)
#define ACPI_IAPC_LEGACY_DEVICES	(1u << 0)
#define ACPI_IAPC_8042			(1u << 1)
#define ACPI_IAPC_VGA_NOT_PRESENT	(1u << 2)

/* ACPI 6.5 §5.2.10, table 5.14: Firmware ACPI Control Structure (no checksum). */
struct acpi_facs {
	char signature[4];		/* "FACS" */
	uint32_t length;		/* 64 */
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;
	uint8_t reserved0[3];
	uint32_t ospm_flags;
	uint8_t reserved1[24];
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_facs) != 64);

/* ACPI 6.5 §5.2.12, table 5.19: MADT header, then interrupt controller structures. */
struct acpi_madt {
	struct acpi_header h;
	uint32_t lapic_addr;
	uint32_t flags;
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_madt) != 44);
#define ACPI_MADT_PCAT_COMPAT		(1u << 0)

#define ACPI_MADT_LAPIC			0
#define ACPI_MADT_IOAPIC		1
#define ACPI_MADT_ISO			2
#define ACPI_MADT_LAPIC_NMI		4

struct acpi_madt_lapic {		/* table 5.22 */
	uint8_t type, length;
	uint8_t acpi_uid;
	uint8_t apic_id;
	uint32_t flags;			/* bit 0 Enabled */
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_madt_lapic) != 8);

struct acpi_madt_ioapic {		/* table 5.24 */
	uint8_t type, length;
	uint8_t id;
	uint8_t reserved;
	uint32_t addr;
	uint32_t gsi_base;
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_madt_ioapic) != 12);

struct acpi_madt_iso {			/* table 5.25 */
	uint8_t type, length;
	uint8_t bus;			/* 0 = ISA */
	uint8_t source;			/* ISA IRQ */
	uint32_t gsi;
	uint16_t flags;			/* MPS INTI flags, table 5.26 */
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_madt_iso) != 10);

struct acpi_madt_lapic_nmi {		/* table 5.30 */
	uint8_t type, length;
	uint8_t acpi_uid;		/* 0xff = all processors */
	uint16_t flags;
	uint8_t lint;
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_madt_lapic_nmi) != 6);

/* MPS INTI flags (ACPI 6.5 table 5.26): polarity bits 1:0, trigger mode bits 3:2. */
#define ACPI_INTI_CONFORMS		0x0
#define ACPI_INTI_ACTIVE_HIGH		0x1
#define ACPI_INTI_ACTIVE_LOW		0x3
#define ACPI_INTI_EDGE			(0x1 << 2)
#define ACPI_INTI_LEVEL			(0x3 << 2)

/*
 * PCI Firmware Specification 3.2 §4.1.2, tables 4-2 and 4-3: MCFG, then one allocation per
 * ECAM range (segment, bus range, base).
 */
struct acpi_mcfg {
	struct acpi_header h;
	uint8_t reserved[8];
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_mcfg) != 44);

struct acpi_mcfg_alloc {
	uint64_t base;			/* ECAM address of bus 0 of this segment */
	uint16_t segment;
	uint8_t start_bus, end_bus;
	uint32_t reserved;
} __packed;
BUILD_BUG_ON(sizeof(struct acpi_mcfg_alloc) != 16);

/* Sum of the bytes, as the checksum rule (ACPI 6.5 §5.2.6) reads them. */
uint8_t acpi_sum(const void *p, size_t len);

/*
 * AML PkgLength (ACPI 6.5 §20.2.4): encodes `content_len` (the bytes after the PkgLength) into
 * out[0..3] and returns how many bytes were used (1..4), or -E2BIG if it cannot be encoded.
 */
int acpi_aml_pkglength(uint8_t out[4], size_t content_len) __must_check;
/* ACPI 6.5 §19.6.43 EISAID("PNP0501") as the 32-bit integer AML stores. */
uint32_t acpi_eisa_id(const char id[7]);

#endif
