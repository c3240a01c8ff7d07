//! Resource limits in the simulator: each cap of `EndpointConfig` / `ConnectionConfig` refuses the
//! new thing cleanly and counts it, a SYN flood and a join flood hold bounded state while a
//! legitimate connection gets through, and out-of-order memory stays within its caps while every
//! transfer completes intact (byte for byte against its seeded stream).

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use mptcp_stack::connection::ConnEvent;
use mptcp_stack::connection::path_manager::PathManagerKind;
use mptcp_stack::endpoint::{Endpoint, EndpointConfig};
use mptcp_stack::subflow::TcpState;
use mptcp_stack::time::Instant;
use mptcp_stack::wire::mptcp::{CapableFlags, CapablePhase, CapableRepr, JoinRepr, ResetReason};
use mptcp_stack::wire::{ChecksumMode, MptcpOptions, SegmentRepr, TcpFlags, TcpOptions};
use mptcp_tests::multi_host::{HasMulti, MultiHost, assert_flow_intact, multi_pair, run_multi_to_close};
use mptcp_tests::*;
use mptcp_tun_driver::link::LinkConfig;
use mptcp_tun_driver::sim::{Host, Simulator};
use rand::SeedableRng;
use rand::rngs::StdRng;

type Sim = Simulator<MultiHost, MultiHost>;

/// The server's listening address.
fn listen_addr() -> SocketAddr {
    SocketAddr::new(server_addr(0), PORT)
}

/// A SYN from `src` to `dst` with these MPTCP options.
fn syn(src: SocketAddr, dst: SocketAddr, seq: u32, mptcp: MptcpOptions) -> Vec<u8> {
    let options = TcpOptions { mss: Some(1460), mptcp, ..TcpOptions::default() };
    let seg = SegmentRepr {
        src: src.ip(),
        dst: dst.ip(),
        tos: 0,
        hop_limit: 64,
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 65535,
        options,
        payload: &[],
    };
    let mut buf = vec![0; 200];
    let (n, _) = seg.emit(&mut buf, ChecksumMode::Full).expect("fits");
    buf.truncate(n);
    buf
}

/// MP_CAPABLE for a SYN (RFC 8684 §3.1).
fn capable() -> MptcpOptions {
    let capable = CapableRepr::new(CapableFlags::default(), CapablePhase::Syn);
    MptcpOptions { capable: Some(capable), ..MptcpOptions::default() }
}

/// MP_JOIN for a SYN with `token` (RFC 8684 §3.2).
fn join(token: u32, nonce: u32) -> MptcpOptions {
    MptcpOptions { join: Some(JoinRepr::Syn { backup: false, addr_id: 9, token, nonce }), ..MptcpOptions::default() }
}

/// Forged source number `i`: an address no path has (its answers are unroutable) and a port.
fn forged(i: u32) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(172, 16 + (i >> 16) as u8, (i >> 8) as u8, i as u8)), 1024 + i as u16)
}

/// Every packet an endpoint has to send now.
fn drain(e: &mut Endpoint) -> Vec<SegmentRepr<'static>> {
    let mut out = Vec::new();
    let mut buf = vec![0; 2000];
    while let Some(n) = e.poll_transmit(Instant::ZERO, &mut buf) {
        let packet: &'static [u8] = Box::leak(buf[..n].to_vec().into_boxed_slice());
        out.push(parse(packet));
    }
    out
}

#[test]
fn the_connection_cap_refuses_a_syn_with_mp_tcprst_and_counts_it() {
    let config = EndpointConfig { max_connections: 2, ..EndpointConfig::default() };
    let mut e = Endpoint::new(config, Box::new(StdRng::seed_from_u64(1)));
    e.listen(listen_addr());
    for i in 0..3 {
        e.handle(Instant::ZERO, &syn(forged(i), listen_addr(), 7, capable()));
    }
    let out = drain(&mut e);
    assert_eq!(e.connection_count(), 2);
    assert_eq!(e.stats().refused, 1);
    let rst = out.iter().find(|s| s.flags.contains(TcpFlags::RST)).expect("the third SYN is reset");
    assert_eq!(SocketAddr::new(rst.dst, rst.dst_port), forged(2));
    // RFC 8684 §3.6: "lack of resources".
    assert_eq!(rst.options.mptcp.tcp_rst.map(|r| r.reason), Some(ResetReason::Resource));
}

