#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Writes the seed corpus of fuzz_virtq (tests/fuzz/corpus/virtq/): a few
well-formed rings in the input format described in fuzz_virtq.c."""
import struct

from seedfile import write_seeds

MEM = 0x10000
F_EVENT_IDX, F_INDIRECT, F_SPLIT, F_RAW_SIZE = 1, 2, 4, 8
NEXT, WRITE, INDIRECT = 1, 2, 4


class Ring:
    def __init__(self, size_log2, flags=0, max_iov=16, seed=0,
                 desc=0x0000, avail=0x1000, used=0x2000, high=0):
        self.size = 1 << size_log2
        self.hdr = struct.pack('<BBBBHHHHB3x', size_log2, flags, max_iov, seed,
                               0, desc, avail, used, high)
        self.mem = bytearray(MEM)
        self.desc, self.avail, self.used = desc, avail, used
        self.avail_idx = 0

    def put_desc(self, i, addr, length, flags=0, nxt=0, table=None):
        base = self.desc if table is None else table
        struct.pack_into('<QIHH', self.mem, base + 16 * i, addr, length, flags, nxt)

    def add(self, head):
        struct.pack_into('<H', self.mem, self.avail + 4 + 2 * (self.avail_idx % self.size), head)
        self.avail_idx += 1
        struct.pack_into('<H', self.mem, self.avail + 2, self.avail_idx & 0xffff)

    def used_event(self, v):
        struct.pack_into('<H', self.mem, self.avail + 4 + 2 * self.size, v)

    def data(self):
        return self.hdr + bytes(self.mem).rstrip(b'\0')


def seeds():
    # Two simple chains: request (out) + status (in), and one in-only.
    r = Ring(3)
    r.put_desc(0, 0x4000, 16, NEXT, 1)
    r.put_desc(1, 0x4100, 1, WRITE)
    r.put_desc(2, 0x4200, 64, WRITE)
    r.add(0)
    r.add(2)
    yield 'simple', r

    # EVENT_IDX + indirect: direct out, then an indirect table (out, in, in).
    r = Ring(4, F_EVENT_IDX | F_INDIRECT, seed=7)
    r.used_event(1)
    r.put_desc(5, 0x4000, 16, NEXT, 6)
    r.put_desc(6, 0x3000, 3 * 16, INDIRECT)
    r.put_desc(0, 0x5000, 512, NEXT, 2, table=0x3000)
    r.put_desc(2, 0x5200, 512, WRITE | NEXT, 1, table=0x3000)
    r.put_desc(1, 0x5400, 1, WRITE, table=0x3000)
    r.add(5)
    r.put_desc(7, 0x3100, 16, INDIRECT)
    r.put_desc(0, 0x6000, 8, WRITE, table=0x3100)
    r.add(7)
    yield 'indirect', r

    # Two RAM regions: the rings low, buffers in high RAM (4 GiB + x).
    r = Ring(2, F_SPLIT, max_iov=4)
    r.put_desc(0, 0x100000000 + 0x100, 100, NEXT, 1)
    r.put_desc(1, 0x100000000 + 0x7f00, 0x100, WRITE)
    r.add(0)
    yield 'split', r

    # A chain through every descriptor of an 8-entry queue, with an empty one.
    r = Ring(3, max_iov=8, seed=3)
    for i in range(8):
        r.put_desc(i, 0x4000 + 0x100 * i, 0 if i == 4 else 32,
                   (NEXT if i < 7 else 0) | (WRITE if i >= 5 else 0), i + 1)
    r.add(0)
    yield 'fullchain', r

    # 64-entry queue with many one-buffer chains and a used_event to cross.
    r = Ring(6, F_EVENT_IDX, seed=9, desc=0x0000, avail=0x0400, used=0x0800)
    r.used_event(20)
    for i in range(40):
        r.put_desc(i, 0x4000 + 0x40 * i, 0x40, WRITE if i & 1 else 0)
        r.add(i)
    yield 'many', r


def main():
    write_seeds('virtq', ((name, ring.data()) for name, ring in seeds()))


if __name__ == '__main__':
    main()
