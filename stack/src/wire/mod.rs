//! Wire formats: MPTCP options, the TCP option block around them, and whole IP/TCP segments.
//!
//! The style follows `smoltcp::wire`: a zero-copy view over bytes (`MptcpOption<T>`) and a
//! parsed, owned representation (`*Repr`) with `parse`, `buffer_len` and `emit`. IP and TCP
//! headers and checksums are `smoltcp::wire`'s own.

pub mod mptcp;
pub mod segment;
pub mod tcp_options;

use core::fmt;

pub use mptcp::{MptcpOption, MptcpRepr, Subtype};
pub use segment::{ChecksumMode, SegmentRepr, TcpFlags};
pub use tcp_options::{Emitted, Ignored, ItemSet, MptcpOptions, OptionItem, SackBlocks, TcpOptions, Timestamp};

/// What the segment carrying an option says about itself. MPTCP options are only valid on
/// some segments (RFC 8684 §3.1, §3.2, §3.6), so parsing needs these bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OptionContext {
    /// The segment has SYN set.
    pub syn: bool,
    /// The segment has ACK set.
    pub ack: bool,
    /// The segment has RST set.
    pub rst: bool,
    /// The segment carries payload bytes.
    pub has_payload: bool,
}

/// Why bytes were not accepted. Every malformed input maps to one of these; none panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than a header or option needs.
    Truncated,
    /// An option's length byte runs past the option space, or is below 2.
    OptionOverrun,
    /// An MPTCP option whose length is not one the subtype allows in this segment.
    BadLength {
        /// The subtype nibble.
        subtype: u8,
        /// The length byte.
        len: u8,
    },
    /// An MPTCP subtype this stack does not know (including MP_EXPERIMENTAL).
    UnknownSubtype(u8),
    /// MP_CAPABLE with an unsupported version.
    BadVersion(u8),
    /// MP_CAPABLE flags that RFC 8684 §3.1 says to ignore the option for (B set, H clear,
    /// or D-G set).
    BadFlags(u8),
    /// An option on a segment whose SYN/ACK/RST flags do not allow it.
    WrongSegment(Subtype),
    /// An IP or TCP header field is invalid (version, header length, protocol, ports).
    BadHeader,
    /// The IP or TCP checksum does not verify.
    BadChecksum,
    /// A valid packet this stack does not handle (IP fragments, IPv6 extension headers).
    Unsupported,
    /// The output buffer is too small for what was asked to be emitted.
    BufferTooSmall,
    /// A segment too long for the IP length field.
    TooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated"),
            Error::OptionOverrun => f.write_str("option length overruns the option space"),
            Error::BadLength { subtype, len } => {
                write!(f, "MPTCP subtype {subtype:#x} with invalid length {len}")
            }
            Error::UnknownSubtype(s) => write!(f, "unknown MPTCP subtype {s:#x}"),
            Error::BadVersion(v) => write!(f, "unsupported MPTCP version {v}"),
            Error::BadFlags(b) => write!(f, "invalid MP_CAPABLE flags {b:#04x}"),
            Error::WrongSegment(s) => write!(f, "{s:?} not allowed on this segment"),
            Error::BadHeader => f.write_str("invalid IP/TCP header"),
            Error::BadChecksum => f.write_str("checksum mismatch"),
            Error::Unsupported => f.write_str("unsupported packet (fragment or extension header)"),
            Error::BufferTooSmall => f.write_str("output buffer too small"),
            Error::TooLong => f.write_str("segment too long for the IP length field"),
        }
    }
}

impl core::error::Error for Error {}

/// Result of wire parsing.
pub type Result<T> = core::result::Result<T, Error>;
