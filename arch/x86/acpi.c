// SPDX-License-Identifier: MIT
/*
 * ACPI tables for a legacy-PC-shaped guest (ACPI 6.5, not hardware-reduced): RSDP, RSDT, XSDT,
 * FADT, FACS, DSDT, MADT and MCFG, packed into [LAYOUT_ACPI, LAYOUT_MPTABLE). Each table is built
 * in a host buffer, its checksum is computed over exactly those bytes, and it is copied into
 * guest memory with gm_write. The RSDP sits at LAYOUT_ACPI, 16-byte aligned inside
 * 0xe0000-0xfffff, so the BIOS-area scan (ACPI 6.5 §5.2.5.1) finds it as well as boot_params.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86/acpi-tables.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "base/guest-abi.h"

#define ACPI_OEM_ID		"MINVMM"
#define ACPI_OEM_TABLE_ID	"MINVMM  "
#define ACPI_CREATOR_ID		"MVMM"

#define ACPI_SCI_IRQ		9
#define ACPI_PIT_IRQ		0
#define ACPI_PIT_GSI		2
#define ACPI_IOAPIC_ID		0
#define ACPI_AREA_END		LAYOUT_MPTABLE

/* MADT type-0 entries carry 8-bit APIC ids; 0xff is the broadcast id. */
#define ACPI_MAX_VCPUS		255
#define ACPI_NR_XSDT		3	/* FADT, MADT, MCFG (FADT points to FACS, DSDT) */
#define ACPI_NR_ISO		2
#define ACPI_MADT_MAX_LEN	(sizeof(struct acpi_madt) + \
				 ACPI_MAX_VCPUS * sizeof(struct acpi_madt_lapic) + \
				 sizeof(struct acpi_madt_ioapic) + \
				 ACPI_NR_ISO * sizeof(struct acpi_madt_iso) + \
				 sizeof(struct acpi_madt_lapic_nmi))
#define AML_MAX			512
#define ACPI_MCFG_LEN		(sizeof(struct acpi_mcfg) + sizeof(struct acpi_mcfg_alloc))

/*
 * PCI: one root bridge, segment 0, bus 0 only (devices/pci.c). ECAM for bus 0 is 1 MiB
 * (32 devices x 8 functions x 4 KiB). The 32-bit memory window stops below the virtio-mmio
 * slots, so a guest that reassigns BARs cannot put one over them.
 */
#define ACPI_PCI_LAST_BUS	0
#define ACPI_PCI_ECAM_LEN	((ACPI_PCI_LAST_BUS + 1) * 0x100000u)
#define ACPI_PCI_IO_MIN		0x1000
#define ACPI_PCI_IO_MAX		0xffff
#define ACPI_PCI_MEM_MIN	LAYOUT_PCI_MMIO
#define ACPI_PCI_MEM_MAX	(LAYOUT_VIRTIO_MMIO - 1)
BUILD_BUG_ON(LAYOUT_VIRTIO_MMIO <= LAYOUT_PCI_MMIO || LAYOUT_VIRTIO_MMIO > LAYOUT_PCI_MMIO_END);
BUILD_BUG_ON(ACPI_PCI_ECAM_LEN > LAYOUT_PCI_ECAM_SIZE);

BUILD_BUG_ON(LAYOUT_ACPI % 16 != 0);
BUILD_BUG_ON(LAYOUT_ACPI < 0xe0000 || LAYOUT_MPTABLE > LAYOUT_BIOS_END);
/* The largest table set must fit the area, so a vCPU count we accept can never spill. */
BUILD_BUG_ON(4 * 64 + 64 + sizeof(struct acpi_fadt) + AML_MAX + ACPI_MADT_MAX_LEN +
	     ACPI_MCFG_LEN + 16 > ACPI_AREA_END - LAYOUT_ACPI);

