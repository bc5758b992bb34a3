// SPDX-License-Identifier: MIT
/* virtio/vhost-user/msg.c: the request tables, every bad header/size/fd/payload, and framed I/O
 * on a socketpair (truncation, oversize, fd floods), with fd-leak accounting. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/netshm-abi.h"
#include "lib/fds.h"
#include "virtio/vhost-user/msg.h"

static const enum vu_dir all_dirs[] = { VU_FRONT_REQ, VU_BACK_REPLY, VU_BACK_REQ, VU_FRONT_REPLY };

static bool dir_is_reply(enum vu_dir d)
{
	return d == VU_BACK_REPLY || d == VU_FRONT_REPLY;
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

static const struct vu_mem_region good_region = {
	.guest_addr = 0, .size = 1 << 20, .user_addr = 0x7f0000000000ull, .mmap_offset = 0,
};

/* A message the table accepts for request ri in direction dir; fds are fake numbers. */
static void fill(struct vu_msg *m, enum vu_dir dir, const struct vu_req_info *ri)
{
	bool reply = dir_is_reply(dir);
	enum vu_payload_kind k = reply ? ri->reply : ri->req;
	enum vu_fd_rule f = reply ? ri->reply_fds : ri->req_fds;
	union vu_payload *p = &m->payload;
	unsigned int i;

	vu_msg_init(m, ri->id, 0);
	if (reply)
		m->hdr.flags |= VU_FLAG_REPLY;
	switch (k) {
	case VU_P_NONE:
		break;
	/* Extension rows (docs/vhost-user-shmem.md §2); their bad cases: test_vu_netshm_msg.c. */
	case VU_P_NETSHM_ATTACH:
		m->hdr.size = sizeof(p->netshm_attach);
		p->netshm_attach = (struct vu_netshm_attach){ .version = NETSHM_VERSION,
							      .mode = VU_NETSHM_MODE_SHARED };
		break;
	case VU_P_NETSHM_ATTACH_REPLY:
		m->hdr.size = sizeof(p->netshm_attach_reply);
		p->netshm_attach_reply = (struct vu_netshm_attach_reply){
			.version = NETSHM_VERSION, .port = 1, .nports = 2,
			.region_size = NETSHM_REGION_SIZE(2) };
		break;
	case VU_P_NETSHM_PEER_MAP:
		m->hdr.size = 16 + sizeof(struct vu_mem_region);
		p->netshm_peer_map.port = 1;
		p->netshm_peer_map.mem.nregions = 1;
		p->netshm_peer_map.mem.regions[0] = good_region;
		p->netshm_peer_map.mem.regions[0].user_addr = 0;
		break;
	case VU_P_NETSHM_PEER:
		m->hdr.size = sizeof(p->netshm_peer);
		p->netshm_peer.port = 1;
		break;
	case VU_P_NETSHM_DOORBELL:
		m->hdr.size = sizeof(p->netshm_doorbell);
		break;
	case VU_P_U64:
	case VU_P_ACK:
		m->hdr.size = 8;
		break;
	case VU_P_VRING_FILE:
		m->hdr.size = 8;
		p->u64 = 1;
		break;
	case VU_P_STATE:
		m->hdr.size = sizeof(p->state);
		p->state.index = 1;
		/* VRING_KICK and the back-end's VRING_CALL/ERR require num == 0. */
		p->state.num = (!reply && ((dir == VU_FRONT_REQ && ri->id == VU_REQ_VRING_KICK) ||
			       (dir == VU_BACK_REQ && (ri->id == VU_BREQ_VRING_CALL ||
						       ri->id == VU_BREQ_VRING_ERR)))) ? 0 : 1;
		break;
	case VU_P_ADDR:
		m->hdr.size = sizeof(p->addr);
		p->addr = (struct vu_vring_addr){ .index = 1, .desc = 0x1000, .avail = 0x2000,
						  .used = 0x3000 };
		break;
	case VU_P_MEM:
		m->hdr.size = 8 + sizeof(struct vu_mem_region);
		p->mem.nregions = 1;
		p->mem.regions[0] = good_region;
		break;
	case VU_P_MEMREG:
		m->hdr.size = sizeof(p->memreg);
		p->memreg.region = good_region;
		break;
	case VU_P_LOG:
		m->hdr.size = sizeof(p->log);
		p->log = (struct vu_log){ .mmap_size = 4096 };
		break;
	case VU_P_IOTLB:
		m->hdr.size = sizeof(p->iotlb);
		p->iotlb = (struct vu_iotlb){ .iova = 0x1000, .size = 0x1000, .uaddr = 1ull << 40,
					      .perm = 3, .type = VU_IOTLB_UPDATE };
		break;
	case VU_P_CONFIG:
		m->hdr.size = VU_CONFIG_HDR + 4;
		p->config.offset = 0;
		p->config.size = 4;
		break;
	case VU_P_AREA:
		m->hdr.size = sizeof(p->area);
		p->area = (struct vu_vring_area){ .u64 = 1, .size = 4096 };
		break;
	case VU_P_INFLIGHT:
		m->hdr.size = sizeof(p->inflight);
		p->inflight = (struct vu_inflight){ .mmap_size = 4096, .num_queues = 2,
						    .queue_size = 256 };
		break;
	case VU_P_SHARED:
		m->hdr.size = sizeof(p->shared);
		break;
	case VU_P_XFER:
		m->hdr.size = sizeof(p->xfer);
		break;
	case VU_P_UNSUPPORTED:
		break;
	}
	switch (f) {
	case VU_FD_ONE:
	case VU_FD_NOFD_BIT:
		m->nfds = 1;
		break;
	case VU_FD_PER_REGION:
		m->nfds = p->mem.nregions;
		break;
	case VU_FD_PEER_REGIONS:
		m->nfds = p->netshm_peer_map.mem.nregions;
		break;
	case VU_FD_IF_OK:
		m->nfds = p->netshm_attach_reply.status ? 0 : 1;
		break;
	default:
		m->nfds = 0;
	}
	for (i = 0; i < m->nfds; i++)
		m->fds[i] = 100 + i;
}

