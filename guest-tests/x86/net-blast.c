// SPDX-License-Identifier: MIT
/*
 * Packet-rate source and sink for tools/bench/net-rate.sh and net-bench.sh, on the first
 * virtio-net NIC (either transport; transport=mmio|pci picks one, see vnet_probe()):
 *	mode=tx (default): sends frames=N (default 1000000) frames of len=L bytes (default 60,
 *	  64 with the FCS the wire would add) in bursts of 32, as fast as the ring drains.
 *	mode=rx: receives bursts of up to 32 until frames=N arrived, or idle=S seconds (default
 *	  2) passed without one after the first (a host sender stopped early); at most wait=S
 *	  seconds (default 60) for the first frame.
 *	event_idx=0: do not negotiate VIRTIO_F_EVENT_IDX (the device then suppresses kicks with
 *	  VRING_USED_F_NO_NOTIFY only).
 * Then prints the guest-side rate (TSC, which may be a guess: the host's counters are the
 * reference) and the number of kicks (doorbell writes, each an exit).
 */
#include "libguest.h"
#include "virtio-net.h"

static struct vnet nic;
static uint8_t frame[VNET_MAX_FRAME];

static uint64_t ms_since(uint64_t t0)
{
	return (rdtsc() - t0) / (tsc_khz() ? tsc_khz() : 1);
}

static void report(const char *what, uint64_t n, uint64_t ms)
{
	printf("net-blast: %s %lu frames in %lu ms: %lu pps; kicks %lu, ring full %lu times, "
	       "event_idx %u\n", what, n, ms, ms ? n * 1000 / ms : 0, nic.st.kicks,
	       nic.st.tx_full, !!(nic.features & VIRTIO_F_EVENT_IDX));
}

static int blast_tx(uint64_t frames, uint64_t len)
{
	struct vnet_pkt burst[VNET_BURST];
	uint64_t sent = 0, t0;

	memset(frame, 0xff, 6);			/* broadcast, local experimental ethertype */
	memcpy(frame + 6, vnet_mac(&nic), 6);
	put_be16(frame + 12, 0x88b5);
	for (unsigned int i = 0; i < VNET_BURST; i++)
		burst[i] = (struct vnet_pkt){ frame, (uint16_t)len };

	printf("net-blast: sending %lu frames of %lu bytes\n", frames, len);
	t0 = rdtsc();
	while (sent < frames) {
		uint64_t n = frames - sent < VNET_BURST ? frames - sent : VNET_BURST;
		unsigned int k = vnet_tx_burst(&nic, burst, (unsigned int)n);

		sent += k;
		if (!k)
			cpu_relax();
	}
	while (vnet_tx_inflight(&nic))
		cpu_relax();
	report("sent", sent, ms_since(t0));
	return 0;
}

static int blast_rx(uint64_t frames, uint64_t idle_s, uint64_t wait_s)
{
	uint64_t got = 0, t0 = 0, last, khz = tsc_khz() ? tsc_khz() : 1;

	printf("net-blast: receiving up to %lu frames\n", frames);
	last = rdtsc();
	while (got < frames) {
		struct vnet_pkt pkts[VNET_BURST];
		unsigned int n = vnet_rx_burst(&nic, pkts, VNET_BURST);
		uint64_t now = rdtsc();

		if (n) {
			if (!got)
				t0 = now;
			got += n;
			last = now;
			continue;
		}
		if (!nic.running)
			break;		/* the device misbehaved (bad_used): stop counting */
		if ((now - last) / khz > (got ? idle_s : wait_s) * 1000)
			break;
		cpu_relax();
	}
	report("received", got, got ? (last - t0) / khz : 0);
	return got ? 0 : 1;
}

int main(void)
{
	struct vnet_conf conf = VNET_CONF_DEFAULT;
	uint64_t frames = 1000000, len = ETH_ZLEN, ev = 1, idle = 2, wait = 60;
	bool rx = false;
	const char *v;
	size_t vlen;
	int r;

	if ((cmdline_get("frames", &v, &vlen) && !parse_size(v, vlen, &frames)) ||
	    (cmdline_get("len", &v, &vlen) && !parse_size(v, vlen, &len)) ||
	    (cmdline_get("event_idx", &v, &vlen) && (!parse_size(v, vlen, &ev) || ev > 1)) ||
	    (cmdline_get("idle", &v, &vlen) && !parse_size(v, vlen, &idle)) ||
	    (cmdline_get("wait", &v, &vlen) && !parse_size(v, vlen, &wait)) ||
	    len < VNET_MIN_FRAME || len > VNET_MAX_FRAME) {
		printf("net-blast: bad frames=, len= (14..%u), event_idx= (0/1), idle= or wait=\n",
		       VNET_MAX_FRAME);
		return 2;
	}
	if (cmdline_get("mode", &v, &vlen)) {
		if (vlen == 2 && !memcmp(v, "rx", 2)) {
			rx = true;
		} else if (vlen != 2 || memcmp(v, "tx", 2)) {
			printf("net-blast: mode= is tx or rx\n");
			return 2;
		}
	}
	if (!ev)
		conf.optional &= ~VIRTIO_F_EVENT_IDX;
	r = vnet_probe(0, &nic);
	if (!r)
		r = vnet_init(&nic, &conf);
	if (r) {
		printf("net-blast: no usable virtio-net device (%d)\n", r);
		return 3;
	}
	return rx ? blast_rx(frames, idle, wait) : blast_tx(frames, len);
}
