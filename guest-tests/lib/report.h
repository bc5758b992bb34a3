/* SPDX-License-Identifier: MIT */
#ifndef GUEST_REPORT_H
#define GUEST_REPORT_H

/*
 * kvm-unit-tests style results: one "PASS: prefix: message" / "FAIL: ..." line per check and a
 * final "SUMMARY: N tests, M unexpected failures" line; report_summary() exits 0 when nothing
 * failed and 1 otherwise (through the exit device, port 0xf4).
 */
#include <stdbool.h>

void report(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_prefix_push(const char *prefix);
void report_prefix_pop(void);
int report_summary(void) __attribute__((noreturn));

#endif