static int check(const struct vu_msg *m, enum vu_dir dir)
{
	char why[256] = "";
	int ret = vu_msg_check(m, dir, why, sizeof(why));

	if (ret)
		cr_log_info("refused: %s", why);
	cr_expect(!ret || why[0], "a refusal must say why");
	return ret;
}

/* ---- the table ---- */

/* Every id worth trying: the upstream range and our extension ids. */
#define N_IDS	(64 + 4)
static uint32_t nth_id(unsigned int i)
{
	return i < 64 ? i : VU_NETSHM_REQ_BASE + (i - 64);
}

Test(vu_msg, every_table_entry_accepts_its_good_message)
{
	unsigned int d, id, n = 0;
	struct vu_msg m;

	for (d = 0; d < ARRAY_SIZE(all_dirs); d++) {
		for (id = 0; id < N_IDS; id++) {
			const struct vu_req_info *ri = vu_req_info(all_dirs[d], nth_id(id));

			if (!ri || ri->req == VU_P_UNSUPPORTED)
				continue;
			fill(&m, all_dirs[d], ri);
			cr_expect_eq(check(&m, all_dirs[d]), 0, "dir %u %s", d, ri->name);
			n++;
		}
	}
	/* 42 front-end requests (43 less crypto) and 8 back-end ones, plus the extension rows
	 * (2 front-end, 4 back-end), each as request and reply. */
	cr_expect_eq(n, 2 * 42 + 2 * 8 + 2 * 2 + 2 * 4);
}

Test(vu_msg, every_request_with_size_plus_or_minus_one_is_refused)
{
	unsigned int d, id;
	struct vu_msg m;

	for (d = 0; d < ARRAY_SIZE(all_dirs); d++) {
		for (id = 0; id < N_IDS; id++) {
			const struct vu_req_info *ri = vu_req_info(all_dirs[d], nth_id(id));

			if (!ri || ri->req == VU_P_UNSUPPORTED)
				continue;
			fill(&m, all_dirs[d], ri);
			m.hdr.size++;
			cr_expect_eq(check(&m, all_dirs[d]), -EINVAL, "dir %u %s size+1", d,
				     ri->name);
			m.hdr.size -= 2;
			if (m.hdr.size != UINT32_MAX)
				cr_expect_neq(check(&m, all_dirs[d]), 0, "dir %u %s size-1", d,
					      ri->name);
		}
	}
}

Test(vu_msg, unknown_request_id_is_refused)
{
	static const uint32_t front_bad[] = { 0, 44, 64, 1000, 1003, 0x80000001u, UINT32_MAX };
	static const uint32_t back_bad[] = { 0, 9, 12, 1000, 1005, UINT32_MAX };
	struct vu_msg m;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(front_bad); i++) {
		vu_msg_init(&m, front_bad[i], 0);
		cr_expect_eq(check(&m, VU_FRONT_REQ), -EOPNOTSUPP, "id %u", front_bad[i]);
		cr_expect_null(vu_req_info(VU_FRONT_REQ, front_bad[i]));
	}
	for (i = 0; i < ARRAY_SIZE(back_bad); i++) {
		vu_msg_init(&m, back_bad[i], 0);
		cr_expect_eq(check(&m, VU_BACK_REQ), -EOPNOTSUPP, "id %u", back_bad[i]);
	}
	cr_expect_str_eq(vu_req_name(VU_FRONT_REQ, 5), "SET_MEM_TABLE");
	cr_expect_str_eq(vu_req_name(VU_BACK_REQ, 3), "VRING_HOST_NOTIFIER_MSG");
	cr_expect_str_eq(vu_req_name(VU_FRONT_REQ, 999), "unknown");
	cr_expect_str_eq(vu_req_name(VU_FRONT_REQ, 1001), "NETSHM_ATTACH");
	cr_expect_str_eq(vu_req_name(VU_BACK_REQ, 1001), "NETSHM_PEER_MAP");
	cr_expect_str_eq(vu_req_name(VU_BACK_REQ, 1002), "NETSHM_PEER_UNMAP");
}

