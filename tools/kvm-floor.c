// SPDX-License-Identifier: MIT
/*
 * kvm-floor: the least a process can do to run a multiboot ELF32 guest on /dev/kvm, as the
 * floor our vmm's startup and exit costs are compared with (docs/benchmarks.md). It does only
 * KVM_CREATE_VM, one anonymous memslot of the requested size at GPA 0, KVM_CREATE_VCPU, flat
 * 32-bit protected-mode segments (Multiboot 0.6.96 §3.2 machine state, EAX = 0x2BADB002, no
 * multiboot_info), copies the image's PT_LOAD segments, and runs: a byte to port 0x3f8 goes to
 * stdout, a write to port 0xf4 ends the process with that status, every other PIO or MMIO exit
 * is completed at once (reads return all ones, as for an unclaimed port).
 *
 *   kvm-floor [--memory SIZE[K|M|G]] [--breakdown] IMAGE
 *
 * --breakdown prints on stderr how long each step took, to find what is irreducible.
 * Exit status: the guest's status, or 122 on any error (the vmm's convention).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/compiler.h"
#include "base/guest-abi.h"

#define FLOOR_ERR		122
#define FLOOR_MAX_MEM		(3ull << 30)	/* one slot, below the 3 GiB MMIO hole */
#define FLOOR_MAX_IMAGE		(64u << 20)

#define kvm_ioctl(fd, cmd, arg) ({					\
	_Static_assert(!_IOC_SIZE(cmd) || sizeof(*(arg)) == _IOC_SIZE(cmd),\
		       #cmd ": wrong argument type");			\
	ioctl((fd), (cmd), (arg)) < 0 ? -errno : 0; })

enum step { ST_OPEN, ST_CREATE_VM, ST_MMAP, ST_MEMSLOT, ST_CREATE_VCPU, ST_REGS, ST_LOAD,
	    ST_FIRST_EXIT, ST_RUN, ST_NR };
static const char *const step_name[ST_NR] = {
	"open /dev/kvm", "KVM_CREATE_VM", "mmap guest RAM", "KVM_SET_USER_MEMORY_REGION",
	"KVM_CREATE_VCPU + mmap kvm_run", "set sregs/regs", "load image",
	"KVM_RUN to first exit", "rest of the run",
};

struct floor {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	uint8_t *ram;
	uint64_t ram_size;
	double t[ST_NR];
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

/* ELF32 PT_LOADs into guest RAM; every offset and address checked without wrapping. */
static int __must_check floor_load(struct floor *f, const uint8_t *img, size_t len, uint32_t *entry)
{
	const Elf32_Ehdr *eh = (const void *)img;

	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS32 || eh->e_machine != EM_386 ||
	    eh->e_phentsize != sizeof(Elf32_Phdr))
		return -ENOEXEC;
	if (eh->e_phoff > len || (size_t)eh->e_phnum * sizeof(Elf32_Phdr) > len - eh->e_phoff)
		return -ENOEXEC;
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		Elf32_Phdr ph;

		memcpy(&ph, img + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return -ENOEXEC;
		if (ph.p_paddr > f->ram_size || ph.p_memsz > f->ram_size - ph.p_paddr)
			return -ERANGE;
		memcpy(f->ram + ph.p_paddr, img + ph.p_offset, ph.p_filesz);
		/* Fresh anonymous memory is zero: the bss needs no memset. */
	}
	*entry = eh->e_entry;
	return 0;
}

static int __must_check read_image(const char *path, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_size <= 0 || st.st_size > FLOOR_MAX_IMAGE) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc(st.st_size);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, st.st_size);
	if (n != st.st_size)
		ret = n < 0 ? -errno : -EIO;
	close(fd);
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	*len = n;
	return 0;
}

static void flat_seg(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type, .present = 1,
		.dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
}

static int __must_check floor_setup(struct floor *f, uint32_t entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = entry, .rflags = 2, .rax = 0x2badb002 };
	int ret = kvm_ioctl(f->vcpu, KVM_GET_SREGS, &sregs);

	if (ret)
		return ret;
	/* Multiboot 0.6.96 §3.2: CS 32-bit read/execute, data segments read/write, offset 0,
	 * limit 4 GiB; CR0.PE set, paging off. */
	flat_seg(&sregs.cs, 0x08, 0xb);
	flat_seg(&sregs.ds, 0x10, 0x3);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 = (sregs.cr0 | 1) & ~(1ull << 31);
	ret = kvm_ioctl(f->vcpu, KVM_SET_SREGS, &sregs);
	return ret ? ret : kvm_ioctl(f->vcpu, KVM_SET_REGS, &regs);
}

