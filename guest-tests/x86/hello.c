// SPDX-License-Identifier: MIT
/* The default guest of the vmm binary: says who it is and how big its machine is. */
#include "libguest.h"

int main(void)
{
	const struct boot_info *bi = boot_info();
	struct acpi_cpus cpus;
	uint64_t ram = 0;

	for (uint32_t i = 0; i < bi->nr_ranges; i++)
		if (bi->ranges[i].type == MEM_RAM)
			ram += bi->ranges[i].len;
	if (!acpi_find_cpus(&cpus)) {
		printf("hello: no MADT found\n");
		return 1;
	}
	/* RAM reported is a little less than configured (the 640 KiB..1 MiB hole): round. */
	printf("Hello from the vmm test guest: %u vCPUs, %lu MiB of RAM\n", cpus.nr,
	       (ram + MiB(1) - 1) >> 20);
	return 0;
}
