//! The endpoint against hand-made segments: strays get RST (RFC 9293 §3.10.7.1), RSTs and SYNs
//! that do not match exactly get challenge ACKs (RFC 5961), malformed packets are counted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mptcp_stack::endpoint::{Endpoint, EndpointConfig, Event};
use mptcp_stack::time::Instant;
use mptcp_stack::wire::{ChecksumMode, SegmentRepr, TcpFlags, TcpOptions};
use mptcp_tests::parse;
use rand::SeedableRng;
use rand::rngs::StdRng;

const US: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1));

fn endpoint() -> Endpoint {
    let mut e = Endpoint::new(EndpointConfig::default(), Box::new(StdRng::seed_from_u64(7)));
    e.listen(SocketAddr::new(US, 80));
    e
}

fn segment(flags: TcpFlags, seq: u32, ack: u32, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let seg = SegmentRepr {
        src: PEER,
        dst: US,
        tos: 0,
        hop_limit: 64,
        src_port: 40000,
        dst_port,
        seq,
        ack,
        flags,
        window: 65535,
        options: TcpOptions::default(),
        payload,
    };
    let mut buf = vec![0; 1600];
    let (n, _) = seg.emit(&mut buf, ChecksumMode::Full).unwrap();
    buf.truncate(n);
    buf
}

fn transmit(e: &mut Endpoint) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0; 2000];
    while let Some(n) = e.poll_transmit(Instant::ZERO, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn a_segment_for_no_connection_gets_a_reset() {
    let mut e = endpoint();
    e.handle(Instant::ZERO, &segment(TcpFlags::ACK, 1000, 5555, 81, b"hi"));
    let out = transmit(&mut e);
    assert_eq!(out.len(), 1);
    let rst = parse(&out[0]);
    assert!(rst.flags.contains(TcpFlags::RST));
    assert_eq!(rst.seq, 5555, "RFC 9293: SEQ = SEG.ACK when ACK was set");
    e.handle(Instant::ZERO, &segment(TcpFlags::SYN, 77, 0, 81, &[]));
    let out = transmit(&mut e);
    let rst = parse(&out[0]);
    assert_eq!((rst.seq, rst.ack), (0, 78), "ACK = SEG.SEQ + SEG.LEN without ACK");
    assert!(rst.flags.contains(TcpFlags::RST | TcpFlags::ACK));
    e.handle(Instant::ZERO, &segment(TcpFlags::RST, 1, 0, 81, &[]));
    assert!(transmit(&mut e).is_empty(), "a RST is never answered");
    assert_eq!(e.stats().no_connection, 3);
    assert_eq!(e.stats().resets_sent, 2);
}

#[test]
fn malformed_packets_are_counted_and_dropped() {
    let mut e = endpoint();
    let mut bad = segment(TcpFlags::SYN, 1, 0, 80, &[]);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    e.handle(Instant::ZERO, &bad);
    e.handle(Instant::ZERO, &bad[..10]);
    assert!(transmit(&mut e).is_empty());
    assert_eq!(e.stats().malformed, 2);
    // Not TCP (the protocol byte says UDP): valid, just not ours to handle.
    let mut udp = segment(TcpFlags::SYN, 1, 0, 80, &[]);
    udp[9] = 17;
    udp[10..12].fill(0);
    let sum: u32 = udp[..20].chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    udp[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
    e.handle(Instant::ZERO, &udp);
    assert_eq!((e.stats().malformed, e.stats().unsupported), (2, 1));
}

/// Opens a connection from the hand-driven peer (plain TCP) and returns (our ISN + 1).
fn established(e: &mut Endpoint) -> u32 {
    e.handle(Instant::ZERO, &segment(TcpFlags::SYN, 100, 0, 80, &[]));
    let synack = transmit(e);
    let sa = parse(&synack[0]);
    assert!(sa.flags.contains(TcpFlags::SYN | TcpFlags::ACK));
    let ours = sa.seq.wrapping_add(1);
    e.handle(Instant::ZERO, &segment(TcpFlags::ACK, 101, ours, 80, &[]));
    assert!(matches!(e.poll_event(), Some(Event::Incoming(_))));
    ours
}

#[test]
fn an_in_window_reset_that_is_not_exact_gets_a_challenge_ack() {
    let mut e = endpoint();
    let ours = established(&mut e);
    transmit(&mut e);
    // RFC 5961 §3.2: RST with SEQ inside the window but not RCV.NXT.
    e.handle(Instant::ZERO, &segment(TcpFlags::RST, 101 + 500, 0, 80, &[]));
    let out = transmit(&mut e);
    assert_eq!(out.len(), 1, "a challenge ACK");
    let ack = parse(&out[0]);
    assert!(ack.flags.contains(TcpFlags::ACK) && !ack.flags.contains(TcpFlags::RST));
    assert_eq!(ack.ack, 101);
    // The exact RST does reset.
    e.handle(Instant::ZERO, &segment(TcpFlags::RST, 101, ours, 80, &[]));
    let mut closed = false;
    while let Some(ev) = e.poll_event() {
        closed |= matches!(ev, Event::Connection(_, mptcp_stack::connection::ConnEvent::Closed(_)));
    }
    assert!(closed);
}

#[test]
fn a_syn_on_an_established_connection_gets_a_challenge_ack() {
    let mut e = endpoint();
    established(&mut e);
    transmit(&mut e);
    e.handle(Instant::ZERO, &segment(TcpFlags::SYN, 9999, 0, 80, &[]));
    let out = transmit(&mut e);
    assert_eq!(out.len(), 1);
    let ack = parse(&out[0]);
    assert_eq!((ack.flags, ack.ack), (TcpFlags::ACK, 101), "RFC 5961 §4.2 challenge ACK");
}
