//! Multipath in the simulator: MP_JOIN over several paths, aggregation, failover, backup
//! paths, ndiffports, the manual path manager, joins that must be refused, a subflow one side
//! closes while the connection goes on, and subflows reset after the connection's close. Every
//! transfer is checked end to end (SHA-256 of what was sent against what arrived, or byte for
//! byte against the seeded stream).

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use mptcp_stack::connection::path_manager::{LocalAddress, PathManagerKind};
use mptcp_stack::connection::{CloseReason, ConnEvent, ConnectionStats, SubflowSnapshot};
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_stack::subflow::{SubflowEnd, SubflowId, TcpState};
use mptcp_stack::time::Instant;
use mptcp_stack::wire::mptcp::JoinRepr;
use mptcp_stack::wire::{ChecksumMode, MptcpOptions, TcpFlags};
use mptcp_tests::multi_host::{HasMulti, MultiHost, assert_flow_intact, multi_pair, run_multi_to_close};
use mptcp_tests::stall::StallWatch;
use mptcp_tests::*;
use mptcp_tun_driver::link::LinkConfig;
use mptcp_tun_driver::sim::{Direction, EndpointHost, Host, Simulator};

/// Payload bytes each client subflow sent.
fn sent_per_subflow(h: &EndpointHost) -> Vec<u64> {
    conn_stats(h).expect("client connection").subflows.iter().map(|s| s.stats.bytes_sent).collect()
}

/// Drops every packet on `path`, both ways (or, with `on` false, none any more).
fn blackhole<A: Host, B: Host>(sim: &mut Simulator<A, B>, path: usize, on: bool) {
    for d in [Direction::AToB, Direction::BToA] {
        sim.path_mut(path).link_mut(d).set_blackhole(on);
    }
}

/// Runs until the transfer closes, in steps of `step`, calling `at_step` after each; returns
/// the longest time without new bytes at the server while data was still due.
fn run_watching(
    sim: &mut Simulator<EndpointHost, EndpointHost>,
    limit: Duration,
    mut at_step: impl FnMut(&mut Simulator<EndpointHost, EndpointHost>),
) -> Duration {
    let step = Duration::from_millis(50);
    let deadline = sim.now() + limit;
    let mut stalls = StallWatch::new(sim.now());
    while !(sim.a().transfer.is_closed() && sim.b().transfer.is_closed()) {
        assert!(sim.now() < deadline, "did not finish: {:?} / {:?}", conn_stats(sim.a()), conn_stats(sim.b()));
        let to = sim.now() + step;
        sim.run_to(to).expect("simulation runs");
        at_step(sim);
        let report = sim.b().transfer.report();
        stalls.observe(sim.now(), report.bytes_received, report.eof_at.is_some());
    }
    stalls.longest()
}

/// A transfer of `bytes` over one path per link, each side with `base` and its address on
/// every path.
fn multipath_sim(links: &[LinkConfig], bytes: u64, seed: u64, base: &EndpointConfig) -> Sim {
    let (c, s) = multipath_configs(links.len(), base);
    transfer_sim(links, bytes, seed, c, s, false)
}

/// A [`multipath_sim`] run to its close, its data checked end to end.
fn multipath_transfer(links: &[LinkConfig], bytes: u64, seed: u64, base: &EndpointConfig) -> Sim {
    let mut sim = multipath_sim(links, bytes, seed, base);
    run_to_close(&mut sim, Duration::from_secs(120));
    assert_intact(&sim, bytes, false);
    sim
}

type Sim = Simulator<EndpointHost, EndpointHost>;

/// Asserts that the goodput of a finished transfer is at least `share` of what links of
/// `mbit` Mbit/s in all can carry ([`PAYLOAD_CEILING`]).
fn assert_goodput_at_least(sim: &Sim, share: f64, mbit: f64) {
    let goodput = goodput_mbps(sim);
    let ceiling = mbit * PAYLOAD_CEILING;
    eprintln!("goodput {goodput:.1} Mbit/s of {ceiling:.1} possible, per subflow {:?}", sent_per_subflow(sim.a()));
    assert!(goodput >= share * ceiling, "goodput {goodput:.1} Mbit/s < {share} of {ceiling:.1}");
}

