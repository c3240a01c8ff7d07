//! A simulator host that runs any number of connections on one [`Endpoint`] and records every
//! endpoint event, for the tests that [`EndpointHost`](mptcp_tun_driver::sim::EndpointHost)
//! (one connection, events consumed by its `Transfer`) cannot express: several flows sharing a
//! bottleneck, and signalling whose events the test must see (ADD_ADDR, REMOVE_ADDR, MP_PRIO).
//!
//! Each connection is a [`Flow`]: a client flow writes seeded pseudo-random bytes (a
//! [`PatternStream`], from `Transfer`'s generator) and shuts down once they are written; a
//! server flow reads to the end and, with echo, sends everything back. Instead of hashing
//! (SHA-256 dominates the run time of long transfers in the debug build) every byte received is
//! compared with the stream regenerated from its seed ([`StreamCheck`]): stricter than a hash
//! (it names the first wrong byte), cheap, and valid at any moment for the prefix received so
//! far (the fairness runs stop mid-stream). The server learns each flow's seed from the test
//! ([`MultiHost::expect`]), by the client's address.

use std::net::{IpAddr, SocketAddr};

use mptcp_stack::connection::{CloseReason, ConnEvent, Connection, ConnectionConfig, ConnectionStats, Mode};
use mptcp_stack::endpoint::{ConnectionHandle, Endpoint, EndpointConfig, Event};
use mptcp_stack::time::Instant;
use mptcp_tun_driver::sim::{Host, Simulator};
use mptcp_tun_driver::transfer::PatternSource;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Middlebox;
use crate::stall::StallWatch;

/// Bytes written per call.
const WRITE_CHUNK: usize = 64 * 1024;

/// The [`PatternSource`] stream of a seed as a byte stream that does not depend on how it is
/// cut (`PatternSource::fill` drops the rest of its last 8-byte word; here it is generated in
/// whole blocks and handed out byte-exact).
#[derive(Debug, Clone)]
pub struct PatternStream {
    source: PatternSource,
    block: Vec<u8>,
    pos: usize,
}

impl PatternStream {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> PatternStream {
        PatternStream { source: PatternSource::new(seed), block: vec![0; WRITE_CHUNK], pos: WRITE_CHUNK }
    }

    /// Fills `out` with the next bytes.
    pub fn fill(&mut self, mut out: &mut [u8]) {
        while !out.is_empty() {
            if self.pos == self.block.len() {
                self.source.fill(&mut self.block);
                self.pos = 0;
            }
            let n = out.len().min(self.block.len() - self.pos);
            out[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
            self.pos += n;
            out = &mut out[n..];
        }
    }
}

/// Checks a received byte stream against the [`PatternStream`] it should be.
#[derive(Debug, Clone)]
pub struct StreamCheck {
    expected: PatternStream,
    scratch: Vec<u8>,
    len: u64,
    first_mismatch: Option<u64>,
}

impl StreamCheck {
    /// A check against the stream of `seed`.
    pub fn new(seed: u64) -> StreamCheck {
        StreamCheck { expected: PatternStream::new(seed), scratch: vec![0; WRITE_CHUNK], len: 0, first_mismatch: None }
    }

    /// The next bytes of the stream arrived.
    pub fn update(&mut self, data: &[u8]) {
        for piece in data.chunks(WRITE_CHUNK) {
            let want = &mut self.scratch[..piece.len()];
            self.expected.fill(want);
            if self.first_mismatch.is_none() && want != piece {
                let at = want.iter().zip(piece).position(|(a, b)| a != b).unwrap_or(0);
                self.first_mismatch = Some(self.len + at as u64);
            }
            self.len += piece.len() as u64;
        }
    }

    /// Bytes checked so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Nothing arrived yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The offset of the first byte that was not what the stream says, if any.
    pub fn first_mismatch(&self) -> Option<u64> {
        self.first_mismatch
    }
}

/// Which end of a flow this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowRole {
    /// Opened the connection and sends its seeded bytes.
    Client,
    /// Accepted it: reads to the end (and echoes).
    Server,
}