Test(vu_msg, unsupported_crypto_session_is_refused)
{
	struct vu_msg m;

	vu_msg_init(&m, VU_REQ_CREATE_CRYPTO_SESSION, 0);
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EOPNOTSUPP);
}

/* ---- header ---- */

Test(vu_msg, wrong_version_is_refused)
{
	static const uint32_t flags[] = { 0, 2, 3 };
	struct vu_msg m;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
		m.hdr.flags = flags[i];
		cr_expect_eq(check(&m, VU_FRONT_REQ), -EPROTO, "flags %u", flags[i]);
	}
}

Test(vu_msg, unknown_flag_bits_are_refused)
{
	struct vu_msg m;

	vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
	m.hdr.flags |= 1u << 4;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EPROTO);
	m.hdr.flags = VU_VERSION | 0x80000000u;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EPROTO);
}

Test(vu_msg, reply_flag_from_the_wrong_side_is_refused)
{
	struct vu_msg m;

	/* A front-end request with the reply bit: the back-end must not take it as a request. */
	vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
	m.hdr.flags |= VU_FLAG_REPLY;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EPROTO);
	/* A back-end reply without it. */
	vu_msg_init(&m, VU_REQ_GET_FEATURES, 8);
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EPROTO);
	/* A back-end request on its channel with the reply bit. */
	vu_msg_init(&m, VU_BREQ_CONFIG_CHANGE_MSG, 0);
	m.hdr.flags |= VU_FLAG_REPLY;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EPROTO);
	/* A reply that asks for a reply. */
	vu_msg_init(&m, VU_REQ_GET_FEATURES, 8);
	m.hdr.flags |= VU_FLAG_REPLY | VU_FLAG_NEED_REPLY;
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EPROTO);
}

Test(vu_msg, need_reply_on_a_request_is_accepted)
{
	struct vu_msg m;

	vu_msg_init(&m, VU_REQ_SET_OWNER, 0);
	m.hdr.flags |= VU_FLAG_NEED_REPLY;
	cr_expect_eq(check(&m, VU_FRONT_REQ), 0);
	cr_expect(vu_msg_need_reply(&m));
}

