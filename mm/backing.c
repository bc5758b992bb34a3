// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/memfd.h>
#include <linux/mman.h>

#include "base/log.h"
#include "mm/backing.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23	/* Linux 5.14 */
#endif

#define PREFAULT_AUTO_MAX_THREADS	8
#define PREFAULT_MAX_THREADS		64
#define HUGEPAGE_SYSFS			"/sys/kernel/mm/hugepages"

static uint64_t base_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (uint64_t)ps : KiB(4);
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* "4 KiB", "2 MiB", "1 GiB": the unit the user typed, for messages. */
static const char *size_name(uint64_t n, char *buf, size_t len)
{
	if (n >= GiB(1) && IS_ALIGNED(n, GiB(1)))
		snprintf(buf, len, "%" PRIu64 " GiB", n >> 30);
	else if (n >= MiB(1) && IS_ALIGNED(n, MiB(1)))
		snprintf(buf, len, "%" PRIu64 " MiB", n >> 20);
	else if (n >= KiB(1) && IS_ALIGNED(n, KiB(1)))
		snprintf(buf, len, "%" PRIu64 " KiB", n >> 10);
	else
		snprintf(buf, len, "%" PRIu64 " bytes", n);
	return buf;
}

/* One decimal number and an optional newline: sysfs is trusted, but not blindly parsed. */
static int read_u64_file(const char *path, uint64_t *v)
{
	char buf[32], *end;
	unsigned long long x;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	close(fd);
	buf[n] = 0;
	if (n == 0 || buf[0] < '0' || buf[0] > '9')
		return -EIO;
	errno = 0;
	x = strtoull(buf, &end, 10);
	if (errno || (*end && strcmp(end, "\n")))
		return -EIO;
	*v = x;
	return 0;
}

