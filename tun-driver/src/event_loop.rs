//! The event loop over TUN devices: one [`Endpoint`] running one [`Transfer`], one device per
//! path. Packets read from any device go to the endpoint; each packet the endpoint sends goes
//! out of the device of the path whose address is its source address. Time is a monotonic
//! clock (`std::time::Instant`) read as microseconds since the loop was made; the endpoint's
//! timer bounds each wait in `ppoll(2)` on the devices.
//!
//! One iteration: read every device until it has nothing (at most [`LoopConfig::batch`]
//! packets each) handing each packet to the endpoint, fire due timers, let the application
//! move data, then write everything the endpoint has to send. The loop only sleeps when an
//! iteration moved no packet.
//!
//! The loop stops when the caller's condition holds, at a deadline, on SIGINT or SIGTERM (when
//! [`LoopConfig::handle_signals`] is on: the signal writes a byte to a self-pipe the loop
//! polls, so a signal never interrupts anything half-done), or when a [`StopHandle`] is used
//! from another thread. Errors are a [`LoopError`], one line each; nothing panics.

use std::fmt;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mptcp_stack::endpoint::Endpoint;
use mptcp_stack::time::Instant;

use crate::path_io::{Clock, PathIo, PollFd};
pub use crate::path_io::{LoopError, LoopStats, PathDevice, endpoint_config, os_endpoint};
use crate::trace;
use crate::transfer::Transfer;

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// Stop cleanly on SIGINT and SIGTERM (the command line turns this on; tests leave it off
    /// and use a [`StopHandle`]). The handlers stay installed until the loop is dropped.
    pub handle_signals: bool,
    /// How often the progress callback runs.
    pub progress_interval: Duration,
    /// Packets read from one device before the loop moves on (then writes, then reads again).
    pub batch: usize,
    /// Print each packet on stderr (see [`trace`]); defaults to `MPTCP_TUN_TRACE`.
    pub trace: bool,
}

impl Default for LoopConfig {
    fn default() -> LoopConfig {
        LoopConfig {
            handle_signals: false,
            progress_interval: Duration::from_millis(250),
            batch: 64,
            trace: trace::enabled_by_env(),
        }
    }
}

/// Why [`EventLoop::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The caller's condition holds.
    Done,
    /// The deadline passed first.
    Deadline,
    /// SIGINT or SIGTERM (the signal number).
    Signal(i32),
    /// A [`StopHandle`] asked.
    Stopped,
}

/// What the progress callback sees.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Time since the loop was made.
    pub elapsed: Duration,
    /// Bytes the application wrote into the connection so far.
    pub bytes_sent: u64,
    /// Bytes it read so far.
    pub bytes_received: u64,
    /// The connection is established (and whether it speaks MPTCP).
    pub mptcp: Option<bool>,
}

/// Asks a running loop to stop, from any thread.
#[derive(Debug, Clone)]
pub struct StopHandle {
    tx: Arc<UnixStream>,
}

impl StopHandle {
    /// A handle and the non-blocking end it wakes (for loops other than [`EventLoop`]).
    pub(crate) fn pair() -> std::io::Result<(StopHandle, UnixStream)> {
        let (rx, tx) = UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        Ok((StopHandle { tx: Arc::new(tx) }, rx))
    }

    /// Drains `rx` (from [`pair`](Self::pair)); whether a stop was asked.
    pub(crate) fn requested(rx: &UnixStream) -> bool {
        let mut buf = [0u8; 16];
        let mut woken = false;
        while let Ok(n) = (&*rx).read(&mut buf) {
            if n == 0 {
                break;
            }
            woken = true;
        }
        woken
    }

    /// Makes [`EventLoop::run`] return [`StopReason::Stopped`] soon.
    pub fn stop(&self) {
        // A full pipe already holds a wake-up; nothing else can fail in a way that matters.
        let _ = (&*self.tx).write(&[0]);
    }
}

/// The event loop: an endpoint, its application and the devices of its paths.
pub struct EventLoop {
    endpoint: Endpoint,
    transfer: Transfer,
    io: PathIo,
    clock: Clock,
    config: LoopConfig,
    stop_rx: UnixStream,
    stop: StopHandle,
    signal: Arc<AtomicUsize>,
    sig_ids: Vec<signal_hook::SigId>,
    last_progress: Option<Instant>,
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop").field("endpoint", &self.endpoint).field("io", &self.io).finish_non_exhaustive()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        for id in self.sig_ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

impl EventLoop {
    /// A loop over `paths` (at least one, distinct addresses). Nothing runs until
    /// [`start`](Self::start) and [`run`](Self::run).
    pub fn new(
        endpoint: Endpoint,
        transfer: Transfer,
        paths: Vec<PathDevice>,
        config: LoopConfig,
    ) -> Result<EventLoop, LoopError> {
        let clock = Clock::new();
        let io = PathIo::new(paths, config.batch, config.trace.then_some(clock))?;
        let (stop, rx) = StopHandle::pair().map_err(LoopError::Signals)?;
        let mut lp = EventLoop {
            endpoint,
            transfer,
            io,
            clock,
            config,
            stop_rx: rx,
            stop,
            signal: Arc::new(AtomicUsize::new(0)),
            sig_ids: Vec::new(),
            last_progress: None,
        };
        if lp.config.handle_signals {
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                let flag = signal_hook::flag::register_usize(sig, Arc::clone(&lp.signal), sig as usize)
                    .map_err(LoopError::Signals)?;
                lp.sig_ids.push(flag);
                let wake = lp.stop.tx.try_clone().map_err(LoopError::Signals)?;
                lp.sig_ids.push(signal_hook::low_level::pipe::register(sig, wake).map_err(LoopError::Signals)?);
            }
        }
        Ok(lp)
    }

