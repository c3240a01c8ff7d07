//! Congestion control: one window per subflow, behind the [`CongestionControl`] trait.
//!
//! Each MPTCP subflow runs its own TCP congestion controller (RFC 8684 §3.3.7 leaves the choice
//! open; RFC 6356 describes the coupled one). This module holds the trait, two uncoupled
//! controllers and two coupled ones:
//!
//! - [`Reno`] — RFC 5681 slow start and congestion avoidance with appropriate byte counting
//!   (RFC 3465, L = 2), RFC 6582 (NewReno) recovery semantics for the window;
//! - [`Cubic`] — RFC 9438 (the default, [`Algorithm::Cubic`]);
//! - [`Lia`] — RFC 6356, the "Linked Increases Algorithm": Reno whose congestion-avoidance
//!   increase is coupled across the connection's subflows;
//! - [`Olia`] — the "Opportunistic Linked Increases Algorithm" (Khalili et al., CoNEXT 2012;
//!   draft-khalili-mptcp-congestion-control): likewise, with a different coupled increase.
//!
//! All four run HyStart++ (RFC 9406, the `hystart` module) in their initial slow start: it ends
//! slow start on a rise in RTT (through "conservative slow start") instead of at the first
//! loss. It needs [`AckEvent::rtt_sample`] and a true [`AckEvent::bytes_in_flight`]. On by
//! default; `Reno::new(mss).with_hystart(false)` (and the same on the others) gives the plain
//! RFC 5681 slow start.
//!
//! What they have in common (cwnd, ssthresh, slow start with HyStart++, the window across
//! recovery and after a timeout, the penalisation) is the `window` module's `WindowState`; each
//! controller adds its congestion-avoidance increase, its decrease factor and the state those
//! need.
//!
//! Like the rest of the crate the controllers are sans-IO: they never read a clock; every event
//! carries the caller's [`Instant`]. Windows are in bytes.
//!
//! # How the subflow drives a controller
//!
//! | event in the subflow | call |
//! |---|---|
//! | an ACK newly acknowledges data (cumulatively or by SACK), not in recovery | [`on_ack`] |
//! | fast retransmit: entering loss recovery (once per episode) | [`on_congestion_event`] |
//! | the recovery point is cumulatively acknowledged | [`on_recovery_exit`] |
//! | the retransmission timer fires (every expiry) | [`on_rto`] |
//! | a congestion event proved spurious (later) | [`on_spurious_congestion_event`] |
//!
//! and the connection, for its own reasons:
//!
//! | event in the connection | call |
//! |---|---|
//! | before handing a coupled controller's subflow an ACK (see below) | [`on_coupling_update`] |
//! | this slow subflow holds up the connection-level window (at most once per RTT) | [`penalize`] |
//!
//! [`on_coupling_update`]: CongestionControl::on_coupling_update
//! [`penalize`]: CongestionControl::penalize
//! [`on_ack`]: CongestionControl::on_ack
//! [`on_congestion_event`]: CongestionControl::on_congestion_event
//! [`on_recovery_exit`]: CongestionControl::on_recovery_exit
//! [`on_rto`]: CongestionControl::on_rto
//! [`on_spurious_congestion_event`]: CongestionControl::on_spurious_congestion_event
//!
//! The subflow may keep up to `window()` bytes in flight. During recovery the window is
//! `ssthresh` and is meant to be used with RFC 6675's `pipe` (no dup-ACK inflation is modelled);
//! [`on_ack`] calls made during recovery are ignored. A second [`on_congestion_event`] before
//! [`on_recovery_exit`] is ignored (one reduction per episode); [`on_rto`] ends any recovery
//! episode, after which every ACK goes to [`on_ack`] again (slow start).
//!
//! # Coupled controllers (LIA, OLIA)
//!
//! RFC 6356 ([`Lia`]) and [`Olia`] change only the congestion-avoidance *increase* of each
//! subflow, and that increase depends on the other subflows of the connection (LIA: `alpha` and
//! `cwnd_total`, computed from every subflow's window and RTT; OLIA: the windows, RTTs and
//! bytes between losses of all of them). Slow start, the decrease (Reno's 1/2), the RTO
//! response and recovery stay per subflow, exactly as in [`Reno`].
//!
//! The connection-wide part comes in through [`CongestionControl::on_coupling_update`], which
//! the *connection* (not the subflow) calls with a [`CouplingInfo`]: a [`SubflowSnapshot`] of
//! every subflow that carries data plus which entry is "this" subflow. The connection builds
//! each entry with [`snapshot`]`(cc, srtt, mss)` from that subflow's controller, so every field
//! (window, RTT, MSS, OLIA's bytes between losses from
//! [`CongestionControl::loss_interval_bytes`]) is filled. The default `on_coupling_update`
//! ignores it, and [`CongestionControl::is_coupled`] (`true` for LIA and OLIA) lets the
//! connection skip building snapshots when no subflow needs them. A coupled controller derives
//! and caches what it needs (LIA: `alpha` and `cwnd_total`; OLIA: its `alpha_r` and its share of
//! the coupled increase) in `on_coupling_update`, and its `on_ack` uses the cached values. So
//! the subflow's ACK path never needs to know about coupling, and the connection decides how
//! fresh the aggregate is: it should refresh a coupled controller before handing a subflow an
//! ACK (cheap: a handful of subflows), or at least whenever a window or RTT changes. With a
//! single subflow, or before the first update, both behave exactly like [`Reno`]. New
//! per-subflow quantities become new fields of [`SubflowSnapshot`], which derives `Default`.
//!
//! # Penalisation
//!
//! [`CongestionControl::penalize`] is the "penalising slow subflows" mechanism of Raiciu et al.
//! ("How Hard Can It Be? Designing and Implementing a Deployable Multipath TCP", NSDI 2012):
//! when a subflow's slowness holds up the connection-level (receive) window, the connection
//! halves that subflow's window, at most once per RTT. Every controller implements it the same
//! way (cwnd halved, ssthresh = the new cwnd, 2*SMSS floor, no loss recovery); Cubic also starts
//! a new curve as after a congestion event.
//!
//! # Arithmetic
//!
//! Reno is pure integer arithmetic. Cubic evaluates its curve in `f64` (see the `cubic` module
//! docs): only IEEE 754 basic operations, with a cube root computed by Newton steps rather than
//! the platform's `cbrt`, so results are bit-identical across platforms; windows stay integral.
//! LIA and OLIA compute their coupling terms in `f64` with basic operations only (RTTs in
//! microseconds), and OLIA's sets of paths with exact integer comparisons; LIA grows by RFC 3465
//! byte counting like Reno, OLIA carries its fractional growth between ACKs.