int hugepage_pool_read(uint64_t page_size, struct hugepage_pool *p)
{
	static const char *const name[] = {
		"nr_hugepages", "free_hugepages", "resv_hugepages", "surplus_hugepages",
	};
	uint64_t *const field[] = { &p->total, &p->free, &p->resv, &p->surplus };
	char path[128];
	unsigned int i;
	int ret;

	BUILD_BUG_ON(ARRAY_SIZE(name) != ARRAY_SIZE(field));
	if (page_size < KiB(4) || !is_pow2(page_size))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(name); i++) {
		snprintf(path, sizeof(path), HUGEPAGE_SYSFS "/hugepages-%" PRIu64 "kB/%s",
			 page_size >> 10, name[i]);
		ret = read_u64_file(path, field[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/* Where to write a new pool size: /proc/sys/vm/nr_hugepages is the default (2 MiB on x86). */
static const char *nr_hugepages_path(uint64_t page_size, char *buf, size_t len)
{
	if (page_size == MiB(2))
		return "/proc/sys/vm/nr_hugepages";
	snprintf(buf, len, HUGEPAGE_SYSFS "/hugepages-%" PRIu64 "kB/nr_hugepages",
		 page_size >> 10);
	return buf;
}

static int pool_short(uint64_t needed, uint64_t page_size, const struct hugepage_pool *p,
		      struct err *e)
{
	uint64_t avail = p->free > p->resv ? p->free - p->resv : 0;
	uint64_t target;
	char ps[32], path[128];

	/* Pages already usable stay in the pool, so the pool must grow by what is missing. */
	if (__builtin_add_overflow(p->total, needed - avail, &target))
		target = UINT64_MAX;
	return err_set(e, -ENOMEM,
		       "guest RAM needs %" PRIu64 " hugepages of %s but only %" PRIu64
		       " are free (total %" PRIu64 "); reserve more with: echo %" PRIu64 " > %s",
		       needed, size_name(page_size, ps, sizeof(ps)), avail, p->total, target,
		       nr_hugepages_path(page_size, path, sizeof(path)));
}

static int read_pool(uint64_t page_size, struct hugepage_pool *p, struct err *e)
{
	char ps[32];
	int ret = hugepage_pool_read(page_size, p);

	if (ret == -ENOENT)
		return err_set(e, ret, "this kernel has no pool of %s hugepages (" HUGEPAGE_SYSFS
			       "/hugepages-%" PRIu64 "kB is missing)",
			       size_name(page_size, ps, sizeof(ps)), page_size >> 10);
	if (ret)
		return err_set(e, ret, "cannot read the %s hugepage pool: %s",
			       size_name(page_size, ps, sizeof(ps)), strerror(-ret));
	return 0;
}

/*
 * Preflight: refuse before mapping anything, with a message the user can act on. The mmap
 * itself reserves the pages (see map_block), so this is for the message, not for safety.
 * Overcommitted (surplus) pages are not counted: guest RAM should not depend on them.
 */
static int hugepage_preflight(uint64_t needed, uint64_t page_size, struct err *e)
{
	struct hugepage_pool p;
	int ret = read_pool(page_size, &p, e);

	if (ret)
		return ret;
	if (p.free > p.resv && p.free - p.resv >= needed)
		return 0;
	return pool_short(needed, page_size, &p, e);
}

/* mmap/mmap-time reservation said ENOMEM: explain with fresh pool numbers. */
static int hugepage_enomem(uint64_t needed, uint64_t page_size, const char *what, struct err *e)
{
	struct hugepage_pool p;
	char ps[32];

	if (read_pool(page_size, &p, e))
		return err_set(e, -ENOMEM, "%s: cannot reserve %" PRIu64 " hugepages of %s",
			       what, needed, size_name(page_size, ps, sizeof(ps)));
	if (p.free <= p.resv || p.free - p.resv < needed)
		return pool_short(needed, page_size, &p, e);
	return err_set(e, -ENOMEM, "%s: the kernel could not reserve %" PRIu64
		       " hugepages of %s although %" PRIu64 " of %" PRIu64
		       " look free (a hugetlbfs size= limit, or another user raced us)",
		       what, needed, size_name(page_size, ps, sizeof(ps)), p.free - p.resv,
		       p.total);
}

/* HUGETLBFS: the path must be a hugetlbfs mount; its page size is the block's page size. */
static int hugetlbfs_page_size(const struct mem_opts *o, uint64_t *ps, struct err *e)
{
	struct statfs st;
	char want[32], have[32];

	if (!o->hugetlbfs_path || !o->hugetlbfs_path[0])
		return err_set(e, -EINVAL, "hugetlbfs backend needs a path");
	if (statfs(o->hugetlbfs_path, &st) < 0)
		return err_set(e, -errno, "hugetlbfs path %s: %s", o->hugetlbfs_path,
			       strerror(errno));
	if ((uint64_t)st.f_type != HUGETLBFS_MAGIC)
		return err_set(e, -EINVAL, "%s is not a hugetlbfs mount (mount -t hugetlbfs "
			       "-o pagesize=2M none %s)", o->hugetlbfs_path, o->hugetlbfs_path);
	if (st.f_bsize <= 0 || ((uint64_t)st.f_bsize != MiB(2) && (uint64_t)st.f_bsize != GiB(1)))
		return err_set(e, -EINVAL, "hugetlbfs mount %s has an unsupported page size %ld",
			       o->hugetlbfs_path, (long)st.f_bsize);
	if (o->hugepage_size && o->hugepage_size != (uint64_t)st.f_bsize)
		return err_set(e, -EINVAL, "hugetlbfs mount %s has %s pages, not the %s requested",
			       o->hugetlbfs_path, size_name((uint64_t)st.f_bsize, have, sizeof(have)),
			       size_name(o->hugepage_size, want, sizeof(want)));
	*ps = (uint64_t)st.f_bsize;
	return 0;
}

/* MAP_HUGE_* and MFD_HUGE_* share one encoding (uapi asm-generic/hugetlb_encode.h). */
static int huge_flags(uint64_t ps)
{
	BUILD_BUG_ON(MAP_HUGE_2MB != MFD_HUGE_2MB || MAP_HUGE_1GB != MFD_HUGE_1GB);
	return ps == GiB(1) ? MAP_HUGE_1GB : MAP_HUGE_2MB;
}

static int open_backing_fd(const struct mem_opts *o, uint64_t ps, bool huge, struct err *e)
{
	char path[PATH_MAX];
	int fd, n;

	if (o->backend == MEM_MEMFD) {
		unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;

		if (huge)
			flags |= MFD_HUGETLB | (unsigned int)huge_flags(ps);
		fd = memfd_create("vmm-guest-ram", flags);
		if (fd < 0)
			return err_set(e, -errno, "memfd_create for guest RAM: %s", strerror(errno));
		return fd;
	}
	n = snprintf(path, sizeof(path), "%s/vmm-guest-ram-XXXXXX", o->hugetlbfs_path);
	if (n < 0 || (size_t)n >= sizeof(path))
		return err_set(e, -ENAMETOOLONG, "hugetlbfs path %s is too long",
			       o->hugetlbfs_path);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "creating a file in %s: %s", o->hugetlbfs_path,
			       strerror(errno));
	/* Unlinked at once: the memory goes away with the last fd/mapping, even on a crash. */
	unlink(path);
	return fd;
}

/*
 * Maps [0, size) of the block. Hugetlb mappings never get MAP_NORESERVE: the kernel then
 * reserves every page at mmap time (mm/hugetlb.c hugetlb_reserve_pages(), for shared file
 * mappings and for private anonymous ones alike), so a short pool fails here with ENOMEM
 * instead of a SIGBUS at the guest's first touch.
 */
static int map_block(const struct mem_opts *o, uint64_t ps, bool huge, struct mem_block *b,
		     struct err *e)
{
	int prot = PROT_READ | PROT_WRITE, ret;
	char what[64];
	void *p;

	if (o->backend == MEM_ANON) {
		int flags = MAP_PRIVATE | MAP_ANONYMOUS;

		if (huge)
			flags |= MAP_HUGETLB | huge_flags(ps);
		p = mmap(NULL, o->size, prot, flags, -1, 0);
		if (p == MAP_FAILED)
			goto err_mmap;
		b->hva = p;
		return 0;
	}

	ret = open_backing_fd(o, ps, huge, e);
	if (ret < 0)
		return ret;
	b->fd = ret;
	if (ftruncate(b->fd, (off_t)o->size) < 0) {
		ret = err_set(e, -errno, "sizing guest RAM file to %" PRIu64 " bytes: %s",
			      o->size, strerror(errno));
		goto err_close;
	}
	/*
	 * memfd: a vhost-user peer gets this fd; sealing the size means no peer can truncate it
	 * under us (which would SIGBUS the VMM on the next guest access).
	 */
	if (o->backend == MEM_MEMFD &&
	    fcntl(b->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		ret = err_set(e, -errno, "sealing guest RAM memfd: %s", strerror(errno));
		goto err_close;
	}
	p = mmap(NULL, o->size, prot, MAP_SHARED, b->fd, 0);
	if (p == MAP_FAILED)
		goto err_mmap;
	b->hva = p;
	return 0;

err_mmap:
	ret = -errno;
	snprintf(what, sizeof(what), "mapping %" PRIu64 " bytes of guest RAM", o->size);
	if (ret == -ENOMEM && huge)
		ret = hugepage_enomem(o->size / ps, ps, what, e);
	else
		ret = err_set(e, ret, "%s: %s", what, strerror(-ret));
err_close:
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	return ret;
}

int mem_alloc(const struct mem_opts *o, struct mem_block *out, struct err *e)
{
	uint64_t base = base_page_size(), ps;
	char buf[32];
	bool huge;
	int ret;

	*out = (struct mem_block){ .fd = -1, .backend = o->backend };
	if (o->backend != MEM_ANON && o->backend != MEM_MEMFD && o->backend != MEM_HUGETLBFS)
		return err_set(e, -EINVAL, "unknown memory backend %d", (int)o->backend);
	if (!o->size)
		return err_set(e, -EINVAL, "guest RAM size is 0");
	if (o->hugepage_size && o->hugepage_size != MiB(2) && o->hugepage_size != GiB(1))
		return err_set(e, -EINVAL, "unknown hugepage size %" PRIu64 " (use 2 MiB or 1 GiB)",
			       o->hugepage_size);
	ps = o->hugepage_size ? o->hugepage_size : base;
	if (o->backend == MEM_HUGETLBFS) {
		ret = hugetlbfs_page_size(o, &ps, e);
		if (ret)
			return ret;
	}
	huge = ps != base;
	if (o->thp && huge)
		return err_set(e, -EINVAL, "transparent hugepages (thp) apply to base pages only, "
			       "not to %s hugepages", size_name(ps, buf, sizeof(buf)));
	if (o->size % ps)
		return err_set(e, -EINVAL, "guest RAM size %" PRIu64 " is not a multiple of the "
			       "page size (%s)", o->size, size_name(ps, buf, sizeof(buf)));
	if (huge) {
		ret = hugepage_preflight(o->size / ps, ps, e);
		if (ret)
			return ret;
	}

	ret = map_block(o, ps, huge, out, e);
	if (ret)
		return ret;
	out->size = o->size;
	out->page_size = ps;

	/* Asked for THP: a kernel without it (EINVAL) is an error, not a silent no-op. */
	if (o->thp && madvise(out->hva, out->size, MADV_HUGEPAGE) < 0) {
		ret = err_set(e, -errno, "madvise(MADV_HUGEPAGE) on guest RAM: %s",
			      strerror(errno));
		mem_free(out);
		out->backend = o->backend;
		return ret;
	}
	return 0;
}

void mem_free(struct mem_block *b)
{
	if (!b)
		return;
	/* A zeroed block has fd == 0: only a block that owns a mapping owns its fd. */
	if (b->hva && b->size) {
		munmap(b->hva, b->size);
		if (b->backend != MEM_ANON && b->fd >= 0)
			close(b->fd);
	}
	*b = (struct mem_block){ .fd = -1 };
}

static int block_check(const struct mem_block *b, struct err *e)
{
	if (!b || !b->hva || !b->size || !is_pow2(b->page_size) || b->size % b->page_size)
		return err_set(e, -EINVAL, "not an allocated guest RAM block");
	return 0;
}

struct prefault_job {
	uint8_t *start;
	uint64_t len;
	uint64_t page;
	bool touch;
	int err;		/* 0 or -errno */
	pthread_t tid;
};

static int populate(uint8_t *start, uint64_t len)
{
	unsigned int tries;

	/* Interrupted populates are resumable: pages already present cost nothing the second time. */
	for (tries = 0; tries < 1000; tries++) {
		if (!madvise(start, len, MADV_POPULATE_WRITE))
			return 0;
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
	return -EAGAIN;
}

static void *prefault_run(void *arg)
{
	struct prefault_job *j = arg;
	uint64_t off;

	if (!j->touch) {
		j->err = populate(j->start, j->len);
		return NULL;
	}
	/* Write fault on every page; rewriting the byte keeps what a loader may have put there. */
	for (off = 0; off < j->len; off += j->page) {
		volatile uint8_t *p = j->start + off;

		*p = *p;
	}
	return NULL;
}

int mem_prefault(const struct mem_block *b, unsigned int threads, uint64_t *ns, struct err *e)
{
	struct prefault_job job[PREFAULT_MAX_THREADS];
	uint64_t t0 = now_ns(), pages, per, i;
	unsigned int n, k;
	bool touch = false, huge;
	int ret;

	ret = block_check(b, e);
	if (ret)
		return ret;
	huge = b->page_size != base_page_size();
	pages = b->size / b->page_size;

	if (!threads) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		threads = cpus > 0 ? (unsigned int)cpus : 1;
		if (threads > PREFAULT_AUTO_MAX_THREADS)
			threads = PREFAULT_AUTO_MAX_THREADS;
	}
	n = threads > PREFAULT_MAX_THREADS ? PREFAULT_MAX_THREADS : threads;
	if (n > pages)
		n = (unsigned int)pages;

	/* Probe once on the first page, so the fallback decision and its log line happen once. */
	ret = populate(b->hva, b->page_size);
	if (ret == -EINVAL) {
		pr_warn("kernel lacks MADV_POPULATE_WRITE (Linux 5.14): prefaulting guest RAM by "
			"touching one byte per page");
		touch = true;
	} else if (ret) {
		goto err;
	}

	per = (pages + n - 1) / n;
	for (k = 0; k < n; k++) {
		uint64_t first = (uint64_t)k * per, last = first + per;

		if (last > pages)
			last = pages;
		job[k] = (struct prefault_job){
			.start = b->hva + first * b->page_size,
			.len = (last > first ? last - first : 0) * b->page_size,
			.page = b->page_size,
			.touch = touch,
		};
	}
	/* Job 0 runs on the caller; a job whose thread cannot start also runs here. */
	for (k = 1; k < n; k++)
		if (job[k].len && pthread_create(&job[k].tid, NULL, prefault_run, &job[k])) {
			prefault_run(&job[k]);
			job[k].len = 0;
		}
	if (job[0].len)
		prefault_run(&job[0]);
	for (k = 1; k < n; k++)
		if (job[k].len)
			pthread_join(job[k].tid, NULL);

	ret = 0;
	for (i = 0; i < n && !ret; i++)
		ret = job[i].err;
	if (ns)
		*ns = now_ns() - t0;
	if (!ret)
		return 0;
err:
	if (ns)
		*ns = now_ns() - t0;
	if (huge)
		return err_set(e, -ENOMEM, "prefaulting %" PRIu64 " bytes of hugetlb guest RAM "
			       "failed (%s): the hugepage pool ran dry", b->size, strerror(-ret));
	return err_set(e, ret, "prefaulting %" PRIu64 " bytes of guest RAM: %s", b->size,
		       strerror(-ret));
}

int mem_lock(const struct mem_block *b, uint64_t *ns, struct err *e)
{
	uint64_t t0 = now_ns();
	struct rlimit rl;
	char lim[32];
	int ret;

	ret = block_check(b, e);
	if (ret)
		return ret;
	/*
	 * The raw syscall: ASan's mlock() interceptor ignores the call and returns 0, which
	 * would make sanitizer builds silently run unlocked.
	 */
	if (!syscall(SYS_mlock, b->hva, (size_t)b->size)) {
		if (ns)
			*ns = now_ns() - t0;
		return 0;
	}
	ret = -errno;
	if (ret != -EPERM && ret != -ENOMEM)
		return err_set(e, ret, "mlock of guest RAM: %s", strerror(-ret));
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		snprintf(lim, sizeof(lim), "unknown");
	else if (rl.rlim_cur == RLIM_INFINITY)
		snprintf(lim, sizeof(lim), "unlimited");
	else
		size_name((uint64_t)rl.rlim_cur, lim, sizeof(lim));
	return err_set(e, ret, "mlock of %" PRIu64 " bytes of guest RAM failed (%s): "
		       "RLIMIT_MEMLOCK is %s; raise it (ulimit -l, systemd LimitMEMLOCK=) or grant "
		       "CAP_IPC_LOCK", b->size, strerror(-ret), lim);
}
