// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <string.h>

#include "base/guest-abi.h"
#include "base/log.h"
#include "devices/acpi-pm.h"
#include "vmreq.h"

#define STS	0
#define EN	2
#define CNT	4	/* GUEST_PM1A_CNT_BLK - GUEST_PM1A_EVT_BLK */
#define WAK_STS	0x8000

static struct vmreq_log log_;
static struct acpi_pm p;

static void quiet(void *ctx, enum log_level lvl, const char *line)
{
	(void)ctx; (void)lvl; (void)line;
}

static void setup(void)
{
	log_set_sink(quiet, NULL);
	acpi_pm_init(&p, vmreq_ctl(&log_));
}

static void teardown(void)
{
	acpi_pm_exit(&p);
	log_set_sink(NULL, NULL);
}

TestSuite(acpi_pm, .init = setup, .fini = teardown);

static uint16_t in16(unsigned int off)
{
	uint8_t b[2] = { 0 };

	acpi_pm_bus_ops.read(&p, off, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static void out16(unsigned int off, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	acpi_pm_bus_ops.write(&p, off, b, 2);
}

static uint16_t slp(unsigned int typ)
{
	return (uint16_t)(GUEST_PM1_SLP_EN | typ << GUEST_PM1_SLP_TYP_SHIFT);
}

Test(acpi_pm, cnt_block_follows_evt_block)
{
	cr_expect_eq(GUEST_PM1A_CNT_BLK - GUEST_PM1A_EVT_BLK, CNT);
}

Test(acpi_pm, s5_requests_poweroff)
{
	out16(CNT, slp(GUEST_ACPI_S5_TYP) | 1);
	cr_assert_eq(log_.n, 1);
	cr_expect_eq(log_.req[0], VM_REQ_POWEROFF);
}

Test(acpi_pm, s5_by_high_byte_write_requests_poweroff)
{
	uint8_t hi = (uint8_t)(slp(GUEST_ACPI_S5_TYP) >> 8);

	acpi_pm_bus_ops.write(&p, CNT + 1, &hi, 1);
	cr_assert_eq(log_.n, 1);
	cr_expect_eq(log_.req[0], VM_REQ_POWEROFF);
}

Test(acpi_pm, s3_does_not_request_anything_and_wakes_at_once)
{
	out16(CNT, slp(3) | 1);
	cr_expect_eq(log_.n, 0);
	cr_expect_eq(in16(STS) & WAK_STS, WAK_STS, "guest would spin on WAK_STS");
	out16(STS, WAK_STS);
	cr_expect_eq(in16(STS) & WAK_STS, 0);
}

Test(acpi_pm, s5_type_without_slp_en_does_nothing)
{
	out16(CNT, (uint16_t)(GUEST_ACPI_S5_TYP << GUEST_PM1_SLP_TYP_SHIFT));
	cr_expect_eq(log_.n, 0);
	cr_expect_eq(in16(CNT) & 0x1c00, GUEST_ACPI_S5_TYP << GUEST_PM1_SLP_TYP_SHIFT);
}

Test(acpi_pm, slp_en_reads_zero_and_sci_en_reads_one)
{
	cr_expect_eq(in16(CNT) & 1, 1);
	out16(CNT, 0);
	cr_expect_eq(in16(CNT) & 1, 1, "SCI_EN is fixed");
	out16(CNT, slp(3));
	cr_expect_eq(in16(CNT) & GUEST_PM1_SLP_EN, 0);
}

Test(acpi_pm, sts_write_1_to_clear)
{
	out16(CNT, slp(1));		/* sets WAK_STS, our only status source */
	cr_assert_eq(in16(STS), WAK_STS);
	out16(STS, 0);
	cr_expect_eq(in16(STS), WAK_STS, "writing 0 must not clear");
	out16(STS, 0x7fff);
	cr_expect_eq(in16(STS), WAK_STS, "other bits must not clear it");
	out16(STS, WAK_STS);
	cr_expect_eq(in16(STS), 0);
}

Test(acpi_pm, enable_register_is_storage)
{
	out16(EN, 0x0121);
	cr_expect_eq(in16(EN), 0x0121);
	cr_expect_eq(in16(STS), 0);
}

Test(acpi_pm, four_byte_access_spans_sts_and_en)
{
	uint8_t w[4] = { 0, 0, 0x20, 0x01 }, r[4] = { 0 };

	acpi_pm_bus_ops.write(&p, STS, w, 4);
	acpi_pm_bus_ops.read(&p, STS, r, 4);
	cr_expect_eq(r[2], 0x20);
	cr_expect_eq(r[3], 0x01);
}

Test(acpi_pm, access_past_the_block_is_clipped)
{
	uint8_t r[8], w[8] = { 0 };

	memset(r, 0xee, sizeof(r));
	acpi_pm_bus_ops.read(&p, CNT, r, 8);	/* a careless device would read past cnt */
	cr_expect_eq(r[0], 1);
	cr_expect_eq(r[2], 0xee, "bytes past the block are left alone");
	acpi_pm_bus_ops.write(&p, CNT + 1, w, 8);
	cr_expect_eq(in16(CNT), 1);
}
