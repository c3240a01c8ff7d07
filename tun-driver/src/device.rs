//! One TUN device: attached if it exists (a persistent device made beforehand with
//! `ip tuntap add DEV mode tun`), created otherwise; `IFF_TUN | IFF_NO_PI` (each read and write is
//! one bare IPv4 or IPv6 packet), non-blocking, brought up if it is down. A device this process
//! created disappears when it is dropped; an attached one stays. Why direct ioctls and not a
//! crate: `docs/tun.md`.
//!
//! The device lives in the network namespace of the thread that opens it.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use crate::sys;

/// Why a device could not be opened or used. Each renders as one line.
#[derive(Debug)]
pub enum DeviceError {
    /// `/dev/net/tun` is missing (no TUN support, or not visible in this container).
    NoTunDevice,
    /// The name is empty, too long (over 15 bytes) or contains `/`, whitespace or NUL.
    BadName(String),
    /// Opening or configuring the device needs CAP_NET_ADMIN (or the device belongs to another
    /// user).
    PermissionDenied(String),
    /// Another process has the device open.
    Busy(String),
    /// An interface of that name exists and is not a TUN device (a TAP, a veth, ...).
    NotTun(String),
    /// Any other failure of a system call on the device.
    Io {
        /// The device.
        device: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::NoTunDevice => {
                f.write_str("/dev/net/tun does not exist: this system has no TUN support (try `modprobe tun`)")
            }
            DeviceError::BadName(name) => {
                write!(f, "{name:?} is not a valid interface name (1 to 15 bytes, no '/', spaces or NUL)")
            }
            DeviceError::PermissionDenied(name) => {
                write!(f, "TUN device {name}: permission denied (run as root or with CAP_NET_ADMIN)")
            }
            DeviceError::Busy(name) => write!(f, "TUN device {name} is busy: another process has it open"),
            DeviceError::NotTun(name) => {
                write!(f, "interface {name} exists but is not a TUN device (or was made with other flags)")
            }
            DeviceError::Io { device, op, source } => write!(f, "TUN device {device}: {op}: {source}"),
        }
    }
}

impl std::error::Error for DeviceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DeviceError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Checks an interface name as the kernel will (`dev_valid_name`).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= sys::MAX_IFNAME
        && name != "."
        && name != ".."
        && !name.bytes().any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
}

/// An open TUN device.
#[derive(Debug)]
pub struct TunDevice {
    file: File,
    name: String,
    mtu: usize,
    created: bool,
    brought_up: bool,
}

impl TunDevice {
    /// Attaches TUN device `name`, creating it if there is no interface of that name, and
    /// brings it up if it is down.
    pub fn open(name: &str) -> Result<TunDevice, DeviceError> {
        if !valid_name(name) {
            return Err(DeviceError::BadName(name.to_owned()));
        }
        if !std::path::Path::new("/dev/net/tun").exists() {
            return Err(DeviceError::NoTunDevice);
        }
        let io_err = |op| {
            let device = name.to_owned();
            move |source: io::Error| DeviceError::Io { device, op, source }
        };
        let existed = sys::if_exists(name).map_err(io_err("looking it up"))?;
        let file = sys::open_tun(name).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => DeviceError::NoTunDevice,
            Some(libc::EPERM | libc::EACCES) => DeviceError::PermissionDenied(name.to_owned()),
            Some(libc::EBUSY) => DeviceError::Busy(name.to_owned()),
            Some(libc::EINVAL) if existed => DeviceError::NotTun(name.to_owned()),
            _ => DeviceError::Io { device: name.to_owned(), op: "attaching", source: e },
        })?;
        let brought_up = sys::if_up(name).map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => DeviceError::PermissionDenied(name.to_owned()),
            _ => DeviceError::Io { device: name.to_owned(), op: "bringing it up", source: e },
        })?;
        let mtu = sys::if_mtu(name).map_err(io_err("reading its MTU"))? as usize;
        Ok(TunDevice { file, name: name.to_owned(), mtu, created: !existed, brought_up })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its MTU when it was opened: the largest packet it carries.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// Reads the MTU again (it may have been changed with `ip link set DEV mtu N`).
    pub fn refresh_mtu(&mut self) -> Result<usize, DeviceError> {
        let mtu = sys::if_mtu(&self.name).map_err(|source| DeviceError::Io {
            device: self.name.clone(),
            op: "reading its MTU",
            source,
        })?;
        self.mtu = mtu as usize;
        Ok(self.mtu)
    }

    /// This process created it (it disappears when dropped); otherwise it was attached.
    pub fn created(&self) -> bool {
        self.created
    }

    /// It was down and opening it brought it up.
    pub fn brought_up(&self) -> bool {
        self.brought_up
    }

    /// Reads one packet into `buf`; `Ok(None)` when none is waiting. A packet longer than `buf`
    /// is truncated by the kernel, so `buf` should hold at least [`mtu`](Self::mtu) bytes.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match (&self.file).read(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads packets until none is waiting or `max` were read, handing each to `f`; returns
    /// how many were read. `buf` is the scratch buffer (see [`recv`](Self::recv)).
    pub fn recv_batch(&self, buf: &mut [u8], max: usize, mut f: impl FnMut(&[u8])) -> io::Result<usize> {
        let mut count = 0;
        while count < max {
            match self.recv(buf)? {
                Some(n) => {
                    count += 1;
                    f(&buf[..n]);
                }
                None => break,
            }
        }
        Ok(count)
    }

    /// Writes one packet; `Ok(false)` if the device cannot take it now (retry when writable).
    pub fn send(&self, packet: &[u8]) -> io::Result<bool> {
        loop {
            match (&self.file).write(packet) {
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsFd for TunDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for TunDevice {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("mtun0"));
        assert!(valid_name("a23456789012345"));
        assert!(!valid_name("a234567890123456"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(".."));
        let e = TunDevice::open("bad name").unwrap_err();
        assert_eq!(e.to_string(), r#""bad name" is not a valid interface name (1 to 15 bytes, no '/', spaces or NUL)"#);
    }
}
