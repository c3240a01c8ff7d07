//! The running stack: one endpoint shared by the application's threads and one I/O thread.
//!
//! The endpoint and the per-connection state the facade keeps live in [`Core`], behind one
//! mutex. The I/O thread owns the TUN devices ([`PathIo`]): each iteration it locks the core,
//! hands it every packet the devices have, fires due timers, sends what the endpoint has to
//! send, routes endpoint events to the connections and listeners they belong to, then unlocks
//! and sleeps in `ppoll(2)` until a device is readable, the endpoint's next timer, or a wake-up.
//! Application threads lock the core to read, write and steer their connections, then wake the
//! I/O thread (a byte on a socketpair, written only when no wake-up is pending) so that what
//! they changed goes out at once. They wait for the I/O thread on one condition variable,
//! notified after every iteration that moved a packet or produced an event; async tasks leave a
//! `Waker` instead.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::Duration;

use mptcp_tun_driver::path_io::{Clock, PathIo, PollFd, poll};
use mptcp_tun_driver::stack::Instant;
use mptcp_tun_driver::stack::connection::{CloseReason, ConnEvent, Mode};
use mptcp_tun_driver::stack::endpoint::{ConnectionHandle, Endpoint, Event};

use crate::event::TimedEvent;
use crate::pump::Pump;

/// Events kept per connection for the application; older ones are dropped (and counted) when
/// it does not read them.
const EVENT_QUEUE: usize = 1024;

/// What the facade keeps about one connection beside the endpoint's own state.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// Events for the application, oldest first.
    pub(crate) events: VecDeque<TimedEvent>,
    /// Events dropped because the queue was full.
    pub(crate) events_dropped: u64,
    /// Established: with MPTCP (`true`) or after fallback.
    pub(crate) established: Option<bool>,
    /// How it ended.
    pub(crate) closed: Option<CloseReason>,
    /// Async tasks waiting to read, to write, or for an event.
    pub(crate) read_waker: Option<Waker>,
    pub(crate) write_waker: Option<Waker>,
    pub(crate) event_waker: Option<Waker>,
    /// The application shut down its sending side.
    pub(crate) write_shut: bool,
    /// The listener whose accept queue it joins once its handshake completes.
    pub(crate) listener: Option<SocketAddr>,
    /// No handle is left: the I/O thread discards what arrives until the connection ends.
    pub(crate) detached: bool,
}

impl ConnState {
    fn new(established: Option<bool>) -> ConnState {
        ConnState {
            events: VecDeque::new(),
            events_dropped: 0,
            established,
            closed: None,
            read_waker: None,
            write_waker: None,
            event_waker: None,
            write_shut: false,
            listener: None,
            detached: false,
        }
    }

    fn push(&mut self, event: TimedEvent) {
        if self.events.len() == EVENT_QUEUE {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        self.events.push_back(event);
        wake(&mut self.event_waker);
    }

    /// Wakes every task waiting on this connection.
    fn wake_all(&mut self) {
        wake(&mut self.read_waker);
        wake(&mut self.write_waker);
        wake(&mut self.event_waker);
    }
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(w) = waker.take() {
        w.wake();
    }
}

/// A listening address and the connections it accepted that nobody took yet.
#[derive(Debug)]
pub(crate) struct ListenerState {
    pub(crate) addr: SocketAddr,
    pub(crate) queue: VecDeque<ConnectionHandle>,
    pub(crate) backlog: usize,
    pub(crate) waker: Option<Waker>,
    /// Connections refused because the queue was full.
    pub(crate) refused: u64,
    /// The C ABI's listening descriptor, told of each new connection.
    pub(crate) notify: Option<UnixStream>,
}

impl ListenerState {
    fn matches(&self, local: SocketAddr) -> bool {
        self.addr.port() == local.port() && (self.addr.ip().is_unspecified() || self.addr.ip() == local.ip())
    }
}

/// The endpoint and everything the facade keeps about it; behind the runtime's mutex.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) endpoint: Endpoint,
    pub(crate) conns: HashMap<ConnectionHandle, ConnState>,
    pub(crate) listeners: Vec<ListenerState>,
    /// Connections whose data moves through a socketpair (the C ABI and LD_PRELOAD).
    pub(crate) pumps: Vec<Pump>,
    /// Our path addresses.
    pub(crate) locals: Vec<IpAddr>,
    /// Why the I/O thread stopped, if it did.
    pub(crate) failure: Option<String>,
}

