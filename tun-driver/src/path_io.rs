//! The devices of a stack's paths, read and written for one [`Endpoint`]: every packet read
//! from any device goes to the endpoint, and each packet the endpoint sends goes out of the
//! device of the path whose address is its source address. [`PathIo`] holds no endpoint and no
//! application, so that both the single-threaded [`crate::event_loop`] and a socket layer that
//! shares its endpoint between threads drive the same code.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use mptcp_stack::connection::path_manager::LocalAddress;
use mptcp_stack::endpoint::{ConnectError, Endpoint, EndpointConfig};
use mptcp_stack::time::Instant;
use rand::SeedableRng;
use rand::rngs::{StdRng, SysRng};

use crate::device::{DeviceError, TunDevice};
use crate::emulator::{Dir, Emulator, Release};
use crate::pcap::{self, Capture};
pub use crate::sys::{PollFd, poll};
use crate::trace;

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

/// Counters of the device I/O.
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

/// A monotonic clock read as the stack's [`Instant`]: microseconds since it was made.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: std::time::Instant,
}

impl Clock {
    /// A clock starting at zero now.
    pub fn new() -> Clock {
        Clock { start: std::time::Instant::now() }
    }

    /// Microseconds since the clock was made.
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
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

/// The devices of the paths and the buffers to move packets between them and an endpoint.
#[derive(Debug)]
pub struct PathIo {
    paths: Vec<PathDevice>,
    by_addr: HashMap<IpAddr, usize>,
    /// A packet the device of path `.0` could not take yet.
    pending: Option<(usize, Vec<u8>)>,
    rx_buf: Vec<u8>,
    tx_buf: Vec<u8>,
    batch: usize,
    trace: Option<Clock>,
    stats: LoopStats,
    /// The link emulator between the endpoint and the devices, and the direction of what the
    /// endpoint sends.
    emulator: Option<(Emulator, Dir)>,
    /// A pcap file per path: every packet read from or written to its device.
    capture: Option<Capture>,
}

impl PathIo {
    /// I/O over `paths` (at least one, distinct addresses that can be ours), reading at most
    /// `batch` packets from one device before moving on; with `trace`, one line per packet on
    /// stderr, timed by that clock.
    pub fn new(paths: Vec<PathDevice>, batch: usize, trace: Option<Clock>) -> Result<PathIo, LoopError> {
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
        let rx_len = paths.iter().map(|p| p.device.mtu()).max().unwrap_or(1500).max(TX_BUF);
        Ok(PathIo {
            paths,
            by_addr,
            pending: None,
            rx_buf: vec![0; rx_len],
            tx_buf: vec![0; TX_BUF],
            batch: batch.max(1),
            trace,
            stats: LoopStats::default(),
            emulator: None,
            capture: None,
        })
    }

    /// The paths.
    pub fn paths(&self) -> &[PathDevice] {
        &self.paths
    }

    /// Is `ip` the address of one of the paths?
    pub fn is_local(&self, ip: IpAddr) -> bool {
        self.by_addr.contains_key(&ip)
    }

    /// The counters.
    pub fn stats(&self) -> LoopStats {
        self.stats
    }

    /// Puts `emulator` (its instants on the caller's clock, its paths indexed like the devices)
    /// between the endpoint and the devices: what the endpoint sends travels in direction
    /// `outbound`, what the devices deliver in the other. The caller's wait must end by
    /// [`next_wake`](Self::next_wake).
    pub fn set_emulator(&mut self, emulator: Emulator, outbound: Dir) {
        self.emulator = Some((emulator, outbound));
    }

    /// The emulator, if one is set.
    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref().map(|(e, _)| e)
    }

    /// When the emulator next releases a packet or changes a link (the latest the caller may
    /// sleep until); `None` without an emulator, or while a device must first become writable
    /// (the releases wait behind the packet it could not take).
    pub fn next_wake(&self) -> Option<Instant> {
        self.emulator().filter(|_| self.pending.is_none()).and_then(Emulator::next_wake)
    }

    /// Records every packet read from or written to path `i`'s device in the capture's file `i`,
    /// with the time of day, from now on.
    pub fn set_capture(&mut self, capture: Capture) {
        self.capture = Some(capture);
    }

    /// Stops capturing; the capture, to [`finish`](Capture::finish).
    pub fn take_capture(&mut self) -> Option<Capture> {
        self.capture.take()
    }

    /// Counts one wait for readiness (the caller's `ppoll`).
    pub fn count_poll(&mut self) {
        self.stats.polls += 1;
    }

