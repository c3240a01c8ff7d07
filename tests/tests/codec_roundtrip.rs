//! Property tests: for every option type, `parse(emit(x)) == x`, and the option block and whole
//! segments round-trip too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mptcp_stack::wire::mptcp::{
    AddAddrRepr, CapableFlags, CapablePhase, CapableRepr, DssRepr, FailRepr, FastCloseRepr, JoinRepr, Mapping,
    PrioRepr, RemoveAddrRepr, ResetReason, SeqNum, TcpRstRepr,
};
use mptcp_stack::wire::{
    ChecksumMode, MptcpOptions, MptcpRepr, OptionContext, SackBlocks, SegmentRepr, TcpFlags, TcpOptions, Timestamp,
};
use proptest::prelude::*;

fn seq_num() -> impl Strategy<Value = SeqNum> {
    prop_oneof![any::<u32>().prop_map(SeqNum::Short), any::<u64>().prop_map(SeqNum::Long)]
}

fn ip_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ]
}

fn capable() -> impl Strategy<Value = CapableRepr> {
    let flags = (any::<bool>(), any::<bool>())
        .prop_map(|(checksum_required, deny_join_id0)| CapableFlags { checksum_required, deny_join_id0 });
    let phase = prop_oneof![
        Just(CapablePhase::Syn),
        any::<u64>().prop_map(|sender_key| CapablePhase::SynAck { sender_key }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(sender_key, receiver_key)| CapablePhase::Ack { sender_key, receiver_key }),
        (any::<u64>(), any::<u64>(), any::<u16>(), any::<Option<u16>>()).prop_map(
            |(sender_key, receiver_key, data_len, checksum)| CapablePhase::Data {
                sender_key,
                receiver_key,
                data_len,
                checksum
            }
        ),
    ];
    (flags, phase, 1u8..=15).prop_map(|(flags, phase, syn_version)| {
        // Only a SYN may offer a version above 1.
        let version = if phase == CapablePhase::Syn { syn_version } else { 1 };
        CapableRepr { version, flags, phase }
    })
}

fn join() -> impl Strategy<Value = JoinRepr> {
    prop_oneof![
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<u32>())
            .prop_map(|(backup, addr_id, token, nonce)| JoinRepr::Syn { backup, addr_id, token, nonce }),
        (any::<bool>(), any::<u8>(), any::<u64>(), any::<u32>()).prop_map(
            |(backup, addr_id, truncated_hmac, nonce)| JoinRepr::SynAck { backup, addr_id, truncated_hmac, nonce }
        ),
        any::<[u8; 20]>().prop_map(|hmac| JoinRepr::Ack { hmac }),
    ]
}

fn dss() -> impl Strategy<Value = DssRepr> {
    let mapping = (seq_num(), any::<u32>(), any::<u16>(), any::<Option<u16>>())
        .prop_map(|(dsn, ssn, data_len, checksum)| Mapping { dsn, ssn, data_len, checksum });
    (proptest::option::of(seq_num()), proptest::option::of(mapping), any::<bool>())
        .prop_map(|(data_ack, mapping, data_fin)| DssRepr { data_ack, mapping, data_fin })
}

fn add_addr() -> impl Strategy<Value = AddAddrRepr> {
    (any::<u8>(), ip_addr(), any::<Option<u16>>(), any::<Option<u64>>())
        .prop_map(|(addr_id, addr, port, hmac)| AddAddrRepr { addr_id, addr, port, hmac })
}

fn remove_addr() -> impl Strategy<Value = RemoveAddrRepr> {
    proptest::collection::vec(any::<u8>(), 1..=8).prop_map(|ids| RemoveAddrRepr::new(&ids).expect("1..=8 ids"))
}

fn mptcp_repr() -> impl Strategy<Value = MptcpRepr> {
    prop_oneof![
        capable().prop_map(MptcpRepr::Capable),
        join().prop_map(MptcpRepr::Join),
        dss().prop_map(MptcpRepr::Dss),
        add_addr().prop_map(MptcpRepr::AddAddr),
        remove_addr().prop_map(MptcpRepr::RemoveAddr),
        any::<bool>().prop_map(|backup| MptcpRepr::Prio(PrioRepr { backup })),
        any::<u64>().prop_map(|dsn| MptcpRepr::Fail(FailRepr { dsn })),
        any::<u64>().prop_map(|receiver_key| MptcpRepr::FastClose(FastCloseRepr { receiver_key })),
        (0u8..16, any::<u8>())
            .prop_map(|(flags, r)| MptcpRepr::TcpRst(TcpRstRepr { flags, reason: ResetReason::from(r) })),
    ]
}

/// The segment an option belongs on (RFC 8684 §3.1, §3.2, §3.6).
fn context_for(repr: &MptcpRepr, has_payload: bool) -> OptionContext {
    let ack = OptionContext { ack: true, has_payload, ..Default::default() };
    match repr {
        MptcpRepr::Capable(c) => match c.phase {
            CapablePhase::Syn => OptionContext { syn: true, ..Default::default() },
            CapablePhase::SynAck { .. } => OptionContext { syn: true, ack: true, ..Default::default() },
            CapablePhase::Ack { .. } => OptionContext { ack: true, ..Default::default() },
            CapablePhase::Data { .. } => OptionContext { ack: true, has_payload: true, ..Default::default() },
        },
        MptcpRepr::Join(JoinRepr::Syn { .. }) => OptionContext { syn: true, ..Default::default() },
        MptcpRepr::Join(JoinRepr::SynAck { .. }) => OptionContext { syn: true, ack: true, ..Default::default() },
        MptcpRepr::Join(JoinRepr::Ack { .. }) => OptionContext { ack: true, ..Default::default() },
        MptcpRepr::TcpRst(_) => OptionContext { rst: true, ..ack },
        _ => ack,
    }
}

