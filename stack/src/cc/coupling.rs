//! The connection-wide view a coupled controller (RFC 6356 LIA, OLIA) needs: one snapshot per
//! subflow. See the module docs of [`cc`](super) for who builds it and when.

use core::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_helpers() {
        let snaps = [
            SubflowSnapshot { window: 10_000, srtt: Some(Duration::from_millis(20)), mss: 1000 },
            SubflowSnapshot { window: 30_000, ..Default::default() },
        ];
        let info = CouplingInfo { subflows: &snaps, this: 1 };
        assert_eq!(info.total_window(), 40_000);
        assert_eq!(info.own().map(|s| s.window), Some(30_000));
        assert_eq!(CouplingInfo { subflows: &snaps, this: 2 }.own(), None);
    }
}
