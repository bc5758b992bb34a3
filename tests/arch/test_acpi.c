// SPDX-License-Identifier: MIT
/*
 * ACPI tables, read back the way a guest finds them: scan the BIOS area for the RSDP, follow
 * XSDT/RSDT to each table, check signature, length and checksum, then parse the content.
 * Field offsets are the spec's (ACPI 6.5 chapter 5), written out here rather than taken from
 * acpi-tables.h, so a wrong struct there cannot hide itself.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi-tables.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "base/guest-abi.h"

#define RAM_SIZE	MiB(16)

static struct gmem gm;
static uint8_t *ram;

static void setup(void)
{
	ram = calloc(1, RAM_SIZE);
	cr_assert_not_null(ram);
	gm_init(&gm);
	cr_assert_eq(gm_add_region(&gm, 0, RAM_SIZE, ram, -1, 0), 0);
}

static void teardown(void)
{
	free(ram);
}

TestSuite(acpi, .init = setup, .fini = teardown);

static uint32_t rd32(gpa_t a)
{
	uint32_t v;

	cr_assert_eq(gm_read(&gm, a, &v, 4), 0, "read at %#lx", (unsigned long)a);
	return v;
}

static uint64_t rd64(gpa_t a)
{
	uint64_t v;

	cr_assert_eq(gm_read(&gm, a, &v, 8), 0);
	return v;
}

static uint16_t rd16(gpa_t a)
{
	uint16_t v;

	cr_assert_eq(gm_read(&gm, a, &v, 2), 0);
	return v;
}

static uint8_t rd8(gpa_t a)
{
	uint8_t v;

	cr_assert_eq(gm_read(&gm, a, &v, 1), 0);
	return v;
}

static uint8_t sum(gpa_t a, size_t len)
{
	uint8_t s = 0;

	for (size_t i = 0; i < len; i++)
		s += rd8(a + i);
	return s;
}

/* Checks a table where it stands and returns its length. */
static uint32_t check_table(gpa_t a, const char *sig)
{
	uint32_t len;
	char got[5] = { 0 };

	cr_assert_geq(a, LAYOUT_ACPI, "%s below the ACPI area", sig);
	cr_assert_lt(a, LAYOUT_MPTABLE, "%s above the ACPI area", sig);
	cr_assert_eq(gm_read(&gm, a, got, 4), 0);
	cr_assert_str_eq(got, sig);
	len = rd32(a + 4);
	cr_assert_geq(len, 36, "%s length %u", sig, len);
	cr_assert_leq(len, LAYOUT_MPTABLE - a, "%s runs into the MP table area", sig);
	cr_expect_eq(sum(a, len), 0, "%s checksum", sig);
	return len;
}

/* ACPI 6.5 §5.2.5.1: 16-byte boundaries of 0xe0000-0xfffff. */
static gpa_t scan_rsdp(void)
{
	for (gpa_t a = 0xe0000; a < 0x100000; a += 16) {
		char sig[8];

		cr_assert_eq(gm_read(&gm, a, sig, 8), 0);
		if (!memcmp(sig, "RSD PTR ", 8))
			return a;
	}
	return 0;
}

static gpa_t find_table(const char *sig)
{
	gpa_t rsdp = scan_rsdp(), xsdt = rd64(rsdp + 24);
	uint32_t len = rd32(xsdt + 4);

	for (uint32_t off = 36; off + 8 <= len; off += 8) {
		gpa_t t = rd64(xsdt + off);
		char got[4];

		cr_assert_eq(gm_read(&gm, t, got, 4), 0);
		if (!memcmp(got, sig, 4))
			return t;
	}
	return 0;
}

static void build(unsigned int n)
{
	gpa_t rsdp = 0;

	cr_assert_eq(acpi_build(&gm, n, &rsdp), 0);
	cr_assert_eq(rsdp, scan_rsdp(), "returned RSDP is not where a scan finds it");
}

