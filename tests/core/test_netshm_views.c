// SPDX-License-Identifier: MIT
/*
 * vmm/netshm.c's protect=vmfunc paths against a fake KVM: the patched KVM of
 * arch/x86/kvm-patch/ cannot run on our hosts (no VMX/EPT, no module loading), so the calls go
 * through struct netshm_kvm_ops into a model of the uapi (kvm-views-uapi.h,
 * docs/kvm-views.md §2): views, per-view defaults, per-memslot access in every view, and
 * memslots. The model answers as KVM would (EINVAL, EBUSY, ENOSPC, EEXIST) and also counts
 * every such refusal as a violation: our code must never cause one. After every call it
 * checks the invariant of §3: a memslot in the peer windows is never accessible in view 0,
 * not even between two ioctls.
 *
 * Also here: the report of the KVM_EXIT_MEMORY_FAULT a stray access raises on such a host
 * (vmm/vcpu.c). This host cannot raise one (no guest_memfd, no memory attributes, only the
 * default VM type), so the decision and the text are tested, not the exit.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "base/log.h"
#include "virtio/vhost-user/msg.h"
#include "vmm/netshm.h"
#include "vmm/vm.h"

#define R	KVM_EPT_VIEW_ACCESS_READ
#define W	KVM_EPT_VIEW_ACCESS_WRITE
#define X	KVM_EPT_VIEW_ACCESS_EXEC
#define RWX	(R | W | X)
#define MAX_VIEWS	4		/* KVM_X86_MAX_EPT_VIEWS in patch 0001 */
#define FK_SLOTS	128
#define FK_LOG		1024
#define PEER_END	(LAYOUT_NETSHM_PEER + NETSHM_MAX_PORTS * LAYOUT_NETSHM_PEER_STRIDE)

enum fk_op { FK_CAP, FK_VIEW, FK_ACCESS, FK_REGION };

struct fk_slot {
	bool used;
	uint32_t id, flags;
	uint64_t gpa, size, hva;
	uint8_t access[MAX_VIEWS];
};

struct fk_call {
	enum fk_op op;
	uint32_t a, b, c;		/* ACCESS: view, slot, access; REGION: slot, size != 0 */
	int ret;
};

struct fake_kvm {
	int cap;			/* the KVM_CAP_EPT_VIEWS answer */
	unsigned int nviews;		/* view 0 included */
	bool vcpus;			/* KVM_CREATE_VCPU happened: views are fixed */
	uint8_t def[MAX_VIEWS];		/* access of memslots created later, per view */
	struct fk_slot slot[FK_SLOTS];
	unsigned int ncalls, fail_at, fail_at2;	/* these calls (1-based) fail with EIO */
	struct fk_call log[FK_LOG];
	unsigned int violations;
	char why[256];
};

static struct fake_kvm fk;

static void fk_init(int cap)
{
	memset(&fk, 0, sizeof(fk));
	fk.cap = cap;
	fk.nviews = 1;
	fk.def[0] = RWX;
}

static int fk_refuse(int err, const char *what)
{
	fk.violations++;
	snprintf(fk.why, sizeof(fk.why), "%s", what);
	return err;
}

static bool in_peer_windows(uint64_t gpa, uint64_t size)
{
	return gpa < PEER_END && gpa + size > LAYOUT_NETSHM_PEER;
}

/* §3: with views, a peer window is never accessible in view 0. */
static void fk_check_invariant(void)
{
	for (unsigned int i = 0; i < FK_SLOTS; i++) {
		const struct fk_slot *s = &fk.slot[i];

		if (s->used && fk.nviews > 1 && in_peer_windows(s->gpa, s->size) && s->access[0])
			(void)fk_refuse(0, "a peer window was accessible in view 0");
	}
}

/* Records the call; the injected failure happens before any state changes. */
static bool fk_enter(enum fk_op op, uint32_t a, uint32_t b, uint32_t c)
{
	unsigned int i = fk.ncalls++;

	cr_assert_lt(i, FK_LOG, "runaway calls");
	fk.log[i] = (struct fk_call){ .op = op, .a = a, .b = b, .c = c };
	return fk.ncalls == fk.fail_at || fk.ncalls == fk.fail_at2;
}

