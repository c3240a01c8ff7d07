//! Whole IPv4/IPv6 + TCP segments: parse a received packet into a [`SegmentRepr`] and emit one
//! for sending. Headers and checksums are `smoltcp::wire`'s; the option block is ours.

use core::net::IpAddr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TCP_HEADER_LEN, TcpPacket, TcpSeqNumber,
};

use super::tcp_options::{Emitted, Ignored, MAX_OPTION_SPACE, TcpOptions};
use super::{Error, OptionContext, Result};

/// Bytes of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Bytes of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;

/// TCP header flags (RFC 9293 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECE.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// CWR.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Are all of `other`'s flags set?
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

/// Whether checksums are computed and verified, or left to an offloading device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    /// Verify on parse, fill on emit.
    #[default]
    Full,
    /// Trust received checksums and leave sent ones to the device (TUN checksum offload).
    Offloaded,
}

/// A parsed IP + TCP segment. `payload` borrows from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRepr<'a> {
    /// Source address (same family as `dst`).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IPv4 TOS / IPv6 traffic class byte.
    pub tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub hop_limit: u8,
    /// TCP source port.
    pub src_port: u16,
    /// TCP destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with ACK).
    pub ack: u32,
    /// Header flags.
    pub flags: TcpFlags,
    /// Window field, unscaled.
    pub window: u16,
    /// TCP and MPTCP options.
    pub options: TcpOptions,
    /// Payload bytes.
    pub payload: &'a [u8],
}

fn ip_address(a: IpAddr) -> IpAddress {
    match a {
        IpAddr::V4(a) => IpAddress::Ipv4(a),
        IpAddr::V6(a) => IpAddress::Ipv6(a),
    }
}

/// The network-layer fields of a received packet and its TCP bytes.
struct IpParts<'a> {
    src: IpAddr,
    dst: IpAddr,
    tos: u8,
    hop_limit: u8,
    tcp: &'a [u8],
}

fn parse_ipv4(packet: &[u8], mode: ChecksumMode) -> Result<IpParts<'_>> {
    let ip = Ipv4Packet::new_checked(packet).map_err(|_| Error::Truncated)?;
    if mode == ChecksumMode::Full && !ip.verify_checksum() {
        return Err(Error::BadChecksum);
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err(Error::Unsupported);
    }
    if ip.next_header() != IpProtocol::Tcp {
        return Err(Error::Unsupported);
    }
    Ok(IpParts {
        src: IpAddr::V4(ip.src_addr()),
        dst: IpAddr::V4(ip.dst_addr()),
        tos: (ip.dscp() << 2) | ip.ecn(),
        hop_limit: ip.hop_limit(),
        tcp: ip.payload(),
    })
}

fn parse_ipv6(packet: &[u8]) -> Result<IpParts<'_>> {
    let ip = Ipv6Packet::new_checked(packet).map_err(|_| Error::Truncated)?;
    // Extension headers (fragments included) are not handled: TCP must follow directly.
    if ip.next_header() != IpProtocol::Tcp {
        return Err(Error::Unsupported);
    }
    Ok(IpParts {
        src: IpAddr::V6(ip.src_addr()),
        dst: IpAddr::V6(ip.dst_addr()),
        tos: ip.traffic_class(),
        hop_limit: ip.hop_limit(),
        tcp: ip.payload(),
    })
}

impl<'a> SegmentRepr<'a> {
    /// Parses a received IP packet. Options that are well-formed but invalid for the segment
    /// are skipped and reported in [`Ignored`].
    pub fn parse(packet: &'a [u8], mode: ChecksumMode) -> Result<(SegmentRepr<'a>, Ignored)> {
        let ip = match packet.first().map(|b| b >> 4) {
            Some(4) => parse_ipv4(packet, mode)?,
            Some(6) => parse_ipv6(packet)?,
            Some(_) => return Err(Error::BadHeader),
            None => return Err(Error::Truncated),
        };
        let tcp = TcpPacket::new_checked(ip.tcp).map_err(|_| Error::Truncated)?;
        if usize::from(tcp.header_len()) < TCP_HEADER_LEN {
            return Err(Error::BadHeader);
        }
        if mode == ChecksumMode::Full && !tcp.verify_checksum(&ip_address(ip.src), &ip_address(ip.dst)) {
            return Err(Error::BadChecksum);
        }
        if tcp.src_port() == 0 || tcp.dst_port() == 0 {
            return Err(Error::BadHeader);
        }
        let flags = [
            (tcp.fin(), TcpFlags::FIN),
            (tcp.syn(), TcpFlags::SYN),
            (tcp.rst(), TcpFlags::RST),
            (tcp.psh(), TcpFlags::PSH),
            (tcp.ack(), TcpFlags::ACK),
            (tcp.urg(), TcpFlags::URG),
            (tcp.ece(), TcpFlags::ECE),
            (tcp.cwr(), TcpFlags::CWR),
        ]
        .into_iter()
        .filter(|(set, _)| *set)
        .fold(TcpFlags::default(), |acc, (_, flag)| acc | flag);
        let payload = tcp.payload();
        let ctx = OptionContext {
            syn: flags.contains(TcpFlags::SYN),
            ack: flags.contains(TcpFlags::ACK),
            rst: flags.contains(TcpFlags::RST),
            has_payload: !payload.is_empty(),
        };
        let (options, ignored) = TcpOptions::parse(tcp.options(), ctx)?;
        let repr = SegmentRepr {
            src: ip.src,
            dst: ip.dst,
            tos: ip.tos,
            hop_limit: ip.hop_limit,
            src_port: tcp.src_port(),
            dst_port: tcp.dst_port(),
            seq: tcp.seq_number().0 as u32,
            ack: tcp.ack_number().0 as u32,
            flags,
            window: tcp.window_len(),
            options,
            payload,
        };
        Ok((repr, ignored))
    }

