//! HyStart++ (RFC 9406): slow start that leaves early on a rise in round-trip delay, through a
//! "conservative slow start" (CSS) phase, instead of growing until the first loss. Shared by
//! [`Reno`](super::Reno) and [`Cubic`](super::Cubic).
//!
//! - Only the initial slow start uses it (§4.3 SHOULD): once `ssthresh` is no longer
//!   "arbitrarily high" (after a congestion event, an RTO, or HyStart++'s own exit to congestion
//!   avoidance), slow start is the standard one (RFC 5681 §3.1, RFC 3465 L = 2).
//! - §4.3 L: 8 for a non-paced sender (infinity when paced). The subflows do not pace.
//! - A loss (or ECN mark) in slow start or CSS ends HyStart++: the controller's loss response
//!   sets a finite `ssthresh` and enters congestion avoidance (§4.2).
//!
//! # Rounds without sequence numbers
//!
//! §4.2 delimits rounds with `windowEnd`: SND.NXT when the round starts; the round ends when
//! `windowEnd` is acknowledged. The controller sees no sequence numbers, so this counts bytes
//! instead: when a round starts, on the ACK that ends the previous one, the bytes still
//! unacknowledged up to SND.NXT are `bytes_in_flight - bytes_acked` of that ACK (FlightSize
//! *before* the ACK, minus what it acknowledged); the round ends on the ACK that brings the bytes
//! acknowledged since then to at least that amount. With cumulative `bytes_acked` (what the
//! subflow reports outside recovery) this is exactly "windowEnd is acknowledged"; it needs the
//! caller's `bytes_in_flight` to be the real FlightSize. Using the flight rather than cwnd also
//! keeps rounds one RTT long when the sender is not filling the window. The first ACK ends the
//! empty round 0, as `windowEnd` starts at SND.NXT (§4.2).
//!
//! An ACK without an RTT sample (Karn's rule) still advances the round but adds no sample.
//! ACKs marked app-limited advance rounds and give samples but do not grow the window, like the
//! controllers' other phases.

use core::time::Duration;

use super::{AckEvent, slow_start};

/// RFC 9406 §4.3: MIN_RTT_THRESH.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// RFC 9406 §4.3: MAX_RTT_THRESH.
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// RFC 9406 §4.3: MIN_RTT_DIVISOR.
const MIN_RTT_DIVISOR: u32 = 8;
/// RFC 9406 §4.3: N_RTT_SAMPLE, RTT samples per round before a decision.
const N_RTT_SAMPLE: u32 = 8;
/// RFC 9406 §4.3: CSS_GROWTH_DIVISOR.
const CSS_GROWTH_DIVISOR: u64 = 4;
/// RFC 9406 §4.3: CSS_ROUNDS.
const CSS_ROUNDS: u32 = 5;
/// RFC 9406 §4.3: L = 8 for a non-paced sender (segments per ACK).
const L_NON_PACED: u64 = 8;

/// Where the initial slow start is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Standard slow start with delay-increase detection (§4.2).
    SlowStart,
    /// Conservative slow start (§4.2): `baseline` is `cssBaselineMinRtt`, `rounds` the CSS
    /// rounds ended so far (the partial round CSS started in counts).
    Css { baseline: Duration, rounds: u32 },
    /// Not in use: disabled, or the initial slow start is over (§4.3).
    Off,
}

/// HyStart++ state for one controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HyStart {
    phase: Phase,
    /// Bytes to be acknowledged before the current round ends (`windowEnd - SND.UNA`).
    round_left: u64,
    /// §4.2 `lastRoundMinRTT`; `None` is infinity.
    last_round_min_rtt: Option<Duration>,
    /// §4.2 `currentRoundMinRTT`; `None` is infinity.
    current_round_min_rtt: Option<Duration>,
    /// §4.2 `rttSampleCount`.
    rtt_sample_count: u32,
    /// CSS growth not yet in cwnd, in quarter bytes (the remainder of the division by
    /// CSS_GROWTH_DIVISOR).
    css_carry: u64,
}

