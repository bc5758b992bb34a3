// SPDX-License-Identifier: MIT
/*
 * Options in the CLI's syntax ("size=1G,hugepages=2M") -> struct vmm_config. Parsing and
 * validation only: no side effects, so the CLI, the library and tests share it.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "base/err.h"
#include "vmm/vm.h"

#define MAX_RAM		GiB(1024)

void vmm_config_default(struct vmm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->acpi = true;
	c->mem.size = MiB(256);
	c->cpus.count = 1;
	for (unsigned int i = 0; i < VMM_MAX_VCPUS; i++)
		c->cpus.affinity[i] = c->cpus.emulator[i] = -1;
	c->cpus.halt_poll_ns = -1;
	c->serial.mode = VMM_SERIAL_STDIO;
	c->serial.fd = -1;
	c->kick_signal = SIGUSR2;
}

/* "512M", "2G", "4096", "1.5G" is refused: sizes are integers with an optional K/M/G/T. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	case 0: break;
	default: return -EINVAL;
	}
	if (*end == 'i' && shift)	/* accept 2MiB / 1GiB too */
		end++;
	if ((*end == 'B' || *end == 'b') && shift)
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))
		*out = true;
	else if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -E2BIG;
	memcpy(dst, src, n + 1);
	return 0;
}

/*
 * Walks "a=b,c=d,e": calls fn(key, value) per item; value is NULL for a bare word. The
 * first item may be a bare word (the option's main value, e.g. "cpus 2,rt=10").
 */
typedef int (*kv_fn)(struct vmm_config *c, const char *key, const char *val, struct err *e);

static int parse_kv(struct vmm_config *c, const char *opt, const char *value, kv_fn fn,
		    struct err *e)
{
	char buf[VMM_PATH_MAX + 64], *save = NULL, *item;
	int r;

	if (copy_str(buf, sizeof(buf), value))
		return err_set(e, -E2BIG, "--%s: value too long", opt);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (eq)
			*eq = 0;
		r = fn(c, item, eq ? eq + 1 : NULL, e);
		if (r == -ENOENT)
			return err_set(e, -EINVAL, "--%s: unknown sub-option '%s'", opt, item);
		if (r)
			return e->code ? e->code : err_set(e, r, "--%s: bad value for '%s'", opt,
							   item);
	}
	return 0;
}

static int mem_kv(struct vmm_config *c, const char *k, const char *v, struct err *e)
{
	if (!v)		/* bare size: --memory 512M */
		return parse_size(k, &c->mem.size) ? -ENOENT : 0;
	if (!strcmp(k, "size")) {
		if (parse_size(v, &c->mem.size))
			return err_set(e, -EINVAL, "--memory: bad size '%s' (use e.g. 512M, 4G)", v);
		return 0;
	}
	if (!strcmp(k, "hugepages")) {
		if (!strcmp(v, "off") || !strcmp(v, "0"))
			c->mem.hugepage_size = 0;
		else if (!strcmp(v, "on") || !strcasecmp(v, "2M") || !strcasecmp(v, "2MiB"))
			c->mem.hugepage_size = MiB(2);
		else if (!strcasecmp(v, "1G") || !strcasecmp(v, "1GiB"))
			c->mem.hugepage_size = GiB(1);
		else
			return err_set(e, -EINVAL, "--memory: hugepages must be 2M, 1G or off, not '%s'", v);
		return 0;
	}
	if (!strcmp(k, "hugetlbfs")) {
		c->mem.backend = VMM_MEM_HUGETLBFS;
		return copy_str(c->mem.hugetlbfs_path, sizeof(c->mem.hugetlbfs_path), v);
	}
	if (!strcmp(k, "shared")) {
		bool b;

		if (parse_bool(v, &b))
			return -EINVAL;
		if (c->mem.backend != VMM_MEM_HUGETLBFS)
			c->mem.backend = b ? VMM_MEM_MEMFD : VMM_MEM_ANON;
		return 0;
	}
	if (!strcmp(k, "prefault"))
		return parse_bool(v, &c->mem.prefault);
	if (!strcmp(k, "mlock"))
		return parse_bool(v, &c->mem.mlock);
	if (!strcmp(k, "thp"))
		return parse_bool(v, &c->mem.thp);
	if (!strcmp(k, "prefault-threads")) {
		unsigned long n;

		if (parse_uint(v, 64, &n))
			return -EINVAL;
		c->mem.prefault_threads = n;
		return 0;
	}
	return -ENOENT;
}

