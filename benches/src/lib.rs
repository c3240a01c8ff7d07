//! Inputs and baseline routines shared by the benchmarks in `benches/`.
//!
//! Every benchmark group measures a baseline and our code on the same input in the same run,
//! and is reported as a ratio (`benches/report.sh`). The inputs are built here, once, so that
//! the baseline and our code cannot drift apart, and the unit tests below check that both
//! sides accept them (a benchmark that measures an error path measures nothing).

pub mod engine;

use core::net::{IpAddr, Ipv4Addr};

use mptcp_stack::wire::mptcp::{DssRepr, Mapping, SeqNum};
use mptcp_stack::wire::{ChecksumMode, MptcpOptions, OptionContext, SegmentRepr, TcpFlags, TcpOptions, Timestamp};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpOption, TcpPacket, TcpRepr, TcpSeqNumber,
    TcpTimestampRepr,
};

/// Payload bytes of a full-sized data segment (1500-byte MTU less IPv4, TCP and 12 bytes of
/// timestamps), as Linux sends it.
pub const PAYLOAD_LEN: usize = 1448;

/// Large enough for any segment built here.
pub const BUF_LEN: usize = 1600;

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const SRC_PORT: u16 = 40_000;
const DST_PORT: u16 = 443;
const SEQ: u32 = 0x1a2b_3c4d;
const ACK: u32 = 0x5e6f_7081;
const WINDOW: u16 = 502;
const HOP_LIMIT: u8 = 64;
const TSVAL: u32 = 0x0102_0304;
const TSECR: u32 = 0x0a0b_0c0d;
const DATA_ACK: u64 = 0x1122_3344_5566_7788;
const DSN: u64 = 0x0099_aabb_ccdd_eeff;
const SSN: u32 = 1;

/// The two segments a bulk transfer is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A full data segment: 1448 payload bytes, timestamps, and a 26-byte DSS with a 64-bit
    /// DATA_ACK and a 64-bit mapping (no DSS checksum). The option block is exactly 40 bytes.
    Data,
    /// A pure ACK: no payload, timestamps, and a 12-byte DSS with a 64-bit DATA_ACK only.
    PureAck,
}

impl Shape {
    /// Both shapes.
    pub const ALL: [Shape; 2] = [Shape::Data, Shape::PureAck];

    /// The name used as criterion's parameter (`<group>/<function>/<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Shape::Data => "data_1448",
            Shape::PureAck => "pure_ack",
        }
    }

    fn payload_len(self) -> usize {
        match self {
            Shape::Data => PAYLOAD_LEN,
            Shape::PureAck => 0,
        }
    }

    /// The DSS this segment carries.
    pub fn dss(self) -> DssRepr {
        let mapping = match self {
            Shape::Data => {
                Some(Mapping { dsn: SeqNum::Long(DSN), ssn: SSN, data_len: PAYLOAD_LEN as u16, checksum: None })
            }
            Shape::PureAck => None,
        };
        DssRepr { data_ack: Some(SeqNum::Long(DATA_ACK)), mapping, data_fin: false }
    }

    /// The flags our option parser needs for this segment.
    pub fn option_context(self) -> OptionContext {
        OptionContext { syn: false, ack: true, rst: false, has_payload: self.payload_len() > 0 }
    }
}

/// A deterministic, non-constant payload of `len` bytes.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8).collect()
}

/// The payload `shape` carries.
pub fn payload_for(shape: Shape) -> Vec<u8> {
    payload(shape.payload_len())
}

/// Our representation of the segment; `with_mptcp: false` leaves the DSS out (what smoltcp
/// can express).
pub fn segment_repr(shape: Shape, payload: &[u8], with_mptcp: bool) -> SegmentRepr<'_> {
    assert_eq!(payload.len(), shape.payload_len(), "payload does not fit the shape");
    let mptcp = MptcpOptions { dss: with_mptcp.then(|| shape.dss()), ..MptcpOptions::default() };
    SegmentRepr {
        src: IpAddr::V4(SRC),
        dst: IpAddr::V4(DST),
        tos: 0,
        hop_limit: HOP_LIMIT,
        src_port: SRC_PORT,
        dst_port: DST_PORT,
        seq: SEQ,
        ack: ACK,
        flags: TcpFlags::ACK,
        window: WINDOW,
        options: TcpOptions {
            timestamp: Some(Timestamp { tsval: TSVAL, tsecr: TSECR }),
            mptcp,
            ..TcpOptions::default()
        },
        payload,
    }
}

