//! The [`Simulator`]: two hosts, their paths, the event queue and the run loop.

use core::fmt;
use core::time::Duration;

use mptcp_stack::time::Instant;

use crate::link::{LinkStats, Verdict};
use crate::pcap::Capture;

use super::action::Action;
use super::host::{Host, MAX_PACKET};
use super::outcome::{Limits, RunStats, SimError};
use super::path::{Direction, Path, PathConfig, Side};
use super::queue::EventQueue;
use super::route;

#[derive(Debug)]
enum Event {
    Deliver { to: Side, packet: Vec<u8> },
    Act(Action),
}

/// What comes next: the head of the queue, or a host's timer.
#[derive(Debug, Clone, Copy)]
enum Next {
    Queued,
    Timer(Side),
}

/// How a run ends when nothing is left to do, or when the next event is past the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Only the stop condition ends it well.
    Until,
    /// Running out of events ends it well.
    Idle,
    /// Reaching the limit (or running out of events) ends it well, at the limit.
    To,
}

/// Two hosts joined by paths, in virtual time; see the [module documentation](super).
pub struct Simulator<A, B> {
    a: A,
    b: B,
    now: Instant,
    seed: u64,
    paths: Vec<Path>,
    queue: EventQueue<Event>,
    limits: Limits,
    unroutable: [u64; 2],
    buf: Vec<u8>,
    /// A pcap file per path: every packet as it enters the path.
    capture: Option<Capture>,
}

impl<A: Host, B: Host> Simulator<A, B> {
    /// A simulation of `a` and `b` with no paths yet, at [`Instant::ZERO`], whose randomness
    /// all derives from `seed`.
    pub fn new(a: A, b: B, seed: u64) -> Simulator<A, B> {
        Simulator {
            a,
            b,
            now: Instant::ZERO,
            seed,
            paths: Vec::new(),
            queue: EventQueue::new(),
            limits: Limits::default(),
            unroutable: [0; 2],
            buf: vec![0; MAX_PACKET],
            capture: None,
        }
    }

    /// Adds a path and returns its index (0, 1, ...). Its links draw from the random stream
    /// `(seed, index)`, so adding a path never changes the randomness of the others.
    pub fn add_path(&mut self, config: PathConfig) -> usize {
        let index = self.paths.len();
        self.paths.push(Path::new(config, self.seed, index));
        index
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Host A.
    pub fn a(&self) -> &A {
        &self.a
    }

    /// Host A, mutably (e.g. to make it open a connection between runs).
    pub fn a_mut(&mut self) -> &mut A {
        &mut self.a
    }

    /// Host B.
    pub fn b(&self) -> &B {
        &self.b
    }

    /// Host B, mutably.
    pub fn b_mut(&mut self) -> &mut B {
        &mut self.b
    }

    /// Ends the simulation, returning the hosts.
    pub fn into_hosts(self) -> (A, B) {
        (self.a, self.b)
    }

    /// All paths, by index.
    pub fn paths(&self) -> &[Path] {
        &self.paths
    }

    /// One path. Panics if there is no such path.
    pub fn path(&self, index: usize) -> &Path {
        &self.paths[index]
    }

    /// One path, mutably: changes to its links apply at once. Panics if there is no such path.
    pub fn path_mut(&mut self, index: usize) -> &mut Path {
        &mut self.paths[index]
    }

    /// The counters of one direction of one path. Panics if there is no such path.
    pub fn link_stats(&self, path: usize, direction: Direction) -> &LinkStats {
        self.paths[path].stats(direction)
    }

    /// Packets `side` emitted that matched no path (or were not IP), since the start.
    pub fn unroutable(&self, side: Side) -> u64 {
        self.unroutable[side_index(side)]
    }

    /// Events waiting in the queue (packets in flight and scheduled actions).
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }

    /// Records every packet entering path `i` (either direction, before its link decides its
    /// fate) in the capture's file `i`, stamped with virtual time.
    pub fn set_capture(&mut self, capture: Capture) {
        self.capture = Some(capture);
    }