static int fk_ret(int r)
{
	fk.log[fk.ncalls - 1].ret = r;
	fk_check_invariant();
	return r;
}

static struct fk_slot *fk_slot(uint32_t id)
{
	for (unsigned int i = 0; i < FK_SLOTS; i++)
		if (fk.slot[i].used && fk.slot[i].id == id)
			return &fk.slot[i];
	return NULL;
}

static int fk_check_extension(void *ctx, unsigned long cap)
{
	cr_assert_eq(ctx, &fk);
	if (fk_enter(FK_CAP, (uint32_t)cap, 0, 0))
		return fk_ret(-EIO);
	return fk_ret(cap == KVM_CAP_EPT_VIEWS ? fk.cap : 0);
}

static int fk_create_ept_view(void *ctx, unsigned long flags)
{
	unsigned int max = (unsigned int)fk.cap & KVM_EPT_VIEWS_CAP_COUNT_MASK, v;

	cr_assert_eq(ctx, &fk);
	if (fk_enter(FK_VIEW, (uint32_t)flags, 0, 0))
		return fk_ret(-EIO);
	if (fk.cap <= 0)
		return fk_ret(fk_refuse(-ENOTTY, "KVM_CREATE_EPT_VIEW on a KVM without views"));
	if (flags)
		return fk_ret(fk_refuse(-EINVAL, "KVM_CREATE_EPT_VIEW flags != 0"));
	if (fk.vcpus)
		return fk_ret(-EBUSY);
	if (fk.nviews >= max || fk.nviews >= MAX_VIEWS)
		return fk_ret(fk_refuse(-ENOSPC, "KVM_CREATE_EPT_VIEW past the limit"));
	v = fk.nviews++;
	fk.def[v] = RWX;		/* a new view maps every existing slot RWX */
	for (unsigned int i = 0; i < FK_SLOTS; i++)
		fk.slot[i].access[v] = RWX;
	return fk_ret((int)v);
}

static bool valid_access(uint32_t a)
{
	return a == 0 || a == R || a == (R | W) || a == (R | X) || a == RWX;
}

static int fk_set_ept_view_access(void *ctx, const struct kvm_ept_view_access *a)
{
	struct fk_slot *s = NULL;

	cr_assert_eq(ctx, &fk);
	if (fk_enter(FK_ACCESS, a->view, a->slot, a->access))
		return fk_ret(-EIO);
	if (fk.cap <= 0)
		return fk_ret(fk_refuse(-ENOTTY, "KVM_SET_EPT_VIEW_ACCESS on a KVM without views"));
	if (a->flags || a->view >= fk.nviews || !valid_access(a->access))
		return fk_ret(fk_refuse(-EINVAL, "KVM_SET_EPT_VIEW_ACCESS: bad view/access/flags"));
	if (a->slot != KVM_EPT_VIEW_SLOT_DEFAULT) {
		s = a->slot >> 16 ? NULL : fk_slot(a->slot);	/* address space 0 only */
		if (!s)
			return fk_ret(fk_refuse(-EINVAL, "KVM_SET_EPT_VIEW_ACCESS: no such slot"));
		s->access[a->view] = (uint8_t)a->access;
	} else {
		fk.def[a->view] = (uint8_t)a->access;
	}
	return fk_ret(0);
}

