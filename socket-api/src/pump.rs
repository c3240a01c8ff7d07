//! Connections whose application end is a real file descriptor: one end of a Unix socketpair,
//! the other end pumped by the I/O thread into and out of the connection. The C ABI and the
//! `LD_PRELOAD` library hand the application end to C programs, so that read, write, send,
//! recv, poll, select and epoll work on it unchanged.
//!
//! The application shutting down its writing side (or closing the descriptor) ends the
//! connection's sending side with a DATA_FIN; the peer's DATA_FIN shuts the socketpair's other
//! direction, so the application reads end of file. When the connection is gone (closed, reset
//! or aborted) the pump closes its end.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use mptcp_tun_driver::path_io::PollFd;
use mptcp_tun_driver::stack::endpoint::ConnectionHandle;

use crate::runtime::Core;

/// Bytes moved per read in either direction.
const CHUNK: usize = 64 * 1024;

/// Bytes read from one side and not yet taken by the other.
#[derive(Debug, Default)]
struct Pending {
    buf: Vec<u8>,
    off: usize,
}

impl Pending {
    fn data(&self) -> &[u8] {
        &self.buf[self.off..]
    }

    fn is_empty(&self) -> bool {
        self.off >= self.buf.len()
    }

    fn consume(&mut self, n: usize) {
        self.off += n;
        if self.is_empty() {
            self.buf.clear();
            self.off = 0;
        }
    }
}

/// One connection pumped through a socketpair.
#[derive(Debug)]
pub(crate) struct Pump {
    pub(crate) handle: ConnectionHandle,
    sock: UnixStream,
    to_conn: Pending,
    from_conn: Pending,
    /// The application will write no more (it shut down or closed its end).
    app_eof: bool,
    /// The connection delivered its end of stream and our end was shut down for writing.
    conn_eof: bool,
    /// The application closed its end: what the connection delivers is discarded.
    app_gone: bool,
}

impl Pump {
    /// Pumps connection `handle` through `sock` (made non-blocking here).
    pub(crate) fn new(handle: ConnectionHandle, sock: UnixStream) -> io::Result<Pump> {
        sock.set_nonblocking(true)?;
        Ok(Pump {
            handle,
            sock,
            to_conn: Pending::default(),
            from_conn: Pending::default(),
            app_eof: false,
            conn_eof: false,
            app_gone: false,
        })
    }

    /// What the I/O thread waits for on this pump's descriptor.
    pub(crate) fn poll_fds(&self, fds: &mut Vec<PollFd>) {
        if !self.app_eof && self.to_conn.is_empty() {
            fds.push(PollFd::new(self.sock.as_raw_fd(), false));
        }
        if !self.from_conn.is_empty() {
            fds.push(PollFd::new(self.sock.as_raw_fd(), true));
        }
    }

    /// Moves what can move; returns whether anything did, and whether the pump is finished.
    fn step(&mut self, core: &mut Core, scratch: &mut [u8]) -> (bool, bool) {
        let h = self.handle;
        if core.endpoint.connection(h).is_none() {
            // Gone: the application reads end of file and its writes fail. The pump (and so the
            // facade's record of how the connection ended, and its last events) stays until
            // the application lets go of the stream.
            if !self.app_eof {
                let _ = self.sock.shutdown(Shutdown::Both);
                self.app_eof = true;
                self.from_conn = Pending::default();
            }
            return (false, self.app_gone);
        }
        let moved = self.toward_application(core, scratch) | self.toward_connection(core, scratch);
        let finished = self.app_eof && self.app_gone;
        (moved, finished)
    }

    /// Connection → socketpair.
    fn toward_application(&mut self, core: &mut Core, scratch: &mut [u8]) -> bool {
        let mut moved = false;
        loop {
            if !self.from_conn.is_empty() {
                match (&self.sock).write(self.from_conn.data()) {
                    Ok(n) => {
                        self.from_conn.consume(n);
                        moved = true;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return moved,
                    Err(_) => {
                        // The application closed its end: nobody reads any more.
                        self.app_gone = true;
                        self.from_conn = Pending::default();
                    }
                }
            }
            if self.conn_eof {
                return moved;
            }
            match core.endpoint.with_connection(self.handle, |c| c.read(scratch)) {
                Some(Some(0)) => {
                    self.conn_eof = true;
                    let _ = self.sock.shutdown(Shutdown::Write);
                    return true;
                }
                Some(Some(n)) => {
                    moved = true;
                    if !self.app_gone {
                        self.from_conn.buf.extend_from_slice(&scratch[..n]);
                    }
                }
                Some(None) | None => return moved,
            }
        }
    }

    /// Socketpair → connection.
    fn toward_connection(&mut self, core: &mut Core, scratch: &mut [u8]) -> bool {
        let mut moved = false;
        loop {
            if !self.to_conn.is_empty() {
                let n = core.endpoint.with_connection(self.handle, |c| c.write(self.to_conn.data())).unwrap_or(0);
                if n == 0 {
                    return moved;
                }
                self.to_conn.consume(n);
                moved = true;
                continue;
            }
            if self.app_eof {
                return moved;
            }
            match (&self.sock).read(scratch) {
                Ok(n) if n > 0 => {
                    self.to_conn.buf.extend_from_slice(&scratch[..n]);
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return moved,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // End of file (the application shut down its writing side or closed its end)
                // or an error on its end: the connection's sending side ends (DATA_FIN).
                Ok(_) | Err(_) => {
                    self.app_eof = true;
                    core.endpoint.with_connection(self.handle, |c| c.shutdown());
                    if let Some(s) = core.conns.get_mut(&self.handle) {
                        s.write_shut = true;
                    }
                    return true;
                }
            }
        }
    }

    /// The application closed its descriptor: once its last bytes are in the connection, the
    /// pump lets go (the connection then finishes on its own).
    pub(crate) fn application_closed(&mut self) {
        self.app_gone = true;
        self.from_conn = Pending::default();
    }
}

/// Runs every pump once; finished pumps let go of their connection. Returns whether any byte
/// moved.
pub(crate) fn run(core: &mut Core) -> bool {
    if core.pumps.is_empty() {
        return false;
    }
    let mut scratch = vec![0u8; CHUNK];
    let mut pumps = std::mem::take(&mut core.pumps);
    let mut moved = false;
    pumps.retain_mut(|p| {
        let (m, finished) = p.step(core, &mut scratch);
        moved |= m;
        if finished {
            core.release(p.handle);
        }
        !finished
    });
    core.pumps = pumps;
    moved
}
