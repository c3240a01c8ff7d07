//! `struct sockaddr_in` / `sockaddr_in6` as bytes, to and from `SocketAddr`. An IPv6 socket
//! takes and names IPv4 peers as IPv4-mapped addresses (`::ffff:a.b.c.d`), as Linux's dual-stack
//! sockets do.

use std::mem::{offset_of, size_of};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use libc::{c_int, sockaddr_in, sockaddr_in6};

use super::abi::Bytes;
use super::fail::Fail;

/// The address family of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
}

const FAMILY: usize = 0;
const PORT: usize = offset_of!(sockaddr_in, sin_port);
const V4_ADDR: usize = offset_of!(sockaddr_in, sin_addr);
const V6_FLOWINFO: usize = offset_of!(sockaddr_in6, sin6_flowinfo);
const V6_ADDR: usize = offset_of!(sockaddr_in6, sin6_addr);
const V6_SCOPE: usize = offset_of!(sockaddr_in6, sin6_scope_id);
/// The largest encoding.
pub(crate) const MAX_LEN: usize = size_of::<sockaddr_in6>();

impl Family {
    /// `AF_INET` or `AF_INET6`.
    pub(crate) fn from_domain(domain: c_int) -> Option<Family> {
        match domain {
            libc::AF_INET => Some(Family::V4),
            libc::AF_INET6 => Some(Family::V6),
            _ => None,
        }
    }

    pub(crate) fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    pub(crate) fn domain(self) -> c_int {
        match self {
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
        }
    }

    /// `sizeof(struct sockaddr_in{,6})`.
    pub(crate) fn sockaddr_len(self) -> usize {
        match self {
            Family::V4 => size_of::<sockaddr_in>(),
            Family::V6 => size_of::<sockaddr_in6>(),
        }
    }

    /// `0.0.0.0:0` or `[::]:0`.
    pub(crate) fn unspecified(self) -> SocketAddr {
        match self {
            Family::V4 => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            Family::V6 => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        }
    }
}

/// The family a sockaddr in `bytes` declares.
pub(crate) fn family_of(bytes: &[u8]) -> Result<Family, Fail> {
    let family = bytes.u16_at(FAMILY).ok_or(Fail::INVAL)?;
    Family::from_domain(c_int::from(family)).ok_or(Fail::errno(libc::EAFNOSUPPORT))
}

/// The address in `bytes`, which must be of the socket's family `socket` (an IPv4-mapped IPv6
/// address comes back as IPv4).
pub(crate) fn decode(bytes: &[u8], socket: Family) -> Result<SocketAddr, Fail> {
    let family = family_of(bytes)?;
    if family != socket {
        return Err(Fail::errno(libc::EAFNOSUPPORT));
    }
    if bytes.len() < family.sockaddr_len() {
        return Err(Fail::INVAL);
    }
    let port = u16::from_be_bytes(bytes.array(PORT).ok_or(Fail::INVAL)?);
    Ok(match family {
        Family::V4 => SocketAddr::new(IpAddr::V4(Ipv4Addr::from(bytes.array::<4>(V4_ADDR).ok_or(Fail::INVAL)?)), port),
        Family::V6 => {
            let ip = Ipv6Addr::from(bytes.array::<16>(V6_ADDR).ok_or(Fail::INVAL)?);
            match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(IpAddr::V4(v4), port),
                None => {
                    let flow = u32::from_be_bytes(bytes.array(V6_FLOWINFO).ok_or(Fail::INVAL)?);
                    let scope = u32::from_ne_bytes(bytes.array(V6_SCOPE).ok_or(Fail::INVAL)?);
                    SocketAddr::V6(SocketAddrV6::new(ip, port, flow, scope))
                }
            }
        }
    })
}

/// `addr` as a sockaddr of family `as_family` (IPv4 as IPv4-mapped for an IPv6 socket), in the
/// first `len` bytes of the returned buffer.
pub(crate) fn encode(addr: SocketAddr, as_family: Family) -> ([u8; MAX_LEN], usize) {
    let mut out = [0u8; MAX_LEN];
    let buf = &mut out[..];
    let len = as_family.sockaddr_len();
    // Every offset is inside a sockaddr_in6, which `out` holds: the writes always fit.
    buf.put(FAMILY, &(as_family.domain() as u16).to_ne_bytes());
    buf.put(PORT, &addr.port().to_be_bytes());
    match (addr, as_family) {
        (SocketAddr::V4(a), Family::V4) => {
            buf.put(V4_ADDR, &a.ip().octets());
        }
        (SocketAddr::V4(a), Family::V6) => {
            buf.put(V6_ADDR, &a.ip().to_ipv6_mapped().octets());
        }
        (SocketAddr::V6(a), _) => {
            buf.put(V6_FLOWINFO, &a.flowinfo().to_be_bytes());
            buf.put(V6_ADDR, &a.ip().octets());
            buf.put(V6_SCOPE, &a.scope_id().to_ne_bytes());
        }
    }
    (out, len)
}

/// Can this address be a peer of the stack's connections at all?
pub(crate) fn routable(addr: &SocketAddr) -> bool {
    let ip = addr.ip();
    !(ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    fn v4(s: &str) -> SocketAddr {
        SocketAddr::V4(s.parse::<SocketAddrV4>().expect("valid"))
    }

    #[test]
    fn round_trips() {
        let a = v4("10.0.0.1:5201");
        let (buf, len) = encode(a, Family::V4);
        assert_eq!(len, 16);
        assert_eq!(decode(&buf[..len], Family::V4).unwrap(), a);
        let (buf, len) = encode(a, Family::V6);
        assert_eq!(len, 28);
        assert_eq!(decode(&buf[..len], Family::V6).unwrap(), a, "IPv4-mapped comes back as IPv4");
        let b: SocketAddr = "[fd00::1%3]:80".parse().unwrap();
        let (buf, len) = encode(b, Family::V6);
        assert_eq!(decode(&buf[..len], Family::V6).unwrap(), b);
    }

    #[test]
    fn errors() {
        let (buf, _) = encode(v4("10.0.0.1:1"), Family::V4);
        assert_eq!(decode(&buf[..15], Family::V4).unwrap_err().errno, libc::EINVAL);
        assert_eq!(decode(&buf[..1], Family::V4).unwrap_err().errno, libc::EINVAL);
        assert_eq!(decode(&buf[..16], Family::V6).unwrap_err().errno, libc::EAFNOSUPPORT);
        assert!(!routable(&v4("127.0.0.1:1")) && !routable(&v4("0.0.0.0:1")) && routable(&v4("10.0.0.1:1")));
    }
}
