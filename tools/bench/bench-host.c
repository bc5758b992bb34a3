// SPDX-License-Identifier: MIT
/*
 * bench-host: the host-side measuring tools of tools/bench/ (driven by bench.py).
 *
 *   bench-host startup [-n RUNS] [-s STATUS] [-b BYTE] -- CMD [ARGS...]
 *	fork/execs CMD RUNS times with its stdout on a pipe and stdin/stderr on /dev/null;
 *	times exec -> first byte on the pipe (the guest's first instruction wrote it to the
 *	UART, plus pipe latency) and exec -> process exit. Prints one line of key=value pairs in
 *	microseconds: first_med first_min first_max exit_med exit_min exit_max runs. Fails (1)
 *	if a run ends with another status than STATUS (default 0), or if its first byte is not
 *	BYTE (default '!').
 *
 *   bench-host memset [-S SIZE_MiB] [-t THREADS] [-p] [-4]
 *	maps SIZE MiB (default 1024) of fresh 2 MiB hugepages (-4: 4 KiB pages) and times
 *	touching all of it from THREADS threads: memset, or -p MADV_POPULATE_WRITE. Prints
 *	"ms=..." . Fails if the pages cannot be had.
 *
 *   bench-host tsc
 *	prints the host TSC frequency as "tsc_khz=...", measured against CLOCK_MONOTONIC_RAW.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/mman.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23	/* Linux 5.14 */
#endif

#define MAX_RUNS	10000
#define MAX_THREADS	64

static double now_us(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One run: 0 with *first and *exit in us, or -1 with a message on stderr. */
static int startup_once(char **cmd, int want_status, int want_byte, double *first, double *exit_us)
{
	int fds[2], status, devnull;
	double t0, t1 = 0;
	char buf[4096];
	bool got = false, bad = false;
	ssize_t n;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC)) {
		perror("bench-host: pipe");
		return -1;
	}
	t0 = now_us(CLOCK_MONOTONIC);
	pid = fork();
	if (pid < 0) {
		perror("bench-host: fork");
		return -1;
	}
	if (pid == 0) {
		devnull = open("/dev/null", O_RDWR);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(devnull, 2) < 0)
			_exit(127);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("bench-host: read");
			break;
		}
		if (!got) {
			t1 = now_us(CLOCK_MONOTONIC);
			got = true;
			bad = want_byte >= 0 && (unsigned char)buf[0] != want_byte;
			if (bad)
				fprintf(stderr, "bench-host: first byte 0x%02x, expected 0x%02x\n",
					(unsigned char)buf[0], want_byte);
		}
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("bench-host: waitpid");
			return -1;
		}
	*exit_us = now_us(CLOCK_MONOTONIC) - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != want_status) {
		fprintf(stderr, "bench-host: %s ended with %s %d, expected status %d\n", cmd[0],
			WIFEXITED(status) ? "status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), want_status);
		return -1;
	}
	if (!got || bad) {
		fprintf(stderr, "bench-host: %s wrote no (good) first byte\n", cmd[0]);
		return -1;
	}
	*first = t1 - t0;
	return 0;
}

