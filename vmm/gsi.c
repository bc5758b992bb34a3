// SPDX-License-Identifier: MIT
/* The GSI routing table: see gsi.h. */
#include <errno.h>
#include <string.h>
#include <linux/kvm.h>

#include "vmm/gsi.h"
#include "vmm/kvm.h"

/* Lock held (or not shared yet): the table from the state. */
static int gsi_issue(struct gsi_routes *g)
{
	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[40];
	} rt = { 0 };
	unsigned int n = 0;

	for (unsigned int gsi = 0; gsi < GSI_PC_PINS; gsi++) {
		if (gsi == 2)
			continue;
		if (gsi < 16)
			rt.e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER :
								    KVM_IRQCHIP_PIC_SLAVE,
					       .pin = gsi % 8 } };
		if (g->msi[gsi].on)
			rt.e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi, .type = KVM_IRQ_ROUTING_MSI,
				.u.msi = { .address_lo = g->msi[gsi].addr_lo,
					   .address_hi = g->msi[gsi].addr_hi,
					   .data = g->msi[gsi].data } };
		else
			rt.e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC,
					       .pin = gsi ? gsi : 2 } };
	}
	BUILD_BUG_ON(15 + 23 > sizeof(rt.e) / sizeof(rt.e[0]));
	rt.hdr.nr = n;
	return kvm_ioctl(g->vm_fd, KVM_SET_GSI_ROUTING, &rt.hdr);
}

int gsi_routes_init(struct gsi_routes *g, int vm_fd)
{
	int r;

	memset(g, 0, sizeof(*g));
	g->vm_fd = vm_fd;
	r = gsi_issue(g);
	if (r)
		return r;
	r = pthread_mutex_init(&g->lock, NULL);
	if (r)
		return -r;
	g->ready = true;
	return 0;
}

void gsi_routes_exit(struct gsi_routes *g)
{
	if (g->ready)
		pthread_mutex_destroy(&g->lock);
	g->ready = false;
}

int gsi_route_msi(struct gsi_routes *g, uint32_t gsi, bool on, uint64_t addr, uint32_t data)
{
	typeof(g->msi[0]) old;
	int r;

	/* 0 and 2 are the PIT's and the cascade's: never a device's. */
	if (!g->ready || gsi >= GSI_PC_PINS || gsi == 0 || gsi == 2)
		return -EINVAL;
	if (on && (addr >> 20) != 0xfee)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	old = g->msi[gsi];
	g->msi[gsi].on = on;
	g->msi[gsi].addr_lo = on ? (uint32_t)addr : 0;
	g->msi[gsi].addr_hi = 0;
	g->msi[gsi].data = on ? data : 0;
	r = gsi_issue(g);
	if (r)
		g->msi[gsi] = old;
	else
		g->updates++;
	pthread_mutex_unlock(&g->lock);
	return r;
}
