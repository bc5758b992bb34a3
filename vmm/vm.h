/* SPDX-License-Identifier: MIT */
#ifndef VMM_VM_H
#define VMM_VM_H

/* Internal: the state behind the opaque struct vmm. Only vmm/ includes this. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "arch/x86/boot.h"
#include "base/err.h"
#include "devices/acpi-pm.h"
#include "devices/bus.h"
#include "devices/debug-exit.h"
#include "devices/irqgen.h"
#include "devices/pci.h"
#include "devices/reset.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "devices/tap.h"
#include "mm/backing.h"
#include "mm/gmem.h"
#include "vmm/gsi.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio/pci.h"
#include "virtio/vhost-user/frontend.h"
#include "vmm/kvm.h"
#include "vmm/vmm.h"

struct vmm;

struct vcpu {
	struct vmm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	_Atomic pid_t tid;
	struct vmm_vcpu_stats stats;	/* written by the vCPU thread only */
};

struct vmm_nic {
	struct vmm *vm;
	bool pci;			/* transport: virtio-pci, else virtio-mmio */
	uint64_t base;			/* virtio-mmio slot / current BAR 0 address */
	unsigned int gsi;		/* virtio-mmio interrupt pin */
	struct virtio_mmio mmio;
	bool mmio_ready;
	struct virtio_pci vpci;
	bool vpci_ready;
	unsigned int slot;		/* PCI device number */
	struct virtio_net *net;
	struct tap *tap;
	struct vu_front *vu;		/* vhost-user NIC (then net and tap are NULL) */
	struct netshm_vm *netshm;	/* its shmem= windows and device (vmm/netshm.h), or NULL */
	unsigned int nvq;
	int notify_fd[VIRTIO_MAX_QUEUES];	/* ioeventfds on QueueNotify, polled by the TAP worker */
};

struct vmm {
	struct vmm_config cfg;
	struct kvm_caps caps;
	int kvm_fd, vm_fd;

	struct mem_block ram;
	struct gmem gm;
	struct bus pio, mmio;

	struct gsi_routes gsi;		/* valid once the irqchip exists (gsi.ready) */
	struct pci_host pci;
	bool pci_ready;
	struct irqgen irqgen;
	bool irqgen_ready;

	struct uart uart;
	struct debug_exit dbg;
	struct i8042 i8042;
	struct cf9 cf9;
	struct acpi_pm pm;
	struct rtc rtc;
	int serial_fd;			/* output fd, -1 if off */
	bool serial_fd_owned;
	bool serial_input;
	bool devices_ready;

	struct vmm_nic nics[VMM_MAX_NETS];
	unsigned int nr_nics;		/* attached (for teardown) */

	struct boot_entry entry;
	unsigned int nr_vcpus;
	struct vcpu vcpus[VMM_MAX_VCPUS];

	pthread_t io_thread;
	bool io_started;
	int wake_fd;			/* eventfd: wakes the I/O thread */
	int done_fd;			/* eventfd: readable once the VM has ended */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	_Atomic bool ended;
	_Atomic bool pause_req;
	unsigned int parked;		/* vCPU threads parked for a pause (under lock) */
	unsigned int running;		/* vCPU threads alive (under lock) */
	bool started;
	struct vmm_exit exit;		/* valid once ended */
	uint64_t deadline_ns;		/* 0 = no timeout */

	struct vmm_setup_report report;
};

/* Ends the VM once (the first reason wins), wakes every thread. Thread-safe. */
void vmm_end(struct vmm *vm, enum vmm_exit_reason r, int vcpu, uint32_t status,
	     const char *fmt, ...) __printf(5, 6);
void vmm_kick_all(struct vmm *vm);

/* vmm/vcpu.c */
int vcpu_create(struct vmm *vm, unsigned int id, struct err *e) __must_check;
int vcpu_setup_boot(struct vcpu *v, struct err *e) __must_check;
int vcpu_start(struct vcpu *v, struct err *e) __must_check;
void vcpu_kick(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
/*
 * KVM_RUN failed with errno err: if run holds a KVM_EXIT_MEMORY_FAULT (err EFAULT or
 * EHWPOISON; exit_reason means nothing with other errors), describes it in buf (GPA, size,
 * flags and what they mean; the crash report adds RIP) and returns true.
 */
bool vcpu_memory_fault_describe(int err, const struct kvm_run *run, char *buf, size_t len);

/* vmm/builder.c */
int vmm_build(struct vmm *vm, struct err *e) __must_check;
void vmm_teardown(struct vmm *vm);

/* vmm/nic.c */
int nic_attach(struct vmm *vm, unsigned int idx, struct err *e) __must_check;
void nic_detach(struct vmm_nic *nic);
/* The PCI host's BAR mapper: MMIO bus + doorbell ioeventfds that follow a moved BAR. */
struct pci_bar_map nic_pci_bar_map(struct vmm *vm);
/* Appends virtio_mmio.device= for every NIC to a Linux command line. */
int nic_cmdline(const struct vmm *vm, char *buf, size_t len) __must_check;

/* vmm/rt.c: the --rt recipe (before memory; after the KVM capability probe). */
void rt_prepare(struct vmm *vm);
void rt_host_checks(struct vmm *vm);
/* vmm/builder.c: the emulator CPU set of the config, false if it is empty. */
bool vmm_emulator_cpus(const struct vmm *vm, cpu_set_t *set);

/* vmm/kstats.c: KVM binary stats of a VM or vCPU fd. */
int kstats_read(int fd, void (*fn)(void *ctx, const char *name, uint64_t value), void *ctx);

/* vmm/config.c */
int vmm_config_check(const struct vmm_config *c, struct err *e) __must_check;

#endif
