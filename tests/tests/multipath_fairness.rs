//! "Do no harm" (RFC 6356 §1, goal 2): a multipath connection whose subflows share one
//! bottleneck should take no more than a single TCP flow would there. One 100 Mbit/s path
//! (10 ms one way, a drop-tail queue of one bandwidth-delay product, 250 kB) carries, at the
//! same time and from the same host, one MPTCP connection with two subflows over that path
//! (ndiffports:2) and one plain TCP connection.
//!
//! The TCP flow runs Reno: RFC 6356 states its goals against "a single TCP flow" of standard
//! (AIMD, halve on loss) congestion control, and LIA and OLIA are both Reno with a coupled
//! increase, so Reno is the like-for-like competitor (Cubic's faster growth would make the
//! coupled flow look fairer than it is). The contrast: with uncoupled Reno on both subflows the
//! MPTCP connection behaves like two TCP flows and takes about twice the single flow's share.
//!
//! Both connections send without end; the comparison is the payload each delivered to the
//! server's application after the first [`WARMUP`] (slow start and the first losses are over).
//! Both streams are checked byte for byte up to what was delivered.
//!
//! Every link has 0.5 ms of uniform per-packet jitter (on a propagation delay of 10 ms; it never
//! reorders). Without it the run is exactly periodic and drop-tail "phase effects" (Floyd and
//! Jacobson, 1992) decide which flow loses at each overflow: over the second half of a 40 s run
//! they gave a single-subflow MPTCP connection (Reno) only 0.66x of an identical Reno TCP flow's
//! share, and a two-subflow LIA connection 1.48x, both artefacts of the exact timing. With
//! jitter the shares vary from seed to seed as the loss pattern does. Measured from 10 s to
//! 60 s over eight seeds: two plain Reno TCP flows 0.81-1.21x of each other, single-subflow
//! MPTCP 0.86-1.17x, LIA 0.78-1.37x (one seed above 1.2), OLIA 0.71-1.08x, uncoupled Reno
//! 1.77-2.06x (1.71-2.45x from 10 s to 30 s). Longer runs average more loss episodes: from 10 s
//! to 120 s over seeds 1 to 8, LIA 0.89-1.15x (mean 0.97) and OLIA 0.71-0.97x (mean 0.88), every
//! run within the 1.2x goal — hence [`COUPLED_RUN`]. The seeds below are the first ones tried,
//! not picked; the test prints its ratios.

use std::net::SocketAddr;
use std::time::Duration;

use mptcp_stack::cc::Algorithm;
use mptcp_stack::connection::ConnectionConfig;
use mptcp_stack::connection::path_manager::PathManagerKind;
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_stack::time::Instant;
use mptcp_stack::wire::ChecksumMode;
use mptcp_tests::multi_host::{MultiHost, assert_flow_intact, peer_flow};
use mptcp_tests::*;
use mptcp_tun_driver::link::LinkConfig;
use mptcp_tun_driver::sim::Simulator;

/// How long the coupled algorithms run: long enough that the share does not hang on one seed's
/// loss pattern (see the module docs).
const COUPLED_RUN: Duration = Duration::from_secs(120);

/// Not measured: slow start and the first loss episodes.
const WARMUP: Duration = Duration::from_secs(10);

/// The shared bottleneck: 100 Mbit/s, 10 ms one way, a queue of one BDP (20 ms x 100 Mbit/s),
/// and jitter against phase effects (see the module docs).
fn bottleneck() -> LinkConfig {
    let mut l = link(100, 10);
    l.queue_limit_bytes = 250_000;
    l.jitter = Duration::from_micros(500);
    l
}

/// Payload each connection delivered to the server's application after the warm-up.
#[derive(Debug)]
struct Shares {
    mptcp: u64,
    tcp: u64,
}

impl Shares {
    fn ratio(&self) -> f64 {
        self.mptcp as f64 / self.tcp as f64
    }
}

