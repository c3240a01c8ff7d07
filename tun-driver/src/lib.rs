//! Runs the sans-IO `mptcp-stack` over Linux TUN devices: one device per path, the event loop,
//! the monotonic clock, TUN offloads and the userspace link emulator.
//!
//! This layer depends on `mptcp-stack` only; the socket facade (`mptcp-socket-api`) depends on
//! it. It is filled in by the TUN-driver issue; for now it only fixes its place in the
//! dependency graph (see `docs/architecture.md`).
//!
//! Modules so far:
//!
//! - [`link`] — the pure model of one direction of one path (rate, delay, jitter, loss, bursty
//!   loss, reordering, duplication, a drop-tail queue, blackholing), deciding each packet's fate
//!   with an injected random generator. The simulator uses it; so will the TUN link emulator.
//! - [`sim`] — a deterministic, virtual-time, in-memory network: two [`sim::Host`]s joined by
//!   any number of paths, each a pair of [`link::Link`]s. The default backend of `mptcp sim` and
//!   of the end-to-end tests.
#![forbid(unsafe_code)]

/// The protocol core this driver runs, for the layers above (they reach it only through here).
pub use mptcp_stack as stack;

pub mod link;
pub mod sim;
pub mod transfer;
