/* SPDX-License-Identifier: MIT */
#ifndef GUEST_VIRTIO_PCI_H
#define GUEST_VIRTIO_PCI_H

/*
 * Modern virtio-pci transport for test guests (VIRTIO 1.2 §4.1), poll mode: no MSI-X, no INTx.
 *
 * Discovery uses PCI configuration mechanism #1 (ports 0xcf8/0xcfc, PCI Local Bus 3.0
 * §3.2.2.3.2), bus 0 only, so the same image works under our VMM and QEMU -M pc/q35. The
 * vendor capabilities (cfg_type 1..4: COMMON, NOTIFY, ISR, DEVICE) are walked with a bounded
 * loop; every capability's BAR index, offset and length is checked against the BAR's size
 * before it is used. A BAR that is unassigned (0) or outside what our page tables map (above
 * 4 GiB) is placed in VIRTIO_PCI_WINDOW as firmware would have done; then memory decoding and
 * bus mastering are enabled.
 *
 * Every config-space and register access is an exit from ring 3 (~35 us on our hosts): this
 * is setup-time code, the data path only writes a doorbell when the device asks for it.
 */
#include <stdint.h>

#include "virtio.h"

#define VIRTIO_PCI_VENDOR		0x1af4
#define VIRTIO_PCI_DEVICE_MODERN	0x1040		/* + device id (§4.1.2.1) */
/* Where we place BARs nobody placed: our VMM's PCI window; inside QEMU's 32-bit PCI hole too. */
#define VIRTIO_PCI_WINDOW_START		0xc0000000ull
#define VIRTIO_PCI_WINDOW_END		0xd0000000ull
#define VIRTIO_PCI_NO_VECTOR		0xffff

extern const struct virtio_tp_ops virtio_pci_ops;

/* Configuration mechanism #1 on bus 0, function 0; off is dword-aligned for the 32-bit pair. */
uint32_t pci_cfg_read32(uint8_t slot, uint8_t off);
void pci_cfg_write32(uint8_t slot, uint8_t off, uint32_t v);
uint16_t pci_cfg_read16(uint8_t slot, uint8_t off);
void pci_cfg_write16(uint8_t slot, uint8_t off, uint16_t v);
uint8_t pci_cfg_read8(uint8_t slot, uint8_t off);

/*
 * Finds the idx-th (0-based, slot order) modern virtio-pci function with `device_id` on bus 0,
 * sets up its BARs and fills *tp. 0, -ENODEV (no such function), or -EINVAL (a capability
 * that is missing or does not fit its BAR, an I/O BAR, no room to place a BAR).
 */
int virtio_pci_find(uint32_t device_id, unsigned int idx, struct virtio_tp *tp);

#endif
