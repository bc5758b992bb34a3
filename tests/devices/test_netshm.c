// SPDX-License-Identifier: MIT
/*
 * The netshm PCI function through a real host bridge and MMIO bus, as a vCPU exit reaches it:
 * identity in config space, BAR0 registers, GEN moving on every change, and every access a
 * guest may try that is not an aligned 32-bit read (all ones, counted; writes dropped).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "devices/netshm.h"

#define WIN_BASE	0xc0000000ull
#define WIN_END		0xd0000000ull

static struct bus mmio;
static struct pci_host host;
static struct netshm_dev dev;
static unsigned int slot;
static uint64_t bar;

static void setup(void)
{
	bus_init(&mmio, "mmio");
	cr_assert_eq(pci_host_init(&host, pci_bus_bar_map(&mmio), WIN_BASE, WIN_END), 0);
	cr_assert_eq(netshm_dev_init(&dev), 0);
	cr_assert_eq(netshm_dev_add(&dev, &host, &slot), 0);
	cr_assert_eq(pci_host_bar_addr(&host, slot, 0, &bar), 0);
}

static void teardown(void)
{
	pci_host_exit(&host);
	netshm_dev_exit(&dev);
}

TestSuite(netshm_dev, .init = setup, .fini = teardown);

static uint32_t cfg32(uint32_t off)
{
	uint32_t v = 0;

	pci_host_cfg_read(&host, 0, slot, 0, off, &v, 4);
	return v;
}

static uint32_t reg(uint32_t off)
{
	uint32_t v = 0;

	cr_expect(bus_read(&mmio, bar + off, &v, 4));
	return v;
}

Test(netshm_dev, identity_in_config_space)
{
	cr_expect_eq(cfg32(0x00), NETSHM_PCI_VENDOR | (NETSHM_PCI_DEVICE << 16));
	cr_expect_eq(cfg32(0x08) >> 8, NETSHM_PCI_CLASS);
	cr_expect_eq(cfg32(0x08) & 0xff, NETSHM_VERSION);
	cr_expect_eq((cfg32(0x0c) >> 16) & 0x7f, 0, "header type 0");
	cr_expect_eq((cfg32(0x3c) >> 8) & 0xff, 0, "no interrupt pin");
	cr_expect_eq(cfg32(0x34) & 0xff, 0, "no capability list");
	cr_expect_eq(cfg32(0x100), 0, "no extended capabilities");
}

Test(netshm_dev, config_writes_change_nothing)
{
	uint32_t ones = 0xffffffff;

	pci_host_cfg_write(&host, 0, slot, 0, 0x00, &ones, 4);
	pci_host_cfg_write(&host, 0, slot, 0, 0x08, &ones, 4);
	cr_expect_eq(cfg32(0x00), NETSHM_PCI_VENDOR | (NETSHM_PCI_DEVICE << 16));
	cr_expect_eq(cfg32(0x08) >> 8, NETSHM_PCI_CLASS);
}

Test(netshm_dev, registers_show_the_state_and_gen_moves)
{
	struct netshm_dev_state st = {
		.status = NETSHM_STS_REGION | NETSHM_STS_CTRL_RO | NETSHM_STS_PEER,
		.port = 2, .nports = 3,
		.region_gpa = 0x1000000000ull, .region_size = NETSHM_REGION_SIZE(3),
		.peer_base = 0x2000000000ull, .peer_stride = 0x800000000ull,
		.peer_mapped = 0x3,
	};
	uint32_t gen0 = reg(NETSHM_REG_GEN);

	cr_expect_eq(reg(NETSHM_REG_MAGIC), NETSHM_DEV_MAGIC);
	cr_expect_eq(reg(NETSHM_REG_VERSION), NETSHM_VERSION);
	cr_expect_eq(reg(NETSHM_REG_STATUS), 0, "nothing mapped before the VMM says so");
	netshm_dev_set(&dev, &st);
	cr_expect_eq(reg(NETSHM_REG_GEN), gen0 + 1);
	cr_expect_eq(reg(NETSHM_REG_STATUS), st.status);
	cr_expect_eq(reg(NETSHM_REG_PORT), 2);
	cr_expect_eq(reg(NETSHM_REG_NPORTS), 3);
	cr_expect_eq(reg(NETSHM_REG_REGION_LO), 0);
	cr_expect_eq(reg(NETSHM_REG_REGION_HI), 0x10);
	cr_expect_eq(reg(NETSHM_REG_RSIZE_LO), (uint32_t)NETSHM_REGION_SIZE(3));
	cr_expect_eq(reg(NETSHM_REG_RSIZE_HI), 0);
	cr_expect_eq(reg(NETSHM_REG_PEER_HI), 0x20);
	cr_expect_eq(reg(NETSHM_REG_PSTRIDE_HI), 0x8);
	cr_expect_eq(reg(NETSHM_REG_PEER_MAPPED), 0x3);
	cr_expect_eq(reg(NETSHM_REG_PEER_VIEW), 0, "no views");
	cr_expect_eq(reg(0xffc), 0, "reserved registers read 0");
	st.status = 0;
	netshm_dev_set(&dev, &st);
	cr_expect_eq(reg(NETSHM_REG_GEN), gen0 + 2);
	cr_expect_eq(reg(NETSHM_REG_STATUS), 0);
}

Test(netshm_dev, views_and_the_switch_method_are_visible)
{
	struct netshm_dev_state st = {
		.status = NETSHM_STS_PEER | NETSHM_STS_VIEWS | NETSHM_STS_HCALL, .peer_view = 1,
	};

	netshm_dev_set(&dev, &st);
	cr_expect_eq(reg(NETSHM_REG_STATUS), NETSHM_STS_PEER | NETSHM_STS_VIEWS | NETSHM_STS_HCALL);
	cr_expect_eq(reg(NETSHM_REG_PEER_VIEW), 1);
	cr_expect_eq(reg(NETSHM_REG_PEER_VIEW + 1), ~0u, "misaligned: all ones");
}

Test(netshm_dev, narrow_wide_and_misaligned_reads_are_all_ones)
{
	struct netshm_dev_stats s;
	uint64_t v8 = 0;
	uint16_t v2 = 0;
	uint8_t v1 = 0;
	uint32_t v4 = 0;

	cr_expect(bus_read(&mmio, bar + NETSHM_REG_MAGIC, &v8, 8));
	cr_expect_eq(v8, ~0ull);
	cr_expect(bus_read(&mmio, bar + NETSHM_REG_MAGIC, &v2, 2));
	cr_expect_eq(v2, 0xffff);
	cr_expect(bus_read(&mmio, bar + NETSHM_REG_MAGIC + 1, &v1, 1));
	cr_expect_eq(v1, 0xff);
	cr_expect(bus_read(&mmio, bar + NETSHM_REG_MAGIC + 2, &v4, 4));
	cr_expect_eq(v4, 0xffffffffu);
	netshm_dev_stats(&dev, &s);
	cr_expect_eq(s.bad_reads, 4);
}

Test(netshm_dev, writes_are_dropped_and_counted)
{
	struct netshm_dev_state st = { .status = NETSHM_STS_REGION, .port = 1, .nports = 2 };
	struct netshm_dev_stats s;
	uint32_t junk = 0xdeadbeef, gen;
	uint64_t junk8 = ~0ull;

	netshm_dev_set(&dev, &st);
	gen = reg(NETSHM_REG_GEN);
	cr_expect(bus_write(&mmio, bar + NETSHM_REG_STATUS, &junk, 4));
	cr_expect(bus_write(&mmio, bar + NETSHM_REG_GEN, &junk, 4));
	cr_expect(bus_write(&mmio, bar + NETSHM_REG_PORT + 1, &junk8, 8));
	cr_expect_eq(reg(NETSHM_REG_STATUS), NETSHM_STS_REGION);
	cr_expect_eq(reg(NETSHM_REG_PORT), 1);
	cr_expect_eq(reg(NETSHM_REG_GEN), gen);
	netshm_dev_stats(&dev, &s);
	cr_expect_eq(s.writes, 3);
}

Test(netshm_dev, bar_moved_by_the_guest_still_answers)
{
	uint32_t cmd = 0, newbar = (uint32_t)(WIN_BASE + 0x100000), v = 0;

	/* The guest turns MEM off, reprograms BAR0, turns MEM on again (§4: windows stay). */
	pci_host_cfg_write(&host, 0, slot, 0, 0x04, &cmd, 2);
	pci_host_cfg_write(&host, 0, slot, 0, 0x10, &newbar, 4);
	cmd = 2;
	pci_host_cfg_write(&host, 0, slot, 0, 0x04, &cmd, 2);
	cr_assert_eq(pci_host_bar_addr(&host, slot, 0, &bar), 0);
	cr_expect_eq(bar, newbar);
	cr_expect(bus_read(&mmio, bar, &v, 4));
	cr_expect_eq(v, NETSHM_DEV_MAGIC);
}

