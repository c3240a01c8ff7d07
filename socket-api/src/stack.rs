//! Configuring and starting a stack: [`StackBuilder`] and [`Stack`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mptcp_tun_driver::emulator::{Dir, Emulator, Schedule};
use mptcp_tun_driver::event_loop::LoopConfig;
use mptcp_tun_driver::link::LinkConfig;
use mptcp_tun_driver::path_io::{Clock, PathDevice, PathIo, endpoint_config, os_endpoint};
use mptcp_tun_driver::stack::cc::Algorithm;
use mptcp_tun_driver::stack::connection::path_manager::{LocalAddress, PathManagerKind};
use mptcp_tun_driver::stack::endpoint::EndpointConfig;
use mptcp_tun_driver::stack::scheduler::SchedulerKind;

use crate::error::{connect_error, loop_error};
use crate::listener::MptcpListener;
use crate::runtime::Runtime;
use crate::stream::MptcpStream;

/// How long [`Stack::connect`] waits for the handshake by default (the SYN retries take about
/// two minutes before the stack itself gives up).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(130);

/// One path: a TUN device and this stack's address on it.
#[derive(Debug, Clone)]
struct PathSpec {
    device: String,
    addr: IpAddr,
    backup: bool,
}

/// Configures a [`Stack`]: its paths, path manager, scheduler, congestion control and buffers.
///
/// ```no_run
/// use mptcp_socket::Stack;
/// let stack = Stack::builder()
///     .path("mtun0", "10.0.0.2".parse()?)
///     .path("mtun1", "10.0.1.2".parse()?)
///     .build()?;
/// let mut stream = stack.connect("10.1.0.1:5201".parse()?)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StackBuilder {
    paths: Vec<PathSpec>,
    config: EndpointConfig,
    trace: bool,
    emulation: Option<Emulation>,
}

/// The userspace link emulator in the stack's own driver (`docs/emulator.md`).
#[derive(Debug, Clone)]
struct Emulation {
    links: Vec<[Option<LinkConfig>; 2]>,
    schedule: Schedule,
    seed: u64,
}

impl StackBuilder {
    /// Adds a path: TUN device `device` (attached if it exists, created otherwise, in the
    /// calling thread's network namespace) with `addr` as this stack's address on it.
    pub fn path(mut self, device: &str, addr: IpAddr) -> StackBuilder {
        self.paths.push(PathSpec { device: device.to_owned(), addr, backup: false });
        self
    }

    /// Adds a backup path: its subflows carry data only when no regular one can (RFC 8684
    /// §3.3.8).
    pub fn backup_path(mut self, device: &str, addr: IpAddr) -> StackBuilder {
        self.paths.push(PathSpec { device: device.to_owned(), addr, backup: true });
        self
    }

    /// Which subflows connections open and which addresses they announce (`Manual` leaves
    /// both to the application).
    pub fn path_manager(mut self, kind: PathManagerKind) -> StackBuilder {
        self.config.connection.path_manager = kind;
        self
    }

    /// Which subflow carries the next segment.
    pub fn scheduler(mut self, kind: SchedulerKind) -> StackBuilder {
        self.config.connection.scheduler = kind;
        self
    }

    /// The congestion control of every subflow.
    pub fn congestion_control(mut self, algorithm: Algorithm) -> StackBuilder {
        self.config.connection.tcp.congestion_control = algorithm;
        self
    }

    /// Connection-level send buffer, in bytes.
    pub fn send_buffer(mut self, bytes: usize) -> StackBuilder {
        self.config.connection.send_buffer = bytes;
        self
    }

    /// Connection-level receive buffer (the receive window), in bytes.
    pub fn recv_buffer(mut self, bytes: usize) -> StackBuilder {
        self.config.connection.recv_buffer = bytes;
        self
    }

    /// Asks for DSS checksums (RFC 8684 §3.3.1).
    pub fn checksum(mut self, on: bool) -> StackBuilder {
        self.config.connection.checksum = on;
        self
    }

    /// Most subflows per connection, the initial one included.
    pub fn max_subflows(mut self, n: usize) -> StackBuilder {
        self.config.connection.max_subflows = n;
        self
    }

    /// Every endpoint setting at once (the other methods change parts of it).
    pub fn endpoint_config(mut self, config: EndpointConfig) -> StackBuilder {
        self.config = config;
        self
    }

    /// Prints each packet on stderr (also on with `MPTCP_TUN_TRACE=1`).
    pub fn trace(mut self, on: bool) -> StackBuilder {
        self.trace = on;
        self
    }

