//! The lowest-RTT scheduler and its redundant variant.

use super::{Candidate, Context, Scheduler, SchedulerKind, fastest, sendable};

/// Lowest smoothed RTT first: among the usable candidates with room, the one with the lowest
/// srtt (unsampled ones last, ties on the lowest index). The default, as in Linux.
#[derive(Debug, Clone, Default)]
pub struct MinRtt {
    _private: (),
}

impl MinRtt {
    /// A new lowest-RTT scheduler (it keeps no state).
    pub fn new() -> MinRtt {
        MinRtt::default()
    }
}

impl Scheduler for MinRtt {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::MinRtt
    }

    fn pick(&mut self, candidates: &[Candidate], _ctx: &Context) -> Option<usize> {
        fastest(sendable(candidates)).map(|c| c.index)
    }
}

/// Redundant: [`pick`](Scheduler::pick) chooses like [`MinRtt`], and
/// [`redundant`](Scheduler::redundant) is `true`, telling the connection to send a copy of each
/// segment on every other usable subflow as well (each copy carries the same data sequence
/// mapping, so the receiver keeps the first to arrive and drops the rest, RFC 8684 §3.3.1).
#[derive(Debug, Clone, Default)]
pub struct Redundant {
    _private: (),
}

impl Redundant {
    /// A new redundant scheduler (it keeps no state).
    pub fn new() -> Redundant {
        Redundant::default()
    }
}

impl Scheduler for Redundant {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Redundant
    }

    fn pick(&mut self, candidates: &[Candidate], _ctx: &Context) -> Option<usize> {
        fastest(sendable(candidates)).map(|c| c.index)
    }

    fn redundant(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::super::tests::{AMPLE, backup, cand};
    use super::*;

    #[test]
    fn min_rtt_picks_lowest_srtt_with_capacity() {
        let mut s = MinRtt::new();
        let set = [cand(0, 50, 10_000), cand(1, 10, 10_000), cand(2, 30, 10_000)];
        assert_eq!(s.pick(&set, &AMPLE), Some(1));
        // The fastest is full: the next fastest with room.
        let set = [cand(0, 50, 10_000), cand(1, 10, 0), cand(2, 30, 10_000)];
        assert_eq!(s.pick(&set, &AMPLE), Some(2));
        // Stateless: the same answer again.
        assert_eq!(s.pick(&set, &AMPLE), Some(2));
    }

    #[test]
    fn min_rtt_ties_break_on_lowest_index() {
        let mut s = MinRtt::new();
        let set = [cand(4, 20, 10_000), cand(2, 20, 10_000), cand(3, 20, 10_000)];
        assert_eq!(s.pick(&set, &AMPLE), Some(2));
    }

    #[test]
    fn min_rtt_prefers_measured_over_unsampled() {
        let mut s = MinRtt::new();
        let unsampled = Candidate { srtt: None, ..cand(0, 0, 10_000) };
        let set = [unsampled, cand(1, 200, 10_000)];
        assert_eq!(s.pick(&set, &AMPLE), Some(1));
        // Once the measured one is full, the unsampled one gets data (and its first sample).
        let set = [unsampled, cand(1, 200, 0)];
        assert_eq!(s.pick(&set, &AMPLE), Some(0));
    }

    #[test]
    fn min_rtt_ignores_faster_backup() {
        let mut s = MinRtt::new();
        let set = [backup(cand(0, 1, 10_000)), cand(1, 90, 10_000), cand(2, 80, 0)];
        assert_eq!(s.pick(&set, &AMPLE), Some(1));
    }

    #[test]
    fn redundant_picks_like_min_rtt_and_says_redundant() {
        let mut r = Redundant::new();
        let mut m = MinRtt::new();
        assert!(r.redundant());
        assert!(!m.redundant());
        let sets = [
            vec![cand(0, 50, 10_000), cand(1, 10, 10_000)],
            vec![cand(0, 50, 10_000), cand(1, 10, 0)],
            vec![backup(cand(0, 5, 10_000)), cand(1, 10, 10_000)],
            vec![Candidate { srtt: None, ..cand(0, 0, 1) }, cand(1, 10, 0)],
            vec![Candidate { srtt: Some(Duration::ZERO), ..cand(3, 0, 1) }, cand(1, 10, 1)],
        ];
        for set in &sets {
            assert_eq!(r.pick(set, &AMPLE), m.pick(set, &AMPLE), "{set:?}");
        }
        assert_eq!(r.pick(&sets[0], &AMPLE), Some(1));
        assert_eq!(r.pick(&sets[4], &AMPLE), Some(3));
    }
}
