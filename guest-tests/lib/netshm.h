/* SPDX-License-Identifier: MIT */
#ifndef GUEST_NETSHM_H
#define GUEST_NETSHM_H

/*
 * The guest side of the vhost-user-shmem fast path (docs/vhost-user-shmem.md, layout in
 * base/netshm-abi.h), for ring 3, shaped like the vnet API next to which it runs:
 *
 *	static struct vnet nic;
 *	static struct nshm ns;
 *	static struct nshm_rx_mem mem[NSHM_MAX_INBOUND];	// peer-memory mode only
 *	vnet_probe(0, &nic); vnet_init(&nic, &VNET_CONF_DEFAULT);
 *	nshm_probe(&ns, 5000);			// device, registers, STATUS.REGION, windows mapped
 *	nshm_init(&ns, mem);			// our inbound rings (mem may be NULL in shared mode)
 *	n = nshm_rx_burst(&ns, &nic, pkts, 32);	// inbound pair rings first, then the NIC
 *	nshm_tx_burst(&ns, &nic, pkts, n);	// per frame: fast ring if the flow table says so
 *
 * Setup (probe, init, nshm_refresh_dev) reads device registers: every such read is an exit.
 * The data path (tx_burst, rx_burst) never exits: it reads and writes the region (and, in
 * peer mode, the peers' RAM through their windows) and the NIC's rings only. Per burst and
 * per peer the sender reads avail->idx once and stores used->idx once; the receiver reads
 * used->idx once and stores avail->idx once.
 *
 * Trust: the region's pair part and every peer window are written by other guests, so every
 * index, length and address read from them is checked before use (the spec's sender and
 * receiver checks). A failed check on a ring we send into stops our use of that ring until
 * its receiver re-initialises it (new epoch); those frames then take the switch path. A
 * broken inbound ring (ours) is re-initialised by us. Nothing a peer writes can make us
 * touch memory outside the region or the peer windows.
 *
 * The windows are identity-mapped (user access) by entries ring 3 adds to the boot PDPT
 * (lib/setup.c maps RAM and the hole only): 1 GiB pages where setup.c used them, else 2 MiB
 * pages in page directories inside struct nshm. A not-present -> present change needs no TLB
 * flush (SDM Vol. 3 §4.10.4.3), so no ring-0 code is involved. Of a peer's window (peer
 * mode) the first NSHM_PEER_GIB GiB are mapped: a sender refuses buffers beyond them.
 *
 * protect=vmfunc (device STATUS.VIEWS, docs/kvm-views.md): the peer windows exist only in EPT
 * view PEER_VIEW. nshm_tx_burst() then brackets the part of a batch that touches peer RAM
 * with two view switches, so a window is open only while a batch is delivered; everything
 * else (region, our rings, the NIC) is in both views. The switch is VMFUNC leaf 0 where the
 * device says STATUS.VMFUNC, else the view-switch hypercall (STATUS.HCALL). Both work at CPL 3
 * (patch 0003 exempts KVM_HC_EPT_VIEW_SWITCH from KVM's CPL-0 rule), so no ring-0 code is
 * involved here either.
 *
 * Doorbells (§8, doorbell=on): polling stays the default. A receiver that would otherwise
 * spin idle calls nshm_rx_arm() (clears VRING_AVAIL_F_NO_INTERRUPT on its inbound rings, a
 * full barrier, one more look), waits for nshm_doorbell_irqs to move, then nshm_rx_disarm()
 * and polls. nshm_tx_burst() rings a peer after a batch into its ring when the peer asked
 * and DOORBELL_PEERS says its doorbell is wired here: one 32-bit MMIO write per ring and batch,
 * the data path's only exit (into the host kernel, an ioeventfd; never to the VMM). The
 * interrupt's ring-0 handler (nshm_doorbell_setup) only counts and EOIs: six instructions,
 * because ring 0 is emulated on our hosts (~1 us each), and ring 3 cannot HLT, so a receiver
 * "waits" by spinning on the counter.
 *
 * Not thread-safe: one CPU drives one struct nshm (and its struct vnet).
 */
#include <stdbool.h>
#include <stdint.h>

#include "base/netshm-abi.h"
#include "virtio-net.h"

