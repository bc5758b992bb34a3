// SPDX-License-Identifier: MIT
/*
 * vhost-user-shmem: the region and peer windows as memslots, and the netshm device's state.
 * See netshm.h; the rules are docs/vhost-user-shmem.md §3-§6.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/kvm-patch/kvm-views-uapi.h"
#include "arch/x86/layout.h"
#include "base/log.h"
#include "virtio/vhost-user/msg.h"
#include "vmm/kvm.h"
#include "vmm/netshm.h"
#include "vmm/vm.h"

/* The peer windows all fit below 2^39 (384 GiB): any x86-64 guest can address them. */
#define PEER_WINDOWS_END	(LAYOUT_NETSHM_PEER + NETSHM_MAX_PORTS * LAYOUT_NETSHM_PEER_STRIDE)
BUILD_BUG_ON(NETSHM_REGION_SIZE(NETSHM_MAX_PORTS) > LAYOUT_NETSHM_REGION_MAX);
BUILD_BUG_ON(LAYOUT_NETSHM_REGION + LAYOUT_NETSHM_REGION_MAX > LAYOUT_NETSHM_PEER);
BUILD_BUG_ON(2 + (NETSHM_MAX_PORTS - 1) * VU_MAX_REGIONS > NETSHM_SLOTS_MAX);

/* ---- memslot ids ---- */

void netshm_slots_init(struct netshm_slots *s, uint32_t base)
{
	*s = (struct netshm_slots){ .base = base };
}

int netshm_slot_alloc(struct netshm_slots *s, uint32_t *slot)
{
	if (s->used == ~0ull)
		return -ENOSPC;
	unsigned int i = (unsigned int)__builtin_ctzll(~s->used);

	s->used |= 1ull << i;
	*slot = s->base + i;
	return 0;
}

void netshm_slot_free(struct netshm_slots *s, uint32_t slot)
{
	if (slot >= s->base && slot - s->base < NETSHM_SLOTS_MAX)
		s->used &= ~(1ull << (slot - s->base));
}

unsigned int netshm_slots_used(const struct netshm_slots *s)
{
	return (unsigned int)__builtin_popcountll(s->used);
}

/* ---- KVM, through a table a test can replace ---- */

BUILD_BUG_ON(NETSHM_HC_VIEW_SWITCH != KVM_HC_EPT_VIEW_SWITCH);

static int real_check_extension(void *ctx, unsigned long cap)
{
	return kvm_ioctl_val(*(int *)ctx, KVM_CHECK_EXTENSION, cap);
}

static int real_create_ept_view(void *ctx, unsigned long flags)
{
	return kvm_ioctl_val(*(int *)ctx, KVM_CREATE_EPT_VIEW, flags);
}

static int real_set_ept_view_access(void *ctx, const struct kvm_ept_view_access *a)
{
	return kvm_ioctl(*(int *)ctx, KVM_SET_EPT_VIEW_ACCESS, a);
}

static int real_set_memory_region(void *ctx, const struct kvm_userspace_memory_region *r)
{
	return kvm_ioctl(*(int *)ctx, KVM_SET_USER_MEMORY_REGION, r);
}

static int real_irqfd(void *ctx, const struct kvm_irqfd *f)
{
	return kvm_ioctl(*(int *)ctx, KVM_IRQFD, f);
}

static int real_ioeventfd(void *ctx, const struct kvm_ioeventfd *io)
{
	return kvm_ioctl(*(int *)ctx, KVM_IOEVENTFD, io);
}

const struct netshm_kvm_ops netshm_kvm_real = {
	.check_extension = real_check_extension,
	.create_ept_view = real_create_ept_view,
	.set_ept_view_access = real_set_ept_view_access,
	.set_memory_region = real_set_memory_region,
	.irqfd = real_irqfd,
	.ioeventfd = real_ioeventfd,
};

enum netshm_view_switch netshm_views_decide(int cap, const char **why)
{
	const char *w = NULL;

	if (cap <= 0)
		w = "this KVM does not have it";
	else if ((cap & KVM_EPT_VIEWS_CAP_COUNT_MASK) < 2)
		w = "this KVM offers fewer than two views";
	else if (cap & KVM_EPT_VIEWS_CAP_VMFUNC)
		return NETSHM_SWITCH_VMFUNC;
	else if (cap & KVM_EPT_VIEWS_CAP_HYPERCALL)
		return NETSHM_SWITCH_HYPERCALL;
	else
		w = "this KVM offers neither VMFUNC nor the view-switch hypercall";
	if (why)
		*why = w;
	return NETSHM_SWITCH_NONE;
}

