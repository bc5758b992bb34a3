// SPDX-License-Identifier: MIT
/* Interrupt dispatch: ring 0, emulated on our hosts, so it does as little as it can. */
#include "libguest.h"

enum { SYS_RDMSR = 1, SYS_WRMSR = 2 };

static irq_handler_t irq_table[256];

bool handle_irq(unsigned int vector, irq_handler_t fn)
{
	if (vector >= 256 || vector == SERVICE_VECTOR)
		return false;
	irq_table[vector] = fn;
	return true;
}

static struct {
	volatile uint64_t nr, a0, a1, ret;
	volatile uint32_t done;
} service;

/* SERVICE_VECTOR, ring 0. */
static void service_irq(void)
{
	uint32_t lo, hi;

	switch (service.nr) {
	case SYS_RDMSR:
		asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"((uint32_t)service.a0));
		service.ret = ((uint64_t)hi << 32) | lo;
		break;
	case SYS_WRMSR:
		asm volatile("wrmsr" :: "c"((uint32_t)service.a0), "a"((uint32_t)service.a1),
			     "d"((uint32_t)(service.a1 >> 32)) : "memory");
		service.ret = 0;
		break;
	default:
		service.ret = (uint64_t)-1;
	}
	service.done = 1;
}

void irq_dispatch(struct irq_frame *f)
{
	unsigned int v = f->vector & 0xff;
	irq_handler_t fn = irq_table[v];

	if (v == SERVICE_VECTOR) {
		service_irq();
	} else if (fn) {
		fn(f);
	} else if (v < 32) {
		uint64_t cr2;

		asm volatile("mov %%cr2, %0" : "=r"(cr2));
		printf("UNHANDLED EXCEPTION %u error %#lx at rip %#lx (cs %#lx rflags %#lx) cr2 %#lx rsp %#lx\n",
		       v, f->error, f->rip, f->cs, f->rflags, cr2, f->rsp);
		exit(EXIT_UNHANDLED_EXCEPTION);
	}
	if (v >= 32 && v != 0xff)		/* 0xff is the spurious vector: no EOI (SDM §11.9) */
		mmio_write32(APIC_BASE + APIC_EOI, 0);
}

static uint64_t sys(uint64_t nr, uint64_t a0, uint64_t a1)
{
	service.nr = nr;
	service.a0 = a0;
	service.a1 = a1;
	service.done = 0;
	/* Fixed delivery to self (ICR destination shorthand 01b, SDM Vol. 3 §11.6.1). */
	lapic_write(APIC_ICR_LO, (1u << 18) | SERVICE_VECTOR);
	for (uint64_t i = 0; !service.done && i < 100000000; i++)
		cpu_relax();
	return service.done ? service.ret : (uint64_t)-1;
}

uint64_t sys_rdmsr(uint32_t msr)
{
	return sys(SYS_RDMSR, msr, 0);
}

void sys_wrmsr(uint32_t msr, uint64_t val)
{
	sys(SYS_WRMSR, msr, val);
}
