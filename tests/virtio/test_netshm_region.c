// SPDX-License-Identifier: MIT
/*
 * virtio/vhost-user/netshm-region.c: allocation (hugetlb and the plain-memfd fallback, seals),
 * the header, port state, and the flow-table writer (seqlock parity, gen/count, withdraw, full
 * table), read back through a second mapping of the fd as a VMM/guest would see it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "virtio/vhost-user/netshm-region.h"

static struct netshm_region r;
static const uint8_t *view;		/* a read-only mapping of the fd: the guests' view */

static const uint8_t mac_a[6] = { 0x52, 0x54, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x52, 0x54, 0, 0, 0, 0x0b };

static void open_view(void)
{
	view = mmap(NULL, r.size, PROT_READ, MAP_SHARED, r.fd, 0);
	cr_assert_neq(view, MAP_FAILED);
}

static void setup(void)
{
	struct err e = { 0 };

	cr_assert_eq(netshm_region_create(&r, 3, NETSHM_REGION_NO_HUGE, &e), 0, "%s", e.msg);
	open_view();
}

static void teardown(void)
{
	munmap((void *)view, r.size);
	netshm_region_destroy(&r);
}

static const struct netshm_hdr *hdr(void)
{
	return (const struct netshm_hdr *)view;
}

static const struct netshm_table *table(unsigned int s)
{
	return (const struct netshm_table *)(view + NETSHM_TABLE_OFF + s * NETSHM_TABLE_STRIDE);
}

static void attach_all(void)
{
	unsigned int i;

	for (i = 0; i < r.nports; i++)
		cr_assert_eq(netshm_region_port_attach(&r, i, false), 0);
}

TestSuite(netshm_region, .init = setup, .fini = teardown);

/* ---- allocation ---- */

Test(netshm_region, plain_memfd_fallback_has_the_header_and_size)
{
	struct stat st;

	cr_expect_not(r.huge);
	cr_assert_eq(fstat(r.fd, &st), 0);
	cr_expect_eq((uint64_t)st.st_size, NETSHM_REGION_SIZE(3));
	cr_expect_eq(hdr()->magic, NETSHM_HDR_MAGIC);
	cr_expect_eq(hdr()->version, NETSHM_VERSION);
	cr_expect_eq(hdr()->nports, 3);
	cr_expect_eq(hdr()->region_size, NETSHM_REGION_SIZE(3));
	cr_expect_eq(hdr()->table_off, NETSHM_TABLE_OFF);
	cr_expect_eq(hdr()->table_stride, NETSHM_TABLE_STRIDE);
	cr_expect_eq(hdr()->pair_off, NETSHM_PAIR_OFF);
	cr_expect_eq(hdr()->pair_stride, NETSHM_PAIR_STRIDE);
	cr_expect_eq(hdr()->qsize, NETSHM_QSIZE);
	cr_expect_eq(hdr()->buf_size, NETSHM_BUF_SIZE);
	cr_expect_eq(hdr()->port_state[0], 0);
}

Test(netshm_region, hugetlb_attempt_gives_a_usable_region_either_way)
{
	struct netshm_region h;
	struct err e = { 0 };
	struct stat st;

	cr_assert_eq(netshm_region_create(&h, NETSHM_MAX_PORTS, 0, &e), 0, "%s", e.msg);
	cr_log_info("hugetlb: %s", h.huge ? "yes" : "no (fallback)");
	cr_assert_eq(fstat(h.fd, &st), 0);
	cr_expect_eq((uint64_t)st.st_size, NETSHM_REGION_SIZE(NETSHM_MAX_PORTS));
	cr_expect_eq(((struct netshm_hdr *)h.base)->magic, NETSHM_HDR_MAGIC);
	netshm_region_destroy(&h);
	netshm_region_destroy(&h);	/* idempotent */
}

Test(netshm_region, port_count_outside_2_to_8_is_refused)
{
	struct netshm_region x;
	struct err e = { 0 };

	cr_expect_eq(netshm_region_create(&x, 1, NETSHM_REGION_NO_HUGE, &e), -EINVAL);
	cr_expect(e.msg[0]);
	cr_expect_eq(netshm_region_create(&x, NETSHM_MAX_PORTS + 1, NETSHM_REGION_NO_HUGE, &e),
		     -EINVAL);
	cr_expect_eq(x.fd, -1);
}

