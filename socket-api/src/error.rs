//! The stack's errors as `std::io::Error`s, with kinds that map onto the errno values the paper's
//! kernel returns (see [`errno`]; the C ABI uses it).

use std::io::{self, ErrorKind};

use mptcp_tun_driver::device::DeviceError;
use mptcp_tun_driver::event_loop::LoopError;
use mptcp_tun_driver::stack::connection::{CloseReason, SubflowError};
use mptcp_tun_driver::stack::endpoint::ConnectError;

/// A stack that could not start.
pub(crate) fn loop_error(e: LoopError) -> io::Error {
    let kind = match &e {
        LoopError::Device(DeviceError::NoTunDevice) => ErrorKind::NotFound,
        LoopError::Device(DeviceError::PermissionDenied(_)) => ErrorKind::PermissionDenied,
        LoopError::Device(DeviceError::Busy(_)) => ErrorKind::ResourceBusy,
        LoopError::Device(DeviceError::BadName(_))
        | LoopError::NoPaths
        | LoopError::DuplicateAddress(_)
        | LoopError::BadAddress(_) => ErrorKind::InvalidInput,
        LoopError::NotLocal(_) => ErrorKind::AddrNotAvailable,
        _ => ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

/// A connection that could not be opened.
pub(crate) fn connect_error(e: ConnectError) -> io::Error {
    let kind = match e {
        ConnectError::NoPort => ErrorKind::AddrInUse,
        ConnectError::AddressFamily => ErrorKind::InvalidInput,
        ConnectError::TooManyConnections | ConnectError::NoToken => ErrorKind::OutOfMemory,
    };
    io::Error::new(kind, e.to_string())
}

/// A subflow operation that failed: `Unsupported` (EOPNOTSUPP) when the connection is not an
/// established MPTCP connection, `InvalidInput` (EINVAL) for an unknown id or a bad value.
pub(crate) fn subflow_error(e: SubflowError) -> io::Error {
    let kind = match e {
        SubflowError::NotMptcp => ErrorKind::Unsupported,
        SubflowError::NoSuchSubflow | SubflowError::AddressFamily | SubflowError::InvalidValue => {
            ErrorKind::InvalidInput
        }
        SubflowError::TooManySubflows => ErrorKind::OutOfMemory,
        SubflowError::Closed => ErrorKind::NotConnected,
    };
    io::Error::new(kind, e.to_string())
}

/// The error a read or write sees on a connection that ended badly.
pub(crate) fn closed_error(reason: CloseReason) -> io::Error {
    let kind = match reason {
        CloseReason::Normal => ErrorKind::BrokenPipe,
        CloseReason::Reset(_) | CloseReason::FastClose | CloseReason::ProtocolError => ErrorKind::ConnectionReset,
        CloseReason::TimedOut => ErrorKind::TimedOut,
        CloseReason::Aborted => ErrorKind::ConnectionAborted,
    };
    io::Error::new(kind, format!("connection closed: {reason:?}"))
}

/// The errno for `e`: its OS error if it has one, else the nearest for its kind.
pub fn errno(e: &io::Error) -> i32 {
    if let Some(n) = e.raw_os_error() {
        return n;
    }
    match e.kind() {
        ErrorKind::NotFound => libc::ENOENT,
        ErrorKind::PermissionDenied => libc::EPERM,
        ErrorKind::ConnectionRefused => libc::ECONNREFUSED,
        ErrorKind::ConnectionReset => libc::ECONNRESET,
        ErrorKind::ConnectionAborted => libc::ECONNABORTED,
        ErrorKind::NotConnected => libc::ENOTCONN,
        ErrorKind::AddrInUse => libc::EADDRINUSE,
        ErrorKind::AddrNotAvailable => libc::EADDRNOTAVAIL,
        ErrorKind::BrokenPipe => libc::EPIPE,
        ErrorKind::AlreadyExists => libc::EEXIST,
        ErrorKind::WouldBlock => libc::EAGAIN,
        ErrorKind::InvalidInput | ErrorKind::InvalidData => libc::EINVAL,
        ErrorKind::TimedOut => libc::ETIMEDOUT,
        ErrorKind::Interrupted => libc::EINTR,
        ErrorKind::Unsupported => libc::EOPNOTSUPP,
        ErrorKind::OutOfMemory => libc::ENOMEM,
        ErrorKind::ResourceBusy => libc::EBUSY,
        _ => libc::EIO,
    }
}
