//! The per-subflow controls the socket API builds on, in the simulator over two paths: the
//! traffic class, a cap on the segment size, Nagle's algorithm, congestion-control switches
//! mid-transfer, writes pinned to one subflow, and what each refuses; the connection-wide
//! defaults of later subflows; a subflow asked for before the connection is fully established;
//! when a closed subflow is reported.
//!
//! The client is an application of its own ([`Client`]): the manual path manager (the test
//! opens the second subflow, and may set its options before its SYN leaves), the writes each
//! test asks for, and a record of every packet it sends, parsed with its checksums (the IPv4
//! header's too) verified. The server is the bulk-transfer server; every transfer is checked
//! end to end by SHA-256 of what the client wrote against what the server read.

use std::net::SocketAddr;
use std::time::Duration;

use mptcp_stack::cc::{self, Algorithm};
use mptcp_stack::connection::path_manager::PathManagerKind;
use mptcp_stack::connection::{
    ConnEvent, Connection, FallbackReason, Mode, SubflowError, SubflowOption, SubflowOptionKind, SubflowSnapshot,
};
use mptcp_stack::endpoint::{ConnectionHandle, Endpoint, EndpointConfig, Event};
use mptcp_stack::scheduler::SchedulerKind;
use mptcp_stack::subflow::{SubflowEnd, SubflowId, TcpState};
use mptcp_stack::time::Instant;
use mptcp_stack::wire::TcpFlags;
use mptcp_tests::multi_host::PatternStream;
use mptcp_tests::{
    Middlebox, PORT, Verdict, client_addr, conn_stats, link, multipath_configs, network, parse, server, server_addr,
    strip_mptcp,
};
use mptcp_tun_driver::link::LinkConfig;
use mptcp_tun_driver::sim::{Direction, EndpointHost, Host, Simulator};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;

/// One packet the client sent.
#[derive(Debug, Clone, Copy)]
struct Sent {
    at: Instant,
    local: SocketAddr,
    seq: u32,
    syn: bool,
    mss_option: Option<u16>,
    tos: u8,
    payload: usize,
    /// The data sequence numbers its DSS mapping covers (RFC 8684 §3.3.1; the stack sends
    /// 64-bit ones).
    dsn: Option<(u64, u64)>,
}

/// Small writes at a steady pace.
#[derive(Debug, Clone, Copy)]
struct Trickle {
    size: usize,
    every: Duration,
    left: u32,
    next: Instant,
}

/// The client application: one connection to the server's address on path 0.
#[derive(Debug)]
struct Client {
    endpoint: Endpoint,
    conn: ConnectionHandle,
    established: bool,
    /// Subflows established at the MPTCP level.
    up: Vec<SubflowId>,
    /// Subflows reported closed: when, which, how.
    ended: Vec<(Instant, SubflowId, SubflowEnd)>,
    closed: bool,
    /// Bytes still to write, as fast as the send buffer takes them.
    bulk: u64,
    trickle: Option<Trickle>,
    /// Shut down once everything asked for is written.
    finish: bool,
    shut: bool,
    source: PatternStream,
    hash: Sha256,
    written: u64,
    /// The next data packet from this address is lost; then it is noted in `dropped`.
    drop_next_from: Option<SocketAddr>,
    dropped: Option<Sent>,
    sent: Vec<Sent>,
    /// When the first packet with payload arrived.
    first_data_in: Option<Instant>,
}

impl Client {
    fn new(config: EndpointConfig, seed: u64) -> Client {
        let mut endpoint = Endpoint::new(config, Box::new(StdRng::seed_from_u64(seed)));
        let conn = endpoint.connect(client_addr(0), SocketAddr::new(server_addr(0), PORT)).expect("connect");
        Client {
            endpoint,
            conn,
            established: false,
            up: Vec::new(),
            ended: Vec::new(),
            closed: false,
            bulk: 0,
            trickle: None,
            finish: false,
            shut: false,
            source: PatternStream::new(seed),
            hash: Sha256::new(),
            written: 0,
            drop_next_from: None,
            dropped: None,
            sent: Vec::new(),
            first_data_in: None,
        }
    }

    /// Runs `f` on the connection (its events are taken at the next step).
    fn with<R>(&mut self, f: impl FnOnce(&mut Connection) -> R) -> R {
        self.endpoint.with_connection(self.conn, f).expect("the connection is open")
    }

    fn conn(&self) -> &Connection {
        self.endpoint.connection(self.conn).expect("the connection is open")
    }

    fn snapshot(&self, id: SubflowId) -> SubflowSnapshot {
        self.conn().subflow_snapshot(id).expect("a known subflow")
    }

    /// Writes up to `n` bytes of the stream, pinned to subflow `pin` if given; what the send
    /// buffer takes goes into the hash.
    fn write(&mut self, n: u64, pin: Option<SubflowId>) -> Result<usize, SubflowError> {
        let free = self.endpoint.connection(self.conn).map_or(0, Connection::writable);
        let mut buf = vec![0; (n as usize).min(free)];
        self.source.fill(&mut buf);
        let taken = self.with(|c| match pin {
            Some(id) => c.write_on(id, &buf),
            None => Ok(c.write(&buf)),
        })?;
        assert_eq!(taken, buf.len(), "the send buffer takes what writable() promised");
        self.hash.update(&buf);
        self.written += taken as u64;
        Ok(taken)
    }

