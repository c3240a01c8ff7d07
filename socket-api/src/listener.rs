//! [`MptcpListener`]: accepts MPTCP connections (and plain TCP ones, which fall back).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::runtime::{ListenerState, Runtime};
use crate::stream::MptcpStream;

/// Listens on one address of a [`crate::Stack`].
#[derive(Debug)]
pub struct MptcpListener {
    pub(crate) runtime: Arc<Runtime>,
    addr: SocketAddr,
    nonblocking: bool,
}

impl MptcpListener {
    pub(crate) fn bind(runtime: Arc<Runtime>, addr: SocketAddr, backlog: usize) -> io::Result<MptcpListener> {
        let mut core = runtime.shared.lock();
        if !addr.ip().is_unspecified() && !core.locals.contains(&addr.ip()) {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{} is not the address of any path of this stack", addr.ip()),
            ));
        }
        let taken = core.listeners.iter().any(|l| {
            l.addr.port() == addr.port()
                && (l.addr.ip() == addr.ip() || l.addr.ip().is_unspecified() || addr.ip().is_unspecified())
        });
        if taken || addr.port() == 0 {
            let why = if taken { "address in use" } else { "a listener needs a port" };
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("{addr}: {why}")));
        }
        core.endpoint.listen(addr);
        core.listeners.push(ListenerState {
            addr,
            queue: VecDeque::new(),
            backlog: backlog.max(1),
            waker: None,
            refused: 0,
            notify: None,
        });
        drop(core);
        Ok(MptcpListener { runtime, addr, nonblocking: false })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// In non-blocking mode `accept` fails with `WouldBlock` when no connection waits.
    pub fn set_nonblocking(&mut self, nonblocking: bool) {
        self.nonblocking = nonblocking;
    }

    /// The next connection whose handshake completed, and its peer's address.
    pub fn accept(&self) -> io::Result<(MptcpStream, SocketAddr)> {
        self.accept_timeout(None)
    }

    /// Like [`accept`](Self::accept), waiting at most `timeout`.
    pub fn accept_timeout(&self, timeout: Option<Duration>) -> io::Result<(MptcpStream, SocketAddr)> {
        let h = self.runtime.shared.block_on(timeout, self.nonblocking, |core| Ok(self.take(core)))?;
        self.accepted(h)
    }

    /// The stream of a connection taken from the queue, and its peer's address.
    pub(crate) fn accepted(
        &self,
        h: mptcp_tun_driver::stack::endpoint::ConnectionHandle,
    ) -> io::Result<(MptcpStream, SocketAddr)> {
        let stream = MptcpStream::new(Arc::clone(&self.runtime), h);
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }

    /// Takes the next queued connection that is still there.
    pub(crate) fn take(
        &self,
        core: &mut crate::runtime::Core,
    ) -> Option<mptcp_tun_driver::stack::endpoint::ConnectionHandle> {
        let l = core.listeners.iter_mut().find(|l| l.addr == self.addr)?;
        let h = l.queue.pop_front()?;
        Some(h)
    }

    /// An iterator over incoming connections (blocking).
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<MptcpStream>> + '_ {
        std::iter::from_fn(move || Some(self.accept().map(|(s, _)| s)))
    }

    /// Connections refused because the backlog was full.
    pub fn refused(&self) -> u64 {
        self.runtime.shared.lock().listeners.iter().find(|l| l.addr == self.addr).map_or(0, |l| l.refused)
    }
}

impl Drop for MptcpListener {
    /// Stops listening: connections still queued are aborted, later SYNs get a RST.
    fn drop(&mut self) {
        let mut core = self.runtime.shared.lock();
        core.endpoint.unlisten(self.addr);
        if let Some(i) = core.listeners.iter().position(|l| l.addr == self.addr) {
            let l = core.listeners.remove(i);
            for h in l.queue {
                core.endpoint.with_connection(h, |c| c.abort());
                core.conns.remove(&h);
            }
        }
        drop(core);
        self.runtime.shared.wake();
    }
}
