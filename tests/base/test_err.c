// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"

Test(err, set_returns_code_and_formats)
{
	struct err e = { 0 };

	cr_expect_eq(err_set(&e, -EINVAL, "bad %s %d", "thing", 3), -EINVAL);
	cr_expect_eq(e.code, -EINVAL);
	cr_expect_str_eq(e.msg, "bad thing 3");
	cr_expect_eq(err_prefix(&e, "loading %s", "kernel"), -EINVAL);
	cr_expect_str_eq(e.msg, "loading kernel: bad thing 3");
}

Test(err, null_err_is_allowed)
{
	cr_expect_eq(err_set(NULL, -ENOMEM, "x"), -ENOMEM);
}

Test(err, overlong_message_is_truncated_not_overflowed)
{
	struct err e = { 0 };
	char big[2 * ERR_MSG_MAX];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	err_set(&e, -E2BIG, "%s", big);
	cr_expect_eq(strlen(e.msg), ERR_MSG_MAX - 1);
}

static int lines;
static void count_sink(void *ctx, enum log_level lvl, const char *line)
{
	(void)ctx; (void)lvl; (void)line;
	lines++;
}

Test(log, ratelimited_flood_prints_once)
{
	struct log_ratelimit rl = { 0 };

	log_set_sink(count_sink, NULL);
	log_set_level(LOG_WARN);
	for (int i = 0; i < 1000; i++)
		log_ratelimited(&rl, LOG_WARN, "guest did a bad thing %d", i);
	cr_expect_eq(lines, 1);
	cr_expect_eq(rl.suppressed, 999);
	log_set_sink(NULL, NULL);
}
