// SPDX-License-Identifier: MIT
/*
 * vhost-user message tables, validation and framed I/O. Facts from QEMU
 * docs/interop/vhost-user.rst; DPDK lib/vhost/vhost_user.c and rust-vmm vhost were read for how
 * real back-ends validate. All arithmetic on received values is checked for wrap.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/netshm-abi.h"
#include "virtio/vhost-user/msg.h"

BUILD_BUG_ON(sizeof(struct vu_hdr) != 12);
BUILD_BUG_ON(sizeof(struct vu_vring_state) != 8);
BUILD_BUG_ON(sizeof(struct vu_vring_addr) != 40);
BUILD_BUG_ON(sizeof(struct vu_mem_region) != 32);
BUILD_BUG_ON(sizeof(struct vu_mem) != 8 + 32 * VU_MAX_REGIONS);
BUILD_BUG_ON(sizeof(struct vu_mem_single) != 40);
BUILD_BUG_ON(sizeof(struct vu_log) != 16);
BUILD_BUG_ON(sizeof(struct vu_iotlb) != 32);
BUILD_BUG_ON(sizeof(struct vu_config) != VU_CONFIG_HDR + VU_CONFIG_MAX);
BUILD_BUG_ON(sizeof(struct vu_vring_area) != 24);
BUILD_BUG_ON(sizeof(struct vu_inflight) != 24);
BUILD_BUG_ON(sizeof(struct vu_shared) != 16);
BUILD_BUG_ON(sizeof(struct vu_xfer) != 8);
BUILD_BUG_ON(offsetof(struct vu_mem, regions) != 8);
BUILD_BUG_ON(offsetof(struct vu_config, data) != VU_CONFIG_HDR);
/* docs/vhost-user-shmem.md §2: 16, 32, 16 + 32 * n and 8 bytes. */
BUILD_BUG_ON(sizeof(struct vu_netshm_attach) != 16);
BUILD_BUG_ON(sizeof(struct vu_netshm_attach_reply) != 32);
BUILD_BUG_ON(offsetof(struct vu_netshm_peer_map, mem.regions) != 16);
BUILD_BUG_ON(sizeof(struct vu_netshm_peer_map) != 16 + 32 * VU_MAX_REGIONS);
BUILD_BUG_ON(sizeof(struct vu_netshm_peer) != 8);
BUILD_BUG_ON(NETSHM_MAX_PORTS > VU_MAX_FDS);

