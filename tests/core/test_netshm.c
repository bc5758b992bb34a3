// SPDX-License-Identifier: MIT
/*
 * vmm/netshm.c: the memslot id allocator, and the glue on a real KVM VM (no vCPU): a memfd
 * region attached through the front-end callbacks becomes two memslots (KVM accepts them: a
 * wrong size, flag or overlap would fail the ioctl), the device registers follow, peer windows
 * come and go, a PEER_MAP outside the rules is refused, and everything is unmapped again
 * (slots free, no mapping left in /proc/self/maps).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "arch/x86/layout.h"
#include "lapic-probe.h"
#include "lib/fds.h"
#include "virtio/vhost-user/msg.h"
#include "vmm/gsi.h"
#include "vmm/netshm.h"

Test(netshm_slots, ids_are_lowest_first_and_reused)
{
	struct netshm_slots s;
	uint32_t a, b, c;

	netshm_slots_init(&s, 8);
	cr_assert_eq(netshm_slot_alloc(&s, &a), 0);
	cr_assert_eq(netshm_slot_alloc(&s, &b), 0);
	cr_expect_eq(a, 8);
	cr_expect_eq(b, 9);
	netshm_slot_free(&s, a);
	cr_assert_eq(netshm_slot_alloc(&s, &c), 0);
	cr_expect_eq(c, 8, "the freed id comes back first");
	cr_expect_eq(netshm_slots_used(&s), 2);
}

Test(netshm_slots, exhaustion_is_enospc)
{
	struct netshm_slots s;
	uint32_t id;

	netshm_slots_init(&s, 100);
	for (unsigned int i = 0; i < NETSHM_SLOTS_MAX; i++)
		cr_assert_eq(netshm_slot_alloc(&s, &id), 0);
	cr_expect_eq(id, 100 + NETSHM_SLOTS_MAX - 1);
	cr_expect_eq(netshm_slot_alloc(&s, &id), -ENOSPC);
}

Test(netshm_slots, freeing_foreign_ids_changes_nothing)
{
	struct netshm_slots s;
	uint32_t id;

	netshm_slots_init(&s, 8);
	cr_assert_eq(netshm_slot_alloc(&s, &id), 0);
	netshm_slot_free(&s, 7);
	netshm_slot_free(&s, 8 + NETSHM_SLOTS_MAX);
	netshm_slot_free(&s, UINT32_MAX);
	cr_expect_eq(netshm_slots_used(&s), 1);
}

/* ---- the glue on /dev/kvm ---- */

static struct {
	int kvm, vm, region;
	struct netshm_vm *n;
	struct vu_front_netshm_ops ops;
} t;

/* /dev/kvm, a VM on it, and a memfd region for 3 ports: what both suites start from. */
static void open_vm(int *kvm, int *vm, int *region)
{
	*kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	cr_assert_geq(*kvm, 0, "/dev/kvm");
	*vm = ioctl(*kvm, KVM_CREATE_VM, 0);
	cr_assert_geq(*vm, 0);
	*region = memfd_create("ns-region", MFD_CLOEXEC);
	cr_assert_eq(ftruncate(*region, (off_t)NETSHM_REGION_SIZE(3)), 0);
}

static void setup(void)
{
	struct netshm_vm_opts o;
	struct err e = { 0 };

	memset(&t, 0, sizeof(t));
	open_vm(&t.kvm, &t.vm, &t.region);
	o = (struct netshm_vm_opts){
		.vm_fd = t.vm, .mode = VMM_NETSHM_PEER, .protect = VMM_NETSHM_PROTECT_NONE,
		.readonly_mem = ioctl(t.kvm, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0,
		.slot_base = 8,
	};
	cr_assert_eq(netshm_vm_create(&o, &t.n, &e), 0, "%s", e.msg);
	t.ops = netshm_vm_ops(t.n);
}

static void teardown(void)
{
	netshm_vm_destroy(t.n);
	close(t.region);
	close(t.vm);
	close(t.kvm);
}

/* How many mappings of memfd `name` this process has. */
static unsigned int mappings_of(const char *name)
{
	char line[512];
	unsigned int n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, name) != NULL;
	fclose(f);
	return n;
}

