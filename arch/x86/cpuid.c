// SPDX-License-Identifier: MIT
/*
 * CPUID policy: edits, in place, the table KVM_GET_SUPPORTED_CPUID returned so that each vCPU
 * sees a consistent topology (nr_vcpus cores of one thread in one package, APIC id = vCPU
 * index), the KVM hypervisor leaves, and nothing we cannot back (PMU, MONITOR/MWAIT).
 *
 * The leaves we may have to add are counted first: on -E2BIG the table is left untouched.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/cpu.h"

#define CPUID_SIG_INDEXED	KVM_CPUID_FLAG_SIGNIFCANT_INDEX

/* xAPIC ids are 8 bits and 0xff is the broadcast id (SDM vol. 3 §10.6.2.1). */
#define CPUID_MAX_VCPUS		255

/* Leaf 1 (SDM vol. 2A, CPUID, table 3-8). */
#define L1_ECX_MONITOR		(1u << 3)
#define L1_ECX_PDCM		(1u << 15)
#define L1_ECX_X2APIC		(1u << 21)
#define L1_ECX_HYPERVISOR	(1u << 31)
#define L1_EDX_HTT		(1u << 28)

#define L6_EAX_ARAT		(1u << 2)

/* Leaf 0xb / 0x1f level types (SDM: "V2 Extended Topology Enumeration Leaf"). */
#define TOPO_LEVEL_INVALID	0
#define TOPO_LEVEL_SMT		1
#define TOPO_LEVEL_CORE		2

/* AMD APM vol. 3, appendix E. */
#define E1_ECX_CMP_LEGACY	(1u << 1)
#define E1_ECX_PERFCTR_CORE	(1u << 23)
#define E7_EDX_INVARIANT_TSC	(1u << 8)

#define KVM_CPUID_SIGNATURE	0x40000000u
#define KVM_CPUID_FEATURES	0x40000001u

struct leaf_id {
	uint32_t fn, idx;
	bool indexed;
};

static bool entry_is(const struct kvm_cpuid_entry2 *e, uint32_t fn, uint32_t idx)
{
	return e->function == fn && (!(e->flags & CPUID_SIG_INDEXED) || e->index == idx);
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (entry_is(&c->entries[i], fn, idx))
			return &c->entries[i];
	return NULL;
}

static bool cpuid_has_fn(const struct kvm_cpuid2 *c, uint32_t fn)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn)
			return true;
	return false;
}

/* An indexed leaf needs its own entry: one without the index flag does not count. */
static struct kvm_cpuid_entry2 *cpuid_find_need(struct kvm_cpuid2 *c, const struct leaf_id *l)
{
	if (!l->indexed)
		return cpuid_find(c, l->fn, l->idx);
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == l->fn && c->entries[i].index == l->idx)
			return &c->entries[i];
	return NULL;
}

/* The caller counted free slots: this cannot fail. */
static struct kvm_cpuid_entry2 *cpuid_get(struct kvm_cpuid2 *c, const struct leaf_id *l)
{
	struct kvm_cpuid_entry2 *e = cpuid_find_need(c, l);

	if (e)
		return e;
	e = &c->entries[c->nent++];
	*e = (struct kvm_cpuid_entry2){
		.function = l->fn,
		.index = l->idx,
		.flags = l->indexed ? CPUID_SIG_INDEXED : 0,
	};
	return e;
}

static bool vendor_is_amd(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 0, 0);

	if (!e)
		return false;
	/* "AuthenticAMD" / "HygonGenuine" in EBX, EDX, ECX. */
	return (e->ebx == 0x68747541 && e->edx == 0x69746e65 && e->ecx == 0x444d4163) ||
	       (e->ebx == 0x6f677948 && e->edx == 0x6e65476e && e->ecx == 0x656e6975);
}

/* Bits needed to hold ids 0 .. n-1 (0 for n = 1). */
static unsigned int id_bits(unsigned int n)
{
	unsigned int b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

static void raise_max(struct kvm_cpuid2 *c, uint32_t base, uint32_t leaf)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, base, 0);

	if (e && e->eax < leaf)
		e->eax = leaf;
}

static void set_topology_leaf(struct kvm_cpuid2 *c, uint32_t fn, unsigned int apic_id,
			      unsigned int nr_vcpus, unsigned int core_shift)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != fn)
			continue;
		e->flags |= CPUID_SIG_INDEXED;
		e->edx = apic_id;			/* x2APIC id, at every subleaf */
		e->ecx = e->index & 0xff;
		switch (e->index) {
		case 0:		/* one thread per core */
			e->eax = 0;
			e->ebx = 1;
			e->ecx |= TOPO_LEVEL_SMT << 8;
			break;
		case 1:		/* nr_vcpus cores per package */
			e->eax = core_shift;
			e->ebx = nr_vcpus;
			e->ecx |= TOPO_LEVEL_CORE << 8;
			break;
		default:	/* end of the enumeration */
			e->eax = 0;
			e->ebx = 0;
			break;
		}
	}
}

