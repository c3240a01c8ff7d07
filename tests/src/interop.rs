//! The two sides of the tests against the Linux kernel (`tests/tests/kernel_interop.rs`,
//! `tests/tests/kernel_multipath.rs`): the kernel's `IPPROTO_MPTCP` sockets, run on a thread that
//! entered the kernel's namespace, and the stack, run in this process through the TUN event loop
//! on a thread that entered the stack's namespace (see [`netns`](crate::netns)).
//!
//! Both sides move seeded pattern data ([`PatternSource`]) and hash what they sent and received
//! with SHA-256, so that a case proves its data arrived intact.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mptcp_stack::connection::ConnectionStats;
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_tun_driver::event_loop::{EventLoop, LoopConfig, LoopStats, PathDevice, StopReason};
use mptcp_tun_driver::event_loop::{endpoint_config, os_endpoint};
use mptcp_tun_driver::transfer::{ClosePolicy, PatternSource, Role, Transfer, TransferReport};
use sha2::{Digest, Sha256};
use socket2::{Domain, Protocol, Socket, Type};

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Kernel `MPTcpExt` counters that must stay zero when nothing went wrong (the multipath
/// cases add their own: join HMAC failures, rejected joins).
pub const MUST_BE_ZERO: &[&str] = &[
    "MPCapableFallbackACK",
    "MPCapableFallbackSYNACK",
    "DSSNotMatching",
    "DSSCorruptionFallback",
    "DSSCorruptionReset",
    "DSSNoMatchTCP",
    "DataCsumErr",
    "InfiniteMapRx",
    "InfiniteMapTx",
    "MPFailRx",
    "MPFailTx",
    "MPRstRx",
    "MPRstTx",
    "MPFastcloseRx",
    "MPFastcloseTx",
    "DssFallback",
    "MPCapableDataFallback",
    "FallbackFailed",
];

// ---------------------------------------------------------------------------------------------
// The kernel side.

/// What the kernel's socket did.
#[derive(Debug, Default)]
pub struct KernelSide {
    /// Bytes read.
    pub bytes_received: u64,
    /// SHA-256 of what was read.
    pub sha256_received: String,
    /// Bytes written.
    pub bytes_sent: u64,
    /// SHA-256 of what was written.
    pub sha256_sent: String,
    /// `TCP_IS_MPTCP` on the connected socket: MPTCP still in use at the end.
    pub is_mptcp: bool,
    /// `MPTCP_INFO.mptcpi_csum_enabled`, when MPTCP_INFO is available (not after fallback).
    pub csum_enabled: Option<bool>,
    /// `MPTCP_INFO` at the end of the stream (server) or of the data (client).
    pub info: Option<MptcpInfo>,
    /// The socket could only be made as plain TCP (MPTCP disabled in the namespace).
    pub plain_tcp: bool,
    /// Reading ended with ECONNRESET (the peer aborted).
    pub reset: bool,
}

/// The parts of the kernel's `struct mptcp_info` (uapi `linux/mptcp.h`) the tests look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MptcpInfo {
    /// `mptcpi_subflows`: extra subflows in use (the initial one not counted).
    pub subflows: u8,
    /// `mptcpi_add_addr_signal`: ADD_ADDR sent.
    pub add_addr_signal: u8,
    /// `mptcpi_add_addr_accepted`: announced addresses accepted.
    pub add_addr_accepted: u8,
    /// `mptcpi_flags` (bit 0 fallback, bit 1 remote key received).
    pub flags: u32,
    /// `mptcpi_csum_enabled`.
    pub csum_enabled: bool,
    /// `mptcpi_subflows_total`: every subflow, the initial one included (0 on kernels older
    /// than 6.10, whose struct is shorter).
    pub subflows_total: u8,
}

