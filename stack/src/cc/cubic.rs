//! CUBIC (RFC 9438): after a congestion event the window follows
//! `W_cubic(t) = C*(t-K)^3 + W_max`, with a Reno-friendly floor `W_est`.
//!
//! - The initial slow start is HyStart++ (RFC 9406, as RFC 9438 §4.10 recommends; see the
//!   `hystart` module); later ones are Reno's (RFC 5681 + RFC 3465 L = 2). When HyStart++ ends
//!   slow start without loss, the first stage has `W_max` undefined, so `K = 0` and
//!   `cwnd_prior = cwnd` (§4.10).
//! - A congestion-avoidance stage ("epoch") starts at the first ACK processed in congestion
//!   avoidance after slow start or after recovery ends (§4.2: `t` counts from the beginning of
//!   the current congestion avoidance stage, so time spent in recovery is not counted). A
//!   congestion event or an RTO discards the epoch (and with it `K` and `t_epoch`) and sets
//!   `W_max` (fast convergence, §4.7) or leaves it undefined (§4.8).
//! - Time spent app-limited is excluded from `t` (§5.8) by moving `t_epoch` forward.
//!
//! # Arithmetic
//!
//! `cwnd`, `ssthresh`, `W_max` and `cwnd_prior` are integer bytes; reductions (`β_cubic` =
//! 7/10, fast convergence 17/20) are integer. The curve, `K`, `W_est` and the per-ACK increase
//! are `f64` (bytes, seconds): only `+ - * /`, which IEEE 754 rounds exactly, and a cube root
//! computed with Newton steps from those operations instead of `f64::cbrt` (whose last bit is
//! libm-dependent), so every platform computes the same windows. Sub-byte growth is carried in
//! `frac` between ACKs. Float-to-integer conversions saturate (Rust `as` semantics).

use core::time::Duration;

use super::window::{AckStep, WindowState};
use super::{AckEvent, Algorithm, CongestionControl, smss};
use crate::time::Instant;

/// RFC 9438 §4.1.1: C, in segments per second cubed.
const C: f64 = 0.4;
/// RFC 9438 §4.1.1: β_cubic = 0.7, as an exact fraction for the window reduction.
const BETA_NUM: u64 = 7;
const BETA_DEN: u64 = 10;
/// RFC 9438 §4.3: α_cubic = 3 * (1 - β_cubic) / (1 + β_cubic).
const ALPHA_CUBIC: f64 = 3.0 * (1.0 - 0.7) / (1.0 + 0.7);

/// The CUBIC congestion controller.
#[derive(Debug, Clone, PartialEq)]
pub struct Cubic {
    /// cwnd, ssthresh, recovery, RTO backoff and HyStart++ (slow start is Reno's).
    win: WindowState,
    /// RFC 9438 §4.7 (on by default).
    fast_convergence: bool,
    /// RFC 9438 §4.1.2 `W_max` in bytes; `None` while undefined (no loss yet, or after an RTO).
    w_max: Option<u64>,
    /// RFC 9438 §4.1.2 `cwnd_prior` in bytes: cwnd before the last reduction.
    cwnd_prior: u64,
    /// The current congestion-avoidance stage, once it has started.
    epoch: Option<Epoch>,
    /// Growth below one byte, not yet in `cwnd` (0 <= frac < 1).
    frac: f64,
}

/// One congestion-avoidance stage (RFC 9438 §4.2).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Epoch {
    /// `t_epoch`, moved forward by app-limited time (§5.8).
    start: Instant,
    /// The previous ACK processed in this stage.
    last_ack: Instant,
    /// `K` in seconds (§4.2 Figure 2).
    k: f64,
    /// `W_max` in bytes for this stage.
    w_max: f64,
    /// Bytes per segment the curve was set up with (C is in segments).
    mss: f64,
    /// `W_est` in bytes (§4.3).
    w_est: f64,
}

impl Epoch {
    /// RFC 9438 §4.2 Figure 1, in bytes: `W_cubic(t) = C*(t-K)^3 + W_max`, `t` in seconds.
    fn w_cubic(&self, t: f64) -> f64 {
        let d = t - self.k;
        self.mss * C * d * d * d + self.w_max
    }
}

