// SPDX-License-Identifier: MIT
#include "libguest.h"

extern const char ap_tramp_start[], ap_tramp_end[];

struct ap_checkin ap_checkin;
_Static_assert(__builtin_offsetof(struct ap_checkin, done) == 4, "trampoline.S offsets");
_Static_assert(__builtin_offsetof(struct ap_checkin, apic_id) == 8, "trampoline.S offsets");
_Static_assert(ACPI_MAX_CPUS == 64, "trampoline.S bound");

void smp_install_trampoline(void)
{
	/* 0x8000..0x9000 is free guest RAM in our VMM and, after the BIOS, under QEMU. */
	memcpy((void *)SMP_TRAMPOLINE, ap_tramp_start, (size_t)(ap_tramp_end - ap_tramp_start));
}