mod coupling;
mod cubic;
mod hystart;
mod lia;
mod olia;
mod reno;
#[cfg(test)]
mod test_util;
mod window;

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use crate::time::Instant;

pub use coupling::{CouplingInfo, SubflowSnapshot, snapshot};
pub use cubic::Cubic;
pub use lia::Lia;
pub use olia::Olia;
pub use reno::Reno;

/// One ACK's worth of progress, as the congestion controller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckEvent {
    /// When the ACK arrived.
    pub now: Instant,
    /// Bytes newly acknowledged by this ACK, cumulatively or selectively (SACK).
    pub bytes_acked: u64,
    /// Bytes in flight (RFC 5681 FlightSize, or RFC 6675 `pipe`) *before* this ACK. HyStart++
    /// uses it to delimit rounds (SND.NXT - SND.UNA before the ACK; see the `hystart` module).
    pub bytes_in_flight: u64,
    /// Smoothed RTT (RFC 6298), if there is a sample yet.
    pub srtt: Option<Duration>,
    /// Minimum RTT observed, if any.
    pub min_rtt: Option<Duration>,
    /// The RTT sample this ACK produced, if it produced one (RFC 6298 / Karn). HyStart++
    /// (RFC 9406) keeps the minimum per round.
    pub rtt_sample: Option<Duration>,
    /// The subflow's sender MSS (SMSS) in bytes.
    pub mss: u32,
    /// The sender was not limited by the congestion window when the acknowledged data was sent
    /// (no more data to send, or receive-window limited: RFC 7661's "non-validated" state). The
    /// window does not grow on such ACKs.
    pub app_limited: bool,
}

