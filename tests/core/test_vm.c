// SPDX-License-Identifier: MIT
/*
 * The library end to end on /dev/kvm, selftests style: each test builds a tiny multiboot
 * (a.out kludge) image in memory whose 32-bit ring-0 code is a handful of instructions (ring-0
 * code is emulated on our hosts: keep it short), runs it through include/vmm/vmm.h and checks
 * how it ended.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmm/vmm.h"

#define LOAD 0x100000u

struct image {
	uint8_t buf[4096];
	size_t len;
};

/* Multiboot 0.6.96 §3.1: header with the address fields (flag 16), code right after it. */
static void image_build(struct image *im, const uint8_t *code, size_t n)
{
	uint32_t hdr[8] = {
		0x1BADB002, 1u << 16, 0, LOAD, LOAD, 0, 0, LOAD + 32,
	};

	hdr[2] = -(hdr[0] + hdr[1]);
	memset(im, 0, sizeof(*im));
	memcpy(im->buf, hdr, sizeof(hdr));
	memcpy(im->buf + 32, code, n);
	im->len = 32 + n;
}

static struct vmm_config cfg_for(const struct image *im)
{
	struct vmm_config c;

	vmm_config_default(&c);
	c.kernel_image = im->buf;
	c.kernel_image_len = im->len;
	c.mem.size = 32u << 20;
	c.serial.mode = VMM_SERIAL_OFF;
	c.timeout_ms = 20000;
	return c;
}

static struct vmm_exit run_image(struct vmm_config *c)
{
	struct vmm_exit ex = { 0 };
	struct vmm *vm;
	char err[512];
	int r = vmm_create(c, &vm, err, sizeof(err));

	cr_assert_eq(r, 0, "vmm_create: %s", err);
	cr_assert_eq(vmm_start(vm), 0);
	vmm_wait(vm, &ex);
	vmm_destroy(vm);
	return ex;
}

/* mov eax, status; out 0xf4, eax; jmp . */
static const uint8_t code_exit7[] = { 0xb8, 7, 0, 0, 0, 0xe7, 0xf4, 0xeb, 0xfe };
static const uint8_t code_spin[] = { 0xeb, 0xfe };

Test(vm, guest_status_reaches_the_caller)
{
	struct image im;
	struct vmm_config c;
	struct vmm_exit ex;

	image_build(&im, code_exit7, sizeof(code_exit7));
	c = cfg_for(&im);
	ex = run_image(&c);
	cr_expect_eq(ex.reason, VMM_EXIT_GUEST, "reason %s: %s", vmm_exit_reason_name(ex.reason),
		     ex.detail);
	cr_expect_eq(ex.guest_status, 7);
	cr_expect_eq(vmm_exit_code(&ex), 7);
}

Test(vm, unclaimed_port_reads_all_ones)
{
	/* mov dx, 0x1234; in al, dx; movzx eax, al; out 0xf4, eax; jmp . */
	static const uint8_t code[] = { 0x66, 0xba, 0x34, 0x12, 0xec, 0x0f, 0xb6, 0xc0,
					0xe7, 0xf4, 0xeb, 0xfe };
	struct image im;
	struct vmm_config c;
	struct vmm_exit ex;

	image_build(&im, code, sizeof(code));
	c = cfg_for(&im);
	ex = run_image(&c);
	cr_expect_eq(ex.reason, VMM_EXIT_GUEST, "%s", ex.detail);
	cr_expect_eq(ex.guest_status, 0xff);
	cr_expect_eq(vmm_exit_code(&ex), VMM_RC_GUEST_BIG);
}

Test(vm, undefined_opcode_without_idt_is_reported_as_crash)
{
	static const uint8_t code[] = { 0x0f, 0x0b };	/* ud2 -> #UD -> #DF -> triple fault */
	struct image im;
	struct vmm_config c;
	struct vmm_exit ex;

	image_build(&im, code, sizeof(code));
	c = cfg_for(&im);
	ex = run_image(&c);
	cr_expect_eq(ex.reason, VMM_EXIT_CRASH, "reason %s", vmm_exit_reason_name(ex.reason));
	cr_expect(strstr(ex.detail, "RIP 0x"), "detail: %s", ex.detail);
	cr_expect_eq(vmm_exit_code(&ex), VMM_RC_CRASH);
}

