//! Cross-crate tests of the MPTCP stack live in `tests/`; the data they share (kernel traces,
//! crypto vectors) lives in `data/`. This library holds the helpers the simulator tests share,
//! [`multi_host`] (several connections on one endpoint, every event recorded), and for the tests
//! against the Linux kernel [`netns`], their namespaces, [`interop`], the kernel's sockets and
//! the stack's event loop on either side, and [`socket_api`], for the socket API's.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mptcp_stack::connection::ConnectionStats;
use mptcp_stack::connection::path_manager::LocalAddress;
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_stack::time::Instant;
use mptcp_stack::wire::{ChecksumMode, MptcpOptions, SegmentRepr};
use mptcp_tun_driver::link::LinkConfig;
use mptcp_tun_driver::sim::{EndpointHost, Host, PathConfig, Simulator};
use mptcp_tun_driver::transfer::Role;

pub mod capi;
pub mod interop;
pub mod multi_host;
pub mod netns;
pub mod socket_api;
pub mod stall;
pub mod stepped_host;

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

/// The client: host A, sending `bytes` seeded by `seed` to the server.
pub fn client(config: EndpointConfig, seed: u64, bytes: u64) -> EndpointHost {
    let remote = SocketAddr::new(server_addr(0), PORT);
    EndpointHost::new(config, seed ^ 0xa, Role::Client { local: client_addr(0), remote, bytes, seed }, false)
}

/// The server: host B, reading to the end (and echoing with `echo`).
pub fn server(config: EndpointConfig, seed: u64, echo: bool) -> EndpointHost {
    let listen = SocketAddr::new(server_addr(0), PORT);
    EndpointHost::new(config, seed ^ 0xb, Role::Server { listen }, echo)
}

/// Hosts A and B joined by one path per link config.
pub fn network<A: Host, B: Host>(a: A, b: B, links: &[LinkConfig], seed: u64) -> Simulator<A, B> {
    let mut sim = Simulator::new(a, b, seed);
    for (i, l) in links.iter().enumerate() {
        sim.add_path(PathConfig::symmetric(client_addr(i as u8), server_addr(i as u8), l.clone()));
    }
    sim
}

/// A client (host A) sending `bytes` to a server (host B) over one path per link config.
pub fn transfer_sim(
    links: &[LinkConfig],
    bytes: u64,
    seed: u64,
    client_config: EndpointConfig,
    server_config: EndpointConfig,
    echo: bool,
) -> Simulator<EndpointHost, EndpointHost> {
    network(client(client_config, seed, bytes), server(server_config, seed, echo), links, seed)
}

/// `base` for the client and for the server of a run over `paths` paths: each side knows its
/// address on every path, so the path managers use them all.
pub fn multipath_configs(paths: usize, base: &EndpointConfig) -> (EndpointConfig, EndpointConfig) {
    let with = |addr: fn(u8) -> IpAddr| {
        let mut c = base.clone();
        c.connection.addresses = (0..paths).map(|i| LocalAddress::new(addr(i as u8))).collect();
        c
    };
    (with(client_addr), with(server_addr))
}

/// Payload goodput of a finished transfer in Mbit/s: bytes over the server's time from
/// establishment to the end of the stream.
pub fn goodput_mbps<A: Host + HasEndpoint, B: Host + HasEndpoint>(sim: &Simulator<A, B>) -> f64 {
    let s = sim.b().host().transfer.report();
    let (start, end) = (s.established_at.expect("established"), s.eof_at.expect("end of stream"));
    s.bytes_received as f64 * 8.0 / (secs(end) - secs(start)) / 1e6
}

/// The payload share of a 1500-byte packet with timestamps and a full DSS: what a link can
/// carry as goodput at best (1420 of 1500 bytes).
pub const PAYLOAD_CEILING: f64 = 1420.0 / 1500.0;

/// A simulator host that carries an [`EndpointHost`].
pub trait HasEndpoint {
    /// The endpoint host.
    fn host(&self) -> &EndpointHost;
    /// The endpoint host, mutably.
    fn host_mut(&mut self) -> &mut EndpointHost;
}

impl HasEndpoint for EndpointHost {
    fn host(&self) -> &EndpointHost {
        self
    }
    fn host_mut(&mut self) -> &mut EndpointHost {
        self
    }
}

