// SPDX-License-Identifier: MIT
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "base/log.h"

static const char *const level_name[] = { "error", "warning", "info", "debug" };

static void stderr_sink(void *ctx, enum log_level lvl, const char *line)
{
	(void)ctx;
	fprintf(stderr, "vmm: %s: %s\n", level_name[lvl], line);
}

/* Process-wide by nature (like stderr); everything VM-specific hangs off struct vmm. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static log_sink_fn log_sink = stderr_sink;
static void *log_ctx;
static enum log_level log_level = LOG_WARN;

void log_set_sink(log_sink_fn fn, void *ctx)
{
	pthread_mutex_lock(&log_lock);
	log_sink = fn ? fn : stderr_sink;
	log_ctx = fn ? ctx : NULL;
	pthread_mutex_unlock(&log_lock);
}

void log_set_level(enum log_level lvl)
{
	__atomic_store_n(&log_level, lvl, __ATOMIC_RELAXED);
}

bool log_enabled(enum log_level lvl)
{
	return lvl <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

static void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	pthread_mutex_lock(&log_lock);
	log_sink(log_ctx, lvl, line);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void log_ratelimited(struct log_ratelimit *rl, enum log_level lvl, const char *fmt, ...)
{
	uint64_t now = now_ns(), last = __atomic_load_n(&rl->last_ns, __ATOMIC_RELAXED);
	va_list ap;

	if (!log_enabled(lvl))
		return;
	if (last && now - last < 1000000000ull) {
		__atomic_fetch_add(&rl->suppressed, 1, __ATOMIC_RELAXED);
		return;
	}
	if (!__atomic_compare_exchange_n(&rl->last_ns, &last, now, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
	uint64_t n = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);
	if (n)
		log_msg(lvl, "(%llu similar messages suppressed)", (unsigned long long)n);
}