static int fk_set_memory_region(void *ctx, const struct kvm_userspace_memory_region *r)
{
	struct fk_slot *s;

	cr_assert_eq(ctx, &fk);
	if (fk_enter(FK_REGION, r->slot, r->memory_size != 0, 0))
		return fk_ret(-EIO);
	if (r->flags & ~(uint32_t)(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY) || r->slot >> 16 ||
	    (r->guest_phys_addr | r->memory_size | r->userspace_addr) & 4095)
		return fk_ret(fk_refuse(-EINVAL, "KVM_SET_USER_MEMORY_REGION: bad arguments"));
	s = fk_slot(r->slot);
	if (!r->memory_size) {
		if (!s)
			return fk_ret(fk_refuse(-EINVAL, "deleting a memslot that does not exist"));
		*s = (struct fk_slot){ 0 };	/* gone from every view */
		return fk_ret(0);
	}
	if (s)
		return fk_ret(fk_refuse(-EEXIST, "changing a live memslot (never done here)"));
	for (unsigned int i = 0; i < FK_SLOTS; i++) {
		const struct fk_slot *o = &fk.slot[i];

		if (o->used && r->guest_phys_addr < o->gpa + o->size &&
		    o->gpa < r->guest_phys_addr + r->memory_size)
			return fk_ret(-EEXIST);		/* overlap: what KVM says */
	}
	for (s = fk.slot; s < fk.slot + FK_SLOTS && s->used; s++)
		;
	cr_assert_lt(s, fk.slot + FK_SLOTS);
	*s = (struct fk_slot){ .used = true, .id = r->slot, .flags = r->flags,
			       .gpa = r->guest_phys_addr, .size = r->memory_size,
			       .hva = r->userspace_addr };
	memcpy(s->access, fk.def, sizeof(s->access));
	return fk_ret(0);
}

static const struct netshm_kvm_ops fk_ops = {
	.check_extension = fk_check_extension,
	.create_ept_view = fk_create_ept_view,
	.set_ept_view_access = fk_set_ept_view_access,
	.set_memory_region = fk_set_memory_region,
};

static unsigned int fk_slots_in(uint64_t gpa, uint64_t len)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < FK_SLOTS; i++)
		n += fk.slot[i].used && fk.slot[i].gpa < gpa + len && gpa < fk.slot[i].gpa +
		     fk.slot[i].size;
	return n;
}

static const struct fk_slot *fk_slot_at(uint64_t gpa)
{
	for (unsigned int i = 0; i < FK_SLOTS; i++)
		if (fk.slot[i].used && fk.slot[i].gpa == gpa)
			return &fk.slot[i];
	return NULL;
}

/* ---- the VMM side on the fake ---- */

static struct {
	int region, peer;
	struct netshm_vm *n;
	struct vu_front_netshm_ops ops;
} t;

static uint64_t window(uint32_t port)
{
	return LAYOUT_NETSHM_PEER + (uint64_t)port * LAYOUT_NETSHM_PEER_STRIDE;
}

static int create(int cap, bool readonly_mem, struct err *e)
{
	struct netshm_vm_opts o = {
		.vm_fd = -1, .mode = VMM_NETSHM_PEER, .protect = VMM_NETSHM_PROTECT_VMFUNC,
		.readonly_mem = readonly_mem, .slot_base = 8, .kvm = &fk_ops, .kvm_ctx = &fk,
	};

	fk_init(cap);
	t.n = NULL;
	int r = netshm_vm_create(&o, &t.n, e);

	if (!r)
		t.ops = netshm_vm_ops(t.n);
	return r;
}

static char last_err[512];
static unsigned int nerr;

static void keep_errors(void *ctx, enum log_level lvl, const char *line)
{
	(void)ctx;
	if (lvl != LOG_ERROR)
		return;		/* the create's info line, the protect=none warning */
	nerr++;
	snprintf(last_err, sizeof(last_err), "%s", line);
}

static void setup(void)
{
	memset(&t, 0, sizeof(t));
	t.region = memfd_create("nv-region", MFD_CLOEXEC);
	t.peer = memfd_create("nv-peer-ram", MFD_CLOEXEC);
	cr_assert_eq(ftruncate(t.region, (off_t)NETSHM_REGION_SIZE(3)), 0);
	cr_assert_eq(ftruncate(t.peer, 8u << 20), 0);
	nerr = 0;
	last_err[0] = 0;
	log_set_sink(keep_errors, NULL);
}

static void teardown(void)
{
	netshm_vm_destroy(t.n);
	close(t.region);
	close(t.peer);
	log_set_sink(NULL, NULL);
}

/* MiB of memfd `name` mapped in this process (adjacent mappings may share one line). */
static unsigned int mib_mapped(const char *name)
{
	char line[512];
	unsigned long long a, b, n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, name) && sscanf(line, "%llx-%llx", &a, &b) == 2)
			n += b - a;
	fclose(f);
	return (unsigned int)(n >> 20);
}

