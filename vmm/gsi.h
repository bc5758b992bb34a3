/* SPDX-License-Identifier: MIT */
#ifndef VMM_GSI_H
#define VMM_GSI_H

/*
 * The VM's GSI routing table. KVM_SET_GSI_ROUTING replaces the table whole, so it has one
 * owner: GSIs 0..23 as on a PC (ISA IRQs to the PICs, IOAPIC pins one to one, the PIT's IRQ 0
 * on pin 2, as arch/x86/acpi.c's MADT says), and per GSI an optional MSI route instead of its
 * pin: what a device's MSI capability asks for. An irqfd on an MSI route is injected in the
 * signaller's own context; on an IOAPIC route KVM defers it to a kernel worker (an extra
 * thread wake-up per interrupt), which is what the netshm doorbell avoids this way.
 *
 * Thread-safe (one mutex); each change re-issues the whole table.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

#define GSI_PC_PINS	24

struct gsi_routes {
	pthread_mutex_t lock;
	int vm_fd;
	bool ready;
	struct {
		bool on;
		uint32_t addr_lo, addr_hi, data;
	} msi[GSI_PC_PINS];
	uint64_t updates;		/* tables issued after the first */
};

/* Issues the PC table on vm_fd (which has KVM_CREATE_IRQCHIP). 0 or -errno. */
int gsi_routes_init(struct gsi_routes *g, int vm_fd) __must_check;
void gsi_routes_exit(struct gsi_routes *g);

/*
 * on: GSI gsi (< GSI_PC_PINS, not 0 or 2) is delivered as the MSI (addr, data) from now on;
 * addr must be an xAPIC message address (0xfee00000..0xfeefffff, SDM Vol. 3 §11.11.1), else
 * -EINVAL and the route stays as it was. off: back to its IOAPIC pin. 0 or -errno (KVM's
 * refusal leaves the previous table in force and the state unchanged).
 */
int gsi_route_msi(struct gsi_routes *g, uint32_t gsi, bool on, uint64_t addr, uint32_t data)
	__must_check;

#endif
