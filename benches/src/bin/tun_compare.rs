//! Throughput over one TUN device against the Linux kernel: our stack and smoltcp's own TCP side
//! by side, in both directions, in the same run (issue 4, "Throughput"; `docs/performance.md`,
//! "Over TUN against the kernel").
//!
//! ```text
//! tun_compare [--bytes N] [--runs N] [--txqueuelen N]
//! ```
//!
//! As root only (network namespaces, a TUN device); otherwise it prints why and exits 0. Each
//! measurement builds two fresh namespaces, as the kernel interop tests do (`tests/src/netns.rs`):
//!
//! ```text
//!  K: kernel socket 10.71.0.1 ──veth── 10.71.0.2 S (forwarding) mtun0 10.72.0.1 ──TUN── 10.72.0.2 stack
//! ```
//!
//! The TUN device is persistent (`ip tuntap add`), MTU 1500, `txqueuelen` 2000 by default. The
//! stack side runs on a thread that entered S: **ours** is tun-driver's `EventLoop` with a
//! `Transfer` (as `mptcp client`/`server` and the interop tests), MPTCP against an
//! `IPPROTO_MPTCP` kernel socket; **smoltcp** is an `Interface` with one `tcp::Socket` over a thin
//! `phy::Device` on the same `TunDevice` (one `read`/`write` per packet, like ours, buffers
//! reused), plain TCP against an `IPPROTO_TCP` kernel socket (smoltcp has no MPTCP). The kernel
//! side runs on a thread that entered K.
//!
//! Both stacks' applications do the same work: the sender fills 64 KiB chunks with the seeded
//! pattern, hashes them (SHA-256) and writes them; the receiver reads 64 KiB at a time and
//! hashes. The kernel sender only fills (its stream's hash is computed once beforehand), the
//! kernel receiver hashes; hashes are compared after every run.
//!
//! Reported per run and as medians over runs: goodput (payload bytes over the receiver's time
//! from establishment to end of stream), CPU time per GiB of the stack's thread and of the kernel
//! peer's thread (`getrusage(RUSAGE_THREAD)`, user and system), and of the whole machine
//! (`/proc/stat`: all CPUs busy, and the softirq part), which also holds the forwarding and
//! softirq work that no thread is charged for.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mptcp_stack::endpoint::EndpointConfig;
use sha2::{Digest, Sha256};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use socket2::{Domain, Protocol, Socket, Type};

use mptcp_tun_driver::device::TunDevice;
use mptcp_tun_driver::event_loop::{EventLoop, LoopConfig, PathDevice, StopReason, endpoint_config, os_endpoint};
use mptcp_tun_driver::netns::{Netns, has_net_admin, unique_name};
use mptcp_tun_driver::transfer::{PatternSource, Role, Transfer};

const TUN: &str = "mtun0";
const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 71, 0, 1);
const STACK: Ipv4Addr = Ipv4Addr::new(10, 72, 0, 2);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 72, 0, 1);
const PORT: u16 = 5201;
/// Seed of the data a stack sends; the kernel sends `SEED + 1`.
const SEED: u64 = 42;
/// The applications' read and write size (as `Transfer`'s).
const CHUNK: usize = 64 * 1024;
/// The kernel side's read and write size.
const KERNEL_CHUNK: usize = 256 * 1024;
/// smoltcp's send and receive buffers: our endpoint's defaults.
const SMOL_BUFFER: usize = 4 << 20;
/// Time allowed for one transfer.
const LIMIT: Duration = Duration::from_secs(60);
const GIB: f64 = (1u64 << 30) as f64;

// ---------------------------------------------------------------------------------------------
// CPU time.

/// User and system CPU time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Cpu {
    user: f64,
    sys: f64,
}

impl Cpu {
    fn total(self) -> f64 {
        self.user + self.sys
    }

    fn since(self, earlier: Cpu) -> Cpu {
        Cpu { user: self.user - earlier.user, sys: self.sys - earlier.sys }
    }
}

/// The calling thread's CPU time so far.
fn thread_cpu() -> Cpu {
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one `rusage` into `ru`, which is one.
    let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    if r != 0 {
        return Cpu::default();
    }
    Cpu { user: tv(ru.ru_utime), sys: tv(ru.ru_stime) }
}

