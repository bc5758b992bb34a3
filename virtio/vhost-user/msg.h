/* SPDX-License-Identifier: MIT */
#ifndef VIRTIO_VHOST_USER_MSG_H
#define VIRTIO_VHOST_USER_MSG_H

/*
 * vhost-user messages (QEMU docs/interop/vhost-user.rst): wire structs, the two request tables
 * (front-end and back-end requests), validation, and blocking framed I/O on an AF_UNIX stream
 * socket. No session state lives here: the front-end and back-end built on top keep it and call
 * the context validators (queue count, device queue size, config space size) with their numbers.
 *
 * Everything received is untrusted:
 *   vu_msg_recv()          framing only: header, payload bounded by VU_MAX_PAYLOAD (an oversized
 *                          size field is refused before any payload byte is read), fds via
 *                          SCM_RIGHTS (MSG_CMSG_CLOEXEC), at most VU_MAX_FDS.
 *   vu_msg_check()         what the table says: version and flag bits, reply bit from the right
 *                          side, known request, exact payload size, fd count, and the payload
 *                          rules that need no session context.
 *   vu_msg_check_or_close()  vu_msg_check(), then closes every fd of a rejected message (and the
 *                          stray fd that REM_MEM_REG may carry, which must never be used).
 *   vu_msg_recv_checked()  vu_msg_recv() + vu_msg_check_or_close(): what a session loop calls.
 * After any of them fails, m->nfds == 0 and no fd is left open.
 *
 * Thread safety: no state, no globals; one socket must not be read (or written) by two threads
 * at once. The socket may be blocking or non-blocking: once the first byte of a message has
 * arrived, the rest is awaited with poll() for at most VU_MSG_TIMEOUT_MS.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

/* Header flags (vhost-user.rst "Header"). */
#define VU_VERSION		0x1u
#define VU_FLAG_VERSION_MASK	0x3u
#define VU_FLAG_REPLY		(1u << 2)
#define VU_FLAG_NEED_REPLY	(1u << 3)
#define VU_FLAGS_KNOWN		(VU_FLAG_VERSION_MASK | VU_FLAG_REPLY | VU_FLAG_NEED_REPLY)

#define VU_MAX_FDS		8	/* fds per message; SCM_RIGHTS of SET_MEM_TABLE */
#define VU_MAX_REGIONS		8	/* VHOST_MEMORY_BASELINE_NREGIONS */
#define VU_MAX_QUEUES		256	/* KICK/CALL/ERR index is bits 0-7 (DPDK: 0x100) */
#define VU_MAX_QUEUE_SIZE	32768	/* VIRTIO 1.2 §2.7: split queue size <= 32768 */
#define VU_CONFIG_MAX		256	/* VHOST_USER_MAX_CONFIG_SIZE in QEMU and DPDK */
#define VU_LOG_PAGE		4096	/* VHOST_LOG_PAGE */
#define VU_MSG_TIMEOUT_MS	2000	/* rest of a started message must arrive within this */

/* u64 payload of SET_VRING_KICK/CALL/ERR and vring area: index in bits 0-7, bit 8 = no fd. */
#define VU_VRING_IDX_MASK	0xffull
#define VU_VRING_NOFD		(1ull << 8)
#define VU_VRING_F_LOG		(1u << 0)	/* vring addr flags: VHOST_VRING_F_LOG */

/* Virtio feature bit that announces protocol features (vhost-user.rst "Communication"). */
#define VU_F_PROTOCOL_FEATURES	30
#define VU_F_LOG_ALL		26	/* VHOST_F_LOG_ALL */