#define VU_X_ROW(n, i, rq, rqf, rp, rpf)					\
	[i] = { .name = #n, .id = i, .req = VU_P_##rq, .req_fds = VU_FD_##rqf,	\
		.reply = VU_P_##rp, .reply_fds = VU_FD_##rpf },

/* Indexed by id; holes have name == NULL. */
static const struct vu_req_info front_table[] = { VU_FRONT_REQUESTS(VU_X_ROW) };
static const struct vu_req_info back_table[] = { VU_BACK_REQUESTS(VU_X_ROW) };

/* Extension ids (>= VU_NETSHM_REQ_BASE) are far apart from upstream's: a short list, searched. */
#define VU_X_EXT_ROW(n, i, rq, rqf, rp, rpf)					\
	{ .name = #n, .id = i, .req = VU_P_##rq, .req_fds = VU_FD_##rqf,	\
	  .reply = VU_P_##rp, .reply_fds = VU_FD_##rpf },
static const struct vu_req_info front_ext[] = { VU_FRONT_EXT_REQUESTS(VU_X_EXT_ROW) };
static const struct vu_req_info back_ext[] = { VU_BACK_EXT_REQUESTS(VU_X_EXT_ROW) };

/* Payload sizes: exact for all kinds but MEM (8 + 32 * nregions) and CONFIG (12 + size). */
static const struct {
	uint32_t min, max;
} kind_size[] = {
	[VU_P_NONE]	   = { 0, 0 },
	[VU_P_U64]	   = { 8, 8 },
	[VU_P_ACK]	   = { 8, 8 },
	[VU_P_VRING_FILE]  = { 8, 8 },
	[VU_P_STATE]	   = { sizeof(struct vu_vring_state), sizeof(struct vu_vring_state) },
	[VU_P_ADDR]	   = { sizeof(struct vu_vring_addr), sizeof(struct vu_vring_addr) },
	[VU_P_MEM]	   = { offsetof(struct vu_mem, regions[1]), sizeof(struct vu_mem) },
	[VU_P_MEMREG]	   = { sizeof(struct vu_mem_single), sizeof(struct vu_mem_single) },
	[VU_P_LOG]	   = { sizeof(struct vu_log), sizeof(struct vu_log) },
	[VU_P_IOTLB]	   = { sizeof(struct vu_iotlb), sizeof(struct vu_iotlb) },
	[VU_P_CONFIG]	   = { VU_CONFIG_HDR, sizeof(struct vu_config) },
	[VU_P_AREA]	   = { sizeof(struct vu_vring_area), sizeof(struct vu_vring_area) },
	[VU_P_INFLIGHT]	   = { sizeof(struct vu_inflight), sizeof(struct vu_inflight) },
	[VU_P_SHARED]	   = { sizeof(struct vu_shared), sizeof(struct vu_shared) },
	[VU_P_XFER]	   = { sizeof(struct vu_xfer), sizeof(struct vu_xfer) },
	[VU_P_NETSHM_ATTACH] = { sizeof(struct vu_netshm_attach),
				 sizeof(struct vu_netshm_attach) },
	[VU_P_NETSHM_ATTACH_REPLY] = { sizeof(struct vu_netshm_attach_reply),
				       sizeof(struct vu_netshm_attach_reply) },
	[VU_P_NETSHM_PEER_MAP] = { offsetof(struct vu_netshm_peer_map, mem.regions[1]),
				   sizeof(struct vu_netshm_peer_map) },
	[VU_P_NETSHM_PEER] = { sizeof(struct vu_netshm_peer), sizeof(struct vu_netshm_peer) },
	[VU_P_NETSHM_DOORBELL] = { sizeof(struct vu_netshm_doorbell),
				   sizeof(struct vu_netshm_doorbell) },
	[VU_P_UNSUPPORTED] = { 1, 0 },	/* nothing fits */
};

static bool say(char *why, size_t len, const char *fmt, ...) __printf(3, 4);
static bool say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return false;
}

#define reject(code, ...)	({ say(why, len, __VA_ARGS__); (code); })

static bool is_reply(enum vu_dir dir)
{
	return dir == VU_BACK_REPLY || dir == VU_FRONT_REPLY;
}

const struct vu_req_info *vu_req_info(enum vu_dir dir, uint32_t request)
{
	bool back = dir == VU_BACK_REQ || dir == VU_FRONT_REPLY;
	const struct vu_req_info *t = back ? back_table : front_table;
	size_t n = back ? ARRAY_SIZE(back_table) : ARRAY_SIZE(front_table), i;

	if (request >= VU_NETSHM_REQ_BASE) {
		t = back ? back_ext : front_ext;
		n = back ? ARRAY_SIZE(back_ext) : ARRAY_SIZE(front_ext);
		for (i = 0; i < n; i++)
			if (t[i].id == request)
				return &t[i];
		return NULL;
	}
	if (request >= n || !t[request].name)
		return NULL;
	return &t[request];
}

const char *vu_req_name(enum vu_dir dir, uint32_t request)
{
	const struct vu_req_info *ri = vu_req_info(dir, request);

	return ri ? ri->name : "unknown";
}

/* ---- payload validators ---- */

static bool region_ends(const struct vu_mem_region *r, uint64_t *gend, char *why, size_t len)
{
	uint64_t end;

	if (r->size == 0)
		return say(why, len, "memory region of size 0");
	if (__builtin_add_overflow(r->guest_addr, r->size, gend))
		return say(why, len, "guest_addr 0x%llx + size 0x%llx wraps",
			   (unsigned long long)r->guest_addr, (unsigned long long)r->size);
	if (__builtin_add_overflow(r->user_addr, r->size, &end))
		return say(why, len, "user_addr 0x%llx + size 0x%llx wraps",
			   (unsigned long long)r->user_addr, (unsigned long long)r->size);
	/* The back-end mmaps [0, mmap_offset + size) of the fd: it must be a valid off_t. */
	if (__builtin_add_overflow(r->mmap_offset, r->size, &end) || end > INT64_MAX)
		return say(why, len, "mmap_offset 0x%llx + size 0x%llx overflows off_t",
			   (unsigned long long)r->mmap_offset, (unsigned long long)r->size);
	return true;
}

bool vu_mem_region_valid(const struct vu_mem_region *r, char *why, size_t len)
{
	uint64_t gend;

	return region_ends(r, &gend, why, len);
}

bool vu_mem_valid(const struct vu_mem *mem, char *why, size_t len)
{
	uint64_t end[VU_MAX_REGIONS];
	uint32_t i, j;

	if (mem->nregions == 0 || mem->nregions > VU_MAX_REGIONS)
		return say(why, len, "%u memory regions (1..%u allowed)", mem->nregions,
			   VU_MAX_REGIONS);
	for (i = 0; i < mem->nregions; i++)
		if (!region_ends(&mem->regions[i], &end[i], why, len))
			return false;
	for (i = 0; i < mem->nregions; i++)
		for (j = i + 1; j < mem->nregions; j++)
			if (mem->regions[i].guest_addr < end[j] &&
			    mem->regions[j].guest_addr < end[i])
				return say(why, len, "memory regions %u and %u overlap in guest "
					   "physical space", i, j);
	return true;
}

bool vu_vring_index_valid(uint32_t index, unsigned int nqueues)
{
	return index < nqueues && index < VU_MAX_QUEUES;
}

bool vu_vring_num_valid(uint32_t num, uint32_t max_num)
{
	/* VIRTIO 1.2 §2.7: Queue Size is a power of 2, at most 32768. */
	return num != 0 && (num & (num - 1)) == 0 && num <= VU_MAX_QUEUE_SIZE && num <= max_num;
}

bool vu_vring_addr_valid(const struct vu_vring_addr *a, unsigned int nqueues, char *why,
			 size_t len)
{
	if (!vu_vring_index_valid(a->index, nqueues))
		return say(why, len, "vring index %u out of range (%u queues)", a->index, nqueues);
	if (a->flags & ~VU_VRING_F_LOG)
		return say(why, len, "unknown vring address flags 0x%x", a->flags);
	/* VIRTIO 1.2 §2.7 (split virtqueue alignment): desc 16, avail 2, used 4. */
	if (!IS_ALIGNED(a->desc, 16) || !IS_ALIGNED(a->avail, 2) || !IS_ALIGNED(a->used, 4))
		return say(why, len, "misaligned vring (desc 0x%llx avail 0x%llx used 0x%llx)",
			   (unsigned long long)a->desc, (unsigned long long)a->avail,
			   (unsigned long long)a->used);
	if ((a->flags & VU_VRING_F_LOG) && !IS_ALIGNED(a->log, 4))
		return say(why, len, "misaligned used-ring log address 0x%llx",
			   (unsigned long long)a->log);
	return true;
}

bool vu_log_valid(const struct vu_log *l, uint64_t guest_end, char *why, size_t len)
{
	uint64_t end, pages, need;

	if (l->mmap_size == 0)
		return say(why, len, "dirty log of size 0");
	if (__builtin_add_overflow(l->mmap_offset, l->mmap_size, &end) || end > INT64_MAX)
		return say(why, len, "log mmap_offset 0x%llx + size 0x%llx overflows off_t",
			   (unsigned long long)l->mmap_offset, (unsigned long long)l->mmap_size);
	/* vhost-user.rst "Migration": one bit per VHOST_LOG_PAGE from guest address 0. */
	pages = guest_end / VU_LOG_PAGE + (guest_end % VU_LOG_PAGE != 0);
	need = pages / 8 + (pages % 8 != 0);
	if (l->mmap_size < need)
		return say(why, len, "dirty log of 0x%llx bytes does not cover guest memory up to "
			   "0x%llx (0x%llx bytes needed)", (unsigned long long)l->mmap_size,
			   (unsigned long long)guest_end, (unsigned long long)need);
	return true;
}

bool vu_config_valid(const struct vu_config *c, uint32_t space, char *why, size_t len)
{
	if (c->flags & ~VU_CONFIG_F_MIGRATION)
		return say(why, len, "unknown config flags 0x%x", c->flags);
	if (space > VU_CONFIG_MAX)
		space = VU_CONFIG_MAX;
	if (c->size > space || c->offset > space - c->size)
		return say(why, len, "config access offset %u size %u outside %u bytes", c->offset,
			   c->size, space);
	return true;
}

bool vu_iotlb_valid(const struct vu_iotlb *t, char *why, size_t len)
{
	uint64_t end;

	if (t->type < VU_IOTLB_MISS || t->type > VU_IOTLB_ACCESS_FAIL)
		return say(why, len, "unknown IOTLB message type %u", t->type);
	if (t->perm > 3)
		return say(why, len, "unknown IOTLB permissions %u", t->perm);
	if (__builtin_add_overflow(t->iova, t->size, &end))
		return say(why, len, "IOTLB iova 0x%llx + size 0x%llx wraps",
			   (unsigned long long)t->iova, (unsigned long long)t->size);
	return true;
}

static bool inflight_area_valid(const struct vu_inflight *f, char *why, size_t len)
{
	uint64_t end;

	if (__builtin_add_overflow(f->mmap_offset, f->mmap_size, &end) || end > INT64_MAX)
		return say(why, len, "inflight mmap_offset 0x%llx + size 0x%llx overflows off_t",
			   (unsigned long long)f->mmap_offset, (unsigned long long)f->mmap_size);
	return true;
}

bool vu_inflight_valid(const struct vu_inflight *f, char *why, size_t len)
{
	if (f->num_queues == 0 || f->num_queues > VU_MAX_QUEUES)
		return say(why, len, "inflight num_queues %u (1..%u allowed)", f->num_queues,
			   VU_MAX_QUEUES);
	if (!vu_vring_num_valid(f->queue_size, VU_MAX_QUEUE_SIZE))
		return say(why, len, "inflight queue_size %u is not a valid queue size",
			   f->queue_size);
	return inflight_area_valid(f, why, len);
}

/* docs/vhost-user-shmem.md §2: what needs no context. */
#define VU_NETSHM_PAGE		4096ull

static bool netshm_attach_valid(const struct vu_netshm_attach *a, char *why, size_t len)
{
	if (a->version != NETSHM_VERSION)
		return say(why, len, "netshm version %u, only %u is known", a->version,
			   NETSHM_VERSION);
	if (a->mode != VU_NETSHM_MODE_SHARED && a->mode != VU_NETSHM_MODE_PEER)
		return say(why, len, "netshm mode %u (1 shared or 2 peer)", a->mode);
	if (a->flags || a->reserved)
		return say(why, len, "netshm attach flags 0x%x reserved 0x%x must be 0", a->flags,
			   a->reserved);
	return true;
}

static bool netshm_attach_reply_valid(const struct vu_netshm_attach_reply *r, char *why,
				      size_t len)
{
	if (r->version != NETSHM_VERSION)
		return say(why, len, "netshm reply version %u, only %u is known", r->version,
			   NETSHM_VERSION);
	if (r->reserved)
		return say(why, len, "netshm reply reserved field 0x%llx must be 0",
			   (unsigned long long)r->reserved);
	if (r->status)		/* a refusal: the other fields mean nothing */
		return true;
	if (r->nports < 2 || r->nports > NETSHM_MAX_PORTS || r->port >= r->nports)
		return say(why, len, "netshm port %u of %u ports (2..%u)", r->port, r->nports,
			   NETSHM_MAX_PORTS);
	if (r->region_size != NETSHM_REGION_SIZE(r->nports))
		return say(why, len, "netshm region of 0x%llx bytes, %u ports need 0x%llx",
			   (unsigned long long)r->region_size, r->nports,
			   (unsigned long long)NETSHM_REGION_SIZE(r->nports));
	return true;
}

static bool netshm_peer_map_ok(const struct vu_netshm_peer_map *m, char *why, size_t len)
{
	uint32_t i;

	if (m->reserved)
		return say(why, len, "peer map reserved field 0x%x must be 0", m->reserved);
	if (!vu_mem_valid(&m->mem, why, len))
		return false;
	for (i = 0; i < m->mem.nregions; i++) {
		const struct vu_mem_region *r = &m->mem.regions[i];

		/* The receiver maps each region as a memslot: KVM wants page granularity. */
		if ((r->guest_addr | r->size | r->mmap_offset) & (VU_NETSHM_PAGE - 1))
			return say(why, len, "peer region %u not 4 KiB aligned (guest_addr 0x%llx "
				   "size 0x%llx mmap_offset 0x%llx)", i,
				   (unsigned long long)r->guest_addr, (unsigned long long)r->size,
				   (unsigned long long)r->mmap_offset);
		/* The peer VMM's virtual addresses are nobody else's business. */
		if (r->user_addr)
			return say(why, len, "peer region %u carries a user address", i);
	}
	return true;
}

bool vu_netshm_peer_map_valid(const struct vu_netshm_peer_map *m, unsigned int nports,
			      unsigned int own_port, uint64_t window, char *why, size_t len)
{
	uint64_t end;
	uint32_t i;

	if (nports > NETSHM_MAX_PORTS || m->port >= nports)
		return say(why, len, "peer map for port %u of %u", m->port, nports);
	if (m->port == own_port)
		return say(why, len, "peer map for the receiver's own port %u", own_port);
	if (!netshm_peer_map_ok(m, why, len))
		return false;
	for (i = 0; i < m->mem.nregions; i++) {
		const struct vu_mem_region *r = &m->mem.regions[i];

		if (__builtin_add_overflow(r->guest_addr, r->size, &end) || end > window)
			return say(why, len, "peer region %u [0x%llx, +0x%llx) outside the "
				   "0x%llx-byte window", i, (unsigned long long)r->guest_addr,
				   (unsigned long long)r->size, (unsigned long long)window);
	}
	return true;
}

/* ---- vu_msg_check ---- */

/* Size rule of kind k for a payload of `size` bytes that is already in m. */
static int check_size(const struct vu_msg *m, enum vu_payload_kind k, enum vu_dir dir, char *why,
		      size_t len)
{
	uint32_t size = m->hdr.size, want;

	if (size < kind_size[k].min || size > kind_size[k].max)
		return reject(-EINVAL, "payload of %u bytes, %s needs %u..%u",
			      size, vu_req_name(dir, m->hdr.request),
			      kind_size[k].min, kind_size[k].max);
	switch (k) {
	case VU_P_MEM:
		/* nregions is inside the 40-byte minimum, so it has been received. */
		if (m->payload.mem.nregions == 0 || m->payload.mem.nregions > VU_MAX_REGIONS)
			return reject(-EINVAL, "%u memory regions (1..%u allowed)",
				      m->payload.mem.nregions, VU_MAX_REGIONS);
		want = offsetof(struct vu_mem, regions) +
		       m->payload.mem.nregions * sizeof(struct vu_mem_region);
		break;
	case VU_P_CONFIG:
		if (m->payload.config.size > VU_CONFIG_MAX)
			return reject(-EINVAL, "config size %u > %u", m->payload.config.size,
				      VU_CONFIG_MAX);
		want = VU_CONFIG_HDR + m->payload.config.size;
		break;
	case VU_P_NETSHM_PEER_MAP: {
		/* nregions is inside the 48-byte minimum, so it has been received. */
		uint32_t n = m->payload.netshm_peer_map.mem.nregions;

		if (n == 0 || n > VU_MAX_REGIONS)
			return reject(-EINVAL, "%u peer memory regions (1..%u allowed)", n,
				      VU_MAX_REGIONS);
		want = offsetof(struct vu_netshm_peer_map, mem.regions) +
		       n * sizeof(struct vu_mem_region);
		break;
	}
	default:
		return 0;
	}
	if (size != want)
		return reject(-EINVAL, "payload of %u bytes, its own header says %u", size, want);
	return 0;
}

static int check_fds(const struct vu_msg *m, enum vu_fd_rule rule, char *why, size_t len)
{
	unsigned int lo, hi;

	switch (rule) {
	case VU_FD_NONE:
		lo = hi = 0;
		break;
	case VU_FD_ONE:
		lo = hi = 1;
		break;
	case VU_FD_NOFD_BIT:
		/* vhost-user.rst SET_VRING_KICK: "Bit 8 is the invalid FD flag". */
		lo = hi = (m->payload.u64 & VU_VRING_NOFD) ? 0 : 1;
		break;
	case VU_FD_PER_REGION:
		lo = hi = m->payload.mem.nregions;
		break;
	case VU_FD_OPTIONAL:
	case VU_FD_STRAY:
		lo = 0;
		hi = 1;
		break;
	case VU_FD_PEER_REGIONS:
		lo = hi = m->payload.netshm_peer_map.mem.nregions;
		break;
	case VU_FD_IF_OK:
		/* docs/vhost-user-shmem.md §2: the region fd comes with success only. */
		lo = hi = m->payload.netshm_attach_reply.status == 0 ? 1 : 0;
		break;
	default:
		return reject(-EINVAL, "bad fd rule");
	}
	if (m->nfds < lo || m->nfds > hi)
		return reject(-EINVAL, "%u fds, expected %u%s%u", m->nfds, lo,
			      lo == hi ? "" : "..", lo == hi ? lo : hi);
	return 0;
}

static int check_state_num(const struct vu_msg *m, enum vu_dir dir, char *why, size_t len)
{
	const struct vu_vring_state *s = &m->payload.state;
	bool back = dir == VU_BACK_REQ;

	if (is_reply(dir))
		return 0;
	if (!back && m->hdr.request == VU_REQ_SET_VRING_NUM &&
	    !vu_vring_num_valid(s->num, VU_MAX_QUEUE_SIZE))
		return reject(-EINVAL, "vring %u size %u is not a power of two <= %u", s->index,
			      s->num, VU_MAX_QUEUE_SIZE);
	if (!back && (m->hdr.request == VU_REQ_SET_VRING_ENABLE ||
		      m->hdr.request == VU_REQ_SET_VRING_ENDIAN) && s->num > 1)
		return reject(-EINVAL, "%s num %u (0 or 1 allowed)",
			      vu_req_name(dir, m->hdr.request), s->num);
	/* In-band notifications: "The state.num field is currently reserved and must be 0". */
	if (((!back && m->hdr.request == VU_REQ_VRING_KICK) ||
	     (back && (m->hdr.request == VU_BREQ_VRING_CALL ||
		       m->hdr.request == VU_BREQ_VRING_ERR))) && s->num != 0)
		return reject(-EINVAL, "%s with reserved num %u", vu_req_name(dir, m->hdr.request),
			      s->num);
	return 0;
}

static int check_payload(const struct vu_msg *m, enum vu_payload_kind k, enum vu_dir dir,
			 char *why, size_t len)
{
	const union vu_payload *p = &m->payload;

	switch (k) {
	case VU_P_VRING_FILE:
		if (p->u64 & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD))
			return reject(-EINVAL, "reserved bits set in vring file payload 0x%llx",
				      (unsigned long long)p->u64);
		return 0;
	case VU_P_STATE:
		if (p->state.index >= VU_MAX_QUEUES)
			return reject(-EINVAL, "vring index %u >= %u", p->state.index,
				      VU_MAX_QUEUES);
		return check_state_num(m, dir, why, len);
	case VU_P_ADDR:
		return vu_vring_addr_valid(&p->addr, VU_MAX_QUEUES, why, len) ? 0 : -EINVAL;
	case VU_P_MEM:
		return vu_mem_valid(&p->mem, why, len) ? 0 : -EINVAL;
	case VU_P_MEMREG:
		return vu_mem_region_valid(&p->memreg.region, why, len) ? 0 : -EINVAL;
	case VU_P_LOG:
		return vu_log_valid(&p->log, 0, why, len) ? 0 : -EINVAL;
	case VU_P_IOTLB:
		return vu_iotlb_valid(&p->iotlb, why, len) ? 0 : -EINVAL;
	case VU_P_CONFIG:
		if (m->hdr.size == 0)	/* GET_CONFIG reply: "zero length ... an error" */
			return 0;
		return vu_config_valid(&p->config, VU_CONFIG_MAX, why, len) ? 0 : -EINVAL;
	case VU_P_AREA: {
		uint64_t end;

		if (p->area.u64 & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD))
			return reject(-EINVAL, "reserved bits set in vring area 0x%llx",
				      (unsigned long long)p->area.u64);
		if (__builtin_add_overflow(p->area.offset, p->area.size, &end) || end > INT64_MAX)
			return reject(-EINVAL, "vring area offset + size overflows off_t");
		return 0;
	}
	case VU_P_INFLIGHT:
		if (is_reply(dir))
			return inflight_area_valid(&p->inflight, why, len) ? 0 : -EINVAL;
		return vu_inflight_valid(&p->inflight, why, len) ? 0 : -EINVAL;
	case VU_P_XFER:
		if (p->xfer.direction > 1 || p->xfer.phase != 0)
			return reject(-EINVAL, "device state transfer direction %u phase %u",
				      p->xfer.direction, p->xfer.phase);
		return 0;
	case VU_P_NETSHM_ATTACH:
		return netshm_attach_valid(&p->netshm_attach, why, len) ? 0 : -EINVAL;
	case VU_P_NETSHM_ATTACH_REPLY:
		return netshm_attach_reply_valid(&p->netshm_attach_reply, why, len) ? 0 : -EINVAL;
	case VU_P_NETSHM_PEER_MAP:
		if (p->netshm_peer_map.port >= NETSHM_MAX_PORTS)
			return reject(-EINVAL, "peer map for port %u (< %u)",
				      p->netshm_peer_map.port, NETSHM_MAX_PORTS);
		return netshm_peer_map_ok(&p->netshm_peer_map, why, len) ? 0 : -EINVAL;
	case VU_P_NETSHM_PEER:
		if (p->netshm_peer.reserved)
			return reject(-EINVAL, "netshm port message: reserved field 0x%x must be 0",
				      p->netshm_peer.reserved);
		if (p->netshm_peer.port >= NETSHM_MAX_PORTS)
			return reject(-EINVAL, "netshm port message for port %u (< %u)",
				      p->netshm_peer.port, NETSHM_MAX_PORTS);
		return 0;
	case VU_P_NETSHM_DOORBELL:
		if (p->netshm_doorbell.flags || p->netshm_doorbell.reserved)
			return reject(-EINVAL, "doorbell flags 0x%x reserved 0x%x must be 0",
				      p->netshm_doorbell.flags, p->netshm_doorbell.reserved);
		return 0;
	default:
		return 0;
	}
}

