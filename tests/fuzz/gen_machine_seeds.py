#!/usr/bin/env python3
"""Writes seeds for fuzz_machine that reach deep states a random program rarely finds: a
virtio-net driver bringing up the NIC on virtio-mmio (handshake, rx and tx queues in RAM),
sending frames and kicking, then stepping the machine. Usage: gen_machine_seeds.py DIR"""
import struct
import sys

MMIO_WIN_NET = 1  # index into fuzz_machine.c's mmio_target() table
SIZE4 = 2         # index of 4 in access_size()'s table


def mmio_write(off, val):
    return bytes([0x80 | 0]) + bytes([MMIO_WIN_NET]) + struct.pack('<I', off) + \
        bytes([SIZE4]) + struct.pack('<Q', val)


def mmio_read(off):
    return bytes([0]) + bytes([MMIO_WIN_NET]) + struct.pack('<I', off) + bytes([SIZE4]) + \
        struct.pack('<Q', 0)


def ram(off, data):
    out = b''
    while data:
        part, data = data[:255], data[255:]
        out += bytes([4]) + struct.pack('<I', off) + bytes([len(part)]) + part
        off += len(part)
    return out


def step(n=8):
    return (bytes([6, 63])) * n


QBASE = 0x10000


def queue(q, size=8):
    d = QBASE + q * 0x4000
    return (mmio_write(0x30, q) + mmio_write(0x38, size) + mmio_write(0x80, d) +
            mmio_write(0x84, 0) + mmio_write(0x90, d + 0x1000) + mmio_write(0x94, 0) +
            mmio_write(0xa0, d + 0x2000) + mmio_write(0xa4, 0) + mmio_write(0x44, 1))


def desc(addr, length, flags, nxt=0):
    return struct.pack('<QIHH', addr, length, flags, nxt)


def bring_up(features_lo=0):
    p = mmio_read(0x0) + mmio_write(0x70, 0) + mmio_write(0x70, 1) + mmio_write(0x70, 3)
    p += mmio_write(0x24, 1) + mmio_write(0x20, 1)          # VERSION_1
    p += mmio_write(0x24, 0) + mmio_write(0x20, features_lo)
    p += mmio_write(0x70, 0xb)
    p += queue(0) + queue(1)
    p += mmio_write(0x70, 0xf)
    return p


def rx_buffers(n=8):
    d = QBASE
    table = b''.join(desc(0x40000 + i * 0x800, 0x800, 2) for i in range(n))
    avail = struct.pack('<HH', 0, n) + b''.join(struct.pack('<H', i) for i in range(n))
    return ram(d, table) + ram(d + 0x1000, avail) + mmio_write(0x50, 0)


def tx_frames(n, length, hdr=b'\0' * 12):
    d = QBASE + 0x4000
    frame = bytes.fromhex('525400000a0a525400000b0b0800') + bytes(range(length - 14))
    p = b''
    for i in range(n):
        buf = 0x60000 + i * 0x800
        p += ram(buf, hdr + frame)
        p += ram(d + 16 * i, desc(buf, len(hdr) + len(frame), 0))
    avail = struct.pack('<HH', 0, n) + b''.join(struct.pack('<H', i) for i in range(n))
    return p + ram(d + 0x1000, avail) + mmio_write(0x50, 1)


def main():
    out = sys.argv[1]
    seeds = {
        'net_mmio_up': bring_up() + step(),
        'net_mmio_rx_tx': bring_up() + rx_buffers() + tx_frames(4, 60) + step(16),
        # CSUM (bit 0) and HOST_TSO4 (bit 11) negotiated, a checksum-offload header
        'net_mmio_csum': bring_up(1 | 1 << 11) + rx_buffers() +
        tx_frames(2, 200, struct.pack('<BBHHHHH', 1, 0, 0, 0, 34, 16, 0)) + step(16),
        'net_mmio_reset_midway': bring_up() + tx_frames(3, 100) + mmio_write(0x70, 0) +
        bring_up() + rx_buffers() + step(8),
    }
    for name, data in seeds.items():
        with open(f'{out}/{name}', 'wb') as f:
            f.write(data)


main()
