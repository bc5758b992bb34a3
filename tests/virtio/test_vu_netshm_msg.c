// SPDX-License-Identifier: MIT
/*
 * virtio/vhost-user/msg.c, the vhost-user-shmem rows (docs/vhost-user-shmem.md §2): sizes,
 * fd rules, context-free payload checks, vu_netshm_peer_map_valid(), and fds of rejected
 * messages closed on a socketpair.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/netshm-abi.h"
#include "lib/fds.h"
#include "virtio/vhost-user/msg.h"

#define WINDOW	(32ull << 30)		/* one peer window (LAYOUT_NETSHM_PEER_STRIDE) */

static int check(const struct vu_msg *m, enum vu_dir dir)
{
	char why[256] = "";
	int ret = vu_msg_check(m, dir, why, sizeof(why));

	if (ret)
		cr_log_info("refused: %s", why);
	cr_expect(!ret || why[0], "a refusal must say why");
	return ret;
}

static void attach_msg(struct vu_msg *m)
{
	vu_msg_init(m, VU_REQ_NETSHM_ATTACH, sizeof(struct vu_netshm_attach));
	m->payload.netshm_attach = (struct vu_netshm_attach){ .version = NETSHM_VERSION,
							       .mode = VU_NETSHM_MODE_PEER };
}

static void attach_reply_msg(struct vu_msg *m, uint32_t status)
{
	vu_msg_init(m, VU_REQ_NETSHM_ATTACH, sizeof(struct vu_netshm_attach_reply));
	m->hdr.flags |= VU_FLAG_REPLY;
	m->payload.netshm_attach_reply = (struct vu_netshm_attach_reply){
		.version = NETSHM_VERSION, .status = status, .port = 2, .nports = 3,
		.region_size = NETSHM_REGION_SIZE(3) };
	m->nfds = status ? 0 : 1;
	m->fds[0] = 100;
}

/* n regions of 1 MiB, 1 GiB apart, user_addr 0, fds 100.. */
static void peer_map_msg(struct vu_msg *m, uint32_t port, uint32_t n)
{
	uint32_t i;

	vu_msg_init(m, VU_BREQ_NETSHM_PEER_MAP, 16 + n * sizeof(struct vu_mem_region));
	m->payload.netshm_peer_map.port = port;
	m->payload.netshm_peer_map.mem.nregions = n;
	for (i = 0; i < n && i < VU_MAX_REGIONS; i++) {
		m->payload.netshm_peer_map.mem.regions[i] = (struct vu_mem_region){
			.guest_addr = (uint64_t)i << 30, .size = 1 << 20,
			.mmap_offset = (uint64_t)i << 21 };
		m->fds[i] = 100 + i;
	}
	m->nfds = n < VU_MAX_FDS ? n : VU_MAX_FDS;
}

static void unmap_msg(struct vu_msg *m, uint32_t port)
{
	vu_msg_init(m, VU_BREQ_NETSHM_PEER_UNMAP, sizeof(struct vu_netshm_peer));
	m->payload.netshm_peer.port = port;
}

/* ---- the rows ---- */

Test(vu_netshm_msg, good_messages_of_every_row_are_accepted)
{
	struct vu_msg m;
	uint32_t n;

	attach_msg(&m);
	cr_expect_eq(check(&m, VU_FRONT_REQ), 0);
	m.payload.netshm_attach.mode = VU_NETSHM_MODE_SHARED;
	cr_expect_eq(check(&m, VU_FRONT_REQ), 0);
	attach_reply_msg(&m, 0);
	cr_expect_eq(check(&m, VU_BACK_REPLY), 0);
	attach_reply_msg(&m, EPERM);
	cr_expect_eq(check(&m, VU_BACK_REPLY), 0);
	for (n = 1; n <= VU_MAX_REGIONS; n++) {
		peer_map_msg(&m, 1, n);
		cr_expect_eq(check(&m, VU_BACK_REQ), 0, "%u regions", n);
	}
	unmap_msg(&m, 7);
	cr_expect_eq(check(&m, VU_BACK_REQ), 0);
	/* Their replies are REPLY_ACK u64s. */
	vu_msg_init(&m, VU_BREQ_NETSHM_PEER_MAP, 8);
	m.hdr.flags |= VU_FLAG_REPLY;
	cr_expect_eq(check(&m, VU_FRONT_REPLY), 0);
}

