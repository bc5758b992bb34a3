/* SPDX-License-Identifier: MIT */
#ifndef VMM_NETSHM_H
#define VMM_NETSHM_H

/*
 * vhost-user-shmem, the VMM's half (docs/vhost-user-shmem.md §3-§5): turns what the
 * vhost-user front-end received (the switch's region, the peers' RAM) into KVM memslots at the
 * fixed windows of arch/x86/layout.h, and tells the guest through the netshm PCI device
 * (devices/netshm.h).
 *
 *   region:  LAYOUT_NETSHM_REGION; [0, NETSHM_CTRL_SIZE) read-only to the guest where KVM has
 *            KVM_CAP_READONLY_MEM (STATUS.CTRL_RO), the rest read-write.
 *   peer p:  LAYOUT_NETSHM_PEER + p * LAYOUT_NETSHM_PEER_STRIDE + guest_addr, one memslot per
 *            region of p's memory table (peer mode only; STATUS.PEER, PEER_MAPPED bit p).
 *
 * Removal is always memslot first (KVM_SET_USER_MEMORY_REGION, size 0), munmap second, so
 * KVM never holds a stale host address. vCPUs keep running meanwhile; an access to a window
 * that is gone (or a store to the read-only part) exits to the MMIO bus, where a catch-all
 * range over both windows reads all ones and drops and counts writes.
 *
 * Doorbells (§8, doorbell=on): at create, an eventfd that is a KVM irqfd on gsi (STATUS.DOORBELL,
 * IRQ); the front-end sends it to the back-end. A peer q's doorbell fd (DOORBELL_MAP) is
 * dup'ed and made a KVM ioeventfd on BAR0 + NETSHM_REG_DOORBELL(q) (4-byte write, any data)
 * while BAR0 is mapped: the ioeventfds follow the BAR when the guest moves it (the device's
 * bar_hook, under the PCI host's lock, which is taken before ours), and DOORBELL_PEERS says
 * which are wired. DOORBELL_UNMAP, detach and destroy deassign and close them. When the guest
 * enables the device's MSI, gsi is routed to that message (msi_route): KVM then injects the
 * doorbell in the ringing vCPU's own context instead of through a kernel worker (vmm/gsi.h).
 *
 * Threads: the vu_front_netshm_ops callbacks run on the front-end's thread (or a vCPU in
 * DRIVER_OK); netshm_vm_info() from anywhere; one mutex. Nothing from the region is ever read
 * here (§3: the VMM only maps it).
 */
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "arch/x86/kvm-patch/kvm-views-uapi.h"
#include "base/compiler.h"
#include "base/err.h"
#include "devices/bus.h"
#include "devices/netshm.h"
#include "devices/pci.h"
#include "virtio/vhost-user/frontend.h"
#include "vmm/vmm.h"

/* Memslot ids for the windows: a bitmap above the RAM slots (vmm/builder.c uses 0..nr-1). */
#define NETSHM_SLOTS_MAX	64

struct netshm_slots {
	uint32_t base;
	uint64_t used;			/* bit i: slot base + i is in use */
};

void netshm_slots_init(struct netshm_slots *s, uint32_t base);
/* Lowest free id: 0 and *slot, or -ENOSPC. */
int netshm_slot_alloc(struct netshm_slots *s, uint32_t *slot) __must_check;
/* Ids that are not ours or not in use are ignored. */
void netshm_slot_free(struct netshm_slots *s, uint32_t slot);
unsigned int netshm_slots_used(const struct netshm_slots *s);

/*
 * Every KVM call this module makes, as a narrow table (kvm-ioctls style): the EPT-view paths
 * cannot run on stock KVM, so tests/core/test_netshm_views.c puts a fake KVM that enforces
 * the uapi's rules behind it. Each returns what kvm_ioctl() does: >= 0, or -errno.
 * netshm_kvm_real (ctx = an int * holding the VM fd) issues the ioctls.
 */
struct netshm_kvm_ops {
	int (*check_extension)(void *ctx, unsigned long cap);
	int (*create_ept_view)(void *ctx, unsigned long flags);		/* the new view's id */
	int (*set_ept_view_access)(void *ctx, const struct kvm_ept_view_access *a);
	int (*set_memory_region)(void *ctx, const struct kvm_userspace_memory_region *r);
	/* Doorbells (§8) only: KVM_IRQFD and KVM_IOEVENTFD. */
	int (*irqfd)(void *ctx, const struct kvm_irqfd *f);
	int (*ioeventfd)(void *ctx, const struct kvm_ioeventfd *io);
};
extern const struct netshm_kvm_ops netshm_kvm_real;

