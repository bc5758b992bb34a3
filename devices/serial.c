// SPDX-License-Identifier: MIT
/*
 * 16550A UART. Register numbers, bits and interrupt priorities follow the PC16550D datasheet
 * (tables "Register Summary" and "Interrupt Control Functions").
 */
#include <string.h>

#include "base/compiler.h"
#include "devices/serial.h"

enum {
	UART_RBR_THR = 0,	/* DLAB=1: DLL */
	UART_IER = 1,		/* DLAB=1: DLM */
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_RDI		0x01	/* received data available */
#define IER_THRI	0x02	/* THR empty */
#define IER_RLSI	0x04	/* receiver line status */
#define IER_MSI		0x08	/* modem status */
#define IER_MASK	0x0f	/* bits 4-7 are 0 on a 16550A; Linux's autoconfig checks that */

#define IIR_NO_INT	0x01
#define IIR_MSI		0x00
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_RLSI	0x06
#define IIR_FIFO	0xc0	/* both bits follow FCR bit 0 */

#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define FCR_KEEP	0xc9	/* enable, DMA mode, trigger level; bits 1-2 self-clear */

#define LCR_DLAB	0x80

#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define MCR_MASK	0x1f

#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

#define MSR_DCTS	0x01
#define MSR_DDSR	0x02
#define MSR_TERI	0x04
#define MSR_DDCD	0x08
#define MSR_DELTA	0x0f
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80
/* With nothing attached we present a ready modem, as a null-modem console cable does. */
#define MSR_IDLE	(MSR_DCD | MSR_DSR | MSR_CTS)

static uint8_t uart_iir(const struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((u->ier & IER_RLSI) && u->overrun)
		return fifo | IIR_RLSI;
	if ((u->ier & IER_RDI) && u->rx_count)
		return fifo | IIR_RDI;
	if ((u->ier & IER_THRI) && u->thr_ipending)
		return fifo | IIR_THRI;
	if ((u->ier & IER_MSI) && (u->msr & MSR_DELTA))
		return fifo | IIR_MSI;
	return fifo | IIR_NO_INT;
}

/* Called with the lock held after every state change: the line follows "anything pending". */
static void uart_update_irq(struct uart *u)
{
	int level = !(uart_iir(u) & IIR_NO_INT);

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	if (u->irq.set)
		u->irq.set(u->irq.ctx, level);
}

static void uart_rx_put(struct uart *u, uint8_t b)
{
	if (u->rx_count == UART_FIFO_SIZE) {
		u->overrun = true;	/* loopback only: host input is refused instead */
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = b;
	u->rx_count++;
}

static void uart_rx_clear(struct uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
}

/* Modem inputs: in loopback they are wired to the MCR outputs (datasheet "Loopback"). */
static uint8_t uart_modem_lines(const struct uart *u)
{
	uint8_t m = u->mcr;

	if (!(m & MCR_LOOP))
		return MSR_IDLE;
	return ((m & MCR_RTS) ? MSR_CTS : 0) | ((m & MCR_DTR) ? MSR_DSR : 0) |
	       ((m & MCR_OUT1) ? MSR_RI : 0) | ((m & MCR_OUT2) ? MSR_DCD : 0);
}

static void uart_set_mcr(struct uart *u, uint8_t val)
{
	uint8_t old = u->msr & ~MSR_DELTA, new, changed, delta = 0;

	u->mcr = val & MCR_MASK;
	new = uart_modem_lines(u);
	changed = old ^ new;
	if (changed & MSR_CTS)
		delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		delta |= MSR_DDSR;
	if (changed & MSR_DCD)
		delta |= MSR_DDCD;
	if ((old & MSR_RI) && !(new & MSR_RI))	/* trailing edge only */
		delta |= MSR_TERI;
	u->msr = new | (u->msr & MSR_DELTA) | delta;
}

void uart_init(struct uart *u, struct irq_line irq, struct byte_sink out)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->irq = irq;
	u->out = out;
	u->msr = MSR_IDLE;
	u->dll = 0x0c;		/* 9600 baud from the 1.8432 MHz clock: a plausible reset value */
}

void uart_exit(struct uart *u)
{
	pthread_mutex_destroy(&u->lock);
}

static uint8_t uart_read_locked(struct uart *u, uint8_t off)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (off) {
	case UART_RBR_THR:
		if (dlab)
			return u->dll;
		if (!u->rx_count)
			return 0;
		v = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
		u->rx_count--;
		uart_update_irq(u);
		return v;
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR_FCR:
		v = uart_iir(u);
		/* Reading IIR while it reports THRE acknowledges that interrupt. */
		if ((v & 0x0f) == IIR_THRI) {
			u->thr_ipending = false;
			uart_update_irq(u);
		}
		return v;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0) | (u->overrun ? LSR_OE : 0);
		if (u->overrun) {
			u->overrun = false;
			uart_update_irq(u);
		}
		return v;
	case UART_MSR:
		v = u->msr;
		if (v & MSR_DELTA) {
			u->msr &= ~MSR_DELTA;
			uart_update_irq(u);
		}
		return v;
	case UART_SCR:
		return u->scr;
	default:
		return 0xff;
	}
}

