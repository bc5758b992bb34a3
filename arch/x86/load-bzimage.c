// SPDX-License-Identifier: MIT
/*
 * bzImage through the 64-bit boot protocol (Linux Documentation/arch/x86/boot.rst): the real-
 * mode setup is not run; the protected-mode kernel is copied to its preferred address and
 * entered at load address + 0x200 (startup_64) with RSI = zero page.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/boot-priv.h"

/* boot.rst "Details of header fields": the 64-bit entry is 0x200 past the 32-bit one. */
#define BZIMAGE_ENTRY64_OFFSET	0x200
/* Heap end for the real-mode setup: meaningless at the 64-bit entry, but boot.rst asks a
 * loader that sets CAN_USE_HEAP to give one; this is the value for setup at 0x90000. */
#define BZIMAGE_HEAP_END	0x9800
#define BZIMAGE_SECTOR		512u

int load_bzimage(const struct gmem *gm, const uint8_t *img, size_t len,
		 const struct boot_args *args, struct boot_entry *out, struct err *e)
{
	static const struct boot_args none;
	struct setup_header hdr;
	struct boot_params bp;
	struct boot_extent k;
	uint64_t setup_size, sys_size, kern_len, need, load;
	size_t hdr_len;
	unsigned int sects;
	uint16_t flag;
	uint32_t hdrs;
	gpa_t low_end;
	int ret;

	if (!args)
		args = &none;
	if (len < 0x206)
		return err_set(e, -EINVAL, "bzImage of %zu bytes is truncated before its header", len);
	memcpy(&flag, img + 0x1fe, sizeof(flag));
	memcpy(&hdrs, img + 0x202, sizeof(hdrs));
	if (flag != BOOT_FLAG_MAGIC)
		return err_set(e, -ENOEXEC, "bzImage has no 0xAA55 boot flag at 0x1fe");
	if (hdrs != BOOT_HDRS_MAGIC)
		return err_set(e, -ENOEXEC, "bzImage has no \"HdrS\" signature at 0x202");

	/* setup_sects == 0 means 4 (boot.rst, for very old kernels). */
	sects = img[0x1f1] ? img[0x1f1] : 4;
	setup_size = (uint64_t)(sects + 1) * BZIMAGE_SECTOR;
	if (len < setup_size)
		return err_set(e, -EINVAL, "bzImage is truncated: %zu bytes, setup alone is %llu",
			       len, (unsigned long long)setup_size);
	/* setup_size >= 2560 covers the whole setup_header (0x1f1 + 0x7b). */
	BUILD_BUG_ON(0x1f1 + sizeof(hdr) > 5 * BZIMAGE_SECTOR);
	memcpy(&hdr, img + 0x1f1, sizeof(hdr));

	if (hdr.version < BOOT_LINUX_MIN_VERSION)
		return err_set(e, -ENOEXEC, "bzImage boot protocol %u.%02u is older than 2.12",
			       hdr.version >> 8, hdr.version & 0xff);
	if (!(hdr.xloadflags & XLF_KERNEL_64))
		return err_set(e, -ENOEXEC, "kernel does not support the 64-bit boot protocol");

	sys_size = (uint64_t)hdr.syssize * 16;
	kern_len = len - setup_size;
	if (kern_len < sys_size)
		return err_set(e, -EINVAL, "bzImage is truncated: syssize says %llu bytes, file has %llu",
			       (unsigned long long)sys_size, (unsigned long long)kern_len);
	if (kern_len == 0)
		return err_set(e, -EINVAL, "bzImage has no protected-mode kernel");

	/* The decompressor uses init_size bytes from the load address (boot.rst, 2.10+). */
	need = hdr.init_size > kern_len ? hdr.init_size : kern_len;
	load = hdr.pref_address ? hdr.pref_address : BOOT_KERNEL_HIGH;
	if (hdr.relocatable_kernel) {
		uint64_t a = hdr.kernel_alignment;

		if (!a || (a & (a - 1)))
			return err_set(e, -EINVAL, "bzImage kernel_alignment 0x%llx is not a power of two",
				       (unsigned long long)a);
		if (load < LAYOUT_HIMEM)
			load = LAYOUT_HIMEM;
		if (__builtin_add_overflow(load, a - 1, &load))
			return err_set(e, -EINVAL, "bzImage pref_address wraps when aligned");
		load &= ~(a - 1);
	}
	/* The 64-bit entry runs on identity page tables covering low RAM only. */
	low_end = boot_low_ram_end(gm);
	if (load < LAYOUT_HIMEM || load >= low_end || need > low_end - load)
		return err_set(e, -ENOMEM, "kernel needs %llu bytes at 0x%llx but low RAM ends at 0x%llx",
			       (unsigned long long)need, (unsigned long long)load,
			       (unsigned long long)low_end);
	ret = boot_check_range(gm, load, need, "kernel", e);
	if (ret)
		return ret;
	if (gm_write(gm, load, img + setup_size, kern_len))
		return err_set(e, -EFAULT, "cannot copy the kernel to 0x%llx", (unsigned long long)load);
	k = (struct boot_extent){ .lo = load, .hi = load + need };

	/* Zero page: the setup header as the image has it, up to 0x202 + the byte at 0x201
	 * (boot.rst "The zero page"); everything else starts at zero. */
	memset(&bp, 0, sizeof(bp));
	hdr_len = 0x202 + img[0x201] - 0x1f1;
	if (hdr_len > sizeof(bp.hdr))
		hdr_len = sizeof(bp.hdr);
	memcpy(&bp.hdr, img + 0x1f1, hdr_len);
	bp.hdr.loadflags |= CAN_USE_HEAP;
	bp.hdr.heap_end_ptr = BZIMAGE_HEAP_END - 0x200;
	bp.hdr.code32_start = (uint32_t)load;
	bp.hdr.ext_loader_ver = 0;
	ret = boot_linux_params(gm, &bp, &k, args, e);
	if (ret)
		return ret;

	*out = (struct boot_entry){
		.proto = BOOT_LINUX64,
		.rip = load + BZIMAGE_ENTRY64_OFFSET,
		.info = LAYOUT_BOOT_INFO,
	};
	return 0;
}