impl Core {
    /// Starts tracking a connection the application opened or accepted.
    pub(crate) fn track(&mut self, h: ConnectionHandle) {
        let established = self.endpoint.connection(h).and_then(|c| match c.mode() {
            Mode::Handshake => None,
            Mode::Mptcp => Some(true),
            Mode::Fallback(_) => Some(false),
        });
        self.conns.insert(h, ConnState::new(established));
    }

    /// The application let go of a connection: it finishes sending, then is forgotten.
    pub(crate) fn release(&mut self, h: ConnectionHandle) {
        self.endpoint.with_connection(h, |c| c.shutdown());
        if self.endpoint.connection(h).is_some() {
            if let Some(s) = self.conns.get_mut(&h) {
                s.detached = true;
            }
        } else {
            self.conns.remove(&h);
        }
    }

    /// Routes the endpoint's events; returns whether there were any.
    fn dispatch(&mut self, at: Duration) -> bool {
        let mut any = false;
        while let Some(ev) = self.endpoint.poll_event() {
            any = true;
            match ev {
                Event::Incoming(_) => self.take_incoming(),
                Event::Connection(h, e) => self.on_event(h, e, at),
            }
        }
        any
    }

    /// Takes the endpoint's new connections: each waits, half-open, until its handshake
    /// completes, then joins its listener's accept queue.
    fn take_incoming(&mut self) {
        while let Some(h) = self.endpoint.accept() {
            let local = self.endpoint.connection(h).and_then(|c| c.subflow_addrs().next()).map(|(l, _)| l);
            let Some(addr) = local.and_then(|l| self.listeners.iter().find(|x| x.matches(l))).map(|l| l.addr) else {
                // Nobody listens there any more: refuse it.
                self.endpoint.with_connection(h, |c| c.abort());
                continue;
            };
            self.track(h);
            let s = self.conns.get_mut(&h).expect("tracked");
            if s.established.is_some() {
                self.queue_accepted(addr, h);
            } else {
                s.listener = Some(addr);
            }
        }
    }

    /// Queues an established connection for `accept` on the listener of `addr`, or refuses it
    /// when that listener is gone or its backlog is full.
    fn queue_accepted(&mut self, addr: SocketAddr, h: ConnectionHandle) {
        match self.listeners.iter_mut().find(|l| l.addr == addr) {
            Some(l) if l.queue.len() < l.backlog => {
                l.queue.push_back(h);
                wake(&mut l.waker);
                if let Some(n) = &l.notify {
                    // A full socket buffer already tells the descriptor it is readable.
                    let _ = (&*n).write(&[1]);
                }
            }
            other => {
                if let Some(l) = other {
                    l.refused += 1;
                }
                self.endpoint.with_connection(h, |c| c.abort());
                if let Some(s) = self.conns.get_mut(&h) {
                    s.detached = true;
                }
            }
        }
    }

    fn on_event(&mut self, h: ConnectionHandle, e: ConnEvent, at: Duration) {
        let Some(s) = self.conns.get_mut(&h) else { return };
        match e {
            ConnEvent::Readable => return wake(&mut s.read_waker),
            ConnEvent::Writable => return wake(&mut s.write_waker),
            ConnEvent::Established { mptcp } => {
                s.established = Some(mptcp);
                // Writes (and async connects) wait for the handshake.
                wake(&mut s.write_waker);
            }
            ConnEvent::Closed(reason) => {
                s.closed = Some(reason);
                // Half-open and gone: nobody will ever hold it.
                s.detached |= s.listener.take().is_some();
                wake(&mut s.read_waker);
                wake(&mut s.write_waker);
            }
            _ => {}
        }
        s.push(TimedEvent { at, event: e });
        if let ConnEvent::Established { .. } = e
            && let Some(addr) = s.listener.take()
        {
            self.queue_accepted(addr, h);
        }
    }