#define NSHM_BURST		32
#define NSHM_MAX_INBOUND	(NETSHM_MAX_PORTS - 1)
/* How much of a peer's window (its RAM from GPA 0) we map: RAM, the 3..4 GiB hole, no more. */
#define NSHM_PEER_GIB		4
/* Page directories for 2 MiB mappings: the region (<= 1 GiB, maybe straddling two) + peers. */
#define NSHM_MAX_PD		(2 + NSHM_MAX_INBOUND * NSHM_PEER_GIB)

/* How we switch EPT views (protect=vmfunc), chosen at probe from the device's STATUS. */
enum nshm_view_method {
	NSHM_VIEW_NONE,		/* no views: the windows are always there */
	NSHM_VIEW_VMFUNC,	/* VMFUNC leaf 0, 0f 01 d4: no exit */
	NSHM_VIEW_VMCALL,	/* the hypercall with VMCALL (Intel): one exit per switch */
	NSHM_VIEW_VMMCALL,	/* the hypercall with VMMCALL (AMD) */
};

/* Ring memory of one inbound ring in peer mode: in our own RAM (identity mapped, GPA == VA). */
struct nshm_rx_mem {
	struct vring_desc desc[NETSHM_QSIZE];
	struct {
		uint16_t flags, idx;
		uint16_t ring[NETSHM_QSIZE + 1];
	} avail __attribute__((aligned(4096)));
	struct {
		uint16_t flags, idx;
		struct vring_used_elem ring[NETSHM_QSIZE];
		uint16_t avail_event;
	} used __attribute__((aligned(4096)));
	uint8_t buf[NETSHM_QSIZE][NETSHM_BUF_SIZE] __attribute__((aligned(4096)));
} __attribute__((aligned(4096)));

struct nshm_stats {
	uint64_t fast_tx, fast_rx;	/* frames through pair rings */
	uint64_t slow_tx, slow_rx;	/* frames through the virtio-net queue (the switch) */
	uint64_t tx_ring_errors;	/* checks failed on a ring we send into (ring then unused) */
	uint64_t rx_ring_errors;	/* bad used entries on our rings (skipped) */
	uint64_t rx_reinits;		/* our rings re-initialised (found scribbled, or broken) */
	uint64_t table_refreshes;	/* flow table copies (gen moved) */
	uint64_t table_bad;		/* entries unreadable or naming a bad peer */
	uint64_t ring_full;		/* bursts cut short: a fast ring had no free buffer */
	uint64_t not_ready;		/* frames with a valid entry sent slow: ring not usable */
	uint64_t dev_reads;		/* register snapshots taken (each costs exits) */
	uint64_t region_lost;		/* inbound rings dropped: the region reads all ones */
	uint64_t view_switches;		/* EPT view switches (two per batch that used a window) */
	uint64_t view_errors;		/* the hypercall refused a switch: batch sent slow */
	uint64_t doorbells;		/* DOORBELL(q) writes: q asked after a batch into its ring */
	uint64_t doorbell_unwired;	/* q asked, its doorbell is not wired here: not rung */
	uint64_t rx_arms;		/* nshm_rx_arm() that left our rings armed (sleeps) */
};

/* The device registers, one consistent snapshot (GEN protocol). */
struct nshm_regs {
	uint32_t magic, version, status, gen, port, nports, peer_mapped;
	uint32_t peer_view;		/* read only when STATUS.VIEWS */
	uint32_t irq;			/* read only when STATUS.DOORBELL */
	uint32_t doorbell_peers;	/* bits of other ports < nports only (masked at read) */
	uint64_t region, region_size, peer, peer_stride;
};

/* Sender side of the pair (us -> r): a validated copy of r's header, never re-read unchecked. */
struct nshm_out {
	bool usable;			/* header validated for `epoch`, no check failed since */
	bool broken;			/* a check failed for `epoch`: wait for a new one */
	uint32_t epoch;
	uint32_t mask;			/* qsize - 1 */
	uint64_t base, limit;		/* the space: VA of address 0 and its size */
	uint64_t buf_min;		/* lowest address a buffer may have in the space */
	volatile struct vring_desc *desc;
	volatile uint16_t *avail_idx, *avail_ring;
	volatile uint16_t *used_idx;
	volatile struct vring_used_elem *used_ring;
	uint16_t last_avail, used;	/* our private indices */
};

