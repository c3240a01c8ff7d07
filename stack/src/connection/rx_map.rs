//! The mappings a subflow has received (RFC 8684 §3.3.1): which relative subflow sequence
//! numbers carry which data sequence numbers, and the checks the kernel applies to them
//! (a different mapping over bytes already mapped is invalid, §3.3.1; checksums cover a whole
//! mapping, §3.3.1).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::crypto::DssChecksum;

/// Mappings kept per subflow; older ones are released as the subflow's RCV.NXT passes them.
/// Enough for a 16 MiB window of 1 KiB segments; a peer that maps in smaller pieces than that
/// beyond this is refused.
const MAX_MAPS: usize = 16 * 1024;

#[derive(Debug)]
struct RxMap {
    ssn: u64,
    dsn: u64,
    len: u64,
    checksum: Option<u16>,
    /// The mapping ends with a DATA_FIN: its data-level length on the wire (which the DSS
    /// checksum's pseudo-header carries, RFC 8684 §3.3.1) is `len + 1` (§3.3.3).
    data_fin: bool,
    /// With checksums: the pieces received so far, held until the mapping is complete.
    pieces: Vec<(u64, Bytes)>,
    held: u64,
}

impl RxMap {
    fn end(&self) -> u64 {
        self.ssn + self.len
    }
}

/// Why a mapping was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapError {
    /// It overlaps bytes already mapped differently (the kernel's `DSSNotMatching`).
    Conflict,
    /// Too many mappings are outstanding.
    TooMany,
}

/// What [`RxMaps::resolve`] made of received payload.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// Data with its DSN, ready for the connection's receive buffer.
    pub(crate) deliver: Vec<(u64, Bytes)>,
    /// Bytes no mapping covers, at this relative subflow sequence number.
    pub(crate) unmapped: Option<(u64, Bytes)>,
    /// A mapping whose checksum failed, by its DSN.
    pub(crate) checksum_failed: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct RxMaps {
    maps: VecDeque<RxMap>,
    /// After fallback (or an infinite mapping): every byte from `ssn` maps linearly from `dsn`.
    linear: Option<(u64, u64)>,
    /// The highest mapping seen, as (ssn, dsn): on one subflow the peer's data is linear, so
    /// a fallback continues from it.
    latest: Option<(u64, u64)>,
}

impl RxMaps {
    /// Records a mapping of `len` subflow bytes (`data_fin`: its data-level length on the wire
    /// was `len + 1`, the DATA_FIN's); an identical repeat is fine (the kernel copies one mapping
    /// onto every segment of a GSO batch).
    pub(crate) fn add(
        &mut self,
        ssn: u64,
        dsn: u64,
        len: u64,
        checksum: Option<u16>,
        data_fin: bool,
    ) -> Result<(), MapError> {
        if len == 0 {
            return Ok(());
        }
        let first = self.maps.partition_point(|m| m.end() <= ssn);
        if let Some(m) = self.maps.get(first)
            && m.ssn < ssn + len
        {
            let same = m.ssn == ssn && m.dsn == dsn && m.len == len;
            return if same { Ok(()) } else { Err(MapError::Conflict) };
        }
        if self.maps.len() >= MAX_MAPS {
            return Err(MapError::TooMany);
        }
        if self.latest.is_none_or(|(s, _)| ssn >= s) {
            self.latest = Some((ssn, dsn));
        }
        let at = self.maps.partition_point(|m| m.ssn < ssn);
        self.maps.insert(at, RxMap { ssn, dsn, len, checksum, data_fin, pieces: Vec::new(), held: 0 });
        Ok(())
    }

    /// From now on bytes at and after `ssn` map linearly from `dsn` (fallback, §3.7).
    pub(crate) fn set_linear(&mut self, ssn: u64, dsn: u64) {
        self.linear = Some((ssn, dsn));
    }

    /// Falls back at `ssn`: bytes continue the latest mapping seen (the peer sent its data in
    /// order on this one subflow), or start at `dsn_if_none` when no mapping was ever seen.
    pub(crate) fn fall_back_at(&mut self, ssn: u64, dsn_if_none: u64) {
        let dsn = match self.latest {
            Some((s, d)) if s <= ssn => d + (ssn - s),
            _ => dsn_if_none,
        };
        self.set_linear(ssn, dsn);
    }

    /// The index of the mapping that covers `ssn`.
    fn covering(&self, ssn: u64) -> Option<usize> {
        let i = self.maps.partition_point(|m| m.end() <= ssn);
        self.maps.get(i).filter(|m| m.ssn <= ssn).map(|_| i)
    }

    /// The DSN subflow byte `ssn` maps to, when a mapping (or the fallback's linear one) covers it.
    pub(crate) fn dsn_of(&self, ssn: u64) -> Option<u64> {
        match self.linear {
            Some((base_ssn, base_dsn)) if ssn >= base_ssn => Some(base_dsn + (ssn - base_ssn)),
            _ => self.covering(ssn).map(|i| self.maps[i].dsn + (ssn - self.maps[i].ssn)),
        }
    }