impl Cubic {
    /// A controller at the RFC 6928 initial window, in slow start, with fast convergence on.
    pub fn new(mss: u32) -> Cubic {
        Cubic { win: WindowState::new(mss), fast_convergence: true, w_max: None, cwnd_prior: 0, epoch: None, frac: 0.0 }
    }

    /// Turns fast convergence off or on. RFC 9438 §4.7: SHOULD be on; MAY be off when the flow
    /// is known to be alone at its bottleneck.
    pub fn with_fast_convergence(mut self, on: bool) -> Cubic {
        self.fast_convergence = on;
        self
    }

    /// Turns HyStart++ (RFC 9406) off or on for the initial slow start; off gives the plain
    /// RFC 5681 / RFC 3465 (L = 2) slow start. Call before the first ACK.
    pub fn with_hystart(mut self, on: bool) -> Cubic {
        self.win.set_hystart(on);
        self
    }

    /// Starts from a window another controller built up: `cwnd` and `ssthresh` as given, out
    /// of recovery, with no curve yet: the first congestion-avoidance stage takes `W_max` = cwnd
    /// at its start, `K` = 0, as after slow start (RFC 9438 §4.10; see
    /// [`new_controller_at`](super::new_controller_at)).
    pub fn with_window(mut self, cwnd: u64, ssthresh: u64) -> Cubic {
        self.win.take_over(cwnd, ssthresh);
        self.w_max = None;
        self.epoch = None;
        self.frac = 0.0;
        self
    }

    /// Starts a congestion-avoidance stage at `now` with the current cwnd as `cwnd_epoch`.
    fn start_epoch(&mut self, now: Instant, mss: u64) -> Epoch {
        let cwnd = self.win.cwnd;
        let w_max = match self.w_max {
            Some(w_max) => w_max,
            None => {
                // RFC 9438 §4.8 (first stage after a timeout) and §4.10 (slow start left
                // without loss): W_max = cwnd at the start of the stage, so K = 0; and
                // cwnd_prior = cwnd.
                self.w_max = Some(cwnd);
                self.cwnd_prior = cwnd;
                cwnd
            }
        };
        let mss = mss as f64;
        // RFC 9438 §4.2 Figure 2: K = cubic_root((W_max - cwnd_epoch) / C), in segments.
        let k = cbrt((w_max as f64 - cwnd as f64) / mss / C);
        // RFC 9438 §4.3: W_est = cwnd_epoch at the start of the stage.
        Epoch { start: now, last_ack: now, k, w_max: w_max as f64, mss, w_est: cwnd as f64 }
    }

    /// The state a window reduction from `cwnd` (a congestion event, or a penalisation) leaves:
    /// `W_max` (with fast convergence), `cwnd_prior`, and no current stage.
    fn after_reduction(&mut self, cwnd: u64) {
        // RFC 9438 §4.7: fast convergence, W_max = cwnd * (1 + β_cubic) / 2 if cwnd < W_max.
        self.w_max = Some(match self.w_max {
            Some(w_max) if self.fast_convergence && cwnd < w_max => {
                u64::try_from(u128::from(cwnd) * u128::from(BETA_DEN + BETA_NUM) / u128::from(2 * BETA_DEN))
                    .unwrap_or(u64::MAX)
            }
            _ => cwnd,
        });
        // RFC 9438 §4.6: cwnd_prior = cwnd before the reduction.
        self.cwnd_prior = cwnd;
        self.frac = 0.0;
        // RFC 9438 §4.2: a new congestion-avoidance stage (t_epoch, K) follows the reduction.
        self.epoch = None;
    }

    /// Adds `increase` bytes (fractional) to the window.
    fn grow(&mut self, increase: f64) {
        if increase.is_nan() || increase <= 0.0 {
            return;
        }
        let total = self.frac + increase;
        let whole = total.floor();
        self.win.cwnd = self.win.cwnd.saturating_add(whole as u64);
        self.frac = total - whole;
    }