static uint32_t reg(uint32_t off)
{
	return netshm_dev_reg(netshm_vm_dev(t.n), off);
}

TestSuite(netshm_vm, .init = setup, .fini = teardown);

Test(netshm_vm, attach_maps_the_region_and_sets_the_registers)
{
	struct vmm_netshm_info info;
	uint32_t gen = reg(NETSHM_REG_GEN);

	cr_expect_eq(reg(NETSHM_REG_STATUS), NETSHM_STS_PEER, "peer mode, nothing mapped");
	cr_assert_eq(t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3), 1, 3), 0);
	cr_expect_eq(mappings_of("ns-region"), 2, "control and pair parts");
	cr_expect(reg(NETSHM_REG_STATUS) & NETSHM_STS_REGION);
	cr_expect_neq(reg(NETSHM_REG_GEN), gen);
	cr_expect_eq(reg(NETSHM_REG_PORT), 1);
	cr_expect_eq(reg(NETSHM_REG_NPORTS), 3);
	cr_expect_eq(((uint64_t)reg(NETSHM_REG_REGION_HI) << 32) | reg(NETSHM_REG_REGION_LO),
		     LAYOUT_NETSHM_REGION);
	cr_expect_eq(reg(NETSHM_REG_RSIZE_LO), (uint32_t)NETSHM_REGION_SIZE(3));
	cr_expect_eq(((uint64_t)reg(NETSHM_REG_PEER_HI) << 32) | reg(NETSHM_REG_PEER_LO),
		     LAYOUT_NETSHM_PEER);
	netshm_vm_info(t.n, &info);
	cr_expect(info.region_mapped);
	cr_expect_eq(!!(reg(NETSHM_REG_STATUS) & NETSHM_STS_CTRL_RO), info.ctrl_ro);
	cr_expect_eq(info.attaches, 1);

	t.ops.detach(t.ops.opaque);
	cr_expect_eq(reg(NETSHM_REG_STATUS), NETSHM_STS_PEER, "REGION cleared on detach");
	cr_expect_eq(mappings_of("ns-region"), 0, "munmapped after the memslots went");
	/* The slots are free again: the same windows can be attached once more. */
	cr_assert_eq(t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3), 2, 3), 0);
	cr_expect_eq(reg(NETSHM_REG_PORT), 2);
}

Test(netshm_vm, region_size_that_is_not_whole_hugepages_is_refused)
{
	cr_expect_neq(t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3) - 4096, 1, 3), 0);
	cr_expect_neq(t.ops.attach(t.ops.opaque, t.region, NETSHM_CTRL_SIZE, 1, 3), 0);
	cr_expect_neq(t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3), 3, 3), 0);
	cr_expect_eq(mappings_of("ns-region"), 0);
	cr_expect_eq(reg(NETSHM_REG_STATUS) & NETSHM_STS_REGION, 0);
}

static struct vu_mem one_region(uint64_t gpa, uint64_t size)
{
	struct vu_mem m = { .nregions = 1 };

	m.regions[0] = (struct vu_mem_region){ .guest_addr = gpa, .size = size };
	return m;
}