/* ---- doorbells (docs/vhost-user-shmem.md §8) ---- */

Test(netshm_dev, doorbell_registers_show_irq_and_peers)
{
	struct netshm_dev_state st = { .status = NETSHM_STS_REGION | NETSHM_STS_DOORBELL,
				       .port = 0, .nports = 3, .irq = 21,
				       .doorbell_peers = 0x6 };
	uint32_t gen0 = reg(NETSHM_REG_GEN);

	cr_expect_eq(reg(NETSHM_REG_IRQ), 0, "no doorbell before the VMM says so");
	cr_expect_eq(reg(NETSHM_REG_DOORBELL_PEERS), 0);
	netshm_dev_set(&dev, &st);
	cr_expect_eq(reg(NETSHM_REG_GEN), gen0 + 1);
	cr_expect_eq(reg(NETSHM_REG_STATUS) & NETSHM_STS_DOORBELL, NETSHM_STS_DOORBELL);
	cr_expect_eq(reg(NETSHM_REG_IRQ), 21);
	cr_expect_eq(reg(NETSHM_REG_DOORBELL_PEERS), 0x6);
	cr_expect_eq(reg(NETSHM_REG_DOORBELL(1)), 0, "doorbells read 0");
}

Test(netshm_dev, doorbell_writes_that_exit_are_dropped_and_counted_apart)
{
	struct netshm_dev_state st = { .status = NETSHM_STS_REGION, .port = 0, .nports = 8 };
	struct netshm_dev_stats s;
	uint32_t one = 1, gen;
	uint16_t half = 1;

	netshm_dev_set(&dev, &st);
	gen = reg(NETSHM_REG_GEN);
	for (unsigned int q = 0; q < NETSHM_MAX_PORTS; q++)
		cr_expect(bus_write(&mmio, bar + NETSHM_REG_DOORBELL(q), &one, 4));
	/* Not a doorbell: narrow, misaligned, past DOORBELL(7). */
	cr_expect(bus_write(&mmio, bar + NETSHM_REG_DOORBELL(1), &half, 2));
	cr_expect(bus_write(&mmio, bar + NETSHM_REG_DOORBELL(1) + 2, &one, 4));
	cr_expect(bus_write(&mmio, bar + NETSHM_REG_DOORBELL(NETSHM_MAX_PORTS), &one, 4));
	netshm_dev_stats(&dev, &s);
	cr_expect_eq(s.doorbell_slow, NETSHM_MAX_PORTS);
	cr_expect_eq(s.writes, 3);
	cr_expect_eq(reg(NETSHM_REG_GEN), gen, "a doorbell changes no register");
}

