//! Multipath signalling in the simulator, over two paths (fullmesh on both sides, each side
//! knowing its address on both paths): ADD_ADDR and its echo (RFC 8684 §3.4.1), ADD_ADDR with a
//! bad HMAC, REMOVE_ADDR (§3.4.2), MP_PRIO (§3.3.8), switching the scheduler of a live
//! connection and the redundant scheduler, and hostile MP_JOINs (§3.2). The hosts are
//! [`MultiHost`]s, which keep every endpoint event; middleboxes at the hosts log, drop or
//! rewrite packets. Every transfer is checked byte for byte end to end.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use mptcp_stack::connection::{CloseReason, ConnEvent, SubflowSnapshot};
use mptcp_stack::endpoint::{Endpoint, EndpointConfig};
use mptcp_stack::scheduler::SchedulerKind;
use mptcp_stack::subflow::{SubflowEnd, SubflowId};
use mptcp_stack::time::Instant;
use mptcp_stack::wire::mptcp::{JoinRepr, ResetReason};
use mptcp_stack::wire::{ChecksumMode, MptcpOptions, SegmentRepr, TcpFlags, TcpOptions};
use mptcp_tests::multi_host::{
    HasMulti, MultiHost, assert_flow_intact, multi_pair, run_multi_to_close, run_multi_watching,
};
use mptcp_tests::*;
use mptcp_tun_driver::link::LinkConfig;
use mptcp_tun_driver::sim::{Direction, Host, Simulator};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// One packet a host sent, as a middlebox saw it.
#[derive(Debug, Clone)]
struct Sent {
    at: Instant,
    src: SocketAddr,
    dst: SocketAddr,
    flags: TcpFlags,
    seq: u32,
    len: usize,
    mptcp: MptcpOptions,
}

type Log = Rc<RefCell<Vec<Sent>>>;

/// A middlebox filter that logs every packet, then lets `decide` pass, drop or rewrite it.
fn logging(
    log: &Log,
    mut decide: impl FnMut(Instant, &SegmentRepr<'_>, &[u8]) -> Verdict + 'static,
) -> impl FnMut(Instant, &[u8]) -> Verdict + 'static {
    let log = Rc::clone(log);
    move |at, packet| {
        let seg = parse(packet);
        log.borrow_mut().push(Sent {
            at,
            src: SocketAddr::new(seg.src, seg.src_port),
            dst: SocketAddr::new(seg.dst, seg.dst_port),
            flags: seg.flags,
            seq: seg.seq,
            len: seg.payload.len(),
            mptcp: seg.options.mptcp,
        });
        decide(at, &seg, packet)
    }
}

fn pass(_: Instant, _: &SegmentRepr<'_>, _: &[u8]) -> Verdict {
    Verdict::Pass
}

/// `seg` changed by `change`, emitted again (checksums recomputed).
fn rewrite(seg: &SegmentRepr<'_>, change: impl FnOnce(&mut MptcpOptions)) -> Verdict {
    let mut seg = *seg;
    change(&mut seg.options.mptcp);
    let mut out = vec![0; 1600 + seg.payload.len()];
    let (n, _) = seg.emit(&mut out, ChecksumMode::Full).expect("fits");
    out.truncate(n);
    Verdict::Rewrite(out)
}

/// New payload bytes (not retransmissions) sent from `src` to `dst` in `[from, to)`.
fn new_data(log: &Log, src: SocketAddr, dst: SocketAddr, from: Instant, to: Instant) -> u64 {
    let mut high: Option<u64> = None;
    let mut base = None;
    let mut total = 0;
    for p in log.borrow().iter().filter(|p| p.src == src && p.dst == dst) {
        let base = *base.get_or_insert(p.seq);
        // Sequence numbers relative to the first one seen; transfers here stay below 4 GiB.
        let start = u64::from(p.seq.wrapping_sub(base));
        let end = start + p.len as u64;
        let h = high.get_or_insert(start);
        if end > *h {
            if p.at >= from && p.at < to {
                total += end - (*h).max(start);
            }
            *h = end;
        }
    }
    total
}

type Sim<A, B> = Simulator<A, B>;

fn two_links(mbit: u64) -> [LinkConfig; 2] {
    [link(mbit, 10), link(mbit, 10)]
}

/// Client and server over two paths, with the default settings but `adjust` applied to both.
fn pair(bytes: u64, seed: u64, echo: bool, adjust: impl Fn(&mut EndpointConfig)) -> (MultiHost, MultiHost) {
    let mut base = EndpointConfig::default();
    adjust(&mut base);
    let (c, s) = multipath_configs(2, &base);
    multi_pair(c, s, bytes, seed, echo)
}

