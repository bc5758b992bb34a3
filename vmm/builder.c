// SPDX-License-Identifier: MIT
/*
 * Config -> VM. The only file that knows every layer: memory, KVM VM, firmware tables, kernel,
 * devices, vCPUs, in that order; vmm_teardown() undoes whatever part of it was done.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "base/guest-abi.h"
#include "base/log.h"
#include "vmm/vm.h"

/* A file mapped read-only for the loaders, which check every offset against len. */
struct file_map {
	uint8_t *data;
	size_t len;
};

static int file_map(const char *what, const char *path, struct file_map *m, struct err *e)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	*m = (struct file_map){ 0 };
	if (fd < 0)
		return err_set(e, -errno, "cannot open %s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = err_set(e, -EINVAL, "%s %s is not a regular file", what, path);
		goto out;
	}
	if (st.st_size == 0) {
		r = err_set(e, -EINVAL, "%s %s is empty", what, path);
		goto out;
	}
	m->len = st.st_size;
	m->data = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m->data == MAP_FAILED) {
		m->data = NULL;
		r = err_set(e, -errno, "cannot map %s %s: %s", what, path, strerror(errno));
	}
out:
	close(fd);
	return r;
}

static void file_unmap(struct file_map *m)
{
	if (m->data)
		munmap(m->data, m->len);
	m->data = NULL;
}

static int attach_memory(struct vmm *vm, struct err *e)
{
	const struct vmm_config *c = &vm->cfg;
	struct mem_opts o = {
		.size = c->mem.size,
		.backend = c->mem.backend == VMM_MEM_MEMFD ? MEM_MEMFD :
			   c->mem.backend == VMM_MEM_HUGETLBFS ? MEM_HUGETLBFS : MEM_ANON,
		.hugepage_size = c->mem.hugepage_size,
		.hugetlbfs_path = c->mem.hugetlbfs_path,
		.thp = c->mem.thp,
	};
	uint64_t low = c->mem.size < LAYOUT_MMIO_HOLE ? c->mem.size : LAYOUT_MMIO_HOLE;
	uint64_t t0 = now_ns();
	int r;

	r = mem_alloc(&o, &vm->ram, e);
	if (r)
		return r;
	vm->report.mem_alloc_ns = now_ns() - t0;

	/* One block, split around the 32-bit MMIO hole (arch/x86/layout.h). */
	gm_init(&vm->gm);
	r = gm_add_region(&vm->gm, 0, low, vm->ram.hva, vm->ram.fd, 0);
	if (!r && c->mem.size > low)
		r = gm_add_region(&vm->gm, LAYOUT_HIGH_RAM, c->mem.size - low, vm->ram.hva + low,
				  vm->ram.fd, low);
	if (r)
		return err_set(e, r, "guest memory map: %s", strerror(-r));

	if (c->mem.prefault) {
		vm->report.populate_threads = c->mem.prefault_threads;
		r = mem_prefault(&vm->ram, c->mem.prefault_threads, &vm->report.populate_ns, e);
		if (r)
			return r;
		vm->report.populated = true;
	}
	if (c->mem.mlock) {
		r = mem_lock(&vm->ram, &vm->report.mlock_ns, e);
		if (r)
			return r;
		vm->report.locked = true;
	}
	return 0;
}