/* Protocol feature bits (vhost-user.rst "Protocol features"). */
enum vu_protocol_feature {
	VU_PF_MQ = 0,
	VU_PF_LOG_SHMFD = 1,
	VU_PF_RARP = 2,
	VU_PF_REPLY_ACK = 3,
	VU_PF_NET_MTU = 4,
	VU_PF_BACKEND_REQ = 5,
	VU_PF_CROSS_ENDIAN = 6,
	VU_PF_CRYPTO_SESSION = 7,
	VU_PF_PAGEFAULT = 8,
	VU_PF_CONFIG = 9,
	VU_PF_BACKEND_SEND_FD = 10,
	VU_PF_HOST_NOTIFIER = 11,
	VU_PF_INFLIGHT_SHMFD = 12,
	VU_PF_RESET_DEVICE = 13,
	VU_PF_INBAND_NOTIFICATIONS = 14,
	VU_PF_CONFIGURE_MEM_SLOTS = 15,
	VU_PF_STATUS = 16,
	VU_PF_XEN_MMAP = 17,		/* changes the region layout: never negotiated by us */
	VU_PF_SHARED_OBJECT = 18,
	VU_PF_DEVICE_STATE = 19,
	/*
	 * Ours: vhost-user-shmem (docs/vhost-user-shmem.md). Upstream uses bits 0..20 (QEMU's
	 * SHMEM = 20 is VIRTIO Shared Memory Regions, unrelated); 48 leaves room for both to grow.
	 */
	VU_PF_NETSHM = 48,
};

/* ---- wire structs: native byte order, natural alignment, sizes asserted in msg.c ---- */

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;			/* payload bytes that follow the header */
};

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;			/* VU_VRING_F_LOG */
	uint64_t desc;			/* user addresses (IOVA with VIRTIO_F_IOMMU_PLATFORM) */
	uint64_t used;
	uint64_t avail;
	uint64_t log;			/* guest physical address of the used ring, for logging */
};

struct vu_mem_region {
	uint64_t guest_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
};

struct vu_mem {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VU_MAX_REGIONS];
};

struct vu_mem_single {			/* ADD_MEM_REG / REM_MEM_REG */
	uint64_t padding;
	struct vu_mem_region region;
};

struct vu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

enum vu_iotlb_type {
	VU_IOTLB_MISS = 1,
	VU_IOTLB_UPDATE = 2,
	VU_IOTLB_INVALIDATE = 3,
	VU_IOTLB_ACCESS_FAIL = 4,
};

struct vu_iotlb {			/* struct vhost_iotlb_msg, padded to 32 as on the wire */
	uint64_t iova;
	uint64_t size;
	uint64_t uaddr;
	uint8_t perm;			/* 0..3: none, read, write, read/write */
	uint8_t type;			/* enum vu_iotlb_type */
	uint8_t reserved[6];
};

#define VU_CONFIG_HDR		12	/* offset, size, flags */
#define VU_CONFIG_F_MIGRATION	1u

struct vu_config {
	uint32_t offset;
	uint32_t size;			/* bytes of data[] used; hdr.size == VU_CONFIG_HDR + size */
	uint32_t flags;			/* 0 or VU_CONFIG_F_MIGRATION */
	uint8_t data[VU_CONFIG_MAX];
};

struct vu_vring_area {			/* back-end VRING_HOST_NOTIFIER_MSG */
	uint64_t u64;			/* index in bits 0-7, VU_VRING_NOFD */
	uint64_t size;
	uint64_t offset;
};

struct vu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding;		/* the wire struct is 24 bytes (natural alignment) */
};

struct vu_shared {
	uint8_t uuid[16];
};

struct vu_xfer {			/* SET_DEVICE_STATE_FD */
	uint32_t direction;		/* 0 save, 1 load */
	uint32_t phase;			/* 0 stopped */
};

/* ---- vhost-user-shmem (ours, docs/vhost-user-shmem.md; ids in the extension tables) ---- */

#define VU_NETSHM_MODE_SHARED	1u	/* the shared region only */
#define VU_NETSHM_MODE_PEER	2u	/* the region, plus the peers' RAM (PEER_MAP) */

struct vu_netshm_attach {		/* NETSHM_ATTACH request */
	uint32_t version;		/* NETSHM_VERSION */
	uint32_t mode;			/* VU_NETSHM_MODE_* */
	uint32_t flags;			/* 0 */
	uint32_t reserved;		/* 0 */
};

