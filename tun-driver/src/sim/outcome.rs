//! What a run reports: [`RunStats`] when it ends as asked, [`SimError`] when it does not, and
//! the [`Limits`] that turn runaway runs into errors.

use core::fmt;

use mptcp_stack::time::Instant;

use super::path::Side;

/// Bounds that turn a runaway simulation into an error instead of a hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most steps one run may take (a step is one event handled: a delivery, a fired timer
    /// or an action; or one packet transmitted). Exceeding it is [`SimError::StepLimit`].
    pub max_steps: u64,
    /// The most times in a row timers may fire at one instant with no packet transmitted or
    /// delivered in between. Exceeding it is [`SimError::Livelock`].
    pub max_idle_timer_fires: u32,
}

impl Default for Limits {
    /// 20 million steps; 1000 idle timer fires at one instant.
    fn default() -> Limits {
        Limits { max_steps: 20_000_000, max_idle_timer_fires: 1000 }
    }
}

/// What one call of [`Simulator::run_until`](super::Simulator::run_until) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Virtual time when the run started.
    pub started_at: Instant,
    /// Virtual time when it ended.
    pub ended_at: Instant,
    /// Steps taken (see [`Limits::max_steps`]).
    pub steps: u64,
    /// Packets the hosts emitted (routed or not).
    pub transmitted: u64,
    /// Packets emitted that matched no path (or were not IP) and were dropped.
    pub unroutable: u64,
    /// Packets handed to a host (duplicates included).
    pub delivered: u64,
    /// Host timers fired.
    pub timers_fired: u64,
    /// Scheduled actions run.
    pub actions_run: u64,
}

/// Why a run stopped before its stop condition held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimError {
    /// More than [`Limits::max_steps`] steps in one run; virtual time is `at`.
    StepLimit {
        /// Virtual time when the limit was hit.
        at: Instant,
        /// The limit.
        steps: u64,
    },
    /// The next event lies after the run's time limit; time was advanced to the limit.
    TimeLimit {
        /// The limit, now the simulator's time.
        at: Instant,
    },
    /// A host's timer fired more than [`Limits::max_idle_timer_fires`] times in a row at one
    /// instant without any packet being transmitted or delivered: it asks for `now` forever.
    Livelock {
        /// The host whose timer fired last.
        side: Side,
        /// The instant time is stuck at.
        at: Instant,
    },
    /// Nothing is left to happen (no packet in flight, no timer, no action) and the stop
    /// condition does not hold.
    Stalled {
        /// When the network went quiet.
        at: Instant,
    },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::StepLimit { at, steps } => {
                write!(f, "simulation exceeded {steps} steps at t={}us", at.as_micros())
            }
            SimError::TimeLimit { at } => write!(f, "simulation reached its time limit t={}us", at.as_micros()),
            SimError::Livelock { side, at } => {
                write!(f, "host {side:?}'s timer keeps firing at t={}us without progress", at.as_micros())
            }
            SimError::Stalled { at } => {
                write!(f, "simulation went idle at t={}us before its stop condition", at.as_micros())
            }
        }
    }
}

impl std::error::Error for SimError {}
