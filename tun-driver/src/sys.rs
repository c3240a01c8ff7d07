//! The few Linux system calls the driver needs that `std` does not wrap: the TUN and interface
//! ioctls, `ppoll` and `setns`. This is the only module of the crate with `unsafe` code; each
//! block says why it is sound. Everything here returns `io::Result` with the raw OS error, which
//! the callers turn into typed errors (`device::DeviceError`, `event_loop::LoopError`).
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Interface names are at most `IFNAMSIZ - 1` bytes (the kernel's limit, 15).
pub(crate) const MAX_IFNAME: usize = libc::IFNAMSIZ - 1;

/// An `ifreq` naming `name` (checked by the caller: 1 to 15 bytes, no NUL, no '/').
fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: `ifreq` is a plain C struct (a byte array and a union of integers and plain
    // structs); all-zero bytes are a valid value of it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes().take(MAX_IFNAME)) {
        *dst = src as libc::c_char;
    }
    req
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// Opens `/dev/net/tun` and attaches (or creates) TUN device `name` with `IFF_TUN | IFF_NO_PI`,
/// non-blocking and close-on-exec. The device-wide offload mask is reset to none, since a
/// persistent device may keep the mask of an earlier owner that used `IFF_VNET_HDR`, and then
/// the kernel would hand this descriptor GSO packets it cannot frame.
pub(crate) fn open_tun(name: &str) -> io::Result<File> {
    let path = c"/dev/net/tun";
    // SAFETY: `path` is a NUL-terminated string; the flags are valid for open(2).
    let fd = cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
    // SAFETY: open(2) just returned this descriptor and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = ifreq(name);
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `ifreq`, which `req` is, alive for the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut libc::ifreq) })?;
    // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned long of TUN_F_* bits).
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETOFFLOAD, 0 as libc::c_ulong) })?;
    Ok(File::from(fd))
}

/// A datagram socket for the interface ioctls, in the calling thread's network namespace.
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call with constant arguments.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: socket(2) just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs one `SIOC*` interface ioctl on `req`.
fn if_ioctl(request: libc::Ioctl, req: &mut libc::ifreq) -> io::Result<()> {
    let sock = ioctl_socket()?;
    // SAFETY: every request passed here (SIOCGIFINDEX, SIOCGIFMTU, SIOCGIFFLAGS, SIOCSIFFLAGS)
    // reads and/or writes exactly one `ifreq`, which `req` is, alive for the call.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), request, req as *mut libc::ifreq) })?;
    Ok(())
}

/// Whether interface `name` exists in the calling thread's network namespace.
pub(crate) fn if_exists(name: &str) -> io::Result<bool> {
    let mut req = ifreq(name);
    match if_ioctl(libc::SIOCGIFINDEX, &mut req) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The MTU of interface `name`.
pub(crate) fn if_mtu(name: &str) -> io::Result<u32> {
    let mut req = ifreq(name);
    if_ioctl(libc::SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member of the union.
    Ok(u32::try_from(unsafe { req.ifr_ifru.ifru_mtu }).unwrap_or(0))
}

/// Sets `IFF_UP` on interface `name` unless it is up already; returns whether it changed it.
pub(crate) fn if_up(name: &str) -> io::Result<bool> {
    let mut req = ifreq(name);
    if_ioctl(libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(false);
    }
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    if_ioctl(libc::SIOCSIFFLAGS, &mut req)?;
    Ok(true)
}

/// Which readiness to wait for on one descriptor.
#[derive(Debug, Clone, Copy)]
pub struct PollFd {
    /// The descriptor.
    pub fd: RawFd,
    /// Wait until it is writable (otherwise readable).
    pub write: bool,
    /// Filled by [`poll`]: readable, writable, or an error/hang-up condition.
    pub ready: bool,
}

impl PollFd {
    /// Interest in `fd` becoming readable (`write` false) or writable.
    pub fn new(fd: RawFd, write: bool) -> PollFd {
        PollFd { fd, write, ready: false }
    }
}

/// Waits until one of `fds` is ready or `timeout` passes (`None`: forever); returns how many
/// are ready (0 on timeout or when a signal interrupted the wait).
pub fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    let mut raw: Vec<libc::pollfd> = fds
        .iter()
        .map(|p| libc::pollfd { fd: p.fd, events: if p.write { libc::POLLOUT } else { libc::POLLIN }, revents: 0 })
        .collect();
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `raw` is a valid array of `raw.len()` pollfds; `ts_ptr` is null or points to a
    // timespec alive for the call; a null signal mask leaves the mask unchanged.
    let r = unsafe { libc::ppoll(raw.as_mut_ptr(), raw.len() as libc::nfds_t, ts_ptr, std::ptr::null()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted { Ok(0) } else { Err(e) };
    }
    for (p, r) in fds.iter_mut().zip(&raw) {
        p.ready = r.revents != 0;
    }
    Ok(r as usize)
}

/// Moves the calling thread into the network namespace at `path` (e.g. `/run/netns/NAME`, as
/// `ip netns add` makes them). Only this thread changes namespace; sockets and TUN devices it
/// creates afterwards live there, and keep living there when used from other threads.
pub fn enter_netns(path: &std::path::Path) -> io::Result<()> {
    let file = File::open(path)?;
    // SAFETY: setns(2) with a descriptor we hold open and a constant namespace type.
    cvt(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}

/// Whether the process runs with CAP_NET_ADMIN in its effective set (read from
/// `/proc/self/status`, so no capability library is needed). `None` if it cannot tell.
pub fn has_net_admin() -> Option<bool> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    let caps = u64::from_str_radix(hex, 16).ok()?;
    const CAP_NET_ADMIN: u32 = 12;
    Some(caps & (1 << CAP_NET_ADMIN) != 0)
}