/// Payload bytes the client's subflows from its address on `path` sent.
fn sent_from_path(client: &ConnectionStats, path: u8) -> u64 {
    client.subflows.iter().filter(|s| s.local.ip() == client_addr(path)).map(|s| s.stats.bytes_sent).sum()
}

/// A middlebox filter that corrupts the HMAC of every MP_JOIN third ACK, so that the join is
/// refused.
fn corrupt_join_ack_hmac(_: Instant, packet: &[u8]) -> Verdict {
    let mut seg = parse(packet);
    let Some(JoinRepr::Ack { mut hmac }) = seg.options.mptcp.join else { return Verdict::Pass };
    hmac[0] ^= 0xff;
    seg.options.mptcp.join = Some(JoinRepr::Ack { hmac });
    let mut out = vec![0; packet.len() + 8];
    let (n, _) = seg.emit(&mut out, ChecksumMode::Full).expect("fits");
    out.truncate(n);
    Verdict::Rewrite(out)
}

/// Runs until the client's connection is established, then 100 ms more (the joins are up).
fn run_until_established<A: Host + HasEndpoint, B: Host>(sim: &mut Simulator<A, B>) {
    sim.run_until(|a, _, _| a.host().transfer.report().established_at.is_some(), Instant::from_millis(5000))
        .expect("established");
    sim.run_for(Duration::from_millis(100)).expect("runs");
}

#[test]
fn join_opens_a_subflow_per_path_and_both_carry_data() {
    let bytes = 32 << 20;
    let sim = multipath_transfer(&[link(100, 10), link(100, 10)], bytes, 1, &EndpointConfig::default());
    let client = conn_stats(sim.a()).expect("client");
    let server = conn_stats(sim.b()).expect("server");
    // Fullmesh: a subflow per local x remote address pair, the crossed ones included (the
    // simulator sends a crossed packet on the path of its source address).
    assert_eq!(client.subflows.len(), 4, "2 local x 2 remote addresses: {client:#?}");
    assert_eq!(server.subflows.len(), 4);
    assert!(client.subflows.iter().all(|s| s.stats.bytes_sent > 0), "every subflow carries data: {client:#?}");
    assert!(client.subflows[1].joined && client.subflows[1].local.ip() == client_addr(1));
    assert_eq!(client.subflows[1].remote.ip(), server_addr(1), "same-path pairs come first");
    assert_eq!(client.join_failures + server.join_failures, 0);
    for path in 0..2u8 {
        let on_path = sent_from_path(&client, path);
        assert!(on_path > bytes / 3, "path {path} carried {on_path} of {bytes} bytes");
    }
    assert_eq!(sim.a().transfer.report().closed.map(|c| c.1), Some(CloseReason::Normal));
    assert_eq!(sim.b().transfer.report().closed.map(|c| c.1), Some(CloseReason::Normal));
}

#[test]
fn aggregation_two_equal_paths() {
    let bytes = 96 << 20;
    let sim = multipath_transfer(&[link(100, 10), link(100, 10)], bytes, 2, &EndpointConfig::default());
    assert_goodput_at_least(&sim, 0.95, 200.0);
}

#[test]
fn aggregation_10ms_and_50ms_paths() {
    // Long enough that slow start on the 100 ms round trip is a small part of it.
    let bytes = 192 << 20;
    // Receive buffer: 2 x (sum of bandwidths) x (largest RTT) = 2 x 25 MB/s x 100 ms.
    let mut base = EndpointConfig::default();
    base.connection.recv_buffer = 5_000_000;
    base.connection.send_buffer = 5_000_000;
    let sim = multipath_transfer(&[link(100, 10), link(100, 50)], bytes, 3, &base);
    assert_goodput_at_least(&sim, 0.90, 200.0);
}

