// SPDX-License-Identifier: MIT
/*
 * vCPU threads: creation, boot state, the run loop and crash reports. The loop decodes each
 * exit once and hands it to the PIO or MMIO bus; everything it cannot handle ends the VM with
 * a report, never a hang.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "arch/x86/kvm-patch/kvm-views-uapi.h"
#include "arch/x86/layout.h"
#include "base/log.h"
#include "base/netshm-abi.h"
#include "vmm/vm.h"

int vcpu_create(struct vmm *vm, unsigned int id, struct err *e)
{
	struct vcpu *v = &vm->vcpus[id];
	struct kvm_cpuid2 *cpuid = NULL;
	unsigned int cap;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry ents[32];
	} msrs = { 0 };
	struct kvm_lapic_state lapic;
	int r;

	*v = (struct vcpu){ .vm = vm, .id = id, .fd = -1 };
	r = kvm_ioctl_val(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (r < 0)
		return err_set(e, r, "KVM_CREATE_VCPU %u: %s", id, strerror(-r));
	v->fd = r;
	v->run_size = vm->caps.vcpu_mmap_size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return err_set(e, -errno, "mmap of vCPU %u run area: %s", id, strerror(errno));
	}

	r = kvm_supported_cpuid(vm->kvm_fd, 8, &cpuid, &cap);
	if (r)
		return err_set(e, r, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
	r = x86_cpuid_setup(cpuid, cap, id, vm->nr_vcpus);
	if (!r)
		r = kvm_ioctl(v->fd, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (r)
		return err_set(e, r, "setting CPUID of vCPU %u: %s", id, strerror(-r));

	msrs.hdr.nmsrs = x86_msr_init(msrs.ents, ARRAY_SIZE(msrs.ents));
	r = ioctl(v->fd, KVM_SET_MSRS, &msrs);
	if (r < 0 || (unsigned int)r != msrs.hdr.nmsrs)
		return err_set(e, r < 0 ? -errno : -EINVAL,
			       "KVM_SET_MSRS on vCPU %u set %d of %u MSRs", id, r, msrs.hdr.nmsrs);

	/* LINT0 = ExtINT (the PIC's output), LINT1 = NMI, as firmware leaves them. */
	r = kvm_ioctl(v->fd, KVM_GET_LAPIC, &lapic);
	if (!r) {
		uint32_t lint0 = 7 << 8, lint1 = 4 << 8;

		memcpy(&lapic.regs[0x350], &lint0, 4);
		memcpy(&lapic.regs[0x360], &lint1, 4);
		r = kvm_ioctl(v->fd, KVM_SET_LAPIC, &lapic);
	}
	if (r)
		return err_set(e, r, "LAPIC setup of vCPU %u: %s", id, strerror(-r));
	return 0;
}

/* The boot CPU's registers for the loaded kernel's entry protocol. */
int vcpu_setup_boot(struct vcpu *v, struct err *e)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int r;

	r = kvm_ioctl(v->fd, KVM_GET_SREGS, &sregs);
	if (r)
		return err_set(e, r, "KVM_GET_SREGS: %s", strerror(-r));
	memset(&regs, 0, sizeof(regs));
	r = x86_boot_cpu_state(&v->vm->gm, &v->vm->entry, &sregs, &regs);
	if (r)
		return err_set(e, r, "building the boot CPU state: %s", strerror(-r));
	r = kvm_ioctl(v->fd, KVM_SET_SREGS, &sregs);
	if (!r)
		r = kvm_ioctl(v->fd, KVM_SET_REGS, &regs);
	if (r)
		return err_set(e, r, "setting boot registers: %s", strerror(-r));
	return 0;
}

static int cpl_of(const struct kvm_sregs *s)
{
	return s->cs.selector & 3;
}

