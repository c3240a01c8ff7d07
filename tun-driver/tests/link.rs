//! The link model on its own: each stage of a packet's fate, its counters, and how it uses the
//! injected generator.

use core::time::Duration;

use mptcp_stack::time::Instant;
use mptcp_tun_driver::link::{DropCause, GilbertElliott, Link, LinkConfig, Verdict};
use mptcp_tun_driver::sim::SimRng;

fn us(n: u64) -> Instant {
    Instant::from_micros(n)
}

/// Delivery instant, or the drop cause.
fn fate(link: &mut Link, now: Instant, len: usize, rng: &mut SimRng) -> Result<Instant, DropCause> {
    match link.send(now, vec![0; len], rng) {
        Verdict::Deliver(d) => Ok(d.at),
        Verdict::Drop { cause, .. } => Err(cause),
    }
}

#[test]
fn serialization_clock_does_not_accumulate_rounding() {
    // 1000 bytes at 3 Mbit/s = 2666.67 us. Back to back: 2666.67, 5333.33, 8000 us; each
    // rounded up to the microsecond once, not per packet (which would give 8001 for the third).
    let mut link = Link::new(LinkConfig::new(Some(3_000_000), Duration::from_micros(100)));
    let mut rng = SimRng::seed_from_u64(0);
    let at: Vec<_> = (0..3).map(|_| fate(&mut link, us(0), 1000, &mut rng).unwrap()).collect();
    assert_eq!(at, [us(2767), us(5434), us(8100)]);
    // An idle link starts serializing at `now`.
    assert_eq!(fate(&mut link, us(20_000), 1000, &mut rng), Ok(us(22_767)));
}

#[test]
fn queue_admission_counts_unfinished_packets_and_frees_as_they_leave() {
    let cfg = LinkConfig { queue_limit_bytes: 2500, ..LinkConfig::new(Some(8_000_000), Duration::ZERO) };
    let mut link = Link::new(cfg);
    let mut rng = SimRng::seed_from_u64(0);
    // 1000 bytes at 8 Mbit/s = 1 ms each.
    assert_eq!(fate(&mut link, us(0), 1000, &mut rng), Ok(us(1000)));
    assert_eq!(fate(&mut link, us(0), 1000, &mut rng), Ok(us(2000)));
    assert_eq!(link.queued_bytes(us(0)), 2000);
    assert_eq!(fate(&mut link, us(0), 1000, &mut rng), Err(DropCause::QueueFull));
    assert_eq!(fate(&mut link, us(0), 500, &mut rng), Ok(us(2500)));
    // At 1 ms the first packet has left: room for 1000 bytes again.
    assert_eq!(link.queued_bytes(us(1000)), 1500);
    assert_eq!(fate(&mut link, us(1000), 1000, &mut rng), Ok(us(3500)));
    // An empty queue takes any packet, even one larger than the limit.
    assert_eq!(fate(&mut link, us(10_000), 4000, &mut rng), Ok(us(14_000)));
    let stats = link.stats();
    assert_eq!((stats.dropped_queue_full.packets, stats.dropped_queue_full.bytes), (1, 1000));
}

#[test]
fn infinite_rate_never_queues() {
    let cfg = LinkConfig { queue_limit_bytes: 0, ..LinkConfig::new(None, Duration::from_millis(1)) };
    let mut link = Link::new(cfg);
    let mut rng = SimRng::seed_from_u64(0);
    for _ in 0..100 {
        assert_eq!(fate(&mut link, us(5), 1500, &mut rng), Ok(us(1005)));
    }
    assert_eq!(link.queued_bytes(us(5)), 0);
}

#[test]
fn lost_packets_still_use_the_rate() {
    let cfg = LinkConfig { loss: 1.0, ..LinkConfig::new(Some(8_000_000), Duration::ZERO) };
    let mut link = Link::new(cfg.clone());
    let mut rng = SimRng::seed_from_u64(0);
    assert_eq!(fate(&mut link, us(0), 1000, &mut rng), Err(DropCause::Loss));
    link.set_config(LinkConfig { loss: 0.0, ..cfg });
    assert_eq!(fate(&mut link, us(0), 1000, &mut rng), Ok(us(2000)));
}

#[test]
fn blackhole_drops_on_entry_only() {
    let mut link = Link::new(LinkConfig::new(Some(8_000_000), Duration::from_millis(5)));
    let mut rng = SimRng::seed_from_u64(0);
    let before = link.send(us(0), vec![1; 1000], &mut rng);
    link.set_blackhole(true);
    assert_eq!(fate(&mut link, us(100), 1000, &mut rng), Err(DropCause::Blackhole));
    link.set_blackhole(false);
    // The packet accepted before keeps its instant; the blackholed one used no rate.
    assert!(matches!(before, Verdict::Deliver(ref d) if d.at == us(6000) && d.packet == [1; 1000]));
    assert_eq!(fate(&mut link, us(100), 1000, &mut rng), Ok(us(7000)));
    assert_eq!(link.stats().dropped_by(DropCause::Blackhole).packets, 1);
}