/* AML opcodes (ACPI 6.5 §20.2). */
#define AML_ZERO		0x00
#define AML_ONE			0x01
#define AML_NAME		0x08
#define AML_BYTE		0x0a
#define AML_WORD		0x0b
#define AML_DWORD		0x0c
#define AML_QWORD		0x0e
#define AML_SCOPE		0x10
#define AML_BUFFER		0x11
#define AML_PACKAGE		0x12
#define AML_EXT_PREFIX		0x5b
#define AML_EXT_DEVICE		0x82
#define AML_ROOT_CHAR		'\\'

/* Small resource descriptors (ACPI 6.5 §6.4.2). */
#define RES_IRQ_NOFLAGS		0x22	/* type 4, length 2 */
#define RES_IO			0x47	/* type 8, length 7 */
#define RES_IO_DECODE16		0x01
#define RES_END_TAG		0x79	/* type 0xf, length 1 */

/* Large resource descriptors (ACPI 6.5 §6.4.3). */
#define RES_MEM32_FIXED		0x86	/* §6.4.3.4, 9 bytes follow the length */
#define RES_DWORD_ADDR		0x87	/* §6.4.3.5.2, 23 bytes */
#define RES_WORD_ADDR		0x88	/* §6.4.3.5.3, 13 bytes */
#define RES_ADDR_MEM		0
#define RES_ADDR_IO		1
#define RES_ADDR_BUS		2
#define RES_ADDR_FIXED		0x0c	/* _MIF | _MAF, positive decode, producer */
#define RES_IO_ENTIRE_RANGE	0x03	/* _RNG */
#define RES_MEM_RW		0x01	/* _RW, non-cacheable */

uint8_t acpi_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return s;
}

int acpi_aml_pkglength(uint8_t out[4], size_t content_len)
{
	/* The encoded length counts the PkgLength bytes themselves. */
	for (unsigned int n = 1; n <= 4; n++) {
		size_t total = content_len + n;
		size_t max = n == 1 ? 0x3f : (size_t)1 << (4 + 8 * (n - 1));

		if (content_len > SIZE_MAX - n || total > max - (n == 1 ? 0 : 1))
			continue;
		if (n == 1) {
			out[0] = total;
			return 1;
		}
		out[0] = ((n - 1) << 6) | (total & 0xf);
		for (unsigned int i = 1; i < n; i++)
			out[i] = total >> (4 + 8 * (i - 1));
		return n;
	}
	return -E2BIG;
}

uint32_t acpi_eisa_id(const char id[7])
{
	/* Three letters of 5 bits ('A' = 1) and four hex digits, stored big-endian. */
	uint32_t v = ((uint32_t)(id[0] - '@') & 0x1f) << 26 |
		     ((uint32_t)(id[1] - '@') & 0x1f) << 21 |
		     ((uint32_t)(id[2] - '@') & 0x1f) << 16;

	for (unsigned int i = 3; i < 7; i++) {
		char c = id[i];
		uint32_t d = c >= '0' && c <= '9' ? (uint32_t)(c - '0') :
			     c >= 'A' && c <= 'F' ? (uint32_t)(c - 'A' + 10) : 0;

		v |= d << (4 * (6 - i));
	}
	return __builtin_bswap32(v);
}

/* A byte buffer that records overflow instead of writing past its end. */
struct aml {
	uint8_t b[AML_MAX];
	size_t len;
	bool overflow;
};

static void aml_put(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > sizeof(a->b) - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->b + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t v)
{
	aml_put(a, &v, 1);
}

/* NameSeg: exactly four characters (ACPI 6.5 §20.2.2). */
static void aml_nameseg(struct aml *a, const char seg[4])
{
	aml_put(a, seg, 4);
}

static void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO);
	} else if (v == 1) {
		aml_byte(a, AML_ONE);
	} else if (v <= UINT8_MAX) {
		aml_byte(a, AML_BYTE);
		aml_byte(a, v);
	} else if (v <= UINT16_MAX) {
		uint16_t w = v;

		aml_byte(a, AML_WORD);
		aml_put(a, &w, 2);
	} else if (v <= UINT32_MAX) {
		uint32_t d = v;

		aml_byte(a, AML_DWORD);
		aml_put(a, &d, 4);
	} else {
		aml_byte(a, AML_QWORD);
		aml_put(a, &v, 8);
	}
}