    /// Stops capturing; the capture, to [`finish`](Capture::finish).
    pub fn take_capture(&mut self) -> Option<Capture> {
        self.capture.take()
    }

    /// The runaway bounds.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Replaces the runaway bounds.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Runs `action` at `at` (at the current time if `at` has passed), after the events already
    /// scheduled for that instant and before the hosts' timers due then.
    ///
    /// # Panics
    ///
    /// If the action names a path that does not exist (yet).
    pub fn schedule(&mut self, at: Instant, action: Action) {
        if let Action::SetBlackhole { path, .. } | Action::SetConfig { path, .. } = action {
            assert!(path < self.paths.len(), "action on path {path}, but there are {} paths", self.paths.len());
        }
        self.queue.push(at.max(self.now), Event::Act(action));
    }

    /// Runs until `stop(a, b, now)` holds, checked after every step once the hosts have
    /// transmitted everything (and once before the first step).
    ///
    /// Events due at `limit` still run; if the next one is later, time is set to `limit` and
    /// the run fails with [`SimError::TimeLimit`]. It also fails with [`SimError::Stalled`] when
    /// nothing is left to happen, and with [`SimError::StepLimit`] or [`SimError::Livelock`] (see
    /// [`Limits`]). The simulation can be continued after any of these.
    ///
    /// # Panics
    ///
    /// If a host's [`Host::poll_transmit`] returns a length larger than its buffer.
    pub fn run_until(
        &mut self,
        stop: impl FnMut(&A, &B, Instant) -> bool,
        limit: Instant,
    ) -> Result<RunStats, SimError> {
        self.run(stop, limit, Mode::Until)
    }

    /// Runs until nothing is left to happen: no packet in flight, no scheduled action and no
    /// host timer. Fails like [`run_until`](Self::run_until), but running out of events is
    /// success.
    pub fn run_until_idle(&mut self, limit: Instant) -> Result<RunStats, SimError> {
        self.run(|_, _, _| false, limit, Mode::Idle)
    }

    /// Runs every event due up to and including `at`, then sets the time to `at` (if later).
    /// Fails only with [`SimError::StepLimit`] or [`SimError::Livelock`].
    pub fn run_to(&mut self, at: Instant) -> Result<RunStats, SimError> {
        self.run(|_, _, _| false, at, Mode::To)
    }

    /// [`run_to`](Self::run_to) `now + duration`.
    pub fn run_for(&mut self, duration: Duration) -> Result<RunStats, SimError> {
        self.run_to(self.now + duration)
    }

    fn run(
        &mut self,
        mut stop: impl FnMut(&A, &B, Instant) -> bool,
        limit: Instant,
        mode: Mode,
    ) -> Result<RunStats, SimError> {
        let mut run = RunStats { started_at: self.now, ended_at: self.now, ..RunStats::default() };
        // Timer fires in a row at this instant with no packet transmitted or delivered.
        let mut idle_fires = 0u32;
        loop {
            if self.transmit_all(&mut run)? > 0 {
                idle_fires = 0;
            }
            run.ended_at = self.now;
            if stop(&self.a, &self.b, self.now) {
                return Ok(run);
            }
            let next = self.next_event().filter(|&(at, _)| at <= limit);
            let Some((at, next)) = next else {
                let idle = self.next_event().is_none();
                if mode == Mode::Until && idle {
                    return Err(SimError::Stalled { at: self.now });
                }
                if mode == Mode::Idle && idle {
                    return Ok(run);
                }
                self.now = self.now.max(limit);
                run.ended_at = self.now;
                return if mode == Mode::To { Ok(run) } else { Err(SimError::TimeLimit { at: self.now }) };
            };
            self.step(&mut run)?;
            if at > self.now {
                self.now = at;
                idle_fires = 0;
            }
            match next {
                Next::Queued => match self.queue.pop().map(|(_, event)| event) {
                    Some(Event::Deliver { to, packet }) => {
                        run.delivered += 1;
                        idle_fires = 0;
                        match to {
                            Side::A => self.a.handle_packet(self.now, &packet),
                            Side::B => self.b.handle_packet(self.now, &packet),
                        }
                    }
                    Some(Event::Act(action)) => {
                        run.actions_run += 1;
                        action.apply(self.now, &mut self.paths);
                    }
                    None => unreachable!("next_event saw a queued event"),
                },
                Next::Timer(side) => {
                    idle_fires += 1;
                    if idle_fires > self.limits.max_idle_timer_fires {
                        return Err(SimError::Livelock { side, at: self.now });
                    }
                    run.timers_fired += 1;
                    match side {
                        Side::A => self.a.handle_timeout(self.now),
                        Side::B => self.b.handle_timeout(self.now),
                    }
                }
            }
        }
    }

