//! OLIA, the "Opportunistic Linked Increases Algorithm": R. Khalili, N. Gast, M. Popovic,
//! J.-Y. Le Boudec, "MPTCP is not Pareto-optimal: performance issues and a possible solution"
//! (ACM CoNEXT 2012), and the IETF draft draft-khalili-mptcp-congestion-control-05 (2014).
//! Like [`Lia`](super::Lia) it is Reno per subflow with a coupled congestion-avoidance
//! increase, one that also moves traffic away from the more congested paths.
//!
//! # The rule
//!
//! The draft, with windows `w` in packets: for each ACK on path `r`, increase `w_r` by
//!
//! ```text
//!        w_r / rtt_r^2          alpha_r
//!   ----------------------- + -------
//!   (sum_p w_p / rtt_p)^2       w_r
//! ```
//!
//! and for each loss on path `r` decrease it by `w_r / 2`. With
//!
//! - `l_r`: the larger of the bytes acknowledged on `r` between its last two losses and those
//!   acknowledged since its last loss;
//! - `R`: the paths; `M`: those with the largest window; `B`: the "best" paths, those with the
//!   largest `l_r / rtt_r^2` (a path's TCP rate squared is proportional to it);
//!
//! `alpha_r = 1 / (|R| * |B \ M|)` for `r` in `B \ M`, `-1 / (|R| * |M|)` for `r` in `M` when
//! `B \ M` is not empty, and 0 otherwise. So traffic is shifted to the best paths from the
//! paths with the largest windows, and the `alpha` terms add up to zero.
//!
//! Here windows are in bytes: an ACK of `bytes_acked` bytes is `bytes_acked / MSS_r` packets,
//! each adding `MSS_r` times the rule, which gives (as RFC 6356 §3 does for LIA)
//!
//! ```text
//! cwnd_r += bytes_acked * MSS_r * ((cwnd_r / rtt_r^2) / (sum_p cwnd_p / rtt_p)^2 + alpha_r / cwnd_r)
//! ```
//!
//! This can be negative (a path in `M` when a better path has a smaller window): the window
//! then shrinks, not below 2*SMSS, and `ssthresh` follows it down so that the subflow stays in
//! congestion avoidance instead of slow-starting back.
//!
//! # Here
//!
//! - The sets and the first term come from the connection's snapshot
//!   ([`on_coupling_update`](CongestionControl::on_coupling_update)), over the subflows that
//!   have an RTT sample (`R`); the first term is cached, `alpha_r / cwnd_r` uses the current
//!   window. `l_r` is tracked here ([`CongestionControl::loss_interval_bytes`]) and reaches the
//!   other subflows' controllers through [`snapshot`](super::snapshot).
//! - Bytes are counted towards `l_r` on every ACK the controller sees; a loss is a congestion
//!   event (once per recovery episode) or the first of a series of timeouts. A loss with no
//!   byte acknowledged since the previous one does not start a new interval.
//! - Slow start (HyStart++), the halving, recovery, the timeout response and the penalisation
//!   are Reno's, through the shared `WindowState`. Before the first update, with a single
//!   subflow, or while this subflow has no RTT sample, the increase is exactly Reno's (which is
//!   also what the rule gives for one path: `alpha = 0`, first term `1 / w`).
//! - Arithmetic: the sets are found with exact integer comparisons (`l_p * rtt_q^2` against
//!   `l_q * rtt_p^2`, RTTs in microseconds); the increase is `f64` from basic IEEE 754
//!   operations, accumulated between ACKs and applied in whole MSS, as Reno does.

use super::coupling::{CouplingInfo, rtt_micros, rtt_micros_squared};
use super::reno::{DECREASE_DEN, DECREASE_NUM};
use super::window::{AckStep, WindowState, count_bytes};
use super::{AckEvent, Algorithm, CongestionControl, smss};
use crate::time::Instant;

/// The OLIA congestion controller.
#[derive(Debug, Clone, PartialEq)]
pub struct Olia {
    /// cwnd, ssthresh, recovery, RTO backoff and HyStart++.
    win: WindowState,
    /// RFC 3465 §2.1 byte counter for the uncoupled (Reno) increase.
    ca_bytes_acked: u64,
    /// Coupled growth in bytes not yet in the window, `|credit| < SMSS` after each ACK.
    credit: f64,
    /// Bytes acknowledged between the last two losses.
    between_losses: u64,
    /// Bytes acknowledged since the last loss.
    since_loss: u64,
    /// From the last coupling update; `None` before the first, with a single subflow, or when
    /// this subflow has no RTT sample.
    coupling: Option<Coupling>,
}