impl HasEndpoint for Middlebox<EndpointHost> {
    fn host(&self) -> &EndpointHost {
        &self.inner
    }
    fn host_mut(&mut self) -> &mut EndpointHost {
        &mut self.inner
    }
}

/// The stats of a host's connection.
pub fn conn_stats(h: &EndpointHost) -> Option<ConnectionStats> {
    h.transfer.connection().and_then(|c| h.endpoint.connection(c)).map(|c| c.stats())
}

/// Runs until both sides report their connection closed, failing after `limit` of virtual time.
pub fn run_to_close<A, B>(sim: &mut Simulator<A, B>, limit: Duration)
where
    A: Host + HasEndpoint,
    B: Host + HasEndpoint,
{
    let deadline = sim.now() + limit;
    let r = sim.run_until(|a, b, _| a.host().transfer.is_closed() && b.host().transfer.is_closed(), deadline);
    if let Err(e) = r {
        let (a, b) = (sim.a().host(), sim.b().host());
        panic!(
            "simulation did not finish: {e:?}\nclient: {:?}\nserver: {:?}\nclient stats: {:#?}\nserver stats: {:#?}",
            a.transfer.report(),
            b.transfer.report(),
            conn_stats(a),
            conn_stats(b),
        );
    }
}

/// Asserts that everything the client sent arrived intact at the server, and (with echo) back.
pub fn assert_intact<A: Host + HasEndpoint, B: Host + HasEndpoint>(sim: &Simulator<A, B>, bytes: u64, echo: bool) {
    let (c, s) = (sim.a().host().transfer.report(), sim.b().host().transfer.report());
    assert_eq!(c.bytes_sent, bytes, "client sent everything");
    assert_eq!(s.bytes_received, bytes, "server received everything");
    assert_eq!(c.sha256_sent, s.sha256_received, "data intact client to server");
    if echo {
        assert_eq!(c.bytes_received, bytes, "client received the echo");
        assert_eq!(s.sha256_sent, c.sha256_received, "echo intact");
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

/// What a [`Middlebox`] does to one packet a host sends.
#[derive(Debug)]
pub enum Verdict {
    /// Let it through unchanged.
    Pass,
    /// Drop it.
    Drop,
    /// Replace it.
    Rewrite(Vec<u8>),
}

/// Decides the fate of one packet sent at an instant.
pub type Filter = dyn FnMut(Instant, &[u8]) -> Verdict;

/// A host wrapper that inspects every packet its host sends: drops or rewrites them (a lossy
/// or option-stripping middlebox placed right at the host).
pub struct Middlebox<H> {
    /// The wrapped host.
    pub inner: H,
    filter: Box<Filter>,
    /// Packets dropped or rewritten.
    pub touched: u64,
}

impl<H: std::fmt::Debug> std::fmt::Debug for Middlebox<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Middlebox").field("inner", &self.inner).field("touched", &self.touched).finish()
    }
}

impl<H> Middlebox<H> {
    /// Wraps `inner`.
    pub fn new(inner: H, filter: impl FnMut(Instant, &[u8]) -> Verdict + 'static) -> Middlebox<H> {
        Middlebox { inner, filter: Box::new(filter), touched: 0 }
    }
}

impl<H: Host> Host for Middlebox<H> {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.inner.handle_packet(now, packet);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        loop {
            let n = self.inner.poll_transmit(now, buf)?;
            match (self.filter)(now, &buf[..n]) {
                Verdict::Pass => return Some(n),
                Verdict::Drop => self.touched += 1,
                Verdict::Rewrite(p) => {
                    self.touched += 1;
                    buf[..p.len()].copy_from_slice(&p);
                    return Some(p.len());
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }
}

/// Parses a packet the stack sent (it always is valid).
pub fn parse(packet: &[u8]) -> SegmentRepr<'_> {
    SegmentRepr::parse(packet, ChecksumMode::Full).expect("the stack emits valid packets").0
}

/// The same packet without its MPTCP options, checksums recomputed.
pub fn strip_mptcp(packet: &[u8]) -> Vec<u8> {
    let mut seg = parse(packet);
    seg.options.mptcp = MptcpOptions::default();
    let mut out = vec![0; packet.len()];
    let (n, _) = seg.emit(&mut out, ChecksumMode::Full).expect("fits");
    out.truncate(n);
    out
}
