//! Reno: RFC 5681 slow start and congestion avoidance, RFC 3465 appropriate byte counting,
//! RFC 6582 (NewReno) window semantics across fast recovery, HyStart++ (RFC 9406) in the
//! initial slow start. Integer arithmetic only. Slow start, recovery and the timeout response
//! are the shared [`WindowState`] steps; this module adds the congestion-avoidance increase.

use super::window::{AckStep, WindowState, count_bytes};
use super::{AckEvent, Algorithm, CongestionControl, smss};
use crate::time::Instant;

/// RFC 5681 §3.2 eq. 4 (and §3.1 for the timeout): ssthresh = max(FlightSize / 2, 2*SMSS).
/// Also LIA's and OLIA's decrease.
pub(super) const DECREASE_NUM: u64 = 1;
pub(super) const DECREASE_DEN: u64 = 2;

/// The Reno congestion controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reno {
    /// cwnd, ssthresh, recovery, RTO backoff and HyStart++.
    win: WindowState,
    /// RFC 3465 §2.1 `bytes_acked`: bytes acknowledged in congestion avoidance not yet turned
    /// into window growth.
    ca_bytes_acked: u64,
}

impl Reno {
    /// A controller at the RFC 6928 initial window, in slow start, with HyStart++.
    pub fn new(mss: u32) -> Reno {
        Reno { win: WindowState::new(mss), ca_bytes_acked: 0 }
    }

    /// Turns HyStart++ (RFC 9406) off or on for the initial slow start; off gives the plain
    /// RFC 5681 / RFC 3465 (L = 2) slow start. Call before the first ACK.
    pub fn with_hystart(mut self, on: bool) -> Reno {
        self.win.set_hystart(on);
        self
    }

    /// Starts from a window another controller built up: `cwnd` and `ssthresh` as given, out
    /// of recovery, the byte counter empty (see [`new_controller_at`](super::new_controller_at)).
    pub fn with_window(mut self, cwnd: u64, ssthresh: u64) -> Reno {
        self.win.take_over(cwnd, ssthresh);
        self.ca_bytes_acked = 0;
        self
    }

    /// [`on_ack`](CongestionControl::on_ack) with one SMSS of congestion-avoidance growth per
    /// `per_mss(cwnd)` bytes acknowledged (RFC 3465 byte counting) instead of per `cwnd`: Reno
    /// passes `cwnd` itself, LIA, which is Reno with a coupled increase, a larger divisor.
    pub(super) fn on_ack_per_mss(&mut self, ev: &AckEvent, per_mss: impl FnOnce(u64) -> u64) {
        // Recovery, slow start and app-limited ACKs: see WindowState::on_ack.
        let AckStep::Avoid(acked) = self.win.on_ack(ev) else {
            return;
        };
        let per_mss = per_mss(self.win.cwnd);
        count_bytes(&mut self.ca_bytes_acked, &mut self.win.cwnd, acked, per_mss, smss(ev.mss));
    }
}

