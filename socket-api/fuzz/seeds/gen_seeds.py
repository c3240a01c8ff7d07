#!/usr/bin/env python3
"""Writes the seed inputs of capi_sockopt (layout: fuzz_targets/capi_sockopt.rs)."""
import os, struct

here = os.path.dirname(os.path.abspath(__file__))
TCP, IP, IPV6 = 0, 1, 2  # level selectors (LEVELS in the target)
GET_SUB_IDS, CLOSE_SUB_ID, GET_SUB_TUPLE, OPEN_SUB_TUPLE, SUB_GET, SUB_SET, LOW_PRIO = 66, 67, 68, 69, 71, 72, 73
NODELAY, MAXSEG, INFO, CONGESTION, IS_MPTCP, TOS, TCLASS = 1, 2, 11, 13, 43, 1, 67
EST = 2 << 3 | 4  # established, fully established


def call(op, level, name, outer, inner=b""):
    return bytes([op, level, name, len(outer), len(inner)]) + outer + inner


def sub(op, sid, level, name, inner):
    return bytes([op | 2, level, name, 0, len(inner), sid]) + inner


def sockaddr_in(ip, port):
    return struct.pack("=H", 2) + struct.pack(">H", port) + bytes(ip) + bytes(8)


def sockaddr_in6(ip16, port):
    return struct.pack("=H", 10) + struct.pack(">H", port) + bytes(4) + bytes(ip16) + bytes(4)


seeds = {
    "sub_ids": bytes([0, 3, EST, EST | 1, EST | 3]) + call(0, TCP, GET_SUB_IDS, bytes(8)),
    "sub_ids_short": bytes([0, 2, EST, EST | 1]) + call(0, TCP, GET_SUB_IDS, bytes(3)),
    "tuple_v4": bytes([0, 2, EST, EST | 1]) + call(0, TCP, GET_SUB_TUPLE, b"\x02" + bytes(35)),
    "tuple_v6": bytes([0, 8 | 1, EST]) + call(0, TCP, GET_SUB_TUPLE, b"\x01" + bytes(40)),
    "open_v4": bytes([0, 1, EST]) + call(0, TCP, OPEN_SUB_TUPLE,
                                         b"\x00\x01\x00\x00" + sockaddr_in([10, 0, 9, 2], 0) + sockaddr_in([10, 0, 0, 1], 443)),
    "open_v6": bytes([0, 8 | 1, EST]) + call(0, TCP, OPEN_SUB_TUPLE,
                                             bytes(4) + sockaddr_in6([0xfd] + [0] * 14 + [9], 0) + sockaddr_in6([0xfd] + [0] * 14 + [1], 443)),
    "close_fin": bytes([0, 2, EST, EST | 1]) + call(0, TCP, CLOSE_SUB_ID, b"\x02\x00\x00\x00" + struct.pack("=i", 1)),
    "ids_overflow": bytes([254, 2, EST, EST]) + call(0, TCP, GET_SUB_IDS, bytes(6)),
    "sub_get_info": bytes([0, 1, EST]) + sub(0, 1, TCP, INFO, bytes(40)),
    "sub_set_cc": bytes([0, 1, EST]) + sub(1, 1, TCP, CONGESTION, b"olia\0") + sub(0, 1, TCP, CONGESTION, bytes(16)),
    "sub_set_prio": bytes([0, 1, EST]) + sub(1, 1, TCP, 0x80, struct.pack("=i", 1)),
    "sub_set_tos": bytes([0, 1, EST]) + sub(1, 1, IP, TOS, struct.pack("=i", 0x128)),
    "sub_set_tclass": bytes([0, 8 | 1, EST]) + sub(1, 1, IPV6, TCLASS, struct.pack("=i", -1)),
    "set_maxseg": bytes([0, 2, EST, EST]) + call(1, TCP, MAXSEG, struct.pack("=i", 1200)) + call(0, TCP, MAXSEG, bytes(4)),
    "is_mptcp": bytes([0, 0]) + call(0, TCP, IS_MPTCP, bytes(2)) + call(0, TCP, INFO, bytes(95)),
    "outer_wrong_len": bytes([0, 1, EST]) + bytes([4 | 2, TCP, NODELAY, 31, 4, 1]) + bytes(4),
}
for name, data in seeds.items():
    with open(os.path.join(here, "capi_sockopt", name), "wb") as f:
        f.write(data)