/// Runs MPTCP (two subflows over the one path, congestion control `cc`) against TCP (Reno)
/// for `run`.
fn compete(cc: Algorithm, run: Duration, seed: u64) -> Shares {
    // The simulator never corrupts a packet: skip verifying received checksums (the debug
    // build spends much of a run there); the data is checked end to end all the same.
    let endpoint = EndpointConfig { checksum_mode: ChecksumMode::Offloaded, ..EndpointConfig::default() };
    let mut client = MultiHost::new(endpoint.clone(), seed ^ 0xa);
    let mut mp = ConnectionConfig { path_manager: PathManagerKind::NDiffPorts(2), ..ConnectionConfig::default() };
    mp.tcp.congestion_control = cc;
    let mut tcp = ConnectionConfig { mptcp: false, ..ConnectionConfig::default() };
    tcp.tcp.congestion_control = Algorithm::Reno;
    let remote = SocketAddr::new(server_addr(0), PORT);
    let endless = u64::MAX / 2;
    let m = client.connect(client_addr(0), remote, mp, endless, seed);
    let t = client.connect(client_addr(0), remote, tcp, endless, seed + 1);
    // One listener accepts both.
    let mut server = MultiHost::new(endpoint, seed ^ 0xb);
    server.listen(remote, false);
    for f in &client.flows {
        server.expect(f.tuple.0, f.seed);
    }
    let mut sim = network(client, server, &[bottleneck()], seed);
    let delivered = |sim: &Simulator<MultiHost, MultiHost>, i: usize| peer_flow(sim.a(), i, sim.b()).bytes_received();

    sim.run_to(Instant::ZERO + WARMUP).expect("runs");
    let (m0, t0) = (delivered(&sim, m), delivered(&sim, t));
    sim.run_to(Instant::ZERO + run).expect("runs");

    let (c, s) = (sim.a(), sim.b());
    assert_eq!(c.flows[m].established.map(|e| e.1), Some(true), "the multipath connection speaks MPTCP");
    assert_eq!(c.flows[t].established.map(|e| e.1), Some(false), "the other one is plain TCP");
    let mp_stats = c.stats(m).expect("live");
    assert_eq!(mp_stats.subflows.len(), 2, "two subflows over the one path: {mp_stats:#?}");
    assert!(mp_stats.subflows.iter().all(|s| s.fully_established && s.stats.bytes_sent > 0));
    for f in [m, t] {
        assert_flow_intact(c, f, s, false);
    }
    let shares = Shares { mptcp: delivered(&sim, m) - m0, tcp: delivered(&sim, t) - t0 };
    let secs = (run - WARMUP).as_secs_f64();
    let mbps = |b: u64| b as f64 * 8.0 / secs / 1e6;
    let per_subflow: Vec<u64> = mp_stats.subflows.iter().map(|s| s.stats.bytes_sent).collect();
    eprintln!(
        "{cc}: MPTCP {:.1} Mbit/s, TCP (reno) {:.1} Mbit/s from {}s to {}s: ratio {:.2} (the MPTCP subflows sent {per_subflow:?} bytes)",
        mbps(shares.mptcp),
        mbps(shares.tcp),
        WARMUP.as_secs(),
        run.as_secs(),
        shares.ratio(),
    );
    let total = mbps(shares.mptcp + shares.tcp);
    assert!(total > 0.9 * 100.0 * PAYLOAD_CEILING, "together they fill the bottleneck: {total:.1} Mbit/s");
    shares
}

#[test]
fn lia_does_no_harm_to_a_tcp_flow() {
    let s = compete(Algorithm::Lia, COUPLED_RUN, 11);
    assert!(s.ratio() <= 1.2, "LIA: MPTCP took {:.2}x the TCP flow's throughput: {s:?}", s.ratio());
    // Nor does it starve: on a shared bottleneck it should get about one TCP flow's share.
    assert!(s.ratio() >= 0.6, "LIA: MPTCP got only {:.2}x the TCP flow's throughput: {s:?}", s.ratio());
}

#[test]
fn olia_does_no_harm_to_a_tcp_flow() {
    let s = compete(Algorithm::Olia, COUPLED_RUN, 12);
    assert!(s.ratio() <= 1.2, "OLIA: MPTCP took {:.2}x the TCP flow's throughput: {s:?}", s.ratio());
    assert!(s.ratio() >= 0.6, "OLIA: MPTCP got only {:.2}x the TCP flow's throughput: {s:?}", s.ratio());
}

#[test]
fn uncoupled_reno_takes_about_two_shares() {
    // The contrast is large, so a shorter run shows it.
    let s = compete(Algorithm::Reno, Duration::from_secs(30), 13);
    assert!(s.ratio() > 1.5, "uncoupled Reno: MPTCP took only {:.2}x the TCP flow's throughput: {s:?}", s.ratio());
}