#[test]
fn failover_when_a_path_dies_and_reuse_when_it_returns() {
    let bytes = 96 << 20;
    let mut sim = multipath_sim(&[link(100, 10), link(100, 10)], bytes, 4, &EndpointConfig::default());
    let (cut, back) = (Instant::from_millis(1500), Instant::from_millis(3000));
    let mut at_return = None;
    let stall = run_watching(&mut sim, Duration::from_secs(120), |sim| {
        if sim.now() == cut {
            blackhole(sim, 1, true);
        }
        if sim.now() == back {
            blackhole(sim, 1, false);
            at_return = Some(sent_per_subflow(sim.a())[1]);
        }
    });
    assert_intact(&sim, bytes, false);
    eprintln!("longest stall {stall:?}, per subflow {:?}", sent_per_subflow(sim.a()));
    assert!(stall <= Duration::from_secs(2), "stalled for {stall:?}");
    let at_return = at_return.expect("the transfer lasted past the path's return");
    let end = sent_per_subflow(sim.a())[1];
    assert!(end > at_return + (1 << 20), "path 1 is used again: {at_return} then {end} bytes");
}

#[test]
fn a_subflow_that_died_is_opened_again_when_its_path_returns() {
    // Few retransmissions, so that the subflows over the cut path time out during the cut; the
    // path manager retries the pair (with backoff) and a new subflow carries data once the path
    // is back.
    let bytes = 40 << 20;
    let mut base = EndpointConfig::default();
    base.connection.tcp.max_retransmissions = 3;
    let mut sim = multipath_sim(&[link(20, 10), link(20, 10)], bytes, 14, &base);
    let (cut, back) = (Instant::from_millis(2000), Instant::from_millis(8000));
    let mut during = None;
    run_watching(&mut sim, Duration::from_secs(300), |sim| {
        if sim.now() == cut {
            blackhole(sim, 1, true);
        }
        if sim.now() == back {
            during = conn_stats(sim.a());
            blackhole(sim, 1, false);
        }
    });
    assert_intact(&sim, bytes, false);
    let during = during.expect("the transfer lasted past the path's return");
    let on_path_1 = |s: &&mptcp_stack::connection::SubflowSnapshot| s.local.ip() == client_addr(1);
    let dead: Vec<_> = during.subflows.iter().filter(on_path_1).filter(|s| s.stats.bytes_sent > 0).collect();
    assert!(!dead.is_empty() && dead.iter().all(|s| !s.state.can_send()), "path 1's subflows died: {dead:#?}");
    let client = conn_stats(sim.a()).expect("client");
    let last_dead = dead.iter().map(|s| s.id).max().expect("one");
    let reborn: Vec<_> = client.subflows.iter().filter(on_path_1).filter(|s| s.id > last_dead).collect();
    assert!(
        reborn.iter().any(|s| s.stats.bytes_sent > 1 << 20),
        "a new subflow from path 1 carries data after the return: {reborn:#?}"
    );
}

#[test]
fn backup_path_carries_data_only_when_the_regular_path_dies() {
    let bytes = 48 << 20;
    let (mut c, s) = multipath_configs(2, &EndpointConfig::default());
    c.connection.addresses[1] = LocalAddress { ip: client_addr(1), backup: true };
    let mut sim = transfer_sim(&[link(100, 10), link(100, 10)], bytes, 5, c, s, false);
    let cut = Instant::from_millis(2000);
    let mut before_cut = None;
    run_watching(&mut sim, Duration::from_secs(120), |sim| {
        if sim.now() == cut {
            before_cut = Some(sent_per_subflow(sim.a()));
            blackhole(sim, 0, true);
        }
    });
    assert_intact(&sim, bytes, false);
    let before = before_cut.expect("the transfer lasted past the cut");
    let client = conn_stats(sim.a()).expect("client");
    assert!(client.subflows[1].backup, "the second subflow is a backup");
    assert!(client.subflows[1].local.ip() == client_addr(1) && client.subflows[1].remote.ip() == server_addr(1));
    assert!(before.len() >= 2 && before[0] > 0, "both subflows up before the cut: {before:?}");
    assert_eq!(before[1], 0, "the backup carried nothing while the regular path worked");
    assert!(sent_per_subflow(sim.a())[1] > bytes / 4, "the backup carried the rest");
}

