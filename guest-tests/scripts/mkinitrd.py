#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the bootparams test initrd: SIZE bytes of initrd_pattern() (scripts/initrd-pattern.h)."""
import sys


def main():
    size, out = int(sys.argv[1]), sys.argv[2]
    data = bytes(((i * 2654435761) >> 13) & 0xff for i in range(size))
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
