// SPDX-License-Identifier: MIT
/* RSDP scan and MADT walk (ACPI 6.5 §5.2.5.1, §5.2.12), every length checked. */
#include "libguest.h"

struct sdt_header {
	char sig[4];
	uint32_t len;
	uint8_t rev, csum;
	char oem[6], oem_table[8];
	uint32_t oem_rev, creator, creator_rev;
} __attribute__((packed));

static bool csum_ok(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return sum == 0;
}

static const uint8_t *find_rsdp(void)
{
	/* §5.2.5.1: on a 16-byte boundary in the BIOS area 0xe0000..0xfffff. */
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
		const uint8_t *p = (const uint8_t *)a;

		if (!memcmp(p, "RSD PTR ", 8) && csum_ok(p, 20))
			return p;
	}
	return NULL;
}

static const struct sdt_header *table_at(uint64_t addr)
{
	const struct sdt_header *h = (const struct sdt_header *)addr;

	/* Tables live in RAM below 4 GiB in both VMMs; 1 MiB is plenty for anything we read. */
	if (!addr || addr >= GiB(4) || h->len < sizeof(*h) || h->len > MiB(1) ||
	    !csum_ok(h, h->len))
		return NULL;
	return h;
}

const void *acpi_find_table(const char sig[4])
{
	const uint8_t *rsdp = find_rsdp();
	const struct sdt_header *root;
	unsigned int esize;

	if (!rsdp)
		return NULL;
	/* Revision >= 2: the XSDT (64-bit entries) at offset 24, checksummed over `length`. */
	if (rsdp[15] >= 2 && *(const uint32_t *)(rsdp + 20) >= 36 &&
	    *(const uint32_t *)(rsdp + 20) <= 4096 && csum_ok(rsdp, *(const uint32_t *)(rsdp + 20))) {
		root = table_at(*(const uint64_t *)(rsdp + 24));
		esize = 8;
	} else {
		root = table_at(*(const uint32_t *)(rsdp + 16));
		esize = 4;
	}
	if (!root)
		return NULL;
	for (uint32_t off = sizeof(*root); off + esize <= root->len; off += esize) {
		const uint8_t *e = (const uint8_t *)root + off;
		uint64_t a = esize == 8 ? *(const uint64_t *)e : *(const uint32_t *)e;
		const struct sdt_header *t = table_at(a);

		if (t && !memcmp(t->sig, sig, 4))
			return t;
	}
	return NULL;
}

bool acpi_find_cpus(struct acpi_cpus *out)
{
	const struct sdt_header *madt = acpi_find_table("APIC");

	out->nr = 0;
	if (!madt || madt->len < sizeof(*madt) + 8)
		return false;
	/* MADT: header, local APIC address (4), flags (4), then type/length records. */
	for (uint32_t off = sizeof(*madt) + 8; off + 2 <= madt->len;) {
		const uint8_t *e = (const uint8_t *)madt + off;
		uint8_t type = e[0], len = e[1];

		if (len < 2 || len > madt->len - off)
			return false;
		/* Type 0: processor local APIC (id at 3, flags at 4). Type 9: x2APIC (id at 4,
		 * flags at 8). Flags bit 0 enabled, bit 1 online-capable. */
		if (type == 0 && len >= 8 && (*(const uint32_t *)(e + 4) & 3) &&
		    out->nr < ACPI_MAX_CPUS)
			out->apic_id[out->nr++] = e[3];
		else if (type == 9 && len >= 16 && (*(const uint32_t *)(e + 8) & 3) &&
			 out->nr < ACPI_MAX_CPUS)
			out->apic_id[out->nr++] = *(const uint32_t *)(e + 4);
		off += len;
	}
	return out->nr > 0;
}