impl CongestionControl for Reno {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Reno
    }

    fn window(&self) -> u64 {
        self.win.cwnd
    }

    fn ssthresh(&self) -> u64 {
        self.win.ssthresh
    }

    fn on_ack(&mut self, ev: &AckEvent) {
        // RFC 3465 §2.1 (RFC 5681 §3.1): congestion avoidance, +1 SMSS per cwnd of bytes acked.
        self.on_ack_per_mss(ev, |cwnd| cwnd);
    }

    fn on_congestion_event(&mut self, _now: Instant, bytes_in_flight: u64, mss: u32) {
        // RFC 5681 §3.2 steps 2-3, once per episode (RFC 6582 §3.2 step 2): cwnd = ssthresh =
        // max(FlightSize / 2, 2*SMSS).
        if self.win.enter_recovery(bytes_in_flight, DECREASE_NUM, DECREASE_DEN, mss).is_some() {
            self.ca_bytes_acked = 0;
        }
    }

    fn on_recovery_exit(&mut self, _now: Instant, _mss: u32) {
        // RFC 6582 §3.2 step 3, option 2: cwnd = ssthresh.
        self.win.exit_recovery();
    }

    fn on_rto(&mut self, _now: Instant, bytes_in_flight: u64, mss: u32) {
        // RFC 5681 §3.1: ssthresh = max(FlightSize / 2, 2*SMSS) (held on backoff), cwnd = 1 SMSS.
        self.win.on_rto(bytes_in_flight, DECREASE_NUM, DECREASE_DEN, mss);
        // The RFC 3465 §2.1 byte counter starts over with the new window.
        self.ca_bytes_acked = 0;
    }

    fn penalize(&mut self, _now: Instant, mss: u32) {
        // Halve cwnd, ssthresh = cwnd (WindowState::penalize); the byte counter starts over.
        self.win.penalize(mss);
        self.ca_bytes_acked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::test_util::{self, MSS, RTT, ack_at};
    use core::time::Duration;

    fn ack(now_ms: u64, bytes_acked: u64, bytes_in_flight: u64) -> AckEvent {
        ack_at(Instant::from_millis(now_ms), bytes_acked, bytes_in_flight, Some(RTT))
    }

    /// One RTT of ACK clocking: the whole window acknowledged in `per_ack`-byte ACKs (the last
    /// one possibly shorter).
    fn round(cc: &mut Reno, now_ms: u64, per_ack: u64) {
        let flight = cc.window();
        let mut acked = 0;
        while acked < flight {
            let n = per_ack.min(flight - acked);
            cc.on_ack(&ack(now_ms, n, flight - acked));
            acked += n;
        }
    }

    /// A Reno in congestion avoidance at `cwnd` bytes (via a congestion event and recovery).
    fn in_avoidance(cwnd: u64) -> Reno {
        test_util::in_avoidance(Reno::new(MSS), cwnd)
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut cc = Reno::new(MSS);
        assert_eq!(cc.window(), 10_000);
        round(&mut cc, 100, 1000);
        assert_eq!(cc.window(), 20_000);
        round(&mut cc, 200, 1000);
        assert_eq!(cc.window(), 40_000);
        // Delayed ACKs (2 segments each) still double thanks to L = 2 (RFC 3465 §2.2).
        round(&mut cc, 300, 2000);
        assert_eq!(cc.window(), 80_000);
        assert!(cc.in_slow_start());
    }

    #[test]
    fn slow_start_abc_limit_caps_stretch_acks() {
        let mut cc = Reno::new(MSS).with_hystart(false);
        cc.on_ack(&ack(100, 5000, 10_000));
        assert_eq!(cc.window(), 12_000, "one ACK grows at most 2*SMSS");
        // HyStart++ (the default) uses L = 8 (RFC 9406 §4.3, non-paced sender).
        let mut cc = Reno::new(MSS);
        cc.on_ack(&ack(100, 5000, 10_000));
        assert_eq!(cc.window(), 15_000);
        cc.on_ack(&ack(100, 10_000, 15_000));
        assert_eq!(cc.window(), 23_000);
        // After a timeout slow start is the standard one again (RFC 9406 §4.3): L = 2.
        cc.on_rto(Instant::from_millis(1000), 23_000, MSS);
        cc.on_ack(&ack(1100, 5000, 1000));
        assert_eq!(cc.window(), 3_000);
    }

    /// A cwnd-limited sender's ACK: one MSS acknowledged with a full window in flight before
    /// it, and an RTT sample that rises by 20 ms (> RttThresh = 12.5 ms) once the window passes
    /// 40 segments, as a queue would.
    fn queue_ack(cwnd: u64, now_ms: u64) -> AckEvent {
        let mut ev = ack(now_ms, u64::from(MSS), cwnd);
        ev.rtt_sample = Some(Duration::from_millis(if cwnd < 40_000 { 100 } else { 120 }));
        ev
    }

    #[test]
    fn hystart_exits_slow_start_on_rtt_increase() {
        let mut cc = Reno::new(MSS);
        let (mut entry, mut acks) = (0, 0);
        while cc.in_slow_start() {
            cc.on_ack(&queue_ack(cc.window(), 0));
            if cc.win.hystart.in_css() && entry == 0 {
                entry = cc.window();
            }
            acks += 1;
            assert!(acks < 10_000, "no exit: cwnd {}", cc.window());
        }
        // CSS starts 8 samples into the first round that is all 120 ms, then grows x1.25 per
        // round for 5 rounds, the first one partial.
        let growth = cc.window() as f64 / entry as f64;
        assert!((40_000..100_000).contains(&entry) && (2.3..3.1).contains(&growth), "{entry} -> {}", cc.window());
        assert_eq!(cc.ssthresh(), cc.window(), "RFC 9406 §4.2: ssthresh = cwnd");
        // Congestion avoidance: one MSS per RTT.
        let w = cc.window();
        round(&mut cc, 100, 1000);
        round(&mut cc, 200, 1000);
        assert_eq!(cc.window(), w + 2 * u64::from(MSS));

        // Without HyStart++ the same path keeps slow-starting.
        let mut cc = Reno::new(MSS).with_hystart(false);
        for _ in 0..1000 {
            cc.on_ack(&queue_ack(cc.window(), 0));
        }
        assert_eq!(cc.window(), 10_000 + 1000 * 1000);
    }

    #[test]
    fn slow_start_stops_at_ssthresh_then_avoidance() {
        let mut cc = Reno::new(MSS);
        cc.on_rto(Instant::ZERO, 8_000, MSS); // ssthresh 4000, cwnd 1000
        assert_eq!((cc.window(), cc.ssthresh()), (1000, 4000));
        cc.on_ack(&ack(1, 1000, 1000));
        cc.on_ack(&ack(2, 1000, 1000));
        cc.on_ack(&ack(3, 1000, 1000));
        assert_eq!(cc.window(), 4000);
        assert!(!cc.in_slow_start());
        // Congestion avoidance now: 4 more segments acked give +1 MSS.
        for i in 0..3 {
            cc.on_ack(&ack(4 + i, 1000, 4000));
            assert_eq!(cc.window(), 4000);
        }
        cc.on_ack(&ack(7, 1000, 4000));
        assert_eq!(cc.window(), 5000);
    }

    #[test]
    fn congestion_avoidance_grows_one_mss_per_rtt() {
        let mut cc = in_avoidance(20_000);
        round(&mut cc, 100, 1000);
        assert_eq!(cc.window(), 21_000);
        round(&mut cc, 200, 1000);
        assert_eq!(cc.window(), 22_000);
        // Ten RTTs with delayed ACKs: +1 MSS each (byte counting, not ACK counting).
        for r in 0..10 {
            round(&mut cc, 300 + 100 * r, 2000);
        }
        assert_eq!(cc.window(), 32_000);
    }

    #[test]
    fn congestion_event_halves_flight_size() {
        let mut cc = Reno::new(MSS);
        round(&mut cc, 100, 1000); // cwnd 20000
        cc.on_congestion_event(Instant::from_millis(150), 20_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (10_000, 10_000));
        assert!(!cc.in_slow_start());
        // Uses FlightSize, not cwnd (RFC 5681 §3.2 eq. 4).
        let mut cc = Reno::new(MSS);
        round(&mut cc, 100, 1000);
        cc.on_congestion_event(Instant::from_millis(150), 12_000, MSS);
        assert_eq!(cc.ssthresh(), 6_000);
        // Floor of 2*SMSS.
        let mut cc = Reno::new(MSS);
        cc.on_congestion_event(Instant::ZERO, 1_500, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (2_000, 2_000));
        // More in flight than cwnd (after an RTO): the loss does not open the window.
        let mut cc = Reno::new(MSS);
        cc.on_rto(Instant::ZERO, 10_000, MSS);
        cc.on_ack(&ack(100, 1000, 10_000));
        cc.on_congestion_event(Instant::from_millis(200), 9_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (2_000, 2_000));
    }

    #[test]
    fn recovery_freezes_window_and_reduces_once() {
        let mut cc = in_avoidance(20_000);
        cc.on_congestion_event(Instant::from_millis(10), 20_000, MSS);
        assert_eq!(cc.window(), 10_000);
        // ACKs during recovery and a duplicate congestion signal change nothing.
        cc.on_ack(&ack(20, 5000, 20_000));
        cc.on_congestion_event(Instant::from_millis(30), 10_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (10_000, 10_000));
        cc.on_recovery_exit(Instant::from_millis(110), MSS);
        assert_eq!(cc.window(), 10_000);
        round(&mut cc, 210, 1000);
        assert_eq!(cc.window(), 11_000);
    }

    #[test]
    fn rto_gives_one_mss_and_holds_ssthresh_on_backoff() {
        let mut cc = in_avoidance(20_000);
        cc.on_rto(Instant::from_millis(1000), 20_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (1_000, 10_000));
        assert!(cc.in_slow_start());
        // Second expiry for the same data: cwnd stays 1 MSS, ssthresh held.
        cc.on_rto(Instant::from_millis(3000), 1_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (1_000, 10_000));
        // After progress, a new timeout recomputes ssthresh (with its 2*SMSS floor).
        cc.on_ack(&ack(3100, 1000, 1000));
        assert_eq!(cc.window(), 2_000);
        cc.on_rto(Instant::from_millis(5000), 2_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (1_000, 2_000));
    }

    #[test]
    fn rto_ssthresh_uses_flight_capped_at_cwnd() {
        // A lost retransmission: far more outstanding (mostly SACKed) than the window.
        let mut cc = in_avoidance(20_000);
        cc.on_rto(Instant::from_millis(1000), 80_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (1_000, 10_000));
        let mut cc = in_avoidance(20_000);
        cc.on_rto(Instant::from_millis(1000), 8_000, MSS);
        assert_eq!(cc.ssthresh(), 4_000, "a smaller flight still counts");
    }

    #[test]
    fn rto_during_recovery_ends_it() {
        let mut cc = in_avoidance(20_000);
        cc.on_congestion_event(Instant::ZERO, 20_000, MSS);
        cc.on_rto(Instant::from_millis(1000), 10_000, MSS);
        // A late recovery exit must not restore cwnd to ssthresh.
        cc.on_recovery_exit(Instant::from_millis(1001), MSS);
        assert_eq!(cc.window(), 1_000);
        cc.on_ack(&ack(1100, 1000, 1000));
        assert_eq!(cc.window(), 2_000, "slow start resumes after the timeout");
    }

    #[test]
    fn app_limited_acks_do_not_grow() {
        let mut cc = Reno::new(MSS);
        let mut ev = ack(100, 1000, 3000);
        ev.app_limited = true;
        for _ in 0..20 {
            cc.on_ack(&ev);
        }
        assert_eq!(cc.window(), 10_000, "slow start");
        let mut cc = in_avoidance(20_000);
        for _ in 0..100 {
            cc.on_ack(&ev);
        }
        assert_eq!(cc.window(), 20_000, "congestion avoidance");
        // Nor do they bank credit for later.
        cc.on_ack(&ack(200, 1000, 20_000));
        assert_eq!(cc.window(), 20_000);
    }
}
