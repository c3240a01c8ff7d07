//! The event loop over TUN devices: one [`Endpoint`] running one [`Transfer`], one device per
//! path. Packets read from any device go to the endpoint; each packet the endpoint sends goes
//! out of the device of the path whose address is its source address. Time is a monotonic
//! clock (`std::time::Instant`) read as microseconds since the loop was made; the endpoint's
//! timer bounds each wait in `ppoll(2)` on the devices.
//!
//! One iteration: read every device until it has nothing (at most [`LoopConfig::batch`]
//! packets each) handing each packet to the endpoint, fire due timers, let the application
//! move data, then write everything the endpoint has to send. The loop only sleeps when an
//! iteration moved no packet.
//!
//! The loop stops when the caller's condition holds, at a deadline, on SIGINT or SIGTERM (when
//! [`LoopConfig::handle_signals`] is on: the signal writes a byte to a self-pipe the loop
//! polls, so a signal never interrupts anything half-done), or when a [`StopHandle`] is used
//! from another thread. Errors are a [`LoopError`], one line each; nothing panics.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mptcp_stack::connection::path_manager::LocalAddress;
use mptcp_stack::endpoint::{ConnectError, Endpoint, EndpointConfig};
use mptcp_stack::time::Instant;
use rand::SeedableRng;
use rand::rngs::{StdRng, SysRng};

use crate::device::{DeviceError, TunDevice};
use crate::sys::{self, PollFd};
use crate::trace;
use crate::transfer::Transfer;

/// IPv4 header (20) + TCP header (20).
const V4_HEADERS: usize = 40;
/// IPv6 header (40) + TCP header (20).
const V6_HEADERS: usize = 60;
/// Largest packet the endpoint may emit into the buffer (it emits at most one MSS of payload).
const TX_BUF: usize = 65536;

/// Why the loop could not run. Each renders as one line.
#[derive(Debug)]
pub enum LoopError {
    /// Opening a device failed.
    Device(DeviceError),
    /// No path was given.
    NoPaths,
    /// Two paths have the same local address.
    DuplicateAddress(IpAddr),
    /// An address that cannot be ours (unspecified, multicast, broadcast).
    BadAddress(IpAddr),
    /// The listening or connecting address is not one of the paths' addresses.
    NotLocal(IpAddr),
    /// The connection could not be opened.
    Connect(ConnectError),
    /// The OS random generator failed.
    Random(String),
    /// SIGINT/SIGTERM handlers could not be installed.
    Signals(io::Error),
    /// Reading or writing a device failed.
    Io {
        /// The device.
        device: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// Waiting for the devices failed.
    Poll(io::Error),
}

impl fmt::Display for LoopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoopError::Device(e) => e.fmt(f),
            LoopError::NoPaths => f.write_str("no path: give at least one --path DEV=IP"),
            LoopError::DuplicateAddress(a) => write!(f, "address {a} is given for two paths"),
            LoopError::BadAddress(a) => {
                write!(f, "{a} cannot be a local address (unspecified, multicast or broadcast)")
            }
            LoopError::NotLocal(a) => write!(f, "address {a} is not the address of any --path"),
            LoopError::Connect(e) => write!(f, "cannot open the connection: {e}"),
            LoopError::Random(e) => write!(f, "the OS random generator failed: {e}"),
            LoopError::Signals(e) => write!(f, "cannot install SIGINT/SIGTERM handlers: {e}"),
            LoopError::Io { device, op, source } => write!(f, "TUN device {device}: {op}: {source}"),
            LoopError::Poll(e) => write!(f, "waiting for the TUN devices failed: {e}"),
        }
    }
}

impl std::error::Error for LoopError {}

impl From<DeviceError> for LoopError {
    fn from(e: DeviceError) -> LoopError {
        LoopError::Device(e)
    }
}

/// One path: our address on it and the device that carries it.
#[derive(Debug)]
pub struct PathDevice {
    /// This stack's address on the path (the source address of what it sends there).
    pub local: IpAddr,
    /// The device.
    pub device: TunDevice,
}

