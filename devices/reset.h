/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_RESET_H
#define DEVICES_RESET_H

/*
 * The two ways a PC guest resets itself, as VM requests (base/contracts.h). A reset ends the
 * VM; the VMM reports it. Both request outside their lock, so ctl.request may block.
 *
 * i8042: register at 0x60, length I8042_NR_PORTS (0x60 data, 0x61 port B, 0x64 status/cmd).
 * A keyboard controller with nothing plugged in: it passes its self-test (0xaa -> 0x55) and
 * interface tests, keeps the command byte (0x20/0x60), echoes 0xd2/0xd3, and pulses the reset
 * line for 0xfe (any 0xf0-0xff command with bit 0 clear) or a 0xd1 output-port write with
 * bit 0 clear -> VM_REQ_RESET. Bytes for the keyboard or mouse are dropped and never
 * answered, so a guest driver finds no device after its own timeout; the controller itself
 * never leaves a byte the driver did not ask for. It has no interrupt line.
 *
 * cf9: register at GUEST_RESET_PORT_CF9, length 1: the Reset Control Register of Intel
 * ICH/PCH chipsets. A write that sets RST_CPU (bit 2) -> VM_REQ_RESET (the bit self-clears),
 * whatever SYS_RST (bit 1) / FULL_RST (bit 3) say (they pick the kind of reset; every kind
 * ends our VM). Linux's "reboot=pci" writes 0x02 then 0x06 (warm) or 0x0e (cold).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/contracts.h"

#define I8042_NR_PORTS	5

struct i8042 {
	struct vm_control ctl;
	pthread_mutex_t lock;
	uint8_t ctr;		/* controller command byte */
	uint8_t outport;	/* output port: bit 0 = reset line (active low), bit 1 = A20 */
	uint8_t obuf;		/* output buffer, valid while obf */
	bool obf, obf_aux;
	bool last_was_cmd;	/* status bit 3: last write went to 0x64 */
	uint8_t pending;	/* command waiting for its data byte on 0x60, 0 = none */
};

void i8042_init(struct i8042 *k, struct vm_control ctl);
void i8042_exit(struct i8042 *k);
extern const struct bus_dev_ops i8042_bus_ops;	/* ctx = struct i8042 * */

struct cf9 {
	struct vm_control ctl;
	uint8_t reg;		/* bits 1-3; accessed atomically */
};

void cf9_init(struct cf9 *c, struct vm_control ctl);
extern const struct bus_dev_ops cf9_bus_ops;	/* ctx = struct cf9 * */

#endif
