//! Helpers shared by the fuzz targets (each target includes this with `mod common;`).
#![allow(dead_code)]

use mptcp_stack::wire::{Emitted, OptionContext, OptionItem, Subtype, TcpOptions};

/// The low four bits of `b` as segment flags: SYN, ACK, RST, payload.
pub fn context(b: u8) -> OptionContext {
    OptionContext { syn: b & 1 != 0, ack: b & 2 != 0, rst: b & 4 != 0, has_payload: b & 8 != 0 }
}

/// `reparsed` is what `TcpOptions::parse` made of the bytes `orig.emit()` wrote (`emitted`,
/// same context). Every item not in `emitted.dropped` must be there unchanged; every dropped
/// one must be absent; SACK keeps exactly the first `emitted.sack_blocks` blocks.
pub fn check_options_round_trip(orig: &TcpOptions, emitted: &Emitted, reparsed: &TcpOptions) {
    let d = &emitted.dropped;
    fn expect<T: PartialEq + core::fmt::Debug>(what: &str, dropped: bool, orig: Option<T>, got: Option<T>) {
        let want = if dropped { None } else { orig };
        assert_eq!(want, got, "{what}: dropped={dropped}");
    }
    expect("mss", d.contains(OptionItem::Mss), orig.mss, reparsed.mss);
    expect("window_scale", d.contains(OptionItem::WindowScale), orig.window_scale, reparsed.window_scale);
    expect("timestamp", d.contains(OptionItem::Timestamp), orig.timestamp, reparsed.timestamp);
    assert_eq!(
        orig.sack_permitted && !d.contains(OptionItem::SackPermitted),
        reparsed.sack_permitted,
        "sack_permitted: dropped={}",
        d.contains(OptionItem::SackPermitted)
    );

    let (m, r) = (&orig.mptcp, &reparsed.mptcp);
    let mp = |s: Subtype| d.contains(OptionItem::Mptcp(s));
    expect("MP_CAPABLE", mp(Subtype::MpCapable), m.capable, r.capable);
    expect("MP_JOIN", mp(Subtype::MpJoin), m.join, r.join);
    expect("MP_FASTCLOSE", mp(Subtype::MpFastclose), m.fastclose, r.fastclose);
    expect("MP_TCPRST", mp(Subtype::MpTcpRst), m.tcp_rst, r.tcp_rst);
    expect("MP_FAIL", mp(Subtype::MpFail), m.fail, r.fail);
    expect("DSS", mp(Subtype::Dss), m.dss, r.dss);
    expect("ADD_ADDR", mp(Subtype::AddAddr), m.add_addr, r.add_addr);
    expect("REMOVE_ADDR", mp(Subtype::RemoveAddr), m.remove_addr, r.remove_addr);
    expect("MP_PRIO", mp(Subtype::MpPrio), m.prio, r.prio);

    let blocks = orig.sack.as_slice();
    assert!(emitted.sack_blocks <= blocks.len(), "{} SACK blocks written of {}", emitted.sack_blocks, blocks.len());
    assert_eq!(
        d.contains(OptionItem::SackBlocks),
        emitted.sack_blocks < blocks.len(),
        "SackBlocks in dropped iff fewer blocks were written"
    );
    assert_eq!(&blocks[..emitted.sack_blocks], reparsed.sack.as_slice(), "SACK blocks");
}