Test(acpi, rsdp_is_found_by_the_bios_area_scan)
{
	gpa_t rsdp;

	build(1);
	rsdp = scan_rsdp();
	cr_assert_neq(rsdp, 0);
	cr_expect_eq(rsdp % 16, 0);
	cr_expect_eq(sum(rsdp, 20), 0, "ACPI 1.0 checksum");
	cr_expect_eq(rd8(rsdp + 15), 2, "revision");
	cr_expect_eq(rd32(rsdp + 20), 36, "length");
	cr_expect_eq(sum(rsdp, 36), 0, "extended checksum");
}

Test(acpi, every_table_checksums_to_zero)
{
	gpa_t rsdp, xsdt, rsdt, fadt = 0;
	uint32_t xlen, rlen;
	unsigned int seen_facp = 0, seen_apic = 0;

	build(4);
	rsdp = scan_rsdp();
	xsdt = rd64(rsdp + 24);
	rsdt = rd32(rsdp + 16);
	xlen = check_table(xsdt, "XSDT");
	rlen = check_table(rsdt, "RSDT");
	cr_assert_eq((xlen - 36) % 8, 0);
	cr_assert_eq((rlen - 36) % 4, 0);
	cr_expect_eq((xlen - 36) / 8, (rlen - 36) / 4, "XSDT and RSDT list the same tables");

	for (uint32_t off = 36; off < xlen; off += 8) {
		gpa_t t = rd64(xsdt + off);
		char sig[5] = { 0 };

		cr_expect_eq(t, rd32(rsdt + 36 + (off - 36) / 2), "RSDT entry differs");
		cr_assert_eq(gm_read(&gm, t, sig, 4), 0);
		check_table(t, sig);
		if (!strcmp(sig, "FACP")) {
			seen_facp++;
			fadt = t;
		}
		seen_apic += !strcmp(sig, "APIC");
	}
	cr_expect_eq(seen_facp, 1);
	cr_expect_eq(seen_apic, 1);
	cr_assert_neq(fadt, 0);
	check_table(rd64(fadt + 140), "DSDT");
}

Test(acpi, fadt_points_to_dsdt_facs_and_pm1a_blocks)
{
	gpa_t fadt, facs, dsdt;
	uint32_t len;

	build(2);
	fadt = find_table("FACP");
	cr_assert_neq(fadt, 0);
	len = check_table(fadt, "FACP");
	cr_expect_eq(len, 276, "FADT 6.x length");
	cr_expect_geq(rd8(fadt + 8), 5, "FADT revision");

	dsdt = rd32(fadt + 40);
	cr_expect_eq(rd64(fadt + 140), dsdt, "X_DSDT equals DSDT");
	check_table(dsdt, "DSDT");

	facs = rd32(fadt + 36);
	cr_expect_eq(rd64(fadt + 132), 0, "X_FIRMWARE_CTRL must be 0 when FIRMWARE_CTRL is set");
	cr_assert_neq(facs, 0);
	cr_expect_eq(facs % 64, 0, "FACS 64-byte aligned");
	cr_expect_eq(memcmp(ram + facs, "FACS", 4), 0);
	cr_expect_eq(rd32(facs + 4), 64);
	cr_expect_lt(facs, LAYOUT_MPTABLE);

	cr_expect_eq(rd16(fadt + 46), 9, "SCI_INT");
	cr_expect_eq(rd32(fadt + 56), GUEST_PM1A_EVT_BLK);
	cr_expect_eq(rd32(fadt + 64), GUEST_PM1A_CNT_BLK);
	cr_expect_eq(rd8(fadt + 88), 4, "PM1_EVT_LEN");
	cr_expect_eq(rd8(fadt + 89), 2, "PM1_CNT_LEN");
	cr_expect_eq(rd32(fadt + 76), 0, "no PM timer");
	cr_expect_eq(rd8(fadt + 91), 0, "PM_TMR_LEN");
	/* X_PM1a_EVT_BLK / X_PM1a_CNT_BLK: System I/O GAS with the same port. */
	cr_expect_eq(rd8(fadt + 148), 1);
	cr_expect_eq(rd8(fadt + 149), 32);
	cr_expect_eq(rd64(fadt + 152), GUEST_PM1A_EVT_BLK);
	cr_expect_eq(rd8(fadt + 172), 1);
	cr_expect_eq(rd8(fadt + 173), 16);
	cr_expect_eq(rd64(fadt + 176), GUEST_PM1A_CNT_BLK);

	cr_expect_neq(rd32(fadt + 112) & 1, 0, "WBINVD");
	cr_expect_eq(rd32(fadt + 112) & (1u << 20), 0, "must not be HW_REDUCED_ACPI");
	cr_expect_eq(rd16(fadt + 109) & 3, 3, "IAPC_BOOT_ARCH: LEGACY_DEVICES | 8042");
}