static struct { unsigned int calls; uint64_t gpa; bool mapped; } hook;

static void bar_hook(void *ctx, uint64_t gpa, bool mapped)
{
	cr_expect_eq(ctx, &hook);
	hook.calls++;
	hook.gpa = gpa;
	hook.mapped = mapped;
}

Test(netshm_dev, bar_hook_follows_bar0_and_irq_is_the_interrupt_line)
{
	struct pci_host h2;
	struct bus mmio2;
	struct netshm_dev d2;
	struct netshm_dev_state st = { .status = NETSHM_STS_DOORBELL, .irq = 20 };
	unsigned int s2;
	uint32_t cmd = 0, newbar = (uint32_t)(WIN_BASE + 0x200000), v = 0;

	bus_init(&mmio2, "mmio2");
	cr_assert_eq(pci_host_init(&h2, pci_bus_bar_map(&mmio2), WIN_BASE, WIN_END), 0);
	cr_assert_eq(netshm_dev_init(&d2), 0);
	memset(&hook, 0, sizeof(hook));
	d2.bar_hook = bar_hook;
	d2.bar_ctx = &hook;
	netshm_dev_set(&d2, &st);
	cr_assert_eq(netshm_dev_add(&d2, &h2, &s2), 0);
	cr_expect_eq(hook.calls, 1, "placed at add");
	cr_expect(hook.mapped);
	pci_host_cfg_read(&h2, 0, s2, 0, 0x3c, &v, 4);
	cr_expect_eq(v & 0xff, 20, "interrupt line = IRQ");
	cr_expect_eq((v >> 8) & 0xff, 1, "interrupt pin INTA");
	pci_host_cfg_write(&h2, 0, s2, 0, 0x04, &cmd, 2);
	cr_expect_eq(hook.calls, 2);
	cr_expect_not(hook.mapped, "MEM off unmaps");
	pci_host_cfg_write(&h2, 0, s2, 0, 0x10, &newbar, 4);
	cmd = 2;
	pci_host_cfg_write(&h2, 0, s2, 0, 0x04, &cmd, 2);
	cr_expect_eq(hook.calls, 3);
	cr_expect(hook.mapped);
	cr_expect_eq(hook.gpa, newbar);
	pci_host_exit(&h2);
	netshm_dev_exit(&d2);
}

/* ---- the doorbell's MSI capability ---- */

static struct { unsigned int calls; bool on; uint64_t addr; uint32_t data; } msi;

static void msi_hook(void *ctx, bool on, uint64_t addr, uint32_t data)
{
	cr_expect_eq(ctx, &msi);
	msi.calls++;
	msi.on = on;
	msi.addr = addr;
	msi.data = data;
}