    /// Congestion avoidance for `acked` bytes (RFC 9438 §4.2–§4.5).
    fn avoid(&mut self, ev: &AckEvent, acked: u64, mss: u64) {
        let mut epoch = match self.epoch {
            Some(epoch) => epoch,
            None => self.start_epoch(ev.now, mss),
        };
        let cwnd = self.win.cwnd as f64 + self.frac;
        let acked = acked as f64;
        let t = (ev.now - epoch.start).as_secs_f64();
        let rtt = ev.srtt.or(ev.min_rtt).unwrap_or(Duration::ZERO).as_secs_f64();

        // RFC 9438 §4.3: W_est += α * segments_acked / cwnd, with α = 1 once W_est >= cwnd_prior.
        let alpha = if epoch.w_est >= self.cwnd_prior as f64 { 1.0 } else { ALPHA_CUBIC };
        epoch.w_est += alpha * acked * epoch.mss / cwnd;

        let increase = if epoch.w_cubic(t) < epoch.w_est {
            // RFC 9438 §4.3: Reno-friendly region, cwnd = W_est (never shrinking on an ACK).
            epoch.w_est - cwnd
        } else {
            // RFC 9438 §4.2: target = W_cubic(t + RTT), clamped to [cwnd, 1.5 * cwnd].
            let target = epoch.w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
            // RFC 9438 §4.4 / §4.5: cwnd += (target - cwnd) / cwnd per segment acknowledged.
            (target - cwnd) * acked / cwnd
        };
        self.grow(increase);
        epoch.last_ack = ev.now;
        self.epoch = Some(epoch);
    }
}

impl CongestionControl for Cubic {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Cubic
    }

    fn window(&self) -> u64 {
        self.win.cwnd
    }

    fn ssthresh(&self) -> u64 {
        self.win.ssthresh
    }

    fn on_ack(&mut self, ev: &AckEvent) {
        // Recovery, slow start (RFC 9438 §4.10) and app-limited ACKs: see WindowState::on_ack.
        match self.win.on_ack(ev) {
            AckStep::Done => {}
            AckStep::AppLimited => {
                // RFC 9438 §5.8: no growth while app-limited, and t must not include that time.
                if let Some(epoch) = &mut self.epoch {
                    epoch.start += ev.now - epoch.last_ack;
                    epoch.last_ack = ev.now;
                }
            }
            AckStep::Avoid(acked) => self.avoid(ev, acked, smss(ev.mss)),
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, bytes_in_flight: u64, mss: u32) {
        // RFC 9438 §4.6: cwnd_prior = cwnd; ssthresh = max(flight_size * β_cubic, 2*SMSS);
        // cwnd = max(ssthresh, 2*SMSS); once per episode (RFC 6582 §3.2 step 2).
        let Some(cwnd) = self.win.enter_recovery(bytes_in_flight, BETA_NUM, BETA_DEN, mss) else {
            return;
        };
        self.after_reduction(cwnd);
    }

    fn on_recovery_exit(&mut self, _now: Instant, _mss: u32) {
        // RFC 6582 §3.2 step 3 (full acknowledgment): cwnd = ssthresh (unchanged here).
        self.win.exit_recovery();
    }

    fn on_rto(&mut self, _now: Instant, bytes_in_flight: u64, mss: u32) {
        // RFC 9438 §4.8: ssthresh as in §4.6 (β_cubic), held on repeated timeouts of the same
        // data (RFC 5681 §3.1); cwnd = 1 SMSS.
        self.win.on_rto(bytes_in_flight, BETA_NUM, BETA_DEN, mss);
        // RFC 9438 §4.8: the next stage uses K = 0 and W_max = cwnd at its start.
        self.frac = 0.0;
        self.w_max = None;
        self.epoch = None;
    }

    fn penalize(&mut self, _now: Instant, mss: u32) {
        // Halve cwnd, ssthresh = cwnd (WindowState::penalize), then the bookkeeping of any
        // reduction: W_max and cwnd_prior from the window before, and a new stage whose curve
        // climbs back towards it.
        let cwnd = self.win.penalize(mss);
        self.after_reduction(cwnd);
    }
}