/// The application side of one connection of a [`MultiHost`].
#[derive(Debug)]
pub struct Flow {
    /// The connection.
    pub handle: ConnectionHandle,
    /// Which end.
    pub role: FlowRole,
    /// The initial subflow as (client address, server address), the same on both sides.
    pub tuple: (SocketAddr, SocketAddr),
    /// Seed of the data the client sends (and the server echoes).
    pub seed: u64,
    to_send: u64,
    source: PatternStream,
    echo: bool,
    pending_echo: Vec<u8>,
    shut: bool,
    /// Whether the application reads (false lets the receive window fill up).
    pub reading: bool,
    /// Bytes the application wrote.
    pub bytes_sent: u64,
    /// What the application read, checked against the stream of `seed`.
    pub received: StreamCheck,
    /// When the connection was established, and whether as MPTCP.
    pub established: Option<(Instant, bool)>,
    /// When the peer's end of stream was read.
    pub eof_at: Option<Instant>,
    /// When and why the connection ended.
    pub closed: Option<(Instant, CloseReason)>,
    /// The connection's statistics at its last event (the endpoint forgets closed connections).
    last_stats: Option<ConnectionStats>,
    snapshot_due: bool,
}

impl Flow {
    fn new(handle: ConnectionHandle, role: FlowRole, tuple: (SocketAddr, SocketAddr), seed: u64, echo: bool) -> Flow {
        Flow {
            handle,
            role,
            tuple,
            seed,
            to_send: 0,
            source: PatternStream::new(seed),
            echo,
            pending_echo: Vec::new(),
            shut: false,
            reading: true,
            bytes_sent: 0,
            received: StreamCheck::new(seed),
            established: None,
            eof_at: None,
            closed: None,
            last_stats: None,
            snapshot_due: false,
        }
    }

    /// Bytes the application read.
    pub fn bytes_received(&self) -> u64 {
        self.received.len()
    }

    /// The connection ended.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// What a client flow has still to write.
    pub fn left_to_send(&self) -> u64 {
        self.to_send
    }

    /// A server flow that sends back what it reads.
    pub fn echoes(&self) -> bool {
        self.echo
    }

    fn on_event(&mut self, now: Instant, e: ConnEvent) {
        if !matches!(e, ConnEvent::Readable | ConnEvent::Writable) {
            self.snapshot_due = true;
        }
        match e {
            ConnEvent::Established { mptcp } => self.established = Some((now, mptcp)),
            ConnEvent::Closed(reason) => self.closed = Some((now, reason)),
            _ => {}
        }
    }

    fn step(&mut self, now: Instant, endpoint: &mut Endpoint, buf: &mut [u8]) {
        let h = self.handle;
        if self.reading {
            loop {
                match endpoint.with_connection(h, |c| c.read(buf)).flatten() {
                    Some(0) => {
                        if self.eof_at.is_none() {
                            self.eof_at = Some(now);
                            self.snapshot_due = true;
                        }
                        break;
                    }
                    Some(n) => {
                        self.received.update(&buf[..n]);
                        if self.echo {
                            self.pending_echo.extend_from_slice(&buf[..n]);
                        }
                    }
                    None => break,
                }
            }
        }
        if !self.pending_echo.is_empty() {
            let n = endpoint.with_connection(h, |c| c.write(&self.pending_echo)).unwrap_or(0);
            self.bytes_sent += n as u64;
            self.pending_echo.drain(..n);
        }
        while self.to_send > 0 {
            let free = endpoint.connection(h).map_or(0, |c| c.writable());
            let chunk = (self.to_send.min(WRITE_CHUNK as u64) as usize).min(free).min(buf.len());
            if chunk == 0 {
                break;
            }
            self.source.fill(&mut buf[..chunk]);
            let n = endpoint.with_connection(h, |c| c.write(&buf[..chunk])).unwrap_or(0);
            // The stream has moved past what `write` did not take: it must take it all, as
            // `writable` promised.
            assert_eq!(n, chunk, "write took less than writable() promised");
            self.bytes_sent += n as u64;
            self.to_send -= n as u64;
        }
        let sent_all = self.to_send == 0 && self.pending_echo.is_empty();
        let done = match self.role {
            FlowRole::Client => sent_all,
            FlowRole::Server => sent_all && self.eof_at.is_some(),
        };
        if done && !self.shut && self.closed.is_none() {
            self.shut = true;
            self.snapshot_due = true;
            endpoint.with_connection(h, |c| c.shutdown());
        }
        if self.snapshot_due {
            self.snapshot_due = false;
            if let Some(c) = endpoint.connection(h) {
                self.last_stats = Some(c.stats());
            }
        }
    }
}

