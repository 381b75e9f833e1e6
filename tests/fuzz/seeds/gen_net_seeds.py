#!/usr/bin/env python3
"""Writes the hand-made seeds of the network fuzz targets (fuzz_net_*, fuzz_peer_host):
inputs in the operation encoding of tests/fuzz/fuzz_net.h and fuzz_peer_host.c that reach
deep states at once (software TSO of the largest gso_size behind a VLAN tag, mergeable
buffers held across passes, MAC tables, GSO from the TAP, ...). Run from anywhere:
    python3 tests/fuzz/seeds/gen_net_seeds.py"""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))

def bit(*b):
    return sum(1 << x for x in b)

CSUM, GCSUM, MTU, MAC, GTSO4, GTSO6, GECN = 0, 1, 3, 5, 7, 8, 9
HTSO4, HTSO6, HECN, MRG, STATUS, CVQ, CRX, CRXX, CMAC = 11, 12, 13, 15, 16, 17, 18, 20, 23
IND, EVIDX = 28, 29
ALL = bit(CSUM, GCSUM, MTU, MAC, GTSO4, GTSO6, GECN, HTSO4, HTSO6, HECN, MRG, STATUS, CVQ, CRX,
          CRXX, CMAC, IND, EVIDX)

def start(features, q=(8, 8, 8)):
    return struct.pack('<I', features & 0xffffffff) + bytes(q)

def u16(v):
    return struct.pack('<H', v)

def hdr(flags=0, gso_type=0, hdr_len=0, gso_size=0, cs=0, co=0):
    return struct.pack('<BBHHHHH', flags, gso_type, hdr_len, gso_size, cs, co, 0)

PASS = b'\x00'

def tx(mode, length, shape, gso_raw=0, pieces=()):
    """op 2: mode, len, frame (shape + up to 64 raw bytes), header, pieces."""
    raw = bytes(min(length, 64))
    out = b'\x02' + bytes([mode]) + u16(length) + bytes([shape]) + raw
    out += hdr(gso_size=gso_raw)
    out += bytes([len(pieces)])  # nseg = 1 + this
    for p in pieces:
        out += u16(p)
    return out

def rx_post(mode, size):
    return b'\x04' + bytes([mode]) + u16(size)

def peer_send(mode, length, shape=0, dst=b'', h=None):
    out = b'\x05' + bytes([mode]) + u16(length)
    if mode & 7 >= 3:
        out += dst
    out += bytes([shape]) + bytes(min(length, 64))
    out += h if h is not None else hdr()
    return out

def ctrl(mode, cls_cmd=b'', body=b''):
    return b'\x07' + bytes([mode]) + cls_cmd + body

def write(target, name, data):
    d = os.path.join(here, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)

# fuzz_net_tx: software TSO for a plain peer (peerfeats 0), VLAN, the largest gso_size
# (65535 - 40 = 65495); IPv6 with options split over descriptors; pass-through.
feat = bit(CSUM, MAC, HTSO4, HTSO6, HECN, STATUS, IND, EVIDX)
write('fuzz_net_tx', 'vlan_tso_65495', start(feat) + b'\x00' +
      tx(0x09, 2058, 0x03, gso_raw=40) + PASS * 4)
write('fuzz_net_tx', 'tso_v6_split', start(feat) + b'\x00' +
      tx(0x01, 9000, 0x05 | 0x20, gso_raw=1448 & 0xffff, pieces=(5, 7, 100, 3000)) + PASS * 4)
write('fuzz_net_tx', 'tso_passthrough_indirect', start(feat) + b'\x01' +
      tx(0x21, 30000, 0x01, gso_raw=1448, pieces=(12,)) + PASS * 3)
write('fuzz_net_tx', 'ring_full_stall', start(feat) + b'\x00' +
      (tx(0x80, 0, 0x00) + PASS) * 6 + b'\x0a' + PASS + b'\x09\x02' + PASS * 3)

# fuzz_net_rx: mergeable buffers held across passes (small buffers posted a few at a time
# while a 60 KiB frame waits), frames of every size, a GSO frame for a TSO guest.
feat = bit(CSUM, GCSUM, GTSO4, GTSO6, MRG, MAC, STATUS, EVIDX)
write('fuzz_net_rx', 'mrg_held', start(feat) +
      peer_send(0x80, 60000 - 61440 + 4096 & 0xffff) + rx_post(0x0f, 1500) + PASS +
      rx_post(0x0f, 1500) + PASS + tx(0x00, 60, 0) + rx_post(0x3f, 4000) + PASS * 3)
