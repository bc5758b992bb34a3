/* SPDX-License-Identifier: MIT */
#ifndef TESTS_LIB_FDS_H
#define TESTS_LIB_FDS_H

/*
 * How many fds this process has open (entries of /proc/self/fd, its own dir fd and . and ..
 * included: only differences mean anything). For "an fd leaked / was closed" checks.
 */
#include <criterion/criterion.h>
#include <dirent.h>

static inline unsigned int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

#endif
