/* SPDX-License-Identifier: MIT */
#ifndef VMM_VMM_H
#define VMM_VMM_H

/*
 * libvmm: run x86 guests on /dev/kvm from your own process.
 *
 *	struct vmm_config cfg;
 *	struct vmm *vm;
 *	struct vmm_exit ex;
 *	char err[512];
 *
 *	vmm_config_default(&cfg);
 *	if (vmm_config_set(&cfg, "kernel", "/path/guest.elf", err, sizeof(err)) ||
 *	    vmm_config_set(&cfg, "memory", "size=256M,hugepages=2M", err, sizeof(err)))
 *		... bad option, err says which ...
 *	if (vmm_create(&cfg, &vm, err, sizeof(err)))	... err says why ...
 *	vmm_start(vm);
 *	vmm_wait(vm, &ex);				(or poll vmm_event_fd())
 *	vmm_destroy(vm);
 *
 * Contract:
 * - Errors are values: 0 or -errno, plus one sentence in the caller's buffer. The library
 *   never calls exit() or abort() and never prints errors itself (log lines go to the sink
 *   set with vmm_set_log_sink(), stderr by default).
 * - Several VMs may live in one process; all state hangs off struct vmm.
 * - Signals: the only handler the library installs is a no-op handler for cfg.kick_signal
 *   (SIGUSR2 unless you change it), used to interrupt KVM_RUN for pause/stop/timeout. Set it to
 *   a signal your program does not use. Threads the library creates block every other signal.
 * - Threads: one per vCPU, named "vcpuN", plus one I/O thread "vmm-io". vmm_* functions may
 *   be called from any thread except the library's own (e.g. not from the log sink).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMM_MAX_VCPUS		64
#define VMM_PATH_MAX		4096
#define VMM_CMDLINE_MAX		4096
#define VMM_MAX_NETS		4
#define VMM_NET_MAX_QUEUES	8

enum vmm_boot {
	VMM_BOOT_AUTO = 0,	/* detect: bzImage, vmlinux ELF, multiboot ELF, PVH ELF */
	VMM_BOOT_LINUX,		/* Linux 64-bit boot protocol (bzImage or vmlinux) */
	VMM_BOOT_PVH,
	VMM_BOOT_MULTIBOOT,
};

enum vmm_mem_backend {
	VMM_MEM_ANON = 0,	/* private anonymous memory (cannot be shared with a backend) */
	VMM_MEM_MEMFD,		/* memfd: shareable (vhost-user needs this or hugepages) */
	VMM_MEM_HUGETLBFS,	/* a file in a hugetlbfs mount (path) */
};

enum vmm_serial {
	VMM_SERIAL_STDIO = 0,	/* output to stdout, input from stdin (if it is readable) */
	VMM_SERIAL_FILE,	/* output appended to path; no input */
	VMM_SERIAL_FD,		/* output to fd (not closed by the library); no input */
	VMM_SERIAL_OFF,
};

struct vmm_config {
	uint32_t size;			/* sizeof(struct vmm_config): set by vmm_config_default */

	char kernel[VMM_PATH_MAX];	/* empty: use kernel_image below */
	const void *kernel_image;	/* in-memory image (e.g. the bundled default guest) */
	size_t kernel_image_len;
	char initrd[VMM_PATH_MAX];
	char cmdline[VMM_CMDLINE_MAX];
	enum vmm_boot boot;
	bool acpi;			/* build ACPI tables (and the MP table); default on */

	struct {
		uint64_t size;			/* bytes; default 256 MiB */
		enum vmm_mem_backend backend;
		uint64_t hugepage_size;		/* 0, 2 MiB or 1 GiB */
		char hugetlbfs_path[VMM_PATH_MAX];
		bool prefault;			/* populate all of RAM before the first instruction */
		unsigned int prefault_threads;	/* 0 = one per online CPU (max 8) */
		bool mlock;
		bool thp;			/* madvise(MADV_HUGEPAGE) for base-page memory */
	} mem;