/* One paragraph a user can act on: what, where (RIP, CPL), and the instruction bytes. */
static void vcpu_crash(struct vcpu *v, const char *what)
{
	struct kvm_run *run = v->run;
	struct kvm_regs regs = { 0 };
	struct kvm_sregs sregs = { 0 };
	uint8_t insn[15];
	unsigned int n = 0;
	char bytes[64] = "", *p = bytes;

	(void)kvm_ioctl(v->fd, KVM_GET_REGS, &regs);
	(void)kvm_ioctl(v->fd, KVM_GET_SREGS, &sregs);

	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
	    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n = run->emulation_failure.insn_size;
		if (n > sizeof(insn))
			n = sizeof(insn);
		memcpy(insn, run->emulation_failure.insn_bytes, n);
	} else {
		/* Fall back to reading guest memory at the linear RIP. */
		struct kvm_translation tr = { .linear_address = sregs.cs.base + regs.rip };

		if (!kvm_ioctl(v->fd, KVM_TRANSLATE, &tr) && tr.valid &&
		    !gm_read(&v->vm->gm, tr.physical_address, insn, 8))
			n = 8;
	}
	for (unsigned int i = 0; i < n; i++)
		p += snprintf(p, bytes + sizeof(bytes) - p, "%s%02x", i ? " " : "", insn[i]);

	vmm_end(v->vm, VMM_EXIT_CRASH, (int)v->id, 0,
		"vCPU %u: %s at RIP 0x%llx (CPL %d, CS 0x%x, CR0 0x%llx, EFER 0x%llx); "
		"instruction bytes: %s", v->id, what, (unsigned long long)regs.rip,
		cpl_of(&sregs), sregs.cs.selector, (unsigned long long)sregs.cr0,
		(unsigned long long)sregs.efer, n ? bytes : "(unavailable)");
}

static void handle_internal_error(struct vcpu *v)
{
	static const char *const sub[] = {
		[KVM_INTERNAL_ERROR_EMULATION] = "emulation failure (the host KVM cannot emulate "
						  "this instruction)",
		[KVM_INTERNAL_ERROR_SIMUL_EX] = "exception while delivering an exception",
		[KVM_INTERNAL_ERROR_DELIVERY_EV] = "event delivery failed",
		[KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON] = "unexpected exit reason in KVM",
	};
	unsigned int s = v->run->internal.suberror;
	char what[256];

	snprintf(what, sizeof(what), "KVM internal error, suberror %u: %s", s,
		 s < ARRAY_SIZE(sub) && sub[s] ? sub[s] : "unknown");
	vcpu_crash(v, what);
}

/* Where a faulting GPA is, for the report: the netshm windows have a name. */
static void where_gpa(uint64_t gpa, char *buf, size_t len)
{
	uint64_t peer_end = LAYOUT_NETSHM_PEER + NETSHM_MAX_PORTS * LAYOUT_NETSHM_PEER_STRIDE;

	if (gpa >= LAYOUT_NETSHM_PEER && gpa < peer_end)
		snprintf(buf, len, " (netshm window of peer port %llu)",
			 (unsigned long long)((gpa - LAYOUT_NETSHM_PEER) / LAYOUT_NETSHM_PEER_STRIDE));
	else if (gpa >= LAYOUT_NETSHM_REGION && gpa - LAYOUT_NETSHM_REGION < LAYOUT_NETSHM_REGION_MAX)
		snprintf(buf, len, " (netshm region)");
	else
		buf[0] = 0;
}