static uint32_t reg(uint32_t off)
{
	return netshm_dev_reg(netshm_vm_dev(t.n), off);
}

/* Two regions of peer RAM (like RAM below and above the hole), from one memfd. */
static struct vu_mem two_regions(void)
{
	struct vu_mem m = { .nregions = 2 };

	m.regions[0] = (struct vu_mem_region){ .guest_addr = 0, .size = 2u << 20 };
	m.regions[1] = (struct vu_mem_region){ .guest_addr = 4ull << 30, .size = 2u << 20,
					       .mmap_offset = 2u << 20 };
	return m;
}

static int map_peer(uint32_t port)
{
	struct vu_mem m = two_regions();
	int fds[2] = { t.peer, t.peer };

	return t.ops.peer_map(t.ops.opaque, port, &m, fds);
}

/* What docs/kvm-views.md §3 says every slot looks like once port 1 of 3 mapped peers 0, 2. */
static void expect_views_layout(bool readonly_mem)
{
	const struct fk_slot *ctrl = fk_slot_at(LAYOUT_NETSHM_REGION);
	const struct fk_slot *data = fk_slot_at(LAYOUT_NETSHM_REGION + NETSHM_CTRL_SIZE);

	cr_assert_not_null(ctrl);
	cr_assert_not_null(data);
	cr_expect_eq(ctrl->size, NETSHM_CTRL_SIZE);
	cr_expect_eq(!!(ctrl->flags & KVM_MEM_READONLY), readonly_mem);
	cr_expect_eq(data->flags, 0);
	for (unsigned int v = 0; v < 2; v++) {
		cr_expect_eq(ctrl->access[v], RWX, "region: ordinary memslot in view %u", v);
		cr_expect_eq(data->access[v], RWX, "region: ordinary memslot in view %u", v);
	}
	for (uint32_t p = 0; p < 3; p += 2) {
		const struct fk_slot *lo = fk_slot_at(window(p)), *hi = fk_slot_at(window(p) + (4ull << 30));

		cr_assert_not_null(lo, "port %u low region", p);
		cr_assert_not_null(hi, "port %u high region", p);
		for (const struct fk_slot *s = lo; s; s = s == lo ? hi : NULL) {
			cr_expect_eq(s->access[0], 0, "peer %u: not in view 0", p);
			cr_expect_eq(s->access[1], R | W, "peer %u: RW in view 1", p);
			cr_expect_eq(s->flags, 0);
		}
	}
	cr_expect_eq(fk_slots_in(window(1), LAYOUT_NETSHM_PEER_STRIDE), 0, "own port: none");
	cr_expect_eq(fk.def[0], RWX, "view 0's default restored after each peer slot");
	cr_expect_eq(fk.def[1], RWX);
}

static void run_views(int cap, uint32_t method, uint32_t other, bool readonly_mem)
{
	struct err e = { 0 };
	struct vmm_netshm_info info;

	cr_assert_eq(create(cap, readonly_mem, &e), 0, "%s", e.msg);
	cr_expect_eq(fk.nviews, 2, "view 1 created");
	cr_expect_eq(reg(NETSHM_REG_STATUS), NETSHM_STS_PEER | NETSHM_STS_VIEWS | method);
	cr_expect_eq(reg(NETSHM_REG_STATUS) & other, 0, "exactly one switch method");
	cr_expect_eq(reg(NETSHM_REG_PEER_VIEW), 1);
	cr_assert_eq(t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3), 1, 3), 0);
	cr_assert_eq(map_peer(0), 0);
	cr_assert_eq(map_peer(2), 0);
	cr_expect_eq(reg(NETSHM_REG_PEER_MAPPED), 0x5);
	expect_views_layout(readonly_mem);
	netshm_vm_info(t.n, &info);
	cr_expect(info.views);

	/* A second PEER_MAP replaces the first: still two slots, still only in view 1. */
	cr_assert_eq(map_peer(2), 0);
	expect_views_layout(readonly_mem);
	cr_expect_eq(mib_mapped("nv-peer-ram"), 8, "two ports, two 2 MiB regions each");

	t.ops.peer_unmap(t.ops.opaque, 0);
	cr_expect_eq(fk_slots_in(window(0), LAYOUT_NETSHM_PEER_STRIDE), 0, "gone from every view");
	cr_expect_eq(fk_slots_in(window(2), LAYOUT_NETSHM_PEER_STRIDE), 2);
	cr_expect_eq(reg(NETSHM_REG_PEER_MAPPED), 0x4);
	cr_expect_eq(mib_mapped("nv-peer-ram"), 4);
	netshm_vm_destroy(t.n);
	t.n = NULL;
	cr_expect_eq(fk_slots_in(0, ~0ull), 0, "destroy: no memslot left in any view");
	cr_expect_eq(mib_mapped("nv-peer-ram") + mib_mapped("nv-region"), 0);
	cr_expect_eq(fk.violations, 0, "%s", fk.why);
}

