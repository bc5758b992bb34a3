/* SPDX-License-Identifier: MIT */
/* Byte i of the bootparams test initrd; scripts/mkinitrd.py computes the same function. */
static inline unsigned char initrd_pattern(unsigned long long i)
{
	return (unsigned char)((i * 2654435761ull) >> 13);
}
