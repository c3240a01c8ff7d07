//! The endpoint: owns listeners and connections, demultiplexes received segments by 4-tuple,
//! answers segments that match nothing with RST (RFC 9293 §3.10.7.1), and multiplexes the
//! connections' output and timers behind one sans-IO interface:
//!
//! - [`Endpoint::handle`] — a received IP packet, with `now`;
//! - [`Endpoint::poll_transmit`] — the next IP packet to send;
//! - [`Endpoint::poll_timeout`] / [`Endpoint::handle_timeout`] — the timer;
//! - [`Endpoint::poll_event`] — what happened.
//!
//! Randomness (keys, initial sequence numbers, timestamp offsets) comes from the injected
//! [`CryptoRng`]; the driver passes the OS CSPRNG, tests a seeded generator.

use core::fmt;
use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, HashMap, VecDeque};

use rand::CryptoRng;

use crate::connection::{ConnEvent, Connection, ConnectionConfig};
use crate::crypto::{Key, Token};
use crate::subflow::SynInfo;
use crate::time::Instant;
use crate::wire::mptcp::{CapablePhase, JoinRepr, ResetReason, TcpRstRepr};
use crate::wire::{ChecksumMode, Error, SegmentRepr, TcpFlags, TcpOptions};

/// Names a connection of this endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub u64);

/// Endpoint settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Settings for every connection.
    pub connection: ConnectionConfig,
    /// Most connections at once; further SYNs are answered with RST (and MP_TCPRST "lack of
    /// resources" when they offer MPTCP, RFC 8684 §3.6).
    pub max_connections: usize,
    /// Most half-open connections (a listener's SYN answered, the handshake not complete, at
    /// least one); a SYN beyond them takes the place of the oldest (RFC 4987 §3.5), so that a
    /// SYN flood holds bounded state and a legitimate handshake that completes in time gets
    /// through. Keep it well below `max_connections`.
    pub max_half_open: usize,
    /// Most bytes all connections together hold out of order (each also within its own
    /// `ConnectionConfig::max_reorder_bytes`); a segment beyond is dropped unacknowledged.
    pub max_reorder_bytes: usize,
    /// Whether received checksums are verified (off when the device already did).
    pub checksum_mode: ChecksumMode,
}

impl Default for EndpointConfig {
    fn default() -> EndpointConfig {
        EndpointConfig {
            connection: ConnectionConfig::default(),
            max_connections: 4096,
            max_half_open: 256,
            max_reorder_bytes: 64 << 20,
            checksum_mode: ChecksumMode::Full,
        }
    }
}

/// Something that happened at the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A listener accepted a new connection; take it with [`Endpoint::accept`].
    Incoming(ConnectionHandle),
    /// An event of one connection.
    Connection(ConnectionHandle, ConnEvent),
}

/// Counters of packets the endpoint could not hand to a connection, and of its caps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Packets received.
    pub packets_received: u64,
    /// Packets that failed to parse (bad header, checksum, truncated).
    pub malformed: u64,
    /// Valid packets this stack does not handle: not TCP (ICMP, the kernel's IPv6 neighbour
    /// discovery and MLD on a TUN device), IP fragments, IPv6 extension headers.
    pub unsupported: u64,
    /// Options skipped inside otherwise valid segments.
    pub ignored_options: u64,
    /// Segments for no connection and no listener.
    pub no_connection: u64,
    /// RSTs sent for such segments.
    pub resets_sent: u64,
    /// SYNs refused because of `max_connections`.
    pub refused: u64,
    /// MP_JOIN SYNs refused: unknown token, connection not ready, subflow limit (RFC 8684
    /// §3.2; answered with RST and MP_TCPRST, no state kept).
    pub joins_refused: u64,
    /// Half-open connections dropped for a new SYN because of `max_half_open`.
    pub half_open_evicted: u64,
    /// Segments dropped because they would have held more than the endpoint's
    /// `max_reorder_bytes` out of order.
    pub reorder_dropped: u64,
    /// The most bytes held out of order by all connections together at any time.
    pub reorder_peak: usize,
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// `max_connections` reached.
    TooManyConnections,
    /// No unused token could be drawn.
    NoToken,
    /// No free local port for this address pair.
    NoPort,
    /// Local and remote address families differ.
    AddressFamily,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectError::TooManyConnections => "too many connections",
            ConnectError::NoToken => "no unused MPTCP token",
            ConnectError::NoPort => "no free local port",
            ConnectError::AddressFamily => "local and remote address families differ",
        })
    }
}