/// One endpoint with any number of [`Flow`]s, as a simulator host; every endpoint event but
/// `Readable`/`Writable` is kept in [`MultiHost::events`].
#[derive(Debug)]
pub struct MultiHost {
    /// The stack.
    pub endpoint: Endpoint,
    /// The connections, in the order they were opened or accepted.
    pub flows: Vec<Flow>,
    /// Every endpoint event but `Readable` and `Writable`, with its instant.
    pub events: Vec<(Instant, Event)>,
    echo: bool,
    /// The seed of the data each client (by its initial subflow's address) sends.
    seeds: Vec<(SocketAddr, u64)>,
    /// Connections from clients with no seed are left alone (a flood's) instead of failing.
    tolerate_strangers: bool,
    /// Connections accepted from clients with no seed.
    pub strangers: u64,
    buf: Vec<u8>,
}

impl MultiHost {
    /// An endpoint seeded with `seed` (keys, ISNs) and no connection yet.
    pub fn new(config: EndpointConfig, seed: u64) -> MultiHost {
        let endpoint = Endpoint::new(config, Box::new(StdRng::seed_from_u64(seed)));
        MultiHost {
            endpoint,
            flows: Vec::new(),
            events: Vec::new(),
            echo: false,
            seeds: Vec::new(),
            tolerate_strangers: false,
            strangers: 0,
            buf: vec![0; WRITE_CHUNK],
        }
    }

    /// Accepts connections on `addr`; with `echo` every accepted flow sends back what it reads.
    pub fn listen(&mut self, addr: SocketAddr, echo: bool) {
        self.endpoint.listen(addr);
        self.echo = echo;
    }

    /// The connection from `client` (its initial subflow's address) carries the stream of
    /// `seed`: what the accepted flow reads is checked against it.
    pub fn expect(&mut self, client: SocketAddr, seed: u64) {
        self.seeds.push((client, seed));
    }

    /// Leaves connections from clients with no seed ([`MultiHost::expect`]) to the endpoint,
    /// counting them in [`MultiHost::strangers`], instead of failing (for a flood of forged
    /// SYNs).
    pub fn tolerate_strangers(&mut self) {
        self.tolerate_strangers = true;
    }

    /// Opens a connection from `local` to `remote` with its own settings, sending `bytes` of
    /// the stream of `seed`; returns the flow's index.
    pub fn connect(
        &mut self,
        local: IpAddr,
        remote: SocketAddr,
        config: ConnectionConfig,
        bytes: u64,
        seed: u64,
    ) -> usize {
        let h = self.endpoint.connect_with(local, remote, config).expect("the endpoint can open a connection");
        let local = self.endpoint.connection(h).expect("just opened").stats().subflows[0].local;
        let mut flow = Flow::new(h, FlowRole::Client, (local, remote), seed, false);
        flow.to_send = bytes;
        self.flows.push(flow);
        self.flows.len() - 1
    }

    /// The flow whose initial subflow is `tuple` (client address, server address).
    pub fn flow_by_tuple(&self, tuple: (SocketAddr, SocketAddr)) -> Option<&Flow> {
        self.flows.iter().find(|f| f.tuple == tuple)
    }

    /// Flow `i`'s connection statistics: live while the endpoint has the connection, else as
    /// they were at its last event.
    pub fn stats(&self, i: usize) -> Option<ConnectionStats> {
        let f = &self.flows[i];
        self.endpoint.connection(f.handle).map(|c| c.stats()).or_else(|| f.last_stats.clone())
    }