/* Opens a PkgLength-delimited body: returns where it starts, for aml_close(). */
static size_t aml_open(struct aml *a)
{
	return a->len;
}

/* Inserts the PkgLength in front of the body opened at `start` (nesting closes inner first). */
static void aml_close(struct aml *a, size_t start)
{
	size_t body = a->len - start;
	uint8_t pl[4];
	int n;

	if (a->overflow)
		return;
	n = acpi_aml_pkglength(pl, body);
	if (n < 0 || (size_t)n > sizeof(a->b) - a->len) {
		a->overflow = true;
		return;
	}
	memmove(a->b + start + n, a->b + start, body);
	memcpy(a->b + start, pl, n);
	a->len += n;
}

static void aml_name_int(struct aml *a, const char seg[4], uint64_t v)
{
	aml_byte(a, AML_NAME);
	aml_nameseg(a, seg);
	aml_int(a, v);
}

static void aml_name_eisa(struct aml *a, const char seg[4], const char id[7])
{
	uint32_t v = acpi_eisa_id(id);

	aml_byte(a, AML_NAME);
	aml_nameseg(a, seg);
	aml_byte(a, AML_DWORD);			/* EisaId is always a DWordConst */
	aml_put(a, &v, 4);
}

/* Name (seg, Buffer () { bytes }) */
static void aml_name_buffer(struct aml *a, const char seg[4], const void *p, size_t n)
{
	size_t buf;

	aml_byte(a, AML_NAME);
	aml_nameseg(a, seg);
	aml_byte(a, AML_BUFFER);
	buf = aml_open(a);
	aml_int(a, n);				/* BufferSize */
	aml_put(a, p, n);
	aml_close(a, buf);
}

static void le16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* Word Address Space Descriptor, a fixed [min, max] window the bridge produces. */
static uint8_t *res_word(uint8_t *p, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
	p[0] = RES_WORD_ADDR;
	le16(p + 1, 13);
	p[3] = type;
	p[4] = RES_ADDR_FIXED;
	p[5] = tflags;
	le16(p + 6, 0);				/* granularity */
	le16(p + 8, min);
	le16(p + 10, max);
	le16(p + 12, 0);			/* translation */
	le16(p + 14, max - min + 1);
	return p + 16;
}

static uint8_t *res_dword_mem(uint8_t *p, uint32_t min, uint32_t max)
{
	p[0] = RES_DWORD_ADDR;
	le16(p + 1, 23);
	p[3] = RES_ADDR_MEM;
	p[4] = RES_ADDR_FIXED;
	p[5] = RES_MEM_RW;
	le32(p + 6, 0);
	le32(p + 10, min);
	le32(p + 14, max);
	le32(p + 18, 0);
	le32(p + 22, max - min + 1);
	return p + 26;
}

/*
 *   Device (PCI0) {			PCI Firmware 3.2 §4.1.1, ACPI 6.5 §6.1.5, §6.5.5/6
 *     Name (_HID, EisaId ("PNP0A08"))	PCI Express root bridge
 *     Name (_CID, EisaId ("PNP0A03"))	PCI root bridge, for older OSes
 *     Name (_SEG, 0)  Name (_BBN, 0)  Name (_UID, 0)
 *     Name (_CRS, ResourceTemplate () {
 *       WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0, 0, 1)
 *       WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
 *               0, 0x1000, 0xffff, 0, 0xf000)
 *       DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable,
 *                    ReadWrite, 0, LAYOUT_PCI_MMIO, LAYOUT_VIRTIO_MMIO - 1, 0, ...)
 *     })
 *   }
 *   Device (ECAM) {			Linux wants MCFG areas reserved (PCI FW §4.1.2)
 *     Name (_HID, EisaId ("PNP0C02"))	motherboard resources
 *     Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadOnly, LAYOUT_PCI_ECAM, 1 MiB) })
 *   }
 * No _PRT: functions interrupt with MSI-X only (no INTx is offered).
 */
