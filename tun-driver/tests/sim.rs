//! The simulator end to end with toy hosts: timing, impairments, routing, actions, limits and
//! determinism. Arrival times are computed by hand: serialization = bytes * 8 / rate, plus the
//! one-way delay.

mod common;

use core::time::Duration;

use common::{Arrival, Flow, Spinner, Toy, ip, ms, packet};
use mptcp_stack::time::Instant;
use mptcp_tun_driver::link::{GilbertElliott, LinkConfig, LinkStats};
use mptcp_tun_driver::sim::{Action, Direction, Limits, PathConfig, Side, SimError, Simulator};

const A4: &str = "10.0.0.1";
const B4: &str = "10.0.0.2";

fn one_path(a: Toy, b: Toy, seed: u64, link: LinkConfig) -> Simulator<Toy, Toy> {
    let mut sim = Simulator::new(a, b, seed);
    sim.add_path(PathConfig::symmetric(ip(A4), ip(B4), link));
    sim
}

fn flow(count: u32, interval: Duration) -> Flow {
    Flow::new(1, A4, B4, count, Instant::ZERO, interval)
}

fn times(arrivals: &[Arrival]) -> Vec<u64> {
    arrivals.iter().map(|a| a.at.as_micros()).collect()
}

#[test]
fn back_to_back_packets_are_serialized_at_the_rate_then_delayed() {
    // 1250 bytes = 10_000 bits = 10 ms at 1 Mbit/s; then 20 ms of propagation.
    let link = LinkConfig::new(Some(1_000_000), Duration::from_millis(20));
    let a = Toy::sender(vec![flow(5, Duration::ZERO).size(1250)]);
    let mut sim = one_path(a, Toy::receiver(), 1, link);
    sim.run_until_idle(ms(1000)).unwrap();
    assert_eq!(times(&sim.b().arrivals), [30_000, 40_000, 50_000, 60_000, 70_000]);
    assert_eq!(sim.b().seqs(), [0, 1, 2, 3, 4]);
    assert_eq!(sim.now(), ms(70));
}

#[test]
fn spaced_packets_and_echo_honour_each_directions_rate_and_delay() {
    // A→B: 8 Mbit/s, 5 ms: a 1000-byte packet takes 1 ms + 5 ms.
    // B→A: 2 Mbit/s, 7 ms: the echo takes 4 ms + 7 ms. Round trip 17 ms.
    let path = PathConfig {
        a_addr: ip(A4),
        b_addr: ip(B4),
        a_to_b: LinkConfig::new(Some(8_000_000), Duration::from_millis(5)),
        b_to_a: LinkConfig::new(Some(2_000_000), Duration::from_millis(7)),
    };
    let a = Toy::sender(vec![flow(4, Duration::from_millis(50)).size(1000)]);
    let mut sim = Simulator::new(a, Toy::echo(), 7);
    sim.add_path(path);
    sim.run_until_idle(ms(1000)).unwrap();
    assert_eq!(times(&sim.b().arrivals), [6_000, 56_000, 106_000, 156_000]);
    assert_eq!(times(&sim.a().arrivals), [17_000, 67_000, 117_000, 167_000]);
    assert!(sim.a().arrivals.iter().all(|a| a.src == ip(B4) && a.dst == ip(A4) && a.len == 1000));
    assert_eq!(sim.link_stats(0, Direction::AToB).delivered.bytes, 4000);
    assert_eq!(sim.link_stats(0, Direction::BToA).delivered.packets, 4);
}