    /// Is every connection the application had closed (or forgotten)?
    fn all_closed(&self) -> bool {
        self.conns.keys().all(|h| self.endpoint.connection(*h).is_none_or(|c| c.closed().is_some()))
    }

    /// Discards what arrives on detached connections and forgets them once the endpoint has.
    fn reap(&mut self) {
        let mut scratch = [0u8; 16 * 1024];
        let Core { endpoint, conns, .. } = self;
        conns.retain(|h, s| {
            if !s.detached {
                return true;
            }
            endpoint.with_connection(*h, |c| while c.read(&mut scratch).is_some_and(|n| n > 0) {});
            endpoint.connection(*h).is_some()
        });
    }

    /// Wakes the tasks waiting on connections the endpoint forgot (no event says so), or on
    /// anything at all once the I/O thread stops.
    fn wake_tasks(&mut self, all: bool) {
        let Core { endpoint, conns, listeners, .. } = self;
        for (_, s) in conns.iter_mut().filter(|(h, _)| all || endpoint.connection(**h).is_none()) {
            s.wake_all();
        }
        if all {
            listeners.iter_mut().for_each(|l| wake(&mut l.waker));
        }
    }

    /// The I/O thread stopped for `reason`: every waiting thread and task learns it.
    fn fail(&mut self, reason: String) {
        self.failure.get_or_insert(reason);
        self.wake_tasks(true);
    }
}

/// What the application threads and the I/O thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    core: Mutex<Core>,
    changed: Condvar,
    wake_tx: UnixStream,
    wake_pending: AtomicBool,
    stop: AtomicBool,
    /// No handle is left: run until the connections are closed (at most [`LINGER`]).
    draining: AtomicBool,
    clock: Clock,
}

impl Shared {
    /// Locks the core (a panicked holder left it consistent enough to keep going: every
    /// change under the lock is one endpoint call).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stack's clock now.
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Asks the I/O thread for an iteration soon (to send what the caller changed).
    pub(crate) fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            // A full socket buffer already holds a wake-up.
            let _ = (&self.wake_tx).write(&[0]);
        }
    }

    /// Releases `guard` until the I/O thread reports progress or `deadline` passes; returns
    /// the guard again and whether the deadline passed.
    pub(crate) fn wait<'a>(
        &self,
        guard: MutexGuard<'a, Core>,
        deadline: Option<std::time::Instant>,
    ) -> (MutexGuard<'a, Core>, bool) {
        match deadline {
            None => (self.changed.wait(guard).unwrap_or_else(PoisonError::into_inner), false),
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return (guard, true);
                }
                let (g, r) = self.changed.wait_timeout(guard, left).unwrap_or_else(PoisonError::into_inner);
                (g, r.timed_out() && std::time::Instant::now() >= d)
            }
        }
    }

    /// Repeats `attempt` under the lock until it gives a value, waiting for the I/O thread in
    /// between (at most `timeout`; in `nonblocking` mode not at all: `WouldBlock`). Fails once the
    /// I/O thread stopped.
    pub(crate) fn block_on<T>(
        &self,
        timeout: Option<Duration>,
        nonblocking: bool,
        mut attempt: impl FnMut(&mut Core) -> io::Result<Option<T>>,
    ) -> io::Result<T> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut core = self.lock();
        loop {
            if let Some(f) = &core.failure {
                return Err(stopped(f));
            }
            if let Some(r) = attempt(&mut core)? {
                return Ok(r);
            }
            if nonblocking {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let (c, timed_out) = self.wait(core, deadline);
            core = c;
            if timed_out {
                return Err(io::ErrorKind::TimedOut.into());
            }
        }
    }

    /// Wakes every thread waiting in [`Shared::wait`].
    pub(crate) fn notify(&self) {
        self.changed.notify_all();
    }
}

