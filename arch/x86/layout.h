/* SPDX-License-Identifier: MIT */
#ifndef ARCH_X86_LAYOUT_H
#define ARCH_X86_LAYOUT_H

/*
 * The guest physical address map.
 *
 *   0x0000_0000 .. min(ram, 3 GiB)   RAM ("low")
 *     0x0000_0500   GDT for the boot CPU (linux64 / multiboot / PVH entry)
 *     0x0000_7000   Linux zero page (boot_params) / PVH hvm_start_info / multiboot info
 *     0x0000_9000   identity page tables for the 64-bit Linux entry (PML4, PDPT, PDs)
 *     0x0002_0000   kernel command line (up to 64 KiB incl. NUL... we cap at 4 KiB)
 *     0x0008_0000   multiboot/PVH scratch: module lists, memory maps
 *     0x0009_fc00 .. 0x0010_0000  reserved in e820 (EBDA, VGA hole, BIOS area)
 *     0x000e_0000   ACPI tables (RSDP found by the BIOS-area scan as well as boot_params)
 *     0x000f_0000   MP table
 *     0x0010_0000   kernels load here or where their headers say (Linux: 16 MiB)
 *   3 GiB .. 4 GiB                   MMIO hole (never RAM)
 *     0xc000_0000   32-bit PCI MMIO window (BARs) up to ECAM
 *     0xd000_0000   virtio-mmio slots (4 KiB each, IOAPIC pins 16..23)
 *     0xe000_0000   PCI ECAM (256 MiB)
 *     0xfec0_0000   IOAPIC
 *     0xfee0_0000   LAPIC
 *   4 GiB ..                         RAM ("high"), the part of ram above 3 GiB
 *   64 GiB                           netshm region window (docs/vhost-user-shmem.md)
 *   128 GiB + p * 32 GiB             netshm peer-memory window of port p (peer mode)
 */
#include "base/compiler.h"

#define LAYOUT_GDT		0x500ull
#define LAYOUT_BOOT_INFO	0x7000ull
#define LAYOUT_PAGETABLES	0x9000ull	/* PML4, PDPT, then 4 PDs: 0x9000..0xf000 */
#define LAYOUT_CMDLINE		0x20000ull
#define LAYOUT_CMDLINE_MAX	4096u
#define LAYOUT_SCRATCH		0x80000ull
#define LAYOUT_SCRATCH_END	0x9fc00ull
#define LAYOUT_EBDA		0x9fc00ull
#define LAYOUT_ACPI		0xe0000ull
#define LAYOUT_MPTABLE		0xf0000ull
#define LAYOUT_BIOS_END		0x100000ull
#define LAYOUT_HIMEM		0x100000ull

#define LAYOUT_MMIO_HOLE	0xc0000000ull
#define LAYOUT_MMIO_HOLE_END	0x100000000ull
#define LAYOUT_PCI_MMIO		0xc0000000ull
#define LAYOUT_PCI_MMIO_END	0xe0000000ull
#define LAYOUT_VIRTIO_MMIO	0xd0000000ull	/* virtio-mmio devices, one 4 KiB slot each */
#define LAYOUT_VIRTIO_MMIO_SLOT	0x1000ull
#define LAYOUT_VIRTIO_MMIO_MAX	8
#define LAYOUT_VIRTIO_MMIO_GSI	16		/* slot i interrupts on IOAPIC pin 16 + i (level) */
#define LAYOUT_NETSHM_GSI	20		/* NIC i's netshm doorbell: IOAPIC pin 20 + i (edge) */
#define LAYOUT_PCI_ECAM		0xe0000000ull
#define LAYOUT_PCI_ECAM_SIZE	0x10000000ull
#define LAYOUT_IOAPIC		0xfec00000ull
#define LAYOUT_LAPIC		0xfee00000ull
#define LAYOUT_HIGH_RAM		0x100000000ull

/* vhost-user-shmem windows: above any RAM we allow (RAM must end below 64 GiB with netshm). */
#define LAYOUT_NETSHM_REGION	0x1000000000ull		/* 64 GiB, region up to 1 GiB */
#define LAYOUT_NETSHM_REGION_MAX 0x40000000ull
#define LAYOUT_NETSHM_PEER	0x2000000000ull		/* 128 GiB */
#define LAYOUT_NETSHM_PEER_STRIDE 0x800000000ull	/* 32 GiB: a peer's RAM + hole must fit */

/* Smallest guest the loaders and tables fit in. */
#define LAYOUT_MIN_RAM		MiB(16)

/* KVM's own needs on Intel: a TSS (3 pages) and the real-mode identity map page; both sit in
 * the hole, under the IOAPIC, where no device is. */
#define LAYOUT_KVM_TSS		0xfeffc000ull
#define LAYOUT_KVM_IDMAP	0xfeffb000ull

#endif