bool vcpu_memory_fault_describe(int err, const struct kvm_run *run, char *buf, size_t len)
{
	struct kvm_compat_memory_fault mf;
	char where[64];
	const char *why;

	/* api.rst: exit_reason is stale for every other errno. */
	if ((err != EFAULT && err != EHWPOISON) || run->exit_reason != KVM_EXIT_MEMORY_FAULT)
		return false;
	memcpy(&mf, run->padding, sizeof(mf));
	where_gpa(mf.gpa, where, sizeof(where));
	if (mf.flags & KVM_MEMORY_EXIT_FLAG_EPT_VIEW)
		why = "the page is not accessible in the vCPU's current EPT view (protect=vmfunc: "
		      "a peer window touched outside a batch, docs/kvm-views.md)";
	else if (mf.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE)
		why = "private/shared mismatch";
	else if (err == EHWPOISON)
		why = "the host page is poisoned (hardware memory error)";
	else
		why = "KVM could not map the page";
	snprintf(buf, len, "memory fault (KVM_EXIT_MEMORY_FAULT) at GPA 0x%llx%s, size 0x%llx, "
		 "flags 0x%llx: %s", (unsigned long long)mf.gpa, where,
		 (unsigned long long)mf.size, (unsigned long long)mf.flags, why);
	return true;
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t size = run->io.size, count = run->io.count;
	uint64_t off = run->io.data_offset;
	uint8_t *data;

	/* KVM lays the data out inside the run page; check anyway before trusting it. */
	if (size == 0 || size > 8 || count == 0 ||
	    off > v->run_size || (uint64_t)size * count > v->run_size - off) {
		vmm_end(v->vm, VMM_EXIT_ERROR, (int)v->id, 0,
			"vCPU %u: malformed KVM_EXIT_IO (size %u count %u offset %llu)",
			v->id, size, count, (unsigned long long)off);
		return;
	}
	data = (uint8_t *)run + off;
	for (uint32_t i = 0; i < count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(&v->vm->pio, run->io.port, data, size);
		else
			bus_read(&v->vm->pio, run->io.port, data, size);
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data)) {
		vmm_end(v->vm, VMM_EXIT_ERROR, (int)v->id, 0,
			"vCPU %u: malformed KVM_EXIT_MMIO (len %u)", v->id, len);
		return;
	}
	if (run->mmio.is_write)
		bus_write(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

static void handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vmm_end(v->vm, VMM_EXIT_POWEROFF, (int)v->id, 0, "system event: shutdown");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vmm_end(v->vm, VMM_EXIT_RESET, (int)v->id, 0, "system event: reset");
		break;
	default:
		vmm_end(v->vm, VMM_EXIT_CRASH, (int)v->id, 0, "vCPU %u: system event %u",
			v->id, v->run->system_event.type);
	}
}

/* Parks the calling vCPU thread while a pause is requested. */
static void vcpu_park(struct vcpu *v)
{
	struct vmm *vm = v->vm;

	pthread_mutex_lock(&vm->lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->cond);
	while (atomic_load(&vm->pause_req) && !atomic_load(&vm->ended))
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->lock);
}

/* Single writer (this thread); readers in other threads use relaxed loads. */
#define stat_inc(field) __atomic_store_n(&(field), (field) + 1, __ATOMIC_RELAXED)

static void vcpu_account(struct vcpu *v, unsigned int reason, uint64_t ns)
{
	struct vmm_vcpu_stats *s = &v->stats;
	unsigned int b = ns ? 63 - __builtin_clzll(ns) : 0;

	stat_inc(s->exits);
	if (reason < VMM_STATS_REASONS)
		stat_inc(s->by_reason[reason]);
	stat_inc(s->hist[b < VMM_STATS_HIST ? b : VMM_STATS_HIST - 1]);
	__atomic_store_n(&s->handle_ns_total, s->handle_ns_total + ns, __ATOMIC_RELAXED);
	if (ns > s->handle_ns_max)
		__atomic_store_n(&s->handle_ns_max, ns, __ATOMIC_RELAXED);
}

