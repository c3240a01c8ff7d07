//! The 40-byte option space: what fits together, what is dropped first, and the NOP padding.

use std::net::{IpAddr, Ipv6Addr};

use mptcp_stack::wire::mptcp::{
    AddAddrRepr, CapableFlags, CapablePhase, CapableRepr, DssRepr, FastCloseRepr, JoinRepr, Mapping, PrioRepr,
    RemoveAddrRepr, ResetReason, SeqNum, TcpRstRepr,
};
use mptcp_stack::wire::{OptionContext, OptionItem, SackBlocks, Subtype, TcpOptions, Timestamp};

const TS: Option<Timestamp> = Some(Timestamp { tsval: 1, tsecr: 2 });

fn full_dss(checksum: Option<u16>) -> DssRepr {
    DssRepr {
        data_ack: Some(SeqNum::Long(10)),
        mapping: Some(Mapping { dsn: SeqNum::Long(20), ssn: 1, data_len: 1400, checksum }),
        data_fin: false,
    }
}

fn ack_only() -> DssRepr {
    DssRepr { data_ack: Some(SeqNum::Long(10)), ..Default::default() }
}

fn sack(n: usize) -> SackBlocks {
    let blocks: Vec<(u32, u32)> = (0..n as u32).map(|i| (100 * i, 100 * i + 50)).collect();
    SackBlocks::from_slice(&blocks)
}

fn emit(opts: &TcpOptions) -> (Vec<u8>, mptcp_stack::wire::Emitted) {
    let mut buf = [0u8; 40];
    let e = opts.emit(&mut buf);
    (buf[..e.len].to_vec(), e)
}

#[test]
fn timestamps_and_a_full_dss_fill_the_space_and_push_sack_out() {
    let mut o = TcpOptions { timestamp: TS, sack: sack(3), ..Default::default() };
    o.mptcp.dss = Some(full_dss(None));
    let (bytes, e) = emit(&o);
    assert_eq!(e.len, 40, "12 (NOP NOP TS) + 26 (DSS) + 2 NOP");
    assert_eq!(e.sack_blocks, 0);
    assert!(e.dropped.contains(OptionItem::SackBlocks));
    assert!(!e.dropped.contains(OptionItem::Mptcp(Subtype::Dss)));
    assert_eq!(&bytes[38..], &[1, 1], "DSS of 26 bytes padded with NOP NOP as the kernel does");
}

#[test]
fn sack_blocks_shrink_to_what_is_left() {
    let mut o = TcpOptions { timestamp: TS, sack: sack(3), ..Default::default() };
    o.mptcp.dss = Some(ack_only());
    let (_, e) = emit(&o);
    assert_eq!((e.len, e.sack_blocks), (36, 1), "TS 12 + DSS 12 + one block 12");
    assert!(e.dropped.contains(OptionItem::SackBlocks));

    let mut o = TcpOptions { sack: sack(4), ..Default::default() };
    o.mptcp.dss = Some(ack_only());
    let (bytes, e) = emit(&o);
    assert_eq!((e.len, e.sack_blocks), (40, 3), "DSS 12 + NOP NOP SACK(26)");
    let (parsed, _) = TcpOptions::parse(&bytes, OptionContext { ack: true, ..Default::default() }).unwrap();
    assert_eq!(parsed.sack.as_slice(), &sack(4).as_slice()[..3], "the first (most recent) blocks are kept");
}

#[test]
fn dss_with_checksum_keeps_priority_over_signalling() {
    let mut o = TcpOptions { timestamp: TS, ..Default::default() };
    o.mptcp.dss = Some(full_dss(Some(0xbeef)));
    o.mptcp.prio = Some(PrioRepr { backup: true });
    o.mptcp.remove_addr = RemoveAddrRepr::new(&[3]);
    let (_, e) = emit(&o);
    assert_eq!(e.len, 40, "TS 12 + DSS 28");
    assert!(e.dropped.contains(OptionItem::Mptcp(Subtype::MpPrio)));
    assert!(e.dropped.contains(OptionItem::Mptcp(Subtype::RemoveAddr)));
    assert!(!e.dropped.contains(OptionItem::Timestamp));
}

#[test]
fn add_addr_v6_with_port_fits_only_without_timestamps() {
    let add = AddAddrRepr {
        addr_id: 8,
        addr: IpAddr::V6(Ipv6Addr::new(0xdead, 0xbeef, 2, 0, 0, 0, 0, 2)),
        port: Some(10100),
        hmac: Some(0x1c28_4e4b_11ea_a4c3),
    };
    let mut o = TcpOptions { timestamp: TS, ..Default::default() };
    o.mptcp.add_addr = Some(add);
    let (_, e) = emit(&o);
    assert!(e.dropped.contains(OptionItem::Mptcp(Subtype::AddAddr)), "12 + 32 > 40");
    o.timestamp = None;
    let (bytes, e) = emit(&o);
    assert!(e.dropped.is_empty());
    assert_eq!((e.len, bytes[1]), (32, 30), "30-byte option plus NOP NOP");
}

#[test]
fn handshake_and_reset_options_fit_with_timestamps() {
    let mut o = TcpOptions { timestamp: TS, ..Default::default() };
    o.mptcp.join = Some(JoinRepr::Ack { hmac: [9; 20] });
    let (_, e) = emit(&o);
    assert_eq!((e.len, e.dropped.is_empty()), (36, true));

    let mut o = TcpOptions { timestamp: TS, ..Default::default() };
    o.mptcp.capable = Some(CapableRepr::new(
        CapableFlags { checksum_required: true, deny_join_id0: false },
        CapablePhase::Data { sender_key: 1, receiver_key: 2, data_len: 5, checksum: Some(7) },
    ));
    let (_, e) = emit(&o);
    assert_eq!((e.len, e.dropped.is_empty()), (36, true));

    // A fast close on a RST: MP_FASTCLOSE + MP_TCPRST first, a DSS does not fit beside them.
    let mut o = TcpOptions { timestamp: TS, ..Default::default() };
    o.mptcp.fastclose = Some(FastCloseRepr { receiver_key: 5 });
    o.mptcp.tcp_rst = Some(TcpRstRepr { flags: 0, reason: ResetReason::MptcpError });
    o.mptcp.dss = Some(full_dss(None));
    let (_, e) = emit(&o);
    assert_eq!(e.len, 28);
    assert!(e.dropped.contains(OptionItem::Mptcp(Subtype::Dss)));
    assert!(!e.dropped.contains(OptionItem::Mptcp(Subtype::MpFastclose)));
}

#[test]
fn syn_options_lay_out_like_linux() {
    let mut o = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: Some(Timestamp { tsval: 0x0102_0304, tsecr: 0 }),
        ..Default::default()
    };
    o.mptcp.capable = Some(CapableRepr::new(CapableFlags::default(), CapablePhase::Syn));
    let (bytes, e) = emit(&o);
    assert!(e.dropped.is_empty());
    assert_eq!(
        bytes,
        [
            2, 4, 0x05, 0xb4, // MSS 1460
            4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, // SACK-permitted sharing the word with TS
            1, 3, 3, 7, // NOP, window scale 7
            30, 4, 0x01, 0x01, // MP_CAPABLE v1, H
        ]
    );
}

#[test]
fn a_smaller_buffer_is_a_smaller_budget() {
    let mut o = TcpOptions { timestamp: TS, ..Default::default() };
    o.mptcp.dss = Some(ack_only());
    let mut buf = [0u8; 20];
    let e = o.emit(&mut buf);
    assert_eq!(e.len, 12);
    assert!(e.dropped.contains(OptionItem::Mptcp(Subtype::Dss)));
}