bool netshm_views_supported(int fd)
{
	return netshm_views_decide(real_check_extension(&fd, KVM_CAP_EPT_VIEWS), NULL) !=
	       NETSHM_SWITCH_NONE;
}

/* ---- the windows ---- */

struct ns_map {
	void *hva;
	uint64_t gpa, len;
	uint32_t slot;
	bool used;
};

struct netshm_vm {
	struct netshm_vm_opts o;
	pthread_mutex_t lock;
	struct netshm_dev dev;
	bool dev_ready, bus_ready;
	unsigned int pci_slot;
	const struct netshm_kvm_ops *kvm;
	void *kvm_ctx;
	int view;			/* protect=vmfunc: EPT view of the peer windows, else 0 */
	enum netshm_view_switch how;	/* ... and how the guest gets there */
	struct netshm_slots slots;

	bool attached;
	uint32_t port, nports;
	uint64_t rsize;
	bool ctrl_ro;
	struct ns_map ctrl, data;
	struct ns_map peer[NETSHM_MAX_PORTS][VU_MAX_REGIONS];
	uint32_t peers_mapped;

	uint64_t attaches, detaches, peer_maps, peer_unmaps, map_failures;
	uint64_t dropped_writes;	/* __atomic: vCPU threads */

	/* Doorbells (§8). */
	int db_fd;			/* ours: an irqfd on o.gsi, or -1 */
	int peer_db[NETSHM_MAX_PORTS];	/* DOORBELL_MAP(q): our dup, or -1 */
	uint32_t db_wired;		/* bit q: peer_db[q] is an ioeventfd at bar_gpa */
	bool bar_on;			/* BAR0 is mapped at bar_gpa */
	uint64_t bar_gpa;
	uint64_t db_maps, db_unmaps, db_failures;
	bool db_msi;			/* gsi is routed to the guest's MSI now */
	bool msi_warned;
};

static int ns_view_access(struct netshm_vm *n, uint32_t view, uint32_t slot, uint32_t access)
{
	struct kvm_ept_view_access a = { .view = view, .slot = slot, .access = access };

	return n->kvm->set_ept_view_access(n->kvm_ctx, &a);
}

static int ns_set_slot(struct netshm_vm *n, const struct ns_map *m, bool ro)
{
	struct kvm_userspace_memory_region r = {
		.slot = m->slot, .flags = ro ? KVM_MEM_READONLY : 0, .guest_phys_addr = m->gpa,
		.memory_size = m->len, .userspace_addr = (uintptr_t)m->hva,
	};

	return n->kvm->set_memory_region(n->kvm_ctx, &r);
}

/* Size 0 deletes the memslot, from every view at once. */
static int ns_del_slot(struct netshm_vm *n, const struct ns_map *m)
{
	struct kvm_userspace_memory_region r = { .slot = m->slot, .guest_phys_addr = m->gpa };

	return n->kvm->set_memory_region(n->kvm_ctx, &r);
}

#define ACCESS_RWX	(KVM_EPT_VIEW_ACCESS_READ | KVM_EPT_VIEW_ACCESS_WRITE | KVM_EPT_VIEW_ACCESS_EXEC)

/*
 * protect=vmfunc: a new slot appears in every view with that view's default access. View 0's
 * default is "none" while a peer slot is created, so the window never exists outside the peer
 * view, not even for a moment (docs/kvm-views.md §1); the peer view gets RW.
 */
static int ns_set_peer_slot(struct netshm_vm *n, const struct ns_map *m, bool *stuck)
{
	int r = ns_view_access(n, 0, KVM_EPT_VIEW_SLOT_DEFAULT, 0), r2;

	if (r)
		return r;
	r = ns_set_slot(n, m, false);
	r2 = ns_view_access(n, 0, KVM_EPT_VIEW_SLOT_DEFAULT, ACCESS_RWX);
	if (r2)
		pr_err("netshm: restoring EPT view 0's default access: %s; memslots created "
		       "from now on are invisible in view 0", strerror(-r2));
	if (r)
		return r;	/* no slot was created */
	/* With view 0's default stuck at "none" the slot is fine but the VM is not: refuse. */
	r = r2 ? r2 : ns_view_access(n, (uint32_t)n->view, m->slot,
				     KVM_EPT_VIEW_ACCESS_READ | KVM_EPT_VIEW_ACCESS_WRITE);
	if (r && ns_del_slot(n, m)) {
		pr_err("netshm: cannot remove memslot %u at 0x%llx again; keeping its mapping",
		       m->slot, (unsigned long long)m->gpa);
		*stuck = true;
	}
	return r;
}