    /// The connection events of flow `i`, in order, with their instants.
    pub fn conn_events(&self, i: usize) -> Vec<(Instant, ConnEvent)> {
        let h = self.flows[i].handle;
        self.events
            .iter()
            .filter_map(|&(t, e)| match e {
                Event::Connection(c, e) if c == h => Some((t, e)),
                _ => None,
            })
            .collect()
    }

    /// Every flow has closed.
    pub fn all_closed(&self) -> bool {
        !self.flows.is_empty() && self.flows.iter().all(Flow::is_closed)
    }

    /// Runs `f` on flow `i`'s connection (through [`Endpoint::with_connection`], so its events
    /// are collected); `None` once the endpoint has forgotten it.
    pub fn with_connection<R>(&mut self, i: usize, f: impl FnOnce(&mut Connection) -> R) -> Option<R> {
        self.endpoint.with_connection(self.flows[i].handle, f)
    }

    fn drain_events(&mut self, now: Instant) {
        while let Some(ev) = self.endpoint.poll_event() {
            if let Event::Connection(h, e) = ev {
                if let Some(f) = self.flows.iter_mut().find(|f| f.handle == h) {
                    f.on_event(now, e);
                }
                if matches!(e, ConnEvent::Readable | ConnEvent::Writable) {
                    continue;
                }
            }
            self.events.push((now, ev));
        }
        while let Some(h) = self.endpoint.accept() {
            let c = self.endpoint.connection(h).expect("accepted connection exists");
            let s = c.stats();
            let tuple = (s.subflows[0].remote, s.subflows[0].local);
            let seed = self.seeds.iter().find(|(a, _)| *a == tuple.0).map(|s| s.1);
            if seed.is_none() && self.tolerate_strangers {
                self.strangers += 1;
                continue;
            }
            let seed = seed.unwrap_or_else(|| panic!("no seed for the connection from {}", tuple.0));
            let mut flow = Flow::new(h, FlowRole::Server, tuple, seed, self.echo);
            if c.mode() != Mode::Handshake {
                flow.established = Some((now, c.mode() == Mode::Mptcp));
            }
            self.flows.push(flow);
        }
    }

    fn step(&mut self, now: Instant) {
        self.drain_events(now);
        for f in &mut self.flows {
            if f.closed.is_none() {
                f.step(now, &mut self.endpoint, &mut self.buf);
            }
        }
        self.drain_events(now);
    }
}

crate::stepped_endpoint_host!(MultiHost);

/// A simulator host that carries a [`MultiHost`] (itself, or behind a [`Middlebox`]).
pub trait HasMulti {
    /// The host.
    fn multi(&self) -> &MultiHost;
    /// The host, mutably.
    fn multi_mut(&mut self) -> &mut MultiHost;
}

impl HasMulti for MultiHost {
    fn multi(&self) -> &MultiHost {
        self
    }
    fn multi_mut(&mut self) -> &mut MultiHost {
        self
    }
}

impl HasMulti for Middlebox<MultiHost> {
    fn multi(&self) -> &MultiHost {
        &self.inner
    }
    fn multi_mut(&mut self) -> &mut MultiHost {
        &mut self.inner
    }
}

/// The server flow of client flow `i` (matched by the initial subflow's addresses).
pub fn peer_flow<'a>(client: &MultiHost, i: usize, server: &'a MultiHost) -> &'a Flow {
    let tuple = client.flows[i].tuple;
    server.flow_by_tuple(tuple).unwrap_or_else(|| panic!("the server has no flow for {tuple:?}"))
}