impl PathDevice {
    /// Opens (or creates) device `name` for address `local`.
    pub fn open(name: &str, local: IpAddr) -> Result<PathDevice, LoopError> {
        Ok(PathDevice { local, device: TunDevice::open(name)? })
    }

    /// The MSS that fits this path's MTU: MTU less the IP and TCP headers.
    pub fn mss(&self) -> u16 {
        let headers = if self.local.is_ipv4() { V4_HEADERS } else { V6_HEADERS };
        self.device.mtu().saturating_sub(headers).clamp(536, usize::from(u16::MAX)) as u16
    }
}

/// An endpoint configuration for `paths`: `base` with the MSS of the smallest path MTU (the
/// stack has one MSS setting per endpoint) and, unless `base` names its addresses, every
/// path's address as one of ours, so that the path manager opens subflows from them and
/// announces them.
pub fn endpoint_config(base: EndpointConfig, paths: &[PathDevice]) -> EndpointConfig {
    let mut config = base;
    if let Some(mss) = paths.iter().map(PathDevice::mss).min() {
        config.connection.tcp.mss = mss;
    }
    if config.connection.addresses.is_empty() {
        config.connection.addresses = paths.iter().map(|p| LocalAddress::new(p.local)).collect();
    }
    config
}

/// An endpoint whose keys and sequence numbers come from the OS CSPRNG (a ChaCha generator
/// seeded once from it).
pub fn os_endpoint(config: EndpointConfig) -> Result<Endpoint, LoopError> {
    let rng = StdRng::try_from_rng(&mut SysRng).map_err(|e| LoopError::Random(e.to_string()))?;
    Ok(Endpoint::new(config, Box::new(rng)))
}

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// Stop cleanly on SIGINT and SIGTERM (the command line turns this on; tests leave it off
    /// and use a [`StopHandle`]). The handlers stay installed until the loop is dropped.
    pub handle_signals: bool,
    /// How often the progress callback runs.
    pub progress_interval: Duration,
    /// Packets read from one device before the loop moves on (then writes, then reads again).
    pub batch: usize,
    /// Print each packet on stderr (see [`trace`]); defaults to `MPTCP_TUN_TRACE`.
    pub trace: bool,
}

impl Default for LoopConfig {
    fn default() -> LoopConfig {
        LoopConfig {
            handle_signals: false,
            progress_interval: Duration::from_millis(250),
            batch: 64,
            trace: trace::enabled_by_env(),
        }
    }
}

/// Why [`EventLoop::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The caller's condition holds.
    Done,
    /// The deadline passed first.
    Deadline,
    /// SIGINT or SIGTERM (the signal number).
    Signal(i32),
    /// A [`StopHandle`] asked.
    Stopped,
}

/// Counters of the loop itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Packets read from the devices.
    pub packets_in: u64,
    /// Packets written to the devices.
    pub packets_out: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Packets the endpoint sent from an address no path has (dropped).
    pub unroutable: u64,
    /// Times a device could not take a packet at once (the packet waited for POLLOUT).
    pub write_blocked: u64,
    /// Packets dropped because their device was down (`ip link set DEV down`): the path is
    /// dead, like a cut link, and the stack carries on over the others.
    pub dropped_device_down: u64,
    /// Waits in ppoll.
    pub polls: u64,
}

/// What the progress callback sees.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Time since the loop was made.
    pub elapsed: Duration,
    /// Bytes the application wrote into the connection so far.
    pub bytes_sent: u64,
    /// Bytes it read so far.
    pub bytes_received: u64,
    /// The connection is established (and whether it speaks MPTCP).
    pub mptcp: Option<bool>,
}

/// Asks a running loop to stop, from any thread.
#[derive(Debug, Clone)]
pub struct StopHandle {
    tx: Arc<UnixStream>,
}