Test(vm, spinning_guest_hits_the_timeout)
{
	struct image im;
	struct vmm_config c;
	struct vmm_exit ex;

	image_build(&im, code_spin, sizeof(code_spin));
	c = cfg_for(&im);
	c.timeout_ms = 300;
	ex = run_image(&c);
	cr_expect_eq(ex.reason, VMM_EXIT_TIMEOUT, "reason %s", vmm_exit_reason_name(ex.reason));
	cr_expect_eq(vmm_exit_code(&ex), VMM_RC_TIMEOUT);
}

Test(vm, serial_output_reaches_the_fd)
{
	/* mov dx, 0x3f8; mov al, 'o'; out dx, al; mov al, 'k'; out dx, al; exit 0 */
	static const uint8_t code[] = { 0x66, 0xba, 0xf8, 0x03, 0xb0, 'o', 0xee, 0xb0, 'k', 0xee,
					0xb8, 0, 0, 0, 0, 0xe7, 0xf4, 0xeb, 0xfe };
	struct image im;
	struct vmm_config c;
	struct vmm_exit ex;
	char buf[8] = { 0 };
	int p[2];

	cr_assert_eq(pipe(p), 0);
	image_build(&im, code, sizeof(code));
	c = cfg_for(&im);
	c.serial.mode = VMM_SERIAL_FD;
	c.serial.fd = p[1];
	ex = run_image(&c);
	cr_expect_eq(ex.reason, VMM_EXIT_GUEST, "%s", ex.detail);
	cr_expect_eq(read(p[0], buf, sizeof(buf) - 1), 2);
	cr_expect_str_eq(buf, "ok");
	close(p[0]);
	close(p[1]);
}

