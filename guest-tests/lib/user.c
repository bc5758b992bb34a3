// SPDX-License-Identifier: MIT
/* Ring-3 CPU helpers. */
#include "libguest.h"

uint64_t tsc_khz(void)
{
	uint32_t r[4], max;

	cpuid(0, 0, r);
	max = r[0];
	if (max >= 0x15) {
		cpuid(0x15, 0, r);		/* TSC/crystal ratio eax:ebx, crystal Hz in ecx */
		if (r[0] && r[1] && r[2])
			return (uint64_t)r[2] * r[1] / r[0] / 1000;
	}
	cpuid(0x40000000, 0, r);
	if (r[0] >= 0x40000010) {
		cpuid(0x40000010, 0, r);	/* hypervisor timing leaf: TSC kHz in eax */
		if (r[0])
			return r[0];
	}
	if (max >= 0x16) {
		cpuid(0x16, 0, r);		/* base frequency in MHz */
		if (r[0])
			return (uint64_t)r[0] * 1000;
	}
	return 2000000;
}

void udelay(uint64_t us)
{
	uint64_t end = rdtsc() + us * tsc_khz() / 1000;

	while (rdtsc() < end)
		cpu_relax();
}

int cpu_ring(void)
{
	uint16_t cs;

	asm volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}
