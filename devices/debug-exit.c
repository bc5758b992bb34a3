// SPDX-License-Identifier: MIT
#include <string.h>

#include "base/log.h"
#include "devices/debug-exit.h"

void debug_exit_init(struct debug_exit *d, struct vm_control ctl)
{
	d->ctl = ctl;
}

static void debug_exit_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	(void)ctx;
	(void)off;
	memset(data, 0, len);
}

static void debug_exit_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct debug_exit *d = ctx;
	const uint8_t *p = data;
	uint32_t v = 0;

	/* QEMU's device is an ioport of "iosize" bytes: only whole writes at its start count. */
	if (off != 0 || (len != 1 && len != 2 && len != 4)) {
		pr_debug("debug-exit: ignored %u-byte write at offset %llu", len,
			 (unsigned long long)off);
		return;
	}
	for (uint32_t i = 0; i < len; i++)
		v |= (uint32_t)p[i] << (8 * i);
	if (d->ctl.request)
		d->ctl.request(d->ctl.ctx, VM_REQ_EXIT, (int)v);
}

const struct bus_dev_ops debug_exit_bus_ops = {
	.read = debug_exit_read,
	.write = debug_exit_write,
};