static void dsdt_pci(struct aml *a)
{
	uint8_t crs[16 + 16 + 26 + 2], ecam[12 + 2], *p;
	size_t dev;

	p = res_word(crs, RES_ADDR_BUS, 0, 0, ACPI_PCI_LAST_BUS);
	p = res_word(p, RES_ADDR_IO, RES_IO_ENTIRE_RANGE, ACPI_PCI_IO_MIN, ACPI_PCI_IO_MAX);
	p = res_dword_mem(p, ACPI_PCI_MEM_MIN, ACPI_PCI_MEM_MAX);
	p[0] = RES_END_TAG;
	p[1] = 0;
	BUILD_BUG_ON(sizeof(crs) != 16 + 16 + 26 + 2);

	ecam[0] = RES_MEM32_FIXED;
	le16(ecam + 1, 9);
	ecam[3] = 0;				/* read-only: nothing for the OS to map there */
	le32(ecam + 4, LAYOUT_PCI_ECAM);
	le32(ecam + 8, ACPI_PCI_ECAM_LEN);
	ecam[12] = RES_END_TAG;
	ecam[13] = 0;

	aml_byte(a, AML_EXT_PREFIX);
	aml_byte(a, AML_EXT_DEVICE);
	dev = aml_open(a);
	aml_nameseg(a, "PCI0");
	aml_name_eisa(a, "_HID", "PNP0A08");
	aml_name_eisa(a, "_CID", "PNP0A03");
	aml_name_int(a, "_SEG", 0);
	aml_name_int(a, "_BBN", 0);
	aml_name_int(a, "_UID", 0);
	aml_name_buffer(a, "_CRS", crs, sizeof(crs));
	aml_close(a, dev);

	aml_byte(a, AML_EXT_PREFIX);
	aml_byte(a, AML_EXT_DEVICE);
	dev = aml_open(a);
	aml_nameseg(a, "ECAM");
	aml_name_eisa(a, "_HID", "PNP0C02");
	aml_name_buffer(a, "_CRS", ecam, sizeof(ecam));
	aml_close(a, dev);
}

/*
 * DSDT body:
 *   Name (_S5, Package () { S5_TYP, S5_TYP, 0, 0 })	ACPI 6.5 §7.4.2: SLP_TYPa, SLP_TYPb
 *   Scope (\_SB) {
 *     Device (COM1) {
 *       Name (_HID, EisaId ("PNP0501"))
 *       Name (_UID, 0)
 *       Name (_CRS, ResourceTemplate () {
 *         IO (Decode16, 0x3f8, 0x3f8, 1, 8)
 *         IRQNoFlags () { 4 }
 *       })
 *     }
 *     Device (PCI0) { ... }  Device (ECAM) { ... }	(dsdt_pci)
 *   }
 */
static void dsdt_body(struct aml *a)
{
	const uint16_t com1 = GUEST_COM1_BASE, irqmask = 1u << GUEST_COM1_IRQ;
	const uint8_t crs[] = {
		RES_IO, RES_IO_DECODE16, com1 & 0xff, com1 >> 8, com1 & 0xff, com1 >> 8, 1, 8,
		RES_IRQ_NOFLAGS, irqmask & 0xff, irqmask >> 8,
		RES_END_TAG, 0,		/* checksum 0: "treated as correct" (§6.4.2.9) */
	};
	uint32_t hid = acpi_eisa_id("PNP0501");
	size_t pkg, scope, dev, buf;

	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_S5_");
	aml_byte(a, AML_PACKAGE);
	pkg = aml_open(a);
	aml_byte(a, 4);				/* NumElements */
	aml_int(a, GUEST_ACPI_S5_TYP);
	aml_int(a, GUEST_ACPI_S5_TYP);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_close(a, pkg);

	aml_byte(a, AML_SCOPE);
	scope = aml_open(a);
	aml_byte(a, AML_ROOT_CHAR);
	aml_nameseg(a, "_SB_");

	aml_byte(a, AML_EXT_PREFIX);
	aml_byte(a, AML_EXT_DEVICE);
	dev = aml_open(a);
	aml_nameseg(a, "COM1");

	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_HID");
	aml_byte(a, AML_DWORD);			/* EisaId is always a DWordConst */
	aml_put(a, &hid, 4);

	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_UID");
	aml_int(a, 0);

	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_CRS");
	aml_byte(a, AML_BUFFER);
	buf = aml_open(a);
	aml_int(a, sizeof(crs));		/* BufferSize */
	aml_put(a, crs, sizeof(crs));
	aml_close(a, buf);

	aml_close(a, dev);

	dsdt_pci(a);
	aml_close(a, scope);
}