struct vu_netshm_attach_reply {		/* NETSHM_ATTACH reply; 1 fd (the region) iff status 0 */
	uint32_t version;		/* NETSHM_VERSION */
	uint32_t status;		/* 0, or a positive errno: EPERM (mode refused), ENOSPC ... */
	uint32_t port;			/* < nports */
	uint32_t nports;		/* 2..NETSHM_MAX_PORTS */
	uint64_t region_size;		/* NETSHM_REGION_SIZE(nports); the fd is at least this big */
	uint64_t reserved;
};

struct vu_netshm_peer_map {		/* back-end NETSHM_PEER_MAP: 8 + 8 + 32 * nregions bytes */
	uint32_t port;			/* the peer whose RAM this is; != the receiver's port */
	uint32_t reserved;
	struct vu_mem mem;		/* the peer's SET_MEM_TABLE; user_addr 0; one fd per region */
};

struct vu_netshm_peer {			/* back-end NETSHM_PEER_UNMAP, DOORBELL_MAP, DOORBELL_UNMAP */
	uint32_t port;
	uint32_t reserved;
};

struct vu_netshm_doorbell {		/* NETSHM_DOORBELL request; 1 fd: the guest's irqfd eventfd */
	uint32_t flags;			/* 0 */
	uint32_t reserved;		/* 0 */
};

union vu_payload {
	uint64_t u64;
	struct vu_vring_state state;
	struct vu_vring_addr addr;
	struct vu_mem mem;
	struct vu_mem_single memreg;
	struct vu_log log;
	struct vu_iotlb iotlb;
	struct vu_config config;
	struct vu_vring_area area;
	struct vu_inflight inflight;
	struct vu_shared shared;
	struct vu_xfer xfer;
	struct vu_netshm_attach netshm_attach;
	struct vu_netshm_attach_reply netshm_attach_reply;
	struct vu_netshm_peer_map netshm_peer_map;
	struct vu_netshm_peer netshm_peer;
	struct vu_netshm_doorbell netshm_doorbell;
	uint8_t raw[VU_CONFIG_HDR + VU_CONFIG_MAX];
};

#define VU_MAX_PAYLOAD		sizeof(union vu_payload)

/* One message as the library hands it around; the wire form is hdr then hdr.size bytes. */
struct vu_msg {
	struct vu_hdr hdr;
	union vu_payload payload;
	int fds[VU_MAX_FDS];
	unsigned int nfds;
};

/* ---- the request tables ---- */

/* Payload shapes; each has an exact size except MEM (8 + 32 * nregions) and CONFIG. */
enum vu_payload_kind {
	VU_P_NONE,		/* 0 bytes */
	VU_P_U64,
	VU_P_VRING_FILE,	/* u64: index bits 0-7, VU_VRING_NOFD, other bits 0 */
	VU_P_STATE,
	VU_P_ADDR,
	VU_P_MEM,
	VU_P_MEMREG,
	VU_P_LOG,
	VU_P_IOTLB,
	VU_P_CONFIG,
	VU_P_AREA,
	VU_P_INFLIGHT,
	VU_P_SHARED,
	VU_P_XFER,
	VU_P_NETSHM_ATTACH,
	VU_P_NETSHM_ATTACH_REPLY,
	VU_P_NETSHM_PEER_MAP,	/* 16 + 32 * nregions */
	VU_P_NETSHM_PEER,
	VU_P_NETSHM_DOORBELL,
	VU_P_ACK,		/* reply only: the u64 REPLY_ACK status (0 success) */
	VU_P_UNSUPPORTED,	/* a spec'd request this library refuses (-EOPNOTSUPP) */
};

/* How many fds a message carries. */
enum vu_fd_rule {
	VU_FD_NONE,		/* exactly 0 */
	VU_FD_ONE,		/* exactly 1 */
	VU_FD_NOFD_BIT,		/* 1, or 0 if bit 8 (VU_VRING_NOFD) of the first u64 is set */
	VU_FD_PER_REGION,	/* exactly mem.nregions */
	VU_FD_OPTIONAL,		/* 0 or 1 */
	VU_FD_STRAY,		/* 0 or 1, and a present one is closed unused (REM_MEM_REG) */
	VU_FD_PEER_REGIONS,	/* exactly netshm_peer_map.mem.nregions */
	VU_FD_IF_OK,		/* 1 if netshm_attach_reply.status == 0, else 0 */
};