#[test]
fn ndiffports_four_subflows_over_one_path() {
    let bytes = 32 << 20;
    let mut base = EndpointConfig::default();
    base.connection.path_manager = PathManagerKind::NDiffPorts(4);
    let mut sim = transfer_sim(&[link(100, 10)], bytes, 6, base.clone(), base, false);
    run_to_close(&mut sim, Duration::from_secs(120));
    assert_intact(&sim, bytes, false);
    let sent = sent_per_subflow(sim.a());
    assert_eq!(sent.len(), 4, "{sent:?}");
    let client = conn_stats(sim.a()).expect("client");
    let ports: std::collections::BTreeSet<u16> = client.subflows.iter().map(|s| s.local.port()).collect();
    assert_eq!(ports.len(), 4, "each subflow from its own port");
    assert!(sent.iter().all(|&b| b > bytes / 16), "every subflow carries data: {sent:?}");
}

#[test]
fn manual_path_manager_eight_subflows_over_four_paths() {
    let bytes = 32 << 20;
    let mut base = EndpointConfig::default();
    base.connection.path_manager = PathManagerKind::Manual;
    let (c, s) = multipath_configs(4, &base);
    let links = [link(50, 10), link(50, 10), link(50, 20), link(50, 20)];
    let mut sim = transfer_sim(&links, bytes, 7, c, s, false);
    run_until_established(&mut sim);
    let h = sim.a().transfer.connection().expect("connection");
    let remote_port = conn_stats(sim.a()).expect("client").subflows[0].remote.port();
    let mut ids = Vec::new();
    for path in 0..4u8 {
        for extra in 0..2 {
            if path == 0 && extra == 0 {
                continue; // the initial subflow
            }
            let local = std::net::SocketAddr::new(client_addr(path), 0);
            let remote = std::net::SocketAddr::new(server_addr(path), remote_port);
            let id = sim.a_mut().endpoint.with_connection(h, |c| c.open_subflow(local, remote, false));
            ids.push(id.expect("connection").expect("subflow allowed"));
        }
    }
    let ninth = sim.a_mut().endpoint.with_connection(h, |c| {
        c.open_subflow(
            std::net::SocketAddr::new(client_addr(0), 0),
            std::net::SocketAddr::new(server_addr(0), remote_port),
            false,
        )
    });
    assert!(ninth.expect("connection").is_err(), "the default limit is 8 subflows");
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 7, "ids are never reused");
    run_to_close(&mut sim, Duration::from_secs(120));
    assert_intact(&sim, bytes, false);
    let sent = sent_per_subflow(sim.a());
    assert_eq!(sent.len(), 8, "the manual path manager opens nothing by itself: {sent:?}");
    assert!(sent.iter().all(|&b| b > 0), "every subflow carries data: {sent:?}");
}

#[test]
fn a_join_with_a_bad_hmac_is_reset_and_the_connection_carries_on() {
    let bytes = 8 << 20;
    let (c, s) = multipath_configs(2, &EndpointConfig::default());
    let client = Middlebox::new(mptcp_tests::client(c, 8, bytes), corrupt_join_ack_hmac);
    let mut sim = network(client, server(s, 8, false), &[link(100, 10), link(100, 10)], 8);
    sim.run_until(|_, b, _| b.transfer.report().eof_at.is_some(), Instant::from_millis(60_000)).expect("runs");
    let server = conn_stats(sim.b().host()).expect("server");
    run_to_close(&mut sim, Duration::from_secs(120));
    assert_intact(&sim, bytes, false);
    assert!(server.join_failures >= 1, "the server refused the join: {server:#?}");
    assert!(server.subflows.iter().skip(1).all(|s| s.stats.bytes_received == 0), "no data on a refused join");
}

#[test]
fn fullmesh_over_four_paths_stops_at_eight_subflows_and_uses_every_path() {
    let bytes = 64 << 20;
    let links = [link(50, 10), link(50, 10), link(50, 20), link(50, 20)];
    let sim = multipath_transfer(&links, bytes, 9, &EndpointConfig::default());
    let client = conn_stats(sim.a()).expect("client");
    assert_eq!(client.subflows.len(), 8, "the default limit: {client:#?}");
    for path in 0..4u8 {
        let on_path = sent_from_path(&client, path);
        assert!(on_path > bytes / 8, "path {path} carried {on_path} of {bytes} bytes");
    }
    // Over 4 x 50 Mbit/s.
    assert_goodput_at_least(&sim, 0.9, 200.0);
}