    fn step(&mut self, now: Instant) {
        while let Some(Event::Connection(_, e)) = self.endpoint.poll_event() {
            match e {
                ConnEvent::Established { .. } => self.established = true,
                ConnEvent::SubflowEstablished(id) => self.up.push(id),
                ConnEvent::SubflowClosed(id, end) => self.ended.push((now, id, end)),
                ConnEvent::Closed(_) => self.closed = true,
                _ => {}
            }
        }
        if self.closed {
            return;
        }
        let mut buf = [0; 4096];
        while self.endpoint.with_connection(self.conn, |c| c.read(&mut buf)).flatten().is_some_and(|n| n > 0) {}
        while self.bulk > 0 {
            let n = self.write(self.bulk.min(64 << 10), None).expect("a write");
            if n == 0 {
                break;
            }
            self.bulk -= n as u64;
        }
        if let Some(mut t) = self.trickle.filter(|t| t.left > 0 && t.next <= now) {
            self.write(t.size as u64, None).expect("a small write");
            (t.left, t.next) = (t.left - 1, now + t.every);
            self.trickle = Some(t);
        }
        let written_all = self.bulk == 0 && self.trickle.is_none_or(|t| t.left == 0);
        if self.finish && written_all && !self.shut {
            self.shut = true;
            self.with(Connection::shutdown);
        }
    }

    /// Payload packets sent from `local`, from the `since`-th packet sent on.
    fn data_from(&self, local: SocketAddr, since: usize) -> impl Iterator<Item = &Sent> {
        self.sent[since..].iter().filter(move |p| p.local == local && p.payload > 0)
    }
}

