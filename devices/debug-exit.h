/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_DEBUG_EXIT_H
#define DEVICES_DEBUG_EXIT_H

/*
 * QEMU isa-debug-exit compatible exit port: register at GUEST_EXIT_PORT, length
 * GUEST_EXIT_WIDTH (base/guest-abi.h). A write of v (1, 2 or 4 bytes, little endian, at
 * offset 0) calls ctl.request(ctx, VM_REQ_EXIT, (int)v); the VMM maps v to its exit status
 * (QEMU: (v << 1) | 1). Other writes are ignored; reads return 0. Stateless, so any thread.
 */
#include "base/contracts.h"

struct debug_exit {
	struct vm_control ctl;
};

void debug_exit_init(struct debug_exit *d, struct vm_control ctl);

/* ctx = struct debug_exit * */
extern const struct bus_dev_ops debug_exit_bus_ops;

#endif
