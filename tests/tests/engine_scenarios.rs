//! The engine in the simulator: handshake losses, fallback to TCP, checksums, close orders,
//! zero windows. Every transfer is checked end to end by hash.

use std::time::Duration;

use mptcp_stack::connection::CloseReason;
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_stack::time::Instant;
use mptcp_stack::wire::mptcp::CapablePhase;
use mptcp_tests::{
    Middlebox, Verdict, assert_intact, client, conn_stats, link, network, parse, run_to_close, server, strip_mptcp,
    transfer_sim,
};
use mptcp_tun_driver::transfer::ClosePolicy;

const LIMIT: Duration = Duration::from_secs(120);

fn cfg() -> EndpointConfig {
    EndpointConfig::default()
}

fn closed_normally<A, B>(sim: &mptcp_tun_driver::sim::Simulator<A, B>)
where
    A: mptcp_tun_driver::sim::Host + mptcp_tests::HasEndpoint,
    B: mptcp_tun_driver::sim::Host + mptcp_tests::HasEndpoint,
{
    let c = sim.a().host().transfer.report().closed.map(|x| x.1);
    let s = sim.b().host().transfer.report().closed.map(|x| x.1);
    assert_eq!((c, s), (Some(CloseReason::Normal), Some(CloseReason::Normal)));
}

fn mptcp_flags<A, B>(sim: &mptcp_tun_driver::sim::Simulator<A, B>) -> (Option<bool>, Option<bool>)
where
    A: mptcp_tun_driver::sim::Host + mptcp_tests::HasEndpoint,
    B: mptcp_tun_driver::sim::Host + mptcp_tests::HasEndpoint,
{
    (sim.a().host().transfer.report().mptcp, sim.b().host().transfer.report().mptcp)
}

