// SPDX-License-Identifier: MIT
/*
 * I/O APIC redirection entries (82093AA datasheet §3.2), through its MMIO window from ring 3.
 * Each access is an exit into the in-kernel IOAPIC: setup only.
 */
#include "libguest.h"

#define IOAPIC_REGSEL		0x00
#define IOAPIC_WIN		0x10
#define IOAPIC_REG_VER		0x01	/* bits 16..23: highest redirection entry */
#define IOAPIC_REDTBL(pin)	(0x10 + 2 * (pin))
#define IOAPIC_MASKED		(1u << 16)
/* Delivery status and remote IRR: read-only, not part of what we wrote. */
#define IOAPIC_STATUS_BITS	(1u << 12 | 1u << 14)

uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	return mmio_read32(IOAPIC_BASE + IOAPIC_WIN);
}

void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	mmio_write32(IOAPIC_BASE + IOAPIC_WIN, v);
}

unsigned int ioapic_pins(void)
{
	uint32_t v = ioapic_read(IOAPIC_REG_VER);

	/* All ones: no IOAPIC behind the window (an exit nobody answers). */
	return v == 0xffffffffu ? 0 : ((v >> 16) & 0xff) + 1;
}

bool ioapic_route(unsigned int pin, unsigned int vector, uint32_t apic_id)
{
	if (pin >= ioapic_pins() || vector < 32 || vector > 254 || apic_id > 0xff)
		return false;
	/*
	 * Masked while the destination changes, unmasked by the last write: fixed delivery,
	 * physical destination, active high, edge (all zero bits), to apic_id.
	 */
	ioapic_write(IOAPIC_REDTBL(pin), IOAPIC_MASKED | vector);
	ioapic_write(IOAPIC_REDTBL(pin) + 1, apic_id << 24);
	ioapic_write(IOAPIC_REDTBL(pin), vector);
	return (ioapic_read(IOAPIC_REDTBL(pin)) & 0x1ffff & ~IOAPIC_STATUS_BITS) == vector;
}

void ioapic_mask(unsigned int pin)
{
	if (pin < ioapic_pins())
		ioapic_write(IOAPIC_REDTBL(pin), ioapic_read(IOAPIC_REDTBL(pin)) | IOAPIC_MASKED);
}
