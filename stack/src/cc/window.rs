//! The window state every loss-based controller keeps, and the steps that are the same for all of
//! them: slow start (HyStart++, RFC 9406, in the initial one; RFC 5681 + RFC 3465 after), the
//! window across loss recovery (RFC 6582) and after a timeout (RFC 5681 §3.1).
//!
//! A controller holds a [`WindowState`] and adds only what is its own: the congestion-avoidance
//! increase on [`AckStep::Avoid`], the multiplicative decrease factor it passes to
//! [`WindowState::enter_recovery`] and [`WindowState::on_rto`], and the state its increase needs
//! (Reno's byte counter; Cubic's curve, epoch and `W_max`; LIA's and OLIA's coupling), reset
//! when those return. The penalisation of a slow subflow ([`WindowState::penalize`]) is the same
//! for every controller too, and so is RFC 3465 byte counting ([`count_bytes`]) for Reno and
//! the coupled controllers built on its increase.

use super::hystart::HyStart;
use super::{AckEvent, initial_window, reduced_ssthresh, smss};

/// What is left of an ACK for the controller once [`WindowState::on_ack`] has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AckStep {
    /// Nothing: in recovery, nothing newly acknowledged, or slow start took the whole ACK.
    Done,
    /// In congestion avoidance, but the sender is app-limited: no growth (RFC 7661 §4).
    AppLimited,
    /// These bytes go to congestion avoidance: the whole ACK, or what slow start left over once
    /// it reached `ssthresh`.
    Avoid(u64),
}

/// `cwnd`, `ssthresh` and the recovery, timeout and HyStart++ state of one controller. Windows
/// in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WindowState {
    /// The congestion window.
    pub(super) cwnd: u64,
    /// The slow-start threshold; `u64::MAX` until the first congestion event.
    pub(super) ssthresh: u64,
    /// Between [`enter_recovery`](Self::enter_recovery) and
    /// [`exit_recovery`](Self::exit_recovery) (or [`on_rto`](Self::on_rto)).
    pub(super) in_recovery: bool,
    /// An RTO fired and no new data has been acknowledged since (the same data is being
    /// retransmitted again).
    pub(super) rto_backoff: bool,
    /// RFC 9406 state for the initial slow start.
    pub(super) hystart: HyStart,
}

impl WindowState {
    /// The RFC 6928 initial window, in slow start, with HyStart++.
    pub(super) fn new(mss: u32) -> WindowState {
        WindowState {
            cwnd: initial_window(mss),
            // RFC 5681 §3.1: the initial ssthresh SHOULD be arbitrarily high.
            ssthresh: u64::MAX,
            in_recovery: false,
            rto_backoff: false,
            hystart: HyStart::new(true),
        }
    }

    /// Turns HyStart++ (RFC 9406) off or on for the initial slow start; off gives the plain
    /// RFC 5681 / RFC 3465 (L = 2) slow start. Call before the first ACK.
    pub(super) fn set_hystart(&mut self, on: bool) {
        self.hystart = HyStart::new(on);
    }

    /// Takes over a window another controller built up (the application switched the subflow's
    /// algorithm): `cwnd` and `ssthresh` as they were, out of recovery. HyStart++ stays on only
    /// while `ssthresh` is still the initial one (RFC 9406 §4.3: the initial slow start only).
    pub(super) fn take_over(&mut self, cwnd: u64, ssthresh: u64) {
        self.cwnd = cwnd;
        self.ssthresh = ssthresh;
        self.in_recovery = false;
        self.rto_backoff = false;
    }

    /// The first half of every controller's `on_ack`: the timeout backoff, recovery, slow start
    /// and app-limited rules. The rest is the controller's congestion avoidance.
    pub(super) fn on_ack(&mut self, ev: &AckEvent) -> AckStep {
        // RFC 5681 §3.1: new data acknowledged, so a later timeout is a new loss event.
        self.rto_backoff = false;
        // RFC 6582 §3.2 / RFC 9438 §4.6 / RFC 6675 §5: no growth during recovery (cwnd stays at
        // ssthresh).
        if self.in_recovery || ev.bytes_acked == 0 {
            return AckStep::Done;
        }
        let mut acked = ev.bytes_acked;
        if self.cwnd < self.ssthresh {
            // RFC 9406 §4.2 (HyStart++) in the initial slow start (RFC 9438 §4.10 for Cubic),
            // else RFC 5681 §3.1 + RFC 3465 §2.2: cwnd += min(acked, L*SMSS). No growth when
            // app-limited, but HyStart++ still counts the ACK in its rounds and RTT samples.
            acked = self.hystart.on_ack(&mut self.cwnd, &mut self.ssthresh, ev, smss(ev.mss));
            if acked == 0 {
                return AckStep::Done;
            }
        }
        // RFC 7661 §4 (non-validated phase): no growth while the window is not being used.
        if ev.app_limited {
            return AckStep::AppLimited;
        }
        AckStep::Avoid(acked)
    }

