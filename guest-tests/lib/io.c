// SPDX-License-Identifier: MIT
/* Serial console (16550 at COM1), printf, and the exit device (QEMU isa-debug-exit ABI). */
#include "libguest.h"

#define UART_THR	0
#define UART_LSR	5
#define UART_LSR_THRE	0x20

void serial_putc(char c)
{
	/* Bounded: an absent UART reads all ones (THRE set) and we never hang here. */
	for (int i = 0; i < 100000 && !(inb(GUEST_COM1_BASE + UART_LSR) & UART_LSR_THRE); i++)
		cpu_relax();
	outb(GUEST_COM1_BASE + UART_THR, (uint8_t)c);
}

void puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

void exit(int code)
{
	outl(GUEST_EXIT_PORT, (uint32_t)code);
	/* No exit device: stop here. cli/hlt need ring 0, so spin if we are in ring 3. */
	for (;;)
		cpu_relax();
}

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_num(struct out *o, uint64_t v, unsigned int base, bool neg, int width, char pad)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	for (int i = n; i < width; i++)
		put(o, pad);
	while (n)
		put(o, tmp[--n]);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		int width = 0, lng = 0;
		bool alt = false;
		char pad = ' ';

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '#') {
			alt = true;
			fmt++;
		}
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);

			put_num(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, pad);
			break;
		}
		case 'u':
			put_num(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int), 10, false,
				width, pad);
			break;
		case 'x':
			if (alt) {
				put(&o, '0');
				put(&o, 'x');
			}
			put_num(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int), 16, false,
				width, pad);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (uint64_t)va_arg(ap, void *), 16, false, width, pad);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);

			if (!s)
				s = "(null)";
			for (int n = (int)strlen(s); n < width; n++)
				put(&o, ' ');
			while (*s)
				put(&o, *s++);
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			put(&o, '%');
			put(&o, *fmt);
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int vprintf(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	puts(buf);
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}
