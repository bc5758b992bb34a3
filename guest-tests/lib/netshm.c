// SPDX-License-Identifier: MIT
/*
 * The guest side of vhost-user-shmem (docs/vhost-user-shmem.md); API and trust rules in
 * netshm.h. Section numbers below are the spec's. The ring code is a split virtqueue
 * (VIRTIO 1.2 §2.7) in which the receiver is the driver and the sender the device.
 * x86 is TSO: store->store and load->load order is kept by the CPU, so the release/acquire
 * points of the spec are compiler barriers (barrier()); no store->load pair needs a fence.
 */
#include "libguest.h"
#include "netshm.h"

#define ENODEV		19
#define EINVAL		22
#define EIO		5
#define ENOTSUP		95
#define ETIMEDOUT	110

#define PCI_CONF_ADDR	0xcf8
#define PCI_CONF_DATA	0xcfc
#define PCI_SLOTS	32
#define PCI_COMMAND	0x04
#define PCI_BAR0	0x10
#define PCI_CMD_MEM	0x0002
#define PCI_BAR_IO	0x1
#define PCI_BAR_TYPE64	0x4
#define PCI_CAP_PTR	0x34
#define PCI_STATUS_CAP_LIST 0x10	/* status (command dword, bits 16..31) */
#define PCI_CAP_ID_MSI	0x05
#define PCI_MSI_ENABLE	0x0001	/* message control (capability dword, bits 16..31) */

#define PTE_PWU		0x7ull		/* present, writable, user */
#define PTE_PS		0x80ull		/* 1 GiB page in a PDPT entry */
#define PDPT_ENTRIES	512		/* one PDPT: the first 512 GiB (lib/setup.c) */
#define HOLE_START	0xc0000000ull	/* the 3..4 GiB hole, mapped by lib/setup.c */
#define HOLE_END	0x100000000ull

#define SEQ_TRIES	16		/* seqlock retries per flow entry (§3 flow tables) */
#define GEN_TRIES	100		/* register snapshot retries (§4) */
#define VERIFY_EVERY	64		/* rx polls between checks of our own pair headers */

extern uint64_t pdpt[PDPT_ENTRIES];	/* lib/entry.S: identity map, user-accessible .bss */

/* ---- PCI config mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2), bus 0, function 0 ---- */

static uint32_t cfg_read32(uint8_t slot, uint8_t off)
{
	outl(PCI_CONF_ADDR, 0x80000000u | (uint32_t)slot << 11 | (off & 0xfc));
	return inl(PCI_CONF_DATA);
}

static void cfg_write32(uint8_t slot, uint8_t off, uint32_t v)
{
	outl(PCI_CONF_ADDR, 0x80000000u | (uint32_t)slot << 11 | (off & 0xfc));
	outl(PCI_CONF_DATA, v);
}

/* ---- registers ---- */

static uint32_t reg(const struct nshm *ns, uint32_t off)
{
	return mmio_read32(ns->bar0 + off);
}

static uint64_t reg64(const struct nshm *ns, uint32_t lo)
{
	return (uint64_t)reg(ns, lo + 4) << 32 | reg(ns, lo);
}

/* §4: GEN, the registers, GEN again, until both reads agree. */
static int nshm_snapshot(struct nshm *ns, struct nshm_regs *r)
{
	for (unsigned int i = 0; i < GEN_TRIES; i++) {
		uint32_t g = reg(ns, NETSHM_REG_GEN);

		barrier();
		*r = (struct nshm_regs){
			.magic = reg(ns, NETSHM_REG_MAGIC),
			.version = reg(ns, NETSHM_REG_VERSION),
			.status = reg(ns, NETSHM_REG_STATUS),
			.gen = g,
			.port = reg(ns, NETSHM_REG_PORT),
			.nports = reg(ns, NETSHM_REG_NPORTS),
			.region = reg64(ns, NETSHM_REG_REGION_LO),
			.region_size = reg64(ns, NETSHM_REG_RSIZE_LO),
			.peer = reg64(ns, NETSHM_REG_PEER_LO),
			.peer_stride = reg64(ns, NETSHM_REG_PSTRIDE_LO),
			.peer_mapped = reg(ns, NETSHM_REG_PEER_MAPPED),
		};
		if (r->status & NETSHM_STS_VIEWS)	/* one more exit, only where it means something */
			r->peer_view = reg(ns, NETSHM_REG_PEER_VIEW);
		if (r->status & NETSHM_STS_DOORBELL)
			r->irq = reg(ns, NETSHM_REG_IRQ);
		/* Peers' doorbells can be wired without one of our own: always read (a VMM older
		 * than §8 reads 0 here, a reserved register). */
		r->doorbell_peers = reg(ns, NETSHM_REG_DOORBELL_PEERS);
		barrier();
		ns->st.dev_reads++;
		if (reg(ns, NETSHM_REG_GEN) == g)
			return 0;
	}
	return -EIO;
}

/* Bits for ports that do not exist, or for ourselves, would make us ring nobody: dropped. */
static uint32_t db_peers_valid(uint32_t bits, uint32_t port, uint32_t nports)
{
	return bits & ((1u << nports) - 1) & ~(1u << port);
}

int nshm_refresh_dev(struct nshm *ns)
{
	struct nshm_regs r;

	if (!ns->bar0)
		return -ENODEV;		/* nshm_attach_mem(): no device to ask */
	if (nshm_snapshot(ns, &r))
		return -EIO;
	/* Geometry was validated at probe; only the dynamic bits are taken from a new look. */
	ns->regs.status = r.status;
	ns->regs.gen = r.gen;
	ns->regs.peer_mapped = r.peer_mapped;
	ns->regs.doorbell_peers = db_peers_valid(r.doorbell_peers, ns->port, ns->nports);
	return 0;
}

/*
 * ---- windows: identity pages added to the boot page tables from ring 3 ----
 * lib/setup.c chose 1 GiB pages or 2 MiB pages in ring 0 (from the CPUID the VMM gives ring
 * 0). We follow its choice, read from pdpt[0], and not CPUID from ring 3: on the PVM host
 * ring-3 CPUID runs natively and reports the host's Page1GB, while the shadow MMU rejects a
 * guest PDPTE with PS (a reserved-bit #PF, measured). With 2 MiB pages each mapped GiB takes
 * one page directory from ns->pd.
 */
