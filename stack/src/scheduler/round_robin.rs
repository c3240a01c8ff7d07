//! The round-robin scheduler.

use super::{Candidate, Context, Scheduler, SchedulerKind, sendable};

/// One segment per subflow in turn: after picking index `i`, the next pick is the usable
/// candidate with room whose index is the smallest above `i`, wrapping round to the smallest
/// index. Subflows that are full are skipped (not waited for), and the cursor is an index, not
/// a position, so subflows may come and go between calls.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    /// The index picked last, if any.
    last: Option<usize>,
}

impl RoundRobin {
    /// A new round-robin scheduler; its first pick is the lowest index.
    pub fn new() -> RoundRobin {
        RoundRobin::default()
    }
}

impl Scheduler for RoundRobin {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::RoundRobin
    }

    fn pick(&mut self, candidates: &[Candidate], _ctx: &Context) -> Option<usize> {
        let ready = sendable(candidates).map(|c| c.index);
        let after_cursor = self.last.and_then(|last| ready.clone().filter(|&i| i > last).min());
        let next = after_cursor.or_else(|| ready.min())?;
        self.last = Some(next);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{AMPLE, backup, cand};
    use super::*;

    fn picks(s: &mut RoundRobin, set: &[Candidate], n: usize) -> Vec<Option<usize>> {
        (0..n).map(|_| s.pick(set, &AMPLE)).collect()
    }

    #[test]
    fn round_robin_alternates() {
        let mut s = RoundRobin::new();
        let set = [cand(0, 10, 10_000), cand(1, 100, 10_000)];
        assert_eq!(picks(&mut s, &set, 5), [Some(0), Some(1), Some(0), Some(1), Some(0)]);
    }

    #[test]
    fn round_robin_cycles_in_index_order_regardless_of_slice_order() {
        let mut s = RoundRobin::new();
        let set = [cand(7, 10, 10_000), cand(2, 10, 10_000), cand(4, 10, 10_000)];
        assert_eq!(picks(&mut s, &set, 6), [Some(2), Some(4), Some(7), Some(2), Some(4), Some(7)]);
    }

    #[test]
    fn round_robin_skips_full_and_backup_subflows() {
        let mut s = RoundRobin::new();
        let set = [cand(0, 10, 10_000), cand(1, 10, 0), backup(cand(2, 10, 10_000)), cand(3, 10, 10_000)];
        assert_eq!(picks(&mut s, &set, 4), [Some(0), Some(3), Some(0), Some(3)]);
    }

    #[test]
    fn round_robin_cursor_survives_subflow_changes() {
        let mut s = RoundRobin::new();
        let three = [cand(0, 10, 10_000), cand(1, 10, 10_000), cand(2, 10, 10_000)];
        assert_eq!(s.pick(&three, &AMPLE), Some(0));
        assert_eq!(s.pick(&three, &AMPLE), Some(1));
        // Subflow 2 goes away: wrap to 0.
        assert_eq!(s.pick(&three[..2], &AMPLE), Some(0));
        // Subflow 1 is full: skip to 2.
        let one_full = [cand(0, 10, 10_000), cand(1, 10, 0), cand(2, 10, 10_000)];
        assert_eq!(s.pick(&one_full, &AMPLE), Some(2));
        // Nobody has room: wait, and the cursor stays put.
        let none = [cand(0, 10, 0), cand(1, 10, 0), cand(2, 10, 0)];
        assert_eq!(s.pick(&none, &AMPLE), None);
        assert_eq!(s.pick(&three, &AMPLE), Some(0));
    }
}
