# SPDX-License-Identifier: GPL-2.0-only
"""Disk images for the guest self-test's block checks.

pattern_bytes() must match kst_pattern_byte() in tests/guest/selftest/selftest.h.
"""
SECTOR = 512

# Where the self-test's blk-rw check writes, discards and zeroes (blk.c).
RW_SECTOR, RW_BYTES = 2048, 4 * 4096
DISCARD_SECTOR, ZERO_SECTOR, RANGE_BYTES = 4096, 6144, 64 * SECTOR
SCRATCH_FILL = 0xEE


def pattern_bytes(off, length, salt):
    """Bytes [off, off+length) of a disk filled with pattern `salt`."""
    out = bytearray(length)
    for i in range(length):
        o = off + i
        out[i] = (((o >> 9) * 31 + (o & 511) + salt * 101) & 0xFF) ^ 0xA5
    return bytes(out)


def make_pattern_image(path, size, salt):
    with open(path, "wb") as f:
        chunk = 1 << 16
        for off in range(0, size, chunk):
            f.write(pattern_bytes(off, min(chunk, size - off), salt))


def make_scratch_image(path, size):
    with open(path, "wb") as f:
        f.write(bytes([SCRATCH_FILL]) * size)
