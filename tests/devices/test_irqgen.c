// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "base/guest-abi.h"
#include "devices/irqgen.h"

/* Fake guest RAM: one 8 KiB region at FAKE_GPA. */
#define FAKE_GPA	0x100000ull
#define FAKE_LEN	0x2000ull

static uint64_t ram[FAKE_LEN / 8] __attribute__((aligned(4096)));
static struct irqgen g;
static struct {
	int sets, highs, lows, level, fail;
	int msis;
	uint64_t msi_addr;
	uint32_t msi_data;
} fake;

static void *fake_slice(void *ctx, uint64_t gpa, size_t len)
{
	(void)ctx;
	if (gpa < FAKE_GPA || gpa - FAKE_GPA > FAKE_LEN || len > FAKE_LEN - (gpa - FAKE_GPA))
		return NULL;
	return (char *)ram + (gpa - FAKE_GPA);
}

static int fake_irq_set(void *ctx, int level)
{
	(void)ctx;
	__atomic_add_fetch(&fake.sets, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(level ? &fake.highs : &fake.lows, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&fake.level, level, __ATOMIC_RELAXED);
	return __atomic_load_n(&fake.fail, __ATOMIC_RELAXED) ? -EIO : 0;
}

static int fake_msi_send(void *ctx, uint64_t addr, uint32_t data)
{
	(void)ctx;
	__atomic_store_n(&fake.msi_addr, addr, __ATOMIC_RELAXED);
	__atomic_store_n(&fake.msi_data, data, __ATOMIC_RELAXED);
	__atomic_add_fetch(&fake.msis, 1, __ATOMIC_RELAXED);
	return 0;
}

static const struct irqgen_config base_cfg = {
	.irq = { .set = fake_irq_set },
	.msi = { .send = fake_msi_send },
	.mem = { .slice = fake_slice },
	.cpu = -1,
};

static void setup(void)
{
	memset(&fake, 0, sizeof(fake));
	memset(ram, 0, sizeof(ram));
	cr_assert_eq(irqgen_init(&g, &base_cfg), 0);
}

static void teardown(void)
{
	irqgen_exit(&g);
}

TestSuite(irqgen, .init = setup, .fini = teardown);

static uint32_t rd(uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	irqgen_bus_ops.read(&g, off, &v, 4);
	return v;
}

static void wr(uint64_t off, uint32_t v)
{
	irqgen_bus_ops.write(&g, off, &v, 4);
}

static bool refused(void)
{
	return rd(IRQGEN_REG_CTRL) & IRQGEN_STS_ERROR;
}

static void configure(uint32_t period_us)
{
	wr(IRQGEN_REG_PERIOD_US, period_us);
	cr_assert(!refused());
	wr(IRQGEN_REG_STAMP_LO, (uint32_t)FAKE_GPA);
	cr_assert(!refused());
	wr(IRQGEN_REG_STAMP_HI, 0);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&t, &t))
		;
}

static uint64_t seq(void)
{
	return __atomic_load_n(&ram[IRQGEN_STAMP_SEQ / 8], __ATOMIC_ACQUIRE);
}

/* Waits (up to 5 s: CI hosts are loaded) until the device raised at least `n` interrupts. */
static void wait_count(uint32_t n)
{
	for (int i = 0; i < 5000 && rd(IRQGEN_REG_COUNT) < n; i++)
		sleep_ms(1);
	cr_assert_geq(rd(IRQGEN_REG_COUNT), n, "the generator thread did not run");
}

Test(irqgen, id_register_reads_magic)
{
	cr_expect_eq(rd(IRQGEN_REG_ID), IRQGEN_ID);
}

Test(irqgen, init_without_memory_contract_is_refused)
{
	struct irqgen other;
	struct irqgen_config c = base_cfg;

	c.mem.slice = NULL;
	cr_expect_eq(irqgen_init(&other, &c), -EINVAL);
	c = base_cfg;
	c.rt_prio = 100;
	cr_expect_eq(irqgen_init(&other, &c), -EINVAL);
	c = base_cfg;
	c.cpu = -2;
	cr_expect_eq(irqgen_init(&other, &c), -EINVAL);
}

