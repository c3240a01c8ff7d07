//! Soak in the simulator: 100 connections, opened at random instants over the run, each sending a
//! random amount that the server echoes, over 4 paths with random loss, reordering and
//! blackholes (paths going down and coming back). Every byte is checked both ways against its
//! seeded stream, every connection must end normally, and the endpoints must hold nothing
//! afterwards.
//!
//! The hour takes about 7 s of wall-clock time in the debug profile (about 30 MB each way).

use std::net::SocketAddr;
use std::time::Duration;

use mptcp_stack::connection::CloseReason;
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_stack::time::Instant;
use mptcp_tests::multi_host::{MultiHost, assert_flow_intact, run_multi_to_close};
use mptcp_tests::*;
use mptcp_tun_driver::link::LinkConfig;
use mptcp_tun_driver::sim::{Action, Direction, PathConfig, SimRng, Simulator};
use rand::RngExt;

const PATHS: usize = 4;
const CONNECTIONS: usize = 100;

/// Path `i`: a few Mbit/s, its own delay, random loss and reordering.
fn path(i: usize) -> LinkConfig {
    LinkConfig {
        loss: 0.005,
        reorder: 0.01,
        jitter: Duration::from_millis(1),
        ..link(4 + 2 * i as u64, 5 + 10 * i as u64)
    }
}

/// Schedules outages: every 20 to 60 s one of the paths but the initial one goes dark both ways
/// for 5 to 40 s. (The initial path, whose address takes the SYNs, stays up: SYNs lost there
/// make a connection fall back to TCP by design, RFC 8684 §3.1, which is tested elsewhere.)
fn schedule_blackholes(sim: &mut Simulator<MultiHost, MultiHost>, rng: &mut SimRng, length: Duration) {
    let mut at = Duration::from_secs(10);
    while at < length {
        let path = rng.random_range(1..PATHS);
        let outage = rng.random_range(5_000..40_000);
        for (t, on) in [(at, true), (at + Duration::from_millis(outage), false)] {
            for direction in Direction::BOTH {
                let t = Instant::from_millis(t.as_millis() as u64);
                sim.schedule(t, Action::SetBlackhole { path, direction, on });
            }
        }
        at += Duration::from_millis(rng.random_range(20_000..60_000));
    }
}

/// Runs the soak for `length` of virtual time (connections open during its first 90%).
fn soak(length: Duration, seed: u64) {
    let (c, s) = multipath_configs(PATHS, &EndpointConfig::default());
    let conn_config = c.connection.clone();
    let client = MultiHost::new(c, seed ^ 0xa);
    let mut server = MultiHost::new(s, seed ^ 0xb);
    let remote = SocketAddr::new(server_addr(0), PORT);
    server.listen(remote, true);
    let mut sim = Simulator::new(client, server, seed);
    for i in 0..PATHS {
        sim.add_path(PathConfig::symmetric(client_addr(i as u8), server_addr(i as u8), path(i)));
    }
    let mut rng = SimRng::seed_from_u64(seed);
    schedule_blackholes(&mut sim, &mut rng, length);
    let window = length.as_millis() as u64 * 9 / 10;
    let mut starts: Vec<u64> = (0..CONNECTIONS).map(|_| rng.random_range(0..window)).collect();
    starts.sort_unstable();
    for (i, start) in starts.into_iter().enumerate() {
        sim.run_to(Instant::from_millis(start)).expect("runs");
        let bytes = rng.random_range(64 << 10..512 << 10);
        let seed = seed.wrapping_add(i as u64 + 1);
        let flow = sim.a_mut().connect(client_addr(0), remote, conn_config.clone(), bytes, seed);
        let tuple = sim.a().flows[flow].tuple.0;
        sim.b_mut().expect(tuple, seed);
    }
    sim.run_to(Instant::from_millis(length.as_millis() as u64)).expect("runs");
    run_multi_to_close(&mut sim, Duration::from_secs(600));
    let (client, server) = (sim.a(), sim.b());
    let mut total = 0;
    for i in 0..CONNECTIONS {
        total += assert_flow_intact(client, i, server, true);
        assert_eq!(client.flows[i].closed.map(|c| c.1), Some(CloseReason::Normal), "flow {i}");
    }
    assert_eq!(server.flows.len(), CONNECTIONS);
    for h in [client, server] {
        assert_eq!(h.endpoint.connection_count(), 0, "every connection forgotten");
        assert_eq!(h.endpoint.reorder_bytes(), 0);
    }
    eprintln!("soak {length:?}: {total} bytes each way over {CONNECTIONS} connections, ended at {:?}", sim.now());
}

#[test]
fn soak_one_virtual_hour() {
    soak(Duration::from_secs(3600), 2);
}
