//! The kernel's side of `mptcp bench`: the same transfer as the stack's, between two
//! `IPPROTO_MPTCP` sockets, the client on a thread in namespace A and the server on one in B.
//! The client sends a fixed pseudo-random pattern (generated once: the kernel's cost, not our
//! pattern generator's, is measured) and the server counts what it reads. Once the server has
//! read the end of stream, and before either side closes, the client reads its subflows'
//! `tcp_info` and addresses (`MPTCP_TCPINFO`, `MPTCP_SUBFLOW_ADDRS`) and the connection's
//! `MPTCP_INFO` (notes §4; uapi `linux/mptcp.h`).
//!
//! Sockets wait at most [`TICK`] in each call so that a stop request (a signal, the time limit)
//! is seen promptly.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mptcp_tun_driver::transfer::PatternSource;
use socket2::{Domain, Protocol, Socket, Type};

use crate::args::Amount;

/// Longest wait of one socket call.
const TICK: Duration = Duration::from_millis(100);

const SOL_MPTCP: libc::c_int = 284;
const MPTCP_INFO: libc::c_int = 1;
const MPTCP_TCPINFO: libc::c_int = 2;
const MPTCP_SUBFLOW_ADDRS: libc::c_int = 3;
const TCP_IS_MPTCP: libc::c_int = 43;
/// `struct mptcp_subflow_data`: the header of the subflow arrays.
const SUBFLOW_DATA: usize = 16;
/// How much of `struct tcp_info` we ask for (up to `tcpi_bytes_retrans`).
const TCP_INFO_LEN: usize = 216;
/// `struct mptcp_subflow_addrs`: two `sockaddr_storage`s.
const ADDRS_LEN: usize = 256;
/// The kernel's limit of subflows per connection (8 extra) plus the first.
const MAX_SUBFLOWS: usize = 9;

/// One of the kernel client's subflows.
#[derive(Debug, Clone)]
pub(crate) struct KernelSubflow {
    pub(crate) local: Option<SocketAddr>,
    pub(crate) remote: Option<SocketAddr>,
    /// `tcpi_bytes_sent`: payload, retransmissions included.
    pub(crate) bytes_sent: u64,
    /// `tcpi_bytes_retrans`.
    pub(crate) bytes_retransmitted: u64,
    /// `tcpi_total_retrans`: segments.
    pub(crate) retransmits: u64,
    /// `tcpi_rtt`, µs.
    pub(crate) srtt_us: u64,
}

/// What the kernel's transfer did.
#[derive(Debug, Default)]
pub(crate) struct KernelOutcome {
    pub(crate) error: Option<String>,
    /// What the client wrote.
    pub(crate) bytes_sent: u64,
    /// What the server read.
    pub(crate) bytes_received: u64,
    /// From the server's accept to its end of stream (or to the stop).
    pub(crate) seconds: f64,
    /// `TCP_IS_MPTCP` on the client at the end.
    pub(crate) mptcp: Option<bool>,
    pub(crate) subflows: Vec<KernelSubflow>,
    /// `mptcpi_retransmits`: data-level retransmissions (reinjections).
    pub(crate) mptcp_retransmits: Option<u64>,
    /// Stopped by a signal.
    pub(crate) interrupted: bool,
}

/// An `IPPROTO_MPTCP` stream socket.
fn mptcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::MPTCP)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot make an IPPROTO_MPTCP socket (kernel MPTCP disabled or missing?): {e}"),
        )
    })?;
    s.set_read_timeout(Some(TICK))?;
    s.set_write_timeout(Some(TICK))?;
    Ok(s)
}

fn would_block(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}

/// The shared state of one run: stop requests and the deadline.
#[derive(Debug, Clone)]
struct Control {
    stop: Arc<AtomicBool>,
    deadline: Instant,
}

impl Control {
    fn check(&self, what: &str) -> io::Result<()> {
        if self.stop.load(Ordering::SeqCst) {
            Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"))
        } else if Instant::now() >= self.deadline {
            Err(io::Error::new(io::ErrorKind::TimedOut, format!("time limit reached while {what}")))
        } else {
            Ok(())
        }
    }
}