Test(irqgen, period_zero_is_refused)
{
	wr(IRQGEN_REG_PERIOD_US, 0);
	cr_expect(refused());
	cr_expect_eq(rd(IRQGEN_REG_PERIOD_US), 0);
}

Test(irqgen, period_below_minimum_is_refused)
{
	wr(IRQGEN_REG_PERIOD_US, IRQGEN_MIN_PERIOD_US - 1);
	cr_expect(refused());
	wr(IRQGEN_REG_PERIOD_US, IRQGEN_MIN_PERIOD_US);
	cr_expect(!refused());
}

Test(irqgen, huge_period_is_refused)
{
	wr(IRQGEN_REG_PERIOD_US, 500);
	wr(IRQGEN_REG_PERIOD_US, IRQGEN_MAX_PERIOD_US + 1);
	cr_expect(refused());
	wr(IRQGEN_REG_PERIOD_US, 0xffffffff);
	cr_expect(refused());
	cr_expect_eq(rd(IRQGEN_REG_PERIOD_US), 500);
}

Test(irqgen, unaligned_stamp_page_is_refused)
{
	wr(IRQGEN_REG_STAMP_LO, (uint32_t)FAKE_GPA + 8);
	cr_expect(refused());
	wr(IRQGEN_REG_STAMP_LO, (uint32_t)FAKE_GPA + 0x800);
	cr_expect(refused());
	cr_expect_eq(rd(IRQGEN_REG_STAMP_LO), 0);
}

Test(irqgen, start_without_configuration_is_refused)
{
	wr(IRQGEN_REG_CTRL, 1);
	cr_expect(refused());
	cr_expect_eq(rd(IRQGEN_REG_CTRL) & IRQGEN_STS_RUNNING, 0);
	wr(IRQGEN_REG_PERIOD_US, 100);
	wr(IRQGEN_REG_CTRL, 1);			/* still no stamp page */
	cr_expect(refused());
}

Test(irqgen, stamp_page_outside_ram_refuses_start)
{
	wr(IRQGEN_REG_PERIOD_US, 100);
	wr(IRQGEN_REG_STAMP_LO, (uint32_t)(FAKE_GPA + FAKE_LEN));	/* just past the end */
	cr_assert(!refused());
	wr(IRQGEN_REG_CTRL, 1);
	cr_expect(refused());
	wr(IRQGEN_REG_STAMP_LO, 0);
	wr(IRQGEN_REG_STAMP_HI, 1);				/* 4 GiB: nothing there */
	wr(IRQGEN_REG_CTRL, 1);
	cr_expect(refused());
	cr_expect_eq(rd(IRQGEN_REG_CTRL) & IRQGEN_STS_RUNNING, 0);
}

Test(irqgen, msi_address_without_msi_sink_refuses_start)
{
	struct irqgen_config c = base_cfg;

	irqgen_exit(&g);
	c.msi.send = NULL;
	cr_assert_eq(irqgen_init(&g, &c), 0);
	configure(100);
	wr(IRQGEN_REG_MSI_ADDR_LO, 0xfee00000);
	wr(IRQGEN_REG_CTRL, 1);
	cr_expect(refused());
}

Test(irqgen, odd_widths_and_offsets_are_ignored)
{
	uint16_t v16 = 0xffff;
	uint32_t v = 0xffffffff;

	irqgen_bus_ops.write(&g, IRQGEN_REG_PERIOD_US, &v16, 2);
	irqgen_bus_ops.write(&g, IRQGEN_REG_PERIOD_US + 1, &v, 4);
	cr_expect_eq(rd(IRQGEN_REG_PERIOD_US), 0);
	v = 0;
	irqgen_bus_ops.read(&g, IRQGEN_REG_ID + 2, &v, 2);
	cr_expect_eq(v, 0);
	wr(0x3c, 5);				/* unassigned */
	cr_expect(refused());
	wr(IRQGEN_REG_COUNT, 5);		/* read-only */
	cr_expect(refused());
}

