//! The in-memory engine benchmark's harness: two endpoints on one core, joined by a "perfect
//! wire" (no loss, no delay, no I/O), a client bulk-writing into one and a server reading from
//! the other. The same harness drives our [`Endpoint`] ([`OursPair`]) and, as the baseline,
//! two smoltcp [`Interface`]s with one TCP socket each ([`SmolPair`]).
//!
//! Both sides run the same round:
//!
//! 1. the client application writes from a reused, pre-filled 64 KiB buffer until the send
//!    buffer is full;
//! 2. the client side transmits everything it can, each packet delivered to the server at once;
//!    the server's answers (ACKs) travel as the [`WireMode`] says;
//! 3. the server application reads everything readable into a reused 64 KiB buffer;
//! 4. the server side transmits everything it still has (ACKs, window updates), delivered to
//!    the client at once;
//! 5. the virtual clock advances 1 µs; if nothing moved in this round it jumps to the earlier
//!    of the two sides' next timer, and due timers fire.
//!
//! Nothing is allocated per packet by the harness: our side transmits into one reused buffer
//! and hands it straight to the peer; the smoltcp device recycles its packet buffers.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::cell::RefCell;
use std::collections::VecDeque;

use mptcp_stack::connection::{ConnEvent, ConnectionConfig};
use mptcp_stack::endpoint::{ConnectionHandle, Endpoint, EndpointConfig, Event};
use mptcp_stack::time::Instant;
use rand::SeedableRng;
use rand::rngs::StdRng;
use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

/// Bytes the client application hands to `write` at once, and the server to `read`.
pub const APP_CHUNK: usize = 64 * 1024;

/// Virtual time per round of the wire.
pub const ROUND: Duration = Duration::from_micros(1);

/// Largest packet either side sends (the smoltcp 64 KiB-MTU reference included).
const PACKET_BUF: usize = 65_536 + 128;

/// Bytes moved in `Window` mode before a pair is handed out, whatever its mode: enough for
/// our congestion window to grow past the 4 MiB flow-control windows (slow start doubles it
/// every flight), so that measurements start in the steady state. With one stretch ACK per
/// flight the window would grow by at most 2 segments per flight (RFC 3465, L = 2): it was
/// still 3.5 MB after half a gigabyte. With `Immediate` it never needs to grow.
pub const WARMUP: u64 = 32 << 20;

/// Rounds in a row with nothing moving and no timer before a run is declared stuck.
const STUCK_ROUNDS: u32 = 1_000;

const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SERVER_PORT: u16 = 5000;
const CLIENT_PORT: u16 = 49152;

/// When the receiver's answers (ACKs, window updates) cross the wire. In every mode the
/// sender transmits everything it can, each data packet handed to the receiver at once, and
/// the receiver's application reads only after the sender has stopped; the modes differ in
/// when the receiver may answer and when its answers arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireMode {
    /// A full window in flight, as in a bulk transfer over a path with a round-trip time: the
    /// receiver answers as each packet arrives (an ACK every second segment, on both stacks),
    /// and its answers reach the sender after the sender's flight ends.
    Window,
    /// As `Window`, but the receiver answers only once per flight, after its application read:
    /// one stretch ACK per flight, as from a receiver that batches (GRO). Few ACKs to build and
    /// process; per-segment costs stand out.
    Stretch,
    /// Every packet crosses at once both ways: the receiver's answers reach the sender before
    /// its next packet. Only a segment or two is ever in flight, so costs that grow with the
    /// flight disappear; the literal zero-delay wire.
    Immediate,
}

impl WireMode {
    /// All modes.
    pub const ALL: [WireMode; 3] = [WireMode::Window, WireMode::Stretch, WireMode::Immediate];

    /// The name used in benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            WireMode::Window => "window",
            WireMode::Stretch => "stretch_ack",
            WireMode::Immediate => "immediate",
        }
    }

    /// The mode called `name`.
    pub fn from_name(name: &str) -> Option<WireMode> {
        WireMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Counters of what crossed the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Packets client → server.
    pub packets_to_server: u64,
    /// Packets server → client.
    pub packets_to_client: u64,
    /// IP bytes client → server.
    pub bytes_to_server: u64,
    /// IP bytes server → client.
    pub bytes_to_client: u64,
    /// Rounds of the loop.
    pub rounds: u64,
    /// Rounds in which nothing moved and the clock jumped to a timer.
    pub timer_jumps: u64,
}