/*
 * One row per request: its id, the request payload and fds, the reply payload and fds. Replies
 * to SET_MEM_TABLE / ADD_MEM_REG / REM_MEM_REG carry the table only in postcopy; otherwise they
 * are a REPLY_ACK u64, which vu_msg_check() accepts too.
 *
 * Columns are enum vu_payload_kind (VU_P_*) and enum vu_fd_rule (VU_FD_*) without the prefix.
 *
 *   name                     id  request     fds         reply        reply fds */
#define VU_FRONT_REQUESTS(X)                                                                \
	X(GET_FEATURES,             1, NONE,        NONE,       U64,         NONE)          \
	X(SET_FEATURES,             2, U64,         NONE,       ACK,         NONE)          \
	X(SET_OWNER,                3, NONE,        NONE,       ACK,         NONE)          \
	X(RESET_OWNER,              4, NONE,        NONE,       ACK,         NONE)          \
	X(SET_MEM_TABLE,            5, MEM,         PER_REGION, MEM,         NONE)          \
	X(SET_LOG_BASE,             6, LOG,         ONE,        U64,         NONE)          \
	X(SET_LOG_FD,               7, NONE,        ONE,        ACK,         NONE)          \
	X(SET_VRING_NUM,            8, STATE,       NONE,       ACK,         NONE)          \
	X(SET_VRING_ADDR,           9, ADDR,        NONE,       ACK,         NONE)          \
	X(SET_VRING_BASE,          10, STATE,       NONE,       ACK,         NONE)          \
	X(GET_VRING_BASE,          11, STATE,       NONE,       STATE,       NONE)          \
	X(SET_VRING_KICK,          12, VRING_FILE,  NOFD_BIT,   ACK,         NONE)          \
	X(SET_VRING_CALL,          13, VRING_FILE,  NOFD_BIT,   ACK,         NONE)          \
	X(SET_VRING_ERR,           14, VRING_FILE,  NOFD_BIT,   ACK,         NONE)          \
	X(GET_PROTOCOL_FEATURES,   15, NONE,        NONE,       U64,         NONE)          \
	X(SET_PROTOCOL_FEATURES,   16, U64,         NONE,       ACK,         NONE)          \
	X(GET_QUEUE_NUM,           17, NONE,        NONE,       U64,         NONE)          \
	X(SET_VRING_ENABLE,        18, STATE,       NONE,       ACK,         NONE)          \
	X(SEND_RARP,               19, U64,         NONE,       ACK,         NONE)          \
	X(NET_SET_MTU,             20, U64,         NONE,       ACK,         NONE)          \
	X(SET_BACKEND_REQ_FD,      21, NONE,        ONE,        ACK,         NONE)          \
	X(IOTLB_MSG,               22, IOTLB,       NONE,       U64,         NONE)          \
	X(SET_VRING_ENDIAN,        23, STATE,       NONE,       ACK,         NONE)          \
	X(GET_CONFIG,              24, CONFIG,      NONE,       CONFIG,      NONE)          \
	X(SET_CONFIG,              25, CONFIG,      NONE,       ACK,         NONE)          \
	X(CREATE_CRYPTO_SESSION,   26, UNSUPPORTED, NONE,       UNSUPPORTED, NONE)          \
	X(CLOSE_CRYPTO_SESSION,    27, U64,         NONE,       ACK,         NONE)          \
	X(POSTCOPY_ADVISE,         28, NONE,        NONE,       NONE,        ONE)           \
	X(POSTCOPY_LISTEN,         29, NONE,        NONE,       ACK,         NONE)          \
	X(POSTCOPY_END,            30, NONE,        NONE,       U64,         NONE)          \
	X(GET_INFLIGHT_FD,         31, INFLIGHT,    NONE,       INFLIGHT,    ONE)           \
	X(SET_INFLIGHT_FD,         32, INFLIGHT,    ONE,        ACK,         NONE)          \
	X(GPU_SET_SOCKET,          33, NONE,        ONE,        ACK,         NONE)          \
	X(RESET_DEVICE,            34, NONE,        NONE,       ACK,         NONE)          \
	X(VRING_KICK,              35, STATE,       NONE,       ACK,         NONE)          \
	X(GET_MAX_MEM_SLOTS,       36, NONE,        NONE,       U64,         NONE)          \
	X(ADD_MEM_REG,             37, MEMREG,      ONE,        MEMREG,      NONE)          \
	X(REM_MEM_REG,             38, MEMREG,      STRAY,      MEMREG,      NONE)          \
	X(SET_STATUS,              39, U64,         NONE,       ACK,         NONE)          \
	X(GET_STATUS,              40, NONE,        NONE,       U64,         NONE)          \
	X(GET_SHARED_OBJECT,       41, SHARED,      NONE,       U64,         OPTIONAL)      \
	X(SET_DEVICE_STATE_FD,     42, XFER,        ONE,        U64,         NOFD_BIT)      \
	X(CHECK_DEVICE_STATE,      43, NONE,        NONE,       U64,         NONE)