#[test]
fn random_loss_rate_is_within_tolerance_over_100k_packets() {
    const N: u32 = 100_000;
    let link = LinkConfig { loss: 0.05, ..LinkConfig::new(None, Duration::from_millis(1)) };
    let a = Toy::sender(vec![flow(N, Duration::from_micros(10))]);
    let mut sim = one_path(a, Toy::receiver(), 2024, link);
    sim.run_until_idle(ms(10_000)).unwrap();
    let stats = *sim.link_stats(0, Direction::AToB);
    let lost = f64::from(N - sim.b().arrivals.len() as u32) / f64::from(N);
    // sigma = sqrt(0.05 * 0.95 / 1e5) ~ 0.0007; allow ~6 sigma.
    assert!((lost - 0.05).abs() < 0.004, "loss rate {lost}");
    assert_eq!(stats.offered.packets, u64::from(N));
    assert_eq!(stats.dropped_loss.packets + stats.delivered.packets, u64::from(N));
    assert_eq!(stats.delivered.packets, sim.b().arrivals.len() as u64);
    // Losses are not correlated with position: both halves lose about the same.
    let first_half = sim.b().arrivals.iter().filter(|a| a.seq < N / 2).count() as f64;
    assert!((first_half / f64::from(N / 2) - 0.95).abs() < 0.006);
}

#[test]
fn jitter_alone_never_reorders_and_stays_within_bounds() {
    let link = LinkConfig {
        jitter: Duration::from_millis(20),
        ..LinkConfig::new(Some(10_000_000), Duration::from_millis(10))
    };
    let f = flow(2000, Duration::from_millis(1));
    let a = Toy::sender(vec![f.clone()]);
    let mut sim = one_path(a, Toy::receiver(), 3, link);
    sim.run_until_idle(ms(10_000)).unwrap();
    let arrivals = &sim.b().arrivals;
    assert_eq!(sim.b().seqs(), (0..2000).collect::<Vec<_>>(), "FIFO, no loss, no duplicate");
    // 100 bytes at 10 Mbit/s = 80 us of serialization.
    let delays: Vec<u64> = arrivals.iter().map(|a| (a.at - f.send_time(a.seq)).as_micros() as u64).collect();
    assert!(delays.iter().all(|&d| (10_080..=30_080).contains(&d)), "delays outside [delay, delay + jitter]");
    let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
    assert!(distinct.len() > 100, "jitter had no effect");
    assert_eq!(sim.link_stats(0, Direction::AToB).reordered.packets, 0);
}

#[test]
fn reordering_happens_when_asked() {
    let link = LinkConfig {
        reorder: 0.1,
        reorder_delay: Duration::from_millis(5),
        ..LinkConfig::new(None, Duration::from_millis(10))
    };
    let f = flow(1000, Duration::from_millis(1));
    let mut sim = one_path(Toy::sender(vec![f.clone()]), Toy::receiver(), 4, link);
    sim.run_until_idle(ms(10_000)).unwrap();
    let reordered = sim.link_stats(0, Direction::AToB).reordered.packets;
    assert!((60..=140).contains(&reordered), "{reordered} packets picked for reordering");
    // Every packet arrives once; the picked ones 5 ms late and after later packets.
    let mut seqs = sim.b().seqs();
    let mut overtaken = 0;
    let mut max_seen = None;
    for a in &sim.b().arrivals {
        let delay = a.at - f.send_time(a.seq);
        assert!(delay == Duration::from_millis(10) || delay == Duration::from_millis(15));
        if max_seen.is_some_and(|m| a.seq < m) {
            overtaken += 1;
            assert_eq!(delay, Duration::from_millis(15));
        }
        max_seen = max_seen.max(Some(a.seq));
    }
    // Only a picked packet among the last 5 sent can escape being overtaken.
    assert!(overtaken <= reordered && overtaken + 5 >= reordered, "{overtaken} overtaken, {reordered} picked");
    seqs.sort_unstable();
    assert_eq!(seqs, (0..1000).collect::<Vec<_>>());
}

#[test]
fn duplicates_appear_when_asked_right_after_the_original() {
    let link = LinkConfig { duplicate: 0.2, ..LinkConfig::new(Some(1_000_000), Duration::from_millis(3)) };
    let mut sim = one_path(Toy::sender(vec![flow(1000, Duration::from_millis(2))]), Toy::receiver(), 5, link);
    sim.run_until_idle(ms(10_000)).unwrap();
    let dups = sim.link_stats(0, Direction::AToB).duplicated.packets;
    assert!((140..=260).contains(&dups), "{dups} duplicates");
    let arrivals = &sim.b().arrivals;
    assert_eq!(arrivals.len() as u64, 1000 + dups);
    let repeats = arrivals.windows(2).filter(|w| w[0] == w[1]).count() as u64;
    assert_eq!(repeats, dups, "each duplicate arrives at the same instant as, and right after, its original");
    let mut seqs = sim.b().seqs();
    seqs.dedup();
    assert_eq!(seqs, (0..1000).collect::<Vec<_>>());
}