/* Memslot first, then munmap (netshm.h). */
static void ns_unmap(struct netshm_vm *n, struct ns_map *m)
{
	int ret;

	if (!m->used)
		return;
	ret = ns_del_slot(n, m);
	if (ret) {
		/* KVM still points at the pages: keep them mapped rather than leave it a
		 * dangling address; the slot id stays taken. */
		pr_err("netshm: removing memslot %u at 0x%llx: %s; keeping its mapping", m->slot,
		       (unsigned long long)m->gpa, strerror(-ret));
		m->used = false;
		return;
	}
	netshm_slot_free(&n->slots, m->slot);
	munmap(m->hva, m->len);
	m->used = false;
}

/*
 * mmap fd [off, off + len) shared and put it at gpa. peer: a window of peer RAM (only in the
 * peer view under protect=vmfunc). 0 or -errno; nothing stays mapped on failure.
 */
static int ns_map(struct netshm_vm *n, struct ns_map *m, int fd, uint64_t off, uint64_t gpa,
		  uint64_t len, int prot, bool populate, bool peer)
{
	int flags = MAP_SHARED | (populate ? MAP_POPULATE : 0), r;
	bool stuck = false;

	*m = (struct ns_map){ .gpa = gpa, .len = len };
	m->hva = mmap(NULL, len, prot, flags, fd, (off_t)off);
	if (m->hva == MAP_FAILED)
		return -errno;
	if (n->o.mlock && mlock(m->hva, len))
		pr_warn("netshm: mlock of 0x%llx bytes: %s", (unsigned long long)len,
			strerror(errno));
	r = netshm_slot_alloc(&n->slots, &m->slot);
	if (r)
		goto err_unmap;
	if (peer && n->view)
		r = ns_set_peer_slot(n, m, &stuck);
	else
		r = ns_set_slot(n, m, !(prot & PROT_WRITE));
	if (stuck)
		return r;	/* KVM still points at the pages: id and mapping stay taken */
	if (r) {
		netshm_slot_free(&n->slots, m->slot);
		goto err_unmap;
	}
	m->used = true;
	return 0;
err_unmap:
	munmap(m->hva, len);
	return r;
}

/* The device registers from the state (lock held); GEN moves. */
static void ns_publish(struct netshm_vm *n)
{
	struct netshm_dev_state st = {
		.status = (n->o.mode == VMM_NETSHM_PEER ? NETSHM_STS_PEER : 0) |
			  (n->view ? NETSHM_STS_VIEWS : 0) |
			  (n->how == NETSHM_SWITCH_VMFUNC ? NETSHM_STS_VMFUNC : 0) |
			  (n->how == NETSHM_SWITCH_HYPERCALL ? NETSHM_STS_HCALL : 0),
		.peer_view = (uint32_t)n->view,
		.peer_base = n->o.mode == VMM_NETSHM_PEER ? LAYOUT_NETSHM_PEER : 0,
		.peer_stride = n->o.mode == VMM_NETSHM_PEER ? LAYOUT_NETSHM_PEER_STRIDE : 0,
		.peer_mapped = n->peers_mapped,
		.irq = n->db_fd >= 0 ? n->o.gsi : 0,
		.doorbell_peers = n->db_wired,
	};

	if (n->db_fd >= 0)
		st.status |= NETSHM_STS_DOORBELL;
	if (n->attached) {
		st.status |= NETSHM_STS_REGION | (n->ctrl_ro ? NETSHM_STS_CTRL_RO : 0);
		st.port = n->port;
		st.nports = n->nports;
		st.region_gpa = LAYOUT_NETSHM_REGION;
		st.region_size = n->rsize;
	}
	netshm_dev_set(&n->dev, &st);
}

/* ---- doorbells (§8) ---- */