uint8_t uart_read(struct uart *u, uint8_t off)
{
	uint8_t v;

	pthread_mutex_lock(&u->lock);
	v = uart_read_locked(u, off);
	pthread_mutex_unlock(&u->lock);
	return v;
}

static void uart_write_locked(struct uart *u, uint8_t off, uint8_t val)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t changed;

	switch (off) {
	case UART_RBR_THR:
		if (dlab) {
			u->dll = val;
			return;
		}
		if (u->mcr & MCR_LOOP)
			uart_rx_put(u, val);
		else if (u->out.write)
			(void)u->out.write(u->out.ctx, &val, 1);
		/* The byte left at once, so THR is empty again: a fresh THRE interrupt. */
		u->thr_ipending = true;
		break;
	case UART_IER:
		if (dlab) {
			u->dlm = val;
			return;
		}
		changed = (u->ier ^ val) & IER_THRI;
		u->ier = val & IER_MASK;
		/*
		 * Enabling THRI while THR is empty raises THRE even if an earlier IIR read
		 * acknowledged it; Linux's 8250 startup probes for exactly this (UART_BUG_THRE).
		 */
		if (changed)
			u->thr_ipending = u->ier & IER_THRI;
		break;
	case UART_IIR_FCR:
		/* Changing the enable bit or setting "clear RX" empties the RX FIFO. */
		if (((u->fcr ^ val) & FCR_ENABLE) || (val & FCR_CLEAR_RX))
			uart_rx_clear(u);
		u->fcr = (val & FCR_ENABLE) ? (val & FCR_KEEP) : 0;
		break;
	case UART_LCR:
		u->lcr = val;
		return;
	case UART_MCR:
		uart_set_mcr(u, val);
		break;
	case UART_SCR:
		u->scr = val;
		return;
	default:		/* LSR and MSR are read-only (factory test writes ignored) */
		return;
	}
	uart_update_irq(u);
}

void uart_write(struct uart *u, uint8_t off, uint8_t val)
{
	pthread_mutex_lock(&u->lock);
	uart_write_locked(u, off, val);
	pthread_mutex_unlock(&u->lock);
}

size_t uart_push_rx(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n, i;

	pthread_mutex_lock(&u->lock);
	n = UART_FIFO_SIZE - u->rx_count;
	if (n > len)
		n = len;
	for (i = 0; i < n; i++)
		uart_rx_put(u, buf[i]);
	if (n)
		uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t uart_rx_room(struct uart *u)
{
	size_t n;

	pthread_mutex_lock(&u->lock);
	n = UART_FIFO_SIZE - u->rx_count;
	pthread_mutex_unlock(&u->lock);
	return n;
}

static void uart_bus_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	if (!len)
		return;
	((uint8_t *)data)[0] = off < UART_NR_PORTS ? uart_read(ctx, (uint8_t)off) : 0xff;
}

static void uart_bus_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	if (!len || off >= UART_NR_PORTS)
		return;
	uart_write(ctx, (uint8_t)off, ((const uint8_t *)data)[0]);
}

const struct bus_dev_ops uart_bus_ops = {
	.read = uart_bus_read,
	.write = uart_bus_write,
};