/// Asserts that what client flow `i` sent arrived intact so far: every byte the server flow
/// read is the client's stream at its offset (and all of it arrived, with the end of the
/// stream, with `complete`); with echo, the same for what came back. Returns the bytes the
/// server read.
pub fn assert_flow_intact(client: &MultiHost, i: usize, server: &MultiHost, complete: bool) -> u64 {
    let c = &client.flows[i];
    let s = peer_flow(client, i, server);
    let n = s.bytes_received();
    assert_eq!(s.received.first_mismatch(), None, "flow {i}: the server read wrong data");
    assert!(n <= c.bytes_sent, "flow {i}: the server read {n} bytes, more than the {} sent", c.bytes_sent);
    if complete {
        assert_eq!(c.left_to_send(), 0, "flow {i}: the client wrote everything");
        assert_eq!(n, c.bytes_sent, "flow {i}: the server read everything");
        assert!(s.eof_at.is_some(), "flow {i}: the server saw the end of the stream");
    }
    if s.echoes() {
        let back = c.bytes_received();
        assert_eq!(c.received.first_mismatch(), None, "flow {i}: the client read a wrong echo");
        assert!(back <= s.bytes_sent, "flow {i}: the client read {back} bytes of echo, more than sent");
        if complete {
            assert_eq!(back, n, "flow {i}: the whole echo came back");
            assert!(c.eof_at.is_some(), "flow {i}: the client saw the end of the echo");
        }
    } else {
        assert_eq!(c.bytes_received(), 0, "flow {i}: no echo expected");
    }
    n
}

/// Runs until every flow of both hosts has closed, failing after `limit` of virtual time.
pub fn run_multi_to_close<A, B>(sim: &mut Simulator<A, B>, limit: core::time::Duration)
where
    A: Host + HasMulti,
    B: Host + HasMulti,
{
    let deadline = sim.now() + limit;
    let r = sim.run_until(|a, b, _| a.multi().all_closed() && b.multi().all_closed(), deadline);
    if let Err(e) = r {
        let (a, b) = (sim.a().multi(), sim.b().multi());
        let stats = |h: &MultiHost| (0..h.flows.len()).map(|i| h.stats(i)).collect::<Vec<_>>();
        panic!(
            "simulation did not finish: {e:?}\nclient flows: {:#?}\nserver flows: {:#?}\nclient stats: {:#?}\nserver stats: {:#?}",
            a.flows,
            b.flows,
            stats(a),
            stats(b),
        );
    }
}

/// A client whose flow 0 sends `bytes` of the stream of `seed` to the server's address on path
/// 0 with the client's connection settings, and a server listening there (echoing with `echo`).
pub fn multi_pair(
    client: EndpointConfig,
    server: EndpointConfig,
    bytes: u64,
    seed: u64,
    echo: bool,
) -> (MultiHost, MultiHost) {
    let remote = SocketAddr::new(crate::server_addr(0), crate::PORT);
    let conn = client.connection.clone();
    let mut c = MultiHost::new(client, seed ^ 0xa);
    c.connect(crate::client_addr(0), remote, conn, bytes, seed);
    let mut s = MultiHost::new(server, seed ^ 0xb);
    s.listen(remote, echo);
    s.expect(c.flows[0].tuple.0, seed);
    (c, s)
}

/// Runs until every flow has closed, in steps of `step`, calling `at_step` after each; returns
/// the longest time the server's flow 0 went without new bytes while the stream was not over.
pub fn run_multi_watching<A, B>(
    sim: &mut Simulator<A, B>,
    limit: core::time::Duration,
    step: core::time::Duration,
    mut at_step: impl FnMut(&mut Simulator<A, B>),
) -> core::time::Duration
where
    A: Host + HasMulti,
    B: Host + HasMulti,
{
    let deadline = sim.now() + limit;
    let mut stalls = StallWatch::new(sim.now());
    while !(sim.a().multi().all_closed() && sim.b().multi().all_closed()) {
        if sim.now() >= deadline {
            run_multi_to_close(sim, core::time::Duration::ZERO);
        }
        let to = sim.now() + step;
        sim.run_to(to).expect("simulation runs");
        at_step(sim);
        if let Some(f) = sim.b().multi().flows.first() {
            stalls.observe(sim.now(), f.bytes_received(), f.eof_at.is_some());
        }
    }
    stalls.longest()
}
