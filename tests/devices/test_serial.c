// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <string.h>

#include "devices/serial.h"

/* Register offsets and bits, spelled out here so the test does not trust serial.c's. */
#define THR 0
#define RBR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

static struct uart u;
static int irq_level, irq_calls;
static uint8_t sunk[256];
static size_t nsunk;

static int irq_set(void *ctx, int level)
{
	(void)ctx;
	irq_level = level;
	irq_calls++;
	return 0;
}

static ssize_t sink_write(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	if (len > sizeof(sunk) - nsunk)
		len = sizeof(sunk) - nsunk;
	memcpy(sunk + nsunk, buf, len);
	nsunk += len;
	return (ssize_t)len;
}

static void setup(void)
{
	uart_init(&u, (struct irq_line){ .set = irq_set }, (struct byte_sink){ .write = sink_write });
}

static void teardown(void)
{
	uart_exit(&u);
}

TestSuite(uart, .init = setup, .fini = teardown);

Test(uart, rx_flood_is_bounded_by_fifo)
{
	uint8_t flood[1000] = { 0 };

	cr_expect_eq(uart_push_rx(&u, flood, sizeof(flood)), UART_FIFO_SIZE);
	cr_expect_eq(uart_push_rx(&u, flood, 1), 0);
	cr_expect_eq(uart_rx_room(&u), 0);
	(void)uart_read(&u, RBR);
	cr_expect_eq(uart_rx_room(&u), 1);
	cr_expect_eq(uart_push_rx(&u, flood, sizeof(flood)), 1);
}

