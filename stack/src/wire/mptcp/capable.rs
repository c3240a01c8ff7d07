//! MP_CAPABLE (RFC 8684 §3.1, Fig. 4).

use super::{Error, OptionContext, Result, Subtype, be16, be64, expect_len};

/// Flag A: the sender requires DSS checksums (RFC 8684 §3.1).
const FLAG_CHECKSUM: u8 = 0x80;
/// Flag B: extensibility; must be 0 in v1, the option is ignored otherwise.
const FLAG_EXTENSIBILITY: u8 = 0x40;
/// Flag C: do not send MP_JOINs to the initial address and port.
const FLAG_DENY_JOIN_ID0: u8 = 0x20;
/// Flags D-G (must be 0) and H (HMAC-SHA256, must be 1).
const FLAG_MASK_DH: u8 = 0x1f;
const FLAG_HMAC_SHA256: u8 = 0x01;

/// The protocol version this stack speaks (RFC 8684 is version 1).
pub const VERSION: u8 = 1;

/// The flags an MP_CAPABLE sender controls; H (HMAC-SHA256) is always set on emit and
/// required on parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapableFlags {
    /// A: DSS checksums required.
    pub checksum_required: bool,
    /// C: joins to the initial address/port are refused.
    pub deny_join_id0: bool,
}

/// Which handshake packet the option rides on, with the fields that packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapablePhase {
    /// SYN: no key in v1 (length 4).
    Syn,
    /// SYN/ACK: the responder's key (length 12).
    SynAck {
        /// Option sender's key.
        sender_key: u64,
    },
    /// Third ACK: both keys, sender's first (length 20).
    Ack {
        /// Option sender's key.
        sender_key: u64,
        /// Option receiver's key.
        receiver_key: u64,
    },
    /// The initiator's first data packet: both keys and the data-level length (length 22),
    /// plus the DSS checksum when checksums are in use (length 24). The implied mapping is
    /// DSN = IDSN + 1, SSN = 1.
    Data {
        /// Option sender's key.
        sender_key: u64,
        /// Option receiver's key.
        receiver_key: u64,
        /// Data-level length of the implied mapping.
        data_len: u16,
        /// DSS checksum of the implied mapping.
        checksum: Option<u16>,
    },
}

/// A parsed MP_CAPABLE option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapableRepr {
    /// Version nibble; 1, or higher on a SYN (the kernel tolerates a higher version there).
    pub version: u8,
    /// Flags A and C.
    pub flags: CapableFlags,
    /// The packet-specific fields.
    pub phase: CapablePhase,
}

impl CapableRepr {
    /// A version-1 option.
    pub fn new(flags: CapableFlags, phase: CapablePhase) -> CapableRepr {
        CapableRepr { version: VERSION, flags, phase }
    }

    pub(super) fn parse(nibble: u8, body: &[u8], ctx: OptionContext) -> Result<CapableRepr> {
        let st = Subtype::MpCapable;
        // The expected length follows from the segment (kernel `mptcp_parse_option()`).
        match (ctx.syn, ctx.ack) {
            (true, false) => expect_len(st, body, &[4])?,
            (true, true) => expect_len(st, body, &[12])?,
            (false, _) if ctx.has_payload => expect_len(st, body, &[22, 24])?,
            (false, _) => expect_len(st, body, &[20])?,
        }
        let version = nibble;
        // §3.1: a SYN may offer a higher version (the responder answers with its own);
        // every later MP_CAPABLE must carry the negotiated one.
        let version_ok = if body.len() == 1 { version >= VERSION } else { version == VERSION };
        if !version_ok {
            return Err(Error::BadVersion(version));
        }
        let raw = body[0];
        // §3.1: B set, H clear or D-G set → ignore the option (fall back to TCP).
        if raw & FLAG_EXTENSIBILITY != 0 || raw & FLAG_MASK_DH != FLAG_HMAC_SHA256 {
            return Err(Error::BadFlags(raw));
        }
        let flags =
            CapableFlags { checksum_required: raw & FLAG_CHECKSUM != 0, deny_join_id0: raw & FLAG_DENY_JOIN_ID0 != 0 };
        let phase = match body.len() {
            1 => CapablePhase::Syn,
            9 => CapablePhase::SynAck { sender_key: be64(&body[1..]) },
            17 => CapablePhase::Ack { sender_key: be64(&body[1..]), receiver_key: be64(&body[9..]) },
            _ => CapablePhase::Data {
                sender_key: be64(&body[1..]),
                receiver_key: be64(&body[9..]),
                data_len: be16(&body[17..]),
                checksum: (body.len() == 21).then(|| be16(&body[19..])),
            },
        };
        Ok(CapableRepr { version, flags, phase })
    }

    pub(super) fn buffer_len(&self) -> usize {
        match self.phase {
            CapablePhase::Syn => 4,
            CapablePhase::SynAck { .. } => 12,
            CapablePhase::Ack { .. } => 20,
            CapablePhase::Data { checksum: None, .. } => 22,
            CapablePhase::Data { checksum: Some(_), .. } => 24,
        }
    }

    pub(super) fn nibble(&self) -> u8 {
        self.version
    }

    pub(super) fn emit_body(&self, body: &mut [u8]) {
        let mut flags = FLAG_HMAC_SHA256;
        if self.flags.checksum_required {
            flags |= FLAG_CHECKSUM;
        }
        if self.flags.deny_join_id0 {
            flags |= FLAG_DENY_JOIN_ID0;
        }
        body[0] = flags;
        let (keys, tail): (&[u64], _) = match &self.phase {
            CapablePhase::Syn => (&[], None),
            CapablePhase::SynAck { sender_key } => (&[*sender_key][..], None),
            CapablePhase::Ack { sender_key, receiver_key } => (&[*sender_key, *receiver_key][..], None),
            CapablePhase::Data { sender_key, receiver_key, data_len, checksum } => {
                (&[*sender_key, *receiver_key][..], Some((*data_len, *checksum)))
            }
        };
        for (i, k) in keys.iter().enumerate() {
            body[1 + 8 * i..9 + 8 * i].copy_from_slice(&k.to_be_bytes());
        }
        if let Some((data_len, checksum)) = tail {
            body[17..19].copy_from_slice(&data_len.to_be_bytes());
            if let Some(c) = checksum {
                body[19..21].copy_from_slice(&c.to_be_bytes());
            }
        }
    }
}