/* Requests a back-end sends on the SET_BACKEND_REQ_FD channel (ids are their own space). */
#define VU_BACK_REQUESTS(X)                                                                 \
	X(IOTLB_MSG,                1, IOTLB,       NONE,       ACK,         NONE)          \
	X(CONFIG_CHANGE_MSG,        2, NONE,        NONE,       ACK,         NONE)          \
	X(VRING_HOST_NOTIFIER_MSG,  3, AREA,        NOFD_BIT,   ACK,         NONE)          \
	X(VRING_CALL,               4, STATE,       NONE,       ACK,         NONE)          \
	X(VRING_ERR,                5, STATE,       NONE,       ACK,         NONE)          \
	X(SHARED_OBJECT_ADD,        6, SHARED,      NONE,       ACK,         NONE)          \
	X(SHARED_OBJECT_REMOVE,     7, SHARED,      NONE,       ACK,         NONE)          \
	X(SHARED_OBJECT_LOOKUP,     8, SHARED,      NONE,       U64,         OPTIONAL)

/*
 * Our extension requests (docs/vhost-user-shmem.md): ids far above upstream's (front-end 1..45,
 * back-end 1..10 as of QEMU 10) so that neither side's numbering can reach them soon. Only
 * valid once VU_PF_NETSHM is negotiated; the session code enforces that.
 */
#define VU_NETSHM_REQ_BASE	1001
#define VU_FRONT_EXT_REQUESTS(X)                                                            \
	X(NETSHM_ATTACH,         1001, NETSHM_ATTACH, NONE,     NETSHM_ATTACH_REPLY, IF_OK)  \
	X(NETSHM_DOORBELL,       1002, NETSHM_DOORBELL, ONE,    ACK,         NONE)
#define VU_BACK_EXT_REQUESTS(X)                                                             \
	X(NETSHM_PEER_MAP,       1001, NETSHM_PEER_MAP, PEER_REGIONS, ACK,        NONE)          \
	X(NETSHM_PEER_UNMAP,     1002, NETSHM_PEER,   NONE,       ACK,         NONE)          \
	X(NETSHM_DOORBELL_MAP,   1003, NETSHM_PEER,   ONE,        ACK,         NONE)          \
	X(NETSHM_DOORBELL_UNMAP, 1004, NETSHM_PEER,   NONE,       ACK,         NONE)

#define VU_X_ENUM(name, id, ...)	VU_REQ_##name = id,
enum vu_front_request { VU_FRONT_REQUESTS(VU_X_ENUM) VU_FRONT_EXT_REQUESTS(VU_X_ENUM) };
#define VU_X_BENUM(name, id, ...)	VU_BREQ_##name = id,
enum vu_back_request { VU_BACK_REQUESTS(VU_X_BENUM) VU_BACK_EXT_REQUESTS(VU_X_BENUM) };

