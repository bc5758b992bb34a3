// SPDX-License-Identifier: MIT
/* Exits with the status given as "status=N" on the command line (0 without one). */
#include "libguest.h"

int main(void)
{
	uint64_t status = 0;

	if (cmdline_get("status", &(const char *){ 0 }, &(size_t){ 0 }) &&
	    (!cmdline_get_size("status", &status) || status > 255)) {
		printf("exit-status: bad status= on the command line\n");
		return EXIT_BAD_BOOT;
	}
	printf("exit-status: exiting with %lu\n", status);
	exit((int)status);
}
