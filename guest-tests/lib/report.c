// SPDX-License-Identifier: MIT
#include "libguest.h"
#include "report.h"

static struct {
	unsigned int tests, failures, skipped;
	char prefix[256];
	size_t depth[16];		/* prefix length before each push */
	unsigned int nr;
} rep;

void report_prefix_push(const char *p)
{
	size_t len = strlen(rep.prefix), add = strlen(p);

	if (rep.nr < ARRAY_SIZE(rep.depth))
		rep.depth[rep.nr] = len;
	rep.nr++;
	if (len + add + 3 > sizeof(rep.prefix))
		return;			/* too deep: keep the outer prefix, still pop correctly */
	memcpy(rep.prefix + len, p, add);
	memcpy(rep.prefix + len + add, ": ", 3);
}

void report_prefix_pop(void)
{
	if (!rep.nr)
		return;
	rep.nr--;
	if (rep.nr < ARRAY_SIZE(rep.depth))
		rep.prefix[rep.depth[rep.nr]] = '\0';
}

static void line(const char *tag, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	printf("%s: %s%s\n", tag, rep.prefix, msg);
}

void report(bool pass, const char *fmt, ...)
{
	va_list ap;

	rep.tests++;
	if (!pass)
		rep.failures++;
	va_start(ap, fmt);
	line(pass ? "PASS" : "FAIL", fmt, ap);
	va_end(ap);
}

void report_skip(const char *fmt, ...)
{
	va_list ap;

	rep.tests++;
	rep.skipped++;
	va_start(ap, fmt);
	line("SKIP", fmt, ap);
	va_end(ap);
}

void report_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line("INFO", fmt, ap);
	va_end(ap);
}

int report_summary(void)
{
	printf("SUMMARY: %u tests, %u unexpected failures", rep.tests, rep.failures);
	if (rep.skipped)
		printf(", %u skipped", rep.skipped);
	printf("\n");
	exit(rep.failures ? 1 : 0);
}