Test(netshm_region, vmm_shrinking_or_growing_the_region_fd_is_refused)
{
	/* A VMM holds the fd: without the seals it could truncate it and SIGBUS the switch. */
	cr_expect_neq(ftruncate(r.fd, 0), 0);
	cr_expect_eq(errno, EPERM);
	cr_expect_neq(ftruncate(r.fd, (off_t)r.size * 2), 0);
	cr_expect_eq(fcntl(r.fd, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
		     F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
}

/* ---- port state ---- */

Test(netshm_region, attach_sets_state_and_bumps_the_epoch_detach_keeps_it)
{
	cr_assert_eq(netshm_region_port_attach(&r, 1, true), 0);
	cr_expect_eq(hdr()->port_state[1], 1u << NETSHM_PORT_EPOCH_SHIFT | NETSHM_PORT_ATTACHED |
					   NETSHM_PORT_PEER);
	netshm_region_port_detach(&r, 1);
	cr_expect_eq(hdr()->port_state[1], 1u << NETSHM_PORT_EPOCH_SHIFT);
	cr_assert_eq(netshm_region_port_attach(&r, 1, false), 0);
	cr_expect_eq(hdr()->port_state[1], 2u << NETSHM_PORT_EPOCH_SHIFT | NETSHM_PORT_ATTACHED);
	cr_expect_eq(netshm_region_port_attach(&r, 3, false), -EINVAL, "port >= nports");
	netshm_region_port_detach(&r, 3);	/* ignored */
}

/* ---- flow tables ---- */

Test(netshm_region, install_leaves_an_even_seq_and_moves_gen_and_count)
{
	const struct netshm_entry *e = &table(0)->e[0];

	attach_all();
	cr_assert_eq(netshm_region_install(&r, 0, mac_a, 2), 0);
	cr_expect_eq(e->seq, 2, "odd during the write, even after");
	cr_expect_arr_eq(e->mac, mac_a, 6);
	cr_expect_eq(e->peer, 2);
	cr_expect_eq(e->flags, NETSHM_ENTRY_VALID);
	cr_expect_eq(table(0)->gen, 1);
	cr_expect_eq(table(0)->count, 1);
	cr_expect_eq(table(1)->gen, 0, "other tables untouched");

	/* The same again changes nothing; a move re-points the same entry. */
	cr_assert_eq(netshm_region_install(&r, 0, mac_a, 2), 0);
	cr_expect_eq(table(0)->gen, 1);
	cr_assert_eq(netshm_region_install(&r, 0, mac_a, 1), 0);
	cr_expect_eq(e->seq, 4);
	cr_expect_eq(e->peer, 1);
	cr_expect_eq(table(0)->gen, 2);
	cr_expect_eq(table(0)->count, 1);
}

Test(netshm_region, install_for_unattached_self_or_group_mac_is_refused)
{
	static const uint8_t group[6] = { 0x01, 0, 0x5e, 0, 0, 1 };
	static const uint8_t zero[6];

	cr_assert_eq(netshm_region_port_attach(&r, 0, false), 0);
	cr_expect_eq(netshm_region_install(&r, 0, mac_a, 1), -ENOENT, "peer not attached");
	cr_expect_eq(netshm_region_install(&r, 1, mac_a, 0), -ENOENT, "table not attached");
	cr_assert_eq(netshm_region_port_attach(&r, 1, false), 0);
	cr_expect_eq(netshm_region_install(&r, 0, mac_a, 0), -EINVAL, "to itself");
	cr_expect_eq(netshm_region_install(&r, 0, mac_a, 3), -EINVAL, "peer >= nports");
	cr_expect_eq(netshm_region_install(&r, 3, mac_a, 0), -EINVAL, "table >= nports");
	cr_expect_eq(netshm_region_install(&r, 0, group, 1), -EINVAL);
	cr_expect_eq(netshm_region_install(&r, 0, zero, 1), -EINVAL);
	cr_expect_eq(table(0)->gen, 0);
}

Test(netshm_region, withdraw_clears_valid_with_even_seq)
{
	const struct netshm_entry *e = &table(1)->e[0];
	struct netshm_region_stats st;

	attach_all();
	cr_assert_eq(netshm_region_install(&r, 1, mac_a, 0), 0);
	cr_expect_eq(netshm_region_withdraw(&r, 1, mac_b), 0, "not there");
	cr_expect_eq(table(1)->gen, 1);
	cr_expect_eq(netshm_region_withdraw(&r, 1, mac_a), 1);
	cr_expect_eq(e->flags, 0);
	cr_expect_eq(e->seq, 4);
	cr_expect_eq(table(1)->gen, 2);
	cr_expect_eq(table(1)->count, 1, "count is the highest index ever used");
	netshm_region_stats(&r, &st);
	cr_expect_eq(st.installed, 1);
	cr_expect_eq(st.withdrawn, 1);
}

Test(netshm_region, withdraw_peer_and_table_and_detach)
{
	unsigned int peer;
	uint8_t mac[6];

	attach_all();
	cr_assert_eq(netshm_region_install(&r, 0, mac_a, 2), 0);
	cr_assert_eq(netshm_region_install(&r, 0, mac_b, 1), 0);
	cr_assert_eq(netshm_region_install(&r, 1, mac_a, 2), 0);
	cr_assert_eq(netshm_region_install(&r, 2, mac_b, 1), 0);
	cr_expect_eq(netshm_region_withdraw_peer(&r, 2), 2);
	cr_expect_eq(table(0)->e[0].flags, 0);
	cr_expect_eq(table(0)->e[1].flags, NETSHM_ENTRY_VALID);
	cr_expect_eq(table(1)->e[0].flags, 0);
	cr_expect(netshm_region_entry(&r, 0, 1, mac, &peer));
	cr_expect_arr_eq(mac, mac_b, 6);
	cr_expect_eq(peer, 1);
	cr_expect_eq(netshm_region_withdraw_table(&r, 0), 1);
	cr_expect_not(netshm_region_entry(&r, 0, 1, mac, &peer));
	/* Port 1 leaves: table 2's entry to it and its own table go. */
	cr_assert_eq(netshm_region_install(&r, 1, mac_a, 0), 0);
	netshm_region_port_detach(&r, 1);
	cr_expect_eq(table(2)->e[0].flags, 0);
	cr_expect_eq(table(1)->e[0].flags, 0);
	cr_expect_not(netshm_region_attached(&r, 1));
	cr_expect_eq(netshm_region_install(&r, 0, mac_a, 1), -ENOENT);
}

Test(netshm_region, full_table_refuses_the_33rd_entry_and_counts_it)
{
	struct netshm_region_stats st;
	uint8_t mac[6] = { 0x52, 0x54, 0, 0, 1, 0 };
	unsigned int i;

	attach_all();
	for (i = 0; i < NETSHM_MAX_ENTRIES; i++) {
		mac[5] = (uint8_t)i;
		cr_assert_eq(netshm_region_install(&r, 0, mac, 1), 0, "entry %u", i);
	}
	mac[5] = 0xee;
	cr_expect_eq(netshm_region_install(&r, 0, mac, 1), -ENOSPC);
	netshm_region_stats(&r, &st);
	cr_expect_eq(st.full, 1);
	cr_expect_eq(table(0)->count, NETSHM_MAX_ENTRIES);
	/* A withdrawn slot is reused. */
	mac[5] = 7;
	cr_expect_eq(netshm_region_withdraw(&r, 0, mac), 1);
	mac[5] = 0xee;
	cr_expect_eq(netshm_region_install(&r, 0, mac, 2), 0);
	cr_expect_eq(table(0)->e[7].mac[5], 0xee);
	cr_expect_eq(table(0)->e[7].flags, NETSHM_ENTRY_VALID);
	cr_expect_eq(table(0)->e[7].seq % 2, 0);
}

Test(netshm_region, guest_scribbling_the_tables_does_not_mislead_the_switch)
{
	uint8_t *rw = mmap(NULL, NETSHM_CTRL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);

	cr_assert_neq(rw, MAP_FAILED);
	attach_all();
	cr_assert_eq(netshm_region_install(&r, 0, mac_a, 1), 0);
	/* A guest without a read-only control part writes garbage over everything. */
	memset(rw + NETSHM_TABLE_OFF, 0xff, NETSHM_MAX_PORTS * NETSHM_TABLE_STRIDE);
	cr_assert_eq(netshm_region_install(&r, 0, mac_b, 2), 0);
	/* The switch writes from its shadow: the seq is its own and even, gen and count too. */
	cr_expect_eq(table(0)->e[1].seq, 2);
	cr_expect_eq(table(0)->e[1].peer, 2);
	cr_expect_eq(table(0)->gen, 2);
	cr_expect_eq(table(0)->count, 2);
	cr_expect_eq(netshm_region_withdraw(&r, 0, mac_a), 1);
	cr_expect_eq(table(0)->e[0].seq, 4);
	cr_expect_eq(table(0)->e[0].flags, 0);
	munmap(rw, NETSHM_CTRL_SIZE);
}

/* ---- a reader on another thread never sees a torn entry ---- */

static int stop;

static void *writer(void *arg)
{
	uint8_t mac[6] = { 0x52, 0, 0, 0, 0, 0 };
	unsigned int k, j;

	(void)arg;
	for (k = 1; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); k++) {
		/* Every byte but the first equal to k: a torn copy mixes two values. */
		memset(mac + 1, (int)(k & 0xff), 5);
		if (netshm_region_install(&r, 0, mac, 1 + (k & 1)))
			break;
		for (j = 0; j < 100; j++)	/* let the reader see the valid entry too */
			__builtin_ia32_pause();
		netshm_region_withdraw(&r, 0, mac);
	}
	return NULL;
}

Test(netshm_region, seqlock_reader_never_sees_a_torn_entry)
{
	const struct netshm_entry *e = &table(0)->e[0];
	unsigned int good = 0, torn_tries = 0, k;
	uint64_t end = now_ns() + 3000000000ull;
	pthread_t t;

	attach_all();
	cr_assert_eq(pthread_create(&t, NULL, writer, NULL), 0);
	while (good < 20000 && (++torn_tries & 1023 || now_ns() < end)) {
		struct netshm_entry c;
		uint32_t s1, s2;

		s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		for (k = 0; k < 6; k++)
			c.mac[k] = __atomic_load_n(&e->mac[k], __ATOMIC_RELAXED);
		c.peer = __atomic_load_n(&e->peer, __ATOMIC_RELAXED);
		c.flags = __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
		if (s1 != s2 || !(c.flags & NETSHM_ENTRY_VALID))
			continue;
		for (k = 2; k < 6; k++)
			cr_assert_eq(c.mac[k], c.mac[1], "torn entry (seq %u)", s1);
		cr_assert(c.peer == 1 || c.peer == 2);
		good++;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	cr_log_info("%u consistent reads", good);
	cr_expect_gt(good, 0);
}