#[test]
fn scheduled_blackhole_drops_exactly_the_packets_sent_inside_the_window() {
    // One packet per ms from t = 0; blackhole A→B on at 30 ms, off at 60 ms. The packet sent at
    // 29 ms is in flight at 30 ms (10 ms delay) and still arrives.
    let link = LinkConfig::new(None, Duration::from_millis(10));
    let mut sim = one_path(Toy::sender(vec![flow(100, Duration::from_millis(1))]), Toy::receiver(), 6, link);
    sim.schedule(ms(30), Action::SetBlackhole { path: 0, direction: Direction::AToB, on: true });
    sim.schedule(ms(60), Action::SetBlackhole { path: 0, direction: Direction::AToB, on: false });
    sim.run_until_idle(ms(1000)).unwrap();
    let expected: Vec<u32> = (0..30).chain(60..100).collect();
    assert_eq!(sim.b().seqs(), expected);
    let stats = sim.link_stats(0, Direction::AToB);
    assert_eq!(stats.dropped_blackhole.packets, 30);
    assert_eq!(stats.dropped().packets, 30);
    assert!(sim.b().arrivals.iter().all(|a| a.at == ms(u64::from(a.seq) + 10)));
}

#[test]
fn queue_limit_drops_the_tail_and_recovers_once_drained() {
    // 1000 bytes at 1 Mbit/s = 8 ms each; the queue holds 5 packets. A burst of 20 at t = 0
    // keeps the first 5; a burst of 3 at 100 ms (queue empty again) gets through whole.
    let link = LinkConfig { queue_limit_bytes: 5000, ..LinkConfig::new(Some(1_000_000), Duration::from_millis(1)) };
    let flows = vec![flow(20, Duration::ZERO).size(1000), Flow::new(2, A4, B4, 3, ms(100), Duration::ZERO).size(1000)];
    let mut sim = one_path(Toy::sender(flows), Toy::receiver(), 7, link);
    sim.run_until_idle(ms(1000)).unwrap();
    let log: Vec<(u16, u32, u64)> = sim.b().arrivals.iter().map(|a| (a.flow, a.seq, a.at.as_micros())).collect();
    assert_eq!(
        log,
        [
            (1, 0, 9_000),
            (1, 1, 17_000),
            (1, 2, 25_000),
            (1, 3, 33_000),
            (1, 4, 41_000),
            (2, 0, 109_000),
            (2, 1, 117_000),
            (2, 2, 125_000),
        ]
    );
    assert_eq!(sim.link_stats(0, Direction::AToB).dropped_queue_full.packets, 15);
}

/// Two paths (IPv4 and IPv6), every impairment on, echo: a busy run to compare across seeds.
fn impaired_run(seed: u64) -> (Vec<Arrival>, Vec<Arrival>, Vec<LinkStats>) {
    let lossy = LinkConfig {
        jitter: Duration::from_millis(3),
        loss: 0.05,
        reorder: 0.05,
        duplicate: 0.05,
        loss_burst: Some(GilbertElliott::gilbert(0.01, 0.3)),
        queue_limit_bytes: 20_000,
        ..LinkConfig::new(Some(5_000_000), Duration::from_millis(10))
    };
    let a = Toy::sender(vec![
        flow(500, Duration::from_micros(700)).size(1200),
        Flow::new(2, "2001:db8::a", "2001:db8::b", 500, ms(1), Duration::from_micros(900)).size(800),
    ]);
    let mut sim = Simulator::new(a, Toy::echo(), seed);
    sim.add_path(PathConfig::symmetric(ip(A4), ip(B4), lossy.clone()));
    sim.add_path(PathConfig::symmetric(ip("2001:db8::a"), ip("2001:db8::b"), lossy));
    sim.schedule(ms(100), Action::SetBlackhole { path: 1, direction: Direction::BToA, on: true });
    sim.schedule(ms(150), Action::SetBlackhole { path: 1, direction: Direction::BToA, on: false });
    sim.run_until_idle(ms(10_000)).unwrap();
    let stats = (0..2).flat_map(|p| Direction::BOTH.map(|d| *sim.link_stats(p, d))).collect();
    let (a, b) = sim.into_hosts();
    (a.arrivals, b.arrivals, stats)
}

