// SPDX-License-Identifier: GPL-2.0-only
/*
 * EPT views: KVM_CREATE_EPT_VIEW and KVM_SET_EPT_VIEW_ACCESS argument checks,
 * a memslot that is hidden in view 0 and mapped in view 1, and switching
 * between the two with VMFUNC leaf 0 (EPTP switching, VMX hosts that have it)
 * and with the KVM_HC_EPT_VIEW_SWITCH hypercall.
 *
 * Skips (KSFT_SKIP) on kernels without KVM_CAP_EPT_VIEWS.
 */
#include <linux/kvm.h>
#include <linux/kvm_para.h>
#include <stdint.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

/* One page above the default guest RAM, mapped 1:1. */
#define WINDOW_GPA	0xc0000000ull
#define WINDOW_GVA	WINDOW_GPA
#define WINDOW_SLOT	10
#define WINDOW_PATTERN	0x57494e444f572121ull
#define GUEST_PATTERN	0x4755455354212121ull

#define VIEW_RWX	(KVM_EPT_VIEW_ACCESS_READ | KVM_EPT_VIEW_ACCESS_WRITE | \
			 KVM_EPT_VIEW_ACCESS_EXEC)

/* VMFUNC; EAX = function, ECX = EPTP list index for function 0. */
#define VMFUNC_INSN	".byte 0x0f, 0x01, 0xd4"

static int __set_access(struct kvm_vm *vm, uint32_t view, uint32_t slot,
			uint32_t access, uint32_t flags)
{
	struct kvm_ept_view_access va = {
		.view = view,
		.slot = slot,
		.access = access,
		.flags = flags,
	};

	return __vm_ioctl(vm, KVM_SET_EPT_VIEW_ACCESS, &va);
}

static void set_access(struct kvm_vm *vm, uint32_t view, uint32_t slot,
		       uint32_t access)
{
	int r = __set_access(vm, view, slot, access, 0);

	TEST_ASSERT(!r, "KVM_SET_EPT_VIEW_ACCESS(view %u, slot 0x%x, access 0x%x) failed, errno %d",
		    view, slot, access, errno);
}

static void set_access_einval(struct kvm_vm *vm, uint32_t view, uint32_t slot,
			      uint32_t access, uint32_t flags)
{
	int r = __set_access(vm, view, slot, access, flags);

	TEST_ASSERT(r == -1 && errno == EINVAL,
		    "KVM_SET_EPT_VIEW_ACCESS(view %u, slot 0x%x, access 0x%x, flags 0x%x) should fail with EINVAL, got %d errno %d",
		    view, slot, access, flags, r, errno);
}

static int create_view(struct kvm_vm *vm)
{
	return __vm_ioctl(vm, KVM_CREATE_EPT_VIEW, NULL);
}

static void test_ioctl_args(int nr_views)
{
	static const uint32_t bad_access[] = {
		KVM_EPT_VIEW_ACCESS_WRITE,
		KVM_EPT_VIEW_ACCESS_EXEC,
		KVM_EPT_VIEW_ACCESS_WRITE | KVM_EPT_VIEW_ACCESS_EXEC,
		1u << 3,
		VIEW_RWX | (1u << 31),
	};
	static const uint32_t good_access[] = {
		0,
		KVM_EPT_VIEW_ACCESS_READ,
		KVM_EPT_VIEW_ACCESS_READ | KVM_EPT_VIEW_ACCESS_WRITE,
		KVM_EPT_VIEW_ACCESS_READ | KVM_EPT_VIEW_ACCESS_EXEC,
		VIEW_RWX,
	};
	struct kvm_vm *vm = vm_create_barebones();
	int i, r;

	r = __vm_ioctl(vm, KVM_CREATE_EPT_VIEW, (void *)1ul);
	TEST_ASSERT(r == -1 && errno == EINVAL,
		    "KVM_CREATE_EPT_VIEW with flags should fail with EINVAL, got %d errno %d",
		    r, errno);

	/* A view that was not created yet is refused. */
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, WINDOW_GPA,
				    WINDOW_SLOT, 1, 0);
	set_access_einval(vm, 1, WINDOW_SLOT, VIEW_RWX, 0);

	for (i = 1; i < nr_views; i++) {
		r = create_view(vm);
		TEST_ASSERT(r == i, "KVM_CREATE_EPT_VIEW returned %d (errno %d), expected view %d",
			    r, errno, i);
	}
	r = create_view(vm);
	TEST_ASSERT(r == -1 && errno == ENOSPC,
		    "KVM_CREATE_EPT_VIEW past the limit should fail with ENOSPC, got %d errno %d",
		    r, errno);

	/* Bad view ids. */
	set_access_einval(vm, nr_views, WINDOW_SLOT, VIEW_RWX, 0);
	set_access_einval(vm, 0xffffffffu, WINDOW_SLOT, VIEW_RWX, 0);

	/* Bad slots: missing, SMM address space, out of range. */
	set_access_einval(vm, 1, WINDOW_SLOT + 1, VIEW_RWX, 0);
	set_access_einval(vm, 1, (1u << 16) | WINDOW_SLOT, VIEW_RWX, 0);
	set_access_einval(vm, 1, 0xffff, VIEW_RWX, 0);

	/* Bad flags and permissions. */
	set_access_einval(vm, 1, WINDOW_SLOT, VIEW_RWX, 1);
	set_access_einval(vm, 1, WINDOW_SLOT, VIEW_RWX, 1u << 31);
	for (i = 0; i < ARRAY_SIZE(bad_access); i++) {
		set_access_einval(vm, 1, WINDOW_SLOT, bad_access[i], 0);
		set_access_einval(vm, 1, KVM_EPT_VIEW_SLOT_DEFAULT, bad_access[i], 0);
	}

	/* Every valid combination, in the first and last view. */
	for (i = 0; i < ARRAY_SIZE(good_access); i++) {
		set_access(vm, 0, WINDOW_SLOT, good_access[i]);
		set_access(vm, nr_views - 1, WINDOW_SLOT, good_access[i]);
		set_access(vm, nr_views - 1, KVM_EPT_VIEW_SLOT_DEFAULT,
			   good_access[i]);
	}

	kvm_vm_free(vm);
}