Test(vu_msg, more_fds_than_the_array_is_refused)
{
	struct vu_msg m;

	vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
	m.nfds = VU_MAX_FDS + 1;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	m.nfds = UINT32_MAX;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

Test(vu_msg, payload_size_beyond_the_union_is_refused)
{
	struct vu_msg m;

	vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
	m.hdr.size = UINT32_MAX;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

/* ---- memory table ---- */

static void mem_msg(struct vu_msg *m, uint32_t n)
{
	uint32_t i;

	vu_msg_init(m, VU_REQ_SET_MEM_TABLE, 8 + n * sizeof(struct vu_mem_region));
	m->payload.mem.nregions = n;
	for (i = 0; i < n && i < VU_MAX_REGIONS; i++) {
		m->payload.mem.regions[i] = good_region;
		m->payload.mem.regions[i].guest_addr = (uint64_t)i << 30;
		m->payload.mem.regions[i].user_addr += (uint64_t)i << 30;
		m->fds[i] = 100 + i;
	}
	m->nfds = n < VU_MAX_FDS ? n : VU_MAX_FDS;
}

Test(vu_msg, mem_table_with_8_regions_is_accepted)
{
	struct vu_msg m;

	mem_msg(&m, 8);
	cr_expect_eq(check(&m, VU_FRONT_REQ), 0);
	cr_expect(vu_mem_valid(&m.payload.mem, NULL, 0));
}

Test(vu_msg, mem_table_with_9_regions_is_refused)
{
	struct vu_mem mem = { .nregions = 9 };
	struct vu_msg m;

	mem_msg(&m, 9);
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	/* Same count in a size that fits the union. */
	m.hdr.size = sizeof(struct vu_mem);
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	cr_expect_not(vu_mem_valid(&mem, NULL, 0));
}

Test(vu_msg, mem_table_with_0_regions_is_refused)
{
	struct vu_msg m;

	mem_msg(&m, 0);
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	m.hdr.size = 8 + 32;	/* size says one region, nregions says none */
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

Test(vu_msg, mem_table_size_disagreeing_with_nregions_is_refused)
{
	struct vu_msg m;

	mem_msg(&m, 2);
	m.hdr.size = 8 + 3 * 32;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

Test(vu_msg, overlapping_regions_are_refused)
{
	struct vu_mem mem = { .nregions = 3 };
	char why[128] = "";

	mem.regions[0] = (struct vu_mem_region){ .guest_addr = 0, .size = 0x100000 };
	mem.regions[1] = (struct vu_mem_region){ .guest_addr = 0x100000, .size = 0x100000 };
	mem.regions[2] = (struct vu_mem_region){ .guest_addr = 0x40000000, .size = 0x1000 };
	cr_expect(vu_mem_valid(&mem, why, sizeof(why)), "adjacent is fine: %s", why);
	mem.regions[2].guest_addr = 0x1ff000;	/* last page of region 1 */
	cr_expect_not(vu_mem_valid(&mem, why, sizeof(why)));
	cr_expect(strstr(why, "overlap"), "%s", why);
	mem.regions[2] = (struct vu_mem_region){ .guest_addr = 0, .size = 0x40000000 };
	cr_expect_not(vu_mem_valid(&mem, NULL, 0));	/* one region covers two */
}

Test(vu_msg, overlapping_regions_in_a_message_are_refused)
{
	struct vu_msg m;

	mem_msg(&m, 2);
	m.payload.mem.regions[1].guest_addr = 0x80000;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

Test(vu_msg, region_offset_plus_size_overflow_is_refused)
{
	struct vu_mem_region r;

	r = good_region;
	r.guest_addr = UINT64_MAX - 0xfff;
	cr_expect_not(vu_mem_region_valid(&r, NULL, 0), "guest_addr + size wraps");
	r = good_region;
	r.user_addr = UINT64_MAX - 0xfff;
	cr_expect_not(vu_mem_region_valid(&r, NULL, 0), "user_addr + size wraps");
	r = good_region;
	r.mmap_offset = UINT64_MAX - 0xfff;
	cr_expect_not(vu_mem_region_valid(&r, NULL, 0), "mmap_offset + size wraps");
	r = good_region;
	r.mmap_offset = (uint64_t)INT64_MAX - 0xfff;
	cr_expect_not(vu_mem_region_valid(&r, NULL, 0), "mmap_offset + size beyond off_t");
	r = good_region;
	r.size = 0;
	cr_expect_not(vu_mem_region_valid(&r, NULL, 0), "size 0");
	r = good_region;
	r.guest_addr = UINT64_MAX - (1 << 20);	/* ends exactly at 2^64 - 1 */
	cr_expect(vu_mem_region_valid(&r, NULL, 0));
}

Test(vu_msg, add_mem_reg_with_wrapping_region_is_refused)
{
	struct vu_msg m;

	fill(&m, VU_FRONT_REQ, vu_req_info(VU_FRONT_REQ, VU_REQ_ADD_MEM_REG));
	cr_expect_eq(check(&m, VU_FRONT_REQ), 0);
	m.payload.memreg.region.size = UINT64_MAX;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

Test(vu_msg, mem_table_with_fewer_fds_than_regions_is_refused)
{
	struct vu_msg m;

	mem_msg(&m, 3);
	m.nfds = 2;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	m.nfds = 4;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

Test(vu_msg, postcopy_mem_table_reply_or_ack_is_accepted)
{
	struct vu_msg req, m;

	mem_msg(&req, 1);
	vu_msg_reply_init(&m, &req, 8);
	cr_expect_eq(check(&m, VU_BACK_REPLY), 0, "REPLY_ACK");
	vu_msg_reply_init(&m, &req, 8 + 32);
	m.payload.mem.nregions = 1;
	m.payload.mem.regions[0] = good_region;
	cr_expect_eq(check(&m, VU_BACK_REPLY), 0, "postcopy table");
	m.nfds = 1;
	m.fds[0] = 100;
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL, "reply with an fd");
}

/* ---- vrings ---- */

static void kick_msg(struct vu_msg *m, uint64_t u64, unsigned int nfds)
{
	unsigned int i;

	vu_msg_init(m, VU_REQ_SET_VRING_KICK, 8);
	m->payload.u64 = u64;
	m->nfds = nfds;
	for (i = 0; i < nfds; i++)
		m->fds[i] = 100 + i;
}

Test(vu_msg, kick_without_fd_and_without_nofd_is_refused)
{
	struct vu_msg m;

	kick_msg(&m, 0, 0);
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	kick_msg(&m, VU_VRING_NOFD, 0);
	cr_expect_eq(check(&m, VU_FRONT_REQ), 0, "NOFD and no fd: polling");
	kick_msg(&m, VU_VRING_NOFD, 1);
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL, "NOFD and an fd");
}

Test(vu_msg, kick_with_two_fds_closes_both)
{
	struct vu_msg m;
	int a = eventfd(0, EFD_CLOEXEC), b = eventfd(0, EFD_CLOEXEC);

	cr_assert(a >= 0 && b >= 0);
	kick_msg(&m, 0, 2);
	m.fds[0] = a;
	m.fds[1] = b;
	cr_expect_eq(vu_msg_check_or_close(&m, VU_FRONT_REQ, NULL, 0), -EINVAL);
	cr_expect_eq(m.nfds, 0);
	errno = 0;
	cr_expect_eq(fcntl(a, F_GETFD), -1);
	cr_expect_eq(errno, EBADF);
	errno = 0;
	cr_expect_eq(fcntl(b, F_GETFD), -1);
	cr_expect_eq(errno, EBADF);
}

Test(vu_msg, good_kick_keeps_its_fd)
{
	struct vu_msg m;
	uint32_t idx = 99;
	int a = eventfd(0, EFD_CLOEXEC);

	kick_msg(&m, 3, 1);
	m.fds[0] = a;
	cr_expect_eq(vu_msg_check_or_close(&m, VU_FRONT_REQ, NULL, 0), 0);
	cr_expect_eq(m.nfds, 1);
	cr_expect(fd_is_open(a));
	cr_expect_eq(vu_msg_vring_index(&m, VU_FRONT_REQ, &idx), 0);
	cr_expect_eq(idx, 3);
	vu_msg_close_fds(&m);
	cr_expect_not(fd_is_open(a));
}

Test(vu_msg, kick_with_reserved_bits_is_refused)
{
	struct vu_msg m;

	kick_msg(&m, 1ull << 9, 1);
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	kick_msg(&m, 1ull << 63 | VU_VRING_NOFD, 0);
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

Test(vu_msg, vring_index_with_high_bit_is_refused)
{
	struct vu_msg m;

	cr_expect_not(vu_vring_index_valid(0x80000000u, 2));
	cr_expect_not(vu_vring_index_valid(0x80000000u, UINT32_MAX));
	cr_expect_not(vu_vring_index_valid(2, 2));
	cr_expect_not(vu_vring_index_valid(VU_MAX_QUEUES, UINT32_MAX));
	cr_expect(vu_vring_index_valid(1, 2));

	vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 8);
	m.payload.state = (struct vu_vring_state){ .index = 0x80000000u, .num = 256 };
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	vu_msg_init(&m, VU_REQ_GET_VRING_BASE, 8);
	m.payload.state.index = 0x80000000u;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, sizeof(struct vu_vring_addr));
	m.payload.addr.index = 0x80000000u;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

Test(vu_msg, vring_num_not_a_power_of_two_is_refused)
{
	static const uint32_t bad[] = { 0, 3, 255, 65536, 0x80000000u, UINT32_MAX };
	struct vu_msg m;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		cr_expect_not(vu_vring_num_valid(bad[i], UINT32_MAX), "num %u", bad[i]);
		vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 8);
		m.payload.state.num = bad[i];
		cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL, "num %u", bad[i]);
	}
	cr_expect(vu_vring_num_valid(32768, 32768));
	cr_expect(vu_vring_num_valid(1, 1));
	cr_expect_not(vu_vring_num_valid(512, 256), "beyond the device maximum");
}

Test(vu_msg, vring_enable_other_than_0_or_1_is_refused)
{
	struct vu_msg m;

	vu_msg_init(&m, VU_REQ_SET_VRING_ENABLE, 8);
	m.payload.state.num = 2;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	vu_msg_init(&m, VU_REQ_SET_VRING_ENDIAN, 8);
	m.payload.state.num = 7;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	vu_msg_init(&m, VU_REQ_VRING_KICK, 8);
	m.payload.state.num = 1;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

Test(vu_msg, misaligned_vring_addr_is_refused)
{
	struct vu_vring_addr good = { .index = 0, .desc = 0x1000, .avail = 0x2000, .used = 0x3000 };
	struct vu_vring_addr a;

	cr_expect(vu_vring_addr_valid(&good, 1, NULL, 0));
	a = good;
	a.desc += 8;
	cr_expect_not(vu_vring_addr_valid(&a, 1, NULL, 0), "desc 8-aligned");
	a = good;
	a.avail += 1;
	cr_expect_not(vu_vring_addr_valid(&a, 1, NULL, 0), "avail odd");
	a = good;
	a.used += 2;
	cr_expect_not(vu_vring_addr_valid(&a, 1, NULL, 0), "used 2-aligned");
	a = good;
	a.flags = 2;
	cr_expect_not(vu_vring_addr_valid(&a, 1, NULL, 0), "unknown flag");
	a = good;
	a.flags = VU_VRING_F_LOG;
	a.log = 0x3001;
	cr_expect_not(vu_vring_addr_valid(&a, 1, NULL, 0), "misaligned log");
	a.log = 0x3000;
	cr_expect(vu_vring_addr_valid(&a, 1, NULL, 0));
	cr_expect_not(vu_vring_addr_valid(&good, 0, NULL, 0), "no queues");
}

/* ---- log, config, iotlb, inflight, area ---- */

Test(vu_msg, log_with_bad_size_or_offset_is_refused)
{
	struct vu_log l = { .mmap_size = 0 };

	cr_expect_not(vu_log_valid(&l, 0, NULL, 0), "size 0");
	l = (struct vu_log){ .mmap_size = 4096, .mmap_offset = UINT64_MAX - 100 };
	cr_expect_not(vu_log_valid(&l, 0, NULL, 0), "offset + size wraps");
	l = (struct vu_log){ .mmap_size = 4096, .mmap_offset = INT64_MAX };
	cr_expect_not(vu_log_valid(&l, 0, NULL, 0), "offset + size beyond off_t");
	/* 1 GiB of guest memory = 262144 pages = 32768 bytes of log. */
	l = (struct vu_log){ .mmap_size = 32768 };
	cr_expect(vu_log_valid(&l, 1ull << 30, NULL, 0));
	l.mmap_size = 32767;
	cr_expect_not(vu_log_valid(&l, 1ull << 30, NULL, 0), "log too small");
	l.mmap_size = 32768;
	cr_expect_not(vu_log_valid(&l, (1ull << 30) + 1, NULL, 0), "one page more needs a byte");
	l.mmap_size = 1;
	cr_expect_not(vu_log_valid(&l, UINT64_MAX, NULL, 0), "guest_end at the top");
}

Test(vu_msg, config_access_outside_the_space_is_refused)
{
	struct vu_config c = { .offset = 0, .size = 8 };
	struct vu_msg m;

	cr_expect(vu_config_valid(&c, 8, NULL, 0));
	c.offset = 1;
	cr_expect_not(vu_config_valid(&c, 8, NULL, 0), "offset + size > space");
	c = (struct vu_config){ .offset = UINT32_MAX, .size = 2 };
	cr_expect_not(vu_config_valid(&c, VU_CONFIG_MAX, NULL, 0), "offset + size wraps u32");
	c = (struct vu_config){ .size = 4, .flags = 2 };
	cr_expect_not(vu_config_valid(&c, VU_CONFIG_MAX, NULL, 0), "unknown flag");

	vu_msg_init(&m, VU_REQ_SET_CONFIG, VU_CONFIG_HDR + 4);
	m.payload.config = (struct vu_config){ .offset = 0, .size = 300 };
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL, "size > VU_CONFIG_MAX");
	m.payload.config = (struct vu_config){ .offset = 254, .size = 4 };
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL, "beyond 256 bytes");
	m.payload.config = (struct vu_config){ .offset = 252, .size = 4 };
	cr_expect_eq(check(&m, VU_FRONT_REQ), 0);
}

Test(vu_msg, get_config_empty_reply_is_an_error_indication)
{
	struct vu_msg req, m;

	vu_msg_init(&req, VU_REQ_GET_CONFIG, VU_CONFIG_HDR + 4);
	vu_msg_reply_init(&m, &req, 0);
	cr_expect_eq(check(&m, VU_BACK_REPLY), 0);
}

Test(vu_msg, iotlb_with_unknown_type_is_refused)
{
	struct vu_iotlb t = { .iova = 0, .size = 4096, .perm = 3, .type = VU_IOTLB_UPDATE };

	cr_expect(vu_iotlb_valid(&t, NULL, 0));
	t.type = 0;
	cr_expect_not(vu_iotlb_valid(&t, NULL, 0));
	t.type = 5;
	cr_expect_not(vu_iotlb_valid(&t, NULL, 0));
	t.type = VU_IOTLB_UPDATE;
	t.perm = 4;
	cr_expect_not(vu_iotlb_valid(&t, NULL, 0));
	t.perm = 1;
	t.iova = UINT64_MAX;
	cr_expect_not(vu_iotlb_valid(&t, NULL, 0), "iova + size wraps");
}

Test(vu_msg, inflight_with_bad_geometry_is_refused)
{
	struct vu_inflight f = { .mmap_size = 4096, .num_queues = 2, .queue_size = 256 };

	cr_expect(vu_inflight_valid(&f, NULL, 0));
	f.num_queues = 0;
	cr_expect_not(vu_inflight_valid(&f, NULL, 0));
	f.num_queues = VU_MAX_QUEUES + 1;
	cr_expect_not(vu_inflight_valid(&f, NULL, 0));
	f.num_queues = 2;
	f.queue_size = 100;
	cr_expect_not(vu_inflight_valid(&f, NULL, 0));
	f.queue_size = 256;
	f.mmap_offset = UINT64_MAX;
	cr_expect_not(vu_inflight_valid(&f, NULL, 0));
}

Test(vu_msg, host_notifier_without_fd_and_without_nofd_is_refused)
{
	struct vu_msg m;

	fill(&m, VU_BACK_REQ, vu_req_info(VU_BACK_REQ, VU_BREQ_VRING_HOST_NOTIFIER_MSG));
	cr_expect_eq(check(&m, VU_BACK_REQ), 0);
	m.nfds = 0;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	m.payload.area.u64 |= VU_VRING_NOFD;
	cr_expect_eq(check(&m, VU_BACK_REQ), 0, "deregistration");
	m.payload.area.offset = UINT64_MAX;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL, "offset + size wraps");
}

