// SPDX-License-Identifier: MIT
/*
 * virtio-net NICs: TAP backend or a vhost-user back-end (virtio/vhost-user/frontend.h), device
 * model, transport (virtio-mmio slot or virtio-pci function), and the KVM plumbing that keeps the data path off the vCPU threads: one ioeventfd
 * per virtqueue on its doorbell (the TAP worker polls them); interrupts through the slot's
 * IOAPIC pin (mmio) or MSI-X messages sent with KVM_SIGNAL_MSI (pci).
 */
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "base/log.h"
#include "virtio/vhost-user/msg.h"
#include "vmm/netshm.h"
#include "vmm/vm.h"

#define NIC_QUEUE_SIZE	256
#define MMIO_QUEUE_NOTIFY 0x50		/* VIRTIO 1.2 §4.2.2 */

static int nic_irq_set(void *ctx, int level)
{
	struct vmm_nic *nic = ctx;
	struct kvm_irq_level l = { .irq = nic->gsi, .level = level };

	return kvm_ioctl(nic->vm->vm_fd, KVM_IRQ_LINE, &l);
}

/* Queue vq's doorbell: virtio-mmio's QueueNotify with the queue index as data, or virtio-pci's
 * per-queue notify address (any width, any data). */
static int nic_ioeventfd(struct vmm_nic *nic, unsigned int vq, uint64_t base, bool assign)
{
	struct kvm_ioeventfd io = { .fd = nic->notify_fd[vq] };

	if (nic->pci) {
		io.addr = base + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * vq;
		io.len = 0;	/* the driver writes 16 bits; 0 matches any width */
	} else {
		io.addr = base + MMIO_QUEUE_NOTIFY;
		io.len = 4;
		io.datamatch = vq;
		io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
	}
	if (!assign)
		io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	return kvm_ioctl(nic->vm->vm_fd, KVM_IOEVENTFD, &io);
}

static int nic_ioeventfds(struct vmm_nic *nic, uint64_t base, bool assign)
{
	for (unsigned int vq = 0; vq < nic->nvq; vq++) {
		int r = nic_ioeventfd(nic, vq, base, assign);

		if (r && assign) {
			while (vq--)
				nic_ioeventfd(nic, vq, base, false);
			return r;
		}
	}
	return 0;
}

static int nic_msi_send(void *ctx, uint64_t addr, uint32_t data)
{
	struct vmm_nic *nic = ctx;
	struct kvm_msi msi = { .address_lo = (uint32_t)addr, .address_hi = addr >> 32,
			       .data = data };
	int r = kvm_ioctl(nic->vm->vm_fd, KVM_SIGNAL_MSI, &msi);

	return r < 0 ? r : 0;	/* > 0 delivered, 0 blocked by the guest: both fine */
}

/*
 * The PCI host's BAR mapper (devices/pci.h): the bus mapping, plus a NIC's doorbell
 * ioeventfds, which follow its BAR when the guest moves it.
 */
static struct vmm_nic *nic_of_bar(struct vmm *vm, const void *dev, uint64_t gpa)
{
	for (unsigned int i = 0; i < vm->nr_nics; i++) {
		struct vmm_nic *nic = &vm->nics[i];

		if (nic->pci && (dev ? dev == (void *)&nic->vpci : nic->base == gpa))
			return nic;
	}
	return NULL;
}

static int nic_bar_map(void *ctx, uint64_t gpa, uint64_t len, const struct bus_dev_ops *ops,
		       void *dev, const char *name)
{
	struct vmm *vm = ctx;
	struct vmm_nic *nic;
	int r = bus_register(&vm->mmio, gpa, len, ops, dev, name);

	if (r)
		return r;
	nic = nic_of_bar(vm, dev, gpa);
	if (nic) {
		r = nic_ioeventfds(nic, gpa, true);
		if (r) {
			if (bus_unregister(&vm->mmio, gpa, len))
				pr_warn("%s: BAR at 0x%llx stuck on the bus", name,
					(unsigned long long)gpa);
			return r;
		}
		nic->base = gpa;
	}
	return 0;
}

static void nic_bar_unmap(void *ctx, uint64_t gpa, uint64_t len)
{
	struct vmm *vm = ctx;
	struct vmm_nic *nic = nic_of_bar(vm, NULL, gpa);

	if (nic)
		nic_ioeventfds(nic, gpa, false);
	if (bus_unregister(&vm->mmio, gpa, len))
		pr_warn("PCI BAR unmap at 0x%llx: no such range on the bus", (unsigned long long)gpa);
}

struct pci_bar_map nic_pci_bar_map(struct vmm *vm)
{
	return (struct pci_bar_map){ .map = nic_bar_map, .unmap = nic_bar_unmap, .ctx = vm };
}