int vu_msg_check(const struct vu_msg *m, enum vu_dir dir, char *why, size_t len)
{
	const struct vu_req_info *ri;
	enum vu_payload_kind k;
	enum vu_fd_rule fds;
	bool reply = is_reply(dir);
	int ret;

	if (m->nfds > VU_MAX_FDS)
		return reject(-EINVAL, "%u fds > %u", m->nfds, VU_MAX_FDS);
	if ((m->hdr.flags & VU_FLAG_VERSION_MASK) != VU_VERSION)
		return reject(-EPROTO, "protocol version %u, only 1 is known",
			      m->hdr.flags & VU_FLAG_VERSION_MASK);
	if (m->hdr.flags & ~VU_FLAGS_KNOWN)
		return reject(-EPROTO, "unknown header flags 0x%x", m->hdr.flags & ~VU_FLAGS_KNOWN);
	if (!!(m->hdr.flags & VU_FLAG_REPLY) != reply)
		return reject(-EPROTO, reply ? "reply without the reply flag" :
			      "request with the reply flag set");
	if (reply && (m->hdr.flags & VU_FLAG_NEED_REPLY))
		return reject(-EPROTO, "reply that asks for a reply");
	ri = vu_req_info(dir, m->hdr.request);
	if (!ri)
		return reject(-EOPNOTSUPP, "unknown request %u", m->hdr.request);
	k = reply ? ri->reply : ri->req;
	fds = reply ? ri->reply_fds : ri->req_fds;
	if (k == VU_P_UNSUPPORTED)
		return reject(-EOPNOTSUPP, "%s is not supported", ri->name);
	if (m->hdr.size > VU_MAX_PAYLOAD)
		return reject(-EINVAL, "payload of %u bytes > %zu", m->hdr.size, VU_MAX_PAYLOAD);

	/* Postcopy-only reply bodies; otherwise the reply is a REPLY_ACK u64 (no fds). */
	if (reply && (k == VU_P_MEM || k == VU_P_MEMREG) && m->hdr.size == sizeof(uint64_t)) {
		k = VU_P_ACK;
		fds = VU_FD_NONE;
	}
	if (!(reply && k == VU_P_CONFIG && m->hdr.size == 0)) {
		ret = check_size(m, k, dir, why, len);
		if (ret)
			return ret;
	}
	ret = check_fds(m, fds, why, len);
	if (ret)
		return ret;
	return check_payload(m, k, dir, why, len);
}