/// The client subflow from `client_addr(path)` to `server_addr(path)` that is established.
fn subflow_on(h: &MultiHost, path: u8) -> Option<SubflowSnapshot> {
    h.stats(0)?.subflows.into_iter().find(|s| {
        s.fully_established
            && [s.local.ip(), s.remote.ip()].contains(&client_addr(path))
            && [s.local.ip(), s.remote.ip()].contains(&server_addr(path))
    })
}

/// Runs until the client has a working subflow on path 1.
fn until_second_subflow<A: Host + HasMulti, B: Host + HasMulti>(sim: &mut Sim<A, B>) -> SubflowSnapshot {
    let r = sim.run_until(
        |a, _, _| subflow_on(a.multi(), 1).is_some_and(|s| s.stats.bytes_acked > 0),
        Instant::from_millis(5000),
    );
    r.expect("a subflow on path 1 comes up and carries data");
    subflow_on(sim.a().multi(), 1).expect("just seen")
}

fn announced(h: &MultiHost) -> Vec<(u8, SocketAddr)> {
    h.conn_events(0)
        .into_iter()
        .filter_map(|(_, e)| match e {
            ConnEvent::AddressAnnounced { id, addr } => Some((id, addr)),
            _ => None,
        })
        .collect()
}

fn add_addrs(log: &Log, echo: bool) -> Vec<Sent> {
    log.borrow().iter().filter(|p| p.mptcp.add_addr.is_some_and(|a| a.is_echo() == echo)).cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// ADD_ADDR
// ---------------------------------------------------------------------------------------------

/// Runs a transfer in which the server announces its second address; with `drop_echoes` a
/// middlebox at the client drops every ADD_ADDR echo. Returns (what the server sent, what the
/// client sent, the client host).
fn announce(drop_echoes: bool, seed: u64) -> (Log, Log, MultiHost) {
    // ~5 s at 2 x 20 Mbit/s: long enough for several ADD_ADDR retransmissions (1 s, then 2 s).
    let bytes = 24 << 20;
    let (c, s) = pair(bytes, seed, false, |_| {});
    let (client_log, server_log) = (Log::default(), Log::default());
    let client = Middlebox::new(
        c,
        logging(&client_log, move |_, seg, _| {
            if drop_echoes && seg.options.mptcp.add_addr.is_some_and(|a| a.is_echo()) {
                Verdict::Drop
            } else {
                Verdict::Pass
            }
        }),
    );
    let server = Middlebox::new(s, logging(&server_log, pass));
    let mut sim = network(client, server, &two_links(20), seed);
    let t0 = sim.now();
    until_second_subflow(&mut sim);
    run_multi_to_close(&mut sim, Duration::from_secs(60));
    assert_flow_intact(sim.a().multi(), 0, sim.b().multi(), true);
    let duration = sim.b().multi().flows[0].eof_at.expect("eof") - t0;
    assert!(duration > Duration::from_secs(4), "the transfer outlasts three announcements: {duration:?}");
    let (client, _) = sim.into_hosts();
    (server_log, client_log, client.inner)
}

#[test]
fn add_addr_echo_stops_the_retransmissions() {
    let (server_log, client_log, client) = announce(false, 21);
    let sent = add_addrs(&server_log, false);
    let echoes = add_addrs(&client_log, true);
    assert_eq!(sent.len(), 1, "one announcement, echoed at once: {sent:#?}");
    let a = sent[0].mptcp.add_addr.expect("add_addr");
    assert_eq!(a.addr, server_addr(1), "the server announces its second address");
    assert_eq!(echoes.len(), 1, "one echo: {echoes:#?}");
    let e = echoes[0].mptcp.add_addr.expect("add_addr");
    assert_eq!((e.addr_id, e.addr, e.port), (a.addr_id, a.addr, a.port), "the echo repeats the announcement");
    assert!(echoes[0].at < sent[0].at + Duration::from_millis(100), "echoed on arrival");
    // §3.4.1: the echo goes on its own (a pure ACK without data).
    assert_eq!(echoes[0].len, 0);
    assert_eq!(announced(&client), vec![(a.addr_id, SocketAddr::new(server_addr(1), PORT))]);
    let stats = client.stats(0).expect("stats");
    assert_eq!(stats.bad_add_addr, 0);
    let joined = stats.subflows.iter().find(|s| s.remote.ip() == server_addr(1) && s.local.ip() == client_addr(1));
    assert!(joined.is_some_and(|s| s.stats.bytes_sent > 0), "the client joined the announced address: {stats:#?}");
}

#[test]
fn add_addr_is_retransmitted_while_its_echo_is_lost() {
    let (server_log, client_log, client) = announce(true, 22);
    let sent = add_addrs(&server_log, false);
    let echoes = add_addrs(&client_log, true);
    eprintln!("ADD_ADDR sent at {:?}", sent.iter().map(|p| secs(p.at)).collect::<Vec<_>>());
    assert!(sent.len() >= 3, "retransmitted until echoed: {} times", sent.len());
    assert!(sent.windows(2).all(|w| w[1].at - w[0].at >= Duration::from_secs(1)), "at most once a second");
    assert_eq!(echoes.len(), sent.len(), "each copy is echoed again (and dropped)");
    let ids: Vec<u8> = sent.iter().map(|p| p.mptcp.add_addr.expect("add_addr").addr_id).collect();
    assert!(ids.iter().all(|&id| id == ids[0]), "the same announcement each time");
    // The repeats change nothing at the client: one event, one subflow to the address.
    assert_eq!(announced(&client), vec![(ids[0], SocketAddr::new(server_addr(1), PORT))]);
    let stats = client.stats(0).expect("stats");
    let to_it = stats.subflows.iter().filter(|s| s.remote.ip() == server_addr(1) && s.local.ip() == client_addr(1));
    assert_eq!(to_it.count(), 1, "{stats:#?}");
}

#[test]
fn add_addr_with_a_bad_hmac_is_ignored() {
    let bytes = 16 << 20;
    let (c, s) = pair(bytes, 23, false, |_| {});
    let (client_log, server_log) = (Log::default(), Log::default());
    let client = Middlebox::new(c, logging(&client_log, pass));
    let server = Middlebox::new(
        s,
        logging(&server_log, |_, seg, _| match seg.options.mptcp.add_addr {
            Some(a) if !a.is_echo() => rewrite(seg, |o| {
                o.add_addr = Some(mptcp_stack::wire::mptcp::AddAddrRepr { hmac: a.hmac.map(|h| h ^ 1), ..a });
            }),
            _ => Verdict::Pass,
        }),
    );
    let mut sim = network(client, server, &two_links(20), 23);
    // Stats while the connection is alive, just before the end of the stream.
    sim.run_until(|a, _, _| a.inner.flows[0].left_to_send() == 0, Instant::from_millis(30_000)).expect("runs");
    let live = sim.a().inner.stats(0).expect("live");
    run_multi_to_close(&mut sim, Duration::from_secs(60));
    let (client, server) = (sim.a(), sim.b());
    assert_flow_intact(&client.inner, 0, &server.inner, true);
    let forged = server.touched;
    assert!(forged >= 2, "not echoed, so announced again: {forged}");
    let stats = client.inner.stats(0).expect("stats");
    assert_eq!(stats.bad_add_addr, forged, "every forged ADD_ADDR counted");
    assert!(live.bad_add_addr >= 2);
    assert!(announced(&client.inner).is_empty(), "no AddressAnnounced for a bad HMAC");
    assert!(add_addrs(&client_log, true).is_empty(), "no echo for it");
    assert!(
        stats.subflows.iter().chain(&live.subflows).all(|s| s.remote.ip() != server_addr(1)),
        "no subflow to the forged address: {stats:#?}"
    );
    let server_stats = server.inner.stats(0).expect("server");
    assert!(server_stats.subflows.iter().all(|s| s.local.ip() != server_addr(1)), "no join to it: {server_stats:#?}");
    assert_eq!(client.inner.flows[0].closed.map(|c| c.1), Some(CloseReason::Normal));
}

// ---------------------------------------------------------------------------------------------
// REMOVE_ADDR
// ---------------------------------------------------------------------------------------------

#[test]
fn remove_addr_closes_the_subflows_to_that_address() {
    let bytes = 32 << 20;
    let (c, s) = pair(bytes, 24, false, |_| {});
    let (client_log, server_log) = (Log::default(), Log::default());
    let client = Middlebox::new(c, logging(&client_log, pass));
    let server = Middlebox::new(s, logging(&server_log, pass));
    let mut sim = network(client, server, &two_links(50), 24);
    until_second_subflow(&mut sim);
    sim.run_for(Duration::from_millis(300)).expect("runs");
    let before = subflow_on(&sim.a().inner, 1).expect("up").stats.bytes_sent;
    let withdrawn_at = sim.now();
    let now = sim.now();
    let r = sim.b_mut().inner.with_connection(0, |c| c.withdraw_address(server_addr(1), now));
    r.expect("connection").expect("the server has that address");
    sim.run_for(Duration::from_millis(300)).expect("runs");
    // Mid-transfer still: the subflows to the address are closing or closed, the others not.
    let mid = sim.a().inner.stats(0).expect("client");
    assert!(sim.b().inner.flows[0].eof_at.is_none(), "the transfer is still going on");
    run_multi_to_close(&mut sim, Duration::from_secs(60));
    let (client, server) = (&sim.a().inner, &sim.b().inner);
    assert_flow_intact(client, 0, server, true);

    // The REMOVE_ADDR went out, naming the id the address was announced with.
    let (id, _) = *announced(client).first().expect("announced before");
    let removals: Vec<Sent> = server_log.borrow().iter().filter(|p| p.mptcp.remove_addr.is_some()).cloned().collect();
    assert!(!removals.is_empty(), "REMOVE_ADDR sent");
    assert!(removals.iter().all(|p| p.mptcp.remove_addr.expect("remove").ids() == [id]));
    let events = client.conn_events(0);
    let removed_at = events.iter().find(|(_, e)| *e == ConnEvent::AddressRemoved { id }).map(|(t, _)| *t);
    let removed_at = removed_at.expect("the client saw AddressRemoved");
    assert!(removed_at < withdrawn_at + Duration::from_millis(100), "promptly: {removed_at:?}");
    // Every subflow to the address (fullmesh has two: from each client address) is closing or
    // closed 300 ms later while the others carry on; nothing new went on them after the removal
    // arrived, and none was opened again.
    assert!(before > 0);
    let (to_it, others): (Vec<&SubflowSnapshot>, Vec<&SubflowSnapshot>) =
        mid.subflows.iter().partition(|s| s.remote.ip() == server_addr(1));
    assert_eq!(to_it.len(), 2, "{mid:#?}");
    for s in &to_it {
        assert!(!s.state.can_send(), "subflow {} to the removed address still open: {s:#?}", s.id);
        let after = new_data(&client_log, s.local, s.remote, removed_at, Instant::from_millis(u64::MAX / 1000));
        assert_eq!(after, 0, "new data on subflow {} after REMOVE_ADDR", s.id);
    }
    assert!(others.iter().all(|s| s.state.can_send()), "the other subflows carry on: {mid:#?}");
    let last = client.stats(0).expect("stats");
    assert_eq!(last.subflows.len(), mid.subflows.len(), "no subflow opened after the removal: {last:#?}");
    let syns_after = client_log
        .borrow()
        .iter()
        .filter(|p| p.at > removed_at && p.dst.ip() == server_addr(1) && p.flags.contains(TcpFlags::SYN))
        .count();
    assert_eq!(syns_after, 0, "no join to a removed address");
    assert_eq!(client.flows[0].closed.map(|c| c.1), Some(CloseReason::Normal));
}

// ---------------------------------------------------------------------------------------------
// MP_PRIO
// ---------------------------------------------------------------------------------------------

fn priority_events(h: &MultiHost, id: SubflowId) -> Vec<(Instant, bool)> {
    h.conn_events(0)
        .into_iter()
        .filter_map(|(t, e)| match e {
            ConnEvent::PriorityChanged(i, b) if i == id => Some((t, b)),
            _ => None,
        })
        .collect()
}

#[test]
fn mp_prio_moves_the_peers_data_off_a_subflow_and_back() {
    // Echo: the server sends as much as the client, so its scheduler is what MP_PRIO steers.
    let bytes = 48 << 20;
    let (c, s) = pair(bytes, 25, true, |_| {});
    let (client_log, server_log) = (Log::default(), Log::default());
    let client = Middlebox::new(c, logging(&client_log, pass));
    let server = Middlebox::new(s, logging(&server_log, pass));
    let mut sim = network(client, server, &two_links(50), 25);
    let sf = until_second_subflow(&mut sim);
    sim.run_for(Duration::from_millis(300)).expect("runs");
    let server_sf = |sim: &Sim<Middlebox<MultiHost>, Middlebox<MultiHost>>| {
        let s = sim.b().inner.stats(0).expect("server");
        s.subflows.into_iter().find(|s| s.remote == sf.local && s.local == sf.remote).expect("the server's side")
    };
    assert!(!server_sf(&sim).backup);

    let r = sim.a_mut().inner.with_connection(0, |c| c.set_backup(sf.id, true));
    r.expect("connection").expect("subflow exists");
    sim.run_for(Duration::from_millis(1000)).expect("runs");
    let as_backup = server_sf(&sim);
    assert!(as_backup.backup, "the server's snapshot shows the peer's backup flag");
    let r = sim.a_mut().inner.with_connection(0, |c| c.set_backup(sf.id, false));
    r.expect("connection").expect("subflow exists");
    sim.run_for(Duration::from_millis(1000)).expect("runs");
    assert!(!server_sf(&sim).backup, "regular again");
    run_multi_to_close(&mut sim, Duration::from_secs(60));
    let (client, server) = (&sim.a().inner, &sim.b().inner);
    assert_flow_intact(client, 0, server, true);

    let prio: Vec<Sent> = client_log.borrow().iter().filter(|p| p.mptcp.prio.is_some()).cloned().collect();
    assert_eq!(prio.len(), 2, "one MP_PRIO each way: {prio:#?}");
    assert!(prio.iter().all(|p| p.src == sf.local && p.dst == sf.remote), "sent on the subflow it is about");
    assert_eq!(prio.iter().map(|p| p.mptcp.prio.expect("prio").backup).collect::<Vec<_>>(), [true, false]);
    let changes = priority_events(server, as_backup.id);
    assert_eq!(changes.iter().map(|c| c.1).collect::<Vec<_>>(), [true, false], "server events: {changes:?}");
    let (backup_at, regular_at) = (changes[0].0, changes[1].0);
    assert!(regular_at - backup_at > Duration::from_millis(900));

    let on_it = |log: &Log, from, to| new_data(log, sf.remote, sf.local, from, to);
    let during = on_it(&server_log, backup_at, regular_at);
    let before = on_it(&server_log, backup_at - Duration::from_millis(500), backup_at);
    let after = on_it(&server_log, regular_at, regular_at + Duration::from_millis(500));
    eprintln!(
        "server's new data on the subflow: {before} B in the 500 ms before, {during} while backup, {after} in the 500 ms after"
    );
    // Fullmesh spreads the data over four subflows (the crossed pairs too), two per path.
    assert!(before > 250_000, "the subflow carried the server's data before: {before}");
    assert_eq!(during, 0, "the server sent new data on a backup subflow");
    assert!(after > 250_000, "and carries it again once regular: {after}");
    // Our own side stops using it too (we marked it backup ourselves).
    let mine = priority_events(client, sf.id);
    assert_eq!(mine.iter().map(|c| c.1).collect::<Vec<_>>(), [true, false], "client events: {mine:?}");
    let client_during = new_data(&client_log, sf.local, sf.remote, mine[0].0, mine[1].0);
    assert_eq!(client_during, 0, "the client sent new data on its backup subflow");
}

// ---------------------------------------------------------------------------------------------
// Schedulers
// ---------------------------------------------------------------------------------------------

/// New payload bytes each client subflow sent (retransmissions left out), by subflow id.
fn new_bytes(h: &MultiHost) -> Vec<(SubflowId, u64)> {
    let stats = h.stats(0).expect("stats");
    stats.subflows.iter().map(|s| (s.id, s.stats.bytes_sent - s.stats.bytes_retransmitted)).collect()
}

fn sum_new(h: &MultiHost) -> u64 {
    new_bytes(h).iter().map(|b| b.1).sum()
}

#[test]
fn the_scheduler_of_a_live_connection_can_be_switched() {
    let bytes = 64 << 20;
    let (c, s) = pair(bytes, 26, false, |_| {});
    let mut sim = network(c, s, &two_links(50), 26);
    until_second_subflow(&mut sim);
    sim.run_for(Duration::from_millis(200)).expect("runs");
    assert_eq!(sim.a().stats(0).expect("stats").scheduler, SchedulerKind::MinRtt);
    // Per phase: the scheduler, and (sent on the subflows, delivered) over its last 600 ms.
    let mut phases = Vec::new();
    for kind in [SchedulerKind::RoundRobin, SchedulerKind::Redundant, SchedulerKind::Blest, SchedulerKind::MinRtt] {
        sim.a_mut().with_connection(0, |c| c.set_scheduler(kind)).expect("connection");
        assert_eq!(sim.a().stats(0).expect("stats").scheduler, kind);
        sim.run_for(Duration::from_millis(200)).expect("runs");
        let (sent0, read0) = (sum_new(sim.a()), sim.b().flows[0].bytes_received());
        sim.run_for(Duration::from_millis(600)).expect("runs");
        let (sent1, read1) = (sum_new(sim.a()), sim.b().flows[0].bytes_received());
        phases.push((kind, sent1 - sent0, read1 - read0));
    }
    run_multi_to_close(&mut sim, Duration::from_secs(60));
    assert_flow_intact(sim.a(), 0, sim.b(), true);
    for &(kind, sent, read) in &phases {
        let copies = sent as f64 / read as f64;
        eprintln!(
            "{kind}: {:.1} Mbit/s delivered, {copies:.2} bytes sent per byte delivered",
            read as f64 * 8.0 / 0.6e6
        );
        assert!(read > 0, "{kind}: data flows");
        if kind == SchedulerKind::Redundant {
            assert!(copies > 1.8, "{kind}: every byte goes on both subflows: {copies:.2}");
        } else {
            assert!(copies < 1.1, "{kind}: one copy of each byte: {copies:.2}");
            // Two 50 Mbit/s paths: the non-redundant schedulers use both.
            assert!(read as f64 * 8.0 / 0.6 > 80e6, "{kind}: both paths in use");
        }
    }
}

/// Redundant over two subflows, one per path: fullmesh over two paths opens four (the crossed
/// pairs share the paths), so the limit keeps it to the initial subflow and one join.
fn redundant(b: &mut EndpointConfig) {
    b.connection.scheduler = SchedulerKind::Redundant;
    b.connection.max_subflows = 2;
}

#[test]
fn redundant_sends_everything_on_every_subflow() {
    let bytes = 16 << 20;
    let (c, s) = pair(bytes, 27, false, redundant);
    let mut sim = network(c, s, &two_links(50), 27);
    sim.run_until(|a, _, _| a.flows[0].left_to_send() == 0, Instant::from_millis(30_000)).expect("runs");
    let per = new_bytes(sim.a());
    run_multi_to_close(&mut sim, Duration::from_secs(60));
    assert_flow_intact(sim.a(), 0, sim.b(), true);
    let stats = sim.a().stats(0).expect("stats");
    assert_eq!(stats.scheduler, SchedulerKind::Redundant);
    let final_per = new_bytes(sim.a());
    eprintln!("new bytes per subflow: {final_per:?} of {bytes}");
    let used: Vec<u64> = final_per.iter().map(|b| b.1).filter(|&b| b > 0).collect();
    assert_eq!(used.len(), 2, "two working subflows: {final_per:?} (when the last byte was written: {per:?})");
    let locals: std::collections::BTreeSet<IpAddr> = stats.subflows.iter().map(|s| s.local.ip()).collect();
    assert_eq!(locals.len(), 2, "one subflow from each client address, so over each path: {stats:#?}");
    for b in used {
        // The second subflow joins a few round trips in: it misses the first segments.
        assert!(b as f64 >= 0.95 * bytes as f64, "a subflow carried only {b} of {bytes} bytes");
    }
}

#[test]
fn redundant_survives_a_path_going_black() {
    let bytes = 32 << 20;
    let (c, s) = pair(bytes, 28, false, redundant);
    let mut sim = network(c, s, &two_links(50), 28);
    until_second_subflow(&mut sim);
    let cut = sim.now() + Duration::from_millis(500);
    let cut = Instant::from_millis(cut.as_micros().div_ceil(50_000) * 50);
    let mut blackholed = false;
    let stall = run_multi_watching(&mut sim, Duration::from_secs(60), Duration::from_millis(50), |sim| {
        if sim.now() >= cut && !blackholed {
            blackholed = true;
            for d in [Direction::AToB, Direction::BToA] {
                sim.path_mut(1).link_mut(d).set_blackhole(true);
            }
        }
    });
    assert!(blackholed, "the transfer lasted past the cut");
    assert_flow_intact(sim.a(), 0, sim.b(), true);
    let f = &sim.b().flows[0];
    let took = f.eof_at.expect("eof") - f.established.expect("established").0;
    eprintln!("longest stall {stall:?}; transfer took {took:?}");
    assert!(stall <= Duration::from_secs(1), "stalled for {stall:?}");
    // 32 MiB on the remaining 50 Mbit/s path takes ~5.6 s; allow little more.
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

// ---------------------------------------------------------------------------------------------
// Hostile joins
// ---------------------------------------------------------------------------------------------

const US: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1));

