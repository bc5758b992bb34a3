// SPDX-License-Identifier: MIT
/*
 * How an orchestrator embeds libvmm: start a guest, watch its end on an event fd alongside its
 * own fds (here: a one-second tick that prints the vCPU thread ids), pause and resume it, and
 * collect the exit status. Build: cc embed-example.c -lvmm -lpthread
 * Usage: embed-example KERNEL [vmm options as key=value, e.g. memory=size=64M cpus=2]
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <vmm/vmm.h>

int main(int argc, char **argv)
{
	struct vmm_config cfg;
	struct vmm_exit ex;
	struct vmm *vm;
	char err[512];
	pid_t tids[VMM_MAX_VCPUS];

	if (argc < 2) {
		fprintf(stderr, "usage: %s KERNEL [option=value ...]\n", argv[0]);
		return 2;
	}
	vmm_config_default(&cfg);
	if (vmm_config_set(&cfg, "kernel", argv[1], err, sizeof(err)))
		goto bad;
	for (int i = 2; i < argc; i++) {
		char opt[64], *eq = strchr(argv[i], '=');

		if (!eq || (size_t)(eq - argv[i]) >= sizeof(opt)) {
			snprintf(err, sizeof(err), "expected option=value, got '%s'", argv[i]);
			goto bad;
		}
		memcpy(opt, argv[i], eq - argv[i]);
		opt[eq - argv[i]] = 0;
		if (vmm_config_set(&cfg, opt, eq + 1, err, sizeof(err)))
			goto bad;
	}
	if (vmm_create(&cfg, &vm, err, sizeof(err)))
		goto bad;
	if (vmm_start(vm)) {
		vmm_wait(vm, &ex);
		fprintf(stderr, "start failed: %s\n", ex.detail);
		vmm_destroy(vm);
		return 1;
	}

	int n = vmm_vcpu_tids(vm, tids, VMM_MAX_VCPUS);

	for (int i = 0; i < n; i++)
		fprintf(stderr, "embed: vcpu%d is thread %d\n", i, (int)tids[i]);
	if (vmm_pause(vm) == 0) {
		fprintf(stderr, "embed: paused all vCPUs, resuming\n");
		vmm_resume(vm);
	}

	/* The orchestrator's own event loop: the VM's end is just another readable fd. */
	struct pollfd pfd = { .fd = vmm_event_fd(vm), .events = POLLIN };

	while (poll(&pfd, 1, 1000) == 0)
		fprintf(stderr, "embed: guest still running\n");
	vmm_wait(vm, &ex);
	fprintf(stderr, "embed: guest ended: %s (%s), exit code %d\n",
		vmm_exit_reason_name(ex.reason), ex.detail, vmm_exit_code(&ex));
	vmm_destroy(vm);
	return vmm_exit_code(&ex);
bad:
	fprintf(stderr, "embed: %s\n", err);
	return 2;
}