Test(netshm_vm, peer_windows_come_and_go)
{
	int peer = memfd_create("ns-peer-ram", MFD_CLOEXEC);
	struct vu_mem m = one_region(0, 4u << 20);
	struct vmm_netshm_info info;

	cr_assert_eq(ftruncate(peer, 4u << 20), 0);
	cr_assert_eq(t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3), 1, 3), 0);
	cr_assert_eq(t.ops.peer_map(t.ops.opaque, 0, &m, &peer), 0);
	cr_assert_eq(t.ops.peer_map(t.ops.opaque, 2, &m, &peer), 0);
	cr_expect_eq(reg(NETSHM_REG_PEER_MAPPED), 0x5);
	cr_expect_eq(mappings_of("ns-peer-ram"), 2);
	/* A second PEER_MAP replaces the first (§2): still one mapping for port 2. */
	cr_assert_eq(t.ops.peer_map(t.ops.opaque, 2, &m, &peer), 0);
	cr_expect_eq(mappings_of("ns-peer-ram"), 2);
	t.ops.peer_unmap(t.ops.opaque, 0);
	cr_expect_eq(reg(NETSHM_REG_PEER_MAPPED), 0x4);
	cr_expect_eq(mappings_of("ns-peer-ram"), 1);
	t.ops.peer_unmap(t.ops.opaque, 0);	/* not mapped: fine */
	netshm_vm_info(t.n, &info);
	cr_expect_eq(info.peer_maps, 3);
	cr_expect_eq(info.peer_unmaps, 1);
	t.ops.detach(t.ops.opaque);
	cr_expect_eq(reg(NETSHM_REG_PEER_MAPPED), 0);
	cr_expect_eq(mappings_of("ns-peer-ram"), 0, "detach removes the peer windows too");
	close(peer);
}

Test(netshm_vm, peer_map_outside_the_rules_is_refused)
{
	int peer = memfd_create("ns-peer-ram", MFD_CLOEXEC);
	struct vu_mem m = one_region(0, 1u << 20);
	struct vu_mem far = one_region(LAYOUT_NETSHM_PEER_STRIDE - 4096, 8192);

	cr_assert_eq(ftruncate(peer, 1u << 20), 0);
	cr_expect_neq(t.ops.peer_map(t.ops.opaque, 0, &m, &peer), 0, "before attach");
	cr_assert_eq(t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3), 1, 3), 0);
	cr_expect_neq(t.ops.peer_map(t.ops.opaque, 1, &m, &peer), 0, "own port");
	cr_expect_neq(t.ops.peer_map(t.ops.opaque, 3, &m, &peer), 0, "port 3 of 3");
	cr_expect_neq(t.ops.peer_map(t.ops.opaque, 0, &far, &peer), 0, "past the window");
	cr_expect_eq(reg(NETSHM_REG_PEER_MAPPED), 0);
	cr_expect_eq(mappings_of("ns-peer-ram"), 0);
	close(peer);
}

Test(netshm_vm, peer_map_kvm_refuses_leaves_nothing_behind)
{
	int peer = memfd_create("ns-peer-ram", MFD_CLOEXEC);
	struct vu_mem m = { .nregions = 2 };
	int fds[2] = { peer, peer };
	struct vmm_netshm_info info;

	cr_assert_eq(ftruncate(peer, 2u << 20), 0);
	/* Two regions that overlap in guest-physical space: KVM refuses the second slot. */
	m.regions[0] = (struct vu_mem_region){ .guest_addr = 0, .size = 2u << 20 };
	m.regions[1] = (struct vu_mem_region){ .guest_addr = 1u << 20, .size = 1u << 20 };
	cr_assert_eq(t.ops.attach(t.ops.opaque, t.region, NETSHM_REGION_SIZE(3), 1, 3), 0);
	cr_expect_neq(t.ops.peer_map(t.ops.opaque, 0, &m, fds), 0);
	cr_expect_eq(reg(NETSHM_REG_PEER_MAPPED), 0);
	cr_expect_eq(mappings_of("ns-peer-ram"), 0, "the first region was unmapped again");
	netshm_vm_info(t.n, &info);
	cr_expect_eq(info.map_failures, 1);
	close(peer);
}