/// The application bytes the client writes (a fixed pattern, so that a test can check them).
pub fn app_pattern() -> Vec<u8> {
    (0..APP_CHUNK).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3]).collect()
}

/// The next piece of the client's stream at stream offset `written`: the pattern repeats
/// every [`APP_CHUNK`] bytes, so a write that was only partly taken resumes mid-pattern.
fn pattern_at(pattern: &[u8], written: u64, left: u64) -> &[u8] {
    let off = (written % APP_CHUNK as u64) as usize;
    let len = (APP_CHUNK - off).min(usize::try_from(left).unwrap_or(usize::MAX));
    &pattern[off..off + len]
}

/// Panics unless `data`, read at stream offset `offset`, is what the client wrote there.
fn check_pattern(pattern: &[u8], offset: u64, data: &[u8]) {
    for (i, piece) in data.chunks(APP_CHUNK).enumerate() {
        let at = offset + (i * APP_CHUNK) as u64;
        let off = (at % APP_CHUNK as u64) as usize;
        let head = piece.len().min(APP_CHUNK - off);
        assert_eq!(&piece[..head], &pattern[off..off + head], "stream corrupted at {at}");
        assert_eq!(&piece[head..], &pattern[..piece.len() - head], "stream corrupted at {}", at + head as u64);
    }
}

/// A deterministic generator for the endpoints' keys and ISNs.
fn rng(seed: u64) -> Box<StdRng> {
    Box::new(StdRng::seed_from_u64(seed))
}

/// Our engine: endpoint A (client) and endpoint B (server) with one established connection.
#[derive(Debug)]
pub struct OursPair {
    /// The client endpoint.
    pub a: Endpoint,
    /// The server endpoint.
    pub b: Endpoint,
    ca: ConnectionHandle,
    cb: ConnectionHandle,
    now: Instant,
    mode: WireMode,
    packet: Vec<u8>,
    reply: Vec<u8>,
    /// `Window` mode: the receiver's answers on their way back, back to back, and their lengths.
    in_flight: Vec<u8>,
    in_flight_lens: Vec<usize>,
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
    /// What crossed the wire so far.
    pub wire: WireStats,
    /// Bytes the client wrote so far.
    pub written: u64,
    /// Bytes the server read so far.
    pub received: u64,
    /// Check every byte the server reads against what the client wrote (tests only).
    pub verify: bool,
}

/// The endpoint settings of the benchmark: the defaults (4 MiB send and receive buffers,
/// MSS 1460, timestamps, SACK, Cubic, checksums verified on receive and filled on send), with
/// MPTCP on or off (off: the connection is plain TCP from the SYN on).
pub fn ours_config(mptcp: bool) -> EndpointConfig {
    EndpointConfig {
        connection: ConnectionConfig { mptcp, ..ConnectionConfig::default() },
        ..EndpointConfig::default()
    }
}

impl OursPair {
    /// Two endpoints with `config` and one connection between them, established (handshake
    /// done, both sides told, the server's accept taken) and warmed up ([`WARMUP`]).
    pub fn established(config: EndpointConfig, mode: WireMode) -> OursPair {
        OursPair::warmed_up(config, mode, WARMUP)
    }