Test(uart, rx_bytes_come_out_in_order_across_the_ring_wrap)
{
	uint8_t in[UART_FIFO_SIZE];

	for (unsigned int i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	cr_assert_eq(uart_push_rx(&u, in, 40), 40);
	for (int i = 0; i < 40; i++)
		cr_assert_eq(uart_read(&u, RBR), i);
	cr_assert_eq(uart_push_rx(&u, in, sizeof(in)), sizeof(in));
	for (unsigned int i = 0; i < sizeof(in); i++)
		cr_assert_eq(uart_read(&u, RBR), in[i]);
	cr_expect_eq(uart_read(&u, LSR) & 0x01, 0, "DR set on an empty FIFO");
}

Test(uart, thr_byte_reaches_the_sink)
{
	uart_write(&u, THR, 'h');
	uart_write(&u, THR, 'i');
	cr_expect_eq(nsunk, 2);
	cr_expect_eq(memcmp(sunk, "hi", 2), 0);
	cr_expect_eq(uart_read(&u, LSR) & 0x60, 0x60, "THRE|TEMT must stay set");
}

Test(uart, null_sink_discards_output)
{
	uart_exit(&u);
	uart_init(&u, (struct irq_line){ 0 }, (struct byte_sink){ 0 });
	uart_write(&u, IER, 0x0f);	/* no irq.set either: must not crash */
	uart_write(&u, THR, 'x');
	cr_expect_eq(nsunk, 0);
}

Test(uart, thre_irq_raised_when_enabled_and_lowered_on_iir_read)
{
	cr_expect_eq(irq_calls, 0);
	cr_expect_eq(uart_read(&u, IIR) & 0x0f, 0x01, "nothing pending after reset");
	uart_write(&u, IER, 0x02);
	cr_expect_eq(irq_level, 1);
	cr_expect_eq(uart_read(&u, IIR) & 0x0f, 0x02);
	cr_expect_eq(irq_level, 0, "reading IIR acknowledges THRE");
	cr_expect_eq(uart_read(&u, IIR) & 0x0f, 0x01);
	/* Each transmitted byte empties THR again: a new THRE interrupt. */
	uart_write(&u, THR, 'a');
	cr_expect_eq(irq_level, 1);
	/* Disabling the source lowers the line without an acknowledge. */
	uart_write(&u, IER, 0x00);
	cr_expect_eq(irq_level, 0);
	/* Re-enabling THRI with THR empty raises it again (Linux's UART_BUG_THRE probe). */
	uart_write(&u, IER, 0x02);
	cr_expect_eq(irq_level, 1);
	cr_expect_eq(irq_calls, 5);
}

Test(uart, rx_data_interrupt_follows_fifo_content)
{
	const uint8_t in[2] = { 'o', 'k' };

	uart_write(&u, IER, 0x01);
	cr_expect_eq(irq_level, 0);
	cr_assert_eq(uart_push_rx(&u, in, 2), 2);
	cr_expect_eq(irq_level, 1);
	cr_expect_eq(uart_read(&u, IIR) & 0x0f, 0x04);
	cr_expect_eq(irq_level, 1, "IIR read does not acknowledge RX data");
	cr_expect_eq(uart_read(&u, LSR) & 0x01, 0x01);
	cr_expect_eq(uart_read(&u, RBR), 'o');
	cr_expect_eq(irq_level, 1);
	cr_expect_eq(uart_read(&u, RBR), 'k');
	cr_expect_eq(irq_level, 0);
}

Test(uart, rx_data_without_ier_raises_nothing)
{
	cr_assert_eq(uart_push_rx(&u, (const uint8_t *)"x", 1), 1);
	cr_expect_eq(irq_calls, 0);
	cr_expect_eq(uart_read(&u, IIR) & 0x01, 0x01);
}

Test(uart, rx_data_outranks_thre)
{
	uart_write(&u, IER, 0x03);
	cr_assert_eq(uart_push_rx(&u, (const uint8_t *)"x", 1), 1);
	cr_expect_eq(uart_read(&u, IIR) & 0x0f, 0x04);
	(void)uart_read(&u, RBR);
	cr_expect_eq(uart_read(&u, IIR) & 0x0f, 0x02);
	cr_expect_eq(irq_level, 0);
}

Test(uart, dlab_divisor_latch_round_trip)
{
	uart_write(&u, IER, 0x05);
	uart_write(&u, LCR, 0x83);
	uart_write(&u, DLL, 0x01);	/* 115200 baud */
	uart_write(&u, DLM, 0x02);
	cr_expect_eq(uart_read(&u, DLL), 0x01);
	cr_expect_eq(uart_read(&u, DLM), 0x02);
	cr_expect_eq(nsunk, 0, "a DLL write is not a THR write");
	uart_write(&u, LCR, 0x03);
	cr_expect_eq(uart_read(&u, LCR), 0x03);
	cr_expect_eq(uart_read(&u, IER), 0x05, "IER survived the DLM write");
	uart_write(&u, LCR, 0x80);
	cr_expect_eq(uart_read(&u, DLL), 0x01);
	cr_expect_eq(uart_read(&u, DLM), 0x02);
}

Test(uart, ier_upper_bits_read_as_zero)
{
	/* Linux's 8250 autoconfig writes 0x0f and expects 0x0f back, and 0 -> 0. */
	uart_write(&u, IER, 0xff);
	cr_expect_eq(uart_read(&u, IER), 0x0f);
	uart_write(&u, IER, 0x00);
	cr_expect_eq(uart_read(&u, IER), 0x00);
}

Test(uart, fifo_enable_shows_in_iir_and_clear_empties_rx)
{
	cr_expect_eq(uart_read(&u, IIR) & 0xc0, 0x00);
	uart_write(&u, FCR, 0x01);
	cr_expect_eq(uart_read(&u, IIR) & 0xc0, 0xc0, "16550A FIFO signature");
	cr_assert_eq(uart_push_rx(&u, (const uint8_t *)"abc", 3), 3);
	uart_write(&u, FCR, 0x03);
	cr_expect_eq(uart_rx_room(&u), UART_FIFO_SIZE);
	cr_expect_eq(uart_read(&u, LSR) & 0x01, 0);
}

Test(uart, loopback_returns_tx_to_rx_not_to_the_sink)
{
	uart_write(&u, MCR, 0x10);
	uart_write(&u, THR, 0x42);
	cr_expect_eq(nsunk, 0);
	cr_expect_eq(uart_read(&u, LSR) & 0x01, 0x01);
	cr_expect_eq(uart_read(&u, RBR), 0x42);
	uart_write(&u, MCR, 0x00);
	uart_write(&u, THR, 0x43);
	cr_expect_eq(nsunk, 1);
	cr_expect_eq(sunk[0], 0x43);
}

Test(uart, loopback_wires_mcr_to_msr)
{
	cr_expect_eq(uart_read(&u, MSR) & 0xf0, 0xb0, "idle modem: DCD DSR CTS");
	/* Linux's autoconfig loopback test: RTS|OUT2 must show as CTS|DCD. */
	uart_write(&u, MCR, 0x10 | 0x0a);
	cr_expect_eq(uart_read(&u, MSR) & 0xf0, 0x90);
	uart_write(&u, MCR, 0x10 | 0x05);	/* DTR|OUT1 -> DSR|RI */
	cr_expect_eq(uart_read(&u, MSR) & 0xf0, 0x60);
}

Test(uart, loopback_overrun_sets_oe_and_line_status_irq)
{
	uart_write(&u, IER, 0x04);
	uart_write(&u, MCR, 0x10);
	for (int i = 0; i < UART_FIFO_SIZE; i++)
		uart_write(&u, THR, (uint8_t)i);
	cr_expect_eq(irq_level, 0);
	uart_write(&u, THR, 0xff);	/* one too many */
	cr_expect_eq(irq_level, 1);
	cr_expect_eq(uart_read(&u, IIR) & 0x0f, 0x06);
	cr_expect_eq(uart_read(&u, LSR) & 0x02, 0x02);
	cr_expect_eq(irq_level, 0, "reading LSR clears OE");
	cr_expect_eq(uart_read(&u, LSR) & 0x02, 0);
	cr_expect_eq(uart_read(&u, RBR), 0, "the overflowing byte was dropped, not the first");
}

Test(uart, scratch_register_is_storage)
{
	uart_write(&u, SCR, 0xa5);
	cr_expect_eq(uart_read(&u, SCR), 0xa5);
}

Test(uart, bus_ops_use_the_low_byte_of_wide_accesses)
{
	uint8_t buf[4] = { 'W', 0x11, 0x22, 0x33 };
	uint8_t rd[4] = { 0 };

	uart_bus_ops.write(&u, THR, buf, 4);
	cr_expect_eq(nsunk, 1);
	cr_expect_eq(sunk[0], 'W');
	uart_bus_ops.write(&u, SCR, "\x77", 1);
	uart_bus_ops.read(&u, SCR, rd, 4);
	cr_expect_eq(rd[0], 0x77);
	cr_expect_eq(rd[1] | rd[2] | rd[3], 0);
	/* An offset past the 8 registers is ignored, not an out-of-range access. */
	uart_bus_ops.write(&u, 8, "z", 1);
	cr_expect_eq(nsunk, 1);
}