/*
 * Which side sent the message and on which channel. A reply carries VU_FLAG_REPLY and never
 * VU_FLAG_NEED_REPLY; a request never carries VU_FLAG_REPLY. Requests without an explicit reply
 * body are answered (REPLY_ACK) with a u64: 0 success, non-zero failure.
 */
enum vu_dir {
	VU_FRONT_REQ,		/* front-end request, main socket: a back-end checks it */
	VU_BACK_REPLY,		/* back-end reply to it: a front-end checks it */
	VU_BACK_REQ,		/* back-end request, back-end channel: a front-end checks it */
	VU_FRONT_REPLY,		/* front-end reply to that */
};

struct vu_req_info {
	const char *name;		/* "SET_MEM_TABLE" */
	uint32_t id;
	enum vu_payload_kind req;
	enum vu_fd_rule req_fds;
	enum vu_payload_kind reply;	/* VU_P_ACK: no reply body, only a REPLY_ACK status */
	enum vu_fd_rule reply_fds;
};

/* The table row for `request` as seen in direction `dir`, or NULL if the id is unknown. */
const struct vu_req_info *vu_req_info(enum vu_dir dir, uint32_t request);
/* "SET_MEM_TABLE", or "unknown"; for logs. */
const char *vu_req_name(enum vu_dir dir, uint32_t request);

/* ---- validation ---- */

/*
 * Checks m against the table for direction dir: nfds <= VU_MAX_FDS, version 1, no unknown flag
 * bits, the reply bit matching dir, a known request id, the exact payload size, the fd count,
 * and the payload rules that need no session context (those of the validators below that take
 * no limits, plus vring index < VU_MAX_QUEUES, reserved bits clear, enable/endian num 0 or 1).
 * Returns 0, -EPROTO (header: version, flags, reply bit), -EOPNOTSUPP (unknown or unsupported
 * request), or -EINVAL (size, fds, payload); writes one sentence into why (if len > 0).
 * Never touches the fds.
 */
int vu_msg_check(const struct vu_msg *m, enum vu_dir dir, char *why, size_t len) __must_check;

/* vu_msg_check(); on failure closes all of m's fds, on success closes a VU_FD_STRAY fd. */
int vu_msg_check_or_close(struct vu_msg *m, enum vu_dir dir, char *why, size_t len) __must_check;

/*
 * Payload validators. They return true if valid; otherwise false with a reason in why.
 * vu_mem_valid: 1..VU_MAX_REGIONS regions, each vu_mem_region_valid, guest ranges disjoint.
 * vu_mem_region_valid: size > 0; guest_addr + size, user_addr + size, mmap_offset + size do
 *   not wrap.
 * vu_vring_index_valid: index < nqueues (and < VU_MAX_QUEUES): a u32 with high bits fails.
 * vu_vring_num_valid: a power of two, 1..VU_MAX_QUEUE_SIZE, and <= max_num.
 * vu_vring_addr_valid: index valid; flags only VU_VRING_F_LOG; desc 16-, avail 2-, used
 *   4-byte aligned (VIRTIO 1.2 §2.7); log 4-byte aligned when VU_VRING_F_LOG is set.
 * vu_log_valid: mmap_size > 0, mmap_offset + mmap_size does not wrap, and the log covers guest
 *   addresses [0, guest_end) at one bit per VU_LOG_PAGE (guest_end 0: coverage not checked).
 * vu_config_valid: flags 0 or VU_CONFIG_F_MIGRATION, size <= VU_CONFIG_MAX, offset + size <=
 *   space (the device's config space size, <= VU_CONFIG_MAX).
 * vu_iotlb_valid: type 1..4, perm <= 3, iova + size does not wrap.
 * vu_inflight_valid: num_queues 1..VU_MAX_QUEUES, queue_size a valid vring num (GET_INFLIGHT_FD
 *   request); mmap offset + size does not wrap.
 */