impl core::error::Error for ConnectError {}

/// First ephemeral port (IANA dynamic range).
const EPHEMERAL_START: u16 = 49152;

/// The sans-IO MPTCP endpoint.
pub struct Endpoint {
    config: EndpointConfig,
    rng: Box<dyn CryptoRng + Send>,
    connections: BTreeMap<ConnectionHandle, Connection>,
    by_tuple: HashMap<(SocketAddr, SocketAddr), ConnectionHandle>,
    /// The last 4-tuple `by_tuple` resolved: consecutive packets mostly belong to the same
    /// subflow, and this spares them the (SipHash) lookup.
    last_tuple: Option<((SocketAddr, SocketAddr), ConnectionHandle)>,
    tokens: HashMap<Token, ConnectionHandle>,
    listeners: Vec<SocketAddr>,
    accept_queue: VecDeque<ConnectionHandle>,
    /// Connections created by a SYN, oldest first; some may have completed their handshake
    /// since (they are skipped when the oldest half-open one is looked for).
    half_open: VecDeque<ConnectionHandle>,
    /// Bytes held out of order by all connections, as last reported by each.
    reorder_bytes: usize,
    next_handle: u64,
    next_port: u16,
    stray: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    round_robin: u64,
    stats: EndpointStats,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("connections", &self.connections.len())
            .field("listeners", &self.listeners)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A new endpoint drawing its randomness from `rng`.
    pub fn new(config: EndpointConfig, rng: Box<dyn CryptoRng + Send>) -> Endpoint {
        Endpoint {
            config,
            rng,
            connections: BTreeMap::new(),
            by_tuple: HashMap::new(),
            last_tuple: None,
            tokens: HashMap::new(),
            listeners: Vec::new(),
            accept_queue: VecDeque::new(),
            half_open: VecDeque::new(),
            reorder_bytes: 0,
            next_handle: 0,
            next_port: EPHEMERAL_START,
            stray: VecDeque::new(),
            events: VecDeque::new(),
            round_robin: 0,
            stats: EndpointStats::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Connections held (open, half-open, or closing).
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Half-open connections held (see [`EndpointConfig::max_half_open`]).
    pub fn half_open_count(&self) -> usize {
        self.connections.values().filter(|c| c.is_half_open()).count()
    }

    /// Bytes all connections hold out of order now (see [`EndpointConfig::max_reorder_bytes`]).
    pub fn reorder_bytes(&self) -> usize {
        self.reorder_bytes
    }

    /// Accepts connections to `addr` (an unspecified IP matches any local address).
    pub fn listen(&mut self, addr: SocketAddr) {
        if !self.listeners.contains(&addr) {
            self.listeners.push(addr);
        }
    }

    /// Stops accepting connections to `addr`; later SYNs to it get a RST (RFC 9293 §3.10.7.1).
    pub fn unlisten(&mut self, addr: SocketAddr) {
        self.listeners.retain(|l| *l != addr);
    }

    /// The next connection a listener accepted.
    pub fn accept(&mut self) -> Option<ConnectionHandle> {
        self.accept_queue.pop_front()
    }

    /// A connection, for reading, writing and statistics.
    pub fn connection(&self, h: ConnectionHandle) -> Option<&Connection> {
        self.connections.get(&h)
    }

    /// A connection, for reading, writing, shutdown and abort.
    pub fn connection_mut(&mut self, h: ConnectionHandle) -> Option<&mut Connection> {
        self.connections.get_mut(&h)
    }

    /// Opens a connection from `local_ip` to `remote` with the endpoint's connection settings.
    pub fn connect(&mut self, local_ip: IpAddr, remote: SocketAddr) -> Result<ConnectionHandle, ConnectError> {
        let config = self.config.connection.clone();
        self.connect_with(local_ip, remote, config)
    }

    /// Opens a connection from `local_ip` to `remote` with its own settings (path manager,
    /// scheduler, congestion control, buffers, or plain TCP).
    pub fn connect_with(
        &mut self,
        local_ip: IpAddr,
        remote: SocketAddr,
        config: ConnectionConfig,
    ) -> Result<ConnectionHandle, ConnectError> {
        if local_ip.is_ipv4() != remote.is_ipv4() {
            return Err(ConnectError::AddressFamily);
        }
        if self.connections.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let local = self.ephemeral(local_ip, remote).ok_or(ConnectError::NoPort)?;
        let key = self.new_key().ok_or(ConnectError::NoToken)?;
        let (iss, ts) = (self.rng.next_u32(), self.rng.next_u32());
        let conn = Connection::connect(config, key, local, remote, iss, ts);
        Ok(self.insert(conn))
    }

    fn ephemeral(&mut self, ip: IpAddr, remote: SocketAddr) -> Option<SocketAddr> {
        for _ in 0..=(u16::MAX - EPHEMERAL_START) {
            let port = self.next_port;
            self.next_port = if port == u16::MAX { EPHEMERAL_START } else { port + 1 };
            let local = SocketAddr::new(ip, port);
            if !self.by_tuple.contains_key(&(local, remote)) {
                return Some(local);
            }
        }
        None
    }

    fn new_key(&mut self) -> Option<Key> {
        let tokens = &self.tokens;
        Key::generate(self.rng.as_mut(), |t| tokens.contains_key(&t)).ok()
    }

    fn insert(&mut self, conn: Connection) -> ConnectionHandle {
        let h = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        for tuple in conn.subflow_addrs() {
            self.by_tuple.insert(tuple, h);
        }
        self.last_tuple = None;
        self.tokens.insert(conn.local_key().token(), h);
        self.connections.insert(h, conn);
        h
    }

    /// Handles one received IP packet.
    pub fn handle(&mut self, now: Instant, packet: &[u8]) {
        self.stats.packets_received += 1;
        let (seg, ignored) = match SegmentRepr::parse(packet, self.config.checksum_mode) {
            Ok(x) => x,
            Err(Error::Unsupported) => {
                self.stats.unsupported += 1;
                return;
            }
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        self.stats.ignored_options += u64::from(ignored.count);
        let local = SocketAddr::new(seg.dst, seg.dst_port);
        let remote = SocketAddr::new(seg.src, seg.src_port);
        if let Some(h) = self.lookup(local, remote) {
            let others = self.reorder_bytes - self.connections.get(&h).map_or(0, Connection::reorder_accounted);
            if let Some(conn) = self.connections.get_mut(&h) {
                conn.set_reorder_budget(self.config.max_reorder_bytes.saturating_sub(others));
                conn.handle_segment(now, &seg);
                self.after(h);
            }
            return;
        }
        let syn_only = seg.flags.contains(TcpFlags::SYN) && !seg.flags.contains(TcpFlags::ACK);
        if syn_only && let Some(join) = seg.options.mptcp.join {
            self.on_join_syn(local, remote, &seg, &join);
            return;
        }
        if syn_only && self.listening(local) {
            self.on_listener_syn(now, local, remote, &seg);
            return;
        }
        self.stats.no_connection += 1;
        self.reset_stray(&seg, None);
    }

    /// RFC 8684 §3.2: a SYN with MP_JOIN names its connection by our token. An unknown token,
    /// or a connection that cannot take another subflow (see [`Connection::admit_join`]), gets
    /// RST with MP_TCPRST and no state.
    fn on_join_syn(&mut self, local: SocketAddr, remote: SocketAddr, seg: &SegmentRepr<'_>, join: &JoinRepr) {
        let JoinRepr::Syn { token, .. } = *join else { return };
        let h = self.tokens.get(&Token(token)).copied();
        let admitted =
            h.and_then(|h| self.connections.get_mut(&h)).map_or(Err(ResetReason::MptcpError), Connection::admit_join);
        let (Some(h), Ok(())) = (h, admitted) else {
            if let Some(h) = h {
                self.after(h); // the events of a pending join reset to make room
            }
            self.stats.joins_refused += 1;
            self.reset_stray(seg, admitted.err());
            return;
        };
        let (iss, ts, nonce) = (self.rng.next_u32(), self.rng.next_u32(), self.rng.next_u32());
        let syn = SynInfo::from_segment(seg);
        if let Some(conn) = self.connections.get_mut(&h) {
            conn.accept_join(local, remote, iss, ts, nonce, &syn, join);
        }
        self.by_tuple.insert((local, remote), h);
        self.after(h);
    }

    /// Opens the subflows connection `h` asked for (the path manager's or the application's):
    /// a port, an initial sequence number and a nonce each.
    fn open_joins(&mut self, h: ConnectionHandle) {
        loop {
            let Some(req) = self.connections.get_mut(&h).and_then(Connection::take_join_request) else {
                return;
            };
            let local = match req.local_port {
                Some(port) => {
                    Some(SocketAddr::new(req.local, port)).filter(|l| !self.by_tuple.contains_key(&(*l, req.remote)))
                }
                None => self.ephemeral(req.local, req.remote),
            };
            let (iss, ts, nonce) = (self.rng.next_u32(), self.rng.next_u32(), self.rng.next_u32());
            let Some(conn) = self.connections.get_mut(&h) else { return };
            match local {
                Some(local) => {
                    conn.start_join(&req, local, iss, ts, nonce);
                    self.by_tuple.insert((local, req.remote), h);
                }
                None => conn.join_request_failed(req.id),
            }
        }
    }

    /// The connection a 4-tuple belongs to.
    fn lookup(&mut self, local: SocketAddr, remote: SocketAddr) -> Option<ConnectionHandle> {
        if let Some((tuple, h)) = self.last_tuple
            && tuple == (local, remote)
        {
            return Some(h);
        }
        let h = *self.by_tuple.get(&(local, remote))?;
        self.last_tuple = Some(((local, remote), h));
        Some(h)
    }

    fn listening(&self, local: SocketAddr) -> bool {
        self.listeners.iter().any(|l| l.port() == local.port() && (l.ip().is_unspecified() || l.ip() == local.ip()))
    }

    fn on_listener_syn(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, seg: &SegmentRepr<'_>) {
        // RFC 8684 §3.1: an MP_CAPABLE SYN carries only the version and the checksum flag.
        let capable = seg.options.mptcp.capable.filter(|c| c.phase == CapablePhase::Syn);
        self.make_half_open_room();
        let key = if self.connections.len() < self.config.max_connections { self.new_key() } else { None };
        let Some(key) = key else {
            self.stats.refused += 1;
            // RFC 8684 §3.6: "lack of resources", to a SYN that offered MPTCP.
            self.reset_stray(seg, capable.map(|_| ResetReason::Resource));
            return;
        };
        let (iss, ts) = (self.rng.next_u32(), self.rng.next_u32());
        let conn = Connection::accept(
            self.config.connection.clone(),
            key,
            local,
            remote,
            iss,
            ts,
            &SynInfo::from_segment(seg),
            capable.map(|c| c.flags.checksum_required),
        );
        let h = self.insert(conn);
        self.half_open.push_back(h);
        self.accept_queue.push_back(h);
        self.events.push_back(Event::Incoming(h));
        let _ = now;
    }

    /// Makes room for one more half-open connection: at `max_half_open`, the oldest is dropped
    /// (RFC 4987 §3.5, "recycling the oldest half-open TCB"). Refusing new SYNs instead would
    /// let a flood that fills the table lock every legitimate client out until its entries time
    /// out; recycling only requires a legitimate handshake to complete before the flood has
    /// sent `max_half_open` more SYNs. The dropped connection is closed (`Aborted`) without a
    /// RST: its peer is most likely forged, and a real one learns from the RST its next segment
    /// gets.
    fn make_half_open_room(&mut self) {
        let cap = self.config.max_half_open.max(1);
        if self.half_open.len() < cap {
            return;
        }
        let connections = &self.connections;
        self.half_open.retain(|h| connections.get(h).is_some_and(Connection::is_half_open));
        while self.half_open.len() >= cap {
            let Some(h) = self.half_open.pop_front() else { return };
            self.stats.half_open_evicted += 1;
            self.accept_queue.retain(|a| *a != h);
            if let Some(conn) = self.connections.get_mut(&h) {
                conn.abort();
                collect_events(&mut self.events, h, conn);
                self.remove(h);
            }
        }
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a RST (unless it is one), with
    /// MP_TCPRST when there is an MPTCP reason (RFC 8684 §3.6).
    fn reset_stray(&mut self, seg: &SegmentRepr<'_>, reason: Option<ResetReason>) {
        if seg.flags.contains(TcpFlags::RST) {
            return;
        }
        let (seq, ack, flags) = if seg.flags.contains(TcpFlags::ACK) {
            (seg.ack, 0, TcpFlags::RST)
        } else {
            let len = seg.payload.len() as u32
                + u32::from(seg.flags.contains(TcpFlags::SYN))
                + u32::from(seg.flags.contains(TcpFlags::FIN));
            (0, seg.seq.wrapping_add(len), TcpFlags::RST | TcpFlags::ACK)
        };
        let rst = SegmentRepr {
            src: seg.dst,
            dst: seg.src,
            tos: 0,
            hop_limit: 64,
            src_port: seg.dst_port,
            dst_port: seg.src_port,
            seq,
            ack,
            flags,
            window: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        let mut rst = rst;
        rst.options.mptcp.tcp_rst = reason.map(|reason| TcpRstRepr { flags: 0, reason });
        let mut buf = vec![0u8; 64];
        if let Ok((len, _)) = rst.emit(&mut buf, ChecksumMode::Full) {
            buf.truncate(len);
            self.stray.push_back(buf);
            self.stats.resets_sent += 1;
        }
    }

    /// Moves a connection's events to the endpoint and forgets it once fully closed.
    fn after(&mut self, h: ConnectionHandle) {
        let Some(conn) = self.connections.get_mut(&h) else { return };
        if conn.has_join_requests() {
            self.open_joins(h);
        }
        let Some(conn) = self.connections.get_mut(&h) else { return };
        for tuple in conn.prune_ended() {
            self.by_tuple.remove(&tuple);
            self.last_tuple = None;
        }
        let (before, held, dropped) = conn.reorder_report();
        self.reorder_bytes = self.reorder_bytes - before + held;
        self.stats.reorder_peak = self.stats.reorder_peak.max(self.reorder_bytes);
        self.stats.reorder_dropped += dropped;
        if collect_events(&mut self.events, h, conn) {
            self.remove(h);
        }
    }

    /// Forgets a fully closed connection.
    fn remove(&mut self, h: ConnectionHandle) {
        let conn = self.connections.remove(&h).expect("present");
        self.reorder_bytes -= conn.reorder_accounted();
        for tuple in conn.subflow_addrs() {
            self.by_tuple.remove(&tuple);
        }
        self.last_tuple = None;
        self.tokens.remove(&conn.local_key().token());
    }

    /// Writes the next packet to send into `buf` (at least 64 KiB + headers is always
    /// enough; 1500 bytes suffice for the default MSS); returns its length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if let Some(p) = self.stray.pop_front() {
            let n = p.len().min(buf.len());
            buf[..n].copy_from_slice(&p[..n]);
            return Some(n);
        }
        // Round-robin over connections so that one busy connection cannot starve the rest:
        // start after the one that sent last, wrap around once. A pass walks the map from one
        // search; a connection that closes ends it (it is removed) and the next resumes after it.
        let start = self.round_robin;
        let mut cursor = start;
        let mut wrapped = false;
        loop {
            let in_pass = |h: &ConnectionHandle| !wrapped || h.0 < start;
            let polled = if cursor == 0 {
                let conns = self.connections.iter_mut().take_while(|(h, _)| in_pass(h));
                poll_connections(conns, &mut self.events, now, buf)
            } else if self.connections.last_key_value().is_some_and(|(h, _)| h.0 >= cursor) {
                let conns = self.connections.range_mut(ConnectionHandle(cursor)..).take_while(|(h, _)| in_pass(h));
                poll_connections(conns, &mut self.events, now, buf)
            } else {
                Polled::default()
            };
            if let Some(h) = polled.drained {
                self.remove(h);
            }
            if let Some((h, n)) = polled.sent {
                self.round_robin = h.0 + 1;
                return Some(n);
            }
            if let Some(h) = polled.drained {
                cursor = h.0 + 1;
            } else if !wrapped && start > 0 {
                wrapped = true;
                cursor = 0;
            } else {
                return None;
            }
        }
    }

    /// The next instant [`Endpoint::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.connections.values().filter_map(Connection::poll_timeout).min()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<ConnectionHandle> = self
            .connections
            .iter()
            .filter(|(_, c)| c.poll_timeout().is_some_and(|t| t <= now))
            .map(|(h, _)| *h)
            .collect();
        for h in due {
            if let Some(c) = self.connections.get_mut(&h) {
                c.handle_timeout(now);
            }
            self.after(h);
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Runs `f` on a connection, then collects its events (use for write, read, shutdown,
    /// abort).
    pub fn with_connection<R>(&mut self, h: ConnectionHandle, f: impl FnOnce(&mut Connection) -> R) -> Option<R> {
        let r = f(self.connections.get_mut(&h)?);
        self.after(h);
        Some(r)
    }
}

/// Moves a connection's events to the endpoint's queue; returns whether the connection is
/// fully closed and can be forgotten.
fn collect_events(events: &mut VecDeque<Event>, h: ConnectionHandle, conn: &mut Connection) -> bool {
    while let Some(e) = conn.poll_event() {
        events.push_back(Event::Connection(h, e));
    }
    conn.is_drained()
}

/// What one pass of [`Endpoint::poll_transmit`] over connections found.
#[derive(Default)]
struct Polled {
    /// The connection that wrote a packet, and its length.
    sent: Option<(ConnectionHandle, usize)>,
    /// A connection that is fully closed (the pass stopped there).
    drained: Option<ConnectionHandle>,
}

/// Asks each connection in turn for a packet, until one writes one or one is fully closed.
fn poll_connections<'a>(
    conns: impl Iterator<Item = (&'a ConnectionHandle, &'a mut Connection)>,
    events: &mut VecDeque<Event>,
    now: Instant,
    buf: &mut [u8],
) -> Polled {
    for (&h, conn) in conns {
        let sent = conn.poll_transmit(now, buf).map(|n| (h, n));
        let drained = collect_events(events, h, conn).then_some(h);
        if sent.is_some() || drained.is_some() {
            return Polled { sent, drained };
        }
    }
    Polled::default()
}
