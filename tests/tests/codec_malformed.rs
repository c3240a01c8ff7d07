//! Malformed input: every length of every subtype on every kind of segment, truncations, bad
//! flags and versions, broken option blocks and broken IP/TCP headers. Each must be an error
//! (or a counted, skipped option), never a panic.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mptcp_stack::wire::mptcp::{CapablePhase, DssRepr};
use mptcp_stack::wire::{
    ChecksumMode, Error, MptcpRepr, OptionContext, SegmentRepr, Subtype, TcpFlags, TcpOptions, Timestamp,
};

/// Every combination of the segment bits an option's validity depends on.
fn all_contexts() -> impl Iterator<Item = OptionContext> {
    (0u8..16).map(|b| OptionContext { syn: b & 1 != 0, ack: b & 2 != 0, rst: b & 4 != 0, has_payload: b & 8 != 0 })
}

/// The lengths RFC 8684 (and the kernel's parser) allow, written out independently of the codec.
fn allowed_lengths(subtype: u8, nibble: u8, byte3: u8, ctx: OptionContext) -> BTreeSet<usize> {
    let set = |v: &[usize]| v.iter().copied().collect::<BTreeSet<_>>();
    match subtype {
        // MP_CAPABLE §3.1: SYN 4, SYN/ACK 12, third ACK 20, first data 22 (+2 checksum).
        0 => match (ctx.syn, ctx.ack, ctx.has_payload) {
            (true, false, _) => set(&[4]),
            (true, true, _) => set(&[12]),
            (false, _, false) => set(&[20]),
            (false, _, true) => set(&[22, 24]),
        },
        // MP_JOIN §3.2: SYN 12, SYN/ACK 16, third ACK 24.
        1 => match (ctx.syn, ctx.ack) {
            (true, false) => set(&[12]),
            (true, true) => set(&[16]),
            (false, true) => set(&[24]),
            (false, false) => set(&[]),
        },
        _ if ctx.syn && subtype != 8 => set(&[]),
        // DSS §3.3 Fig. 9: 4 + DATA_ACK (4|8) + mapping (10|14) (+2 checksum with a mapping).
        2 => {
            let f = byte3;
            let ack = if f & 1 != 0 { if f & 2 != 0 { 8 } else { 4 } } else { 0 };
            let map = if f & 4 != 0 { if f & 8 != 0 { 14 } else { 10 } } else { 0 };
            let base = 4 + ack + map;
            if map > 0 { set(&[base, base + 2]) } else { set(&[base]) }
        }
        // ADD_ADDR §3.4.1: v4 16/18, v6 28/30; echo 8 bytes shorter.
        3 if nibble & 1 != 0 => set(&[8, 10, 20, 22]),
        3 => set(&[16, 18, 28, 30]),
        // REMOVE_ADDR §3.4.2: 3 + 1..=8 ids.
        4 => (4..=11).collect(),
        // MP_PRIO §3.3.8.
        5 => set(&[3]),
        // MP_FAIL §3.7, MP_FASTCLOSE §3.5.
        6 | 7 => set(&[12]),
        // MP_TCPRST §3.6: only on a RST.
        8 if ctx.rst => set(&[4]),
        _ => set(&[]),
    }
}

/// An option of `len` bytes with the given header and a filler body.
fn option_bytes(subtype: u8, nibble: u8, byte3: u8, len: usize) -> Vec<u8> {
    let mut b = vec![30, len as u8, (subtype << 4) | nibble, byte3];
    b.extend((4..len).map(|i| i as u8));
    b.truncate(len);
    b
}

/// (nibble, byte3) variants worth trying per subtype: a valid MP_CAPABLE header, every DSS flag
/// combination, ADD_ADDR with and without echo.
fn header_variants(subtype: u8) -> Vec<(u8, u8)> {
    match subtype {
        0 => vec![(1, 0x01), (1, 0x81), (1, 0x21)],
        2 => (0..32).map(|f| (0, f)).collect(),
        3 => vec![(0, 1), (1, 1)],
        _ => vec![(0, 0), (1, 0)],
    }
}