    /// Counts one step against the limit.
    fn step(&self, run: &mut RunStats) -> Result<(), SimError> {
        run.steps += 1;
        if run.steps > self.limits.max_steps {
            return Err(SimError::StepLimit { at: self.now, steps: self.limits.max_steps });
        }
        Ok(())
    }

    /// The earliest of the queue's head and the hosts' deadlines (a passed deadline counts as
    /// now). Ties go to the queue, then host A, then host B.
    fn next_event(&self) -> Option<(Instant, Next)> {
        let mut best = self.queue.next_at().map(|at| (at, Next::Queued));
        let timers = [(Side::A, self.a.poll_timeout()), (Side::B, self.b.poll_timeout())];
        for (side, deadline) in timers {
            if let Some(at) = deadline.map(|t| t.max(self.now)) {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, Next::Timer(side)));
                }
            }
        }
        best
    }

    /// Polls A, then B, until each has nothing to send, putting each packet on its path.
    /// Returns how many packets were emitted.
    fn transmit_all(&mut self, run: &mut RunStats) -> Result<u64, SimError> {
        let mut count = 0;
        for side in [Side::A, Side::B] {
            loop {
                let host: &mut dyn Host = match side {
                    Side::A => &mut self.a,
                    Side::B => &mut self.b,
                };
                let Some(len) = host.poll_transmit(self.now, &mut self.buf) else {
                    break;
                };
                assert!(len <= self.buf.len(), "host {side:?} returned {len} bytes from a {MAX_PACKET}-byte buffer");
                self.step(run)?;
                count += 1;
                run.transmitted += 1;
                let packet = self.buf[..len].to_vec();
                if !self.send(side, packet) {
                    run.unroutable += 1;
                    self.unroutable[side_index(side)] += 1;
                }
            }
        }
        Ok(count)
    }

    /// Routes a packet from `from` onto its path's link; false if no path carries it.
    fn send(&mut self, from: Side, packet: Vec<u8>) -> bool {
        let Some((src, dst)) = route::addresses(&packet) else {
            return false;
        };
        let exact = self.paths.iter().position(|p| p.carries(from, src, dst));
        let crossed = || {
            let known = self.paths.iter().any(|p| p.reaches(from, dst));
            self.paths.iter().position(|p| p.leaves_from(from, src)).filter(|_| known)
        };
        let Some(i) = exact.or_else(crossed) else {
            return false;
        };
        if let Some(c) = &mut self.capture {
            c.record(i, self.now, &packet);
        }
        let path = &mut self.paths[i];
        let (link, rng) = path.link_and_rng(Direction::from_sender(from));
        let to = match from {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        if let Verdict::Deliver(delivery) = link.send(self.now, packet, rng) {
            if let Some(at) = delivery.duplicate_at {
                self.queue.push(delivery.at, Event::Deliver { to, packet: delivery.packet.clone() });
                self.queue.push(at, Event::Deliver { to, packet: delivery.packet });
            } else {
                self.queue.push(delivery.at, Event::Deliver { to, packet: delivery.packet });
            }
        }
        true
    }
}

impl<A: fmt::Debug, B: fmt::Debug> fmt::Debug for Simulator<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("now", &self.now)
            .field("seed", &self.seed)
            .field("a", &self.a)
            .field("b", &self.b)
            .field("paths", &self.paths)
            .field("pending_events", &self.queue.len())
            .field("limits", &self.limits)
            .field("unroutable", &self.unroutable)
            .field("capture", &self.capture)
            .finish_non_exhaustive()
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}
