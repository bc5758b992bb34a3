// SPDX-License-Identifier: MIT
/*
 * The real-time recipe (--rt): turns one flag into the configuration a latency-sensitive VNF
 * wants, and says what the host does not give (isolated cores, RT throttling off, nohz_full),
 * instead of failing silently. Everything it sets can also be set by hand.
 */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmm/vm.h"

#define RT_DEFAULT_PRIO		50
#define RT_HALT_POLL_NS		200000

static void note(struct vmm *vm, bool ok, const char *fmt, ...)
{
	char *buf = vm->report.rt_notes;
	size_t used = strlen(buf);
	va_list ap;
	int n;

	if (used + 1 >= sizeof(vm->report.rt_notes))
		return;
	n = snprintf(buf + used, sizeof(vm->report.rt_notes) - used, "%s: ",
		     ok ? "ok" : "not applied");
	if (n < 0 || (size_t)n >= sizeof(vm->report.rt_notes) - used)
		return;
	used += n;
	va_start(ap, fmt);
	n = vsnprintf(buf + used, sizeof(vm->report.rt_notes) - used, fmt, ap);
	va_end(ap);
	if (n > 0 && used + n + 1 < sizeof(vm->report.rt_notes))
		strcat(buf, "\n");
}

/* Reads a one-line sysfs/procfs file; "" if absent. */
static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/* Is `cpu` inside a kernel CPU list such as "2-3,6"? */
static bool in_cpu_list(const char *list, int cpu)
{
	const char *p = list;

	while (*p) {
		int lo, hi, n;

		if (sscanf(p, "%d%n", &lo, &n) != 1)
			return false;
		p += n;
		hi = lo;
		if (*p == '-') {
			if (sscanf(p + 1, "%d%n", &hi, &n) != 1)
				return false;
			p += 1 + n;
		}
		if (cpu >= lo && cpu <= hi)
			return true;
		if (*p == ',')
			p++;
		else
			break;
	}
	return false;
}

/* Before memory and KVM: placement, priority, memory. */
void rt_prepare(struct vmm *vm)
{
	struct vmm_config *c = &vm->cfg;
	cpu_set_t allowed, used;
	int next, ncpu = 0;

	if (!c->rt)
		return;
	c->mem.prefault = true;
	c->mem.mlock = true;
	note(vm, true, "guest RAM prefaulted and locked before the first instruction");
	if (!c->cpus.rt_prio)
		c->cpus.rt_prio = RT_DEFAULT_PRIO;
	note(vm, true, "vCPU threads SCHED_FIFO priority %d", c->cpus.rt_prio);

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		CPU_ZERO(&allowed);
	ncpu = CPU_COUNT(&allowed);
	CPU_ZERO(&used);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (c->cpus.affinity[i] >= 0 && c->cpus.affinity[i] < CPU_SETSIZE)
			CPU_SET(c->cpus.affinity[i], &used);
	/* Unpinned vCPUs take the highest free CPUs; CPU 0 usually carries the host's work. */
	next = CPU_SETSIZE - 1;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (c->cpus.affinity[i] >= 0)
			continue;
		while (next >= 0 && (!CPU_ISSET(next, &allowed) || CPU_ISSET(next, &used)))
			next--;
		if (next < 0) {
			note(vm, false, "vCPU %u not pinned: more vCPUs than free host CPUs (%d)",
			     i, ncpu);
			continue;
		}
		c->cpus.affinity[i] = next;
		CPU_SET(next, &used);
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (c->cpus.affinity[i] >= 0)
			note(vm, true, "vcpu%u pinned to CPU %d", i, c->cpus.affinity[i]);

	if (c->cpus.emulator[0] < 0) {
		unsigned int n = 0;

		for (int cpu = 0; cpu < CPU_SETSIZE && n < VMM_MAX_VCPUS; cpu++)
			if (CPU_ISSET(cpu, &allowed) && !CPU_ISSET(cpu, &used))
				c->cpus.emulator[n++] = cpu;
		if (n)
			note(vm, true, "I/O and NIC threads on the %u CPU(s) the vCPUs leave free", n);
		else
			note(vm, false, "no CPU left for the I/O and NIC threads: they share the "
			     "vCPUs' cores (give the VM fewer vCPUs than host CPUs)");
	}
	if (c->cpus.halt_poll_ns < 0)
		c->cpus.halt_poll_ns = RT_HALT_POLL_NS;
}

/* After KVM is open: exits, and what the host lacks. */
void rt_host_checks(struct vmm *vm)
{
	struct vmm_config *c = &vm->cfg;
	char isolated[256], nohz[256], rt_runtime[32];
	bool all_isolated = true;

	if (!c->rt)
		return;
	if (vm->caps.disable_exits & (KVM_X86_DISABLE_EXITS_HLT | KVM_X86_DISABLE_EXITS_PAUSE)) {
		if (!c->cpus.disable_exits) {
			c->cpus.disable_exits = VMM_EXITS_PAUSE |
				(vm->caps.disable_exits & KVM_X86_DISABLE_EXITS_HLT ? VMM_EXITS_HLT : 0);
		}
		note(vm, true, "guest HLT/PAUSE handled without exits (KVM_CAP_X86_DISABLE_EXITS)");
	} else {
		note(vm, false, "KVM cannot disable HLT/PAUSE exits on this host");
	}
	if (vm->caps.halt_poll)
		note(vm, true, "halt polling %ld ns (KVM_CAP_HALT_POLL)", c->cpus.halt_poll_ns);
	else
		note(vm, false, "KVM_CAP_HALT_POLL not offered: the host's module default applies");
	if (vm->caps.tsc_deadline)
		note(vm, true, "TSC-deadline LAPIC timer and invariant TSC exposed in CPUID");
	else
		note(vm, false, "KVM has no TSC-deadline timer: the guest uses one-shot LAPIC mode");

	read_line("/sys/devices/system/cpu/isolated", isolated, sizeof(isolated));
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (c->cpus.affinity[i] < 0 || !in_cpu_list(isolated, c->cpus.affinity[i]))
			all_isolated = false;
	if (all_isolated)
		note(vm, true, "vCPU CPUs are isolated (isolcpus=%s)", isolated);
	else
		note(vm, false, "vCPU CPUs are not isolated from the host scheduler (boot the host "
		     "with isolcpus=/nohz_full= for them; isolated now: '%s')", isolated);
	read_line("/sys/devices/system/cpu/nohz_full", nohz, sizeof(nohz));
	if (!nohz[0] || !strcmp(nohz, "(null)"))
		note(vm, false, "no nohz_full CPUs: the host tick still interrupts the vCPUs");
	read_line("/proc/sys/kernel/sched_rt_runtime_us", rt_runtime, sizeof(rt_runtime));
	if (strcmp(rt_runtime, "-1"))
		note(vm, false, "RT throttling is on (sched_rt_runtime_us=%s): a busy SCHED_FIFO "
		     "vCPU is stopped for part of every second; write -1 to disable it",
		     rt_runtime[0] ? rt_runtime : "?");
	else
		note(vm, true, "RT throttling off");
}