/* Peer q's doorbell as an ioeventfd at BAR0 (at) + DOORBELL(q), or its removal. */
static int ns_db_ioeventfd(struct netshm_vm *n, uint32_t q, uint64_t at, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = at + NETSHM_REG_DOORBELL(q), .len = 4, .fd = n->peer_db[q],
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return n->kvm->ioeventfd(n->kvm_ctx, &io);
}

static void ns_db_unwire(struct netshm_vm *n, uint32_t q)
{
	int r;

	if (!(n->db_wired & (1u << q)))
		return;
	n->db_wired &= ~(1u << q);
	r = ns_db_ioeventfd(n, q, n->bar_gpa, false);
	if (r)
		pr_warn("netshm: removing the doorbell ioeventfd of port %u: %s", q, strerror(-r));
}

/* Wires q at the current BAR (lock held). A failure drops q's doorbell, counted. */
static int ns_db_wire(struct netshm_vm *n, uint32_t q)
{
	int r;

	if (!n->bar_on || n->peer_db[q] < 0 || (n->db_wired & (1u << q)))
		return 0;
	r = ns_db_ioeventfd(n, q, n->bar_gpa, true);
	if (!r) {
		n->db_wired |= 1u << q;
		return 0;
	}
	pr_warn("netshm: doorbell of port %u at 0x%llx: KVM_IOEVENTFD: %s; its writes exit to "
		"the VMM and are dropped", q,
		(unsigned long long)(n->bar_gpa + NETSHM_REG_DOORBELL(q)), strerror(-r));
	n->db_failures++;
	close(n->peer_db[q]);
	n->peer_db[q] = -1;
	return r;
}

/* Forgets q's doorbell: the ioeventfd first, then our dup. */
static void ns_db_drop(struct netshm_vm *n, uint32_t q)
{
	ns_db_unwire(n, q);
	if (n->peer_db[q] >= 0) {
		close(n->peer_db[q]);
		n->peer_db[q] = -1;
	}
}

static void ns_db_drop_all(struct netshm_vm *n)
{
	for (uint32_t q = 0; q < NETSHM_MAX_PORTS; q++)
		ns_db_drop(n, q);
}

static int ns_doorbell_fd(void *opaque)
{
	struct netshm_vm *n = opaque;

	return n->db_fd >= 0 ? n->db_fd : -ENODEV;
}

static int ns_doorbell_map(void *opaque, uint32_t port, int fd)
{
	struct netshm_vm *n = opaque;
	int r = 0, mine;

	if (port >= NETSHM_MAX_PORTS)
		return -EINVAL;
	pthread_mutex_lock(&n->lock);
	if (n->db_fd < 0 || !n->attached || port == n->port || port >= n->nports) {
		r = -EINVAL;
		goto out;
	}
	mine = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (mine < 0) {
		r = -errno;
		n->db_failures++;
		goto out;
	}
	ns_db_drop(n, port);		/* §8: a second MAP replaces the first */
	n->peer_db[port] = mine;
	r = ns_db_wire(n, port);
	if (!r)
		n->db_maps++;
	ns_publish(n);
out:
	pthread_mutex_unlock(&n->lock);
	return r;
}

static void ns_doorbell_unmap(void *opaque, uint32_t port)
{
	struct netshm_vm *n = opaque;

	if (port >= NETSHM_MAX_PORTS)
		return;
	pthread_mutex_lock(&n->lock);
	if (n->peer_db[port] >= 0) {
		ns_db_drop(n, port);
		n->db_unmaps++;
		ns_publish(n);
	}
	pthread_mutex_unlock(&n->lock);
}

/* The device's bar_hook (PCI host lock held, then ours): the ioeventfds follow BAR0. */
static void ns_bar_moved(void *ctx, uint64_t gpa, bool mapped)
{
	struct netshm_vm *n = ctx;
	uint32_t before;

	pthread_mutex_lock(&n->lock);
	before = n->db_wired;
	for (uint32_t q = 0; q < NETSHM_MAX_PORTS; q++)
		ns_db_unwire(n, q);
	n->bar_on = mapped;
	n->bar_gpa = gpa;
	for (uint32_t q = 0; q < NETSHM_MAX_PORTS; q++)
		(void)ns_db_wire(n, q);
	if (n->db_wired != before)
		ns_publish(n);
	pthread_mutex_unlock(&n->lock);
}