    /// Turns payload received at `ssn` into data-level pieces.
    pub(crate) fn resolve(&mut self, ssn: u64, data: Bytes) -> Resolved {
        let mut out = Resolved::default();
        let mut at = ssn;
        let mut rest = data;
        while !rest.is_empty() {
            if let Some((base_ssn, base_dsn)) = self.linear
                && at >= base_ssn
            {
                out.deliver.push((base_dsn + (at - base_ssn), rest));
                break;
            }
            let Some(i) = self.covering(at) else {
                out.unmapped = Some((at, rest));
                break;
            };
            let m = &mut self.maps[i];
            let take = ((m.end() - at) as usize).min(rest.len());
            let piece = rest.split_to(take);
            let dsn = m.dsn + (at - m.ssn);
            if m.checksum.is_some() {
                if !m.pieces.iter().any(|(s, _)| *s == at) {
                    m.held += piece.len() as u64;
                    m.pieces.push((at, piece));
                }
                if m.held >= m.len {
                    let m = self.maps.remove(i).expect("index found above");
                    match Self::verify(&m) {
                        Some(whole) => out.deliver.push((m.dsn, whole)),
                        None => out.checksum_failed = Some(m.dsn),
                    }
                }
            } else {
                out.deliver.push((dsn, piece));
            }
            at += take as u64;
        }
        out
    }

    /// Reassembles a complete mapping and checks its DSS checksum (RFC 8684 §3.3.1).
    fn verify(m: &RxMap) -> Option<Bytes> {
        let mut pieces: Vec<&(u64, Bytes)> = m.pieces.iter().collect();
        pieces.sort_by_key(|(s, _)| *s);
        let mut whole = BytesMut::with_capacity(m.len as usize);
        for (s, b) in pieces {
            let have = m.ssn + whole.len() as u64;
            if *s + b.len() as u64 <= have {
                continue;
            }
            whole.extend_from_slice(&b[(have.saturating_sub(*s)) as usize..]);
        }
        whole.truncate(m.len as usize);
        // The pseudo-header carries the data-level length as sent, DATA_FIN included (the
        // kernel's `__mptcp_make_csum(.., data_len + data_fin, ..)`).
        let mut c = DssChecksum::new(m.dsn, m.ssn as u32, (m.len + u64::from(m.data_fin)) as u16);
        c.add(&whole);
        (Some(c.finish()) == m.checksum).then(|| whole.freeze())
    }

    /// Forgets mappings that end at or below `ssn` (the subflow's RCV.NXT) and have nothing held.
    pub(crate) fn release_below(&mut self, ssn: u64) {
        self.maps.retain(|m| m.end() > ssn || m.held > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::dss_checksum;

    #[test]
    fn pieces_follow_their_mapping_and_repeats_are_accepted() {
        let mut m = RxMaps::default();
        m.add(1, 1000, 10, None, false).unwrap();
        m.add(1, 1000, 10, None, false).unwrap();
        assert_eq!(m.add(5, 2000, 10, None, false), Err(MapError::Conflict));
        m.add(11, 5000, 5, None, false).unwrap();
        let r = m.resolve(9, Bytes::from_static(b"abcdefgh"));
        assert_eq!(r.deliver, vec![(1008, Bytes::from_static(b"ab")), (5000, Bytes::from_static(b"cdefg"))]);
        assert_eq!(r.unmapped, Some((16, Bytes::from_static(b"h"))));
    }

    #[test]
    fn checksummed_mappings_are_held_until_complete_and_verified() {
        let payload = b"0123456789";
        let good = dss_checksum(77, 1, 10, payload);
        let mut m = RxMaps::default();
        m.add(1, 77, 10, Some(good), false).unwrap();
        assert!(m.resolve(6, Bytes::from_static(b"56789")).deliver.is_empty());
        let r = m.resolve(1, Bytes::from_static(b"01234"));
        assert_eq!(r.deliver, vec![(77, Bytes::from_static(payload))]);
        m.add(11, 87, 3, Some(good), false).unwrap();
        let r = m.resolve(11, Bytes::from_static(b"xyz"));
        assert_eq!(r.checksum_failed, Some(87));
    }

    #[test]
    fn a_data_fin_on_a_checksummed_mapping_counts_in_the_pseudo_header() {
        // The kernel attaches its DATA_FIN to the last data mapping (`mptcp_write_data_fin()`):
        // data-level length 11 on the wire for 10 bytes, and the checksum covers length 11.
        let payload = b"0123456789";
        let mut m = RxMaps::default();
        m.add(1, 77, 10, Some(dss_checksum(77, 1, 11, payload)), true).unwrap();
        assert_eq!(m.resolve(1, Bytes::from_static(payload)).deliver, vec![(77, Bytes::from_static(payload))]);
        let mut m = RxMaps::default();
        m.add(1, 77, 10, Some(dss_checksum(77, 1, 10, payload)), true).unwrap();
        assert_eq!(m.resolve(1, Bytes::from_static(payload)).checksum_failed, Some(77));
    }

    #[test]
    fn linear_mapping_after_fallback() {
        let mut m = RxMaps::default();
        m.set_linear(100, 9000);
        let r = m.resolve(150, Bytes::from_static(b"zz"));
        assert_eq!(r.deliver, vec![(9050, Bytes::from_static(b"zz"))]);
    }
}
