/* SPDX-License-Identifier: MIT */
#ifndef VIRTIO_VHOST_USER_NETSHM_REGION_H
#define VIRTIO_VHOST_USER_NETSHM_REGION_H

/*
 * The switch's side of the vhost-user-shmem region (docs/vhost-user-shmem.md §3, layout in
 * base/netshm-abi.h): allocation, the header, the per-port state word and the flow tables.
 *
 * The region is shared with every attached VMM and, through them, with guests, which may write
 * anything anywhere in it (the control part too, where KVM cannot map it read-only). So the
 * switch never reads the region: every value it needs (entries, seq counters, gen, count,
 * port_state) lives in a private shadow in struct netshm_region, and the region only receives
 * stores. A guest scribbling over a table disturbs what guests read until the next change of
 * that table, never the switch.
 *
 * The memory is a sealed memfd (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL): a VMM holding the
 * fd cannot shrink it under the switch's mapping (which would end in SIGBUS here).
 *
 * Flow-table writes follow the seqlock rules of the spec: per entry seq++ (odd), the fields,
 * seq++ (even, release); then count, then gen++ (release) once per call that changed anything.
 *
 * Thread safety: none inside. One writer at a time; the caller serialises (backend.c: one
 * mutex). netshm_region_stats() may be called from any thread.
 */
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/err.h"
#include "base/netshm-abi.h"

#define NETSHM_REGION_NO_HUGE	0x1u	/* netshm_region_create: skip the hugetlb attempt */

struct netshm_region_stats {
	uint64_t installed;		/* entries made valid or re-pointed */
	uint64_t withdrawn;		/* entries made invalid */
	uint64_t full;			/* installs refused: table full (-ENOSPC) */
};

struct netshm_shadow_entry {
	uint32_t seq;
	uint8_t mac[6];
	uint8_t peer;
	bool valid;
};

struct netshm_shadow_table {
	uint32_t gen;
	uint32_t count;
	struct netshm_shadow_entry e[NETSHM_MAX_ENTRIES];
};

struct netshm_region {
	int fd;				/* the memfd handed to VMMs (dup it or send it; ours) */
	uint8_t *base;			/* our MAP_SHARED mapping; written, never read */
	uint64_t size;			/* NETSHM_REGION_SIZE(nports) */
	unsigned int nports;
	bool huge;			/* 2 MiB hugetlb pages (else a plain memfd) */
	uint32_t port_state[NETSHM_MAX_PORTS];
	struct netshm_shadow_table t[NETSHM_MAX_PORTS];
	struct netshm_region_stats st;
};

/*
 * Creates the region for nports (2..NETSHM_MAX_PORTS) ports: a hugetlb memfd with 2 MiB pages,
 * or (no free hugepages, or NETSHM_REGION_NO_HUGE) a plain memfd, with a log line saying so;
 * sized, sealed, mapped, header written with the magic stored last. 0 or -errno with e set.
 */
int netshm_region_create(struct netshm_region *r, unsigned int nports, unsigned int flags,
			 struct err *e) __must_check;
/* Unmaps and closes (the memory lives on in every VMM that still maps it). Idempotent. */
void netshm_region_destroy(struct netshm_region *r);

/* port_state: attached (+ peer mode), epoch + 1. -EINVAL if port >= nports. */
int netshm_region_port_attach(struct netshm_region *r, unsigned int port, bool peer)
	__must_check;
/* The port leaves: every entry naming it and its own table are withdrawn, state cleared. */
void netshm_region_port_detach(struct netshm_region *r, unsigned int port);
bool netshm_region_attached(const struct netshm_region *r, unsigned int port);
uint32_t netshm_region_port_state(const struct netshm_region *r, unsigned int port);

/*
 * Table s gets "mac -> peer" (mac: 6 bytes). An existing entry for mac is re-pointed (or left
 * alone if it says the same). 0; -EINVAL (s or peer out of range, s == peer, group or zero
 * MAC); -ENOENT (s or peer not attached); -ENOSPC (no free entry; counted in st.full).
 */
int netshm_region_install(struct netshm_region *r, unsigned int s, const uint8_t *mac,
			  unsigned int peer) __must_check;
/* Withdraws mac from table s: 1 if it was there, 0 if not. */
int netshm_region_withdraw(struct netshm_region *r, unsigned int s, const uint8_t *mac);
/* Withdraws every entry naming peer, from every table; returns how many. */
unsigned int netshm_region_withdraw_peer(struct netshm_region *r, unsigned int peer);
/* Withdraws every entry of table s; returns how many. */
unsigned int netshm_region_withdraw_table(struct netshm_region *r, unsigned int s);
/* Entry i of table s as the switch wrote it: true and mac/peer if valid. */
bool netshm_region_entry(const struct netshm_region *r, unsigned int s, unsigned int i,
			 uint8_t *mac, unsigned int *peer);
/* Counters, from any thread. */
void netshm_region_stats(const struct netshm_region *r, struct netshm_region_stats *st);

#endif