    /// Loss detected: enters recovery with `ssthresh = max(FlightSize * num / den, 2*SMSS)` and
    /// `cwnd = ssthresh`. Returns cwnd before the reduction, or `None` if already in recovery
    /// (RFC 6582 §3.2 step 2: one reduction per recovery episode).
    pub(super) fn enter_recovery(&mut self, bytes_in_flight: u64, num: u64, den: u64, mss: u32) -> Option<u64> {
        if self.in_recovery {
            return None;
        }
        let prior = self.cwnd;
        // RFC 5681 §3.2 step 2 (eq. 4) / RFC 9438 §4.6. FlightSize is capped at cwnd so that a
        // loss never opens the window (flight can exceed a just-reduced cwnd).
        self.ssthresh = reduced_ssthresh(bytes_in_flight.min(prior), num, den, smss(mss));
        // RFC 5681 §3.2 step 3 sets cwnd = ssthresh + 3*SMSS to count the duplicate ACKs; the
        // subflow counts them in RFC 6675 `pipe` instead, so no inflation here. RFC 9438 §4.6:
        // cwnd = max(ssthresh, 2*SMSS), which is ssthresh.
        self.cwnd = self.ssthresh;
        self.in_recovery = true;
        Some(prior)
    }

    /// The recovery point was acknowledged.
    pub(super) fn exit_recovery(&mut self) {
        if !self.in_recovery {
            return;
        }
        // RFC 6582 §3.2 step 3 (full acknowledgment), option 2: cwnd = ssthresh (unchanged
        // since enter_recovery, as ACKs in recovery do not grow it).
        self.cwnd = self.ssthresh;
        self.in_recovery = false;
    }

    /// The retransmission timer expired: `ssthresh = max(FlightSize * num / den, 2*SMSS)`
    /// unless backing off, `cwnd` = 1 SMSS.
    pub(super) fn on_rto(&mut self, bytes_in_flight: u64, num: u64, den: u64, mss: u32) {
        let mss = smss(mss);
        // RFC 5681 §3.1 (eq. 4), RFC 9438 §4.8: ssthresh from FlightSize on the first timeout;
        // held while the same data is retransmitted again. FlightSize is capped at cwnd as in
        // enter_recovery: after a lost retransmission, snd.nxt - snd.una can be many windows
        // (mostly SACKed data).
        if !self.rto_backoff {
            self.ssthresh = reduced_ssthresh(bytes_in_flight.min(self.cwnd), num, den, mss);
        }
        // RFC 5681 §3.1 / RFC 9438 §4.8: cwnd = loss window, 1 SMSS.
        self.cwnd = mss;
        // RFC 6582 §3.2 step 4: a timeout ends fast recovery.
        self.in_recovery = false;
        self.rto_backoff = true;
    }

    /// The penalisation of a slow subflow (Raiciu et al., "How Hard Can It Be? Designing and
    /// Implementing a Deployable Multipath TCP", NSDI 2012): `cwnd` is halved, but not below
    /// 2*SMSS (and never raised to it), and `ssthresh` becomes the new `cwnd` (at least 2*SMSS),
    /// so the subflow goes on in congestion avoidance. It is not a loss: the recovery state and
    /// the RTO backoff are left as they are (in recovery `cwnd = ssthresh` still holds, both
    /// halved). Returns cwnd before.
    pub(super) fn penalize(&mut self, mss: u32) -> u64 {
        let mss = smss(mss);
        let prior = self.cwnd;
        self.cwnd = (prior / 2).max(2 * mss).min(prior);
        self.ssthresh = self.cwnd.max(2 * mss);
        prior
    }
}

/// RFC 3465 §2.1 byte counting in congestion avoidance: `counter` collects acknowledged bytes;
/// once it reaches `per_mss`, `cwnd` grows by one SMSS and `per_mss` is taken off it (one step
/// per ACK, the rest carried). Reno counts against `per_mss = cwnd`, one SMSS per window
/// acknowledged; a coupled controller passes a larger `per_mss` for a smaller increase
/// (`acked * SMSS / per_mss` bytes per ACK on average, with nothing lost to rounding).
pub(super) fn count_bytes(counter: &mut u64, cwnd: &mut u64, acked: u64, per_mss: u64, mss: u64) {
    *counter = counter.saturating_add(acked);
    if *counter >= per_mss {
        *counter -= per_mss;
        *cwnd = cwnd.saturating_add(mss);
    }
}
