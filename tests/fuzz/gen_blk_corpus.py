#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Writes the seed corpus of fuzz_blk (tests/fuzz/corpus/blk/): one
request of each type, well-formed and a few hostile, in the input format
described in fuzz_blk.c."""
import struct

from seedfile import write_seeds

F_RO, F_BIG_CAP, F_MANY = 1, 2, 4
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WRITE_ZEROES = 0, 1, 4, 8, 11, 13
UNMAP = 1


def hdr(t, sector):
    return struct.pack('<IIQ', t, 0, sector)


def seg(sector, n, flags=0):
    return struct.pack('<QII', sector, n, flags)


def req(outs, ins, cap=2048, flags=0):
    """outs: readable buffer contents; ins: writable buffer lengths."""
    head = struct.pack('<BBBBIQ', len(outs), len(ins), flags, 0,
                       cap & 0xffffffff, cap)
    lens = b''.join(struct.pack('<H', len(b)) for b in outs)
    lens += b''.join(struct.pack('<H', n) for n in ins)
    return head + lens + b''.join(outs)


def seeds():
    yield 'read', req([hdr(T_IN, 8)], [1024, 1])
    yield 'read_status_in_data', req([hdr(T_IN, 0)], [513])
    yield 'write', req([hdr(T_OUT, 16), b'\x5a' * 512, b'\xa5' * 1024], [1])
    yield 'write_one_buffer', req([hdr(T_OUT, 1) + b'\x11' * 512], [1])
    yield 'write_split_header', req([hdr(T_OUT, 3)[:5], hdr(T_OUT, 3)[5:12],
                                     hdr(T_OUT, 3)[12:], b'\x22' * 512], [1])
    yield 'write_ro', req([hdr(T_OUT, 0), b'\0' * 512], [1], flags=F_RO)
    yield 'flush', req([hdr(T_FLUSH, 0)], [1])
    yield 'get_id', req([hdr(T_GET_ID, 0)], [20, 1])
    yield 'get_id_short', req([hdr(T_GET_ID, 0)], [7, 1])
    yield 'discard', req([hdr(T_DISCARD, 0), seg(0, 8) + seg(2040, 8)], [1])
    yield 'write_zeroes', req([hdr(T_WRITE_ZEROES, 0), seg(100, 4, UNMAP)], [1])
    yield 'discard_range', req([hdr(T_DISCARD, 0), seg(2047, 2)], [1])
    yield 'past_end', req([hdr(T_IN, 2047)], [1024, 1])
    yield 'wrap', req([hdr(T_IN, (1 << 64) - 1)], [512, 1],
                      cap=(1 << 55) - 1, flags=F_BIG_CAP)
    yield 'no_status', req([hdr(T_IN, 0)], [])
    yield 'short_header', req([hdr(T_IN, 0)[:15]], [1])
    yield 'unknown', req([hdr(0x99, 0)], [1])
    yield 'many', req([hdr(T_IN, 0)], [512] * 8, flags=F_MANY)


def main():
    write_seeds('blk', seeds())


if __name__ == '__main__':
    main()