Test(netshm_vm, shared_mode_refuses_peer_maps)
{
	struct netshm_vm_opts o = { .vm_fd = t.vm, .mode = VMM_NETSHM_SHARED, .slot_base = 100 };
	struct netshm_vm *s;
	struct err e = { 0 };
	int peer = memfd_create("ns-peer-ram", MFD_CLOEXEC);
	struct vu_mem m = one_region(0, 1u << 20);

	cr_assert_eq(ftruncate(peer, 1u << 20), 0);
	cr_assert_eq(netshm_vm_create(&o, &s, &e), 0, "%s", e.msg);
	struct vu_front_netshm_ops ops = netshm_vm_ops(s);

	cr_expect_eq(netshm_dev_reg(netshm_vm_dev(s), NETSHM_REG_STATUS) & NETSHM_STS_PEER, 0);
	cr_expect_neq(ops.peer_map(ops.opaque, 0, &m, &peer), 0);
	netshm_vm_destroy(s);
	close(peer);
}

Test(netshm_vm, vmfunc_without_the_kvm_patch_is_refused_by_name)
{
	struct netshm_vm_opts o = { .vm_fd = t.vm, .mode = VMM_NETSHM_PEER,
				    .protect = VMM_NETSHM_PROTECT_VMFUNC, .slot_base = 100 };
	struct netshm_vm *s = NULL;
	struct err e = { 0 };

	if (netshm_views_supported(t.vm))
		cr_skip_test("this KVM has EPT views");
	cr_expect_eq(netshm_vm_create(&o, &s, &e), -ENOTSUP);
	cr_expect(strstr(e.msg, "KVM_CAP_EPT_VIEWS"), "%s", e.msg);
	cr_expect(strstr(e.msg, "docs/kvm-views.md"), "%s", e.msg);
	cr_expect_null(s);
}

Test(netshm_vm, stores_into_a_gone_window_are_dropped_and_counted)
{
	struct bus mmio;
	struct netshm_vm_opts o = { .vm_fd = t.vm, .mode = VMM_NETSHM_SHARED, .slot_base = 100,
				    .mmio = &mmio };
	struct netshm_vm *s;
	struct err e = { 0 };
	struct vmm_netshm_info info;
	uint64_t v = 0, junk = 42;

	bus_init(&mmio, "mmio");
	cr_assert_eq(netshm_vm_create(&o, &s, &e), 0, "%s", e.msg);
	/* What a vCPU exit at the read-only control part or a removed window turns into. */
	cr_expect(bus_write(&mmio, LAYOUT_NETSHM_REGION + 0x1000, &junk, 8));
	cr_expect(bus_write(&mmio, LAYOUT_NETSHM_PEER + 5 * LAYOUT_NETSHM_PEER_STRIDE, &junk, 4));
	cr_expect(bus_read(&mmio, LAYOUT_NETSHM_REGION, &v, 8));
	cr_expect_eq(v, ~0ull);
	netshm_vm_info(s, &info);
	cr_expect_eq(info.ctrl_writes_dropped, 2);
	netshm_vm_destroy(s);
	cr_expect_eq(mmio.nr, 0, "ranges removed at destroy");
}

/* ---- doorbells (§8) on /dev/kvm: our irqfd, the peers' ioeventfds following BAR0 ---- */

#define BAR_A	0xc0000000ull
#define BAR_B	0xc0100000ull

static struct {
	int kvm, vm, region, efd[2];
	struct gsi_routes gsi;
	struct netshm_vm *n;
	struct vu_front_netshm_ops ops;
} d;

static int route(void *ctx, uint32_t gsi, bool on, uint64_t addr, uint32_t data)
{
	return gsi_route_msi(ctx, gsi, on, addr, data);
}

static void db_setup(void)
{
	struct netshm_vm_opts o;
	struct err e = { 0 };

	memset(&d, 0, sizeof(d));
	open_vm(&d.kvm, &d.vm, &d.region);
	cr_assert_eq(ioctl(d.vm, KVM_CREATE_IRQCHIP, 0), 0, "irqfds need the in-kernel IOAPIC");
	cr_assert_eq(gsi_routes_init(&d.gsi, d.vm), 0);
	for (unsigned int i = 0; i < 2; i++) {
		d.efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		cr_assert_geq(d.efd[i], 0);
	}
	o = (struct netshm_vm_opts){ .vm_fd = d.vm, .mode = VMM_NETSHM_SHARED, .slot_base = 8,
				     .doorbell = true, .gsi = LAYOUT_NETSHM_GSI + 1,
				     .msi_route = route, .route_ctx = &d.gsi };
	cr_assert_eq(netshm_vm_create(&o, &d.n, &e), 0, "%s", e.msg);
	d.ops = netshm_vm_ops(d.n);
	cr_assert_not_null(d.ops.doorbell_fd);
	cr_assert_eq(d.ops.attach(d.ops.opaque, d.region, NETSHM_REGION_SIZE(3), 1, 3), 0);
}