static void vcpu_loop(struct vcpu *v)
{
	struct vmm *vm = v->vm;
	struct kvm_run *run = v->run;
	uint64_t t_exit = 0;
	unsigned int last_reason = 0;

	for (;;) {
		if (t_exit) {
			vcpu_account(v, last_reason, now_ns() - t_exit);
			t_exit = 0;
		}
		/* Clear before checking the flags: a kick that lands in between is not lost. */
		__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (atomic_load(&vm->ended))
			return;
		if (atomic_load(&vm->pause_req)) {
			vcpu_park(v);
			continue;
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			char what[320];

			if (errno == EINTR || errno == EAGAIN)
				continue;
			/* Not resumable: the same access would fault again. */
			if (vcpu_memory_fault_describe(errno, run, what, sizeof(what)))
				vcpu_crash(v, what);
			else
				vmm_end(vm, VMM_EXIT_ERROR, (int)v->id, 0, "vCPU %u: KVM_RUN: %s",
					v->id, strerror(errno));
			return;
		}
		t_exit = now_ns();
		last_reason = run->exit_reason;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(v);
			break;
		case KVM_EXIT_MMIO:
			handle_mmio(v);
			break;
		case KVM_EXIT_INTR:
			t_exit = 0;	/* a kick, not a guest exit */
			break;
		case KVM_EXIT_SHUTDOWN:
			vcpu_crash(v, "triple fault (KVM_EXIT_SHUTDOWN)");
			return;
		case KVM_EXIT_INTERNAL_ERROR:
			handle_internal_error(v);
			return;
		case KVM_EXIT_FAIL_ENTRY: {
			char what[96];

			snprintf(what, sizeof(what), "VM entry failed, hardware reason 0x%llx",
				 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			vcpu_crash(v, what);
			return;
		}
		case KVM_EXIT_SYSTEM_EVENT:
			handle_system_event(v);
			return;
		case KVM_EXIT_HLT:
			/* Only without an in-kernel LAPIC; we always have one. */
			vmm_end(vm, VMM_EXIT_POWEROFF, (int)v->id, 0, "vCPU %u halted", v->id);
			return;
		default: {
			char what[96];

			snprintf(what, sizeof(what), "unhandled exit %u (%s)", run->exit_reason,
				 kvm_exit_name(run->exit_reason));
			vcpu_crash(v, what);
			return;
		}
		}
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vmm *vm = v->vm;
	sigset_t set;

	atomic_store(&v->tid, (pid_t)syscall(SYS_gettid));
	/* Only the kick signal may interrupt this thread (it only makes KVM_RUN return). */
	sigfillset(&set);
	sigdelset(&set, vm->cfg.kick_signal);
	pthread_sigmask(SIG_SETMASK, &set, NULL);

	vcpu_loop(v);

	pthread_mutex_lock(&vm->lock);
	vm->running--;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

static int vcpu_thread_attrs(struct vcpu *v, pthread_attr_t *attr, struct err *e)
{
	const struct vmm_config *c = &v->vm->cfg;
	int cpu = c->cpus.affinity[v->id], r;

	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		r = pthread_attr_setaffinity_np(attr, sizeof(set), &set);
		if (r)
			return err_set(e, -r, "pinning vCPU %u to CPU %d: %s", v->id, cpu,
				       strerror(r));
	}
	if (c->cpus.rt_prio > 0) {
		struct sched_param sp = { .sched_priority = c->cpus.rt_prio };

		r = pthread_attr_setinheritsched(attr, PTHREAD_EXPLICIT_SCHED);
		if (!r)
			r = pthread_attr_setschedpolicy(attr, SCHED_FIFO);
		if (!r)
			r = pthread_attr_setschedparam(attr, &sp);
		if (r)
			return err_set(e, -r, "SCHED_FIFO %d for vCPU %u: %s", c->cpus.rt_prio,
				       v->id, strerror(r));
	}
	return 0;
}

int vcpu_start(struct vcpu *v, struct err *e)
{
	pthread_attr_t attr;
	char name[16];
	int r;

	pthread_attr_init(&attr);
	r = vcpu_thread_attrs(v, &attr, e);
	if (r)
		goto out;
	r = -pthread_create(&v->thread, &attr, vcpu_thread, v);
	if (r) {
		const char *hint = r == -EPERM ? " (SCHED_FIFO needs root or CAP_SYS_NICE)" :
			r == -EINVAL ? " (bad CPU or priority for this host)" : "";

		err_set(e, r, "starting the vCPU %u thread: %s%s", v->id, strerror(-r), hint);
		goto out;
	}
	v->started = true;
	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(v->thread, name);
out:
	pthread_attr_destroy(&attr);
	return r;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	/* immediate_exit covers a thread that is between its flag check and KVM_RUN. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, v->vm->cfg.kick_signal);
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->started) {
		pthread_join(v->thread, NULL);
		v->started = false;
	}
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
