/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_NETSHM_H
#define DEVICES_NETSHM_H

/*
 * The netshm PCI function (docs/vhost-user-shmem.md §4, registers in base/netshm-abi.h): tells
 * the guest where the VMM mapped vmm-switch's shared region and its peers' RAM. No DMA; the
 * windows themselves are memslots owned by vmm/netshm.c, not BARs. With doorbells (§8) it has
 * one edge interrupt, raised by an irqfd the VMM owns, never by this code.
 *
 * Config space: vendor NETSHM_PCI_VENDOR, device NETSHM_PCI_DEVICE, class NETSHM_PCI_CLASS,
 * revision NETSHM_VERSION, header type 0; with STATUS.DOORBELL (fixed at netshm_dev_add())
 * interrupt pin INTA and one MSI capability at 0x40 (64-bit, one vector, no masking; the
 * guest writes enable, address and data), else no capabilities and pin 0; everything else
 * reads 0 and ignores writes (the bridge owns command, BARs and the interrupt line;
 * netshm_dev_add() programs the line to IRQ as firmware would).
 *
 * BAR0 (NETSHM_BAR0_SIZE, 32-bit memory): read-only 32-bit registers. Only naturally aligned
 * 4-byte reads are answered; any other access reads all ones. Writes are ignored: an aligned
 * 4-byte write to DOORBELL(q) counts as doorbell_slow (the doorbell of q is not an ioeventfd
 * here, §8: dropped), any other write as writes. All are counted (stats), never logged per
 * access: a guest may hammer them.
 *
 * bar_hook (optional, set before netshm_dev_add): told where BAR0 decodes whenever that
 * changes (the VMM moves its doorbell ioeventfds along). It runs under the PCI host's lock
 * and must not call back into the host.
 * msi_hook (optional): the MSI message the device would send changed (enable, address or
 * data); the VMM routes the doorbell's GSI to it (on) or back to the pin (off). Also under
 * the PCI host's lock, not under the device's.
 *
 * Locking: the state is set by the VMM (any thread) with netshm_dev_set() and read by vCPU
 * threads, all under the device's mutex. GEN goes up by one after every change, so a guest
 * that reads GEN, the registers, then GEN again and sees the same value has one consistent
 * snapshot (§4). Nothing here knows KVM.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/contracts.h"
#include "base/netshm-abi.h"
#include "devices/pci.h"

/* What the registers say, apart from MAGIC, VERSION and GEN. */
struct netshm_dev_state {
	uint32_t status;		/* NETSHM_STS_* */
	uint32_t port, nports;
	uint64_t region_gpa, region_size;
	uint64_t peer_base, peer_stride;
	uint32_t peer_mapped;		/* bit p: port p's RAM is in its window */
	uint32_t peer_view;		/* STS_VIEWS: EPT view of the peer windows, else 0 */
	uint32_t irq;			/* STS_DOORBELL: the GSI of our doorbell, else 0 */
	uint32_t doorbell_peers;	/* bit q: port q's doorbell is an ioeventfd here */
};

struct netshm_dev_stats {
	uint64_t bad_reads;		/* not an aligned 32-bit read: answered with all ones */
	uint64_t writes;		/* ignored (not a DOORBELL(q) write) */
	uint64_t doorbell_slow;		/* aligned 32-bit DOORBELL(q) writes that exited: dropped */
	uint64_t msi_changes;		/* MSI enable/address/data changes (msi_hook calls) */
};

#define NETSHM_MSI_CAP_SIZE	16	/* at config offset 0x40 with STATUS.DOORBELL */

struct netshm_dev {
	pthread_mutex_t lock;
	struct netshm_dev_state st;
	uint32_t gen;
	struct netshm_dev_stats stats;
	void (*bar_hook)(void *ctx, uint64_t gpa, bool mapped);
	void (*msi_hook)(void *ctx, bool on, uint64_t addr, uint32_t data);
	void *bar_ctx;			/* for both hooks */
	uint8_t msi_cap[NETSHM_MSI_CAP_SIZE];	/* under lock: the guest's writable bits */
};

/* All registers zero but MAGIC/VERSION, GEN 0. */
int netshm_dev_init(struct netshm_dev *d) __must_check;
void netshm_dev_exit(struct netshm_dev *d);

/* Replaces the state and bumps GEN (even if nothing changed: the caller says it did). */
void netshm_dev_set(struct netshm_dev *d, const struct netshm_dev_state *st);
void netshm_dev_get(struct netshm_dev *d, struct netshm_dev_state *st, uint32_t *gen);
void netshm_dev_stats(struct netshm_dev *d, struct netshm_dev_stats *out);

/* One BAR0 register as a guest's aligned 32-bit read sees it (off < NETSHM_BAR0_SIZE). */
uint32_t netshm_dev_reg(struct netshm_dev *d, uint32_t off);

/*
 * Adds the function to the host bridge with BAR0 (pci_host_add's errors); with
 * STATUS.DOORBELL set it programs the interrupt line to IRQ. Call before the vCPUs run;
 * *slot is its device number.
 */
int netshm_dev_add(struct netshm_dev *d, struct pci_host *h, unsigned int *slot) __must_check;

extern const struct bus_dev_ops netshm_bar_ops;		/* ctx = struct netshm_dev * */
extern const struct pci_func_ops netshm_pci_ops;	/* ctx = struct netshm_dev * */

#endif
