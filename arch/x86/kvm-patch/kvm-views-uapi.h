/* SPDX-License-Identifier: MIT */
/*
 * EPT views: the user-space and guest ABI added by the KVM patch series in
 * arch/x86/kvm-patch/ (see docs/kvm-views.md).
 *
 * Every value here is exactly what 0001 adds to include/uapi/linux/kvm.h and
 * what 0003 adds to include/uapi/linux/kvm_para.h.  The host headers on our
 * machines are Linux 6.1 and have none of it, so the VMM includes this file;
 * with a patched kernel's headers the guards below make it a no-op.  Always
 * probe KVM_CHECK_EXTENSION(KVM_CAP_EPT_VIEWS) at run time: a stock kernel
 * answers 0.
 *
 * The numbers are deliberately far from upstream's (highest upstream
 * KVM_CAP_* is ~250, ioctl numbers on KVMIO stop at 0xe3, KVM_HC_* at 12), so
 * an unpatched or newer kernel can never give them another meaning.
 */
#ifndef ARCH_X86_KVM_PATCH_KVM_VIEWS_UAPI_H
#define ARCH_X86_KVM_PATCH_KVM_VIEWS_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#ifndef KVMIO
#define KVMIO 0xAE
#endif

#ifndef KVM_CAP_EPT_VIEWS
/*
 * KVM_CHECK_EXTENSION(KVM_CAP_EPT_VIEWS), on /dev/kvm or a VM fd:
 *   bits 7:0  number of views a VM can have, view 0 included (0: none)
 *   bit 8     the guest can switch with VMFUNC leaf 0 (no VM exit)
 *   bit 9     the guest can switch with KVM_HC_EPT_VIEW_SWITCH
 */
#define KVM_CAP_EPT_VIEWS		0xf00
#define KVM_EPT_VIEWS_CAP_COUNT_MASK	0xffU
#define KVM_EPT_VIEWS_CAP_VMFUNC	(1U << 8)
#define KVM_EPT_VIEWS_CAP_HYPERCALL	(1U << 9)

/*
 * VM ioctl, argument = flags (must be 0).  Returns the new view id (>= 1).
 * Only before the first KVM_CREATE_VCPU (else EBUSY); ENOSPC past the
 * limit; EOPNOTSUPP without the TDP MMU or for protected VM types.  A new
 * view maps every existing memslot read/write/execute.
 */
#define KVM_CREATE_EPT_VIEW		_IO(KVMIO,  0xf0)

/*
 * VM ioctl: permissions of one memslot in one view.  slot uses the
 * KVM_SET_USER_MEMORY_REGION encoding, address space 0 only, or
 * KVM_EPT_VIEW_SLOT_DEFAULT for memslots created afterwards.  access is 0
 * (not mapped), R, RW, RX or RWX; flags must be 0.  Anything else, an
 * unknown view or a missing slot: EINVAL.  Allowed at any time.
 */
#define KVM_SET_EPT_VIEW_ACCESS		_IOW(KVMIO, 0xf1, struct kvm_ept_view_access)

#define KVM_EPT_VIEW_ACCESS_READ	(1U << 0)
#define KVM_EPT_VIEW_ACCESS_WRITE	(1U << 1)
#define KVM_EPT_VIEW_ACCESS_EXEC	(1U << 2)
#define KVM_EPT_VIEW_SLOT_DEFAULT	0xffffffffU

struct kvm_ept_view_access {
	__u32 view;
	__u32 slot;
	__u32 access;
	__u32 flags;
};
#endif /* KVM_CAP_EPT_VIEWS */

#ifndef KVM_MEMORY_EXIT_FLAG_EPT_VIEW
/*
 * A guest access the current view does not allow: KVM_RUN fails with EFAULT,
 * run->exit_reason == KVM_EXIT_MEMORY_FAULT (39), and this bit is set in
 * run->memory_fault.flags; memory_fault.gpa is the page, .size 4096.
 */
#define KVM_MEMORY_EXIT_FLAG_EPT_VIEW	(1ULL << 48)
#endif

#ifndef KVM_HC_EPT_VIEW_SWITCH
/*
 * Guest hypercall (VMCALL 0f 01 c1 on Intel, VMMCALL 0f 01 d9 on AMD):
 *   RAX = KVM_HC_EPT_VIEW_SWITCH, RBX = view, RCX = RDX = RSI = 0.
 *   Returns in RAX: 0, -1000 (KVM_ENOSYS: the VM has no views) or -22
 *   (KVM_EINVAL: no such view, or a reserved argument is not 0).
 *   Accepted at any CPL, like VMFUNC.
 */
#define KVM_HC_EPT_VIEW_SWITCH		0x564d0001
#endif

/*
 * Guest fast path, when the capability has KVM_EPT_VIEWS_CAP_VMFUNC:
 *   VMFUNC (0f 01 d4) with EAX = 0 (EPTP switching) and ECX = view.
 *   No VM exit; a view that does not exist, or EAX != 0, raises #UD.
 *   Any CPL.
 */
#define KVM_EPT_VIEW_VMFUNC_BYTES	".byte 0x0f, 0x01, 0xd4"
#define KVM_EPT_VIEW_VMFUNC_EPTP_SWITCH	0

_Static_assert(sizeof(struct kvm_ept_view_access) == 16,
	       "struct kvm_ept_view_access is part of the ioctl number");

#endif /* ARCH_X86_KVM_PATCH_KVM_VIEWS_UAPI_H */
