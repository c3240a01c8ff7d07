//! The few system calls the C ABI makes on the application's descriptors, behind safe
//! functions: each takes a descriptor number the caller named (so the kernel checks it: a stale
//! number fails with EBADF rather than touching memory) and buffers as slices.

use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use libc::{c_int, c_void, socklen_t};

/// Socket buffer size of both ends of a socketpair: enough to keep a fast path busy between
/// two passes of the I/O thread, small beside the connection's own send buffer, so that what a
/// program counts as sent (iperf3's sender figures) is not far ahead of what the stack took.
const PAIR_BUFFER: c_int = 1 << 20;

/// Sets the calling thread's `errno`.
pub(crate) fn set_errno(errno: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno, valid for the thread's life.
    unsafe { *libc::__errno_location() = errno };
}

fn check(r: c_int) -> io::Result<c_int> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// A socketpair: the application's end (with `O_NONBLOCK` and `FD_CLOEXEC` as asked) and ours
/// (close-on-exec), both with large buffers.
pub(crate) fn socketpair(nonblocking: bool, cloexec: bool) -> io::Result<(RawFd, UnixStream)> {
    let (app, ours) = UnixStream::pair()?;
    for s in [&app, &ours] {
        for (force, plain) in [(libc::SO_SNDBUFFORCE, libc::SO_SNDBUF), (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF)] {
            // Beyond net.core.[wr]mem_max only with CAP_NET_ADMIN; a smaller buffer still works.
            if setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, force, &PAIR_BUFFER.to_ne_bytes()).is_err() {
                let _ = setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, plain, &PAIR_BUFFER.to_ne_bytes());
            }
        }
    }
    app.set_nonblocking(nonblocking)?;
    let fd = app.into_raw_fd();
    if !cloexec {
        // SAFETY: fcntl on a descriptor we own; F_SETFD takes an int argument.
        if let Err(e) = check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }) {
            // SAFETY: `fd` is ours and closed once.
            unsafe { libc::close(fd) };
            return Err(e);
        }
    }
    Ok((fd, ours))
}

/// Does `fd` have `O_NONBLOCK`?
pub(crate) fn is_nonblocking(fd: RawFd) -> io::Result<bool> {
    // SAFETY: F_GETFL takes no argument and only reads the descriptor's flags.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    Ok(flags & libc::O_NONBLOCK != 0)
}

/// Reads one byte from `fd`: `Ok(false)` at end of file.
pub(crate) fn read_byte(fd: RawFd) -> io::Result<bool> {
    let mut b = 0u8;
    // SAFETY: reads at most 1 byte into `b`.
    let n = unsafe { libc::read(fd, (&raw mut b).cast::<c_void>(), 1) };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n == 1) }
}

pub(crate) fn shutdown(fd: RawFd, how: c_int) -> io::Result<()> {
    // SAFETY: shutdown(2) takes no pointers.
    check(unsafe { libc::shutdown(fd, how) }).map(drop)
}

pub(crate) fn close(fd: RawFd) -> io::Result<()> {
    // SAFETY: close(2) takes no pointers; the descriptor was the caller's to close.
    check(unsafe { libc::close(fd) }).map(drop)
}

/// getsockopt(2) into `buf`; the length the kernel wrote.
pub(crate) fn getsockopt(fd: RawFd, level: c_int, name: c_int, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = socklen_t::try_from(buf.len()).unwrap_or(socklen_t::MAX);
    // SAFETY: the kernel writes at most `len` bytes into `buf`, which holds at least that many.
    check(unsafe { libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) })?;
    Ok(len as usize)
}

/// setsockopt(2) with `value`.
pub(crate) fn setsockopt(fd: RawFd, level: c_int, name: c_int, value: &[u8]) -> io::Result<()> {
    let len = socklen_t::try_from(value.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: the kernel reads `len` bytes of `value`.
    check(unsafe { libc::setsockopt(fd, level, name, value.as_ptr().cast(), len) }).map(drop)
}

/// `SO_SNDTIMEO` of `fd` (which bounds a blocking connect, as in Linux); `None` if unset.
pub(crate) fn send_timeout(fd: RawFd) -> io::Result<Option<Duration>> {
    let mut buf = [0u8; size_of::<libc::timeval>()];
    getsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &mut buf)?;
    let field = |at: usize| -> i64 {
        let mut b = [0u8; 8];
        let n = size_of::<libc::time_t>().min(8);
        b[..n].copy_from_slice(&buf[at..at + n]);
        i64::from_ne_bytes(b)
    };
    let secs = field(std::mem::offset_of!(libc::timeval, tv_sec));
    let usecs = field(std::mem::offset_of!(libc::timeval, tv_usec));
    let t = Duration::from_secs(secs.max(0) as u64) + Duration::from_micros(usecs.clamp(0, 999_999) as u64);
    Ok((!t.is_zero()).then_some(t))
}