fn is_handshake(repr: &MptcpRepr) -> bool {
    matches!(repr, MptcpRepr::Capable(_) | MptcpRepr::Join(_))
}

proptest! {
    #[test]
    fn every_option_round_trips(repr in mptcp_repr(), has_payload in any::<bool>()) {
        let ctx = context_for(&repr, has_payload);
        let mut buf = [0u8; 40];
        let len = repr.emit(&mut buf).unwrap();
        prop_assert_eq!(len, repr.buffer_len());
        prop_assert_eq!(usize::from(buf[1]), len, "length byte");
        let parsed = MptcpRepr::parse_bytes(&buf[..len], ctx).unwrap();
        prop_assert_eq!(parsed, repr);
        // A shorter buffer is refused, never written past.
        prop_assert!(repr.emit(&mut buf[..len - 1]).is_err());
    }

    #[test]
    fn option_block_round_trips(
        ts in proptest::option::of((any::<u32>(), any::<u32>())),
        sack in proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=4),
        extra in proptest::collection::vec(mptcp_repr(), 0..4),
        has_payload in any::<bool>(),
    ) {
        let mut opts = TcpOptions {
            timestamp: ts.map(|(tsval, tsecr)| Timestamp { tsval, tsecr }),
            sack: SackBlocks::from_slice(&sack),
            ..Default::default()
        };
        let ctx = OptionContext { ack: true, has_payload, ..Default::default() };
        // Non-SYN block: post-handshake options only (MP_TCPRST needs RST, so leave it out).
        for r in extra.iter().filter(|r| !is_handshake(r) && !matches!(r, MptcpRepr::TcpRst(_))) {
            opts.mptcp.insert(*r);
        }
        let mut buf = [0u8; 40];
        let emitted = opts.emit(&mut buf);
        prop_assert!(emitted.len <= 40 && emitted.len % 4 == 0);
        let (parsed, ignored) = TcpOptions::parse(&buf[..emitted.len], ctx).unwrap();
        prop_assert_eq!(ignored.count, 0);
        // What was not dropped comes back unchanged.
        prop_assert_eq!(parsed.timestamp, opts.timestamp, "timestamps have top priority");
        let mut expect_mptcp = MptcpOptions::default();
        for r in opts.mptcp.iter() {
            if !emitted.dropped.contains(mptcp_stack::wire::OptionItem::Mptcp(r.subtype())) {
                expect_mptcp.insert(r);
            }
        }
        prop_assert_eq!(parsed.mptcp, expect_mptcp);
        prop_assert_eq!(parsed.sack.as_slice(), &opts.sack.as_slice()[..emitted.sack_blocks]);
    }

    #[test]
    fn syn_block_round_trips(
        mss in any::<u16>(), ws in 0u8..=14, sack_permitted in any::<bool>(),
        ts in proptest::option::of((any::<u32>(), any::<u32>())),
        hs in capable().prop_filter("SYN or SYN/ACK", |c| matches!(c.phase, CapablePhase::Syn | CapablePhase::SynAck { .. })),
    ) {
        let syn_ack = matches!(hs.phase, CapablePhase::SynAck { .. });
        let mut opts = TcpOptions {
            mss: Some(mss),
            window_scale: Some(ws),
            sack_permitted,
            timestamp: ts.map(|(tsval, tsecr)| Timestamp { tsval, tsecr }),
            ..Default::default()
        };
        opts.mptcp.insert(MptcpRepr::Capable(hs));
        let mut buf = [0u8; 40];
        let emitted = opts.emit(&mut buf);
        prop_assert!(emitted.dropped.is_empty(), "SYN options always fit");
        let ctx = OptionContext { syn: true, ack: syn_ack, ..Default::default() };
        let (parsed, ignored) = TcpOptions::parse(&buf[..emitted.len], ctx).unwrap();
        prop_assert_eq!(ignored.count, 0);
        prop_assert_eq!(parsed, opts);
    }

    #[test]
    fn segment_round_trips(
        v6 in any::<bool>(),
        src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
        ports in (1u16.., 1u16..), seq in any::<u32>(), ack in any::<u32>(),
        window in any::<u16>(), tos in any::<u8>(), hop_limit in 1u8..,
        ts in proptest::option::of((any::<u32>(), any::<u32>())),
        d in dss(),
        payload in proptest::collection::vec(any::<u8>(), 0..1500),
    ) {
        let (src, dst) = if v6 {
            (IpAddr::V6(Ipv6Addr::from(src)), IpAddr::V6(Ipv6Addr::from(dst)))
        } else {
            let four = |a: [u8; 16]| IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
            (four(src), four(dst))
        };
        let mut options = TcpOptions { timestamp: ts.map(|(tsval, tsecr)| Timestamp { tsval, tsecr }), ..Default::default() };
        options.mptcp.dss = Some(d);
        let seg = SegmentRepr {
            src, dst, tos, hop_limit, src_port: ports.0, dst_port: ports.1, seq, ack,
            flags: TcpFlags::ACK | TcpFlags::PSH, window, options, payload: &payload,
        };
        let mut buf = vec![0u8; 2000];
        let (len, emitted) = seg.emit(&mut buf, ChecksumMode::Full).unwrap();
        prop_assert!(emitted.dropped.is_empty(), "TS + any DSS fit in 40 bytes");
        let (parsed, ignored) = SegmentRepr::parse(&buf[..len], ChecksumMode::Full).unwrap();
        prop_assert_eq!(ignored.count, 0);
        prop_assert_eq!(parsed, seg);
    }
}