int vu_msg_check_or_close(struct vu_msg *m, enum vu_dir dir, char *why, size_t len)
{
	const struct vu_req_info *ri;
	int ret = vu_msg_check(m, dir, why, len);

	if (ret) {
		if (m->nfds > VU_MAX_FDS)	/* only a caller's bug can get here */
			m->nfds = VU_MAX_FDS;
		vu_msg_close_fds(m);
		return ret;
	}
	ri = vu_req_info(dir, m->hdr.request);
	/* REM_MEM_REG: "If a file descriptor is passed, the back-end MUST close it". */
	if ((is_reply(dir) ? ri->reply_fds : ri->req_fds) == VU_FD_STRAY)
		vu_msg_close_fds(m);
	return 0;
}

int vu_msg_vring_index(const struct vu_msg *m, enum vu_dir dir, uint32_t *index)
{
	const struct vu_req_info *ri = vu_req_info(dir, m->hdr.request);

	if (!ri)
		return -ENOENT;
	switch (is_reply(dir) ? ri->reply : ri->req) {
	case VU_P_STATE:
		*index = m->payload.state.index;
		return 0;
	case VU_P_ADDR:
		*index = m->payload.addr.index;
		return 0;
	case VU_P_VRING_FILE:
	case VU_P_AREA:
		*index = m->payload.u64 & VU_VRING_IDX_MASK;
		return 0;
	default:
		return -ENOENT;
	}
}