static bool nshm_1g_pages(void)
{
	return pdpt[0] & PTE_PS;
}

static int nshm_map_gib(struct nshm *ns, uint64_t g)
{
	uint64_t want, *pd;

	if (g >= PDPT_ENTRIES)
		return -EINVAL;
	if (nshm_1g_pages()) {
		want = GiB(g) | PTE_PS | PTE_PWU;
	} else {
		if (ns->npd == NSHM_MAX_PD)
			return -EINVAL;
		pd = ns->pd[ns->npd++];
		want = (uint64_t)pd | PTE_PWU;
		if (pdpt[g] && pdpt[g] != want)
			return -EINVAL;
		for (unsigned int i = 0; i < 512; i++)
			pd[i] = GiB(g) + MiB(2) * i + (PTE_PS | PTE_PWU);
	}
	/*
	 * An entry lib/setup.c made for RAM or the hole is a conflict: the window would alias
	 * memory. Ours (a second probe with the same struct) is taken as it is.
	 */
	if (pdpt[g] && pdpt[g] != want)
		return -EINVAL;
	barrier();
	pdpt[g] = want;
	return 0;
}

/*
 * Identity-maps [gpa, gpa + len) with user access. Only entries that were not present are
 * written (SDM Vol. 3 §4.10.4.3: not-present -> present needs no invalidation; measured on
 * the PVM host too), so no ring-0 code is involved.
 */