/* PkgLength (ACPI 6.5 §20.2.4) decoder: returns the encoded value, *n = bytes used. */
static size_t pkglen(const uint8_t *p, unsigned int *n)
{
	unsigned int follow = p[0] >> 6;
	size_t v;

	*n = follow + 1;
	if (!follow)
		return p[0] & 0x3f;
	v = p[0] & 0xf;
	for (unsigned int i = 0; i < follow; i++)
		v |= (size_t)p[1 + i] << (4 + 8 * i);
	return v;
}

static const uint8_t *memfind(const uint8_t *h, size_t hl, const void *n, size_t nl)
{
	for (size_t i = 0; i + nl <= hl; i++)
		if (!memcmp(h + i, n, nl))
			return h + i;
	return NULL;
}

Test(acpi, dsdt_has_s5_package_with_slp_typ)
{
	gpa_t fadt, dsdt;
	const uint8_t *d, *p;
	uint32_t len;
	unsigned int n;
	size_t pl;

	build(1);
	fadt = find_table("FACP");
	dsdt = rd64(fadt + 140);
	len = check_table(dsdt, "DSDT");
	d = ram + dsdt;
	p = memfind(d + 36, len - 36, "_S5_", 4);
	cr_assert_not_null(p, "no _S5_ in the DSDT");
	cr_assert_eq(p[-1], 0x08, "_S5_ is not a NameOp");
	cr_assert_eq(p[4], 0x12, "_S5_ is not a Package");
	pl = pkglen(p + 5, &n);
	cr_assert_leq((size_t)(p + 5 - d) + pl, len, "package runs past the DSDT");
	cr_expect_eq(p[5 + n], 4, "NumElements");
	/* SLP_TYPa: BytePrefix 5 (or the bare constant if it were 0/1). */
	cr_expect_eq(p[5 + n + 1], 0x0a);
	cr_expect_eq(p[5 + n + 2], GUEST_ACPI_S5_TYP);
	cr_expect_eq(p[5 + n + 3], 0x0a);
	cr_expect_eq(p[5 + n + 4], GUEST_ACPI_S5_TYP);
}

Test(acpi, dsdt_aml_lengths_are_consistent)
{
	gpa_t dsdt;
	uint32_t len;
	const uint8_t *d;
	size_t off = 36;
	unsigned int n, terms = 0, devices = 0;

	build(1);
	dsdt = rd64(find_table("FACP") + 140);
	len = check_table(dsdt, "DSDT");
	d = ram + dsdt;
	/* Top level: NameOp with a package, and a ScopeOp; each must end exactly where the next
	 * starts, and the last at the table's end. */
	while (off < len) {
		terms++;
		if (d[off] == 0x08) {
			cr_assert_eq(d[off + 5], 0x12, "only Name(..., Package) at top level");
			off += 6 + pkglen(d + off + 6, &n);
		} else if (d[off] == 0x10) {
			size_t end = off + 1 + pkglen(d + off + 1, &n), dev;

			cr_assert_eq(memcmp(d + off + 1 + n, "\\_SB_", 5), 0);
			/* Devices (COM1, PCI0, ECAM) follow each other and fill the Scope. */
			for (dev = off + 1 + n + 5; dev < end; devices++) {
				cr_assert_eq(d[dev], 0x5b);
				cr_assert_eq(d[dev + 1], 0x82, "Device in \\_SB");
				dev += 2 + pkglen(d + dev + 2, &n);
			}
			cr_expect_eq(dev, end, "Devices do not end where their Scope ends");
			off = end;
		} else {
			cr_assert_fail("unexpected opcode %#x at %zu", d[off], off);
		}
	}
	cr_expect_eq(off, len, "AML overruns the table");
	cr_expect_eq(terms, 2);
	cr_expect_eq(devices, 3, "COM1, PCI0, ECAM");
}

