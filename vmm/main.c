// SPDX-License-Identifier: MIT
/* The vmm command: argv -> vmm_config_set() -> libvmm -> exit status. The only exit(). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm.h"

/* The bundled default guest (guest-tests/x86/hello.c), linked in by vmm/default-guest.S. */
extern const unsigned char vmm_default_guest[];
extern const unsigned char vmm_default_guest_end[];

static void usage(FILE *f)
{
	fprintf(f,
"usage: vmm run [options]      boot a guest (the bundled test guest if --kernel is absent)\n"
"       vmm --version | --help\n"
"\n"
"options:\n"
"  --kernel PATH          bzImage, vmlinux (ELF, 64-bit entry or PVH) or multiboot ELF\n"
"  --initrd PATH          initrd (Linux) / first module (PVH)\n"
"  --cmdline STRING       kernel command line\n"
"  --boot auto|linux|pvh|multiboot   entry protocol (default: detected from the image)\n"
"  --memory size=SIZE[,hugepages=2M|1G|off][,hugetlbfs=DIR][,shared=on]\n"
"           [,prefault=on][,prefault-threads=N][,mlock=on][,thp=on]\n"
"                         guest RAM (default 256M, anonymous; shared=on uses a memfd)\n"
"  --cpus N[,affinity=CPU:CPU...|A-B][,rt=PRIO][,disable-exits=hlt+pause+mwait]\n"
"         [,emulator=CPULIST][,halt-poll=NS]\n"
"                         vCPUs (threads vcpu0..N-1), pinning, SCHED_FIFO priority,\n"
"                         CPUs for the VMM's other threads, KVM halt polling\n"
"  --rt                   real-time recipe: prefault+mlock, pinned SCHED_FIFO vCPUs, other\n"
"                         threads off their CPUs, no HLT/PAUSE exits, halt polling; prints\n"
"                         what it applied and what the host lacks\n"
"  --net tap=NAME|fd=N[:N...][,mac=MAC][,queues=N][,transport=mmio|pci]\n"
"                         virtio-net NIC on a TAP; repeatable\n"
"  --net vhost-user=SOCKET[,mode=client|server][,reconnect=SECONDS][,queues=N]\n"
"         [,mac=MAC][,transport=mmio|pci]\n"
"                         virtio-net NIC served by a vhost-user back-end (DPDK, OVS,\n"
"                         vmm-switch); needs --memory ...,shared=on or hugetlbfs=PATH\n"
"  --serial stdio|off|file=PATH|fd=N   COM1 console (default stdio)\n"
"  --timeout SECONDS      end the guest after this long (exit code 124)\n"
"  --acpi on|off          ACPI and MP tables (default on)\n"
"  --irqgen on|off        host interrupt generator for the device-interrupt latency test\n"
"  --report               print setup timings (prefault, load) to stderr\n"
"  --stats                print per-vCPU exit statistics and KVM's counters at the end\n"
"  -v, --verbose          log boot steps and unclaimed I/O\n"
"\n"
"exit status: the guest's own status (0..119) when it writes it to port 0xf4;\n"
"  0 on ACPI poweroff or reset; 120 guest status >= 120; 121 bad usage;\n"
"  122 VMM error; 123 guest crash (triple fault, emulation failure); 124 timeout\n");
}

static void print_report(const struct vmm_setup_report *r)
{
	fprintf(stderr, "vmm: setup %.3f ms: memory %.3f ms; populate %s", r->create_ns / 1e6,
		r->mem_alloc_ns / 1e6, r->populated ? "" : "off");
	if (r->populated)
		fprintf(stderr, "%.3f ms", r->populate_ns / 1e6);
	fprintf(stderr, "; mlock %s", r->locked ? "" : "off");
	if (r->locked)
		fprintf(stderr, "%.3f ms", r->mlock_ns / 1e6);
	if (r->kvm_prefaulted)
		fprintf(stderr, "; KVM pre-fault %.3f ms", r->kvm_prefault_ns / 1e6);
	else
		fprintf(stderr, "; KVM pre-fault not run (%s)", r->kvm_prefault_note);
	fprintf(stderr, "; load %.3f ms (%s)\n", r->load_ns / 1e6,
		r->boot_protocol ? r->boot_protocol : "?");
}

