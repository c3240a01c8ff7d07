//! Cross-crate tests of the MPTCP stack live in `tests/`; the data they share (kernel traces,
//! crypto vectors) lives in `data/`. This library holds the helpers the simulator tests share.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mptcp_stack::endpoint::EndpointConfig;
use mptcp_stack::time::Instant;
use mptcp_tun_driver::link::LinkConfig;
use mptcp_tun_driver::sim::{EndpointHost, PathConfig, Simulator};
use mptcp_tun_driver::transfer::Role;

/// The client's address on path `i`.
pub fn client_addr(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, i + 1, 1))
}

/// The server's address on path `i`.
pub fn server_addr(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, i + 1, 2))
}

/// The server's listening port.
pub const PORT: u16 = 5000;

/// A client (host A) sending `bytes` to a server (host B) over one path per link config.
pub fn transfer_sim(
    links: &[LinkConfig],
    bytes: u64,
    seed: u64,
    client: EndpointConfig,
    server: EndpointConfig,
    echo: bool,
) -> Simulator<EndpointHost, EndpointHost> {
    let remote = SocketAddr::new(server_addr(0), PORT);
    let a = EndpointHost::new(client, seed ^ 0xa, Role::Client { local: client_addr(0), remote, bytes, seed }, false);
    let b = EndpointHost::new(server, seed ^ 0xb, Role::Server { listen: remote }, echo);
    let mut sim = Simulator::new(a, b, seed);
    for (i, l) in links.iter().enumerate() {
        sim.add_path(PathConfig::symmetric(client_addr(i as u8), server_addr(i as u8), l.clone()));
    }
    sim
}

/// Runs until both sides report their connection closed, failing after `limit` of virtual time.
pub fn run_to_close(sim: &mut Simulator<EndpointHost, EndpointHost>, limit: Duration) {
    let deadline = sim.now() + limit;
    let r = sim.run_until(|a, b, _| a.transfer.is_closed() && b.transfer.is_closed(), deadline);
    if let Err(e) = r {
        panic!(
            "simulation did not finish: {e:?}\nclient: {:?}\nserver: {:?}\nclient stats: {:?}\nserver stats: {:?}",
            sim.a().transfer.report(),
            sim.b().transfer.report(),
            sim.a().transfer.connection().and_then(|h| sim.a().endpoint.connection(h)).map(|c| c.stats()),
            sim.b().transfer.connection().and_then(|h| sim.b().endpoint.connection(h)).map(|c| c.stats()),
        );
    }
}

/// A link of `mbit` Mbit/s with `delay_ms` one-way delay.
pub fn link(mbit: u64, delay_ms: u64) -> LinkConfig {
    LinkConfig::new(Some(mbit * 1_000_000), Duration::from_millis(delay_ms))
}

/// The instant, for readability in assertions.
pub fn secs(i: Instant) -> f64 {
    i.as_micros() as f64 / 1e6
}