impl Host for Client {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        if self.first_data_in.is_none() && !parse(packet).payload.is_empty() {
            self.first_data_in = Some(now);
        }
        self.endpoint.handle(now, packet);
        self.step(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.step(now);
        loop {
            let n = self.endpoint.poll_transmit(now, buf)?;
            let seg = parse(&buf[..n]);
            let sent = Sent {
                at: now,
                local: SocketAddr::new(seg.src, seg.src_port),
                seq: seg.seq,
                syn: seg.flags.contains(TcpFlags::SYN),
                mss_option: seg.options.mss,
                tos: seg.tos,
                payload: seg.payload.len(),
                dsn: seg.options.mptcp.dss.and_then(|d| d.mapping).map(|m| {
                    let dsn = m.dsn.expand(0);
                    (dsn, dsn + u64::from(m.data_len))
                }),
            };
            self.sent.push(sent);
            if sent.payload > 0 && self.drop_next_from == Some(sent.local) {
                self.drop_next_from = None;
                self.dropped = Some(sent);
                continue;
            }
            return Some(n);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let trickle = self.trickle.filter(|t| t.left > 0 && !self.closed).map(|t| t.next);
        self.endpoint.poll_timeout().into_iter().chain(trickle).min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.step(now);
    }
}

type Sim = Simulator<Client, EndpointHost>;

/// The client, with an address on both paths and the manual path manager, and the bulk server
/// (`server` adjusts its settings), over one path per link.
fn sim_with(links: &[LinkConfig], seed: u64, server_config: impl FnOnce(&mut EndpointConfig)) -> Sim {
    let (mut c, mut s) = multipath_configs(2, &EndpointConfig::default());
    c.connection.path_manager = PathManagerKind::Manual;
    server_config(&mut s);
    network(Client::new(c, seed), server(s, seed, false), links, seed)
}

fn sim(links: &[LinkConfig], seed: u64) -> Sim {
    sim_with(links, seed, |_| {})
}

/// Runs until `done` holds, for at most `limit` of virtual time.
fn run_until(sim: &mut Sim, limit: Duration, done: impl Fn(&Client) -> bool) {
    let deadline = sim.now() + limit;
    if let Err(e) = sim.run_until(|a, _, _| done(a), deadline) {
        panic!("{e:?} at {:?}: client {:#?}", sim.now(), sim.a().endpoint.connection(sim.a().conn).map(|c| c.stats()));
    }
}

/// Runs until the connection is fully established (the client's first bytes DATA_ACKed, RFC
/// 8684 §3.1), opens the second subflow (from the client's address on path 1 to the server's),
/// lets `before_syn` act on it before its SYN leaves, and runs until it is established at the
/// MPTCP level; returns its id.
fn second_subflow(sim: &mut Sim, before_syn: impl FnOnce(&mut Client, SubflowId)) -> SubflowId {
    run_until(sim, Duration::from_secs(5), |c| c.established);
    sim.a_mut().write(1000, None).expect("a first write");
    run_until(sim, Duration::from_secs(5), |c| c.conn().can_join());
    let (local, remote) = (SocketAddr::new(client_addr(1), 0), SocketAddr::new(server_addr(1), PORT));
    let id = sim.a_mut().with(|c| c.open_subflow(local, remote, false)).expect("a subflow can be opened");
    before_syn(sim.a_mut(), id);
    run_until(sim, Duration::from_secs(5), |c| c.up.contains(&id));
    id
}

/// Runs until everything written so far is DATA_ACKed.
fn run_until_acked(sim: &mut Sim, limit: Duration) {
    run_until(sim, limit, |c| c.bulk == 0 && c.conn().stats().bytes_acked == c.written);
}

/// Lets the client shut down once everything asked for is written, runs until both sides
/// closed, and checks that what the client wrote arrived intact.
fn finish(sim: &mut Sim, limit: Duration) {
    sim.a_mut().finish = true;
    let deadline = sim.now() + limit;
    if let Err(e) = sim.run_until(|a, b, _| a.closed && b.transfer.is_closed(), deadline) {
        panic!("{e:?}: client {:#?}\nserver {:#?}", sim.a().conn().stats(), conn_stats(sim.b()));
    }
    let (client, report) = (sim.a(), sim.b().transfer.report());
    assert!(report.eof_at.is_some(), "the server read to the end");
    assert_eq!(report.bytes_received, client.written, "the server read everything");
    let hash: String = client.hash.clone().finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(report.sha256_received, hash, "intact");
}

fn set(sim: &mut Sim, id: SubflowId, option: SubflowOption) {
    sim.a_mut().with(|c| c.set_subflow_option(id, option)).unwrap_or_else(|e| panic!("{option:?}: {e}"));
}

/// Payload bytes subflow `id` sent so far.
fn bytes_sent(sim: &Sim, id: SubflowId) -> u64 {
    sim.a().snapshot(id).stats.bytes_sent
}

#[test]
fn traffic_class_marks_every_packet_of_its_subflow_and_no_other() {
    let mut sim = sim(&[link(50, 10), link(50, 10)], 1);
    // Set before the subflow's SYN leaves: every packet it ever sends carries the class.
    let id = second_subflow(&mut sim, |c, id| {
        c.with(|conn| conn.set_subflow_option(id, SubflowOption::TrafficClass(0xb8))).expect("settable before the SYN");
    });
    let read = sim.a_mut().with(|c| c.subflow_option(id, SubflowOptionKind::TrafficClass));
    assert_eq!(read, Ok(SubflowOption::TrafficClass(0xb8)));
    let marked = sim.a().snapshot(id);
    assert_eq!(marked.traffic_class, 0xb8);
    sim.a_mut().bulk = 4 * MIB;
    finish(&mut sim, Duration::from_secs(60));
    let c = sim.a();
    let (on, off): (Vec<&Sent>, Vec<&Sent>) = c.sent.iter().partition(|p| p.local == marked.local);
    assert!(on.iter().any(|p| p.syn), "the subflow's SYN was recorded");
    assert!(on.iter().filter(|p| p.payload > 0).count() > 100, "the subflow carried data");
    assert!(on.iter().all(|p| p.tos == 0xb8), "{:?}", on.iter().find(|p| p.tos != 0xb8));
    assert!(off.iter().any(|p| p.payload > 0), "the initial subflow carried data");
    assert!(off.iter().all(|p| p.tos == 0), "{:?}", off.iter().find(|p| p.tos != 0));
    // Every packet was parsed above with its IPv4 header checksum checked; so did the server.
    assert_eq!(sim.b().endpoint.stats().malformed, 0);
}

#[test]
fn a_segment_size_cap_bounds_every_segment_of_its_subflow_from_then_on() {
    let mut sim = sim(&[link(50, 10), link(50, 10)], 2);
    let id = second_subflow(&mut sim, |_, _| {});
    sim.a_mut().bulk = 8 * MIB;
    sim.run_for(Duration::from_millis(500)).expect("runs");
    let local = sim.a().snapshot(id).local;
    // Timestamps (12 bytes) and the DSS (28) come off the MSS.
    assert_eq!(sim.a().snapshot(id).mss, 1460 - 40);
    // A full-sized segment is lost just before the cap: it must go again in pieces that fit.
    sim.a_mut().drop_next_from = Some(local);
    run_until(&mut sim, Duration::from_secs(1), |c| c.dropped.is_some());
    let set_at = sim.a().sent.len();
    set(&mut sim, id, SubflowOption::MaxSegmentSize(600));
    assert_eq!(sim.a().snapshot(id).mss, 600 - 40);
    let read = sim.a_mut().with(|c| c.subflow_option(id, SubflowOptionKind::MaxSegmentSize));
    assert_eq!(read, Ok(SubflowOption::MaxSegmentSize(600)));
    assert_eq!(sim.a().snapshot(0).mss, 1460 - 40, "the other subflow keeps its size");
    finish(&mut sim, Duration::from_secs(60));
    let c = sim.a();
    assert!(c.sent[..set_at].iter().any(|p| p.local == local && p.payload > 600), "larger ones before");
    let after: Vec<_> = c.data_from(local, set_at).collect();
    assert!(after.len() > 100, "the subflow carried data after the cap: {} segments", after.len());
    assert!(after.iter().all(|p| p.payload <= 560), "{:?}", after.iter().find(|p| p.payload > 560));
    let lost = c.dropped.expect("a segment was lost");
    assert!(lost.payload > 600);
    let resent: usize =
        after.iter().filter(|p| p.seq.wrapping_sub(lost.seq) < lost.payload as u32).map(|p| p.payload).sum();
    assert!(resent >= lost.payload, "the lost segment went again, in pieces: {resent} of {} bytes", lost.payload);
}

#[test]
fn a_segment_size_cap_set_before_the_syn_is_advertised() {
    let mut sim = sim(&[link(50, 10), link(50, 10)], 3);
    let id = second_subflow(&mut sim, |c, id| {
        c.with(|conn| conn.set_subflow_option(id, SubflowOption::MaxSegmentSize(600))).expect("settable");
    });
    let local = sim.a().snapshot(id).local;
    let syn = sim.a().sent.iter().find(|p| p.local == local && p.syn).expect("its SYN");
    assert_eq!(syn.mss_option, Some(600));
    // The server sends with our 600, less its options.
    let server = conn_stats(sim.b()).expect("the server's connection");
    let theirs = server.subflows.iter().find(|s| s.remote == local).expect("the server's side of it");
    assert_eq!(theirs.mss, 600 - 40);
    sim.a_mut().bulk = MIB;
    finish(&mut sim, Duration::from_secs(60));
    assert!(sim.a().data_from(local, 0).all(|p| p.payload <= 560));
}

/// Data segments the client sends while writing 100 bytes every millisecond 2000 times, with
/// `nodelay` on both subflows.
fn small_writes(nodelay: bool) -> usize {
    let mut sim = sim(&[link(100, 10), link(100, 10)], 4);
    let id = second_subflow(&mut sim, |_, _| {});
    for sf in [0, id] {
        set(&mut sim, sf, SubflowOption::NoDelay(nodelay));
        let read = sim.a_mut().with(|c| c.subflow_option(sf, SubflowOptionKind::NoDelay));
        assert_eq!(read, Ok(SubflowOption::NoDelay(nodelay)));
        assert_eq!(sim.a().snapshot(sf).nodelay, nodelay);
    }
    let (start, next) = (sim.a().sent.len(), sim.now());
    let every = Duration::from_millis(1);
    sim.a_mut().trickle = Some(Trickle { size: 100, every, left: 2000, next });
    finish(&mut sim, Duration::from_secs(60));
    sim.a().sent[start..].iter().filter(|p| p.payload > 0).count()
}

#[test]
fn nagle_holds_small_writes_back_while_data_is_in_flight() {
    let at_once = small_writes(true);
    let nagle = small_writes(false);
    eprintln!("data segments: {at_once} without Nagle, {nagle} with");
    assert!(at_once >= 1900, "without Nagle every write leaves at once: {at_once} segments");
    assert!(nagle * 4 < at_once, "Nagle gathers small writes: {nagle} segments against {at_once}");
}

#[test]
fn congestion_control_switches_mid_transfer_keep_the_windows() {
    let mut sim = sim(&[link(50, 20), link(50, 20)], 5);
    let id = second_subflow(&mut sim, |_, _| {});
    sim.a_mut().bulk = 12 * MIB;
    sim.run_for(Duration::from_millis(800)).expect("runs");
    // One subflow: Cubic to Reno.
    let before = sim.a().snapshot(id);
    assert_eq!(before.congestion_control, Algorithm::Cubic);
    assert!(before.cwnd > cc::initial_window(u32::from(before.mss)), "the window grew: {before:#?}");
    set(&mut sim, id, SubflowOption::CongestionControl(Algorithm::Reno));
    let after = sim.a().snapshot(id);
    assert_eq!(after.congestion_control, Algorithm::Reno);
    assert_eq!((after.cwnd, after.ssthresh), (before.cwnd, before.ssthresh), "the window carried over");
    assert_eq!(sim.a().snapshot(0).congestion_control, Algorithm::Cubic, "the other subflow keeps its own");
    let read = sim.a_mut().with(|c| c.subflow_option(id, SubflowOptionKind::CongestionControl));
    assert_eq!(read, Ok(SubflowOption::CongestionControl(Algorithm::Reno)));
    sim.run_for(Duration::from_millis(500)).expect("runs");
    // The whole connection: both subflows to LIA, live, each keeping its window.
    let before = [sim.a().snapshot(0), sim.a().snapshot(id)];
    sim.a_mut().with(|c| c.set_congestion_control(Algorithm::Lia));
    assert_eq!(sim.a().conn().stats().congestion_control, Algorithm::Lia);
    for b in &before {
        let now = sim.a().snapshot(b.id);
        assert_eq!(now.congestion_control, Algorithm::Lia);
        assert_eq!((now.cwnd, now.ssthresh), (b.cwnd, b.ssthresh), "subflow {}", b.id);
    }
    // A subflow opened afterwards starts with LIA.
    let (local, remote) = (SocketAddr::new(client_addr(0), 0), SocketAddr::new(server_addr(1), PORT));
    let third = sim.a_mut().with(|c| c.open_subflow(local, remote, false)).expect("a third subflow");
    assert_eq!(sim.a().snapshot(third).congestion_control, Algorithm::Lia);
    sim.run_for(Duration::from_millis(300)).expect("runs");
    for b in &before {
        let now = sim.a().snapshot(b.id);
        assert!(now.cwnd > cc::initial_window(u32::from(now.mss)), "no collapse: {now:#?}");
    }
    finish(&mut sim, Duration::from_secs(60));
}

#[test]
fn pinned_writes_go_out_on_their_subflow_only() {
    // The redundant scheduler copies every segment on every subflow, but not pinned ones.
    for scheduler in [SchedulerKind::MinRtt, SchedulerKind::Redundant] {
        let mut sim = sim(&[link(50, 10), link(20, 30)], 6);
        sim.a_mut().with(|c| c.set_scheduler(scheduler));
        let id = second_subflow(&mut sim, |_, _| {});
        // Unpinned data: both subflows carry some.
        sim.a_mut().bulk = 2 * MIB;
        run_until_acked(&mut sim, Duration::from_secs(30));
        let (a0, a1) = (bytes_sent(&sim, 0), bytes_sent(&sim, id));
        assert!(a0 > 0 && a1 > 0, "{scheduler}: both subflows carried data: {a0}, {a1}");
        // Only pinned bytes, on the slower path: the initial subflow carries none of them.
        assert_eq!(sim.a_mut().write(2 * MIB, Some(id)), Ok(2 << 20));
        run_until_acked(&mut sim, Duration::from_secs(30));
        let (b0, b1) = (bytes_sent(&sim, 0), bytes_sent(&sim, id));
        assert_eq!(b0, a0, "{scheduler}: the initial subflow carried no pinned byte");
        assert!(b1 - a1 >= 2 * MIB, "{scheduler}: the pinned subflow carried them all: {}", b1 - a1);
        // Pinned bytes, then unpinned ones: the initial subflow goes on with the later data.
        assert_eq!(sim.a_mut().write(MIB, Some(id)), Ok(1 << 20));
        sim.a_mut().bulk = 2 * MIB;
        run_until_acked(&mut sim, Duration::from_secs(30));
        let (c0, c1) = (bytes_sent(&sim, 0), bytes_sent(&sim, id));
        assert!(c0 - b0 >= MIB, "{scheduler}: the initial subflow carried later data: {}", c0 - b0);
        assert!(c1 - b1 >= MIB, "{scheduler}: the pinned subflow carried the pinned bytes: {}", c1 - b1);
        finish(&mut sim, Duration::from_secs(60));
    }
}

/// Bytes of `pinned` the DSS mappings of `packets` cover.
fn pinned_bytes<'a>(packets: impl Iterator<Item = &'a Sent>, pinned: (u64, u64)) -> u64 {
    packets.filter_map(|p| p.dsn).map(|(start, end)| end.min(pinned.1).saturating_sub(start.max(pinned.0))).sum()
}

