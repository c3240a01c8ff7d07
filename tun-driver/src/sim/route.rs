//! Reading a packet's IP source and destination, for routing onto a path.
//!
//! Only what routing needs is checked: the version nibble, and for IPv4 a header length (IHL)
//! of at least 5 words that fits in the packet; for IPv6 a packet of at least the 40-byte fixed
//! header. Checksums and lengths are the receiving host's business.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `(source, destination)` of an IPv4 or IPv6 packet, or `None` if it is neither.
pub(crate) fn addresses(packet: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match packet.first()? >> 4 {
        4 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            if ihl < 20 || packet.len() < ihl {
                return None;
            }
            let src: [u8; 4] = packet[12..16].try_into().ok()?;
            let dst: [u8; 4] = packet[16..20].try_into().ok()?;
            Some((Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into()))
        }
        6 => {
            let src: [u8; 16] = packet.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some((Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_and_v6_and_rejects_the_rest() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[12..16].copy_from_slice(&[10, 0, 0, 1]);
        v4[16..20].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(addresses(&v4), Some(("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())));
        assert_eq!(addresses(&v4[..19]), None);
        v4[0] = 0x44; // IHL 4 words: too short
        assert_eq!(addresses(&v4), None);
        v4[0] = 0x46; // IHL 6 words: longer than the packet
        assert_eq!(addresses(&v4), None);

        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[23] = 1;
        v6[39] = 2;
        assert_eq!(addresses(&v6), Some(("::1".parse().unwrap(), "::2".parse().unwrap())));
        assert_eq!(addresses(&v6[..39]), None);
        assert_eq!(addresses(&[]), None);
        assert_eq!(addresses(&[0x50; 60]), None);
    }
}
