// SPDX-License-Identifier: MIT
/*
 * Transmit-rate source for tools/bench/net-rate.sh: sends frames=N (default 1000000) frames of
 * len=L bytes (default 60, 64 with the FCS the wire would add) out of the first virtio-net NIC
 * in bursts of 32, as fast as the ring drains, then prints the guest-side rate (TSC).
 */
#include "libguest.h"
#include "virtio-net.h"

static struct vnet nic;
static uint8_t frame[VNET_MAX_FRAME];

int main(void)
{
	struct vnet_conf conf = VNET_CONF_DEFAULT;
	struct vnet_pkt burst[VNET_BURST];
	uint64_t frames = 1000000, len = ETH_ZLEN, sent = 0, t0, dt;
	const char *v;
	size_t vlen;
	int r;

	if ((cmdline_get("frames", &v, &vlen) && !parse_size(v, vlen, &frames)) ||
	    (cmdline_get("len", &v, &vlen) && !parse_size(v, vlen, &len)) ||
	    len < VNET_MIN_FRAME || len > VNET_MAX_FRAME) {
		printf("net-blast: bad frames= or len= (14..%u)\n", VNET_MAX_FRAME);
		return 2;
	}
	r = vnet_probe(0, &nic);
	if (!r)
		r = vnet_init(&nic, &conf);
	if (r) {
		printf("net-blast: no usable virtio-net device (%d)\n", r);
		return 3;
	}
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
	dt = (rdtsc() - t0) / (tsc_khz() ? tsc_khz() : 1);	/* ms */
	printf("net-blast: %lu frames in %lu ms: %lu pps; kicks %lu, ring full %lu times\n", sent,
	       dt, dt ? sent * 1000 / dt : 0, nic.st.kicks, nic.st.tx_full);
	return 0;
}