/// smoltcp's representation of the same segment, without the DSS.
pub fn smoltcp_reprs(shape: Shape, payload: &[u8]) -> (Ipv4Repr, TcpRepr<'_>) {
    assert_eq!(payload.len(), shape.payload_len(), "payload does not fit the shape");
    let tcp = TcpRepr {
        src_port: SRC_PORT,
        dst_port: DST_PORT,
        control: TcpControl::None,
        seq_number: TcpSeqNumber(SEQ as i32),
        ack_number: Some(TcpSeqNumber(ACK as i32)),
        window_len: WINDOW,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: Some(TcpTimestampRepr::new(TSVAL, TSECR)),
        payload,
    };
    let ip = Ipv4Repr {
        src_addr: SRC,
        dst_addr: DST,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: HOP_LIMIT,
    };
    (ip, tcp)
}

/// The received packet: the segment with its DSS, emitted by our codec with both checksums.
pub fn packet(shape: Shape) -> Vec<u8> {
    let payload = payload_for(shape);
    let mut buf = vec![0; BUF_LEN];
    let (len, emitted) =
        segment_repr(shape, &payload, true).emit(&mut buf, ChecksumMode::Full).expect("fixture segment fits");
    assert!(emitted.dropped.is_empty(), "fixture options must all fit");
    buf.truncate(len);
    buf
}

/// The TCP option block (the bytes between the fixed TCP header and the payload) of
/// [`packet`]`(shape)`: 40 bytes, `NOP NOP TS DSS NOP NOP`, for [`Shape::Data`].
pub fn option_block(shape: Shape) -> Vec<u8> {
    let packet = packet(shape);
    let ip = Ipv4Packet::new_checked(&packet[..]).expect("fixture IPv4 header");
    let tcp = TcpPacket::new_checked(ip.payload()).expect("fixture TCP header");
    tcp.options().to_vec()
}

/// Baseline parse: what smoltcp alone does with a received IPv4/TCP packet, checksums
/// verified. It skips the MPTCP option as an unknown kind.
pub fn smoltcp_parse(packet: &[u8]) -> smoltcp::wire::Result<(Ipv4Repr, TcpRepr<'_>)> {
    let caps = ChecksumCapabilities::default();
    let ip_packet = Ipv4Packet::new_checked(packet)?;
    let ip = Ipv4Repr::parse(&ip_packet, &caps)?;
    let tcp_packet = TcpPacket::new_checked(ip_packet.payload())?;
    let tcp = TcpRepr::parse(&tcp_packet, &IpAddress::Ipv4(ip.src_addr), &IpAddress::Ipv4(ip.dst_addr), &caps)?;
    Ok((ip, tcp))
}

/// Baseline emit: smoltcp writes the IPv4 and TCP headers with both checksums; returns the
/// packet length.
pub fn smoltcp_emit(ip: &Ipv4Repr, tcp: &TcpRepr<'_>, buf: &mut [u8]) -> usize {
    let caps = ChecksumCapabilities::default();
    let total = ip.buffer_len() + tcp.buffer_len();
    let (ip_buf, tcp_buf) = buf[..total].split_at_mut(ip.buffer_len());
    ip.emit(&mut Ipv4Packet::new_unchecked(ip_buf), &caps);
    tcp.emit(
        &mut TcpPacket::new_unchecked(tcp_buf),
        &IpAddress::Ipv4(ip.src_addr),
        &IpAddress::Ipv4(ip.dst_addr),
        &caps,
    );
    total
}

/// What the baseline option walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalkedOptions {
    /// The timestamp option's `(tsval, tsecr)`.
    pub timestamp: Option<(u32, u32)>,
    /// Options smoltcp does not know (the MPTCP option among them).
    pub unknown: usize,
    /// Bytes of the last unknown option's data.
    pub unknown_len: usize,
}