/* A bump allocator over [LAYOUT_ACPI, LAYOUT_MPTABLE). */
struct acpi_area {
	gpa_t next;
};

static int area_alloc(struct acpi_area *ar, size_t len, size_t align, gpa_t *out)
{
	gpa_t at = ALIGN_UP(ar->next, (gpa_t)align);

	if (at < ar->next || at > ACPI_AREA_END || len > ACPI_AREA_END - at)
		return -E2BIG;
	ar->next = at + len;
	*out = at;
	return 0;
}

static void header_init(struct acpi_header *h, const char sig[4], uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
}

/* Checksums a table that starts with a header (its length field is its size) and writes it. */
static int table_write(const struct gmem *gm, gpa_t at, void *table)
{
	struct acpi_header *h = table;

	h->checksum = 0;
	h->checksum = -acpi_sum(table, h->length);
	return gm_write(gm, at, table, h->length);
}

static struct acpi_gas gas_io(uint16_t port, uint8_t bytes, uint8_t access)
{
	return (struct acpi_gas){
		.space_id = 1, .bit_width = bytes * 8, .access_size = access, .address = port,
	};
}

static size_t madt_build(uint8_t *buf, unsigned int nr_vcpus)
{
	struct acpi_madt madt = {
		.lapic_addr = LAYOUT_LAPIC,
		.flags = ACPI_MADT_PCAT_COMPAT,		/* dual 8259s present (KVM's PIC) */
	};
	const struct acpi_madt_ioapic ioapic = {
		.type = ACPI_MADT_IOAPIC, .length = sizeof(ioapic),
		.id = ACPI_IOAPIC_ID, .addr = LAYOUT_IOAPIC, .gsi_base = 0,
	};
	const struct acpi_madt_iso iso[ACPI_NR_ISO] = {
		/* The PIT's ISA IRQ 0 reaches IOAPIC pin 2, as on every PC since the 8259 days. */
		{ .type = ACPI_MADT_ISO, .length = sizeof(iso[0]), .bus = 0,
		  .source = ACPI_PIT_IRQ, .gsi = ACPI_PIT_GSI, .flags = ACPI_INTI_CONFORMS },
		/* The SCI is level-triggered; active-high as KVM's IOAPIC sees the line. */
		{ .type = ACPI_MADT_ISO, .length = sizeof(iso[0]), .bus = 0,
		  .source = ACPI_SCI_IRQ, .gsi = ACPI_SCI_IRQ,
		  .flags = ACPI_INTI_ACTIVE_HIGH | ACPI_INTI_LEVEL },
	};
	const struct acpi_madt_lapic_nmi nmi = {
		.type = ACPI_MADT_LAPIC_NMI, .length = sizeof(nmi), .acpi_uid = 0xff,
		.flags = ACPI_INTI_ACTIVE_HIGH | ACPI_INTI_EDGE, .lint = 1,
	};
	size_t off = sizeof(madt);

	for (unsigned int i = 0; i < nr_vcpus; i++) {
		const struct acpi_madt_lapic l = {
			.type = ACPI_MADT_LAPIC, .length = sizeof(l),
			.acpi_uid = i, .apic_id = i, .flags = 1,	/* Enabled */
		};

		memcpy(buf + off, &l, sizeof(l));
		off += sizeof(l);
	}
	memcpy(buf + off, &ioapic, sizeof(ioapic));
	off += sizeof(ioapic);
	memcpy(buf + off, iso, sizeof(iso));
	off += sizeof(iso);
	memcpy(buf + off, &nmi, sizeof(nmi));
	off += sizeof(nmi);

	header_init(&madt.h, "APIC", off, 5);
	memcpy(buf, &madt, sizeof(madt));
	return off;
}

