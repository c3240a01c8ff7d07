//! BLEST: Blocking Estimation-based MPTCP scheduler.
//!
//! S. Ferlin, Ö. Alay, O. Mehani, R. Boreli, "BLEST: Blocking Estimation-based MPTCP Scheduler
//! for Heterogeneous Networks", IFIP Networking 2016.
//!
//! With paths of very different RTTs, data sent on the slow path occupies the connection-level
//! receive window (RFC 8684 §3.3.4) for a long time; if the fast path then runs out of window
//! it idles (head-of-line blocking) even though it could send. BLEST sends on the slow path
//! only when the fast path would not be blocked by it.

use super::{Candidate, Context, Scheduler, SchedulerKind, fastest, sendable, usable};

/// The BLEST scheduler (see the module docs of [`crate::scheduler`]).
///
/// 1. The fastest usable subflow `f` (lowest srtt, regardless of room) has room: send on it.
/// 2. Otherwise take the fastest usable subflow with room, `s`. While one segment travels on
///    `s`, `f` could send about `X = MSS_f * (CWND_f/MSS_f + (rtts - 1)/2) * rtts` bytes, with
///    `rtts = srtt_s / srtt_f` (its window plus one segment more per RTT, as in congestion
///    avoidance). If `X * lambda > window_room - MSS_s`, the segment on `s` would leave `f`
///    blocked by the connection window: wait (`None`). Otherwise send on `s`.
/// 3. If `f` or `s` has no RTT sample there is nothing to estimate with: send on `s` (as
///    MinRtt would), which also gives `s` its first sample.
///
/// `lambda` scales the estimate: above 1 waits more readily, below 1 less. The paper adapts it
/// at run time from whether the fast subflow actually got blocked; this scheduler has no such
/// feedback through its interface, so `lambda` is fixed (1.0 unless set by
/// [`with_lambda`](Blest::with_lambda)).
#[derive(Debug, Clone)]
pub struct Blest {
    lambda: f64,
}

impl Default for Blest {
    fn default() -> Blest {
        Blest::new()
    }
}

impl Blest {
    /// A new BLEST scheduler with `lambda` = 1.0.
    pub fn new() -> Blest {
        Blest { lambda: 1.0 }
    }

    /// A BLEST scheduler with a fixed `lambda` (see the type docs).
    ///
    /// # Panics
    ///
    /// If `lambda` is negative, infinite or NaN.
    pub fn with_lambda(lambda: f64) -> Blest {
        assert!(lambda.is_finite() && lambda >= 0.0, "BLEST lambda must be finite and non-negative, got {lambda}");
        Blest { lambda }
    }

    /// The scaling factor applied to the blocking estimate.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// Whether a segment sent on `slow` would leave `fast` blocked by the connection-level
    /// window (step 2 of the type docs). `None` if either has no RTT sample.
    fn would_block(&self, fast: &Candidate, slow: &Candidate, ctx: &Context) -> Option<bool> {
        let srtt_f = fast.srtt?.as_nanos().max(1) as f64;
        let srtt_s = slow.srtt?.as_nanos() as f64;
        let rtts = srtt_s / srtt_f;
        let mss_f = f64::from(fast.mss.max(1));
        let cwnd_segments = fast.cwnd as f64 / mss_f;
        let fast_bytes = mss_f * (cwnd_segments + (rtts - 1.0) / 2.0) * rtts;
        // Room the connection window (RFC 8684 §3.3.4) would have left once `slow` takes a segment.
        let room_after = ctx.window_room.saturating_sub(u64::from(slow.mss)) as f64;
        Some(fast_bytes * self.lambda > room_after)
    }
}