static void print_kvm_stat(void *ctx, const char *name, uint64_t value)
{
	int *col = ctx;

	if (!value)
		return;
	*col += fprintf(stderr, " %s=%llu", name, (unsigned long long)value);
	if (*col > 90) {
		fprintf(stderr, "\n      ");
		*col = 6;
	}
}

/* The netshm device (docs/vhost-user-shmem.md): what is mapped into the guest now. */
static void print_netshm(struct vmm *vm)
{
	struct vmm_netshm_info n;

	if (vmm_netshm_info(vm, &n))
		return;
	fprintf(stderr, "netshm: %s mode%s; region %s", n.mode == VMM_NETSHM_PEER ? "peer" : "shared",
		n.views ? " (EPT views)" : "", n.region_mapped ? "mapped" : "not mapped");
	if (n.region_mapped)
		fprintf(stderr, " (port %u of %u, control part %s)", n.port, n.nports,
			n.ctrl_ro ? "read-only" : "writable: no KVM_CAP_READONLY_MEM");
	fprintf(stderr, "; peers mapped 0x%x; attaches %llu, detaches %llu, peer maps %llu, "
		"unmaps %llu, failures %llu; dropped guest stores %llu, bad register accesses %llu\n",
		n.peers_mapped, (unsigned long long)n.attaches, (unsigned long long)n.detaches,
		(unsigned long long)n.peer_maps, (unsigned long long)n.peer_unmaps,
		(unsigned long long)n.map_failures, (unsigned long long)n.ctrl_writes_dropped,
		(unsigned long long)n.bad_reg_accesses);
	if (n.doorbell)
		fprintf(stderr, "netshm: doorbell on GSI %u (%s); peers' doorbells wired 0x%x; maps "
			"%llu, unmaps %llu, failures %llu; unwired doorbell writes %llu\n", n.irq,
			n.doorbell_msi ? "MSI" : "IOAPIC pin", n.doorbell_peers, (unsigned long long)n.doorbell_maps,
			(unsigned long long)n.doorbell_unmaps,
			(unsigned long long)n.doorbell_failures,
			(unsigned long long)n.doorbell_slow);
}