    /// Reads every device (up to a batch each) into `endpoint`, calling `after_batch` after
    /// each device that had packets; returns whether any packet came.
    pub fn receive(
        &mut self,
        now: Instant,
        endpoint: &mut Endpoint,
        mut after_batch: impl FnMut(&mut Endpoint),
    ) -> Result<bool, LoopError> {
        let mut any = false;
        let PathIo { paths, rx_buf, stats, batch, trace, emulator, capture, .. } = self;
        for (i, p) in paths.iter().enumerate() {
            let name = p.device.name();
            let n = p
                .device
                .recv_batch(rx_buf, *batch, |packet| {
                    stats.packets_in += 1;
                    stats.bytes_in += packet.len() as u64;
                    if let Some(clock) = trace {
                        eprintln!("[{:>12.6}] rx {name} {}", secs(clock.now()), trace::describe(packet));
                    }
                    if let Some(c) = capture {
                        c.record(i, pcap::wall_clock(), packet);
                    }
                    match emulator.as_mut().filter(|(e, out)| e.emulates(i, out.reversed())) {
                        Some((e, out)) => _ = e.offer(now, i, out.reversed(), packet.to_vec()),
                        None => endpoint.handle(now, packet),
                    }
                })
                .map_err(|source| LoopError::Io { device: name.to_owned(), op: "reading", source })?;
            if n > 0 {
                any = true;
                after_batch(endpoint);
            }
        }
        if self.release_due(now, endpoint)? {
            any = true;
            after_batch(endpoint);
        }
        Ok(any)
    }

    /// Hands the emulator's due packets on: inbound ones to `endpoint`, outbound ones to their
    /// devices (stopping at one a device cannot take). Returns whether any moved.
    fn release_due(&mut self, now: Instant, endpoint: &mut Endpoint) -> Result<bool, LoopError> {
        let mut any = false;
        while self.pending.is_none() {
            let Some((Release { path, dir, packet }, outbound)) =
                self.emulator.as_mut().and_then(|(e, out)| Some((e.pop_due(now)?, *out)))
            else {
                break;
            };
            any = true;
            if dir != outbound {
                endpoint.handle(now, &packet);
            } else if !self.write(path, &packet)? {
                self.stats.write_blocked += 1;
                self.pending = Some((path, packet));
            }
        }
        Ok(any)
    }

    /// Writes what `endpoint` has to send, calling `after_packet` after each packet (so that an
    /// application refills the send buffer as it drains); returns whether any packet went out.
    /// A packet a device cannot take waits; [`PathIo::poll_fds`] then asks for its POLLOUT.
    pub fn transmit(
        &mut self,
        now: Instant,
        endpoint: &mut Endpoint,
        mut after_packet: impl FnMut(&mut Endpoint),
    ) -> Result<bool, LoopError> {
        let mut any = false;
        if let Some((i, packet)) = self.pending.take() {
            if !self.write(i, &packet)? {
                self.pending = Some((i, packet));
                return Ok(false);
            }
            any = true;
        }
        while let Some(n) = endpoint.poll_transmit(now, &mut self.tx_buf) {
            let n = n.min(self.tx_buf.len());
            let Some(&i) = source_address(&self.tx_buf[..n]).and_then(|a| self.by_addr.get(&a)) else {
                self.stats.unroutable += 1;
                if let Some(clock) = self.trace {
                    eprintln!("[{:>12.6}] unroutable {}", secs(clock.now()), trace::describe(&self.tx_buf[..n]));
                }
                continue;
            };
            if let Some((e, out)) = self.emulator.as_mut().filter(|(e, out)| e.emulates(i, *out)) {
                e.offer(now, i, *out, self.tx_buf[..n].to_vec());
                any = true;
                after_packet(endpoint);
                continue;
            }
            let packet = std::mem::take(&mut self.tx_buf);
            let sent = self.write(i, &packet[..n]);
            self.tx_buf = packet;
            if !sent? {
                self.stats.write_blocked += 1;
                self.pending = Some((i, self.tx_buf[..n].to_vec()));
                break;
            }
            any = true;
            after_packet(endpoint);
        }
        Ok(self.release_due(now, endpoint)? || any)
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
            if let Some(c) = &mut self.capture {
                c.record(path, pcap::wall_clock(), packet);
            }
            if let Some(clock) = self.trace {
                eprintln!("[{:>12.6}] tx {} {}", secs(clock.now()), dev.name(), trace::describe(packet));
            }
        }
        Ok(sent)
    }

    /// What to wait for: every device readable, and the blocked one writable.
    pub fn poll_fds(&self, fds: &mut Vec<PollFd>) {
        fds.extend(self.paths.iter().map(|p| PollFd::new(p.device.as_raw_fd(), false)));
        if let Some((i, _)) = &self.pending {
            fds.push(PollFd::new(self.paths[*i].device.as_raw_fd(), true));
        }
    }
}

/// Seconds on a clock, for trace lines.
pub(crate) fn secs(t: Instant) -> f64 {
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