#[test]
fn every_length_of_every_subtype_on_every_segment() {
    let mut accepted = 0;
    let mut rejected = 0;
    for subtype in 0u8..16 {
        for (nibble, byte3) in header_variants(subtype) {
            for ctx in all_contexts() {
                let allowed = allowed_lengths(subtype, nibble, byte3, ctx);
                for len in 3..=40 {
                    let bytes = option_bytes(subtype, nibble, byte3, len);
                    let result = MptcpRepr::parse_bytes(&bytes, ctx);
                    assert_eq!(
                        result.is_ok(),
                        allowed.contains(&len),
                        "subtype {subtype:#x} nibble {nibble:#x} byte3 {byte3:#04x} len {len} {ctx:?}: {result:?}"
                    );
                    if result.is_ok() {
                        accepted += 1;
                    } else {
                        rejected += 1;
                    }
                }
            }
        }
    }
    assert!(accepted > 500 && rejected > 10_000, "accepted {accepted}, rejected {rejected}");
}

#[test]
fn every_truncation_of_every_valid_option_is_an_error() {
    for subtype in 0u8..16 {
        for (nibble, byte3) in header_variants(subtype) {
            for ctx in all_contexts() {
                for len in allowed_lengths(subtype, nibble, byte3, ctx) {
                    let bytes = option_bytes(subtype, nibble, byte3, len);
                    for cut in 0..len {
                        let r = MptcpRepr::parse_bytes(&bytes[..cut], ctx);
                        assert!(
                            matches!(r, Err(Error::Truncated | Error::OptionOverrun)),
                            "subtype {subtype} len {len} cut to {cut}: {r:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn length_byte_below_header_is_an_error() {
    for len in 0..3u8 {
        let bytes = [30, len, 0x20, 0x01, 0, 0, 0, 0];
        assert_eq!(MptcpRepr::parse_bytes(&bytes, OptionContext::default()), Err(Error::OptionOverrun));
    }
    assert_eq!(MptcpRepr::parse_bytes(&[2, 4, 0x20, 0x01], OptionContext::default()), Err(Error::BadHeader));
}

fn ack_ctx() -> OptionContext {
    OptionContext { ack: true, ..Default::default() }
}

#[test]
fn mp_capable_flags_and_versions() {
    let syn = OptionContext { syn: true, ..Default::default() };
    let synack = OptionContext { syn: true, ack: true, ..Default::default() };
    let mpc = |version: u8, flags: u8| {
        let mut b = vec![30, 12, version, flags];
        b.extend([0x11; 8]);
        b
    };
    // §3.1: B (extensibility) set, H clear, or any of D-G set → the option is ignored.
    for flags in [0x41, 0x00, 0x80, 0x03, 0x05, 0x09, 0x11] {
        assert_eq!(MptcpRepr::parse_bytes(&mpc(1, flags), synack), Err(Error::BadFlags(flags)), "{flags:#x}");
    }
    // A and C are allowed.
    for flags in [0x01, 0x81, 0x21, 0xa1] {
        assert!(MptcpRepr::parse_bytes(&mpc(1, flags), synack).is_ok(), "{flags:#x}");
    }
    // Version: a SYN may offer a higher one, nothing may carry 0, later packets must carry 1.
    assert_eq!(MptcpRepr::parse_bytes(&mpc(0, 1), synack), Err(Error::BadVersion(0)));
    assert_eq!(MptcpRepr::parse_bytes(&mpc(2, 1), synack), Err(Error::BadVersion(2)));
    assert_eq!(MptcpRepr::parse_bytes(&[30, 4, 0x00, 0x01], syn), Err(Error::BadVersion(0)));
    match MptcpRepr::parse_bytes(&[30, 4, 0x02, 0x01], syn) {
        Ok(MptcpRepr::Capable(c)) => assert_eq!((c.version, c.phase), (2, CapablePhase::Syn)),
        other => panic!("v2 SYN should parse: {other:?}"),
    }
}

#[test]
fn options_on_the_wrong_segment() {
    let rst_opt = [30, 4, 0x80, 0x01];
    assert_eq!(MptcpRepr::parse_bytes(&rst_opt, ack_ctx()), Err(Error::WrongSegment(Subtype::MpTcpRst)));
    let with_rst = OptionContext { rst: true, ..ack_ctx() };
    assert!(MptcpRepr::parse_bytes(&rst_opt, with_rst).is_ok());
    let syn = OptionContext { syn: true, ..Default::default() };
    assert_eq!(MptcpRepr::parse_bytes(&[30, 8, 0x20, 0x01, 0, 0, 0, 1], syn), Err(Error::WrongSegment(Subtype::Dss)));
    // MP_JOIN third-ACK form on a segment with neither SYN nor ACK.
    let mut join_ack = vec![30, 24, 0x10, 0];
    join_ack.extend([7; 20]);
    assert_eq!(MptcpRepr::parse_bytes(&join_ack, OptionContext::default()), Err(Error::WrongSegment(Subtype::MpJoin)));
}

#[test]
fn dss_reserved_bits_are_ignored_and_checksum_needs_a_mapping() {
    // Reserved bits 5-7 set: parsed as the defined bits say (RFC 8684 §3.3: ignored on receipt).
    let b = [30, 8, 0x2f, 0xe1, 0, 0, 0, 9];
    let parsed = MptcpRepr::parse_bytes(&b, ack_ctx()).unwrap();
    let MptcpRepr::Dss(d) = parsed else { panic!("{parsed:?}") };
    assert_eq!(d, DssRepr { data_ack: Some(mptcp_stack::wire::mptcp::SeqNum::Short(9)), ..Default::default() });
    // A 4-byte DATA_ACK with two more bytes: a checksum without a mapping is invalid.
    let b = [30, 10, 0x20, 0x01, 0, 0, 0, 9, 0xab, 0xcd];
    assert_eq!(MptcpRepr::parse_bytes(&b, ack_ctx()), Err(Error::BadLength { subtype: 2, len: 10 }));
}

#[test]
fn unknown_subtypes_are_errors() {
    for st in 9u8..16 {
        let b = [30, 4, st << 4, 0];
        assert_eq!(MptcpRepr::parse_bytes(&b, ack_ctx()), Err(Error::UnknownSubtype(st)));
    }
}

#[test]
fn option_blocks_that_overrun_are_errors() {
    let cases: &[&[u8]] = &[
        &[8],                        // kind with no length byte
        &[8, 10, 0, 0],              // length past the end
        &[1, 1, 30, 12, 0x20, 0x01], // MPTCP option running past the block
        &[2, 0],                     // length 0
        &[2, 1, 1, 1],               // length 1
        &[1, 1, 1, 5],               // NOPs then a lone kind
    ];
    for c in cases {
        assert_eq!(TcpOptions::parse(c, ack_ctx()), Err(Error::OptionOverrun), "{c:?}");
    }
    // Anything after EOL is padding and is not parsed.
    let (opts, ignored) = TcpOptions::parse(&[0, 8, 200, 7], ack_ctx()).unwrap();
    assert_eq!((opts, ignored.count), (TcpOptions::default(), 0));
}

#[test]
fn a_bad_option_is_skipped_and_counted_the_rest_kept() {
    // NOP NOP TS, then a DSS whose length does not match its flags, then MP_PRIO.
    let mut block = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    block.extend([30, 9, 0x20, 0x01, 0, 0, 0, 1, 0]);
    block.extend([30, 3, 0x51, 1]);
    let (opts, ignored) = TcpOptions::parse(&block, ack_ctx()).unwrap();
    assert_eq!(opts.timestamp, Some(Timestamp { tsval: 1, tsecr: 2 }));
    assert!(opts.mptcp.dss.is_none());
    assert_eq!(opts.mptcp.prio.map(|p| p.backup), Some(true));
    assert_eq!(ignored.count, 1);
    assert_eq!(ignored.last_mptcp_error, Some(Error::BadLength { subtype: 2, len: 9 }));
    // Standard options with wrong lengths or on the wrong segment are skipped and counted too.
    let block = [2, 4, 5, 180, 8, 6, 0, 0, 0, 0, 5, 3, 0];
    let (opts, ignored) = TcpOptions::parse(&block, ack_ctx()).unwrap();
    assert_eq!((opts, ignored.count), (TcpOptions::default(), 3), "MSS off-SYN, TS len 6, SACK len 3");
}

fn sample_segment(payload: &[u8], v6: bool) -> Vec<u8> {
    let (src, dst) = if v6 {
        (IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)), IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)))
    } else {
        (IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2)))
    };
    let mut options = TcpOptions { timestamp: Some(Timestamp { tsval: 5, tsecr: 6 }), ..Default::default() };
    options.mptcp.dss =
        Some(DssRepr { data_ack: Some(mptcp_stack::wire::mptcp::SeqNum::Long(77)), ..Default::default() });
    let seg = SegmentRepr {
        src,
        dst,
        tos: 0,
        hop_limit: 64,
        src_port: 40000,
        dst_port: 5000,
        seq: 1,
        ack: 2,
        flags: TcpFlags::ACK,
        window: 100,
        options,
        payload,
    };
    let mut buf = vec![0; 200];
    let (len, _) = seg.emit(&mut buf, ChecksumMode::Full).unwrap();
    buf.truncate(len);
    buf
}