static int create_vm(struct vmm *vm, struct err *e)
{
	char msg[256];
	int r;

	r = kvm_open(&vm->kvm_fd, msg, sizeof(msg));
	if (r)
		return err_set(e, r, "%s", msg);
	r = kvm_ioctl_val(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (r < 0)
		return err_set(e, r, "KVM_CREATE_VM: %s", strerror(-r));
	vm->vm_fd = r;
	kvm_probe_caps(vm->kvm_fd, vm->vm_fd, &vm->caps);
	rt_host_checks(vm);

	if (!vm->caps.irqchip || !vm->caps.immediate_exit)
		return err_set(e, -ENOTSUP, "this KVM lacks %s",
			       vm->caps.irqchip ? "KVM_CAP_IMMEDIATE_EXIT" : "KVM_CAP_IRQCHIP");
	if (vm->nr_vcpus > (unsigned int)vm->caps.max_vcpus)
		return err_set(e, -EINVAL, "%u vCPUs requested, KVM allows %d", vm->nr_vcpus,
			       vm->caps.max_vcpus);

	/* Intel needs these two before the first vCPU; elsewhere they are harmless no-ops. */
	if (vm->caps.set_identity_map_addr) {
		uint64_t idmap = LAYOUT_KVM_IDMAP;

		r = kvm_ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
		if (r)
			return err_set(e, r, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(-r));
	}
	if (vm->caps.set_tss_addr) {
		r = kvm_ioctl_val(vm->vm_fd, KVM_SET_TSS_ADDR, LAYOUT_KVM_TSS);
		if (r < 0)
			return err_set(e, r, "KVM_SET_TSS_ADDR: %s", strerror(-r));
	}
	if (vm->cfg.cpus.disable_exits) {
		unsigned int want = 0;

		if (vm->cfg.cpus.disable_exits & VMM_EXITS_HLT)
			want |= KVM_X86_DISABLE_EXITS_HLT;
		if (vm->cfg.cpus.disable_exits & VMM_EXITS_PAUSE)
			want |= KVM_X86_DISABLE_EXITS_PAUSE;
		if (vm->cfg.cpus.disable_exits & VMM_EXITS_MWAIT)
			want |= KVM_X86_DISABLE_EXITS_MWAIT;
		if ((want & vm->caps.disable_exits) != want)
			return err_set(e, -ENOTSUP, "KVM offers disabling exits 0x%x, asked 0x%x",
				       vm->caps.disable_exits, want);
		struct kvm_enable_cap cap = { .cap = KVM_CAP_X86_DISABLE_EXITS, .args = { want } };

		r = kvm_ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap);
		if (r)
			return err_set(e, r, "KVM_CAP_X86_DISABLE_EXITS: %s", strerror(-r));
	}

	if (vm->cfg.cpus.halt_poll_ns >= 0) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_HALT_POLL,
					      .args = { (uint64_t)vm->cfg.cpus.halt_poll_ns } };

		if (!vm->caps.halt_poll)
			return err_set(e, -ENOTSUP, "halt-poll asked but KVM_CAP_HALT_POLL is absent");
		r = kvm_ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap);
		if (r)
			return err_set(e, r, "KVM_CAP_HALT_POLL: %s", strerror(-r));
	}
	r = kvm_ioctl_val(vm->vm_fd, KVM_CREATE_IRQCHIP, 0);
	if (r < 0)
		return err_set(e, r, "KVM_CREATE_IRQCHIP: %s", strerror(-r));
	r = gsi_routes_init(&vm->gsi, vm->vm_fd);
	if (r)
		return err_set(e, r, "KVM_SET_GSI_ROUTING: %s", strerror(-r));
	if (vm->caps.pit2) {
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

		r = kvm_ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit);
		if (r)
			return err_set(e, r, "KVM_CREATE_PIT2: %s", strerror(-r));
	}

	for (unsigned int i = 0; i < vm->gm.nr; i++) {
		const struct gmem_region *g = &vm->gm.r[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = g->gpa,
			.memory_size = g->len,
			.userspace_addr = (uintptr_t)g->hva,
		};

		r = kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
		if (r)
			return err_set(e, r, "KVM_SET_USER_MEMORY_REGION %u: %s", i, strerror(-r));
	}
	return 0;
}

/* Second-level page tables too, where KVM can (KVM_PRE_FAULT_MEMORY, Linux 6.10+). */
static void kvm_prefault(struct vmm *vm)
{
	struct vmm_setup_report *rep = &vm->report;
	uint64_t t0 = now_ns();

	if (!vm->cfg.mem.prefault) {
		snprintf(rep->kvm_prefault_note, sizeof(rep->kvm_prefault_note), "prefault off");
		return;
	}
	if (!vm->caps.pre_fault_memory) {
		snprintf(rep->kvm_prefault_note, sizeof(rep->kvm_prefault_note),
			 "KVM_CAP_PRE_FAULT_MEMORY not offered by this KVM");
		return;
	}
	for (unsigned int i = 0; i < vm->gm.nr; i++) {
		struct kvm_pre_fault_memory pf = { .gpa = vm->gm.r[i].gpa,
						   .size = vm->gm.r[i].len };

		/* KVM advances gpa/size and returns EINTR/EAGAIN part way; loop until done. */
		while (pf.size) {
			int r = kvm_ioctl(vm->vcpus[0].fd, KVM_PRE_FAULT_MEMORY, &pf);

			if (r == -EINTR || r == -EAGAIN)
				continue;
			if (r < 0) {
				snprintf(rep->kvm_prefault_note, sizeof(rep->kvm_prefault_note),
					 "KVM_PRE_FAULT_MEMORY failed at 0x%llx: %s",
					 (unsigned long long)pf.gpa, strerror(-r));
				return;
			}
		}
	}
	rep->kvm_prefaulted = true;
	rep->kvm_prefault_ns = now_ns() - t0;
}