impl StopHandle {
    /// Makes [`EventLoop::run`] return [`StopReason::Stopped`] soon.
    pub fn stop(&self) {
        // A full pipe already holds a wake-up; nothing else can fail in a way that matters.
        let _ = (&*self.tx).write(&[0]);
    }
}

/// The loop's own clock: microseconds since it was made.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: std::time::Instant,
}

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

/// The source address of an IP packet.
fn source_address(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => <[u8; 4]>::try_from(packet.get(12..16)?).ok().map(IpAddr::from),
        6 => <[u8; 16]>::try_from(packet.get(8..24)?).ok().map(IpAddr::from),
        _ => None,
    }
}

/// The event loop: an endpoint, its application and the devices of its paths.
pub struct EventLoop {
    endpoint: Endpoint,
    transfer: Transfer,
    paths: Vec<PathDevice>,
    by_addr: HashMap<IpAddr, usize>,
    clock: Clock,
    config: LoopConfig,
    stop_rx: UnixStream,
    stop_tx: Arc<UnixStream>,
    signal: Arc<AtomicUsize>,
    sig_ids: Vec<signal_hook::SigId>,
    /// A packet the device of path `.0` could not take yet.
    pending: Option<(usize, Vec<u8>)>,
    rx_buf: Vec<u8>,
    tx_buf: Vec<u8>,
    stats: LoopStats,
    last_progress: Option<Instant>,
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("endpoint", &self.endpoint)
            .field("paths", &self.paths)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        for id in self.sig_ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

impl EventLoop {
    /// A loop over `paths` (at least one, distinct addresses). Nothing runs until
    /// [`start`](Self::start) and [`run`](Self::run).
    pub fn new(
        endpoint: Endpoint,
        transfer: Transfer,
        paths: Vec<PathDevice>,
        config: LoopConfig,
    ) -> Result<EventLoop, LoopError> {
        if paths.is_empty() {
            return Err(LoopError::NoPaths);
        }
        let mut by_addr = HashMap::new();
        for (i, p) in paths.iter().enumerate() {
            let a = p.local;
            let bad = a.is_unspecified() || a.is_multicast() || matches!(a, IpAddr::V4(v4) if v4.is_broadcast());
            if bad {
                return Err(LoopError::BadAddress(a));
            }
            if by_addr.insert(a, i).is_some() {
                return Err(LoopError::DuplicateAddress(a));
            }
        }
        let (rx, tx) = UnixStream::pair().map_err(LoopError::Signals)?;
        rx.set_nonblocking(true).map_err(LoopError::Signals)?;
        tx.set_nonblocking(true).map_err(LoopError::Signals)?;
        let rx_len = paths.iter().map(|p| p.device.mtu()).max().unwrap_or(1500).max(TX_BUF);
        let mut lp = EventLoop {
            endpoint,
            transfer,
            paths,
            by_addr,
            clock: Clock { start: std::time::Instant::now() },
            config,
            stop_rx: rx,
            stop_tx: Arc::new(tx),
            signal: Arc::new(AtomicUsize::new(0)),
            sig_ids: Vec::new(),
            pending: None,
            rx_buf: vec![0; rx_len],
            tx_buf: vec![0; TX_BUF],
            stats: LoopStats::default(),
            last_progress: None,
        };
        if lp.config.handle_signals {
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                let flag = signal_hook::flag::register_usize(sig, Arc::clone(&lp.signal), sig as usize)
                    .map_err(LoopError::Signals)?;
                lp.sig_ids.push(flag);
                let wake = lp.stop_tx.try_clone().map_err(LoopError::Signals)?;
                lp.sig_ids.push(signal_hook::low_level::pipe::register(sig, wake).map_err(LoopError::Signals)?);
            }
        }
        Ok(lp)
    }

    /// Starts the application: the client connects (from an address that must be a path's),
    /// the server listens (on a path's address, or on any).
    pub fn start(&mut self) -> Result<(), LoopError> {
        if let Some(local) = self.transfer.local_address()
            && !local.is_unspecified()
            && !self.by_addr.contains_key(&local)
        {
            return Err(LoopError::NotLocal(local));
        }
        self.transfer.start(&mut self.endpoint).map_err(LoopError::Connect)
    }