/// A congestion-control algorithm, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// RFC 5681 + RFC 3465 + RFC 6582.
    Reno,
    /// RFC 9438.
    #[default]
    Cubic,
    /// RFC 6356 (coupled).
    Lia,
    /// OLIA, Khalili et al. (coupled).
    Olia,
}

impl Algorithm {
    /// Every algorithm, in the order names are listed.
    pub const ALL: [Algorithm; 4] = [Algorithm::Reno, Algorithm::Cubic, Algorithm::Lia, Algorithm::Olia];

    /// The lowercase name, as accepted by `FromStr`.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Reno => "reno",
            Algorithm::Cubic => "cubic",
            Algorithm::Lia => "lia",
            Algorithm::Olia => "olia",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = ParseAlgorithmError;

    /// `"reno"`, `"cubic"`, `"lia"` or `"olia"`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Algorithm, ParseAlgorithmError> {
        Algorithm::ALL
            .into_iter()
            .find(|alg| s.eq_ignore_ascii_case(alg.name()))
            .ok_or_else(|| ParseAlgorithmError { name: s.into() })
    }
}

/// The name given to [`Algorithm::from_str`] is not a known algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseAlgorithmError {
    name: String,
}

impl fmt::Display for ParseAlgorithmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown congestion control algorithm {:?} (expected ", self.name)?;
        let last = Algorithm::ALL.len() - 1;
        for (i, alg) in Algorithm::ALL.into_iter().enumerate() {
            let sep = match i {
                0 => "",
                _ if i == last => " or ",
                _ => ", ",
            };
            write!(f, "{sep}{:?}", alg.name())?;
        }
        f.write_str(")")
    }
}

impl core::error::Error for ParseAlgorithmError {}

/// A per-subflow congestion controller. All windows are in bytes.
pub trait CongestionControl: fmt::Debug + Send {
    /// Which algorithm this is.
    fn algorithm(&self) -> Algorithm;

    /// The congestion window (cwnd), in bytes.
    fn window(&self) -> u64;

    /// The slow-start threshold, in bytes; `u64::MAX` until the first congestion event
    /// (RFC 5681 §3.1: "arbitrarily high").
    fn ssthresh(&self) -> u64;

    /// `cwnd < ssthresh` (RFC 5681 §3.1).
    fn in_slow_start(&self) -> bool {
        self.window() < self.ssthresh()
    }

    /// New data was acknowledged (cumulatively or by SACK) outside loss recovery. Calls made
    /// between [`on_congestion_event`](Self::on_congestion_event) and
    /// [`on_recovery_exit`](Self::on_recovery_exit) are ignored.
    fn on_ack(&mut self, ev: &AckEvent);

    /// Loss detected (fast retransmit, entering loss recovery), with FlightSize before the
    /// retransmission. Called once per recovery episode; repeated calls before
    /// [`on_recovery_exit`](Self::on_recovery_exit) are ignored.
    fn on_congestion_event(&mut self, now: Instant, bytes_in_flight: u64, mss: u32);

    /// The recovery point was acknowledged: loss recovery is over.
    fn on_recovery_exit(&mut self, now: Instant, mss: u32);

    /// The retransmission timer expired (RFC 5681 §3.1): `ssthresh` from FlightSize, `cwnd` =
    /// one MSS (the loss window). Call on every expiry; while the same data is being
    /// retransmitted (no [`on_ack`](Self::on_ack) in between) `ssthresh` is held.
    fn on_rto(&mut self, now: Instant, bytes_in_flight: u64, mss: u32);

    /// The last congestion event was spurious (e.g. RFC 5682 F-RTO, RFC 3522 Eifel): undo its
    /// reduction. Not implemented yet by any controller (default: no-op).
    fn on_spurious_congestion_event(&mut self) {}

    /// Whether this controller wants [`on_coupling_update`](Self::on_coupling_update) calls
    /// (a coupled algorithm such as LIA). Default `false`.
    fn is_coupled(&self) -> bool {
        false
    }