/// An MPTCP stream socket, or a plain TCP one if the namespace has MPTCP disabled (as a
/// program that prefers MPTCP does).
pub fn kernel_socket(addr: SocketAddr) -> io::Result<(Socket, bool)> {
    let domain = Domain::for_address(addr);
    match Socket::new(domain, Type::STREAM, Some(Protocol::MPTCP)) {
        Ok(s) => Ok((s, false)),
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) || e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => {
            Ok((Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?, true))
        }
        Err(e) => Err(e),
    }
}

/// `getsockopt(SOL_MPTCP, MPTCP_INFO)`; `None` after fallback (EOPNOTSUPP) or on plain TCP.
pub fn mptcp_info(sock: &Socket) -> Option<MptcpInfo> {
    const SOL_MPTCP: libc::c_int = 284;
    const MPTCP_INFO: libc::c_int = 1;
    let mut info = [0u8; 256];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which is that large.
    let r = unsafe { libc::getsockopt(sock.as_raw_fd(), SOL_MPTCP, MPTCP_INFO, info.as_mut_ptr().cast(), &mut len) };
    let len = len as usize;
    // Offsets in `struct mptcp_info` (shared notes §4).
    (r == 0 && len > 42).then(|| MptcpInfo {
        subflows: info[0],
        add_addr_signal: info[1],
        add_addr_accepted: info[2],
        flags: u32::from_ne_bytes([info[8], info[9], info[10], info[11]]),
        csum_enabled: info[42] != 0,
        subflows_total: if len > 80 { info[80] } else { 0 },
    })
}