/* ---- construction ---- */

void vu_msg_init(struct vu_msg *m, uint32_t request, uint32_t size)
{
	memset(m, 0, sizeof(*m));
	m->hdr = (struct vu_hdr){ .request = request, .flags = VU_VERSION, .size = size };
}

void vu_msg_reply_init(struct vu_msg *reply, const struct vu_msg *req, uint32_t size)
{
	vu_msg_init(reply, req->hdr.request, size);
	reply->hdr.flags |= VU_FLAG_REPLY;
}

bool vu_msg_need_reply(const struct vu_msg *req)
{
	return req->hdr.flags & VU_FLAG_NEED_REPLY;
}

void vu_msg_close_fds(struct vu_msg *m)
{
	unsigned int i;

	for (i = 0; i < m->nfds && i < VU_MAX_FDS; i++) {
		if (m->fds[i] >= 0)
			close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->nfds = 0;
}

/* ---- I/O ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` until the deadline: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int sock, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = sock, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;	/* ready, or HUP/ERR: the I/O call reports it */
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Moves SCM_RIGHTS fds from mh into m; false if any had to be closed for lack of room. */
static bool take_fds(struct msghdr *mh, struct vu_msg *m)
{
	struct cmsghdr *c;
	bool ok = true;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t i, n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (m->nfds < VU_MAX_FDS) {
				m->fds[m->nfds++] = fd;
			} else {
				close(fd);
				ok = false;
			}
		}
	}
	return ok;
}

