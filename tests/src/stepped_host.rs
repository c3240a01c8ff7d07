//! [`Host`](mptcp_tun_driver::sim::Host) for the tests' own simulator hosts built on one
//! endpoint: [`stepped_endpoint_host!`](crate::stepped_endpoint_host).

/// Implements [`Host`](mptcp_tun_driver::sim::Host) for `$host`, a type with an `endpoint:
/// Endpoint` field and a `fn step(&mut self, now: Instant)` that does its application's work:
/// `step` runs after the endpoint takes each packet or timeout, and before it transmits.
#[macro_export]
macro_rules! stepped_endpoint_host {
    ($host:ty) => {
        impl ::mptcp_tun_driver::sim::Host for $host {
            fn handle_packet(&mut self, now: ::mptcp_stack::time::Instant, packet: &[u8]) {
                self.endpoint.handle(now, packet);
                self.step(now);
            }

            fn poll_transmit(&mut self, now: ::mptcp_stack::time::Instant, buf: &mut [u8]) -> Option<usize> {
                self.step(now);
                self.endpoint.poll_transmit(now, buf)
            }

            fn poll_timeout(&self) -> Option<::mptcp_stack::time::Instant> {
                self.endpoint.poll_timeout()
            }

            fn handle_timeout(&mut self, now: ::mptcp_stack::time::Instant) {
                self.endpoint.handle_timeout(now);
                self.step(now);
            }
        }
    };
}