static void db_teardown(void)
{
	netshm_vm_destroy(d.n);
	close(d.efd[0]);
	close(d.efd[1]);
	close(d.region);
	gsi_routes_exit(&d.gsi);
	close(d.vm);
	close(d.kvm);
}

static uint32_t dreg(uint32_t off)
{
	return netshm_dev_reg(netshm_vm_dev(d.n), off);
}

/* What PCI does when the guest maps / moves / disables BAR0. */
static void bar(uint64_t gpa, bool mapped)
{
	struct netshm_dev *dev = netshm_vm_dev(d.n);

	cr_assert_not_null(dev->bar_hook);
	dev->bar_hook(dev->bar_ctx, gpa, mapped);
}

/*
 * Whether KVM has a 4-byte ioeventfd without datamatch at gpa: adding another one there
 * collides (EEXIST) exactly then; a probe that went in is taken out again.
 */
static bool ioeventfd_at(uint64_t gpa)
{
	int probe = eventfd(0, EFD_CLOEXEC);
	struct kvm_ioeventfd io = { .addr = gpa, .len = 4, .fd = probe };
	int r = ioctl(d.vm, KVM_IOEVENTFD, &io), err = errno;

	if (!r) {
		io.flags = KVM_IOEVENTFD_FLAG_DEASSIGN;
		cr_assert_eq(ioctl(d.vm, KVM_IOEVENTFD, &io), 0);
	} else {
		cr_assert_eq(err, EEXIST, "KVM_IOEVENTFD probe: %s", strerror(err));
	}
	close(probe);
	return r != 0;
}

TestSuite(netshm_db, .init = db_setup, .fini = db_teardown);

Test(netshm_db, our_doorbell_is_an_irqfd_on_the_gsi)
{
	int fd = d.ops.doorbell_fd(d.ops.opaque);
	struct kvm_irqfd f = { .fd = (uint32_t)fd, .gsi = LAYOUT_NETSHM_GSI + 1 };
	struct vmm_netshm_info info;

	cr_assert_geq(fd, 0);
	cr_expect(dreg(NETSHM_REG_STATUS) & NETSHM_STS_DOORBELL);
	cr_expect_eq(dreg(NETSHM_REG_IRQ), LAYOUT_NETSHM_GSI + 1);
	/* KVM refuses an eventfd that is an irqfd of this VM already. */
	cr_expect_eq(ioctl(d.vm, KVM_IRQFD, &f), -1);
	cr_expect_eq(errno, EBUSY);
	netshm_vm_info(d.n, &info);
	cr_expect(info.doorbell);
	cr_expect_eq(info.irq, LAYOUT_NETSHM_GSI + 1);
}