    /// The connection-wide view, for coupled controllers (see the module docs). Called by the
    /// connection, not the subflow; uncoupled controllers ignore it (the default).
    fn on_coupling_update(&mut self, _info: &CouplingInfo<'_>) {}

    /// OLIA's `l_r` for this subflow: the larger of the bytes acknowledged between the last two
    /// losses and the bytes acknowledged since the last loss. [`snapshot`] puts it in
    /// [`SubflowSnapshot::loss_interval_bytes`]. Controllers that do not track it return 0 (the
    /// default).
    fn loss_interval_bytes(&self) -> u64 {
        0
    }

    /// Penalise this subflow (Raiciu et al., NSDI 2012; see the module docs): the connection
    /// calls it, at most once per RTT, on a slow subflow that holds up the connection-level
    /// window. Halves cwnd and sets ssthresh to the new cwnd, neither below 2*SMSS (a cwnd
    /// already below that is left as it is). Not a congestion event: no loss recovery starts,
    /// and recovery and RTO-backoff state are unchanged. The same for every controller (the
    /// `window` module's `WindowState::penalize`).
    fn penalize(&mut self, now: Instant, mss: u32);
}

/// RFC 6928 §2: the initial window, `min(10*MSS, max(2*MSS, 14600))` bytes.
pub fn initial_window(mss: u32) -> u64 {
    let mss = u64::from(mss);
    (10 * mss).min((2 * mss).max(14_600))
}

/// A new controller of `alg` for a subflow with sender MSS `mss`, starting at
/// [`initial_window`] in slow start, with HyStart++ (RFC 9406).
pub fn new_controller(alg: Algorithm, mss: u32) -> Box<dyn CongestionControl> {
    new_controller_at(alg, mss, initial_window(mss), u64::MAX)
}

/// A new controller of `alg` that takes over a running subflow's window, when the application
/// switches the subflow's algorithm: `cwnd` and `ssthresh` carry over, so that the switch
/// neither collapses nor inflates the window; what is the algorithm's own (Cubic's curve, the
/// coupling of LIA and OLIA) starts afresh, and HyStart++ runs only if `ssthresh` is still
/// the initial one (the initial slow start, RFC 9406 §4.3).
pub fn new_controller_at(alg: Algorithm, mss: u32, cwnd: u64, ssthresh: u64) -> Box<dyn CongestionControl> {
    match alg {
        Algorithm::Reno => Box::new(Reno::new(mss).with_window(cwnd, ssthresh)),
        Algorithm::Cubic => Box::new(Cubic::new(mss).with_window(cwnd, ssthresh)),
        Algorithm::Lia => Box::new(Lia::new(mss).with_window(cwnd, ssthresh)),
        Algorithm::Olia => Box::new(Olia::new(mss).with_window(cwnd, ssthresh)),
    }
}

// ---- rules shared by the controllers ----

/// RFC 3465 §2.2, §2.3: during slow start cwnd grows by at most L*SMSS per ACK, L = 2.
const ABC_LIMIT_SEGMENTS: u64 = 2;

/// The MSS as a window unit; a zero MSS is treated as one byte so no rule divides by zero.
fn smss(mss: u32) -> u64 {
    u64::from(mss.max(1))
}

/// One slow-start step: grows `cwnd` by `min(acked, L*SMSS)` (RFC 3465 §2.2, RFC 5681 §3.1)
/// but not past `ssthresh`. Returns the acked bytes left over once `ssthresh` is reached, for
/// the caller's congestion avoidance (0 if slow start continues).
fn slow_start(cwnd: &mut u64, ssthresh: u64, acked: u64, mss: u64) -> u64 {
    let increase = acked.min(ABC_LIMIT_SEGMENTS * mss);
    let room = ssthresh.saturating_sub(*cwnd);
    if increase < room {
        *cwnd += increase;
        0
    } else {
        // RFC 5681 §3.1: slow start ends when cwnd reaches ssthresh.
        *cwnd = ssthresh;
        acked - room.min(acked)
    }
}

/// `flight * num / den`, but at least 2*SMSS (RFC 5681 §3.1 eq. 4; RFC 9438 §4.6).
fn reduced_ssthresh(flight: u64, num: u64, den: u64, mss: u64) -> u64 {
    let reduced = u64::try_from(u128::from(flight) * u128::from(num) / u128::from(den)).unwrap_or(u64::MAX);
    reduced.max(2 * mss)
}

#[cfg(test)]
mod tests {
    use super::test_util::ack;
    use super::*;

