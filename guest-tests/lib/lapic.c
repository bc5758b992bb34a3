// SPDX-License-Identifier: MIT
/* Local APIC through its xAPIC MMIO page (SDM Vol. 3 §11.4.1), from ring 3. */
#include "libguest.h"

#define ICR_BUSY	(1u << 12)
#define ICR_INIT	(5u << 8)
#define ICR_STARTUP	(6u << 8)
#define ICR_ASSERT	(1u << 14)
#define ICR_LEVEL	(1u << 15)

uint32_t lapic_id(void)
{
	return lapic_read(APIC_ID) >> 24;
}

void lapic_enable(void)
{
	lapic_write(APIC_SVR, 0x100 | 0xff);
}

void lapic_eoi(void)
{
	lapic_write(APIC_EOI, 0);
}

bool lapic_icr_idle(uint64_t timeout_us)
{
	uint64_t end = rdtsc() + timeout_us * tsc_khz() / 1000;

	while (lapic_read(APIC_ICR_LO) & ICR_BUSY) {
		if (rdtsc() > end)
			return false;
		cpu_relax();
	}
	return true;
}

/* The universal start-up algorithm, SDM Vol. 3 §9.4.4.1 (MP spec B.4): INIT, 10 ms, SIPI,
 * 200 us, SIPI. A second SIPI to a running AP is ignored. */
void lapic_init_sipi_sipi(uint32_t apic_id, uint8_t page)
{
	lapic_write(APIC_ICR_HI, apic_id << 24);
	lapic_write(APIC_ICR_LO, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	lapic_icr_idle(1000);
	udelay(10000);
	for (int i = 0; i < 2; i++) {
		lapic_write(APIC_ICR_HI, apic_id << 24);
		lapic_write(APIC_ICR_LO, ICR_STARTUP | ICR_ASSERT | page);
		lapic_icr_idle(1000);
		udelay(200);
	}
}
