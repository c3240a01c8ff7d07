//! LIA, the "Linked Increases Algorithm" (RFC 6356): Reno per subflow, with the
//! congestion-avoidance increase coupled across the connection's subflows so that the
//! connection as a whole takes no more than one TCP flow would on its best path.
//!
//! RFC 6356 §3, windows in bytes: for each ACK in congestion avoidance on subflow `i`,
//!
//! ```text
//! cwnd_i += min(alpha * bytes_acked * MSS_i / cwnd_total, bytes_acked * MSS_i / cwnd_i)
//!
//! alpha = cwnd_total * max_i(cwnd_i / rtt_i^2) / (sum_i(cwnd_i / rtt_i))^2
//! ```
//!
//! `alpha` and `cwnd_total` come from the connection's snapshot
//! ([`on_coupling_update`](CongestionControl::on_coupling_update)), computed over the subflows
//! that have an RTT sample (the others are left out of both: as `alpha / cwnd_total` is what the
//! increase uses, which `cwnd_total` is taken cancels out). Everything else — slow start with
//! HyStart++, the halving on loss, recovery, the timeout response, the penalisation — is Reno's:
//! an LIA is a [`Reno`](super::Reno) whose byte counting takes a larger divisor.
//!
//! The increase is `bytes_acked * MSS_i / max(cwnd_total / alpha, cwnd_i)`, applied with Reno's
//! RFC 3465 byte counting (one MSS once that many bytes have been acknowledged, the remainder
//! carried), so no growth is lost to rounding. With a single subflow, or before the first
//! update, the divisor is `cwnd_i` and LIA is exactly [`Reno`](super::Reno). `alpha` is `f64`
//! from basic IEEE 754 operations only (RTTs in microseconds), so results are the same on every
//! platform.

use super::coupling::{CouplingInfo, SubflowSnapshot, rtt_micros};
use super::{AckEvent, Algorithm, CongestionControl, Reno};
use crate::time::Instant;

/// The LIA (RFC 6356) congestion controller.
#[derive(Debug, Clone, PartialEq)]
pub struct Lia {
    /// The window, its slow start, recovery, timeout response and penalisation, and the byte
    /// counter of the increase.
    reno: Reno,
    /// From the last coupling update; `None` before the first one or with a single subflow.
    coupling: Option<Coupling>,
}

/// What LIA keeps from a coupling update (RFC 6356 §3).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Coupling {
    /// `alpha`, > 0.
    alpha: f64,
    /// `cwnd_total` in bytes, > 0: the sum of the windows `alpha` was computed over.
    cwnd_total: u64,
}

impl Coupling {
    /// RFC 6356 §3 over `subflows` with an RTT sample; `None` with fewer than two subflows in
    /// all (then LIA is Reno) or when none has both an RTT sample and a window.
    fn of(subflows: &[SubflowSnapshot]) -> Option<Coupling> {
        if subflows.len() < 2 {
            return None;
        }
        let (mut cwnd_total, mut best, mut sum) = (0u64, 0.0f64, 0.0f64);
        for s in subflows {
            let Some(rtt) = s.srtt else { continue };
            let (w, rtt) = (s.window as f64, rtt_micros(rtt));
            cwnd_total = cwnd_total.saturating_add(s.window);
            // max_i(cwnd_i / rtt_i^2) and sum_i(cwnd_i / rtt_i).
            best = best.max(w / (rtt * rtt));
            sum += w / rtt;
        }
        if cwnd_total == 0 {
            return None;
        }
        let alpha = cwnd_total as f64 * best / (sum * sum);
        Some(Coupling { alpha, cwnd_total })
    }

    /// `cwnd_total / alpha`: bytes to acknowledge per MSS of growth under the coupled term.
    fn bytes_per_mss(self) -> u64 {
        // Saturating float-to-integer conversion; alpha > 0, so the quotient is finite.
        (self.cwnd_total as f64 / self.alpha) as u64
    }
}

impl Lia {
    /// A controller at the RFC 6928 initial window, in slow start, with HyStart++.
    pub fn new(mss: u32) -> Lia {
        Lia { reno: Reno::new(mss), coupling: None }
    }

    /// Turns HyStart++ (RFC 9406) off or on for the initial slow start; off gives the plain
    /// RFC 5681 / RFC 3465 (L = 2) slow start. Call before the first ACK.
    pub fn with_hystart(mut self, on: bool) -> Lia {
        self.reno = self.reno.with_hystart(on);
        self
    }

