/* SPDX-License-Identifier: MIT */
#ifndef TESTS_CORE_LAPIC_PROBE_H
#define TESTS_CORE_LAPIC_PROBE_H

/*
 * Interrupt delivery on /dev/kvm without running a guest: vCPU 0 with its local APIC
 * software-enabled (SVR bit 8, what a guest's setup does), so that KVM accepts fixed
 * interrupts into its IRR, which KVM_GET_LAPIC shows. Defined in test_gsi.c.
 */
#include <stdbool.h>

/* vCPU 0 of vm (which has an irqchip), APIC enabled; its fd. */
int lapic_probe_vcpu(int vm);
/* Whether vector is pending (IRR) on that vCPU. */
bool lapic_probe_pending(int vcpu, unsigned int vector);

#endif