/* A second device with STATUS.DOORBELL on its own host: config accesses through it. */
static struct { struct pci_host h; struct bus mmio; struct netshm_dev d; unsigned int s; } m;

static void msi_setup(void)
{
	struct netshm_dev_state st = { .status = NETSHM_STS_DOORBELL, .irq = 21 };

	bus_init(&m.mmio, "mmio-msi");
	cr_assert_eq(pci_host_init(&m.h, pci_bus_bar_map(&m.mmio), WIN_BASE, WIN_END), 0);
	cr_assert_eq(netshm_dev_init(&m.d), 0);
	memset(&msi, 0, sizeof(msi));
	m.d.msi_hook = msi_hook;
	m.d.bar_ctx = &msi;
	netshm_dev_set(&m.d, &st);
	cr_assert_eq(netshm_dev_add(&m.d, &m.h, &m.s), 0);
}

static void msi_teardown(void)
{
	pci_host_exit(&m.h);
	netshm_dev_exit(&m.d);
}

static uint32_t mcfg(uint32_t off)
{
	uint32_t v = 0;

	pci_host_cfg_read(&m.h, 0, m.s, 0, off, &v, 4);
	return v;
}

static void mcfg_write(uint32_t off, uint32_t v, uint32_t len)
{
	pci_host_cfg_write(&m.h, 0, m.s, 0, off, &v, len);
}

TestSuite(netshm_msi, .init = msi_setup, .fini = msi_teardown);

Test(netshm_msi, the_capability_list_has_one_64bit_msi)
{
	cr_expect(mcfg(0x04) >> 16 & 0x10, "status: capabilities list");
	cr_expect_eq(mcfg(0x34) & 0xff, 0x40);
	cr_expect_eq(mcfg(0x40) & 0xff, 0x05, "MSI");
	cr_expect_eq(mcfg(0x40) >> 8 & 0xff, 0, "the last capability");
	cr_expect_eq(mcfg(0x40) >> 16, 0x80, "64-bit, one vector, disabled");
	cr_expect_eq(mcfg(0x50), 0, "nothing after it");
}

Test(netshm_dev, no_capabilities_without_a_doorbell)
{
	uint32_t ones = ~0u;

	cr_expect_eq(cfg32(0x04) >> 16 & 0x10, 0);
	cr_expect_eq(cfg32(0x34), 0);
	cr_expect_eq(cfg32(0x40), 0);
	pci_host_cfg_write(&host, 0, slot, 0, 0x40, &ones, 4);
	cr_expect_eq(cfg32(0x40), 0, "no MSI to write into");
}

Test(netshm_msi, enable_address_and_data_reach_the_hook)
{
	mcfg_write(0x44, 0xfee01003, 4);	/* the low two bits are not writable */
	mcfg_write(0x48, 0, 4);
	mcfg_write(0x4c, 0x4051, 2);
	cr_expect_eq(msi.calls, 0, "disabled: nothing to route yet");
	cr_expect_eq(mcfg(0x44), 0xfee01000);
	mcfg_write(0x42, 0x0001, 2);
	cr_assert_eq(msi.calls, 1);
	cr_expect(msi.on);
	cr_expect_eq(msi.addr, 0xfee01000);
	cr_expect_eq(msi.data, 0x4051);
	cr_expect_eq(mcfg(0x40) >> 16, 0x81, "enabled reads back");
	/* Writing the same again is no change; a new vector while enabled is. */
	mcfg_write(0x4c, 0x4051, 2);
	cr_expect_eq(msi.calls, 1);
	mcfg_write(0x4c, 0x52, 2);
	cr_expect_eq(msi.calls, 2);
	cr_expect_eq(msi.data, 0x52);
	mcfg_write(0x40, 0, 4);		/* id/next read-only, enable cleared */
	cr_expect_eq(msi.calls, 3);
	cr_expect_not(msi.on);
	cr_expect_eq(mcfg(0x40), 0x00800005);
}

Test(netshm_msi, only_the_capability_bits_stick)
{
	/* Multiple-message enable, reserved bytes, id and next: all read-only here. */
	mcfg_write(0x40, 0xffffffff, 4);
	cr_expect_eq(mcfg(0x40), 0x00810005, "enable only");
	mcfg_write(0x4c, 0xffffffff, 4);
	cr_expect_eq(mcfg(0x4c), 0xffff, "16-bit data, reserved half 0");
	mcfg_write(0x48, 0xffffffff, 4);
	cr_expect_eq(mcfg(0x48), 0xffffffff, "upper address: the VMM judges it");
	mcfg_write(0x50, 0xffffffff, 4);
	cr_expect_eq(mcfg(0x50), 0);
	cr_expect_eq(msi.calls, 3, "enable, then data, then the address moved");
}