static enum boot_proto boot_proto_of(enum vmm_boot b)
{
	switch (b) {
	case VMM_BOOT_LINUX:
		return BOOT_LINUX64;
	case VMM_BOOT_PVH:
		return BOOT_PVH;
	case VMM_BOOT_MULTIBOOT:
		return BOOT_MULTIBOOT;
	default:
		return BOOT_AUTO;
	}
}

static int load_kernel(struct vmm *vm, struct err *e)
{
	const struct vmm_config *c = &vm->cfg;
	struct file_map kernel = { 0 }, initrd = { 0 };
	struct boot_args args = { .cmdline = c->cmdline };
	char cmdline[VMM_CMDLINE_MAX + 512];
	struct boot_module mod;
	enum boot_proto proto;
	const uint8_t *img = c->kernel_image;
	size_t len = c->kernel_image_len;
	uint64_t t0 = now_ns();
	int r;

	if (c->acpi) {
		r = acpi_build(&vm->gm, vm->nr_vcpus, &args.acpi_rsdp);
		if (!r)
			r = mptable_build(&vm->gm, vm->nr_vcpus);
		if (r)
			return err_set(e, r, "building ACPI/MP tables: %s", strerror(-r));
	}
	if (c->kernel[0]) {
		r = file_map("kernel", c->kernel, &kernel, e);
		if (r)
			return r;
		img = kernel.data;
		len = kernel.len;
	}
	if (c->initrd[0]) {
		r = file_map("initrd", c->initrd, &initrd, e);
		if (r)
			goto out;
		args.initrd = initrd.data;
		args.initrd_len = initrd.len;
	}
	proto = boot_proto_of(c->boot);
	if (proto == BOOT_AUTO)
		proto = boot_detect(img, len);
	if (proto == BOOT_MULTIBOOT && args.initrd) {
		/* Multiboot has no initrd: --initrd becomes module 0, as QEMU does. */
		mod = (struct boot_module){ .data = args.initrd, .len = args.initrd_len,
					    .cmdline = c->initrd };
		args.modules = &mod;
		args.nr_modules = 1;
		args.initrd = NULL;
		args.initrd_len = 0;
	}
	if ((proto == BOOT_LINUX64 || proto == BOOT_PVH) && c->nr_nets) {
		snprintf(cmdline, sizeof(cmdline), "%s", c->cmdline);
		r = nic_cmdline(vm, cmdline, sizeof(cmdline));
		if (r) {
			err_set(e, r, "kernel command line too long for the NIC entries");
			goto out;
		}
		args.cmdline = cmdline;
	}
	r = boot_load(&vm->gm, proto, img, len, &args, &vm->entry, e);
	if (r)
		err_prefix(e, "loading %s", c->kernel[0] ? c->kernel : "the bundled guest");
	vm->report.load_ns = now_ns() - t0;
	vm->report.boot_protocol = boot_proto_name(vm->entry.proto);
out:
	file_unmap(&initrd);
	file_unmap(&kernel);
	return r;
}