Test(vu_netshm_msg, each_row_at_size_plus_or_minus_one_is_refused)
{
	struct vu_msg m;
	uint32_t n;

	attach_msg(&m);
	m.hdr.size = 15;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	m.hdr.size = 17;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	attach_reply_msg(&m, 0);
	m.hdr.size = 31;
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL);
	m.hdr.size = 33;
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL);
	for (n = 1; n <= VU_MAX_REGIONS; n++) {
		peer_map_msg(&m, 1, n);
		m.hdr.size++;
		cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL, "%u regions, size+1", n);
		m.hdr.size -= 2;
		cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL, "%u regions, size-1", n);
	}
	unmap_msg(&m, 1);
	m.hdr.size = 7;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	m.hdr.size = 9;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
}

Test(vu_netshm_msg, peer_map_size_disagreeing_with_nregions_is_refused)
{
	struct vu_msg m;

	peer_map_msg(&m, 1, 2);
	m.payload.netshm_peer_map.mem.nregions = 3;
	m.nfds = 3;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	peer_map_msg(&m, 1, 1);
	m.payload.netshm_peer_map.mem.nregions = 0;
	m.nfds = 0;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	peer_map_msg(&m, 1, 8);
	m.payload.netshm_peer_map.mem.nregions = 9;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	m.payload.netshm_peer_map.mem.nregions = UINT32_MAX;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
}

/* ---- fds ---- */

Test(vu_netshm_msg, attach_with_an_fd_is_refused)
{
	struct vu_msg m;

	attach_msg(&m);
	m.nfds = 1;
	m.fds[0] = 100;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

Test(vu_netshm_msg, successful_attach_reply_without_the_region_fd_is_refused)
{
	struct vu_msg m;

	attach_reply_msg(&m, 0);
	m.nfds = 0;
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL);
	m.nfds = 2;
	m.fds[1] = 101;
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL);
}

Test(vu_netshm_msg, refused_attach_reply_with_an_fd_is_refused)
{
	struct vu_msg m;

	attach_reply_msg(&m, ENOSPC);
	m.nfds = 1;
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL);
}

Test(vu_netshm_msg, peer_map_with_fewer_or_more_fds_than_regions_is_refused)
{
	struct vu_msg m;

	peer_map_msg(&m, 1, 3);
	m.nfds = 2;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	m.nfds = 4;
	m.fds[3] = 103;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	m.nfds = 0;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
}

Test(vu_netshm_msg, peer_unmap_with_an_fd_is_refused)
{
	struct vu_msg m;

	unmap_msg(&m, 1);
	m.nfds = 1;
	m.fds[0] = 100;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
}

/* ---- payload fields ---- */

Test(vu_netshm_msg, attach_with_bad_version_mode_flags_or_reserved_is_refused)
{
	static const uint32_t modes[] = { 0, 3, 0x80000001u, UINT32_MAX };
	struct vu_msg m;
	unsigned int i;

	attach_msg(&m);
	m.payload.netshm_attach.version = 0;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	m.payload.netshm_attach.version = NETSHM_VERSION + 1;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		attach_msg(&m);
		m.payload.netshm_attach.mode = modes[i];
		cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL, "mode %u", modes[i]);
	}
	attach_msg(&m);
	m.payload.netshm_attach.flags = 1;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
	attach_msg(&m);
	m.payload.netshm_attach.reserved = 0x100;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EINVAL);
}

Test(vu_netshm_msg, attach_reply_with_bad_geometry_is_refused)
{
	struct vu_msg m;

	attach_reply_msg(&m, 0);
	m.payload.netshm_attach_reply.version = 2;
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL);
	attach_reply_msg(&m, 0);
	m.payload.netshm_attach_reply.port = 3;		/* == nports */
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL);
	attach_reply_msg(&m, 0);
	m.payload.netshm_attach_reply.nports = 1;
	m.payload.netshm_attach_reply.port = 0;
	m.payload.netshm_attach_reply.region_size = NETSHM_REGION_SIZE(1);
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL);
	attach_reply_msg(&m, 0);
	m.payload.netshm_attach_reply.nports = NETSHM_MAX_PORTS + 1;
	m.payload.netshm_attach_reply.region_size = NETSHM_REGION_SIZE(NETSHM_MAX_PORTS + 1);
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL);
	attach_reply_msg(&m, 0);
	m.payload.netshm_attach_reply.region_size -= 0x200000;
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL);
	attach_reply_msg(&m, 0);
	m.payload.netshm_attach_reply.reserved = 1;
	cr_expect_eq(check(&m, VU_BACK_REPLY), -EINVAL);
}

