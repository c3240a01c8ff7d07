//! MPTCP options (TCP option kind 30), RFC 8684 §3 and §8.
//!
//! [`MptcpOption`] is a zero-copy view over the bytes of one option; [`MptcpRepr`] is its parsed
//! form. Parsing is strict in the way the Linux kernel is (`mptcp_parse_option()`): each subtype
//! accepts only its exact lengths, and only on segments whose SYN/ACK/RST flags allow it.
//! Emission writes exactly the lengths the kernel writes; padding to 32-bit alignment is the
//! option block's job (`tcp_options`).

mod addr;
mod capable;
mod control;
mod dss;
mod join;

pub use addr::{AddAddrRepr, REMOVE_ADDR_MAX_IDS, RemoveAddrRepr};
pub use capable::{CapableFlags, CapablePhase, CapableRepr, VERSION};
pub use control::{FailRepr, FastCloseRepr, PrioRepr, ResetReason, TcpRstRepr};
pub use dss::{DssRepr, Mapping, SeqNum};
pub use join::JoinRepr;

use super::{Error, OptionContext, Result};

/// TCP option kind for MPTCP (RFC 8684 §8).
pub const KIND: u8 = 30;

/// The MPTCP option subtypes (RFC 8684 §8, IANA "MPTCP Option Subtypes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subtype {
    /// MP_CAPABLE, §3.1.
    MpCapable = 0x0,
    /// MP_JOIN, §3.2.
    MpJoin = 0x1,
    /// DSS, §3.3.
    Dss = 0x2,
    /// ADD_ADDR, §3.4.1.
    AddAddr = 0x3,
    /// REMOVE_ADDR, §3.4.2.
    RemoveAddr = 0x4,
    /// MP_PRIO, §3.3.8.
    MpPrio = 0x5,
    /// MP_FAIL, §3.7.
    MpFail = 0x6,
    /// MP_FASTCLOSE, §3.5.
    MpFastclose = 0x7,
    /// MP_TCPRST, §3.6.
    MpTcpRst = 0x8,
}

impl TryFrom<u8> for Subtype {
    type Error = Error;
    fn try_from(v: u8) -> Result<Subtype> {
        Ok(match v {
            0x0 => Subtype::MpCapable,
            0x1 => Subtype::MpJoin,
            0x2 => Subtype::Dss,
            0x3 => Subtype::AddAddr,
            0x4 => Subtype::RemoveAddr,
            0x5 => Subtype::MpPrio,
            0x6 => Subtype::MpFail,
            0x7 => Subtype::MpFastclose,
            0x8 => Subtype::MpTcpRst,
            // 0xf is MP_EXPERIMENTAL; unknown subtypes are ignored by the receiver (§3).
            other => return Err(Error::UnknownSubtype(other)),
        })
    }
}

/// Bytes of the common header: kind, length and the subtype byte (RFC 8684 §3, Fig. 3).
pub const HEADER_LEN: usize = 3;

/// A zero-copy view over one MPTCP option: `kind | length | subtype:4 nibble:4 | body…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MptcpOption<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MptcpOption<T> {
    /// Wraps `buffer` without checking it; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> MptcpOption<T> {
        MptcpOption { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<MptcpOption<T>> {
        let opt = MptcpOption::new_unchecked(buffer);
        opt.check_len()?;
        Ok(opt)
    }

    /// Ensures the accessors cannot panic: the kind is 30, and the length byte is at least
    /// the common header and within the buffer.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[0] != KIND {
            return Err(Error::BadHeader);
        }
        let len = usize::from(b[1]);
        if len < HEADER_LEN || len > b.len() {
            return Err(Error::OptionOverrun);
        }
        Ok(())
    }

    /// The option kind (30).
    pub fn kind(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// The length byte: the whole option, kind and length included.
    pub fn length(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// The subtype nibble (high four bits of byte 2).
    pub fn subtype(&self) -> u8 {
        self.buffer.as_ref()[2] >> 4
    }

    /// The subtype-specific low nibble of byte 2 (version, flags).
    pub fn nibble(&self) -> u8 {
        self.buffer.as_ref()[2] & 0x0f
    }

    /// The bytes after the subtype byte, up to the option's length.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.length())]
    }

    /// Consumes the view, returning the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MptcpOption<T> {
    /// Writes kind 30, the length byte, the subtype and the nibble.
    pub fn set_header(&mut self, len: u8, subtype: Subtype, nibble: u8) {
        let b = self.buffer.as_mut();
        b[0] = KIND;
        b[1] = len;
        b[2] = ((subtype as u8) << 4) | (nibble & 0x0f);
    }

    /// The mutable bytes after the subtype byte, up to the option's length.
    pub fn body_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.length());
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }
}

/// A parsed MPTCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MptcpRepr {
    /// MP_CAPABLE (§3.1).
    Capable(CapableRepr),
    /// MP_JOIN (§3.2).
    Join(JoinRepr),
    /// DSS (§3.3).
    Dss(DssRepr),
    /// ADD_ADDR (§3.4.1).
    AddAddr(AddAddrRepr),
    /// REMOVE_ADDR (§3.4.2).
    RemoveAddr(RemoveAddrRepr),
    /// MP_PRIO (§3.3.8).
    Prio(PrioRepr),
    /// MP_FAIL (§3.7).
    Fail(FailRepr),
    /// MP_FASTCLOSE (§3.5).
    FastClose(FastCloseRepr),
    /// MP_TCPRST (§3.6).
    TcpRst(TcpRstRepr),
}