/// The whole machine's CPU time from `/proc/stat`, in seconds: busy (everything but idle and
/// iowait) and its softirq part.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct MachineCpu {
    busy: f64,
    softirq: f64,
}

fn machine_cpu() -> MachineCpu {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    parse_proc_stat(&text, clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

fn parse_proc_stat(text: &str, ticks: f64) -> MachineCpu {
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else { return MachineCpu::default() };
    let v: Vec<f64> = line.split_whitespace().skip(1).map(|x| x.parse().unwrap_or(0.0)).collect();
    let get = |i: usize| v.get(i).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    MachineCpu { busy: busy / ticks, softirq: get(6) / ticks }
}

// ---------------------------------------------------------------------------------------------
// Topology.

/// The kernel's namespace K and the stack's namespace S; removed on drop.
#[derive(Debug)]
struct Topology {
    kernel: Netns,
    stack: Netns,
}

impl Topology {
    fn new(txqueuelen: u32) -> io::Result<Topology> {
        let kernel = Netns::new(&unique_name("tuncmp-k"))?;
        let stack = Netns::new(&unique_name("tuncmp-s"))?;
        stack.ip(&format!("link add s0 type veth peer name k0 netns {}", kernel.name()))?;
        stack.ip(&format!("tuntap add dev {TUN} mode tun"))?;
        for cmd in [
            "addr add 10.71.0.2/24 dev s0",
            "link set s0 up",
            "addr add 10.72.0.1/24 dev mtun0",
            &format!("link set mtun0 mtu 1500 txqueuelen {txqueuelen} up"),
        ] {
            stack.ip(cmd)?;
        }
        for cmd in ["addr add 10.71.0.1/24 dev k0", "link set k0 up", "route add 10.72.0.0/24 via 10.71.0.2"] {
            kernel.ip(cmd)?;
        }
        stack.sysctl("net.ipv4.ip_forward", "1")?;
        stack.sysctl("net.ipv4.conf.all.rp_filter", "0")?;
        stack.sysctl("net.ipv4.conf.default.rp_filter", "0")?;
        // Absent on older kernels; only matters after a failed MP_CAPABLE handshake.
        let _ = kernel.sysctl("net.mptcp.blackhole_timeout", "0");
        Ok(Topology { kernel, stack })
    }

    /// Packets the TUN device dropped on the way to the stack (its TX queue was full), from
    /// `/proc/net/dev` in S.
    fn tun_tx_dropped(&self) -> u64 {
        let text = self.stack.run(|| std::fs::read_to_string("/proc/thread-self/net/dev")).ok().and_then(Result::ok);
        text.as_deref().and_then(|t| tx_dropped(t, TUN)).unwrap_or(0)
    }
}

/// The TX `drop` column of `dev` in `/proc/net/dev` text.
fn tx_dropped(text: &str, dev: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.trim_start().starts_with(&format!("{dev}:")))?;
    let fields: Vec<&str> = line.split(':').nth(1)?.split_whitespace().collect();
    // RX: bytes packets errs drop fifo frame compressed multicast; TX: bytes packets errs drop ...
    fields.get(11)?.parse().ok()
}

/// Why this cannot run here, or `None`.
fn skip_reason() -> Option<String> {
    if has_net_admin() != Some(true) {
        return Some("not running as root (CAP_NET_ADMIN is needed for namespaces and TUN devices)".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    if !std::path::Path::new("/proc/sys/net/mptcp/enabled").exists() {
        return Some("the kernel has no MPTCP (/proc/sys/net/mptcp/enabled is missing)".into());
    }
    match std::process::Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("the `ip` command (iproute2) is missing".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel side.

#[derive(Debug, Default)]
struct KernelSide {
    bytes: u64,
    sha256: String,
    /// Receiver only: from accept to the end of stream.
    seconds: Option<f64>,
    cpu: Cpu,
    mptcp: bool,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn kernel_socket(mptcp: bool) -> io::Result<Socket> {
    let proto = if mptcp { Protocol::MPTCP } else { Protocol::TCP };
    Socket::new(Domain::IPV4, Type::STREAM, Some(proto))
}

/// `getsockopt(SOL_TCP, TCP_IS_MPTCP)`.
fn is_mptcp(sock: &Socket) -> bool {
    const TCP_IS_MPTCP: libc::c_int = 43;
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`, which is that large.
    let r = unsafe {
        libc::getsockopt(sock.as_raw_fd(), libc::SOL_TCP, TCP_IS_MPTCP, (&mut v as *mut libc::c_int).cast(), &mut len)
    };
    r == 0 && v == 1
}

/// The SHA-256 of the kernel sender's stream: `bytes` of the pattern seeded with `seed`,
/// generated `KERNEL_CHUNK` bytes at a time.
fn kernel_stream_hash(seed: u64, bytes: u64) -> String {
    let mut src = PatternSource::new(seed);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; KERNEL_CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(KERNEL_CHUNK as u64) as usize;
        src.fill(&mut buf[..n]);
        h.update(&buf[..n]);
        left -= n as u64;
    }
    hex(&h.finalize())
}

/// Accepts one connection, reads it to the end hashing, then closes.
fn kernel_server(kernel: Ipv4Addr, mptcp: bool, ready: mpsc::Sender<()>) -> io::Result<KernelSide> {
    let cpu0 = thread_cpu();
    let addr: SocketAddr = (kernel, PORT).into();
    let listener = kernel_socket(mptcp)?;
    listener.set_reuse_address(true)?;
    listener.bind(&addr.into())?;
    listener.listen(8)?;
    listener.set_read_timeout(Some(LIMIT))?;
    let _ = ready.send(());
    let (mut conn, _) = listener.accept()?;
    let t0 = Instant::now();
    conn.set_read_timeout(Some(LIMIT))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; KERNEL_CHUNK];
    let mut bytes = 0u64;
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
                bytes += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("kernel server reading after {bytes} bytes: {e}"))),
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let mptcp = is_mptcp(&conn);
    drop(conn);
    Ok(KernelSide { bytes, sha256: hex(&h.finalize()), seconds: Some(seconds), cpu: thread_cpu().since(cpu0), mptcp })
}

/// Connects, sends `bytes` of the pattern (not hashed here: see [`kernel_stream_hash`]), shuts
/// down its side and waits for the peer's end of stream.
fn kernel_client(stack: Ipv4Addr, mptcp: bool, bytes: u64) -> io::Result<KernelSide> {
    let cpu0 = thread_cpu();
    let addr: SocketAddr = (stack, PORT).into();
    let mut sock = kernel_socket(mptcp)?;
    sock.set_read_timeout(Some(LIMIT))?;
    sock.set_write_timeout(Some(LIMIT))?;
    sock.connect_timeout(&addr.into(), Duration::from_secs(20))?;
    let mut src = PatternSource::new(SEED + 1);
    let mut buf = vec![0u8; KERNEL_CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(KERNEL_CHUNK as u64) as usize;
        src.fill(&mut buf[..n]);
        sock.write_all(&buf[..n]).map_err(|e| io::Error::new(e.kind(), format!("kernel client writing: {e}")))?;
        left -= n as u64;
    }
    let mptcp = is_mptcp(&sock);
    sock.shutdown(Shutdown::Write)?;
    loop {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("kernel client waiting for the end: {e}"))),
        }
    }
    Ok(KernelSide { bytes, sha256: String::new(), seconds: None, cpu: thread_cpu().since(cpu0), mptcp })
}

// ---------------------------------------------------------------------------------------------
// The stack side.

#[derive(Debug, Default)]
struct StackSide {
    bytes_sent: u64,
    bytes_received: u64,
    sha256_sent: String,
    sha256_received: String,
    /// Receiver only: from establishment to the end of stream.
    seconds: Option<f64>,
    cpu: Cpu,
    packets_in: u64,
    packets_out: u64,
    /// Segments retransmitted (ours only: smoltcp does not count them).
    retransmits: Option<u64>,
    mptcp: Option<bool>,
}

/// Our stack as client (sends `bytes`) or server, over the TUN device of the calling thread's
/// namespace, until the connection closes.
fn run_ours(client: Option<u64>, kernel: Ipv4Addr, ready: mpsc::Sender<()>) -> Result<StackSide, String> {
    let path = PathDevice::open(TUN, STACK.into()).map_err(|e| e.to_string())?;
    let config = endpoint_config(EndpointConfig::default(), std::slice::from_ref(&path));
    let endpoint = os_endpoint(config).map_err(|e| e.to_string())?;
    let role = match client {
        Some(bytes) => Role::Client { local: STACK.into(), remote: (kernel, PORT).into(), bytes, seed: SEED },
        None => Role::Server { listen: (STACK, PORT).into() },
    };
    let mut lp = EventLoop::new(endpoint, Transfer::new(role, false), vec![path], LoopConfig::default())
        .map_err(|e| e.to_string())?;
    lp.start().map_err(|e| e.to_string())?;
    let _ = ready.send(());
    let cpu0 = thread_cpu();
    let stop = lp.run(|t| t.is_closed(), Some(LIMIT), |_| {}).map_err(|e| e.to_string())?;
    let cpu = thread_cpu().since(cpu0);
    if stop != StopReason::Done {
        return Err(format!("our stack stopped: {stop:?}"));
    }
    let t = lp.transfer();
    let r = t.report();
    let seconds = match (client, r.established_at, r.eof_at) {
        (None, Some(a), Some(b)) => Some(b.saturating_duration_since(a).as_secs_f64()),
        _ => None,
    };
    let retransmits = t.stats(lp.endpoint()).map(|s| s.subflows.iter().map(|f| f.stats.retransmits).sum());
    let ls = lp.stats();
    Ok(StackSide {
        bytes_sent: r.bytes_sent,
        bytes_received: r.bytes_received,
        sha256_sent: r.sha256_sent,
        sha256_received: r.sha256_received,
        seconds,
        cpu,
        packets_in: ls.packets_in,
        packets_out: ls.packets_out,
        retransmits,
        mptcp: r.mptcp,
    })
}

/// smoltcp's device: one packet per `read`/`write` on the TUN device, buffers reused.
#[derive(Debug)]
struct TunPhy {
    dev: TunDevice,
    rx: Vec<u8>,
    tx: Vec<u8>,
    counts: PhyCounts,
}

#[derive(Debug, Default, Clone, Copy)]
struct PhyCounts {
    packets_in: u64,
    packets_out: u64,
    /// Writes that failed (the packet is lost, as with smoltcp's own `TunTapInterface`).
    tx_failed: u64,
}

#[derive(Debug)]
struct TunRx<'a> {
    packet: &'a [u8],
}

#[derive(Debug)]
struct TunTx<'a> {
    dev: &'a TunDevice,
    buf: &'a mut Vec<u8>,
    counts: &'a mut PhyCounts,
}

impl phy::RxToken for TunRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.packet)
    }
}

impl phy::TxToken for TunTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let r = f(&mut self.buf[..len]);
        match self.dev.send(&self.buf[..len]) {
            Ok(true) => self.counts.packets_out += 1,
            _ => self.counts.tx_failed += 1,
        }
        r
    }
}

impl Device for TunPhy {
    type RxToken<'a>
        = TunRx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TunTx<'a>
    where
        Self: 'a;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.dev.mtu();
        // Default checksum capabilities: computed on send, verified on receive, as ours.
        caps
    }

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(TunRx<'_>, TunTx<'_>)> {
        let TunPhy { dev, rx, tx, counts } = self;
        let n = dev.recv(rx).ok().flatten()?;
        counts.packets_in += 1;
        Some((TunRx { packet: &rx[..n] }, TunTx { dev, buf: tx, counts }))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<TunTx<'_>> {
        let TunPhy { dev, tx, counts, .. } = self;
        Some(TunTx { dev, buf: tx, counts })
    }
}

/// TCP timestamps for smoltcp: milliseconds since the first call.
fn tsval() -> u32 {
    static START: OnceLock<Instant> = OnceLock::new();
    (START.get_or_init(Instant::now).elapsed().as_millis() as u32).wrapping_add(1)
}

/// smoltcp as client (sends `bytes`) or server over the TUN device of the calling thread's
/// namespace, until its socket is closed (or in TIME-WAIT).
fn run_smoltcp(client: Option<u64>, kernel: Ipv4Addr, ready: mpsc::Sender<()>) -> Result<StackSide, String> {
    let dev = TunDevice::open(TUN).map_err(|e| e.to_string())?;
    let mtu = dev.mtu();
    let mut phy = TunPhy { dev, rx: vec![0; mtu.max(1500)], tx: vec![0; mtu.max(1500)], counts: PhyCounts::default() };
    let start = Instant::now();
    let now = || smoltcp::time::Instant::from_micros(start.elapsed().as_micros() as i64);
    let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut phy, now());
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::Ipv4(STACK), 24)).expect("room for one address");
    });
    iface.routes_mut().add_default_ipv4_route(GATEWAY).map_err(|e| format!("route: {e:?}"))?;
    let mut sock =
        tcp::Socket::new(tcp::SocketBuffer::new(vec![0; SMOL_BUFFER]), tcp::SocketBuffer::new(vec![0; SMOL_BUFFER]));
    sock.set_tsval_generator(Some(tsval));
    let mut sockets = SocketSet::new(vec![]);
    let h = sockets.add(sock);
    match client {
        Some(_) => {
            let cx = iface.context();
            sockets
                .get_mut::<tcp::Socket>(h)
                .connect(cx, (IpAddress::Ipv4(kernel), PORT), 49152)
                .map_err(|e| format!("connect: {e:?}"))?;
        }
        None => sockets.get_mut::<tcp::Socket>(h).listen(PORT).map_err(|e| format!("listen: {e:?}"))?,
    }
    let _ = ready.send(());
    let cpu0 = thread_cpu();
    let mut src = PatternSource::new(SEED);
    let (mut sent_hash, mut recv_hash) = (Sha256::new(), Sha256::new());
    let mut buf = vec![0u8; CHUNK];
    let mut to_send = client.unwrap_or(0);
    let (mut bytes_sent, mut bytes_received) = (0u64, 0u64);
    let (mut established_at, mut eof_at) = (None, None);
    let mut closing = false;
    loop {
        let t = now();
        let before = phy.counts;
        iface.poll(t, &mut phy, &mut sockets);
        let s = sockets.get_mut::<tcp::Socket>(h);
        let mut moved = phy.counts.packets_in != before.packets_in || phy.counts.packets_out != before.packets_out;
        if established_at.is_none() && s.state() == tcp::State::Established {
            established_at = Some(start.elapsed());
        }
        // The sender's application: fill, hash, write (as `Transfer` does).
        while to_send > 0 && s.can_send() {
            let room = s.send_capacity() - s.send_queue();
            let chunk = (to_send as usize).min(CHUNK).min(room);
            if chunk == 0 {
                break;
            }
            src.fill(&mut buf[..chunk]);
            let n = s.send_slice(&buf[..chunk]).map_err(|e| format!("send: {e:?}"))?;
            sent_hash.update(&buf[..n]);
            bytes_sent += n as u64;
            to_send -= n as u64;
            moved = true;
        }
        // The receiver's application: read, hash.
        loop {
            match s.recv_slice(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    recv_hash.update(&buf[..n]);
                    bytes_received += n as u64;
                    moved = true;
                }
                Err(tcp::RecvError::Finished) => {
                    if eof_at.is_none() {
                        eof_at = Some(start.elapsed());
                        moved = true;
                    }
                    break;
                }
                Err(tcp::RecvError::InvalidState) => break,
            }
        }
        let done_sending = match client {
            Some(_) => to_send == 0,
            None => eof_at.is_some(),
        };
        if done_sending && !closing && established_at.is_some() {
            s.close();
            closing = true;
            moved = true;
        }
        if closing && matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait) {
            break;
        }
        if start.elapsed() > LIMIT {
            return Err(format!("smoltcp: no end after {LIMIT:?} (state {})", s.state()));
        }
        if !moved {
            let delay = iface.poll_delay(now(), &sockets).map_or(100, |d| d.total_millis().min(100));
            let mut fds = [libc::pollfd { fd: phy.dev.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
            // SAFETY: `fds` is one valid pollfd, and its length is passed.
            unsafe { libc::poll(fds.as_mut_ptr(), 1, delay as libc::c_int) };
        }
    }
    let cpu = thread_cpu().since(cpu0);
    let seconds = match (client, established_at, eof_at) {
        (None, Some(a), Some(b)) => Some((b - a).as_secs_f64()),
        _ => None,
    };
    if phy.counts.tx_failed > 0 {
        eprintln!("  smoltcp: {} writes to the TUN device failed", phy.counts.tx_failed);
    }
    Ok(StackSide {
        bytes_sent,
        bytes_received,
        sha256_sent: hex(&sent_hash.finalize()),
        sha256_received: hex(&recv_hash.finalize()),
        seconds,
        cpu,
        packets_in: phy.counts.packets_in,
        packets_out: phy.counts.packets_out,
        retransmits: None,
        mptcp: Some(false),
    })
}

// ---------------------------------------------------------------------------------------------
// One measurement.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    Ours,
    Smoltcp,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Ours => "ours (MPTCP)",
            Impl::Smoltcp => "smoltcp (TCP)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// The stack sends to a kernel server.
    ToKernel,
    /// A kernel client sends to the stack.
    FromKernel,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::ToKernel => "stack -> kernel",
            Direction::FromKernel => "kernel -> stack",
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    gbps: f64,
    seconds: f64,
    /// CPU seconds per GiB.
    stack: Cpu,
    kernel: Cpu,
    machine_busy: f64,
    machine_softirq: f64,
    packets_in: u64,
    packets_out: u64,
    retransmits: Option<u64>,
    tun_dropped: u64,
}

fn measure(imp: Impl, dir: Direction, args: Args, kernel_hash: &str) -> Result<Sample, String> {
    let Args { bytes, txqueuelen, .. } = args;
    let topo = Topology::new(txqueuelen).map_err(|e| format!("namespaces: {e}"))?;
    let mptcp = imp == Impl::Ours;
    let kernel_addr = KERNEL;
    let run_stack = move |client: Option<u64>, ready: mpsc::Sender<()>| match imp {
        Impl::Ours => run_ours(client, kernel_addr, ready),
        Impl::Smoltcp => run_smoltcp(client, kernel_addr, ready),
    };
    let (ready_tx, ready_rx) = mpsc::channel();
    let m0 = machine_cpu();
    let (stack, kernel) = match dir {
        Direction::ToKernel => {
            let kernel = topo.kernel.spawn(move || kernel_server(kernel_addr, mptcp, ready_tx));
            ready_rx.recv_timeout(Duration::from_secs(10)).map_err(|_| "the kernel server did not listen")?;
            let (tx, _rx) = mpsc::channel();
            let stack = topo.stack.run(move || run_stack(Some(bytes), tx));
            (stack, kernel.join().unwrap_or_else(|_| Err(io::Error::other("kernel thread panicked"))))
        }
        Direction::FromKernel => {
            let stack = topo.stack.spawn(move || run_stack(None, ready_tx));
            ready_rx.recv_timeout(Duration::from_secs(10)).map_err(|_| "the stack did not listen")?;
            let kernel = topo.kernel.run(move || kernel_client(STACK, mptcp, bytes));
            (stack.join().unwrap_or_else(|_| Err(io::Error::other("stack thread panicked"))), kernel)
        }
    };
    let m1 = machine_cpu();
    let stack = stack.map_err(|e| format!("stack namespace: {e}"))??;
    let kernel = kernel.map_err(|e| format!("kernel namespace: {e}"))?.map_err(|e| format!("kernel side: {e}"))?;
    let tun_dropped = topo.tun_tx_dropped();
    drop(topo);
    // Checks: every byte arrived intact, over MPTCP for ours and plain TCP for smoltcp.
    let (seconds, received) = match dir {
        Direction::ToKernel => {
            if kernel.sha256 != stack.sha256_sent || kernel.bytes != bytes || stack.bytes_sent != bytes {
                return Err(format!(
                    "data differ: stack sent {} B ({}), kernel received {} B ({})",
                    stack.bytes_sent, stack.sha256_sent, kernel.bytes, kernel.sha256
                ));
            }
            (kernel.seconds.unwrap_or(f64::NAN), kernel.bytes)
        }
        Direction::FromKernel => {
            if stack.sha256_received != kernel_hash || stack.bytes_received != bytes {
                return Err(format!(
                    "data differ: kernel sent {bytes} B ({kernel_hash}), stack received {} B ({})",
                    stack.bytes_received, stack.sha256_received
                ));
            }
            (stack.seconds.unwrap_or(f64::NAN), stack.bytes_received)
        }
    };
    if kernel.mptcp != mptcp || stack.mptcp != Some(mptcp) {
        return Err(format!("MPTCP in use: kernel {}, stack {:?}, expected {mptcp}", kernel.mptcp, stack.mptcp));
    }
    let gib = received as f64 / GIB;
    let per_gib = |c: Cpu| Cpu { user: c.user / gib, sys: c.sys / gib };
    Ok(Sample {
        gbps: received as f64 * 8.0 / seconds / 1e9,
        seconds,
        stack: per_gib(stack.cpu),
        kernel: per_gib(kernel.cpu),
        machine_busy: (m1.busy - m0.busy) / gib,
        machine_softirq: (m1.softirq - m0.softirq) / gib,
        packets_in: stack.packets_in,
        packets_out: stack.packets_out,
        retransmits: stack.retransmits,
        tun_dropped,
    })
}

// ---------------------------------------------------------------------------------------------
// The application's own work, for reference.

/// CPU seconds per GiB of the applications' work alone: (sender: fill + SHA-256, receiver:
/// SHA-256), 64 KiB at a time, on this thread.
fn app_work() -> (f64, f64) {
    let bytes = 256u64 << 20;
    let mut buf = vec![0u8; CHUNK];
    let mut src = PatternSource::new(SEED);
    let mut h = Sha256::new();
    let c0 = thread_cpu();
    for _ in 0..bytes / CHUNK as u64 {
        src.fill(&mut buf);
        h.update(&buf);
    }
    let c1 = thread_cpu();
    for _ in 0..bytes / CHUNK as u64 {
        h.update(&buf);
    }
    let c2 = thread_cpu();
    std::hint::black_box(h.finalize());
    let gib = bytes as f64 / GIB;
    (c1.since(c0).total() / gib, c2.since(c1).total() / gib)
}

// ---------------------------------------------------------------------------------------------
// Reporting.

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Parses a size: a number with an optional K, M or G suffix (powers of 1024).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1u64 << 10),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        'G' | 'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult).filter(|&n| n > 0)
}

const USAGE: &str =
    "usage: tun_compare [--bytes N (default 1G)] [--runs N (default 3)] [--txqueuelen N (default 2000)]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Args {
    bytes: u64,
    runs: usize,
    txqueuelen: u32,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut a = Args { bytes: 1 << 30, runs: 3, txqueuelen: 2000 };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--bytes" => {
                let v = value()?;
                a.bytes = parse_size(v).ok_or_else(|| format!("bad size {v:?}"))?;
            }
            "--runs" => a.runs = value()?.parse().ok().filter(|&n| n > 0).ok_or("bad --runs")?,
            "--txqueuelen" => a.txqueuelen = value()?.parse().ok().filter(|&n| n > 0).ok_or("bad --txqueuelen")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tun_compare: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Some(why) = skip_reason() {
        println!("tun_compare: not run: {why}");
        return;
    }
    let Args { bytes, runs, txqueuelen } = args;
    let topology = "kernel socket in a peer namespace, forwarded over a veth";
    println!(
        "tun_compare: {bytes} bytes per transfer, {runs} run(s), one TUN device, MTU 1500, txqueuelen {txqueuelen}, \
         {topology}; ours speaks MPTCP to an IPPROTO_MPTCP kernel socket, smoltcp plain TCP (it has no MPTCP) to an IPPROTO_TCP one"
    );
    let kernel_hash = kernel_stream_hash(SEED + 1, bytes);
    let (app_send, app_recv) = app_work();
    println!(
        "application work alone (included in the stack figures): sender fill + SHA-256 {app_send:.3} s/GiB, \
         receiver SHA-256 {app_recv:.3} s/GiB"
    );
    let dirs = [Direction::ToKernel, Direction::FromKernel];
    let imps = [Impl::Ours, Impl::Smoltcp];
    let mut samples: Vec<((Direction, Impl), Sample)> = Vec::new();
    let mut failed = false;
    println!(
        "\n{:>3}  {:<15}  {:<13}  {:>7}  {:>7}  {:>15}  {:>15}  {:>7}  {:>7}  {:>9}  {:>9}  {:>7}  {:>7}",
        "run",
        "direction",
        "stack",
        "Gbit/s",
        "seconds",
        "stack usr+sys",
        "kernel usr+sys",
        "machine",
        "softirq",
        "pkts in",
        "pkts out",
        "retrans",
        "tundrop"
    );
    for run in 1..=runs {
        for dir in dirs {
            for imp in imps {
                match measure(imp, dir, args, &kernel_hash) {
                    Ok(s) => {
                        println!(
                            "{run:>3}  {:<15}  {:<13}  {:>7.2}  {:>7.3}  {:>6.3}+{:<8.3}  {:>6.3}+{:<8.3}  {:>7.3}  {:>7.3}  {:>9}  {:>9}  {:>7}  {:>7}",
                            dir.name(),
                            imp.name(),
                            s.gbps,
                            s.seconds,
                            s.stack.user,
                            s.stack.sys,
                            s.kernel.user,
                            s.kernel.sys,
                            s.machine_busy,
                            s.machine_softirq,
                            s.packets_in,
                            s.packets_out,
                            s.retransmits.map_or("-".into(), |r| r.to_string()),
                            s.tun_dropped
                        );
                        samples.push(((dir, imp), s));
                    }
                    Err(e) => {
                        println!("{run:>3}  {:<15}  {:<13}  FAILED: {e}", dir.name(), imp.name());
                        failed = true;
                    }
                }
            }
        }
    }
    println!("(CPU columns: seconds per GiB received; machine = all CPUs busy, from /proc/stat)\n");
    println!(
        "| direction | stack | Gbit/s | ours / smoltcp | stack CPU s/GiB (user + sys) | kernel thread CPU s/GiB (user + sys) | machine CPU s/GiB (softirq) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for dir in dirs {
        let of = |imp: Impl| samples.iter().filter(move |(k, _)| *k == (dir, imp)).map(|(_, s)| *s);
        let gbps = |imp| median(of(imp).map(|s| s.gbps).collect());
        let ratio = gbps(Impl::Ours) / gbps(Impl::Smoltcp);
        for imp in imps {
            let m = |f: fn(&Sample) -> f64| median(of(imp).map(|s| f(&s)).collect());
            let ratio = if imp == Impl::Ours { format!("{ratio:.2}") } else { "1.00".into() };
            println!(
                "| {} | {} | {:.2} | {ratio} | {:.2} ({:.2} + {:.2}) | {:.2} ({:.2} + {:.2}) | {:.2} ({:.2}) |",
                dir.name(),
                imp.name(),
                gbps(imp),
                m(|s| s.stack.total()),
                m(|s| s.stack.user),
                m(|s| s.stack.sys),
                m(|s| s.kernel.total()),
                m(|s| s.kernel.user),
                m(|s| s.kernel.sys),
                m(|s| s.machine_busy),
                m(|s| s.machine_softirq),
            );
        }
    }
    println!("(medians over {runs} run(s); each column's median taken separately)");
    if failed {
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn args() {
        let v = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(parse_args(&[]).unwrap(), Args { bytes: 1 << 30, runs: 3, txqueuelen: 2000 });
        assert_eq!(
            parse_args(&v("--bytes 256M --runs 5 --txqueuelen 500")).unwrap(),
            Args { bytes: 256 << 20, runs: 5, txqueuelen: 500 }
        );
        assert!(parse_args(&v("--runs 0")).is_err());
        assert!(parse_args(&v("--bytes")).is_err());
        assert!(parse_args(&v("--frob")).is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
        assert_eq!(median(vec![f64::NAN, 1.0]), 1.0);
    }

    #[test]
    fn proc_files() {
        let stat = "cpu  100 5 50 1000 7 3 20 2 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        let m = parse_proc_stat(stat, 100.0);
        assert!((m.busy - 1.8).abs() < 1e-9, "{m:?}");
        assert!((m.softirq - 0.2).abs() < 1e-9, "{m:?}");
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n mtun0: 10 2 0 1 0 0 0 0 2000 30 0 7 0 0 0 0\n";
        assert_eq!(tx_dropped(dev, "mtun0"), Some(7));
        assert_eq!(tx_dropped(dev, "eth0"), None);
    }

    #[test]
    fn thread_cpu_grows() {
        let a = thread_cpu();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let b = thread_cpu();
        assert!(b.total() >= a.total());
    }

    #[test]
    fn kernel_stream_hash_is_the_pattern() {
        let mut src = PatternSource::new(7);
        let mut all = vec![0u8; KERNEL_CHUNK + 100];
        src.fill(&mut all[..KERNEL_CHUNK]);
        src.fill(&mut all[KERNEL_CHUNK..]);
        assert_eq!(kernel_stream_hash(7, all.len() as u64), hex(&Sha256::digest(&all)));
    }
}
