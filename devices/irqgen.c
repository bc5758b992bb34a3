// SPDX-License-Identifier: MIT
/* Interrupt generator for the device-interrupt latency test; the contract is in irqgen.h. */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <x86intrin.h>

#include "base/guest-abi.h"
#include "base/log.h"
#include "devices/irqgen.h"

#define NSEC_PER_SEC	1000000000ll

BUILD_BUG_ON(IRQGEN_STAMP_TSC + 8 * IRQGEN_STAMP_SLOTS > IRQGEN_STAMP_PAGE);

int irqgen_init(struct irqgen *g, const struct irqgen_config *cfg)
{
	pthread_condattr_t ca;
	int r;

	if (!cfg->mem.slice || cfg->cpu < -1 || cfg->cpu >= CPU_SETSIZE || cfg->rt_prio < 0 ||
	    cfg->rt_prio > 99)
		return -EINVAL;
	*g = (struct irqgen){ .cfg = *cfg };
	r = pthread_mutex_init(&g->lock, NULL);
	if (r)
		return -r;
	r = pthread_condattr_init(&ca);
	if (r)
		goto err_mutex;
	/* The thread sleeps to absolute CLOCK_MONOTONIC times: immune to wall-clock steps. */
	r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!r)
		r = pthread_cond_init(&g->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (r)
		goto err_mutex;
	return 0;

err_mutex:
	pthread_mutex_destroy(&g->lock);
	return -r;
}

static void ts_add_ns(struct timespec *t, int64_t ns)
{
	t->tv_sec += ns / NSEC_PER_SEC;
	t->tv_nsec += ns % NSEC_PER_SEC;
	if (t->tv_nsec >= NSEC_PER_SEC) {
		t->tv_sec++;
		t->tv_nsec -= NSEC_PER_SEC;
	}
}

static int64_t ts_diff_ns(const struct timespec *a, const struct timespec *b)
{
	return (a->tv_sec - b->tv_sec) * NSEC_PER_SEC + (a->tv_nsec - b->tv_nsec);
}

static int irqgen_raise(struct irqgen *g)
{
	int r;

	if (g->msi_addr)
		return g->cfg.msi.send(g->cfg.msi.ctx, g->msi_addr, g->msi_data);
	r = g->cfg.irq.set(g->cfg.irq.ctx, 1);
	if (!r)
		r = g->cfg.irq.set(g->cfg.irq.ctx, 0);
	return r;
}

/* Stamp first, publish the sequence number, then raise: the guest that sees the interrupt
 * finds its stamp (irqgen.h). Only this thread writes count, so a relaxed load is exact. */
static void irqgen_fire(struct irqgen *g)
{
	uint64_t n = __atomic_load_n(&g->count, __ATOMIC_RELAXED);
	uint64_t *tsc = g->stamp + IRQGEN_STAMP_TSC / 8;

	__atomic_store_n(&tsc[n % IRQGEN_STAMP_SLOTS], __rdtsc(), __ATOMIC_RELAXED);
	__atomic_store_n(&g->stamp[IRQGEN_STAMP_SEQ / 8], n + 1, __ATOMIC_RELEASE);
	if (irqgen_raise(g))
		__atomic_add_fetch(&g->errors, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&g->count, n + 1, __ATOMIC_RELAXED);
}

/*
 * Fires on the grid start + k * period. The condition wait is the sleep, so stop wakes us at
 * once. A wake-up later than one whole period skips the missed slots (counted as overruns)
 * rather than firing a burst. The period and the other settings cannot change while we run
 * (irqgen_write refuses), so they are read without the lock.
 */
