//! The application side of a bulk transfer, driven over an [`Endpoint`]: the client sends a
//! number of seeded pseudo-random bytes and closes its sending side; the server reads to the
//! end (and with `echo` sends everything back). Both hash what they sent and received, so that
//! a run proves its data arrived intact. The simulator, `mptcp sim` and the TUN event loop all
//! drive the same code.

use core::net::{IpAddr, SocketAddr};

use mptcp_stack::connection::{CloseReason, ConnEvent, ConnectionStats, Mode};
use mptcp_stack::endpoint::{ConnectionHandle, Endpoint, Event};
use mptcp_stack::time::Instant;
use sha2::{Digest, Sha256};

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
        }
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
                Event::Connection(h, e) if Some(h) == self.conn => self.on_event(now, e),
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
        if self.snapshot_due {
            self.snapshot_due = false;
            if let Some(c) = endpoint.connection(h) {
                self.last_stats = Some(c.stats());
            }
        }
        // Closing or aborting may have ended the connection already.
        while let Some(ev) = endpoint.poll_event() {
            if let Event::Connection(c, e) = ev
                && c == h
            {
                self.on_event(now, e);
            }
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

    fn on_event(&mut self, now: Instant, e: ConnEvent) {
        if !matches!(e, ConnEvent::Readable | ConnEvent::Writable) {
            self.snapshot_due = true;
        }
        match e {
            ConnEvent::Established { mptcp } => {
                self.report.established_at = Some(now);
                self.report.mptcp = Some(mptcp);
            }
            ConnEvent::FellBack(_) => self.report.mptcp = Some(false),
            ConnEvent::Closed(reason) => self.report.closed = Some((now, reason)),
            _ => {}
        }
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