Test(acpi, dsdt_describes_com1)
{
	gpa_t dsdt;
	const uint8_t *d, *p;
	uint32_t len;
	const uint8_t hid[] = { '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01 };
	const uint8_t io[] = { 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03 };
	const uint8_t irq[] = { 0x22, 1 << GUEST_COM1_IRQ, 0x00 };

	build(1);
	dsdt = rd64(find_table("FACP") + 140);
	len = check_table(dsdt, "DSDT");
	d = ram + dsdt;
	cr_expect_not_null(memfind(d, len, "COM1", 4));
	cr_expect_not_null(memfind(d, len, hid, sizeof(hid)), "_HID PNP0501");
	p = memfind(d, len, io, sizeof(io));
	cr_assert_not_null(p, "IO 0x3f8 descriptor");
	cr_expect_eq(p[7], 8, "8 ports");
	cr_expect_not_null(memfind(d, len, irq, sizeof(irq)), "IRQ 4 descriptor");
}

/* PCI Firmware 3.2 §4.1.2: MCFG with one allocation, ECAM base, segment 0, bus 0 only. */
Test(acpi, mcfg_points_to_ecam_for_bus_0)
{
	gpa_t mcfg;
	uint32_t len;

	build(1);
	mcfg = find_table("MCFG");
	cr_assert_neq(mcfg, 0, "no MCFG in the XSDT");
	len = check_table(mcfg, "MCFG");
	cr_expect_eq(len, 44 + 16, "one allocation structure");
	cr_expect_eq(rd8(mcfg + 8), 1, "revision");
	cr_expect_eq(rd64(mcfg + 44), LAYOUT_PCI_ECAM, "base");
	cr_expect_eq(rd16(mcfg + 52), 0, "segment");
	cr_expect_eq(rd8(mcfg + 54), 0, "start bus");
	cr_expect_eq(rd8(mcfg + 55), 0, "end bus");
}

Test(acpi, dsdt_describes_the_pci_root_bridge_and_reserves_ecam)
{
	gpa_t dsdt;
	const uint8_t *d, *p;
	uint32_t len, v;
	const uint8_t hid[] = { '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	const uint8_t cid[] = { '_', 'C', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	const uint8_t seg[] = { 0x08, '_', 'S', 'E', 'G', 0x00 };
	const uint8_t bbn[] = { 0x08, '_', 'B', 'B', 'N', 0x00 };
	const uint8_t mres[] = { '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0c, 0x02 };
	/* WordBusNumber: producer, MinFixed, MaxFixed, bus 0..0, length 1. */
	const uint8_t busnr[] = { 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
				  1, 0 };
	/* WordIO 0x1000-0xffff, EntireRange. */
	const uint8_t io[] = { 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x10, 0xff, 0xff,
			       0, 0, 0x00, 0xf0 };
	const uint8_t mem_hdr[] = { 0x87, 0x17, 0x00, 0x00, 0x0c };
	const uint8_t mem32[] = { 0x86, 0x09, 0x00 };

	build(1);
	dsdt = rd64(find_table("FACP") + 140);
	len = check_table(dsdt, "DSDT");
	d = ram + dsdt;
	p = memfind(d, len, "PCI0", 4);
	cr_assert_not_null(p);
	/* DeviceOp (5b 82), a PkgLength of 1 or 2 bytes, then the name. */
	cr_expect((p[-4] == 0x5b && p[-3] == 0x82) || (p[-3] == 0x5b && p[-2] == 0x82),
		  "PCI0 is not a Device");
	cr_expect_not_null(memfind(p, len - (p - d), hid, sizeof(hid)), "_HID PNP0A08");
	cr_expect_not_null(memfind(p, len - (p - d), cid, sizeof(cid)), "_CID PNP0A03");
	cr_expect_not_null(memfind(p, len - (p - d), seg, sizeof(seg)), "_SEG 0");
	cr_expect_not_null(memfind(p, len - (p - d), bbn, sizeof(bbn)), "_BBN 0");
	cr_expect_not_null(memfind(d, len, busnr, sizeof(busnr)), "bus range 0-0");
	cr_expect_not_null(memfind(d, len, io, sizeof(io)), "I/O window");
	p = memfind(d, len, mem_hdr, sizeof(mem_hdr));
	cr_assert_not_null(p, "DWordMemory window");
	memcpy(&v, p + 10, 4);
	cr_expect_eq(v, LAYOUT_PCI_MMIO, "window min");
	memcpy(&v, p + 14, 4);
	cr_expect_eq(v, LAYOUT_VIRTIO_MMIO - 1, "window max stops below virtio-mmio");
	memcpy(&v, p + 22, 4);
	cr_expect_eq(v, LAYOUT_VIRTIO_MMIO - LAYOUT_PCI_MMIO, "window length");
	cr_expect_leq(LAYOUT_VIRTIO_MMIO, LAYOUT_PCI_ECAM, "window overlaps ECAM");

	cr_expect_not_null(memfind(d, len, mres, sizeof(mres)), "PNP0C02 reservation");
	p = memfind(d, len, mem32, sizeof(mem32));
	cr_assert_not_null(p, "Memory32Fixed");
	memcpy(&v, p + 4, 4);
	cr_expect_eq(v, LAYOUT_PCI_ECAM);
	memcpy(&v, p + 8, 4);
	cr_expect_eq(v, 0x100000, "ECAM of bus 0: 1 MiB");
	cr_expect_null(memfind(d, len, "_PRT", 4), "no INTx routing is offered");
}

static void expect_madt(unsigned int nr)
{
	gpa_t madt;
	uint32_t len, off;
	unsigned int lapics = 0, ioapics = 0, isos = 0, nmis = 0;
	bool seen[256] = { false };

	build(nr);
	madt = find_table("APIC");
	cr_assert_neq(madt, 0);
	len = check_table(madt, "APIC");
	cr_expect_eq(rd32(madt + 36), LAYOUT_LAPIC);
	cr_expect_eq(rd32(madt + 40) & 1, 1, "PCAT_COMPAT");
	for (off = 44; off < len;) {
		uint8_t type = rd8(madt + off), elen = rd8(madt + off + 1);

		cr_assert_geq(elen, 2, "zero-length MADT entry");
		cr_assert_leq(elen, len - off, "MADT entry runs past the table");
		switch (type) {
		case 0:
			cr_assert_eq(elen, 8);
			cr_expect_eq(rd8(madt + off + 2), rd8(madt + off + 3), "UID = APIC id");
			cr_assert_lt(rd8(madt + off + 3), nr, "APIC id out of range");
			cr_expect(!seen[rd8(madt + off + 3)], "APIC id twice");
			seen[rd8(madt + off + 3)] = true;
			cr_expect_eq(rd32(madt + off + 4) & 1, 1, "Enabled");
			lapics++;
			break;
		case 1:
			cr_assert_eq(elen, 12);
			cr_expect_eq(rd8(madt + off + 2), 0, "IOAPIC id");
			cr_expect_eq(rd32(madt + off + 4), LAYOUT_IOAPIC);
			cr_expect_eq(rd32(madt + off + 8), 0, "GSI base");
			ioapics++;
			break;
		case 2:
			cr_assert_eq(elen, 10);
			if (rd8(madt + off + 3) == 0) {
				cr_expect_eq(rd32(madt + off + 4), 2, "IRQ0 -> GSI2");
			} else {
				cr_expect_eq(rd8(madt + off + 3), 9);
				cr_expect_eq(rd32(madt + off + 4), 9, "SCI on GSI 9");
				cr_expect_eq(rd16(madt + off + 8), 0xd, "level, active high");
			}
			isos++;
			break;
		case 4:
			cr_assert_eq(elen, 6);
			cr_expect_eq(rd8(madt + off + 2), 0xff, "all processors");
			cr_expect_eq(rd8(madt + off + 5), 1, "LINT1");
			nmis++;
			break;
		default:
			cr_assert_fail("unexpected MADT entry type %u", type);
		}
		off += elen;
	}
	cr_expect_eq(off, len);
	cr_expect_eq(lapics, nr, "LAPIC entries for %u vCPUs", nr);
	cr_expect_eq(ioapics, 1);
	cr_expect_eq(isos, 2);
	cr_expect_eq(nmis, 1);
}

Test(acpi, madt_has_one_lapic_per_vcpu)
{
	expect_madt(1);
	expect_madt(2);
	expect_madt(4);
	expect_madt(64);
	expect_madt(255);
}

Test(acpi, absurd_vcpu_count_is_e2big_not_an_overflow_into_the_mp_area)
{
	gpa_t rsdp = 0x1234;

	memset(ram + LAYOUT_ACPI, 0xcc, LAYOUT_BIOS_END - LAYOUT_ACPI);
	cr_expect_eq(acpi_build(&gm, 4096, &rsdp), -E2BIG);
	cr_expect_eq(acpi_build(&gm, 256, &rsdp), -E2BIG);
	cr_expect_eq(acpi_build(&gm, UINT32_MAX, &rsdp), -E2BIG);
	cr_expect_eq(rsdp, 0x1234, "rsdp written on failure");
	for (gpa_t a = LAYOUT_ACPI; a < LAYOUT_BIOS_END; a++)
		cr_assert_eq(ram[a], 0xcc, "byte %#lx written on failure", (unsigned long)a);
	cr_expect_eq(acpi_build(&gm, 0, &rsdp), -EINVAL);
	cr_expect_eq(acpi_build(&gm, 1, NULL), -EINVAL);
}

Test(acpi, largest_table_set_stays_below_the_mp_table)
{
	memset(ram + LAYOUT_MPTABLE, 0xcc, LAYOUT_BIOS_END - LAYOUT_MPTABLE);
	build(255);
	for (gpa_t a = LAYOUT_MPTABLE; a < LAYOUT_BIOS_END; a++)
		cr_assert_eq(ram[a], 0xcc, "ACPI wrote into the MP table area at %#lx",
			     (unsigned long)a);
}

Test(acpi, guest_without_the_bios_area_is_refused)
{
	struct gmem small;
	gpa_t rsdp = 0;

	/* 640 KiB of RAM only: the ACPI area is not RAM. */
	gm_init(&small);
	cr_assert_eq(gm_add_region(&small, 0, KiB(640), ram, -1, 0), 0);
	cr_expect_eq(acpi_build(&small, 1, &rsdp), -EFAULT);
	cr_expect_eq(rsdp, 0);
}

Test(acpi, pkglength_encodings)
{
	uint8_t b[4];

	cr_expect_eq(acpi_aml_pkglength(b, 0), 1);
	cr_expect_eq(b[0], 1);
	cr_expect_eq(acpi_aml_pkglength(b, 62), 1);
	cr_expect_eq(b[0], 0x3f);
	/* 63 bytes of content: 65 with a two-byte PkgLength = 0x41 -> 0x41, 0x04. */
	cr_expect_eq(acpi_aml_pkglength(b, 63), 2);
	cr_expect_eq(b[0], 0x41);
	cr_expect_eq(b[1], 0x04);
	cr_expect_eq(acpi_aml_pkglength(b, 4093), 2, "0xfff is the two-byte maximum");
	cr_expect_eq(acpi_aml_pkglength(b, 4094), 3);
	cr_expect_eq(b[0], 0x80 | (4097 & 0xf));
	cr_expect_eq(b[1], (4097 >> 4) & 0xff);
	cr_expect_eq(b[2], 4097 >> 12);
	cr_expect_eq(acpi_aml_pkglength(b, ((size_t)1 << 28) - 5), 4);
	cr_expect_eq(acpi_aml_pkglength(b, ((size_t)1 << 28) - 4), -E2BIG, "past 28 bits");
	cr_expect_eq(acpi_aml_pkglength(b, SIZE_MAX), -E2BIG);
}

Test(acpi, eisa_ids)
{
	cr_expect_eq(acpi_eisa_id("PNP0501"), 0x0105d041);
	cr_expect_eq(acpi_eisa_id("PNP0A03"), 0x030ad041);
}