static void guest_no_views(void)
{
	GUEST_ASSERT_EQ(kvm_hypercall(KVM_HC_EPT_VIEW_SWITCH, 1, 0, 0, 0),
			(uint64_t)-KVM_ENOSYS);
	GUEST_DONE();
}

static void test_views_fixed_after_vcpus(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	int r;

	vm = vm_create_with_one_vcpu(&vcpu, guest_no_views);
	r = create_view(vm);
	TEST_ASSERT(r == -1 && errno == EBUSY,
		    "KVM_CREATE_EPT_VIEW after KVM_CREATE_VCPU should fail with EBUSY, got %d errno %d",
		    r, errno);

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_DONE:
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("Unexpected ucall %lu", uc.cmd);
	}
	kvm_vm_free(vm);
}

static uint8_t guest_vmfunc(uint64_t function, uint64_t index)
{
	return kvm_asm_safe(VMFUNC_INSN, "a"(function), "c"(index));
}

static void guest_switch_view(bool use_vmfunc, uint64_t view)
{
	if (use_vmfunc)
		GUEST_ASSERT_EQ(guest_vmfunc(0, view), 0);
	else
		GUEST_ASSERT_EQ(kvm_hypercall(KVM_HC_EPT_VIEW_SWITCH, view, 0, 0, 0), 0);
}

static void guest_code(bool use_vmfunc)
{
	volatile uint64_t *window = (volatile uint64_t *)WINDOW_GVA;

	/* Hidden in view 0: exits until the host allows reads there. */
	GUEST_ASSERT_EQ(*window, WINDOW_PATTERN);
	GUEST_SYNC(0);

	/* Views that do not exist, and reserved bits, are refused. */
	if (use_vmfunc) {
		GUEST_ASSERT_EQ(guest_vmfunc(0, 2), UD_VECTOR);
		GUEST_ASSERT_EQ(guest_vmfunc(0, 511), UD_VECTOR);
		GUEST_ASSERT_EQ(guest_vmfunc(1, 0), UD_VECTOR);
	} else {
		GUEST_ASSERT_EQ(kvm_hypercall(KVM_HC_EPT_VIEW_SWITCH, 2, 0, 0, 0),
				(uint64_t)-KVM_EINVAL);
		GUEST_ASSERT_EQ(kvm_hypercall(KVM_HC_EPT_VIEW_SWITCH, 1, 1, 0, 0),
				(uint64_t)-KVM_EINVAL);
	}
	GUEST_SYNC(1);

	/* Mapped read-write in view 1. */
	guest_switch_view(use_vmfunc, 1);
	GUEST_ASSERT_EQ(*window, WINDOW_PATTERN);
	*window = GUEST_PATTERN;
	guest_switch_view(use_vmfunc, 0);
	GUEST_SYNC(2);

	/* The host made view 1 read-only: reads work, the write exits. */
	guest_switch_view(use_vmfunc, 1);
	GUEST_ASSERT_EQ(*window, GUEST_PATTERN);
	GUEST_SYNC(3);
	*window = 0;
	GUEST_FAIL("Write to a read-only view did not exit");
}