    /// As [`OursPair::established`], warmed up with `warmup` bytes instead.
    pub fn warmed_up(config: EndpointConfig, mode: WireMode, warmup: u64) -> OursPair {
        let mut a = Endpoint::new(config.clone(), rng(1));
        let mut b = Endpoint::new(config, rng(2));
        let server = SocketAddr::new(IpAddr::V4(SERVER_IP), SERVER_PORT);
        b.listen(server);
        let ca = a.connect(IpAddr::V4(CLIENT_IP), server).expect("a fresh endpoint can connect");
        let mut pair = OursPair {
            a,
            b,
            ca,
            cb: ConnectionHandle(u64::MAX),
            now: Instant::ZERO,
            mode,
            packet: vec![0; PACKET_BUF],
            reply: vec![0; PACKET_BUF],
            in_flight: Vec::new(),
            in_flight_lens: Vec::new(),
            wbuf: app_pattern(),
            rbuf: vec![0; APP_CHUNK],
            wire: WireStats::default(),
            written: 0,
            received: 0,
            verify: false,
        };
        let (mut a_up, mut b_up) = (false, false);
        for _ in 0..10_000 {
            pair.exchange();
            while let Some(e) = pair.a.poll_event() {
                a_up |= matches!(e, Event::Connection(h, ConnEvent::Established { .. }) if h == ca);
            }
            while let Some(e) = pair.b.poll_event() {
                if let Event::Incoming(h) = e {
                    pair.cb = pair.b.accept().expect("the incoming connection is queued");
                    assert_eq!(pair.cb, h);
                }
                b_up |= matches!(e, Event::Connection(h, ConnEvent::Established { .. }) if h == pair.cb);
            }
            if a_up && b_up {
                // Let the handshake's last ACKs and timers settle, then warm up.
                pair.settle(Duration::from_millis(100));
                pair.mode = WireMode::Window;
                pair.transfer(warmup);
                pair.mode = mode;
                return pair;
            }
            pair.tick(true);
        }
        panic!("handshake did not complete: {:?} / {:?}", pair.a, pair.b);
    }

    /// Both directions once: everything A sends goes to B, everything B sends goes to A.
    /// Returns whether any packet moved.
    fn exchange(&mut self) -> bool {
        let mut moved = false;
        while let Some(n) = self.a.poll_transmit(self.now, &mut self.packet) {
            self.b.handle(self.now, &self.packet[..n]);
            self.wire.packets_to_server += 1;
            self.wire.bytes_to_server += n as u64;
            moved = true;
        }
        while let Some(n) = self.b.poll_transmit(self.now, &mut self.packet) {
            self.a.handle(self.now, &self.packet[..n]);
            self.wire.packets_to_client += 1;
            self.wire.bytes_to_client += n as u64;
            moved = true;
        }
        moved
    }

