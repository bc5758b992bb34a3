/* SPDX-License-Identifier: MIT */
#ifndef VMM_KVM_COMPAT_H
#define VMM_KVM_COMPAT_H

/*
 * KVM UAPI newer than the installed headers (linux-libc-dev 6.1). Values from Linux 6.10+
 * include/uapi/linux/kvm.h. Always probe with KVM_CHECK_EXTENSION before use.
 */
#include <linux/kvm.h>
#include <linux/types.h>

#ifndef KVM_CAP_USER_MEMORY2
#define KVM_CAP_USER_MEMORY2		231
#endif
#ifndef KVM_CAP_GUEST_MEMFD
#define KVM_CAP_GUEST_MEMFD		234
#endif
#ifndef KVM_CAP_PRE_FAULT_MEMORY
#define KVM_CAP_PRE_FAULT_MEMORY	236
struct kvm_pre_fault_memory {
	__u64 gpa;
	__u64 size;
	__u64 flags;
	__u64 padding[5];
};
#define KVM_PRE_FAULT_MEMORY	_IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
#endif
#ifndef KVM_EXIT_MEMORY_FAULT
/* 6.8+: KVM_RUN fails with EFAULT or EHWPOISON and fills run->memory_fault. */
#define KVM_EXIT_MEMORY_FAULT		39
#define KVM_MEMORY_EXIT_FLAG_PRIVATE	(1ULL << 3)
#endif
/* run->memory_fault, the first 24 bytes of the exit union (its padding[256] in every version). */
struct kvm_compat_memory_fault {
	__u64 flags;
	__u64 gpa;
	__u64 size;
};

#endif