write('fuzz_net_rx', 'gso_to_tso_guest', start(feat) + rx_post(0x00, 2048) +
      peer_send(0x88 | 0x10, 4000, shape=0x01) + rx_post(0x8f, 0) + PASS * 3)
write('fuzz_net_rx', 'no_mrg_too_big', start(bit(MAC, STATUS)) + rx_post(0x03, 1000) +
      peer_send(0x01, 3000) + peer_send(0x00, 500) + PASS * 3)

# fuzz_net_ctrl: RX modes, a MAC table with more entries than the table holds, ADDR_SET,
# then frames to listed and unlisted addresses.
feat = bit(MAC, STATUS, CVQ, CRX, CRXX, CMAC, MRG)
mac_table = ctrl(0x01, bytes([0]), bytes([3, 70]) + bytes(3) + bytes(70))  # uni 3, multi 70
write('fuzz_net_ctrl', 'filter_tables', start(feat) + rx_post(0x0f, 2048) +
      ctrl(0x00, bytes([0]), b'\x00') + PASS +          # PROMISC off
      mac_table + PASS +
      ctrl(0x01, bytes([1]), b'\x52\x54\x00\x00\x00\x09') + PASS +  # ADDR_SET
      peer_send(0x00, 100) + peer_send(0x01, 100) + peer_send(0x02, 100) +
      peer_send(0x03, 100, dst=b'\x52\x54\x00\x00\x00\x09') + PASS * 3)
write('fuzz_net_ctrl', 'malformed', start(feat) + ctrl(0x10, bytes([3])) + ctrl(0x40) +
      ctrl(0x82, b'\x09\x09', b'\x05' + bytes(5)) + PASS * 3)

# fuzz_net_ctrl, interrupt moderation: bit 21 of the start word asks for NOTF_COAL (feature
# 53), bits 24..26 pick the device's defaults (fn_coal_defaults); op 15 a NOTF_COAL command
# (mode, frames index, usecs index), op 14 time passing (us; 0x1e: ms).
NOTF = 21
def pick(n):
    return n << 24
def coal(mode, fi, ui, extra=b''):
    return b'\x0f' + bytes([mode, fi, ui]) + extra
def later(us, ms=False):
    return (b'\x1e' if ms else b'\x0e') + u16(us)
feat = bit(MAC, STATUS, CVQ, CRX, MRG, EVIDX)
write('fuzz_net_ctrl', 'coal_commands', start(feat | bit(NOTF) | pick(3)) + rx_post(0x0f, 2048) +
      coal(0, 4, 4) + PASS + (tx(0x00, 60, 0) + PASS) * 3 + later(500) + PASS +
      coal(0, 2, 4) + PASS + (tx(0x00, 60, 0) + PASS) * 2 +
      coal(1, 3, 3) + PASS + peer_send(0x01, 100) * 4 + PASS + later(200) + PASS +
      coal(0x10, 0, 0, bytes([7])) + coal(2, 0, 0) + coal(0, 0, 7) + PASS * 2)
write('fuzz_net_ctrl', 'coal_adaptive_defaults', start(feat | pick(4)) + rx_post(0x0f, 2048) +
      peer_send(0x01, 100) * 3 + PASS + later(100) + PASS + (tx(0x00, 60, 0) + PASS) * 2 +
      later(1, ms=True) + PASS + peer_send(0x01, 60) + PASS)
write('fuzz_net_ctrl', 'coal_held_across_reset', start(feat | bit(NOTF) | pick(6)) +
      rx_post(0x0f, 2048) + (tx(0x00, 60, 0) + PASS) * 2 + peer_send(0x01, 100) + PASS +
      b'\x0c' + start(feat | bit(NOTF) | pick(1)) + rx_post(0x03, 2048) +
      peer_send(0x01, 100) * 3 + PASS + later(60) + PASS)

# fuzz_net_ctrl, multiqueue (its NIC has `queues 4`): feature 22 is MQ, bit 27 of the start
# word asks for RSS (feature 60). With either, op 4 takes one more byte (the pair whose rx
# queue gets the buffers), op 2 with mode 0x40 one at its end (the pair that sends), and op 7
# with mode 0x06 is a multiqueue command (fn_op_mq): VQ_PAIRS_SET (sel even: the value) or
# RSS_CONFIG (sel odd: types, log2 of the table length, unclassified, spread, max_tx_vq, key).
MQ, RSS_BIT = 22, 27
def rx_post_q(mode, size, pair):
    return rx_post(mode, size) + bytes([pair])
def pairs_set(v):
    return ctrl(0x06) + bytes([0x00, v])
def rss(types, log2_len, unclassified, spread, max_tx):
    return ctrl(0x06) + bytes([0x01, types, log2_len, unclassified, spread, max_tx]) + \
        bytes(range(0x40, 0x68))
