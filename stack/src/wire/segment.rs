//! Whole IPv4/IPv6 + TCP segments: parse a received packet into a [`SegmentRepr`] and emit one
//! for sending. `smoltcp::wire` reads the IP and TCP headers and writes the IP header; the TCP
//! header on emission, the option block and the checksums are ours.

use core::net::IpAddr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TCP_HEADER_LEN, TcpPacket};

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

/// The one's-complement sum (RFC 1071, not complemented) of the TCP pseudo-header
/// (RFC 9293 §3.1; RFC 8200 §8.1 for IPv6) and the TCP bytes `tcp`: `0xffff` over a segment
/// whose checksum is right; with the checksum field zero, its complement is the checksum.
fn tcp_checksum_sum(src: IpAddr, dst: IpAddr, tcp: &[u8]) -> u16 {
    fn add_words(acc: u32, bytes: &[u8]) -> u32 {
        bytes.chunks_exact(2).fold(acc, |acc, w| acc + u32::from(u16::from_be_bytes([w[0], w[1]])))
    }
    let add_address = |acc, a| match a {
        IpAddr::V4(a) => add_words(acc, &a.octets()),
        IpAddr::V6(a) => add_words(acc, &a.octets()),
    };
    // The TCP length: at most 65535 (both IP length fields are 16-bit), one word for IPv4 and
    // the low word of the 32-bit IPv6 field.
    let mut acc = u32::from(u8::from(IpProtocol::Tcp)) + tcp.len() as u32;
    acc = add_address(add_address(acc, src), dst);
    acc += u32::from(sum_words(tcp));
    while acc > 0xffff {
        acc = (acc >> 16) + (acc & 0xffff);
    }
    acc as u16
}

/// The RFC 1071 sum of `data` as big-endian 16-bit words (an odd last byte padded with
/// zero), folded to 16 bits. It adds native-endian 64-bit words into 128 bits (an add and an
/// add-with-carry per 8 bytes; no overflow for any packet) and swaps once at the end: the
/// one's-complement sum does not depend on the word size or byte order beyond that swap
/// (RFC 1071 §2 (A), (B)).
fn sum_words(data: &[u8]) -> u16 {
    let words = data.chunks_exact(8);
    let rest = words.remainder();
    let mut acc: u128 = words.map(|w| u128::from(u64::from_ne_bytes(w.try_into().expect("8 bytes")))).sum();
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    acc += u128::from(u64::from_ne_bytes(tail));
    while acc > 0xffff {
        acc = (acc >> 16) + (acc & 0xffff);
    }
    u16::from_be(acc as u16)
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
    if mode == ChecksumMode::Full && sum_words(&packet[..usize::from(ip.header_len())]) != 0xffff {
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
        if mode == ChecksumMode::Full && tcp_checksum_sum(ip.src, ip.dst, ip.tcp) != 0xffff {
            return Err(Error::BadChecksum);
        }
        if tcp.src_port() == 0 || tcp.dst_port() == 0 {
            return Err(Error::BadHeader);
        }
        // The flags byte holds them in the order of `TcpFlags` (RFC 9293 §3.1).
        let flags = TcpFlags(ip.tcp[13]);
        let payload = tcp.payload();
        let ctx = OptionContext {
            syn: flags.contains(TcpFlags::SYN),
            ack: flags.contains(TcpFlags::ACK),
            rst: flags.contains(TcpFlags::RST),
            has_payload: !payload.is_empty(),
        };
        let mut repr = SegmentRepr {
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
            options: TcpOptions::default(),
            payload,
        };
        let ignored = repr.options.parse_into(tcp.options(), ctx)?;
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
                    let sum = !sum_words(&ip.as_ref()[..IPV4_HEADER_LEN]);
                    ip.set_checksum(sum);
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
        // The TCP header (RFC 9293 §3.1), written field by field: flags are one byte in the
        // order of `TcpFlags`, the checksum is filled last.
        let (header, body) = rest.split_at_mut(TCP_HEADER_LEN);
        header[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        header[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        header[4..8].copy_from_slice(&self.seq.to_be_bytes());
        header[8..12].copy_from_slice(&self.ack.to_be_bytes());
        header[12] = (((TCP_HEADER_LEN + emitted.len) / 4) << 4) as u8;
        header[13] = self.flags.0;
        header[14..16].copy_from_slice(&self.window.to_be_bytes());
        header[16..20].fill(0); // checksum, urgent pointer
        let (option_bytes, payload) = body.split_at_mut(emitted.len);
        option_bytes.copy_from_slice(&options[..emitted.len]);
        payload.copy_from_slice(self.payload);
        if mode == ChecksumMode::Full {
            let sum = !tcp_checksum_sum(self.src, self.dst, rest);
            rest[16..18].copy_from_slice(&sum.to_be_bytes());
        }
        Ok((total, emitted))
    }
}

#[cfg(test)]
mod tests {
    use core::net::{Ipv4Addr, Ipv6Addr};

    use smoltcp::wire::{IpAddress, TcpPacket};

    use super::*;

    #[test]
    fn checksums_match_smoltcp_for_every_length_and_family() {
        let v4 = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(192, 168, 7, 254)));
        let v6 = (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 1, 2, 3, 0xffff)), IpAddr::V6(Ipv6Addr::LOCALHOST));
        let data: Vec<u8> = (0..1500u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        for (src, dst) in [v4, v6] {
            for len in [0, 1, 2, 3, 5, 63, 64, 1447, 1448] {
                let seg = SegmentRepr {
                    src,
                    dst,
                    tos: 0,
                    hop_limit: 64,
                    src_port: 1,
                    dst_port: 2,
                    seq: 0xdead_beef,
                    ack: 0xffff_fff0,
                    flags: TcpFlags::ACK,
                    window: 0xffff,
                    options: TcpOptions::default(),
                    payload: &data[..len],
                };
                let mut buf = vec![0; 1600];
                let (n, _) = seg.emit(&mut buf, ChecksumMode::Full).unwrap();
                let ip_len = seg.ip_header_len();
                let addr = |a| match a {
                    IpAddr::V4(a) => IpAddress::Ipv4(a),
                    IpAddr::V6(a) => IpAddress::Ipv6(a),
                };
                let tcp = TcpPacket::new_checked(&buf[ip_len..n]).unwrap();
                assert!(tcp.verify_checksum(&addr(src), &addr(dst)), "{len} bytes, {src}");
                assert!(SegmentRepr::parse(&buf[..n], ChecksumMode::Full).is_ok());
                buf[n - 1] ^= 0x40;
                assert_eq!(SegmentRepr::parse(&buf[..n], ChecksumMode::Full).err(), Some(Error::BadChecksum));
            }
        }
    }
}