#[test]
fn gilbert_elliott_loses_in_bursts_at_its_stationary_rate() {
    const N: u64 = 100_000;
    let ge = GilbertElliott::gilbert(0.01, 0.25);
    let expected = ge.mean_loss();
    assert!((expected - 0.01 / 0.26).abs() < 1e-12);
    let mut link = Link::new(LinkConfig { loss_burst: Some(ge), ..LinkConfig::default() });
    let mut rng = SimRng::seed_from_u64(99);
    let lost: Vec<bool> = (0..N).map(|i| fate(&mut link, us(i), 100, &mut rng).is_err()).collect();
    let losses = lost.iter().filter(|&&l| l).count() as f64;
    let bursts = lost.windows(2).filter(|w| w[1] && !w[0]).count() as f64;
    let rate = losses / N as f64;
    assert!((rate - expected).abs() < 0.006, "burst loss rate {rate}, expected {expected}");
    // Mean burst length 1 / 0.25 = 4; independent loss at this rate would give ~1.04.
    let mean_burst = losses / bursts;
    assert!((3.5..4.5).contains(&mean_burst), "mean burst {mean_burst}");
    assert_eq!(link.stats().dropped_burst_loss.packets as f64, losses);
    assert_eq!(link.stats().dropped_loss.packets, 0);
}

#[test]
fn counters_always_balance() {
    let cfg = LinkConfig {
        jitter: Duration::from_millis(2),
        loss: 0.1,
        loss_burst: Some(GilbertElliott::gilbert(0.02, 0.5)),
        reorder: 0.1,
        duplicate: 0.1,
        queue_limit_bytes: 10_000,
        ..LinkConfig::new(Some(10_000_000), Duration::from_millis(3))
    };
    let mut link = Link::new(cfg);
    let mut rng = SimRng::seed_from_u64(5);
    let (mut delivered, mut dups, mut reordered) = (0, 0, 0);
    for i in 0..20_000u64 {
        if let Verdict::Deliver(d) = link.send(us(i * 500), vec![0; 1000], &mut rng) {
            delivered += 1;
            dups += u64::from(d.duplicate_at.is_some());
            reordered += u64::from(d.reordered);
            assert!(d.duplicate_at.is_none_or(|t| t == d.at));
        }
    }
    let s = link.stats();
    assert_eq!(s.offered.packets, 20_000);
    assert_eq!(s.offered, s.delivered + s.dropped());
    assert_eq!((s.delivered.packets, s.duplicated.packets, s.reordered.packets), (delivered, dups, reordered));
    for cause in [DropCause::QueueFull, DropCause::Loss, DropCause::BurstLoss] {
        assert!(s.dropped_by(cause).packets > 0, "{cause:?}");
    }
}

#[test]
fn disabled_impairments_draw_no_randomness_and_certain_ones_draw_none_either() {
    let untouched = SimRng::seed_from_u64(1);
    let mut rng = untouched.clone();
    let mut link = Link::new(LinkConfig::new(Some(1_000_000), Duration::from_millis(1)));
    assert!(fate(&mut link, us(0), 100, &mut rng).is_ok());
    link.set_config(LinkConfig { loss: 1.0, ..LinkConfig::default() });
    assert_eq!(fate(&mut link, us(0), 100, &mut rng), Err(DropCause::Loss));
    link.set_config(LinkConfig { loss: f64::NAN, reorder: -1.0, duplicate: 0.0, ..LinkConfig::default() });
    assert!(fate(&mut link, us(0), 100, &mut rng).is_ok());
    assert_eq!(rng, untouched);
    // Probabilities above 1 are certain.
    link.set_config(LinkConfig { duplicate: 7.0, ..LinkConfig::default() });
    assert!(matches!(link.send(us(0), vec![0; 10], &mut rng), Verdict::Deliver(d) if d.duplicate_at == Some(d.at)));
    assert_eq!(rng, untouched);
}

#[test]
fn jitter_is_bounded_and_fifo_and_changing_delay_keeps_fifo() {
    let cfg = LinkConfig { jitter: Duration::from_micros(900), ..LinkConfig::new(None, Duration::from_millis(1)) };
    let mut link = Link::new(cfg);
    let mut rng = SimRng::seed_from_u64(3);
    let mut last = Instant::ZERO;
    for i in 0..10_000u64 {
        let at = fate(&mut link, us(i * 100), 100, &mut rng).unwrap();
        assert!(at >= last, "packet {i} overtook its predecessor");
        assert!(at >= us(i * 100 + 1000) && at <= us(i * 100 + 1900));
        last = at;
    }
    // A shorter delay from now on still cannot overtake packets already in flight.
    link.set_config(LinkConfig::new(None, Duration::ZERO));
    assert_eq!(fate(&mut link, us(999_950), 100, &mut rng), Ok(last.max(us(999_950))));
}

#[test]
fn the_same_generator_state_gives_the_same_fates() {
    let cfg = LinkConfig {
        jitter: Duration::from_millis(1),
        loss: 0.2,
        reorder: 0.2,
        duplicate: 0.2,
        ..LinkConfig::new(Some(50_000_000), Duration::from_millis(2))
    };
    let run = |seed| {
        let mut link = Link::new(cfg.clone());
        let mut rng = SimRng::seed_from_u64(seed);
        (0..1000u64).map(|i| link.send(us(i * 50), vec![0; 200], &mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}