#[test]
fn every_truncated_packet_is_an_error() {
    for v6 in [false, true] {
        let pkt = sample_segment(b"hello", v6);
        assert!(SegmentRepr::parse(&pkt, ChecksumMode::Full).is_ok());
        for cut in 0..pkt.len() {
            assert!(SegmentRepr::parse(&pkt[..cut], ChecksumMode::Offloaded).is_err(), "v6={v6} cut {cut}");
        }
    }
}

#[test]
fn broken_headers_and_checksums() {
    let good = sample_segment(b"data", false);
    let parse = |p: &[u8]| SegmentRepr::parse(p, ChecksumMode::Full).map(|_| ());
    let mut p = good.clone();
    p[8] ^= 1; // TTL: IPv4 header checksum no longer matches
    assert_eq!(parse(&p), Err(Error::BadChecksum));
    let mut p = good.clone();
    *p.last_mut().unwrap() ^= 0xff; // payload: TCP checksum no longer matches
    assert_eq!(parse(&p), Err(Error::BadChecksum));
    assert_eq!(SegmentRepr::parse(&p, ChecksumMode::Offloaded).map(|_| ()), Ok(()), "offload trusts checksums");
    let mut p = good.clone();
    p[0] = 0x55; // IP version 5
    assert_eq!(parse(&p), Err(Error::BadHeader));
    let mut p = good.clone();
    p[6] |= 0x20; // more fragments
    assert_eq!(SegmentRepr::parse(&p, ChecksumMode::Offloaded).map(|_| ()), Err(Error::Unsupported));
    let mut p = good.clone();
    p[9] = 17; // UDP
    assert_eq!(SegmentRepr::parse(&p, ChecksumMode::Offloaded).map(|_| ()), Err(Error::Unsupported));
    let mut p = good.clone();
    p[20 + 12] = 4 << 4; // TCP data offset below 5 words
    assert!(SegmentRepr::parse(&p, ChecksumMode::Offloaded).is_err());
    let mut p = good.clone();
    p[20 + 12] = 15 << 4; // data offset past the end of the packet
    assert!(SegmentRepr::parse(&p, ChecksumMode::Offloaded).is_err());
    let mut p = good.clone();
    p[20] = 0; // source port 0
    p[21] = 0;
    assert_eq!(SegmentRepr::parse(&p, ChecksumMode::Offloaded).map(|_| ()), Err(Error::BadHeader));
    let mut p = sample_segment(b"data", true);
    p[6] = 0; // IPv6 next header: hop-by-hop extension header
    assert_eq!(SegmentRepr::parse(&p, ChecksumMode::Offloaded).map(|_| ()), Err(Error::Unsupported));
}

#[test]
fn a_segment_longer_than_the_ip_length_field_is_refused() {
    let payload = vec![0u8; 65_536];
    let seg = SegmentRepr {
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2)),
        tos: 0,
        hop_limit: 64,
        src_port: 1,
        dst_port: 2,
        seq: 0,
        ack: 0,
        flags: TcpFlags::ACK,
        window: 0,
        options: TcpOptions::default(),
        payload: &payload,
    };
    let mut buf = vec![0u8; 70_000];
    assert_eq!(seg.emit(&mut buf, ChecksumMode::Full).map(|_| ()), Err(Error::TooLong));
    let fits = SegmentRepr { payload: &payload[..65_535 - 40], ..seg };
    assert!(fits.emit(&mut buf, ChecksumMode::Full).is_ok());
}