feat = bit(MAC, STATUS, CVQ, CRX, MRG, EVIDX, MQ)
posts = b''.join(rx_post_q(0x0f, 2048, p) for p in range(4))
flows = b''.join(peer_send(0x00, 120, shape=s) for s in (0x01, 0x03, 0x05, 0x07, 0x09, 0x11))
write('fuzz_net_ctrl', 'mq_steering', start(feat) + posts + pairs_set(4) + PASS +
      tx(0x40, 120, 0x01) + bytes([2]) + PASS + flows + PASS * 2 + pairs_set(1) + PASS +
      flows + PASS * 2 + pairs_set(5) + PASS)
write('fuzz_net_ctrl', 'mq_rss', start(feat | bit(RSS_BIT)) + posts +
      rss(0x3f, 7, 1, 0, 4) + PASS + flows + PASS * 2 + rss(0x02, 2, 3, 1, 2) + PASS + flows +
      PASS * 2 + pairs_set(2) + PASS + flows + PASS * 2)

# fuzz_net_tap: a GSO frame from the "kernel" for a guest without TSO (segmented here),
# a frame longer than the read buffer, a short read.
feat = bit(CSUM, GCSUM, MAC, STATUS, MRG, HTSO4)
def tap_send(mode, length, shape=0, h=None):
    return b'\x05' + bytes([mode]) + u16(length) + bytes([shape]) + bytes(min(length, 64)) + \
        (h if h is not None else hdr()) + (b'\x05' if mode & 0x40 else b'')
write('fuzz_net_tap', 'gso_segmented', start(feat) + rx_post(0x0f, 2048) + rx_post(0x0f, 2048) +
      tap_send(0x02, 20000, shape=0x01, h=hdr(gso_size=1448)) + PASS * 4 + b'\x09')
write('fuzz_net_tap', 'too_long_and_short', start(feat) + rx_post(0x8f, 1000) +
      tap_send(0x80, 0x1000 + 200) + tap_send(0x40, 10) + tap_send(0x00, 60) + PASS * 3 +
      tx(0x01, 3000, 0x01, gso_raw=1448) + PASS + b'\x09')

# fuzz_peer_host: offload on, the guest without TSO: a VLAN TSO frame of the largest
# gso_size from the TAP (one segment), a guest TSO frame to the TAP, a full guest ring.
def host_start(offload, features):
    return bytes([offload]) + struct.pack('<I', features)
def host_frame(op, mode, length, shape, gso_raw=0):
    return bytes([op, mode]) + u16(length) + bytes([shape]) + bytes(min(length, 48)) + \
        hdr(gso_size=gso_raw)
PUMP, GDRAIN, KDRAIN = b'\x04', b'\x05', b'\x06'
write('fuzz_peer_host', 'vlan_tso_65495_from_tap', host_start(1, bit(GCSUM)) +
      host_frame(2, 0x0a, 2058, 0x03, gso_raw=40) + PUMP + GDRAIN + PUMP)
write('fuzz_peer_host', 'guest_tso_to_tap', host_start(1, bit(GCSUM, GTSO4, GTSO6)) +
      host_frame(0, 0x02, 30000, 0x01, gso_raw=1448) + PUMP + KDRAIN +
      host_frame(2, 0x02, 20000, 0x05, gso_raw=1448) + PUMP + GDRAIN)
write('fuzz_peer_host', 'guest_ring_full', host_start(0, 0) +
      (host_frame(2, 0x80, 0x0f00, 0x00) ) * 8 + PUMP * 3 + b'\x0d' + PUMP + GDRAIN + PUMP)

# fuzz_peer_ring: good records then bad ones (first byte odd: the ring part), and a proper
# handshake from a fake peer (even: the control part).
write('fuzz_peer_ring', 'records', b'\x01\x20' + (b'\x09' + u16(100)) * 4 + b'\x03' +
      b'\x00\x05' + b'\x03' + b'\x09' + u16(3000) + b'\x01\x07\x01\x00' + b'\x03' +
      b'\x06\x06' + u16(60000) + b'\x08\x10' + struct.pack('<I', 0x12345677) + b'\x00' +
      b'\x07\x06' + u16(1000) + b'\x03')
# listen as B, HELLO (instance 42, ring size right, features), service, accept A's
# connection and ACK it: the link comes up; then FEATURES-like junk on B's out connection.
write('fuzz_peer_ring', 'handshake', b'\x00\x08' + b'\x02' + b'\x03\x03' + bytes(8) +
      b'\x07' + b'\x24' + b'\x07' + b'\x05\x10' + bytes(8) + b'\x04' + b'\x07')