Test(vu_msg, fd_on_a_request_that_takes_none_is_refused)
{
	struct vu_msg m;

	vu_msg_init(&m, VU_REQ_SET_FEATURES, 8);
	m.nfds = 1;
	m.fds[0] = 100;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	vu_msg_init(&m, VU_REQ_SET_LOG_FD, 0);
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL, "SET_LOG_FD without its fd");
}

Test(vu_msg, rem_mem_reg_stray_fd_is_closed)
{
	struct vu_msg m;
	int a = eventfd(0, EFD_CLOEXEC);

	fill(&m, VU_FRONT_REQ, vu_req_info(VU_FRONT_REQ, VU_REQ_REM_MEM_REG));
	m.nfds = 1;
	m.fds[0] = a;
	cr_expect_eq(vu_msg_check_or_close(&m, VU_FRONT_REQ, NULL, 0), 0);
	cr_expect_eq(m.nfds, 0);
	cr_expect_not(fd_is_open(a));
}

/* ---- I/O on a socketpair ---- */

static void pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* sendmsg of raw bytes with any number of fds (vu_msg_send caps at VU_MAX_FDS). */
static void raw_send(int sock, const void *buf, size_t n, const int *fds, unsigned int nfds)
{
	char ctl[CMSG_SPACE(sizeof(int) * 16)] = { 0 };
	struct iovec iov = { (void *)buf, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	cr_assert(nfds <= 16);
	if (nfds) {
		mh.msg_control = ctl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	cr_assert_eq(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)n);
}

Test(vu_msg, round_trip_of_a_mem_table_with_fds)
{
	struct vu_msg out, in;
	struct stat s1, s2;
	char why[128] = "";
	int sv[2], mfd[2];
	unsigned int i;

	pair(sv);
	mem_msg(&out, 2);
	out.hdr.flags |= VU_FLAG_NEED_REPLY;
	for (i = 0; i < 2; i++) {
		mfd[i] = memfd_create("vu-test", MFD_CLOEXEC);
		cr_assert(mfd[i] >= 0);
		out.fds[i] = mfd[i];
	}
	cr_assert_eq(vu_msg_send(sv[0], &out), 0);
	cr_assert_eq(vu_msg_recv_checked(sv[1], VU_FRONT_REQ, &in, why, sizeof(why)), 0, "%s",
		     why);
	cr_expect_eq(in.hdr.request, VU_REQ_SET_MEM_TABLE);
	cr_expect_eq(in.hdr.size, out.hdr.size);
	cr_expect_eq(memcmp(&in.payload, &out.payload, out.hdr.size), 0);
	cr_assert_eq(in.nfds, 2);
	for (i = 0; i < 2; i++) {
		cr_expect_neq(in.fds[i], mfd[i], "a new descriptor, not the sender's");
		cr_expect(fcntl(in.fds[i], F_GETFD) & FD_CLOEXEC, "MSG_CMSG_CLOEXEC");
		cr_assert_eq(fstat(in.fds[i], &s1), 0);
		cr_assert_eq(fstat(mfd[i], &s2), 0);
		cr_expect_eq(s1.st_ino, s2.st_ino, "same file, same order");
	}
	/* The ack comes back the other way and passes the reply check. */
	cr_expect(vu_msg_need_reply(&in));
	cr_assert_eq(vu_msg_send_ack(sv[1], &in, 0), 0);
	cr_assert_eq(vu_msg_recv_checked(sv[0], VU_BACK_REPLY, &out, why, sizeof(why)), 0, "%s",
		     why);
	cr_expect_eq(out.hdr.request, VU_REQ_SET_MEM_TABLE);
	cr_expect_eq(out.payload.u64, 0);
	vu_msg_close_fds(&in);
	close(mfd[0]);
	close(mfd[1]);
	close(sv[0]);
	close(sv[1]);
}

Test(vu_msg, truncated_message_on_a_socketpair_is_refused)
{
	struct vu_hdr h = { .request = VU_REQ_SET_FEATURES, .flags = VU_VERSION, .size = 8 };
	uint8_t buf[sizeof(h) + 4] = { 0 };
	struct vu_msg m;
	unsigned int before;
	int sv[2], e = eventfd(0, EFD_CLOEXEC);

	pair(sv);
	memcpy(buf, &h, sizeof(h));
	raw_send(sv[0], buf, sizeof(buf), &e, 1);
	close(e);
	shutdown(sv[0], SHUT_WR);
	before = count_fds();
	cr_expect_eq(vu_msg_recv(sv[1], &m, NULL, 0), -EPROTO);
	cr_expect_eq(count_fds(), before, "the fd that came with it is closed");
	cr_expect_eq(m.nfds, 0);
	close(sv[0]);
	close(sv[1]);
}

Test(vu_msg, truncated_header_is_refused)
{
	uint8_t buf[5] = { 1, 0, 0, 0, 1 };
	struct vu_msg m;
	int sv[2];

	pair(sv);
	raw_send(sv[0], buf, sizeof(buf), NULL, 0);
	shutdown(sv[0], SHUT_WR);
	cr_expect_eq(vu_msg_recv(sv[1], &m, NULL, 0), -EPROTO);
	close(sv[0]);
	close(sv[1]);
}

Test(vu_msg, stalled_peer_times_out)
{
	struct vu_hdr h = { .request = VU_REQ_SET_FEATURES, .flags = VU_VERSION, .size = 8 };
	struct vu_msg m;
	int sv[2];

	pair(sv);
	raw_send(sv[0], &h, sizeof(h), NULL, 0);	/* payload never comes */
	cr_expect_eq(vu_msg_recv(sv[1], &m, NULL, 0), -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
}

Test(vu_msg, oversized_size_field_is_refused_without_reading_it)
{
	struct vu_hdr h = { .request = VU_REQ_SET_MEM_TABLE, .flags = VU_VERSION,
			    .size = UINT32_MAX };
	uint8_t buf[sizeof(h) + 64];
	struct vu_msg m;
	unsigned int before;
	int sv[2], left = -1, e = eventfd(0, EFD_CLOEXEC);
	char why[128] = "";

	pair(sv);
	memset(buf, 0xa5, sizeof(buf));
	memcpy(buf, &h, sizeof(h));
	raw_send(sv[0], buf, sizeof(buf), &e, 1);
	close(e);
	before = count_fds();
	cr_expect_eq(vu_msg_recv(sv[1], &m, why, sizeof(why)), -EMSGSIZE);
	cr_log_info("%s", why);
	cr_expect_eq(count_fds(), before);
	cr_assert_eq(ioctl(sv[1], FIONREAD, &left), 0);
	cr_expect_eq(left, 64, "payload bytes left in the socket, not read");
	/* One byte past the union is refused the same way. */
	h.size = VU_MAX_PAYLOAD + 1;
	close(sv[0]);
	close(sv[1]);
	pair(sv);
	raw_send(sv[0], &h, sizeof(h), NULL, 0);
	cr_expect_eq(vu_msg_recv(sv[1], &m, NULL, 0), -EMSGSIZE);
	close(sv[0]);
	close(sv[1]);
}

Test(vu_msg, more_than_8_fds_are_all_closed)
{
	struct vu_hdr h = { .request = VU_REQ_SET_VRING_KICK, .flags = VU_VERSION, .size = 8 };
	uint8_t buf[sizeof(h) + 8] = { 0 };
	int fds[12], sv[2];
	unsigned int i, before;
	struct vu_msg m;

	pair(sv);
	for (i = 0; i < ARRAY_SIZE(fds); i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	memcpy(buf, &h, sizeof(h));
	raw_send(sv[0], buf, sizeof(buf), fds, ARRAY_SIZE(fds));
	for (i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
	before = count_fds();
	cr_expect_eq(vu_msg_recv(sv[1], &m, NULL, 0), -EPROTO);
	cr_expect_eq(count_fds(), before, "no received fd survives");
	close(sv[0]);
	close(sv[1]);
}

Test(vu_msg, rejected_message_closes_its_fds_and_keeps_the_stream_in_sync)
{
	struct vu_msg out, in;
	unsigned int before;
	int sv[2], e[2];

	pair(sv);
	e[0] = eventfd(0, EFD_CLOEXEC);
	e[1] = eventfd(0, EFD_CLOEXEC);
	kick_msg(&out, 0, 2);	/* KICK with two fds */
	out.fds[0] = e[0];
	out.fds[1] = e[1];
	cr_assert_eq(vu_msg_send(sv[0], &out), 0);
	vu_msg_init(&out, VU_REQ_GET_FEATURES, 0);
	cr_assert_eq(vu_msg_send(sv[0], &out), 0);
	close(e[0]);
	close(e[1]);

	before = count_fds();
	cr_expect_eq(vu_msg_recv_checked(sv[1], VU_FRONT_REQ, &in, NULL, 0), -EINVAL);
	cr_expect_eq(count_fds(), before);
	cr_expect_eq(vu_msg_recv_checked(sv[1], VU_FRONT_REQ, &in, NULL, 0), 0);
	cr_expect_eq(in.hdr.request, VU_REQ_GET_FEATURES);
	close(sv[0]);
	close(sv[1]);
}

static void *send_late(void *arg)
{
	const int *sv = arg;
	struct vu_hdr h = { .request = VU_REQ_SET_FEATURES, .flags = VU_VERSION, .size = 8 };
	uint64_t features = 1ull << VU_F_PROTOCOL_FEATURES;
	uint8_t *p = (uint8_t *)&h;

	/* Header in two pieces, then the payload, with pauses a stream socket may have. */
	raw_send(sv[0], p, 5, NULL, 0);
	usleep(20000);
	raw_send(sv[0], p + 5, sizeof(h) - 5, NULL, 0);
	usleep(50000);
	raw_send(sv[0], &features, sizeof(features), NULL, 0);
	return NULL;
}

Test(vu_msg, payload_arriving_later_is_read)
{
	struct vu_msg m;
	pthread_t t;
	int sv[2];

	pair(sv);
	cr_assert_eq(pthread_create(&t, NULL, send_late, sv), 0);
	cr_expect_eq(vu_msg_recv_checked(sv[1], VU_FRONT_REQ, &m, NULL, 0), 0);
	cr_expect_eq(m.payload.u64, 1ull << VU_F_PROTOCOL_FEATURES);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
}

Test(vu_msg, nonblocking_socket_without_data_is_eagain)
{
	struct vu_msg m;
	int sv[2];

	pair(sv);
	cr_assert_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	cr_expect_eq(vu_msg_recv(sv[1], &m, NULL, 0), -EAGAIN);
	close(sv[0]);
	cr_expect_eq(vu_msg_recv(sv[1], &m, NULL, 0), -ECONNRESET);
	close(sv[1]);
}

Test(vu_msg, send_to_a_closed_peer_is_epipe_not_sigpipe)
{
	struct vu_msg m;
	int sv[2];

	pair(sv);
	close(sv[1]);
	vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
	cr_expect_eq(vu_msg_send(sv[0], &m), -EPIPE);
	m.hdr.size = VU_MAX_PAYLOAD + 1;
	cr_expect_eq(vu_msg_send(sv[0], &m), -EINVAL);
	close(sv[0]);
}
