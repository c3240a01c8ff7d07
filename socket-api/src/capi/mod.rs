//! The C ABI: BSD-socket-shaped functions over the stack, with the paper's socket options
//! (header: `socket-api/include/mptcp_socket.h`, which documents every behaviour; built as
//! `libmptcp_socket.so`). The `LD_PRELOAD` library (`socket-api/preload`) routes an unmodified
//! program's TCP sockets here.
//!
//! Every socket is a real descriptor from `mptcp_socket` on: one end of a Unix socketpair. Once
//! connected (or accepted) the stack's I/O thread pumps the connection through the other end
//! (`pump.rs`); a listener's descriptor gets a byte per queued connection. So read, write,
//! poll, select and epoll need nothing from here.
//!
//! - [`abi`] — the C structures and constants, with their layout checked;
//! - [`config`] — the process's one stack and its settings (also from the environment);
//! - [`socket`] — socket, bind, connect, listen, accept, shutdown, close, names, events, over
//!   the descriptor table ([`table`]);
//! - [`sockopt`] — getsockopt/setsockopt: the paper's options ([`paper`]), option values
//!   ([`value`]), `struct tcp_info` ([`tcp_info`]);
//! - `fuzzing` (hidden) — the same option code over a stack-less connection, for
//!   `socket-api/fuzz`;
//! - `ffi` — the exported functions (pointers to slices, `catch_unwind`, errno) and `sys`, the
//!   system calls on the application's descriptors: the only unsafe code.

pub mod abi;
mod addr;
pub mod config;
mod event;
mod fail;
#[allow(unsafe_code)]
mod ffi;
#[doc(hidden)]
pub mod fuzzing;
mod ids;
mod inert;
mod paper;
mod socket;
mod sockopt;
#[allow(unsafe_code)]
mod sys;
mod table;
mod tcp_info;
mod value;

pub use ffi::{
    mptcp_accept, mptcp_accept4, mptcp_bind, mptcp_close, mptcp_connect, mptcp_getpeername, mptcp_getsockname,
    mptcp_getsockopt, mptcp_is_socket, mptcp_listen, mptcp_next_event, mptcp_setsockopt, mptcp_shutdown, mptcp_socket,
    mptcp_stack_start, mptcp_stack_start_config, mptcp_stack_stop,
};

/// Is `fd` a socket of the C ABI (in the process that owns the stack)?
pub fn tracks(fd: std::os::fd::RawFd) -> bool {
    config::owns_stack() && socket::tracks(fd)
}

/// At exit: closes every socket and waits, at most `limit`, until each connection has ended or
/// is gone, so that what the program wrote last reaches its peer (the `LD_PRELOAD` library runs
/// it from `atexit`).
pub fn linger(limit: std::time::Duration) {
    socket::linger(limit);
}

/// Forgets socket `fd` without closing the descriptor: it was replaced behind the ABI's back
/// (`dup2` onto it).
pub fn forget(fd: std::os::fd::RawFd) {
    socket::forget(fd);
}