#[test]
fn pinned_bytes_holding_up_the_window_are_not_copied_to_free_it() {
    // A small receive window at the server and the pinned bytes on the slow path: they hold up
    // the window while the fast subflow has later data; it waits for them instead of sending
    // them again (the opportunistic reinjection unpinned bytes get).
    let mut sim = sim_with(&[link(50, 10), link(5, 50)], 11, |s| s.connection.recv_buffer = 128 << 10);
    let id = second_subflow(&mut sim, |_, _| {});
    // The client's first data byte has DSN IDSN + 1 (RFC 8684 §3.1).
    let start = sim.a().conn().local_key().idsn().wrapping_add(1) + sim.a().written;
    let pinned = (start, start + (256 << 10));
    let (since, before) = (sim.a().sent.len(), bytes_sent(&sim, 0));
    assert_eq!(sim.a_mut().write(256 << 10, Some(id)), Ok(256 << 10));
    sim.a_mut().bulk = 2 * MIB;
    run_until_acked(&mut sim, Duration::from_secs(60));
    let stats = sim.a().conn().stats();
    assert!(stats.bytes_reinjected > 0, "the window was held up: {stats:#?}");
    assert!(bytes_sent(&sim, 0) - before >= MIB, "the fast subflow carried the later data");
    let c = sim.a();
    let (fast, slow) = (c.snapshot(0).local, c.snapshot(id).local);
    assert_eq!(pinned_bytes(c.data_from(fast, since), pinned), 0, "no pinned byte on the fast subflow");
    assert!(pinned_bytes(c.data_from(slow, since), pinned) >= pinned.1 - pinned.0, "all on the pinned one");
    finish(&mut sim, Duration::from_secs(60));
}