/*
 * The device's msi_hook (PCI host lock held, not ours): the guest's MSI message becomes the
 * route of our GSI. A refusal (a message that is not an xAPIC address, KVM says no) leaves the
 * pin route; warned once, counted always (a guest may repeat it).
 */
static void ns_msi(void *ctx, bool on, uint64_t addr, uint32_t data)
{
	struct netshm_vm *n = ctx;
	int r;

	if (n->db_fd < 0 || !n->o.msi_route)
		return;
	r = n->o.msi_route(n->o.route_ctx, n->o.gsi, on, addr, data);
	if (r && on && n->o.msi_route(n->o.route_ctx, n->o.gsi, false, 0, 0))
		pr_warn("netshm: doorbell GSI %u: no route back to its pin", n->o.gsi);
	pthread_mutex_lock(&n->lock);
	n->db_msi = on && !r;
	if (r) {
		n->db_failures++;
		if (!n->msi_warned)
			pr_warn("netshm: the guest's doorbell MSI (address 0x%llx, data 0x%x) cannot "
				"be routed: %s; the doorbell stays on IOAPIC pin %u",
				(unsigned long long)addr, data, strerror(-r), n->o.gsi);
		n->msi_warned = true;
	}
	pthread_mutex_unlock(&n->lock);
}

/* Our doorbell: an eventfd that KVM turns into an edge on o.gsi (irqfd). */
static int ns_db_create(struct netshm_vm *n, struct err *e)
{
	struct kvm_irqfd f = { .gsi = n->o.gsi };
	int r;

	if (!n->kvm->irqfd || !n->kvm->ioeventfd)
		return err_set(e, -EINVAL, "netshm: doorbells without KVM_IRQFD/KVM_IOEVENTFD");
	n->db_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->db_fd < 0)
		return err_set(e, -errno, "netshm: doorbell eventfd: %s", strerror(errno));
	f.fd = (uint32_t)n->db_fd;
	r = n->kvm->irqfd(n->kvm_ctx, &f);
	if (r) {
		close(n->db_fd);
		n->db_fd = -1;
		return err_set(e, r, "netshm: doorbell: KVM_IRQFD on GSI %u: %s", n->o.gsi,
			       strerror(-r));
	}
	return 0;
}

/* Our irqfd goes (lock held, after ns_detach_locked(), which dropped the peers' doorbells). */
static void ns_db_destroy(struct netshm_vm *n)
{
	struct kvm_irqfd f = { .gsi = n->o.gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN };
	int r;

	if (n->db_fd < 0)
		return;
	f.fd = (uint32_t)n->db_fd;
	r = n->kvm->irqfd(n->kvm_ctx, &f);
	if (r)
		pr_warn("netshm: removing the doorbell irqfd: %s", strerror(-r));
	close(n->db_fd);
	n->db_fd = -1;
}

static void ns_peer_unmap_locked(struct netshm_vm *n, uint32_t port)
{
	for (unsigned int i = 0; i < VU_MAX_REGIONS; i++)
		ns_unmap(n, &n->peer[port][i]);
	n->peers_mapped &= ~(1u << port);
}

static void ns_detach_locked(struct netshm_vm *n)
{
	bool any = n->attached || n->peers_mapped || n->db_wired;

	n->attached = false;
	n->peers_mapped = 0;
	ns_db_drop_all(n);		/* the doorbells belonged to that session */
	if (any)
		ns_publish(n);	/* the guest learns first; then the windows go */
	for (uint32_t p = 0; p < NETSHM_MAX_PORTS; p++)
		ns_peer_unmap_locked(n, p);
	ns_unmap(n, &n->data);
	ns_unmap(n, &n->ctrl);
}

