//! A deterministic, virtual-time, in-memory network between two hosts.
//!
//! The default backend of `mptcp sim` and of the end-to-end tests: the stack's endpoints run
//! against each other over emulated paths, with no device, no thread and no real clock, so a
//! run is fast, exactly repeatable, and can be pushed through loss, reordering and outages.
//!
//! # Topology
//!
//! Two [`Host`]s, A and B, joined by any number of paths ([`Simulator::add_path`]). A path has
//! an address pair (A's address, B's address) and one [`Link`](crate::link::Link) per
//! [`Direction`], each with its own [`LinkConfig`](crate::link::LinkConfig): rate, delay,
//! jitter, loss, bursty loss, reordering, duplication, queue limit, blackhole (see
//! [`crate::link`] for the model).
//!
//! # Routing
//!
//! A packet emitted by A travels on the first path whose A address is the packet's IP source and
//! whose B address is its destination; a packet from B on the first path whose B address is its
//! source and A address its destination. A crossed packet — from one path's address to another
//! path's far-side address, as MPTCP's full mesh of subflows sends — leaves on the path of its
//! source address, as it would leave by the interface that owns that address and be routed to
//! its destination (so a crossed subflow's two directions use different paths). The addresses
//! are read from the IPv4 or IPv6 header (version nibble, then the fixed offsets). A packet that
//! is not IP, or whose addresses no path has, is dropped and counted as unroutable
//! ([`Simulator::unroutable`], [`RunStats::unroutable`]).
//!
//! # Virtual time and the run loop
//!
//! Time starts at [`Instant::ZERO`](mptcp_stack::time::Instant::ZERO) and only moves when the
//! loop advances it to the next event. Events are packet deliveries (decided by the link when
//! the packet is sent), scheduled [`Action`]s, and the hosts' timers. Deliveries and actions sit
//! in one queue ordered by `(instant, insertion sequence)`, so events at one instant run in the
//! order they were scheduled; host timers are not queued but asked of
//! [`Host::poll_timeout`] before every step, so a deadline that moves is never stale.
//!
//! Each run repeats:
//!
//! 1. drain transmissions: [`Host::poll_transmit`] on A until `None`, then on B until `None`;
//!    each packet is routed and handed to its link, which drops it or queues its delivery;
//! 2. check the stop condition;
//! 3. take the earliest event — at equal instants the queue (deliveries and actions, FIFO) comes
//!    first, then A's timer, then B's; a deadline already passed counts as now — advance time to
//!    it and run it: hand the packet to its host, apply the action, or call
//!    [`Host::handle_timeout`].
//!
//! So an action scheduled at `t` acts before a packet a host sends from its timer at `t`: a
//! blackhole from `t1` to `t2` drops exactly the packets sent in `[t1, t2)`.
//!
//! # Ending a run
//!
//! [`Simulator::run_until`] stops when its condition holds; [`Simulator::run_until_idle`] when
//! nothing is left to happen; [`Simulator::run_to`] / [`Simulator::run_for`] at an instant. They
//! fail with a [`SimError`] instead of hanging:
//!
//! - [`SimError::TimeLimit`]: the next event is after the limit (time is set to the limit);
//! - [`SimError::Stalled`]: nothing left to happen, stop condition false (`run_until` only);
//! - [`SimError::StepLimit`]: more than [`Limits::max_steps`] steps (deliveries, timers, actions
//!   and transmitted packets) in one run — a livelock that still makes "progress", such as a
//!   host sending a packet from a timer that is always due now;
//! - [`SimError::Livelock`]: more than [`Limits::max_idle_timer_fires`] timer firings in a row at
//!   one instant with no packet transmitted or delivered — a host whose deadline is always now.
//!
//! A failed run leaves the simulation consistent; it may be continued.
//!
//! # Determinism
//!
//! All randomness comes from the seed given to [`Simulator::new`]: each link draws from its own
//! [`SimRng`] stream (xoshiro256++ seeded through SplitMix64, implemented here so that a seed
//! replays identically across `rand` releases, unlike `StdRng`). Nothing iterates a hash map or
//! reads a clock, so the same hosts, paths, actions and seed give the same run, packet for packet
//! and microsecond for microsecond; hosts must be deterministic themselves (e.g. a seeded
//! generator for the stack's keys).

mod action;
mod endpoint_host;
mod host;
mod outcome;
mod path;
pub(crate) mod queue;
mod rng;
mod route;
mod simulator;

pub use action::{Action, PathsFn};
pub use endpoint_host::EndpointHost;
pub use host::{Host, MAX_PACKET};
pub use outcome::{Limits, RunStats, SimError};
pub use path::{Direction, Path, PathConfig, Side};
pub use rng::SimRng;
pub use simulator::Simulator;