/// Drops every packet on `path`, both ways (or, with `on` false, none any more).
fn blackhole(sim: &mut Sim, path: usize, on: bool) {
    for d in [Direction::AToB, Direction::BToA] {
        sim.path_mut(path).link_mut(d).set_blackhole(on);
    }
}

#[test]
fn pinned_bytes_wait_for_their_stalled_subflow() {
    let mut sim = sim(&[link(50, 10), link(50, 10)], 7);
    let id = second_subflow(&mut sim, |_, _| {});
    sim.a_mut().bulk = MIB;
    run_until_acked(&mut sim, Duration::from_secs(30));
    let before = bytes_sent(&sim, 0);
    // The pinned subflow's path goes dark: it times out, and its bytes wait for it rather than
    // going on the other subflow (which would take any unpinned ones).
    blackhole(&mut sim, 1, true);
    assert_eq!(sim.a_mut().write(MIB, Some(id)), Ok(1 << 20));
    sim.run_for(Duration::from_millis(1500)).expect("runs");
    assert!(sim.a().snapshot(id).stats.rto_count > 0, "the pinned subflow stalled");
    assert_eq!(bytes_sent(&sim, 0), before, "nothing went on the initial subflow");
    blackhole(&mut sim, 1, false);
    run_until_acked(&mut sim, Duration::from_secs(30));
    assert_eq!(bytes_sent(&sim, 0), before, "the pinned subflow delivered them once back");
    finish(&mut sim, Duration::from_secs(60));
}

