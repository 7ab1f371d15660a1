# SPDX-License-Identifier: GPL-2.0-only
"""Tiny raw guest programs, hand-assembled (the bytes are commented)."""

# The seed's program, 16-bit real mode: prints AL+BL as a digit, then hlt.
SEED_ADD = bytes([
    0xba, 0xf8, 0x03,  # mov dx, 0x3f8
    0x00, 0xd8,        # add al, bl
    0x04, 0x30,        # add al, '0'
    0xee,              # out dx, al
    0xb0, 0x0a,        # mov al, '\n'
    0xee,              # out dx, al
    0xf4,              # hlt
])

# 64-bit: only a 64-bit register keeps bit 32, so "164" proves long mode.
LONG_164 = bytes([
    0x66, 0xba, 0xf8, 0x03,                                      # mov dx, 0x3f8
    0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  # mov rax, 1<<32
    0x48, 0xc1, 0xe8, 0x20,                                      # shr rax, 32
    0x04, 0x30, 0xee,                                            # add al,'0'; out
    0xb0, 0x36, 0xee,                                            # mov al,'6'; out
    0xb0, 0x34, 0xee,                                            # mov al,'4'; out
    0xb0, 0x0a, 0xee,                                            # mov al,'\n'; out
    0xf4,                                                        # hlt
])

# 64-bit ud2 with no IDT: #UD cannot be delivered -> triple fault.
LONG_UD2 = bytes([0x90, 0x0f, 0x0b])

# Real mode: write 42 to the debug-exit port 0x501.
DEBUG_EXIT_42 = bytes([
    0xb0, 0x2a,        # mov al, 42
    0xba, 0x01, 0x05,  # mov dx, 0x501
    0xee,              # out dx, al
    0xf4,              # hlt (not reached)
])

# 64-bit popcnt: the emulation-only host KVM cannot emulate it.
LONG_POPCNT = bytes([
    0xf3, 0x48, 0x0f, 0xb8, 0xc0,  # popcnt rax, rax
    0xf4,                          # hlt
])

# 64-bit fwait then hlt: kvmbox's fallback skips fwait on that host.
LONG_FWAIT = bytes([0x9b, 0x66, 0xba, 0xf8, 0x03, 0xb0, 0x4b, 0xee, 0xf4])


def port_loop(count, port=0x80):
    """Real mode: `count` one-byte writes to `port` (nothing there), then hlt."""
    return bytes([
        0x66, 0xb9, *count.to_bytes(4, "little"),  # mov ecx, count
        0xba, port & 0xff, port >> 8,              # mov dx, port
        0xee,                                      # 1: out dx, al
        0x67, 0xe2, 0xfc,                          # loop 1b (ecx)
        0xf4,                                      # hlt
    ])

# 64-bit CPL 3 (--raw-mode user): prints "CPL3!\n" (the digit is CS & 3,
# '!' goes through the stack), then writes 7 to the debug-exit port. The
# `out`s need IOPL 3.
USER_CPL3 = bytes([
    0x66, 0xba, 0xf8, 0x03,  # mov dx, 0x3f8
    0xb0, 0x43, 0xee,        # mov al,'C'; out
    0xb0, 0x50, 0xee,        # mov al,'P'; out
    0xb0, 0x4c, 0xee,        # mov al,'L'; out
    0x8c, 0xc8,              # mov eax, cs
    0x24, 0x03,              # and al, 3
    0x04, 0x30, 0xee,        # add al,'0'; out
    0x6a, 0x21,              # push '!'
    0x58, 0xee,              # pop rax; out
    0xb0, 0x0a, 0xee,        # mov al,'\n'; out
    0x66, 0xba, 0x01, 0x05,  # mov dx, 0x501
    0xb0, 0x07, 0xee,        # mov al, 7; out
    0xf4,                    # hlt: not reached (it would fault at CPL 3)
])

# 64-bit CPL 3: hlt is privileged: #GP, no IDT -> triple fault.
USER_HLT = bytes([0x90, 0xf4])
