//! MP_PRIO, MP_FAIL, MP_FASTCLOSE and MP_TCPRST (RFC 8684 §3.3.8, §3.7, §3.5, §3.6).

use super::{Error, OptionContext, Result, Subtype, be64, expect_len, forbid_syn};

/// MP_PRIO: change this subflow's priority (§3.3.8; v1 has no address id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrioRepr {
    /// B: the sender wants this subflow used as a backup.
    pub backup: bool,
}

impl PrioRepr {
    /// The option's length byte.
    pub const LEN: usize = 3;

    pub(super) fn parse(nibble: u8, body: &[u8], ctx: OptionContext) -> Result<PrioRepr> {
        forbid_syn(Subtype::MpPrio, ctx)?;
        expect_len(Subtype::MpPrio, body, &[Self::LEN])?;
        Ok(PrioRepr { backup: nibble & 0x01 != 0 })
    }

    pub(super) fn nibble(&self) -> u8 {
        u8::from(self.backup)
    }
}

/// Parses the `reserved (1) | 64-bit value` body that MP_FAIL and MP_FASTCLOSE share.
fn parse_u64_body(st: Subtype, body: &[u8], ctx: OptionContext) -> Result<u64> {
    forbid_syn(st, ctx)?;
    expect_len(st, body, &[12])?;
    Ok(be64(&body[1..]))
}

fn emit_u64_body(value: u64, body: &mut [u8]) {
    body[0] = 0;
    body[1..9].copy_from_slice(&value.to_be_bytes());
}

/// MP_FAIL: the checksum failed for the mapping starting at `dsn` (§3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailRepr {
    /// Data sequence number of the failed mapping (always 64 bits).
    pub dsn: u64,
}

impl FailRepr {
    /// The option's length byte.
    pub const LEN: usize = 12;

    pub(super) fn parse(body: &[u8], ctx: OptionContext) -> Result<FailRepr> {
        Ok(FailRepr { dsn: parse_u64_body(Subtype::MpFail, body, ctx)? })
    }

    pub(super) fn emit_body(&self, body: &mut [u8]) {
        emit_u64_body(self.dsn, body)
    }
}

/// MP_FASTCLOSE: abort the connection; carries the receiver's key (§3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastCloseRepr {
    /// The option receiver's key.
    pub receiver_key: u64,
}

impl FastCloseRepr {
    /// The option's length byte.
    pub const LEN: usize = 12;

    pub(super) fn parse(body: &[u8], ctx: OptionContext) -> Result<FastCloseRepr> {
        Ok(FastCloseRepr { receiver_key: parse_u64_body(Subtype::MpFastclose, body, ctx)? })
    }

    pub(super) fn emit_body(&self, body: &mut [u8]) {
        emit_u64_body(self.receiver_key, body)
    }
}

/// Why a subflow was reset (RFC 8684 §3.6, §8.4 registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// 0: unspecified.
    Unspecified,
    /// 1: MPTCP-specific error.
    MptcpError,
    /// 2: lack of resources.
    Resource,
    /// 3: administratively prohibited.
    Prohibited,
    /// 4: too much outstanding data.
    TooMuchOutstanding,
    /// 5: unacceptable performance.
    BadPerformance,
    /// 6: middlebox interference.
    Middlebox,
    /// Any other code.
    Other(u8),
}

impl From<u8> for ResetReason {
    fn from(v: u8) -> ResetReason {
        match v {
            0 => ResetReason::Unspecified,
            1 => ResetReason::MptcpError,
            2 => ResetReason::Resource,
            3 => ResetReason::Prohibited,
            4 => ResetReason::TooMuchOutstanding,
            5 => ResetReason::BadPerformance,
            6 => ResetReason::Middlebox,
            other => ResetReason::Other(other),
        }
    }
}

impl From<ResetReason> for u8 {
    fn from(r: ResetReason) -> u8 {
        match r {
            ResetReason::Unspecified => 0,
            ResetReason::MptcpError => 1,
            ResetReason::Resource => 2,
            ResetReason::Prohibited => 3,
            ResetReason::TooMuchOutstanding => 4,
            ResetReason::BadPerformance => 5,
            ResetReason::Middlebox => 6,
            ResetReason::Other(v) => v,
        }
    }
}

/// MP_TCPRST: the reason for a subflow reset, only valid on a segment with RST (§3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRstRepr {
    /// The flag nibble `U V W T`; T (0x1) means the error is transient.
    pub flags: u8,
    /// The reason code.
    pub reason: ResetReason,
}

impl TcpRstRepr {
    /// The option's length byte.
    pub const LEN: usize = 4;
    /// Flag T: the reset is transient; the subflow may be re-established.
    pub const TRANSIENT: u8 = 0x1;

    /// Is the reset transient (flag T)?
    pub fn transient(&self) -> bool {
        self.flags & Self::TRANSIENT != 0
    }

    pub(super) fn parse(nibble: u8, body: &[u8], ctx: OptionContext) -> Result<TcpRstRepr> {
        let st = Subtype::MpTcpRst;
        expect_len(st, body, &[Self::LEN])?;
        // Only meaningful on a RST (§3.6); the kernel ignores it elsewhere.
        if !ctx.rst {
            return Err(Error::WrongSegment(st));
        }
        Ok(TcpRstRepr { flags: nibble, reason: ResetReason::from(body[0]) })
    }

    pub(super) fn nibble(&self) -> u8 {
        self.flags & 0x0f
    }

    pub(super) fn emit_body(&self, body: &mut [u8]) {
        body[0] = self.reason.into();
    }
}