static int64_t now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000ll + t.tv_nsec / 1000;
}

Test(irqgen, fires_at_the_period_on_the_wired_line)
{
	int64_t t0, dt;
	uint32_t n;

	configure(1000);
	t0 = now_us();
	wr(IRQGEN_REG_CTRL, 1);
	cr_assert(!refused());
	cr_expect(rd(IRQGEN_REG_CTRL) & IRQGEN_STS_RUNNING);
	wait_count(20);
	wr(IRQGEN_REG_CTRL, 0);
	dt = now_us() - t0;
	n = rd(IRQGEN_REG_COUNT);
	/* Never faster than the 1 ms grid (a loaded host may make it slower: overruns). */
	cr_expect(n >= 20 && n <= dt / 1000 + 1, "%u interrupts in %lld us at 1 ms", n,
		  (long long)dt);
	cr_expect_eq(seq(), n);
	cr_expect_eq((uint32_t)fake.highs, n);
	cr_expect_eq(fake.lows, fake.highs, "every edge returns to 0");
	cr_expect_eq(fake.level, 0);
	cr_expect_eq(fake.msis, 0);
}

Test(irqgen, msi_carries_the_programmed_address_and_data)
{
	configure(200);
	wr(IRQGEN_REG_MSI_ADDR_LO, 0xfee01000);
	wr(IRQGEN_REG_MSI_ADDR_HI, 0);
	wr(IRQGEN_REG_MSI_DATA, 0x45);
	wr(IRQGEN_REG_CTRL, 1);
	cr_assert(!refused());
	wait_count(3);
	wr(IRQGEN_REG_CTRL, 0);
	cr_expect_gt(fake.msis, 0);
	cr_expect_eq(fake.msi_addr, 0xfee01000);
	cr_expect_eq(fake.msi_data, 0x45);
	cr_expect_eq(fake.sets, 0, "the wired line stays idle when MSI is set up");
}

Test(irqgen, stop_stops_the_interrupts)
{
	uint32_t n;

	configure(100);
	wr(IRQGEN_REG_CTRL, 1);
	wait_count(3);
	wr(IRQGEN_REG_CTRL, 0);
	cr_expect(!refused());
	cr_expect_eq(rd(IRQGEN_REG_CTRL) & IRQGEN_STS_RUNNING, 0);
	n = rd(IRQGEN_REG_COUNT);
	cr_expect_gt(n, 0);
	sleep_ms(10);
	cr_expect_eq(rd(IRQGEN_REG_COUNT), n, "no interrupt after stop");
	cr_expect_eq((uint32_t)fake.highs, n);
}

Test(irqgen, restart_resets_the_counters)
{
	configure(100);
	wr(IRQGEN_REG_CTRL, 1);
	wait_count(1);
	wr(IRQGEN_REG_CTRL, 0);
	wr(IRQGEN_REG_PERIOD_US, 1000000);
	wr(IRQGEN_REG_CTRL, 1);			/* first fire is 1 s away */
	cr_expect_eq(rd(IRQGEN_REG_COUNT), 0);
	wr(IRQGEN_REG_CTRL, 0);
}

Test(irqgen, configuration_while_running_is_refused)
{
	configure(100);
	wr(IRQGEN_REG_CTRL, 1);
	wr(IRQGEN_REG_PERIOD_US, 500);
	cr_expect(refused());
	wr(IRQGEN_REG_STAMP_LO, (uint32_t)FAKE_GPA + 0x1000);
	cr_expect(refused());
	wr(IRQGEN_REG_MSI_ADDR_LO, 0xfee00000);
	cr_expect(refused());
	wr(IRQGEN_REG_CTRL, 1);			/* start while running: harmless */
	cr_expect(!refused());
	wr(IRQGEN_REG_CTRL, 0);
	cr_expect_eq(rd(IRQGEN_REG_PERIOD_US), 100);
	cr_expect_eq(rd(IRQGEN_REG_STAMP_LO), (uint32_t)FAKE_GPA);
	cr_expect_eq(rd(IRQGEN_REG_MSI_ADDR_LO), 0);
}