#[test]
fn the_half_open_cap_recycles_the_oldest() {
    let config = EndpointConfig { max_half_open: 3, ..EndpointConfig::default() };
    let mut e = Endpoint::new(config, Box::new(StdRng::seed_from_u64(2)));
    e.listen(listen_addr());
    for i in 0..5 {
        e.handle(Instant::ZERO, &syn(forged(i), listen_addr(), 7, capable()));
    }
    assert_eq!((e.half_open_count(), e.connection_count()), (3, 3));
    assert_eq!(e.stats().half_open_evicted, 2);
    // The survivors are the newest three, and only they can be accepted.
    let accepted: Vec<_> = core::iter::from_fn(|| e.accept()).collect();
    assert_eq!(accepted.len(), 3);
    let remotes: Vec<_> = accepted.iter().map(|h| e.connection(*h).expect("held").stats().subflows[0].remote).collect();
    assert_eq!(remotes, [forged(2), forged(3), forged(4)]);
}

/// Runs in steps of 1 ms for `duration`, handing `per_ms` packets of `flood` to the server
/// each step and checking `bounded` after it.
fn flood_for(
    sim: &mut Sim,
    duration: Duration,
    per_ms: u32,
    mut flood: impl FnMut(u32) -> Vec<u8>,
    mut bounded: impl FnMut(&MultiHost),
) -> u32 {
    let mut sent = 0;
    let end = sim.now() + duration;
    while sim.now() < end {
        let now = sim.now();
        for _ in 0..per_ms {
            sim.b_mut().handle_packet(now, &flood(sent));
            sent += 1;
        }
        sim.run_for(Duration::from_millis(1)).expect("runs");
        bounded(sim.b());
    }
    sent
}

#[test]
fn a_syn_flood_holds_bounded_state_while_a_client_gets_through() {
    let bytes = 4 << 20;
    let server_config = EndpointConfig { max_half_open: 128, max_connections: 256, ..EndpointConfig::default() };
    let (c, mut s) = multi_pair(EndpointConfig::default(), server_config, bytes, 41, true);
    s.tolerate_strangers();
    let mut sim = network(c, s, &[link(50, 1)], 41);
    let mut most = (0, 0);
    // 20 forged SYNs per millisecond (never completed: their SYN/ACKs are unroutable) from the
    // start of the client's handshake to well after its transfer.
    let sent = flood_for(
        &mut sim,
        Duration::from_millis(3000),
        20,
        |i| syn(forged(i), listen_addr(), i.wrapping_mul(2_654_435_761), capable()),
        |s| most = (most.0.max(s.endpoint.half_open_count()), most.1.max(s.endpoint.connection_count())),
    );
    run_multi_to_close(&mut sim, Duration::from_secs(30));
    let (client, server) = (sim.a(), sim.b());
    assert_eq!(assert_flow_intact(client, 0, server, true), bytes);
    assert!(most.0 <= 128 && most.1 <= 129, "half-open and all connections bounded: {most:?}");
    let stats = server.endpoint.stats();
    assert!(stats.half_open_evicted >= u64::from(sent) - 128, "{stats:?} after {sent} SYNs");
    assert_eq!(stats.refused, 0, "the connection cap was never reached");
    assert_eq!(server.strangers, u64::from(sent), "every forged SYN was held half-open for a while");
}