/// The running stack: the shared state and the I/O thread, stopped when the last handle (the
/// stack, a stream or a listener) goes.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub(crate) shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Runtime {
    /// Starts the I/O thread over `io` for `endpoint`.
    pub(crate) fn start(endpoint: Endpoint, io: PathIo, clock: Clock) -> io::Result<Arc<Runtime>> {
        let (wake_rx, wake_tx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        let locals = io.paths().iter().map(|p| p.local).collect();
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                endpoint,
                conns: HashMap::new(),
                listeners: Vec::new(),
                pumps: Vec::new(),
                locals,
                failure: None,
            }),
            changed: Condvar::new(),
            wake_tx,
            wake_pending: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            clock,
        });
        let for_thread = Arc::clone(&shared);
        let thread =
            std::thread::Builder::new().name("mptcp-io".into()).spawn(move || io_thread(&for_thread, io, wake_rx))?;
        Ok(Arc::new(Runtime { shared, thread: Mutex::new(Some(thread)) }))
    }

    /// Stops the I/O thread now and waits for it.
    pub(crate) fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake_pending.store(false, Ordering::Release);
        self.shared.wake();
        let thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(t) = thread {
            // The thread only returns; a panic in it is already reported on stderr.
            let _ = t.join();
        }
    }
}

impl Drop for Runtime {
    /// The last handle went: like `close(2)` on kernel sockets, the connections still finish
    /// sending what was written (and their DATA_FINs) in the background; the I/O thread ends
    /// once every connection is closed, or after [`LINGER`].
    fn drop(&mut self) {
        self.shared.draining.store(true, Ordering::Release);
        self.shared.wake();
    }
}

/// How long the I/O thread keeps running after the last handle went, for the connections to
/// finish.
const LINGER: Duration = Duration::from_secs(10);

fn io_thread(shared: &Shared, mut io: PathIo, wake_rx: UnixStream) {
    let mut fds = Vec::new();
    let mut linger_until = None;
    loop {
        let mut buf = [0u8; 64];
        while (&wake_rx).read(&mut buf).is_ok_and(|n| n > 0) {}
        shared.wake_pending.store(false, Ordering::Release);
        if shared.draining.load(Ordering::Acquire) {
            let until = *linger_until.get_or_insert_with(|| std::time::Instant::now() + LINGER);
            if shared.lock().all_closed() || std::time::Instant::now() >= until {
                return;
            }
        }
        if shared.stop.load(Ordering::Acquire) {
            shared.lock().fail("the stack was shut down".into());
            shared.notify();
            return;
        }
        let mut core = shared.lock();
        let now = shared.now();
        let at = Duration::from_micros(now.as_micros());
        let result = iteration(&mut core, &mut io, now, at);
        let moved = match result {
            Ok(moved) => moved,
            Err(e) => {
                core.fail(e);
                drop(core);
                shared.notify();
                return;
            }
        };
        fds.clear();
        io.poll_fds(&mut fds);
        fds.push(PollFd::new(wake_rx.as_raw_fd(), false));
        for p in &core.pumps {
            p.poll_fds(&mut fds);
        }
        let wake = [core.endpoint.poll_timeout(), io.next_wake()].into_iter().flatten().min();
        let mut timeout = wake.map(|t| t.saturating_duration_since(now));
        if let Some(until) = linger_until {
            let left = until.saturating_duration_since(std::time::Instant::now());
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        drop(core);
        shared.notify();
        if !moved {
            io.count_poll();
            if let Err(e) = poll(&mut fds, timeout) {
                shared.lock().fail(format!("waiting for the TUN devices failed: {e}"));
                shared.notify();
                return;
            }
        }
    }
}

/// One pass: packets in, timers, socketpairs, packets out, events routed. Returns whether any
/// packet or byte moved (then the thread goes round again without sleeping).
fn iteration(core: &mut Core, io: &mut PathIo, now: Instant, at: Duration) -> Result<bool, String> {
    let mut moved = io.receive(now, &mut core.endpoint, |_| {}).map_err(|e| e.to_string())?;
    if core.endpoint.poll_timeout().is_some_and(|t| t <= now) {
        core.endpoint.handle_timeout(now);
    }
    moved |= crate::pump::run(core);
    moved |= io.transmit(now, &mut core.endpoint, |_| {}).map_err(|e| e.to_string())?;
    moved |= core.dispatch(at);
    core.reap();
    core.wake_tasks(false);
    Ok(moved)
}

/// The error for operations on a stack whose I/O thread stopped.
pub(crate) fn stopped(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, format!("the MPTCP stack stopped: {reason}"))
}