#[test]
fn a_join_for_an_unknown_token_is_refused_with_mp_tcprst() {
    let mut e = Endpoint::new(EndpointConfig::default(), Box::new(StdRng::seed_from_u64(7)));
    e.listen(SocketAddr::new(US, 80));
    let mut options = TcpOptions { mss: Some(1460), ..TcpOptions::default() };
    options.mptcp.join = Some(JoinRepr::Syn { backup: false, addr_id: 1, token: 0x1234_5678, nonce: 42 });
    let syn = SegmentRepr {
        src: PEER,
        dst: US,
        tos: 0,
        hop_limit: 64,
        src_port: 40000,
        dst_port: 80,
        seq: 1000,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 65535,
        options,
        payload: &[],
    };
    let mut buf = vec![0; 1600];
    let (n, _) = syn.emit(&mut buf, ChecksumMode::Full).expect("fits");
    e.handle(Instant::ZERO, &buf[..n]);
    let mut out = Vec::new();
    let mut tx = vec![0; 2000];
    while let Some(n) = e.poll_transmit(Instant::ZERO, &mut tx) {
        out.push(tx[..n].to_vec());
    }
    assert_eq!(out.len(), 1, "one answer");
    let rst = parse(&out[0]);
    assert!(rst.flags.contains(TcpFlags::RST), "a RST: {rst:?}");
    assert_eq!((rst.src_port, rst.dst_port, rst.ack), (80, 40000, 1001));
    assert_eq!(rst.options.mptcp.tcp_rst.map(|r| r.reason), Some(ResetReason::MptcpError), "with MP_TCPRST");
    assert_eq!(e.stats().joins_refused, 1);
    assert_eq!(e.poll_event(), None, "no connection, no event");
    assert!(e.accept().is_none());
    assert!(e.connection(mptcp_stack::endpoint::ConnectionHandle(0)).is_none());
    assert_eq!(e.poll_timeout(), None, "no state kept");
}

