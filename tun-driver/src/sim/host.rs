//! What the simulator drives: the [`Host`] trait.

use mptcp_stack::time::Instant;

/// The largest packet a host may emit: the size of the buffer [`Host::poll_transmit`] gets.
pub const MAX_PACKET: usize = 65535;

/// One end of the simulated network, driven in the sans-IO style of `mptcp-stack`: every input
/// carries `now`, every output is polled.
///
/// The simulator's contract with a host:
///
/// - After every event (a packet handed over, a timer fired, a scheduled action run) and at the
///   start of a run, it calls [`poll_transmit`](Host::poll_transmit) on host A until it returns
///   `None`, then on host B until it returns `None`. Each call yields one whole IP packet
///   (IPv4 or IPv6) written to the front of `buf`, which is [`MAX_PACKET`] bytes long; returning
///   a length larger than `buf` is a bug in the host and panics.
/// - The packet is routed by its IP source and destination onto a path (see the
///   [module documentation](super)); the host picks the path by picking the addresses.
/// - [`poll_timeout`](Host::poll_timeout) is asked before every step; when the earliest event of
///   the whole simulation is this host's deadline, time advances to it (or stays, if the
///   deadline has passed) and [`handle_timeout`](Host::handle_timeout) runs. It is never called
///   before the deadline. A host whose deadline stays at `now` while it makes no progress is
///   reported as [`SimError::Livelock`](super::SimError::Livelock).
/// - `now` never goes backwards.
///
/// # Implementing it for the stack's endpoint
///
/// The stack's endpoint already has this shape (input with `now`, polled output, one timeout),
/// so its implementation is a thin forwarding layer, written in this crate (the trait is local
/// here, so the orphan rule allows `impl Host for mptcp_stack::…::Endpoint` or for a wrapper
/// that also holds the application side). With a stand-in for the endpoint:
///
/// ```
/// use mptcp_stack::time::Instant;
/// use mptcp_tun_driver::sim::Host;
///
/// # struct Transmit { len: usize }
/// # struct Endpoint;
/// # impl Endpoint {
/// #     fn handle(&mut self, _now: Instant, _packet: &[u8]) {}
/// #     fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<Transmit> { None }
/// #     fn poll_timeout(&self) -> Option<Instant> { None }
/// #     fn handle_timeout(&mut self, _now: Instant) {}
/// # }
/// /// An endpoint plus whatever the scenario's application does with its connections.
/// struct SimEndpoint {
///     endpoint: Endpoint,
///     /// e.g. bytes received so far, read in the stop condition of `run_until`.
///     received: u64,
/// }
///
/// impl Host for SimEndpoint {
///     fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
///         // Parse, demultiplex, run the state machines; a malformed packet is dropped and
///         // counted inside the stack, never a panic.
///         self.endpoint.handle(now, packet);
///         // Application step: drain poll_event / read streams, write more data, ...
///     }
///
///     fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
///         // One IP packet per call, emitted straight into the simulator's buffer. Its source
///         // address is the subflow's local address: that picks the path.
///         self.endpoint.poll_transmit(now, buf).map(|t| t.len)
///     }
///
///     fn poll_timeout(&self) -> Option<Instant> {
///         // The single endpoint-wide deadline (retransmission, delayed ACK, keepalive, ...).
///         self.endpoint.poll_timeout()
///     }
///
///     fn handle_timeout(&mut self, now: Instant) {
///         self.endpoint.handle_timeout(now);
///     }
/// }
/// # let _ = SimEndpoint { endpoint: Endpoint, received: 0 }.received;
/// ```
pub trait Host {
    /// An IP packet arrives from the other host at `now`.
    fn handle_packet(&mut self, now: Instant, packet: &[u8]);

    /// The next IP packet to send, written to `buf[..len]`, as `Some(len)`; `None` when there
    /// is nothing to send now.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;

    /// When [`handle_timeout`](Host::handle_timeout) should next run, if ever.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The deadline from [`poll_timeout`](Host::poll_timeout) has been reached.
    fn handle_timeout(&mut self, now: Instant);
}