/* Receiver side of the pair (s -> us): the ring we drive. */
struct nshm_in {
	bool active;
	volatile struct netshm_pair *hdr;	/* in the region */
	volatile struct vring_desc *desc;
	volatile uint16_t *avail_idx, *avail_ring;
	volatile uint16_t *used_idx;
	volatile struct vring_used_elem *used_ring;
	uint8_t *buf;			/* VA of buffer 0 */
	uint64_t buf_addr;		/* its address in the pair's space */
	uint64_t desc_addr, avail_addr, used_addr;
	uint32_t epoch;
	uint16_t avail, last_used;
	bool posted[NETSHM_QSIZE];	/* with the sender now */
	uint16_t hold[NSHM_BURST];	/* lent to the caller by the last rx_burst */
	unsigned int nhold;
};

struct nshm_flow {
	uint64_t mac;			/* 48 bits, byte 0 in bits 0..7 */
	uint8_t peer;
};

struct nshm {
	uint64_t pd[NSHM_MAX_PD][512] __attribute__((aligned(4096)));	/* see nshm_probe */
	unsigned int npd;
	uint8_t slot;			/* PCI slot of the device */
	uint64_t bar0;
	struct nshm_regs regs;
	bool peer_mode;
	enum nshm_view_method view;	/* NONE unless STATUS.VIEWS */
	uint32_t port, nports;
	uint8_t *region;		/* VA == GPA of the region */
	struct netshm_table *table;	/* ours (sender = port) */
	uint32_t table_gen;
	bool table_valid;		/* table_gen names what flows[] holds */
	struct nshm_flow flows[NETSHM_MAX_ENTRIES];
	unsigned int nflows;
	bool force_slow;		/* every frame through the switch (benchmarks, tests) */
	uint64_t recheck_tsc;		/* next look at pairs that were not usable */
	uint64_t recheck_period;
	unsigned int rx_next;		/* round-robin start among inbound rings */
	bool nic_first;			/* the rings filled the last burst: NIC first now */
	unsigned int rx_polls;
	struct nshm_rx_mem *mem;	/* peer mode: caller's storage */
	volatile uint32_t *doorbell;	/* DOORBELL(0) in BAR0; NULL: never ring (no device) */
	uint64_t db_recheck_tsc;	/* next GEN look for a doorbell that was not wired */
	bool rx_armed;			/* our rings ask for doorbells (NO_INTERRUPT clear) */
	bool db_msi;			/* the doorbell arrives as the device's MSI, not the pin */
	struct nshm_out out[NETSHM_MAX_PORTS];
	struct nshm_in in[NETSHM_MAX_PORTS];
	struct nshm_stats st;
};

/*
 * Finds the netshm PCI function (1234:4e53) on bus 0, checks MAGIC/VERSION, waits up to
 * wait_ms for STATUS.REGION (reading registers with the GEN protocol), validates the window
 * geometry and the region header, and maps the region (and in peer mode every peer window)
 * into our page tables. Zeroes *ns first. 0, or -ENODEV (no device, or BAR0 not in the
 * 3..4 GiB hole), -ETIMEDOUT (no REGION), -EINVAL (registers or region header inconsistent,
 * or a window we cannot map), -ENOTSUP (STATUS.VIEWS without exactly one switch method, or a
 * PEER_VIEW VMFUNC cannot name: see nshm_view_pick).
 */
int nshm_probe(struct nshm *ns, uint64_t wait_ms);
/*
 * For self-tests without a device (x86/netshm-selftest.c): uses a region the caller built in
 * its own RAM (identity mapped), as port `port` of nports. 0, or -EINVAL (bad header).
 */
int nshm_attach_mem(struct nshm *ns, void *region, uint32_t port, uint32_t nports);
/*
 * (Re)initialises one inbound ring per other port, exactly as the spec says (magic 0, ring
 * filled, epoch + 1, magic last). Peer mode needs mem (NSHM_MAX_INBOUND entries, ours for
 * good); shared mode ignores it. 0 or -EINVAL.
 */
int nshm_init(struct nshm *ns, struct nshm_rx_mem *mem);
/* Takes a new register snapshot (exits): PEER_MAPPED, STATUS. 0, -EIO (GEN never settled), or
 * -ENODEV (attached with nshm_attach_mem: no device). */
int nshm_refresh_dev(struct nshm *ns);