Test(vu_netshm_msg, peer_map_with_misaligned_region_is_refused)
{
	struct vu_msg m;

	peer_map_msg(&m, 1, 2);
	m.payload.netshm_peer_map.mem.regions[1].guest_addr += 0x800;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	peer_map_msg(&m, 1, 2);
	m.payload.netshm_peer_map.mem.regions[0].size += 1;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	peer_map_msg(&m, 1, 2);
	m.payload.netshm_peer_map.mem.regions[1].mmap_offset = 0x10;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
}

Test(vu_netshm_msg, peer_map_with_a_user_address_is_refused)
{
	struct vu_msg m;

	peer_map_msg(&m, 1, 1);
	m.payload.netshm_peer_map.mem.regions[0].user_addr = 0x7f0000000000ull;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
}

Test(vu_netshm_msg, peer_map_with_overlapping_or_wrapping_regions_is_refused)
{
	struct vu_msg m;

	peer_map_msg(&m, 1, 2);
	m.payload.netshm_peer_map.mem.regions[1].guest_addr = 0x80000;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	peer_map_msg(&m, 1, 1);
	m.payload.netshm_peer_map.mem.regions[0].guest_addr = 0xfffffffffff00000ull;
	m.payload.netshm_peer_map.mem.regions[0].size = 0x200000;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	peer_map_msg(&m, 1, 1);
	m.payload.netshm_peer_map.mem.regions[0].size = 0;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	peer_map_msg(&m, 1, 1);
	m.payload.netshm_peer_map.mem.regions[0].mmap_offset = 0x7ffffffffffff000ull;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
}

Test(vu_netshm_msg, peer_messages_with_reserved_bits_or_port_beyond_8_are_refused)
{
	struct vu_msg m;

	peer_map_msg(&m, 1, 1);
	m.payload.netshm_peer_map.reserved = 1;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	peer_map_msg(&m, NETSHM_MAX_PORTS, 1);
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	peer_map_msg(&m, UINT32_MAX, 1);
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	unmap_msg(&m, 1);
	m.payload.netshm_peer.reserved = 0x80000000u;
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
	unmap_msg(&m, NETSHM_MAX_PORTS);
	cr_expect_eq(check(&m, VU_BACK_REQ), -EINVAL);
}

Test(vu_netshm_msg, extension_ids_in_the_wrong_channel_are_unknown)
{
	struct vu_msg m;

	/* 1003/1004 exist only on the back-end channel; 1001 and 1002 mean different things
	 * per channel. */
	unmap_msg(&m, 1);
	m.hdr.request = VU_BREQ_NETSHM_DOORBELL_UNMAP;
	cr_expect_eq(check(&m, VU_FRONT_REQ), -EOPNOTSUPP);
	cr_expect_null(vu_req_info(VU_FRONT_REQ, 1003));
	cr_expect_null(vu_req_info(VU_FRONT_REQ, 1004));
	cr_expect_eq(vu_req_info(VU_FRONT_REQ, 1001)->req, VU_P_NETSHM_ATTACH);
	cr_expect_eq(vu_req_info(VU_FRONT_REQ, 1002)->req, VU_P_NETSHM_DOORBELL);
	cr_expect_eq(vu_req_info(VU_BACK_REQ, 1001)->req, VU_P_NETSHM_PEER_MAP);
	cr_expect_eq(vu_req_info(VU_BACK_REQ, 1002)->req, VU_P_NETSHM_PEER);
	cr_expect_eq(vu_req_info(VU_FRONT_REPLY, 1002)->reply, VU_P_ACK);
}

/* ---- context: vu_netshm_peer_map_valid ---- */

