// SPDX-License-Identifier: MIT
/*
 * MSR values every vCPU starts with: what firmware would have left (SDM vol. 4 for the
 * indices; reset values from SDM vol. 3 §9.1 where they matter). IA32_TSC is deliberately
 * absent: KVM keeps the vCPUs' TSCs in sync itself, and writing 0 would only desync them.
 */
#include "arch/x86/cpu.h"

#define MSR_IA32_SYSENTER_CS		0x174
#define MSR_IA32_SYSENTER_ESP		0x175
#define MSR_IA32_SYSENTER_EIP		0x176
#define MSR_IA32_MISC_ENABLE		0x1a0
#define MSR_IA32_CR_PAT			0x277
#define MSR_MTRR_DEF_TYPE		0x2ff
#define MSR_STAR			0xc0000081
#define MSR_LSTAR			0xc0000082
#define MSR_CSTAR			0xc0000083
#define MSR_SYSCALL_MASK		0xc0000084
#define MSR_KERNEL_GS_BASE		0xc0000102

#define MISC_ENABLE_FAST_STRING		(1ull << 0)
/* SDM vol. 3 §11.12.4: PA0..PA7 = WB, WT, UC-, UC, WB, WT, UC-, UC. */
#define PAT_POWER_ON_DEFAULT		0x0007040600070406ull
/* MTRRs enabled (bit 11), default type WB (6): RAM is cacheable without variable MTRRs. */
#define MTRR_DEF_TYPE_E_WB		((1ull << 11) | 6)

static const struct kvm_msr_entry msr_boot[] = {
	{ .index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING },
	{ .index = MSR_IA32_CR_PAT, .data = PAT_POWER_ON_DEFAULT },
	{ .index = MSR_MTRR_DEF_TYPE, .data = MTRR_DEF_TYPE_E_WB },
	{ .index = MSR_IA32_SYSENTER_CS },
	{ .index = MSR_IA32_SYSENTER_ESP },
	{ .index = MSR_IA32_SYSENTER_EIP },
	{ .index = MSR_STAR },
	{ .index = MSR_LSTAR },
	{ .index = MSR_CSTAR },
	{ .index = MSR_SYSCALL_MASK },
	{ .index = MSR_KERNEL_GS_BASE },
};

unsigned int x86_msr_init(struct kvm_msr_entry *ents, unsigned int max)
{
	unsigned int n = 0;

	if (!ents)
		return 0;
	for (; n < ARRAY_SIZE(msr_boot) && n < max; n++)
		ents[n] = msr_boot[n];
	return n;
}
