//! The stack against the Linux kernel's own MPTCP, over a TUN device.
//!
//! Each test builds its own pair of network namespaces ([`Topology`]: K for the kernel's
//! sockets, S forwarding between a veth to K and the stack's TUN device) and removes them when
//! it ends, also on failure. The stack runs in this process, on a thread that entered S, through
//! the TUN event loop; the kernel side is an `IPPROTO_MPTCP` socket made on a thread that entered
//! K. After each case the kernel's `MPTcpExt` counters in K must show no fallback, no mapping or
//! checksum error and no reset, unless the case expects a fallback.
//!
//! They need root; without it (or without `/dev/net/tun`, `ip`, kernel MPTCP) each prints why
//! and passes without running. `MPTCP_TUN_TRACE=1` prints every packet on the TUN device.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mptcp_stack::connection::{CloseReason, ConnectionStats};
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_tests::netns::{TUN, Topology, mptcp_counters, skip_reason};
use mptcp_tun_driver::event_loop::{EventLoop, LoopConfig, LoopStats, PathDevice, StopReason};
use mptcp_tun_driver::event_loop::{endpoint_config, os_endpoint};
use mptcp_tun_driver::transfer::{ClosePolicy, PatternSource, Role, Transfer, TransferReport};
use sha2::{Digest, Sha256};
use socket2::{Domain, Protocol, Socket, Type};

const PORT: u16 = 5201;
const MIB: u64 = 1 << 20;
/// Seed of the data the stack sends; the kernel's data uses `SEED + 1`.
const SEED: u64 = 42;
/// Time allowed for one whole case.
const LIMIT: Duration = Duration::from_secs(90);

macro_rules! skip_unless_possible {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// The kernel side.

/// What the kernel's socket did.
#[derive(Debug, Default)]
struct KernelSide {
    bytes_received: u64,
    sha256_received: String,
    bytes_sent: u64,
    sha256_sent: String,
    /// `TCP_IS_MPTCP` on the connected socket: MPTCP still in use at the end.
    is_mptcp: bool,
    /// `MPTCP_INFO.mptcpi_csum_enabled`, when MPTCP_INFO is available (not after fallback).
    csum_enabled: Option<bool>,
    /// The socket could only be made as plain TCP (MPTCP disabled in the namespace).
    plain_tcp: bool,
    /// Reading ended with ECONNRESET (the peer aborted).
    reset: bool,
}

/// An MPTCP stream socket, or a plain TCP one if the namespace has MPTCP disabled (as a
/// program that prefers MPTCP does).
fn kernel_socket(addr: SocketAddr) -> io::Result<(Socket, bool)> {
    let domain = Domain::for_address(addr);
    match Socket::new(domain, Type::STREAM, Some(Protocol::MPTCP)) {
        Ok(s) => Ok((s, false)),
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) || e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => {
            Ok((Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?, true))
        }
        Err(e) => Err(e),
    }
}