/* How a guest switches EPT views (device STATUS.VMFUNC / STATUS.HCALL). */
enum netshm_view_switch {
	NETSHM_SWITCH_NONE,
	NETSHM_SWITCH_VMFUNC,		/* VMFUNC leaf 0, no exit; preferred when offered */
	NETSHM_SWITCH_HYPERCALL,	/* KVM_HC_EPT_VIEW_SWITCH: one exit per switch */
};

/*
 * What a KVM_CHECK_EXTENSION(KVM_CAP_EPT_VIEWS) answer allows: at least two views and a way
 * for the guest to switch (docs/kvm-views.md §2). NONE for a stock kernel (0) or any answer
 * that falls short; then *why (if not NULL) says what is missing, in words for the user.
 */
enum netshm_view_switch netshm_views_decide(int cap, const char **why);
/* netshm_views_decide() of the real KVM_CHECK_EXTENSION on fd (/dev/kvm or a VM) != NONE. */
bool netshm_views_supported(int fd);

struct netshm_vm_opts {
	int vm_fd;
	enum vmm_netshm mode;		/* SHARED or PEER */
	enum vmm_netshm_protect protect;	/* PEER: NONE or VMFUNC */
	bool readonly_mem;		/* KVM_CAP_READONLY_MEM: map the control part read-only */
	bool populate;			/* MAP_POPULATE peer RAM too (the region always is) */
	bool mlock;			/* mlock every window (the VM is locked: --rt, mlock=on) */
	uint32_t slot_base;		/* first memslot id of ours */
	struct pci_host *pci;		/* the device goes here; NULL: not on a bus (tests) */
	struct bus *mmio;		/* the catch-all ranges go here; NULL: none */
	const struct netshm_kvm_ops *kvm;	/* NULL: netshm_kvm_real on vm_fd */
	void *kvm_ctx;			/* for kvm (ignored when kvm is NULL) */
	bool doorbell;			/* doorbell=on (§8): our eventfd is an irqfd on gsi */
	uint32_t gsi;			/* IOAPIC pin of the doorbell (LAYOUT_NETSHM_GSI + NIC) */
	/*
	 * The guest enabled / changed / disabled the device's MSI: route gsi to (addr, data),
	 * or back to its pin (on false). 0 or -errno. NULL: MSI writes change nothing.
	 */
	int (*msi_route)(void *ctx, uint32_t gsi, bool on, uint64_t addr, uint32_t data);
	void *route_ctx;
};

struct netshm_vm;

/*
 * Checks the options (protect=vmfunc: -ENOTSUP naming KVM_CAP_EPT_VIEWS, what it lacks and
 * docs/kvm-views.md unless netshm_views_decide() finds views and a switch; then creates the
 * peer view and tells the guest, in STATUS and PEER_VIEW, the view and how to switch to it),
 * adds the PCI function and the catch-all bus ranges. Call before the vCPUs are created
 * (KVM_CREATE_EPT_VIEW is refused after). protect=none logs a warning.
 *
 * protect=vmfunc memslots (docs/kvm-views.md §3): the region's are ordinary (RWX in every
 * view, the control part read-only through KVM_MEM_READONLY); a peer window's is created
 * while view 0's default access is "none", so it never exists in view 0, and is then RW in
 * the peer view. Deleting a memslot removes it from every view.
 */
int netshm_vm_create(const struct netshm_vm_opts *o, struct netshm_vm **out, struct err *e)
	__must_check;
/* Removes every window (memslots, then munmap). Call after the front-end is destroyed. */
void netshm_vm_destroy(struct netshm_vm *n);
/* The callbacks for vu_front_opts.netshm_ops. */
struct vu_front_netshm_ops netshm_vm_ops(struct netshm_vm *n);
void netshm_vm_info(struct netshm_vm *n, struct vmm_netshm_info *out);
/* The device, for tests and --stats. */
struct netshm_dev *netshm_vm_dev(struct netshm_vm *n);

#endif
