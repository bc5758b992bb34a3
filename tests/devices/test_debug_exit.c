// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>

#include "base/guest-abi.h"
#include "devices/debug-exit.h"
#include "vmreq.h"

static struct vmreq_log log_;
static struct debug_exit d;

static void setup(void)
{
	debug_exit_init(&d, vmreq_ctl(&log_));
}

TestSuite(debug_exit, .init = setup);

Test(debug_exit, four_byte_write_of_0x10_requests_exit_code_0x10)
{
	const uint8_t v[4] = { 0x10, 0, 0, 0 };

	debug_exit_bus_ops.write(&d, 0, v, 4);
	cr_assert_eq(log_.n, 1);
	cr_expect_eq(log_.req[0], VM_REQ_EXIT);
	cr_expect_eq(log_.code[0], 0x10);
}

Test(debug_exit, one_byte_write_requests_exit_too)
{
	debug_exit_bus_ops.write(&d, 0, "\x01", 1);
	cr_assert_eq(log_.n, 1);
	cr_expect_eq(log_.req[0], VM_REQ_EXIT);
	cr_expect_eq(log_.code[0], 1);
}

Test(debug_exit, wide_value_is_little_endian)
{
	const uint8_t v2[2] = { 0x34, 0x12 }, v4[4] = { 0x78, 0x56, 0x34, 0x12 };

	debug_exit_bus_ops.write(&d, 0, v2, 2);
	debug_exit_bus_ops.write(&d, 0, v4, 4);
	cr_assert_eq(log_.n, 2);
	cr_expect_eq(log_.code[0], 0x1234);
	cr_expect_eq(log_.code[1], 0x12345678);
}

Test(debug_exit, odd_width_or_offset_write_is_ignored)
{
	const uint8_t v[8] = { 1 };

	debug_exit_bus_ops.write(&d, 0, v, 3);
	debug_exit_bus_ops.write(&d, 0, v, 8);
	debug_exit_bus_ops.write(&d, 1, v, 1);
	debug_exit_bus_ops.write(&d, GUEST_EXIT_WIDTH - 1, v, 1);
	cr_expect_eq(log_.n, 0);
}

Test(debug_exit, reads_return_zero_and_request_nothing)
{
	uint8_t v[4] = { 0xff, 0xff, 0xff, 0xff };

	debug_exit_bus_ops.read(&d, 0, v, 4);
	cr_expect_eq(v[0] | v[1] | v[2] | v[3], 0);
	cr_expect_eq(log_.n, 0);
}

Test(debug_exit, null_request_is_tolerated)
{
	debug_exit_init(&d, (struct vm_control){ 0 });
	debug_exit_bus_ops.write(&d, 0, "\x01", 1);
	cr_expect_eq(log_.n, 0);
}
