/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_PCI_H
#define DEVICES_PCI_H

/*
 * PCI host bridge: one segment, bus 0 only, up to 32 slots with function 0 each. Slot 0 holds
 * the host bridge itself (Red Hat 1b36:0008, "QEMU PCIe host bridge", class 06 00 00), so a
 * Linux guest binds nothing special to it.
 *
 * Config access, two ways to the same space:
 *  - configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2): register pci_host_pio_ops at
 *    PCI_HOST_PIO_BASE with length PCI_HOST_PIO_LEN on the PIO bus. CONFIG_ADDRESS at 0xcf8 is
 *    a dword register (other widths there are ignored / read all ones); CONFIG_DATA
 *    0xcfc-0xcff takes any width. Port 0xcf9 (byte) is the PIIX/ICH reset control register,
 *    which shares the dword: give its bus_dev_ops to pci_host_chain_cf9() instead of
 *    registering it on the bus by itself.
 *  - ECAM (PCI Express 5.0 §7.2.2, PCI Firmware 3.2 MCFG): register pci_host_ecam_ops at the
 *    ECAM base with length PCI_ECAM_BUS_SIZE (bus 0 only).
 * Every access is split into naturally aligned 1/2/4-byte pieces that do not cross a dword
 * (an unaligned or 8-byte ECAM access thus becomes several), so functions only ever see
 * aligned accesses. No device (other bus, empty slot, function != 0, disabled
 * CONFIG_ADDRESS) reads all ones and ignores writes.
 *
 * The bridge owns, for every function: the command register (IO, MEM, MASTER, SERR and
 * INTX_DISABLE writable), the six BARs, the expansion ROM BAR (reads 0: no ROM) and the
 * interrupt line byte; everything else goes to the function's pci_func_ops (base/contracts.h).
 *
 * BARs (PCI Local Bus 3.0 §6.2.5.1): memory only (32- or 64-bit, optionally prefetchable);
 * no I/O BARs. Sizing works as on hardware: the register keeps only the address bits above
 * the size, so writing all ones reads back the size mask. A BAR decodes while command.MEM is
 * set and its address is not 0; each change of that (address or MEM bit) unmaps the old
 * range and maps the new one through struct pci_bar_map. A range the map refuses (it overlaps
 * another device, it wraps) leaves the BAR not decoding; stats.bar_conflicts counts it, and
 * the guest may move it again.
 *
 * Firmware-like initial placement: pci_host_add() assigns every BAR inside the window given to
 * pci_host_init(), naturally aligned, and sets command.MEM, so the BARs decode before the guest
 * runs (a guest may keep or move them).
 *
 * Locking: one mutex per host serialises every config access (any vCPU), BAR (un)mapping and
 * the calls into pci_func_ops and pci_bar_map, which therefore must not call back into the host.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/contracts.h"
#include "devices/bus.h"

#define PCI_MAX_SLOTS		32
#define PCI_NUM_BARS		6
#define PCI_CFG_SIZE		4096	/* PCIe extended config space of one function */
#define PCI_ECAM_BUS_SIZE	(PCI_MAX_SLOTS * 8 * PCI_CFG_SIZE)	/* 1 MiB: bus 0 */
#define PCI_HOST_PIO_BASE	0xcf8
#define PCI_HOST_PIO_LEN	8

#define PCI_HOST_VENDOR		0x1b36	/* Red Hat, Inc. */
#define PCI_HOST_DEVICE		0x0008	/* QEMU PCIe host bridge */

/* pci_bar.flags */
#define PCI_BAR_F_MEM64		(1u << 0)	/* 64-bit: also uses the next register */
#define PCI_BAR_F_PREFETCH	(1u << 1)

/* A memory BAR a function offers. size 0 = no BAR at that index. */
struct pci_bar {
	uint64_t size;			/* power of two, >= 16; <= 2 GiB unless 64-bit */
	unsigned int flags;
	const struct bus_dev_ops *ops;	/* the region, offset-relative */
	void *ctx;
};