bool vu_mem_valid(const struct vu_mem *mem, char *why, size_t len);
bool vu_mem_region_valid(const struct vu_mem_region *r, char *why, size_t len);
bool vu_vring_index_valid(uint32_t index, unsigned int nqueues);
bool vu_vring_num_valid(uint32_t num, uint32_t max_num);
bool vu_vring_addr_valid(const struct vu_vring_addr *a, unsigned int nqueues, char *why,
			 size_t len);
bool vu_log_valid(const struct vu_log *l, uint64_t guest_end, char *why, size_t len);
bool vu_config_valid(const struct vu_config *c, uint32_t space, char *why, size_t len);
bool vu_iotlb_valid(const struct vu_iotlb *t, char *why, size_t len);
bool vu_inflight_valid(const struct vu_inflight *f, char *why, size_t len);
/*
 * NETSHM_PEER_MAP in the context of its receiver (docs/vhost-user-shmem.md §2); the
 * context-free rules (reserved 0, regions as vu_mem_valid, 4 KiB aligned guest_addr, size and
 * mmap_offset, user_addr 0) are vu_msg_check()'s and are checked again here. Context: port <
 * nports (<= NETSHM_MAX_PORTS), port != own_port, every guest_addr + size <= window (the size
 * of one peer window, LAYOUT_NETSHM_PEER_STRIDE).
 */
bool vu_netshm_peer_map_valid(const struct vu_netshm_peer_map *m, unsigned int nports,
			      unsigned int own_port, uint64_t window, char *why, size_t len);

/*
 * The vring a checked message addresses, from its STATE, ADDR, VRING_FILE or AREA payload:
 * 0 and *index, or -ENOENT if the request has no vring index.
 */
int vu_msg_vring_index(const struct vu_msg *m, enum vu_dir dir, uint32_t *index) __must_check;

/* ---- construction and I/O ---- */

/* A request: version 1, no fds, payload zeroed. */
void vu_msg_init(struct vu_msg *m, uint32_t request, uint32_t size);
/* A reply to req: same request id, version 1 | REPLY, no fds, payload zeroed. */
void vu_msg_reply_init(struct vu_msg *reply, const struct vu_msg *req, uint32_t size);
/* True if req asks for a REPLY_ACK (the caller knows whether REPLY_ACK was negotiated). */
bool vu_msg_need_reply(const struct vu_msg *req);

/*
 * Reads one message. 0 on success (the caller owns m->fds); -EAGAIN if a non-blocking socket
 * had nothing (nothing consumed); -ECONNRESET on EOF before the first byte; otherwise the
 * stream is unusable and must be closed: -EPROTO (EOF inside a message, truncated control data
 * MSG_CTRUNC, more than VU_MAX_FDS fds), -EMSGSIZE (size field > VU_MAX_PAYLOAD: the payload is
 * not read), -ETIMEDOUT, or another -errno from recvmsg/poll. Every fd that arrived with a
 * failed read is closed.
 */
int vu_msg_recv(int sock, struct vu_msg *m, char *why, size_t len) __must_check;
/* vu_msg_recv() then vu_msg_check_or_close(): -EPROTO/-EOPNOTSUPP/-EINVAL from the check mean
 * the message was consumed whole and rejected (the stream is still in sync). */
int vu_msg_recv_checked(int sock, enum vu_dir dir, struct vu_msg *m, char *why, size_t len)
	__must_check;

/*
 * Writes hdr, hdr.size payload bytes and m->fds (SCM_RIGHTS with the first byte). MSG_NOSIGNAL:
 * a closed peer gives -EPIPE, never SIGPIPE; a peer that does not drain its socket within
 * VU_MSG_TIMEOUT_MS gives -ETIMEDOUT (the stream is then unusable). -EINVAL if hdr.size >
 * VU_MAX_PAYLOAD or nfds > VU_MAX_FDS. The fds stay owned by the caller.
 */
int vu_msg_send(int sock, const struct vu_msg *m) __must_check;
/* Sends the u64 REPLY_ACK status reply to req (0 success). */
int vu_msg_send_ack(int sock, const struct vu_msg *req, uint64_t status) __must_check;

/* Closes every fd in m and sets nfds = 0. */
void vu_msg_close_fds(struct vu_msg *m);

#endif
