//! An [`Endpoint`] running a [`Transfer`], as a simulator [`Host`].

use mptcp_stack::endpoint::{Endpoint, EndpointConfig};
use mptcp_stack::time::Instant;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::Host;
use crate::transfer::{Role, Transfer};

/// A stack endpoint with a bulk-transfer application on top.
#[derive(Debug)]
pub struct EndpointHost {
    /// The stack.
    pub endpoint: Endpoint,
    /// The application.
    pub transfer: Transfer,
}

impl EndpointHost {
    /// An endpoint seeded with `seed` (keys, ISNs: deterministic, for simulation only) running
    /// `role`.
    pub fn new(config: EndpointConfig, seed: u64, role: Role, echo: bool) -> EndpointHost {
        let rng = Box::new(StdRng::seed_from_u64(seed));
        let mut endpoint = Endpoint::new(config, rng);
        let mut transfer = Transfer::new(role, echo);
        transfer.start(&mut endpoint).expect("a fresh endpoint can open one connection");
        EndpointHost { endpoint, transfer }
    }
}

impl Host for EndpointHost {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.endpoint.handle(now, packet);
        self.transfer.step(now, &mut self.endpoint);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.transfer.step(now, &mut self.endpoint);
        self.endpoint.poll_transmit(now, buf)
    }

    /// The endpoint's timer, or the transfer's next sample if that comes first (so that a
    /// time series is sampled on its grid in virtual time).
    fn poll_timeout(&self) -> Option<Instant> {
        [self.endpoint.poll_timeout(), self.transfer.next_sample_at()].into_iter().flatten().min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.transfer.step(now, &mut self.endpoint);
    }
}
