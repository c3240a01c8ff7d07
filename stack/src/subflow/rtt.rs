//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! The estimator only does arithmetic; choosing which ACKs yield samples is the caller's job.
//! In particular the caller MUST apply Karn's algorithm (RFC 6298 §3): no sample from a
//! segment that was retransmitted, unless timestamps (RFC 7323 §4) make the echo unambiguous.
//! Values are kept as [`Duration`]s (nanosecond precision), so the RFC's fractions of
//! microsecond samples are exact in the common case.

use core::time::Duration;

/// RTO before any sample (RFC 6298 §2.1).
pub const INITIAL_RTO: Duration = Duration::from_secs(1);
/// Lower bound on the RTO. RFC 6298 §2.4 says 1 s (a SHOULD); like Linux we use 200 ms.
pub const MIN_RTO: Duration = Duration::from_millis(200);
/// Upper bound on the RTO, also capping backoff (RFC 6298 §2.5 allows any maximum ≥ 60 s).
pub const MAX_RTO: Duration = Duration::from_secs(120);
/// RTO after a handshake whose SYN or SYN-ACK timed out (RFC 6298 §5.7).
pub const SYN_FALLBACK_RTO: Duration = Duration::from_secs(3);
/// Clock granularity G of RFC 6298 §2. Instants are in microseconds, but the driver's timers
/// fire with about millisecond granularity; 1 ms keeps the RTO at least a timer tick above
/// SRTT when RTTVAR decays to zero on a jitter-free (e.g. simulated) path.
pub const CLOCK_GRANULARITY: Duration = Duration::from_millis(1);

/// RFC 6298 RTT estimator with exponential RTO backoff.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    /// SRTT and RTTVAR, once a first sample has been taken.
    smoothed: Option<(Duration, Duration)>,
    latest: Option<Duration>,
    /// Minimum over the estimator's lifetime (not windowed).
    min: Option<Duration>,
    /// Current RTO, including backoff.
    rto: Duration,
    /// Timeouts since the last sample.
    timeouts: u32,
}

impl Default for RttEstimator {
    fn default() -> RttEstimator {
        RttEstimator { smoothed: None, latest: None, min: None, rto: INITIAL_RTO, timeouts: 0 }
    }
}

impl RttEstimator {
    /// An estimator with no samples: RTO is [`INITIAL_RTO`].
    pub fn new() -> RttEstimator {
        RttEstimator::default()
    }

    /// Feeds one RTT measurement (Karn's algorithm already applied by the caller). Recomputes
    /// the RTO, which collapses any backoff (RFC 6298 §5, note after rule 5.7).
    pub fn on_sample(&mut self, rtt: Duration) {
        let (srtt, rttvar) = match self.smoothed {
            // RFC 6298 §2.2: first measurement.
            None => (rtt, rtt / 2),
            // RFC 6298 §2.3, alpha = 1/8, beta = 1/4; RTTVAR is updated with the old SRTT.
            Some((srtt, rttvar)) => (srtt * 7 / 8 + rtt / 8, rttvar * 3 / 4 + srtt.abs_diff(rtt) / 4),
        };
        self.smoothed = Some((srtt, rttvar));
        self.latest = Some(rtt);
        self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
        // RFC 6298 §2.2/§2.3: RTO = SRTT + max(G, K*RTTVAR), K = 4; §2.4/§2.5 bounds.
        self.rto = (srtt + CLOCK_GRANULARITY.max(rttvar * 4)).clamp(MIN_RTO, MAX_RTO);
        self.timeouts = 0;
    }

    /// The retransmission timer expired: back off (RFC 6298 §5.5), capped at [`MAX_RTO`].
    /// The RTO stays backed off until the next sample.
    pub fn on_timeout(&mut self) {
        self.rto = self.rto.saturating_mul(2).min(MAX_RTO);
        self.timeouts = self.timeouts.saturating_add(1);
    }

    /// Call when the handshake completes if the SYN (or SYN-ACK) was retransmitted: without an
    /// RTT sample, the RTO becomes 3 s (RFC 6298 §5.7). With a sample (e.g. from timestamps)
    /// the measured RTO is kept, as Linux does.
    pub fn on_handshake_after_syn_timeout(&mut self) {
        if self.smoothed.is_none() {
            self.rto = SYN_FALLBACK_RTO;
            self.timeouts = 0;
        }
    }