    fn ip_header_len(&self) -> usize {
        match self.src {
            IpAddr::V4(_) => IPV4_HEADER_LEN,
            IpAddr::V6(_) => IPV6_HEADER_LEN,
        }
    }

    /// Emits the segment into the start of `buf`, returning the packet length and what the
    /// option block dropped for lack of space.
    pub fn emit(&self, buf: &mut [u8], mode: ChecksumMode) -> Result<(usize, Emitted)> {
        let mut options = [0u8; MAX_OPTION_SPACE];
        let emitted = self.options.emit(&mut options);
        let tcp_len = TCP_HEADER_LEN + emitted.len + self.payload.len();
        let ip_len = self.ip_header_len();
        let total = ip_len + tcp_len;
        // The IPv4 total length and the IPv6 payload length are 16-bit fields.
        let length_field = if ip_len == IPV4_HEADER_LEN { total } else { tcp_len };
        if length_field > usize::from(u16::MAX) {
            return Err(Error::TooLong);
        }
        if buf.len() < total {
            return Err(Error::BufferTooSmall);
        }
        // The IPv4 checksum is filled once, after TOS is set.
        let caps = ChecksumCapabilities::ignored();
        let (ip_buf, rest) = buf[..total].split_at_mut(ip_len);
        match (self.src, self.dst) {
            (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => {
                let mut ip = Ipv4Packet::new_unchecked(ip_buf);
                let repr = Ipv4Repr {
                    src_addr,
                    dst_addr,
                    next_header: IpProtocol::Tcp,
                    payload_len: tcp_len,
                    hop_limit: self.hop_limit,
                };
                repr.emit(&mut ip, &caps);
                ip.set_dscp(self.tos >> 2);
                ip.set_ecn(self.tos & 0x3);
                if mode == ChecksumMode::Full {
                    ip.fill_checksum();
                }
            }
            (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => {
                let mut ip = Ipv6Packet::new_unchecked(ip_buf);
                let repr = Ipv6Repr {
                    src_addr,
                    dst_addr,
                    next_header: IpProtocol::Tcp,
                    payload_len: tcp_len,
                    hop_limit: self.hop_limit,
                };
                repr.emit(&mut ip);
                ip.set_traffic_class(self.tos);
            }
            _ => return Err(Error::BadHeader),
        }
        let mut tcp = TcpPacket::new_unchecked(rest);
        tcp.set_src_port(self.src_port);
        tcp.set_dst_port(self.dst_port);
        tcp.set_seq_number(TcpSeqNumber(self.seq as i32));
        tcp.set_ack_number(TcpSeqNumber(self.ack as i32));
        tcp.set_header_len((TCP_HEADER_LEN + emitted.len) as u8);
        tcp.clear_flags();
        tcp.set_window_len(self.window);
        tcp.set_urgent_at(0);
        tcp.options_mut().copy_from_slice(&options[..emitted.len]);
        tcp.payload_mut().copy_from_slice(self.payload);
        let f = |flag| self.flags.contains(flag);
        tcp.set_fin(f(TcpFlags::FIN));
        tcp.set_syn(f(TcpFlags::SYN));
        tcp.set_rst(f(TcpFlags::RST));
        tcp.set_psh(f(TcpFlags::PSH));
        tcp.set_ack(f(TcpFlags::ACK));
        tcp.set_urg(f(TcpFlags::URG));
        tcp.set_ece(f(TcpFlags::ECE));
        tcp.set_cwr(f(TcpFlags::CWR));
        if mode == ChecksumMode::Full {
            tcp.fill_checksum(&ip_address(self.src), &ip_address(self.dst));
        } else {
            tcp.set_checksum(0);
        }
        Ok((total, emitted))
    }
}