Test(irqgen, stamps_are_monotonic_and_precede_the_interrupt)
{
	uint64_t n, prev = 0, *tsc = ram + IRQGEN_STAMP_TSC / 8;

	configure(1000);
	wr(IRQGEN_REG_CTRL, 1);
	wait_count(5);
	wr(IRQGEN_REG_CTRL, 0);
	n = seq();
	cr_assert_gt(n, 2);
	cr_assert_lt(n, IRQGEN_STAMP_SLOTS, "slots not yet reused");
	for (uint64_t i = 0; i < n; i++) {
		cr_expect_gt(tsc[i], prev, "stamp %lu", (unsigned long)i);
		prev = tsc[i];
	}
	cr_expect_eq(tsc[n], 0, "nothing stamped past seq");
	cr_expect_leq(prev, __rdtsc());
}

Test(irqgen, stamp_slots_wrap_around_the_page)
{
	uint64_t n, *tsc = ram + IRQGEN_STAMP_TSC / 8, newest = 0;

	configure(IRQGEN_MIN_PERIOD_US);
	wr(IRQGEN_REG_CTRL, 1);
	for (int i = 0; i < 400 && seq() <= IRQGEN_STAMP_SLOTS + 10; i++)
		sleep_ms(5);
	wr(IRQGEN_REG_CTRL, 0);
	n = seq();
	cr_assert_gt(n, IRQGEN_STAMP_SLOTS + 10);
	for (unsigned int i = 0; i < IRQGEN_STAMP_SLOTS; i++)
		if (tsc[i] > newest)
			newest = tsc[i];
	cr_expect_eq(tsc[(n - 1) % IRQGEN_STAMP_SLOTS], newest, "the last stamp is at seq - 1");
	cr_expect_eq(ram[IRQGEN_STAMP_PAGE / 8], 0, "nothing written past the page");
}

Test(irqgen, raise_failures_are_counted)
{
	configure(100);
	fake.fail = 1;
	wr(IRQGEN_REG_CTRL, 1);
	wait_count(2);
	wr(IRQGEN_REG_CTRL, 0);
	cr_expect_gt(rd(IRQGEN_REG_ERRORS), 0);
	cr_expect_eq(rd(IRQGEN_REG_ERRORS), rd(IRQGEN_REG_COUNT));
}

Test(irqgen, host_tsc_register_advances)
{
	uint64_t a, b;

	a = rd(IRQGEN_REG_TSC_LO);
	a |= (uint64_t)rd(IRQGEN_REG_TSC_HI) << 32;
	b = rd(IRQGEN_REG_TSC_LO);
	b |= (uint64_t)rd(IRQGEN_REG_TSC_HI) << 32;
	cr_expect_gt(b, a);
	cr_expect_leq(b, __rdtsc());
}

Test(irqgen, exit_stops_a_running_thread)
{
	uint32_t n;

	configure(100);
	wr(IRQGEN_REG_CTRL, 1);
	wait_count(1);
	irqgen_exit(&g);			/* joins: no callback may run after this */
	n = (uint32_t)__atomic_load_n(&fake.highs, __ATOMIC_RELAXED);
	sleep_ms(10);
	cr_expect_eq((uint32_t)fake.highs, n);
	cr_expect_eq(seq(), n);
	cr_assert_eq(irqgen_init(&g, &base_cfg), 0);	/* for teardown */
}

Test(irqgen, exit_wakes_a_sleeping_thread_at_once)
{
	struct timespec a, b;

	configure(IRQGEN_MAX_PERIOD_US);
	wr(IRQGEN_REG_CTRL, 1);
	clock_gettime(CLOCK_MONOTONIC, &a);
	irqgen_exit(&g);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_expect_lt((b.tv_sec - a.tv_sec) * 1000000000ll + (b.tv_nsec - a.tv_nsec), 500000000ll,
		     "exit waited for the 1 s period");
	cr_assert_eq(irqgen_init(&g, &base_cfg), 0);
}
