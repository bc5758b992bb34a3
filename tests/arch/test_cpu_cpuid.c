// SPDX-License-Identifier: MIT
/*
 * CPUID policy over fake KVM_GET_SUPPORTED_CPUID tables (an Intel-shaped and an AMD-shaped
 * one), plus one run over the real table when /dev/kvm is there.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86/cpu.h"

#define IDX KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define CAP 64

struct table {
	struct kvm_cpuid2 c;
	struct kvm_cpuid_entry2 e[CAP];
};

static void add(struct table *t, uint32_t fn, uint32_t idx, uint32_t flags, uint32_t a,
		uint32_t b, uint32_t c, uint32_t d)
{
	cr_assert_lt(t->c.nent, CAP);
	t->c.entries[t->c.nent++] = (struct kvm_cpuid_entry2){
		.function = fn, .index = idx, .flags = flags, .eax = a, .ebx = b, .ecx = c, .edx = d,
	};
}

/* Roughly what KVM reports on an Intel host (values trimmed to what the policy touches). */
static void intel_table(struct table *t)
{
	memset(t, 0, sizeof(*t));
	add(t, 0, 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69);	/* GenuineIntel */
	add(t, 1, 0, 0, 0x806c1, 0x00100800, 0xf7fa320b | (1u << 3) | (1u << 15), 0x1f8bfbff);
	add(t, 4, 0, IDX, 0x1c004121, 0x02c0003f, 0x3f, 0);	/* L1d */
	add(t, 4, 1, IDX, 0x1c004122, 0x01c0003f, 0x3f, 0);	/* L1i */
	add(t, 4, 2, IDX, 0x1c004143, 0x04c0003f, 0x3ff, 0);	/* L2 */
	add(t, 4, 3, IDX, 0x1c03c163, 0x02c0003f, 0x3fff, 6);	/* L3, shared by 16 */
	add(t, 4, 4, IDX, 0, 0, 0, 0);
	add(t, 6, 0, 0, 0x4 | 0x1 | (1u << 7), 0, 0x9, 0);	/* ARAT + DTS + HWP, APERF */
	add(t, 7, 0, IDX, 0, 0xf3bfa7eb, 0x18c05fce, 0xfc100010);
	add(t, 0xa, 0, 0, 0x07300805, 0, 0, 0x603);
	add(t, 0xb, 0, IDX, 1, 2, 0x100, 3);			/* host: SMT2 */
	add(t, 0xb, 1, IDX, 4, 8, 0x201, 3);
	add(t, 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	add(t, 0x40000001, 0, 0, 0x01007afb, 0, 0, 0);
	add(t, 0x80000000, 0, 0, 0x80000008, 0, 0, 0);
	add(t, 0x80000001, 0, 0, 0, 0, 0x121, 0x2c100800);
	add(t, 0x80000007, 0, 0, 0, 0, 0, 0);
	add(t, 0x80000008, 0, 0, 0x3030, 0, 0, 0);
}

/* An AMD host without leaf 0xb or the hypervisor leaves in its table. */
static void amd_table(struct table *t)
{
	memset(t, 0, sizeof(*t));
	add(t, 0, 0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65);	/* AuthenticAMD */
	add(t, 1, 0, 0, 0xa10f11, 0x00800800, 0xfef83203, 0x178bfbff);
	add(t, 0x80000000, 0, 0, 0x80000021, 0x68747541, 0x444d4163, 0x69746e65);
	add(t, 0x80000001, 0, 0, 0xa10f11, 0, 0x75c237ff | (1u << 23), 0x2fd3fbff);
	add(t, 0x80000008, 0, 0, 0x3030, 0x191ef257, 0x1703f, 0x10000);
	add(t, 0x8000001d, 0, IDX, 0x121, 0x01c0003f, 0x3f, 0);		/* L1d, 2 threads */
	add(t, 0x8000001d, 3, IDX, 0x3c163, 0x03c0003f, 0x7fff, 1);	/* L3, 16 threads */
	add(t, 0x8000001e, 0, 0, 7, 0x103, 0x300, 0);
}

static const struct kvm_cpuid_entry2 *find(const struct table *t, uint32_t fn, uint32_t idx)
{
	const struct kvm_cpuid_entry2 *hit = NULL;

	for (uint32_t i = 0; i < t->c.nent; i++) {
		const struct kvm_cpuid_entry2 *e = &t->c.entries[i];

		if (e->function != fn || ((e->flags & IDX) && e->index != idx))
			continue;
		cr_assert_null(hit, "leaf %#x.%u appears twice", fn, idx);
		hit = e;
	}
	return hit;
}

static const struct kvm_cpuid_entry2 *must_find(const struct table *t, uint32_t fn, uint32_t idx)
{
	const struct kvm_cpuid_entry2 *e = find(t, fn, idx);

	cr_assert_not_null(e, "leaf %#x.%u missing", fn, idx);
	return e;
}

static void expect_topology(unsigned int nr, unsigned int shift)
{
	for (unsigned int id = 0; id < nr; id++) {
		const struct kvm_cpuid_entry2 *l1, *s0, *s1, *s2;
		struct table t;

		intel_table(&t);
		cr_assert_eq(x86_cpuid_setup(&t.c, CAP, id, nr), 0, "%u of %u", id, nr);
		l1 = must_find(&t, 1, 0);
		cr_expect_eq(l1->ebx >> 24, id, "initial APIC id");
		cr_expect_eq((l1->ebx >> 16) & 0xff, nr, "logical processor count");
		cr_expect_eq(l1->ebx & 0xffff, 0x0800, "CLFLUSH size etc. preserved");
		cr_expect_eq(!!(l1->edx & (1u << 28)), nr > 1, "HTT");

		s0 = must_find(&t, 0xb, 0);
		s1 = must_find(&t, 0xb, 1);
		s2 = must_find(&t, 0xb, 2);
		cr_expect_eq(s0->eax, 0, "SMT shift");
		cr_expect_eq(s0->ebx, 1, "one thread per core");
		cr_expect_eq(s0->ecx, 0x100, "SMT level, subleaf 0");
		cr_expect_eq(s1->eax, shift, "core shift for %u vCPUs", nr);
		cr_expect_eq(s1->ebx, nr);
		cr_expect_eq(s1->ecx, 0x201, "core level, subleaf 1");
		cr_expect_eq((s2->ecx >> 8) & 0xff, 0, "enumeration ends at subleaf 2");
		cr_expect_eq(s2->ecx & 0xff, 2);
		cr_expect_eq(s0->edx, id);
		cr_expect_eq(s1->edx, id);
		cr_expect_eq(s2->edx, id);
		/* Every vCPU in one package: the package id (APIC id >> shift) is 0. */
		cr_expect_eq(id >> s1->eax, 0);
		cr_expect_eq((must_find(&t, 4, 0)->eax >> 26) + 1, 1u << shift,
			     "leaf 4 cores per package");
	}
}

Test(cpuid, topology_one_vcpu)
{
	expect_topology(1, 0);
}

Test(cpuid, topology_two_vcpus)
{
	expect_topology(2, 1);
}

Test(cpuid, topology_four_vcpus)
{
	expect_topology(4, 2);
}

Test(cpuid, topology_64_vcpus)
{
	expect_topology(64, 6);
}

Test(cpuid, topology_three_vcpus_rounds_the_shift_up)
{
	expect_topology(3, 2);
}

Test(cpuid, leaf4_sharing_is_per_core_for_l1_l2_per_package_for_l3)
{
	struct table t;

	intel_table(&t);
	cr_assert_eq(x86_cpuid_setup(&t.c, CAP, 0, 4), 0);
	cr_expect_eq((must_find(&t, 4, 0)->eax >> 14) & 0xfff, 0);
	cr_expect_eq((must_find(&t, 4, 2)->eax >> 14) & 0xfff, 0);
	cr_expect_eq((must_find(&t, 4, 3)->eax >> 14) & 0xfff, 3);
	cr_expect_eq(must_find(&t, 4, 3)->eax & 0x3fff, 0x163 & 0x3fff, "cache type/level kept");
	cr_expect_eq(must_find(&t, 4, 4)->eax, 0, "null subleaf untouched");
}

Test(cpuid, kvm_signature_leaf_is_present)
{
	struct table t;
	const struct kvm_cpuid_entry2 *e;
	char sig[13] = { 0 };

	amd_table(&t);		/* has no hypervisor leaves: they must be added */
	cr_assert_eq(x86_cpuid_setup(&t.c, CAP, 0, 1), 0);
	e = must_find(&t, 0x40000000, 0);
	memcpy(sig, &e->ebx, 4);
	memcpy(sig + 4, &e->ecx, 4);
	memcpy(sig + 8, &e->edx, 4);
	cr_expect_eq(memcmp(sig, "KVMKVMKVM\0\0\0", 12), 0, "signature '%s'", sig);
	cr_expect_eq(e->eax, 0x40000001);
	cr_expect_not_null(find(&t, 0x40000001, 0));
}

Test(cpuid, kvm_feature_bits_are_kept)
{
	struct table t;

	intel_table(&t);
	cr_assert_eq(x86_cpuid_setup(&t.c, CAP, 0, 2), 0);
	cr_expect_eq(must_find(&t, 0x40000001, 0)->eax, 0x01007afb);
}

Test(cpuid, features_we_cannot_back_are_hidden)
{
	struct table t;
	const struct kvm_cpuid_entry2 *l1, *l6, *la;

	intel_table(&t);
	cr_assert_eq(x86_cpuid_setup(&t.c, CAP, 0, 2), 0);
	l1 = must_find(&t, 1, 0);
	cr_expect_eq(l1->ecx & (1u << 3), 0, "MONITOR");
	cr_expect_eq(l1->ecx & (1u << 15), 0, "PDCM without a PMU");
	cr_expect_neq(l1->ecx & (1u << 31), 0, "hypervisor bit");
	cr_expect_neq(l1->ecx & (1u << 21), 0, "x2APIC");
	la = must_find(&t, 0xa, 0);
	cr_expect_eq(la->eax | la->ebx | la->ecx | la->edx, 0, "PMU leaf");
	l6 = must_find(&t, 6, 0);
	cr_expect_eq(l6->eax, 0x4, "only ARAT survives in leaf 6");
	cr_expect_eq(l6->ecx, 0);
	cr_expect_neq(must_find(&t, 0x80000007, 0)->edx & (1u << 8), 0, "invariant TSC");
}

Test(cpuid, tsc_deadline_follows_kvm)
{
	struct table t;

	intel_table(&t);
	t.c.entries[1].ecx |= 1u << 24;
	cr_assert_eq(x86_cpuid_setup(&t.c, CAP, 0, 1), 0);
	cr_expect_neq(must_find(&t, 1, 0)->ecx & (1u << 24), 0, "offered: kept");
	intel_table(&t);
	t.c.entries[1].ecx &= ~(1u << 24);
	cr_assert_eq(x86_cpuid_setup(&t.c, CAP, 0, 1), 0);
	cr_expect_eq(must_find(&t, 1, 0)->ecx & (1u << 24), 0, "not offered: not invented");
}

Test(cpuid, amd_topology_leaves)
{
	struct table t;
	const struct kvm_cpuid_entry2 *e8, *e1e;

	amd_table(&t);
	cr_assert_eq(x86_cpuid_setup(&t.c, CAP, 5, 8), 0);
	e8 = must_find(&t, 0x80000008, 0);
	cr_expect_eq(e8->ecx & 0xff, 7, "NC = cores - 1");
	cr_expect_eq((e8->ecx >> 12) & 0xf, 3, "ApicIdCoreIdSize");
	cr_expect_eq(e8->ecx & 0xffff0f00, 0x10000, "other ECX bits kept");
	cr_expect_eq(e8->eax, 0x3030, "address sizes kept");
	e1e = must_find(&t, 0x8000001e, 0);
	cr_expect_eq(e1e->eax, 5, "extended APIC id");
	cr_expect_eq(e1e->ebx & 0xff, 5, "core id");
	cr_expect_eq((e1e->ebx >> 8) & 0xff, 0, "one thread per core");
	cr_expect_neq(must_find(&t, 0x80000001, 0)->ecx & 2, 0, "CmpLegacy with 8 cores");
	cr_expect_eq(must_find(&t, 0x80000001, 0)->ecx & (1u << 23), 0, "PerfCtrExtCore");
	cr_expect_eq(must_find(&t, 0x8000001d, 0)->eax, 0x121, "L1 shared by one thread");
	cr_expect_eq(must_find(&t, 0x8000001d, 3)->eax, 0x163 | (7 << 14), "L3 by all 8");
}

Test(cpuid, missing_leaf_0xb_is_added_with_subleaves_and_max_leaf_raised)
{
	struct table t;

	amd_table(&t);
	t.c.entries[0].eax = 0x7;		/* max basic leaf below 0xb */
	cr_assert_eq(x86_cpuid_setup(&t.c, CAP, 1, 2), 0);
	cr_expect_geq(must_find(&t, 0, 0)->eax, 0xb);
	for (uint32_t i = 0; i < 3; i++)
		cr_expect_eq(must_find(&t, 0xb, i)->flags & IDX, IDX, "subleaf %u indexed", i);
	cr_expect_eq(must_find(&t, 0xb, 1)->ebx, 2);
	cr_expect_neq(must_find(&t, 0x80000007, 0)->edx & (1u << 8), 0);
}

Test(cpuid, leaf_0xb_without_index_flag_does_not_shadow_subleaves)
{
	struct table t;

	intel_table(&t);
	/* A table whose only 0xb entry lacks the flag would answer every subleaf with it. */
	for (uint32_t i = 0; i < t.c.nent; i++)
		if (t.c.entries[i].function == 0xb) {
			t.c.entries[i].flags = 0;
			if (t.c.entries[i].index == 1)
				t.c.entries[i].function = 0x7ffffff0;	/* drop it */
		}
	cr_assert_eq(x86_cpuid_setup(&t.c, CAP, 0, 4), 0);
	cr_expect_eq(must_find(&t, 0xb, 0)->ebx, 1);
	cr_expect_eq(must_find(&t, 0xb, 1)->ebx, 4);
}

Test(cpuid, cap_too_small_is_e2big_and_table_untouched)
{
	struct table t, before;

	amd_table(&t);
	t.c.entries[t.c.nent - 2].flags = 0;	/* 0x8000001d.3 without the index flag */
	before = t;
	/* Needs 0x4000_0000, 0x4000_0001, 0x8000_0007 and three 0xb subleaves: 6 slots. */
	cr_expect_eq(x86_cpuid_setup(&t.c, t.c.nent + 5, 0, 1), -E2BIG);
	cr_expect_eq(memcmp(&t, &before, sizeof(t)), 0, "table changed on failure");
	cr_expect_eq(x86_cpuid_setup(&t.c, t.c.nent, 0, 1), -E2BIG);
	cr_expect_eq(x86_cpuid_setup(&t.c, t.c.nent + 6, 0, 1), 0);
}

Test(cpuid, bad_counts_are_refused)
{
	struct table t;

	intel_table(&t);
	cr_expect_eq(x86_cpuid_setup(&t.c, CAP, 0, 0), -EINVAL, "zero vCPUs");
	cr_expect_eq(x86_cpuid_setup(&t.c, CAP, 4, 4), -EINVAL, "vcpu_id out of range");
	cr_expect_eq(x86_cpuid_setup(&t.c, CAP, 0, 256), -EINVAL, "more than 8-bit APIC ids");
	cr_expect_eq(x86_cpuid_setup(&t.c, t.c.nent - 1, 0, 1), -EINVAL, "nent above cap");
	cr_expect_eq(x86_cpuid_setup(NULL, CAP, 0, 1), -EINVAL);
}

Test(cpuid, real_kvm_table_is_accepted)
{
	struct kvm_cpuid2 *c;
	unsigned int n = 256, extra = 16;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		cr_skip_test("no /dev/kvm");
	c = calloc(1, sizeof(*c) + (n + extra) * sizeof(c->entries[0]));
	cr_assert_not_null(c);
	c->nent = n;
	cr_assert_eq(ioctl(fd, KVM_GET_SUPPORTED_CPUID, c), 0);
	close(fd);
	cr_assert_eq(x86_cpuid_setup(c, n + extra, 3, 4), 0);
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			cr_expect_eq(e->ebx >> 24, 3);
		if (e->function == 0xb && e->index == 1)
			cr_expect_eq(e->ebx, 4);
		if (e->function == 0x40000000)
			cr_expect_eq(e->ebx, 0x4b4d564b);
	}
	free(c);
}