    #[test]
    fn initial_window_rfc6928() {
        assert_eq!(initial_window(1460), 14_600);
        assert_eq!(initial_window(1000), 10_000);
        assert_eq!(initial_window(536), 5_360);
        // Large MSS: capped by max(2*MSS, 14600).
        assert_eq!(initial_window(1500), 14_600);
        assert_eq!(initial_window(9000), 18_000);
    }

    #[test]
    fn algorithm_names_round_trip() {
        assert_eq!(Algorithm::default(), Algorithm::Cubic);
        for alg in Algorithm::ALL {
            assert_eq!(alg.to_string().parse::<Algorithm>(), Ok(alg));
            assert_eq!(alg.name().to_ascii_uppercase().parse::<Algorithm>(), Ok(alg));
        }
        assert_eq!("reno".parse(), Ok(Algorithm::Reno));
        assert_eq!("CUBIC".parse(), Ok(Algorithm::Cubic));
        assert_eq!("lia".parse(), Ok(Algorithm::Lia));
        assert_eq!("Olia".parse(), Ok(Algorithm::Olia));
        assert_eq!(Algorithm::Cubic.to_string(), "cubic");
        assert_eq!(Algorithm::Lia.to_string(), "lia");
        assert_eq!(Algorithm::Olia.to_string(), "olia");
        let err = "bbr".parse::<Algorithm>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown congestion control algorithm \"bbr\" (expected \"reno\", \"cubic\", \"lia\" or \"olia\")"
        );
    }

    #[test]
    fn new_controller_starts_in_slow_start_at_initial_window() {
        for alg in Algorithm::ALL {
            let cc = new_controller(alg, 1460);
            assert_eq!(cc.algorithm(), alg);
            assert_eq!(cc.window(), 14_600);
            assert_eq!(cc.ssthresh(), u64::MAX);
            assert!(cc.in_slow_start());
            assert_eq!(cc.is_coupled(), matches!(alg, Algorithm::Lia | Algorithm::Olia));
            assert_eq!(cc.loss_interval_bytes(), 0);
        }
    }

    #[test]
    fn penalize_halves_with_floor_for_every_controller() {
        for alg in Algorithm::ALL {
            // Slow start at 10 MSS: halved, ssthresh = cwnd, so congestion avoidance follows.
            let mut cc = new_controller(alg, 1000);
            cc.penalize(Instant::ZERO, 1000);
            assert_eq!((cc.window(), cc.ssthresh()), (5_000, 5_000), "{alg}");
            assert!(!cc.in_slow_start(), "{alg}");
            cc.penalize(Instant::ZERO, 1000);
            assert_eq!((cc.window(), cc.ssthresh()), (2_500, 2_500), "{alg}");
            // The 2*SMSS floor.
            cc.penalize(Instant::ZERO, 1000);
            assert_eq!((cc.window(), cc.ssthresh()), (2_000, 2_000), "{alg}");
            cc.penalize(Instant::ZERO, 1000);
            assert_eq!((cc.window(), cc.ssthresh()), (2_000, 2_000), "{alg}");
            // Below the floor (the loss window after a timeout) cwnd is not raised.
            cc.on_rto(Instant::ZERO, 2_000, 1000);
            cc.penalize(Instant::ZERO, 1000);
            assert_eq!((cc.window(), cc.ssthresh()), (1_000, 2_000), "{alg}");

            // Not a congestion event: no recovery, ACKs still grow the window.
            let mut cc = new_controller(alg, 1000);
            cc.on_ack(&ack(1000, 10_000)); // slow start: 11 MSS
            cc.penalize(Instant::ZERO, 1000);
            assert_eq!((cc.window(), cc.ssthresh()), (5_500, 5_500), "{alg}");
            let before = cc.window();
            for _ in 0..20 {
                cc.on_ack(&ack(1000, before));
            }
            assert!(cc.window() > before, "{alg}: no growth after a penalisation");
            // A congestion event afterwards is still one (recovery was not entered).
            cc.on_congestion_event(Instant::ZERO, 6_000, 1000);
            assert_eq!(cc.ssthresh(), if alg == Algorithm::Cubic { 4_200 } else { 3_000 }, "{alg}");

            // In recovery: cwnd = ssthresh, both halved; recovery goes on and ends as usual.
            let mut cc = new_controller(alg, 1000);
            cc.on_congestion_event(Instant::ZERO, 20_000, 1000);
            let ssthresh = cc.ssthresh();
            cc.penalize(Instant::ZERO, 1000);
            assert_eq!((cc.window(), cc.ssthresh()), (ssthresh / 2, ssthresh / 2), "{alg}");
            cc.on_ack(&ack(1000, 10_000));
            assert_eq!(cc.window(), ssthresh / 2, "{alg}: still in recovery, no growth");
            cc.on_congestion_event(Instant::ZERO, 20_000, 1000);
            assert_eq!(cc.window(), ssthresh / 2, "{alg}: still one reduction per episode");
            cc.on_recovery_exit(Instant::ZERO, 1000);
            assert_eq!((cc.window(), cc.ssthresh()), (ssthresh / 2, ssthresh / 2), "{alg}");
        }
    }