#[test]
fn same_seed_replays_identically_and_another_seed_differs() {
    let first = impaired_run(42);
    let again = impaired_run(42);
    // Every impairment acted, so the comparison covers every use of randomness.
    let total = first.2.iter().fold(LinkStats::default(), |t, s| LinkStats {
        dropped_queue_full: t.dropped_queue_full + s.dropped_queue_full,
        dropped_loss: t.dropped_loss + s.dropped_loss,
        dropped_burst_loss: t.dropped_burst_loss + s.dropped_burst_loss,
        dropped_blackhole: t.dropped_blackhole + s.dropped_blackhole,
        duplicated: t.duplicated + s.duplicated,
        reordered: t.reordered + s.reordered,
        ..t
    });
    for (what, count) in [
        ("queue", total.dropped_queue_full),
        ("loss", total.dropped_loss),
        ("burst loss", total.dropped_burst_loss),
        ("blackhole", total.dropped_blackhole),
        ("duplicate", total.duplicated),
        ("reorder", total.reordered),
    ] {
        assert!(count.packets > 0, "no {what} in the run");
    }
    assert!(first.1.len() > 400 && first.0.len() > 400, "the run should be busy");
    assert_eq!(first, again);
    let other = impaired_run(43);
    assert_ne!(first.0, other.0);
    assert_ne!(first.1, other.1);
}

#[test]
fn step_limit_catches_a_timer_always_due_that_keeps_sending() {
    let mut sim = Simulator::new(Spinner { send: true, ..Spinner::default() }, Toy::receiver(), 0);
    sim.add_path(PathConfig::symmetric(ip(A4), ip(B4), LinkConfig::new(None, Duration::from_millis(1))));
    sim.set_limits(Limits { max_steps: 10_000, ..Limits::default() });
    let err = sim.run_until(|_, _, _| false, ms(1000)).unwrap_err();
    assert_eq!(err, SimError::StepLimit { at: Instant::ZERO, steps: 10_000 });
    // Each fire is one step and each packet another: 5000 fires.
    assert_eq!(sim.a().fired, 5000);
    assert_eq!(sim.now(), Instant::ZERO, "time never advanced");
}

#[test]
fn livelock_is_reported_when_a_timer_fires_at_one_instant_without_progress() {
    let mut sim = Simulator::new(Spinner::default(), Toy::receiver(), 0);
    sim.set_limits(Limits { max_idle_timer_fires: 50, ..Limits::default() });
    let err = sim.run_until(|_, _, _| false, ms(1000)).unwrap_err();
    assert_eq!(err, SimError::Livelock { side: Side::A, at: Instant::ZERO });
    assert_eq!(sim.a().fired, 50);
}

#[test]
fn time_limit_stops_at_the_limit_and_the_run_can_continue() {
    let a = Toy::sender(vec![flow(u32::MAX, Duration::from_millis(1))]);
    let mut sim = one_path(a, Toy::receiver(), 8, LinkConfig::new(None, Duration::from_millis(5)));
    let err = sim.run_until(|_, _, _| false, ms(50)).unwrap_err();
    assert_eq!(err, SimError::TimeLimit { at: ms(50) });
    assert_eq!(sim.now(), ms(50));
    // Packets sent at 0..=45 ms have arrived (arrival at send + 5 ms <= 50 ms).
    assert_eq!(sim.b().arrivals.len(), 46);
    let stats = sim.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!((stats.started_at, stats.ended_at), (ms(50), ms(60)));
    assert_eq!(sim.b().arrivals.len(), 56);
}

