/* SPDX-License-Identifier: MIT */
#ifndef TESTS_DEVICES_VMREQ_H
#define TESTS_DEVICES_VMREQ_H

/* A vm_control that records what a device asked for. */
#include "base/contracts.h"

struct vmreq_log {
	int n;
	enum vm_request req[8];
	int code[8];
};

static inline void vmreq_record(void *ctx, enum vm_request req, int code)
{
	struct vmreq_log *l = ctx;

	if (l->n < 8) {
		l->req[l->n] = req;
		l->code[l->n] = code;
	}
	l->n++;
}

static inline struct vm_control vmreq_ctl(struct vmreq_log *l)
{
	return (struct vm_control){ .request = vmreq_record, .ctx = l };
}

#endif