	struct {
		unsigned int count;		/* default 1 */
		int affinity[VMM_MAX_VCPUS];	/* host CPU per vCPU, -1 = not pinned */
		int rt_prio;			/* SCHED_FIFO priority for vCPU threads, 0 = off */
		unsigned int disable_exits;	/* VMM_EXITS_* bits, passed to KVM if it offers them */
		int emulator[VMM_MAX_VCPUS];	/* host CPUs for the VMM's other threads (I/O, NIC
						   workers); -1 ends the list; empty = not pinned */
		long halt_poll_ns;		/* KVM_CAP_HALT_POLL; -1 = KVM's default */
	} cpus;
	/* The real-time recipe (docs/latency.md): prefault + mlock, SCHED_FIFO vCPUs pinned to
	 * the highest CPUs, the other threads on the rest, HLT/PAUSE exits off where KVM allows,
	 * halt polling; vmm_create() records what it applied and what the host lacks in the setup
	 * report's rt_notes. */
	bool rt;
	/* The host-side interrupt generator of the device-interrupt latency test (port 0x520,
	 * base/guest-abi.h): raises MSIs (or IRQ 5) at a period the guest sets, stamping the host
	 * TSC into guest memory first. Off by default. */
	bool irqgen;

	struct {
		enum vmm_serial mode;
		char path[VMM_PATH_MAX];
		int fd;
	} serial;

	struct vmm_net_config {
		char tap[16];			/* TAP interface name (created if absent) */
		int fds[VMM_NET_MAX_QUEUES];	/* or TAP fds opened by the caller, one per queue */
		unsigned int nfds;
		unsigned int queues;		/* queue pairs, default 1 */
		uint8_t mac[6];			/* default: 52:54:00:12:34:(56 + index) */
		bool mac_set;
		bool pci;			/* virtio-pci (MSI-X) instead of virtio-mmio */
		/* vhost-user: the data path is an external back-end on this AF_UNIX socket
		 * (instead of tap/fds); guest RAM must be shareable (memfd or hugetlbfs). */
		char vhost_user[108];
		bool vu_server;			/* listen on the socket (else connect to it) */
		unsigned int vu_reconnect_s;	/* client: seconds to retry the first connect */
		/* vhost-user-shmem (docs/vhost-user-shmem.md): the VM-to-VM fast path through
		 * vmm-switch's shared region; at most one NIC per VM. */
		enum vmm_netshm {
			VMM_NETSHM_OFF = 0,
			VMM_NETSHM_SHARED,	/* shmem=shared: the region only */
			VMM_NETSHM_PEER,	/* shmem=peer: + the peers' RAM (needs protect=) */
		} shmem;
		enum vmm_netshm_protect {
			VMM_NETSHM_PROTECT_UNSET = 0,
			VMM_NETSHM_PROTECT_NONE,	/* the guest may touch its peers' RAM */
			VMM_NETSHM_PROTECT_VMFUNC,	/* EPT view 1 only (docs/kvm-views.md) */
		} protect;
		/* doorbell=on (§8): peers may interrupt this guest (ioeventfd -> irqfd on
		 * IOAPIC pin LAYOUT_NETSHM_GSI + NIC index); needs shmem=. */
		bool doorbell;
	} net[VMM_MAX_NETS];
	unsigned int nr_nets;

	unsigned int timeout_ms;		/* 0 = none; ends the VM with VMM_EXIT_TIMEOUT */
	int kick_signal;			/* see the contract above */
	bool verbose;				/* log unclaimed I/O and boot steps */
};

#define VMM_EXITS_HLT		(1u << 0)
#define VMM_EXITS_PAUSE		(1u << 1)
#define VMM_EXITS_MWAIT		(1u << 2)

