//! DSS, the Data Sequence Signal (RFC 8684 §3.3, Fig. 9).

use super::{Error, OptionContext, Result, Subtype, be16, be32, be64, forbid_syn};

const FLAG_DATA_ACK: u8 = 0x01; // A
const FLAG_DATA_ACK_8: u8 = 0x02; // a
const FLAG_MAPPING: u8 = 0x04; // M
const FLAG_DSN_8: u8 = 0x08; // m
const FLAG_DATA_FIN: u8 = 0x10; // F
/// Bits 5-7 of the flags byte are reserved: zero on send, ignored on receive.
const FLAGS_DEFINED: u8 = 0x1f;

/// A data-level sequence number as carried on the wire: 4 or 8 bytes (RFC 8684 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// The low 32 bits only.
    Short(u32),
    /// The full 64 bits.
    Long(u64),
}

impl SeqNum {
    fn wire_len(self) -> usize {
        match self {
            SeqNum::Short(_) => 4,
            SeqNum::Long(_) => 8,
        }
    }

    /// The full 64-bit value, expanding a 32-bit one to the value nearest `reference`
    /// (RFC 8684 §3.3.1: a 4-byte field carries the low bits of the 64-bit number;
    /// the kernel's `__mptcp_expand_seq()` does the same).
    pub fn expand(self, reference: u64) -> u64 {
        match self {
            SeqNum::Long(v) => v,
            SeqNum::Short(low) => {
                let delta = low.wrapping_sub(reference as u32) as i32;
                reference.wrapping_add_signed(i64::from(delta))
            }
        }
    }
}

/// A DSS mapping: `data_len` bytes from subflow sequence `ssn` (relative to the subflow's
/// ISN) carry data-level sequence numbers from `dsn` (RFC 8684 §3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// Data sequence number of the first byte.
    pub dsn: SeqNum,
    /// Relative subflow sequence number of the first byte (0 for a DATA_FIN-only mapping).
    pub ssn: u32,
    /// Data-level length; 0 means the infinite mapping (§3.7); includes 1 for a DATA_FIN.
    pub data_len: u16,
    /// DSS checksum, present iff checksums were negotiated.
    pub checksum: Option<u16>,
}

impl Mapping {
    /// The infinite mapping (data-level length 0) that marks a fallback (§3.7).
    pub fn is_infinite(&self) -> bool {
        self.data_len == 0
    }

    fn wire_len(&self) -> usize {
        self.dsn.wire_len() + 4 + 2 + if self.checksum.is_some() { 2 } else { 0 }
    }
}

/// A parsed DSS option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DssRepr {
    /// DATA_ACK (flag A; 8 bytes with flag a).
    pub data_ack: Option<SeqNum>,
    /// The mapping (flag M; 8-byte DSN with flag m).
    pub mapping: Option<Mapping>,
    /// F: this mapping ends with a DATA_FIN.
    pub data_fin: bool,
}

/// Reads a 4- or 8-byte sequence number at the front of `b`.
fn read_seq(long: bool, b: &[u8]) -> (SeqNum, &[u8]) {
    if long { (SeqNum::Long(be64(b)), &b[8..]) } else { (SeqNum::Short(be32(b)), &b[4..]) }
}

fn write_seq(seq: SeqNum, b: &mut [u8]) -> &mut [u8] {
    match seq {
        SeqNum::Short(v) => {
            b[..4].copy_from_slice(&v.to_be_bytes());
            &mut b[4..]
        }
        SeqNum::Long(v) => {
            b[..8].copy_from_slice(&v.to_be_bytes());
            &mut b[8..]
        }
    }
}

impl DssRepr {
    pub(crate) fn parse(body: &[u8], ctx: OptionContext) -> Result<DssRepr> {
        let st = Subtype::Dss;
        forbid_syn(st, ctx)?;
        let len = body.len() + super::HEADER_LEN;
        let bad_len = Error::BadLength { subtype: st as u8, len: len as u8 };
        let flags = *body.first().ok_or(bad_len)? & FLAGS_DEFINED;
        let has_ack = flags & FLAG_DATA_ACK != 0;
        let has_map = flags & FLAG_MAPPING != 0;
        // The lengths follow from the flags (Fig. 9); "a" and "m" only count with "A" and "M".
        let ack_len = match (has_ack, flags & FLAG_DATA_ACK_8 != 0) {
            (false, _) => 0,
            (true, false) => 4,
            (true, true) => 8,
        };
        let map_len = match (has_map, flags & FLAG_DSN_8 != 0) {
            (false, _) => 0,
            (true, false) => 10,
            (true, true) => 14,
        };
        let expected = 4 + ack_len + map_len;
        // §3.3: a checksum (2 more bytes) can only follow a mapping.
        let with_checksum = has_map && len == expected + 2;
        if len != expected && !with_checksum {
            return Err(bad_len);
        }
        let rest = &body[1..];
        let (data_ack, rest) = if has_ack {
            let (seq, rest) = read_seq(ack_len == 8, rest);
            (Some(seq), rest)
        } else {
            (None, rest)
        };
        let mapping = has_map.then(|| {
            let (dsn, rest) = read_seq(map_len == 14, rest);
            Mapping {
                dsn,
                ssn: be32(rest),
                data_len: be16(&rest[4..]),
                checksum: with_checksum.then(|| be16(&rest[6..])),
            }
        });
        Ok(DssRepr { data_ack, mapping, data_fin: flags & FLAG_DATA_FIN != 0 })
    }

    pub(super) fn buffer_len(&self) -> usize {
        4 + self.data_ack.map_or(0, SeqNum::wire_len) + self.mapping.as_ref().map_or(0, Mapping::wire_len)
    }

    pub(super) fn emit_body(&self, body: &mut [u8]) {
        let mut flags = 0;
        if let Some(ack) = self.data_ack {
            flags |= FLAG_DATA_ACK;
            if matches!(ack, SeqNum::Long(_)) {
                flags |= FLAG_DATA_ACK_8;
            }
        }
        if let Some(map) = &self.mapping {
            flags |= FLAG_MAPPING;
            if matches!(map.dsn, SeqNum::Long(_)) {
                flags |= FLAG_DSN_8;
            }
        }
        if self.data_fin {
            flags |= FLAG_DATA_FIN;
        }
        body[0] = flags;
        let mut rest = &mut body[1..];
        if let Some(ack) = self.data_ack {
            rest = write_seq(ack, rest);
        }
        if let Some(map) = &self.mapping {
            rest = write_seq(map.dsn, rest);
            rest[..4].copy_from_slice(&map.ssn.to_be_bytes());
            rest[4..6].copy_from_slice(&map.data_len.to_be_bytes());
            if let Some(c) = map.checksum {
                rest[6..8].copy_from_slice(&c.to_be_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SeqNum;

    #[test]
    fn short_sequence_numbers_expand_to_the_nearest_value() {
        let near = 0x0000_0005_ffff_fff0;
        assert_eq!(SeqNum::Short(0xffff_fff8).expand(near), 0x0000_0005_ffff_fff8);
        assert_eq!(SeqNum::Short(0x0000_0010).expand(near), 0x0000_0006_0000_0010, "forward wrap");
        let near = 0x0000_0006_0000_0010;
        assert_eq!(SeqNum::Short(0xffff_fff0).expand(near), 0x0000_0005_ffff_fff0, "reverse wrap");
        assert_eq!(SeqNum::Long(42).expand(near), 42);
        assert_eq!(SeqNum::Short(3).expand(u64::MAX - 1), 3, "wraps at 2^64");
    }
}