/// What OLIA keeps from a coupling update.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Coupling {
    /// `(cwnd_r / rtt_r^2) / (sum_p cwnd_p / rtt_p)^2`, per byte.
    own_term: f64,
    /// `alpha_r`.
    alpha: f64,
}

impl Coupling {
    /// The draft's sets and terms for subflow `info.this`.
    fn of(info: &CouplingInfo<'_>) -> Option<Coupling> {
        if info.subflows.len() < 2 {
            return None;
        }
        let own = info.own()?;
        let own_rtt = own.srtt?;
        // R: the subflows with an RTT sample (own is one of them).
        let paths = || info.subflows.iter().filter_map(|s| s.srtt.map(|rtt| (s, rtt)));
        let n = paths().count();
        let max_w = paths().map(|(s, _)| s.window).max()?;
        // The largest l_p / rtt_p^2, as (l, rtt^2); compared exactly by cross-multiplying.
        let (best_l, best_rtt2) = paths()
            .map(|(s, rtt)| (u128::from(s.loss_interval_bytes), rtt_micros_squared(rtt)))
            .reduce(|best, p| if p.0 * best.1 > best.0 * p.1 { p } else { best })?;
        let in_b = |l: u64, rtt| u128::from(l) * best_rtt2 == best_l * rtt_micros_squared(rtt);
        let m = paths().filter(|(s, _)| s.window == max_w).count();
        let b_not_m = paths().filter(|(s, rtt)| s.window != max_w && in_b(s.loss_interval_bytes, *rtt)).count();
        let alpha = if b_not_m == 0 {
            0.0
        } else if own.window == max_w {
            -1.0 / (n * m) as f64
        } else if in_b(own.loss_interval_bytes, own_rtt) {
            1.0 / (n * b_not_m) as f64
        } else {
            0.0
        };
        let sum = paths().fold(0.0, |sum, (s, rtt)| sum + s.window as f64 / rtt_micros(rtt));
        if sum <= 0.0 {
            return None;
        }
        let rtt = rtt_micros(own_rtt);
        let own_term = own.window as f64 / (rtt * rtt) / (sum * sum);
        Some(Coupling { own_term, alpha })
    }
}

impl Olia {
    /// A controller at the RFC 6928 initial window, in slow start, with HyStart++.
    pub fn new(mss: u32) -> Olia {
        Olia {
            win: WindowState::new(mss),
            ca_bytes_acked: 0,
            credit: 0.0,
            between_losses: 0,
            since_loss: 0,
            coupling: None,
        }
    }

    /// Turns HyStart++ (RFC 9406) off or on for the initial slow start; off gives the plain
    /// RFC 5681 / RFC 3465 (L = 2) slow start. Call before the first ACK.
    pub fn with_hystart(mut self, on: bool) -> Olia {
        self.win.set_hystart(on);
        self
    }

    /// Starts from a window another controller built up: `cwnd` and `ssthresh` as given, out
    /// of recovery, no loss interval counted yet; the coupling comes with the next update (see
    /// [`new_controller_at`](super::new_controller_at)).
    pub fn with_window(mut self, cwnd: u64, ssthresh: u64) -> Olia {
        self.win.take_over(cwnd, ssthresh);
        (self.ca_bytes_acked, self.credit, self.between_losses, self.since_loss) = (0, 0.0, 0, 0);
        self.coupling = None;
        self
    }

    /// This subflow's `alpha_r` from the last coupling update; `None` when the increase is
    /// Reno's (see the module docs).
    pub fn alpha(&self) -> Option<f64> {
        self.coupling.map(|c| c.alpha)
    }

    /// A loss: the interval since the last loss becomes the one between the last two, unless
    /// nothing was acknowledged since.
    fn on_loss(&mut self) {
        if self.since_loss > 0 {
            self.between_losses = self.since_loss;
            self.since_loss = 0;
        }
        self.ca_bytes_acked = 0;
        self.credit = 0.0;
    }

