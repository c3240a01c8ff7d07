//! The descriptors the C ABI made, and what each is: fresh (maybe bound), a connection (pumped
//! through the descriptor's socketpair), or a listener (its socketpair told of each queued
//! connection).
//!
//! Locks: the table's mutex is held only to look up, insert or remove (never while calling into
//! the stack), so the stack's I/O thread may close its own descriptors through an `LD_PRELOAD`ed
//! `close` that looks here; a socket's own mutex is held for short state changes, and the long
//! waits (the handshake, `SO_ERROR`, events) run on a clone of its stream with no lock held.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use libc::c_int;

use super::addr::Family;
use super::fail::{Fail, Res};
use crate::SubflowOption;
use crate::listener::MptcpListener;
use crate::stream::MptcpStream;

/// A connection of the C ABI.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) stream: Arc<MptcpStream>,
    /// The initial subflow's endpoints (getsockname, getpeername).
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    /// A non-blocking connect whose outcome `SO_ERROR` has not reported yet.
    pub(crate) outcome_owed: bool,
}

/// What a descriptor is.
#[derive(Debug)]
pub(crate) enum State {
    /// Made by `mptcp_socket`: our end of its socketpair, the address it was bound to, options
    /// set so far (applied at connect, or to each connection a listener accepts).
    Fresh {
        ours: UnixStream,
        bound: Option<SocketAddr>,
        options: Vec<SubflowOption>,
    },
    Connected(Connection),
    Listening {
        listener: Arc<MptcpListener>,
        options: Vec<SubflowOption>,
    },
}

/// One descriptor of the C ABI.
#[derive(Debug)]
pub(crate) struct Socket {
    pub(crate) family: Family,
    /// As given to `mptcp_socket` (0 means IPPROTO_TCP).
    pub(crate) protocol: c_int,
    state: Mutex<State>,
    /// Values of the options that change nothing here ([`super::inert`]), as set.
    inert: Mutex<HashMap<(c_int, c_int), Vec<u8>>>,
}

impl Socket {
    pub(crate) fn new(family: Family, protocol: c_int, state: State) -> Socket {
        Socket { family, protocol, state: Mutex::new(state), inert: Mutex::new(HashMap::new()) }
    }

    /// Remembers an inert option's value (its first [`super::inert::MAX_VALUE`] bytes).
    pub(crate) fn set_inert(&self, level: c_int, name: c_int, bytes: &[u8]) {
        let value = bytes[..bytes.len().min(super::inert::MAX_VALUE)].to_vec();
        self.inert.lock().unwrap_or_else(PoisonError::into_inner).insert((level, name), value);
    }

    /// An inert option's value as set, if it was.
    pub(crate) fn inert(&self, level: c_int, name: c_int) -> Option<Vec<u8>> {
        self.inert.lock().unwrap_or_else(PoisonError::into_inner).get(&(level, name)).cloned()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection's stream, ENOTCONN if it is none.
    pub(crate) fn stream(&self) -> Res<Arc<MptcpStream>> {
        match &*self.state() {
            State::Connected(c) => Ok(Arc::clone(&c.stream)),
            _ => Err(Fail::errno(libc::ENOTCONN)),
        }
    }
}

static TABLE: LazyLock<Mutex<HashMap<RawFd, Arc<Socket>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn table() -> MutexGuard<'static, HashMap<RawFd, Arc<Socket>>> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn insert(fd: RawFd, socket: Socket) {
    // A stale entry for a descriptor number closed behind our back goes after the table's lock
    // is released: dropping a stream locks the stack's core.
    let stale = table().insert(fd, Arc::new(socket));
    drop(stale);
}

/// The socket of `fd`; EBADF if it is not one of ours.
pub(crate) fn get(fd: RawFd) -> Res<Arc<Socket>> {
    table().get(&fd).cloned().ok_or(Fail::BADF)
}

pub(crate) fn remove(fd: RawFd) -> Option<Arc<Socket>> {
    table().remove(&fd)
}

/// Every descriptor in the table.
pub(crate) fn fds() -> Vec<RawFd> {
    table().keys().copied().collect()
}

pub(crate) fn contains(fd: RawFd) -> bool {
    table().contains_key(&fd)
}