static int ns_attach(void *opaque, int fd, uint64_t size, uint32_t port, uint32_t nports)
{
	struct netshm_vm *n = opaque;
	int r;

	/* The front-end checked these (§2); what the memslots rely on is checked again. */
	if (size <= NETSHM_CTRL_SIZE || size > LAYOUT_NETSHM_REGION_MAX || size % NETSHM_CTRL_SIZE ||
	    nports > NETSHM_MAX_PORTS || port >= nports)
		return -EINVAL;
	pthread_mutex_lock(&n->lock);
	ns_detach_locked(n);		/* a front-end always detaches first; be sure */
	n->ctrl_ro = n->o.readonly_mem;
	/* The VMM never writes the control part: map it read-only here too when KVM can. */
	r = ns_map(n, &n->ctrl, fd, 0, LAYOUT_NETSHM_REGION, NETSHM_CTRL_SIZE,
		   PROT_READ | (n->ctrl_ro ? 0 : PROT_WRITE), true, false);
	if (!r)
		r = ns_map(n, &n->data, fd, NETSHM_CTRL_SIZE, LAYOUT_NETSHM_REGION + NETSHM_CTRL_SIZE,
			   size - NETSHM_CTRL_SIZE, PROT_READ | PROT_WRITE, true, false);
	if (r) {
		ns_unmap(n, &n->ctrl);
		n->map_failures++;
		pthread_mutex_unlock(&n->lock);
		pr_err("netshm: mapping the region (0x%llx bytes) at 0x%llx: %s",
		       (unsigned long long)size, (unsigned long long)LAYOUT_NETSHM_REGION,
		       strerror(-r));
		return r;
	}
	n->attached = true;
	n->port = port;
	n->nports = nports;
	n->rsize = size;
	n->attaches++;
	ns_publish(n);
	pthread_mutex_unlock(&n->lock);
	return 0;
}

static void ns_detach(void *opaque)
{
	struct netshm_vm *n = opaque;

	pthread_mutex_lock(&n->lock);
	if (n->attached)
		n->detaches++;
	ns_detach_locked(n);
	pthread_mutex_unlock(&n->lock);
}

static int ns_peer_map(void *opaque, uint32_t port, const struct vu_mem *mem, const int *fds)
{
	struct netshm_vm *n = opaque;
	uint64_t win = LAYOUT_NETSHM_PEER + (uint64_t)port * LAYOUT_NETSHM_PEER_STRIDE;
	int r = 0;

	/* vu_netshm_peer_map_valid() ran in the front-end; the window bounds are ours. */
	if (n->o.mode != VMM_NETSHM_PEER || port >= NETSHM_MAX_PORTS || !mem->nregions ||
	    mem->nregions > VU_MAX_REGIONS)
		return -EINVAL;
	for (uint32_t i = 0; i < mem->nregions; i++) {
		const struct vu_mem_region *g = &mem->regions[i];
		uint64_t end;

		if (__builtin_add_overflow(g->guest_addr, g->size, &end) ||
		    end > LAYOUT_NETSHM_PEER_STRIDE)
			return -EINVAL;
	}
	pthread_mutex_lock(&n->lock);
	if (!n->attached || port == n->port || port >= n->nports) {
		pthread_mutex_unlock(&n->lock);
		return -EINVAL;
	}
	ns_peer_unmap_locked(n, port);	/* §2: a second PEER_MAP replaces the first */
	for (uint32_t i = 0; !r && i < mem->nregions; i++) {
		const struct vu_mem_region *g = &mem->regions[i];

		r = ns_map(n, &n->peer[port][i], fds[i], g->mmap_offset, win + g->guest_addr,
			   g->size, PROT_READ | PROT_WRITE, n->o.populate, true);
	}
	if (r) {
		ns_peer_unmap_locked(n, port);
		n->map_failures++;
	} else {
		n->peers_mapped |= 1u << port;
		n->peer_maps++;
	}
	ns_publish(n);
	pthread_mutex_unlock(&n->lock);
	return r;
}

static void ns_peer_unmap(void *opaque, uint32_t port)
{
	struct netshm_vm *n = opaque;

	if (port >= NETSHM_MAX_PORTS)
		return;
	pthread_mutex_lock(&n->lock);
	if (n->peers_mapped & (1u << port)) {
		n->peers_mapped &= ~(1u << port);
		ns_publish(n);	/* the bit goes before the window */
		n->peer_unmaps++;
	}
	ns_peer_unmap_locked(n, port);
	pthread_mutex_unlock(&n->lock);
}

struct vu_front_netshm_ops netshm_vm_ops(struct netshm_vm *n)
{
	struct vu_front_netshm_ops ops = { .opaque = n, .attach = ns_attach,
					   .detach = ns_detach, .peer_map = ns_peer_map,
					   .peer_unmap = ns_peer_unmap };

	if (n->db_fd >= 0) {
		ops.doorbell_fd = ns_doorbell_fd;
		ops.doorbell_map = ns_doorbell_map;
		ops.doorbell_unmap = ns_doorbell_unmap;
	}
	return ops;
}