/// Pending joins (join SYN answered, third ACK not come) of a connection's subflows.
fn pending_joins(h: &MultiHost) -> usize {
    let s = h.stats(0).expect("server");
    s.subflows.iter().filter(|f| f.joined && f.state == TcpState::SynReceived).count()
}

#[test]
fn a_join_flood_holds_bounded_state_while_the_connection_carries_on() {
    let bytes = 8 << 20;
    let (c, mut s) = multipath_configs(2, &EndpointConfig::default());
    s.connection.max_pending_joins = 4;
    let (c, s) = multi_pair(c, s, bytes, 42, false);
    let mut sim = network(c, s, &[link(50, 5), link(50, 5)], 42);
    sim.run_until(
        |_, b, _| !b.flows.is_empty() && b.stats(0).is_some_and(|s| s.subflows.len() == 4),
        Instant::from_millis(2000),
    )
    .expect("the client's joins are up");
    let token = sim.b().stats(0).and_then(|s| s.token).expect("an MPTCP connection");
    let mut most = (0, 0);
    let mut random = StdRng::seed_from_u64(42);
    // Half the SYNs carry the connection's token (an on-path attacker's), half a random one.
    let sent = flood_for(
        &mut sim,
        Duration::from_millis(1000),
        4,
        |i| {
            let token = if i % 2 == 0 { token } else { rand::RngExt::random(&mut random) };
            syn(forged(i), listen_addr(), i, join(token, i))
        },
        |s| most = (most.0.max(pending_joins(s)), most.1.max(s.stats(0).expect("server").subflows.len())),
    );
    run_multi_to_close(&mut sim, Duration::from_secs(60));
    let (client, server) = (sim.a(), sim.b());
    assert_flow_intact(client, 0, server, true);
    assert!(most.0 <= 4, "pending joins bounded by max_pending_joins: {most:?}");
    assert!(most.1 <= 4 + 4 + 16 + 4, "subflows kept bounded (live, pending, ended kept): {most:?}");
    let stats = server.stats(0).expect("server");
    let with_token = u64::from(sent / 2);
    assert!(stats.pending_joins_evicted >= with_token - 4, "{} of {with_token}", stats.pending_joins_evicted);
    let refused = server.endpoint.stats().joins_refused;
    assert!(refused >= u64::from(sent / 2), "every random token refused: {refused}");
    assert_eq!(stats.subflows_refused, 0, "the subflow cap was not reached: pending joins are recycled");
}

#[test]
fn the_subflow_cap_refuses_joins_with_lack_of_resources() {
    let bytes = 8 << 20;
    let (c, mut s) = multipath_configs(2, &EndpointConfig::default());
    s.connection.max_subflows = 1;
    let (c, s) = multi_pair(c, s, bytes, 43, false);
    let reasons = Rc::new(RefCell::new(Vec::new()));
    let seen = reasons.clone();
    let server = Middlebox::new(s, move |_, packet: &[u8]| {
        if let Some(r) = parse(packet).options.mptcp.tcp_rst {
            seen.borrow_mut().push(r.reason);
        }
        Verdict::Pass
    });
    let mut sim = network(c, server, &[link(50, 5), link(50, 5)], 43);
    run_multi_to_close(&mut sim, Duration::from_secs(60));
    let (client, server) = (sim.a(), &sim.b().inner);
    assert_flow_intact(client, 0, server, true);
    let refused = server.stats(0).expect("server").subflows_refused;
    assert!(refused >= 1 && server.endpoint.stats().joins_refused >= refused);
    assert!(reasons.borrow().contains(&ResetReason::Resource), "{:?}", reasons.borrow());
    assert_eq!(server.stats(0).expect("server").subflows.len(), 1);
}

/// A lossy link: holes at the receiver, and data beyond them held out of order.
fn lossy() -> LinkConfig {
    LinkConfig { loss: 0.02, ..link(20, 10) }
}