int x86_cpuid_setup(struct kvm_cpuid2 *cpuid, unsigned int cap, unsigned int vcpu_id,
		    unsigned int nr_vcpus)
{
	const unsigned int core_shift = id_bits(nr_vcpus);
	const struct leaf_id need[] = {
		{ 0, 0, false },
		{ 0x80000000u, 0, false },
		{ KVM_CPUID_SIGNATURE, 0, false },
		{ KVM_CPUID_FEATURES, 0, false },
		{ 0x80000007u, 0, false },
		{ 0xb, 0, true }, { 0xb, 1, true }, { 0xb, 2, true },
		/* 0x1f only when KVM reports it: completed to the same three subleaves. */
		{ 0x1f, 0, true }, { 0x1f, 1, true }, { 0x1f, 2, true },
	};
	const bool has_1f = cpuid && cpuid_has_fn(cpuid, 0x1f);
	unsigned int missing = 0;
	struct kvm_cpuid_entry2 *e;
	bool amd;

	if (!cpuid || cpuid->nent > cap || nr_vcpus == 0 || nr_vcpus > CPUID_MAX_VCPUS ||
	    vcpu_id >= nr_vcpus)
		return -EINVAL;

	for (unsigned int i = 0; i < ARRAY_SIZE(need); i++) {
		if (need[i].fn == 0x1f && !has_1f)
			continue;
		if (!cpuid_find_need(cpuid, &need[i]))
			missing++;
	}
	if (missing > cap - cpuid->nent)
		return -E2BIG;

	/* A topology leaf KVM gave without the index flag would match every subleaf. */
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		e = &cpuid->entries[i];
		if (e->function == 4 || e->function == 0xb || e->function == 0x1f ||
		    e->function == 0x8000001du)
			e->flags |= CPUID_SIG_INDEXED;
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(need); i++) {
		if (need[i].fn == 0x1f && !has_1f)
			continue;
		cpuid_get(cpuid, &need[i]);
	}
	amd = vendor_is_amd(cpuid);

	raise_max(cpuid, 0, has_1f ? 0x1f : 0xb);
	raise_max(cpuid, 0x80000000u, 0x80000007u);

	e = cpuid_find(cpuid, 1, 0);
	if (e) {
		e->ebx = (e->ebx & 0x0000ffff) | (vcpu_id << 24) | ((nr_vcpus & 0xff) << 16);
		e->ecx |= L1_ECX_HYPERVISOR | L1_ECX_X2APIC;
		/* MONITOR/MWAIT are not emulated; PDCM announces PERF_CAPABILITIES (no PMU). */
		e->ecx &= ~(L1_ECX_MONITOR | L1_ECX_PDCM);
		if (nr_vcpus > 1)
			e->edx |= L1_EDX_HTT;
		else
			e->edx &= ~L1_EDX_HTT;
	}

	/*
	 * Deterministic cache parameters, every cache: EAX[25:14] = threads sharing it - 1
	 * (L1/L2 per core, L3 per package). Intel leaf 4 also has EAX[31:26] = cores per
	 * package - 1; AMD's 0x8000_001d keeps those bits reserved.
	 */
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		unsigned int cores = 1u << core_shift, sharing;

		e = &cpuid->entries[i];
		if ((e->function != 4 && e->function != 0x8000001du) || (e->eax & 0x1f) == 0)
			continue;
		sharing = ((e->eax >> 5) & 7) >= 3 ? cores : 1;
		e->eax = (e->eax & ~(0xfffu << 14)) | ((sharing - 1) & 0xfff) << 14;
		if (e->function == 4) {
			if (cores > 64)
				cores = 64;
			e->eax = (e->eax & 0x03ffffffu) | (cores - 1) << 26;
		}
	}

	/* Leaf 6: only the always-running APIC timer; no HWP, APERF/MPERF, EPB, thermal. */
	e = cpuid_find(cpuid, 6, 0);
	if (e) {
		e->eax &= L6_EAX_ARAT;
		e->ebx = e->ecx = e->edx = 0;
	}

	/* Leaf 0xa: architectural PMU hidden (the host offers no PMU passthrough). */
	e = cpuid_find(cpuid, 0xa, 0);
	if (e)
		e->eax = e->ebx = e->ecx = e->edx = 0;

	set_topology_leaf(cpuid, 0xb, vcpu_id, nr_vcpus, core_shift);
	if (has_1f)
		set_topology_leaf(cpuid, 0x1f, vcpu_id, nr_vcpus, core_shift);

	/* KVM paravirt interface, Documentation/virt/kvm/x86/cpuid.rst: "KVMKVMKVM\0\0\0". */
	e = cpuid_find(cpuid, KVM_CPUID_SIGNATURE, 0);
	e->eax = KVM_CPUID_FEATURES;
	e->ebx = 0x4b4d564b;
	e->ecx = 0x564b4d56;
	e->edx = 0x4d;
	/* 0x4000_0001 keeps the feature bits KVM reported (added as zeros if it gave none). */

	e = cpuid_find(cpuid, 0x80000007u, 0);
	e->edx |= E7_EDX_INVARIANT_TSC;

	if (amd) {
		e = cpuid_find(cpuid, 0x80000001u, 0);
		if (e) {
			e->ecx &= ~E1_ECX_PERFCTR_CORE;
			if (nr_vcpus > 1)
				e->ecx |= E1_ECX_CMP_LEGACY;
			else
				e->ecx &= ~E1_ECX_CMP_LEGACY;
		}
		/* ECX[7:0] NC = cores - 1, ECX[15:12] ApicIdCoreIdSize. */
		e = cpuid_find(cpuid, 0x80000008u, 0);
		if (e)
			e->ecx = (e->ecx & ~0xf0ffu) | (core_shift << 12) | (nr_vcpus - 1);
		/* Extended APIC id, core id (one thread per core), one node. */
		e = cpuid_find(cpuid, 0x8000001eu, 0);
		if (e) {
			e->eax = vcpu_id;
			e->ebx = vcpu_id & 0xff;
			e->ecx = 0;
			e->edx = 0;
		}
	}
	return 0;
}