    /// Starts the application: the client connects (from an address that must be a path's),
    /// the server listens (on a path's address, or on any).
    pub fn start(&mut self) -> Result<(), LoopError> {
        if let Some(local) = self.transfer.local_address()
            && !local.is_unspecified()
            && !self.io.is_local(local)
        {
            return Err(LoopError::NotLocal(local));
        }
        self.transfer.start(&mut self.endpoint).map_err(LoopError::Connect)
    }

    /// A handle that stops [`run`](Self::run) from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint, mutably.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// The application.
    pub fn transfer(&self) -> &Transfer {
        &self.transfer
    }

    /// The application, mutably (e.g. to record a time series before [`run`](Self::run)).
    pub fn transfer_mut(&mut self) -> &mut Transfer {
        &mut self.transfer
    }

    /// Replaces the application (a server serving its next connection); returns the old one.
    pub fn replace_transfer(&mut self, transfer: Transfer) -> Transfer {
        std::mem::replace(&mut self.transfer, transfer)
    }

    /// The paths.
    pub fn paths(&self) -> &[PathDevice] {
        self.io.paths()
    }

    /// Puts the link emulator between the endpoint and the devices (see
    /// [`PathIo::set_emulator`]); its instants are this loop's clock ([`now`](Self::now)).
    pub fn set_emulator(&mut self, emulator: crate::emulator::Emulator, outbound: crate::emulator::Dir) {
        self.io.set_emulator(emulator, outbound);
    }

    /// The emulator, if one is set.
    pub fn emulator(&self) -> Option<&crate::emulator::Emulator> {
        self.io.emulator()
    }

    /// Writes every packet read from or written to path `i`'s device to the capture's file `i`
    /// (see [`crate::pcap`]).
    pub fn set_capture(&mut self, capture: crate::pcap::Capture) {
        self.io.set_capture(capture);
    }

    /// Stops capturing; the capture, to [`finish`](crate::pcap::Capture::finish).
    pub fn take_capture(&mut self) -> Option<crate::pcap::Capture> {
        self.io.take_capture()
    }

    /// The loop's counters.
    pub fn stats(&self) -> LoopStats {
        self.io.stats()
    }

    /// The loop's clock now (microseconds since the loop was made).
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Runs until `done` holds for the application, `limit` passes (from now), a signal or a
    /// stop handle stops it, or an error. `progress` runs every
    /// [`LoopConfig::progress_interval`].
    pub fn run(
        &mut self,
        mut done: impl FnMut(&Transfer) -> bool,
        limit: Option<Duration>,
        mut progress: impl FnMut(&Progress),
    ) -> Result<StopReason, LoopError> {
        let deadline = limit.map(|l| self.clock.now() + l);
        loop {
            if let Some(reason) = self.stop_requested() {
                return Ok(reason);
            }
            let now = self.clock.now();
            let EventLoop { io, endpoint, transfer, .. } = self;
            let mut moved = io.receive(now, endpoint, |e| transfer.step(now, e))?;
            if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                self.endpoint.handle_timeout(now);
            }
            self.transfer.step(now, &mut self.endpoint);
            let EventLoop { io, endpoint, transfer, .. } = self;
            moved |= io.transmit(now, endpoint, |e| transfer.step(now, e))?;
            if done(&self.transfer) {
                return Ok(StopReason::Done);
            }
            if deadline.is_some_and(|d| now >= d) {
                return Ok(StopReason::Deadline);
            }
            if self.last_progress.is_none_or(|t| now.saturating_duration_since(t) >= self.config.progress_interval) {
                self.last_progress = Some(now);
                progress(&self.progress(now));
            }
            if !moved {
                self.wait(now, deadline)?;
            }
        }
    }

    fn progress(&self, now: Instant) -> Progress {
        let r = self.transfer.report();
        Progress {
            elapsed: Duration::from_micros(now.as_micros()),
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            mptcp: r.mptcp,
        }
    }

    fn stop_requested(&mut self) -> Option<StopReason> {
        let woken = StopHandle::requested(&self.stop_rx);
        match self.signal.swap(0, Ordering::SeqCst) {
            0 if woken => Some(StopReason::Stopped),
            0 => None,
            sig => Some(StopReason::Signal(sig as i32)),
        }
    }

    /// Sleeps until a device is readable (or the blocked one writable), the endpoint's timer,
    /// the next progress report, the deadline, or a stop request.
    fn wait(&mut self, now: Instant, deadline: Option<Instant>) -> Result<(), LoopError> {
        let progress_at = self.last_progress.map(|t| t + self.config.progress_interval);
        let sample_at = self.transfer.next_sample_at();
        let wake = [self.endpoint.poll_timeout(), self.io.next_wake(), sample_at, progress_at, deadline]
            .into_iter()
            .flatten()
            .min();
        let timeout = wake.map(|t| t.saturating_duration_since(now));
        let mut fds = Vec::with_capacity(self.io.paths().len() + 2);
        self.io.poll_fds(&mut fds);
        fds.push(PollFd::new(self.stop_rx.as_raw_fd(), false));
        self.io.count_poll();
        crate::path_io::poll(&mut fds, timeout).map_err(LoopError::Poll)?;
        Ok(())
    }
}
