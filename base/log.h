/* SPDX-License-Identifier: MIT */
#ifndef BASE_LOG_H
#define BASE_LOG_H

/*
 * Logging with a replaceable sink. The sink is per process (an embedder installs one with
 * log_set_sink() before creating VMs); the default writes to stderr. Thread-safe: the sink is
 * called with a mutex held, one line per call, without the trailing newline.
 */
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

typedef void (*log_sink_fn)(void *ctx, enum log_level lvl, const char *line);

void log_set_sink(log_sink_fn fn, void *ctx);
void log_set_level(enum log_level lvl);
bool log_enabled(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) __printf(2, 3);

/* At most one message per second per call site: for anything a guest can trigger repeatedly. */
struct log_ratelimit { uint64_t last_ns; uint64_t suppressed; };
void log_ratelimited(struct log_ratelimit *rl, enum log_level lvl, const char *fmt, ...)
	__printf(3, 4);

#define pr_err(...)	log_msg(LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...)	do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

uint64_t now_ns(void);	/* CLOCK_MONOTONIC */

#endif