/// Packets a [`Middlebox`] saw that match `pick`: when and from which address.
type Seen = std::rc::Rc<std::cell::RefCell<Vec<(Instant, std::net::IpAddr)>>>;

/// A middlebox filter that lets everything through and records the packets `pick` matches.
fn recording(
    seen: &Seen,
    pick: fn(&mptcp_stack::wire::MptcpOptions) -> bool,
) -> impl FnMut(Instant, &[u8]) -> Verdict + use<> {
    let seen = seen.clone();
    move |now, packet| {
        let seg = parse(packet);
        if pick(&seg.options.mptcp) {
            seen.borrow_mut().push((now, seg.src));
        }
        Verdict::Pass
    }
}

#[test]
fn mp_prio_goes_out_when_a_backup_subflow_becomes_regular() {
    // RFC 8684 §3.3.8: MP_PRIO does not fit beside a data mapping; it needs a pure ACK of its
    // own. A backup subflow made regular during a bulk transfer carries data at once, and its
    // MP_PRIO must not wait for the end of the transfer.
    let bytes = 32 << 20;
    let (mut c, s) = multipath_configs(2, &EndpointConfig::default());
    c.connection.addresses[1] = LocalAddress { ip: client_addr(1), backup: true };
    let prios: Seen = Default::default();
    let client = Middlebox::new(mptcp_tests::client(c, 10, bytes), recording(&prios, |o| o.prio.is_some()));
    let mut sim = network(client, server(s, 10, false), &[link(100, 10), link(100, 10)], 10);
    sim.run_to(Instant::from_millis(1000)).expect("runs");
    let backup_sf = |stats: &mptcp_stack::connection::ConnectionStats| {
        stats.subflows.iter().find(|s| s.local.ip() == client_addr(1) || s.remote.ip() == client_addr(1)).cloned()
    };
    let client_sf = backup_sf(&conn_stats(sim.a().host()).expect("client")).expect("the backup subflow");
    assert!(client_sf.backup && backup_sf(&conn_stats(sim.b()).expect("server")).expect("server side").backup);
    let (h, at) = (sim.a().host().transfer.connection().expect("connection"), sim.now());
    let r = sim.a_mut().host_mut().endpoint.with_connection(h, |c| c.set_backup(client_sf.id, false));
    r.expect("connection").expect("subflow");
    sim.run_for(Duration::from_millis(200)).expect("runs");
    let server_sf = backup_sf(&conn_stats(sim.b()).expect("server")).expect("server side");
    assert!(!server_sf.backup, "the server got MP_PRIO(B=0) within 200 ms: {:?}", prios.borrow());
    assert!(prios.borrow().iter().any(|p| p.0 >= at && p.0 < at + Duration::from_millis(50)), "{:?}", prios.borrow());
    run_to_close(&mut sim, Duration::from_secs(120));
    assert_intact(&sim, bytes, false);
    let sent = backup_sf(&conn_stats(sim.a().host()).expect("client")).expect("client side").stats.bytes_sent;
    assert!(sent > bytes / 8, "the subflow carried data once regular: {sent} bytes");
}

#[test]
fn remove_addr_goes_on_a_subflow_that_stays() {
    // RFC 8684 §3.4.2: the client withdraws the address of a path that just died; the
    // REMOVE_ADDR must go on the other path (on the withdrawn subflows' FINs it is lost), so that
    // the server closes its subflows from that address.
    let bytes = 32 << 20;
    let (c, s) = multipath_configs(2, &EndpointConfig::default());
    let removals: Seen = Default::default();
    let client = Middlebox::new(mptcp_tests::client(c, 11, bytes), recording(&removals, |o| o.remove_addr.is_some()));
    let mut sim = network(client, server(s, 11, false), &[link(100, 10), link(100, 10)], 11);
    sim.run_to(Instant::from_millis(1500)).expect("runs");
    blackhole(&mut sim, 1, true);
    let (h, now) = (sim.a().host().transfer.connection().expect("connection"), sim.now());
    let r = sim.a_mut().host_mut().endpoint.with_connection(h, |c| c.withdraw_address(client_addr(1), now));
    r.expect("connection").expect("our address");
    let server_before = conn_stats(sim.b()).expect("server");
    assert!(server_before.subflows.iter().any(|s| s.remote.ip() == client_addr(1)), "{server_before:#?}");
    sim.run_for(Duration::from_millis(500)).expect("runs");
    let server = conn_stats(sim.b()).expect("server");
    for sf in server.subflows.iter().filter(|s| s.remote.ip() == client_addr(1)) {
        assert!(!sf.state.can_send(), "the server closed its subflow from the withdrawn address: {sf:#?}");
    }
    run_to_close(&mut sim, Duration::from_secs(120));
    assert_intact(&sim, bytes, false);
    let removals = removals.borrow();
    assert!(!removals.is_empty() && removals.iter().all(|r| r.1 == client_addr(0)), "{removals:?}");
}