#[test]
fn bytes_pinned_to_a_subflow_that_is_closed_are_delivered_by_the_others() {
    for abort in [false, true] {
        let mut sim = sim(&[link(50, 10), link(10, 30)], 8);
        let id = second_subflow(&mut sim, |_, _| {});
        let before = bytes_sent(&sim, 0);
        assert_eq!(sim.a_mut().write(3 * MIB, Some(id)), Ok(3 << 20));
        sim.run_for(Duration::from_millis(400)).expect("runs");
        let sent = bytes_sent(&sim, id);
        assert!(sent > 0 && sent < 2 * MIB, "abort {abort}: part of it is on its way: {sent}");
        assert_eq!(bytes_sent(&sim, 0), before, "abort {abort}: all of it waits for its subflow");
        let now = sim.now();
        sim.a_mut().with(|c| c.close_subflow(id, abort, now)).expect("closes");
        assert_eq!(sim.a_mut().write(1, Some(id)), Err(SubflowError::NoSuchSubflow), "no new pin to it");
        run_until_acked(&mut sim, Duration::from_secs(30));
        let rest = bytes_sent(&sim, 0) - before;
        assert!(rest >= 3 * MIB - sent, "abort {abort}: the initial subflow carried the rest: {rest}");
        finish(&mut sim, Duration::from_secs(60));
    }
}

#[test]
fn unknown_and_ended_subflows_bad_values_and_early_pins_are_refused() {
    let mut sim = sim(&[link(50, 10), link(50, 10)], 9);
    // Before the handshake decided MPTCP a pin makes no sense.
    assert_eq!(sim.a_mut().with(|c| c.write_on(0, b"early")), Err(SubflowError::NotMptcp));
    let id = second_subflow(&mut sim, |_, _| {});
    let c = sim.a_mut();
    assert_eq!(c.with(|c| c.set_subflow_option(42, SubflowOption::NoDelay(false))), Err(SubflowError::NoSuchSubflow));
    assert_eq!(c.with(|c| c.subflow_option(42, SubflowOptionKind::Backup)), Err(SubflowError::NoSuchSubflow));
    assert_eq!(c.with(|c| c.write_on(42, b"x")), Err(SubflowError::NoSuchSubflow));
    assert!(c.conn().subflow_snapshot(42).is_none());
    for mss in [0, 63] {
        let r = c.with(|c| c.set_subflow_option(id, SubflowOption::MaxSegmentSize(mss)));
        assert_eq!(r, Err(SubflowError::InvalidValue), "MSS {mss}");
    }
    assert_eq!(c.snapshot(id).mss, 1460 - 40, "an invalid value changes nothing");
    // A subflow that ended keeps its statistics but takes no options.
    let now = sim.now();
    sim.a_mut().with(|c| c.close_subflow(id, true, now)).expect("closes");
    sim.run_for(Duration::from_millis(100)).expect("runs");
    let c = sim.a_mut();
    assert_eq!(c.snapshot(id).state, TcpState::Closed);
    assert_eq!(c.with(|c| c.set_subflow_option(id, SubflowOption::TrafficClass(8))), Err(SubflowError::NoSuchSubflow));
    assert_eq!(c.with(|c| c.subflow_option(id, SubflowOptionKind::TrafficClass)), Err(SubflowError::NoSuchSubflow));
    assert_eq!(c.with(|c| c.write_on(id, b"x")), Err(SubflowError::NoSuchSubflow));
    assert_eq!(c.write(1000, Some(0)), Ok(1000), "a pin to the live subflow");
    c.bulk = 100_000;
    // Once the application shut down, nothing more is written.
    c.finish = true;
    run_until(&mut sim, Duration::from_secs(5), |c| c.shut);
    assert_eq!(sim.a_mut().with(|c| c.write_on(0, b"late")), Err(SubflowError::Closed));
    finish(&mut sim, Duration::from_secs(30));
}

#[test]
fn after_a_fallback_pins_and_priorities_are_refused_and_the_rest_works() {
    let mut sim = sim_with(&[link(50, 10), link(50, 10)], 10, |s| s.connection.mptcp = false);
    run_until(&mut sim, Duration::from_secs(5), |c| c.established);
    let c = sim.a_mut();
    assert!(matches!(c.conn().mode(), Mode::Fallback(_)));
    assert_eq!(c.with(|c| c.write_on(0, b"x")), Err(SubflowError::NotMptcp));
    assert_eq!(c.with(|c| c.set_subflow_option(0, SubflowOption::Backup(true))), Err(SubflowError::NotMptcp));
    assert_eq!(c.with(|c| c.set_subflow_option(0, SubflowOption::TrafficClass(0x20))), Ok(()));
    assert_eq!(c.with(|c| c.set_subflow_option(0, SubflowOption::NoDelay(false))), Ok(()));
    c.with(|c| c.set_congestion_control(Algorithm::Reno));
    assert_eq!(c.snapshot(0).congestion_control, Algorithm::Reno);
    let since = sim.a().sent.len();
    sim.a_mut().bulk = MIB;
    finish(&mut sim, Duration::from_secs(30));
    let after = &sim.a().sent[since..];
    assert!(after.len() > 100 && after.iter().all(|p| p.tos == 0x20), "{:?}", after.iter().find(|p| p.tos != 0x20));
}

