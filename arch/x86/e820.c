// SPDX-License-Identifier: MIT
#include <errno.h>

#include "arch/x86/boot-priv.h"

struct e820_buf {
	struct e820_ent *ent;
	unsigned int n, max;
	bool full;
};

/* Appends [addr, end), merging with the previous entry when they touch and share a type. */
static void e820_add(struct e820_buf *b, uint64_t addr, uint64_t end, uint32_t type)
{
	struct e820_ent *last = b->n ? &b->ent[b->n - 1] : NULL;

	if (end <= addr)
		return;
	if (last && last->type == type && last->addr + last->size == addr) {
		last->size += end - addr;
		return;
	}
	if (b->n == b->max) {
		b->full = true;
		return;
	}
	b->ent[b->n++] = (struct e820_ent){ .addr = addr, .size = end - addr, .type = type };
}

int x86_e820(const struct gmem *gm, struct e820_ent *out, unsigned int max)
{
	const struct gmem_region *sorted[GMEM_MAX_REGIONS], *r;
	struct e820_buf b = { .ent = out, .max = max };
	unsigned int n = 0, i, j;
	bool bios_done = false;

	/* Sort by address (insertion sort, at most GMEM_MAX_REGIONS): e820 users expect order. */
	gm_for_each_region(gm, r) {
		for (j = n; j > 0 && sorted[j - 1]->gpa > r->gpa; j--)
			sorted[j] = sorted[j - 1];
		sorted[j] = r;
		n++;
	}

	for (i = 0; i < n; i++) {
		uint64_t a = sorted[i]->gpa, end = sorted[i]->gpa + sorted[i]->len;

		/* Conventional memory stops at the EBDA; the BIOS area up to 1 MiB is reserved
		 * (it holds our ACPI and MP tables, which the guest must not reuse as RAM). */
		e820_add(&b, a, end < LAYOUT_EBDA ? end : LAYOUT_EBDA, E820_RAM);
		if (!bios_done && a < LAYOUT_BIOS_END && end > LAYOUT_EBDA) {
			e820_add(&b, LAYOUT_EBDA, LAYOUT_BIOS_END, E820_RESERVED);
			bios_done = true;
		}
		e820_add(&b, a > LAYOUT_HIMEM ? a : LAYOUT_HIMEM, end, E820_RAM);
	}
	return b.full ? -E2BIG : (int)b.n;
}
