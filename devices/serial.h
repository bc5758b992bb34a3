/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_SERIAL_H
#define DEVICES_SERIAL_H

/*
 * 16550A UART (register set of the National Semiconductor PC16550D datasheet), offset-relative:
 * register it on the PIO bus with length UART_NR_PORTS.
 *
 * - TX is instant: each byte written to THR goes to out.write at once (out.write NULL =
 *   discard; short writes lose bytes, we never block the vCPU to retry), so LSR always shows
 *   THRE|TEMT. In loopback mode (MCR bit 4) TX goes into our own RX FIFO instead.
 * - RX is a FIFO of UART_FIFO_SIZE bytes filled by uart_push_rx(); it never overwrites: what
 *   does not fit is refused, so the caller keeps it and retries when uart_rx_room() > 0.
 * - The interrupt is a level: irq.set(ctx, 1) while an interrupt enabled in IER is pending
 *   (RX data, THR empty, line status, modem status), irq.set(ctx, 0) when none is. It is called
 *   only on a change, with the UART lock held (so levels reach the line in order); irq.set and
 *   out.write must not call back into the UART.
 * - All functions may be called from any thread; the state is under u->lock.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/contracts.h"

#define UART_FIFO_SIZE	64
#define UART_NR_PORTS	8

struct uart {
	pthread_mutex_t lock;
	struct irq_line irq;
	struct byte_sink out;

	uint8_t rx[UART_FIFO_SIZE];
	unsigned int rx_head, rx_count;

	uint8_t ier, fcr, lcr, mcr, msr, scr, dll, dlm;
	bool overrun;		/* LSR.OE, cleared by reading LSR */
	bool thr_ipending;	/* THRE interrupt pending, cleared by reading IIR or writing THR */
	int irq_level;		/* last level given to irq.set */
};

void	uart_init(struct uart *u, struct irq_line irq, struct byte_sink out);
void	uart_exit(struct uart *u);

/* Register access at offset 0..7 (others read 0xff / are ignored); honours LCR.DLAB. */
uint8_t	uart_read(struct uart *u, uint8_t off);
void	uart_write(struct uart *u, uint8_t off, uint8_t val);

/* Host input: copies as many bytes as fit in the RX FIFO and returns that number. */
size_t	uart_push_rx(struct uart *u, const uint8_t *buf, size_t len);
size_t	uart_rx_room(struct uart *u);

/* ctx = struct uart *. Accesses are 1 byte wide; a wider one uses (and returns) the low byte. */
extern const struct bus_dev_ops uart_bus_ops;

#endif
