#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Wraps a 64-bit payload (objcopy -O binary of an ELF linked by lib/bzimage.ld) into a bzImage:
a boot sector and one setup sector carrying the Linux boot protocol 2.15 setup header
(Documentation/arch/x86/boot.rst), followed by the payload. There is no real-mode code: the
image is only for loaders that use the 64-bit entry (load address + 0x200).

usage: mkbzimage.py PAYLOAD.elf PAYLOAD.bin OUT.bzImage
"""
import struct
import sys

LOAD_ADDR = 0x1000000          # pref_address; bzimage.ld links here
SETUP_SECTS = 1
INITRD_ADDR_MAX = 0x7FFFFFFF
CMDLINE_SIZE = 4095
KERNEL_ALIGNMENT = 0x200000
LOADED_HIGH = 0x01
XLF_KERNEL_64 = 0x01


def elf_span(path):
    """(entry, lowest vaddr, end of highest PT_LOAD incl. .bss) of an ELF64 file."""
    with open(path, "rb") as f:
        elf = f.read()
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        sys.exit(f"{path}: not an ELF64 file")
    entry, phoff = struct.unpack_from("<QQ", elf, 24)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    lo, hi = None, 0
    for i in range(phnum):
        p_type, _, _, vaddr, _, _, memsz, _ = struct.unpack_from("<IIQQQQQQ", elf, phoff + i * phentsize)
        if p_type == 1 and memsz:
            lo = vaddr if lo is None else min(lo, vaddr)
            hi = max(hi, vaddr + memsz)
    return entry, lo, hi


def main():
    elf, payload_path, out = sys.argv[1:4]
    entry, lo, hi = elf_span(elf)
    if lo != LOAD_ADDR or entry != LOAD_ADDR + 0x200:
        sys.exit(f"{elf}: linked at {lo:#x} with entry {entry:#x}, want {LOAD_ADDR:#x} and +0x200")
    with open(payload_path, "rb") as f:
        payload = f.read()
    init_size = (hi - lo + 0xFFF) & ~0xFFF

    setup = bytearray(512 * (1 + SETUP_SECTS))
    struct.pack_into("<B", setup, 0x1F1, SETUP_SECTS)
    struct.pack_into("<I", setup, 0x1F4, (len(payload) + 15) // 16)     # syssize
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)                        # boot_flag
    setup[0x200:0x202] = b"\xeb\x66"                                    # jump (never run)
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020F)                        # version 2.15
    struct.pack_into("<B", setup, 0x211, LOADED_HIGH)                   # loadflags
    struct.pack_into("<I", setup, 0x214, LOAD_ADDR)                     # code32_start
    struct.pack_into("<I", setup, 0x22C, INITRD_ADDR_MAX)
    struct.pack_into("<I", setup, 0x230, KERNEL_ALIGNMENT)
    struct.pack_into("<B", setup, 0x234, 1)                             # relocatable_kernel
    struct.pack_into("<B", setup, 0x235, 21)                            # min_alignment 2 MiB
    struct.pack_into("<H", setup, 0x236, XLF_KERNEL_64)
    struct.pack_into("<I", setup, 0x238, CMDLINE_SIZE)
    struct.pack_into("<Q", setup, 0x258, LOAD_ADDR)                     # pref_address
    struct.pack_into("<I", setup, 0x260, init_size)
    with open(out, "wb") as f:
        f.write(bytes(setup) + payload)


if __name__ == "__main__":
    main()
