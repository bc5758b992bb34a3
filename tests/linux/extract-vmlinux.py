#!/usr/bin/env python3
"""Unpack the vmlinux ELF from a bzImage (Linux boot protocol >= 2.08: payload_offset/length).

Usage: extract-vmlinux.py BZIMAGE OUT
The payload is decompressed with the matching system tool (lz4, xz, zstd, gzip, bzip2).
"""
import struct
import subprocess
import sys

MAGICS = [
    (b"\x02\x21\x4c\x18", ["lz4", "-dc"]),
    (b"\xfd7zXZ\x00", ["xz", "-dc"]),
    (b"\x28\xb5\x2f\xfd", ["zstd", "-dc"]),
    (b"\x1f\x8b", ["gzip", "-dc"]),
    (b"BZh", ["bzip2", "-dc"]),
]


def main():
    src, dst = sys.argv[1], sys.argv[2]
    img = open(src, "rb").read()
    if img[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", img, 0x206)[0] < 0x208:
        sys.exit(f"{src}: not a bzImage with boot protocol >= 2.08")
    setup_sects = img[0x1F1] or 4
    off, length = struct.unpack_from("<II", img, 0x248)
    start = (setup_sects + 1) * 512 + off
    payload = img[start : start + length]
    for magic, cmd in MAGICS:
        if payload.startswith(magic):
            break
    else:
        sys.exit(f"{src}: unknown payload compression {payload[:6].hex()}")
    with open(dst, "wb") as out:
        # Decompressors may complain about the size word the kernel appends; the ELF
        # check below is what decides.
        subprocess.run(cmd, input=payload, stdout=out, stderr=subprocess.DEVNULL)
    with open(dst, "rb") as f:
        if f.read(4) != b"\x7fELF":
            sys.exit(f"{src}: decompressed payload is not an ELF file")


if __name__ == "__main__":
    main()
