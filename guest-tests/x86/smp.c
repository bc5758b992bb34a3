// SPDX-License-Identifier: MIT
/*
 * Starts every AP the MADT lists with INIT-SIPI-SIPI; each goes real -> protected -> long mode
 * on our page tables (lib/trampoline.S), checks in with `lock xadd` / `lock incl` and halts.
 * The BSP waits, bounded by the TSC, and checks that exactly the MADT's APIC ids checked in.
 */
#include "libguest.h"
#include "report.h"

#define TIMEOUT_US	10000000ull

int main(void)
{
	struct acpi_cpus cpus;
	uint32_t self, expect = 0;
	uint64_t khz = tsc_khz(), t0, end;

	bool found;

	report_prefix_push("smp");
	found = acpi_find_cpus(&cpus);
	report(found, "MADT lists %u CPUs", cpus.nr);
	self = lapic_id();
	lapic_enable();
	smp_install_trampoline();

	t0 = rdtsc();

	for (unsigned int i = 0; i < cpus.nr; i++) {
		if (cpus.apic_id[i] == self)
			continue;
		expect++;
		lapic_init_sipi_sipi(cpus.apic_id[i], SMP_TRAMPOLINE >> 12);
	}
	report(expect + 1 == cpus.nr, "BSP (APIC id %u) is in the MADT", self);

	end = rdtsc() + TIMEOUT_US * khz / 1000;
	while (ap_checkin.done < expect && rdtsc() < end)
		cpu_relax();
	report(ap_checkin.done == expect && ap_checkin.started == expect,
	       "%u of %u APs checked in %lu us after the first INIT", ap_checkin.done, expect,
	       (rdtsc() - t0) * 1000 / khz);

	for (unsigned int i = 0; i < cpus.nr; i++) {
		unsigned int seen = 0;

		if (cpus.apic_id[i] == self)
			continue;
		for (unsigned int s = 0; s < ap_checkin.done && s < ACPI_MAX_CPUS; s++)
			seen += ap_checkin.apic_id[s] == cpus.apic_id[i];
		report(seen == 1, "APIC id %u checked in once (%u)", cpus.apic_id[i], seen);
	}
	return report_summary();
}
