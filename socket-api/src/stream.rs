//! [`MptcpStream`]: one MPTCP connection as a byte stream (`std::io::Read` and `Write`),
//! blocking with optional timeouts or non-blocking, with its events. The subflow operations are
//! in [`crate::subflows`].

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use mptcp_tun_driver::stack::connection::{CloseReason, Connection, Mode};
use mptcp_tun_driver::stack::endpoint::ConnectionHandle;

use crate::error::closed_error;
use crate::event::TimedEvent;
use crate::pump::Pump;
use crate::runtime::{Core, Runtime, stopped};

/// One MPTCP connection of a [`crate::Stack`].
///
/// Dropping it closes it gracefully: what was written is still delivered, then a DATA_FIN.
#[derive(Debug)]
pub struct MptcpStream {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) handle: ConnectionHandle,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    nonblocking: bool,
}

/// What an operation found when it looked at the connection.
pub(crate) enum Attempt<T> {
    /// Done.
    Ready(T),
    /// Not possible yet: wait for the I/O thread.
    Pending,
}

impl MptcpStream {
    pub(crate) fn new(runtime: Arc<Runtime>, handle: ConnectionHandle) -> MptcpStream {
        MptcpStream { runtime, handle, read_timeout: None, write_timeout: None, nonblocking: false }
    }

    /// The core, locked, with the I/O thread known to be alive.
    pub(crate) fn core(&self) -> io::Result<MutexGuard<'_, Core>> {
        let core = self.runtime.shared.lock();
        match &core.failure {
            Some(f) => Err(stopped(f)),
            None => Ok(core),
        }
    }

    /// Runs `f` on the connection (collecting its events), `NotConnected` if it is gone.
    pub(crate) fn with_conn<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> io::Result<R> {
        let mut core = self.core()?;
        let r = core.endpoint.with_connection(self.handle, f);
        drop(core);
        self.runtime.shared.wake();
        r.ok_or_else(|| self.gone_error())
    }

    fn gone_error(&self) -> io::Error {
        let reason = self.runtime.shared.lock().conns.get(&self.handle).and_then(|s| s.closed);
        reason.map_or_else(|| io::Error::from(io::ErrorKind::NotConnected), closed_error)
    }

    /// Repeats `attempt` until it is ready, waiting for the I/O thread in between (at most
    /// `timeout`; never in non-blocking mode).
    pub(crate) fn blocking<T>(
        &self,
        timeout: Option<Duration>,
        mut attempt: impl FnMut(&mut Core, ConnectionHandle) -> io::Result<Attempt<T>>,
    ) -> io::Result<T> {
        let shared = &self.runtime.shared;
        let r = shared.block_on(timeout, self.nonblocking, |core| {
            Ok(match attempt(core, self.handle)? {
                Attempt::Ready(r) => Some(r),
                Attempt::Pending => None,
            })
        })?;
        shared.wake();
        Ok(r)
    }

    /// Waits until the handshake completed (or failed).
    pub(crate) fn wait_established(&self, deadline: Option<std::time::Instant>) -> io::Result<()> {
        let timeout = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        self.blocking(timeout, established)
    }

    /// Moves this connection's data through `sock` (one end of a Unix socketpair; the
    /// application has the other): from now on the I/O thread pumps it, and the application
    /// reads and writes its end instead of this stream. Dropping the stream then tells the
    /// pump the application closed its end; the pump lets go of the connection once the last
    /// bytes are in it.
    pub(crate) fn attach_pump(&self, sock: UnixStream) -> io::Result<()> {
        let pump = Pump::new(self.handle, sock)?;
        self.core()?.pumps.push(pump);
        self.runtime.shared.wake();
        Ok(())
    }

    /// Sets how long a read waits (`None`: for ever). A zero duration is refused, as by std.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout = checked_timeout(timeout)?;
        Ok(())
    }

    /// Sets how long a write waits (`None`: for ever).
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout = checked_timeout(timeout)?;
        Ok(())
    }

    /// In non-blocking mode reads, writes and event waits fail with `WouldBlock` instead of
    /// waiting.
    pub fn set_nonblocking(&mut self, nonblocking: bool) {
        self.nonblocking = nonblocking;
    }

    /// Is it non-blocking?
    pub fn is_nonblocking(&self) -> bool {
        self.nonblocking
    }

    /// Waits for the handshake (at most `timeout`); `Ok(true)` for MPTCP, `Ok(false)` after
    /// fallback to TCP.
    pub fn established(&self, timeout: Option<Duration>) -> io::Result<bool> {
        self.wait_established(timeout.map(|t| std::time::Instant::now() + t))?;
        Ok(self.is_mptcp())
    }

    /// Does the connection speak MPTCP (established and not fallen back)?
    pub fn is_mptcp(&self) -> bool {
        let core = self.runtime.shared.lock();
        core.conns.get(&self.handle).is_some_and(|s| s.established == Some(true))
            && core.endpoint.connection(self.handle).is_some_and(|c| c.mode() == Mode::Mptcp)
    }

    /// Our address of the initial subflow (RFC 6897 §5: `getsockname` keeps naming it).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.initial_tuple().map(|t| t.0)
    }

    /// The peer's address of the initial subflow.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.initial_tuple().map(|t| t.1)
    }

    fn initial_tuple(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        let core = self.runtime.shared.lock();
        let c = core.endpoint.connection(self.handle).ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let s = c.stats();
        s.subflows
            .iter()
            .find(|s| !s.joined)
            .map(|s| (s.local, s.remote))
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }

    /// Shuts down the writing side (a DATA_FIN after the data, RFC 8684 §3.3.3), the reading
    /// side (what arrives is discarded) or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.with_conn(|c| c.shutdown())?;
            if let Some(s) = self.runtime.shared.lock().conns.get_mut(&self.handle) {
                s.write_shut = true;
            }
        }
        Ok(())
    }

    /// Aborts the connection: RST with MP_FASTCLOSE on every subflow (RFC 8684 §3.5).
    pub fn abort(&self) -> io::Result<()> {
        self.with_conn(|c| c.abort())
    }

    /// The next event, if one is queued.
    pub fn poll_event(&self) -> Option<TimedEvent> {
        self.runtime.shared.lock().conns.get_mut(&self.handle).and_then(|s| s.events.pop_front())
    }

    /// The next event, waiting at most `timeout` (`None`: until one comes); `Ok(None)` once
    /// the connection is gone and every event was taken.
    pub fn next_event(&self, timeout: Option<Duration>) -> io::Result<Option<TimedEvent>> {
        self.blocking(timeout, try_next_event)
    }

    /// A blocking iterator over the events, ending when the connection is gone.
    pub fn events(&self) -> impl Iterator<Item = TimedEvent> + '_ {
        std::iter::from_fn(move || self.next_event(None).ok().flatten())
    }

    /// Events dropped because nobody took them (1024 are kept).
    pub fn events_dropped(&self) -> u64 {
        self.runtime.shared.lock().conns.get(&self.handle).map_or(0, |s| s.events_dropped)
    }
}

