//! The application side of a bulk transfer, driven over an [`Endpoint`]: the client sends a
//! number of seeded pseudo-random bytes and closes its sending side; the server reads to the
//! end (and with `echo` sends everything back). Both hash what they sent and received, so that
//! a run proves its data arrived intact. The simulator, `mptcp sim` and the TUN event loop all
//! drive the same code.

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use mptcp_stack::connection::{CloseReason, ConnEvent, ConnectionStats, Mode};
use mptcp_stack::endpoint::{ConnectionHandle, Endpoint, Event};
use mptcp_stack::time::Instant;
use sha2::{Digest, Sha256};

use crate::event_log::EventRecord;
use crate::timeseries::TimeSeries;

/// Bytes written per call.
const WRITE_CHUNK: usize = 64 * 1024;

/// A deterministic byte stream (xorshift64*), so that large transfers need no stored data.
#[derive(Debug, Clone)]
pub struct PatternSource {
    state: u64,
}

impl PatternSource {
    /// A stream from `seed`.
    pub fn new(seed: u64) -> PatternSource {
        PatternSource { state: seed | 1 }
    }

    /// Fills `buf` with the next bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let v = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Which end of the transfer this is.
#[derive(Debug, Clone)]
pub enum Role {
    /// Connects to `remote` from `local`, sends `bytes`, then shuts down its side.
    Client {
        /// Our address.
        local: IpAddr,
        /// The server.
        remote: SocketAddr,
        /// How much to send.
        bytes: u64,
        /// Seed of the data.
        seed: u64,
    },
    /// Listens on `listen` and reads to the end.
    Server {
        /// Where to listen.
        listen: SocketAddr,
    },
}

/// When a side shuts down its sending direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosePolicy {
    /// As soon as its own data is written (the client's default).
    AfterSend,
    /// After its data is written and the peer's end of stream arrived (the server's default).
    AfterEof,
    /// Abort (MP_FASTCLOSE) once the peer has acknowledged this many bytes.
    AbortAfter(u64),
}

/// Progress and result of one transfer.
#[derive(Debug, Clone, Default)]
pub struct TransferReport {
    /// Bytes sent by this side.
    pub bytes_sent: u64,
    /// Bytes received by this side.
    pub bytes_received: u64,
    /// SHA-256 of what was sent.
    pub sha256_sent: String,
    /// SHA-256 of what was received.
    pub sha256_received: String,
    /// When the connection was established.
    pub established_at: Option<Instant>,
    /// Whether it speaks MPTCP (false after fallback).
    pub mptcp: Option<bool>,
    /// When the peer's end of stream arrived.
    pub eof_at: Option<Instant>,
    /// When and why the connection ended.
    pub closed: Option<(Instant, CloseReason)>,
}

/// One side of a bulk transfer over an endpoint.
#[derive(Debug)]
pub struct Transfer {
    role: Role,
    echo: bool,
    close: ClosePolicy,
    reading: bool,
    conn: Option<ConnectionHandle>,
    source: PatternSource,
    to_send: u64,
    shut: bool,
    pending_echo: Vec<u8>,
    sent_hash: Sha256,
    recv_hash: Sha256,
    report: TransferReport,
    buf: Vec<u8>,
    /// The connection's statistics when something last happened to it (its establishment, end
    /// of stream, shutdown, close): the endpoint forgets a connection once it is closed.
    last_stats: Option<ConnectionStats>,
    snapshot_due: bool,
    /// Every event of the connection but readiness, with its time.
    events: Vec<EventRecord>,
    /// Per-subflow samples, when asked for.
    timeseries: Option<TimeSeries>,
}

impl Transfer {
    /// A transfer in `role`; with `echo` the server sends back what it reads.
    pub fn new(role: Role, echo: bool) -> Transfer {
        let (to_send, seed) = match role {
            Role::Client { bytes, seed, .. } => (bytes, seed),
            Role::Server { .. } => (0, 0),
        };
        let close = match role {
            Role::Client { .. } => ClosePolicy::AfterSend,
            Role::Server { .. } => ClosePolicy::AfterEof,
        };
        Transfer {
            role,
            echo,
            close,
            reading: true,
            conn: None,
            source: PatternSource::new(seed),
            to_send,
            shut: false,
            pending_echo: Vec::new(),
            sent_hash: Sha256::new(),
            recv_hash: Sha256::new(),
            report: TransferReport::default(),
            buf: vec![0; WRITE_CHUNK],
            last_stats: None,
            snapshot_due: false,
            events: Vec::new(),
            timeseries: None,
        }
    }

    /// Samples the connection's subflows every `interval` from its first step with a connection
    /// (see [`crate::timeseries`]); the driver wakes the transfer at
    /// [`next_sample_at`](Self::next_sample_at).
    pub fn record_timeseries(&mut self, interval: Duration) {
        self.timeseries = Some(TimeSeries::new(interval));
    }

