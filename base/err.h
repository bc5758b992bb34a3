/* SPDX-License-Identifier: MIT */
#ifndef BASE_ERR_H
#define BASE_ERR_H

/*
 * Errors are values: a function that can fail for a reason a user must read returns -errno
 * and, if given a struct err, writes one sentence into it. The library never prints an error
 * itself and never exits; the caller (CLI or embedder) decides what to show.
 */
#include "base/compiler.h"

#define ERR_MSG_MAX 512

struct err {
	int code;			/* -errno, 0 if nothing was set */
	char msg[ERR_MSG_MAX];
};

/* Sets e (if not NULL) and returns code, so callers write `return err_set(e, -EINVAL, ...)`. */
int err_set(struct err *e, int code, const char *fmt, ...) __printf(3, 4);
/* Prefixes the message already in e with context ("loading kernel: ..."). Returns e->code. */
int err_prefix(struct err *e, const char *fmt, ...) __printf(2, 3);

#endif
