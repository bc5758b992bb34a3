// SPDX-License-Identifier: MIT
/*
 * vmm/gsi.c on /dev/kvm: the PC table goes in, a GSI routed to an MSI delivers that vector to
 * the local APIC (IRR, no guest needed), back on its pin it does not (the IOAPIC's entries are
 * masked at reset), and bad routes are refused without changing the table.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "lapic-probe.h"
#include "vmm/gsi.h"

#define APIC_SVR	0xf0
#define APIC_IRR	0x200

int lapic_probe_vcpu(int vm)
{
	struct kvm_lapic_state l;
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	uint32_t svr;

	cr_assert_geq(vcpu, 0, "KVM_CREATE_VCPU: %s", strerror(errno));
	cr_assert_eq(ioctl(vcpu, KVM_GET_LAPIC, &l), 0);
	memcpy(&svr, l.regs + APIC_SVR, 4);
	svr |= 0x100;		/* APIC software enable */
	memcpy(l.regs + APIC_SVR, &svr, 4);
	cr_assert_eq(ioctl(vcpu, KVM_SET_LAPIC, &l), 0);
	return vcpu;
}

bool lapic_probe_pending(int vcpu, unsigned int vector)
{
	struct kvm_lapic_state l;
	uint32_t irr;

	cr_assert_eq(ioctl(vcpu, KVM_GET_LAPIC, &l), 0);
	memcpy(&irr, l.regs + APIC_IRR + (vector / 32) * 0x10, 4);
	return irr & (1u << (vector % 32));
}

static struct {
	int kvm, vm, vcpu;
	struct gsi_routes g;
} t;

static void setup(void)
{
	t.kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	cr_assert_geq(t.kvm, 0, "/dev/kvm");
	t.vm = ioctl(t.kvm, KVM_CREATE_VM, 0);
	cr_assert_geq(t.vm, 0);
	cr_assert_eq(ioctl(t.vm, KVM_CREATE_IRQCHIP, 0), 0);
	cr_assert_eq(gsi_routes_init(&t.g, t.vm), 0);
	t.vcpu = lapic_probe_vcpu(t.vm);
}

static void teardown(void)
{
	gsi_routes_exit(&t.g);
	close(t.vcpu);
	close(t.vm);
	close(t.kvm);
}

TestSuite(gsi, .init = setup, .fini = teardown);

/* An edge on gsi, as an irqfd would make it. */
static void pulse(uint32_t gsi)
{
	struct kvm_irq_level l = { .irq = gsi, .level = 1 };

	cr_assert_eq(ioctl(t.vm, KVM_IRQ_LINE, &l), 0);
	l.level = 0;
	cr_assert_eq(ioctl(t.vm, KVM_IRQ_LINE, &l), 0);
}

Test(gsi, an_msi_route_delivers_its_vector_and_the_pin_route_does_not)
{
	cr_assert_eq(gsi_route_msi(&t.g, 21, true, 0xfee00000, 0x61), 0);
	pulse(21);
	cr_expect(lapic_probe_pending(t.vcpu, 0x61), "the MSI's vector is pending");
	cr_assert_eq(gsi_route_msi(&t.g, 21, false, 0, 0), 0);
	pulse(21);
	cr_expect_not(lapic_probe_pending(t.vcpu, 0x62));
	cr_expect_eq(t.g.updates, 2);
	/* Other GSIs kept their routes: 20 still reaches the (masked) IOAPIC, no vector. */
	pulse(20);
	for (unsigned int v = 0x20; v < 0x100; v++)
		if (v != 0x61)
			cr_expect_not(lapic_probe_pending(t.vcpu, v), "vector %#x", v);
}

Test(gsi, bad_routes_are_refused_and_change_nothing)
{
	cr_expect_eq(gsi_route_msi(&t.g, 0, true, 0xfee00000, 0x40), -EINVAL, "the PIT's");
	cr_expect_eq(gsi_route_msi(&t.g, 2, true, 0xfee00000, 0x40), -EINVAL, "the cascade");
	cr_expect_eq(gsi_route_msi(&t.g, GSI_PC_PINS, true, 0xfee00000, 0x40), -EINVAL);
	cr_expect_eq(gsi_route_msi(&t.g, 20, true, 0xfed00000, 0x40), -EINVAL, "not an APIC");
	cr_expect_eq(gsi_route_msi(&t.g, 20, true, 0x1fee00000ull, 0x40), -EINVAL);
	cr_expect_eq(t.g.updates, 0);
	cr_expect_not(t.g.msi[20].on);
}