    /// The samples so far, if recording.
    pub fn timeseries(&self) -> Option<&TimeSeries> {
        self.timeseries.as_ref()
    }

    /// When the next sample is due: a deadline for the driver's wait, until the connection ends.
    pub fn next_sample_at(&self) -> Option<Instant> {
        self.timeseries.as_ref().filter(|_| !self.is_closed()).and_then(TimeSeries::next_at)
    }

    /// The connection's events so far (all but readiness), in order.
    pub fn events(&self) -> &[EventRecord] {
        &self.events
    }

    /// Sets when this side closes.
    pub fn set_close_policy(&mut self, close: ClosePolicy) {
        self.close = close;
    }

    /// Makes this side send `bytes` of data seeded with `seed` (the server sends nothing by
    /// default).
    pub fn set_send(&mut self, bytes: u64, seed: u64) {
        self.to_send = bytes;
        self.source = PatternSource::new(seed);
    }

    /// Stops or resumes reading (to let the receive window fill up).
    pub fn set_reading(&mut self, reading: bool) {
        self.reading = reading;
    }

    /// Starts it: the client connects, the server listens.
    pub fn start(&mut self, endpoint: &mut Endpoint) -> Result<(), mptcp_stack::endpoint::ConnectError> {
        match &self.role {
            Role::Client { local, remote, .. } => self.conn = Some(endpoint.connect(*local, *remote)?),
            Role::Server { listen } => endpoint.listen(*listen),
        }
        Ok(())
    }

    /// Our address: the client's source address, or the address the server listens on.
    pub fn local_address(&self) -> Option<IpAddr> {
        match &self.role {
            Role::Client { local, .. } => Some(*local),
            Role::Server { listen } => Some(listen.ip()),
        }
    }

    /// Which end this is.
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The connection, once there is one.
    pub fn connection(&self) -> Option<ConnectionHandle> {
        self.conn
    }

    /// What happened so far (hashes are of the bytes so far).
    pub fn report(&self) -> TransferReport {
        let mut r = self.report.clone();
        r.sha256_sent = hex(&self.sent_hash.clone().finalize());
        r.sha256_received = hex(&self.recv_hash.clone().finalize());
        r
    }

    /// The connection's statistics: live while the endpoint has the connection, else as they
    /// were at its last event (establishment, end of stream, shutdown).
    pub fn stats(&self, endpoint: &Endpoint) -> Option<ConnectionStats> {
        self.conn.and_then(|h| endpoint.connection(h)).map(|c| c.stats()).or_else(|| self.last_stats.clone())
    }

    /// The connection ended (cleanly or not).
    pub fn is_closed(&self) -> bool {
        self.report.closed.is_some()
    }

    /// Everything sent was acknowledged and the peer's end of stream arrived.
    pub fn is_complete(&self) -> bool {
        self.shut && self.report.eof_at.is_some()
    }

    /// Handles the endpoint's events and moves data; call after every input to the endpoint.
    pub fn step(&mut self, now: Instant, endpoint: &mut Endpoint) {
        while let Some(ev) = endpoint.poll_event() {
            if self.conn.is_none() {
                self.take_incoming(now, endpoint);
            }
            match ev {
                Event::Connection(h, e) if Some(h) == self.conn => self.on_event(now, e, endpoint),
                Event::Incoming(_) | Event::Connection(..) => {}
            }
        }
        if self.conn.is_none() {
            // A connection that arrived while another was served waits in the accept queue.
            self.take_incoming(now, endpoint);
        }
        let Some(h) = self.conn else { return };
        if self.reading {
            self.read(now, endpoint, h);
        }
        self.write(endpoint, h);
        // With a time series, the counters stay fresh from the shutdown on, so that the last
        // sample (at the close, when the endpoint has forgotten the connection) is complete.
        if self.snapshot_due || (self.shut && self.timeseries.is_some()) {
            self.snapshot_due = false;
            if let Some(c) = endpoint.connection(h) {
                self.last_stats = Some(c.stats());
            }
        }
        self.sample(now, endpoint, h);
        // Closing or aborting may have ended the connection already.
        while let Some(ev) = endpoint.poll_event() {
            if let Event::Connection(c, e) = ev
                && c == h
            {
                self.on_event(now, e, endpoint);
            }
        }
    }

    /// Records a sample when one is due.
    fn sample(&mut self, now: Instant, endpoint: &Endpoint, h: ConnectionHandle) {
        let Some(ts) = &mut self.timeseries else { return };
        ts.start(now);
        if ts.is_due(now)
            && let Some(c) = endpoint.connection(h)
        {
            record(ts, now, c.stats(), self.report.bytes_sent);
        }
    }

