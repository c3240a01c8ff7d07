//! `SegmentRepr::parse` on an arbitrary IP packet, with both `ChecksumMode`s.
//!
//! Parsing must never panic. When it succeeds, the segment is emitted into a 65536-byte buffer
//! with `ChecksumMode::Full`; that must succeed (unless the packet genuinely needs more than
//! 65536 bytes, or more than the 16-bit IP length field allows, which must be an error and
//! never a wrapped length) and parse again with `ChecksumMode::Full`, giving the same addresses, TOS, hop
//! limit, ports, seq/ack, flags, window and payload, nothing ignored, and every option not
//! reported dropped. The same holds for emit/parse with `ChecksumMode::Offloaded`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcp_stack::wire::{ChecksumMode, Error, SegmentRepr};

mod common;

const BUF_LEN: usize = 65536;

/// The segment without its payload bytes, for panic messages.
fn describe(seg: &SegmentRepr<'_>) -> String {
    format!(
        "{}:{} -> {}:{} seq={} ack={} flags={:#04x} win={} payload={}B options={:?}",
        seg.src,
        seg.src_port,
        seg.dst,
        seg.dst_port,
        seg.seq,
        seg.ack,
        seg.flags.0,
        seg.window,
        seg.payload.len(),
        seg.options
    )
}

fn round_trip(seg: &SegmentRepr<'_>, buf: &mut [u8], mode: ChecksumMode) {
    let ip_len = if seg.src.is_ipv4() { 20 } else { 40 };
    let opt_len = seg.options.emit(&mut [0u8; 40]).len;
    let tcp_len = 20 + opt_len + seg.payload.len();
    let needed = ip_len + tcp_len;
    // IPv4 total length / IPv6 payload length are 16-bit: emit must refuse, not wrap.
    let length_field = if ip_len == 20 { needed } else { tcp_len };
    let (n, emitted) = match seg.emit(buf, mode) {
        Ok(r) => r,
        Err(_) if length_field > usize::from(u16::MAX) => return,
        Err(Error::BufferTooSmall) if needed > buf.len() => return,
        Err(e) => panic!("emit ({mode:?}) failed: {e:?} (needs {needed} bytes) for {}", describe(seg)),
    };
    assert!(length_field <= usize::from(u16::MAX), "emitted a segment whose IP length field overflows");
    assert_eq!(n, needed, "emitted length");
    let packet = &buf[..n];
    let (again, ignored) = SegmentRepr::parse(packet, mode)
        .unwrap_or_else(|e| panic!("re-parse ({mode:?}) failed: {e:?} for {}", describe(seg)));
    assert_eq!((again.src, again.dst), (seg.src, seg.dst), "addresses");
    assert_eq!((again.tos, again.hop_limit), (seg.tos, seg.hop_limit), "tos, hop limit");
    assert_eq!((again.src_port, again.dst_port), (seg.src_port, seg.dst_port), "ports");
    assert_eq!((again.seq, again.ack), (seg.seq, seg.ack), "seq, ack");
    assert_eq!(again.flags, seg.flags, "flags");
    assert_eq!(again.window, seg.window, "window");
    assert!(again.payload == seg.payload, "payload ({} vs {} bytes)", again.payload.len(), seg.payload.len());
    assert_eq!(ignored.count, 0, "re-parse ignored options of the emitted segment: {ignored:?}");
    common::check_options_round_trip(&seg.options, &emitted, &again.options);
}

fuzz_target!(|data: &[u8]| {
    for mode in [ChecksumMode::Full, ChecksumMode::Offloaded] {
        let Ok((seg, _ignored)) = SegmentRepr::parse(data, mode) else { continue };
        let mut buf = vec![0u8; BUF_LEN];
        round_trip(&seg, &mut buf, ChecksumMode::Full);
        round_trip(&seg, &mut buf, ChecksumMode::Offloaded);
    }
});