/* Runs until the exit port; returns the guest's status or -errno. */
static int __must_check floor_run(struct floor *f, double *first_exit)
{
	for (;;) {
		struct kvm_run *r = f->run;

		if (ioctl(f->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (!*first_exit)
			*first_exit = now_ms();
		switch (r->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *d = (uint8_t *)r + r->io.data_offset;

			if (r->io.direction == KVM_EXIT_IO_OUT && r->io.port == GUEST_EXIT_PORT) {
				uint32_t v = 0;

				memcpy(&v, d, r->io.size < 4 ? r->io.size : 4);
				return v > 119 ? 120 : (int)v;
			}
			if (r->io.direction == KVM_EXIT_IO_OUT && r->io.port == GUEST_COM1_BASE &&
			    r->io.size == 1) {
				for (uint32_t i = 0; i < r->io.count; i++)
					if (write(STDOUT_FILENO, d + i, 1) < 0)
						return -errno;
			} else if (r->io.direction == KVM_EXIT_IO_IN) {
				memset(d, 0xff, (size_t)r->io.size * r->io.count);
			}
			break;
		}
		case KVM_EXIT_MMIO:
			if (!r->mmio.is_write)
				memset(r->mmio.data, 0xff, sizeof(r->mmio.data));
			break;
		case KVM_EXIT_HLT:
			/* No interrupt can ever come (no irqchip): a halt is the end. */
			return 0;
		default:
			fprintf(stderr, "kvm-floor: unexpected exit reason %u\n", r->exit_reason);
			return -EIO;
		}
	}
}

/*
 * Is the memslot cost per slot or only the VM's first? Times one more 2 MiB slot above RAM
 * (after the run, so the numbers above are untouched).
 */
static void floor_second_slot(struct floor *f)
{
	void *p = mmap(NULL, 2u << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct kvm_userspace_memory_region slot = {
		.slot = 1, .guest_phys_addr = f->ram_size, .memory_size = 2u << 20,
		.userspace_addr = (uintptr_t)p,
	};
	double t0 = now_ms();
	int ret;

	if (p == MAP_FAILED)
		return;
	ret = kvm_ioctl(f->vm, KVM_SET_USER_MEMORY_REGION, &slot);
	fprintf(stderr, "floor: %-32s %9.3f ms%s\n", "(a second 2 MiB memslot)", now_ms() - t0,
		ret ? " (failed)" : "");
}

static int usage(void)
{
	fprintf(stderr, "usage: kvm-floor [--memory SIZE[K|M|G]] [--breakdown] IMAGE\n");
	return FLOOR_ERR;
}

int main(int argc, char **argv)
{
	struct floor f = { .kvm = -1, .vm = -1, .vcpu = -1, .ram_size = 64ull << 20 };
	struct kvm_userspace_memory_region slot = { 0 };
	const char *path = NULL, *what = "";
	bool breakdown = false;
	double t0 = now_ms(), t, first_exit = 0;
	uint8_t *img = NULL;
	size_t img_len = 0;
	uint32_t entry = 0;
	int i, ret, mmap_size;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--memory") && i + 1 < argc) {
			if (!parse_size(argv[++i], &f.ram_size) || !f.ram_size ||
			    f.ram_size > FLOOR_MAX_MEM || f.ram_size & 0xfff)
				return usage();
		} else if (!strcmp(argv[i], "--breakdown")) {
			breakdown = true;
		} else if (argv[i][0] != '-' && !path) {
			path = argv[i];
		} else {
			return usage();
		}
	}
	if (!path)
		return usage();
	ret = read_image(path, &img, &img_len);
	if (ret) {
		fprintf(stderr, "kvm-floor: %s: %s\n", path, strerror(-ret));
		return FLOOR_ERR;
	}

#define STEP(s, expr, msg) do {						\
		ret = (expr);						\
		what = (msg);						\
		if (ret < 0)						\
			goto fail;					\
		t = now_ms();						\
		f.t[s] += t - t0;					\
		t0 = t;							\
	} while (0)

	STEP(ST_OPEN, (f.kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0 ? -errno : 0,
	     "open /dev/kvm");
	STEP(ST_CREATE_VM, (f.vm = ioctl(f.kvm, KVM_CREATE_VM, 0)) < 0 ? -errno : 0,
	     "KVM_CREATE_VM");
	f.ram = mmap(NULL, f.ram_size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	STEP(ST_MMAP, f.ram == MAP_FAILED ? -errno : 0, "mmap guest RAM");
	slot = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = f.ram_size,
		.userspace_addr = (uintptr_t)f.ram,
	};
	STEP(ST_MEMSLOT, kvm_ioctl(f.vm, KVM_SET_USER_MEMORY_REGION, &slot),
	     "KVM_SET_USER_MEMORY_REGION");
	STEP(ST_CREATE_VCPU, (f.vcpu = ioctl(f.vm, KVM_CREATE_VCPU, 0)) < 0 ? -errno : 0,
	     "KVM_CREATE_VCPU");
	mmap_size = ioctl(f.kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run)) {
		ret = mmap_size < 0 ? -errno : -EINVAL;
		what = "KVM_GET_VCPU_MMAP_SIZE";
		goto fail;
	}
	f.run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, f.vcpu, 0);
	STEP(ST_CREATE_VCPU, f.run == MAP_FAILED ? -errno : 0, "mmap kvm_run");
	STEP(ST_LOAD, floor_load(&f, img, img_len, &entry), "load image");
	STEP(ST_REGS, floor_setup(&f, entry), "set registers");
	ret = floor_run(&f, &first_exit);
	what = "KVM_RUN";
	if (ret < 0)
		goto fail;
	t = now_ms();
	f.t[ST_FIRST_EXIT] = first_exit - t0;
	f.t[ST_RUN] = t - first_exit;
	if (breakdown) {
		double sum = 0;

		for (i = 0; i < ST_NR; i++) {
			fprintf(stderr, "floor: %-32s %9.3f ms\n", step_name[i], f.t[i]);
			sum += f.t[i];
		}
		fprintf(stderr, "floor: %-32s %9.3f ms\n", "total (after exec)", sum);
		floor_second_slot(&f);
	}
	/* Exit without unmapping: the kernel tears the VM down as the process goes, as it would
	 * for any VMM that exits right after the guest. */
	free(img);
	return ret;

fail:
	fprintf(stderr, "kvm-floor: %s: %s\n", what, strerror(-ret));
	free(img);
	return FLOOR_ERR;
}