fn checked_timeout(timeout: Option<Duration>) -> io::Result<Option<Duration>> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
    }
    Ok(timeout)
}

/// Ready once the handshake is done; its failure is an error.
pub(crate) fn established(core: &mut Core, h: ConnectionHandle) -> io::Result<Attempt<()>> {
    let state = core.conns.get(&h);
    if let Some(reason) = state.and_then(|s| s.closed) {
        return Err(match reason {
            CloseReason::Reset(_) => io::ErrorKind::ConnectionRefused.into(),
            r => closed_error(r),
        });
    }
    if state.is_some_and(|s| s.established.is_some()) {
        return Ok(Attempt::Ready(()));
    }
    Ok(Attempt::Pending)
}

/// One attempt at taking an event: the next one, `None` once the connection is gone and every
/// event was taken, or nothing yet.
pub(crate) fn try_next_event(core: &mut Core, h: ConnectionHandle) -> io::Result<Attempt<Option<TimedEvent>>> {
    let gone = core.endpoint.connection(h).is_none();
    Ok(match core.conns.get_mut(&h).and_then(|s| s.events.pop_front()) {
        Some(e) => Attempt::Ready(Some(e)),
        None if gone => Attempt::Ready(None),
        None => Attempt::Pending,
    })
}

/// One read attempt: data, the end of the stream, or nothing yet.
pub(crate) fn try_read(core: &mut Core, h: ConnectionHandle, buf: &mut [u8]) -> io::Result<Attempt<usize>> {
    if buf.is_empty() {
        return Ok(Attempt::Ready(0));
    }
    match core.endpoint.with_connection(h, |c| c.read(buf)) {
        Some(Some(n)) => Ok(Attempt::Ready(n)),
        Some(None) => Ok(Attempt::Pending),
        None => match core.conns.get(&h).and_then(|s| s.closed) {
            Some(CloseReason::Normal) | None => Ok(Attempt::Ready(0)),
            Some(r) => Err(closed_error(r)),
        },
    }
}

/// One write attempt: how much the send buffer took, or nothing yet.
pub(crate) fn try_write(core: &mut Core, h: ConnectionHandle, data: &[u8]) -> io::Result<Attempt<usize>> {
    if data.is_empty() {
        return Ok(Attempt::Ready(0));
    }
    if let Attempt::Pending = established(core, h)? {
        return Ok(Attempt::Pending);
    }
    if core.conns.get(&h).is_some_and(|s| s.write_shut) {
        return Err(io::ErrorKind::BrokenPipe.into());
    }
    match core.endpoint.with_connection(h, |c| c.write(data)) {
        Some(0) => Ok(Attempt::Pending),
        Some(n) => Ok(Attempt::Ready(n)),
        None => {
            let reason = core.conns.get(&h).and_then(|s| s.closed);
            Err(reason.map_or_else(|| io::ErrorKind::NotConnected.into(), closed_error))
        }
    }
}

impl Read for MptcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.blocking(self.read_timeout, |core, h| try_read(core, h, buf))
    }
}

impl Write for MptcpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.blocking(self.write_timeout, |core, h| try_write(core, h, data))
    }

    /// Data goes out as soon as the windows allow; there is nothing to flush.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for MptcpStream {
    fn drop(&mut self) {
        let shared = &self.runtime.shared;
        {
            let mut core = shared.lock();
            match core.pumps.iter_mut().find(|p| p.handle == self.handle) {
                Some(pump) => pump.application_closed(),
                None => core.release(self.handle),
            }
        }
        shared.wake();
    }
}