impl HyStart {
    /// HyStart++ for the initial slow start (`enabled`), or plain slow start throughout.
    pub(super) fn new(enabled: bool) -> HyStart {
        HyStart {
            phase: if enabled { Phase::SlowStart } else { Phase::Off },
            round_left: 0,
            last_round_min_rtt: None,
            current_round_min_rtt: None,
            rtt_sample_count: 0,
            css_carry: 0,
        }
    }

    /// Whether HyStart++ still governs slow start (it has not exited and was not disabled).
    #[cfg(test)]
    pub(super) fn is_active(&self) -> bool {
        self.phase != Phase::Off
    }

    /// In conservative slow start.
    #[cfg(test)]
    pub(super) fn in_css(&self) -> bool {
        matches!(self.phase, Phase::Css { .. })
    }

    /// One ACK while `cwnd < ssthresh`, from the controller's `on_ack` (outside recovery,
    /// `bytes_acked > 0`). Grows `cwnd` (not when `ev.app_limited`) and may end slow start by
    /// setting `ssthresh = cwnd`. Returns the acknowledged bytes left for congestion avoidance,
    /// as [`slow_start`] does (always 0 while HyStart++ is active).
    pub(super) fn on_ack(&mut self, cwnd: &mut u64, ssthresh: &mut u64, ev: &AckEvent, mss: u64) -> u64 {
        // §4.3: HyStart++ only while ssthresh is at its initial, arbitrarily high value.
        if *ssthresh != u64::MAX {
            self.phase = Phase::Off;
        }
        if self.phase == Phase::Off {
            if ev.app_limited {
                return 0;
            }
            return slow_start(cwnd, *ssthresh, ev.bytes_acked, mss);
        }
        let acked = ev.bytes_acked;

        // §4.2: cwnd += min(N, L*SMSS) in slow start, that divided by CSS_GROWTH_DIVISOR in CSS.
        if !ev.app_limited {
            let increase = acked.min(L_NON_PACED.saturating_mul(mss));
            let increase = match self.phase {
                Phase::Css { .. } => {
                    let quarters = self.css_carry + increase;
                    self.css_carry = quarters % CSS_GROWTH_DIVISOR;
                    quarters / CSS_GROWTH_DIVISOR
                }
                _ => increase,
            };
            *cwnd = cwnd.saturating_add(increase);
        }

        // §4.2: currentRoundMinRTT = min(currentRoundMinRTT, currRTT); rttSampleCount += 1.
        if let Some(rtt) = ev.rtt_sample {
            self.current_round_min_rtt = Some(self.current_round_min_rtt.map_or(rtt, |min| min.min(rtt)));
            self.rtt_sample_count += 1;
        }

        if self.rtt_sample_count >= N_RTT_SAMPLE {
            match (self.phase, self.current_round_min_rtt, self.last_round_min_rtt) {
                (Phase::SlowStart, Some(current), Some(last)) => {
                    // §4.2: RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT /
                    // MIN_RTT_DIVISOR, MAX_RTT_THRESH)); a delay increase of RttThresh ends
                    // slow start: cssBaselineMinRtt = currentRoundMinRTT, enter CSS.
                    let thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                    if current >= last + thresh {
                        self.phase = Phase::Css { baseline: current, rounds: 0 };
                        self.css_carry = 0;
                    }
                }
                (Phase::Css { baseline, .. }, Some(current), _) if current < baseline => {
                    // §4.2: the RTT fell below the baseline, the exit was spurious:
                    // cssBaselineMinRtt = infinity, resume slow start including HyStart++.
                    self.phase = Phase::SlowStart;
                }
                _ => {}
            }
        }

        if acked >= self.round_left {
            // §4.2: windowEnd acknowledged; a new round starts with windowEnd = SND.NXT.
            self.round_left = ev.bytes_in_flight.saturating_sub(acked);
            self.last_round_min_rtt = self.current_round_min_rtt.take();
            self.rtt_sample_count = 0;
            if let Phase::Css { rounds, .. } = &mut self.phase {
                *rounds += 1;
                if *rounds >= CSS_ROUNDS {
                    // §4.2: after CSS_ROUNDS rounds, enter congestion avoidance: ssthresh = cwnd.
                    *ssthresh = *cwnd;
                    self.phase = Phase::Off;
                }
            }
        } else {
            self.round_left -= acked;
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::test_util::ack_at;
    use crate::time::Instant;

    const MSS: u64 = 1000;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn event(bytes_acked: u64, bytes_in_flight: u64, rtt: Option<Duration>) -> AckEvent {
        ack_at(Instant::ZERO, bytes_acked, bytes_in_flight, rtt)
    }

    /// A cwnd-limited sender with sequence numbers: every ACK acknowledges one MSS, then the
    /// sender fills the window again. Rounds are the RFC's: they end when `window_end` (SND.NXT
    /// at the start of the round, before the sends the ACK triggers) is acknowledged.
    struct Sim {
        hs: HyStart,
        cwnd: u64,
        ssthresh: u64,
        snd_una: u64,
        snd_nxt: u64,
        window_end: u64,
    }

    impl Sim {
        fn new() -> Sim {
            Sim { hs: HyStart::new(true), cwnd: 10_000, ssthresh: u64::MAX, snd_una: 0, snd_nxt: 10_000, window_end: 0 }
        }

        /// One ACK; returns whether it ended a round.
        fn ack(&mut self, rtt: Option<Duration>) -> bool {
            let flight = self.snd_nxt - self.snd_una;
            self.snd_una += MSS;
            let left = self.hs.on_ack(&mut self.cwnd, &mut self.ssthresh, &event(MSS, flight, rtt), MSS);
            assert_eq!(left, 0);
            let ended = self.snd_una >= self.window_end;
            if ended {
                self.window_end = self.snd_nxt;
            }
            if self.hs.is_active() {
                // The byte count tracks windowEnd exactly.
                assert_eq!(self.hs.round_left, self.window_end - self.snd_una, "round boundary");
            }
            self.snd_nxt = self.snd_nxt.max(self.snd_una + self.cwnd);
            ended
        }

        /// ACKs up to the end of the round, the i-th with RTT sample `rtt(i)`. Returns (cwnd at
        /// the start, bytes acknowledged in the round).
        fn round_with(&mut self, rtt: impl Fn(u64) -> Option<Duration>) -> (u64, u64) {
            let (start, una) = (self.cwnd, self.snd_una);
            let mut i = 0;
            while !self.ack(rtt(i)) {
                i += 1;
            }
            (start, self.snd_una - una)
        }

        fn round(&mut self, rtt: Duration) -> (u64, u64) {
            self.round_with(|_| Some(rtt))
        }
    }

    #[test]
    fn flat_rtt_keeps_doubling() {
        let mut s = Sim::new();
        assert!(s.ack(Some(ms(100))), "the first ACK ends round 0");
        let mut prev = 0;
        for _ in 0..12 {
            let (start, acked) = s.round(ms(100));
            assert_eq!(s.cwnd, start + acked, "cwnd grows by the bytes acknowledged");
            assert!(acked >= 2 * prev, "the round doubles: {prev} -> {acked}");
            prev = acked;
            assert!(!s.hs.in_css() && s.hs.is_active());
        }
        assert!(s.cwnd > 20_000_000);
        assert_eq!(s.ssthresh, u64::MAX);
    }

    #[test]
    fn rounds_keep_the_minimum_rtt_and_no_samples_is_infinity() {
        let mut s = Sim::new();
        s.ack(Some(ms(10)));
        assert_eq!((s.hs.last_round_min_rtt, s.hs.rtt_sample_count), (Some(ms(10)), 0));
        s.round_with(|i| Some(ms(if i == 3 { 11 } else { 12 })));
        assert_eq!(s.hs.last_round_min_rtt, Some(ms(11)));
        // Karn: ACKs without a sample advance the round but add nothing.
        s.round_with(|_| None);
        assert_eq!(s.hs.last_round_min_rtt, None);
    }

    #[test]
    fn delay_increase_enters_css_then_congestion_avoidance_after_5_rounds() {
        let mut s = Sim::new();
        s.ack(Some(ms(100)));
        s.round(ms(100));
        s.round(ms(100));
        // RttThresh = clamp(100 / 8, 4, 16) = 12.5 ms: +12 ms stays in slow start.
        s.round(ms(112));
        assert!(!s.hs.in_css());
        // RttThresh = 112 / 8 = 14 ms over the previous round's minimum exits at the 8th sample.
        let before = s.cwnd;
        for _ in 0..7 {
            s.ack(Some(ms(127)));
        }
        assert!(!s.hs.in_css(), "7 samples are not enough");
        s.ack(Some(ms(126)));
        assert_eq!(s.hs.phase, Phase::Css { baseline: ms(126), rounds: 0 });
        assert_eq!(s.cwnd, before + 8 * MSS, "slow-start growth up to the exit");
        // The rest of this round is the partial first CSS round: a quarter of the growth.
        let (start, acked) = s.round(ms(130));
        assert_eq!(s.cwnd, start + acked / 4);
        assert_eq!(s.hs.phase, Phase::Css { baseline: ms(126), rounds: 1 });
        // CSS rounds 2 to 4: cwnd x1.25 per round.
        for round in 2..=4 {
            let (start, acked) = s.round(ms(130));
            assert_eq!(s.cwnd, start + acked / 4);
            assert_eq!(s.hs.phase, Phase::Css { baseline: ms(126), rounds: round });
            assert_eq!(s.ssthresh, u64::MAX);
        }
        // The fifth round ends CSS: congestion avoidance with ssthresh = cwnd.
        let (start, acked) = s.round(ms(130));
        assert_eq!(s.cwnd, start + acked / 4);
        assert!(!s.hs.is_active() && !s.hs.in_css());
        assert_eq!(s.ssthresh, s.cwnd);
    }

    #[test]
    fn rtt_thresh_is_clamped_to_4_and_16_ms() {
        // Small RTT: 10 ms / 8 = 1.25 ms, clamped up to 4 ms.
        let mut s = Sim::new();
        s.ack(Some(ms(10)));
        s.round(ms(10));
        s.round(ms(13));
        assert!(!s.hs.in_css(), "+3 ms < 4 ms");
        s.round(ms(17));
        assert!(s.hs.in_css(), "+4 ms");
        // Large RTT: 400 ms / 8 = 50 ms, clamped down to 16 ms.
        let mut s = Sim::new();
        s.ack(Some(ms(400)));
        s.round(ms(400));
        s.round(ms(415));
        assert!(!s.hs.in_css(), "+15 ms < 16 ms");
        s.round(ms(431));
        assert!(s.hs.in_css(), "+16 ms");
    }

    #[test]
    fn fewer_than_8_samples_per_round_never_exit() {
        let mut s = Sim::new();
        s.ack(Some(ms(20)));
        // Every round has 7 samples, the RTT growing by 50 ms per round.
        for r in 1..=10u64 {
            let (start, acked) = s.round_with(|i| (i < 7).then(|| ms(20 + 50 * r)));
            assert!(acked > 8 * MSS);
            assert_eq!(s.cwnd, start + acked);
            assert!(!s.hs.in_css(), "round {r}");
        }
        assert_eq!(s.ssthresh, u64::MAX);
        // The same rounds with 8 samples exit.
        s.round_with(|i| (i < 8).then(|| ms(600)));
        assert!(s.hs.in_css());
    }

    #[test]
    fn spurious_exit_returns_to_slow_start() {
        let mut s = Sim::new();
        s.ack(Some(ms(50)));
        s.round(ms(50));
        s.round(ms(50));
        // A jitter spike: RttThresh = 6.25 ms, +10 ms enters CSS.
        s.round(ms(60));
        assert_eq!(s.hs.phase, Phase::Css { baseline: ms(60), rounds: 1 });
        // The next round sees 59 ms (below the baseline): back to slow start at its 8th sample.
        for i in 0..8 {
            assert!(s.hs.in_css(), "no decision before 8 samples ({i})");
            s.ack(Some(ms(59)));
        }
        assert!(!s.hs.in_css() && s.hs.is_active());
        let before = s.cwnd;
        let (_, acked) = s.round(ms(59));
        assert_eq!(s.cwnd, before + acked, "full slow-start growth again");
        // Slow start including HyStart++: it doubles, and can exit again.
        let (start, acked) = s.round(ms(59));
        assert_eq!(s.cwnd, start + acked);
        s.round(ms(70));
        assert_eq!(s.hs.phase, Phase::Css { baseline: ms(70), rounds: 1 });
    }

    #[test]
    fn css_continues_while_rtt_stays_at_baseline() {
        let mut s = Sim::new();
        s.ack(Some(ms(50)));
        s.round(ms(50));
        s.round(ms(60));
        assert!(s.hs.in_css());
        // Equal to the baseline is not below it.
        s.round(ms(60));
        assert_eq!(s.hs.phase, Phase::Css { baseline: ms(60), rounds: 2 });
    }

    #[test]
    fn l_is_8_segments_per_ack() {
        let mut hs = HyStart::new(true);
        let (mut cwnd, mut ssthresh) = (10_000, u64::MAX);
        hs.on_ack(&mut cwnd, &mut ssthresh, &event(5_000, 10_000, None), MSS);
        assert_eq!(cwnd, 15_000);
        hs.on_ack(&mut cwnd, &mut ssthresh, &event(20_000, 40_000, None), MSS);
        assert_eq!(cwnd, 23_000);
    }

    #[test]
    fn css_growth_carries_fractions() {
        let mut s = Sim::new();
        s.ack(Some(ms(50)));
        s.round(ms(50));
        s.round(ms(60));
        assert!(s.hs.in_css());
        let before = s.cwnd;
        for _ in 0..3 {
            s.hs.on_ack(&mut s.cwnd, &mut s.ssthresh, &event(1, 1_000_000, Some(ms(60))), MSS);
        }
        assert_eq!(s.cwnd, before);
        s.hs.on_ack(&mut s.cwnd, &mut s.ssthresh, &event(1, 1_000_000, Some(ms(60))), MSS);
        assert_eq!(s.cwnd, before + 1, "four quarter bytes");
    }

    #[test]
    fn app_limited_acks_advance_rounds_without_growth() {
        let mut hs = HyStart::new(true);
        let (mut cwnd, mut ssthresh) = (10_000, u64::MAX);
        let ev = AckEvent { app_limited: true, ..event(1000, 3000, Some(ms(30))) };
        for _ in 0..30 {
            hs.on_ack(&mut cwnd, &mut ssthresh, &ev, MSS);
        }
        assert_eq!(cwnd, 10_000);
        assert_eq!(hs.last_round_min_rtt, Some(ms(30)));
    }

    #[test]
    fn disabled_or_finite_ssthresh_is_standard_slow_start() {
        let ev = event(5000, 10_000, Some(ms(30)));
        let mut hs = HyStart::new(false);
        let (mut cwnd, mut ssthresh) = (10_000, u64::MAX);
        assert_eq!(hs.on_ack(&mut cwnd, &mut ssthresh, &ev, MSS), 0);
        assert_eq!(cwnd, 12_000, "RFC 3465 L = 2");
        // After a congestion event (finite ssthresh), HyStart++ is over for good (§4.3).
        let mut hs = HyStart::new(true);
        let (mut cwnd, mut ssthresh) = (10_000, 13_000);
        assert_eq!(hs.on_ack(&mut cwnd, &mut ssthresh, &ev, MSS), 0);
        assert_eq!(hs.on_ack(&mut cwnd, &mut ssthresh, &ev, MSS), 4_000, "leftover past ssthresh");
        assert_eq!(cwnd, 13_000);
        assert!(!hs.is_active());
        let mut ssthresh = u64::MAX;
        hs.on_ack(&mut cwnd, &mut ssthresh, &ev, MSS);
        assert_eq!(cwnd, 15_000, "still L = 2");
    }
}