static void *irqgen_thread(void *arg)
{
	struct irqgen *g = arg;
	int64_t period = (int64_t)g->period_us * 1000;
	struct timespec next, now;

	/* The default 50 us timer slack of normal threads would blur a 100 us period. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&g->lock);
	for (;;) {
		ts_add_ns(&next, period);
		while (!g->stop && pthread_cond_timedwait(&g->wake, &g->lock, &next) != ETIMEDOUT)
			;
		if (g->stop)
			break;
		pthread_mutex_unlock(&g->lock);
		irqgen_fire(g);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ts_diff_ns(&now, &next) >= period) {
			int64_t skip = ts_diff_ns(&now, &next) / period;

			ts_add_ns(&next, skip * period);
			__atomic_add_fetch(&g->overruns, (uint64_t)skip, __ATOMIC_RELAXED);
		}
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

static int irqgen_spawn(struct irqgen *g)
{
	pthread_attr_t attr;
	int r;

	r = pthread_attr_init(&attr);
	if (r)
		return -r;
	if (g->cfg.cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(g->cfg.cpu, &set);
		r = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	if (!r && g->cfg.rt_prio) {
		struct sched_param sp = { .sched_priority = g->cfg.rt_prio };

		r = pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
		if (!r)
			r = pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
		if (!r)
			r = pthread_attr_setschedparam(&attr, &sp);
	}
	if (!r)
		r = pthread_create(&g->thread, &attr, irqgen_thread, g);
	pthread_attr_destroy(&attr);
	return -r;
}

/* Under g->lock, not running. */
static bool irqgen_start(struct irqgen *g)
{
	void *p;
	int r;

	if (!g->period_us || !g->stamp_gpa)
		return false;
	if (g->msi_addr ? !g->cfg.msi.send : !g->cfg.irq.set)
		return false;
	p = g->cfg.mem.slice(g->cfg.mem.ctx, g->stamp_gpa, IRQGEN_STAMP_PAGE);
	if (!p || (uintptr_t)p % 8)
		return false;
	g->stamp = p;
	__atomic_store_n(&g->count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&g->overruns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&g->errors, 0, __ATOMIC_RELAXED);
	g->stop = false;
	r = irqgen_spawn(g);
	if (r) {
		pr_warn("irqgen: cannot start the generator thread: %s", strerror(-r));
		g->stamp = NULL;
		return false;
	}
	g->running = true;
	return true;
}

/* Under g->lock; returns with it held. Only one caller joins: others see stop set. */
static void irqgen_stop(struct irqgen *g)
{
	pthread_t t = g->thread;

	if (!g->running || g->stop)
		return;
	g->stop = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(t, NULL);
	pthread_mutex_lock(&g->lock);
	g->running = false;
	g->stop = false;
	g->stamp = NULL;
}

void irqgen_exit(struct irqgen *g)
{
	pthread_mutex_lock(&g->lock);
	irqgen_stop(g);
	pthread_mutex_unlock(&g->lock);
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
}

uint32_t irqgen_read(struct irqgen *g, uint64_t off)
{
	uint32_t v = 0;
	uint64_t t;

	pthread_mutex_lock(&g->lock);
	switch (off) {
	case IRQGEN_REG_ID:
		v = IRQGEN_ID;
		break;
	case IRQGEN_REG_CTRL:
		v = (g->running && !g->stop ? IRQGEN_STS_RUNNING : 0) |
		    (g->error ? IRQGEN_STS_ERROR : 0);
		break;
	case IRQGEN_REG_PERIOD_US:
		v = g->period_us;
		break;
	case IRQGEN_REG_STAMP_LO:
		v = (uint32_t)g->stamp_gpa;
		break;
	case IRQGEN_REG_STAMP_HI:
		v = (uint32_t)(g->stamp_gpa >> 32);
		break;
	case IRQGEN_REG_MSI_ADDR_LO:
		v = (uint32_t)g->msi_addr;
		break;
	case IRQGEN_REG_MSI_ADDR_HI:
		v = (uint32_t)(g->msi_addr >> 32);
		break;
	case IRQGEN_REG_MSI_DATA:
		v = g->msi_data;
		break;
	case IRQGEN_REG_COUNT:
		v = (uint32_t)__atomic_load_n(&g->count, __ATOMIC_RELAXED);
		break;
	case IRQGEN_REG_OVERRUNS:
		v = (uint32_t)__atomic_load_n(&g->overruns, __ATOMIC_RELAXED);
		break;
	case IRQGEN_REG_ERRORS:
		v = (uint32_t)__atomic_load_n(&g->errors, __ATOMIC_RELAXED);
		break;
	case IRQGEN_REG_TSC_LO:
		t = __rdtsc();
		g->tsc_hi = (uint32_t)(t >> 32);
		v = (uint32_t)t;
		break;
	case IRQGEN_REG_TSC_HI:
		v = g->tsc_hi;
		break;
	}
	pthread_mutex_unlock(&g->lock);
	return v;
}

/* Under g->lock: false = refused. */
static bool irqgen_write_locked(struct irqgen *g, uint64_t off, uint32_t val)
{
	bool busy = g->running;

	switch (off) {
	case IRQGEN_REG_CTRL:
		if (val == 0) {
			irqgen_stop(g);
			return true;
		}
		if (val != 1)
			return false;
		return busy ? !g->stop : irqgen_start(g);
	case IRQGEN_REG_PERIOD_US:
		if (busy || val < IRQGEN_MIN_PERIOD_US || val > IRQGEN_MAX_PERIOD_US)
			return false;
		g->period_us = val;
		return true;
	case IRQGEN_REG_STAMP_LO:
		if (busy || val % IRQGEN_STAMP_PAGE)
			return false;
		g->stamp_gpa = (g->stamp_gpa & ~0xffffffffull) | val;
		return true;
	case IRQGEN_REG_STAMP_HI:
		if (busy)
			return false;
		g->stamp_gpa = (g->stamp_gpa & 0xffffffffull) | (uint64_t)val << 32;
		return true;
	case IRQGEN_REG_MSI_ADDR_LO:
		if (busy)
			return false;
		g->msi_addr = (g->msi_addr & ~0xffffffffull) | val;
		return true;
	case IRQGEN_REG_MSI_ADDR_HI:
		if (busy)
			return false;
		g->msi_addr = (g->msi_addr & 0xffffffffull) | (uint64_t)val << 32;
		return true;
	case IRQGEN_REG_MSI_DATA:
		if (busy)
			return false;
		g->msi_data = val;
		return true;
	default:			/* read-only or unassigned */
		return false;
	}
}

void irqgen_write(struct irqgen *g, uint64_t off, uint32_t val)
{
	pthread_mutex_lock(&g->lock);
	g->error = !irqgen_write_locked(g, off, val);
	pthread_mutex_unlock(&g->lock);
}

static void irqgen_bus_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	uint32_t v;

	if (len != 4 || off % 4)
		return;			/* the bus pre-filled zeros */
	v = irqgen_read(ctx, off);
	memcpy(data, &v, 4);		/* x86 host: little endian like the guest */
}

static void irqgen_bus_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	uint32_t v;

	if (len != 4 || off % 4)
		return;
	memcpy(&v, data, 4);
	irqgen_write(ctx, off, v);
}

const struct bus_dev_ops irqgen_bus_ops = {
	.read = irqgen_bus_read,
	.write = irqgen_bus_write,
};