/// Cube root by Newton's method with IEEE 754 basic operations only (bit-reproducible across
/// platforms, unlike `f64::cbrt`). Exact to within an ulp or two for normal inputs; magnitudes
/// below `f64::MIN_POSITIVE` give 0.
fn cbrt(x: f64) -> f64 {
    let a = x.abs();
    if !a.is_finite() || a < f64::MIN_POSITIVE {
        return if a.is_finite() { 0.0 } else { x };
    }
    // Initial guess within ~5%: a third of the exponent, via the bit pattern.
    let mut y = f64::from_bits(a.to_bits() / 3 + 0x2A9F_7893_782D_A1CE);
    for _ in 0..6 {
        y = (2.0 * y + a / (y * y)) / 3.0;
    }
    if x < 0.0 { -y } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::test_util::{MSS, ack_at};

    const MSS_F: f64 = 1000.0;

    fn ack(now: Instant, bytes_acked: u64, bytes_in_flight: u64, rtt: Duration) -> AckEvent {
        ack_at(now, bytes_acked, bytes_in_flight, Some(rtt))
    }

    /// Independent RFC 9438 Figure 1 + 2, in segments, with the platform cbrt.
    fn w_cubic_segments(t: f64, w_max: f64, cwnd_epoch: f64) -> f64 {
        let k = ((w_max - cwnd_epoch) / 0.4).cbrt();
        0.4 * (t - k).powi(3) + w_max
    }

    /// A Cubic that slow-started to 100 segments, lost with the window full, and left recovery:
    /// W_max = 100 segments, cwnd = 70 segments, in congestion avoidance.
    fn after_loss_at_100() -> Cubic {
        let mut cc = Cubic::new(MSS);
        while cc.window() < 100_000 {
            cc.on_ack(&ack(Instant::ZERO, 1000, cc.window(), Duration::from_millis(100)));
        }
        assert_eq!(cc.window(), 100_000);
        cc.on_congestion_event(Instant::ZERO, 100_000, MSS);
        cc.on_recovery_exit(Instant::ZERO, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (70_000, 70_000));
        cc
    }

    /// ACK clocking: each round acknowledges the whole window one segment at a time, the ACKs
    /// evenly spread over one RTT. Returns (seconds since the first ACK, cwnd) after each ACK.
    fn clock(cc: &mut Cubic, start: Instant, rtt: Duration, rounds: usize) -> Vec<(f64, u64)> {
        let mut samples = Vec::new();
        let mut round_start = start;
        for _ in 0..rounds {
            let n = cc.window() / 1000;
            for i in 0..n {
                let now = round_start + rtt * u32::try_from(i).unwrap() / u32::try_from(n).unwrap();
                cc.on_ack(&ack(now, 1000, cc.window(), rtt));
                samples.push(((now - start).as_secs_f64(), cc.window()));
            }
            round_start += rtt;
        }
        samples
    }

    /// The window at the last sample taken at or before `t`.
    fn window_at(samples: &[(f64, u64)], t: f64) -> f64 {
        samples.iter().take_while(|(st, _)| *st <= t).last().expect("sample").1 as f64
    }

    #[test]
    fn cbrt_matches_std() {
        for x in [1e-9, 0.001, 0.4, 1.0, 8.0, 27.0, 75.0, 1e6, 123_456.789, 1e300] {
            let ours = cbrt(x);
            assert!((ours - x.cbrt()).abs() <= 4.0 * f64::EPSILON * x.cbrt(), "cbrt({x}) = {ours}");
            assert_eq!(cbrt(-x), -ours);
        }
        assert_eq!(cbrt(0.0), 0.0);
        assert_eq!(cbrt(27.0), 3.0);
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut cc = Cubic::new(MSS);
        let rtt = Duration::from_millis(50);
        clock(&mut cc, Instant::ZERO, rtt, 1);
        assert_eq!(cc.window(), 20_000);
        clock(&mut cc, Instant::from_millis(50), rtt, 2);
        assert_eq!(cc.window(), 80_000);
        assert!(cc.in_slow_start());
        // HyStart++ (the default): L = 8 (RFC 9406 §4.3, non-paced sender).
        cc.on_ack(&ack(Instant::from_millis(200), 10_000, 80_000, rtt));
        assert_eq!(cc.window(), 88_000);
        // Without it, RFC 3465 L = 2 applies here too.
        let mut cc = Cubic::new(MSS).with_hystart(false);
        clock(&mut cc, Instant::ZERO, rtt, 3);
        assert_eq!(cc.window(), 80_000);
        cc.on_ack(&ack(Instant::from_millis(200), 10_000, 80_000, rtt));
        assert_eq!(cc.window(), 82_000);
    }

    #[test]
    fn hystart_exit_starts_a_k_zero_stage() {
        // A cwnd-limited sender, one MSS per ACK; the RTT rises by 20 ms (> RttThresh =
        // 12.5 ms) once the window passes 40 segments, as a queue would.
        let rtt_of = |cwnd: u64| Duration::from_millis(if cwnd < 40_000 { 100 } else { 120 });
        let mut cc = Cubic::new(MSS);
        let mut now = Instant::ZERO;
        let mut entry = 0;
        while cc.in_slow_start() {
            cc.on_ack(&ack(now, 1000, cc.window(), rtt_of(cc.window())));
            if cc.win.hystart.in_css() && entry == 0 {
                entry = cc.window();
            }
            now += Duration::from_millis(1);
            assert!(now < Instant::from_millis(10_000), "no exit: cwnd {}", cc.window());
        }
        // CSS starts 8 samples into the first round that is all 120 ms, then grows x1.25 per
        // round for 5 rounds, the first one partial.
        let exit = cc.window();
        let growth = exit as f64 / entry as f64;
        assert!((40_000..100_000).contains(&entry) && (2.3..3.1).contains(&growth), "{entry} -> {exit}");
        assert_eq!(cc.ssthresh(), exit, "RFC 9406 §4.2: ssthresh = cwnd");
        assert_eq!((cc.w_max, cc.epoch), (None, None));
        // RFC 9438 §4.10: no loss yet, so the first stage has W_max = cwnd_prior = cwnd (at its
        // start) and K = 0.
        cc.on_ack(&ack(now, 1000, exit, Duration::from_millis(120)));
        let epoch = cc.epoch.expect("congestion avoidance");
        assert_eq!((epoch.k, epoch.w_max, cc.w_max, cc.cwnd_prior), (0.0, exit as f64, Some(exit), exit));
        // A later loss and timeout: slow start is the standard one (RFC 9406 §4.3, L = 2).
        cc.on_rto(now + Duration::from_secs(1), exit, MSS);
        cc.on_ack(&ack(now + Duration::from_secs(2), 5000, 1000, Duration::from_millis(100)));
        assert_eq!(cc.window(), 3_000);
    }

    #[test]
    fn congestion_event_multiplies_by_0_7() {
        let cc = after_loss_at_100();
        assert_eq!(cc.w_max, Some(100_000));
        assert_eq!(cc.cwnd_prior, 100_000);
        assert!(!cc.in_slow_start());
        // β applies to FlightSize, W_max to cwnd (RFC 9438 §4.6, §4.7).
        let mut cc = Cubic::new(MSS);
        cc.on_congestion_event(Instant::ZERO, 6_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh(), cc.w_max), (4_200, 4_200, Some(10_000)));
        // Floor of 2*SMSS.
        let mut cc = Cubic::new(MSS);
        cc.on_congestion_event(Instant::ZERO, 2_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (2_000, 2_000));
        // More in flight than cwnd: the loss does not open the window.
        let mut cc = Cubic::new(MSS);
        cc.on_congestion_event(Instant::ZERO, 50_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (7_000, 7_000));
    }

    #[test]
    fn curve_function_matches_rfc_formula() {
        let mut cc = after_loss_at_100();
        let rtt = Duration::from_millis(100);
        cc.on_ack(&ack(Instant::from_millis(1_000), 1000, 70_000, rtt));
        let epoch = cc.epoch.expect("epoch started");
        let k = (30.0f64 / 0.4).cbrt(); // (W_max - cwnd_epoch) / C, segments
        assert!((epoch.k - k).abs() < 1e-12, "K = {} vs {k}", epoch.k);
        assert!((epoch.w_cubic(0.0) - 70_000.0).abs() < 1e-6, "W_cubic(0) = cwnd_epoch");
        assert!((epoch.w_cubic(k) - 100_000.0).abs() < 1e-9, "W_cubic(K) = W_max");
        for t in [0.5, 1.0, 2.0, 3.0, 5.0, 6.0] {
            let want = w_cubic_segments(t, 100.0, 70.0) * MSS_F;
            assert!((epoch.w_cubic(t) - want).abs() < 1e-6, "t = {t}: {} vs {want}", epoch.w_cubic(t));
        }
    }

    #[test]
    fn window_follows_cubic_curve_and_reaches_w_max_at_k() {
        let mut cc = after_loss_at_100();
        let rtt = Duration::from_millis(100);
        let samples = clock(&mut cc, Instant::from_millis(500), rtt, 60);
        let k = (30.0f64 / 0.4).cbrt();
        for t in [1.0, 2.0, 3.0, k, 5.0, 5.5] {
            let want = w_cubic_segments(t, 100.0, 70.0) * MSS_F;
            let got = window_at(&samples, t);
            assert!((got - want).abs() < 0.1 * MSS_F, "t = {t:.3}: cwnd {got} vs W_cubic {want:.0}");
        }
        let at_k = window_at(&samples, k);
        assert!((at_k - 100_000.0).abs() < 0.1 * MSS_F, "cwnd at K = {at_k}");
        // Concave below W_max: the plateau is flat around K.
        let before = window_at(&samples, k - 0.5);
        assert!(at_k - before < 2.0 * MSS_F, "flat near K: {before} -> {at_k}");
    }

    #[test]
    fn reno_friendly_region_dominates_at_small_rtt() {
        let mut cc = after_loss_at_100();
        let rtt = Duration::from_millis(1);
        let samples = clock(&mut cc, Instant::from_millis(10), rtt, 20);
        let (t, got) = *samples.last().unwrap();
        // Reno estimate (RFC 9438 §4.3): α_cubic segments per RTT from cwnd_epoch = 70.
        let alpha = 3.0 * (1.0 - 0.7) / (1.0 + 0.7);
        let want = (70.0 + 20.0 * alpha) * MSS_F;
        assert!((got as f64 - want).abs() < 0.5 * MSS_F, "cwnd {got} vs W_est {want:.0}");
        let cubic = w_cubic_segments(t, 100.0, 70.0) * MSS_F;
        assert!(got as f64 > cubic + 9.0 * MSS_F, "cwnd {got} should be well above W_cubic {cubic:.0}");
        // After W_est passes cwnd_prior = 100 segments, α = 1: one segment per RTT.
        clock(&mut cc, Instant::from_millis(30), rtt, 60);
        let before = cc.window();
        clock(&mut cc, Instant::from_millis(90), rtt, 10);
        let per_rtt = (cc.window() - before) as f64 / 10.0;
        assert!((per_rtt - MSS_F).abs() < 0.05 * MSS_F, "growth {per_rtt} bytes per RTT");
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        // A second loss before regaining W_max = 100: W_max = 70 * (1 + 0.7) / 2 = 59.5 segments.
        let mut cc = after_loss_at_100();
        cc.on_congestion_event(Instant::from_millis(1_000), 70_000, MSS);
        assert_eq!(cc.w_max, Some(59_500));
        assert_eq!((cc.window(), cc.cwnd_prior), (49_000, 70_000));
        cc.on_recovery_exit(Instant::from_millis(2_000), MSS);
        cc.on_ack(&ack(Instant::from_millis(2_000), 1000, 49_000, Duration::from_millis(100)));
        let k = cc.epoch.unwrap().k;
        assert!((k - (10.5f64 / 0.4).cbrt()).abs() < 1e-12, "K = {k}");

        // Without fast convergence W_max is the cwnd at the loss.
        let mut cc = after_loss_at_100().with_fast_convergence(false);
        cc.on_congestion_event(Instant::from_millis(1_000), 70_000, MSS);
        assert_eq!(cc.w_max, Some(70_000));

        // A loss above the old W_max just records the new maximum.
        let mut cc = Cubic::new(MSS);
        cc.on_congestion_event(Instant::ZERO, 10_000, MSS);
        cc.on_recovery_exit(Instant::ZERO, MSS);
        clock(&mut cc, Instant::ZERO, Duration::from_millis(10), 300);
        let cwnd = cc.window();
        assert!(cwnd > 10_000);
        cc.on_congestion_event(Instant::from_millis(10_000), cwnd, MSS);
        assert_eq!(cc.w_max, Some(cwnd));
    }

    #[test]
    fn recovery_freezes_window() {
        let mut cc = after_loss_at_100();
        cc.on_congestion_event(Instant::from_millis(1_000), 70_000, MSS);
        let w = cc.window();
        cc.on_ack(&ack(Instant::from_millis(2_000), 5000, 49_000, Duration::from_millis(100)));
        cc.on_congestion_event(Instant::from_millis(2_000), 49_000, MSS);
        assert_eq!(cc.window(), w);
        assert_eq!(cc.epoch, None);
    }

    #[test]
    fn rto_gives_one_mss_then_k_zero_stage() {
        let mut cc = after_loss_at_100();
        clock(&mut cc, Instant::ZERO, Duration::from_millis(100), 10);
        let rto_at = Instant::from_millis(5_000);
        cc.on_rto(rto_at, 80_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (1_000, 56_000));
        assert_eq!((cc.w_max, cc.epoch), (None, None));
        // Backoff: same data again, ssthresh held.
        cc.on_rto(rto_at + Duration::from_secs(2), 1_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (1_000, 56_000));
        // Slow start back to ssthresh, then the first stage has K = 0, W_max = cwnd_epoch.
        let rtt = Duration::from_millis(100);
        let mut now = rto_at + Duration::from_secs(3);
        while cc.in_slow_start() {
            cc.on_ack(&ack(now, 1000, cc.window(), rtt));
            now += Duration::from_millis(1);
        }
        assert_eq!(cc.window(), 56_000);
        cc.on_ack(&ack(now, 1000, 56_000, rtt));
        let epoch = cc.epoch.unwrap();
        assert_eq!((epoch.k, epoch.w_max, cc.w_max), (0.0, 56_000.0, Some(56_000)));
    }

    #[test]
    fn rto_ssthresh_uses_flight_capped_at_cwnd() {
        // A lost retransmission: far more outstanding (mostly SACKed) than the window.
        let mut cc = after_loss_at_100();
        cc.on_rto(Instant::from_millis(1_000), 300_000, MSS);
        assert_eq!((cc.window(), cc.ssthresh()), (1_000, 49_000));
        let mut cc = after_loss_at_100();
        cc.on_rto(Instant::from_millis(1_000), 30_000, MSS);
        assert_eq!(cc.ssthresh(), 21_000, "a smaller flight still counts");
    }

    #[test]
    fn app_limited_does_not_grow_or_age_the_curve() {
        let mut cc = after_loss_at_100();
        let rtt = Duration::from_millis(100);
        clock(&mut cc, Instant::ZERO, rtt, 10); // t = 1 s into the stage
        let before = cc.window();
        // Ten seconds of app-limited ACKs.
        for i in 1..=100 {
            let mut ev = ack(Instant::from_millis(1000 + 100 * i), 1000, 10_000, rtt);
            ev.app_limited = true;
            cc.on_ack(&ev);
        }
        assert_eq!(cc.window(), before);
        // One more cwnd-limited round grows like t = 1.0 -> 1.1 s, not like t = 11 s (which
        // would hit the 1.5 * cwnd target clamp, ~ +25 segments).
        clock(&mut cc, Instant::from_millis(11_000), rtt, 1);
        let grown = cc.window() - before;
        let expect = (w_cubic_segments(1.2, 100.0, 70.0) - w_cubic_segments(1.1, 100.0, 70.0)) * MSS_F;
        assert!(grown > 0 && (grown as f64) < expect + 1.5 * MSS_F, "grew {grown} bytes, curve step {expect:.0}");
    }

    #[test]
    fn app_limited_in_slow_start_does_not_grow() {
        let mut cc = Cubic::new(MSS);
        let mut ev = ack(Instant::ZERO, 1000, 2000, Duration::from_millis(10));
        ev.app_limited = true;
        for _ in 0..50 {
            cc.on_ack(&ev);
        }
        assert_eq!(cc.window(), 10_000);
    }
}