    /// A handle that stops [`run`](Self::run) from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle { tx: Arc::clone(&self.stop_tx) }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint, mutably.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// The application.
    pub fn transfer(&self) -> &Transfer {
        &self.transfer
    }

    /// Replaces the application (a server serving its next connection); returns the old one.
    pub fn replace_transfer(&mut self, transfer: Transfer) -> Transfer {
        std::mem::replace(&mut self.transfer, transfer)
    }

    /// The paths.
    pub fn paths(&self) -> &[PathDevice] {
        &self.paths
    }

    /// The loop's counters.
    pub fn stats(&self) -> LoopStats {
        self.stats
    }

    /// The loop's clock now (microseconds since the loop was made).
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Runs until `done` holds for the application, `limit` passes (from now), a signal or a
    /// stop handle stops it, or an error. `progress` runs every
    /// [`LoopConfig::progress_interval`].
    pub fn run(
        &mut self,
        mut done: impl FnMut(&Transfer) -> bool,
        limit: Option<Duration>,
        mut progress: impl FnMut(&Progress),
    ) -> Result<StopReason, LoopError> {
        let deadline = limit.map(|l| self.clock.now() + l);
        loop {
            if let Some(reason) = self.stop_requested() {
                return Ok(reason);
            }
            let now = self.clock.now();
            let mut moved = self.receive(now)?;
            if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                self.endpoint.handle_timeout(now);
            }
            self.transfer.step(now, &mut self.endpoint);
            moved |= self.transmit(now)?;
            if done(&self.transfer) {
                return Ok(StopReason::Done);
            }
            if deadline.is_some_and(|d| now >= d) {
                return Ok(StopReason::Deadline);
            }
            if self.last_progress.is_none_or(|t| now.saturating_duration_since(t) >= self.config.progress_interval) {
                self.last_progress = Some(now);
                progress(&self.progress(now));
            }
            if !moved {
                self.wait(now, deadline)?;
            }
        }
    }

    fn progress(&self, now: Instant) -> Progress {
        let r = self.transfer.report();
        Progress {
            elapsed: Duration::from_micros(now.as_micros()),
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            mptcp: r.mptcp,
        }
    }

    fn stop_requested(&mut self) -> Option<StopReason> {
        let mut buf = [0u8; 16];
        let mut woken = false;
        while let Ok(n) = (&self.stop_rx).read(&mut buf) {
            if n == 0 {
                break;
            }
            woken = true;
        }
        match self.signal.swap(0, Ordering::SeqCst) {
            0 if woken => Some(StopReason::Stopped),
            0 => None,
            sig => Some(StopReason::Signal(sig as i32)),
        }
    }

    /// Reads every device (up to a batch each); returns whether any packet came.
    fn receive(&mut self, now: Instant) -> Result<bool, LoopError> {
        let mut any = false;
        let EventLoop { paths, endpoint, transfer, rx_buf, stats, config, clock, .. } = self;
        for p in paths.iter() {
            let name = p.device.name();
            let n = p
                .device
                .recv_batch(rx_buf, config.batch, |packet| {
                    stats.packets_in += 1;
                    stats.bytes_in += packet.len() as u64;
                    if config.trace {
                        eprintln!("[{:>12.6}] rx {name} {}", secs(clock.now()), trace::describe(packet));
                    }
                    endpoint.handle(now, packet);
                })
                .map_err(|source| LoopError::Io { device: name.to_owned(), op: "reading", source })?;
            if n > 0 {
                any = true;
                transfer.step(now, endpoint);
            }
        }
        Ok(any)
    }

    /// Writes what the endpoint has to send; returns whether any packet went out.
    fn transmit(&mut self, now: Instant) -> Result<bool, LoopError> {
        let mut any = false;
        if let Some((i, packet)) = self.pending.take() {
            if !self.write(i, &packet)? {
                self.pending = Some((i, packet));
                return Ok(false);
            }
            any = true;
        }
        while let Some(n) = self.endpoint.poll_transmit(now, &mut self.tx_buf) {
            let n = n.min(self.tx_buf.len());
            let Some(&i) = source_address(&self.tx_buf[..n]).and_then(|a| self.by_addr.get(&a)) else {
                self.stats.unroutable += 1;
                if self.config.trace {
                    eprintln!("[{:>12.6}] unroutable {}", secs(now), trace::describe(&self.tx_buf[..n]));
                }
                continue;
            };
            let packet = std::mem::take(&mut self.tx_buf);
            let sent = self.write(i, &packet[..n]);
            self.tx_buf = packet;
            if !sent? {
                self.stats.write_blocked += 1;
                self.pending = Some((i, self.tx_buf[..n].to_vec()));
                break;
            }
            any = true;
            // Let the application refill the send buffer as it drains.
            self.transfer.step(now, &mut self.endpoint);
        }
        Ok(any)
    }

    fn write(&mut self, path: usize, packet: &[u8]) -> Result<bool, LoopError> {
        let dev = &self.paths[path].device;
        let sent = match dev.send(packet) {
            // A TUN device that is down refuses writes with EIO: the packet is lost as on a cut
            // link, and the subflows of the other paths carry on.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                self.stats.dropped_device_down += 1;
                return Ok(true);
            }
            r => r.map_err(|source| LoopError::Io { device: dev.name().to_owned(), op: "writing", source })?,
        };
        if sent {
            self.stats.packets_out += 1;
            self.stats.bytes_out += packet.len() as u64;
            if self.config.trace {
                eprintln!("[{:>12.6}] tx {} {}", secs(self.clock.now()), dev.name(), trace::describe(packet));
            }
        }
        Ok(sent)
    }

    /// Sleeps until a device is readable (or the blocked one writable), the endpoint's timer,
    /// the next progress report, the deadline, or a stop request.
    fn wait(&mut self, now: Instant, deadline: Option<Instant>) -> Result<(), LoopError> {
        let progress_at = self.last_progress.map(|t| t + self.config.progress_interval);
        let wake = [self.endpoint.poll_timeout(), progress_at, deadline].into_iter().flatten().min();
        let timeout = wake.map(|t| t.saturating_duration_since(now));
        let mut fds: Vec<PollFd> =
            self.paths.iter().map(|p| PollFd { fd: p.device.as_raw_fd(), write: false, ready: false }).collect();
        if let Some((i, _)) = &self.pending {
            fds.push(PollFd { fd: self.paths[*i].device.as_raw_fd(), write: true, ready: false });
        }
        fds.push(PollFd { fd: self.stop_rx.as_raw_fd(), write: false, ready: false });
        self.stats.polls += 1;
        sys::poll(&mut fds, timeout).map_err(LoopError::Poll)?;
        Ok(())
    }
}

fn secs(t: Instant) -> f64 {
    t.as_micros() as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[12..16].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(source_address(&v4), Some("10.0.0.2".parse().unwrap()));
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[8..24].copy_from_slice(&"fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
        assert_eq!(source_address(&v6), Some("fd00::2".parse().unwrap()));
        assert_eq!(source_address(&[0x45, 0, 0]), None);
        assert_eq!(source_address(&[]), None);
        assert_eq!(source_address(&[0x10; 40]), None);
    }

    #[test]
    fn errors_are_one_line() {
        let errors = [
            LoopError::NoPaths,
            LoopError::NotLocal("10.0.0.1".parse().unwrap()),
            LoopError::Device(DeviceError::NoTunDevice),
            LoopError::Device(DeviceError::Busy("mtun0".into())),
            LoopError::Device(DeviceError::PermissionDenied("mtun0".into())),
        ];
        for e in errors {
            let s = e.to_string();
            assert!(!s.contains('\n') && !s.is_empty(), "{s}");
        }
    }
}
