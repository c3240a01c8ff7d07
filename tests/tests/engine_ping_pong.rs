//! Ping-pong of small messages: each round trip costs one RTT, never a delayed-ACK timeout.

use std::net::SocketAddr;
use std::time::Duration;

use mptcp_stack::connection::ConnEvent;
use mptcp_stack::endpoint::{ConnectionHandle, Endpoint, EndpointConfig, Event};
use mptcp_stack::time::Instant;
use mptcp_tests::{PORT, client_addr, link, network, server, server_addr};
use rand::SeedableRng;
use rand::rngs::StdRng;

const ROUNDS: usize = 200;
const MESSAGE: usize = 120;

/// Sends a message, waits for all of it to come back, and repeats.
#[derive(Debug)]
struct PingClient {
    endpoint: Endpoint,
    conn: ConnectionHandle,
    established: Option<Instant>,
    rounds: usize,
    outstanding: usize,
    finished: Option<Instant>,
    echoed: Vec<u8>,
    sent: Vec<u8>,
}

impl PingClient {
    fn new() -> PingClient {
        let mut endpoint = Endpoint::new(EndpointConfig::default(), Box::new(StdRng::seed_from_u64(31)));
        let conn = endpoint.connect(client_addr(0), SocketAddr::new(server_addr(0), PORT)).expect("connect");
        PingClient {
            endpoint,
            conn,
            established: None,
            rounds: 0,
            outstanding: 0,
            finished: None,
            echoed: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn step(&mut self, now: Instant) {
        while let Some(e) = self.endpoint.poll_event() {
            if let Event::Connection(_, ConnEvent::Established { .. }) = e {
                self.established = Some(now);
            }
        }
        let mut buf = [0u8; 4096];
        while let Some(n) = self.endpoint.with_connection(self.conn, |c| c.read(&mut buf)).flatten() {
            if n == 0 {
                break;
            }
            self.echoed.extend_from_slice(&buf[..n]);
            self.outstanding -= n;
        }
        if self.established.is_some() && self.outstanding == 0 && self.finished.is_none() {
            if self.rounds == ROUNDS {
                self.finished = Some(now);
                self.endpoint.with_connection(self.conn, |c| c.shutdown());
                return;
            }
            let msg: Vec<u8> = (0..MESSAGE).map(|i| (i + self.rounds) as u8).collect();
            let n = self.endpoint.with_connection(self.conn, |c| c.write(&msg)).unwrap_or(0);
            assert_eq!(n, MESSAGE);
            self.sent.extend_from_slice(&msg);
            self.outstanding = MESSAGE;
            self.rounds += 1;
        }
    }
}

mptcp_tests::stepped_endpoint_host!(PingClient);

#[test]
fn ping_pong_of_small_messages_costs_one_rtt_per_round() {
    let mut sim = network(PingClient::new(), server(EndpointConfig::default(), 31, true), &[link(100, 10)], 31);
    sim.run_until(|a, _, _| a.finished.is_some(), Instant::from_millis(60_000)).expect("finishes");
    let a = sim.a();
    assert_eq!(a.echoed, a.sent, "every message came back intact");
    assert_eq!(a.rounds, ROUNDS);
    let per_round = (a.finished.unwrap() - a.established.unwrap()) / ROUNDS as u32;
    // 20 ms RTT plus serialization; a delayed ACK in the loop would add 40 ms.
    assert!(per_round < Duration::from_millis(22), "{per_round:?} per round");
    assert!(per_round >= Duration::from_millis(20), "{per_round:?} per round is faster than light");
}
