//! The connection-wide view a coupled controller (RFC 6356 LIA, OLIA) needs: one snapshot per
//! subflow, built by [`snapshot`]. See the module docs of [`cc`](super) for who builds it and
//! when.

use core::time::Duration;

use super::CongestionControl;

/// The snapshot of one subflow: every field of [`SubflowSnapshot`] from its controller, its
/// smoothed RTT and its sender MSS. The connection builds every snapshot through this, so that
/// fields added for later algorithms are filled in one place.
pub fn snapshot(cc: &dyn CongestionControl, srtt: Option<Duration>, mss: u32) -> SubflowSnapshot {
    SubflowSnapshot { window: cc.window(), srtt, mss, loss_interval_bytes: cc.loss_interval_bytes() }
}

/// One subflow's state as the connection sees it when it refreshes coupled controllers.
///
/// Derives `Default`: build it with `..Default::default()` so fields added for later algorithms
/// (e.g. OLIA's bytes transmitted between losses) do not break callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubflowSnapshot {
    /// The subflow's congestion window in bytes ([`CongestionControl::window`](super::CongestionControl::window)).
    pub window: u64,
    /// Its smoothed RTT, if it has a sample.
    pub srtt: Option<Duration>,
    /// Its sender MSS in bytes.
    pub mss: u32,
    /// OLIA's `l_r`: the larger of the bytes acknowledged between the last two losses and the
    /// bytes acknowledged since the last loss
    /// ([`CongestionControl::loss_interval_bytes`](super::CongestionControl::loss_interval_bytes));
    /// 0 from controllers that do not track it.
    pub loss_interval_bytes: u64,
}

/// Every established subflow of one connection, and which of them the receiving controller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CouplingInfo<'a> {
    /// One entry per subflow that takes part in coupling: the connection's subflows that carry
    /// data (it decides whether backup subflows, RFC 8684 §3.3.8, count).
    pub subflows: &'a [SubflowSnapshot],
    /// Index into `subflows` of the subflow whose controller receives this.
    pub this: usize,
}

impl CouplingInfo<'_> {
    /// The receiving subflow's own entry, if `this` is in range.
    pub fn own(&self) -> Option<&SubflowSnapshot> {
        self.subflows.get(self.this)
    }

    /// RFC 6356 §3 `cwnd_total`: the sum of all windows, in bytes (saturating).
    pub fn total_window(&self) -> u64 {
        self.subflows.iter().fold(0u64, |sum, s| sum.saturating_add(s.window))
    }
}

/// An RTT in microseconds as `f64`, at least 1 (no division by zero). Exact: RTTs are far below
/// 2^53 µs.
pub(super) fn rtt_micros(rtt: Duration) -> f64 {
    rtt.as_micros().max(1) as f64
}

/// An RTT in microseconds, squared, as an integer for exact comparisons; the RTT is clamped to
/// `[1, u32::MAX]` µs (71 minutes), so the square fits in 64 bits and a product with a `u64`
/// fits in a `u128`.
pub(super) fn rtt_micros_squared(rtt: Duration) -> u128 {
    let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).clamp(1, u64::from(u32::MAX));
    u128::from(us * us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::test_util::ack_at;
    use crate::cc::{Olia, Reno};
    use crate::time::Instant;

    #[test]
    fn aggregate_helpers() {
        let snaps = [
            SubflowSnapshot { window: 10_000, srtt: Some(Duration::from_millis(20)), mss: 1000, ..Default::default() },
            SubflowSnapshot { window: 30_000, ..Default::default() },
        ];
        let info = CouplingInfo { subflows: &snaps, this: 1 };
        assert_eq!(info.total_window(), 40_000);
        assert_eq!(info.own().map(|s| s.window), Some(30_000));
        assert_eq!(CouplingInfo { subflows: &snaps, this: 2 }.own(), None);
    }

    #[test]
    fn snapshot_fills_every_field_from_the_controller() {
        let rtt = Some(Duration::from_millis(30));
        let reno = Reno::new(1000);
        let want = SubflowSnapshot { window: 10_000, srtt: rtt, mss: 1000, loss_interval_bytes: 0 };
        assert_eq!(snapshot(&reno, rtt, 1000), want);

        let mut olia = Olia::new(1000);
        olia.on_ack(&ack_at(Instant::ZERO, 3000, 10_000, rtt)); // slow start: 13 000
        olia.on_congestion_event(Instant::ZERO, 13_000, 1000);
        let boxed: Box<dyn CongestionControl> = Box::new(olia);
        let snap = snapshot(boxed.as_ref(), None, 1000);
        let want = SubflowSnapshot { window: 6_500, srtt: None, mss: 1000, loss_interval_bytes: 3_000 };
        assert_eq!(snap, want);
    }

    #[test]
    fn rtt_helpers() {
        assert_eq!(rtt_micros(Duration::ZERO), 1.0);
        assert_eq!(rtt_micros(Duration::from_millis(20)), 20_000.0);
        assert_eq!(rtt_micros_squared(Duration::from_millis(20)), 400_000_000);
        assert_eq!(rtt_micros_squared(Duration::from_secs(1 << 40)), u128::from(u32::MAX) * u128::from(u32::MAX));
    }
}