    /// Advances the clock by one round, or to the next timer when nothing moved, and fires due
    /// timers. Returns false when nothing moved and no timer is pending.
    fn tick(&mut self, moved: bool) -> bool {
        self.now += ROUND;
        self.wire.rounds += 1;
        let next = match (self.a.poll_timeout(), self.b.poll_timeout()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        if !moved {
            match next {
                Some(t) if t > self.now => {
                    self.now = t;
                    self.wire.timer_jumps += 1;
                }
                Some(_) => {}
                None => return false,
            }
        }
        if next.is_some_and(|t| t <= self.now) {
            if self.a.poll_timeout().is_some_and(|t| t <= self.now) {
                self.a.handle_timeout(self.now);
            }
            if self.b.poll_timeout().is_some_and(|t| t <= self.now) {
                self.b.handle_timeout(self.now);
            }
        }
        true
    }

    /// Runs the wire for `d` of virtual time with no application activity.
    pub fn settle(&mut self, d: Duration) {
        let until = self.now + d;
        while self.now < until {
            let moved = self.exchange();
            self.drain_events();
            if !self.tick(moved) {
                break;
            }
        }
    }

    fn drain_events(&mut self) {
        while self.a.poll_event().is_some() {}
        while self.b.poll_event().is_some() {}
    }

    /// The client writes `bytes` and the server reads them; returns once the server has read
    /// them all. Panics if the transfer stalls.
    pub fn transfer(&mut self, bytes: u64) {
        let (ca, cb) = (self.ca, self.cb);
        let mut to_write = bytes;
        let target = self.received + bytes;
        let mut idle = 0;
        while self.received < target {
            // 1. The client writes until its send buffer is full.
            while to_write > 0 {
                let wbuf = pattern_at(&self.wbuf, self.written, to_write);
                let n = self.a.with_connection(ca, |c| c.write(wbuf)).expect("client connection");
                self.written += n as u64;
                if n == 0 {
                    break;
                }
                to_write -= n as u64;
            }
            // 2. A → B, and B's answers as the mode says.
            let mut moved = false;
            while let Some(n) = self.a.poll_transmit(self.now, &mut self.packet) {
                self.b.handle(self.now, &self.packet[..n]);
                self.wire.packets_to_server += 1;
                self.wire.bytes_to_server += n as u64;
                moved = true;
                match self.mode {
                    WireMode::Immediate => {
                        while let Some(m) = self.b.poll_transmit(self.now, &mut self.reply) {
                            self.a.handle(self.now, &self.reply[..m]);
                            self.wire.packets_to_client += 1;
                            self.wire.bytes_to_client += m as u64;
                        }
                    }
                    WireMode::Window => {
                        while let Some(m) = self.b.poll_transmit(self.now, &mut self.reply) {
                            self.in_flight.extend_from_slice(&self.reply[..m]);
                            self.in_flight_lens.push(m);
                        }
                    }
                    WireMode::Stretch => {}
                }
            }
            // The answers in flight arrive.
            let mut at = 0;
            for &m in &self.in_flight_lens {
                self.a.handle(self.now, &self.in_flight[at..at + m]);
                self.wire.packets_to_client += 1;
                self.wire.bytes_to_client += m as u64;
                at += m;
            }
            self.in_flight.clear();
            self.in_flight_lens.clear();
            // 3. The server reads everything there is.
            loop {
                let rbuf = &mut self.rbuf;
                match self.b.with_connection(cb, |c| c.read(rbuf)).expect("server connection") {
                    Some(n) if n > 0 => {
                        if self.verify {
                            check_pattern(&self.wbuf, self.received, &self.rbuf[..n]);
                        }
                        self.received += n as u64;
                    }
                    _ => break,
                }
            }
            // 4. B → A.
            while let Some(n) = self.b.poll_transmit(self.now, &mut self.packet) {
                self.a.handle(self.now, &self.packet[..n]);
                self.wire.packets_to_client += 1;
                self.wire.bytes_to_client += n as u64;
                moved = true;
            }
            // The applications take their events (Readable, Writable), as a real one would.
            self.drain_events();
            // 5. The clock.
            idle = if moved { 0 } else { idle + 1 };
            assert!(
                self.tick(moved) && idle < STUCK_ROUNDS,
                "transfer stalled after {} of {bytes} bytes: {:?}",
                bytes - (target - self.received),
                self.client_stats()
            );
        }
    }

    /// The client connection's statistics, for diagnostics.
    pub fn client_stats(&self) -> Option<mptcp_stack::connection::ConnectionStats> {
        self.a.connection(self.ca).map(|c| c.stats())
    }
}

// ----- smoltcp -----

/// Settings of the smoltcp pair.
#[derive(Debug, Clone, Copy)]
pub struct SmolConfig {
    /// IP MTU of the in-memory device.
    pub mtu: usize,
    /// Compute checksums on send and verify them on receive (as our engine does), or neither.
    pub checksums: bool,
    /// Size of each socket's send and receive ring buffer.
    pub buffer: usize,
    /// Send TCP timestamps (RFC 7323), as our engine does.
    pub timestamps: bool,
}

impl SmolConfig {
    /// The baseline: the same wire and the same work as our engine's — 1500-byte MTU,
    /// checksums filled and verified, 4 MiB buffers each way, timestamps.
    pub const FAIR: SmolConfig = SmolConfig { mtu: 1500, checksums: true, buffer: 4 << 20, timestamps: true };

    /// smoltcp's own `examples/loopback_benchmark.rs` setup, where its ~43 Gbit/s figure comes
    /// from: its `Loopback` device (65535-byte MTU, checksums ignored), 64 KiB buffers, no
    /// timestamps. Every segment carries up to 64 KiB, so it is a reference only.
    pub const LOOPBACK_EXAMPLE: SmolConfig =
        SmolConfig { mtu: 65_535, checksums: false, buffer: 64 * 1024, timestamps: false };
}

/// Packet queues between the two interfaces, with a free list so that the wire allocates
/// nothing per packet once warm.
#[derive(Debug, Default)]
struct Queues {
    to_server: VecDeque<Vec<u8>>,
    to_client: VecDeque<Vec<u8>>,
    free: Vec<Vec<u8>>,
    stats: WireStats,
}

/// One interface's view of the wire: receives from one queue, transmits onto the other.
#[derive(Debug)]
struct WireEnd<'a> {
    queues: &'a RefCell<Queues>,
    client: bool,
    caps: DeviceCapabilities,
}

