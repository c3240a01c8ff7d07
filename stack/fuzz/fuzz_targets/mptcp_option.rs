//! `MptcpRepr::parse_bytes` on arbitrary bytes. Byte 0 picks the `OptionContext` (bit 0 SYN,
//! bit 1 ACK, bit 2 RST, bit 3 payload); the rest is the option, kind byte first.
//!
//! Parsing must never panic. When it succeeds: the option's length byte is the canonical one
//! (`buffer_len()`), `emit` writes exactly `buffer_len()` bytes and refuses a buffer one byte
//! short, and parsing the emitted bytes in the same context gives back the same repr and,
//! emitted again, the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcp_stack::wire::{Error, MptcpRepr};

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else { return };
    let ctx = common::context(flags);
    let Ok(repr) = MptcpRepr::parse_bytes(bytes, ctx) else { return };

    let len = repr.buffer_len();
    assert!((3..=40).contains(&len), "buffer_len {len} outside the TCP option space");
    assert_eq!(usize::from(bytes[1]), len, "accepted a non-canonical length byte for {repr:?}");

    let mut buf = [0xa5u8; 64];
    assert_eq!(repr.emit(&mut buf[..len - 1]), Err(Error::BufferTooSmall), "emit into {} bytes", len - 1);
    let n = repr.emit(&mut buf).expect("emit into 64 bytes");
    assert_eq!(n, len, "emit returned {n}, buffer_len() is {len}");
    assert_eq!(buf[n], 0xa5, "emit wrote past buffer_len()");
    assert_eq!((buf[0], usize::from(buf[1])), (30, len), "emitted kind/length");

    let again = MptcpRepr::parse_bytes(&buf[..n], ctx);
    assert_eq!(again, Ok(repr), "re-parse of emitted {:02x?} in {ctx:?}", &buf[..n]);

    let mut buf2 = [0u8; 64];
    let n2 = again.unwrap().emit(&mut buf2).expect("second emit");
    assert_eq!(&buf[..n], &buf2[..n2], "emission is not canonical");
});