#[test]
fn stop_condition_ends_the_run_at_the_event_that_satisfied_it() {
    let a = Toy::sender(vec![flow(10, Duration::from_millis(2))]);
    let mut sim = one_path(a, Toy::receiver(), 9, LinkConfig::new(None, Duration::from_millis(5)));
    let stats = sim.run_until(|_, b, _| b.arrivals.len() == 3, ms(1000)).unwrap();
    assert_eq!(stats.ended_at, ms(9));
    assert_eq!(sim.now(), ms(9));
    assert_eq!(stats.delivered, 3);
    assert!(sim.pending_events() > 0);
    // Once every packet is delivered nothing is left: run_until reports the stall.
    let err = sim.run_until(|_, _, _| false, ms(1000)).unwrap_err();
    assert_eq!(err, SimError::Stalled { at: ms(23) });
}

#[test]
fn routes_by_address_pair_and_counts_unroutable_packets() {
    let mut a = Toy::receiver();
    let v6a = ip("2001:db8::a");
    let v6b = ip("2001:db8::b");
    a.outbox.push_back(packet(ip(A4), ip(B4), 0, 0, 60)); // path 0
    a.outbox.push_back(packet(v6a, v6b, 0, 1, 80)); // path 1
    a.outbox.push_back(packet(ip(A4), ip("10.0.0.9"), 0, 2, 60)); // no such destination
    a.outbox.push_back(packet(ip(B4), ip(A4), 0, 3, 60)); // B's pair, sent by A
    a.outbox.push_back(vec![0x00; 60]); // not IP
    let mut b = Toy::receiver();
    b.outbox.push_back(packet(v6b, v6a, 0, 4, 90)); // path 1, B→A
    let mut sim = Simulator::new(a, b, 10);
    sim.add_path(PathConfig::symmetric(ip(A4), ip(B4), LinkConfig::new(None, Duration::from_millis(10))));
    sim.add_path(PathConfig::symmetric(v6a, v6b, LinkConfig::new(None, Duration::from_millis(30))));
    let stats = sim.run_until_idle(ms(1000)).unwrap();
    let log: Vec<(u32, u64)> = sim.b().arrivals.iter().map(|a| (a.seq, a.at.as_micros())).collect();
    assert_eq!(log, [(0, 10_000), (1, 30_000)]);
    assert_eq!(sim.a().seqs(), [4]);
    assert_eq!(sim.a().arrivals[0].at, ms(30));
    assert_eq!((sim.unroutable(Side::A), sim.unroutable(Side::B)), (3, 0));
    assert_eq!((stats.transmitted, stats.unroutable, stats.delivered), (6, 3, 3));
    assert_eq!(sim.link_stats(0, Direction::AToB).offered.packets, 1);
    assert_eq!(sim.link_stats(0, Direction::BToA).offered.packets, 0);
    assert_eq!(sim.link_stats(1, Direction::AToB).offered.bytes, 80);
    assert_eq!(sim.link_stats(1, Direction::BToA).offered.bytes, 90);
}

#[test]
fn config_and_custom_actions_apply_to_packets_sent_from_their_instant() {
    let a = Toy::sender(vec![flow(6, Duration::from_millis(10))]);
    let mut sim = one_path(a, Toy::receiver(), 11, LinkConfig::new(None, Duration::from_millis(1)));
    let slower = LinkConfig::new(None, Duration::from_millis(4));
    sim.schedule(ms(20), Action::SetConfig { path: 0, direction: Direction::AToB, config: slower });
    sim.schedule(
        ms(40),
        Action::custom(|now, paths| {
            assert_eq!(now, ms(40));
            paths[0].link_mut(Direction::AToB).set_config(LinkConfig::new(None, Duration::from_millis(2)));
        }),
    );
    let stats = sim.run_until_idle(ms(1000)).unwrap();
    assert_eq!(times(&sim.b().arrivals), [1_000, 11_000, 24_000, 34_000, 42_000, 52_000]);
    assert_eq!(stats.actions_run, 2);
}

#[test]
#[should_panic(expected = "action on path 3")]
fn scheduling_an_action_on_a_missing_path_panics() {
    let mut sim = one_path(Toy::receiver(), Toy::receiver(), 0, LinkConfig::default());
    sim.schedule(ms(1), Action::SetBlackhole { path: 3, direction: Direction::AToB, on: true });
}