/// The server: accepts one connection, reads to the end, tells the client (`eof`), waits until
/// the client has read its figures (`queried`), closes. Returns (bytes, seconds).
fn server(
    listen: SocketAddr,
    ctl: Control,
    ready: mpsc::Sender<()>,
    eof: mpsc::Sender<()>,
    queried: mpsc::Receiver<()>,
) -> io::Result<(u64, f64)> {
    let listener = mptcp_socket(listen)?;
    listener.set_reuse_address(true)?;
    listener.bind(&listen.into())?;
    listener.listen(8)?;
    let _ = ready.send(());
    let mut conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if would_block(&e) => ctl.check("waiting for the connection")?,
            Err(e) => return Err(e),
        }
    };
    let started = Instant::now();
    conn.set_read_timeout(Some(TICK))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        if let Err(e) = ctl.check("receiving") {
            // Stopped: report what arrived so far.
            let _ = eof.send(());
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok((total, started.elapsed().as_secs_f64()))
            } else {
                Err(e)
            };
        }
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("server reading after {total} bytes: {e}"))),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = eof.send(());
    // Keep the connection (and so the client's subflows) until the client has its figures.
    let _ = queried.recv_timeout(Duration::from_secs(10));
    Ok((total, seconds))
}

/// The client: connects, sends, shuts down its side, waits for the server's end of stream,
/// reads its figures, lets the server close, reads to the end.
fn client(
    remote: SocketAddr,
    amount: Amount,
    ctl: Control,
    eof: mpsc::Receiver<()>,
    queried: mpsc::Sender<()>,
) -> io::Result<(u64, Info)> {
    let mut sock = mptcp_socket(remote)?;
    sock.connect_timeout(&remote.into(), Duration::from_secs(10))
        .map_err(|e| io::Error::new(e.kind(), format!("connecting to {remote}: {e}")))?;
    let mut pattern = vec![0u8; 1 << 20];
    PatternSource::new(1).fill(&mut pattern);
    let started = Instant::now();
    let mut sent = 0u64;
    let mut stopped = false;
    loop {
        let want = match amount {
            Amount::Bytes(b) => b.saturating_sub(sent),
            Amount::Time(t) if started.elapsed() < t => u64::MAX,
            Amount::Time(_) => 0,
        };
        if want == 0 {
            break;
        }
        if let Err(e) = ctl.check("sending") {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
            stopped = true;
            break;
        }
        let off = (sent % pattern.len() as u64) as usize;
        let n = (pattern.len() - off).min(usize::try_from(want).unwrap_or(usize::MAX));
        match sock.write(&pattern[off..off + n]) {
            Ok(n) => sent += n as u64,
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("client writing after {sent} bytes: {e}"))),
        }
    }
    sock.shutdown(Shutdown::Write)?;
    if !stopped {
        loop {
            match eof.recv_timeout(TICK) {
                Ok(()) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = ctl.check("waiting for the server's end of stream") {
                        if e.kind() != io::ErrorKind::Interrupted {
                            return Err(e);
                        }
                        break;
                    }
                }
            }
        }
    }
    let info = info(&sock);
    let _ = queried.send(());
    let mut buf = [0u8; 4096];
    // The server closes; read its end of stream (briefly: the figures are taken).
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if would_block(&e) => {}
            Err(_) => break,
        }
    }
    Ok((sent, info))
}

/// Runs the kernel's transfer: the server in `b` on `listen`, the client in `a`. `stop` is set
/// by the caller on a signal; `limit` bounds the whole run.
pub(crate) fn run(
    topo: &crate::topology::Topology,
    listen: SocketAddr,
    amount: Amount,
    limit: Duration,
    interrupted: &dyn Fn() -> bool,
) -> KernelOutcome {
    let ctl = Control { stop: Arc::new(AtomicBool::new(false)), deadline: Instant::now() + limit };
    let (ready_tx, ready_rx) = mpsc::channel();
    let (eof_tx, eof_rx) = mpsc::channel();
    let (queried_tx, queried_rx) = mpsc::channel();
    let c = ctl.clone();
    let server = topo.b.spawn(move || server(listen, c, ready_tx, eof_tx, queried_rx));
    let mut out = KernelOutcome::default();
    // Wait for the listener (or the server's failure).
    loop {
        if ready_rx.recv_timeout(Duration::from_millis(20)).is_ok() {
            break;
        }
        if interrupted() {
            ctl.stop.store(true, Ordering::SeqCst);
        }
        if server.is_finished() {
            out.error = Some(match server.join() {
                Ok(Ok(Err(e))) => format!("kernel server: {e}"),
                Ok(Err(e)) => format!("cannot enter namespace B: {e}"),
                _ => "kernel server: failed before listening".to_owned(),
            });
            out.interrupted = interrupted();
            return out;
        }
    }
    let c = ctl.clone();
    let client = topo.a.spawn(move || client(listen, amount, c, eof_rx, queried_tx));
    while !(client.is_finished() && server.is_finished()) {
        if interrupted() {
            ctl.stop.store(true, Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    out.interrupted = ctl.stop.load(Ordering::SeqCst);
    match flatten(server.join(), "server") {
        Ok((bytes, seconds)) => (out.bytes_received, out.seconds) = (bytes, seconds),
        Err(e) => out.error = Some(e),
    }
    match flatten(client.join(), "client") {
        Ok((sent, info)) => {
            out.bytes_sent = sent;
            out.mptcp = info.is_mptcp;
            out.subflows = info.subflows;
            out.mptcp_retransmits = info.mptcp_retransmits;
        }
        Err(e) => out.error = out.error.take().or(Some(e)),
    }
    if out.interrupted {
        out.error = Some("interrupted".to_owned());
    }
    out
}

/// A side's result out of its thread.
fn flatten<T>(r: std::thread::Result<io::Result<io::Result<T>>>, who: &str) -> Result<T, String> {
    match r {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) => Err(format!("kernel {who}: {e}")),
        Ok(Err(e)) => Err(format!("kernel {who}: cannot enter its namespace: {e}")),
        Err(_) => Err(format!("kernel {who}: the thread panicked")),
    }
}

/// What the client's socket tells about itself.
#[derive(Debug, Default)]
struct Info {
    is_mptcp: Option<bool>,
    subflows: Vec<KernelSubflow>,
    mptcp_retransmits: Option<u64>,
}

fn u32_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 4).map_or(0, |s| u64::from(u32::from_ne_bytes(s.try_into().expect("4 bytes"))))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8).map_or(0, |s| u64::from_ne_bytes(s.try_into().expect("8 bytes")))
}