Test(netshm_db, a_peer_doorbell_follows_bar0)
{
	struct vmm_netshm_info info;
	uint32_t gen;

	bar(BAR_A, true);
	gen = dreg(NETSHM_REG_GEN);
	cr_assert_eq(d.ops.doorbell_map(d.ops.opaque, 0, d.efd[0]), 0);
	cr_expect_eq(dreg(NETSHM_REG_DOORBELL_PEERS), 1u << 0);
	cr_expect_neq(dreg(NETSHM_REG_GEN), gen, "GEN moves with DOORBELL_PEERS");
	cr_expect(ioeventfd_at(BAR_A + NETSHM_REG_DOORBELL(0)));
	cr_expect_not(ioeventfd_at(BAR_A + NETSHM_REG_DOORBELL(2)));

	/* The guest moves BAR0: the ioeventfd moves along. */
	bar(BAR_A, false);
	cr_expect_eq(dreg(NETSHM_REG_DOORBELL_PEERS), 0, "nothing is wired without a BAR");
	cr_expect_not(ioeventfd_at(BAR_A + NETSHM_REG_DOORBELL(0)));
	bar(BAR_B, true);
	cr_expect_eq(dreg(NETSHM_REG_DOORBELL_PEERS), 1u << 0);
	cr_expect(ioeventfd_at(BAR_B + NETSHM_REG_DOORBELL(0)));

	/* A second MAP replaces the first; UNMAP takes it out. */
	cr_assert_eq(d.ops.doorbell_map(d.ops.opaque, 0, d.efd[1]), 0);
	cr_expect(ioeventfd_at(BAR_B + NETSHM_REG_DOORBELL(0)));
	d.ops.doorbell_unmap(d.ops.opaque, 0);
	cr_expect_eq(dreg(NETSHM_REG_DOORBELL_PEERS), 0);
	cr_expect_not(ioeventfd_at(BAR_B + NETSHM_REG_DOORBELL(0)));
	d.ops.doorbell_unmap(d.ops.opaque, 0);		/* not mapped: fine, not counted */
	netshm_vm_info(d.n, &info);
	cr_expect_eq(info.doorbell_maps, 2);
	cr_expect_eq(info.doorbell_unmaps, 1);
	cr_expect_eq(info.doorbell_failures, 0);
}

Test(netshm_db, a_map_before_bar0_is_wired_when_it_appears)
{
	cr_assert_eq(d.ops.doorbell_map(d.ops.opaque, 2, d.efd[0]), 0);
	cr_expect_eq(dreg(NETSHM_REG_DOORBELL_PEERS), 0);
	bar(BAR_A, true);
	cr_expect_eq(dreg(NETSHM_REG_DOORBELL_PEERS), 1u << 2);
	cr_expect(ioeventfd_at(BAR_A + NETSHM_REG_DOORBELL(2)));
}

Test(netshm_db, maps_outside_the_rules_are_refused)
{
	struct vmm_netshm_info info;

	bar(BAR_A, true);
	cr_expect_eq(d.ops.doorbell_map(d.ops.opaque, 1, d.efd[0]), -EINVAL, "our own port");
	cr_expect_eq(d.ops.doorbell_map(d.ops.opaque, 3, d.efd[0]), -EINVAL, "port >= nports");
	cr_expect_eq(d.ops.doorbell_map(d.ops.opaque, NETSHM_MAX_PORTS, d.efd[0]), -EINVAL);
	cr_expect_eq(d.ops.doorbell_map(d.ops.opaque, 0, 999), -EBADF, "not an fd");
	/* A doorbell KVM refuses (the address is taken) stays unwired and is counted. */
	struct kvm_ioeventfd io = { .addr = BAR_A + NETSHM_REG_DOORBELL(2), .len = 4,
				    .fd = d.efd[1] };

	cr_assert_eq(ioctl(d.vm, KVM_IOEVENTFD, &io), 0);
	cr_expect_eq(d.ops.doorbell_map(d.ops.opaque, 2, d.efd[0]), -EEXIST);
	cr_expect_eq(dreg(NETSHM_REG_DOORBELL_PEERS), 0);
	io.flags = KVM_IOEVENTFD_FLAG_DEASSIGN;
	cr_assert_eq(ioctl(d.vm, KVM_IOEVENTFD, &io), 0);
	netshm_vm_info(d.n, &info);
	cr_expect_eq(info.doorbell_maps, 0);
	cr_expect_eq(info.doorbell_failures, 2);
	/* Not attached: nothing to ring. */
	d.ops.detach(d.ops.opaque);
	cr_expect_eq(d.ops.doorbell_map(d.ops.opaque, 0, d.efd[0]), -EINVAL);
}