#[test]
fn failed_subflows_are_forgotten_beyond_a_bound() {
    // Every join the client tries is refused (its third ACK's HMAC is corrupted on the way):
    // a long-lived connection that keeps trying must not keep every dead subflow.
    // More than the send buffer holds: the client is still writing when the join comes up.
    let bytes = 8 << 20;
    let mut base = EndpointConfig::default();
    base.connection.path_manager = PathManagerKind::Manual;
    let (c, s) = multipath_configs(2, &base);
    let client = Middlebox::new(mptcp_tests::client(c, 12, bytes), corrupt_join_ack_hmac);
    let mut sim = network(client, server(s, 12, false), &[link(100, 10), link(100, 10)], 12);
    // Keep the connection open (the client reads nothing back but does not close yet).
    sim.a_mut().host_mut().transfer.set_close_policy(mptcp_tun_driver::transfer::ClosePolicy::AfterEof);
    run_until_established(&mut sim);
    let h = sim.a().host().transfer.connection().expect("connection");
    let remote = std::net::SocketAddr::new(
        server_addr(1),
        conn_stats(sim.a().host()).expect("client").subflows[0].remote.port(),
    );
    for _ in 0..40 {
        let local = std::net::SocketAddr::new(client_addr(1), 0);
        let r = sim.a_mut().host_mut().endpoint.with_connection(h, |c| c.open_subflow(local, remote, false));
        r.expect("connection").expect("allowed: the failed ones are gone");
        sim.run_for(Duration::from_millis(200)).expect("runs");
    }
    let client = conn_stats(sim.a().host()).expect("client");
    let server = conn_stats(sim.b().host()).expect("server");
    assert!(client.subflows.len() <= 18, "dead subflows are forgotten: {} kept", client.subflows.len());
    assert!(server.subflows.len() <= 18, "also by the responder: {} kept", server.subflows.len());
    assert!(client.subflows.iter().map(|s| s.id).max() >= Some(40), "ids keep counting up");
    assert!(server.join_failures >= 40, "every join was refused: {}", server.join_failures);
}

/// A client and a server over two paths, both with the manual path manager (no subflow but the
/// ones a test opens), the client's flow 0 sending `bytes` (echoed with `echo`).
fn manual_multi_sim(bytes: u64, seed: u64, echo: bool) -> Simulator<MultiHost, MultiHost> {
    let mut base = EndpointConfig::default();
    base.connection.path_manager = PathManagerKind::Manual;
    let (c, s) = multipath_configs(2, &base);
    let (c, s) = multi_pair(c, s, bytes, seed, echo);
    network(c, s, &[link(50, 10), link(50, 10)], seed)
}

/// Opens the client's subflow from its address on path 1 to the server's once the connection
/// can take it, and runs until it carried data; returns its snapshot on the client and on the
/// server.
fn open_path_1<A: Host + HasMulti, B: Host + HasMulti>(
    sim: &mut Simulator<A, B>,
) -> (SubflowSnapshot, SubflowSnapshot) {
    let can_join = |h: &MultiHost| h.endpoint.connection(h.flows[0].handle).is_some_and(|c| c.can_join());
    sim.run_until(|a, _, _| can_join(a.multi()), Instant::from_millis(5000)).expect("fully established");
    let port = sim.a().multi().stats(0).expect("client").subflows[0].remote.port();
    let (local, remote) = (SocketAddr::new(client_addr(1), 0), SocketAddr::new(server_addr(1), port));
    let id = sim.a_mut().multi_mut().with_connection(0, |c| c.open_subflow(local, remote, false));
    let id = id.expect("the connection").expect("a subflow can be opened");
    let ours = |h: &MultiHost| h.stats(0).and_then(|s| s.subflows.into_iter().find(|s| s.id == id));
    let carried = |s: &SubflowSnapshot| s.fully_established && s.stats.bytes_acked > 0;
    let r = sim.run_until(|a, _, _| ours(a.multi()).is_some_and(|s| carried(&s)), sim.now() + Duration::from_secs(5));
    r.expect("the subflow comes up and carries data");
    let client = ours(sim.a().multi()).expect("just seen");
    let server = sim.b().multi().stats(0).expect("server").subflows.into_iter().find(|s| s.remote == client.local);
    (client, server.expect("the server's side of it"))
}