    /// Serves the oldest accepted connection; if its handshake already completed (its events
    /// went by while another was served), takes its state from the connection itself.
    fn take_incoming(&mut self, now: Instant, endpoint: &mut Endpoint) {
        let Some(h) = endpoint.accept() else { return };
        self.conn = Some(h);
        if let Some(c) = endpoint.connection(h)
            && c.mode() != Mode::Handshake
        {
            self.report.established_at = Some(now);
            self.report.mptcp = Some(c.mode() == Mode::Mptcp);
        }
    }

    fn on_event(&mut self, now: Instant, e: ConnEvent, endpoint: &Endpoint) {
        if EventRecord::is_logged(&e) {
            self.snapshot_due = true;
            self.log(now, e, endpoint);
        }
        match e {
            ConnEvent::Established { mptcp } => {
                self.report.established_at = Some(now);
                self.report.mptcp = Some(mptcp);
            }
            ConnEvent::FellBack(_) => self.report.mptcp = Some(false),
            ConnEvent::Closed(reason) => {
                self.report.closed = Some((now, reason));
                // The last sample, with the counters as they were last seen.
                if let (Some(ts), Some(stats)) = (&mut self.timeseries, &self.last_stats) {
                    record(ts, now, stats.clone(), self.report.bytes_sent);
                }
            }
            _ => {}
        }
    }

    /// Adds `e` to the event log, with its subflow's endpoints (from the connection, or from an
    /// earlier event of the same subflow once the connection forgot it).
    fn log(&mut self, now: Instant, e: ConnEvent, endpoint: &Endpoint) {
        let mut record = EventRecord { at: now, event: e, endpoints: None };
        if let Some(id) = record.subflow() {
            let live = self.conn.and_then(|h| endpoint.connection(h)).and_then(|c| c.subflow_snapshot(id));
            record.endpoints = live
                .map(|s| (s.local, s.remote))
                .or_else(|| self.events.iter().rev().find(|r| r.subflow() == Some(id)).and_then(|r| r.endpoints));
        }
        self.events.push(record);
    }

    fn read(&mut self, now: Instant, endpoint: &mut Endpoint, h: ConnectionHandle) {
        loop {
            let r = endpoint.with_connection(h, |c| c.read(&mut self.buf)).flatten();
            match r {
                Some(0) => {
                    if self.report.eof_at.is_none() {
                        self.report.eof_at = Some(now);
                        self.snapshot_due = true;
                    }
                    break;
                }
                Some(n) => {
                    self.recv_hash.update(&self.buf[..n]);
                    self.report.bytes_received += n as u64;
                    if self.echo {
                        self.pending_echo.extend_from_slice(&self.buf[..n]);
                    }
                }
                None => break,
            }
        }
    }

    fn write(&mut self, endpoint: &mut Endpoint, h: ConnectionHandle) {
        if !self.pending_echo.is_empty() {
            let n = endpoint.with_connection(h, |c| c.write(&self.pending_echo)).unwrap_or(0);
            self.sent_hash.update(&self.pending_echo[..n]);
            self.report.bytes_sent += n as u64;
            self.pending_echo.drain(..n);
        }
        while self.to_send > 0 {
            let want = (self.to_send as usize).min(WRITE_CHUNK);
            let free = endpoint.connection(h).map_or(0, |c| c.writable());
            if free == 0 {
                break;
            }
            let chunk = want.min(free);
            self.source.fill(&mut self.buf[..chunk]);
            let n = endpoint.with_connection(h, |c| c.write(&self.buf[..chunk])).unwrap_or(0);
            debug_assert_eq!(n, chunk, "writable() promised the space");
            self.sent_hash.update(&self.buf[..n]);
            self.report.bytes_sent += n as u64;
            self.to_send -= n as u64;
            if n == 0 {
                break;
            }
        }
        let sent_all = self.to_send == 0 && self.pending_echo.is_empty();
        let done_sending = match self.close {
            ClosePolicy::AfterSend => sent_all,
            ClosePolicy::AfterEof => sent_all && self.report.eof_at.is_some(),
            ClosePolicy::AbortAfter(n) => {
                let acked = endpoint.connection(h).map_or(0, |c| c.stats().bytes_acked);
                if acked >= n && !self.shut {
                    self.shut = true;
                    endpoint.with_connection(h, |c| c.abort());
                }
                false
            }
        };
        if done_sending && !self.shut {
            self.shut = true;
            self.snapshot_due = true;
            endpoint.with_connection(h, |c| c.shutdown());
        }
    }
}

/// Records a sample of `stats` at `now`, counting as acknowledged no more than the `written`
/// bytes (the connection's count includes the DATA_FIN's sequence number once it is acked).
fn record(ts: &mut TimeSeries, now: Instant, mut stats: ConnectionStats, written: u64) {
    stats.bytes_acked = stats.bytes_acked.min(written);
    ts.record(now, &stats);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