#[test]
fn out_of_order_memory_per_connection_is_capped_and_the_transfer_completes() {
    let bytes = 4 << 20;
    let cap = 16 << 10;
    let mut server = EndpointConfig::default();
    server.connection.max_reorder_bytes = cap;
    let (c, s) = multi_pair(EndpointConfig::default(), server, bytes, 44, false);
    let mut sim = network(c, s, &[lossy()], 44);
    run_multi_to_close(&mut sim, Duration::from_secs(120));
    let (client, server) = (sim.a(), sim.b());
    assert_eq!(assert_flow_intact(client, 0, server, true), bytes);
    let stats = server.stats(0).expect("server");
    assert!(stats.reorder_peak <= cap, "held {} out of order, cap {cap}", stats.reorder_peak);
    assert!(stats.reorder_peak > cap / 2, "the cap was reached: {}", stats.reorder_peak);
    assert!(stats.reorder_dropped > 0, "segments beyond the cap were dropped: {stats:?}");
    assert_eq!(server.endpoint.stats().reorder_dropped, 0, "the endpoint's cap was not the one");
}

#[test]
fn out_of_order_memory_of_the_endpoint_is_capped_across_connections() {
    let bytes = 2 << 20;
    let cap = 24 << 10;
    let server = EndpointConfig { max_reorder_bytes: cap, ..EndpointConfig::default() };
    let (mut c, mut s) = multi_pair(EndpointConfig::default(), server, bytes, 45, false);
    let second = c.connect(client_addr(0), listen_addr(), c.endpoint.config().connection.clone(), bytes, 46);
    s.expect(c.flows[second].tuple.0, 46);
    let mut sim = network(c, s, &[lossy()], 45);
    let mut most = 0;
    while !(sim.a().multi().all_closed() && sim.b().multi().all_closed()) {
        assert!(sim.now() < Instant::from_millis(120_000), "did not finish");
        sim.run_for(Duration::from_millis(5)).expect("runs");
        most = most.max(sim.b().endpoint.reorder_bytes());
    }
    let (client, server) = (sim.a(), sim.b());
    for i in 0..2 {
        assert_eq!(assert_flow_intact(client, i, server, true), bytes);
    }
    let stats = server.endpoint.stats();
    assert!(
        most <= cap && stats.reorder_peak <= cap,
        "held {most} / peak {} out of order, cap {cap}",
        stats.reorder_peak
    );
    assert!(stats.reorder_dropped > 0, "segments beyond the endpoint's cap were dropped: {stats:?}");
    assert_eq!(server.endpoint.reorder_bytes(), 0, "nothing held once every connection is gone");
}

#[test]
fn announced_addresses_beyond_the_cap_are_ignored_and_counted() {
    let mut client = EndpointConfig::default();
    client.connection.path_manager = PathManagerKind::Manual;
    let (c, s) = multi_pair(client, EndpointConfig::default(), 16 << 20, 47, false);
    let mut sim = network(c, s, &[link(50, 5)], 47);
    sim.run_until(|a, _, _| a.stats(0).is_some_and(|s| s.token.is_some()), Instant::from_millis(2000))
        .expect("established");
    sim.run_for(Duration::from_millis(100)).expect("runs");
    for i in 0..20 {
        let now = sim.now();
        let ip = IpAddr::V4(Ipv4Addr::new(10, 9, 0, i + 1));
        sim.a_mut().with_connection(0, |c| c.announce_address(ip, None, now)).expect("open").expect("MPTCP");
        sim.run_for(Duration::from_millis(30)).expect("runs");
    }
    run_multi_to_close(&mut sim, Duration::from_secs(30));
    let (client, server) = (sim.a(), sim.b());
    assert_flow_intact(client, 0, server, true);
    let announced =
        server.conn_events(0).iter().filter(|(_, e)| matches!(e, ConnEvent::AddressAnnounced { .. })).count();
    assert_eq!(announced, 8, "max_announced_addrs kept");
    assert_eq!(server.stats(0).expect("server").add_addr_ignored, 12);
}
