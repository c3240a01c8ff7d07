//! ADD_ADDR and REMOVE_ADDR (RFC 8684 §3.4.1 Fig. 12, §3.4.2 Fig. 13).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{OptionContext, Result, Subtype, be16, be64, expect_len, forbid_syn};

/// Low-nibble bit E: this ADD_ADDR echoes one received from the peer.
const FLAG_ECHO: u8 = 0x01;

/// A parsed ADD_ADDR. The address family and the port's presence follow from the length;
/// an echo carries no HMAC (E = 1), an announcement always does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddAddrRepr {
    /// The announced address's id.
    pub addr_id: u8,
    /// The address.
    pub addr: IpAddr,
    /// The port, when the announcement names one.
    pub port: Option<u16>,
    /// Rightmost 64 bits of the HMAC; `None` for an echo.
    pub hmac: Option<u64>,
}

impl AddAddrRepr {
    /// E: is this an echo?
    pub fn is_echo(&self) -> bool {
        self.hmac.is_none()
    }

    pub(super) fn parse(nibble: u8, body: &[u8], ctx: OptionContext) -> Result<AddAddrRepr> {
        let st = Subtype::AddAddr;
        forbid_syn(st, ctx)?;
        let echo = nibble & FLAG_ECHO != 0;
        // Lengths: v4 16/18, v6 28/30 with HMAC; 8 fewer for an echo (§3.4.1).
        let (v4, v4p, v6, v6p) = if echo { (8, 10, 20, 22) } else { (16, 18, 28, 30) };
        expect_len(st, body, &[v4, v4p, v6, v6p])?;
        let len = body.len() + super::HEADER_LEN;
        let addr_id = body[0];
        let (addr, rest) = if len == v4 || len == v4p {
            let o: [u8; 4] = body[1..5].try_into().expect("4 bytes");
            (IpAddr::V4(Ipv4Addr::from(o)), &body[5..])
        } else {
            let o: [u8; 16] = body[1..17].try_into().expect("16 bytes");
            (IpAddr::V6(Ipv6Addr::from(o)), &body[17..])
        };
        let (port, rest) = if len == v4p || len == v6p { (Some(be16(rest)), &rest[2..]) } else { (None, rest) };
        let hmac = (!echo).then(|| be64(rest));
        Ok(AddAddrRepr { addr_id, addr, port, hmac })
    }

    pub(super) fn buffer_len(&self) -> usize {
        let addr = match self.addr {
            IpAddr::V4(_) => 4,
            IpAddr::V6(_) => 16,
        };
        4 + addr + if self.port.is_some() { 2 } else { 0 } + if self.hmac.is_some() { 8 } else { 0 }
    }

    pub(super) fn nibble(&self) -> u8 {
        if self.is_echo() { FLAG_ECHO } else { 0 }
    }

    pub(super) fn emit_body(&self, body: &mut [u8]) {
        body[0] = self.addr_id;
        let rest = match self.addr {
            IpAddr::V4(a) => {
                body[1..5].copy_from_slice(&a.octets());
                &mut body[5..]
            }
            IpAddr::V6(a) => {
                body[1..17].copy_from_slice(&a.octets());
                &mut body[17..]
            }
        };
        let rest = match self.port {
            Some(p) => {
                rest[..2].copy_from_slice(&p.to_be_bytes());
                &mut rest[2..]
            }
            None => rest,
        };
        if let Some(h) = self.hmac {
            rest[..8].copy_from_slice(&h.to_be_bytes());
        }
    }
}

/// Most address ids one REMOVE_ADDR carries (the kernel's `MPTCP_RM_IDS_MAX`).
pub const REMOVE_ADDR_MAX_IDS: usize = 8;

/// A parsed REMOVE_ADDR: one to eight address ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoveAddrRepr {
    ids: [u8; REMOVE_ADDR_MAX_IDS],
    count: u8,
}

impl RemoveAddrRepr {
    /// A REMOVE_ADDR for `ids`; `None` when there are none or more than eight.
    pub fn new(ids: &[u8]) -> Option<RemoveAddrRepr> {
        if ids.is_empty() || ids.len() > REMOVE_ADDR_MAX_IDS {
            return None;
        }
        let mut r = RemoveAddrRepr { ids: [0; REMOVE_ADDR_MAX_IDS], count: ids.len() as u8 };
        r.ids[..ids.len()].copy_from_slice(ids);
        Some(r)
    }

    /// The address ids being removed.
    pub fn ids(&self) -> &[u8] {
        &self.ids[..usize::from(self.count)]
    }

    pub(super) fn parse(body: &[u8], ctx: OptionContext) -> Result<RemoveAddrRepr> {
        let st = Subtype::RemoveAddr;
        forbid_syn(st, ctx)?;
        // Length 3 + n, n = 1..=8 (§3.4.2; kernel `MPTCP_RM_IDS_MAX`).
        expect_len(st, body, &[4, 5, 6, 7, 8, 9, 10, 11])?;
        Ok(RemoveAddrRepr::new(body).expect("length checked"))
    }

    pub(super) fn buffer_len(&self) -> usize {
        super::HEADER_LEN + usize::from(self.count)
    }

    pub(super) fn emit_body(&self, body: &mut [u8]) {
        body.copy_from_slice(self.ids());
    }
}