#[test]
fn a_replayed_join_syn_does_not_disturb_the_connection() {
    let bytes = 32 << 20;
    let (c, s) = pair(bytes, 29, false, |_| {});
    let (client_log, server_log) = (Log::default(), Log::default());
    let captured: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
    let keep = Rc::clone(&captured);
    let client = Middlebox::new(
        c,
        logging(&client_log, move |_, seg, packet| {
            if matches!(seg.options.mptcp.join, Some(JoinRepr::Syn { .. })) && seg.src == client_addr(1) {
                keep.borrow_mut().get_or_insert_with(|| packet.to_vec());
            }
            Verdict::Pass
        }),
    );
    let server = Middlebox::new(s, logging(&server_log, pass));
    let mut sim = network(client, server, &two_links(50), 29);
    let sf = until_second_subflow(&mut sim);
    sim.run_for(Duration::from_millis(300)).expect("runs");
    let syn = captured.borrow().clone().expect("the join SYN went by");
    let mut forged = parse(&syn);
    assert_eq!(SocketAddr::new(forged.src, forged.src_port), sf.local, "the SYN of the working join");
    let server_subflows =
        |sim: &Sim<Middlebox<MultiHost>, Middlebox<MultiHost>>| sim.b().inner.stats(0).expect("server").subflows;
    let before = server_subflows(&sim).len();

    // 1. The same SYN again, on the established 4-tuple: RFC 5961 §4 challenge ACK, no reset.
    let now = sim.now();
    sim.b_mut().handle_packet(now, &syn);
    sim.run_for(Duration::from_millis(300)).expect("runs");
    assert_eq!(server_subflows(&sim).len(), before, "no new subflow for a replay on the same 4-tuple");

    // 2. The same SYN from another port (an attacker who saw it): the server answers it as a
    //    new join, but only the real client could complete it (§3.2: the HMAC of the third ACK
    //    covers the server's fresh nonce); the client resets the unknown SYN/ACK.
    forged.src_port = 40_000;
    let mut buf = vec![0; 1600];
    let (n, _) = forged.emit(&mut buf, ChecksumMode::Full).expect("fits");
    let now = sim.now();
    let replayed_at = now;
    sim.b_mut().handle_packet(now, &buf[..n]);
    sim.run_for(Duration::from_millis(300)).expect("runs");
    let forged_local = SocketAddr::new(client_addr(1), 40_000);
    let extra: Vec<SubflowSnapshot> = server_subflows(&sim).into_iter().filter(|s| s.remote == forged_local).collect();
    assert!(extra.iter().all(|s| !s.fully_established && s.stats.bytes_received == 0), "{extra:#?}");
    let client_rst = client_log.borrow().iter().any(|p| p.src == forged_local && p.flags.contains(TcpFlags::RST));
    assert!(client_rst, "the client resets the SYN/ACK of a join it never sent");

    run_multi_to_close(&mut sim, Duration::from_secs(60));
    let (client, server) = (&sim.a().inner, &sim.b().inner);
    assert_flow_intact(client, 0, server, true);
    assert_eq!(client.flows[0].closed.map(|c| c.1), Some(CloseReason::Normal));
    assert_eq!(server.flows[0].closed.map(|c| c.1), Some(CloseReason::Normal));
    // The real join kept working after both replays.
    let after = new_data(&client_log, sf.local, sf.remote, replayed_at, Instant::from_millis(u64::MAX / 1000));
    assert!(after > 1_000_000, "the joined subflow carried on: {after} bytes after the replays");
    // It ended with the connection, not before: no reset, no timeout.
    let events = client.conn_events(0);
    let ended = events.iter().find(|(_, e)| matches!(e, ConnEvent::SubflowClosed(i, _) if *i == sf.id));
    assert!(ended.is_none_or(|(_, e)| *e == ConnEvent::SubflowClosed(sf.id, SubflowEnd::Closed)), "{events:?}");
    let server_events = server.conn_events(0);
    assert!(!server_events.iter().any(|(_, e)| matches!(e, ConnEvent::Closed(r) if *r != CloseReason::Normal)));
    assert_eq!(sim.b().inner.endpoint.stats().joins_refused, 0, "the token was valid: answered, not refused");
}