impl Scheduler for Blest {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Blest
    }

    fn pick(&mut self, candidates: &[Candidate], ctx: &Context) -> Option<usize> {
        let fast = fastest(usable(candidates))?;
        if fast.capacity > 0 {
            return Some(fast.index);
        }
        let slow = fastest(sendable(candidates))?;
        match self.would_block(fast, slow, ctx) {
            Some(true) => None,
            Some(false) | None => Some(slow.index),
        }
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::super::tests::{AMPLE, backup, cand};
    use super::*;

    /// Fast: 10 ms, cwnd 10 segments of 1000 bytes, full. Slow: 40 ms, room for 5 segments.
    /// rtts = 4, X = 1000 * (10 + 1.5) * 4 = 46 000 bytes.
    fn fast_full_slow_free() -> [Candidate; 2] {
        let fast = Candidate { cwnd: 10_000, in_flight: 10_000, capacity: 0, mss: 1000, ..cand(0, 10, 0) };
        let slow = Candidate { cwnd: 10_000, in_flight: 5_000, capacity: 5_000, mss: 1000, ..cand(1, 40, 0) };
        [fast, slow]
    }

    fn ctx(window_room: u64) -> Context {
        Context { unsent: 1 << 20, window_room }
    }

    #[test]
    fn blest_uses_fast_subflow_when_it_has_room() {
        let mut s = Blest::new();
        let [mut fast, slow] = fast_full_slow_free();
        fast.capacity = 1000;
        // Even with a tight window the fast subflow is used.
        assert_eq!(s.pick(&[slow, fast], &ctx(0)), Some(0));
        assert_eq!(s.pick(&[slow, fast], &AMPLE), Some(0));
    }

    #[test]
    fn blest_waits_when_window_is_tight() {
        let mut s = Blest::new();
        let set = fast_full_slow_free();
        assert_eq!(s.pick(&set, &ctx(0)), None);
        assert_eq!(s.pick(&set, &ctx(10_000)), None);
        // Just below the threshold: 46 999 - 1000 < 46 000.
        assert_eq!(s.pick(&set, &ctx(46_999)), None);
    }

    #[test]
    fn blest_uses_slow_subflow_when_room_is_ample() {
        let mut s = Blest::new();
        let set = fast_full_slow_free();
        // At the threshold: 47 000 - 1000 = 46 000, not more than X.
        assert_eq!(s.pick(&set, &ctx(47_000)), Some(1));
        assert_eq!(s.pick(&set, &AMPLE), Some(1));
    }

    #[test]
    fn blest_lambda_scales_the_estimate() {
        let set = fast_full_slow_free();
        let mut cautious = Blest::with_lambda(2.0);
        assert_eq!(cautious.lambda(), 2.0);
        assert_eq!(cautious.pick(&set, &ctx(47_000)), None);
        assert_eq!(cautious.pick(&set, &ctx(93_000)), Some(1));
        let mut bold = Blest::with_lambda(0.5);
        assert_eq!(bold.pick(&set, &ctx(24_000)), Some(1));
        assert_eq!(bold.pick(&set, &ctx(23_999)), None);
    }

    #[test]
    fn blest_estimate_grows_with_rtt_ratio() {
        let mut s = Blest::new();
        let [fast, mut slow] = fast_full_slow_free();
        // rtts = 8: X = 1000 * (10 + 3.5) * 8 = 108 000.
        slow.srtt = Some(Duration::from_millis(80));
        assert_eq!(s.pick(&[fast, slow], &ctx(108_000)), None);
        assert_eq!(s.pick(&[fast, slow], &ctx(109_000)), Some(1));
    }

    #[test]
    fn blest_without_rtt_samples_sends_on_the_free_subflow() {
        let mut s = Blest::new();
        let [fast, slow] = fast_full_slow_free();
        let slow = Candidate { srtt: None, ..slow };
        assert_eq!(s.pick(&[fast, slow], &ctx(0)), Some(1));
        let fast = Candidate { srtt: None, ..fast };
        assert_eq!(s.pick(&[fast, slow], &ctx(0)), Some(1));
    }

    #[test]
    fn blest_nothing_free_gives_none() {
        let mut s = Blest::new();
        let [fast, mut slow] = fast_full_slow_free();
        slow.capacity = 0;
        assert_eq!(s.pick(&[fast, slow], &AMPLE), None);
    }

    #[test]
    fn blest_never_falls_back_to_backup_while_fast_regular_is_full() {
        let mut s = Blest::new();
        let [fast, slow] = fast_full_slow_free();
        assert_eq!(s.pick(&[fast, backup(slow)], &AMPLE), None);
    }

    #[test]
    #[should_panic(expected = "lambda")]
    fn blest_rejects_nan_lambda() {
        let _ = Blest::with_lambda(f64::NAN);
    }
}
