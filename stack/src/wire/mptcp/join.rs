//! MP_JOIN (RFC 8684 §3.2, Figs. 5-7).

use super::{Error, OptionContext, Result, Subtype, be32, be64, expect_len};

/// Low-nibble bit B: the subflow is a backup.
const FLAG_BACKUP: u8 = 0x01;

/// A parsed MP_JOIN option; the form follows from the segment (SYN, SYN/ACK, third ACK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRepr {
    /// SYN (length 12).
    Syn {
        /// B: the initiator wants this subflow as a backup.
        backup: bool,
        /// The initiator's address id.
        addr_id: u8,
        /// The receiver's token.
        token: u32,
        /// The sender's random number.
        nonce: u32,
    },
    /// SYN/ACK (length 16).
    SynAck {
        /// B: the responder wants this subflow as a backup.
        backup: bool,
        /// The responder's address id.
        addr_id: u8,
        /// Leftmost 64 bits of the responder's HMAC.
        truncated_hmac: u64,
        /// The sender's random number.
        nonce: u32,
    },
    /// Third ACK (length 24): leftmost 160 bits of the initiator's HMAC.
    Ack {
        /// The truncated HMAC.
        hmac: [u8; 20],
    },
}

impl JoinRepr {
    pub(super) fn parse(nibble: u8, body: &[u8], ctx: OptionContext) -> Result<JoinRepr> {
        let st = Subtype::MpJoin;
        let backup = nibble & FLAG_BACKUP != 0;
        // Each form belongs to exactly one handshake segment (§3.2).
        match (ctx.syn, ctx.ack) {
            (true, false) => {
                expect_len(st, body, &[12])?;
                Ok(JoinRepr::Syn { backup, addr_id: body[0], token: be32(&body[1..]), nonce: be32(&body[5..]) })
            }
            (true, true) => {
                expect_len(st, body, &[16])?;
                Ok(JoinRepr::SynAck {
                    backup,
                    addr_id: body[0],
                    truncated_hmac: be64(&body[1..]),
                    nonce: be32(&body[9..]),
                })
            }
            (false, true) => {
                expect_len(st, body, &[24])?;
                let mut hmac = [0; 20];
                hmac.copy_from_slice(&body[1..21]);
                Ok(JoinRepr::Ack { hmac })
            }
            (false, false) => Err(Error::WrongSegment(st)),
        }
    }

    pub(super) fn buffer_len(&self) -> usize {
        match self {
            JoinRepr::Syn { .. } => 12,
            JoinRepr::SynAck { .. } => 16,
            JoinRepr::Ack { .. } => 24,
        }
    }

    pub(super) fn nibble(&self) -> u8 {
        match self {
            JoinRepr::Syn { backup, .. } | JoinRepr::SynAck { backup, .. } => u8::from(*backup),
            JoinRepr::Ack { .. } => 0,
        }
    }

    pub(super) fn emit_body(&self, body: &mut [u8]) {
        match self {
            JoinRepr::Syn { addr_id, token, nonce, .. } => {
                body[0] = *addr_id;
                body[1..5].copy_from_slice(&token.to_be_bytes());
                body[5..9].copy_from_slice(&nonce.to_be_bytes());
            }
            JoinRepr::SynAck { addr_id, truncated_hmac, nonce, .. } => {
                body[0] = *addr_id;
                body[1..9].copy_from_slice(&truncated_hmac.to_be_bytes());
                body[9..13].copy_from_slice(&nonce.to_be_bytes());
            }
            JoinRepr::Ack { hmac } => {
                body[0] = 0;
                body[1..21].copy_from_slice(hmac);
            }
        }
    }
}
