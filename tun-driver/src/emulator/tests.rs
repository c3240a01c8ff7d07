//! The real-time stage with an injected clock: instants are given, never read.

use core::time::Duration;

use super::*;
use crate::link::GilbertElliott;

fn at(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

fn one_path(forward: LinkConfig, schedule: Schedule) -> Emulator {
    Emulator::new(vec![[Some(forward), None]], schedule, 7, at(0))
}

fn drain(e: &mut Emulator, now: Instant) -> Vec<Release> {
    core::iter::from_fn(|| e.pop_due(now)).collect()
}

#[test]
fn delay_holds_packets_until_their_instant() {
    let mut e = one_path(LinkConfig::new(None, Duration::from_millis(10)), Schedule::default());
    assert!(e.offer(at(1), 0, Dir::Forward, vec![1]));
    assert!(e.offer(at(2), 0, Dir::Forward, vec![2]));
    assert_eq!(e.next_wake(), Some(at(11)));
    assert!(drain(&mut e, Instant::from_micros(10_999)).is_empty());
    let out = drain(&mut e, at(11));
    assert_eq!(out, [Release { path: 0, dir: Dir::Forward, packet: vec![1] }]);
    assert_eq!(e.next_wake(), Some(at(12)));
    assert_eq!(drain(&mut e, at(50)).len(), 1);
    assert_eq!((e.next_wake(), e.held()), (None, 0));
}

#[test]
fn a_direction_not_emulated_passes_at_once() {
    let mut e = one_path(LinkConfig::new(Some(1000), Duration::from_secs(1)), Schedule::default());
    assert!(!e.emulates(0, Dir::Reverse) && e.emulates(0, Dir::Forward) && !e.emulates(1, Dir::Forward));
    assert!(e.offer(at(5), 0, Dir::Reverse, vec![9]));
    assert_eq!(drain(&mut e, at(5)), [Release { path: 0, dir: Dir::Reverse, packet: vec![9] }]);
    assert!(e.stats(0, Dir::Reverse).is_none());
}

#[test]
fn rate_spaces_packets() {
    // 1000-byte packets at 8 Mbit/s: one per millisecond.
    let mut e = one_path(LinkConfig::new(Some(8_000_000), Duration::ZERO), Schedule::default());
    for _ in 0..5 {
        assert!(e.offer(at(0), 0, Dir::Forward, vec![0; 1000]));
    }
    let mut times = Vec::new();
    for ms in 0..=5 {
        times.extend(drain(&mut e, at(ms)).iter().map(|_| ms));
    }
    assert_eq!(times, [1, 2, 3, 4, 5]);
}

#[test]
fn schedule_cuts_restores_and_changes_rate() {
    let change =
        |secs: u64, setting| Change { at: Duration::from_secs(secs), path: Some(0), dirs: vec![Dir::Forward], setting };
    let schedule = Schedule::new(vec![
        change(5, Setting::Cut),
        change(8, Setting::Restore),
        change(8, Setting::Delay(Duration::from_millis(30))),
        change(9, Setting::Rate(Some(1_000_000))),
    ]);
    let mut e = one_path(LinkConfig::default(), schedule);
    assert_eq!(e.next_wake(), Some(at(5000)));
    assert!(e.offer(at(4999), 0, Dir::Forward, vec![1]));
    assert_eq!(drain(&mut e, at(4999)).len(), 1);
    assert!(!e.offer(at(5000), 0, Dir::Forward, vec![2]), "cut at 5 s");
    assert!(!e.offer(at(7999), 0, Dir::Forward, vec![3]));
    assert_eq!(e.next_wake(), Some(at(8000)));
    assert!(e.offer(at(8000), 0, Dir::Forward, vec![4]), "restored at 8 s");
    assert_eq!(e.next_wake(), Some(at(8030)));
    e.advance(at(9000));
    assert_eq!(e.config(0, Dir::Forward).map(|c| c.rate_bps), Some(Some(1_000_000)));
    let stats = e.stats(0, Dir::Forward).copied().unwrap_or_default();
    assert_eq!((stats.offered.packets, stats.dropped_blackhole.packets), (4, 2));
}

#[test]
fn loss_is_seeded_and_counted() {
    let config = LinkConfig { loss: 0.1, ..LinkConfig::default() };
    let run = || {
        let mut e = one_path(config.clone(), Schedule::default());
        (0..10_000).filter(|_| e.offer(at(0), 0, Dir::Forward, vec![0; 100])).count()
    };
    let delivered = run();
    assert_eq!(delivered, run(), "the same seed gives the same fates");
    let loss = 1.0 - delivered as f64 / 10_000.0;
    assert!((loss - 0.1).abs() < 0.01, "{loss}");
    let bursty = LinkConfig { loss_burst: Some(GilbertElliott::gilbert(0.01, 0.25)), ..LinkConfig::default() };
    let mut e = one_path(bursty, Schedule::default());
    let kept = (0..20_000).filter(|_| e.offer(at(0), 0, Dir::Forward, vec![0; 100])).count();
    let loss = 1.0 - kept as f64 / 20_000.0;
    assert!((loss - GilbertElliott::gilbert(0.01, 0.25).mean_loss()).abs() < 0.01, "{loss}");
}

#[test]
fn duplicates_and_reordering_reach_the_queue() {
    let config = LinkConfig { duplicate: 1.0, ..LinkConfig::default() };
    let mut e = one_path(config, Schedule::default());
    assert!(e.offer(at(0), 0, Dir::Forward, vec![1]));
    assert_eq!(drain(&mut e, at(0)).len(), 2);
    let config = LinkConfig { reorder: 1.0, reorder_delay: Duration::from_millis(5), ..LinkConfig::default() };
    let mut e = one_path(config, Schedule::default());
    assert!(e.offer(at(0), 0, Dir::Forward, vec![1]));
    assert_eq!(e.next_wake(), Some(at(5)));
}