/*
 * Sends up to cnt frames: a frame whose destination has a valid flow entry and whose ring is
 * usable goes into that ring; every other frame (broadcast, unknown, force_slow, ring not
 * ready) through vnet_tx_burst(). Returns how many leading frames were consumed; fewer than
 * cnt when a fast ring is full (ring_full) or the NIC has no free TX buffer: pass the rest
 * again. Frames of one (source, destination) stay in order on each path.
 */
unsigned int nshm_tx_burst(struct nshm *ns, struct vnet *nic, const struct vnet_pkt *pkts,
			   unsigned int cnt);
/*
 * Gives back the previous burst's buffers, then takes up to max (<= 32) frames: inbound
 * pair rings first (round robin), then the NIC (nic may be NULL); after a burst the rings
 * filled alone the NIC goes first, so that neither path starves the other. pkts[i].data stays valid
 * until the next call. In shared mode a frame's bytes live in the region, where a hostile
 * peer can still change them: check what you parse.
 */
unsigned int nshm_rx_burst(struct nshm *ns, struct vnet *nic, struct vnet_pkt *pkts,
			   unsigned int max);
/* True when frames to mac would take the fast path now (entry valid, ring usable). */
bool nshm_fast_ready(struct nshm *ns, const uint8_t mac[6]);

/*
 * ---- doorbells (§8) ----
 * Receiver: sends the doorbell (STATUS.DOORBELL) to `vector` on this CPU behind a raw IDT
 * entry that counts nshm_doorbell_irqs and sends the EOI: through the device's MSI
 * capability where it has one and !pin (db_msi; KVM injects it without a worker, §8), else
 * the IRQ pin (IOAPIC: edge, active high, fixed). Setup only (config, IOAPIC and register accesses exit). 0, -ENODEV
 * (no STATUS.DOORBELL), -EINVAL (IRQ is not a pin of the IOAPIC, or the vector cannot be used).
 */
int nshm_doorbell_setup(struct nshm *ns, unsigned int vector, bool pin);
extern volatile uint64_t nshm_doorbell_irqs;
/*
 * Gives the last burst's buffers back (its pkts are invalid afterwards), clears NO_INTERRUPT
 * on every inbound ring, full barrier, looks at every ring once more. true: armed and nothing
 * pending, wait for nshm_doorbell_irqs to move; false: frames arrived meanwhile, it disarmed
 * again, poll. No exits.
 */
bool nshm_rx_arm(struct nshm *ns);
void nshm_rx_disarm(struct nshm *ns);	/* NO_INTERRUPT set again: senders stop ringing */
/* Does an inbound ring hold frames we have not taken? One used->idx read per ring, no exit. */
bool nshm_rx_pending(const struct nshm *ns);
/*
 * Sender, setup only: is the doorbell of the port frames to mac go to wired here
 * (DOORBELL_PEERS)? Reads GEN (an exit) and re-reads the registers if it moved.
 */
bool nshm_doorbell_wired(struct nshm *ns, const uint8_t mac[6]);

/*
 * The switch method for a device STATUS and PEER_VIEW: NSHM_VIEW_NONE without STATUS.VIEWS;
 * with it, exactly one of STATUS.VMFUNC / STATUS.HCALL and 1 <= peer_view < 512 (the size of
 * the EPTP list), else -ENOTSUP. amd: the hypercall is VMMCALL rather than VMCALL.
 */
int nshm_view_pick(uint32_t status, uint32_t peer_view, bool amd);
/*
 * The trampolines (assembly in lib/netshm.c): switch this vCPU to EPT view `view` and return
 * 0, or the hypercall's error (-1000 KVM_ENOSYS: the VM has no views; -22 KVM_EINVAL). VMFUNC
 * to a view that does not exist raises #UD instead. Each entry counts in nshm_view_entries.
 * The *_insn labels are the instructions themselves (self-tests check the bytes).
 */
long nshm_view_vmfunc(uint32_t view);
long nshm_view_vmcall(uint32_t view);
long nshm_view_vmmcall(uint32_t view);
extern const uint8_t nshm_vmfunc_insn[], nshm_vmcall_insn[], nshm_vmmcall_insn[];
extern volatile uint64_t nshm_view_entries;

/* Helpers the test guests share. */
uint64_t nshm_mac_key(const uint8_t mac[6]);
/* "aa:bb:cc:dd:ee:ff" (exactly len chars) -> mac; false on anything else. */
bool nshm_parse_mac(const char *s, size_t len, uint8_t mac[6]);
void nshm_print_stats(const char *who, const struct nshm *ns);

#endif