TestSuite(netshm_views, .init = setup, .fini = teardown);

Test(netshm_views, vmfunc_host_maps_peers_only_in_view_1)
{
	run_views(4 | KVM_EPT_VIEWS_CAP_VMFUNC | KVM_EPT_VIEWS_CAP_HYPERCALL, NETSHM_STS_VMFUNC,
		  NETSHM_STS_HCALL, true);
}

Test(netshm_views, hypercall_only_host_same_mapping_guest_told_to_use_the_hypercall)
{
	run_views(4 | KVM_EPT_VIEWS_CAP_HYPERCALL, NETSHM_STS_HCALL, NETSHM_STS_VMFUNC, false);
}

Test(netshm_views, view_1_is_created_once_before_any_slot)
{
	struct err e = { 0 };

	cr_assert_eq(create(2 | KVM_EPT_VIEWS_CAP_VMFUNC, true, &e), 0, "%s", e.msg);
	cr_expect_eq(fk.log[0].op, FK_CAP);
	cr_expect_eq(fk.log[0].a, KVM_CAP_EPT_VIEWS);
	cr_expect_eq(fk.log[1].op, FK_VIEW);
	cr_expect_eq(fk.log[1].a, 0, "flags 0");
	cr_expect_eq(fk.ncalls, 2);
}

Test(netshm_views, kvm_without_a_usable_answer_is_refused_with_the_reason)
{
	static const struct { int cap; const char *reason; } cases[] = {
		{ 0, "does not have it" },
		{ -EINVAL, "does not have it" },
		{ 1 | KVM_EPT_VIEWS_CAP_VMFUNC | KVM_EPT_VIEWS_CAP_HYPERCALL, "fewer than two views" },
		{ KVM_EPT_VIEWS_CAP_VMFUNC, "fewer than two views" },
		{ 4, "neither VMFUNC nor the view-switch hypercall" },
	};

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err e = { 0 };

		cr_expect_eq(create(cases[i].cap, true, &e), -ENOTSUP, "cap %#x", cases[i].cap);
		cr_expect_null(t.n);
		cr_expect(strstr(e.msg, "KVM_CAP_EPT_VIEWS"), "%s", e.msg);
		cr_expect(strstr(e.msg, "docs/kvm-views.md"), "%s", e.msg);
		cr_expect(strstr(e.msg, cases[i].reason), "cap %#x: %s", cases[i].cap, e.msg);
		cr_expect_eq(fk.ncalls, 1, "only the probe");
		cr_expect_eq(fk.nviews, 1);
	}
}

Test(netshm_views, views_after_the_vcpus_exist_are_refused)
{
	struct netshm_vm_opts o = {
		.vm_fd = -1, .mode = VMM_NETSHM_PEER, .protect = VMM_NETSHM_PROTECT_VMFUNC,
		.slot_base = 8, .kvm = &fk_ops, .kvm_ctx = &fk,
	};
	struct err e = { 0 };

	fk_init(4 | KVM_EPT_VIEWS_CAP_VMFUNC);
	fk.vcpus = true;
	cr_expect_eq(netshm_vm_create(&o, &t.n, &e), -EBUSY);
	cr_expect(strstr(e.msg, "KVM_CREATE_EPT_VIEW"), "%s", e.msg);
	cr_expect(strstr(e.msg, "vCPUs exist"), "%s", e.msg);
	cr_expect_null(t.n);
}