/* The transport's half before the device exists (the core needs its virtio_irq at init). */
static void nic_transport_init(struct vmm_nic *nic, struct virtio_irq *virq)
{
	if (nic->pci) {
		virtio_pci_init(&nic->vpci, (struct msi_sink){ .send = nic_msi_send, .ctx = nic },
				virq);
		nic->vpci_ready = true;
	} else {
		virtio_mmio_init(&nic->mmio, (struct irq_line){ .set = nic_irq_set, .ctx = nic },
				 virq);
		nic->mmio_ready = true;
	}
}

/* Attaches the device to its transport and puts it on the bus with its doorbell ioeventfds. */
static int nic_transport_add(struct vmm *vm, struct vmm_nic *nic, struct virtio_dev *vdev,
			     const char *name, struct err *e)
{
	int r;

	if (nic->pci)
		virtio_pci_attach(&nic->vpci, vdev);
	else
		virtio_mmio_attach(&nic->mmio, vdev);
	if (nic->pci) {
		struct pci_bar bars[PCI_NUM_BARS] = {
			[VIRTIO_PCI_BAR] = { .size = VIRTIO_PCI_BAR_SIZE, .flags = PCI_BAR_F_MEM64,
					     .ops = &virtio_pci_bar_ops, .ctx = &nic->vpci },
		};

		/* Places BAR 0 and maps it through nic_bar_map(), which adds the ioeventfds. */
		r = pci_host_add(&vm->pci, &virtio_pci_func_ops, &nic->vpci, bars, name, &nic->slot);
		if (r)
			return err_set(e, r, "adding %s to the PCI bus: %s", name, strerror(-r));
	} else {
		r = nic_ioeventfds(nic, nic->base, true);
		if (r)
			return err_set(e, r, "%s: KVM_IOEVENTFD: %s", name, strerror(-r));
		r = bus_register(&vm->mmio, nic->base, VIRTIO_MMIO_REGION_SIZE,
				 &virtio_mmio_bus_ops, &nic->mmio, name);
		if (r)
			return err_set(e, r, "registering %s: %s", name, strerror(-r));
	}
	return 0;
}

static int nic_new_notify_fds(struct vmm_nic *nic, unsigned int idx, struct err *e)
{
	for (unsigned int vq = 0; vq < nic->nvq; vq++) {
		nic->notify_fd[vq] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (nic->notify_fd[vq] < 0)
			return err_set(e, -errno, "NIC %u: eventfd: %s", idx, strerror(errno));
	}
	return 0;
}

static int nic_gsi_msi(void *ctx, uint32_t gsi, bool on, uint64_t addr, uint32_t data)
{
	return gsi_route_msi(ctx, gsi, on, addr, data);
}

/*
 * vhost-user: the device model and the control queue stay here, the data queues go to the
 * back-end. Their doorbell ioeventfds are the back-end's kick fds (the guest's notify reaches
 * it without a VMM thread); the control queue has no ioeventfd, so its doorbell traps and the
 * front-end handles it on the vCPU thread. Interrupts: the front-end's thread polls the call
 * eventfds and raises them through the transport (INTx with the ISR bit, or MSI-X).
 */
static int nic_attach_vhost_user(struct vmm *vm, unsigned int idx, const char *name,
				 struct err *e)
{
	const struct vmm_net_config *c = &vm->cfg.net[idx];
	struct vmm_nic *nic = &vm->nics[idx];
	struct vu_front_opts o = {
		.path = c->vhost_user, .server = c->vu_server, .fd = -1, .pairs = c->queues,
		.reconnect_s = c->vu_reconnect_s, .queue_size = NIC_QUEUE_SIZE,
	};
	struct virtio_irq virq;
	int r;

	if (c->shmem) {
		/* docs/vhost-user-shmem.md: the region and peer windows, and the device. */
		struct netshm_vm_opts no = {
			.vm_fd = vm->vm_fd, .mode = c->shmem, .protect = c->protect,
			.readonly_mem = vm->caps.readonly_mem, .populate = vm->cfg.mem.prefault,
			.mlock = vm->cfg.mem.mlock, .slot_base = GMEM_MAX_REGIONS,
			.pci = &vm->pci, .mmio = &vm->mmio,
			.doorbell = c->doorbell, .gsi = LAYOUT_NETSHM_GSI + idx,
			.msi_route = nic_gsi_msi, .route_ctx = &vm->gsi,
		};

		r = netshm_vm_create(&no, &nic->netshm, e);
		if (r)
			return err_prefix(e, "NIC %u", idx);
		o.netshm_mode = c->shmem == VMM_NETSHM_PEER ? VU_NETSHM_MODE_PEER :
							      VU_NETSHM_MODE_SHARED;
		o.netshm_ops = netshm_vm_ops(nic->netshm);
		o.netshm_peer_window = LAYOUT_NETSHM_PEER_STRIDE;
		o.netshm_doorbell = c->doorbell;
	}
	nic->nvq = 2 * c->queues;	/* data queues only: see above */
	r = nic_new_notify_fds(nic, idx, e);
	if (r)
		return r;
	memcpy(o.kick_fds, nic->notify_fd, sizeof(int) * nic->nvq);
	memcpy(o.mac, c->mac, sizeof(o.mac));
	nic_transport_init(nic, &virq);
	r = vu_front_create(&o, &vm->gm, virq, &nic->vu, e);
	if (r)
		return err_prefix(e, "NIC %u", idx);
	return nic_transport_add(vm, nic, vu_front_vdev(nic->vu), name, e);
}