/// `getsockopt(SOL_TCP, TCP_IS_MPTCP)` and `MPTCP_INFO`'s checksum flag.
pub fn mptcp_state(sock: &Socket) -> (bool, Option<bool>) {
    const TCP_IS_MPTCP: libc::c_int = 43;
    let fd = sock.as_raw_fd();
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`, which is that large.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_TCP, TCP_IS_MPTCP, (&mut v as *mut libc::c_int).cast(), &mut len) };
    (r == 0 && v == 1, mptcp_info(sock).map(|i| i.csum_enabled))
}

/// What a test runs on the kernel's thread while the kernel side moves data.
pub type ProgressHook = Box<dyn FnMut(&Socket, u64) + Send>;
/// What a test runs on the kernel's thread once the kernel side moved all its data.
pub type DoneHook = Box<dyn FnOnce(&Socket) + Send>;

/// Hooks into the kernel side, for cases that change the kernel's paths mid-transfer or look
/// at its sockets before they close.
#[derive(Default)]
pub struct KernelHooks {
    /// After every read (server) or write (client), with the bytes moved so far.
    pub progress: Option<ProgressHook>,
    /// Once the stream was read to its end (server, before it replies) or all data written
    /// (client, before it shuts down its side).
    pub done: Option<DoneHook>,
}

impl std::fmt::Debug for KernelHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelHooks")
            .field("progress", &self.progress.is_some())
            .field("done", &self.done.is_some())
            .finish()
    }
}

/// Reads to the end of the stream, hashing; returns (bytes, sha256, whether it was reset).
pub fn read_all(sock: &mut Socket, progress: &mut Option<ProgressHook>) -> io::Result<(u64, String, bool)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return Ok((total, hex(&h.finalize()), false)),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok((total, hex(&h.finalize()), true)),
            Ok(n) => {
                h.update(&buf[..n]);
                total += n as u64;
                if let Some(f) = progress.as_mut() {
                    f(sock, total);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("kernel side reading after {total} bytes: {e}"))),
        }
    }
}

/// Writes `bytes` of the pattern seeded with `seed`; returns their SHA-256.
pub fn write_pattern(
    sock: &mut Socket,
    seed: u64,
    bytes: u64,
    progress: &mut Option<ProgressHook>,
) -> io::Result<String> {
    let mut src = PatternSource::new(seed);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        src.fill(&mut buf[..n]);
        h.update(&buf[..n]);
        sock.write_all(&buf[..n]).map_err(|e| io::Error::new(e.kind(), format!("kernel side writing: {e}")))?;
        left -= n as u64;
        if let Some(f) = progress.as_mut() {
            f(sock, bytes - left);
        }
    }
    Ok(hex(&h.finalize()))
}

/// A kernel server on `addr`: accepts one connection, reads to the end, then sends `reply`
/// bytes (seed `seed`) and closes — or with `closes_first` sends and closes its side first,
/// then reads to the end. Sends on `ready` once it listens. `limit` bounds every blocking call.
pub fn kernel_server(
    addr: SocketAddr,
    reply: u64,
    closes_first: bool,
    seed: u64,
    limit: Duration,
    mut hooks: KernelHooks,
    ready: mpsc::Sender<()>,
) -> io::Result<KernelSide> {
    let (listener, plain_tcp) = kernel_socket(addr)?;
    listener.set_reuse_address(true)?;
    listener.bind(&addr.into())?;
    listener.listen(8)?;
    listener.set_read_timeout(Some(limit))?; // bounds accept(2)
    let _ = ready.send(());
    let (mut conn, _) = listener.accept()?;
    conn.set_read_timeout(Some(limit))?;
    conn.set_write_timeout(Some(limit))?;
    let send = |conn: &mut Socket| -> io::Result<String> {
        let sha = write_pattern(conn, seed, reply, &mut None)?;
        conn.shutdown(Shutdown::Write)?;
        Ok(sha)
    };
    let sent_first = if closes_first { Some(send(&mut conn)?) } else { None };
    let (bytes_received, sha256_received, reset) = read_all(&mut conn, &mut hooks.progress)?;
    let (is_mptcp, csum_enabled) = mptcp_state(&conn);
    let info = mptcp_info(&conn);
    if let Some(f) = hooks.done.take() {
        f(&conn);
    }
    // After a reset nothing more is sent; otherwise the reply follows the end of stream.
    let (bytes_sent, sha256_sent) = match sent_first {
        Some(sha) => (reply, sha),
        None if reset => (0, hex(&Sha256::new().finalize())),
        None => (reply, send(&mut conn)?),
    };
    Ok(KernelSide {
        bytes_received,
        sha256_received,
        bytes_sent,
        sha256_sent,
        is_mptcp,
        csum_enabled,
        info,
        plain_tcp,
        reset,
    })
}

/// A kernel client: connects to `addr`, sends `bytes` (seed `seed`), shuts down its side and
/// reads to the end. `limit` bounds every blocking call.
pub fn kernel_client(
    addr: SocketAddr,
    bytes: u64,
    seed: u64,
    limit: Duration,
    mut hooks: KernelHooks,
) -> io::Result<KernelSide> {
    let (mut sock, plain_tcp) = kernel_socket(addr)?;
    sock.set_read_timeout(Some(limit))?;
    sock.set_write_timeout(Some(limit))?;
    sock.connect_timeout(&addr.into(), Duration::from_secs(20))?;
    let sha256_sent = write_pattern(&mut sock, seed, bytes, &mut hooks.progress)?;
    let (is_mptcp, csum_enabled) = mptcp_state(&sock);
    let info = mptcp_info(&sock);
    if let Some(f) = hooks.done.take() {
        f(&sock);
    }
    sock.shutdown(Shutdown::Write)?;
    let (bytes_received, sha256_received, reset) = read_all(&mut sock, &mut None)?;
    Ok(KernelSide {
        reset,
        bytes_received,
        sha256_received,
        bytes_sent: bytes,
        sha256_sent,
        is_mptcp,
        csum_enabled,
        info,
        plain_tcp,
    })
}

// ---------------------------------------------------------------------------------------------
// The stack side.

/// What the stack did.
#[derive(Debug)]
pub struct StackSide {
    /// The transfer's report (bytes, hashes, close).
    pub report: TransferReport,
    /// The connection's statistics at the end (or at its last event, once closed).
    pub stats: Option<ConnectionStats>,
    /// The event loop's counters.
    pub loop_stats: LoopStats,
    /// Why the loop stopped.
    pub stop: StopReason,
    /// Time from start to the end of the loop.
    pub seconds: f64,
}

/// One step of a test's script on the stack's thread, run between slices of the event loop:
/// returns true once it is done (it then runs no more and the next step starts).
pub type Step = Box<dyn FnMut(&mut EventLoop) -> bool + Send>;

/// How the stack runs in a case.
pub struct StackPlan {
    /// TUN device and our address on it, per path; the first carries the connection.
    pub paths: Vec<(String, IpAddr)>,
    /// The endpoint's settings (MSS and addresses come from the paths, see `endpoint_config`).
    pub base: EndpointConfig,
    /// Client or server.
    pub role: Role,
    /// When the stack's side closes (`None`: the role's default).
    pub close: Option<ClosePolicy>,
    /// Steps run in order between slices of the loop; empty: the loop runs in one go.
    pub steps: Vec<Step>,
    /// Time allowed for the whole run.
    pub limit: Duration,
}

impl std::fmt::Debug for StackPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackPlan")
            .field("paths", &self.paths)
            .field("role", &self.role)
            .field("close", &self.close)
            .field("steps", &self.steps.len())
            .finish_non_exhaustive()
    }
}

/// How long the loop runs between two checks of a case's steps.
const SLICE: Duration = Duration::from_millis(10);

/// Runs the stack as `plan` says over TUN devices (on the calling thread, which must be in the
/// stack's namespace) until its connection closes. Sends on `ready` once it listens or connects.
pub fn run_stack(plan: StackPlan, ready: mpsc::Sender<()>) -> Result<StackSide, String> {
    let StackPlan { paths, base, role, close, mut steps, limit } = plan;
    let paths = paths
        .iter()
        .map(|(dev, ip)| PathDevice::open(dev, *ip).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let config = endpoint_config(base, &paths);
    let endpoint = os_endpoint(config).map_err(|e| e.to_string())?;
    let mut transfer = Transfer::new(role, false);
    if let Some(close) = close {
        transfer.set_close_policy(close);
    }
    let mut lp = EventLoop::new(endpoint, transfer, paths, LoopConfig::default()).map_err(|e| e.to_string())?;
    lp.start().map_err(|e| e.to_string())?;
    let _ = ready.send(());
    let started = Instant::now();
    let deadline = started + limit;
    steps.reverse();
    let stop = loop {
        if steps.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            break lp.run(|t| t.is_closed(), Some(left), |_| {}).map_err(|e| e.to_string())?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match lp.run(|t| t.is_closed(), Some(left.min(SLICE)), |_| {}).map_err(|e| e.to_string())? {
            StopReason::Deadline if left > SLICE => {}
            other => break other,
        }
        if let Some(step) = steps.last_mut()
            && step(&mut lp)
        {
            steps.pop();
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let t = lp.transfer();
    let stats = t.stats(lp.endpoint());
    Ok(StackSide { report: t.report(), stats, loop_stats: lp.stats(), stop, seconds })
}

/// Prints what the stack's subflows did.
pub fn print_subflows(stats: Option<&ConnectionStats>) {
    for sf in stats.iter().flat_map(|s| &s.subflows) {
        eprintln!(
            "stack subflow {} {} -> {} ids {:?}{}{}: {:?}, sent {} B ({} retransmits, {} RTOs), received {} B, srtt {:?}",
            sf.id,
            sf.local,
            sf.remote,
            sf.address_ids,
            if sf.joined { " joined" } else { "" },
            if sf.backup { " backup" } else { "" },
            sf.state,
            sf.stats.bytes_sent,
            sf.stats.retransmits,
            sf.stats.rto_count,
            sf.stats.bytes_received,
            sf.srtt
        );
    }
}
