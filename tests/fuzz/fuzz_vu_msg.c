// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for virtio/vhost-user/msg.c.
 *
 * Input: one control byte, then the wire bytes (header + payload, possibly several messages).
 *   control bits 0-1: direction (enum vu_dir)
 *   control bits 2-5: fd count (0..15: beyond VU_MAX_FDS on purpose)
 *   control bit 6:    also push the bytes, with that many real fds, through a socketpair into
 *                     vu_msg_recv_checked() (framing, SCM_RIGHTS, close-on-reject)
 *
 * Besides ASan/UBSan, the harness traps when an accepted message breaks a promise of msg.h
 * (sizes, fd counts, indices) and when any fd is left open after a socket round.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/netshm-abi.h"
#include "virtio/vhost-user/msg.h"

#define require(c)	do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_promises(const struct vu_msg *m, enum vu_dir dir)
{
	const struct vu_req_info *ri = vu_req_info(dir, m->hdr.request);
	bool reply = dir == VU_BACK_REPLY || dir == VU_FRONT_REPLY;
	uint32_t idx;

	require(ri);
	require(m->hdr.size <= VU_MAX_PAYLOAD);
	require(m->nfds <= VU_MAX_FDS);
	require((m->hdr.flags & VU_FLAG_VERSION_MASK) == VU_VERSION);
	require(!!(m->hdr.flags & VU_FLAG_REPLY) == reply);
	if (!reply && ri->req == VU_P_MEM) {
		require(m->payload.mem.nregions >= 1 && m->payload.mem.nregions <= VU_MAX_REGIONS);
		require(m->nfds == m->payload.mem.nregions);
		require(m->hdr.size == 8 + 32 * m->payload.mem.nregions);
		require(vu_mem_valid(&m->payload.mem, NULL, 0));
	}
	if (!reply && ri->req == VU_P_CONFIG)
		require(m->payload.config.size <= VU_CONFIG_MAX &&
			m->hdr.size == VU_CONFIG_HDR + m->payload.config.size);
	/* vhost-user-shmem rows (ids 1001..1004: the seeds netshm_* start the fuzzer there). */
	if (!reply && ri->req == VU_P_NETSHM_PEER_MAP) {
		const struct vu_netshm_peer_map *pm = &m->payload.netshm_peer_map;

		require(pm->mem.nregions >= 1 && pm->mem.nregions <= VU_MAX_REGIONS);
		require(m->nfds == pm->mem.nregions);
		require(m->hdr.size == 16 + 32 * pm->mem.nregions);
		require(pm->port < NETSHM_MAX_PORTS);
		require(vu_netshm_peer_map_valid(pm, NETSHM_MAX_PORTS, NETSHM_MAX_PORTS, UINT64_MAX,
						 NULL, 0));
	}
	if (!reply && ri->req == VU_P_NETSHM_ATTACH)
		require(m->payload.netshm_attach.version == NETSHM_VERSION &&
			(m->payload.netshm_attach.mode == VU_NETSHM_MODE_SHARED ||
			 m->payload.netshm_attach.mode == VU_NETSHM_MODE_PEER));
	if (reply && ri->reply == VU_P_NETSHM_ATTACH_REPLY) {
		const struct vu_netshm_attach_reply *ar = &m->payload.netshm_attach_reply;

		require(m->nfds == (ar->status ? 0u : 1u));
		require(ar->status || (ar->port < ar->nports && ar->nports <= NETSHM_MAX_PORTS &&
				       ar->region_size == NETSHM_REGION_SIZE(ar->nports)));
	}
	/* Doorbells (§8): one eventfd each way, port messages in range, zero reserved fields. */
	if (!reply && ri->req == VU_P_NETSHM_DOORBELL)
		require(m->nfds == 1 && m->hdr.size == sizeof(struct vu_netshm_doorbell) &&
			!m->payload.netshm_doorbell.flags && !m->payload.netshm_doorbell.reserved);
	if (!reply && ri->req == VU_P_NETSHM_PEER) {
		require(m->payload.netshm_peer.port < NETSHM_MAX_PORTS);
		require(!m->payload.netshm_peer.reserved);
		require(m->nfds == (m->hdr.request == VU_BREQ_NETSHM_DOORBELL_MAP ? 1u : 0u));
	}
	if (vu_msg_vring_index(m, dir, &idx) == 0)
		require(idx < VU_MAX_QUEUES);
}