#[derive(Debug)]
struct RxToken<'a> {
    queues: &'a RefCell<Queues>,
    buf: Vec<u8>,
}

#[derive(Debug)]
struct TxToken<'a> {
    queues: &'a RefCell<Queues>,
    client: bool,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.buf);
        self.queues.borrow_mut().free.push(self.buf);
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.queues.borrow_mut().free.pop().unwrap_or_default();
        buf.resize(len, 0);
        let r = f(&mut buf);
        let mut q = self.queues.borrow_mut();
        if self.client {
            q.stats.packets_to_server += 1;
            q.stats.bytes_to_server += len as u64;
            q.to_server.push_back(buf);
        } else {
            q.stats.packets_to_client += 1;
            q.stats.bytes_to_client += len as u64;
            q.to_client.push_back(buf);
        }
        r
    }
}

impl Device for WireEnd<'_> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let mut q = self.queues.borrow_mut();
        let buf = if self.client { q.to_client.pop_front() } else { q.to_server.pop_front() }?;
        Some((RxToken { queues: self.queues, buf }, TxToken { queues: self.queues, client: self.client }))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<TxToken<'_>> {
        Some(TxToken { queues: self.queues, client: self.client })
    }
}

fn ingress_all(iface: &mut Interface, now: smoltcp::time::Instant, dev: &mut WireEnd<'_>, sockets: &mut SocketSet<'_>) {
    while iface.poll_ingress_single(now, dev, sockets) != PollIngressSingleResult::None {}
}

fn tsval() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CLOCK: AtomicU32 = AtomicU32::new(1);
    CLOCK.fetch_add(1, Ordering::Relaxed)
}

/// smoltcp: two interfaces (client and server) with one TCP socket each, over an in-memory
/// wire, connection established.
pub struct SmolPair {
    ia: Interface,
    ib: Interface,
    sa: SocketSet<'static>,
    sb: SocketSet<'static>,
    ha: SocketHandle,
    hb: SocketHandle,
    queues: RefCell<Queues>,
    caps: DeviceCapabilities,
    mode: WireMode,
    now: smoltcp::time::Instant,
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
    /// Bytes the client wrote so far.
    pub written: u64,
    /// Bytes the server read so far.
    pub received: u64,
    /// Check every byte the server reads against what the client wrote (tests only).
    pub verify: bool,
}

impl core::fmt::Debug for SmolPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SmolPair").field("wire", &self.queues.borrow().stats).finish_non_exhaustive()
    }
}

impl SmolPair {
    /// Two interfaces with one established connection between them, warmed up like ours.
    pub fn established(config: SmolConfig, mode: WireMode) -> SmolPair {
        SmolPair::warmed_up(config, mode, WARMUP)
    }

