//! Async I/O (feature `tokio`): `tokio::io::AsyncRead` and `AsyncWrite` for [`MptcpStream`] and
//! for `&MptcpStream` (so that one task reads, another writes and a third steers the subflows
//! of the same stream), [`Stack::connect_async`], [`MptcpListener::accept_async`] and
//! [`MptcpStream::next_event_async`].
//!
//! No reactor is involved, so any executor runs them: the stack's I/O thread wakes the task. An
//! attempt that finds nothing to do leaves the task's waker in the connection's state before it
//! releases the lock the I/O thread takes to deliver data, so no wake-up falls between the two.
//! There is one waker slot per direction (and one for events, one per listener): as with tokio's
//! own sockets, when two tasks wait for the same thing only the last one to poll is woken.

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use mptcp_tun_driver::stack::endpoint::ConnectionHandle;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::event::TimedEvent;
use crate::listener::MptcpListener;
use crate::runtime::{ConnState, Core, stopped};
use crate::stack::Stack;
use crate::stream::{Attempt, MptcpStream, established, try_next_event, try_read, try_write};

/// Leaves `waker` in `slot` (unless the one there wakes the same task).
fn register(slot: &mut Option<Waker>, waker: &Waker) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
        *slot = Some(waker.clone());
    }
}

impl MptcpStream {
    /// Runs `attempt` once; when it is pending, registers the task in the connection's waker
    /// `slot` under the same lock.
    fn poll_attempt<T>(
        &self,
        cx: &mut Context<'_>,
        slot: fn(&mut ConnState) -> &mut Option<Waker>,
        attempt: impl FnOnce(&mut Core, ConnectionHandle) -> io::Result<Attempt<T>>,
    ) -> Poll<io::Result<T>> {
        let mut core = self.core()?;
        match attempt(&mut core, self.handle)? {
            Attempt::Ready(r) => {
                drop(core);
                // What the attempt changed (window, send buffer) goes out at once.
                self.runtime.shared.wake();
                Poll::Ready(Ok(r))
            }
            Attempt::Pending => match core.conns.get_mut(&self.handle) {
                Some(s) => {
                    register(slot(s), cx.waker());
                    Poll::Pending
                }
                None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
            },
        }
    }

    /// The next event, waiting for one; `Ok(None)` once the connection is gone and every
    /// event was taken (the async [`MptcpStream::next_event`]).
    pub async fn next_event_async(&self) -> io::Result<Option<TimedEvent>> {
        poll_fn(|cx| self.poll_attempt(cx, |s| &mut s.event_waker, try_next_event)).await
    }
}

impl Stack {
    /// Opens a connection to `remote` from the first path of its address family and waits for
    /// the handshake without blocking the thread (the async [`Stack::connect`]; the stack gives
    /// up after its SYN retries, about two minutes).
    pub async fn connect_async(&self, remote: SocketAddr) -> io::Result<MptcpStream> {
        let stream = self.connect_nonblocking(None, remote)?;
        poll_fn(|cx| stream.poll_attempt(cx, |s| &mut s.write_waker, established)).await?;
        Ok(stream)
    }
}

impl MptcpListener {
    /// The next connection whose handshake completed, and its peer's address (the async
    /// [`MptcpListener::accept`]).
    pub async fn accept_async(&self) -> io::Result<(MptcpStream, SocketAddr)> {
        let h = poll_fn(|cx| self.poll_take(cx)).await?;
        self.accepted(h)
    }

    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<io::Result<ConnectionHandle>> {
        let mut core = self.runtime.shared.lock();
        if let Some(f) = &core.failure {
            return Poll::Ready(Err(stopped(f)));
        }
        if let Some(h) = self.take(&mut core) {
            return Poll::Ready(Ok(h));
        }
        let addr = self.local_addr();
        match core.listeners.iter_mut().find(|l| l.addr == addr) {
            Some(l) => {
                register(&mut l.waker, cx.waker());
                Poll::Pending
            }
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncRead for &MptcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let stream: &MptcpStream = *self;
        let unfilled = buf.initialize_unfilled();
        let n = ready!(stream.poll_attempt(cx, |s| &mut s.read_waker, |core, h| try_read(core, h, unfilled)))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for &MptcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_attempt(cx, |s| &mut s.write_waker, |core, h| try_write(core, h, data))
    }

    /// Data goes out as soon as the windows allow; there is nothing to flush.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Ends the sending side: a DATA_FIN follows the data (RFC 8684 §3.3.3).
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

impl AsyncRead for MptcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }
}

impl AsyncWrite for MptcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_shutdown(cx)
    }
}
