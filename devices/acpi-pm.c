// SPDX-License-Identifier: MIT
/* Register bits: ACPI 6.5 §4.8.3.1 (PM1 event grouping) and §4.8.3.2 (PM1 control). */
#include <string.h>

#include "base/guest-abi.h"
#include "base/log.h"
#include "devices/acpi-pm.h"

#define PM1_STS		0
#define PM1_EN		2
#define PM1_CNT		4

#define STS_WAK		(1u << 15)
#define CNT_SCI_EN	(1u << 0)
#define CNT_SLP_TYP	(7u << GUEST_PM1_SLP_TYP_SHIFT)
#define CNT_SLP_EN	GUEST_PM1_SLP_EN

void acpi_pm_init(struct acpi_pm *p, struct vm_control ctl)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->ctl = ctl;
	p->cnt = CNT_SCI_EN;
}

void acpi_pm_exit(struct acpi_pm *p)
{
	pthread_mutex_destroy(&p->lock);
}

static uint16_t *acpi_pm_reg(struct acpi_pm *p, unsigned int off)
{
	switch (off & ~1u) {
	case PM1_STS:
		return &p->sts;
	case PM1_EN:
		return &p->en;
	default:
		return &p->cnt;
	}
}

/* How many of the len bytes at off fall inside the block (the bus keeps off < length). */
static uint32_t acpi_pm_span(uint64_t off, uint32_t len)
{
	if (off >= ACPI_PM_NR_PORTS)
		return 0;
	return len < ACPI_PM_NR_PORTS - off ? len : (uint32_t)(ACPI_PM_NR_PORTS - off);
}

static void acpi_pm_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	struct acpi_pm *p = ctx;
	uint32_t n = acpi_pm_span(off, len);
	uint8_t *out = data;

	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < n; i++) {
		unsigned int o = (unsigned int)off + i;

		out[i] = (uint8_t)(*acpi_pm_reg(p, o) >> (8 * (o & 1)));
	}
	pthread_mutex_unlock(&p->lock);
}

static void acpi_pm_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct acpi_pm *p = ctx;
	const uint8_t *in = data;
	bool cnt_written = false, poweroff = false;
	uint32_t n = acpi_pm_span(off, len);
	uint16_t w1c = 0, cnt;

	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < n; i++) {
		unsigned int o = (unsigned int)off + i, shift = 8 * (o & 1);
		uint16_t *reg = acpi_pm_reg(p, o), mask = (uint16_t)(0xffu << shift);

		if (reg == &p->sts) {
			w1c |= (uint16_t)(in[i] << shift);
		} else {
			*reg = (uint16_t)((*reg & ~mask) | (in[i] << shift));
			cnt_written |= reg == &p->cnt;
		}
	}
	p->sts &= ~w1c;

	/* SLP_EN is write-only (reads 0); SCI_EN is fixed at 1. */
	cnt = p->cnt;
	p->cnt = (uint16_t)((cnt & ~CNT_SLP_EN) | CNT_SCI_EN);
	if (cnt_written && (cnt & CNT_SLP_EN)) {
		unsigned int typ = (cnt & CNT_SLP_TYP) >> GUEST_PM1_SLP_TYP_SHIFT;

		if (typ == GUEST_ACPI_S5_TYP) {
			poweroff = true;
		} else {
			if (!p->warned_sleep) {
				p->warned_sleep = true;
				pr_warn("acpi-pm: sleep type %u not supported, guest woken at once",
					typ);
			}
			p->sts |= STS_WAK;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (poweroff && p->ctl.request)
		p->ctl.request(p->ctl.ctx, VM_REQ_POWEROFF, 0);
}

const struct bus_dev_ops acpi_pm_bus_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};
