//! The longest stall of a stream in a simulated transfer: the longest time its receiver went
//! without new bytes before the end of the stream.

use std::time::Duration;

use mptcp_stack::time::Instant;

/// Follows a receiver's byte count at the steps a test runs the simulator in, and keeps the
/// longest time without progress while the stream was not over.
#[derive(Debug, Clone, Copy)]
pub struct StallWatch {
    last_bytes: u64,
    last_progress: Instant,
    longest: Duration,
}

impl StallWatch {
    /// A watch that starts at `now`, nothing received.
    pub fn new(now: Instant) -> StallWatch {
        StallWatch { last_bytes: 0, last_progress: now, longest: Duration::ZERO }
    }

    /// At `now` the receiver has `bytes`, and with `eof` the end of the stream: new bytes or
    /// the end count as progress; until the end, the time since the last progress is a stall.
    pub fn observe(&mut self, now: Instant, bytes: u64, eof: bool) {
        if bytes > self.last_bytes || eof {
            self.last_bytes = bytes;
            self.last_progress = now;
        }
        if !eof {
            self.longest = self.longest.max(now - self.last_progress);
        }
    }

    /// The longest stall so far.
    pub fn longest(&self) -> Duration {
        self.longest
    }
}