/*
 * How BAR regions reach the MMIO bus. pci_bus_bar_map() gives the plain one (bus_register /
 * bus_unregister); vmm/ may wrap it to move ioeventfds along with a BAR. map returns 0 or
 * -errno (the BAR then stays off); unmap is only called for ranges map accepted.
 */
struct pci_bar_map {
	int (*map)(void *ctx, uint64_t gpa, uint64_t len, const struct bus_dev_ops *ops,
		   void *dev, const char *name);
	void (*unmap)(void *ctx, uint64_t gpa, uint64_t len);
	void *ctx;
};

struct pci_host_stats {
	uint64_t bar_conflicts;		/* BAR placements the map refused */
	uint64_t bad_accesses;		/* non-dword CONFIG_ADDRESS, straddling ports */
};

struct pci_slot {
	const struct pci_func_ops *ops;	/* NULL: empty slot */
	void *ctx;
	const char *name;
	struct pci_bar bars[PCI_NUM_BARS];
	uint32_t bar_reg[PCI_NUM_BARS];	/* address bits as the guest programmed them */
	uint64_t mapped_at[PCI_NUM_BARS];
	bool mapped[PCI_NUM_BARS];
	uint16_t command;
	uint8_t intr_line;
};

struct pci_host {
	pthread_mutex_t lock;
	uint32_t config_address;	/* 0xcf8 */
	struct pci_slot slots[PCI_MAX_SLOTS];
	struct pci_bar_map map;
	uint64_t win_next, win_end;	/* initial BAR placement */
	const struct bus_dev_ops *cf9_ops;
	void *cf9_ctx;
	struct pci_host_stats stats;
};

/*
 * Host bridge in slot 0; BARs of later functions are placed in [win_base, win_end).
 * -EINVAL: map has no callbacks, or the window is empty/wraps.
 */
int pci_host_init(struct pci_host *h, struct pci_bar_map map, uint64_t win_base,
		  uint64_t win_end) __must_check;
/* Unmaps every decoding BAR. Call after vCPUs stopped. */
void pci_host_exit(struct pci_host *h);

/* The reset control register at 0xcf9 (byte accesses at offset 1 of the 0xcf8 range). */
void pci_host_chain_cf9(struct pci_host *h, const struct bus_dev_ops *ops, void *ctx);

/*
 * Puts a function into the first free slot (*slot = its device number), places and maps its
 * BARs (bars: PCI_NUM_BARS entries, or NULL for none). Returns 0, or
 *   -EINVAL  ops without cfg_read/cfg_write, a BAR with a bad size, flags, missing ops, or a
 *            64-bit BAR in the last register / followed by a used register;
 *   -ENOSPC  no free slot, or the window has no room for a BAR;
 *   -errno   from map (nothing stays registered then).
 * Call before vCPUs run.
 */
int pci_host_add(struct pci_host *h, const struct pci_func_ops *ops, void *ctx,
		 const struct pci_bar *bars, const char *name, unsigned int *slot) __must_check;

/*
 * Where BAR `bar` of `slot` decodes now. -ENODEV: empty slot, no such BAR, or not decoding
 * (the guest turned MEM off or placed it over something else).
 */
int pci_host_bar_addr(struct pci_host *h, unsigned int slot, unsigned int bar,
		      uint64_t *gpa) __must_check;

/* Config space of bus/dev/fn, as both mechanisms see it; any off/len (split as above). */
void pci_host_cfg_read(struct pci_host *h, unsigned int bus, unsigned int dev, unsigned int fn,
		       uint32_t off, void *data, uint32_t len);
void pci_host_cfg_write(struct pci_host *h, unsigned int bus, unsigned int dev,
			unsigned int fn, uint32_t off, const void *data, uint32_t len);

/* ctx = struct pci_host *. */
extern const struct bus_dev_ops pci_host_pio_ops;	/* PIO 0xcf8, PCI_HOST_PIO_LEN */
extern const struct bus_dev_ops pci_host_ecam_ops;	/* MMIO ECAM base, PCI_ECAM_BUS_SIZE */

/* The plain pci_bar_map: BARs go straight onto `mmio`. */
struct pci_bar_map pci_bus_bar_map(struct bus *mmio);

#endif
