//! Toy hosts for the simulator tests: numbered packets sent on a schedule, arrivals logged
//! with their times, optional echo, and a host whose timer is always due.
// Shared by the test crates as `mod common`: `pub` is for them, and not every test uses all.
#![allow(dead_code, unreachable_pub)]

use core::net::IpAddr;
use core::time::Duration;
use std::collections::VecDeque;

use mptcp_stack::time::Instant;
use mptcp_tun_driver::sim::Host;

/// IP protocol number for experiments (RFC 3692).
const PROTO: u8 = 253;

/// An IP packet of exactly `size` bytes from `src` to `dst` whose payload starts with `flow`
/// (u16) and `seq` (u32), big-endian.
pub fn packet(src: IpAddr, dst: IpAddr, flow: u16, seq: u32, size: usize) -> Vec<u8> {
    let header = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0u8; 20];
            h[0] = 0x45;
            h[2..4].copy_from_slice(&(size as u16).to_be_bytes());
            h[8] = 64;
            h[9] = PROTO;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0u8; 40];
            h[0] = 0x60;
            h[4..6].copy_from_slice(&((size - 40) as u16).to_be_bytes());
            h[6] = PROTO;
            h[7] = 64;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            h
        }
        _ => panic!("mixed address families"),
    };
    let mut p = header;
    p.extend_from_slice(&flow.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    assert!(p.len() <= size, "packet size {size} too small");
    p.resize(size, 0);
    p
}

/// Reads back what [`packet`] wrote: (src, dst, flow, seq).
pub fn parse(p: &[u8]) -> (IpAddr, IpAddr, u16, u32) {
    let (src, dst, off): (IpAddr, IpAddr, usize) = match p[0] >> 4 {
        4 => (<[u8; 4]>::try_from(&p[12..16]).unwrap().into(), <[u8; 4]>::try_from(&p[16..20]).unwrap().into(), 20),
        6 => (<[u8; 16]>::try_from(&p[8..24]).unwrap().into(), <[u8; 16]>::try_from(&p[24..40]).unwrap().into(), 40),
        v => panic!("not IP: version {v}"),
    };
    let flow = u16::from_be_bytes(p[off..off + 2].try_into().unwrap());
    let seq = u32::from_be_bytes(p[off + 2..off + 6].try_into().unwrap());
    (src, dst, flow, seq)
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// `count` packets of `size` bytes from `src` to `dst`, the i-th at `start + i * interval`.
#[derive(Debug, Clone)]
pub struct Flow {
    pub id: u16,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub size: usize,
    pub count: u32,
    pub start: Instant,
    pub interval: Duration,
}

impl Flow {
    pub fn new(id: u16, src: &str, dst: &str, count: u32, start: Instant, interval: Duration) -> Flow {
        Flow { id, src: ip(src), dst: ip(dst), size: 100, count, start, interval }
    }

    pub fn size(mut self, size: usize) -> Flow {
        self.size = size;
        self
    }

    /// When packet `seq` is sent.
    pub fn send_time(&self, seq: u32) -> Instant {
        self.start + self.interval * seq
    }
}

/// One logged arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub at: Instant,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub flow: u16,
    pub seq: u32,
    pub len: usize,
}

/// Sends its flows on schedule, logs every arrival, optionally echoes each arrival back with
/// the addresses swapped (same flow, seq and size).
#[derive(Debug, Default)]
pub struct Toy {
    flows: Vec<(Flow, u32)>,
    pub echo: bool,
    pub arrivals: Vec<Arrival>,
    /// Raw packets to send before the flows' (for routing tests).
    pub outbox: VecDeque<Vec<u8>>,
    pub timers_fired: u32,
}

impl Toy {
    pub fn sender(flows: Vec<Flow>) -> Toy {
        Toy { flows: flows.into_iter().map(|f| (f, 0)).collect(), ..Toy::default() }
    }

    pub fn receiver() -> Toy {
        Toy::default()
    }

    pub fn echo() -> Toy {
        Toy { echo: true, ..Toy::default() }
    }

    pub fn seqs(&self) -> Vec<u32> {
        self.arrivals.iter().map(|a| a.seq).collect()
    }
}

impl Host for Toy {
    fn handle_packet(&mut self, now: Instant, p: &[u8]) {
        let (src, dst, flow, seq) = parse(p);
        self.arrivals.push(Arrival { at: now, src, dst, flow, seq, len: p.len() });
        if self.echo {
            self.outbox.push_back(packet(dst, src, flow, seq, p.len()));
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        let p = self.outbox.pop_front()?;
        buf[..p.len()].copy_from_slice(&p);
        Some(p.len())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.flows.iter().filter(|(f, next)| *next < f.count).map(|(f, next)| f.send_time(*next)).min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.timers_fired += 1;
        for (f, next) in &mut self.flows {
            while *next < f.count && f.send_time(*next) <= now {
                self.outbox.push_back(packet(f.src, f.dst, f.id, *next, f.size));
                *next += 1;
            }
        }
    }
}

/// A host whose deadline is always due; with `send`, it emits a packet every time it fires.
#[derive(Debug, Default)]
pub struct Spinner {
    pub send: bool,
    pub fired: u64,
    pub pending: bool,
}

impl Host for Spinner {
    fn handle_packet(&mut self, _now: Instant, _packet: &[u8]) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        if !std::mem::take(&mut self.pending) {
            return None;
        }
        let p = packet(ip("10.0.0.1"), ip("10.0.0.2"), 0, self.fired as u32, 40);
        buf[..p.len()].copy_from_slice(&p);
        Some(p.len())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(Instant::ZERO)
    }

    fn handle_timeout(&mut self, _now: Instant) {
        self.fired += 1;
        self.pending = self.send;
    }
}