    #[test]
    fn a_controller_taken_over_keeps_the_window_and_goes_on_from_it() {
        for from in Algorithm::ALL {
            // A window built up to 30 segments in slow start, then a loss: 21 or 15 segments.
            let mut old = new_controller(from, 1000);
            while old.window() < 30_000 {
                old.on_ack(&ack(1000, old.window()));
            }
            old.on_congestion_event(Instant::ZERO, 30_000, 1000);
            old.on_recovery_exit(Instant::ZERO, 1000);
            let (cwnd, ssthresh) = (old.window(), old.ssthresh());
            for to in Algorithm::ALL {
                let mut cc = new_controller_at(to, 1000, cwnd, ssthresh);
                assert_eq!(cc.algorithm(), to);
                assert_eq!((cc.window(), cc.ssthresh()), (cwnd, ssthresh), "{from} to {to}");
                assert!(!cc.in_slow_start(), "{from} to {to}: congestion avoidance goes on");
                // Not in recovery: ACKs of a full window grow it, and a loss reduces it.
                for _ in 0..3 {
                    let w = cc.window();
                    cc.on_ack(&ack(w, w));
                }
                assert!(cc.window() > cwnd, "{from} to {to}: no growth after the switch");
                cc.on_congestion_event(Instant::ZERO, cc.window(), 1000);
                assert!(cc.window() < cwnd + 3000, "{from} to {to}: a loss reduces the window");
            }
        }
        // In the initial slow start the new controller keeps growing exponentially.
        for alg in Algorithm::ALL {
            let mut cc = new_controller_at(alg, 1000, 20_000, u64::MAX);
            cc.on_ack(&ack(2000, 20_000));
            assert!(cc.in_slow_start());
            assert!(cc.window() >= 22_000, "{alg}: {}", cc.window());
        }
    }

    #[test]
    fn slow_start_step_caps_at_ssthresh_and_returns_leftover() {
        let mut cwnd = 10_000;
        assert_eq!(slow_start(&mut cwnd, 20_000, 5_000, 1000), 0);
        assert_eq!(cwnd, 12_000, "L = 2 caps one ACK at 2*SMSS");
        assert_eq!(slow_start(&mut cwnd, 12_500, 1_000, 1000), 500);
        assert_eq!(cwnd, 12_500);
    }

    #[test]
    fn reduced_ssthresh_floor() {
        assert_eq!(reduced_ssthresh(40_000, 1, 2, 1000), 20_000);
        assert_eq!(reduced_ssthresh(100_000, 7, 10, 1000), 70_000);
        assert_eq!(reduced_ssthresh(1_000, 1, 2, 1000), 2_000);
        assert_eq!(reduced_ssthresh(u64::MAX, 7, 10, 1000), 12_912_720_851_596_686_130, "no overflow");
    }
}