/// The second path's pair: the client's address on path 1 (any port) to the server's.
fn path_1() -> (SocketAddr, SocketAddr) {
    (SocketAddr::new(client_addr(1), 0), SocketAddr::new(server_addr(1), PORT))
}

/// Packets the client sent from its address on path 1.
fn sent_on_path_1(c: &Client) -> usize {
    c.sent.iter().filter(|p| p.local.ip() == client_addr(1)).count()
}

#[test]
fn a_subflow_opened_before_full_establishment_joins_once_the_server_speaks() {
    let mut sim = sim(&[link(50, 10), link(50, 10)], 12);
    let (local, remote) = path_1();
    // Before the handshake chose MPTCP there is nothing to join.
    assert_eq!(sim.a_mut().with(|c| c.open_subflow(local, remote, false)), Err(SubflowError::NotMptcp));
    run_until(&mut sim, Duration::from_secs(5), |c| c.established);
    // MPTCP is chosen (the SYN/ACK carried the server's key), but neither side sent data, so no
    // DATA_ACK came: the client is not fully established (RFC 8684 §3.1). The request is taken.
    assert_eq!(sim.a().conn().mode(), Mode::Mptcp);
    assert!(!sim.a().conn().can_join());
    let id = sim.a_mut().with(|c| c.open_subflow(local, remote, false)).expect("accepted at once");
    assert!(sim.a().conn().subflow_snapshot(id).is_none(), "not opened yet");
    sim.run_for(Duration::from_secs(1)).expect("runs");
    assert_eq!(sent_on_path_1(sim.a()), 0, "no MP_JOIN before the connection is fully established (§3.2)");
    assert_eq!((sim.a().up.as_slice(), sim.a().ended.as_slice()), (&[0][..], &[][..]));
    // The server's first data carries a DATA_ACK: now the join goes out.
    sim.b_mut().transfer.set_send(100_000, 12);
    run_until(&mut sim, Duration::from_secs(5), |c| c.up.contains(&id));
    let c = sim.a();
    let first_in = c.first_data_in.expect("the server's data arrived");
    let syn = c.sent.iter().find(|p| p.local.ip() == client_addr(1) && p.syn).expect("the join's SYN");
    assert!(syn.at >= first_in, "the SYN at {:?}, the server's first data at {first_in:?}", syn.at);
    assert_eq!(c.up, [0, id], "established with the id open_subflow returned");
    let s = c.snapshot(id);
    assert!(s.joined && s.fully_established && s.local.ip() == client_addr(1) && s.remote == remote, "{s:#?}");
    assert!(c.ended.is_empty());
    sim.a_mut().bulk = MIB;
    finish(&mut sim, Duration::from_secs(30));
    assert!(bytes_sent(&sim, id) > 0, "the joined subflow carried data");
}

#[test]
fn a_subflow_waiting_for_full_establishment_ends_when_the_connection_falls_back() {
    let (mut c, s) = multipath_configs(2, &EndpointConfig::default());
    c.connection.path_manager = PathManagerKind::Manual;
    // The server's data arrives without MPTCP options: the client falls back (RFC 8684 §3.7).
    let strip = |_: Instant, p: &[u8]| {
        if parse(p).payload.is_empty() { Verdict::Pass } else { Verdict::Rewrite(strip_mptcp(p)) }
    };
    let server = Middlebox::new(server(s, 13, false), strip);
    let mut sim = network(Client::new(c, 13), server, &[link(50, 10), link(50, 10)], 13);
    sim.run_until(|a, _, _| a.established, Instant::from_millis(5000)).expect("established");
    let (local, remote) = path_1();
    let id = sim.a_mut().with(|c| c.open_subflow(local, remote, false)).expect("accepted at once");
    sim.b_mut().inner.transfer.set_send(100_000, 13);
    sim.run_until(|a, _, _| !a.ended.is_empty(), Instant::from_millis(10_000)).expect("the request ends");
    let c = sim.a_mut();
    assert_eq!(c.conn().mode(), Mode::Fallback(FallbackReason::OptionsStripped));
    assert_eq!(c.ended.iter().map(|e| (e.1, e.2)).collect::<Vec<_>>(), [(id, SubflowEnd::Aborted)]);
    assert_eq!(sent_on_path_1(c), 0, "no MP_JOIN after a fallback");
    assert_eq!(c.with(|c| c.open_subflow(local, remote, false)), Err(SubflowError::NotMptcp));
}