/* "0:1:2" or "0-3": host CPU for vCPU 0, 1, ... in order (or the emulator CPU set). */
static int parse_cpu_list(int *out, const char *v, struct err *e)
{
	char buf[512], *save = NULL, *tok;
	unsigned int n = 0;

	if (copy_str(buf, sizeof(buf), v))
		return -E2BIG;
	for (tok = strtok_r(buf, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
		unsigned long lo, hi;
		char *dash = strchr(tok, '-');

		if (dash)
			*dash = 0;
		if (parse_uint(tok, CPU_SETSIZE - 1, &lo) ||
		    (dash && parse_uint(dash + 1, CPU_SETSIZE - 1, &hi)))
			return err_set(e, -EINVAL, "--cpus: bad CPU list '%s' (e.g. 0:1 or 2-5)", v);
		if (!dash)
			hi = lo;
		if (hi < lo)
			return err_set(e, -EINVAL, "--cpus: bad CPU range in '%s'", v);
		for (unsigned long cpu = lo; cpu <= hi; cpu++) {
			if (n >= VMM_MAX_VCPUS)
				return err_set(e, -EINVAL, "--cpus: a CPU list has more than %d CPUs",
					       VMM_MAX_VCPUS);
			out[n++] = (int)cpu;
		}
	}
	return 0;
}

static int cpus_kv(struct vmm_config *c, const char *k, const char *v, struct err *e)
{
	unsigned long n;

	if (!v) {	/* bare count: --cpus 2 */
		if (parse_uint(k, VMM_MAX_VCPUS, &n) || n == 0)
			return err_set(e, -EINVAL, "--cpus: count must be 1..%d, not '%s'",
				       VMM_MAX_VCPUS, k);
		c->cpus.count = n;
		return 0;
	}
	if (!strcmp(k, "count") || !strcmp(k, "boot")) {
		if (parse_uint(v, VMM_MAX_VCPUS, &n) || n == 0)
			return err_set(e, -EINVAL, "--cpus: count must be 1..%d, not '%s'",
				       VMM_MAX_VCPUS, v);
		c->cpus.count = n;
		return 0;
	}
	if (!strcmp(k, "affinity"))
		return parse_cpu_list(c->cpus.affinity, v, e);
	if (!strcmp(k, "emulator"))
		return parse_cpu_list(c->cpus.emulator, v, e);
	if (!strcmp(k, "halt-poll")) {
		if (parse_uint(v, 100000000, &n))
			return err_set(e, -EINVAL, "--cpus: halt-poll is in ns, 0..100000000");
		c->cpus.halt_poll_ns = (long)n;
		return 0;
	}
	if (!strcmp(k, "rt")) {
		if (parse_uint(v, 99, &n))
			return err_set(e, -EINVAL, "--cpus: rt priority must be 1..99 (0 = off)");
		c->cpus.rt_prio = (int)n;
		return 0;
	}
	if (!strcmp(k, "disable-exits")) {
		char buf[64], *save = NULL, *t;

		if (copy_str(buf, sizeof(buf), v))
			return -E2BIG;
		c->cpus.disable_exits = 0;
		for (t = strtok_r(buf, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
			if (!strcmp(t, "hlt"))
				c->cpus.disable_exits |= VMM_EXITS_HLT;
			else if (!strcmp(t, "pause"))
				c->cpus.disable_exits |= VMM_EXITS_PAUSE;
			else if (!strcmp(t, "mwait"))
				c->cpus.disable_exits |= VMM_EXITS_MWAIT;
			else if (strcmp(t, "none"))
				return err_set(e, -EINVAL,
					       "--cpus: disable-exits takes hlt+pause+mwait, not '%s'", t);
		}
		return 0;
	}
	return -ENOENT;
}

static int serial_kv(struct vmm_config *c, const char *k, const char *v, struct err *e)
{
	unsigned long fd;

	if (!v && !strcmp(k, "stdio"))
		c->serial.mode = VMM_SERIAL_STDIO;
	else if (!v && !strcmp(k, "off"))
		c->serial.mode = VMM_SERIAL_OFF;
	else if (v && !strcmp(k, "file")) {
		c->serial.mode = VMM_SERIAL_FILE;
		return copy_str(c->serial.path, sizeof(c->serial.path), v);
	} else if (v && !strcmp(k, "fd")) {
		if (parse_uint(v, INT_MAX, &fd))
			return err_set(e, -EINVAL, "--serial: bad fd '%s'", v);
		c->serial.mode = VMM_SERIAL_FD;
		c->serial.fd = (int)fd;
	} else
		return -ENOENT;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6 || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = b[i];
	if (mac[0] & 1)		/* multicast bit: not a station address */
		return -EINVAL;
	return 0;
}

static int net_kv(struct vmm_config *c, const char *k, const char *v, struct err *e)
{
	struct vmm_net_config *n = &c->net[c->nr_nets];
	unsigned long x;

	if (!v)
		return -ENOENT;
	if (!strcmp(k, "tap")) {
		if (!*v || strlen(v) >= sizeof(n->tap) || strchr(v, '/'))
			return err_set(e, -EINVAL, "--net: bad TAP name '%s' (1-15 characters)", v);
		strcpy(n->tap, v);
		return 0;
	}
	if (!strcmp(k, "fd")) {	/* fd=3 or fd=3:4:5 for multiqueue */
		char buf[128], *save = NULL, *t;

		if (copy_str(buf, sizeof(buf), v))
			return -E2BIG;
		for (t = strtok_r(buf, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
			if (n->nfds >= VMM_NET_MAX_QUEUES || parse_uint(t, INT_MAX, &x))
				return err_set(e, -EINVAL, "--net: bad fd list '%s'", v);
			n->fds[n->nfds++] = (int)x;
		}
		return 0;
	}
	if (!strcmp(k, "mac")) {
		if (parse_mac(v, n->mac))
			return err_set(e, -EINVAL, "--net: bad MAC '%s' (unicast, aa:bb:cc:dd:ee:ff)", v);
		n->mac_set = true;
		return 0;
	}
	if (!strcmp(k, "transport")) {
		if (strcmp(v, "pci") && strcmp(v, "mmio"))
			return err_set(e, -EINVAL, "--net: transport is pci or mmio, not '%s'", v);
		n->pci = !strcmp(v, "pci");
		return 0;
	}
	if (!strcmp(k, "vhost-user")) {
		if (!*v || strlen(v) >= sizeof(n->vhost_user))
			return err_set(e, -EINVAL, "--net: vhost-user socket path must be 1..%zu "
				       "characters", sizeof(n->vhost_user) - 1);
		strcpy(n->vhost_user, v);
		return 0;
	}
	if (!strcmp(k, "mode")) {
		if (strcmp(v, "client") && strcmp(v, "server"))
			return err_set(e, -EINVAL, "--net: mode is client or server, not '%s'", v);
		n->vu_server = !strcmp(v, "server");
		return 0;
	}
	if (!strcmp(k, "reconnect")) {
		if (parse_uint(v, 3600, &x))
			return err_set(e, -EINVAL, "--net: reconnect must be 0..3600 seconds");
		n->vu_reconnect_s = (unsigned int)x;
		return 0;
	}
	if (!strcmp(k, "shmem")) {
		if (!strcmp(v, "shared"))
			n->shmem = VMM_NETSHM_SHARED;
		else if (!strcmp(v, "peer"))
			n->shmem = VMM_NETSHM_PEER;
		else
			return err_set(e, -EINVAL, "--net: shmem is shared or peer, not '%s'", v);
		return 0;
	}
	if (!strcmp(k, "protect")) {
		if (!strcmp(v, "none"))
			n->protect = VMM_NETSHM_PROTECT_NONE;
		else if (!strcmp(v, "vmfunc"))
			n->protect = VMM_NETSHM_PROTECT_VMFUNC;
		else
			return err_set(e, -EINVAL, "--net: protect is none or vmfunc, not '%s'", v);
		return 0;
	}
	if (!strcmp(k, "doorbell")) {
		if (strcmp(v, "on") && strcmp(v, "off"))
			return err_set(e, -EINVAL, "--net: doorbell is on or off, not '%s'", v);
		n->doorbell = !strcmp(v, "on");
		return 0;
	}
	if (!strcmp(k, "queues")) {
		if (parse_uint(v, VMM_NET_MAX_QUEUES, &x) || x == 0)
			return err_set(e, -EINVAL, "--net: queues must be 1..%d", VMM_NET_MAX_QUEUES);
		n->queues = (unsigned int)x;
		return 0;
	}
	return -ENOENT;
}

/* docs/vhost-user-shmem.md §1, §4, §5: what a NIC's shmem=/protect= may be combined with. */
static int check_netshm(const struct vmm_net_config *n, struct err *e)
{
	if (n->shmem && !n->vhost_user[0])
		return err_set(e, -EINVAL, "--net: shmem= needs vhost-user= (the fast path is "
			       "negotiated with vmm-switch), not tap= or fd=");
	if (n->protect && n->shmem != VMM_NETSHM_PEER)
		return err_set(e, -EINVAL, "--net: protect= only applies to shmem=peer");
	if (n->doorbell && !n->shmem)
		return err_set(e, -EINVAL, "--net: doorbell=on needs shmem=shared or shmem=peer "
			       "(doorbells are part of the fast path, §8)");
	if (n->shmem == VMM_NETSHM_PEER && !n->protect)
		return err_set(e, -EINVAL, "--net: peer-memory mode gives this guest full access "
			       "to its peers' RAM; say protect=none to accept that, or "
			       "protect=vmfunc (needs our KVM patch, docs/kvm-views.md)");
	if (n->shmem > VMM_NETSHM_PEER || n->protect > VMM_NETSHM_PROTECT_VMFUNC)
		return err_set(e, -EINVAL, "--net: shmem %d / protect %d out of range", n->shmem,
			       n->protect);
	return 0;
}

static unsigned int count_netshm(const struct vmm_config *c, unsigned int nr)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < nr; i++)
		k += c->net[i].shmem != VMM_NETSHM_OFF;
	return k;
}

static int add_net(struct vmm_config *c, const char *v, struct err *e)
{
	struct vmm_net_config *n;
	int r;

	if (c->nr_nets >= VMM_MAX_NETS)
		return err_set(e, -E2BIG, "--net: at most %d NICs", VMM_MAX_NETS);
	n = &c->net[c->nr_nets];
	memset(n, 0, sizeof(*n));
	r = parse_kv(c, "net", v, net_kv, e);
	if (r)
		return r;
	if (!n->tap[0] && !n->nfds && !n->vhost_user[0])
		return err_set(e, -EINVAL, "--net: give tap=NAME, fd=N or vhost-user=SOCKET");
	if (!!n->tap[0] + !!n->nfds + !!n->vhost_user[0] > 1)
		return err_set(e, -EINVAL, "--net: tap=, fd= and vhost-user= exclude each other");
	if (!n->vhost_user[0] && (n->vu_server || n->vu_reconnect_s))
		return err_set(e, -EINVAL, "--net: mode= and reconnect= need vhost-user=");
	r = check_netshm(n, e);
	if (r)
		return r;
	if (n->shmem && count_netshm(c, c->nr_nets))
		return err_set(e, -EINVAL, "--net: only one NIC per VM may have shmem= (the VM "
			       "has one netshm device)");
	if (!n->queues)
		n->queues = n->nfds ? n->nfds : 1;
	if (n->nfds && n->nfds != n->queues)
		return err_set(e, -EINVAL, "--net: %u fds for %u queues", n->nfds, n->queues);
	if (!n->mac_set)
		memcpy(n->mac, (uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 + c->nr_nets }, 6);
	c->nr_nets++;
	return 0;
}

static int set_path(char *dst, size_t cap, const char *opt, const char *v, struct err *e)
{
	if (!*v)
		return err_set(e, -EINVAL, "--%s: empty path", opt);
	if (copy_str(dst, cap, v))
		return err_set(e, -E2BIG, "--%s: path too long", opt);
	return 0;
}

static int config_set(struct vmm_config *c, const char *opt, const char *v, struct err *e)
{
	if (!v)
		return err_set(e, -EINVAL, "--%s needs a value", opt);
	if (!strcmp(opt, "kernel"))
		return set_path(c->kernel, sizeof(c->kernel), opt, v, e);
	if (!strcmp(opt, "initrd"))
		return set_path(c->initrd, sizeof(c->initrd), opt, v, e);
	if (!strcmp(opt, "cmdline")) {
		if (copy_str(c->cmdline, sizeof(c->cmdline), v))
			return err_set(e, -E2BIG, "--cmdline: longer than %d bytes", VMM_CMDLINE_MAX - 1);
		return 0;
	}
	if (!strcmp(opt, "boot")) {
		if (!strcmp(v, "auto"))
			c->boot = VMM_BOOT_AUTO;
		else if (!strcmp(v, "linux"))
			c->boot = VMM_BOOT_LINUX;
		else if (!strcmp(v, "pvh"))
			c->boot = VMM_BOOT_PVH;
		else if (!strcmp(v, "multiboot"))
			c->boot = VMM_BOOT_MULTIBOOT;
		else
			return err_set(e, -EINVAL, "--boot: auto, linux, pvh or multiboot, not '%s'", v);
		return 0;
	}
	if (!strcmp(opt, "memory")) {
		c->mem.size = 0;	/* lets a bare first word be the size */
		int r = parse_kv(c, opt, v, mem_kv, e);

		if (!r && !c->mem.size)
			return err_set(e, -EINVAL, "--memory: no size given");
		return r;
	}
	if (!strcmp(opt, "cpus"))
		return parse_kv(c, opt, v, cpus_kv, e);
	if (!strcmp(opt, "serial"))
		return parse_kv(c, opt, v, serial_kv, e);
	if (!strcmp(opt, "timeout")) {
		char *end;
		double s;

		errno = 0;
		s = strtod(v, &end);
		if (errno || end == v || *end || s < 0 || s > 86400.0 * 365)
			return err_set(e, -EINVAL, "--timeout: seconds (e.g. 30 or 0.5), not '%s'", v);
		c->timeout_ms = (unsigned int)(s * 1000.0 + 0.5);
		if (s > 0 && !c->timeout_ms)
			c->timeout_ms = 1;
		return 0;
	}
	if (!strcmp(opt, "net"))
		return add_net(c, v, e);
	if (!strcmp(opt, "irqgen"))
		return parse_bool(v, &c->irqgen) ? err_set(e, -EINVAL, "--irqgen: on or off") : 0;
	if (!strcmp(opt, "rt"))
		return parse_bool(v, &c->rt) ? err_set(e, -EINVAL, "--rt: on or off") : 0;
	if (!strcmp(opt, "acpi"))
		return parse_bool(v, &c->acpi) ? err_set(e, -EINVAL, "--acpi: on or off") : 0;
	return err_set(e, -EINVAL, "unknown option '--%s'", opt);
}

int vmm_config_set(struct vmm_config *c, const char *option, const char *value, char *err,
		   size_t errlen)
{
	struct err e = { 0 };
	int r = config_set(c, option, value, &e);

	if (r && err && errlen)
		snprintf(err, errlen, "%s", e.msg[0] ? e.msg : strerror(-r));
	return r;
}

/* Guest-physical end of RAM: below the 32-bit hole, the rest from 4 GiB (vmm/builder.c). */
static uint64_t ram_end(const struct vmm_config *c)
{
	if (c->mem.size <= LAYOUT_MMIO_HOLE)
		return c->mem.size;
	return LAYOUT_HIGH_RAM + (c->mem.size - LAYOUT_MMIO_HOLE);
}

int vmm_config_check(const struct vmm_config *c, struct err *e)
{
	uint64_t page = c->mem.hugepage_size ? c->mem.hugepage_size : KiB(4);

	if (c->size != sizeof(*c))
		return err_set(e, -EINVAL, "struct vmm_config size %u, library expects %zu: "
			       "call vmm_config_default() first", c->size, sizeof(*c));
	if (!c->kernel[0] && !c->kernel_image)
		return err_set(e, -EINVAL, "no kernel given");
	if (c->mem.size < LAYOUT_MIN_RAM)
		return err_set(e, -EINVAL, "memory size %" PRIu64 " MiB is below the minimum of %llu MiB",
			       c->mem.size >> 20, (unsigned long long)(LAYOUT_MIN_RAM >> 20));
	if (c->mem.size > MAX_RAM)
		return err_set(e, -EINVAL, "memory size above %llu GiB",
			       (unsigned long long)(MAX_RAM >> 30));
	if (c->mem.size % page)
		return err_set(e, -EINVAL, "memory size must be a multiple of the %llu KiB page size",
			       (unsigned long long)(page >> 10));
	if (c->mem.backend == VMM_MEM_HUGETLBFS && !c->mem.hugetlbfs_path[0])
		return err_set(e, -EINVAL, "hugetlbfs backend without a path");
	if (c->cpus.count < 1 || c->cpus.count > VMM_MAX_VCPUS)
		return err_set(e, -EINVAL, "vCPU count must be 1..%d", VMM_MAX_VCPUS);
	if (c->cpus.rt_prio < 0 || c->cpus.rt_prio > 99)
		return err_set(e, -EINVAL, "rt priority must be 0..99");
	for (unsigned int i = c->cpus.count; i < VMM_MAX_VCPUS; i++)
		if (c->cpus.affinity[i] >= 0)
			return err_set(e, -EINVAL, "affinity names %u or more host CPUs for %u vCPUs",
				       i + 1, c->cpus.count);
	for (unsigned int i = 0; i < c->nr_nets; i++)
		if (c->net[i].vhost_user[0] && c->mem.backend == VMM_MEM_ANON)
			return err_set(e, -EINVAL, "--net vhost-user needs guest RAM the back-end "
				       "can map, but it is private anonymous memory: use --memory "
				       "...,shared=on (memfd, optionally with hugepages=2M) or "
				       "hugetlbfs=PATH");
	for (unsigned int i = 0; i < c->nr_nets; i++) {
		int r = check_netshm(&c->net[i], e);

		if (r)
			return r;
	}
	if (count_netshm(c, c->nr_nets) > 1)
		return err_set(e, -EINVAL, "only one NIC per VM may have shmem=");
	if (count_netshm(c, c->nr_nets) && ram_end(c) > LAYOUT_NETSHM_REGION)
		return err_set(e, -EINVAL, "--net shmem= maps the region at %llu GiB, but guest RAM "
			       "ends at 0x%llx: use at most %llu GiB of memory",
			       (unsigned long long)(LAYOUT_NETSHM_REGION >> 30),
			       (unsigned long long)ram_end(c),
			       (unsigned long long)((LAYOUT_NETSHM_REGION - LAYOUT_HIGH_RAM +
						     LAYOUT_MMIO_HOLE) >> 30));
	if (c->serial.mode == VMM_SERIAL_FD && c->serial.fd < 0)
		return err_set(e, -EINVAL, "serial fd mode without an fd");
	if (c->kick_signal <= 0 || c->kick_signal >= NSIG || c->kick_signal == SIGKILL ||
	    c->kick_signal == SIGSTOP)
		return err_set(e, -EINVAL, "kick_signal %d is not usable", c->kick_signal);
	return 0;
}

int vmm_config_validate(const struct vmm_config *c, char *err, size_t errlen)
{
	struct err e = { 0 };
	int r = vmm_config_check(c, &e);

	if (r && err && errlen)
		snprintf(err, errlen, "%s", e.msg);
	return r;
}