Test(netshm_views, protect_none_makes_no_view_calls)
{
	struct netshm_vm_opts o = {
		.vm_fd = -1, .mode = VMM_NETSHM_PEER, .protect = VMM_NETSHM_PROTECT_NONE,
		.slot_base = 8, .kvm = &fk_ops, .kvm_ctx = &fk,
	};
	struct err e = { 0 };

	fk_init(4 | KVM_EPT_VIEWS_CAP_VMFUNC);
	cr_assert_eq(netshm_vm_create(&o, &t.n, &e), 0, "%s", e.msg);
	t.ops = netshm_vm_ops(t.n);
	cr_assert_eq(t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3), 1, 3), 0);
	cr_assert_eq(map_peer(0), 0);
	for (unsigned int i = 0; i < fk.ncalls; i++)
		cr_expect_eq(fk.log[i].op, FK_REGION, "call %u", i);
	cr_expect_eq(fk.nviews, 1);
	cr_expect_eq(reg(NETSHM_REG_STATUS) & (NETSHM_STS_VIEWS | NETSHM_STS_VMFUNC |
					       NETSHM_STS_HCALL), 0);
	cr_expect_eq(reg(NETSHM_REG_PEER_VIEW), 0);
	cr_expect_eq(fk_slot_at(window(0))->access[0], RWX);
}

/*
 * Every KVM call of attach + two PEER_MAPs fails in turn (EIO). The failing step reports
 * the error; what it mapped is gone again, from KVM (the fake's slots) and from our address
 * space; the rest stays as it was; and view 0 never sees a peer window.
 */
Test(netshm_views, a_failure_at_any_call_leaves_nothing_mapped)
{
	bool finished = false;

	for (unsigned int k = 1; k < 64 && !finished; k++) {
		struct err e = { 0 };
		unsigned int base;
		int ra, r0 = -1, r2 = -1;

		cr_assert_eq(create(4 | KVM_EPT_VIEWS_CAP_VMFUNC, true, &e), 0, "%s", e.msg);
		base = fk.ncalls;
		fk.fail_at = base + k;
		ra = t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3), 1, 3);
		if (!ra)
			r0 = map_peer(0);
		if (!r0)
			r2 = map_peer(2);
		finished = fk.ncalls < fk.fail_at;
		if (finished) {
			cr_expect(!ra && !r0 && !r2, "no failure injected, all succeed");
			expect_views_layout(true);
		} else {
			const struct fk_call *c = &fk.log[fk.fail_at - 1];
			bool restore = c->op == FK_ACCESS && c->a == 0 &&
				       c->b == KVM_EPT_VIEW_SLOT_DEFAULT && c->c == RWX;

			cr_expect(ra || r0 || r2, "call %u failed, yet every step succeeded", k);
			if (ra) {
				cr_expect_eq(fk_slots_in(0, ~0ull), 0, "attach failed at call %u", k);
				cr_expect_eq(mib_mapped("nv-region"), 0);
				cr_expect_eq(reg(NETSHM_REG_STATUS) & NETSHM_STS_REGION, 0);
			} else {
				cr_expect_eq(fk_slots_in(LAYOUT_NETSHM_REGION, NETSHM_CTRL_SIZE), 1);
				cr_expect_eq(fk_slots_in(LAYOUT_NETSHM_PEER, PEER_END - LAYOUT_NETSHM_PEER),
					     r0 ? 0 : 2, "peer map failed at call %u", k);
				cr_expect_eq(mib_mapped("nv-peer-ram"), r0 ? 0 : 4);
				cr_expect_eq(reg(NETSHM_REG_PEER_MAPPED), r0 ? 0 : 1);
			}
			/* Only a failed restore leaves view 0's default at none, and says so. */
			cr_expect_eq(fk.def[0], restore ? 0 : RWX, "call %u", k);
			if (restore)
				cr_expect(strstr(last_err, "view 0's default"), "%s", last_err);
		}
		cr_expect_eq(fk.violations, 0, "call %u: %s", k, fk.why);
		fk.fail_at = 0;
		netshm_vm_destroy(t.n);
		t.n = NULL;
		cr_expect_eq(fk_slots_in(0, ~0ull), 0);
	}
	cr_expect(finished, "the sequence ends");
}

