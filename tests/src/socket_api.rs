//! The helpers of the socket API's tests against the Linux kernel (`tests/tests/socket_api_*.rs`):
//! a [`Stack`] built in the stack's namespace, the kernel's peer on its own threads with its
//! socket at hand (for `MPTCP_INFO` while the connection runs), seeded data hashed on both sides,
//! the connection's events kept in order, and a packet capture in the kernel's namespace that
//! sees what the stack's subflows put on the wire.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mptcp_socket::event::ConnEvent;
use mptcp_socket::{MptcpStream, PathManagerKind, Stack, TimedEvent};
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_tun_driver::transfer::PatternSource;
use sha2::{Digest, Sha256};
use socket2::{Domain, Protocol, Socket, Type};

use crate::interop::{MptcpInfo, hex, kernel_socket, mptcp_info, read_all, write_pattern};
use crate::netns::{Topology, mptcp_counters};

/// The kernel's port.
pub const PORT: u16 = 5201;
/// A mebibyte.
pub const MIB: u64 = 1 << 20;
/// Seed of the data the stack sends; the kernel's uses `SEED + 1`.
pub const SEED: u64 = 42;
/// Bounds every blocking step of a case.
pub const LIMIT: Duration = Duration::from_secs(30);
/// Bytes per read or write call of the stack's side.
pub const CHUNK: usize = 64 * 1024;

/// Prints why the kernel tests cannot run here and returns from the test.
#[macro_export]
macro_rules! skip_unless_possible {
    () => {
        if let Some(why) = $crate::netns::skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// Namespaces with `paths` IPv4 paths, the kernel accepting every subflow and announced address
/// the cases make (`ip mptcp limits set subflows 8 add_addr_accepted 8`).
pub fn topology(paths: usize) -> Topology {
    let topo = Topology::with_paths(false, paths).expect("namespaces and devices");
    topo.kernel.ip("mptcp limits set subflows 8 add_addr_accepted 8").expect("ip mptcp limits");
    topo
}

/// How long the stack's subflows stay in TIME-WAIT in these tests: the connection's `Closed`
/// event waits for the subflows that closed from our side to leave it (30 s by default).
pub const TIME_WAIT: Duration = Duration::from_millis(500);

/// A stack over the TUN devices of `paths` with the `pm` path manager and a short TIME-WAIT
/// ([`TIME_WAIT`]), built (and its I/O thread started) in the stack's namespace.
pub fn stack(topo: &Topology, paths: &[usize], pm: PathManagerKind) -> Stack {
    let mut config = EndpointConfig::default();
    config.connection.tcp.time_wait = TIME_WAIT;
    let builder = Stack::builder().endpoint_config(config).path_manager(pm);
    let builder = paths.iter().fold(builder, |b, &i| b.path(&Topology::tun(i), topo.stack_addr_on(i)));
    topo.stack.run(move || builder.build()).expect("entered the stack's namespace").expect("the stack starts")
}

/// The kernel's port on its address on path `i`.
pub fn kernel_on(topo: &Topology, i: usize) -> SocketAddr {
    SocketAddr::new(topo.kernel_addr_on(i), PORT)
}

/// An address on path `i`'s kernel-side network that nobody has: what is sent there is lost.
pub fn nowhere_on(i: usize) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 71, i as u8, 99), PORT))
}

/// Our address on path `i`, any port.
pub fn stack_on(topo: &Topology, i: usize) -> SocketAddr {
    SocketAddr::new(topo.stack_addr_on(i), 0)
}

/// Polls `f` every few milliseconds until it returns something, for conditions nothing signals
/// (the kernel's state); panics after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The kernel's `MPTcpExt` counter `name` in K.
pub fn kernel_counter(topo: &Topology, name: &str) -> u64 {
    mptcp_counters(&topo.kernel).expect("MPTcpExt counters").get(name).copied().unwrap_or(0)
}