/* ---- what exits at the windows: a store to the read-only part, a window that is gone ---- */

static void ns_gone_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	(void)ctx;
	(void)off;
	memset(data, 0xff, len);
}

static void ns_gone_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct netshm_vm *n = ctx;

	(void)off;
	(void)data;
	(void)len;
	__atomic_fetch_add(&n->dropped_writes, 1, __ATOMIC_RELAXED);
}

static const struct bus_dev_ops ns_gone_ops = { .read = ns_gone_read, .write = ns_gone_write };

/* ---- life cycle ---- */

/* protect=vmfunc: probe, then the peer view (docs/kvm-views.md §3 steps 1, 2 and 5). */
static int ns_views_create(struct netshm_vm *n, struct err *e)
{
	const char *why = NULL;
	int cap = n->kvm->check_extension(n->kvm_ctx, KVM_CAP_EPT_VIEWS), r;

	n->how = netshm_views_decide(cap, &why);
	if (n->how == NETSHM_SWITCH_NONE)
		return err_set(e, -ENOTSUP, "shmem=peer,protect=vmfunc needs KVM_CAP_EPT_VIEWS "
			       "(two EPT views and a way to switch them), but %s (answer %d): it "
			       "comes with our KVM patch, see docs/kvm-views.md; or say protect=none",
			       why, cap);
	/* Before the first vCPU (KVM_CREATE_EPT_VIEW refuses later with EBUSY). */
	r = n->kvm->create_ept_view(n->kvm_ctx, 0);
	if (r < 0)
		return err_set(e, r, "KVM_CREATE_EPT_VIEW: %s%s", strerror(-r),
			       r == -EBUSY ? " (vCPUs exist already)" : "");
	if (r < 1 || r > (cap & (int)KVM_EPT_VIEWS_CAP_COUNT_MASK) - 1)
		return err_set(e, -EPROTO, "KVM_CREATE_EPT_VIEW returned view %d of %d", r,
			       cap & (int)KVM_EPT_VIEWS_CAP_COUNT_MASK);
	n->view = r;
	pr_info("netshm: protect=vmfunc: peer windows only in EPT view %d; the guest switches "
		"with %s", r, n->how == NETSHM_SWITCH_VMFUNC ? "VMFUNC (no exit)" :
		"the KVM_HC_EPT_VIEW_SWITCH hypercall (one exit per switch)");
	return 0;
}

int netshm_vm_create(const struct netshm_vm_opts *o, struct netshm_vm **out, struct err *e)
{
	struct netshm_vm *n;
	int r;

	if (o->mode != VMM_NETSHM_SHARED && o->mode != VMM_NETSHM_PEER)
		return err_set(e, -EINVAL, "netshm: mode %d", o->mode);
	if (o->mode == VMM_NETSHM_PEER && o->protect != VMM_NETSHM_PROTECT_NONE &&
	    o->protect != VMM_NETSHM_PROTECT_VMFUNC)
		return err_set(e, -EINVAL, "netshm: peer mode needs protect=none or vmfunc");
	n = calloc(1, sizeof(*n));
	if (!n)
		return err_set(e, -ENOMEM, "netshm: out of memory");
	n->o = *o;
	n->kvm = o->kvm ? o->kvm : &netshm_kvm_real;
	n->kvm_ctx = o->kvm ? o->kvm_ctx : &n->o.vm_fd;
	netshm_slots_init(&n->slots, o->slot_base);
	n->db_fd = -1;
	for (uint32_t q = 0; q < NETSHM_MAX_PORTS; q++)
		n->peer_db[q] = -1;
	r = pthread_mutex_init(&n->lock, NULL);
	if (r) {
		free(n);
		return err_set(e, -r, "netshm: mutex: %s", strerror(r));
	}
	r = netshm_dev_init(&n->dev);
	if (r) {
		err_set(e, r, "netshm: device: %s", strerror(-r));
		goto err;
	}
	n->dev_ready = true;
	n->dev.bar_hook = ns_bar_moved;
	n->dev.msi_hook = ns_msi;
	n->dev.bar_ctx = n;
	if (o->doorbell) {
		r = ns_db_create(n, e);
		if (r)
			goto err;
	}
	if (o->mode == VMM_NETSHM_PEER && o->protect == VMM_NETSHM_PROTECT_VMFUNC) {
		r = ns_views_create(n, e);
		if (r)
			goto err;
	}
	if (o->mmio) {
		r = bus_register(o->mmio, LAYOUT_NETSHM_REGION, LAYOUT_NETSHM_REGION_MAX,
				 &ns_gone_ops, n, "netshm-region");
		if (r) {
			err_set(e, r, "netshm: region window on the MMIO bus: %s", strerror(-r));
			goto err;
		}
		r = bus_register(o->mmio, LAYOUT_NETSHM_PEER, PEER_WINDOWS_END - LAYOUT_NETSHM_PEER,
				 &ns_gone_ops, n, "netshm-peers");
		if (r) {
			if (bus_unregister(o->mmio, LAYOUT_NETSHM_REGION, LAYOUT_NETSHM_REGION_MAX))
				pr_warn("netshm: region window stuck on the bus");
			err_set(e, r, "netshm: peer windows on the MMIO bus: %s", strerror(-r));
			goto err;
		}
		n->bus_ready = true;
	}
	ns_publish(n);
	if (o->pci) {
		r = netshm_dev_add(&n->dev, o->pci, &n->pci_slot);
		if (r) {
			err_set(e, r, "adding the netshm device to the PCI bus: %s", strerror(-r));
			goto err;
		}
	}
	if (o->mode == VMM_NETSHM_PEER && o->protect == VMM_NETSHM_PROTECT_NONE)
		pr_warn("netshm: shmem=peer,protect=none: this guest gets read/write access to "
			"the RAM of every peer VM on the switch (docs/vhost-user-shmem.md §5)");
	*out = n;
	return 0;
err:
	netshm_vm_destroy(n);
	return r;
}