/// The `SubflowClosed` events of flow 0 and when they came.
fn subflow_ends(h: &MultiHost) -> Vec<(Instant, SubflowId, SubflowEnd)> {
    let events = h.conn_events(0).into_iter();
    events
        .filter_map(|(t, e)| if let ConnEvent::SubflowClosed(id, end) = e { Some((t, id, end)) } else { None })
        .collect()
}

#[test]
fn a_subflow_closed_gracefully_by_one_side_is_closed_by_the_other_at_once() {
    // RFC 8684 §3.3.3: a subflow FIN ends that subflow, not the connection. The side that gets
    // it closes its own side too (as the kernel does since "mptcp: close subflow when receiving
    // TCP+FIN"), so that both ends report the subflow closed within a few round trips, not when
    // the connection ends; the data it held in flight either way goes on the other subflow.
    for client_closes in [true, false] {
        let bytes = 24 << 20;
        let mut sim = manual_multi_sim(bytes, 20, true);
        let (client_sf, server_sf) = open_path_1(&mut sim);
        sim.run_for(Duration::from_millis(300)).expect("runs");
        let now = sim.now();
        let (closer, id) = if client_closes { (sim.a_mut(), client_sf.id) } else { (sim.b_mut(), server_sf.id) };
        closer.with_connection(0, |c| c.close_subflow(id, false, now)).expect("the connection").expect("closes");
        let initial_before =
            [sim.a().stats(0), sim.b().stats(0)].map(|s| s.expect("live").subflows[0].stats.bytes_sent);
        let both_reported = |a: &MultiHost, b: &MultiHost| {
            subflow_ends(a).iter().any(|e| e.1 == client_sf.id) && subflow_ends(b).iter().any(|e| e.1 == server_sf.id)
        };
        let r = sim.run_until(|a, b, _| both_reported(a, b), now + Duration::from_secs(2));
        r.unwrap_or_else(|e| {
            panic!("client closes {client_closes}: {e:?}: {:#?}", [sim.a().stats(0), sim.b().stats(0)])
        });
        let (client, server) = (sim.a(), sim.b());
        for (side, h, sf) in [("client", client, client_sf.id), ("server", server, server_sf.id)] {
            let ends = subflow_ends(h);
            assert_eq!(ends.len(), 1, "client closes {client_closes}: {side}: only that subflow ended: {ends:?}");
            let (at, which, end) = ends[0];
            assert_eq!((which, end), (sf, SubflowEnd::Closed), "client closes {client_closes}: {side}");
            // Two round trips of 20 ms: its FIN, the other side's FIN, the ACKs.
            assert!(
                at - now < Duration::from_millis(200),
                "client closes {client_closes}: {side}: after {:?}",
                at - now
            );
            let state = h.stats(0).expect("live").subflows.into_iter().find(|s| s.id == sf).expect("kept").state;
            assert!(matches!(state, TcpState::TimeWait | TcpState::Closed), "{side}: {state:?}");
        }
        // The side that got the FIN moved what that subflow held unacknowledged elsewhere.
        let responder = if client_closes { server } else { client };
        let reinjected = responder.stats(0).expect("live").bytes_reinjected;
        assert!(reinjected > 0, "client closes {client_closes}: the responder's data in flight went elsewhere");
        let reported = sim.now();
        run_multi_to_close(&mut sim, Duration::from_secs(60));
        let (client, server) = (sim.a(), sim.b());
        assert_flow_intact(client, 0, server, true);
        for (side, h, before) in [("client", client, initial_before[0]), ("server", server, initial_before[1])] {
            let (closed_at, reason) = h.flows[0].closed.expect("closed");
            assert_eq!(reason, CloseReason::Normal, "client closes {client_closes}: {side}");
            assert!(closed_at - reported > Duration::from_secs(1), "{side}: the connection went on long after");
            let initial = h.stats(0).expect("kept").subflows[0].stats.bytes_sent;
            assert!(
                initial > before + (4 << 20),
                "{side}: the initial subflow carried the rest: {before} then {initial}"
            );
        }
    }
}