/* KVM keeps a slot it refused to delete: then its pages must stay mapped (netshm.h). */
Test(netshm_views, a_slot_kvm_keeps_keeps_its_pages)
{
	struct err e = { 0 };

	cr_assert_eq(create(4 | KVM_EPT_VIEWS_CAP_VMFUNC, true, &e), 0, "%s", e.msg);
	cr_assert_eq(t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3), 1, 3), 0);
	cr_assert_eq(map_peer(0), 0);
	fk.fail_at = fk.ncalls + 1;	/* the first deletion */
	t.ops.peer_unmap(t.ops.opaque, 0);
	cr_expect_eq(reg(NETSHM_REG_PEER_MAPPED), 0, "the guest is told first");
	cr_expect_eq(fk_slots_in(window(0), LAYOUT_NETSHM_PEER_STRIDE), 1, "one slot stuck");
	cr_expect_eq(mib_mapped("nv-peer-ram"), 2, "its pages are not unmapped under KVM");
	cr_expect_eq(fk_slot_at(window(0))->access[0], 0, "and still not in view 0");
	cr_expect(strstr(last_err, "keeping its mapping"), "%s", last_err);
	cr_expect_eq(fk.violations, 0, "%s", fk.why);
}

/* The peer view refuses the slot's access and KVM then refuses to delete it: same rule. */
Test(netshm_views, a_slot_that_cannot_be_taken_back_keeps_its_pages)
{
	struct err e = { 0 };
	struct vu_mem m = two_regions();

	m.nregions = 1;
	cr_assert_eq(create(4 | KVM_EPT_VIEWS_CAP_VMFUNC, true, &e), 0, "%s", e.msg);
	cr_assert_eq(t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3), 1, 3), 0);
	/* default none, create, default RWX, view 1 RW (fails), delete (fails) */
	fk.fail_at = fk.ncalls + 4;
	fk.fail_at2 = fk.ncalls + 5;
	cr_expect_neq(t.ops.peer_map(t.ops.opaque, 0, &m, &t.peer), 0);
	cr_expect_eq(fk.log[fk.fail_at - 1].op, FK_ACCESS);
	cr_expect_eq(fk.log[fk.fail_at2 - 1].op, FK_REGION);
	cr_expect_eq(fk_slots_in(window(0), LAYOUT_NETSHM_PEER_STRIDE), 1, "stuck in KVM");
	cr_expect_eq(fk_slot_at(window(0))->access[0], 0, "but not in view 0");
	cr_expect_eq(mib_mapped("nv-peer-ram"), 2, "its pages stay mapped");
	cr_expect(strstr(last_err, "keeping its mapping"), "%s", last_err);
	cr_expect_eq(reg(NETSHM_REG_PEER_MAPPED), 0);
	cr_expect_eq(fk.violations, 0, "%s", fk.why);
	fk.fail_at = fk.fail_at2 = 0;
}

Test(netshm_views, the_decision_table)
{
	const char *why = NULL;

	cr_expect_eq(netshm_views_decide(4 | KVM_EPT_VIEWS_CAP_VMFUNC | KVM_EPT_VIEWS_CAP_HYPERCALL,
					 &why), NETSHM_SWITCH_VMFUNC, "VMFUNC is preferred");
	cr_expect_eq(netshm_views_decide(2 | KVM_EPT_VIEWS_CAP_HYPERCALL, &why),
		     NETSHM_SWITCH_HYPERCALL);
	cr_expect_eq(netshm_views_decide(0xff | KVM_EPT_VIEWS_CAP_VMFUNC, NULL),
		     NETSHM_SWITCH_VMFUNC);
	cr_expect_eq(netshm_views_decide(-1, &why), NETSHM_SWITCH_NONE);
	cr_expect_not_null(why);
}

