//! Arbitrary segments into a live multipath connection.
//!
//! Two endpoints (a client and a server with two addresses each, the default `fullmesh` path
//! manager) are joined in memory and exchange data until the connection has its joins up. Then
//! the input is read as a sequence of forged segments, each injected into one side as if it
//! came from the other over one of the connection's 4-tuples (or a made-up one): the fuzzer
//! picks the flags, the sequence and acknowledgment numbers relative to what that 4-tuple last
//! carried, the window, the raw option bytes (any MPTCP option, well formed or not) and the
//! payload. After each, the two endpoints exchange traffic and fire their timers for a while.
//!
//! Nothing may panic (overflow checks and debug assertions are on), and the endpoints must stay
//! responsive: polling ends, timers move forward. Checksums are not verified
//! (`ChecksumMode::Offloaded`), so the forged bytes reach the option parser and the connection.
#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mptcp_stack::connection::path_manager::LocalAddress;
use mptcp_stack::endpoint::{ConnectionHandle, Endpoint, EndpointConfig};
use mptcp_stack::time::Instant;
use mptcp_stack::wire::ChecksumMode;
use rand::SeedableRng;
use rand::rngs::StdRng;

const PORT: u16 = 5000;
/// Packets one side may send in one poll pass before the harness calls it a livelock.
const MAX_BURST: usize = 10_000;

fn addr(side: u8, path: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, path + 1, side + 1))
}

fn endpoint(side: u8, seed: u64) -> Endpoint {
    let mut config = EndpointConfig { checksum_mode: ChecksumMode::Offloaded, ..EndpointConfig::default() };
    config.connection.addresses = (0..2).map(|p| LocalAddress::new(addr(side, p))).collect();
    config.connection.send_buffer = 64 << 10;
    config.connection.recv_buffer = 64 << 10;
    Endpoint::new(config, Box::new(StdRng::seed_from_u64(seed)))
}

/// The pair and what each 4-tuple last carried, per direction: (seq, ack) as sent.
struct Net {
    sides: [Endpoint; 2],
    now: Instant,
    last: HashMap<(SocketAddr, SocketAddr), (u32, u32)>,
    client: ConnectionHandle,
    /// What the client application may still write (keeps each run short).
    to_write: usize,
}

impl Net {
    fn new() -> Net {
        let mut client = endpoint(0, 1);
        let mut server = endpoint(1, 2);
        server.listen(SocketAddr::new(addr(1, 0), PORT));
        let h = client.connect(addr(0, 0), SocketAddr::new(addr(1, 0), PORT)).expect("connect");
        let mut net =
            Net { sides: [client, server], now: Instant::ZERO, last: HashMap::new(), client: h, to_write: 1 << 20 };
        for _ in 0..40 {
            net.step(Duration::from_millis(5));
        }
        net
    }

    /// Moves every packet across (in memory, no loss), lets the applications write and read,
    /// then advances time by `dt` and fires due timers.
    fn step(&mut self, dt: Duration) {
        let mut buf = vec![0u8; 70_000];
        for _ in 0..4 {
            let mut moved = false;
            for from in 0..2 {
                let mut burst = Vec::new();
                while let Some(n) = self.sides[from].poll_transmit(self.now, &mut buf) {
                    burst.push(buf[..n].to_vec());
                    assert!(burst.len() < MAX_BURST, "side {from} sends without end");
                }
                for p in burst {
                    self.note(&p);
                    self.sides[1 - from].handle(self.now, &p);
                    moved = true;
                }
            }
            self.applications();
            if !moved {
                break;
            }
        }
        self.now = self.now + dt;
        for side in &mut self.sides {
            if side.poll_timeout().is_some_and(|t| t <= self.now) {
                side.handle_timeout(self.now);
            }
            let next = side.poll_timeout();
            assert!(next.is_none_or(|t| t > self.now), "a timer stays due after it fired");
        }
    }