static int cmd_startup(int argc, char **argv)
{
	int runs = 20, want_status = 0, want_byte = '!', opt;
	double *first, *ex;

	while ((opt = getopt(argc, argv, "+n:s:b:")) != -1) {
		switch (opt) {
		case 'n': runs = atoi(optarg); break;
		case 's': want_status = atoi(optarg); break;
		case 'b': want_byte = atoi(optarg); break;
		default: return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS || optind >= argc) {
		fprintf(stderr, "usage: bench-host startup [-n RUNS] [-s STATUS] [-b BYTE] -- CMD...\n");
		return 2;
	}
	first = calloc(runs, sizeof(*first));
	ex = calloc(runs, sizeof(*ex));
	if (!first || !ex)
		return 1;
	for (int i = 0; i < runs; i++)
		if (startup_once(argv + optind, want_status, want_byte, &first[i], &ex[i]))
			return 1;
	double fmed = median(first, runs), emed = median(ex, runs);

	/* median() sorted both arrays: the ends are min and max. */
	printf("first_med=%.1f first_min=%.1f first_max=%.1f exit_med=%.1f exit_min=%.1f exit_max=%.1f runs=%d\n",
	       fmed, first[0], first[runs - 1], emed, ex[0], ex[runs - 1], runs);
	free(first);
	free(ex);
	return 0;
}

struct toucher {
	uint8_t *p;
	size_t len;
	bool populate;
	int err;
	pthread_barrier_t *go;
};

static void *touch(void *arg)
{
	struct toucher *t = arg;

	pthread_barrier_wait(t->go);
	if (t->populate) {
		if (madvise(t->p, t->len, MADV_POPULATE_WRITE))
			t->err = errno;
	} else {
		memset(t->p, 0, t->len);
	}
	return NULL;
}

static int cmd_memset(int argc, char **argv)
{
	unsigned long mib = 1024, threads = 1;
	bool populate = false, small = false;
	struct toucher tt[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	pthread_barrier_t go;
	size_t len, chunk, page;
	double t0, t1;
	uint8_t *p;
	int opt, flags = MAP_PRIVATE | MAP_ANONYMOUS;

	while ((opt = getopt(argc, argv, "S:t:p4")) != -1) {
		switch (opt) {
		case 'S': mib = strtoul(optarg, NULL, 0); break;
		case 't': threads = strtoul(optarg, NULL, 0); break;
		case 'p': populate = true; break;
		case '4': small = true; break;
		default: return 2;
		}
	}
	if (!mib || mib > (1ul << 20) || !threads || threads > MAX_THREADS) {
		fprintf(stderr, "usage: bench-host memset [-S MiB] [-t 1..%d] [-p] [-4]\n", MAX_THREADS);
		return 2;
	}
	page = small ? 4096 : 2u << 20;
	if (!small)
		flags |= MAP_HUGETLB | MAP_HUGE_2MB;
	len = (size_t)mib << 20;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED) {
		perror("bench-host: mmap (is the hugepage pool big enough?)");
		return 1;
	}
	/* Whole pages per thread, the last one takes the rest. */
	chunk = len / page / threads * page;
	pthread_barrier_init(&go, NULL, threads + 1);
	for (unsigned long i = 0; i < threads; i++) {
		tt[i] = (struct toucher){
			.p = p + i * chunk, .len = i + 1 == threads ? len - i * chunk : chunk,
			.populate = populate, .go = &go,
		};
		if (pthread_create(&tid[i], NULL, touch, &tt[i])) {
			fprintf(stderr, "bench-host: pthread_create failed\n");
			return 1;
		}
	}
	t0 = now_us(CLOCK_MONOTONIC);
	pthread_barrier_wait(&go);
	for (unsigned long i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	t1 = now_us(CLOCK_MONOTONIC);
	for (unsigned long i = 0; i < threads; i++)
		if (tt[i].err) {
			fprintf(stderr, "bench-host: MADV_POPULATE_WRITE: %s\n", strerror(tt[i].err));
			return 1;
		}
	printf("ms=%.3f\n", (t1 - t0) / 1e3);
	munmap(p, len);
	return 0;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static int cmd_tsc(void)
{
	double t0 = now_us(CLOCK_MONOTONIC_RAW), t1;
	uint64_t c0 = rdtsc(), c1;

	usleep(200000);
	c1 = rdtsc();
	t1 = now_us(CLOCK_MONOTONIC_RAW);
	printf("tsc_khz=%.0f\n", (double)(c1 - c0) / (t1 - t0) * 1e3);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "startup"))
		return cmd_startup(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "memset"))
		return cmd_memset(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "tsc"))
		return cmd_tsc();
	fprintf(stderr, "usage: bench-host startup|memset|tsc ...\n");
	return 2;
}
