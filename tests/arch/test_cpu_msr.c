// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <string.h>

#include "arch/x86/cpu.h"

static const struct kvm_msr_entry *find(const struct kvm_msr_entry *e, unsigned int n,
					uint32_t index)
{
	for (unsigned int i = 0; i < n; i++)
		if (e[i].index == index)
			return &e[i];
	return NULL;
}

Test(msr, boot_values)
{
	struct kvm_msr_entry e[32];
	unsigned int n = x86_msr_init(e, 32);
	const struct kvm_msr_entry *m;

	cr_assert_gt(n, 0);
	cr_assert_leq(n, 32);
	m = find(e, n, 0x1a0);
	cr_assert_not_null(m, "IA32_MISC_ENABLE");
	cr_expect_eq(m->data & 1, 1, "fast strings");
	m = find(e, n, 0x277);
	cr_assert_not_null(m, "IA32_PAT");
	cr_expect_eq(m->data, 0x0007040600070406ull);
	cr_expect_null(find(e, n, 0x10), "IA32_TSC must not be written");
	for (uint32_t idx = 0xc0000081; idx <= 0xc0000084; idx++) {
		m = find(e, n, idx);
		cr_assert_not_null(m, "MSR %#x", idx);
		cr_expect_eq(m->data, 0);
	}
	cr_expect_not_null(find(e, n, 0xc0000102), "KERNEL_GS_BASE");
	cr_expect_not_null(find(e, n, 0x174), "SYSENTER_CS");
	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = i + 1; j < n; j++)
			cr_expect_neq(e[i].index, e[j].index, "MSR %#x listed twice", e[i].index);
}

Test(msr, small_buffer_is_never_overrun)
{
	struct kvm_msr_entry e[4];

	memset(e, 0xa5, sizeof(e));
	cr_expect_eq(x86_msr_init(e, 2), 2);
	cr_expect_eq(e[2].index, 0xa5a5a5a5, "wrote past max");
	cr_expect_eq(x86_msr_init(e, 0), 0);
	cr_expect_eq(x86_msr_init(NULL, 8), 0);
}