static int nshm_map(struct nshm *ns, uint64_t gpa, uint64_t len)
{
	if (!len || gpa > GiB(PDPT_ENTRIES) || len > GiB(PDPT_ENTRIES) - gpa)
		return -EINVAL;
	for (uint64_t g = gpa >> 30; g <= (gpa + len - 1) >> 30; g++) {
		int r = nshm_map_gib(ns, g);

		if (r)
			return r;
	}
	barrier();
	return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* §4 geometry: everything we will map must fit one PDPT and not meet RAM, the hole, or itself. */
static int nshm_check_regs(const struct nshm_regs *r)
{
	uint64_t top = GiB(PDPT_ENTRIES);

	if (r->magic != NETSHM_DEV_MAGIC || r->version != NETSHM_VERSION)
		return -ENODEV;
	if (r->nports < 2 || r->nports > NETSHM_MAX_PORTS || r->port >= r->nports)
		return -EINVAL;
	if (r->region_size != NETSHM_REGION_SIZE(r->nports) || r->region < HOLE_END ||
	    r->region > top || r->region_size > top - r->region ||
	    r->region < boot_info()->ram_top)
		return -EINVAL;
	if (r->status & NETSHM_STS_PEER) {
		/* Windows are 1 GiB granular so that each is whole pages of its own. */
		if ((r->peer | r->peer_stride) & (GiB(1) - 1) || !r->peer_stride ||
		    r->peer < HOLE_END || r->peer > top ||
		    r->peer_stride > (top - r->peer) / r->nports ||
		    overlaps(r->peer, r->peer_stride * r->nports, r->region, r->region_size) ||
		    r->peer < boot_info()->ram_top)
			return -EINVAL;
	}
	return 0;
}

/* The region header (§3) must describe exactly the layout of base/netshm-abi.h. */
static int nshm_check_hdr(const struct nshm *ns)
{
	const volatile struct netshm_hdr *h = (const volatile struct netshm_hdr *)ns->region;

	if (h->magic != NETSHM_HDR_MAGIC || h->version != NETSHM_VERSION ||
	    h->nports != ns->nports || h->region_size != ns->regs.region_size ||
	    h->table_off != NETSHM_TABLE_OFF || h->table_stride != NETSHM_TABLE_STRIDE ||
	    h->pair_off != NETSHM_PAIR_OFF || h->pair_stride != NETSHM_PAIR_STRIDE ||
	    h->qsize != NETSHM_QSIZE || h->buf_size != NETSHM_BUF_SIZE)
		return -EINVAL;
	return 0;
}

static int nshm_find(struct nshm *ns)
{
	for (uint8_t slot = 0; slot < PCI_SLOTS; slot++) {
		uint32_t id = cfg_read32(slot, 0), lo, hi = 0, cmd;

		if ((id & 0xffff) != NETSHM_PCI_VENDOR || id >> 16 != NETSHM_PCI_DEVICE)
			continue;
		lo = cfg_read32(slot, PCI_BAR0);
		if (lo & PCI_BAR_IO)
			return -ENODEV;
		if ((lo & 0x6) == PCI_BAR_TYPE64)
			hi = cfg_read32(slot, PCI_BAR0 + 4);
		ns->bar0 = ((uint64_t)hi << 32 | lo) & ~0xfull;
		/* Our VMM places BARs in the hole like firmware; we only use them there. */
		if (ns->bar0 < HOLE_START || ns->bar0 > HOLE_END - NETSHM_BAR0_SIZE)
			return -ENODEV;
		cmd = cfg_read32(slot, PCI_COMMAND);
		if (!(cmd & PCI_CMD_MEM))
			cfg_write32(slot, PCI_COMMAND, (cmd & 0xffff) | PCI_CMD_MEM);
		ns->slot = slot;
		return 0;
	}
	return -ENODEV;
}

/* ---- EPT views (protect=vmfunc, docs/kvm-views.md) ---- */

/*
 * The trampolines. VMFUNC leaf 0 (EAX = 0, ECX = view) loads another EPT pointer from the
 * list KVM filled, without a VM exit, at any CPL (SDM Vol. 3C "EPTP Switching"). The
 * hypercall (RAX = KVM_HC_EPT_VIEW_SWITCH, RBX = view, RCX = RDX = RSI = 0, result in RAX) is
 * the same switch with one exit; patch 0003 accepts it at CPL 3, unlike KVM's other
 * hypercalls. RBX is callee-saved, so the hypercall ones keep it.
 */
volatile uint64_t nshm_view_entries;

#define STR_(x)	#x
#define STR(x)	STR_(x)
#define NSHM_HCALL_TRAMPOLINE(name, label, insn)				\
	".globl " #name "\n.type " #name ", @function\n" #name ":\n"	\
	"	incq nshm_view_entries(%rip)\n"				\
	"	push %rbx\n"						\
	"	mov %edi, %ebx\n"					\
	"	mov $" STR(NETSHM_HC_VIEW_SWITCH) ", %eax\n"		\
	"	xor %ecx, %ecx\n"					\
	"	xor %edx, %edx\n"					\
	"	xor %esi, %esi\n"					\
	".globl " #label "\n" #label ":\n"				\
	"	.byte " insn "\n"					\
	"	pop %rbx\n"						\
	"	ret\n"

asm(".pushsection .text\n"
    ".globl nshm_view_vmfunc\n.type nshm_view_vmfunc, @function\nnshm_view_vmfunc:\n"
    "	incq nshm_view_entries(%rip)\n"
    "	mov %edi, %ecx\n"
    "	xor %eax, %eax\n"
    ".globl nshm_vmfunc_insn\nnshm_vmfunc_insn:\n"
    "	.byte 0x0f, 0x01, 0xd4\n"		/* VMFUNC: KVM_EPT_VIEW_VMFUNC_BYTES */
    "	xor %eax, %eax\n"
    "	ret\n"
    NSHM_HCALL_TRAMPOLINE(nshm_view_vmcall, nshm_vmcall_insn, "0x0f, 0x01, 0xc1")	/* VMCALL */
    NSHM_HCALL_TRAMPOLINE(nshm_view_vmmcall, nshm_vmmcall_insn, "0x0f, 0x01, 0xd9")	/* VMMCALL */
    ".popsection\n");

/* The hypercall instruction is the vendor's: the other one is #UD (or patched by KVM). */
static bool cpu_is_amd(void)
{
	uint32_t r[4];

	cpuid(0, 0, r);
	return r[1] == 0x68747541 /* "Auth"enticAMD */ || r[1] == 0x6f677948 /* "Hygo"nGenuine */;
}

int nshm_view_pick(uint32_t status, uint32_t peer_view, bool amd)
{
	uint32_t how = status & (NETSHM_STS_VMFUNC | NETSHM_STS_HCALL);

	if (!(status & NETSHM_STS_VIEWS))
		return NSHM_VIEW_NONE;
	if (!peer_view || peer_view >= 512)	/* VMFUNC's ECX indexes a 512-entry EPTP list */
		return -ENOTSUP;
	if (how == NETSHM_STS_VMFUNC)
		return NSHM_VIEW_VMFUNC;
	if (how == NETSHM_STS_HCALL)
		return amd ? NSHM_VIEW_VMMCALL : NSHM_VIEW_VMCALL;
	return -ENOTSUP;		/* neither, or both: a VMM we do not understand */
}

static long nshm_view_switch(struct nshm *ns, uint32_t view)
{
	long r;

	switch (ns->view) {
	case NSHM_VIEW_VMFUNC:
		r = nshm_view_vmfunc(view);
		break;
	case NSHM_VIEW_VMCALL:
		r = nshm_view_vmcall(view);
		break;
	case NSHM_VIEW_VMMCALL:
		r = nshm_view_vmmcall(view);
		break;
	default:
		return 0;
	}
	ns->st.view_switches++;
	if (r)
		ns->st.view_errors++;
	return r;
}

/*
 * Opens the peer windows for one batch: false if the hypercall refused (the batch then goes
 * through the switch). Per batch this costs two switches: two VMFUNCs are a few hundred
 * cycles on hardware; two hypercalls are two exits, ~10 us on a host like ours. Compiler
 * barriers keep every window access between open and close.
 */
static bool nshm_window_open(struct nshm *ns)
{
	bool ok = nshm_view_switch(ns, ns->regs.peer_view) == 0;

	barrier();
	return ok;
}

static void nshm_window_close(struct nshm *ns)
{
	barrier();
	/* Back to view 0 cannot fail: it always exists. A refusal would be a KVM bug, counted. */
	(void)nshm_view_switch(ns, 0);
}

static int nshm_use_region(struct nshm *ns);

int nshm_probe(struct nshm *ns, uint64_t wait_ms)
{
	uint64_t khz = tsc_khz() ? tsc_khz() : 1, t0;
	int r;

	memset(ns, 0, sizeof(*ns));
	r = nshm_find(ns);
	if (r)
		return r;
	t0 = rdtsc();
	for (;;) {
		if (nshm_snapshot(ns, &ns->regs))
			return -EIO;
		if (ns->regs.magic != NETSHM_DEV_MAGIC || ns->regs.version != NETSHM_VERSION)
			return -ENODEV;
		if (ns->regs.status & NETSHM_STS_REGION)
			break;
		if ((rdtsc() - t0) / khz >= wait_ms)
			return -ETIMEDOUT;
		udelay(1000);
	}
	r = nshm_check_regs(&ns->regs);
	if (r)
		return r;
	r = nshm_view_pick(ns->regs.status, ns->regs.peer_view, cpu_is_amd());
	if (r < 0)
		return r;
	ns->view = (enum nshm_view_method)r;
	ns->port = ns->regs.port;
	ns->nports = ns->regs.nports;
	ns->peer_mode = ns->regs.status & NETSHM_STS_PEER;
	ns->regs.doorbell_peers = db_peers_valid(ns->regs.doorbell_peers, ns->port, ns->nports);
	ns->doorbell = (volatile uint32_t *)(ns->bar0 + NETSHM_REG_DOORBELL(0));
	r = nshm_map(ns, ns->regs.region, ns->regs.region_size);
	if (r)
		return r;
	for (uint32_t p = 0; ns->peer_mode && p < ns->nports; p++) {
		/* A peer's RAM starts at its window; we reach its first NSHM_PEER_GIB GiB. */
		uint64_t span = ns->regs.peer_stride < GiB(NSHM_PEER_GIB) ? ns->regs.peer_stride
									 : GiB(NSHM_PEER_GIB);

		if (p == ns->port)
			continue;
		r = nshm_map(ns, ns->regs.peer + p * ns->regs.peer_stride, span);
		if (r)
			return r;
	}
	return nshm_use_region(ns);
}

/* The region is mapped at regs.region: check its header, find our flow table. */
static int nshm_use_region(struct nshm *ns)
{
	uint64_t khz = tsc_khz() ? tsc_khz() : 1;
	int r;

	ns->region = (uint8_t *)ns->regs.region;
	r = nshm_check_hdr(ns);
	if (r)
		return r;
	ns->table = (struct netshm_table *)(ns->region + NETSHM_TABLE_OFF +
					     (uint64_t)ns->port * NETSHM_TABLE_STRIDE);
	ns->recheck_period = khz * 10;		/* 10 ms */
	return 0;
}

int nshm_attach_mem(struct nshm *ns, void *region, uint32_t port, uint32_t nports)
{
	memset(ns, 0, sizeof(*ns));
	if (nports < 2 || nports > NETSHM_MAX_PORTS || port >= nports)
		return -EINVAL;
	ns->regs = (struct nshm_regs){
		.magic = NETSHM_DEV_MAGIC, .version = NETSHM_VERSION, .status = NETSHM_STS_REGION,
		.port = port, .nports = nports, .region = (uint64_t)region,
		.region_size = NETSHM_REGION_SIZE(nports),
	};
	ns->port = port;
	ns->nports = nports;
	return nshm_use_region(ns);
}

/* ---- receiver: our inbound rings (§3 pair rings, r is the driver) ---- */

static uint64_t pair_off(const struct nshm *ns, uint32_t s, uint32_t r)
{
	return NETSHM_PAIR_OFF + ((uint64_t)s * ns->nports + r) * NETSHM_PAIR_STRIDE;
}

/* Posts buffer id again; the descriptor is rewritten too, undoing any scribble (shared mode). */
static void in_post(struct nshm_in *in, uint16_t id)
{
	in->desc[id] = (struct vring_desc){
		.addr = in->buf_addr + (uint64_t)id * NETSHM_BUF_SIZE,
		.len = NETSHM_BUF_SIZE, .flags = VRING_DESC_F_WRITE,
	};
	in->avail_ring[in->avail & (NETSHM_QSIZE - 1)] = id;
	in->avail++;
	in->posted[id] = true;
}

/*
 * §3: magic = 0, fill the ring, epoch + 1, magic = PAIR_MAGIC (release). The indices go on
 * from the current used->idx, and stale used entries are overwritten with an id nobody has,
 * so a sender still finishing a batch on the old ring cannot make us take an old entry.
 */
static void in_reinit(struct nshm *ns, struct nshm_in *in)
{
	volatile struct netshm_pair *h = in->hdr;
	uint16_t u;

	h->magic = 0;
	barrier();
	u = *in->used_idx;
	for (unsigned int i = 0; i < NETSHM_QSIZE; i++)
		in->used_ring[i] = (struct vring_used_elem){ .id = 0xffffffffu, .len = 0 };
	in->last_used = u;
	in->avail = u;
	in->nhold = 0;
	for (uint16_t i = 0; i < NETSHM_QSIZE; i++)
		in_post(in, i);
	in->avail_ring[NETSHM_QSIZE] = 0;	/* used_event: unused (§3: event index ignored) */
	*in->avail_idx = in->avail;
	/* avail->flags: a doorbell only while we are armed (§8; the default is none). */
	in->avail_idx[-1] = ns->rx_armed ? 0 : VRING_AVAIL_F_NO_INTERRUPT;
	in->used_idx[-1] = 0;			/* used->flags */
	h->space = ns->peer_mode ? NETSHM_SPACE_PEER : NETSHM_SPACE_REGION;
	h->qsize = NETSHM_QSIZE;
	h->desc = in->desc_addr;
	h->avail = in->avail_addr;
	h->used = in->used_addr;
	h->reserved[0] = h->reserved[1] = h->reserved[2] = 0;
	in->epoch = h->epoch + 1;
	h->epoch = in->epoch;
	barrier();
	h->magic = NETSHM_PAIR_MAGIC;
	in->active = true;
}

int nshm_init(struct nshm *ns, struct nshm_rx_mem *mem)
{
	unsigned int k = 0;

	if (!ns->region || (ns->peer_mode && !mem))
		return -EINVAL;
	ns->mem = mem;
	for (uint32_t s = 0; s < ns->nports; s++) {
		struct nshm_in *in = &ns->in[s];
		uint8_t *area = ns->region + pair_off(ns, s, ns->port);

		if (s == ns->port)
			continue;
		in->hdr = (volatile struct netshm_pair *)area;
		if (ns->peer_mode) {
			/* Identity mapping: our VA is the GPA the sender resolves in its window. */
			struct nshm_rx_mem *m = &mem[k++];

			in->desc = m->desc;
			in->avail_idx = &m->avail.idx;
			in->avail_ring = m->avail.ring;
			in->used_idx = &m->used.idx;
			in->used_ring = m->used.ring;
			in->buf = m->buf[0];
			in->desc_addr = (uint64_t)m->desc;
			in->avail_addr = (uint64_t)&m->avail;
			in->used_addr = (uint64_t)&m->used;
			in->buf_addr = (uint64_t)m->buf;
		} else {
			uint64_t base = pair_off(ns, s, ns->port) + NETSHM_PAIR_RING_OFF;

			in->desc_addr = base;
			in->avail_addr = base + 0x1000;
			in->used_addr = base + 0x2000;
			in->buf_addr = pair_off(ns, s, ns->port) + NETSHM_PAIR_BUF_OFF;
			in->desc = (volatile struct vring_desc *)(ns->region + in->desc_addr);
			in->avail_idx = (volatile uint16_t *)(ns->region + in->avail_addr) + 1;
			in->avail_ring = in->avail_idx + 1;
			in->used_idx = (volatile uint16_t *)(ns->region + in->used_addr) + 1;
			in->used_ring = (volatile struct vring_used_elem *)(in->used_idx + 1);
			in->buf = ns->region + in->buf_addr;
		}
		in_reinit(ns, in);
	}
	return 0;
}

/* Our header and avail index as we left them? A scribbled ring is re-initialised (§6). */
static bool in_intact(const struct nshm *ns, const struct nshm_in *in)
{
	volatile struct netshm_pair *h = in->hdr;

	if (h->magic != NETSHM_PAIR_MAGIC || h->epoch != in->epoch ||
	    h->space != (ns->peer_mode ? NETSHM_SPACE_PEER : NETSHM_SPACE_REGION) ||
	    h->qsize != NETSHM_QSIZE || h->desc != in->desc_addr ||
	    h->avail != in->avail_addr || h->used != in->used_addr ||
	    *in->avail_idx != in->avail ||
	    in->avail_idx[-1] != (ns->rx_armed ? 0 : VRING_AVAIL_F_NO_INTERRUPT))
		return false;
	/*
	 * A scribbled descriptor of a posted buffer makes the sender stop using the ring, which
	 * it cannot tell us: look (4 KiB of reads, natively in ring 3) and re-initialise.
	 */
	unsigned int nposted = 0;

	for (unsigned int i = 0; i < NETSHM_QSIZE; i++) {
		volatile struct vring_desc *d = &in->desc[i];

		if (!in->posted[i])
			continue;
		nposted++;
		if (d->addr != in->buf_addr + (uint64_t)i * NETSHM_BUF_SIZE ||
		    d->len != NETSHM_BUF_SIZE || d->flags != VRING_DESC_F_WRITE)
			return false;
	}
	/* The last nposted avail entries name buffers we posted (the sender never writes them). */
	for (uint16_t j = (uint16_t)(in->avail - nposted); j != in->avail; j++) {
		uint16_t id = in->avail_ring[j & (NETSHM_QSIZE - 1)];

		if (id >= NETSHM_QSIZE || !in->posted[id])
			return false;
	}
	return true;
}

static unsigned int in_take(struct nshm *ns, struct nshm_in *in, struct vnet_pkt *pkts,
			    unsigned int max)
{
	uint16_t u, pending;
	unsigned int cnt = 0, bad = 0;

	u = *in->used_idx;
	barrier();			/* acquire: the entries and the frames before used->idx */
	pending = (uint16_t)(u - in->last_used);
	if (pending > NETSHM_QSIZE && in->hdr->magic == 0xffffffffu) {
		/*
		 * All ones: the VMM removed the region (switch gone, §4), every access is an exit
		 * now. Stop polling this ring; after a reconnect nshm_probe/nshm_init start over.
		 */
		in->active = false;
		ns->st.region_lost++;
		return 0;
	}
	if (pending > NETSHM_QSIZE) {
		ns->st.rx_ring_errors++;
		ns->st.rx_reinits++;
		in_reinit(ns, in);
		return 0;
	}
	while (cnt < max && pending) {
		struct vring_used_elem e = in->used_ring[in->last_used & (NETSHM_QSIZE - 1)];

		pending--;
		in->last_used++;
		/* Only a buffer we posted and did not get back yet, with a frame-sized length. */
		if (e.id >= NETSHM_QSIZE || !in->posted[e.id]) {
			bad++;
			continue;
		}
		in->posted[e.id] = false;
		if (e.len < NETSHM_FRAME_MIN || e.len > NETSHM_FRAME_MAX) {
			bad++;
			in_post(in, (uint16_t)e.id);
			continue;
		}
		pkts[cnt++] = (struct vnet_pkt){
			.data = in->buf + (uint64_t)e.id * NETSHM_BUF_SIZE, .len = (uint16_t)e.len,
		};
		in->hold[in->nhold++] = (uint16_t)e.id;
	}
	if (bad) {
		ns->st.rx_ring_errors += bad;
		barrier();
		*in->avail_idx = in->avail;
	}
	return cnt;
}

/* The buffers lent by the last burst go back: one avail->idx store. */
static void in_give_back(struct nshm_in *in)
{
	if (!in->nhold)
		return;
	for (unsigned int i = 0; i < in->nhold; i++)
		in_post(in, in->hold[i]);
	in->nhold = 0;
	barrier();		/* release: descriptors and ring entries before the index */
	*in->avail_idx = in->avail;
}

unsigned int nshm_rx_burst(struct nshm *ns, struct vnet *nic, struct vnet_pkt *pkts,
			   unsigned int max)
{
	unsigned int cnt = 0, n = ns->nports, verify;

	if (max > NSHM_BURST)
		max = NSHM_BURST;
	verify = ++ns->rx_polls % VERIFY_EVERY == 0;
	/* The previous burst's buffers go back: one avail->idx store per ring. */
	for (uint32_t s = 0; s < n; s++) {
		struct nshm_in *in = &ns->in[s];

		if (!in->active)
			continue;
		if (verify && !in_intact(ns, in)) {
			ns->st.rx_reinits++;
			in_reinit(ns, in);
			continue;
		}
		in_give_back(in);
	}
	/*
	 * Inbound rings first, then the NIC; but after a burst the rings filled alone, the NIC
	 * goes first: a busy fast path must not starve the switch path (the switch drops what
	 * our RX queue cannot take).
	 */
	if (nic && ns->nic_first) {
		cnt = vnet_rx_burst(nic, pkts, max);
		ns->st.slow_rx += cnt;
	}
	for (uint32_t i = 0; i < n && cnt < max; i++) {
		uint32_t s = (ns->rx_next + i) % n;
		unsigned int k;

		if (!ns->in[s].active)
			continue;
		k = in_take(ns, &ns->in[s], pkts + cnt, max - cnt);
		cnt += k;
		ns->st.fast_rx += k;
	}
	if (n)
		ns->rx_next = (ns->rx_next + 1) % n;
	if (nic && !ns->nic_first && cnt < max) {
		unsigned int k = vnet_rx_burst(nic, pkts + cnt, max - cnt);

		cnt += k;
		ns->st.slow_rx += k;
		ns->nic_first = false;
	} else {
		ns->nic_first = !ns->nic_first && cnt == max;
	}
	return cnt;
}

/* ---- flow table (§3: seqlock per entry, gen per table) ---- */

uint64_t nshm_mac_key(const uint8_t mac[6])
{
	uint32_t lo;
	uint16_t hi;

	/* Two loads (x86 is little-endian and allows unaligned ones): byte 0 in bits 0..7. */
	__builtin_memcpy(&lo, mac, 4);
	__builtin_memcpy(&hi, mac + 4, 2);
	return (uint64_t)hi << 32 | lo;
}

/*
 * Frame copy into a peer's buffer. `rep movsb` has a start-up cost of tens of cycles, more
 * than a 64-byte frame takes in 8-byte moves (no SSE in our guests: -mgeneral-regs-only).
 */
static inline void nshm_copy(void *dst, const void *src, uint32_t len)
{
	if (len <= 256) {
		uint8_t *d = dst;
		const uint8_t *s = src;
		uint32_t i = 0;

		for (; i + 8 <= len; i += 8) {
			uint64_t w;

			__builtin_memcpy(&w, s + i, 8);
			__builtin_memcpy(d + i, &w, 8);
		}
		for (; i < len; i++)
			d[i] = s[i];
		return;
	}
	memcpy(dst, src, len);
}

static void nshm_table_sync(struct nshm *ns)
{
	volatile struct netshm_table *t = ns->table;
	uint32_t gen = t->gen, count;
	unsigned int nf = 0;

	if (ns->table_valid && gen == ns->table_gen)
		return;
	barrier();			/* acquire: entries after the gen we act on */
	count = t->count;
	if (count > NETSHM_MAX_ENTRIES)
		count = NETSHM_MAX_ENTRIES;
	for (uint32_t i = 0; i < count; i++) {
		volatile struct netshm_entry *e = &t->e[i];
		uint8_t mac[6], peer = 0, flags = 0;
		bool ok = false;

		for (unsigned int tries = 0; tries < SEQ_TRIES && !ok; tries++) {
			uint32_t s1 = e->seq;

			barrier();
			for (int b = 0; b < 6; b++)
				mac[b] = e->mac[b];
			peer = e->peer;
			flags = e->flags;
			barrier();
			ok = !(s1 & 1) && e->seq == s1;
		}
		if (!ok) {
			ns->st.table_bad++;	/* treated as absent */
			continue;
		}
		if (!(flags & NETSHM_ENTRY_VALID))
			continue;
		if (peer >= ns->nports || peer == ns->port || (mac[0] & 1)) {
			ns->st.table_bad++;
			continue;
		}
		ns->flows[nf++] = (struct nshm_flow){ .mac = nshm_mac_key(mac), .peer = peer };
	}
	ns->nflows = nf;
	ns->table_gen = gen;
	ns->table_valid = true;
	ns->st.table_refreshes++;
}

static int nshm_lookup(const struct nshm *ns, const uint8_t *dst)
{
	uint64_t k;

	if (dst[0] & 1)
		return -1;		/* broadcast, multicast: the switch floods them */
	k = nshm_mac_key(dst);
	for (unsigned int i = 0; i < ns->nflows; i++)
		if (ns->flows[i].mac == k)
			return ns->flows[i].peer;
	return -1;
}

/* ---- sender: the device side of a peer's ring (§3 pair rings, s is the device) ---- */

/* [addr, addr + len) inside the space above min, with an alignment; no sum can wrap. */
static bool in_space(const struct nshm_out *o, uint64_t addr, uint64_t len, uint64_t align)
{
	return !(addr & (align - 1)) && addr >= o->buf_min && addr <= o->limit &&
	       len <= o->limit - addr;
}

/*
 * Is the ring (us -> r) usable for this batch? Reads r's header (magic, epoch); on a new
 * epoch takes a validated copy of it and restarts at used->idx (§3). false: frames to r go
 * through the switch for now.
 */
static bool out_ready(struct nshm *ns, uint32_t r)
{
	struct nshm_out *o = &ns->out[r];
	volatile struct netshm_pair *h =
		(volatile struct netshm_pair *)(ns->region + pair_off(ns, ns->port, r));
	uint32_t magic = h->magic, epoch = h->epoch, space, qsize;
	uint64_t desc, avail, used, q;

	barrier();
	if (magic != NETSHM_PAIR_MAGIC)
		return false;
	if ((o->usable || o->broken) && epoch == o->epoch)
		return o->usable;
	space = h->space;
	qsize = h->qsize;
	desc = h->desc;
	avail = h->avail;
	used = h->used;
	barrier();
	if (h->magic != magic || h->epoch != epoch)
		return false;		/* r is re-initialising: next batch */
	o->usable = false;
	o->broken = true;
	o->epoch = epoch;
	if (space == NETSHM_SPACE_REGION) {
		o->base = (uint64_t)ns->region;
		o->limit = ns->regs.region_size;
		o->buf_min = NETSHM_CTRL_SIZE;		/* never aim us at the read-only part */
	} else if (space == NETSHM_SPACE_PEER && ns->peer_mode) {
		if (!(ns->regs.peer_mapped & (1u << r))) {
			o->broken = false;		/* not mapped yet: look again later */
			return false;
		}
		o->base = ns->regs.peer + (uint64_t)r * ns->regs.peer_stride;
		o->limit = ns->regs.peer_stride < GiB(NSHM_PEER_GIB) ? ns->regs.peer_stride
								       : GiB(NSHM_PEER_GIB);
		o->buf_min = 0;
	} else {
		ns->st.tx_ring_errors++;
		return false;
	}
	q = qsize;
	if (!q || q > NETSHM_QSIZE || (q & (q - 1)) || !in_space(o, desc, 16 * q, 16) ||
	    !in_space(o, avail, 6 + 2 * q, 2) || !in_space(o, used, 6 + 8 * q, 4)) {
		ns->st.tx_ring_errors++;
		return false;
	}
	o->mask = qsize - 1;
	o->desc = (volatile struct vring_desc *)(o->base + desc);
	o->avail_idx = (volatile uint16_t *)(o->base + avail) + 1;
	o->avail_ring = o->avail_idx + 1;
	o->used_idx = (volatile uint16_t *)(o->base + used) + 1;
	o->used_ring = (volatile struct vring_used_elem *)(o->used_idx + 1);
	/* Everything before used->idx was delivered, nothing after it was. */
	o->last_avail = o->used = *o->used_idx;
	o->usable = true;
	o->broken = false;
	return true;
}

static void out_break(struct nshm *ns, struct nshm_out *o)
{
	o->usable = false;
	o->broken = true;
	ns->st.tx_ring_errors++;
}

bool nshm_fast_ready(struct nshm *ns, const uint8_t mac[6])
{
	bool ok;
	int p;

	nshm_table_sync(ns);
	p = nshm_lookup(ns, mac);
	if (p < 0)
		return false;
	if (ns->peer_mode && !(ns->regs.peer_mapped & (1u << p)))
		(void)nshm_refresh_dev(ns);
	if (ns->view == NSHM_VIEW_NONE)
		return out_ready(ns, (uint32_t)p);
	if (!nshm_window_open(ns))
		return false;
	ok = out_ready(ns, (uint32_t)p);
	nshm_window_close(ns);
	return ok;
}

/*
 * §8 sender, after the batch's used->idx stores: a full barrier when a ring we delivered
 * into has a wired doorbell (the receiver stores its flag, fences and reads used->idx; without
 * ours both could miss the other and it would sleep on frames), then one avail->flags read
 * per ring we delivered into and one DOORBELL(r) write where r asked. A doorbell that is not wired here would exit to the VMM to be dropped
 * (doorbell_slow), so it is not written; the wiring may come after our probe (r attached
 * later), hence a GEN look (one exit) every 10 ms while that is the case. In peer mode the
 * flags are in r's RAM: called while the windows are open.
 */
static void nshm_doorbells(struct nshm *ns, uint32_t touched)
{
	bool unwired = false;

	/*
	 * The barrier only where we can ring: without wired doorbells (the default) a batch pays
	 * no fence; an unwired peer's flag is read only to notice the wiring we miss.
	 */
	if (touched & ns->regs.doorbell_peers)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (uint32_t r = 0; r < ns->nports; r++) {
		if (!(touched & (1u << r)) || (ns->out[r].avail_idx[-1] & VRING_AVAIL_F_NO_INTERRUPT))
			continue;
		if (ns->regs.doorbell_peers & (1u << r)) {
			ns->doorbell[r] = 1;
			ns->st.doorbells++;
		} else {
			ns->st.doorbell_unwired++;
			unwired = true;
		}
	}
	if (unwired && ns->bar0 && rdtsc() >= ns->db_recheck_tsc) {
		if (reg(ns, NETSHM_REG_GEN) != ns->regs.gen)
			(void)nshm_refresh_dev(ns);
		ns->db_recheck_tsc = rdtsc() + ns->recheck_period;
	}
}

enum { PEER_UNSEEN, PEER_OPEN, PEER_SLOW };

unsigned int nshm_tx_burst(struct nshm *ns, struct vnet *nic, const struct vnet_pkt *pkts,
			   unsigned int cnt)
{
	struct vnet_pkt slow[NSHM_BURST];
	uint8_t state[NETSHM_MAX_PORTS] = { 0 };
	uint16_t avail[NETSHM_MAX_PORTS];
	unsigned int i, nslow = 0, room = 0;
	bool room_known = false, want_recheck = false;
	uint32_t touched = 0;		/* rings with used entries written in this burst */
	/* protect=vmfunc: 0 not yet, 1 peer view open, -1 the switch was refused (all slow) */
	int window = ns->view == NSHM_VIEW_NONE ? 1 : 0;
	bool opened = false;

	if (cnt > NSHM_BURST)
		cnt = NSHM_BURST;
	if (!ns->force_slow)
		nshm_table_sync(ns);
	for (i = 0; i < cnt; i++) {
		const struct vnet_pkt *p = &pkts[i];
		int peer = -1;

		if (!ns->force_slow && p->len >= NETSHM_FRAME_MIN && p->len <= NETSHM_FRAME_MAX)
			peer = nshm_lookup(ns, p->data);
		if (peer >= 0) {
			struct nshm_out *o = &ns->out[peer];

			if (state[peer] == PEER_UNSEEN && !window) {
				/* The first frame for a peer opens the windows for the batch. */
				window = nshm_window_open(ns) ? 1 : -1;
				opened = window > 0;
			}
			if (state[peer] == PEER_UNSEEN) {
				state[peer] = PEER_SLOW;
				if (window > 0 && out_ready(ns, (uint32_t)peer)) {
					/* One avail->idx read per batch (§3). */
					avail[peer] = *o->avail_idx;
					barrier();
					if ((uint16_t)(avail[peer] - o->last_avail) > o->mask + 1)
						out_break(ns, o);
					else
						state[peer] = PEER_OPEN;
				} else if (ns->peer_mode && !o->broken) {
					want_recheck = true;
				}
			}
			if (state[peer] == PEER_OPEN) {
				uint16_t head;
				uint64_t addr;
				uint32_t len;

				if (o->last_avail == avail[peer]) {
					ns->st.ring_full++;
					break;		/* the caller retries from frame i */
				}
				head = o->avail_ring[o->last_avail & o->mask];
				if (head <= o->mask) {
					volatile struct vring_desc *d = &o->desc[head];

					addr = d->addr;
					len = d->len;
					if (d->flags == VRING_DESC_F_WRITE && len >= p->len &&
					    in_space(o, addr, p->len, 1)) {
						nshm_copy((void *)(o->base + addr), p->data, p->len);
						o->used_ring[o->used & o->mask] =
							(struct vring_used_elem){ head, p->len };
						o->used++;
						o->last_avail++;
						touched |= 1u << peer;
						ns->st.fast_tx++;
						continue;
					}
				}
				/* A check failed: the ring is unusable until a new epoch. */
				out_break(ns, o);
				state[peer] = PEER_SLOW;
			}
			ns->st.not_ready++;
		}
		if (!room_known) {
			room_known = true;
			if (nic && nic->running)
				room = nic->txq.size - vnet_tx_inflight(nic);
		}
		if (!room)
			break;
		room--;
		slow[nslow++] = *p;
	}
	/* One used->idx store per ring (release: entries and frames first). */
	barrier();
	for (uint32_t r = 0; r < ns->nports; r++)
		if (touched & (1u << r))
			*ns->out[r].used_idx = ns->out[r].used;
	if (touched && ns->doorbell)
		nshm_doorbells(ns, touched);
	if (opened)
		nshm_window_close(ns);	/* the batch is delivered: windows shut again */
	if (nslow) {
		unsigned int k = vnet_tx_burst(nic, slow, nslow);

		ns->st.slow_tx += k;
	}
	if (want_recheck && rdtsc() >= ns->recheck_tsc) {
		(void)nshm_refresh_dev(ns);
		ns->recheck_tsc = rdtsc() + ns->recheck_period;
	}
	return i;
}

/* ---- doorbells (§8): receiver ---- */

volatile uint64_t nshm_doorbell_irqs;
void nshm_doorbell_entry(void);

/*
 * The doorbell's ring-0 handler, a raw IDT entry: count, EOI (the IOAPIC pin is edge
 * triggered: the local APIC's EOI is all), return. Six emulated instructions.
 */
asm(".pushsection .text\n"
    ".globl nshm_doorbell_entry\n.type nshm_doorbell_entry, @function\nnshm_doorbell_entry:\n"
    "	incq nshm_doorbell_irqs(%rip)\n"
    "	pushq %rax\n"
    "	movl $0xfee000b0, %eax\n"		/* APIC_BASE + APIC_EOI */
    "	movl $0, (%rax)\n"
    "	popq %rax\n"
    "	iretq\n"
    ".popsection\n");

/* The config offset of the device's MSI capability (PCI 3.0 §6.7, §6.8.1), or 0. */
static uint8_t nshm_msi_cap(const struct nshm *ns)
{
	uint8_t off;

	if (!(cfg_read32(ns->slot, PCI_COMMAND) >> 16 & PCI_STATUS_CAP_LIST))
		return 0;
	off = cfg_read32(ns->slot, PCI_CAP_PTR) & 0xfc;
	/* A list longer than config space can hold is a loop: bounded. */
	for (unsigned int i = 0; i < 48 && off >= 0x40; i++) {
		uint32_t h = cfg_read32(ns->slot, off);

		if ((h & 0xff) == PCI_CAP_ID_MSI)
			return off;
		off = (h >> 8) & 0xfc;
	}
	return 0;
}

/*
 * MSI (64-bit capability, one vector) to vector on apic_id: address, data, then enable. The
 * VMM routes the doorbell's GSI to this message: the ringing vCPU's KVM injects it directly.
 */
static void nshm_msi_enable(const struct nshm *ns, uint8_t cap, unsigned int vector,
			    uint32_t apic_id)
{
	uint32_t ctrl = cfg_read32(ns->slot, cap);

	cfg_write32(ns->slot, cap + 4, 0xfee00000u | apic_id << 12);
	cfg_write32(ns->slot, cap + 8, 0);
	cfg_write32(ns->slot, cap + 12, vector);	/* fixed, edge */
	cfg_write32(ns->slot, cap, (ctrl & 0xffff) | (PCI_MSI_ENABLE << 16));
}

int nshm_doorbell_setup(struct nshm *ns, unsigned int vector, bool pin)
{
	uint8_t cap;

	if (!ns->bar0 || !(ns->regs.status & NETSHM_STS_DOORBELL))
		return -ENODEV;
	lapic_enable();
	if (vector < 32 || vector > 254 || lapic_id() > 0xff ||
	    !irq_set_raw_entry(vector, nshm_doorbell_entry))
		return -EINVAL;
	cap = pin ? 0 : nshm_msi_cap(ns);
	if (cap) {
		nshm_msi_enable(ns, cap, vector, lapic_id());
		ns->db_msi = true;
		return 0;
	}
	/* No MSI: the pin. IRQ comes from the VMM: ioapic_route checks it is a pin it has. */
	return ioapic_route(ns->regs.irq, vector, lapic_id()) ? 0 : -EINVAL;
}

bool nshm_rx_pending(const struct nshm *ns)
{
	for (uint32_t s = 0; s < ns->nports; s++) {
		const struct nshm_in *in = &ns->in[s];

		if (in->active && *in->used_idx != in->last_used)
			return true;
	}
	return false;
}

static void nshm_rx_flags(struct nshm *ns, bool armed)
{
	ns->rx_armed = armed;
	for (uint32_t s = 0; s < ns->nports; s++) {
		struct nshm_in *in = &ns->in[s];

		if (!in->active)
			continue;
		if (armed)
			in_give_back(in);	/* senders need room while we sleep */
		in->avail_idx[-1] = armed ? 0 : VRING_AVAIL_F_NO_INTERRUPT;
	}
}

bool nshm_rx_arm(struct nshm *ns)
{
	nshm_rx_flags(ns, true);
	/* Our flag stores before the used->idx loads: the other half of nshm_doorbells(). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (nshm_rx_pending(ns)) {
		nshm_rx_flags(ns, false);
		return false;
	}
	ns->st.rx_arms++;
	return true;
}

void nshm_rx_disarm(struct nshm *ns)
{
	nshm_rx_flags(ns, false);
}

bool nshm_doorbell_wired(struct nshm *ns, const uint8_t mac[6])
{
	int p;

	nshm_table_sync(ns);
	p = nshm_lookup(ns, mac);
	if (p < 0)
		return false;
	if (!(ns->regs.doorbell_peers & (1u << p)) && ns->bar0 &&
	    reg(ns, NETSHM_REG_GEN) != ns->regs.gen)
		(void)nshm_refresh_dev(ns);
	return ns->regs.doorbell_peers & (1u << p);
}

/* ---- helpers for the test guests ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool nshm_parse_mac(const char *s, size_t len, uint8_t mac[6])
{
	if (len != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

void nshm_print_stats(const char *who, const struct nshm *ns)
{
	const struct nshm_stats *s = &ns->st;

	printf("%s: netshm port %u/%u %s: fast_tx %lu slow_tx %lu fast_rx %lu slow_rx %lu "
	       "tx_ring_errors %lu rx_ring_errors %lu rx_reinits %lu table_refreshes %lu "
	       "table_bad %lu ring_full %lu not_ready %lu dev_reads %lu region_lost %lu\n", who,
	       ns->port, ns->nports, ns->peer_mode ? "peer" : "shared", s->fast_tx, s->slow_tx,
	       s->fast_rx, s->slow_rx, s->tx_ring_errors, s->rx_ring_errors, s->rx_reinits,
	       s->table_refreshes, s->table_bad, s->ring_full, s->not_ready, s->dev_reads,
	       s->region_lost);
	if (ns->view != NSHM_VIEW_NONE)
		printf("%s: netshm views: %s, peer view %u, view_switches %lu view_errors %lu\n", who,
		       ns->view == NSHM_VIEW_VMFUNC ? "vmfunc" : "hypercall", ns->regs.peer_view,
		       s->view_switches, s->view_errors);
	if (ns->regs.status & NETSHM_STS_DOORBELL || ns->regs.doorbell_peers || s->doorbells ||
	    s->doorbell_unwired || s->rx_arms)
		printf("%s: netshm doorbell: %s irq %u%s peers 0x%x rung %lu unwired %lu arms %lu "
		       "irqs %lu\n", who, ns->regs.status & NETSHM_STS_DOORBELL ? "on" : "off",
		       ns->regs.irq, ns->db_msi ? " msi" : "", ns->regs.doorbell_peers, s->doorbells, s->doorbell_unwired,
		       s->rx_arms, nshm_doorbell_irqs);
}
