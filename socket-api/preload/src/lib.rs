//! The `LD_PRELOAD` library behind `mptcp run`: moves an unmodified program's TCP sockets onto
//! the userspace MPTCP stack.
//!
//! It interposes `socket`, `bind`, `connect`, `listen`, `accept`, `accept4`, `shutdown`,
//! `close`, `getsockname`, `getpeername`, `getsockopt`, `setsockopt`, `dup2` and `dup3`
//! ([`hooks`]). `socket(AF_INET or AF_INET6, SOCK_STREAM, 0 / IPPROTO_TCP / IPPROTO_MPTCP)`
//! makes a socket of the C ABI (`mptcp_socket::capi`, header `socket-api/include/mptcp_socket.h`),
//! a real descriptor; the other calls go to the C ABI for its descriptors and to the C library
//! for everything else ([`real`]), as do calls the library itself, the stack's threads and Rust's
//! standard library make while a hook runs ([`guard`]). The paper's socket options
//! (MPTCP_GET_SUB_IDS ...) work through the interposed `getsockopt`/`setsockopt`, and the C
//! ABI's own functions (`mptcp_next_event` ...) are exported too.
//!
//! The stack starts at the first such `socket` call, from the environment that `mptcp run` sets
//! ([`start`]): `MPTCP_PATHS` (`DEV=IP[,backup] ...`, required: without it the library passes
//! every call through), `MPTCP_PATH_MANAGER`, `MPTCP_SCHEDULER`, `MPTCP_CC`. If it cannot start,
//! the reason is printed once on stderr and those `socket` calls fail with its errno (EPERM
//! without CAP_NET_ADMIN, EBUSY when another process holds a TUN device, EINVAL for bad
//! settings). A destination no path can reach (loopback, or a family without a path) fails
//! `connect` with ENETUNREACH.
//!
//! At exit the library closes the program's sockets and waits up to 5 s until each connection
//! has ended (the peer's DATA_FIN too), so that what the program wrote last still reaches the
//! peer, as the kernel would deliver it for TCP sockets after the process is gone.
//!
//! Limits: one process owns the stack; a child after `fork` passes every call through (the
//! descriptors it inherited keep moving data while the parent runs). Descriptors closed by
//! `close_range`/`closefrom` or inside the C library (`fclose` of `fdopen`) are not seen: the
//! connection ends when the process does.

mod guard;
pub mod hooks;
mod real;
mod start;
