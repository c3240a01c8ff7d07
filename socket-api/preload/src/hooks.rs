//! The interposed functions. Each goes to the C ABI for its sockets (and `socket` for the ones
//! it takes) and to the C library for everything else; see the crate's documentation.

use std::panic::{AssertUnwindSafe, catch_unwind};

use libc::{c_int, c_void, sockaddr, socklen_t};
use mptcp_socket::capi;

use crate::guard::{self, Inside};
use crate::real;
use crate::start::{self, Stack};

/// Runs `f`; a panic becomes -1 with EIO (none may unwind into C).
fn shielded(f: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        // SAFETY: __errno_location returns the calling thread's errno.
        unsafe { *libc::__errno_location() = libc::EIO };
        -1
    })
}

/// Inside a hook on this thread, if `fd` is a socket of the C ABI.
fn ours(fd: c_int) -> Option<Inside> {
    let inside = guard::enter()?;
    capi::tracks(fd).then_some(inside)
}

/// An MPTCP-capable stream socket: IPv4 or IPv6, TCP or MPTCP.
fn wanted(domain: c_int, ty: c_int, protocol: c_int) -> bool {
    matches!(domain, libc::AF_INET | libc::AF_INET6)
        && ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) == libc::SOCK_STREAM
        && matches!(protocol, 0 | libc::IPPROTO_TCP | libc::IPPROTO_MPTCP)
}

/// # Safety
/// As socket(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    shielded(|| {
        let inside = guard::enter();
        if inside.is_none() || !wanted(domain, ty, protocol) {
            // SAFETY: the caller's arguments, passed on.
            return unsafe { real::socket(domain, ty, protocol) };
        }
        match start::stack() {
            Stack::Running if capi::config::owns_stack() => capi::mptcp_socket(domain, ty, protocol),
            Stack::Failed(errno) => {
                // SAFETY: __errno_location returns the calling thread's errno.
                unsafe { *libc::__errno_location() = errno };
                -1
            }
            // No stack configured, or a child after fork.
            // SAFETY: the caller's arguments, passed on.
            _ => unsafe { real::socket(domain, ty, protocol) },
        }
    })
}

/// Defines hooks that take a descriptor first: the C ABI's function for its sockets, the C
/// library's otherwise.
macro_rules! by_descriptor {
    ($($name:ident => $ours:ident ($fd:ident: c_int $(, $arg:ident: $ty:ty)*);)*) => {$(
        /// # Safety
        /// As the C library's function of this name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($fd: c_int $(, $arg: $ty)*) -> c_int {
            shielded(|| match ours($fd) {
                // SAFETY: the caller's arguments, passed on.
                Some(_inside) => unsafe { capi::$ours($fd $(, $arg)*) },
                // SAFETY: the caller's arguments, passed on.
                None => unsafe { real::$name($fd $(, $arg)*) },
            })
        }
    )*};
}

by_descriptor! {
    bind => mptcp_bind(fd: c_int, addr: *const sockaddr, len: socklen_t);
    connect => mptcp_connect(fd: c_int, addr: *const sockaddr, len: socklen_t);
    accept => mptcp_accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t);
    accept4 => mptcp_accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int);
    getsockname => mptcp_getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t);
    getpeername => mptcp_getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t);
    getsockopt => mptcp_getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t);
    setsockopt => mptcp_setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t);
}

/// # Safety
/// As listen(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    shielded(|| match ours(fd) {
        Some(_inside) => capi::mptcp_listen(fd, backlog),
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::listen(fd, backlog) },
    })
}

/// # Safety
/// As shutdown(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    shielded(|| match ours(fd) {
        Some(_inside) => capi::mptcp_shutdown(fd, how),
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::shutdown(fd, how) },
    })
}

/// # Safety
/// As close(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    shielded(|| match ours(fd) {
        Some(_inside) => capi::mptcp_close(fd),
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::close(fd) },
    })
}

/// After a `dup2`/`dup3` onto one of the C ABI's sockets, that socket is gone.
fn replaced(result: c_int, old: c_int, new: c_int) -> c_int {
    if result >= 0 && old != new {
        if let Some(_inside) = ours(new) {
            capi::forget(new);
        }
    }
    result
}

/// # Safety
/// As dup2(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    shielded(|| replaced(unsafe { real::dup2(old, new) }, old, new))
}

/// # Safety
/// As dup3(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    shielded(|| replaced(unsafe { real::dup3(old, new, flags) }, old, new))
}