int acpi_build(const struct gmem *gm, unsigned int nr_vcpus, gpa_t *rsdp_out)
{
	struct acpi_area ar = { .next = LAYOUT_ACPI };
	union {
		struct acpi_header h;
		uint8_t b[sizeof(struct acpi_header) + ACPI_NR_XSDT * 8];
	} rsdt = { 0 }, xsdt = { 0 };
	union {
		struct acpi_header h;
		uint8_t b[sizeof(struct acpi_header) + AML_MAX];
	} dsdt = { 0 };
	union {
		struct acpi_madt m;
		uint8_t b[ACPI_MADT_MAX_LEN];
	} madt;
	union {
		struct acpi_mcfg m;
		uint8_t b[ACPI_MCFG_LEN];
	} mcfg = { 0 };
	const struct acpi_mcfg_alloc ecam = {
		.base = LAYOUT_PCI_ECAM, .segment = 0, .start_bus = 0,
		.end_bus = ACPI_PCI_LAST_BUS,
	};
	struct acpi_rsdp rsdp = { 0 };
	struct acpi_facs facs = { 0 };
	struct acpi_fadt fadt = { 0 };
	gpa_t rsdp_at, rsdt_at, xsdt_at, facs_at, fadt_at, dsdt_at, madt_at, mcfg_at;
	struct aml aml = { .len = 0 };
	size_t madt_len, dsdt_len;
	uint32_t ptr32[ACPI_NR_XSDT];
	uint64_t ptr64[ACPI_NR_XSDT];
	int r;

	if (!gm || !rsdp_out || nr_vcpus == 0)
		return -EINVAL;
	if (nr_vcpus > ACPI_MAX_VCPUS)
		return -E2BIG;

	dsdt_body(&aml);
	if (aml.overflow)
		return -E2BIG;
	dsdt_len = sizeof(struct acpi_header) + aml.len;
	madt_len = madt_build(madt.b, nr_vcpus);

	r = area_alloc(&ar, sizeof(rsdp), 16, &rsdp_at);
	if (!r)
		r = area_alloc(&ar, sizeof(struct acpi_header) + sizeof(ptr32), 16, &rsdt_at);
	if (!r)
		r = area_alloc(&ar, sizeof(struct acpi_header) + sizeof(ptr64), 16, &xsdt_at);
	if (!r)
		r = area_alloc(&ar, sizeof(facs), 64, &facs_at);	/* ACPI 6.5 §5.2.10 */
	if (!r)
		r = area_alloc(&ar, sizeof(fadt), 16, &fadt_at);
	if (!r)
		r = area_alloc(&ar, dsdt_len, 16, &dsdt_at);
	if (!r)
		r = area_alloc(&ar, madt_len, 16, &madt_at);
	if (!r)
		r = area_alloc(&ar, sizeof(mcfg), 16, &mcfg_at);
	if (r)
		return r;

	/* MCFG revision 1 (PCI Firmware 3.2 table 4-2). */
	header_init(&mcfg.m.h, "MCFG", sizeof(mcfg), 1);
	memcpy(mcfg.b + sizeof(struct acpi_mcfg), &ecam, sizeof(ecam));

	/* DSDT revision 2: integers are 64 bits wide (ACPI 6.5 §5.2.11.1). */
	header_init(&dsdt.h, "DSDT", dsdt_len, 2);
	memcpy(dsdt.b + sizeof(struct acpi_header), aml.b, aml.len);

	memcpy(facs.signature, "FACS", 4);
	facs.length = sizeof(facs);
	facs.version = 2;

	header_init(&fadt.h, "FACP", sizeof(fadt), 6);
	fadt.firmware_ctrl = facs_at;	/* X_FIRMWARE_CTRL must be 0 when this is set */
	fadt.dsdt = dsdt_at;
	fadt.x_dsdt = dsdt_at;
	fadt.sci_int = ACPI_SCI_IRQ;
	/* SMI_CMD = 0: no SMM, ACPI is always enabled (PM1_CNT.SCI_EN reads 1). */
	fadt.pm1a_evt_blk = GUEST_PM1A_EVT_BLK;
	fadt.pm1a_cnt_blk = GUEST_PM1A_CNT_BLK;
	fadt.pm1_evt_len = 4;
	fadt.pm1_cnt_len = 2;
	fadt.x_pm1a_evt_blk = gas_io(GUEST_PM1A_EVT_BLK, 4, 2);
	fadt.x_pm1a_cnt_blk = gas_io(GUEST_PM1A_CNT_BLK, 2, 2);
	/* No PM timer, no GPE blocks: their addresses and lengths stay 0. */
	fadt.iapc_boot_arch = ACPI_IAPC_LEGACY_DEVICES | ACPI_IAPC_8042 | ACPI_IAPC_VGA_NOT_PRESENT;
	fadt.flags = ACPI_FADT_WBINVD | ACPI_FADT_PWR_BUTTON | ACPI_FADT_SLP_BUTTON |
		     ACPI_FADT_RESET_REG_SUP;
	/* Reset through port 0xcf9 (value 6: full reset | system reset), as on the PIIX/ICH. */
	fadt.reset_reg = gas_io(GUEST_RESET_PORT_CF9, 1, 1);
	fadt.reset_value = 0x6;
	fadt.minor_version = 0;

	ptr32[0] = fadt_at;
	ptr32[1] = madt_at;
	ptr32[2] = mcfg_at;
	ptr64[0] = fadt_at;
	ptr64[1] = madt_at;
	ptr64[2] = mcfg_at;
	header_init(&rsdt.h, "RSDT", sizeof(struct acpi_header) + sizeof(ptr32), 1);
	memcpy(rsdt.b + sizeof(struct acpi_header), ptr32, sizeof(ptr32));
	header_init(&xsdt.h, "XSDT", sizeof(struct acpi_header) + sizeof(ptr64), 1);
	memcpy(xsdt.b + sizeof(struct acpi_header), ptr64, sizeof(ptr64));

	memcpy(rsdp.signature, "RSD PTR ", 8);
	memcpy(rsdp.oem_id, ACPI_OEM_ID, 6);
	rsdp.revision = 2;
	rsdp.rsdt_addr = rsdt_at;
	rsdp.length = sizeof(rsdp);
	rsdp.xsdt_addr = xsdt_at;
	rsdp.checksum = -acpi_sum(&rsdp, 20);		/* ACPI 1.0 part */
	rsdp.ext_checksum = -acpi_sum(&rsdp, sizeof(rsdp));

	r = gm_write(gm, rsdp_at, &rsdp, sizeof(rsdp));
	if (!r)
		r = table_write(gm, rsdt_at, &rsdt);
	if (!r)
		r = table_write(gm, xsdt_at, &xsdt);
	if (!r)
		r = gm_write(gm, facs_at, &facs, sizeof(facs));
	if (!r)
		r = table_write(gm, fadt_at, &fadt);
	if (!r)
		r = table_write(gm, dsdt_at, &dsdt);
	if (!r)
		r = table_write(gm, madt_at, &madt);
	if (!r)
		r = table_write(gm, mcfg_at, &mcfg);
	if (r)
		return r;
	*rsdp_out = rsdp_at;
	return 0;
}
