// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>

#include "devices/reset.h"
#include "vmreq.h"

#define DATA	0	/* 0x60 */
#define PORT_B	1	/* 0x61 */
#define CMD	4	/* 0x64 */

static struct vmreq_log log_;
static struct i8042 k;
static struct cf9 c;

static void setup(void)
{
	i8042_init(&k, vmreq_ctl(&log_));
	cf9_init(&c, vmreq_ctl(&log_));
}

static void teardown(void)
{
	i8042_exit(&k);
}

TestSuite(i8042, .init = setup, .fini = teardown);
TestSuite(cf9, .init = setup, .fini = teardown);

static uint8_t kin(unsigned int off)
{
	uint8_t v = 0;

	i8042_bus_ops.read(&k, off, &v, 1);
	return v;
}

static void kout(unsigned int off, uint8_t v)
{
	i8042_bus_ops.write(&k, off, &v, 1);
}

/* What Linux's i8042_command() does: write, wait for OBF (bounded), read. */
static int kcmd_reply(uint8_t cmd)
{
	kout(CMD, cmd);
	for (int i = 0; i < 10; i++)
		if (kin(CMD) & 0x01)
			return kin(DATA);
	return -1;
}

Test(i8042, status_after_reset_has_no_data_and_self_test_passed)
{
	uint8_t st = kin(CMD);

	cr_expect_eq(st & 0x01, 0, "no output byte");
	cr_expect_eq(st & 0x02, 0, "input buffer never busy");
	cr_expect_eq(st & 0x04, 0x04, "system flag: POST passed");
	cr_expect_eq(st, 0x1c);
}

Test(i8042, command_0xfe_requests_reset)
{
	kout(CMD, 0xfe);
	cr_assert_eq(log_.n, 1);
	cr_expect_eq(log_.req[0], VM_REQ_RESET);
}

Test(i8042, pulse_without_reset_line_requests_nothing)
{
	kout(CMD, 0xff);	/* pulse nothing */
	kout(CMD, 0xfd);	/* pulse bit 1 only */
	cr_expect_eq(log_.n, 0);
}

Test(i8042, output_port_write_with_reset_bit_low_requests_reset)
{
	kout(CMD, 0xd1);
	kout(DATA, 0x03);	/* A20 on, reset line high: harmless */
	cr_expect_eq(log_.n, 0);
	kout(CMD, 0xd1);
	kout(DATA, 0x02);
	cr_assert_eq(log_.n, 1);
	cr_expect_eq(log_.req[0], VM_REQ_RESET);
}

Test(i8042, linux_probe_sequence_requests_nothing_and_never_stalls)
{
	int ctr;

	/* i8042_flush(): nothing queued. */
	cr_expect_eq(kin(CMD) & 0x01, 0);
	/* i8042_controller_selftest() */
	cr_expect_eq(kcmd_reply(0xaa), 0x55);
	/* i8042_controller_init(): read CTR twice, write it back changed, read again. */
	ctr = kcmd_reply(0x20);
	cr_assert_geq(ctr, 0);
	cr_expect_eq(kcmd_reply(0x20), ctr);
	kout(CMD, 0x60);
	kout(DATA, (uint8_t)((ctr & ~0x03) | 0x30));
	cr_expect_eq(kcmd_reply(0x20), (ctr & ~0x03) | 0x30);
	/* i8042_check_aux(): loopback through the AUX port must come back as AUX data. */
	kout(CMD, 0xd3);
	kout(DATA, 0x5a);
	cr_expect_eq(kin(CMD) & 0x21, 0x21);
	cr_expect_eq(kin(DATA), 0x5a);
	cr_expect_eq(kcmd_reply(0xa9), 0x00);
	/* i8042_toggle_aux(): 0xa7/0xa8 flip CTR bit 5. */
	kout(CMD, 0xa7);
	cr_expect_eq(kcmd_reply(0x20) & 0x20, 0x20);
	kout(CMD, 0xa8);
	cr_expect_eq(kcmd_reply(0x20) & 0x20, 0x00);
	kout(CMD, 0xad);
	cr_expect_eq(kcmd_reply(0x20) & 0x10, 0x10);
	kout(CMD, 0xae);
	cr_expect_eq(kcmd_reply(0x20) & 0x10, 0x00);
	/* atkbd: commands for the keyboard are never answered (no keyboard), no stray byte. */
	kout(DATA, 0xf2);
	cr_expect_eq(kin(CMD) & 0x01, 0);
	kout(CMD, 0xd4);	/* to the mouse */
	kout(DATA, 0xf2);
	cr_expect_eq(kin(CMD) & 0x01, 0);
	cr_expect_eq(log_.n, 0);
}

Test(i8042, data_read_clears_output_buffer)
{
	cr_assert_eq(kcmd_reply(0xaa), 0x55);
	cr_expect_eq(kin(CMD) & 0x01, 0);
}

Test(i8042, status_bit_3_tracks_last_write_port)
{
	kout(CMD, 0x60);
	cr_expect_eq(kin(CMD) & 0x08, 0x08);
	kout(DATA, 0x45);
	cr_expect_eq(kin(CMD) & 0x08, 0x00);
}

Test(i8042, port_b_reads_timer_output_high)
{
	cr_expect_eq(kin(PORT_B) & 0x20, 0x20);
}

static uint8_t cin(void)
{
	uint8_t v = 0xff;

	cf9_bus_ops.read(&c, 0, &v, 1);
	return v;
}

static void cout(uint8_t v)
{
	cf9_bus_ops.write(&c, 0, &v, 1);
}

Test(cf9, linux_warm_sequence_requests_reset)
{
	uint8_t v = cin() & ~0x06;

	cout(v | 0x02);
	cr_expect_eq(log_.n, 0, "SYS_RST alone only selects the reset kind");
	cout(v | 0x06);
	cr_assert_eq(log_.n, 1);
	cr_expect_eq(log_.req[0], VM_REQ_RESET);
}

Test(cf9, linux_cold_sequence_requests_reset)
{
	uint8_t v = cin() & ~0x0e;

	cout(v | 0x02);
	cout(v | 0x0e);
	cr_assert_eq(log_.n, 1);
	cr_expect_eq(log_.req[0], VM_REQ_RESET);
}

Test(cf9, writes_without_rst_cpu_request_nothing)
{
	cout(0x02);
	cout(0x08);
	cout(0x0a);
	cout(0xf1);		/* reserved bits */
	cr_expect_eq(log_.n, 0);
	cr_expect_eq(cin() & 0xf1, 0, "reserved bits are not stored");
}

Test(cf9, rst_cpu_self_clears_so_a_retry_requests_again)
{
	cout(0x06);
	cr_expect_eq(cin(), 0x02);
	cout(0x06);
	cr_expect_eq(log_.n, 2);
}
