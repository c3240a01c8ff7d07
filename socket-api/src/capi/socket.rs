//! The socket calls of the C ABI on safe types: socket, bind, connect, listen, accept, shutdown,
//! close, the names of either end, and events.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use libc::c_int;

use super::addr::{self, Family};
use super::config;
use super::fail::{Fail, Res};
use super::sockopt;
use super::sys;
use super::table::{self, Connection, Socket, State};
use crate::event::TimedEvent;
use crate::listener::MptcpListener;
use crate::stream::{Attempt, MptcpStream, established};

/// Where `listen` looks for a port when the socket was not bound to one (Linux's default
/// ephemeral range).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;
/// The largest backlog (Linux's default `net.core.somaxconn`).
const MAX_BACKLOG: usize = 4096;

/// `mptcp_socket`: a fresh descriptor.
pub(crate) fn socket(domain: c_int, ty: c_int, protocol: c_int) -> Res<RawFd> {
    let family = Family::from_domain(domain).ok_or(Fail::errno(libc::EAFNOSUPPORT))?;
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    if ty & !flags != libc::SOCK_STREAM {
        return Err(Fail::errno(libc::ESOCKTNOSUPPORT));
    }
    if !matches!(protocol, 0 | libc::IPPROTO_TCP | libc::IPPROTO_MPTCP) {
        return Err(Fail::errno(libc::EPROTONOSUPPORT));
    }
    config::current()?;
    let (fd, ours) = sys::socketpair(ty & libc::SOCK_NONBLOCK != 0, ty & libc::SOCK_CLOEXEC != 0)?;
    table::insert(fd, Socket::new(family, protocol, State::Fresh { ours, bound: None, options: Vec::new() }));
    Ok(fd)
}

/// `mptcp_bind`: remembers the address (its IP must be a path's, or unspecified).
pub(crate) fn bind(fd: RawFd, raw: &[u8]) -> Res<()> {
    let sock = table::get(fd)?;
    let addr = addr::decode(raw, sock.family)?;
    let stack = config::current()?;
    if !addr.ip().is_unspecified() && !stack.local_addresses().contains(&addr.ip()) {
        return Err(Fail::errno(libc::EADDRNOTAVAIL));
    }
    match &mut *sock.state() {
        State::Fresh { bound: bound @ None, .. } => {
            *bound = Some(addr);
            Ok(())
        }
        _ => Err(Fail::INVAL),
    }
}