static int irq_line_set(void *ctx, int level)
{
	struct vmm *vm = ctx;
	struct kvm_irq_level l = { .irq = GUEST_COM1_IRQ, .level = level };

	return kvm_ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

static ssize_t serial_out(void *ctx, const void *buf, size_t len)
{
	struct vmm *vm = ctx;
	ssize_t r;

	do
		r = write(vm->serial_fd, buf, len);
	while (r < 0 && errno == EINTR);
	return r;
}

static void vm_request(void *ctx, enum vm_request req, int code)
{
	struct vmm *vm = ctx;

	switch (req) {
	case VM_REQ_EXIT:
		vmm_end(vm, VMM_EXIT_GUEST, -1, (uint32_t)code, "guest exit status %u",
			(uint32_t)code);
		break;
	case VM_REQ_RESET:
		vmm_end(vm, VMM_EXIT_RESET, -1, 0, "guest requested a reset");
		break;
	case VM_REQ_POWEROFF:
		vmm_end(vm, VMM_EXIT_POWEROFF, -1, 0, "guest powered off (ACPI S5)");
		break;
	}
}

static int attach_serial(struct vmm *vm, struct err *e)
{
	const struct vmm_config *c = &vm->cfg;
	struct byte_sink out = { .write = serial_out, .ctx = vm };

	vm->serial_fd = -1;
	switch (c->serial.mode) {
	case VMM_SERIAL_STDIO:
		vm->serial_fd = STDOUT_FILENO;
		vm->serial_input = true;
		break;
	case VMM_SERIAL_FD:
		vm->serial_fd = c->serial.fd;
		break;
	case VMM_SERIAL_FILE:
		vm->serial_fd = open(c->serial.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (vm->serial_fd < 0)
			return err_set(e, -errno, "serial log %s: %s", c->serial.path,
				       strerror(errno));
		vm->serial_fd_owned = true;
		break;
	case VMM_SERIAL_OFF:
		out.write = NULL;
		break;
	}
	uart_init(&vm->uart, (struct irq_line){ .set = irq_line_set, .ctx = vm }, out);
	return 0;
}

#define IRQGEN_GSI	5	/* a free ISA line, for guests that do not program an MSI */

static int irqgen_line(void *ctx, int level)
{
	struct vmm *vm = ctx;
	struct kvm_irq_level l = { .irq = IRQGEN_GSI, .level = level };

	return kvm_ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

static int irqgen_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct vmm *vm = ctx;
	struct kvm_msi msi = { .address_lo = (uint32_t)addr, .address_hi = addr >> 32,
			       .data = data };
	int r = kvm_ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi);

	return r < 0 ? r : 0;
}

static void *irqgen_slice(void *ctx, uint64_t gpa, size_t len)
{
	return gm_slice(ctx, gpa, len);
}

static int attach_irqgen(struct vmm *vm, struct err *e)
{
	struct irqgen_config c = {
		.irq = { .set = irqgen_line, .ctx = vm },
		.msi = { .send = irqgen_msi, .ctx = vm },
		.mem = { .slice = irqgen_slice, .ctx = &vm->gm },
		.cpu = vm->cfg.cpus.emulator[0],	/* off the vCPUs' cores when --rt set one */
		.rt_prio = vm->cfg.cpus.rt_prio,
	};
	int r;

	if (!vm->cfg.irqgen)
		return 0;
	r = irqgen_init(&vm->irqgen, &c);
	if (r)
		return err_set(e, r, "irqgen: %s", strerror(-r));
	vm->irqgen_ready = true;
	r = bus_register(&vm->pio, GUEST_IRQGEN_BASE, GUEST_IRQGEN_LEN, &irqgen_bus_ops,
			 &vm->irqgen, "irqgen");
	if (r)
		return err_set(e, r, "registering irqgen: %s", strerror(-r));
	return 0;
}

static int attach_devices(struct vmm *vm, struct err *e)
{
	struct vm_control ctl = { .request = vm_request, .ctx = vm };
	int r;

	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->pio.verbose = vm->mmio.verbose = vm->cfg.verbose;

	r = attach_serial(vm, e);
	if (r)
		return r;
	debug_exit_init(&vm->dbg, ctl);
	i8042_init(&vm->i8042, ctl);
	cf9_init(&vm->cf9, ctl);
	acpi_pm_init(&vm->pm, ctl);
	rtc_init(&vm->rtc);
	r = pci_host_init(&vm->pci, nic_pci_bar_map(vm), LAYOUT_PCI_MMIO, LAYOUT_VIRTIO_MMIO);
	if (r)
		return err_set(e, r, "PCI host bridge: %s", strerror(-r));
	vm->pci_ready = true;
	pci_host_chain_cf9(&vm->pci, &cf9_bus_ops, &vm->cf9);
	vm->devices_ready = true;
	r = bus_register(&vm->mmio, LAYOUT_PCI_ECAM, PCI_ECAM_BUS_SIZE, &pci_host_ecam_ops,
			 &vm->pci, "pci-ecam");
	if (r)
		return err_set(e, r, "registering the PCI ECAM: %s", strerror(-r));

	struct {
		uint64_t base, len;
		const struct bus_dev_ops *ops;
		void *ctx;
		const char *name;
	} pio[] = {
		{ GUEST_COM1_BASE, 8, &uart_bus_ops, &vm->uart, "com1" },
		{ GUEST_EXIT_PORT, GUEST_EXIT_WIDTH, &debug_exit_bus_ops, &vm->dbg, "debug-exit" },
		{ 0x60, 5, &i8042_bus_ops, &vm->i8042, "i8042" },
		/* 0xcf8..0xcff: PCI config mechanism #1, with CF9 reset chained at 0xcf9. */
		{ 0xcf8, 8, &pci_host_pio_ops, &vm->pci, "pci-cfg" },
		{ GUEST_PM1A_EVT_BLK, 6, &acpi_pm_bus_ops, &vm->pm, "acpi-pm" },
		{ 0x70, 2, &rtc_bus_ops, &vm->rtc, "rtc" },
	};
	for (unsigned int i = 0; i < ARRAY_SIZE(pio); i++) {
		r = bus_register(&vm->pio, pio[i].base, pio[i].len, pio[i].ops, pio[i].ctx,
				 pio[i].name);
		if (r)
			return err_set(e, r, "registering %s: %s", pio[i].name, strerror(-r));
	}
	return 0;
}

/* A pin to a CPU this process may not use fails at thread creation; say which, up front. */
static int check_affinity(const struct vmm *vm, struct err *e)
{
	cpu_set_t allowed;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return err_set(e, -errno, "sched_getaffinity: %s", strerror(errno));
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int cpu = vm->cfg.cpus.affinity[i];

		if (cpu >= 0 && (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)))
			return err_set(e, -EINVAL, "vCPU %u: host CPU %d is not available to this "
				       "process (it may use %d CPUs)", i, cpu, CPU_COUNT(&allowed));
	}
	for (unsigned int i = 0; i < VMM_MAX_VCPUS && vm->cfg.cpus.emulator[i] >= 0; i++) {
		int cpu = vm->cfg.cpus.emulator[i];

		if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed))
			return err_set(e, -EINVAL, "emulator CPU %d is not available to this process",
				       cpu);
	}
	return 0;
}