    /// As [`SmolPair::established`], warmed up with `warmup` bytes instead.
    pub fn warmed_up(config: SmolConfig, mode: WireMode, warmup: u64) -> SmolPair {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = config.mtu;
        caps.checksum =
            if config.checksums { ChecksumCapabilities::default() } else { ChecksumCapabilities::ignored() };
        let queues = RefCell::new(Queues::default());
        let now = smoltcp::time::Instant::from_micros(0);
        let iface = |ip: Ipv4Addr, client: bool| {
            let mut end = WireEnd { queues: &queues, client, caps: caps.clone() };
            let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut end, now);
            iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::Ipv4(ip), 24)).expect("room for one address"));
            iface
        };
        let socket = || {
            let mut s = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; config.buffer]),
                tcp::SocketBuffer::new(vec![0; config.buffer]),
            );
            if config.timestamps {
                s.set_tsval_generator(Some(tsval));
            }
            s
        };
        let (ia, ib) = (iface(CLIENT_IP, true), iface(SERVER_IP, false));
        let (mut sa, mut sb) = (SocketSet::new(vec![]), SocketSet::new(vec![]));
        let hb = sb.add(socket());
        sb.get_mut::<tcp::Socket>(hb).listen(SERVER_PORT).expect("listen");
        let ha = sa.add(socket());
        let mut pair = SmolPair {
            ia,
            ib,
            sa,
            sb,
            ha,
            hb,
            queues,
            caps,
            mode,
            now,
            wbuf: app_pattern(),
            rbuf: vec![0; APP_CHUNK],
            written: 0,
            received: 0,
            verify: false,
        };
        let cx = pair.ia.context();
        pair.sa
            .get_mut::<tcp::Socket>(ha)
            .connect(cx, (IpAddress::Ipv4(SERVER_IP), SERVER_PORT), CLIENT_PORT)
            .expect("connect");
        for _ in 0..10_000 {
            pair.round();
            let up = |s: &SocketSet<'_>, h| s.get::<tcp::Socket>(h).state() == tcp::State::Established;
            if up(&pair.sa, ha) && up(&pair.sb, hb) {
                for _ in 0..1_000 {
                    pair.round();
                }
                pair.mode = WireMode::Window;
                pair.transfer(warmup);
                pair.mode = mode;
                return pair;
            }
        }
        panic!("smoltcp handshake did not complete");
    }

    /// The wire statistics so far.
    pub fn wire(&self) -> WireStats {
        self.queues.borrow().stats
    }

    /// One round (steps 2 to 5 of the module's description) with no application activity.
    fn round(&mut self) -> bool {
        let before = self.wire();
        let mut a = WireEnd { queues: &self.queues, client: true, caps: self.caps.clone() };
        self.ia.poll(self.now, &mut a, &mut self.sa);
        let mut b = WireEnd { queues: &self.queues, client: false, caps: self.caps.clone() };
        self.ib.poll(self.now, &mut b, &mut self.sb);
        self.tick(before)
    }

    fn tick(&mut self, before: WireStats) -> bool {
        let mut q = self.queues.borrow_mut();
        let moved = q.stats.packets_to_client != before.packets_to_client
            || q.stats.packets_to_server != before.packets_to_server
            || !q.to_client.is_empty()
            || !q.to_server.is_empty();
        q.stats.rounds += 1;
        self.now += smoltcp::time::Duration::from_micros(ROUND.as_micros() as u64);
        if !moved {
            let next = match (self.ia.poll_at(self.now, &self.sa), self.ib.poll_at(self.now, &self.sb)) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            match next {
                Some(t) if t > self.now => {
                    self.now = t;
                    q.stats.timer_jumps += 1;
                }
                Some(_) => {}
                None => return false,
            }
        }
        true
    }

    /// The client writes `bytes` and the server reads them; returns once the server has read
    /// them all.
    pub fn transfer(&mut self, bytes: u64) {
        let mut to_write = bytes;
        let target = self.received + bytes;
        let mut idle = 0;
        while self.received < target {
            let before = self.wire();
            // 1. The client writes until its send buffer is full.
            let s = self.sa.get_mut::<tcp::Socket>(self.ha);
            while to_write > 0 {
                let n = s.send_slice(pattern_at(&self.wbuf, self.written, to_write)).expect("client socket open");
                self.written += n as u64;
                if n == 0 {
                    break;
                }
                to_write -= n as u64;
            }
            // 2. A: the server's ACKs in, data out.
            let mut a = WireEnd { queues: &self.queues, client: true, caps: self.caps.clone() };
            let mut b = WireEnd { queues: &self.queues, client: false, caps: self.caps.clone() };
            match self.mode {
                WireMode::Stretch => {
                    self.ia.poll(self.now, &mut a, &mut self.sa);
                }
                WireMode::Window | WireMode::Immediate => {
                    // One packet at a time (`poll_egress` sends at most one segment per
                    // socket), B answering each.
                    ingress_all(&mut self.ia, self.now, &mut a, &mut self.sa);
                    while self.ia.poll_egress(self.now, &mut a, &mut self.sa) != PollResult::None {
                        ingress_all(&mut self.ib, self.now, &mut b, &mut self.sb);
                        while self.ib.poll_egress(self.now, &mut b, &mut self.sb) != PollResult::None {}
                        if self.mode == WireMode::Immediate {
                            ingress_all(&mut self.ia, self.now, &mut a, &mut self.sa);
                        }
                    }
                    // The answers in flight arrive.
                    ingress_all(&mut self.ia, self.now, &mut a, &mut self.sa);
                }
            }
            // 3. B: data in, then the server reads everything there is.
            ingress_all(&mut self.ib, self.now, &mut b, &mut self.sb);
            let s = self.sb.get_mut::<tcp::Socket>(self.hb);
            while s.can_recv() {
                let n = s.recv_slice(&mut self.rbuf).expect("server socket open");
                if n == 0 {
                    break;
                }
                if self.verify {
                    check_pattern(&self.wbuf, self.received, &self.rbuf[..n]);
                }
                self.received += n as u64;
            }
            // 4. B: ACKs and window updates out.
            while self.ib.poll_egress(self.now, &mut b, &mut self.sb) != PollResult::None {}
            // 5. The clock.
            let moved = self.tick(before);
            idle = if moved { 0 } else { idle + 1 };
            assert!(idle < STUCK_ROUNDS, "smoltcp transfer stalled");
        }
    }
}