static void run_expect_sync(struct kvm_vcpu *vcpu, uint64_t stage)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		TEST_ASSERT(uc.args[1] == stage, "Expected stage %lu, got %lu",
			    stage, uc.args[1]);
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("Unexpected ucall %lu", uc.cmd);
	}
}

static void run_expect_view_fault(struct kvm_vcpu *vcpu)
{
	int r = _vcpu_run(vcpu);

	TEST_ASSERT(r == -1 && errno == EFAULT,
		    "KVM_RUN should fail with EFAULT on a view fault, got %d errno %d (exit %u)",
		    r, errno, vcpu->run->exit_reason);
	TEST_ASSERT_EQ(vcpu->run->exit_reason, KVM_EXIT_MEMORY_FAULT);
	TEST_ASSERT_EQ(vcpu->run->memory_fault.flags, KVM_MEMORY_EXIT_FLAG_EPT_VIEW);
	TEST_ASSERT_EQ(vcpu->run->memory_fault.gpa, WINDOW_GPA);
	TEST_ASSERT_EQ(vcpu->run->memory_fault.size, PAGE_SIZE);
}

static void test_switch(bool use_vmfunc)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint64_t *hva;
	int view;

	vm = vm_create(1);
	view = create_view(vm);
	TEST_ASSERT(view == 1, "KVM_CREATE_EPT_VIEW returned %d, errno %d", view, errno);

	/* The window is born hidden in view 0, as a VMM's peer window is. */
	set_access(vm, 0, KVM_EPT_VIEW_SLOT_DEFAULT, 0);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, WINDOW_GPA,
				    WINDOW_SLOT, 1, 0);
	set_access(vm, 0, KVM_EPT_VIEW_SLOT_DEFAULT, VIEW_RWX);
	virt_map(vm, WINDOW_GVA, WINDOW_GPA, 1);
	hva = addr_gpa2hva(vm, WINDOW_GPA);
	*hva = WINDOW_PATTERN;

	vcpu = vm_vcpu_add(vm, 0, guest_code);
	vcpu_args_set(vcpu, 1, (uint64_t)use_vmfunc);

	run_expect_view_fault(vcpu);
	set_access(vm, 0, WINDOW_SLOT, KVM_EPT_VIEW_ACCESS_READ);
	run_expect_sync(vcpu, 0);
	set_access(vm, 0, WINDOW_SLOT, 0);

	run_expect_sync(vcpu, 1);
	run_expect_sync(vcpu, 2);
	TEST_ASSERT(*hva == GUEST_PATTERN, "Guest write in view 1 not seen: 0x%lx", *hva);

	set_access(vm, 1, WINDOW_SLOT, KVM_EPT_VIEW_ACCESS_READ);
	run_expect_sync(vcpu, 3);
	run_expect_view_fault(vcpu);
	TEST_ASSERT(*hva == GUEST_PATTERN, "Write to a read-only view landed: 0x%lx", *hva);

	kvm_vm_free(vm);
}

int main(int argc, char *argv[])
{
	int cap, nr_views;

	TEST_REQUIRE(kvm_has_cap(KVM_CAP_EPT_VIEWS));
	cap = kvm_check_cap(KVM_CAP_EPT_VIEWS);
	nr_views = cap & KVM_EPT_VIEWS_CAP_COUNT_MASK;
	TEST_ASSERT(nr_views >= 2, "KVM_CAP_EPT_VIEWS reports %d views", nr_views);

	ksft_print_header();
	ksft_set_plan(4);

	test_ioctl_args(nr_views);
	ksft_test_result_pass("ioctl arguments\n");

	test_views_fixed_after_vcpus();
	ksft_test_result_pass("views are fixed once vCPUs exist\n");

	if (cap & KVM_EPT_VIEWS_CAP_HYPERCALL) {
		test_switch(false);
		ksft_test_result_pass("switch with KVM_HC_EPT_VIEW_SWITCH\n");
	} else {
		ksft_test_result_skip("switch with KVM_HC_EPT_VIEW_SWITCH: not offered\n");
	}

	if (cap & KVM_EPT_VIEWS_CAP_VMFUNC) {
		test_switch(true);
		ksft_test_result_pass("switch with VMFUNC leaf 0\n");
	} else {
		ksft_test_result_skip("switch with VMFUNC leaf 0: no EPTP switching on this host\n");
	}

	ksft_finished();
}
