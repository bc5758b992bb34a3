/* SPDX-License-Identifier: MIT */
#ifndef VIRTIO_PCI_H
#define VIRTIO_PCI_H

/*
 * virtio-pci, modern interface only (VIRTIO 1.2 §4.1; no legacy/transitional I/O BAR), with
 * MSI-X and no INTx (interrupt pin 0).
 *
 * Config space (what pci_func_ops serves; the host bridge owns command/BARs/interrupt line):
 * vendor 0x1af4, device 0x1040 + device id, revision 1, subsystem 0x1af4:0x1100, class by
 * device type (network 02 00 00, block 01 80 00, console 07 80 00, others ff 00 00) and a
 * capability list: MSI-X, then the virtio capabilities COMMON_CFG, NOTIFY_CFG, ISR_CFG,
 * DEVICE_CFG and PCI_CFG (the config-space window into the BAR, §4.1.4.9).
 *
 * One 64-bit memory BAR (BAR 0, with BAR 1 as its upper half), VIRTIO_PCI_BAR_SIZE bytes:
 *   0x0000  common_cfg (56 bytes)          0x2000  notify: queue q at 0x2000 + 4 * q
 *   0x0800  ISR (1 byte, read clears)      0x3000  MSI-X table, nvq + 1 entries
 *   0x1000  device config (cfg_size)       0x3800  MSI-X PBA
 * notify_off_multiplier is 4 and queue_notify_off = q, so each queue has its own 4-byte
 * doorbell (an ioeventfd per queue needs no datamatch); any 1/2/4-byte write there notifies.
 *
 * common_cfg fields are decoded here and handed to the device core (virtio/device.h), which
 * does every state check; only natural-width accesses are accepted (§4.1.3.1; 64-bit fields
 * also as two 32-bit halves), others read 0 / are dropped and counted in stats.bad_accesses.
 * Transport state kept here: the MSI-X vector of each queue and of config changes (a vector
 * >= the table size reads back VIRTIO_MSI_NO_VECTOR, §4.1.5.1.2), the ISR, the MSI-X table
 * and PBA. A device reset (status 0) sets every vector to NO_VECTOR and clears the ISR.
 *
 * Interrupts (PCI Local Bus 3.0 §6.8.2): a queue or config interrupt looks up its vector. No
 * vector, MSI-X disabled: nothing is sent (the ISR bit is set as §4.1.4.5 asks). Function mask
 * or the vector's mask bit set: the PBA bit is set instead, and the message goes out when the
 * mask is cleared. Otherwise the table's address/data go to msi_sink.send. Table entries take
 * aligned 4- or 8-byte accesses only; the PBA is read-only.
 *
 * Locking: p->lock covers the transport state above and is held while calling msi.send; it
 * is never held while calling into the device core, so the core may raise interrupts from any
 * thread. Config-space callbacks run under the host bridge's lock (devices/pci.h).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/contracts.h"
#include "virtio/device.h"

#define VIRTIO_PCI_BAR_SIZE	0x4000
#define VIRTIO_PCI_BAR		0		/* 64-bit: BAR 1 is its upper half */
#define VIRTIO_PCI_COMMON_OFF	0x0000
#define VIRTIO_PCI_COMMON_LEN	0x38
#define VIRTIO_PCI_ISR_OFF	0x0800
#define VIRTIO_PCI_DEVICE_OFF	0x1000
#define VIRTIO_PCI_NOTIFY_OFF	0x2000
#define VIRTIO_PCI_NOTIFY_MULT	4
#define VIRTIO_PCI_MSIX_OFF	0x3000
#define VIRTIO_PCI_PBA_OFF	0x3800
#define VIRTIO_PCI_MAX_VECTORS	(VIRTIO_MAX_QUEUES + 1)
#define VIRTIO_PCI_CFG_SIZE	256	/* standard config space; the rest reads 0 */

struct virtio_pci_stats {
	uint64_t bad_accesses;		/* wrong width/alignment, unknown register */
	uint64_t msi_sent;
	uint64_t msi_failed;		/* msi_sink.send returned an error */
};

struct virtio_pci_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct virtio_pci {
	struct virtio_dev *dev;
	struct msi_sink msi;
	pthread_mutex_t lock;
	uint8_t cfg[VIRTIO_PCI_CFG_SIZE];	/* config space image */
	uint8_t wmask[VIRTIO_PCI_CFG_SIZE];	/* bits the driver may write */
	unsigned int nvec;			/* MSI-X table entries: nvq + 1 */
	struct virtio_pci_msix_entry msix[VIRTIO_PCI_MAX_VECTORS];
	uint64_t pba;
	uint16_t config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	uint8_t isr;
	uint64_t bar_gpa;			/* valid while bar_mapped (atomics) */
	bool bar_mapped;
	struct virtio_pci_stats stats;
};

/* Two steps because the device core needs the transport's virtio_irq at init (as mmio). */
void virtio_pci_init(struct virtio_pci *p, struct msi_sink msi, struct virtio_irq *out_irq);
/* Builds the config space for d (device id, nvq, cfg_size). Before it: reads 0, writes ignored. */
void virtio_pci_attach(struct virtio_pci *p, struct virtio_dev *d);
void virtio_pci_exit(struct virtio_pci *p);

/* ctx = struct virtio_pci *. Hand both to pci_host_add() (devices/pci.h). */
extern const struct pci_func_ops virtio_pci_func_ops;
extern const struct bus_dev_ops virtio_pci_bar_ops;	/* BAR 0, VIRTIO_PCI_BAR_SIZE, 64-bit */

/*
 * The guest-physical doorbell of queue q (for an ioeventfd of 2 bytes or any length):
 * -EINVAL q >= nvq, -ENODEV the BAR does not decode (not placed, MEM off, or refused).
 */
int virtio_pci_notify_addr(const struct virtio_pci *p, unsigned int q, uint64_t *gpa) __must_check;

#endif