    /// Starts from a window another controller built up, as [`Reno::with_window`]; the
    /// coupling comes with the next update (see [`new_controller_at`](super::new_controller_at)).
    pub fn with_window(mut self, cwnd: u64, ssthresh: u64) -> Lia {
        self.reno = self.reno.with_window(cwnd, ssthresh);
        self.coupling = None;
        self
    }

    /// RFC 6356 `alpha` from the last coupling update; `None` before the first update or with a
    /// single subflow (then the increase is Reno's).
    pub fn alpha(&self) -> Option<f64> {
        self.coupling.map(|c| c.alpha)
    }
}

impl CongestionControl for Lia {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Lia
    }

    fn window(&self) -> u64 {
        self.reno.window()
    }

    fn ssthresh(&self) -> u64 {
        self.reno.ssthresh()
    }

    fn on_ack(&mut self, ev: &AckEvent) {
        // RFC 6356 §3: cwnd_i += min(alpha * acked * MSS_i / cwnd_total, acked * MSS_i / cwnd_i)
        // = acked * MSS_i / max(cwnd_total / alpha, cwnd_i), by RFC 3465 byte counting.
        let coupling = self.coupling;
        self.reno.on_ack_per_mss(ev, |cwnd| coupling.map_or(cwnd, |c| c.bytes_per_mss().max(cwnd)));
    }

    fn on_congestion_event(&mut self, now: Instant, bytes_in_flight: u64, mss: u32) {
        // RFC 6356 §3: the decrease is Reno's, cwnd = ssthresh = max(FlightSize / 2, 2*SMSS).
        self.reno.on_congestion_event(now, bytes_in_flight, mss);
    }

    fn on_recovery_exit(&mut self, now: Instant, mss: u32) {
        self.reno.on_recovery_exit(now, mss);
    }

    fn on_rto(&mut self, now: Instant, bytes_in_flight: u64, mss: u32) {
        // RFC 5681 §3.1 as in Reno.
        self.reno.on_rto(now, bytes_in_flight, mss);
    }

    fn is_coupled(&self) -> bool {
        true
    }

    fn on_coupling_update(&mut self, info: &CouplingInfo<'_>) {
        self.coupling = Coupling::of(info.subflows);
    }

    fn penalize(&mut self, now: Instant, mss: u32) {
        self.reno.penalize(now, mss);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::coupling::snapshot;
    use crate::cc::test_util::{MSS, RTT, ack, average_total_window, in_avoidance, round, total};
    use core::time::Duration;

    fn snap(window: u64, rtt_ms: Option<u64>) -> SubflowSnapshot {
        SubflowSnapshot { window, srtt: rtt_ms.map(Duration::from_millis), mss: MSS, ..Default::default() }
    }

    #[test]
    fn alpha_matches_hand_computation() {
        // Two equal paths: alpha = 2w * (w/r^2) / (2w/r)^2 = 1/2.
        let a = Coupling::of(&[snap(20_000, Some(100)), snap(20_000, Some(100))]).unwrap();
        assert!((a.alpha - 0.5).abs() < 1e-12, "alpha {}", a.alpha);
        assert_eq!(a.cwnd_total, 40_000);
        // cwnd 10 000 @ 100 ms and 20 000 @ 50 ms (RTTs in seconds): max(cwnd/rtt^2) = 20 000 /
        // 0.0025 = 8e6, sum(cwnd/rtt) = 1e5 + 4e5 = 5e5, alpha = 30 000 * 8e6 / 2.5e11 = 0.96.
        let a = Coupling::of(&[snap(10_000, Some(100)), snap(20_000, Some(50))]).unwrap();
        assert!((a.alpha - 0.96).abs() < 1e-12, "alpha {}", a.alpha);
        assert_eq!(a.bytes_per_mss(), 31_250, "cwnd_total / alpha");
        // A subflow without an RTT sample is left out.
        let b = Coupling::of(&[snap(10_000, Some(100)), snap(50_000, None), snap(20_000, Some(50))]).unwrap();
        assert_eq!(b, a);
        // Three paths, 10/20/30 segments at 10/20/40 ms: max(cwnd/rtt^2) = 10/100 = 0.1,
        // sum(cwnd/rtt) = 1 + 1 + 0.75 = 2.75, alpha = 60 * 0.1 / 2.75^2 = 0.7933884...
        let c = Coupling::of(&[snap(10_000, Some(10)), snap(20_000, Some(20)), snap(30_000, Some(40))]).unwrap();
        assert!((c.alpha - 6.0 / (2.75 * 2.75)).abs() < 1e-12, "alpha {}", c.alpha);
        // Equal RTTs, windows 10 and 30 segments: alpha = 40 * 30 / 40^2 = 0.75.
        let d = Coupling::of(&[snap(10_000, Some(100)), snap(30_000, Some(100))]).unwrap();
        assert!((d.alpha - 0.75).abs() < 1e-12, "alpha {}", d.alpha);
        assert_eq!(d.bytes_per_mss(), 53_333);
        // Nothing to couple with.
        assert_eq!(Coupling::of(&[snap(10_000, Some(100))]), None);
        assert_eq!(Coupling::of(&[snap(10_000, None), snap(10_000, None)]), None);

        let mut cc = Lia::new(MSS);
        assert_eq!(cc.alpha(), None);
        let snaps = [snap(10_000, Some(100)), snap(20_000, Some(50))];
        cc.on_coupling_update(&CouplingInfo { subflows: &snaps, this: 0 });
        assert!((cc.alpha().unwrap() - 0.96).abs() < 1e-12);
        assert!(cc.is_coupled());
    }

    #[test]
    fn increase_is_the_smaller_of_coupled_and_reno() {
        // alpha = 0.96, cwnd_total / alpha = 31 250 bytes per MSS; for the small subflow
        // (cwnd 10 000) that is the minimum: 31 250 bytes acked give one MSS.
        let snaps = [snap(10_000, Some(100)), snap(20_000, Some(50))];
        let mut cc = in_avoidance(Lia::new(MSS), 10_000);
        cc.on_coupling_update(&CouplingInfo { subflows: &snaps, this: 0 });
        for _ in 0..31 {
            cc.on_ack(&ack(1000, 10_000));
        }
        assert_eq!(cc.window(), 10_000);
        cc.on_ack(&ack(250, 10_000));
        assert_eq!(cc.window(), 11_000);
        // A subflow whose own window is larger than cwnd_total / alpha grows like Reno: the
        // coupled term never makes it more aggressive than TCP (RFC 6356 goal 2).
        let mut cc = in_avoidance(Lia::new(MSS), 40_000);
        cc.on_coupling_update(&CouplingInfo { subflows: &snaps, this: 1 });
        for _ in 0..39 {
            cc.on_ack(&ack(1000, 40_000));
        }
        assert_eq!(cc.window(), 40_000);
        cc.on_ack(&ack(1000, 40_000));
        assert_eq!(cc.window(), 41_000);
    }

    #[test]
    fn one_subflow_is_exactly_reno() {
        // The same events to a Reno, an LIA never updated, and an LIA updated with itself as the
        // only subflow before every ACK: the windows agree after every event.
        let mut reno = Reno::new(MSS);
        let mut plain = Lia::new(MSS);
        let mut single = Lia::new(MSS);
        let check = |reno: &Reno, plain: &Lia, single: &Lia, step: usize| {
            assert_eq!((plain.window(), plain.ssthresh()), (reno.window(), reno.ssthresh()), "step {step}");
            assert_eq!((single.window(), single.ssthresh()), (reno.window(), reno.ssthresh()), "step {step}");
        };
        let mut avoidance_steps = 0;
        for step in 0..5_000usize {
            let snaps = [snapshot(&single, Some(RTT), MSS)];
            single.on_coupling_update(&CouplingInfo { subflows: &snaps, this: 0 });
            assert_eq!(single.alpha(), None);
            match step % 997 {
                50 => {
                    let flight = reno.window().min(30_000);
                    reno.on_congestion_event(Instant::ZERO, flight, MSS);
                    plain.on_congestion_event(Instant::ZERO, flight, MSS);
                    single.on_congestion_event(Instant::ZERO, flight, MSS);
                }
                60 => {
                    reno.on_recovery_exit(Instant::ZERO, MSS);
                    plain.on_recovery_exit(Instant::ZERO, MSS);
                    single.on_recovery_exit(Instant::ZERO, MSS);
                }
                700 => {
                    reno.penalize(Instant::ZERO, MSS);
                    plain.penalize(Instant::ZERO, MSS);
                    single.penalize(Instant::ZERO, MSS);
                }
                900 if step > 2_000 => {
                    let flight = reno.window();
                    reno.on_rto(Instant::ZERO, flight, MSS);
                    plain.on_rto(Instant::ZERO, flight, MSS);
                    single.on_rto(Instant::ZERO, flight, MSS);
                }
                _ => {
                    // Odd-sized ACKs exercise the byte counter's remainders.
                    let ev = ack(700 + (step as u64 % 5) * 300, reno.window());
                    avoidance_steps += usize::from(!reno.in_slow_start());
                    reno.on_ack(&ev);
                    plain.on_ack(&ev);
                    single.on_ack(&ev);
                }
            }
            check(&reno, &plain, &single, step);
        }
        assert!(avoidance_steps > 3_000, "mostly congestion avoidance: {avoidance_steps} ACKs");
    }

    #[test]
    fn two_identical_subflows_grow_like_alpha_times_reno() {
        // RFC 6356 §3: with n equal paths alpha = 1/n and each subflow grows alpha * MSS * cwnd_i
        // / cwnd_total per RTT, so the connection's total window grows alpha * MSS = MSS / 2 per
        // RTT: far from two Reno flows (2 MSS), and half of one. (What equals one Reno flow is
        // the throughput at the same loss rate, since each loss also halves only half the total
        // window: see `two_identical_subflows_with_losses_match_one_reno_flow`.)
        let mut ccs: [Box<dyn CongestionControl>; 2] =
            [Box::new(in_avoidance(Lia::new(MSS), 40_000)), Box::new(in_avoidance(Lia::new(MSS), 40_000))];
        let before = total(&ccs);
        let rounds: u32 = 80;
        for _ in 0..rounds {
            round(&mut ccs);
        }
        let per_rtt = (total(&ccs) - before) as f64 / f64::from(rounds);
        assert!((per_rtt - 500.0).abs() < 0.05 * 500.0, "total growth {per_rtt} bytes per RTT");
        assert!(ccs[0].window().abs_diff(ccs[1].window()) <= u64::from(MSS));

        let mut reno = in_avoidance(Reno::new(MSS), 80_000);
        for _ in 0..rounds {
            let flight = reno.window();
            for i in 0..flight / 1000 {
                reno.on_ack(&ack(1000, flight - 1000 * i));
            }
        }
        assert_eq!(reno.window(), 80_000 + u64::from(rounds) * 1000, "one Reno flow grows 1 MSS per RTT");
    }

    #[test]
    fn two_identical_subflows_with_losses_match_one_reno_flow() {
        // The same loss rate everywhere: one loss per LOSS_EVERY segments acknowledged on each
        // subflow (deterministic), one RTT per round. RFC 6356's goal: the multipath connection
        // gets what one TCP flow would, not what two would.
        const LOSS_EVERY: u64 = 2_000;
        const ROUNDS: usize = 3_000;
        let run = |ccs: &mut [Box<dyn CongestionControl>]| average_total_window(ccs, LOSS_EVERY, ROUNDS);
        let start = || in_avoidance(Reno::new(MSS), 20_000);
        let reno = run(&mut [Box::new(start())]);
        let lia =
            run(&mut [Box::new(in_avoidance(Lia::new(MSS), 20_000)), Box::new(in_avoidance(Lia::new(MSS), 20_000))]);
        let uncoupled = run(&mut [Box::new(start()), Box::new(start())]);
        // Fluid model: Reno's average window is sqrt(1.5 * LOSS_EVERY) = 54.8 segments.
        assert!((reno / 1000.0 - 54.8).abs() < 0.05 * 54.8, "Reno averages {reno:.0} bytes");
        assert!((lia / reno - 1.0).abs() < 0.05, "LIA {lia:.0} vs one Reno {reno:.0}");
        assert!((uncoupled / reno - 2.0).abs() < 0.1, "two uncoupled Renos {uncoupled:.0} vs {reno:.0}");
    }

    #[test]
    fn coupled_loss_and_timeout_are_renos() {
        let snaps = [snap(30_000, Some(100)), snap(30_000, Some(100))];
        let mut cc = in_avoidance(Lia::new(MSS), 30_000);
        cc.on_coupling_update(&CouplingInfo { subflows: &snaps, this: 0 });
        cc.on_congestion_event(Instant::ZERO, 30_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (15_000, 15_000));
        cc.on_ack(&ack(5_000, 15_000));
        assert_eq!(cc.window(), 15_000, "no growth in recovery");
        cc.on_recovery_exit(Instant::ZERO, MSS);
        cc.on_rto(Instant::ZERO, 15_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (1_000, 7_500));
        // Slow start is per subflow and uncoupled.
        cc.on_ack(&ack(1000, 1000));
        assert_eq!(cc.window(), 2_000);
    }
}