    /// Emulates the paths in the stack's own driver (the kernel has no netem): per path, in the
    /// order of [`path`](Self::path), the link of what the stack sends and of what it receives
    /// (`None`: that direction passes through), changed during the run by `schedule` (counted
    /// from `build`); `seed` drives losses and jitter.
    pub fn emulate(mut self, links: Vec<[Option<LinkConfig>; 2]>, schedule: Schedule, seed: u64) -> StackBuilder {
        self.emulation = Some(Emulation { links, schedule, seed });
        self
    }

    /// Opens the devices and starts the I/O thread. Errors: no `/dev/net/tun`, no
    /// CAP_NET_ADMIN, a busy device, no path, two paths with one address.
    pub fn build(self) -> io::Result<Stack> {
        let mut devices = Vec::with_capacity(self.paths.len());
        for p in &self.paths {
            devices.push(PathDevice::open(&p.device, p.addr).map_err(loop_error)?);
        }
        let mut base = self.config;
        if base.connection.addresses.is_empty() {
            base.connection.addresses =
                self.paths.iter().map(|p| LocalAddress { ip: p.addr, backup: p.backup }).collect();
        }
        let config = endpoint_config(base, &devices);
        let endpoint = os_endpoint(config).map_err(loop_error)?;
        let clock = Clock::new();
        let trace = self.trace || LoopConfig::default().trace;
        let mut io = PathIo::new(devices, LoopConfig::default().batch, trace.then_some(clock)).map_err(loop_error)?;
        if let Some(e) = self.emulation {
            io.set_emulator(Emulator::new(e.links, e.schedule, e.seed, clock.now()), Dir::Forward);
        }
        Ok(Stack { runtime: Runtime::start(endpoint, io, clock)? })
    }
}

/// A running userspace MPTCP stack over TUN devices. Cheap to clone; the I/O thread stops
/// when the last clone, stream and listener are gone (or at [`Stack::shutdown`]).
#[derive(Debug, Clone)]
pub struct Stack {
    pub(crate) runtime: Arc<Runtime>,
}

impl Stack {
    /// A builder.
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    /// Opens a connection to `remote` from the first path of its address family and waits
    /// for the handshake (about two minutes at most).
    pub fn connect(&self, remote: SocketAddr) -> io::Result<MptcpStream> {
        self.connect_timeout(None, remote, CONNECT_TIMEOUT)
    }

    /// Opens a connection from `local` (our address of a path; `None`: the first path of the
    /// remote's family) to `remote`, waiting at most `timeout` for the handshake.
    pub fn connect_timeout(
        &self,
        local: Option<IpAddr>,
        remote: SocketAddr,
        timeout: Duration,
    ) -> io::Result<MptcpStream> {
        let stream = self.connect_nonblocking(local, remote)?;
        stream.wait_established(Some(std::time::Instant::now() + timeout))?;
        Ok(stream)
    }

    /// Starts a connection and returns at once; reads and writes wait for the handshake (or
    /// fail with `WouldBlock` in non-blocking mode), and an `Established` event tells.
    pub fn connect_nonblocking(&self, local: Option<IpAddr>, remote: SocketAddr) -> io::Result<MptcpStream> {
        let shared = &self.runtime.shared;
        let mut core = shared.lock();
        let local = match local {
            Some(ip) if core.locals.contains(&ip) => ip,
            Some(ip) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!("{ip} is not the address of any path of this stack"),
                ));
            }
            None => core.locals.iter().copied().find(|a| a.is_ipv4() == remote.is_ipv4()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::AddrNotAvailable, format!("no path of this stack can reach {remote}"))
            })?,
        };
        let h = core.endpoint.connect(local, remote).map_err(connect_error)?;
        core.track(h);
        drop(core);
        shared.wake();
        Ok(MptcpStream::new(Arc::clone(&self.runtime), h))
    }

    /// Listens on `addr` (an unspecified IP: every path's address) with a backlog of 128.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<MptcpListener> {
        MptcpListener::bind(Arc::clone(&self.runtime), addr, 128)
    }

    /// This stack's addresses, one per path.
    pub fn local_addresses(&self) -> Vec<IpAddr> {
        self.runtime.shared.lock().locals.clone()
    }

    /// Stops the I/O thread now: open connections stop moving (nothing is sent to their peers).
    pub fn shutdown(&self) {
        self.runtime.stop();
    }
}
