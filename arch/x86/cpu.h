/* SPDX-License-Identifier: MIT */
#ifndef ARCH_X86_CPU_H
#define ARCH_X86_CPU_H

/*
 * CPU state as pure functions: vmm/vcpu.c calls the KVM ioctls with what these compute.
 * KVM types only (linux/kvm.h); no ioctl here.
 */
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/boot.h"
#include "base/err.h"
#include "mm/gmem.h"

/*
 * Boot-CPU registers for an entry. For BOOT_LINUX64 this also writes the GDT and identity page
 * tables (first 4 GiB, 2 MiB pages) into guest memory at LAYOUT_GDT / LAYOUT_PAGETABLES; the
 * 32-bit protocols get a flat GDT and paging off. `sregs` must hold KVM's current values
 * (KVM_GET_SREGS) on entry: only the fields a protocol defines are changed.
 */
int x86_boot_cpu_state(const struct gmem *gm, const struct boot_entry *be,
		       struct kvm_sregs *sregs, struct kvm_regs *regs) __must_check;

/*
 * Filters the table KVM_GET_SUPPORTED_CPUID returned, in place, for vCPU `vcpu_id` of
 * `nr_vcpus`: topology (leaf 1 APIC id and logical count, leaf 0xb/0x1f, AMD 0x8000_0008 /
 * 0x8000_001e), hypervisor and KVM leaves (0x4000_0000/1), TSC-deadline, invariant TSC,
 * x2APIC; hides what we do not emulate (PMU, monitor/mwait). Returns -E2BIG if a leaf we must
 * add does not fit in `cap` entries.
 */
int x86_cpuid_setup(struct kvm_cpuid2 *cpuid, unsigned int cap, unsigned int vcpu_id,
		    unsigned int nr_vcpus) __must_check;

/* MSRs set on every vCPU at creation (MISC_ENABLE fast strings, PAT, ...). Returns count. */
unsigned int x86_msr_init(struct kvm_msr_entry *ents, unsigned int max);

/*
 * ACPI 2.0+ tables (RSDP, XSDT, FADT with the PM1a blocks of base/guest-abi.h and HW-reduced
 * off, FACS, DSDT with \_S5 and COM1, MADT with one LAPIC per vCPU, the IOAPIC and ISOs) at
 * LAYOUT_ACPI, checksums correct. `rsdp` receives the RSDP address.
 */
int acpi_build(const struct gmem *gm, unsigned int nr_vcpus, gpa_t *rsdp) __must_check;
/* Intel MP table 1.4 at LAYOUT_MPTABLE (for guests without ACPI). */
int mptable_build(const struct gmem *gm, unsigned int nr_vcpus) __must_check;

#endif