/// Checks that an option's body has exactly one of the lengths its subtype allows.
pub(super) fn expect_len(subtype: Subtype, body: &[u8], allowed: &[usize]) -> Result<()> {
    let len = body.len() + HEADER_LEN;
    if allowed.contains(&len) { Ok(()) } else { Err(Error::BadLength { subtype: subtype as u8, len: len as u8 }) }
}

/// Rejects an option that may not appear on a SYN (everything but MP_CAPABLE and MP_JOIN).
pub(super) fn forbid_syn(subtype: Subtype, ctx: OptionContext) -> Result<()> {
    if ctx.syn { Err(Error::WrongSegment(subtype)) } else { Ok(()) }
}

// The field readers take the whole field at once (one bounds check, one load): the DSS on
// every segment goes through them.

pub(super) fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes(b[..2].try_into().expect("two bytes"))
}

pub(super) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().expect("four bytes"))
}

pub(super) fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().expect("eight bytes"))
}

impl MptcpRepr {
    /// Parses one option in the context of its segment.
    pub fn parse<T: AsRef<[u8]>>(opt: &MptcpOption<T>, ctx: OptionContext) -> Result<MptcpRepr> {
        opt.check_len()?;
        let (nibble, body) = (opt.nibble(), opt.body());
        Ok(match Subtype::try_from(opt.subtype())? {
            Subtype::MpCapable => MptcpRepr::Capable(CapableRepr::parse(nibble, body, ctx)?),
            Subtype::MpJoin => MptcpRepr::Join(JoinRepr::parse(nibble, body, ctx)?),
            Subtype::Dss => MptcpRepr::Dss(DssRepr::parse(body, ctx)?),
            Subtype::AddAddr => MptcpRepr::AddAddr(AddAddrRepr::parse(nibble, body, ctx)?),
            Subtype::RemoveAddr => MptcpRepr::RemoveAddr(RemoveAddrRepr::parse(body, ctx)?),
            Subtype::MpPrio => MptcpRepr::Prio(PrioRepr::parse(nibble, body, ctx)?),
            Subtype::MpFail => MptcpRepr::Fail(FailRepr::parse(body, ctx)?),
            Subtype::MpFastclose => MptcpRepr::FastClose(FastCloseRepr::parse(body, ctx)?),
            Subtype::MpTcpRst => MptcpRepr::TcpRst(TcpRstRepr::parse(nibble, body, ctx)?),
        })
    }

    /// Parses one option from raw bytes (kind, length, …).
    pub fn parse_bytes(bytes: &[u8], ctx: OptionContext) -> Result<MptcpRepr> {
        MptcpRepr::parse(&MptcpOption::new_checked(bytes)?, ctx)
    }

    /// The subtype of this option.
    pub fn subtype(&self) -> Subtype {
        match self {
            MptcpRepr::Capable(_) => Subtype::MpCapable,
            MptcpRepr::Join(_) => Subtype::MpJoin,
            MptcpRepr::Dss(_) => Subtype::Dss,
            MptcpRepr::AddAddr(_) => Subtype::AddAddr,
            MptcpRepr::RemoveAddr(_) => Subtype::RemoveAddr,
            MptcpRepr::Prio(_) => Subtype::MpPrio,
            MptcpRepr::Fail(_) => Subtype::MpFail,
            MptcpRepr::FastClose(_) => Subtype::MpFastclose,
            MptcpRepr::TcpRst(_) => Subtype::MpTcpRst,
        }
    }

    /// The option's length byte: exactly what the Linux kernel puts there.
    pub fn buffer_len(&self) -> usize {
        match self {
            MptcpRepr::Capable(r) => r.buffer_len(),
            MptcpRepr::Join(r) => r.buffer_len(),
            MptcpRepr::Dss(r) => r.buffer_len(),
            MptcpRepr::AddAddr(r) => r.buffer_len(),
            MptcpRepr::RemoveAddr(r) => r.buffer_len(),
            MptcpRepr::Prio(_) => PrioRepr::LEN,
            MptcpRepr::Fail(_) => FailRepr::LEN,
            MptcpRepr::FastClose(_) => FastCloseRepr::LEN,
            MptcpRepr::TcpRst(_) => TcpRstRepr::LEN,
        }
    }

    /// Emits the option into the start of `buffer`, returning the bytes written
    /// ([`buffer_len`](Self::buffer_len)).
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let Some(out) = buffer.get_mut(..len) else {
            return Err(Error::BufferTooSmall);
        };
        let mut opt = MptcpOption::new_unchecked(out);
        let nibble = match self {
            MptcpRepr::Capable(r) => r.nibble(),
            MptcpRepr::Join(r) => r.nibble(),
            MptcpRepr::Dss(_) => 0,
            MptcpRepr::AddAddr(r) => r.nibble(),
            MptcpRepr::RemoveAddr(_) => 0,
            MptcpRepr::Prio(r) => r.nibble(),
            MptcpRepr::Fail(_) | MptcpRepr::FastClose(_) => 0,
            MptcpRepr::TcpRst(r) => r.nibble(),
        };
        opt.set_header(len as u8, self.subtype(), nibble);
        let body = opt.body_mut();
        match self {
            MptcpRepr::Capable(r) => r.emit_body(body),
            MptcpRepr::Join(r) => r.emit_body(body),
            MptcpRepr::Dss(r) => r.emit_body(body),
            MptcpRepr::AddAddr(r) => r.emit_body(body),
            MptcpRepr::RemoveAddr(r) => r.emit_body(body),
            MptcpRepr::Prio(_) => {}
            MptcpRepr::Fail(r) => r.emit_body(body),
            MptcpRepr::FastClose(r) => r.emit_body(body),
            MptcpRepr::TcpRst(r) => r.emit_body(body),
        }
        Ok(len)
    }
}
