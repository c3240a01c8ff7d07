#!/usr/bin/env python3
"""Writes the committed seed corpus: seeds/<target>/<name> (run from anywhere; idempotent).

The bytes are written out by hand from RFC 8684 / RFC 9293 / what Linux puts on the wire, not
produced by the stack's own emitter, so the seeds do not inherit its bugs.

mptcp_option, tcp_options: byte 0 is the OptionContext (bit 0 SYN, 1 ACK, 2 RST, 3 payload),
the rest is one MPTCP option / a TCP option block. segment: a whole IPv4 or IPv6 packet with
valid checksums.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SYN, ACK, RST, PAYLOAD = 1, 2, 4, 8


def h(s):
    return bytes.fromhex(s.replace(" ", ""))


KEY_A, KEY_B = h("0102030405060708"), h("1112131415161718")

# --- single MPTCP options (kind 30) ---------------------------------------------------------
CAPABLE_SYN = h("1e04 01 01")                                   # v1, flags H
CAPABLE_SYNACK = h("1e0c 01 01") + KEY_B
CAPABLE_ACK = h("1e14 01 01") + KEY_A + KEY_B
CAPABLE_DATA = h("1e16 01 01") + KEY_A + KEY_B + h("05dc")     # data_len 1500
CAPABLE_DATA_CSUM = h("1e18 01 81") + KEY_A + KEY_B + h("05dc beef")  # flag A: checksums
JOIN_SYN = h("1e0c 11 02") + h("a1b2c3d4") + h("01020304")     # backup, addr id 2, token, nonce
JOIN_SYNACK = h("1e10 10 00") + h("0011223344556677") + h("05060708")
JOIN_ACK = h("1e18 10 00") + bytes(range(0x40, 0x54))           # 160-bit HMAC
DSS_ACK4 = h("1e08 20 01 00001000")
DSS_ACK4_MAP4 = h("1e12 20 05 00001000 00002000 00000001 0005")
DSS_ACK8_MAP8 = h("1e1a 20 0f 0000000100001000 0000000200002000 00000001 0400")
DSS_ACK8_MAP8_CSUM_FIN = h("1e1c 20 1f 0000000100001000 0000000200002000 00000401 0001 1234")
ADD_ADDR_V4 = h("1e10 30 01 c0000202 0102030405060708")
ADD_ADDR_V4_PORT = h("1e12 30 02 c0000203 1f90 0102030405060708")
ADD_ADDR_V6_ECHO = h("1e14 31 03 20010db8000000000000000000000002")
ADD_ADDR_V6_PORT = h("1e1e 30 04 20010db8000000000000000000000003 1f90 0102030405060708")
REMOVE_ADDR = h("1e05 40 03 04")
PRIO = h("1e03 51")
FAIL = h("1e0c 60 00 0000000200002000")
FASTCLOSE = h("1e0c 70 00") + KEY_B
TCPRST = h("1e04 81 02")                                         # T, reason "lack of resources"

MPTCP_OPTION = {
    "capable_syn": (SYN, CAPABLE_SYN),
    "capable_synack": (SYN | ACK, CAPABLE_SYNACK),
    "capable_ack": (ACK, CAPABLE_ACK),
    "capable_data": (ACK | PAYLOAD, CAPABLE_DATA),
    "capable_data_csum": (ACK | PAYLOAD, CAPABLE_DATA_CSUM),
    "join_syn": (SYN, JOIN_SYN),
    "join_synack": (SYN | ACK, JOIN_SYNACK),
    "join_ack": (ACK, JOIN_ACK),
    "dss_ack4": (ACK, DSS_ACK4),
    "dss_ack4_map4": (ACK | PAYLOAD, DSS_ACK4_MAP4),
    "dss_ack8_map8": (ACK | PAYLOAD, DSS_ACK8_MAP8),
    "dss_csum_fin": (ACK | PAYLOAD, DSS_ACK8_MAP8_CSUM_FIN),
    "add_addr_v4": (ACK, ADD_ADDR_V4),
    "add_addr_v4_port": (ACK, ADD_ADDR_V4_PORT),
    "add_addr_v6_echo": (ACK, ADD_ADDR_V6_ECHO),
    "add_addr_v6_port": (ACK, ADD_ADDR_V6_PORT),
    "remove_addr": (ACK, REMOVE_ADDR),
    "prio": (ACK, PRIO),
    "fail": (ACK, FAIL),
    "fastclose": (ACK | RST, FASTCLOSE),
    "tcprst": (ACK | RST, TCPRST),
}

# --- TCP option blocks, laid out as Linux writes them ---------------------------------------
MSS = h("0204 05b4")
SACKOK_TS = h("0402 080a 00c0ffee 00000000")
NOP_NOP_TS = h("0101 080a 00c0fff0 00c0ffee")
NOP_WS = h("01 030307")


def pad(b):
    return b + b"\x01" * (-len(b) % 4)


TCP_OPTIONS = {
    "syn_mp_capable": (SYN, MSS + SACKOK_TS + NOP_WS + CAPABLE_SYN),
    "synack_mp_capable": (SYN | ACK, MSS + SACKOK_TS + NOP_WS + CAPABLE_SYNACK),
    "ack_mp_capable": (ACK, NOP_NOP_TS + CAPABLE_ACK),
    "data_mp_capable_csum": (ACK | PAYLOAD, NOP_NOP_TS + CAPABLE_DATA_CSUM),
    "syn_mp_join": (SYN, MSS + SACKOK_TS + NOP_WS + JOIN_SYN),
    "synack_mp_join": (SYN | ACK, MSS + SACKOK_TS + NOP_WS + JOIN_SYNACK),
    "ack_mp_join": (ACK, NOP_NOP_TS + JOIN_ACK),
    "data_dss_ts": (ACK | PAYLOAD, NOP_NOP_TS + pad(DSS_ACK8_MAP8)),
    "data_dss4_ts": (ACK | PAYLOAD, NOP_NOP_TS + pad(DSS_ACK4_MAP4)),
    "ack_sack_dss_ts": (ACK, NOP_NOP_TS + h("0101 0512 00003000 00004000 00005000 00006000") + DSS_ACK4),
    "ack_add_addr_dss_ts": (ACK, NOP_NOP_TS + ADD_ADDR_V4 + DSS_ACK4),
    "ack_remove_addr_prio": (ACK, NOP_NOP_TS + pad(REMOVE_ADDR) + pad(PRIO)),
    "rst_tcprst_fastclose": (ACK | RST, TCPRST + FASTCLOSE),
    "ack_fail_dss": (ACK | PAYLOAD, FAIL + pad(DSS_ACK4_MAP4)),
    # Options the stack does not implement (MD5 kind 19, TFO kind 34) and an early EOL.
    "unknown_and_eol": (SYN, MSS + h("1312") + bytes(16) + h("2206 0102 0304") + h("00000000")),
}


# --- whole packets ----------------------------------------------------------------------------
def csum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tcp(src, dst, sport, dport, seq, ack, flags, window, options, payload):
    assert len(options) % 4 == 0 and len(options) <= 40
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, window, 0, 0) + options
    seg = hdr + payload
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
    else:
        pseudo = src + dst + struct.pack("!IxxxB", len(seg), 6)
    c = csum(pseudo + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def ipv4(src, dst, segment, ip_options=b"", tos=0, ttl=64):
    ihl = (20 + len(ip_options)) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, 20 + len(ip_options) + len(segment), 0x1234,
                      0x4000, ttl, 6, 0, src, dst) + ip_options
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + segment


def ipv6(src, dst, segment, tclass=0, hop=64):
    first = (6 << 28) | (tclass << 20) | 0x12345
    return struct.pack("!IHBB", first, len(segment), 6, hop) + src + dst + segment


A4, B4 = h("c0000201"), h("c6336402")
A6, B6 = h("20010db8000000000000000000000001"), h("20010db8000000010000000000000002")
F_FIN, F_SYN, F_RST, F_PSH, F_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def v4(opts, flags, payload=b"", **kw):
    return ipv4(A4, B4, tcp(A4, B4, 40000, 80, 1000, 2000 if flags & F_ACK else 0, flags, 64240, opts, payload), **kw)


def v6(opts, flags, payload=b"", **kw):
    return ipv6(A6, B6, tcp(A6, B6, 40000, 443, 1000, 2000 if flags & F_ACK else 0, flags, 65535, opts, payload), **kw)


SEGMENT = {
    "v4_syn_mp_capable": v4(MSS + SACKOK_TS + NOP_WS + CAPABLE_SYN, F_SYN),
    "v6_synack_mp_capable": v6(MSS + SACKOK_TS + NOP_WS + CAPABLE_SYNACK, F_SYN | F_ACK, tclass=0x28),
    "v4_ack_mp_capable": v4(NOP_NOP_TS + CAPABLE_ACK, F_ACK),
    "v4_data_dss_ts": v4(NOP_NOP_TS + pad(DSS_ACK8_MAP8), F_ACK | F_PSH, b"hello, mptcp\n", tos=0x02),
    "v6_data_dss_csum_fin": v6(NOP_NOP_TS + DSS_ACK8_MAP8_CSUM_FIN, F_ACK | F_FIN, b"x"),
    "v6_syn_mp_join": v6(MSS + SACKOK_TS + NOP_WS + JOIN_SYN, F_SYN),
    "v4_ack_sack_dss": v4(NOP_NOP_TS + h("0101 0512 00003000 00004000 00005000 00006000") + DSS_ACK4, F_ACK),
    "v4_rst_tcprst": v4(TCPRST + FASTCLOSE, F_RST | F_ACK),
    # IPv4 header with options (NOP, NOP, NOP, EOL), which the parser must skip.
    "v4_ip_options_add_addr": v4(NOP_NOP_TS + ADD_ADDR_V4 + DSS_ACK4, F_ACK, ip_options=h("01010100")),
}


def write(target, files):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    write("mptcp_option", {k: bytes([c]) + o for k, (c, o) in MPTCP_OPTION.items()})
    for k, (c, o) in TCP_OPTIONS.items():
        assert len(o) <= 40 and len(o) % 4 == 0, (k, len(o))
    write("tcp_options", {k: bytes([c]) + o for k, (c, o) in TCP_OPTIONS.items()})
    write("segment", SEGMENT)


if __name__ == "__main__":
    main()