/* --stats: per-vCPU exit counts by reason, handling-time histogram, KVM's own counters. */
static void print_stats(struct vmm *vm, unsigned int nr)
{
	for (unsigned int i = 0; i < nr; i++) {
		struct vmm_vcpu_stats s;
		int col = 6;

		if (vmm_vcpu_stats(vm, i, &s))
			continue;
		fprintf(stderr, "vcpu%u: %llu exits to the VMM, handling avg %.2f us, max %.2f us\n", i,
			(unsigned long long)s.exits,
			s.exits ? s.handle_ns_total / 1e3 / s.exits : 0.0, s.handle_ns_max / 1e3);
		fprintf(stderr, "  by reason:");
		for (unsigned int r = 0; r < VMM_STATS_REASONS; r++)
			if (s.by_reason[r])
				fprintf(stderr, " %s=%llu", vmm_kvm_exit_name(r),
					(unsigned long long)s.by_reason[r]);
		fprintf(stderr, "\n  handling time (ns, log2 buckets):");
		for (unsigned int b = 0; b < VMM_STATS_HIST; b++)
			if (s.hist[b])
				fprintf(stderr, " [%llu,%llu)=%llu", 1ull << b, 2ull << b,
					(unsigned long long)s.hist[b]);
		fprintf(stderr, "\n  kvm:");
		if (vmm_vcpu_kvm_stats(vm, i, print_kvm_stat, &col))
			fprintf(stderr, " (no binary stats)");
		fprintf(stderr, "\n");
		if (i == nr - 1)
			fprintf(stderr, "unclaimed I/O accesses: %llu\n",
				(unsigned long long)s.io_unclaimed);
	}
	print_netshm(vm);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 0 },
		{ "initrd", required_argument, NULL, 0 },
		{ "cmdline", required_argument, NULL, 0 },
		{ "boot", required_argument, NULL, 0 },
		{ "memory", required_argument, NULL, 0 },
		{ "cpus", required_argument, NULL, 0 },
		{ "serial", required_argument, NULL, 0 },
		{ "timeout", required_argument, NULL, 0 },
		{ "acpi", required_argument, NULL, 0 },
		{ "net", required_argument, NULL, 0 },
		{ "irqgen", required_argument, NULL, 0 },
		{ "report", no_argument, NULL, 'r' },
		{ "stats", no_argument, NULL, 's' },
		{ "rt", no_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct vmm_config cfg;
	struct vmm_exit ex;
	struct vmm *vm;
	char err[1024];
	bool report = false, stats = false;
	int c, idx, r;

	if (argc > 1 && !strcmp(argv[1], "--version")) {
		printf("vmm %s\n", vmm_version());
		return 0;
	}
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "run")) {
		fprintf(stderr, "vmm: %s\n", argc < 2 ? "missing command" : "unknown command");
		usage(stderr);
		return VMM_RC_USAGE;
	}
	argc--;
	argv++;

	vmm_config_default(&cfg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", opts, &idx)) != -1) {
		switch (c) {
		case 0:
			if (vmm_config_set(&cfg, opts[idx].name, optarg, err, sizeof(err))) {
				fprintf(stderr, "vmm: %s\n", err);
				return VMM_RC_USAGE;
			}
			break;
		case 'r':
			report = true;
			break;
		case 's':
			stats = true;
			break;
		case 'R':
			cfg.rt = true;
			break;
		case 'v':
			cfg.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "vmm: option '%s' needs a value\n", argv[optind - 1]);
			return VMM_RC_USAGE;
		default:
			fprintf(stderr, "vmm: unknown option '%s'\n", argv[optind - 1]);
			return VMM_RC_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmm: unexpected argument '%s'\n", argv[optind]);
		return VMM_RC_USAGE;
	}
	if (!cfg.kernel[0]) {
		cfg.kernel_image = vmm_default_guest;
		cfg.kernel_image_len = vmm_default_guest_end - vmm_default_guest;
	}

	if (vmm_config_validate(&cfg, err, sizeof(err))) {
		fprintf(stderr, "vmm: %s\n", err);
		return VMM_RC_USAGE;
	}
	r = vmm_create(&cfg, &vm, err, sizeof(err));
	if (r) {
		fprintf(stderr, "vmm: %s\n", err);
		return VMM_RC_ERROR;
	}
	if (report || cfg.rt) {
		struct vmm_setup_report rep;

		vmm_setup_report(vm, &rep);
		if (report) {
			print_report(&rep);
			print_netshm(vm);
		}
		if (cfg.rt)	/* what the recipe did and what this host lacks */
			fprintf(stderr, "vmm: --rt:\n%s", rep.rt_notes);
	}
	vmm_start(vm);		/* a failure ends the VM with VMM_EXIT_ERROR */
	vmm_wait(vm, &ex);
	if (stats)
		print_stats(vm, cfg.cpus.count);
	vmm_destroy(vm);

	if (ex.reason == VMM_EXIT_CRASH || ex.reason == VMM_EXIT_ERROR ||
	    ex.reason == VMM_EXIT_TIMEOUT)
		fprintf(stderr, "vmm: %s: %s\n", vmm_exit_reason_name(ex.reason), ex.detail);
	else if (cfg.verbose)
		fprintf(stderr, "vmm: %s: %s\n", vmm_exit_reason_name(ex.reason), ex.detail);
	if (ex.reason == VMM_EXIT_GUEST && ex.guest_status > VMM_RC_GUEST_MAX)
		fprintf(stderr, "vmm: guest status %u\n", ex.guest_status);
	return vmm_exit_code(&ex);
}