#[test]
fn lost_third_ack_is_recovered_by_the_first_data_packet() {
    let bytes = 200_000;
    let mut dropped = 0;
    let a = Middlebox::new(client(cfg(), 2, bytes), move |_, p: &[u8]| {
        let seg = parse(p);
        let third_ack = matches!(seg.options.mptcp.capable.map(|c| c.phase), Some(CapablePhase::Ack { .. }));
        if third_ack && dropped == 0 {
            dropped += 1;
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    });
    let mut sim = network(a, server(cfg(), 2, false), &[link(100, 10)], 2);
    run_to_close(&mut sim, LIMIT);
    assert_eq!(sim.a().touched, 1, "the third ACK was dropped");
    assert_intact(&sim, bytes, false);
    assert_eq!(mptcp_flags(&sim), (Some(true), Some(true)), "MP_CAPABLE on the first data establishes it");
    closed_normally(&sim);
}

#[test]
fn lost_first_data_packet_is_resent_with_mp_capable() {
    let bytes = 200_000;
    let mut mpc_data_seen = 0;
    let a = Middlebox::new(client(cfg(), 3, bytes), move |_, p: &[u8]| {
        let seg = parse(p);
        if matches!(seg.options.mptcp.capable.map(|c| c.phase), Some(CapablePhase::Data { .. })) {
            mpc_data_seen += 1;
            if mpc_data_seen == 1 {
                return Verdict::Drop;
            }
        }
        Verdict::Pass
    });
    let mut sim = network(a, server(cfg(), 3, false), &[link(100, 10)], 3);
    run_to_close(&mut sim, LIMIT);
    assert_eq!(sim.a().touched, 1);
    assert_intact(&sim, bytes, false);
    assert_eq!(mptcp_flags(&sim), (Some(true), Some(true)));
    closed_normally(&sim);
}

#[test]
fn plain_tcp_server_means_fallback_with_data_intact() {
    let mut plain = cfg();
    plain.connection.mptcp = false;
    let bytes = 500_000;
    let mut sim = transfer_sim(&[link(100, 10)], bytes, 4, cfg(), plain, true);
    run_to_close(&mut sim, LIMIT);
    assert_intact(&sim, bytes, true);
    assert_eq!(mptcp_flags(&sim), (Some(false), Some(false)));
    closed_normally(&sim);
}

#[test]
fn plain_tcp_client_is_served_as_tcp() {
    let mut plain = cfg();
    plain.connection.mptcp = false;
    let bytes = 500_000;
    let mut sim = transfer_sim(&[link(100, 10)], bytes, 5, plain, cfg(), true);
    run_to_close(&mut sim, LIMIT);
    assert_intact(&sim, bytes, true);
    assert_eq!(mptcp_flags(&sim), (Some(false), Some(false)));
    closed_normally(&sim);
}

#[test]
fn options_stripped_mid_stream_fall_back_with_data_intact() {
    let bytes = 2_000_000;
    let start = Instant::from_millis(200);
    let strip =
        move |now: Instant, p: &[u8]| if now >= start { Verdict::Rewrite(strip_mptcp(p)) } else { Verdict::Pass };
    let a = Middlebox::new(client(cfg(), 6, bytes), strip);
    let b = Middlebox::new(server(cfg(), 6, true), strip);
    let mut sim = network(a, b, &[link(50, 10)], 6);
    run_to_close(&mut sim, LIMIT);
    assert!(sim.a().touched > 0 && sim.b().touched > 0, "the middlebox acted");
    assert_intact(&sim, bytes, true);
    assert_eq!(mptcp_flags(&sim), (Some(false), Some(false)), "both fell back");
}

#[test]
fn checksums_on_one_side_are_used_by_both_and_survive_loss() {
    let mut sum = cfg();
    sum.connection.checksum = true;
    let bytes = 2_000_000;
    let mut l = link(100, 10);
    l.loss = 0.01;
    let mut sim = transfer_sim(&[l], bytes, 7, sum, cfg(), true);
    run_to_close(&mut sim, LIMIT);
    assert_intact(&sim, bytes, true);
    assert_eq!(mptcp_flags(&sim), (Some(true), Some(true)));
    closed_normally(&sim);
}

#[test]
fn mp_capable_syns_dropped_twice_fall_back_to_plain_syn() {
    let bytes = 100_000;
    let a = Middlebox::new(client(cfg(), 8, bytes), |_, p: &[u8]| {
        if parse(p).options.mptcp.capable.is_some_and(|c| c.phase == CapablePhase::Syn) {
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    });
    let mut sim = network(a, server(cfg(), 8, false), &[link(100, 10)], 8);
    run_to_close(&mut sim, LIMIT);
    assert!(sim.a().touched >= 2, "MP_CAPABLE SYNs were dropped");
    assert_intact(&sim, bytes, false);
    assert_eq!(mptcp_flags(&sim), (Some(false), Some(false)));
}

#[test]
fn server_closes_first() {
    let mut c = client(cfg(), 9, 0);
    c.transfer.set_close_policy(ClosePolicy::AfterEof);
    let mut s = server(cfg(), 9, false);
    s.transfer.set_send(300_000, 99);
    s.transfer.set_close_policy(ClosePolicy::AfterSend);
    let mut sim = network(c, s, &[link(100, 10)], 9);
    run_to_close(&mut sim, LIMIT);
    let (cr, sr) = (sim.a().transfer.report(), sim.b().transfer.report());
    assert_eq!((sr.bytes_sent, cr.bytes_received), (300_000, 300_000));
    assert_eq!(sr.sha256_sent, cr.sha256_received);
    assert!(cr.eof_at.is_some() && sr.eof_at.is_some());
    closed_normally(&sim);
}

#[test]
fn simultaneous_close() {
    let mut c = client(cfg(), 10, 50_000);
    c.transfer.set_close_policy(ClosePolicy::AfterSend);
    let mut s = server(cfg(), 10, false);
    s.transfer.set_send(50_000, 77);
    s.transfer.set_close_policy(ClosePolicy::AfterSend);
    let mut sim = network(c, s, &[link(100, 10)], 10);
    run_to_close(&mut sim, LIMIT);
    let (cr, sr) = (sim.a().transfer.report(), sim.b().transfer.report());
    assert_eq!(cr.sha256_sent, sr.sha256_received);
    assert_eq!(sr.sha256_sent, cr.sha256_received);
    assert_eq!((cr.bytes_received, sr.bytes_received), (50_000, 50_000));
    closed_normally(&sim);
}

#[test]
fn abort_sends_fast_close_and_the_peer_is_reset() {
    let mut c = client(cfg(), 11, 10_000_000);
    c.transfer.set_close_policy(ClosePolicy::AbortAfter(1_000_000));
    let mut sim = network(c, server(cfg(), 11, false), &[link(100, 10)], 11);
    run_to_close(&mut sim, LIMIT);
    let (cr, sr) = (sim.a().transfer.report(), sim.b().transfer.report());
    assert_eq!(cr.closed.map(|x| x.1), Some(CloseReason::Aborted));
    assert_eq!(sr.closed.map(|x| x.1), Some(CloseReason::FastClose), "MP_FASTCLOSE honoured");
    assert!(sr.bytes_received < 10_000_000);
}

#[test]
fn zero_window_then_reading_resumes_the_transfer() {
    let mut small = cfg();
    small.connection.recv_buffer = 64 * 1024;
    let bytes = 1_000_000;
    let mut sim = transfer_sim(&[link(100, 10)], bytes, 12, cfg(), small, false);
    sim.b_mut().transfer.set_reading(false);
    sim.run_to(Instant::from_millis(3000)).expect("runs");
    let stalled = sim.b().transfer.report().bytes_received;
    assert_eq!(stalled, 0, "nothing read while paused");
    let client_stats = conn_stats(sim.a()).expect("connection");
    assert!(client_stats.bytes_acked <= 64 * 1024, "the window held the sender back");
    sim.b_mut().transfer.set_reading(true);
    run_to_close(&mut sim, LIMIT);
    assert_intact(&sim, bytes, false);
    closed_normally(&sim);
}

#[test]
fn lost_third_ack_when_the_server_speaks_first_is_repeated_on_the_syn_ack_retransmission() {
    let mut dropped = 0;
    let mut c = client(cfg(), 14, 0);
    c.transfer.set_close_policy(ClosePolicy::AfterEof);
    let a = Middlebox::new(c, move |_, p: &[u8]| {
        let third_ack = matches!(parse(p).options.mptcp.capable.map(|c| c.phase), Some(CapablePhase::Ack { .. }));
        if third_ack && dropped == 0 {
            dropped += 1;
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    });
    let mut s = server(cfg(), 14, false);
    s.transfer.set_send(100_000, 5);
    s.transfer.set_close_policy(ClosePolicy::AfterSend);
    let mut sim = network(a, s, &[link(100, 10)], 14);
    run_to_close(&mut sim, LIMIT);
    assert_eq!(sim.a().touched, 1);
    let (cr, sr) = (sim.a().inner.transfer.report(), sim.b().transfer.report());
    assert_eq!(cr.bytes_received, 100_000);
    assert_eq!(sr.sha256_sent, cr.sha256_received);
    assert_eq!(mptcp_flags(&sim), (Some(true), Some(true)));
    closed_normally(&sim);
}

#[test]
fn a_corrupted_payload_fails_the_checksum_and_falls_back_with_data_intact() {
    let mut sum = cfg();
    sum.connection.checksum = true;
    let bytes = 1_000_000;
    let mut data_segments = 0;
    let infinite = std::rc::Rc::new(std::cell::Cell::new(0));
    let infinite_seen = infinite.clone();
    let a = Middlebox::new(client(sum.clone(), 15, bytes), move |_, p: &[u8]| {
        let seg = parse(p);
        if seg.options.mptcp.dss.and_then(|d| d.mapping).is_some_and(|m| m.is_infinite()) {
            infinite_seen.set(infinite_seen.get() + 1);
        }
        if seg.payload.is_empty() {
            return Verdict::Pass;
        }
        data_segments += 1;
        if data_segments != 50 {
            return Verdict::Pass;
        }
        // A middlebox rewrites one byte and fixes the TCP checksum: only the DSS checksum sees it.
        let mut payload = seg.payload.to_vec();
        payload[10] ^= 0x55;
        let bad = mptcp_stack::wire::SegmentRepr { payload: &payload, ..seg };
        let mut out = vec![0; p.len()];
        let (n, _) = bad.emit(&mut out, mptcp_stack::wire::ChecksumMode::Full).unwrap();
        out.truncate(n);
        Verdict::Rewrite(out)
    });
    let fails = std::rc::Rc::new(std::cell::Cell::new(0));
    let fails_seen = fails.clone();
    let b = Middlebox::new(server(sum, 15, true), move |_, p: &[u8]| {
        if parse(p).options.mptcp.fail.is_some() {
            fails_seen.set(fails_seen.get() + 1);
        }
        Verdict::Pass
    });
    let mut sim = network(a, b, &[link(100, 10)], 15);
    run_to_close(&mut sim, LIMIT);
    assert_eq!(sim.a().touched, 1);
    assert!(fails.get() >= 1, "the receiver sent MP_FAIL");
    assert!(infinite.get() >= 1, "the sender answered with the infinite mapping");
    assert_intact(&sim, bytes, true);
    assert_eq!(mptcp_flags(&sim), (Some(false), Some(false)), "MP_FAIL and the infinite mapping fell back");
    closed_normally(&sim);
}

#[test]
fn a_lost_window_update_is_recovered_by_window_probes() {
    use mptcp_tun_driver::sim::{Action, Direction};
    let mut small = cfg();
    small.connection.recv_buffer = 64 * 1024;
    let bytes = 500_000;
    let mut sim = transfer_sim(&[link(100, 10)], bytes, 16, cfg(), small, false);
    sim.b_mut().transfer.set_reading(false);
    // The server's ACKs are blackholed from 1.5 s (the client is idle at its zero window by then)
    // to 3.5 s; it reads again at 2 s, so its window update is lost.
    let lift = Instant::from_millis(3500);
    sim.schedule(Instant::from_millis(1500), Action::SetBlackhole { path: 0, direction: Direction::BToA, on: true });
    sim.schedule(lift, Action::SetBlackhole { path: 0, direction: Direction::BToA, on: false });
    sim.run_to(Instant::from_millis(2000)).expect("runs");
    assert_eq!(sim.b().transfer.report().bytes_received, 0);
    let before = conn_stats(sim.a()).expect("connection").subflows[0].stats;
    assert_eq!(before.rto_count, 0, "nothing was in flight at the zero window");
    sim.b_mut().transfer.set_reading(true);
    run_to_close(&mut sim, LIMIT);
    assert_intact(&sim, bytes, false);
    let after = sim.a().transfer.report();
    assert!(after.closed.is_some_and(|(t, _)| t > lift), "the transfer resumed only after the outage");
    closed_normally(&sim);
}