/* ---- the exit a stray access raises on a patched host (vmm/vcpu.c) ---- */

static struct kvm_run fault_run(uint32_t reason, uint64_t flags, uint64_t gpa, uint64_t size)
{
	struct kvm_run run;
	struct kvm_compat_memory_fault mf = { .flags = flags, .gpa = gpa, .size = size };

	memset(&run, 0, sizeof(run));
	run.exit_reason = reason;
	memcpy(run.padding, &mf, sizeof(mf));
	return run;
}

Test(memory_fault, ept_view_fault_in_a_peer_window_is_described)
{
	struct kvm_run run = fault_run(KVM_EXIT_MEMORY_FAULT, KVM_MEMORY_EXIT_FLAG_EPT_VIEW,
				       window(2) + 0x5000, 4096);
	char buf[320];

	cr_assert(vcpu_memory_fault_describe(EFAULT, &run, buf, sizeof(buf)));
	cr_expect(strstr(buf, "KVM_EXIT_MEMORY_FAULT"), "%s", buf);
	cr_expect(strstr(buf, "GPA 0x3000005000"), "%s", buf);
	cr_expect(strstr(buf, "peer port 2"), "%s", buf);
	cr_expect(strstr(buf, "size 0x1000"), "%s", buf);
	cr_expect(strstr(buf, "flags 0x1000000000000"), "%s", buf);
	cr_expect(strstr(buf, "current EPT view"), "%s", buf);
}

Test(memory_fault, other_flags_and_errors_are_named)
{
	struct kvm_run priv = fault_run(KVM_EXIT_MEMORY_FAULT, KVM_MEMORY_EXIT_FLAG_PRIVATE,
					0x100000, 4096);
	struct kvm_run plain = fault_run(KVM_EXIT_MEMORY_FAULT, 0, LAYOUT_NETSHM_REGION, 4096);
	char buf[320];

	cr_assert(vcpu_memory_fault_describe(EFAULT, &priv, buf, sizeof(buf)));
	cr_expect(strstr(buf, "private/shared"), "%s", buf);
	cr_expect(!strstr(buf, "netshm"), "%s", buf);
	cr_assert(vcpu_memory_fault_describe(EHWPOISON, &plain, buf, sizeof(buf)));
	cr_expect(strstr(buf, "poisoned"), "%s", buf);
	cr_expect(strstr(buf, "netshm region"), "%s", buf);
	cr_assert(vcpu_memory_fault_describe(EFAULT, &plain, buf, sizeof(buf)));
	cr_expect(strstr(buf, "could not map"), "%s", buf);
}

Test(memory_fault, a_stale_exit_reason_or_another_errno_is_not_one)
{
	struct kvm_run stale = fault_run(KVM_EXIT_MMIO, KVM_MEMORY_EXIT_FLAG_EPT_VIEW, 0, 4096);
	struct kvm_run mf = fault_run(KVM_EXIT_MEMORY_FAULT, KVM_MEMORY_EXIT_FLAG_EPT_VIEW, 0, 4096);
	char buf[320] = "";

	cr_expect_not(vcpu_memory_fault_describe(EFAULT, &stale, buf, sizeof(buf)));
	cr_expect_not(vcpu_memory_fault_describe(EINVAL, &mf, buf, sizeof(buf)));
	cr_expect_not(vcpu_memory_fault_describe(EINTR, &mf, buf, sizeof(buf)));
	cr_expect_eq(buf[0], 0, "buf untouched");
}

Test(memory_fault, a_short_buffer_is_cut_not_overrun)
{
	struct kvm_run run = fault_run(KVM_EXIT_MEMORY_FAULT, ~0ull, ~0ull, ~0ull);
	char buf[24 + 1];

	buf[24] = 'Z';
	cr_assert(vcpu_memory_fault_describe(EFAULT, &run, buf, 24));
	cr_expect_eq(strlen(buf), 23);
	cr_expect_eq(buf[24], 'Z');
}
