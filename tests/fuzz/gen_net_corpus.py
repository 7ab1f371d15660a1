#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Writes the seed corpus of fuzz_net (tests/fuzz/corpus/net/): a few
well-formed driver/backend sessions in the input format described in
fuzz_net.c."""
import struct

from seedfile import write_seeds

(OP_DESC, OP_AVAIL, OP_AVAIL_IDX, OP_KICK, OP_RX, OP_RESET, OP_ACTIVATE,
 OP_REARM, OP_LINK, OP_POKE, OP_BACKEND, OP_CONFIG) = range(12)
F_SPLIT, F_NO_RXQ, F_NO_TXQ = 1, 2, 4
NEXT, WRITE, INDIRECT = 1, 2, 4
DF_IND, DF_ADDR64, DF_LEN32, DF_HIGH = 0x10, 0x20, 0x40, 0x80
RXQ, TXQ = 0, 1

# Feature bits (<linux/virtio_net.h>, <linux/virtio_ring.h>).
CSUM, GUEST_CSUM, MAC = 0, 1, 5
GUEST_TSO4, GUEST_TSO6, GUEST_ECN, GUEST_UFO = 7, 8, 9, 10
MRG_RXBUF, STATUS = 15, 16
INDIRECT_DESC, EVENT_IDX = 28, 29
ALL = 0xffffffff
NO_MRG = ALL & ~(1 << MRG_RXBUF)

OFF_CSUM, OFF_TSO4, OFF_TSO6, OFF_ECN, OFF_UFO = 1, 2, 4, 8, 16
NEEDS_CSUM = 1
GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_ECN = 1, 3, 4, 0x80


class Session:
    def __init__(self, offloads=0, want=ALL, rx_log2=8, tx_log2=8, flags=0):
        self.b = bytearray(struct.pack('<BIBBx', offloads, want,
                                       rx_log2 | tx_log2 << 4, flags))

    def desc(self, q, idx, addr, length, fl=0, nxt=0):
        wide_addr = addr > 0xffff and not fl & DF_HIGH
        if wide_addr:
            fl |= DF_ADDR64
        if length > 0xffff:
            fl |= DF_LEN32
        self.b += struct.pack('<BBBBB', OP_DESC, q, idx, fl, nxt)
        self.b += struct.pack('<Q' if wide_addr else '<H', addr)
        self.b += struct.pack('<I' if length > 0xffff else '<H', length)

    def avail(self, q, *heads):
        self.b += struct.pack('<BBB', OP_AVAIL, q, len(heads)) + bytes(heads)

    def avail_idx(self, q, delta):
        self.b += struct.pack('<BBH', OP_AVAIL_IDX, q, delta)

    def kick(self, q):
        self.b += struct.pack('<BB', OP_KICK, q)

    def rx(self, length, flags=0, gso_type=0, hdr_len=0, gso_size=0,
           csum_start=0, csum_offset=0, mode=0, data=b''):
        self.b += struct.pack('<BBBHHHHH', OP_RX, flags, gso_type, hdr_len,
                              gso_size, csum_start, csum_offset, 0)
        self.b += struct.pack('<HBB', length, mode, len(data)) + data

    def op(self, *b):
        self.b += bytes(b)


# An Ethernet + IPv4 + TCP header, enough for a checksum to be computed on.
ETH_IP_TCP = (b'\x02\x00\x00\x00\x00\x02' b'\x02\x6b\x62\x00\x00\x01' b'\x08\x00'
              b'\x45\x00\x05\xdc\x00\x00\x40\x00\x40\x06\x00\x00'
              b'\x0a\x00\x02\x02\x0a\x00\x02\x0f'
              b'\x00\x16\xc0\x00\x00\x00\x00\x01\x00\x00\x00\x00'
              b'\x50\x18\xff\xff\x12\x34\x00\x00')


def seeds():
    # Transmit: one frame in one buffer, then header | frame in two.
    s = Session()
    s.desc(TXQ, 0, 0x4000, 12 + 60)
    s.avail(TXQ, 0)
    s.kick(TXQ)
    s.desc(TXQ, 1, 0x5000, 12, NEXT, 2)
    s.desc(TXQ, 2, 0x5100, 1500)
    s.avail(TXQ, 1)
    s.kick(TXQ)
    yield 'tx', s

    # Transmit errors: writable only, runt, and a failing backend.
    s = Session()
    s.desc(TXQ, 0, 0x4000, 100, WRITE)
    s.desc(TXQ, 1, 0x4100, 20)
    s.desc(TXQ, 2, 0x4200, 100)
    s.avail(TXQ, 0, 1)
    s.kick(TXQ)
    s.op(OP_BACKEND, 1)
    s.avail(TXQ, 2)
    s.kick(TXQ)
    # Oversized: one 40000-byte buffer twice in a chain.
    s.op(OP_BACKEND, 0)
    s.desc(TXQ, 3, 0x4000, 40000, NEXT, 4)
    s.desc(TXQ, 4, 0x4000, 40000)
    s.avail(TXQ, 3)
    s.kick(TXQ)
    yield 'tx_errors', s

    # Mergeable receive over 512-byte buffers.
    s = Session()
    for i in range(4):
        s.desc(RXQ, i, 0x4000 + 0x200 * i, 0x200, WRITE)
    s.avail(RXQ, 0, 1, 2, 3)
    s.kick(RXQ)
    s.rx(1500, data=ETH_IP_TCP)
    s.rx(60)
    yield 'rx_mergeable', s

    # One chain per frame; a frame with no buffer waits for the next kick.
    s = Session(want=NO_MRG)
    s.desc(RXQ, 0, 0x4000, 12, WRITE | NEXT, 1)
    s.desc(RXQ, 1, 0x4100, 2048, WRITE)
    s.avail(RXQ, 0)
    s.kick(RXQ)
    s.rx(1000, mode=1)
    s.rx(200)
    s.avail(RXQ, 0)
    s.kick(RXQ)
    s.rx(200)
    yield 'rx_single', s

    # Checksum completed by the device: CSUM offered, GUEST_CSUM not taken.
    s = Session(offloads=OFF_CSUM, want=ALL & ~(1 << GUEST_CSUM))
    s.desc(RXQ, 0, 0x4000, 0x1000, WRITE)
    s.avail(RXQ, 0)
    s.kick(RXQ)
    s.rx(len(ETH_IP_TCP) + 100, flags=NEEDS_CSUM, csum_start=34,
         csum_offset=16, mode=0x13, data=ETH_IP_TCP)
    yield 'rx_csum', s

    # A 40 KiB TSO frame with ECN over 4 KiB buffers, one reused.
    s = Session(offloads=OFF_CSUM | OFF_TSO4 | OFF_TSO6 | OFF_ECN | OFF_UFO)
    for i in range(12):
        s.desc(RXQ, i, 0x4000 + 0x1000 * (i % 8), 0x1000, WRITE)
    s.avail(RXQ, *range(12))
    s.kick(RXQ)
    s.rx(0x2000, flags=NEEDS_CSUM, gso_type=GSO_TCPV4 | GSO_ECN, hdr_len=54,
         gso_size=1448, csum_start=34, csum_offset=16, mode=4 | 2,
         data=ETH_IP_TCP)
    s.rx(300, gso_type=GSO_UDP, gso_size=100)
    yield 'rx_gso', s

    # EVENT_IDX and an indirect table for transmit, buffers in high RAM.
    s = Session(flags=F_SPLIT)
    s.desc(TXQ, 0, 0x8000, 3 * 16, INDIRECT)
    s.desc(0, 0, 0x0100, 12, NEXT | DF_IND | DF_HIGH, 1)
    s.desc(0, 1, 0x0200, 200, NEXT | DF_IND | DF_HIGH, 2)
    s.desc(0, 2, 0x7f00, 0x100, DF_IND | DF_HIGH)
    s.avail(TXQ, 0)
    s.kick(TXQ)
    s.desc(RXQ, 0, 0x100000000, 0x8000, WRITE)
    s.avail(RXQ, 0)
    s.kick(RXQ)
    s.rx(3000)
    yield 'indirect_high', s

    # A full transmit ring: the run stops at its budget, the re-arm
    # handler finishes; then a reset with fresh rings and one more frame.
    s = Session(tx_log2=8)
    s.desc(TXQ, 0, 0x4000, 100)
    s.avail_idx(TXQ, 256)
    s.kick(TXQ)
    s.op(OP_REARM)
    s.op(OP_LINK, 0)
    s.rx(100)
    s.op(OP_LINK, 1)
    s.op(OP_CONFIG, 0, 12, 0)
    s.op(OP_RESET, 1)
    s.desc(TXQ, 0, 0x4000, 100)
    s.avail(TXQ, 0)
    s.kick(TXQ)
    yield 'budget_reset', s

    # Small rings, a failed start, reactivation with other features.
    s = Session(rx_log2=1, tx_log2=2)
    s.op(OP_BACKEND, 2)
    s.op(OP_RESET, 0)
    s.op(OP_ACTIVATE)
    s.op(OP_RESET, 4 | 1)
    s.b += struct.pack('<I', NO_MRG | (1 << EVENT_IDX))
    s.desc(RXQ, 0, 0x4000, 0x800, WRITE)
    s.desc(RXQ, 1, 0x4800, 0x800, WRITE)
    s.avail(RXQ, 0, 1)
    s.kick(RXQ)
    s.rx(1500)
    s.rx(1500)
    s.rx(1500)
    # Mergeable again: a frame larger than the whole receive ring.
    s.op(OP_RESET, 4 | 1)
    s.b += struct.pack('<I', ALL)
    s.desc(RXQ, 0, 0x4000, 0x800, WRITE)
    s.avail(RXQ, 0, 0)
    s.kick(RXQ)
    s.rx(5000)
    yield 'small_rings', s


def main():
    write_seeds('net', ((name, bytes(s.b)) for name, s in seeds()))


if __name__ == '__main__':
    main()