/// `getsockopt(SOL_TCP, TCP_IS_MPTCP)` and `getsockopt(SOL_MPTCP, MPTCP_INFO)`'s checksum flag.
fn mptcp_state(sock: &Socket) -> (bool, Option<bool>) {
    const TCP_IS_MPTCP: libc::c_int = 43;
    const SOL_MPTCP: libc::c_int = 284;
    const MPTCP_INFO: libc::c_int = 1;
    /// Offset of `mptcpi_csum_enabled` in `struct mptcp_info` (uapi linux/mptcp.h).
    const CSUM_ENABLED: usize = 42;
    let fd = sock.as_raw_fd();
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`, which is that large.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_TCP, TCP_IS_MPTCP, (&mut v as *mut libc::c_int).cast(), &mut len) };
    let is_mptcp = r == 0 && v == 1;
    let mut info = [0u8; 256];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which is that large.
    let r = unsafe { libc::getsockopt(fd, SOL_MPTCP, MPTCP_INFO, info.as_mut_ptr().cast(), &mut len) };
    let csum = (r == 0 && len as usize > CSUM_ENABLED).then(|| info[CSUM_ENABLED] != 0);
    (is_mptcp, csum)
}

/// Reads to the end of the stream, hashing; returns (bytes, sha256, whether it was reset).
fn read_all(sock: &mut Socket) -> io::Result<(u64, String, bool)> {
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
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("kernel side reading after {total} bytes: {e}"))),
        }
    }
}

/// Writes `bytes` of the pattern seeded with `seed`; returns their SHA-256.
fn write_pattern(sock: &mut Socket, seed: u64, bytes: u64) -> io::Result<String> {
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
    }
    Ok(hex(&h.finalize()))
}

/// A kernel server on `addr`: accepts one connection, reads to the end, then sends `reply`
/// bytes (seed `SEED + 1`) and closes — or with `closes_first` sends and closes its side first,
/// then reads to the end. Sends on `ready` once it listens.
fn kernel_server(addr: SocketAddr, reply: u64, closes_first: bool, ready: mpsc::Sender<()>) -> io::Result<KernelSide> {
    let (listener, plain_tcp) = kernel_socket(addr)?;
    listener.set_reuse_address(true)?;
    listener.bind(&addr.into())?;
    listener.listen(8)?;
    listener.set_read_timeout(Some(LIMIT))?; // bounds accept(2)
    let _ = ready.send(());
    let (mut conn, _) = listener.accept()?;
    conn.set_read_timeout(Some(LIMIT))?;
    conn.set_write_timeout(Some(LIMIT))?;
    let send = |conn: &mut Socket| -> io::Result<String> {
        let sha = write_pattern(conn, SEED + 1, reply)?;
        conn.shutdown(Shutdown::Write)?;
        Ok(sha)
    };
    let sent_first = if closes_first { Some(send(&mut conn)?) } else { None };
    let (bytes_received, sha256_received, reset) = read_all(&mut conn)?;
    let (is_mptcp, csum_enabled) = mptcp_state(&conn);
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
        plain_tcp,
        reset,
    })
}

/// A kernel client: connects to `addr`, sends `bytes` (seed `SEED + 1`), shuts down its side and
/// reads to the end.
fn kernel_client(addr: SocketAddr, bytes: u64) -> io::Result<KernelSide> {
    let (mut sock, plain_tcp) = kernel_socket(addr)?;
    sock.set_read_timeout(Some(LIMIT))?;
    sock.set_write_timeout(Some(LIMIT))?;
    sock.connect_timeout(&addr.into(), Duration::from_secs(20))?;
    let sha256_sent = write_pattern(&mut sock, SEED + 1, bytes)?;
    let (is_mptcp, csum_enabled) = mptcp_state(&sock);
    sock.shutdown(Shutdown::Write)?;
    let (bytes_received, sha256_received, reset) = read_all(&mut sock)?;
    Ok(KernelSide {
        reset,
        bytes_received,
        sha256_received,
        bytes_sent: bytes,
        sha256_sent,
        is_mptcp,
        csum_enabled,
        plain_tcp,
    })
}

// ---------------------------------------------------------------------------------------------
// The stack side.

/// What the stack did.
#[derive(Debug)]
struct StackSide {
    report: TransferReport,
    stats: Option<ConnectionStats>,
    loop_stats: LoopStats,
    stop: StopReason,
    seconds: f64,
}

/// Runs the stack in `role` over the TUN device of `topo` (on the calling thread, which must be
/// in the stack's namespace) until its connection closes. Sends on `ready` once it listens or
/// connects.
fn run_stack(
    local: IpAddr,
    role: Role,
    close: Option<ClosePolicy>,
    checksum: bool,
    ready: mpsc::Sender<()>,
) -> Result<StackSide, String> {
    let path = PathDevice::open(TUN, local).map_err(|e| e.to_string())?;
    let mut base = EndpointConfig::default();
    base.connection.checksum = checksum;
    let config = endpoint_config(base, std::slice::from_ref(&path));
    let endpoint = os_endpoint(config).map_err(|e| e.to_string())?;
    let mut transfer = Transfer::new(role, false);
    if let Some(close) = close {
        transfer.set_close_policy(close);
    }
    let mut lp = EventLoop::new(endpoint, transfer, vec![path], LoopConfig::default()).map_err(|e| e.to_string())?;
    lp.start().map_err(|e| e.to_string())?;
    let _ = ready.send(());
    let started = Instant::now();
    let stop = lp.run(|t| t.is_closed(), Some(LIMIT), |_| {}).map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let t = lp.transfer();
    let stats = t.stats(lp.endpoint());
    Ok(StackSide { report: t.report(), stats, loop_stats: lp.stats(), stop, seconds })
}

// ---------------------------------------------------------------------------------------------
// Cases.

/// How a case is set up.
#[derive(Debug, Clone, Copy)]
struct Case {
    v6: bool,
    /// The stack is the client (else the kernel is).
    stack_client: bool,
    /// Client to server.
    bytes: u64,
    /// Server to client after the end of stream (kernel server only).
    reply: u64,
    /// `net.mptcp.checksum_enabled=1` in K.
    kernel_checksum: bool,
    /// The stack asks for checksums (MP_CAPABLE flag A).
    stack_checksum: bool,
    /// `net.mptcp.enabled=0` in K (expect fallback to TCP).
    kernel_mptcp_off: bool,
    /// The stack (client) aborts once this much was acknowledged.
    abort_after: Option<u64>,
    /// The kernel server sends its reply and closes before reading the stack's data; the stack
    /// client closes only after the kernel's end of stream.
    kernel_closes_first: bool,
}

impl Case {
    fn new(v6: bool, stack_client: bool, bytes: u64) -> Case {
        Case {
            v6,
            stack_client,
            bytes,
            reply: 0,
            kernel_checksum: false,
            stack_checksum: false,
            kernel_mptcp_off: false,
            abort_after: None,
            kernel_closes_first: false,
        }
    }
}

/// The outcome, for the assertions.
#[derive(Debug)]
struct Outcome {
    stack: StackSide,
    kernel: KernelSide,
    counters: BTreeMap<String, u64>,
}

fn run_case(case: Case) -> Outcome {
    let topo = Topology::new(case.v6).expect("namespaces and devices");
    if case.kernel_checksum {
        topo.kernel.sysctl("net.mptcp.checksum_enabled", "1").expect("sysctl");
    }
    if case.kernel_mptcp_off {
        topo.kernel.sysctl("net.mptcp.enabled", "0").expect("sysctl");
    }
    let kernel_at = SocketAddr::new(topo.kernel_addr, PORT);
    let stack_at = SocketAddr::new(topo.stack_addr, PORT);
    let (ready_tx, ready_rx) = mpsc::channel();
    let started = Instant::now();
    let (stack, kernel) = if case.stack_client {
        let Case { bytes, reply, kernel_closes_first, .. } = case;
        let kernel = topo.kernel.spawn(move || kernel_server(kernel_at, reply, kernel_closes_first, ready_tx));
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("the kernel server listens");
        let role = Role::Client { local: topo.stack_addr, remote: kernel_at, bytes, seed: SEED };
        let (tx, _rx) = mpsc::channel();
        let local = topo.stack_addr;
        let close = match case.abort_after {
            Some(n) => Some(ClosePolicy::AbortAfter(n)),
            None if kernel_closes_first => Some(ClosePolicy::AfterEof),
            None => None,
        };
        let checksum = case.stack_checksum;
        let stack = topo.stack.run(move || run_stack(local, role, close, checksum, tx));
        (stack, kernel.join())
    } else {
        let local = topo.stack_addr;
        let checksum = case.stack_checksum;
        let stack =
            topo.stack.spawn(move || run_stack(local, Role::Server { listen: stack_at }, None, checksum, ready_tx));
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("the stack server listens");
        let bytes = case.bytes;
        let kernel = topo.kernel.run(move || kernel_client(stack_at, bytes));
        (stack.join().unwrap_or_else(|_| Err(io::Error::other("stack thread panicked"))), Ok(kernel))
    };
    let stack = stack.expect("entered the stack namespace").unwrap_or_else(|e| panic!("stack side: {e}"));
    let kernel = kernel
        .unwrap_or_else(|_| panic!("kernel thread panicked"))
        .expect("entered the kernel namespace")
        .unwrap_or_else(|e| panic!("kernel side: {e}\nstack side: {stack:#?}"));
    let counters = mptcp_counters(&topo.kernel).expect("MPTcpExt counters");
    let wall = started.elapsed().as_secs_f64();
    let nonzero: BTreeMap<_, _> = counters.iter().filter(|(_, v)| **v != 0).collect();
    eprintln!(
        "case {case:?}: {:.3} s from start to close on the stack's clock ({wall:.3} s wall), \
         {:.0} Mbit/s of payload both ways; kernel MPTcpExt: {nonzero:?}",
        stack.seconds,
        (stack.report.bytes_sent + stack.report.bytes_received) as f64 * 8.0 / stack.seconds / 1e6,
    );
    eprintln!("stack loop: {:?}", stack.loop_stats);
    for sf in stack.stats.iter().flat_map(|s| &s.subflows) {
        eprintln!(
            "stack subflow {} {} -> {}: sent {} B ({} retransmits, {} RTOs), received {} B, srtt {:?}",
            sf.id,
            sf.local,
            sf.remote,
            sf.stats.bytes_sent,
            sf.stats.retransmits,
            sf.stats.rto_count,
            sf.stats.bytes_received,
            sf.srtt
        );
    }
    Outcome { stack, kernel, counters }
}

/// Counters that must stay zero when nothing went wrong.
const MUST_BE_ZERO: &[&str] = &[
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

fn assert_clean_mptcp(o: &Outcome, case: Case) {
    let s = &o.stack;
    assert_eq!(s.stop, StopReason::Done, "the stack's connection closed in time: {s:#?}");
    assert_eq!(s.report.closed.map(|c| c.1), Some(CloseReason::Normal), "normal close: {s:#?}");
    assert_eq!(s.report.mptcp, Some(true), "the stack kept MPTCP");
    assert!(o.kernel.is_mptcp, "the kernel kept MPTCP (TCP_IS_MPTCP)");
    for name in MUST_BE_ZERO {
        assert_eq!(o.counters.get(*name).copied().unwrap_or(0), 0, "MPTcpExt{name} in {:?}", o.counters);
    }
    let capable = if case.stack_client { "MPCapableSYNRX" } else { "MPCapableSYNACKRX" };
    assert!(o.counters.get(capable).copied().unwrap_or(0) >= 1, "MPTcpExt{capable} counted: {:?}", o.counters);
    assert_data(o, case);
}

fn assert_data(o: &Outcome, case: Case) {
    let (s, k) = (&o.stack.report, &o.kernel);
    if case.stack_client {
        assert_eq!(s.bytes_sent, case.bytes, "the stack sent everything");
        assert_eq!(k.bytes_received, case.bytes, "the kernel received everything");
        assert_eq!(k.sha256_received, s.sha256_sent, "data intact stack -> kernel");
        assert_eq!((k.bytes_sent, s.bytes_received), (case.reply, case.reply), "the stack received the reply");
        assert_eq!(s.sha256_received, k.sha256_sent, "reply intact kernel -> stack");
    } else {
        assert_eq!(k.bytes_sent, case.bytes, "the kernel sent everything");
        assert_eq!(s.bytes_received, case.bytes, "the stack received everything");
        assert_eq!(s.sha256_received, k.sha256_sent, "data intact kernel -> stack");
        assert_eq!(k.bytes_received, 0);
    }
}

#[test]
fn stack_client_to_kernel_server_v4() {
    skip_unless_possible!();
    let case = Case { reply: 8 * MIB, ..Case::new(false, true, 8 * MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
    assert_eq!(o.kernel.csum_enabled, Some(false));
}

#[test]
fn kernel_client_to_stack_server_v4() {
    skip_unless_possible!();
    let case = Case::new(false, false, 8 * MIB);
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
}

#[test]
fn stack_client_to_kernel_server_v6() {
    skip_unless_possible!();
    let case = Case { reply: MIB, ..Case::new(true, true, 8 * MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
}

#[test]
fn kernel_client_to_stack_server_v6() {
    skip_unless_possible!();
    let case = Case::new(true, false, 8 * MIB);
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
}

#[test]
fn kernel_checksums_on() {
    skip_unless_possible!();
    let case = Case { reply: 8 * MIB, kernel_checksum: true, ..Case::new(false, true, 8 * MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
    assert_eq!(o.kernel.csum_enabled, Some(true), "the kernel uses DSS checksums");
}

#[test]
fn stack_checksums_on_kernel_client() {
    skip_unless_possible!();
    // Only the stack (here the server) asks for checksums: the kernel must use them too.
    let case = Case { stack_checksum: true, ..Case::new(false, false, 8 * MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
    assert_eq!(o.kernel.csum_enabled, Some(true), "the kernel uses DSS checksums");
}

#[test]
fn kernel_mptcp_disabled_stack_client_falls_back() {
    skip_unless_possible!();
    let case = Case { reply: MIB, kernel_mptcp_off: true, ..Case::new(false, true, 4 * MIB) };
    let o = run_case(case);
    assert!(o.kernel.plain_tcp, "the kernel side had to use plain TCP");
    assert_eq!(o.stack.stop, StopReason::Done, "closed in time: {:#?}", o.stack);
    assert_eq!(o.stack.report.mptcp, Some(false), "the stack fell back to TCP");
    assert_eq!(o.stack.report.closed.map(|c| c.1), Some(CloseReason::Normal));
    assert_data(&o, case);
}

#[test]
fn kernel_mptcp_disabled_kernel_client_falls_back() {
    skip_unless_possible!();
    let case = Case { kernel_mptcp_off: true, ..Case::new(false, false, 4 * MIB) };
    let o = run_case(case);
    assert!(o.kernel.plain_tcp, "the kernel side had to use plain TCP");
    assert_eq!(o.stack.stop, StopReason::Done, "closed in time: {:#?}", o.stack);
    assert_eq!(o.stack.report.mptcp, Some(false), "the stack fell back to TCP");
    assert_eq!(o.stack.report.closed.map(|c| c.1), Some(CloseReason::Normal));
    assert_data(&o, case);
}

#[test]
fn stack_client_to_kernel_server_64mib_each_way() {
    skip_unless_possible!();
    let case = Case { reply: 64 * MIB, ..Case::new(false, true, 64 * MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
}

#[test]
fn kernel_server_closes_first() {
    skip_unless_possible!();
    let case = Case { reply: 4 * MIB, kernel_closes_first: true, ..Case::new(false, true, MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
    let (eof, closed) = (o.stack.report.eof_at, o.stack.report.closed.map(|c| c.0));
    assert!(eof.is_some() && eof <= closed, "the kernel's DATA_FIN came first: {:#?}", o.stack.report);
}

#[test]
fn kernel_client_to_stack_server_64mib() {
    skip_unless_possible!();
    let case = Case::new(false, false, 64 * MIB);
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
}

#[test]
fn stack_client_abort_is_a_fast_close_for_the_kernel() {
    skip_unless_possible!();
    let case = Case { abort_after: Some(2 * MIB), ..Case::new(false, true, 64 * MIB) };
    let o = run_case(case);
    assert_eq!(o.stack.stop, StopReason::Done, "the stack's connection ended: {:#?}", o.stack);
    assert_eq!(o.stack.report.closed.map(|c| c.1), Some(CloseReason::Aborted));
    assert!(o.kernel.reset, "the kernel's read ended with ECONNRESET: {:?}", o.kernel);
    assert!(o.kernel.bytes_received >= 2 * MIB && o.kernel.bytes_received < 64 * MIB, "{:?}", o.kernel);
    let rx = |name: &str| o.counters.get(name).copied().unwrap_or(0);
    assert!(rx("MPFastcloseRx") >= 1, "MPTcpExtMPFastcloseRx counted: {:?}", o.counters);
    assert_eq!(rx("MPCapableFallbackACK") + rx("DSSNotMatching") + rx("DataCsumErr"), 0, "{:?}", o.counters);
}
