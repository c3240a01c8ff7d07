//! A TUN-to-TUN bridge through the emulator: for each path, a device `a` (opened in the client
//! side's namespace) and a device `b` (in the server side's), and every packet the kernel routes
//! into one comes out of the other after its path's [`Link`](crate::link::Link) in that direction
//! ([`Dir::Forward`] is `a` to `b`). `mptcp bench` routes the kernel's MPTCP through it, so the
//! baseline crosses the same emulated links as the stack (`docs/emulator.md`).
//!
//! One thread runs [`Bridge::run`]: read every device (up to a batch each) into the emulator,
//! write what is due, and sleep in `ppoll(2)` until a device is readable, the blocked one
//! writable, the next release or scheduled change, or a [`StopHandle`]. A device that cannot take
//! a packet holds the releases back (no reordering, no silent loss); one that is down (EIO)
//! drops it, like a cut cable.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use super::{Dir, Emulator, Release};
use crate::device::TunDevice;
use crate::event_loop::StopHandle;
use crate::link::LinkStats;
use crate::path_io::{Clock, PollFd, poll};

/// Packets read from one device before the bridge moves on.
const BATCH: usize = 64;

/// The two devices of one path.
#[derive(Debug)]
pub struct BridgePair {
    /// The client side's device (packets read from it travel forward).
    pub a: TunDevice,
    /// The server side's device (packets read from it travel in reverse).
    pub b: TunDevice,
}

impl BridgePair {
    fn from(&self, dir: Dir) -> &TunDevice {
        match dir {
            Dir::Forward => &self.a,
            Dir::Reverse => &self.b,
        }
    }
}

/// Counters of the bridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Packets read from the devices.
    pub packets_in: u64,
    /// Packets written out.
    pub packets_out: u64,
    /// Packets dropped because their outgoing device was down.
    pub dropped_device_down: u64,
}

/// The bridge; see the [module documentation](self).
#[derive(Debug)]
pub struct Bridge {
    pairs: Vec<BridgePair>,
    emulator: Emulator,
    clock: Clock,
    stop_rx: UnixStream,
    stop: StopHandle,
    /// A released packet its device could not take yet.
    blocked: Option<Release>,
    buf: Vec<u8>,
    stats: BridgeStats,
}

impl Bridge {
    /// A bridge over `pairs` (path `i` is `pairs[i]`) through `emulator`, whose instants are
    /// `clock`'s.
    pub fn new(pairs: Vec<BridgePair>, emulator: Emulator, clock: Clock) -> io::Result<Bridge> {
        let (stop, stop_rx) = StopHandle::pair()?;
        let mtu = pairs.iter().flat_map(|p| [p.a.mtu(), p.b.mtu()]).max().unwrap_or(1500);
        let buf = vec![0; mtu.max(65536)];
        Ok(Bridge { pairs, emulator, clock, stop_rx, stop, blocked: None, buf, stats: BridgeStats::default() })
    }

    /// A handle that makes [`run`](Self::run) return, from any thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The counters.
    pub fn stats(&self) -> BridgeStats {
        self.stats
    }

    /// The emulated link of direction `dir` of path `path`, if emulated.
    pub fn link_stats(&self, path: usize, dir: Dir) -> Option<&LinkStats> {
        self.emulator.stats(path, dir)
    }

    /// Forwards until stopped; an error reading, writing or waiting ends it.
    pub fn run(&mut self) -> io::Result<()> {
        let mut fds = Vec::with_capacity(2 * self.pairs.len() + 2);
        loop {
            if StopHandle::requested(&self.stop_rx) {
                return Ok(());
            }
            let now = self.clock.now();
            let mut moved = self.read_all(now)?;
            moved |= self.write_due(now)?;
            if moved {
                continue;
            }
            fds.clear();
            for p in &self.pairs {
                fds.extend([&p.a, &p.b].map(|d| PollFd::new(d.as_raw_fd(), false)));
            }
            if let Some(r) = &self.blocked {
                fds.push(PollFd::new(self.pairs[r.path].from(r.dir.reversed()).as_raw_fd(), true));
            }
            fds.push(PollFd::new(self.stop_rx.as_raw_fd(), false));
            // While a device is full, its POLLOUT ends the wait (the releases queue behind it).
            let wake = self.emulator.next_wake().filter(|_| self.blocked.is_none());
            let timeout = wake.map(|t| t.saturating_duration_since(self.clock.now()));
            poll(&mut fds, timeout)?;
        }
    }

    fn read_all(&mut self, now: mptcp_stack::time::Instant) -> io::Result<bool> {
        let Bridge { pairs, emulator, buf, stats, .. } = self;
        let mut any = false;
        for (i, pair) in pairs.iter().enumerate() {
            for dir in Dir::BOTH {
                let n = pair.from(dir).recv_batch(buf, BATCH, |packet| {
                    emulator.offer(now, i, dir, packet.to_vec());
                })?;
                stats.packets_in += n as u64;
                any |= n > 0;
            }
        }
        Ok(any)
    }

    fn write_due(&mut self, now: mptcp_stack::time::Instant) -> io::Result<bool> {
        let mut any = false;
        while let Some(r) = self.blocked.take().or_else(|| self.emulator.pop_due(now)) {
            let out = self.pairs[r.path].from(r.dir.reversed());
            match out.send(&r.packet) {
                Ok(true) => self.stats.packets_out += 1,
                Ok(false) => {
                    self.blocked = Some(r);
                    return Ok(any);
                }
                Err(e) if e.raw_os_error() == Some(libc::EIO) => self.stats.dropped_device_down += 1,
                Err(e) => return Err(e),
            }
            any = true;
        }
        Ok(any)
    }
}
