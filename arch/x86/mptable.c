// SPDX-License-Identifier: MIT
/*
 * Intel MultiProcessor Specification 1.4 tables for guests that do not read ACPI: the MP
 * floating pointer at LAYOUT_MPTABLE (inside the 0xf0000-0xfffff BIOS area the spec's §4 scan
 * covers) followed by the configuration table. It describes the same machine as the MADT:
 * APIC id = vCPU index, one IOAPIC (id 0), ISA IRQ 0 on pin 2 and the SCI (IRQ 9) level/high.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable-defs.h"

#define MP_MAX_VCPUS		255	/* 8-bit APIC ids, 0xff is broadcast */
#define MP_IOAPIC_ID		0
#define MP_ISA_BUS_ID		0
#define MP_APIC_VERSION		0x14	/* KVM's LAPIC (integrated, xAPIC) */
#define MP_IOAPIC_VERSION	0x11	/* KVM's IOAPIC */
#define MP_NR_ISA_IRQS		16
#define MP_NR_IO_INTS		(MP_NR_ISA_IRQS - 1)	/* IRQ 2 is the cascade: no input */
#define MP_CPU_SIGNATURE	0x600	/* family 6 */
#define MP_CPU_FEATURES		0x201	/* CPUID.1:EDX FPU | APIC */

#define MP_TABLE_MAX_LEN	(sizeof(struct mpc_table) + \
				 MP_MAX_VCPUS * sizeof(struct mpc_cpu) + \
				 sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) + \
				 (MP_NR_IO_INTS + 2) * sizeof(struct mpc_intsrc))

BUILD_BUG_ON(LAYOUT_MPTABLE % 16 != 0);
BUILD_BUG_ON(LAYOUT_MPTABLE < 0xf0000);
BUILD_BUG_ON(sizeof(struct mpf_intel) + MP_TABLE_MAX_LEN > LAYOUT_BIOS_END - LAYOUT_MPTABLE);
BUILD_BUG_ON(MP_TABLE_MAX_LEN > UINT16_MAX);

static uint8_t mp_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return s;
}

static size_t put(uint8_t *buf, size_t off, const void *p, size_t len)
{
	memcpy(buf + off, p, len);
	return off + len;
}

static size_t put_intsrc(uint8_t *buf, size_t off, uint8_t type, uint8_t irqtype,
			 uint16_t flags, uint8_t src_irq, uint8_t dst_id, uint8_t dst_pin)
{
	const struct mpc_intsrc e = {
		.type = type, .irqtype = irqtype, .irqflag = flags,
		.srcbus = MP_ISA_BUS_ID, .srcbusirq = src_irq,
		.dstapic = dst_id, .dstirq = dst_pin,
	};

	return put(buf, off, &e, sizeof(e));
}

int mptable_build(const struct gmem *gm, unsigned int nr_vcpus)
{
	union {
		struct mpc_table h;
		uint8_t b[MP_TABLE_MAX_LEN];
	} t;
	const struct mpc_bus bus = { .type = MP_BUS, .busid = MP_ISA_BUS_ID, .bustype = "ISA   " };
	const struct mpc_ioapic ioapic = {
		.type = MP_IOAPIC, .apicid = MP_IOAPIC_ID, .apicver = MP_IOAPIC_VERSION,
		.flags = MP_IOAPIC_USABLE, .apicaddr = LAYOUT_IOAPIC,
	};
	struct mpf_intel mpf = { 0 };
	unsigned int entries = 0;
	size_t off;
	int r;

	if (!gm || nr_vcpus == 0)
		return -EINVAL;
	if (nr_vcpus > MP_MAX_VCPUS)
		return -E2BIG;

	memset(&t, 0, sizeof(t));
	off = sizeof(struct mpc_table);
	for (unsigned int i = 0; i < nr_vcpus; i++, entries++) {
		const struct mpc_cpu c = {
			.type = MP_PROCESSOR, .apicid = i, .apicver = MP_APIC_VERSION,
			.cpuflag = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			.cpufeature = MP_CPU_SIGNATURE, .featureflag = MP_CPU_FEATURES,
		};

		off = put(t.b, off, &c, sizeof(c));
	}

	off = put(t.b, off, &bus, sizeof(bus));
	off = put(t.b, off, &ioapic, sizeof(ioapic));
	entries += 2;

	/* MP 1.4 §4.3.4: one entry per ISA IRQ wired to the IOAPIC, matching the MADT's ISOs. */
	for (unsigned int irq = 0; irq < MP_NR_ISA_IRQS; irq++) {
		uint16_t flags = MP_IRQ_CONFORMS;
		uint8_t pin = irq;

		if (irq == 2)
			continue;
		if (irq == 0)
			pin = 2;
		if (irq == 9)	/* ACPI SCI */
			flags = MP_IRQ_ACTIVE_HIGH | MP_IRQ_LEVEL;
		off = put_intsrc(t.b, off, MP_INTSRC, MP_INT, flags, irq, MP_IOAPIC_ID, pin);
		entries++;
	}

	/* MP 1.4 §4.3.5 and §5.1 (virtual wire): ExtINT on LINT0, NMI on LINT1, all CPUs. */
	off = put_intsrc(t.b, off, MP_LINTSRC, MP_EXTINT, MP_IRQ_CONFORMS, 0, 0xff, 0);
	off = put_intsrc(t.b, off, MP_LINTSRC, MP_NMI, MP_IRQ_CONFORMS, 0, 0xff, 1);
	entries += 2;

	memcpy(t.h.signature, MPC_SIGNATURE, 4);
	t.h.length = off;
	t.h.spec = MP_SPEC_REV;
	memcpy(t.h.oem, "MINVMM  ", 8);
	memcpy(t.h.productid, "MINVMM 0.1  ", 12);
	t.h.oemcount = entries;
	t.h.lapic = LAYOUT_LAPIC;
	t.h.checksum = -mp_sum(t.b, off);

	memcpy(mpf.signature, MPF_SIGNATURE, 4);
	mpf.physptr = LAYOUT_MPTABLE + sizeof(mpf);
	mpf.length = 1;				/* in 16-byte paragraphs */
	mpf.specification = MP_SPEC_REV;
	/* feature1 = 0: a configuration table is present; feature2 IMCRP = 0: virtual wire. */
	mpf.checksum = -mp_sum(&mpf, sizeof(mpf));

	r = gm_write(gm, LAYOUT_MPTABLE, &mpf, sizeof(mpf));
	if (!r)
		r = gm_write(gm, mpf.physptr, t.b, off);
	return r;
}