/// Asserts that the kernel counted no fallback, mapping or checksum error, reset or failed join
/// (see [`crate::interop::MUST_BE_ZERO`]), but for the counters in `allowed`.
pub fn assert_kernel_clean(topo: &Topology, allowed: &[&str]) {
    let counters = mptcp_counters(&topo.kernel).expect("MPTcpExt counters");
    let failed_joins = ["MPJoinAckHMacFailure", "MPJoinSynAckHMacFailure", "MPJoinNoTokenFound"];
    for name in crate::interop::MUST_BE_ZERO.iter().chain(&failed_joins).filter(|n| !allowed.contains(n)) {
        assert_eq!(counters.get(*name).copied().unwrap_or(0), 0, "MPTcpExt{name} in {counters:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel's side.

/// What the kernel's side does with its connection.
#[derive(Debug, Clone, Copy)]
pub enum KernelPlay {
    /// Reads to the end of the stream, then sends this many bytes and closes.
    ReadThenReply(u64),
    /// Sends back what it reads; closes after the end of the stream.
    Echo,
    /// Sends this many bytes and closes its side while it reads to the end of the stream.
    Duplex(u64),
}

/// What the kernel's side moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelData {
    /// Bytes read.
    pub received: u64,
    /// SHA-256 of what was read.
    pub sha256_received: String,
    /// Bytes written.
    pub sent: u64,
    /// SHA-256 of what was written.
    pub sha256_sent: String,
}

impl KernelData {
    /// Both directions arrived intact: what `out` wrote is what the kernel read, and what we
    /// read (`received` bytes hashing to `sha256_received`) is what the kernel wrote.
    pub fn assert_intact(&self, out: &Outgoing, received: u64, sha256_received: &str) {
        assert_eq!(
            (self.received, self.sha256_received.as_str()),
            (out.sent, out.sha256().as_str()),
            "stack -> kernel intact"
        );
        assert_eq!((received, sha256_received), (self.sent, self.sha256_sent.as_str()), "kernel -> stack intact");
    }
}

/// The kernel's side of one connection, on its own thread in K.
#[derive(Debug)]
pub struct KernelPeer {
    /// Sends a copy of the connected socket, then the connection's outcome ends the thread.
    connected: mpsc::Receiver<Socket>,
    sock: Option<Socket>,
    thread: JoinHandle<io::Result<io::Result<KernelData>>>,
}

impl KernelPeer {
    /// A kernel server on every address of K, port [`PORT`], that plays `play` with the one
    /// connection it accepts: an `IPPROTO_MPTCP` socket, or a plain TCP one with `plain_tcp`.
    /// Returns once it listens.
    pub fn server(topo: &Topology, play: KernelPlay, plain_tcp: bool) -> KernelPeer {
        let (tx, connected) = mpsc::channel();
        let (listening_tx, listening) = mpsc::channel();
        let thread = topo.kernel.spawn(move || {
            let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT);
            let listener = if plain_tcp {
                Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?
            } else {
                kernel_socket(any)?.0
            };
            listener.set_reuse_address(true)?;
            listener.bind(&any.into())?;
            listener.listen(8)?;
            listener.set_read_timeout(Some(LIMIT))?; // bounds accept(2)
            let _ = listening_tx.send(());
            let (conn, _) = listener.accept()?;
            play_on(conn, play, &tx)
        });
        listening.recv_timeout(Duration::from_secs(10)).expect("the kernel server listens");
        KernelPeer { connected, sock: None, thread }
    }

    /// A kernel client (`IPPROTO_MPTCP`) that connects to `remote` and plays `play`.
    pub fn client(topo: &Topology, remote: SocketAddr, play: KernelPlay) -> KernelPeer {
        let (tx, connected) = mpsc::channel();
        let thread = topo.kernel.spawn(move || {
            let (conn, _) = kernel_socket(remote)?;
            conn.connect_timeout(&remote.into(), Duration::from_secs(10))?;
            play_on(conn, play, &tx)
        });
        KernelPeer { connected, sock: None, thread }
    }

    /// The kernel's connected socket (a duplicate), once it is connected.
    pub fn socket(&mut self) -> &Socket {
        if self.sock.is_none() {
            let s = self.connected.recv_timeout(LIMIT).expect("the kernel's side is connected");
            self.sock = Some(s);
        }
        self.sock.as_ref().expect("just set")
    }

    /// The kernel's `MPTCP_INFO` of the connection; `None` after fallback.
    pub fn info(&mut self) -> Option<MptcpInfo> {
        mptcp_info(self.socket())
    }

    /// Waits until the kernel's connection has `n` subflows beside the initial one
    /// (`mptcpi_subflows`).
    pub fn wait_subflows(&mut self, n: u8) {
        let what = format!("the kernel's connection with {n} extra subflows");
        wait_until(&what, LIMIT, || self.info().is_some_and(|i| i.subflows == n).then_some(()));
    }

    /// Waits for the kernel's side to finish; panics if it failed.
    pub fn finish(self) -> KernelData {
        match self.thread.join() {
            Ok(Ok(Ok(d))) => d,
            Ok(Ok(Err(e))) => panic!("kernel side: {e}"),
            Ok(Err(e)) => panic!("entering the kernel's namespace: {e}"),
            Err(_) => panic!("the kernel's thread panicked"),
        }
    }
}

/// Plays `play` on the kernel's connected socket, after sending a copy of it on `connected`.
fn play_on(mut conn: Socket, play: KernelPlay, connected: &mpsc::Sender<Socket>) -> io::Result<KernelData> {
    conn.set_read_timeout(Some(LIMIT))?;
    conn.set_write_timeout(Some(LIMIT))?;
    let _ = connected.send(conn.try_clone()?);
    match play {
        KernelPlay::ReadThenReply(reply) => {
            let (received, sha256_received, _) = read_all(&mut conn, &mut None)?;
            let sha256_sent = write_pattern(&mut conn, SEED + 1, reply, &mut None)?;
            conn.shutdown(Shutdown::Write)?;
            Ok(KernelData { received, sha256_received, sent: reply, sha256_sent })
        }
        KernelPlay::Echo => {
            let (mut h, mut buf, mut n) = (Sha256::new(), vec![0u8; 256 * 1024], 0u64);
            loop {
                let got = conn.read(&mut buf)?;
                if got == 0 {
                    break;
                }
                h.update(&buf[..got]);
                conn.write_all(&buf[..got])?;
                n += got as u64;
            }
            conn.shutdown(Shutdown::Write)?;
            let sha = hex(&h.finalize());
            Ok(KernelData { received: n, sha256_received: sha.clone(), sent: n, sha256_sent: sha })
        }
        KernelPlay::Duplex(bytes) => {
            let mut writer = conn.try_clone()?;
            let sending = std::thread::spawn(move || -> io::Result<String> {
                let sha = write_pattern(&mut writer, SEED + 1, bytes, &mut None)?;
                writer.shutdown(Shutdown::Write)?;
                Ok(sha)
            });
            let (received, sha256_received, _) = read_all(&mut conn, &mut None)?;
            let sha256_sent = sending.join().map_err(|_| io::Error::other("the kernel's writer panicked"))??;
            Ok(KernelData { received, sha256_received, sent: bytes, sha256_sent })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The stack's data.

/// The seeded data the stack's side sends, made in advance (so that writes go as fast as the
/// stack takes them) and hashed as far as it was sent.
pub struct Outgoing {
    data: Vec<u8>,
    /// Bytes sent so far.
    pub sent: u64,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing").field("bytes", &self.data.len()).field("sent", &self.sent).finish()
    }
}

impl Outgoing {
    /// `bytes` of data seeded with [`SEED`].
    pub fn new(bytes: u64) -> Outgoing {
        let mut data = vec![0; usize::try_from(bytes).expect("fits in memory")];
        PatternSource::new(SEED).fill(&mut data);
        Outgoing { data, sent: 0 }
    }

    /// The next `n` bytes, counted as sent: the caller sends them all.
    pub fn take(&mut self, n: usize) -> &[u8] {
        let start = self.sent as usize;
        self.sent += n as u64;
        self.data.get(start..start + n).expect("no more data than made")
    }

    /// Sends the next `n` bytes through `write`, which may take part of what it is given each
    /// call (`Write::write`, `MptcpStream::write_on`).
    pub fn send(&mut self, n: usize, mut write: impl FnMut(&[u8]) -> io::Result<usize>) -> io::Result<()> {
        let chunk = self.take(n);
        let mut done = 0;
        while done < n {
            done += write(&chunk[done..])?;
        }
        Ok(())
    }

    /// Sends `bytes` on `stream` in chunks of at most [`CHUNK`], running `step` with the stream
    /// and the bytes sent so far after each chunk.
    pub fn send_all<S: Write>(&mut self, stream: &mut S, bytes: u64, mut step: impl FnMut(&mut S, u64)) {
        let end = self.sent + bytes;
        while self.sent < end {
            let n = (end - self.sent).min(CHUNK as u64) as usize;
            self.send(n, |d| stream.write(d)).unwrap_or_else(|e| panic!("writing after {} bytes: {e}", self.sent));
            step(stream, self.sent);
        }
    }

    /// The SHA-256 of what was sent.
    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(&self.data[..self.sent as usize]))
    }
}

/// Reads `stream` to its end, hashing, running `step` with the stream and the bytes read so far
/// after each read; returns the bytes and their SHA-256.
pub fn receive_all<S: Read>(stream: &mut S, mut step: impl FnMut(&mut S, u64)) -> (u64, String) {
    let (mut h, mut buf, mut total) = (Sha256::new(), vec![0u8; CHUNK], 0u64);
    loop {
        let n = stream.read(&mut buf).unwrap_or_else(|e| panic!("reading after {total} bytes: {e}"));
        if n == 0 {
            return (total, hex(&h.finalize()));
        }
        h.update(&buf[..n]);
        total += n as u64;
        step(stream, total);
    }
}

// ---------------------------------------------------------------------------------------------
// Events.

/// Every event of a connection the test took, in order.
#[derive(Debug, Default)]
pub struct EventLog {
    /// The events, oldest first.
    pub seen: Vec<TimedEvent>,
}

impl EventLog {
    /// Takes the events already queued.
    pub fn drain(&mut self, stream: &MptcpStream) {
        while let Some(e) = stream.poll_event() {
            self.seen.push(e);
        }
    }

    /// Takes events until one matches `want` (or one already taken does), waiting at most
    /// [`LIMIT`]; returns its position in the log.
    pub fn wait_for(&mut self, stream: &MptcpStream, what: &str, want: impl Fn(&ConnEvent) -> bool) -> usize {
        if let Some(i) = self.position(&want) {
            return i;
        }
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            match stream.next_event(Some(left)) {
                Ok(Some(e)) => {
                    self.seen.push(e);
                    if want(&e.event) {
                        return self.seen.len() - 1;
                    }
                }
                r => panic!("waiting for {what}: {r:?}; events so far: {:#?}", self.seen),
            }
        }
    }

    /// The position of the first event that matches `want`.
    pub fn position(&self, want: impl Fn(&ConnEvent) -> bool) -> Option<usize> {
        self.seen.iter().position(|e| want(&e.event))
    }

    /// Asserts that the timestamps never go back.
    pub fn assert_monotonic(&self) {
        for w in self.seen.windows(2) {
            assert!(w[0].at <= w[1].at, "event times go back: {:?} then {:?}", w[0], w[1]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the kernel's namespace sees on the wire.

/// The TCP segments with payload one sender put on the wire, as captured in K.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// How many.
    pub segments: u64,
    /// The IPv4 TOS bytes they carried.
    pub tos: BTreeSet<u8>,
    /// The largest payload.
    pub max_payload: usize,
}

/// An `AF_PACKET` capture of the IPv4 TCP segments with payload that K's interfaces receive
/// from `sources`, by source address and port.
#[derive(Debug)]
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<io::Result<BTreeMap<SocketAddr, Seen>>>>,
}

impl Capture {
    /// Starts capturing in K; returns once the capture socket is open.
    pub fn start(topo: &Topology, sources: Vec<IpAddr>) -> Capture {
        let stop = Arc::new(AtomicBool::new(false));
        let (open_tx, open) = mpsc::channel();
        let stopping = Arc::clone(&stop);
        let thread = topo.kernel.spawn(move || {
            // SOCK_DGRAM: the IP packet without its link header; ETH_P_IP in network order.
            let proto = Protocol::from(i32::from((libc::ETH_P_IP as u16).to_be()));
            let sock = Socket::new(Domain::PACKET, Type::DGRAM, Some(proto))?;
            sock.set_read_timeout(Some(Duration::from_millis(20)))?;
            let _ = open_tx.send(());
            let mut seen: BTreeMap<SocketAddr, Seen> = BTreeMap::new();
            // The headers are enough: the IPv4 total length gives the payload's.
            let mut buf = [0u8; 128];
            while !stopping.load(Ordering::Acquire) {
                match (&sock).read(&mut buf) {
                    Ok(n) => {
                        let data =
                            tcp_payload(&buf[..n]).filter(|(src, _, len)| *len > 0 && sources.contains(&src.ip()));
                        if let Some((src, tos, payload)) = data {
                            let s = seen.entry(src).or_default();
                            s.segments += 1;
                            s.tos.insert(tos);
                            s.max_payload = s.max_payload.max(payload);
                        }
                    }
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(seen)
        });
        open.recv_timeout(Duration::from_secs(10)).expect("the capture socket opens");
        Capture { stop, thread }
    }

    /// Stops and returns what it saw, by source address and port.
    pub fn finish(self) -> BTreeMap<SocketAddr, Seen> {
        self.stop.store(true, Ordering::Release);
        match self.thread.join() {
            Ok(Ok(Ok(seen))) => seen,
            Ok(Ok(Err(e))) => panic!("capture: {e}"),
            Ok(Err(e)) => panic!("entering the kernel's namespace: {e}"),
            Err(_) => panic!("the capture thread panicked"),
        }
    }
}

/// The source, TOS byte and TCP payload length of an IPv4 TCP packet (its headers at least).
fn tcp_payload(p: &[u8]) -> Option<(SocketAddr, u8, usize)> {
    if p.len() < 20 || p[0] >> 4 != 4 || p[9] != 6 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let tcp = p.get(ihl..ihl + 14)?;
    let src =
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15])), u16::from_be_bytes([tcp[0], tcp[1]]));
    let doff = usize::from(tcp[12] >> 4) * 4;
    Some((src, p[1], total.checked_sub(ihl + doff)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_payload_of_an_ipv4_segment() {
        // 20-byte IP header (TOS 0x28, total 60), 32-byte TCP header (doff 8), 8 bytes of payload.
        let mut p = vec![0u8; 60];
        p[0] = 0x45;
        p[1] = 0x28;
        p[2..4].copy_from_slice(&60u16.to_be_bytes());
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 72, 1, 2]);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[32] = 8 << 4;
        let (src, tos, payload) = tcp_payload(&p).expect("a TCP segment");
        assert_eq!((src, tos, payload), ("10.72.1.2:40000".parse().expect("valid"), 0x28, 8));
        p[9] = 17;
        assert_eq!(tcp_payload(&p), None, "not TCP");
    }
}