/* The validators on whatever bytes are there, with context values taken from the input. */
static void run_validators(const union vu_payload *p, const uint8_t *data, size_t size)
{
	uint32_t ctx32 = 0;
	uint64_t ctx64 = 0;
	char why[64];

	memcpy(&ctx32, data, size < 4 ? size : 4);
	memcpy(&ctx64, data, size < 8 ? size : 8);
	(void)vu_mem_valid(&p->mem, why, sizeof(why));
	(void)vu_mem_region_valid(&p->memreg.region, why, sizeof(why));
	(void)vu_vring_addr_valid(&p->addr, ctx32, why, sizeof(why));
	(void)vu_log_valid(&p->log, ctx64, why, sizeof(why));
	(void)vu_config_valid(&p->config, ctx32, why, sizeof(why));
	(void)vu_iotlb_valid(&p->iotlb, why, sizeof(why));
	(void)vu_inflight_valid(&p->inflight, why, sizeof(why));
	if (vu_netshm_peer_map_valid(&p->netshm_peer_map, ctx32 & 15, (ctx32 >> 4) & 15, ctx64,
				     why, sizeof(why))) {
		const struct vu_netshm_peer_map *pm = &p->netshm_peer_map;
		uint32_t i;

		require(pm->port < (ctx32 & 15) && pm->port != ((ctx32 >> 4) & 15));
		for (i = 0; i < pm->mem.nregions; i++)
			require(pm->mem.regions[i].guest_addr <= ctx64 &&
				pm->mem.regions[i].size <= ctx64 - pm->mem.regions[i].guest_addr);
	}
	if (vu_vring_num_valid(p->state.num, ctx32))
		require(p->state.num && p->state.num <= ctx32 &&
			p->state.num <= VU_MAX_QUEUE_SIZE && !(p->state.num & (p->state.num - 1)));
	if (vu_vring_index_valid(p->state.index, ctx32))
		require(p->state.index < ctx32 && p->state.index < VU_MAX_QUEUES);
}

/*
 * The fuzzer runtime keeps a few descriptors of its own (some above ours), so the window of
 * numbers an iteration may use is recorded once: free then means free after every iteration.
 */
#define FD_WINDOW	32
static int baseline = -1;
static bool was_free[FD_WINDOW];

static void through_socket(const uint8_t *bytes, size_t n, enum vu_dir dir, unsigned int nfds)
{
	static int devnull = -1;
	int sv[2], fds[16], i;
	char ctl[CMSG_SPACE(sizeof(int) * 16)];
	struct iovec iov = { (void *)bytes, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct vu_msg m;

	if (devnull < 0) {
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		require(devnull >= 0);
		baseline = dup(devnull);
		close(baseline);
		for (i = baseline; i < baseline + FD_WINDOW; i++)
			was_free[i - baseline] = fcntl(i, F_GETFD) == -1;
	}
	if (n == 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return;
	if (nfds) {
		struct cmsghdr *c;

		memset(ctl, 0, sizeof(ctl));
		for (i = 0; i < (int)nfds; i++)
			fds[i] = devnull;	/* the kernel installs a new descriptor for each */
		mh.msg_control = ctl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(sv[0], &mh, MSG_NOSIGNAL) == (ssize_t)n) {
		shutdown(sv[0], SHUT_WR);	/* EOF instead of waiting out a short message */
		for (i = 0; i < 8; i++) {
			int ret = vu_msg_recv_checked(sv[1], dir, &m, NULL, 0);

			if (ret == 0) {
				check_promises(&m, dir);
				vu_msg_close_fds(&m);
			} else {
				require(m.nfds == 0);
				if (ret != -EINVAL && ret != -EPROTO && ret != -EOPNOTSUPP)
					break;	/* stream-level error: the session would end */
			}
		}
	}
	close(sv[0]);
	close(sv[1]);
	/* An iteration uses at most 2 + 16 numbers from the lowest free one: all must be free. */
	for (i = baseline; i < baseline + FD_WINDOW; i++)
		require(!was_free[i - baseline] || fcntl(i, F_GETFD) == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vu_msg m;
	enum vu_dir dir;
	unsigned int nfds, i;
	size_t n;

	if (size < 1)
		return 0;
	dir = (enum vu_dir)(data[0] & 3);
	nfds = (data[0] >> 2) & 15;

	memset(&m, 0, sizeof(m));
	n = size - 1 < sizeof(m.hdr) ? size - 1 : sizeof(m.hdr);
	memcpy(&m.hdr, data + 1, n);
	if (size - 1 > sizeof(m.hdr)) {
		n = size - 1 - sizeof(m.hdr);
		if (n > VU_MAX_PAYLOAD)
			n = VU_MAX_PAYLOAD;
		memcpy(&m.payload, data + 1 + sizeof(m.hdr), n);
	}
	m.nfds = nfds;
	for (i = 0; i < VU_MAX_FDS; i++)
		m.fds[i] = -1;	/* never closed by vu_msg_check */

	if (vu_msg_check(&m, dir, NULL, 0) == 0)
		check_promises(&m, dir);
	run_validators(&m.payload, data + 1, size - 1);

	if (data[0] & 0x40)
		through_socket(data + 1, size - 1, dir, nfds);
	return 0;
}