Test(netshm_db, detach_unwires_and_closes_every_doorbell)
{
	unsigned int before = count_fds();

	bar(BAR_A, true);
	cr_assert_eq(d.ops.doorbell_map(d.ops.opaque, 0, d.efd[0]), 0);
	cr_assert_eq(d.ops.doorbell_map(d.ops.opaque, 2, d.efd[1]), 0);
	cr_expect_eq(count_fds(), before + 2, "one dup per peer");
	cr_expect_eq(dreg(NETSHM_REG_DOORBELL_PEERS), 0x5);
	d.ops.detach(d.ops.opaque);
	cr_expect_eq(dreg(NETSHM_REG_DOORBELL_PEERS), 0);
	cr_expect_not(ioeventfd_at(BAR_A + NETSHM_REG_DOORBELL(0)));
	cr_expect_not(ioeventfd_at(BAR_A + NETSHM_REG_DOORBELL(2)));
	cr_expect_eq(count_fds(), before, "the dups are closed");
	/* Our own doorbell stays: it belongs to the VM, not the session. */
	cr_expect(dreg(NETSHM_REG_STATUS) & NETSHM_STS_DOORBELL);
}

Test(netshm_vm, without_doorbell_there_are_no_doorbell_callbacks)
{
	cr_expect_null(t.ops.doorbell_fd);
	cr_expect_null(t.ops.doorbell_map);
	cr_expect_eq(reg(NETSHM_REG_STATUS) & NETSHM_STS_DOORBELL, 0);
	cr_expect_eq(reg(NETSHM_REG_IRQ), 0);
}

Test(netshm_vm, doorbell_without_an_irqchip_is_a_clear_error)
{
	struct netshm_vm_opts o = { .vm_fd = t.vm, .mode = VMM_NETSHM_SHARED, .slot_base = 100,
				    .doorbell = true, .gsi = LAYOUT_NETSHM_GSI };
	struct netshm_vm *s = NULL;
	struct err e = { 0 };

	cr_expect_lt(netshm_vm_create(&o, &s, &e), 0);
	cr_expect(strstr(e.msg, "KVM_IRQFD"), "%s", e.msg);
	cr_expect_null(s);
}

/* What the device does when the guest programs its MSI capability. */
static void guest_msi(bool on, uint64_t addr, uint32_t data)
{
	struct netshm_dev *dev = netshm_vm_dev(d.n);

	cr_assert_not_null(dev->msi_hook);
	dev->msi_hook(dev->bar_ctx, on, addr, data);
}

static void ring_ours(void)
{
	uint64_t one = 1;

	cr_assert_eq(write(d.ops.doorbell_fd(d.ops.opaque), &one, 8), 8);
}

Test(netshm_db, with_msi_a_ring_is_the_guests_vector_at_once)
{
	int vcpu = lapic_probe_vcpu(d.vm);
	struct vmm_netshm_info info;

	guest_msi(true, 0xfee00000, 0x51);
	netshm_vm_info(d.n, &info);
	cr_expect(info.doorbell_msi);
	/* What a peer's ioeventfd does: the eventfd. KVM injects an MSI route synchronously. */
	ring_ours();
	cr_expect(lapic_probe_pending(vcpu, 0x51), "the doorbell did not arrive as vector 0x51");

	guest_msi(false, 0, 0);
	netshm_vm_info(d.n, &info);
	cr_expect_not(info.doorbell_msi, "MSI off: back on the pin");
	cr_expect_eq(info.doorbell_failures, 0);
	close(vcpu);
}

Test(netshm_db, an_msi_that_cannot_be_routed_leaves_the_pin)
{
	struct vmm_netshm_info info;

	guest_msi(true, 0xfee00000, 0x51);
	guest_msi(true, 0xdead0000, 0x52);	/* not an APIC address */
	netshm_vm_info(d.n, &info);
	cr_expect_not(info.doorbell_msi);
	cr_expect_eq(info.doorbell_failures, 1);
	cr_expect_not(d.gsi.msi[LAYOUT_NETSHM_GSI + 1].on, "routed back to the pin");
}