/* Fills defaults (1 vCPU, 256 MiB anonymous RAM, serial on stdio, ACPI on, SIGUSR2). */
void vmm_config_default(struct vmm_config *c);

/*
 * Sets one option with the CLI's syntax, e.g. ("memory", "size=1G,hugepages=2M,prefault=on"),
 * ("cpus", "2,affinity=0:1,rt=50"), ("kernel", PATH), ("serial", "file=/tmp/log"),
 * ("timeout", "30"), ("net", "tap=tap0,mac=52:54:00:00:00:01,queues=2") (repeatable: each call
 * adds a NIC). Unknown options and sub-options are refused by name. -EINVAL + message.
 * See README.md for the full list.
 */
int vmm_config_set(struct vmm_config *c, const char *option, const char *value, char *err,
		   size_t errlen);

/* The checks vmm_create() starts with, alone: -EINVAL + message for a config that cannot work. */
int vmm_config_validate(const struct vmm_config *c, char *err, size_t errlen);

struct vmm;

/* Checks the config, opens KVM, allocates and prefaults memory, loads the kernel, creates the
 * vCPUs. Nothing runs until vmm_start(). */
int vmm_create(const struct vmm_config *c, struct vmm **out, char *err, size_t errlen);
int vmm_start(struct vmm *vm);

enum vmm_exit_reason {
	VMM_EXIT_NONE = 0,	/* still running */
	VMM_EXIT_GUEST,		/* the guest wrote its status to the exit port */
	VMM_EXIT_POWEROFF,	/* ACPI S5 */
	VMM_EXIT_RESET,		/* i8042 / CF9 / triple-fault-free reset request */
	VMM_EXIT_STOPPED,	/* vmm_stop() */
	VMM_EXIT_TIMEOUT,
	VMM_EXIT_CRASH,		/* triple fault, emulation failure, unhandled exit (see detail) */
	VMM_EXIT_ERROR,		/* the VMM failed (KVM error, thread creation...) */
};

struct vmm_exit {
	enum vmm_exit_reason reason;
	uint32_t guest_status;		/* VMM_EXIT_GUEST */
	int vcpu;			/* the vCPU that ended it, -1 if none */
	char detail[1024];		/* one or more lines, for CRASH and ERROR */
};

/* Readable when the VM has ended (eventfd; do not read from it, use vmm_wait). */
int vmm_event_fd(const struct vmm *vm);
/* Blocks until the VM ends. May be called again: returns the same exit. */
int vmm_wait(struct vmm *vm, struct vmm_exit *ex);
/* Non-blocking: -EAGAIN while running. */
int vmm_poll(struct vmm *vm, struct vmm_exit *ex);
/* Stops all vCPUs outside KVM_RUN / lets them go on. Return once every vCPU is parked. */
int vmm_pause(struct vmm *vm);
int vmm_resume(struct vmm *vm);
/* Ends the VM (VMM_EXIT_STOPPED unless it had already ended). Returns without waiting. */
int vmm_stop(struct vmm *vm);
/* Stops the VM if it runs, joins every thread and frees everything. NULL is fine. */
void vmm_destroy(struct vmm *vm);

/* Thread ids of the vCPU threads (after vmm_start). Returns the count written. */
int vmm_vcpu_tids(const struct vmm *vm, pid_t *tids, unsigned int max);

/* What setup did and how long each step took (prefault, mlock, kernel load, ...). */
struct vmm_setup_report {
	uint64_t create_ns;		/* whole vmm_create */
	uint64_t mem_alloc_ns;
	bool populated;			/* host page tables populated */
	uint64_t populate_ns;
	unsigned int populate_threads;
	bool locked;
	uint64_t mlock_ns;
	bool kvm_prefaulted;		/* KVM_PRE_FAULT_MEMORY ran (second-level tables) */
	uint64_t kvm_prefault_ns;
	char kvm_prefault_note[128];	/* why not, if not */
	uint64_t load_ns;
	const char *boot_protocol;
	char rt_notes[1024];		/* --rt: one line per item, "ok: ..." or "not applied: ..." */
};
int vmm_setup_report(const struct vmm *vm, struct vmm_setup_report *r);