    /// The client writes (up to its budget); the server reads whatever its connections have
    /// (the handles it can have made in one run are the first few).
    fn applications(&mut self) {
        let chunk = [0x5au8; 4096];
        let budget = &mut self.to_write;
        let _ = self.sides[0].with_connection(self.client, |c| {
            while *budget > 0 {
                let n = c.write(&chunk[..chunk.len().min(*budget)]);
                if n == 0 {
                    break;
                }
                *budget -= n;
            }
        });
        let mut sink = [0u8; 16384];
        for h in (0..8).map(ConnectionHandle) {
            let _ = self.sides[1].with_connection(h, |c| while c.read(&mut sink).is_some_and(|n| n > 0) {});
        }
    }

    /// Remembers the seq/ack a 4-tuple last carried (IPv4, no IP options here).
    fn note(&mut self, p: &[u8]) {
        if p.len() < 40 || p[0] != 0x45 {
            return;
        }
        let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(p[o], p[o + 1], p[o + 2], p[o + 3]));
        let port = |o: usize| u16::from_be_bytes([p[o], p[o + 1]]);
        let src = SocketAddr::new(ip(12), port(20));
        let dst = SocketAddr::new(ip(16), port(22));
        let word = |o: usize| u32::from_be_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]]);
        self.last.insert((src, dst), (word(24), word(28)));
    }
}

/// One forged segment: `to` side, a 4-tuple (a known one by index, else made up), flags,
/// seq/ack offsets from what that 4-tuple last carried, window, options, payload.
fn forge(net: &Net, input: &mut &[u8]) -> Option<(usize, Vec<u8>)> {
    let take = |input: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        let (head, rest) = input.split_at_checked(n)?;
        *input = rest;
        Some(head.to_vec())
    };
    let h = take(input, 12)?;
    let mut tuples: Vec<_> = net.last.iter().map(|(k, v)| (*k, *v)).collect();
    tuples.sort();
    let ((src, dst), (seq0, ack0)) = match tuples.get(usize::from(h[0] >> 1)) {
        Some(t) => *t,
        None => {
            let (s, d) = (u8::from(h[0] & 1 == 0), u8::from(h[0] & 1 != 0));
            ((SocketAddr::new(addr(s, h[1] & 1), 40000 + u16::from(h[1])), SocketAddr::new(addr(d, 0), PORT)), (0, 0))
        }
    };
    let to = if dst.ip() == addr(0, 0) || dst.ip() == addr(0, 1) { 0 } else { 1 };
    let seq = seq0.wrapping_add(i32::from(i16::from_be_bytes([h[2], h[3]])) as u32);
    let ack = ack0.wrapping_add(i32::from(i16::from_be_bytes([h[4], h[5]])) as u32);
    let flags = h[6];
    let window = u16::from_be_bytes([h[7], h[8]]);
    let opt_len = usize::from(h[9] % 41) & !3;
    let payload_len = usize::from(h[10]) * 8 + usize::from(h[11] % 8);
    let mut options = take(input, opt_len).unwrap_or_else(|| vec![1; opt_len]);
    options.resize(opt_len, 1);
    let payload = take(input, payload_len.min(input.len())).unwrap_or_default();
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else { return None };
    let tcp_len = 20 + opt_len + payload.len();
    let mut p = Vec::with_capacity(20 + tcp_len);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    p.extend_from_slice(&src.port().to_be_bytes());
    p.extend_from_slice(&dst.port().to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ack.to_be_bytes());
    p.push(((20 + opt_len) / 4 << 4) as u8);
    p.push(flags);
    p.extend_from_slice(&window.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]);
    p.extend_from_slice(&options);
    p.extend_from_slice(&payload);
    Some((to, p))
}

fuzz_target!(|data: &[u8]| {
    let mut net = Net::new();
    let mut input = data;
    for _ in 0..16 {
        let Some((to, packet)) = forge(&net, &mut input) else { break };
        net.sides[to].handle(net.now, &packet);
        for _ in 0..4 {
            net.step(Duration::from_millis(50));
        }
    }
    // Let everything settle: retransmissions, timers, the path manager's retries.
    for _ in 0..40 {
        net.step(Duration::from_millis(250));
    }
});
