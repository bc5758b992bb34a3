/* SPDX-License-Identifier: MIT */
#ifndef BASE_CONTRACTS_H
#define BASE_CONTRACTS_H

/*
 * The meeting points between layers. A device gets its interrupt line, its output and its way
 * to stop the VM as these small structs; it never sees struct vmm or a KVM fd, so it can be
 * unit-tested with plain callbacks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A level- or edge-triggered interrupt line (vmm/ implements it with KVM_IRQ_LINE or irqfd). */
struct irq_line {
	int (*set)(void *ctx, int level);
	void *ctx;
};

/*
 * A message-signalled interrupt (PCI MSI/MSI-X): the device hands over the address/data pair
 * the driver programmed, unchanged; vmm/ implements it with KVM_SIGNAL_MSI or an irqfd route.
 * Returns 0 or -errno (the device counts failures; it cannot do more).
 */
struct msi_sink {
	int (*send)(void *ctx, uint64_t addr, uint32_t data);
	void *ctx;
};

/*
 * One PCI function as the host bridge (devices/pci.c) sees it. The bridge splits every access
 * into naturally aligned pieces of 1, 2 or 4 bytes that do not cross a dword, so `off` is a
 * multiple of `len` and off + len <= 4096. Reads: data is pre-filled with zeros.
 * The bridge itself implements the command register, the BARs, the expansion ROM BAR and the
 * interrupt line (offsets 0x04-0x05, 0x10-0x27, 0x30-0x33, 0x3c): the function never sees them.
 * bar_mapped (optional) tells the function where BAR `bar` now decodes (mapped) or that it
 * stopped decoding. All three are called with the bridge's lock held: they must not call back
 * into the bridge.
 */
struct pci_func_ops {
	void (*cfg_read)(void *ctx, uint32_t off, void *data, uint32_t len);
	void (*cfg_write)(void *ctx, uint32_t off, const void *data, uint32_t len);
	void (*bar_mapped)(void *ctx, unsigned int bar, uint64_t gpa, bool mapped);
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