void netshm_vm_destroy(struct netshm_vm *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	ns_detach_locked(n);
	ns_db_destroy(n);
	pthread_mutex_unlock(&n->lock);
	if (n->bus_ready) {
		if (bus_unregister(n->o.mmio, LAYOUT_NETSHM_REGION, LAYOUT_NETSHM_REGION_MAX) ||
		    bus_unregister(n->o.mmio, LAYOUT_NETSHM_PEER,
				   PEER_WINDOWS_END - LAYOUT_NETSHM_PEER))
			pr_warn("netshm: windows not found on the MMIO bus");
	}
	/* The PCI function stays in its slot (the host has no remove); the VM is going away
	 * and pci_host_exit() already unmapped its BAR. */
	if (n->dev_ready)
		netshm_dev_exit(&n->dev);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

struct netshm_dev *netshm_vm_dev(struct netshm_vm *n)
{
	return &n->dev;
}

void netshm_vm_info(struct netshm_vm *n, struct vmm_netshm_info *out)
{
	struct netshm_dev_stats ds;

	netshm_dev_stats(&n->dev, &ds);
	pthread_mutex_lock(&n->lock);
	*out = (struct vmm_netshm_info){
		.mode = n->o.mode,
		.region_mapped = n->attached,
		.ctrl_ro = n->attached && n->ctrl_ro,
		.views = n->view > 0,
		.port = n->port, .nports = n->nports,
		.peers_mapped = n->peers_mapped,
		.attaches = n->attaches, .detaches = n->detaches,
		.peer_maps = n->peer_maps, .peer_unmaps = n->peer_unmaps,
		.map_failures = n->map_failures,
		.ctrl_writes_dropped = __atomic_load_n(&n->dropped_writes, __ATOMIC_RELAXED),
		.bad_reg_accesses = ds.bad_reads + ds.writes,
		.doorbell = n->db_fd >= 0,
		.irq = n->db_fd >= 0 ? n->o.gsi : 0,
		.doorbell_peers = n->db_wired,
		.doorbell_maps = n->db_maps, .doorbell_unmaps = n->db_unmaps,
		.doorbell_failures = n->db_failures,
		.doorbell_msi = n->db_msi,
		.doorbell_slow = ds.doorbell_slow,
	};
	pthread_mutex_unlock(&n->lock);
}

int vmm_netshm_info(const struct vmm *vm, struct vmm_netshm_info *out)
{
	for (unsigned int i = 0; i < vm->nr_nics; i++)
		if (vm->nics[i].netshm) {
			netshm_vm_info(vm->nics[i].netshm, out);
			return 0;
		}
	return -ENODEV;
}