    /// Current retransmission timeout, including backoff.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// Smoothed RTT, once sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.smoothed.map(|(srtt, _)| srtt)
    }

    /// RTT variation (zero before the first sample).
    pub fn rttvar(&self) -> Duration {
        self.smoothed.map_or(Duration::ZERO, |(_, rttvar)| rttvar)
    }

    /// Most recent sample.
    pub fn latest(&self) -> Option<Duration> {
        self.latest
    }

    /// Smallest sample over the estimator's lifetime (not windowed: a route change to a longer
    /// path leaves it low; use [`srtt`](Self::srtt) to follow the current path).
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min
    }

    /// Consecutive timeouts since the last sample (for the RFC 9293 §3.8.3 R1/R2 thresholds).
    pub fn timeouts(&self) -> u32 {
        self.timeouts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    fn ns(x: u64) -> Duration {
        Duration::from_nanos(x)
    }

    #[test]
    fn initial_state() {
        let r = RttEstimator::new();
        assert_eq!(r.rto(), Duration::from_secs(1));
        assert_eq!((r.srtt(), r.latest(), r.min_rtt()), (None, None, None));
        assert_eq!(r.rttvar(), Duration::ZERO);
    }

    #[test]
    fn rfc6298_arithmetic_by_hand() {
        let mut r = RttEstimator::new();
        // First: SRTT = 100, RTTVAR = 50, RTO = 100 + 4*50 = 300 ms.
        r.on_sample(ms(100));
        assert_eq!((r.srtt(), r.rttvar(), r.rto()), (Some(ms(100)), ms(50), ms(300)));
        // R = 200: RTTVAR = 37.5 + 25 = 62.5; SRTT = 87.5 + 25 = 112.5; RTO = 112.5 + 250.
        r.on_sample(ms(200));
        assert_eq!((r.srtt(), r.rttvar(), r.rto()), (Some(ns(112_500_000)), ns(62_500_000), ns(362_500_000)));
        // R = 50: RTTVAR = 46.875 + 62.5/4 = 62.5; SRTT = 98.4375 + 6.25 = 104.6875.
        r.on_sample(ms(50));
        assert_eq!((r.srtt(), r.rttvar(), r.rto()), (Some(ns(104_687_500)), ns(62_500_000), ns(354_687_500)));
        assert_eq!((r.latest(), r.min_rtt()), (Some(ms(50)), Some(ms(50))));
    }

    #[test]
    fn matches_floating_point_reference() {
        let mut r = RttEstimator::new();
        let (mut srtt, mut rttvar) = (0.0f64, 0.0f64);
        let mut x = 12345u64;
        for i in 0..1000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let sample_us = 1_000 + (x >> 33) % 300_000;
            let s = sample_us as f64;
            if i == 0 {
                (srtt, rttvar) = (s, s / 2.0);
            } else {
                rttvar = 0.75 * rttvar + 0.25 * (srtt - s).abs();
                srtt = 0.875 * srtt + 0.125 * s;
            }
            r.on_sample(Duration::from_micros(sample_us));
            let us = |d: Duration| d.as_nanos() as f64 / 1000.0;
            assert!((us(r.srtt().unwrap()) - srtt).abs() < 0.01, "srtt at {i}");
            assert!((us(r.rttvar()) - rttvar).abs() < 0.01, "rttvar at {i}");
            let rto = (srtt + (4.0 * rttvar).max(1000.0)).clamp(200_000.0, 120_000_000.0);
            assert!((us(r.rto()) - rto).abs() < 0.05, "rto at {i}");
        }
    }

    #[test]
    fn granularity_term_once_variance_decays() {
        let mut r = RttEstimator::new();
        for _ in 0..100 {
            r.on_sample(ms(500));
        }
        // RTTVAR has decayed to 0, so RTO = SRTT + G.
        assert_eq!(r.rttvar(), Duration::ZERO);
        assert_eq!(r.rto(), ms(501));
    }

    #[test]
    fn bounds() {
        let mut r = RttEstimator::new();
        r.on_sample(ms(1)); // 1 + 4*0.5 = 3 ms, floored
        assert_eq!(r.rto(), MIN_RTO);
        let mut r = RttEstimator::new();
        r.on_sample(Duration::from_secs(100)); // 100 + 4*50 = 300 s, capped
        assert_eq!(r.rto(), MAX_RTO);
    }

    #[test]
    fn backoff_doubles_caps_and_collapses_on_sample() {
        let mut r = RttEstimator::new();
        let expected = [2, 4, 8, 16, 32, 64, 120, 120];
        for (n, secs) in expected.into_iter().enumerate() {
            r.on_timeout();
            assert_eq!(r.rto(), Duration::from_secs(secs));
            assert_eq!(r.timeouts(), n as u32 + 1);
        }
        r.on_sample(ms(100));
        assert_eq!((r.rto(), r.timeouts()), (ms(300), 0));
    }

    #[test]
    fn syn_timeout_fallback_only_without_sample() {
        let mut r = RttEstimator::new();
        r.on_timeout();
        r.on_handshake_after_syn_timeout();
        assert_eq!(r.rto(), Duration::from_secs(3));

        let mut r = RttEstimator::new();
        r.on_sample(ms(100));
        r.on_handshake_after_syn_timeout();
        assert_eq!(r.rto(), ms(300));
    }
}