int nic_attach(struct vmm *vm, unsigned int idx, struct err *e)
{
	const struct vmm_net_config *c = &vm->cfg.net[idx];
	struct vmm_nic *nic = &vm->nics[idx];
	struct tap_opts to = { .ifname = c->tap, .nfds = c->nfds, .queues = c->queues };
	struct net_opts no = { .pairs = c->queues, .queue_size = NIC_QUEUE_SIZE };
	struct virtio_irq virq;
	char name[16];
	int r;

	BUILD_BUG_ON(VMM_MAX_NETS > LAYOUT_VIRTIO_MMIO_MAX);
	BUILD_BUG_ON(LAYOUT_NETSHM_GSI + VMM_MAX_NETS > 24);	/* the IOAPIC's pins */
	BUILD_BUG_ON(2 * VMM_NET_MAX_QUEUES > 2 * VU_FRONT_MAX_PAIRS);
	*nic = (struct vmm_nic){ .vm = vm, .pci = c->pci,
				 .base = LAYOUT_VIRTIO_MMIO + idx * LAYOUT_VIRTIO_MMIO_SLOT,
				 .gsi = LAYOUT_VIRTIO_MMIO_GSI + idx };
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		nic->notify_fd[i] = -1;
	snprintf(name, sizeof(name), "virtio-net%u", idx);
	if (c->vhost_user[0])
		return nic_attach_vhost_user(vm, idx, name, e);

	memcpy(to.fds, c->fds, sizeof(c->fds[0]) * c->nfds);
	memcpy(no.mac, c->mac, sizeof(no.mac));
	r = tap_create(&to, &nic->tap, e);
	if (r)
		return err_prefix(e, "NIC %u", idx);
	no.offloads = tap_offloads(nic->tap);

	nic_transport_init(nic, &virq);
	r = net_create(&no, &vm->gm, virq, &nic->net, e);
	if (r)
		return err_prefix(e, "NIC %u", idx);
	tap_attach(nic->tap, nic->net);

	/* receiveq/transmitq per pair, then the control queue. */
	nic->nvq = 2 * c->queues + 1;
	r = nic_new_notify_fds(nic, idx, e);
	if (r)
		return r;
	for (unsigned int vq = 0; vq < nic->nvq; vq++) {
		r = tap_set_notify_fd(nic->tap, vq, nic->notify_fd[vq]);
		if (r)
			return err_set(e, r, "NIC %u: notify fd for queue %u: %s", idx, vq,
				       strerror(-r));
	}
	r = nic_transport_add(vm, nic, net_vdev(nic->net), name, e);
	if (r)
		return r;
	r = tap_start(nic->tap, e);
	if (r)
		return err_prefix(e, "NIC %u", idx);
	return 0;
}

/* Linux finds virtio-mmio devices on its command line (no DSDT entries for them yet). */
int nic_cmdline(const struct vmm *vm, char *buf, size_t len)
{
	size_t used = strlen(buf);

	for (unsigned int i = 0; i < vm->cfg.nr_nets; i++) {
		if (vm->cfg.net[i].pci)	/* found by PCI enumeration */
			continue;
		int n = snprintf(buf + used, len - used, "%svirtio_mmio.device=4K@0x%llx:%u",
				 used ? " " : "",
				 (unsigned long long)(LAYOUT_VIRTIO_MMIO + i * LAYOUT_VIRTIO_MMIO_SLOT),
				 LAYOUT_VIRTIO_MMIO_GSI + i);

		if (n < 0 || (size_t)n >= len - used)
			return -E2BIG;
		used += n;
	}
	return 0;
}

void nic_detach(struct vmm_nic *nic)
{
	/* The workers go first: nothing may touch the device or guest memory after this. */
	vu_front_destroy(nic->vu);	/* detaches netshm: its windows go first */
	nic->vu = NULL;
	netshm_vm_destroy(nic->netshm);
	nic->netshm = NULL;
	tap_destroy(nic->tap);
	nic->tap = NULL;
	net_destroy(nic->net);
	nic->net = NULL;
	if (nic->mmio_ready)
		virtio_mmio_exit(&nic->mmio);
	if (nic->vpci_ready)
		virtio_pci_exit(&nic->vpci);
	nic->mmio_ready = nic->vpci_ready = false;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (nic->notify_fd[i] >= 0) {
			close(nic->notify_fd[i]);
			nic->notify_fd[i] = -1;
		}
}
