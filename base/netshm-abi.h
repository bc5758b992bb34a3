/* SPDX-License-Identifier: MIT */
#ifndef BASE_NETSHM_ABI_H
#define BASE_NETSHM_ABI_H

/*
 * vhost-user-shmem ("netshm" in code): the layout of the shared region and the registers of the
 * netshm PCI device, shared by vmm-switch, the VMM and the freestanding test guests. The
 * protocol and the rules of who writes what are in docs/vhost-user-shmem.md; this file is only
 * the binary layout. No includes beyond <stdint.h>: it must compile with -ffreestanding.
 *
 * Every field is little-endian, naturally aligned. Anything a guest can write is untrusted for
 * every other party, including the other guests.
 */
#include <stdint.h>

#define NETSHM_VERSION		1u

/* ---- the region (allocated by vmm-switch, one per switch; every port maps all of it) ---- */

#define NETSHM_MAX_PORTS	8	/* ports per region */
#define NETSHM_MAX_ENTRIES	32	/* flow entries per sender table */
#define NETSHM_QSIZE		256	/* fast-path ring size (power of two) */
#define NETSHM_BUF_SIZE		2048	/* one fast-path buffer: one frame, no vnet header */
#define NETSHM_FRAME_MIN	14
#define NETSHM_FRAME_MAX	NETSHM_BUF_SIZE

/*
 * Control part: [0, NETSHM_CTRL_SIZE). Written by the switch only; a VMM maps it read-only into
 * the guest where KVM has KVM_CAP_READONLY_MEM (device STATUS bit NETSHM_STS_CTRL_RO).
 *   0x0000  struct netshm_hdr
 *   0x1000  struct netshm_table, one per sender port, NETSHM_TABLE_STRIDE apart
 * Pair part: [NETSHM_CTRL_SIZE, region_size). Guest-writable. One pair area per ordered
 * (sender s, receiver r), s != r, at pair_off + (s * nports + r) * pair_stride:
 *   +0x0000  struct netshm_pair (written by the receiver r)
 *   +0x1000  the ring in shared mode: desc (QSIZE * 16), avail at +0x2000, used at +0x3000,
 *   +0x4000  buffers, QSIZE * BUF_SIZE (receiver r posts them; sender s fills them)
 */
#define NETSHM_CTRL_SIZE	0x200000u	/* 2 MiB: the RW part starts hugepage-aligned */
#define NETSHM_TABLE_OFF	0x1000u
#define NETSHM_TABLE_STRIDE	0x1000u
#define NETSHM_PAIR_OFF		NETSHM_CTRL_SIZE
#define NETSHM_PAIR_RING_OFF	0x1000u
#define NETSHM_PAIR_BUF_OFF	0x4000u
#define NETSHM_PAIR_STRIDE	0x100000u	/* 1 MiB >= BUF_OFF + QSIZE * BUF_SIZE */
/* Rounded up to 2 MiB so that it can be one hugetlb file. */
#define NETSHM_REGION_SIZE(nports) \
	(((uint64_t)NETSHM_PAIR_OFF + (uint64_t)(nports) * (nports) * NETSHM_PAIR_STRIDE + \
	  0x1fffffu) & ~(uint64_t)0x1fffffu)

#define NETSHM_HDR_MAGIC	0x4d48534eu	/* "NSHM" */

/* netshm_hdr.port_state[p] */
#define NETSHM_PORT_ATTACHED	0x1u	/* a VMM holds the port and did NETSHM_ATTACH */
#define NETSHM_PORT_PEER	0x2u	/* ... in peer-memory mode */
#define NETSHM_PORT_EPOCH_SHIFT	8	/* bits 8..31: +1 on every attach of the port */

struct netshm_hdr {
	uint32_t magic;			/* NETSHM_HDR_MAGIC, written last at creation */
	uint32_t version;		/* NETSHM_VERSION */
	uint32_t nports;		/* 2..NETSHM_MAX_PORTS */
	uint32_t flags;			/* 0 */
	uint64_t region_size;		/* NETSHM_REGION_SIZE(nports) */
	uint32_t table_off, table_stride;
	uint32_t pair_off, pair_stride;
	uint32_t qsize, buf_size;
	uint32_t port_state[NETSHM_MAX_PORTS];
};

/*
 * Flow table of one sender: "frames to mac go to receiver port peer over pair (me, peer)".
 * Each entry is a seqlock written by the switch: seq odd while it changes; a reader copies the
 * entry between two equal, even reads of seq. gen increments after every entry change, so a
 * guest re-reads the table only when gen moved.
 */
#define NETSHM_ENTRY_VALID	0x1u

struct netshm_entry {
	uint32_t seq;
	uint8_t mac[6];
	uint8_t peer;			/* receiver port, < nports, != the table's sender */
	uint8_t flags;			/* NETSHM_ENTRY_VALID */
	uint32_t reserved;
};

struct netshm_table {
	uint32_t gen;
	uint32_t count;			/* entries [0, count) may be valid; <= NETSHM_MAX_ENTRIES */
	uint32_t reserved[14];
	struct netshm_entry e[NETSHM_MAX_ENTRIES];
};