    /// The coupled increase of `increase` bytes (possibly negative), applied in whole MSS.
    fn grow(&mut self, increase: f64, mss: u64) {
        self.credit += increase;
        let steps = (self.credit / mss as f64).trunc();
        if steps == 0.0 || steps.is_nan() {
            return;
        }
        self.credit -= steps * mss as f64;
        // Saturating float-to-integer conversions.
        let bytes = (steps.abs() as u64).saturating_mul(mss);
        let cwnd = &mut self.win.cwnd;
        if steps > 0.0 {
            *cwnd = cwnd.saturating_add(bytes);
        } else {
            let floor = (2 * mss).min(*cwnd);
            if cwnd.saturating_sub(bytes) <= floor {
                self.credit = 0.0;
            }
            *cwnd = cwnd.saturating_sub(bytes).max(floor);
            // Stay in congestion avoidance: slow start would undo the decrease at once.
            self.win.ssthresh = self.win.ssthresh.min(*cwnd);
        }
    }
}

impl CongestionControl for Olia {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Olia
    }

    fn window(&self) -> u64 {
        self.win.cwnd
    }

    fn ssthresh(&self) -> u64 {
        self.win.ssthresh
    }

    fn on_ack(&mut self, ev: &AckEvent) {
        // l_r counts every byte acknowledged, in any phase.
        self.since_loss = self.since_loss.saturating_add(ev.bytes_acked);
        // Recovery, slow start and app-limited ACKs: see WindowState::on_ack.
        let AckStep::Avoid(acked) = self.win.on_ack(ev) else {
            return;
        };
        let mss = smss(ev.mss);
        match self.coupling {
            // One path: Reno (RFC 3465 §2.1, +1 SMSS per cwnd of bytes acked).
            None => {
                let cwnd = self.win.cwnd;
                count_bytes(&mut self.ca_bytes_acked, &mut self.win.cwnd, acked, cwnd, mss);
            }
            // cwnd_r += acked * MSS_r * (own_term + alpha_r / cwnd_r) (module docs).
            Some(c) => {
                let cwnd = self.win.cwnd.max(1) as f64;
                self.grow(acked as f64 * mss as f64 * (c.own_term + c.alpha / cwnd), mss);
            }
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, bytes_in_flight: u64, mss: u32) {
        // The draft: decrease w_r by w_r / 2; Reno's cwnd = ssthresh = max(FlightSize / 2,
        // 2*SMSS), once per episode.
        if self.win.enter_recovery(bytes_in_flight, DECREASE_NUM, DECREASE_DEN, mss).is_some() {
            self.on_loss();
        }
    }

    fn on_recovery_exit(&mut self, _now: Instant, _mss: u32) {
        // RFC 6582 §3.2 step 3, option 2: cwnd = ssthresh.
        self.win.exit_recovery();
    }

    fn on_rto(&mut self, _now: Instant, bytes_in_flight: u64, mss: u32) {
        // A repeated timeout of the same data is the same loss.
        let first = !self.win.rto_backoff;
        // RFC 5681 §3.1 as in Reno.
        self.win.on_rto(bytes_in_flight, DECREASE_NUM, DECREASE_DEN, mss);
        if first {
            self.on_loss();
        }
        self.ca_bytes_acked = 0;
        self.credit = 0.0;
    }

    fn is_coupled(&self) -> bool {
        true
    }

    fn on_coupling_update(&mut self, info: &CouplingInfo<'_>) {
        self.coupling = Coupling::of(info);
    }

    fn loss_interval_bytes(&self) -> u64 {
        self.between_losses.max(self.since_loss)
    }

    fn penalize(&mut self, _now: Instant, mss: u32) {
        // Not a loss: l_r is unchanged.
        self.win.penalize(mss);
        self.ca_bytes_acked = 0;
        self.credit = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::coupling::{SubflowSnapshot, snapshot};
    use crate::cc::test_util::{MSS, RTT, ack, average_total_window, in_avoidance, round, rounds_with_losses, total};
    use crate::cc::{Lia, Reno};
    use core::time::Duration;

    fn snap(window: u64, rtt_ms: u64, l: u64) -> SubflowSnapshot {
        SubflowSnapshot { window, srtt: Some(Duration::from_millis(rtt_ms)), mss: MSS, loss_interval_bytes: l }
    }

    fn coupling(snaps: &[SubflowSnapshot], this: usize) -> Option<Coupling> {
        Coupling::of(&CouplingInfo { subflows: snaps, this })
    }

    #[test]
    fn loss_intervals() {
        let mut cc = Olia::new(MSS);
        assert_eq!(cc.loss_interval_bytes(), 0);
        for _ in 0..30 {
            cc.on_ack(&ack(1000, cc.window()));
        }
        assert_eq!(cc.loss_interval_bytes(), 30_000, "since the start");
        cc.on_congestion_event(Instant::ZERO, 40_000, MSS);
        assert_eq!((cc.between_losses, cc.since_loss), (30_000, 0));
        // A second congestion signal in the same episode is not a new loss.
        cc.on_ack(&ack(2000, 20_000));
        cc.on_congestion_event(Instant::ZERO, 20_000, MSS);
        assert_eq!((cc.between_losses, cc.since_loss), (30_000, 2_000));
        cc.on_recovery_exit(Instant::ZERO, MSS);
        for _ in 0..10 {
            cc.on_ack(&ack(1000, cc.window()));
        }
        assert_eq!(cc.loss_interval_bytes(), 30_000, "max(l1, l2) = l1");
        cc.on_ack(&ack(20_000, cc.window()));
        assert_eq!(cc.loss_interval_bytes(), 32_000, "max(l1, l2) = l2");
        // Timeouts: the first is a loss, repeats of it are not.
        cc.on_rto(Instant::ZERO, 20_000, MSS);
        assert_eq!((cc.between_losses, cc.since_loss), (32_000, 0));
        cc.on_rto(Instant::ZERO, 1_000, MSS);
        assert_eq!((cc.between_losses, cc.since_loss), (32_000, 0));
        cc.on_ack(&ack(1000, 1000));
        cc.on_rto(Instant::ZERO, 1_000, MSS);
        assert_eq!((cc.between_losses, cc.since_loss), (1_000, 0));
        // A loss with nothing acknowledged since the last one keeps the interval.
        cc.on_congestion_event(Instant::ZERO, 1_000, MSS);
        assert_eq!((cc.between_losses, cc.since_loss), (1_000, 0));
        // Penalisation is not a loss.
        cc.on_recovery_exit(Instant::ZERO, MSS);
        cc.on_ack(&ack(3000, 2000));
        cc.penalize(Instant::ZERO, MSS);
        assert_eq!((cc.between_losses, cc.since_loss), (1_000, 3_000));
        assert_eq!(snapshot(&cc, None, MSS).loss_interval_bytes, 3_000);
    }

    #[test]
    fn alpha_favours_the_best_path_with_a_smaller_window() {
        // Path 0: the largest window (M) but l/rtt^2 = 1e6 / 100^2 = 100; path 1: smaller
        // window, l/rtt^2 = 1e6 / 50^2 = 400, the best (B). B \ M = {1}, |R| = 2.
        let snaps = [snap(30_000, 100, 1_000_000), snap(10_000, 50, 1_000_000)];
        assert_eq!(coupling(&snaps, 1).unwrap().alpha, 0.5, "1 / (|R| * |B \\ M|)");
        assert_eq!(coupling(&snaps, 0).unwrap().alpha, -0.5, "-1 / (|R| * |M|)");
        // The first term, hand computed with RTTs in seconds: (10 000 / 0.05^2) / (30 000 / 0.1
        // + 10 000 / 0.05)^2 = 4e6 / 2.5e11 = 1.6e-5 per byte.
        let c = coupling(&snaps, 1).unwrap();
        assert!((c.own_term - 1.6e-5).abs() < 1e-18, "{}", c.own_term);
        // When the path with the largest window is also the best, B \ M is empty: alpha = 0.
        let snaps = [snap(30_000, 50, 1_000_000), snap(10_000, 100, 1_000_000)];
        assert_eq!(coupling(&snaps, 0).unwrap().alpha, 0.0);
        assert_eq!(coupling(&snaps, 1).unwrap().alpha, 0.0);
        // Three paths: M = {0}, B = {1, 2} (equal l/rtt^2: 4e6/200^2 = 1e6/100^2), path 3
        // neither. alpha = 1/(4 * 2) on B \ M, -1/(4 * 1) on M, 0 elsewhere; they sum to 0.
        let snaps = [
            snap(40_000, 100, 100_000),
            snap(20_000, 200, 4_000_000),
            snap(10_000, 100, 1_000_000),
            snap(10_000, 100, 500_000),
        ];
        let alphas: Vec<f64> = (0..4).map(|i| coupling(&snaps, i).unwrap().alpha).collect();
        assert_eq!(alphas, [-0.25, 0.125, 0.125, 0.0]);
        // Two paths tied for the largest window share the negative term.
        let snaps = [snap(20_000, 100, 1), snap(20_000, 100, 1), snap(10_000, 10, 1)];
        let alphas: Vec<f64> = (0..3).map(|i| coupling(&snaps, i).unwrap().alpha).collect();
        assert_eq!(alphas, [-1.0 / 6.0, -1.0 / 6.0, 1.0 / 3.0]);
        // Subflows without an RTT sample are not in R; without its own, the subflow is Reno.
        let mut snaps = vec![snap(30_000, 100, 1_000_000), snap(10_000, 50, 1_000_000)];
        snaps.push(SubflowSnapshot { window: 50_000, ..Default::default() });
        assert_eq!(coupling(&snaps, 1).unwrap().alpha, 0.5);
        assert_eq!(coupling(&snaps, 2), None);
        assert_eq!(coupling(&snaps[..1], 0), None, "one subflow");
    }

    #[test]
    fn best_path_grows_and_largest_window_path_shrinks() {
        // Path 0 has the largest window but a long RTT; path 1 is the best (RTTs in seconds):
        // sum(cwnd / rtt) = 30 000 / 0.4 + 10 000 / 0.01 = 1.075e6.
        let snaps = [snap(30_000, 400, 1_000_000), snap(10_000, 10, 1_000_000)];
        // Path 0's first term (30 000 / 0.16) / 1.075e6^2 = 1.6225e-7 per byte is far smaller
        // than its alpha / cwnd = -0.5 / 30 000: each 1000-byte ACK takes 16.50 bytes off, so
        // the 61st takes the window down one MSS.
        let mut worse = in_avoidance(Olia::new(MSS), 30_000);
        worse.on_coupling_update(&CouplingInfo { subflows: &snaps, this: 0 });
        assert_eq!(worse.alpha(), Some(-0.5));
        worse.on_ack(&ack(1000, 30_000));
        assert!((worse.credit + 16.504).abs() < 0.001, "credit {}", worse.credit);
        for _ in 1..60 {
            worse.on_ack(&ack(1000, 30_000));
        }
        assert_eq!(worse.window(), 30_000);
        worse.on_ack(&ack(1000, 30_000));
        assert_eq!(worse.window(), 29_000);
        assert_eq!(worse.ssthresh(), 29_000, "ssthresh follows, so no slow start");
        assert!(!worse.in_slow_start());

        // Path 1: first term (10 000 / 0.0001) / 1.075e6^2 = 8.653e-5 per byte, plus alpha /
        // cwnd = 0.5 / 10 000 = 5e-5: 136.53 bytes per 1000-byte ACK where Reno would add 100.
        let mut best = in_avoidance(Olia::new(MSS), 10_000);
        best.on_coupling_update(&CouplingInfo { subflows: &snaps, this: 1 });
        assert_eq!(best.alpha(), Some(0.5));
        best.on_ack(&ack(1000, 10_000));
        assert!((best.credit - 136.53).abs() < 0.01, "credit {}", best.credit);
        for _ in 1..7 {
            best.on_ack(&ack(1000, 10_000));
        }
        assert_eq!(best.window(), 10_000);
        best.on_ack(&ack(1000, 10_000));
        assert_eq!(best.window(), 11_000, "the 8th ACK: 1092 bytes of credit");

        // The decrease stops at 2*SMSS.
        let mut cc = in_avoidance(Olia::new(MSS), 3_000);
        cc.on_coupling_update(&CouplingInfo { subflows: &snaps, this: 0 });
        for _ in 0..10_000 {
            cc.on_ack(&ack(1000, 3_000));
        }
        assert_eq!((cc.window(), cc.ssthresh()), (2_000, 2_000));
    }

    #[test]
    fn one_subflow_is_exactly_reno() {
        let mut reno = Reno::new(MSS);
        let mut olia = Olia::new(MSS);
        for step in 0..3_000usize {
            let snaps = [snapshot(&olia, Some(RTT), MSS)];
            olia.on_coupling_update(&CouplingInfo { subflows: &snaps, this: 0 });
            assert_eq!(olia.alpha(), None);
            if step % 1000 == 50 {
                let flight = reno.window().min(30_000);
                reno.on_congestion_event(Instant::ZERO, flight, MSS);
                olia.on_congestion_event(Instant::ZERO, flight, MSS);
                reno.on_recovery_exit(Instant::ZERO, MSS);
                olia.on_recovery_exit(Instant::ZERO, MSS);
            } else {
                let ev = ack(700 + (step as u64 % 5) * 300, reno.window());
                reno.on_ack(&ev);
                olia.on_ack(&ev);
            }
            assert_eq!((olia.window(), olia.ssthresh()), (reno.window(), reno.ssthresh()), "step {step}");
        }
    }

    #[test]
    fn two_identical_paths_grow_like_lia() {
        // Equal windows, RTTs and l: B \ M is empty, alpha = 0, and the increase per byte is
        // (w / rtt^2) / (2w / rtt)^2 = 1 / (4w): each subflow grows MSS / 4 per RTT, the
        // connection MSS / 2, as LIA (RFC 6356 alpha = 1/2) does; not 2 MSS like two Reno flows.
        let mut ccs: [Box<dyn CongestionControl>; 2] =
            [Box::new(in_avoidance(Olia::new(MSS), 40_000)), Box::new(in_avoidance(Olia::new(MSS), 40_000))];
        let before = total(&ccs);
        // Long enough that a step landing one ACK late (the f64 credit reaching 999.99...
        // bytes) is within the tolerance.
        let rounds: u32 = 200;
        for _ in 0..rounds {
            round(&mut ccs);
        }
        let per_rtt = (total(&ccs) - before) as f64 / f64::from(rounds);
        assert!((per_rtt - 500.0).abs() < 0.05 * 500.0, "total growth {per_rtt} bytes per RTT");
        assert!(ccs[0].window().abs_diff(ccs[1].window()) <= u64::from(MSS));

        let mut lia: [Box<dyn CongestionControl>; 2] =
            [Box::new(in_avoidance(Lia::new(MSS), 40_000)), Box::new(in_avoidance(Lia::new(MSS), 40_000))];
        for _ in 0..rounds {
            round(&mut lia);
        }
        assert!(total(&lia).abs_diff(total(&ccs)) <= 2 * u64::from(MSS), "LIA {} OLIA {}", total(&lia), total(&ccs));
    }

    #[test]
    fn two_identical_paths_with_losses_match_one_reno_flow() {
        // One loss per LOSS_EVERY segments acknowledged on each subflow, one RTT per round: the
        // connection's average total window is one Reno flow's at that loss rate.
        const LOSS_EVERY: u64 = 2_000;
        const ROUNDS: usize = 3_000;
        let run = |ccs: &mut [Box<dyn CongestionControl>]| average_total_window(ccs, LOSS_EVERY, ROUNDS);
        let reno = run(&mut [Box::new(in_avoidance(Reno::new(MSS), 20_000))]);
        let olia =
            run(&mut [Box::new(in_avoidance(Olia::new(MSS), 20_000)), Box::new(in_avoidance(Olia::new(MSS), 20_000))]);
        assert!((olia / reno - 1.0).abs() < 0.05, "OLIA {olia:.0} vs one Reno {reno:.0}");
    }

    #[test]
    fn shifts_traffic_to_the_less_lossy_path() {
        // Same RTT, path 1 losing four times as often: OLIA's total stays near one Reno flow on
        // the better path, and most of it goes to path 0.
        let mut ccs: [Box<dyn CongestionControl>; 2] =
            [Box::new(in_avoidance(Olia::new(MSS), 20_000)), Box::new(in_avoidance(Olia::new(MSS), 20_000))];
        let mut share = [0.0f64; 2];
        rounds_with_losses(&mut ccs, &[2_000, 500], 4_000, |r, ccs| {
            if r >= 1_000 {
                for (s, cc) in share.iter_mut().zip(ccs) {
                    *s += cc.window() as f64;
                }
            }
        });
        assert!(share[0] > 3.0 * share[1], "path 0 {:.0} vs lossier path 1 {:.0}", share[0], share[1]);
    }
}