/// `getsockopt(fd, level, name)` into `buf`; returns the length the kernel wrote.
fn getsockopt(sock: &Socket, level: libc::c_int, name: libc::c_int, buf: &mut [u8]) -> Option<usize> {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `buf`, which is that large, and
    // updates `len`; `buf` may hold input (the subflow-array header) the kernel reads first.
    #[allow(unsafe_code)]
    let r = unsafe { libc::getsockopt(sock.as_raw_fd(), level, name, buf.as_mut_ptr().cast(), &mut len) };
    (r == 0).then_some(len as usize)
}

/// A subflow array (`MPTCP_TCPINFO`, `MPTCP_SUBFLOW_ADDRS`) of elements of `size` bytes.
fn subflow_array(sock: &Socket, name: libc::c_int, size: usize) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; SUBFLOW_DATA + MAX_SUBFLOWS * size];
    buf[0..4].copy_from_slice(&(SUBFLOW_DATA as u32).to_ne_bytes());
    buf[12..16].copy_from_slice(&(size as u32).to_ne_bytes());
    let Some(len) = getsockopt(sock, SOL_MPTCP, name, &mut buf) else { return Vec::new() };
    let (count, kernel_size) = (u32_at(&buf, 4) as usize, u32_at(&buf, 8) as usize);
    let stride = size.min(kernel_size.max(1));
    (0..count)
        .map(|i| SUBFLOW_DATA + i * stride)
        .take_while(|&off| off + stride <= len)
        .map(|off| buf[off..off + stride].to_vec())
        .collect()
}

/// A `sockaddr_in`/`sockaddr_in6` at the start of `b`.
fn sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    let ip = match i32::from(family) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b.get(4..8)?).ok()?)),
        libc::AF_INET6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b.get(8..24)?).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn info(sock: &Socket) -> Info {
    let mut flag = [0u8; 4];
    let is_mptcp = getsockopt(sock, libc::SOL_TCP, TCP_IS_MPTCP, &mut flag).map(|_| u32_at(&flag, 0) == 1);
    let mut mi = [0u8; 96];
    let mptcp_retransmits =
        getsockopt(sock, SOL_MPTCP, MPTCP_INFO, &mut mi).filter(|&n| n >= 48).map(|_| u32_at(&mi, 44));
    let tcp = subflow_array(sock, MPTCP_TCPINFO, TCP_INFO_LEN);
    let addrs = subflow_array(sock, MPTCP_SUBFLOW_ADDRS, ADDRS_LEN);
    let subflows = tcp
        .iter()
        .enumerate()
        .map(|(i, t)| KernelSubflow {
            local: addrs.get(i).and_then(|a| sockaddr(a)),
            remote: addrs.get(i).and_then(|a| a.get(128..).and_then(sockaddr)),
            bytes_sent: u64_at(t, 200),
            bytes_retransmitted: u64_at(t, 208),
            retransmits: u32_at(t, 100),
            srtt_us: u32_at(t, 68),
        })
        .collect();
    Info { is_mptcp, subflows, mptcp_retransmits }
}