#[test]
fn a_closed_subflow_is_reported_at_once_or_when_it_enters_time_wait() {
    let mut sim = sim(&[link(50, 10), link(50, 10)], 14);
    let first = second_subflow(&mut sim, |_, _| {});
    // A RST: the subflow is gone within the call; its event comes before any packet or timer.
    let now = sim.now();
    sim.a_mut().with(|c| c.close_subflow(first, true, now)).expect("closes");
    sim.a_mut().step(now);
    assert_eq!(sim.a().ended, [(now, first, SubflowEnd::Aborted)]);
    // Another subflow over the same pair, closed with a FIN. The server closes its side at once
    // (RFC 8684 §3.3.3: a subflow FIN ends that subflow only, and the kernel closes its side
    // too), so ours goes from FIN-WAIT-2 to TIME-WAIT a round trip later.
    let (local, remote) = path_1();
    let id = sim.a_mut().with(|c| c.open_subflow(local, remote, false)).expect("the pair again");
    run_until(&mut sim, Duration::from_secs(5), |c| c.up.contains(&id));
    let ours = sim.a().snapshot(id).local;
    let closed_at = sim.now();
    sim.a_mut().with(|c| c.close_subflow(id, false, closed_at)).expect("closes");
    assert_eq!(sim.a().snapshot(id).state, TcpState::FinWait1);
    run_until(&mut sim, Duration::from_secs(5), |c| c.ended.len() == 2);
    // Reported on entering TIME-WAIT (RFC 9293 §3.10.7.4), not 30 s later when it ends.
    let (at, which, end) = sim.a().ended[1];
    assert_eq!((which, end), (id, SubflowEnd::Closed));
    assert!(at - closed_at < Duration::from_millis(100), "reported {:?} after our FIN left", at - closed_at);
    assert_eq!(sim.a().snapshot(id).state, TcpState::TimeWait, "the 4-tuple lingers");
    // Our last ACK reaches the server.
    sim.run_for(Duration::from_millis(50)).expect("runs");
    let server = conn_stats(sim.b()).expect("the server's connection");
    let theirs = server.subflows.iter().find(|s| s.remote == ours).expect("the server's side of it");
    assert_eq!(theirs.state, TcpState::Closed, "the server closed its side: {theirs:#?}");
    let c = sim.a_mut();
    assert_eq!(c.with(|c| c.set_subflow_option(id, SubflowOption::NoDelay(false))), Err(SubflowError::NoSuchSubflow));
    // The connection goes on and closes, its DATA_FIN and DATA_ACKs on every subflow, while ours
    // sends nothing: in TIME-WAIT only a retransmitted FIN gets an ACK (RFC 9293 §3.10.7.4), and
    // the server has forgotten that subflow.
    let since = sim.a().sent.len();
    sim.a_mut().bulk = MIB;
    finish(&mut sim, Duration::from_secs(20));
    assert_eq!(sim.a().snapshot(id).state, TcpState::TimeWait, "still lingering");
    let late: Vec<_> = sim.a().sent[since..].iter().filter(|p| p.local == ours).collect();
    assert!(late.is_empty(), "sent from TIME-WAIT: {late:?}");
    sim.run_for(Duration::from_secs(31)).expect("runs");
    let c = sim.a();
    let state = c.endpoint.connection(c.conn).and_then(|conn| conn.subflow_snapshot(id)).map(|s| s.state);
    assert!(state.is_none_or(|s| s == TcpState::Closed), "TIME-WAIT ended: {state:?}");
    assert_eq!(c.ended.iter().filter(|e| e.1 == id).count(), 1, "reported once: {:?}", c.ended);
}

#[test]
fn a_default_traffic_class_reaches_the_subflows_joined_afterwards() {
    // The server's default comes from its configuration, the client's is set on the connection.
    let mut sim = sim_with(&[link(50, 10), link(50, 10)], 15, |s| s.connection.tcp.traffic_class = 0x48);
    run_until(&mut sim, Duration::from_secs(5), |c| c.established);
    let c = sim.a_mut();
    assert_eq!(c.with(|c| c.set_default_subflow_option(SubflowOption::Backup(true))), Err(SubflowError::InvalidValue));
    c.with(|c| c.set_default_subflow_option(SubflowOption::TrafficClass(0xb8))).expect("a valid default");
    assert_eq!(c.snapshot(0).traffic_class, 0xb8, "the live subflow takes it");
    let set_at = c.sent.len();
    let id = second_subflow(&mut sim, |_, _| {});
    let read = sim.a_mut().with(|c| c.subflow_option(id, SubflowOptionKind::TrafficClass));
    assert_eq!(read, Ok(SubflowOption::TrafficClass(0xb8)));
    let server = conn_stats(sim.b()).expect("the server's connection");
    assert_eq!(server.subflows.len(), 2);
    assert!(server.subflows.iter().all(|s| s.traffic_class == 0x48), "{:#?}", server.subflows);
    sim.a_mut().bulk = MIB;
    finish(&mut sim, Duration::from_secs(30));
    let joined = sim.a().snapshot(id).local;
    let on: Vec<&Sent> = sim.a().sent.iter().filter(|p| p.local == joined).collect();
    assert!(on.iter().any(|p| p.syn) && on.iter().any(|p| p.payload > 0), "its SYN and data were recorded");
    let after = &sim.a().sent[set_at..];
    assert!(after.iter().all(|p| p.tos == 0xb8), "{:?}", after.iter().find(|p| p.tos != 0xb8));
}