/// `mptcp_connect`.
pub(crate) fn connect(fd: RawFd, raw: &[u8]) -> Res<()> {
    let sock = table::get(fd)?;
    let remote = addr::decode(raw, sock.family)?;
    let nonblocking = sys::is_nonblocking(fd)?;
    let stream = {
        let mut state = sock.state();
        let (bound, options) = match &*state {
            State::Fresh { bound, options, .. } => (*bound, options.clone()),
            State::Connected(c) => return connect_again(c),
            State::Listening { .. } => return Err(Fail::INVAL),
        };
        if !addr::routable(&remote) {
            return Err(Fail::errno(libc::ENETUNREACH));
        }
        let local = bound.map(|b| b.ip()).filter(|ip| !ip.is_unspecified());
        if local.is_some_and(|ip| ip.is_ipv4() != remote.is_ipv4()) {
            return Err(Fail::errno(libc::ENETUNREACH));
        }
        let stream = match config::current()?.connect_nonblocking(local, remote) {
            // With no local address chosen, only "no path of that family" is possible.
            Err(e) if local.is_none() && e.kind() == io::ErrorKind::AddrNotAvailable => {
                return Err(Fail::errno(libc::ENETUNREACH));
            }
            r => Arc::new(r?),
        };
        sockopt::apply_all(&stream, &options);
        let (local, peer) = (stream.local_addr()?, stream.peer_addr()?);
        let conn = Connection { stream: Arc::clone(&stream), local, peer, outcome_owed: nonblocking };
        if let State::Fresh { ours, .. } = std::mem::replace(&mut *state, State::Connected(conn)) {
            stream.attach_pump(ours)?;
        }
        stream
    };
    if nonblocking {
        return Err(Fail::errno(libc::EINPROGRESS));
    }
    let timeout = sys::send_timeout(fd)?;
    match stream.established(timeout) {
        Ok(_) => Ok(()),
        Err(e) if timeout.is_some() && e.kind() == io::ErrorKind::TimedOut => {
            handshake(&stream)?.map_or_else(
                || {
                    // SO_SNDTIMEO passed with the handshake still under way: it goes on, as
                    // in Linux, and SO_ERROR will tell.
                    if let State::Connected(c) = &mut *sock.state() {
                        c.outcome_owed = true;
                    }
                    Err(Fail::errno(libc::EINPROGRESS))
                },
                Ok,
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// A second connect on a connection: EALREADY while its handshake runs, EISCONN once it is
/// established, its failure once it failed.
fn connect_again(c: &Connection) -> Res<()> {
    match handshake(&c.stream)? {
        None => Err(Fail::errno(libc::EALREADY)),
        Some(()) => Err(Fail::errno(libc::EISCONN)),
    }
}

/// The handshake's state without waiting: `None` while it runs.
fn handshake(stream: &MptcpStream) -> Res<Option<()>> {
    let mut core = stream.core()?;
    match established(&mut core, stream.handle)? {
        Attempt::Ready(()) => Ok(Some(())),
        Attempt::Pending => Ok(None),
    }
}

/// `getsockopt(SO_ERROR)` on a connection: after a non-blocking connect, waits for the
/// handshake's outcome and reports it once; otherwise 0.
pub(crate) fn take_error(sock: &Socket) -> Res<c_int> {
    let stream = match &mut *sock.state() {
        State::Connected(c) if c.outcome_owed => {
            c.outcome_owed = false;
            Arc::clone(&c.stream)
        }
        _ => return Ok(0),
    };
    Ok(match stream.established(None) {
        Ok(_) => 0,
        Err(e) => crate::error::errno(&e),
    })
}

/// `mptcp_listen`.
pub(crate) fn listen(fd: RawFd, backlog: c_int) -> Res<()> {
    let sock = table::get(fd)?;
    let backlog = usize::try_from(backlog).map_or(MAX_BACKLOG, |b| b.clamp(1, MAX_BACKLOG));
    let mut state = sock.state();
    let (ours, bound, options) = match &mut *state {
        State::Fresh { ours, bound, options } => (ours.try_clone()?, *bound, options.clone()),
        State::Listening { .. } => return Ok(()),
        State::Connected(_) => return Err(Fail::INVAL),
    };
    let stack = config::current()?;
    let runtime = Arc::clone(&stack.runtime);
    let addr = bound.unwrap_or_else(|| sock.family.unspecified());
    let mut listener = if addr.port() == 0 {
        // Like Linux, a listener without a port gets one from the ephemeral range.
        let start = (std::process::id() as u16) % (EPHEMERAL.end() - EPHEMERAL.start());
        let mut ports = EPHEMERAL.clone().skip(start.into()).chain(EPHEMERAL.clone().take(start.into()));
        loop {
            let port = ports.next().ok_or(Fail::errno(libc::EADDRINUSE))?;
            match MptcpListener::bind(Arc::clone(&runtime), SocketAddr::new(addr.ip(), port), backlog) {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
                r => break r?,
            }
        }
    } else {
        MptcpListener::bind(Arc::clone(&runtime), addr, backlog)?
    };
    listener.set_nonblocking(true);
    ours.set_nonblocking(true)?;
    {
        // From now on the I/O thread writes a byte to `ours` per queued connection; the ones
        // queued already get theirs here.
        let mut core = runtime.shared.lock();
        if let Some(l) = core.listeners.iter_mut().find(|l| l.addr == listener.local_addr()) {
            for _ in 0..l.queue.len() {
                let _ = std::io::Write::write(&mut &ours, &[1]);
            }
            l.notify = Some(ours);
        }
    }
    *state = State::Listening { listener: Arc::new(listener), options };
    Ok(())
}

/// `mptcp_accept4`: the next connection as a new descriptor, and its peer.
pub(crate) fn accept(fd: RawFd, flags: c_int) -> Res<(RawFd, SocketAddr, Family)> {
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Fail::INVAL);
    }
    let sock = table::get(fd)?;
    let (listener, options) = match &*sock.state() {
        State::Listening { listener, options } => (Arc::clone(listener), options.clone()),
        _ => return Err(Fail::INVAL),
    };
    let (stream, peer) = loop {
        // One byte per queued connection: this read blocks, or fails with EAGAIN, as the
        // descriptor's O_NONBLOCK says.
        if !sys::read_byte(fd)? {
            return Err(Fail::INVAL);
        }
        match listener.accept() {
            Ok(next) => break next,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if sys::is_nonblocking(fd)? {
                    return Err(Fail::errno(libc::EAGAIN));
                }
            }
            // It ended while it waited in the queue.
            Err(_) => return Err(Fail::errno(libc::ECONNABORTED)),
        }
    };
    sockopt::apply_all(&stream, &options);
    let (newfd, ours) = sys::socketpair(flags & libc::SOCK_NONBLOCK != 0, flags & libc::SOCK_CLOEXEC != 0)?;
    let local = match stream.local_addr().and_then(|l| stream.attach_pump(ours).map(|()| l)) {
        Ok(l) => l,
        Err(e) => {
            let _ = sys::close(newfd);
            return Err(e.into());
        }
    };
    let conn = Connection { stream: Arc::new(stream), local, peer, outcome_owed: false };
    table::insert(newfd, Socket::new(sock.family, sock.protocol, State::Connected(conn)));
    Ok((newfd, peer, sock.family))
}

/// `mptcp_shutdown`: on the descriptor itself (the pump turns its end of file into a DATA_FIN).
pub(crate) fn shutdown(fd: RawFd, how: c_int) -> Res<()> {
    if !matches!(how, libc::SHUT_RD | libc::SHUT_WR | libc::SHUT_RDWR) {
        return Err(Fail::INVAL);
    }
    table::get(fd)?.stream()?;
    Ok(sys::shutdown(fd, how)?)
}

/// `mptcp_close`: forgets the socket (a connection then finishes sending and closes) and closes
/// the descriptor.
pub(crate) fn close(fd: RawFd) -> Res<()> {
    let sock = table::remove(fd).ok_or(Fail::BADF)?;
    drop(sock);
    Ok(sys::close(fd)?)
}

/// Forgets `fd` without closing it (it was closed or replaced behind our back).
pub(crate) fn forget(fd: RawFd) {
    drop(table::remove(fd));
}

/// `mptcp_getsockname`: the address it is bound to or listens on, or the initial subflow's.
pub(crate) fn local_name(fd: RawFd) -> Res<(SocketAddr, Family)> {
    let sock = table::get(fd)?;
    let addr = match &*sock.state() {
        State::Fresh { bound, .. } => bound.unwrap_or_else(|| sock.family.unspecified()),
        State::Connected(c) => c.local,
        State::Listening { listener, .. } => listener.local_addr(),
    };
    Ok((addr, sock.family))
}

/// `mptcp_getpeername`: the initial subflow's peer.
pub(crate) fn peer_name(fd: RawFd) -> Res<(SocketAddr, Family)> {
    let sock = table::get(fd)?;
    let peer = match &*sock.state() {
        State::Connected(c) => c.peer,
        _ => return Err(Fail::errno(libc::ENOTCONN)),
    };
    Ok((peer, sock.family))
}

/// `mptcp_next_event`: the next event, `None` when `timeout` passed (`None`: wait for ever).
pub(crate) fn next_event(fd: RawFd, timeout: Option<Duration>) -> Res<Option<TimedEvent>> {
    let stream = table::get(fd)?.stream()?;
    match stream.next_event(timeout) {
        Ok(Some(e)) => Ok(Some(e)),
        Ok(None) => Err(Fail::errno(libc::ENOTCONN)),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Closes every socket and waits, at most `limit`, until every connection has ended (both
/// sides' DATA_FIN) or is gone: at exit, what the kernel does for a process's TCP sockets, so that
/// what the program wrote last still reaches its peer.
pub(crate) fn linger(limit: Duration) {
    for fd in table::fds() {
        let _ = close(fd);
    }
    let Ok(stack) = config::current() else { return };
    let shared = &stack.runtime.shared;
    let deadline = std::time::Instant::now() + limit;
    let mut core = shared.lock();
    while core.failure.is_none() && (!core.pumps.is_empty() || core.conns.values().any(|c| c.closed.is_none())) {
        let (c, timed_out) = shared.wait(core, Some(deadline));
        core = c;
        if timed_out {
            return;
        }
    }
}

/// Is `fd` a socket of the C ABI?
pub(crate) fn tracks(fd: RawFd) -> bool {
    table::contains(fd)
}