/// Baseline option walk: smoltcp's `TcpOption::parse` over the block, as `TcpRepr::parse`
/// loops over it (it decodes the timestamp and leaves the MPTCP option's bytes undecoded).
pub fn smoltcp_walk_options(mut bytes: &[u8]) -> smoltcp::wire::Result<WalkedOptions> {
    let mut out = WalkedOptions::default();
    while !bytes.is_empty() {
        let (rest, option) = TcpOption::parse(bytes)?;
        match option {
            TcpOption::EndOfList => break,
            TcpOption::TimeStamp { tsval, tsecr } => out.timestamp = Some((tsval, tsecr)),
            TcpOption::Unknown { data, .. } => {
                out.unknown += 1;
                out.unknown_len = data.len();
            }
            _ => {}
        }
        bytes = rest;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_segment_is_the_realistic_one() {
        let data = packet(Shape::Data);
        assert_eq!(data.len(), 20 + 20 + 40 + PAYLOAD_LEN, "a full 1500-byte IPv4 packet");
        let block = option_block(Shape::Data);
        assert_eq!(block.len(), 40);
        assert_eq!(&block[..4], &[1, 1, 8, 10], "NOP NOP TS");
        assert_eq!(&block[12..14], &[30, 26], "26-byte MPTCP option");
        assert_eq!(block[14] >> 4, 2, "DSS subtype");
        assert_eq!(packet(Shape::PureAck).len(), 20 + 20 + 12 + 12);
    }

    #[test]
    fn both_parsers_accept_both_packets() {
        for shape in Shape::ALL {
            let payload = payload_for(shape);
            let packet = packet(shape);
            let (ours, ignored) = SegmentRepr::parse(&packet, ChecksumMode::Full).unwrap();
            assert_eq!(ignored.count, 0);
            assert_eq!(ours, segment_repr(shape, &payload, true), "{shape:?}");

            let (ip, tcp) = smoltcp_parse(&packet).unwrap();
            let (want_ip, want_tcp) = smoltcp_reprs(shape, &payload);
            assert_eq!(ip.src_addr, want_ip.src_addr);
            assert_eq!(ip.payload_len, packet.len() - 20);
            assert_eq!(tcp.timestamp, want_tcp.timestamp);
            assert_eq!(tcp.seq_number, want_tcp.seq_number);
            assert_eq!(tcp.payload, &payload[..]);
        }
    }

    #[test]
    fn both_emitters_write_the_same_plain_segment() {
        for shape in Shape::ALL {
            let payload = payload_for(shape);
            let (ip, tcp) = smoltcp_reprs(shape, &payload);
            let mut theirs = vec![0; BUF_LEN];
            let n = smoltcp_emit(&ip, &tcp, &mut theirs);
            let mut ours = vec![0; BUF_LEN];
            let plain = segment_repr(shape, &payload, false);
            let (m, _) = plain.emit(&mut ours, ChecksumMode::Full).unwrap();
            assert_eq!(n, m, "same length without the DSS ({shape:?})");
            // The timestamp padding differs (NOPs before vs EOL after), so compare meaning.
            let (parsed, _) = SegmentRepr::parse(&theirs[..n], ChecksumMode::Full).unwrap();
            assert_eq!(parsed, plain, "{shape:?}");
        }
    }

    #[test]
    fn option_walks_see_the_same_block() {
        let block = option_block(Shape::Data);
        let (ours, ignored) = TcpOptions::parse(&block, Shape::Data.option_context()).unwrap();
        assert_eq!(ignored.count, 0);
        assert_eq!(ours.mptcp.dss, Some(Shape::Data.dss()));
        assert_eq!(ours.timestamp, Some(Timestamp { tsval: TSVAL, tsecr: TSECR }));
        let walked = smoltcp_walk_options(&block).unwrap();
        assert_eq!(walked, WalkedOptions { timestamp: Some((TSVAL, TSECR)), unknown: 1, unknown_len: 24 });
    }
}
