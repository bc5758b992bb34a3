// SPDX-License-Identifier: MIT
/*
 * L2 forwarder (DPDK l2fwd without the MAC rewrite): every frame received on virtio-net NIC 0
 * goes out of NIC 1 and back, in bursts of VNET_BURST, from ring 3 by polling. Command line:
 *	count=N		exit 0 once N frames were forwarded (default: run until stopped)
 * Counts go to the serial port once a second when they changed.
 */
#include "libguest.h"
#include "virtio-net.h"

#define TX_RETRIES	100000	/* polls of a full TX ring before the rest of a burst is dropped */

static struct vnet nic[2];

struct fwd_stats {
	uint64_t fwd[2];		/* frames from NIC i sent out of the other one */
	uint64_t drops[2];		/* frames from NIC i the other's TX ring had no room for */
};

/* One burst from nic[from] to nic[!from]; returns the frames received. */
static unsigned int fwd_burst(unsigned int from, struct fwd_stats *st)
{
	struct vnet_pkt pkts[VNET_BURST];
	unsigned int n = vnet_rx_burst(&nic[from], pkts, VNET_BURST), sent = 0;

	/* The RX buffers stay ours until the next rx_burst on nic[from]: retry in place. */
	for (unsigned int tries = 0; sent < n && tries < TX_RETRIES; tries++)
		sent += vnet_tx_burst(&nic[!from], pkts + sent, n - sent);
	st->fwd[from] += sent;
	st->drops[from] += n - sent;
	return n;
}

int main(void)
{
	struct vnet_conf conf = VNET_CONF_DEFAULT;
	struct fwd_stats st = { 0 }, shown = { 0 };
	uint64_t count = 0, tick, last;
	const char *v;
	size_t vlen;

	if (cmdline_get("count", &v, &vlen) && !parse_size(v, vlen, &count)) {
		printf("net-l2fwd: bad count= on the command line\n");
		return 2;
	}
	for (unsigned int i = 0; i < 2; i++) {
		int r = vnet_probe(i, &nic[i]);

		if (!r)
			r = vnet_init(&nic[i], &conf);
		if (r) {
			printf("net-l2fwd: NIC %u: no usable virtio-net device (%d)\n", i, r);
			return 3;
		}
		printf("net-l2fwd: NIC %u: queue size %u, features 0x%lx\n", i, nic[i].rxq.size,
		       nic[i].features);
	}
	printf("net-l2fwd: forwarding\n");

	tick = tsc_khz() * 1000;
	last = rdtsc();
	for (;;) {
		unsigned int n = fwd_burst(0, &st) + fwd_burst(1, &st);

		if (count && st.fwd[0] + st.fwd[1] >= count) {
			while (vnet_tx_inflight(&nic[0]) || vnet_tx_inflight(&nic[1]))
				cpu_relax();
			break;
		}
		if (rdtsc() - last > tick) {
			if (memcmp(&st, &shown, sizeof(st)))
				printf("net-l2fwd: 0->1 %lu (drops %lu), 1->0 %lu (drops %lu)\n",
				       st.fwd[0], st.drops[0], st.fwd[1], st.drops[1]);
			shown = st;
			last = rdtsc();
		}
		if (!n)
			cpu_relax();
	}
	printf("net-l2fwd: 0->1 %lu (drops %lu), 1->0 %lu (drops %lu), done\n", st.fwd[0],
	       st.drops[0], st.fwd[1], st.drops[1]);
	return 0;
}
