//! The userspace link emulator in real time: the kernel here has no netem, so delay, jitter,
//! loss, reordering, duplication, rate limits and cuts come from [`crate::link::Link`], the same
//! model the simulator runs, with wall-clock instants instead of virtual ones.
//!
//! An [`Emulator`] holds, per path and per direction ([`Dir`]), a [`Link`] (or nothing: that
//! direction passes through untouched) and a min-heap of the packets it holds until their release
//! instants. It reads no clock: every call takes `now` (the caller's clock, microseconds since
//! its start; tests inject one), so the same stage serves
//!
//! - the stack's own devices ([`crate::path_io::PathIo::set_emulator`]): packets the endpoint
//!   sends and packets read from a path's device pass through that path's links, and the wait in
//!   `ppoll(2)` ends at [`Emulator::next_wake`];
//! - the TUN-to-TUN bridge ([`bridge`]) that carries other traffic — the kernel's MPTCP in
//!   `mptcp bench` — between two namespaces through the same links.
//!
//! A [`Schedule`] changes the links during the run (relative to the `start` given to
//! [`Emulator::new`]); a change takes effect for packets offered from its instant on, as
//! [`Link::set_config`] does. Each link draws from its own seeded generator
//! ([`SimRng::stream`]), so traffic in one direction never changes the fates in another.
//! Design and validation: `docs/emulator.md`.

pub mod bridge;
pub mod schedule;

use mptcp_stack::time::Instant;

use crate::link::{Link, LinkConfig, LinkStats, Verdict};
use crate::sim::SimRng;
use crate::sim::queue::EventQueue;
pub use schedule::{Change, Dir, Schedule, Setting};

/// One emulated direction: its link and its generator.
#[derive(Debug)]
struct Lane {
    link: Link,
    rng: SimRng,
}

/// A packet released by the emulator: deliver it on `path` in direction `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The path's index.
    pub path: usize,
    /// The direction it travels.
    pub dir: Dir,
    /// The packet, unchanged.
    pub packet: Vec<u8>,
}

/// The real-time emulation stage; see the [module documentation](self).
#[derive(Debug)]
pub struct Emulator {
    lanes: Vec<[Option<Lane>; 2]>,
    held: EventQueue<Release>,
    schedule: Schedule,
    next_change: usize,
    start: Instant,
}

impl Emulator {
    /// An emulator over `paths` (per path: the forward and the reverse link, `None` for a
    /// direction that passes through), with `schedule` counted from `start` and the links'
    /// randomness derived from `seed`.
    pub fn new(paths: Vec<[Option<LinkConfig>; 2]>, schedule: Schedule, seed: u64, start: Instant) -> Emulator {
        let lanes = paths
            .into_iter()
            .enumerate()
            .map(|(i, dirs)| {
                let mut k = 0;
                dirs.map(|config| {
                    let stream = 2 * i as u64 + k;
                    k += 1;
                    config.map(|c| Lane { link: Link::new(c), rng: SimRng::stream(seed, stream) })
                })
            })
            .collect();
        Emulator { lanes, held: EventQueue::new(), schedule, next_change: 0, start }
    }

    /// Is direction `dir` of `path` emulated (otherwise its packets pass straight through)?
    pub fn emulates(&self, path: usize, dir: Dir) -> bool {
        self.lane(path, dir).is_some()
    }

    /// Offers `packet` to direction `dir` of `path` at `now` (after applying the changes due by
    /// then); it is held until [`pop_due`](Self::pop_due) releases it, or dropped. A direction
    /// that is not emulated releases it at `now`. Returns whether it was accepted.
    pub fn offer(&mut self, now: Instant, path: usize, dir: Dir, packet: Vec<u8>) -> bool {
        self.advance(now);
        let Some(lane) = self.lanes.get_mut(path).and_then(|l| l[dir.index()].as_mut()) else {
            self.held.push(now, Release { path, dir, packet });
            return true;
        };
        match lane.link.send(now, packet, &mut lane.rng) {
            Verdict::Deliver(d) => {
                if let Some(at) = d.duplicate_at {
                    self.held.push(at, Release { path, dir, packet: d.packet.clone() });
                }
                self.held.push(d.at, Release { path, dir, packet: d.packet });
                true
            }
            Verdict::Drop { .. } => false,
        }
    }

    /// The next packet due by `now`, earliest first (after applying the changes due by then).
    pub fn pop_due(&mut self, now: Instant) -> Option<Release> {
        self.advance(now);
        if self.held.next_at()? > now {
            return None;
        }
        self.held.pop().map(|(_, r)| r)
    }

    /// When something happens next: a packet's release or a scheduled change.
    pub fn next_wake(&self) -> Option<Instant> {
        let change = self.schedule.changes().get(self.next_change).map(|c| self.start + c.at);
        [self.held.next_at(), change].into_iter().flatten().min()
    }

    /// Applies the scheduled changes due by `now`.
    pub fn advance(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start);
        while let Some(change) = self.schedule.changes().get(self.next_change).filter(|c| c.at <= elapsed) {
            for (i, lanes) in self.lanes.iter_mut().enumerate() {
                for dir in Dir::BOTH {
                    if let Some(lane) = lanes[dir.index()].as_mut().filter(|_| change.applies_to(i, dir)) {
                        let mut config = lane.link.config().clone();
                        change.setting.apply(&mut config);
                        lane.link.set_config(config);
                    }
                }
            }
            self.next_change += 1;
        }
    }

    /// The counters of direction `dir` of `path`, if it is emulated.
    pub fn stats(&self, path: usize, dir: Dir) -> Option<&LinkStats> {
        self.lane(path, dir).map(|l| l.link.stats())
    }

    /// The current configuration of direction `dir` of `path`, if it is emulated.
    pub fn config(&self, path: usize, dir: Dir) -> Option<&LinkConfig> {
        self.lane(path, dir).map(|l| l.link.config())
    }

    /// Packets held (not yet released).
    pub fn held(&self) -> usize {
        self.held.len()
    }

    fn lane(&self, path: usize, dir: Dir) -> Option<&Lane> {
        self.lanes.get(path).and_then(|l| l[dir.index()].as_ref())
    }
}

#[cfg(test)]
mod tests;