/*
 * One fast-path ring: a VIRTIO 1.x split virtqueue in which the receiver is the driver (posts
 * device-writable buffers of buf_size bytes, one descriptor each, no NEXT/INDIRECT) and the
 * sender is the device (fills them, one used entry per frame, len = frame length). No vnet
 * header. Both sides poll; used->flags is ignored. avail->flags matters only with doorbells
 * (docs/vhost-user-shmem.md §8): a receiver clears VRING_AVAIL_F_NO_INTERRUPT there when it
 * wants the sender to ring its doorbell after a batch, and sets it again when it polls.
 * Addresses in desc/avail/used and in the descriptors are in the pair's space:
 *   NETSHM_SPACE_REGION  offsets in the region (shared mode)
 *   NETSHM_SPACE_PEER    guest-physical addresses of the receiver (peer-memory mode; the sender
 *                        reaches them through its window for that receiver)
 */
#define NETSHM_PAIR_MAGIC	0x5249504eu	/* "NPIR": ring ready */
#define NETSHM_SPACE_REGION	1u
#define NETSHM_SPACE_PEER	2u

struct netshm_pair {
	uint32_t magic;			/* NETSHM_PAIR_MAGIC when the ring is ready, else 0 */
	uint32_t space;			/* NETSHM_SPACE_* */
	uint32_t qsize;			/* power of two, <= NETSHM_QSIZE */
	uint32_t epoch;			/* receiver's: +1 on every (re)initialisation */
	uint64_t desc, avail, used;	/* in the pair's space */
	uint64_t reserved[3];
};

/* ---- the netshm PCI device: BAR0, 4 KiB of 32-bit registers (read-only; writes ignored) ---- */

#define NETSHM_PCI_VENDOR	0x1234u	/* unassigned by PCI-SIG; QEMU's hobby devices use it */
#define NETSHM_PCI_DEVICE	0x4e53u	/* "NS" */
#define NETSHM_PCI_CLASS	0x050000u /* memory controller: RAM (as ivshmem) */
#define NETSHM_BAR0_SIZE	0x1000u

#define NETSHM_DEV_MAGIC	0x44485353u	/* "SSHD" */

#define NETSHM_REG_MAGIC	0x00	/* NETSHM_DEV_MAGIC */
#define NETSHM_REG_VERSION	0x04	/* NETSHM_VERSION */
#define NETSHM_REG_STATUS	0x08	/* NETSHM_STS_* */
#define NETSHM_REG_GEN		0x0c	/* +1 after every change of the registers below */
#define NETSHM_REG_PORT		0x10	/* this VM's port in the region */
#define NETSHM_REG_NPORTS	0x14
#define NETSHM_REG_REGION_LO	0x18	/* guest-physical address of the region window */
#define NETSHM_REG_REGION_HI	0x1c
#define NETSHM_REG_RSIZE_LO	0x20	/* region size */
#define NETSHM_REG_RSIZE_HI	0x24
#define NETSHM_REG_PEER_LO	0x28	/* window of port p: PEER + p * PEER_STRIDE (peer mode) */
#define NETSHM_REG_PEER_HI	0x2c
#define NETSHM_REG_PSTRIDE_LO	0x30
#define NETSHM_REG_PSTRIDE_HI	0x34
#define NETSHM_REG_PEER_MAPPED	0x38	/* bit p: port p's memory is mapped in its window now */
#define NETSHM_REG_PEER_VIEW	0x3c	/* STS_VIEWS: the EPT view the peer windows exist in (>= 1) */
#define NETSHM_REG_IRQ		0x40	/* STS_DOORBELL: IOAPIC pin (GSI) of this VM's doorbell, edge */
#define NETSHM_REG_DOORBELL_PEERS 0x44	/* bit q: port q's doorbell is wired (ioeventfd) here */
#define NETSHM_REG_DOORBELL(q)	(0x100u + 4u * (q))	/* write: ring port q's doorbell */

#define NETSHM_STS_REGION	0x1u	/* the region is mapped at REGION */
#define NETSHM_STS_PEER		0x2u	/* peer-memory mode (protect=none or vmfunc) */
#define NETSHM_STS_CTRL_RO	0x4u	/* the control part is read-only to the guest */
#define NETSHM_STS_VIEWS	0x8u	/* protect=vmfunc: peer windows exist only in view PEER_VIEW */
/* With STS_VIEWS exactly one of these says how the guest switches views (docs/kvm-views.md): */
#define NETSHM_STS_VMFUNC	0x10u	/* VMFUNC leaf 0: EAX = 0, ECX = view; no exit, any CPL */
#define NETSHM_STS_HCALL	0x20u	/* hypercall NETSHM_HC_VIEW_SWITCH, RBX = view; any CPL */
#define NETSHM_STS_DOORBELL	0x40u	/* doorbell=on: our eventfd is an irqfd on GSI REG_IRQ */

/*
 * = KVM_HC_EPT_VIEW_SWITCH of arch/x86/kvm-patch/kvm-views-uapi.h (vmm/netshm.c checks): RAX =
 * this, RBX = view, RCX = RDX = RSI = 0; VMCALL on Intel, VMMCALL on AMD; RAX = 0 on success.
 */
#define NETSHM_HC_VIEW_SWITCH	0x564d0001u

#endif