/*
 * The netshm device of the VM (a NIC with shmem=): what the VMM has mapped right now.
 * -ENODEV if the VM has no such NIC.
 */
struct vmm_netshm_info {
	enum vmm_netshm mode;
	bool region_mapped;		/* the switch's region is mapped at 64 GiB */
	bool ctrl_ro;			/* its control part is read-only to the guest */
	bool views;			/* protect=vmfunc: peer windows in EPT view 1 only */
	uint32_t port, nports;
	uint32_t peers_mapped;		/* bit p: port p's RAM is mapped in its window */
	uint64_t attaches, detaches, peer_maps, peer_unmaps, map_failures;
	uint64_t ctrl_writes_dropped;	/* guest stores into the read-only part / gone windows */
	uint64_t bad_reg_accesses;	/* BAR0 accesses that were not aligned 32-bit reads */
	/* doorbells (docs/vhost-user-shmem.md §8) */
	bool doorbell;			/* doorbell=on: our eventfd is an irqfd on GSI irq */
	uint32_t irq;
	uint32_t doorbell_peers;	/* bit q: port q's doorbell is an ioeventfd here now */
	bool doorbell_msi;		/* the guest enabled the device's MSI: irq is routed to it */
	uint64_t doorbell_maps, doorbell_unmaps, doorbell_failures;
	uint64_t doorbell_slow;		/* DOORBELL(q) writes that reached the VMM (dropped) */
};
int vmm_netshm_info(const struct vmm *vm, struct vmm_netshm_info *out);

/*
 * Per-vCPU exit statistics, kept by the vCPU thread (cheap: two vDSO clock reads per exit).
 * by_reason is indexed by KVM_EXIT_* (< VMM_STATS_REASONS); hist[i] counts exits whose
 * handling in the VMM (from KVM_RUN's return to the next KVM_RUN) took [2^i, 2^(i+1)) ns.
 */
#define VMM_STATS_REASONS	40
#define VMM_STATS_HIST		32
struct vmm_vcpu_stats {
	uint64_t exits;
	uint64_t by_reason[VMM_STATS_REASONS];
	uint64_t hist[VMM_STATS_HIST];
	uint64_t handle_ns_total, handle_ns_max;
	uint64_t io_unclaimed;		/* PIO+MMIO accesses no device claimed (whole VM) */
};
int vmm_vcpu_stats(const struct vmm *vm, unsigned int vcpu, struct vmm_vcpu_stats *out);
const char *vmm_kvm_exit_name(unsigned int reason);
/* KVM's own statistics for a vCPU (KVM_GET_STATS_FD), one callback per counter. Valid until
 * vmm_destroy(). */
int vmm_vcpu_kvm_stats(const struct vmm *vm, unsigned int vcpu,
		       void (*fn)(void *ctx, const char *name, uint64_t value), void *ctx);

/* Bytes the guest wrote to the exit port etc. map to the CLI's exit codes (README). */
#define VMM_RC_GUEST_MAX	119	/* guest status 0..119 is the exit code itself */
#define VMM_RC_GUEST_BIG	120	/* guest status >= 120 */
#define VMM_RC_USAGE		121
#define VMM_RC_ERROR		122
#define VMM_RC_CRASH		123
#define VMM_RC_TIMEOUT		124
int vmm_exit_code(const struct vmm_exit *ex);
const char *vmm_exit_reason_name(enum vmm_exit_reason r);

typedef void (*vmm_log_fn)(void *ctx, int level, const char *line);	/* 0 err .. 3 debug */
void vmm_set_log_sink(vmm_log_fn fn, void *ctx);
void vmm_set_log_level(int level);
const char *vmm_version(void);

#ifdef __cplusplus
}
#endif
#endif