#[test]
fn subflows_reset_after_the_data_fin_exchange_leave_the_close_normal() {
    // RFC 8684 §3.3.3: once both DATA_FINs are exchanged and acknowledged the connection has
    // closed normally. The server FINs its subflows only then; the client's first answer to
    // that FIN on each subflow (its ACK, or its own FIN) is replaced by a RST, as from a peer
    // that already forgot the connection. Every server subflow ends reset; the connection must
    // still report a normal close, on both sides.
    // More than the send buffer holds: the client is still writing when the join comes up.
    let bytes = 8 << 20;
    let mut base = EndpointConfig::default();
    base.connection.path_manager = PathManagerKind::Manual;
    let (c, s) = multipath_configs(2, &base);
    let (c, s) = multi_pair(c, s, bytes, 21, false);
    // The acknowledgment number that acknowledges the server's FIN, by the server's address.
    let fin_acks: Rc<RefCell<Vec<(IpAddr, u32)>>> = Default::default();
    // When the client's answer on each path became a RST, by the client's address.
    let resets: Rc<RefCell<Vec<(Instant, IpAddr)>>> = Default::default();
    let (seen, wanted, done) = (Rc::clone(&fin_acks), Rc::clone(&fin_acks), Rc::clone(&resets));
    let server = Middlebox::new(s, move |_, packet| {
        let seg = parse(packet);
        if seg.flags.contains(TcpFlags::FIN) {
            seen.borrow_mut().push((seg.src, seg.seq.wrapping_add(seg.payload.len() as u32 + 1)));
        }
        Verdict::Pass
    });
    let client = Middlebox::new(c, move |now, packet| {
        let mut seg = parse(packet);
        let answers_fin = wanted.borrow().iter().any(|&(server, ack)| server == seg.dst && ack == seg.ack);
        if !answers_fin || done.borrow().iter().any(|r| r.1 == seg.src) {
            return Verdict::Pass;
        }
        done.borrow_mut().push((now, seg.src));
        seg.flags = TcpFlags::RST | TcpFlags::ACK;
        seg.options.mptcp = MptcpOptions::default();
        seg.payload = &[];
        let mut out = vec![0; packet.len()];
        let (n, _) = seg.emit(&mut out, ChecksumMode::Full).expect("fits");
        out.truncate(n);
        Verdict::Rewrite(out)
    });
    let mut sim = network(client, server, &[link(50, 10), link(50, 10)], 21);
    let (_, server_sf) = open_path_1(&mut sim);
    run_multi_to_close(&mut sim, Duration::from_secs(30));
    let (client, server) = (&sim.a().inner, &sim.b().inner);
    assert_flow_intact(client, 0, server, true);
    let resets = resets.borrow();
    assert_eq!(resets.len(), 2, "on both paths: {resets:?}");
    let eof = server.flows[0].eof_at.expect("the server read the client's DATA_FIN");
    assert!(resets.iter().all(|r| r.0 > eof), "the resets came after the DATA_FIN exchange: {resets:?}");
    let ends: Vec<_> = subflow_ends(server).into_iter().map(|e| (e.1, e.2)).collect();
    assert_eq!(ends.len(), 2, "{ends:?}");
    assert!(ends.contains(&(0, SubflowEnd::Reset)) && ends.contains(&(server_sf.id, SubflowEnd::Reset)), "{ends:?}");
    assert_eq!(server.flows[0].closed.map(|c| c.1), Some(CloseReason::Normal), "{:?}", server.conn_events(0));
    assert_eq!(client.flows[0].closed.map(|c| c.1), Some(CloseReason::Normal), "{:?}", client.conn_events(0));
}
