// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/kvm.h"

int kvm_open(int *kvm_fd, char *msg, size_t len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), ver;

	if (fd < 0) {
		int r = -errno;

		snprintf(msg, len, "cannot open /dev/kvm: %s%s", strerror(-r),
			 r == -EACCES ? " (are you in the kvm group?)" : "");
		return r;
	}
	ver = kvm_ioctl_val(fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		snprintf(msg, len, "KVM API version %d, expected %d", ver, KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	*kvm_fd = fd;
	return 0;
}

static int cap(int fd, long c)
{
	int r = kvm_ioctl_val(fd, KVM_CHECK_EXTENSION, c);

	return r < 0 ? 0 : r;
}

void kvm_probe_caps(int kvm_fd, int vm_fd, struct kvm_caps *c)
{
	/* VM-scoped checks where they exist: some caps depend on the VM type. */
	int fd = vm_fd >= 0 ? vm_fd : kvm_fd;

	*c = (struct kvm_caps){
		.nr_vcpus = cap(fd, KVM_CAP_NR_VCPUS),
		.max_vcpus = cap(fd, KVM_CAP_MAX_VCPUS),
		.irqchip = cap(fd, KVM_CAP_IRQCHIP),
		.pit2 = cap(fd, KVM_CAP_PIT2),
		.ioeventfd = cap(fd, KVM_CAP_IOEVENTFD),
		.irqfd = cap(fd, KVM_CAP_IRQFD),
		.signal_msi = cap(fd, KVM_CAP_SIGNAL_MSI),
		.immediate_exit = cap(fd, KVM_CAP_IMMEDIATE_EXIT),
		.tsc_deadline = cap(fd, KVM_CAP_TSC_DEADLINE_TIMER),
		.x2apic_api = cap(fd, KVM_CAP_X2APIC_API),
		.user_memory2 = cap(fd, KVM_CAP_USER_MEMORY2),
		.pre_fault_memory = cap(fd, KVM_CAP_PRE_FAULT_MEMORY),
		.halt_poll = cap(fd, KVM_CAP_HALT_POLL),
		.readonly_mem = cap(fd, KVM_CAP_READONLY_MEM),
		.dirty_log_ring = cap(fd, KVM_CAP_DIRTY_LOG_RING),
		.set_tss_addr = cap(fd, KVM_CAP_SET_TSS_ADDR),
		.set_identity_map_addr = cap(fd, KVM_CAP_SET_IDENTITY_MAP_ADDR),
		.binary_stats = cap(fd, KVM_CAP_BINARY_STATS_FD),
		.disable_exits = cap(fd, KVM_CAP_X86_DISABLE_EXITS),
		.vcpu_mmap_size = kvm_ioctl_val(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0),
	};
	if (!c->max_vcpus)
		c->max_vcpus = c->nr_vcpus ? c->nr_vcpus : 4;
}

int kvm_supported_cpuid(int kvm_fd, unsigned int extra, struct kvm_cpuid2 **out,
			unsigned int *capacity)
{
	/* KVM says E2BIG until the buffer is large enough; grow it. */
	for (unsigned int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (n + extra) * sizeof(c->entries[0]));
		int r;

		if (!c)
			return -ENOMEM;
		c->nent = n;
		r = ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0 ? -errno : 0;
		if (!r) {
			*out = c;
			*capacity = n + extra;
			return 0;
		}
		free(c);
		if (r != -E2BIG)
			return r;
	}
	return -E2BIG;
}

const char *kvm_exit_name(unsigned int reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "UNKNOWN", [KVM_EXIT_EXCEPTION] = "EXCEPTION",
		[KVM_EXIT_IO] = "IO", [KVM_EXIT_HYPERCALL] = "HYPERCALL",
		[KVM_EXIT_DEBUG] = "DEBUG", [KVM_EXIT_HLT] = "HLT", [KVM_EXIT_MMIO] = "MMIO",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN", [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
		[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY", [KVM_EXIT_INTR] = "INTR",
		[KVM_EXIT_SET_TPR] = "SET_TPR", [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
		[KVM_EXIT_NMI] = "NMI", [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
		[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT", [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
		[KVM_EXIT_X86_RDMSR] = "X86_RDMSR", [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
		[KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL", [KVM_EXIT_X86_BUS_LOCK] = "BUS_LOCK",
		[KVM_EXIT_NOTIFY] = "NOTIFY",
	};

	if (reason < ARRAY_SIZE(names) && names[reason])
		return names[reason];
	return "?";
}
