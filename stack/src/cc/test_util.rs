//! Helpers for the controllers' unit tests: ACK events, a controller brought into congestion
//! avoidance, and rounds of ACK clocking over coupled subflows, with or without deterministic
//! losses.

use core::time::Duration;

use super::{AckEvent, CongestionControl, CouplingInfo, snapshot};
use crate::time::Instant;

/// The sender MSS of every test subflow, in bytes.
pub(super) const MSS: u32 = 1000;

/// The RTT of every test subflow.
pub(super) const RTT: Duration = Duration::from_millis(100);

/// An ACK at `now` with every RTT field `rtt`, MSS [`MSS`], not app-limited.
pub(super) fn ack_at(now: Instant, bytes_acked: u64, bytes_in_flight: u64, rtt: Option<Duration>) -> AckEvent {
    AckEvent {
        now,
        bytes_acked,
        bytes_in_flight,
        srtt: rtt,
        min_rtt: rtt,
        rtt_sample: rtt,
        mss: MSS,
        app_limited: false,
    }
}

/// An ACK at time zero with every RTT field [`RTT`] ([`ack_at`]).
pub(super) fn ack(bytes_acked: u64, bytes_in_flight: u64) -> AckEvent {
    ack_at(Instant::ZERO, bytes_acked, bytes_in_flight, Some(RTT))
}

/// `cc` brought into congestion avoidance at `cwnd` bytes: slow start to twice that, a
/// congestion event with that much in flight, and the end of its recovery.
pub(super) fn in_avoidance<C: CongestionControl>(mut cc: C, cwnd: u64) -> C {
    while cc.window() < 2 * cwnd {
        cc.on_ack(&ack(1000, cc.window()));
    }
    cc.on_congestion_event(Instant::ZERO, 2 * cwnd, MSS);
    cc.on_recovery_exit(Instant::ZERO, MSS);
    assert_eq!((cc.window(), cc.ssthresh()), (cwnd, cwnd));
    cc
}

/// The sum of the windows of `ccs`.
pub(super) fn total(ccs: &[Box<dyn CongestionControl>]) -> u64 {
    ccs.iter().map(|cc| cc.window()).sum()
}

/// One RTT of ACK clocking on every subflow in turn (RTTs all [`RTT`]): the window it had at the
/// start acknowledged in one-MSS ACKs, each preceded by a coupling update of the receiving
/// controller from every controller's [`snapshot`], as the connection does. `after_ack(i, cc)`
/// runs after each ACK to subflow `i`.
pub(super) fn round_with(
    ccs: &mut [Box<dyn CongestionControl>],
    mut after_ack: impl FnMut(usize, &mut dyn CongestionControl),
) {
    let flights: Vec<u64> = ccs.iter().map(|cc| cc.window()).collect();
    for (i, flight) in flights.into_iter().enumerate() {
        for k in 0..flight / 1000 {
            let snaps: Vec<_> = ccs.iter().map(|cc| snapshot(cc.as_ref(), Some(RTT), MSS)).collect();
            ccs[i].on_coupling_update(&CouplingInfo { subflows: &snaps, this: i });
            ccs[i].on_ack(&ack(1000, flight - 1000 * k));
            after_ack(i, ccs[i].as_mut());
        }
    }
}

/// One [`round_with`] and nothing after each ACK.
pub(super) fn round(ccs: &mut [Box<dyn CongestionControl>]) {
    round_with(ccs, |_, _| {});
}

/// `rounds` of [`round_with`] with deterministic losses: subflow `i` has a congestion event
/// (with its window in flight), and leaves recovery at once, after every `loss_every[i]` ACKs.
/// `after_round(r, ccs)` runs after round `r`.
pub(super) fn rounds_with_losses(
    ccs: &mut [Box<dyn CongestionControl>],
    loss_every: &[u64],
    rounds: usize,
    mut after_round: impl FnMut(usize, &[Box<dyn CongestionControl>]),
) {
    let mut since_loss = vec![0u64; ccs.len()];
    for r in 0..rounds {
        round_with(ccs, |i, cc| {
            since_loss[i] += 1;
            if since_loss[i] == loss_every[i] {
                since_loss[i] = 0;
                let w = cc.window();
                cc.on_congestion_event(Instant::ZERO, w, MSS);
                cc.on_recovery_exit(Instant::ZERO, MSS);
            }
        });
        after_round(r, ccs);
    }
}

/// The total window of `ccs` averaged over `rounds` of [`rounds_with_losses`], one loss per
/// `loss_every` ACKs on every subflow, leaving out the first fifth of the rounds (the warm-up).
pub(super) fn average_total_window(ccs: &mut [Box<dyn CongestionControl>], loss_every: u64, rounds: usize) -> f64 {
    let mut sum = 0.0;
    rounds_with_losses(ccs, &vec![loss_every; ccs.len()], rounds, |r, ccs| {
        if r >= rounds / 5 {
            sum += ccs.iter().map(|cc| cc.window() as f64).sum::<f64>();
        }
    });
    sum / (rounds - rounds / 5) as f64
}