#[test]
fn a_syn_ack_with_a_bad_join_hmac_resets_that_subflow() {
    let bytes = 32 << 20;
    let (c, s) = pair(bytes, 30, false, |_| {});
    let (client_log, server_log) = (Log::default(), Log::default());
    let mut forged = 0;
    let client = Middlebox::new(c, logging(&client_log, pass));
    let server = Middlebox::new(
        s,
        logging(&server_log, move |_, seg, _| match seg.options.mptcp.join {
            // Only the first: the path manager's retry must then succeed.
            Some(JoinRepr::SynAck { backup, addr_id, truncated_hmac, nonce }) if forged == 0 => {
                forged += 1;
                rewrite(seg, |o| {
                    let truncated_hmac = truncated_hmac ^ 0x8000_0000_0000_0000;
                    o.join = Some(JoinRepr::SynAck { backup, addr_id, truncated_hmac, nonce });
                })
            }
            _ => Verdict::Pass,
        }),
    );
    let mut sim = network(client, server, &two_links(50), 30);
    let sf = until_second_subflow(&mut sim);
    let live = sim.a().inner.stats(0).expect("client");
    run_multi_to_close(&mut sim, Duration::from_secs(60));
    let (client, server) = (&sim.a().inner, &sim.b().inner);
    assert_flow_intact(client, 0, server, true);
    assert_eq!(sim.b().touched, 1);
    assert!(live.join_failures >= 1, "the client refused the join: {live:#?}");

    // The forged SYN/ACK and the client's answer: RST with MP_TCPRST on that 4-tuple.
    let synack = server_log.borrow().iter().find(|p| matches!(p.mptcp.join, Some(JoinRepr::SynAck { .. }))).cloned();
    let synack = synack.expect("a SYN/ACK");
    let rst = client_log.borrow().iter().find(|p| p.src == synack.dst && p.flags.contains(TcpFlags::RST)).cloned();
    let rst = rst.expect("the client reset the subflow");
    assert_eq!(rst.mptcp.tcp_rst.map(|r| r.reason), Some(ResetReason::MptcpError));
    assert!(rst.at >= synack.at);
    let no_ack =
        client_log.borrow().iter().any(|p| p.src == synack.dst && matches!(p.mptcp.join, Some(JoinRepr::Ack { .. })));
    assert!(!no_ack, "no third ACK for a SYN/ACK that failed its HMAC");
    assert_ne!(sf.local, synack.dst, "the subflow that works is a later one");
    let failed = live.subflows.iter().find(|s| s.local == synack.dst).expect("the failed subflow");
    assert!(!failed.fully_established && failed.stats.bytes_sent == 0);
    assert_eq!(client.flows[0].closed.map(|c| c.1), Some(CloseReason::Normal));
}