/*
 * Reads exactly n bytes into buf, collecting fds into m. `start`: this is the first read of a
 * message (it may block per the socket's mode, and -EAGAIN/-ECONNRESET mean "no message").
 * Later reads wait with poll() until *deadline.
 */
static int read_full(int sock, void *buf, size_t n, struct vu_msg *m, bool start,
		     int64_t *deadline, char *why, size_t len)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
	} ctl;
	size_t got = 0;

	while (got < n) {
		struct iovec iov = { .iov_base = (char *)buf + got, .iov_len = n - got };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		bool first = start && got == 0;
		ssize_t r;
		int ret;

		if (!first) {
			if (!*deadline)
				*deadline = mono_ms() + VU_MSG_TIMEOUT_MS;
			ret = wait_fd(sock, POLLIN, *deadline);
			if (ret)
				return reject(ret, "message incomplete after %d ms",
					      VU_MSG_TIMEOUT_MS);
		}
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | (first ? 0 : MSG_DONTWAIT));
		if (r < 0) {
			if (errno == EINTR || (!first && (errno == EAGAIN || errno == EWOULDBLOCK)))
				continue;
			ret = -errno;
			if (first && (ret == -EAGAIN || ret == -EWOULDBLOCK))
				return -EAGAIN;
			return reject(ret, "recvmsg failed (errno %d)", -ret);
		}
		if (!take_fds(&mh, m))
			return reject(-EPROTO, "more than %u fds with one message", VU_MAX_FDS);
		if (mh.msg_flags & MSG_CTRUNC)
			return reject(-EPROTO, "control data truncated (more than %u fds?)",
				      VU_MAX_FDS);
		if (r == 0)
			return first ? reject(-ECONNRESET, "peer closed the connection") :
				       reject(-EPROTO, "peer closed the connection mid-message");
		got += (size_t)r;
	}
	return 0;
}

