//! Events delivered on the connection itself — the paper's "next step" that no kernel offers per
//! socket: subflows established and closed (with the reason), addresses announced and withdrawn
//! by the peer, priority changes, fallback to TCP, the end of the connection.

use std::time::Duration;

pub use mptcp_tun_driver::stack::connection::{CloseReason, ConnEvent, FallbackReason};
pub use mptcp_tun_driver::stack::subflow::SubflowEnd;

/// One connection event and when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedEvent {
    /// Time since the stack started.
    pub at: Duration,
    /// What happened. `Readable` and `Writable` are never delivered: reads and writes tell.
    pub event: ConnEvent,
}
