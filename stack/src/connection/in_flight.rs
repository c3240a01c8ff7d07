//! Which data-level bytes a subflow carries and has not yet had acknowledged at the subflow
//! level, so that they can be sent again on another subflow when this one fails or stalls
//! (RFC 8684 §3.3.6: "data ... MAY be retransmitted on any available subflow").

use core::ops::Range;
use std::collections::VecDeque;

use crate::range_set::RangeSet;

/// `len` bytes at relative subflow sequence `ssn` carry DSNs from `dsn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    dsn: u64,
    ssn: u64,
    len: u64,
}

/// One subflow's unacknowledged mappings, in subflow sequence order; contiguous sends merge,
/// so a subflow that carries a contiguous stretch of the data holds one entry.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    sent: VecDeque<Sent>,
}

impl InFlight {
    /// Records `len` bytes sent at `ssn` carrying DSNs from `dsn`.
    pub(super) fn push(&mut self, dsn: u64, ssn: u64, len: u64) {
        if let Some(last) = self.sent.back_mut()
            && last.dsn + last.len == dsn
            && last.ssn + last.len == ssn
        {
            last.len += len;
            return;
        }
        self.sent.push_back(Sent { dsn, ssn, len });
    }

    /// Forgets what the subflow's cumulative ACK (`snd_una`, relative) covers.
    pub(super) fn release(&mut self, snd_una: u64) {
        while let Some(front) = self.sent.front_mut() {
            if front.ssn + front.len <= snd_una {
                self.sent.pop_front();
            } else {
                if front.ssn < snd_una {
                    let cut = snd_una - front.ssn;
                    front.ssn += cut;
                    front.dsn += cut;
                    front.len -= cut;
                }
                return;
            }
        }
    }

    /// Does this subflow carry DSN `dsn` unacknowledged?
    pub(super) fn holds(&self, dsn: u64) -> bool {
        self.sent.iter().any(|s| s.dsn <= dsn && dsn < s.dsn + s.len)
    }

    /// The DSN ranges, for reinjection elsewhere.
    pub(super) fn dsn_ranges(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.sent.iter().map(|s| s.dsn..s.dsn + s.len)
    }

    /// Forgets all but the bytes within `keep`: the rest was handed to other subflows (with an
    /// empty `keep`, everything).
    pub(super) fn retain_within(&mut self, keep: &RangeSet) {
        let sent = core::mem::take(&mut self.sent);
        for s in sent {
            for r in keep.iter_within(s.dsn..s.dsn + s.len) {
                let offset = r.start - s.dsn;
                self.sent.push_back(Sent { dsn: r.start, ssn: s.ssn + offset, len: r.end - r.start });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_releases_and_reports() {
        let mut f = InFlight::default();
        f.push(1000, 1, 100);
        f.push(1100, 101, 100);
        f.push(5000, 201, 50); // a reinjection: DSN jumps, SSN continues
        assert_eq!(f.dsn_ranges().collect::<Vec<_>>(), vec![1000..1200, 5000..5050]);
        f.release(51);
        assert_eq!(f.dsn_ranges().collect::<Vec<_>>(), vec![1050..1200, 5000..5050]);
        assert!(!f.holds(1049) && f.holds(1050) && f.holds(5049) && !f.holds(5050));
        f.release(226);
        assert_eq!(f.dsn_ranges().collect::<Vec<_>>(), vec![5025..5050]);
        f.release(251);
        assert_eq!(f.dsn_ranges().count(), 0);
    }

    #[test]
    fn keeps_only_what_is_asked_with_its_subflow_sequence_numbers() {
        let mut f = InFlight::default();
        f.push(1000, 1, 200);
        f.push(5000, 201, 100);
        f.retain_within(&[1050..1100, 1150..5050].into_iter().collect());
        assert_eq!(f.dsn_ranges().collect::<Vec<_>>(), vec![1050..1100, 1150..1200, 5000..5050]);
        // Each kept piece keeps its own SSN: releasing up to SSN 176 (DSN 1175) trims the second.
        f.release(176);
        assert_eq!(f.dsn_ranges().collect::<Vec<_>>(), vec![1175..1200, 5000..5050]);
        assert!(f.holds(5049) && !f.holds(5050));
        f.retain_within(&RangeSet::new());
        assert_eq!(f.dsn_ranges().count(), 0);
    }
}