Test(vu_netshm_msg, peer_map_for_the_receivers_own_port_is_refused)
{
	struct vu_msg m;

	peer_map_msg(&m, 2, 1);
	cr_expect(vu_netshm_peer_map_valid(&m.payload.netshm_peer_map, 3, 1, WINDOW, NULL, 0));
	cr_expect_not(vu_netshm_peer_map_valid(&m.payload.netshm_peer_map, 3, 2, WINDOW, NULL,
					       0));
}

Test(vu_netshm_msg, peer_map_for_a_port_beyond_nports_is_refused)
{
	char why[128] = "";
	struct vu_msg m;

	peer_map_msg(&m, 3, 1);
	cr_expect_not(vu_netshm_peer_map_valid(&m.payload.netshm_peer_map, 3, 0, WINDOW, why,
					       sizeof(why)));
	cr_expect(why[0]);
	cr_expect_not(vu_netshm_peer_map_valid(&m.payload.netshm_peer_map, 100, 0, WINDOW, NULL,
					       0), "nports above the maximum");
}

Test(vu_netshm_msg, peer_map_region_beyond_the_window_is_refused)
{
	struct vu_msg m;

	peer_map_msg(&m, 1, 1);
	m.payload.netshm_peer_map.mem.regions[0].guest_addr = WINDOW - 0x100000;
	cr_expect(vu_netshm_peer_map_valid(&m.payload.netshm_peer_map, 2, 0, WINDOW, NULL, 0));
	m.payload.netshm_peer_map.mem.regions[0].guest_addr += 0x1000;
	cr_expect_not(vu_netshm_peer_map_valid(&m.payload.netshm_peer_map, 2, 0, WINDOW, NULL,
					       0));
	/* A wrapping end is refused whatever the window. */
	m.payload.netshm_peer_map.mem.regions[0].guest_addr = 0xfffffffffff00000ull;
	cr_expect_not(vu_netshm_peer_map_valid(&m.payload.netshm_peer_map, 2, 0, UINT64_MAX,
					       NULL, 0));
	/* The context-free rules are checked here too. */
	peer_map_msg(&m, 1, 1);
	m.payload.netshm_peer_map.mem.regions[0].user_addr = 0x1000;
	cr_expect_not(vu_netshm_peer_map_valid(&m.payload.netshm_peer_map, 2, 0, WINDOW, NULL,
					       0));
}

/* ---- on a socketpair: rejected messages close their fds ---- */

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/* Sends m with real eventfds; returns vu_msg_recv_checked()'s result, and the fds received. */
static int round_trip(struct vu_msg *m, enum vu_dir dir, struct vu_msg *got)
{
	int sv[2], ret;
	unsigned int i;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	for (i = 0; i < m->nfds; i++)
		m->fds[i] = eventfd(0, EFD_CLOEXEC);
	cr_assert_eq(vu_msg_send(sv[0], m), 0);
	for (i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	ret = vu_msg_recv_checked(sv[1], dir, got, NULL, 0);
	close(sv[0]);
	close(sv[1]);
	return ret;
}

Test(vu_netshm_msg, rejected_peer_map_closes_all_its_fds)
{
	unsigned int before = count_fds();
	struct vu_msg m, got;

	peer_map_msg(&m, 1, 3);
	m.payload.netshm_peer_map.mem.regions[2].user_addr = 0x1000;	/* bad */
	cr_expect_eq(round_trip(&m, VU_BACK_REQ, &got), -EINVAL);
	cr_expect_eq(got.nfds, 0);
	cr_expect_eq(count_fds(), before, "received fds were closed");
}

Test(vu_netshm_msg, good_peer_map_keeps_its_fds)
{
	struct vu_msg m, got;
	unsigned int i;

	peer_map_msg(&m, 1, 2);
	cr_expect_eq(round_trip(&m, VU_BACK_REQ, &got), 0);
	cr_assert_eq(got.nfds, 2);
	for (i = 0; i < got.nfds; i++)
		cr_expect(fd_is_open(got.fds[i]));
	vu_msg_close_fds(&got);
}

Test(vu_netshm_msg, refusal_reply_carrying_an_fd_has_it_closed)
{
	unsigned int before = count_fds();
	struct vu_msg m, got;

	attach_reply_msg(&m, EPERM);
	m.nfds = 1;
	cr_expect_eq(round_trip(&m, VU_BACK_REPLY, &got), -EINVAL);
	cr_expect_eq(count_fds(), before, "the stray fd was closed");
}
