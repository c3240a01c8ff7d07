//! `TcpOptions::parse` on an arbitrary option block. Byte 0 picks the `OptionContext` (low
//! nibble: SYN, ACK, RST, payload) and a second emit budget (high nibble); the rest is the
//! block.
//!
//! Parsing must never panic. When it succeeds, the options are emitted into the 40-byte option
//! space and into a smaller buffer; each emitted block must be 4-byte aligned, fit, parse
//! again in the same context with nothing ignored, and hold every item not reported in
//! `Emitted::dropped` unchanged (and none of those reported).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcp_stack::wire::{OptionItem, TcpOptions};

mod common;

fn round_trip(opts: &TcpOptions, ctx: mptcp_stack::wire::OptionContext, budget: usize) {
    let mut buf = [0xa5u8; 64];
    let emitted = opts.emit(&mut buf[..budget]);
    assert!(emitted.len <= budget.min(40) && emitted.len % 4 == 0, "emitted {} bytes, budget {budget}", emitted.len);
    assert!(buf[emitted.len..].iter().all(|&b| b == 0xa5), "emit wrote past Emitted::len");
    let block = &buf[..emitted.len];
    let (again, ignored) = TcpOptions::parse(block, ctx)
        .unwrap_or_else(|e| panic!("re-parse of emitted block {block:02x?} failed: {e:?}"));
    assert_eq!(ignored.count, 0, "re-parse ignored options of the emitted block {block:02x?}: {ignored:?}");
    common::check_options_round_trip(opts, &emitted, &again);

    if budget >= 40 {
        // Module docs: the SYN options, timestamps and one handshake option always fit.
        let d = emitted.dropped;
        for item in [OptionItem::Mss, OptionItem::WindowScale, OptionItem::SackPermitted, OptionItem::Timestamp] {
            assert!(!d.contains(item), "{item:?} dropped from a 40-byte block");
        }
        if opts.mptcp.capable.is_none() || opts.mptcp.join.is_none() {
            for s in [mptcp_stack::wire::Subtype::MpCapable, mptcp_stack::wire::Subtype::MpJoin] {
                assert!(!d.contains(OptionItem::Mptcp(s)), "{s:?} dropped from a 40-byte block");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, block)) = data.split_first() else { return };
    let ctx = common::context(flags);
    let Ok((opts, _ignored)) = TcpOptions::parse(block, ctx) else { return };
    round_trip(&opts, ctx, 40);
    // A second, arbitrary budget (0..=45 bytes, not always a multiple of 4).
    round_trip(&opts, ctx, usize::from(flags >> 4) * 3);
});