int vu_msg_recv(int sock, struct vu_msg *m, char *why, size_t len)
{
	int64_t deadline = 0;
	int ret;

	memset(m, 0, sizeof(*m));
	ret = read_full(sock, &m->hdr, sizeof(m->hdr), m, true, &deadline, why, len);
	if (ret)
		goto err;
	/* Refuse before reading: the bytes stay in the socket and the stream is abandoned. */
	if (m->hdr.size > VU_MAX_PAYLOAD) {
		ret = reject(-EMSGSIZE, "request %u announces %u payload bytes (max %zu)",
			     m->hdr.request, m->hdr.size, VU_MAX_PAYLOAD);
		goto err;
	}
	ret = read_full(sock, &m->payload, m->hdr.size, m, false, &deadline, why, len);
	if (ret)
		goto err;
	return 0;
err:
	vu_msg_close_fds(m);
	return ret;
}

int vu_msg_recv_checked(int sock, enum vu_dir dir, struct vu_msg *m, char *why, size_t len)
{
	int ret = vu_msg_recv(sock, m, why, len);

	if (ret)
		return ret;
	return vu_msg_check_or_close(m, dir, why, len);
}

int vu_msg_send(int sock, const struct vu_msg *m)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
	} ctl;
	size_t total, sent = 0;
	int64_t deadline = 0;

	if (m->hdr.size > VU_MAX_PAYLOAD || m->nfds > VU_MAX_FDS)
		return -EINVAL;
	total = sizeof(m->hdr) + m->hdr.size;
	memset(&ctl, 0, sizeof(ctl));

	while (sent < total) {
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		ssize_t r;
		int ret;

		/* The payload follows the header on the wire but not in struct vu_msg. */
		if (sent < sizeof(m->hdr)) {
			iov[0] = (struct iovec){ (char *)&m->hdr + sent, sizeof(m->hdr) - sent };
			iov[1] = (struct iovec){ (void *)&m->payload, m->hdr.size };
			mh.msg_iovlen = 2;
		} else {
			iov[0] = (struct iovec){ (char *)&m->payload + (sent - sizeof(m->hdr)),
						 total - sent };
			mh.msg_iovlen = 1;
		}
		if (sent == 0 && m->nfds) {
			struct cmsghdr *c;

			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
			memcpy(CMSG_DATA(c), m->fds, sizeof(int) * m->nfds);
		}
		r = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if (!deadline)
				deadline = mono_ms() + VU_MSG_TIMEOUT_MS;
			ret = wait_fd(sock, POLLOUT, deadline);
			if (ret)
				return ret;
			continue;
		}
		sent += (size_t)r;
	}
	return 0;
}

int vu_msg_send_ack(int sock, const struct vu_msg *req, uint64_t status)
{
	struct vu_msg reply;

	vu_msg_reply_init(&reply, req, sizeof(uint64_t));
	reply.payload.u64 = status;
	return vu_msg_send(sock, &reply);
}
