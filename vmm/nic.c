// SPDX-License-Identifier: MIT
/*
 * virtio-net NICs on virtio-mmio slots: TAP backend, device model, transport, and the KVM
 * plumbing that keeps the data path off the vCPU threads: one ioeventfd per virtqueue on the
 * QueueNotify register (the TAP worker polls them), and the slot's IOAPIC pin for interrupts.
 */
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "vmm/vm.h"

#define NIC_QUEUE_SIZE	256
#define MMIO_QUEUE_NOTIFY 0x50		/* VIRTIO 1.2 §4.2.2 */

static int nic_irq_set(void *ctx, int level)
{
	struct vmm_nic *nic = ctx;
	struct kvm_irq_level l = { .irq = nic->gsi, .level = level };

	return kvm_ioctl(nic->vm->vm_fd, KVM_IRQ_LINE, &l);
}

static int nic_ioeventfd(struct vmm_nic *nic, unsigned int vq, struct err *e)
{
	struct kvm_ioeventfd io = {
		.addr = nic->base + MMIO_QUEUE_NOTIFY,
		.len = 4,
		.datamatch = vq,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), r;

	if (efd < 0)
		return err_set(e, -errno, "eventfd: %s", strerror(errno));
	nic->notify_fd[vq] = efd;
	io.fd = efd;
	r = kvm_ioctl(nic->vm->vm_fd, KVM_IOEVENTFD, &io);
	if (r)
		return err_set(e, r, "KVM_IOEVENTFD for queue %u: %s", vq, strerror(-r));
	r = tap_set_notify_fd(nic->tap, vq, efd);
	if (r)
		return err_set(e, r, "TAP notify fd for queue %u: %s", vq, strerror(-r));
	return 0;
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
	*nic = (struct vmm_nic){ .vm = vm, .base = LAYOUT_VIRTIO_MMIO + idx * LAYOUT_VIRTIO_MMIO_SLOT,
				 .gsi = LAYOUT_VIRTIO_MMIO_GSI + idx };
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		nic->notify_fd[i] = -1;
	memcpy(to.fds, c->fds, sizeof(c->fds[0]) * c->nfds);
	memcpy(no.mac, c->mac, sizeof(no.mac));

	r = tap_create(&to, &nic->tap, e);
	if (r)
		return err_prefix(e, "NIC %u", idx);
	no.offloads = tap_offloads(nic->tap);

	virtio_mmio_init(&nic->mmio, (struct irq_line){ .set = nic_irq_set, .ctx = nic }, &virq);
	nic->mmio_ready = true;
	r = net_create(&no, &vm->gm, virq, &nic->net, e);
	if (r)
		return err_prefix(e, "NIC %u", idx);
	virtio_mmio_attach(&nic->mmio, net_vdev(nic->net));
	tap_attach(nic->tap, nic->net);

	/* receiveq/transmitq per pair, then the control queue. */
	nic->nvq = 2 * c->queues + 1;
	for (unsigned int vq = 0; vq < nic->nvq; vq++) {
		r = nic_ioeventfd(nic, vq, e);
		if (r)
			return err_prefix(e, "NIC %u", idx);
	}
	snprintf(name, sizeof(name), "virtio-net%u", idx);
	r = bus_register(&vm->mmio, nic->base, VIRTIO_MMIO_REGION_SIZE, &virtio_mmio_bus_ops,
			 &nic->mmio, name);
	if (r)
		return err_set(e, r, "registering %s: %s", name, strerror(-r));
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
	/* The worker goes first: nothing may touch the device or guest memory after this. */
	tap_destroy(nic->tap);
	nic->tap = NULL;
	net_destroy(nic->net);
	nic->net = NULL;
	if (nic->mmio_ready)
		virtio_mmio_exit(&nic->mmio);
	nic->mmio_ready = false;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (nic->notify_fd[i] >= 0) {
			close(nic->notify_fd[i]);
			nic->notify_fd[i] = -1;
		}
}