/// The reference for one copy of every byte: `bytes` copied from the client's 64 KiB buffer
/// into the server's, 64 KiB at a time (both stay in cache, as the applications' buffers do).
#[derive(Debug)]
pub struct Memcpy {
    src: Vec<u8>,
    dst: Vec<u8>,
}

impl Default for Memcpy {
    fn default() -> Memcpy {
        Memcpy { src: app_pattern(), dst: vec![0; APP_CHUNK] }
    }
}

impl Memcpy {
    /// Copies `bytes`.
    pub fn transfer(&mut self, bytes: u64) {
        let mut left = bytes as usize;
        while left > 0 {
            let n = left.min(APP_CHUNK);
            core::hint::black_box(&mut self.dst[..n]).copy_from_slice(core::hint::black_box(&self.src[..n]));
            left -= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    /// Enough for slow start to pass 4 MiB, and quick in debug builds.
    const TEST_WARMUP: u64 = 16 * MIB;

    #[test]
    fn ours_moves_the_bytes() {
        let cases = WireMode::ALL.map(|w| (true, w));
        for (mptcp, mode) in cases.into_iter().chain([(false, WireMode::Window)]) {
            let mut p = OursPair::warmed_up(ours_config(mptcp), mode, TEST_WARMUP);
            assert_eq!(p.received, TEST_WARMUP);
            p.verify = true;
            p.transfer(MIB + 1234);
            p.transfer(MIB);
            assert_eq!(p.received, TEST_WARMUP + 2 * MIB + 1234);
            let s = p.client_stats().expect("connection");
            assert_eq!(s.token.is_some(), mptcp, "MPTCP in use iff configured");
            assert_eq!(s.subflows[0].stats.bytes_retransmitted, 0, "a perfect wire loses nothing");
            // The warm-up left the congestion window above the flow-control window: the
            // benchmark measures the steady state.
            let window = ConnectionConfig::default().send_buffer as u64;
            assert!(s.subflows[0].cwnd >= window, "cwnd {} after the warm-up", s.subflows[0].cwnd);
            // Full-sized segments: more than 1 KiB of payload per data packet.
            assert!(p.wire.bytes_to_server / p.wire.packets_to_server > 1024, "{:?}", p.wire);
        }
    }

    #[test]
    fn smoltcp_moves_the_bytes() {
        let cases = WireMode::ALL.map(|w| (SmolConfig::FAIR, w));
        for (config, mode) in cases.into_iter().chain([(SmolConfig::LOOPBACK_EXAMPLE, WireMode::Window)]) {
            let mut p = SmolPair::warmed_up(config, mode, MIB);
            assert_eq!(p.received, MIB);
            p.verify = true;
            p.transfer(MIB + 1234);
            p.transfer(MIB);
            assert_eq!(p.received, 3 * MIB + 1234);
            let w = p.wire();
            assert!(w.bytes_to_server / w.packets_to_server > 1024, "{w:?}");
        }
    }
}