bool vmm_emulator_cpus(const struct vmm *vm, cpu_set_t *set)
{
	CPU_ZERO(set);
	for (unsigned int i = 0; i < VMM_MAX_VCPUS && vm->cfg.cpus.emulator[i] >= 0; i++)
		CPU_SET(vm->cfg.cpus.emulator[i], set);
	return CPU_COUNT(set) > 0;
}

/*
 * NIC workers are created inside the backends; they inherit the creating thread's affinity,
 * so the builder runs their creation with the emulator CPU set and restores its own after.
 */
static int attach_nics(struct vmm *vm, struct err *e)
{
	cpu_set_t saved, emu;
	bool pin = vmm_emulator_cpus(vm, &emu) &&
		   !pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) &&
		   !pthread_setaffinity_np(pthread_self(), sizeof(emu), &emu);
	int r = 0;

	for (unsigned int i = 0; !r && i < vm->cfg.nr_nets; i++) {
		vm->nr_nics = i + 1;
		r = nic_attach(vm, i, e);
	}
	if (pin)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	return r;
}

int vmm_build(struct vmm *vm, struct err *e)
{
	int r;

	vm->nr_vcpus = vm->cfg.cpus.count;
	rt_prepare(vm);
	r = check_affinity(vm, e);
	if (!r)
		r = attach_memory(vm, e);
	if (!r)
		r = create_vm(vm, e);
	if (!r)
		r = load_kernel(vm, e);
	if (!r)
		r = attach_devices(vm, e);
	if (!r)
		r = attach_nics(vm, e);
	if (!r)
		r = attach_irqgen(vm, e);
	for (unsigned int i = 0; !r && i < vm->nr_vcpus; i++)
		r = vcpu_create(vm, i, e);
	if (!r)
		r = vcpu_setup_boot(&vm->vcpus[0], e);
	if (!r)
		kvm_prefault(vm);
	return r;
}

/* Safe on a partly built VM: every step checks what exists. */
void vmm_teardown(struct vmm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].fd >= 0 || vm->vcpus[i].run)
			vcpu_destroy(&vm->vcpus[i]);
	if (vm->irqgen_ready)
		irqgen_exit(&vm->irqgen);	/* its thread writes guest memory: stop it first */
	vm->irqgen_ready = false;
	if (vm->pci_ready)
		pci_host_exit(&vm->pci);	/* unmaps BARs (and their ioeventfds) */
	vm->pci_ready = false;
	for (unsigned int i = 0; i < vm->nr_nics; i++)
		nic_detach(&vm->nics[i]);
	if (vm->devices_ready) {
		uart_exit(&vm->uart);
		i8042_exit(&vm->i8042);
		acpi_pm_exit(&vm->pm);
		rtc_exit(&vm->rtc);
	}
	if (vm->serial_fd_owned && vm->serial_fd >= 0)
		close(vm->serial_fd);
	gsi_routes_exit(&vm->gsi);	/* after the NICs: their MSI routes are gone with them */
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->vm_fd = vm->kvm_fd = -1;
	mem_free(&vm->ram);
}
