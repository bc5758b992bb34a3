/* SPDX-License-Identifier: MIT */
#ifndef BASE_CONTRACTS_H
#define BASE_CONTRACTS_H

/*
 * The meeting points between layers. A device gets its interrupt line, its output and its way
 * to stop the VM as these small structs; it never sees struct vmm or a KVM fd, so it can be
 * unit-tested with plain callbacks.
 */
#include <stdint.h>
#include <sys/types.h>

/* A level- or edge-triggered interrupt line (vmm/ implements it with KVM_IRQ_LINE or irqfd). */
struct irq_line {
	int (*set)(void *ctx, int level);
	void *ctx;
};

/* Where a device's output bytes go (console, file, nothing). Short writes are allowed. */
struct byte_sink {
	ssize_t (*write)(void *ctx, const void *buf, size_t len);
	void *ctx;
};

/*
 * Offset-relative register access. The bus hands the device `off` = address - base, which is
 * < the registered length, and 1 <= len <= 8. Reads: data is pre-filled with zeros.
 * Called from vCPU threads, possibly several at once: a device with state locks it.
 */
struct bus_dev_ops {
	void (*read)(void *ctx, uint64_t off, void *data, uint32_t len);
	void (*write)(void *ctx, uint64_t off, const void *data, uint32_t len);
};

/* What a device may ask of the machine it sits in. */
enum vm_request {
	VM_REQ_EXIT,		/* guest exit device: `code` is the VMM's exit status */
	VM_REQ_RESET,		/* i8042 / CF9 reset: we end the VM (no reboot), reported as such */
	VM_REQ_POWEROFF,	/* ACPI S5 */
};

struct vm_control {
	void (*request)(void *ctx, enum vm_request req, int code);
	void *ctx;
};

#endif