Test(vm, two_vms_in_one_process)
{
	static const uint8_t code3[] = { 0xb8, 3, 0, 0, 0, 0xe7, 0xf4, 0xeb, 0xfe };
	struct image a, b;
	struct vmm_config ca, cb;
	struct vmm *va, *vb;
	struct vmm_exit ea, eb;
	char err[512];

	image_build(&a, code_exit7, sizeof(code_exit7));
	image_build(&b, code3, sizeof(code3));
	ca = cfg_for(&a);
	cb = cfg_for(&b);
	cr_assert_eq(vmm_create(&ca, &va, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(vmm_create(&cb, &vb, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(vmm_start(va), 0);
	cr_assert_eq(vmm_start(vb), 0);
	vmm_wait(va, &ea);
	vmm_wait(vb, &eb);
	cr_expect_eq(ea.guest_status, 7, "%s", ea.detail);
	cr_expect_eq(eb.guest_status, 3, "%s", eb.detail);
	vmm_destroy(va);
	vmm_destroy(vb);
}

Test(vm, pause_resume_stop_a_spinning_guest)
{
	struct image im;
	struct vmm_config c;
	struct vmm *vm;
	struct vmm_exit ex;
	pid_t tids[4];
	char err[512];

	image_build(&im, code_spin, sizeof(code_spin));
	c = cfg_for(&im);
	c.cpus.count = 2;
	cr_assert_eq(vmm_create(&c, &vm, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(vmm_start(vm), 0);
	usleep(50000);
	cr_expect_eq(vmm_vcpu_tids(vm, tids, 4), 2);
	cr_expect_eq(vmm_poll(vm, &ex), -EAGAIN);
	cr_expect_eq(vmm_pause(vm), 0);
	cr_expect_eq(vmm_resume(vm), 0);
	cr_expect_eq(vmm_stop(vm), 0);
	vmm_wait(vm, &ex);
	cr_expect_eq(ex.reason, VMM_EXIT_STOPPED, "%s", ex.detail);
	vmm_destroy(vm);
}

Test(vm, event_fd_becomes_readable_at_the_end)
{
	struct image im;
	struct vmm_config c;
	struct vmm *vm;
	struct vmm_exit ex;
	char err[512];
	fd_set rd;
	struct timeval tv = { .tv_sec = 20 };

	image_build(&im, code_exit7, sizeof(code_exit7));
	c = cfg_for(&im);
	cr_assert_eq(vmm_create(&c, &vm, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(vmm_start(vm), 0);
	FD_ZERO(&rd);
	FD_SET(vmm_event_fd(vm), &rd);
	cr_expect_eq(select(vmm_event_fd(vm) + 1, &rd, NULL, NULL, &tv), 1);
	cr_expect_eq(vmm_poll(vm, &ex), 0);
	cr_expect_eq(ex.guest_status, 7);
	vmm_destroy(vm);
}

Test(vm, garbage_kernel_is_refused_with_a_message)
{
	static const uint8_t junk[64] = { 'n', 'o', 'p', 'e' };
	struct vmm_config c;
	struct vmm *vm = NULL;
	char err[512] = "";

	vmm_config_default(&c);
	c.kernel_image = junk;
	c.kernel_image_len = sizeof(junk);
	c.mem.size = 32u << 20;
	cr_expect_neq(vmm_create(&c, &vm, err, sizeof(err)), 0);
	cr_expect_null(vm);
	cr_expect(strlen(err) > 0);
}

Test(vm, missing_kernel_file_is_refused_with_its_name)
{
	struct vmm_config c;
	struct vmm *vm = NULL;
	char err[512] = "";

	vmm_config_default(&c);
	cr_assert_eq(vmm_config_set(&c, "kernel", "/nonexistent/bzImage", err, sizeof(err)), 0);
	cr_expect_eq(vmm_create(&c, &vm, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "/nonexistent/bzImage"), "%s", err);
}

Test(vm, unemulated_ring0_instruction_is_reported_with_its_bytes)
{
	/* int3 with no IDT: a triple fault on VMX/SVM hosts; on our nested PVM hosts the
	 * host's emulator gives up on it (KVM_EXIT_INTERNAL_ERROR). Either way: a crash report
	 * with RIP, never a hang. */
	static const uint8_t code[] = { 0x90, 0xcc, 0xeb, 0xfe };
	struct image im;
	struct vmm_config c;
	struct vmm_exit ex;

	image_build(&im, code, sizeof(code));
	c = cfg_for(&im);
	ex = run_image(&c);
	cr_expect_eq(ex.reason, VMM_EXIT_CRASH, "reason %s: %s", vmm_exit_reason_name(ex.reason),
		     ex.detail);
	cr_expect(strstr(ex.detail, "RIP 0x1000"), "detail: %s", ex.detail);
	if (strstr(ex.detail, "emulation failure"))
		cr_expect(strstr(ex.detail, "instruction bytes: cc"), "detail: %s", ex.detail);
}

static void expect_thread_placement(pid_t tid, int cpu, int prio)
{
	cpu_set_t set;
	struct sched_param sp;

	cr_assert_eq(sched_getaffinity(tid, sizeof(set), &set), 0);
	cr_expect_eq(CPU_COUNT(&set), 1);
	cr_expect(CPU_ISSET(cpu, &set), "thread %d not on CPU %d", (int)tid, cpu);
	cr_expect_eq(sched_getscheduler(tid), SCHED_FIFO);
	cr_assert_eq(sched_getparam(tid, &sp), 0);
	cr_expect_eq(sp.sched_priority, prio);
}

Test(vm, vcpu_threads_are_named_pinned_and_fifo)
{
	struct image im;
	struct vmm_config c;
	struct vmm *vm;
	struct vmm_exit ex;
	pid_t tids[2];
	char err[512], path[64], name[32] = "";
	FILE *f;

	/* hlt with interrupts off: the vCPUs sleep in KVM, so SCHED_FIFO starves nobody. */
	static const uint8_t code_halt[] = { 0xf4, 0xeb, 0xfd };

	image_build(&im, code_halt, sizeof(code_halt));
	c = cfg_for(&im);
	cr_assert_eq(vmm_config_set(&c, "cpus", "2,affinity=1:0,rt=5", err, sizeof(err)), 0);
	cr_assert_eq(vmm_create(&c, &vm, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(vmm_start(vm), 0);
	for (int i = 0; i < 200 && vmm_vcpu_tids(vm, tids, 2) < 2; i++)
		usleep(10000);
	cr_assert_eq(vmm_vcpu_tids(vm, tids, 2), 2);
	expect_thread_placement(tids[0], 1, 5);
	expect_thread_placement(tids[1], 0, 5);
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tids[1]);
	f = fopen(path, "r");
	cr_assert(f);
	cr_expect(fgets(name, sizeof(name), f));
	fclose(f);
	cr_expect_str_eq(name, "vcpu1\n");
	vmm_stop(vm);
	vmm_wait(vm, &ex);
	vmm_destroy(vm);
}

Test(vm, pin_to_a_cpu_the_host_lacks_is_an_error_not_a_silent_fallback)
{
	struct image im;
	struct vmm_config c;
	struct vmm *vm = NULL;
	char err[512] = "";

	image_build(&im, code_spin, sizeof(code_spin));
	c = cfg_for(&im);
	c.cpus.affinity[0] = 1000;	/* no such CPU on our 2-core machines */
	cr_expect_eq(vmm_create(&c, &vm, err, sizeof(err)), -EINVAL);
	cr_expect_null(vm);
	cr_expect(strstr(err, "CPU 1000"), "%s", err);
}

static void count_kvm_stat(void *ctx, const char *name, uint64_t value)
{
	uint64_t *exits = ctx;

	if (!strcmp(name, "exits"))
		*exits = value;
}

Test(vm, exit_statistics_count_what_the_guest_did)
{
	/* Three unclaimed port reads, then exit: at least 4 IO exits on vCPU 0. */
	static const uint8_t code[] = { 0x66, 0xba, 0x34, 0x12, 0xec, 0xec, 0xec,
					0xb8, 0, 0, 0, 0, 0xe7, 0xf4, 0xeb, 0xfe };
	struct image im;
	struct vmm_config c;
	struct vmm_vcpu_stats s;
	struct vmm *vm;
	struct vmm_exit ex;
	uint64_t kvm_exits = 0;
	char err[512];

	image_build(&im, code, sizeof(code));
	c = cfg_for(&im);
	cr_assert_eq(vmm_create(&c, &vm, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(vmm_start(vm), 0);
	vmm_wait(vm, &ex);
	cr_expect_eq(ex.guest_status, 0, "%s", ex.detail);
	cr_assert_eq(vmm_vcpu_stats(vm, 0, &s), 0);
	/* The exit that ended the VM is not accounted: the thread stopped before its next run. */
	cr_expect_geq(s.by_reason[2 /* KVM_EXIT_IO */], 3);
	cr_expect_eq(s.io_unclaimed, 3);
	uint64_t sum = 0;

	for (unsigned int i = 0; i < VMM_STATS_HIST; i++)
		sum += s.hist[i];
	cr_expect_eq(sum, s.exits);
	cr_expect_eq(vmm_vcpu_stats(vm, 1, &s), -EINVAL);
	int r = vmm_vcpu_kvm_stats(vm, 0, count_kvm_stat, &kvm_exits);

	if (r != -ENOTSUP) {
		cr_expect_eq(r, 0);
		cr_expect_geq(kvm_exits, 4);
	}
	vmm_destroy(vm);
}

/* The thread of this process whose name is `name`, or 0. */
static pid_t find_thread(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	pid_t found = 0;

	while (d && !found && (de = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
		if (!strcmp(comm, name))
			found = atoi(de->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

Test(vm, rt_recipe_applies_and_reports)
{
	static const uint8_t code_halt[] = { 0xf4, 0xeb, 0xfd };
	struct image im;
	struct vmm_config c;
	struct vmm_setup_report rep;
	struct vmm *vm;
	struct vmm_exit ex;
	pid_t tid, io;
	cpu_set_t set;
	char err[512];

	image_build(&im, code_halt, sizeof(code_halt));
	c = cfg_for(&im);
	c.rt = true;
	cr_assert_eq(vmm_create(&c, &vm, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(vmm_setup_report(vm, &rep), 0);
	cr_expect(rep.populated && rep.locked, "prefault/mlock not applied");
	cr_expect(strstr(rep.rt_notes, "SCHED_FIFO priority 50"), "%s", rep.rt_notes);
	cr_expect(strstr(rep.rt_notes, "RT throttling"), "%s", rep.rt_notes);
	cr_assert_eq(vmm_start(vm), 0);
	for (int i = 0; i < 200 && vmm_vcpu_tids(vm, &tid, 1) < 1; i++)
		usleep(10000);
	cr_assert_eq(vmm_vcpu_tids(vm, &tid, 1), 1);
	cr_expect_eq(sched_getscheduler(tid), SCHED_FIFO);
	cr_assert_eq(sched_getaffinity(tid, sizeof(set), &set), 0);
	cr_expect_eq(CPU_COUNT(&set), 1, "vCPU not pinned");
	io = find_thread("vmm-io");
	cr_assert_neq(io, 0);
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
		cpu_set_t ioset;

		cr_assert_eq(sched_getaffinity(io, sizeof(ioset), &ioset), 0);
		CPU_AND(&ioset, &ioset, &set);
		cr_expect_eq(CPU_COUNT(&ioset), 0, "the I/O thread shares the vCPU's CPU");
	}
	vmm_stop(vm);
	vmm_wait(vm, &ex);
	vmm_destroy(vm);
}
