/* SPDX-License-Identifier: MIT */
#ifndef VMM_KVM_H
#define VMM_KVM_H

/*
 * Thin KVM wrappers (kvm-ioctls / selftests spirit). kvm_ioctl() checks at compile time that
 * the argument's type matches the ioctl's encoded size and returns 0 / result or -errno.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/ioctl.h>

#include "base/compiler.h"
#include "vmm/kvm-compat.h"

#define kvm_ioctl(fd, cmd, arg) ({						\
	_Static_assert(!_IOC_SIZE(cmd) || sizeof(*(arg)) == _IOC_SIZE(cmd),	\
		       #cmd ": wrong argument type");				\
	int __r = ioctl((fd), (cmd), (arg));					\
	__r < 0 ? -errno : __r; })

/* For ioctls whose argument is a plain integer (KVM_CHECK_EXTENSION, KVM_CREATE_VCPU...). */
#define kvm_ioctl_val(fd, cmd, val) ({						\
	int __r = ioctl((fd), (cmd), (unsigned long)(val));			\
	__r < 0 ? -errno : __r; })

/* Capabilities probed once at VM creation. */
struct kvm_caps {
	int nr_vcpus, max_vcpus;
	bool irqchip, pit2, ioeventfd, irqfd, signal_msi, immediate_exit, tsc_deadline;
	bool x2apic_api, user_memory2, pre_fault_memory, halt_poll, readonly_mem;
	bool dirty_log_ring, set_tss_addr, set_identity_map_addr, binary_stats;
	int disable_exits;	/* KVM_X86_DISABLE_EXITS_* offered */
	int vcpu_mmap_size;
};

/* Opens /dev/kvm, checks the API version. -errno + message. */
int kvm_open(int *kvm_fd, char *msg, size_t len) __must_check;
void kvm_probe_caps(int kvm_fd, int vm_fd, struct kvm_caps *caps);
/* Returns a malloc'd table from KVM_GET_SUPPORTED_CPUID with room for `extra` more entries. */
int kvm_supported_cpuid(int kvm_fd, unsigned int extra, struct kvm_cpuid2 **out,
			unsigned int *cap) __must_check;
const char *kvm_exit_name(unsigned int reason);

#endif
