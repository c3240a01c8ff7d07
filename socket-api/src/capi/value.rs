//! The options a subflow takes (TCP_NODELAY, TCP_MAXSEG, TCP_CONGESTION, TCP_INFO, IP_TOS,
//! IPV6_TCLASS, MPTCP_SUB_LOW_PRIO) and their values as getsockopt/setsockopt bytes.

use libc::c_int;

use super::abi::{Bytes, MPTCP_SUB_LOW_PRIO};
use super::fail::{Fail, Res};
use crate::{Algorithm, SubflowOption, SubflowOptionKind};

/// Linux's `TCP_CA_NAME_MAX`: a congestion-control name with its NUL.
const CA_NAME_MAX: usize = 16;

/// One option a subflow takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opt {
    NoDelay,
    MaxSeg,
    Congestion,
    Info,
    Tos,
    TClass,
    LowPrio,
}

impl Opt {
    pub(crate) fn of(level: c_int, name: c_int) -> Option<Opt> {
        Some(match (level, name) {
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => Opt::NoDelay,
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => Opt::MaxSeg,
            (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => Opt::Congestion,
            (libc::IPPROTO_TCP, libc::TCP_INFO) => Opt::Info,
            (libc::IPPROTO_TCP, MPTCP_SUB_LOW_PRIO) => Opt::LowPrio,
            (libc::IPPROTO_IP, libc::IP_TOS) => Opt::Tos,
            (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => Opt::TClass,
            _ => return None,
        })
    }

    /// The stack's setting it reads; `None` for TCP_INFO, which is not a setting.
    pub(crate) fn kind(self) -> Option<SubflowOptionKind> {
        Some(match self {
            Opt::NoDelay => SubflowOptionKind::NoDelay,
            Opt::MaxSeg => SubflowOptionKind::MaxSegmentSize,
            Opt::Congestion => SubflowOptionKind::CongestionControl,
            Opt::Tos | Opt::TClass => SubflowOptionKind::TrafficClass,
            Opt::LowPrio => SubflowOptionKind::Backup,
            Opt::Info => return None,
        })
    }
}

/// An `int` option's value: at least 4 bytes, as Linux wants.
fn int(bytes: &[u8]) -> Res<i32> {
    bytes.i32_at(0).ok_or(Fail::INVAL)
}

/// The setting that setsockopt(`opt`, `bytes`) asks for.
pub(crate) fn parse(opt: Opt, bytes: &[u8]) -> Res<SubflowOption> {
    Ok(match opt {
        Opt::NoDelay => SubflowOption::NoDelay(int(bytes)? != 0),
        Opt::LowPrio => SubflowOption::Backup(int(bytes)? != 0),
        Opt::MaxSeg => SubflowOption::MaxSegmentSize(u16::try_from(int(bytes)?).map_err(|_| Fail::INVAL)?),
        // Linux keeps the low byte of IP_TOS.
        Opt::Tos => SubflowOption::TrafficClass(int(bytes)?.to_le_bytes()[0]),
        Opt::TClass => match int(bytes)? {
            -1 => SubflowOption::TrafficClass(0),
            v => SubflowOption::TrafficClass(u8::try_from(v).map_err(|_| Fail::INVAL)?),
        },
        Opt::Congestion => {
            // Up to the first NUL of at most 15 bytes, as Linux reads it.
            let name = &bytes[..bytes.len().min(CA_NAME_MAX - 1)];
            let name = name.split(|b| *b == 0).next().unwrap_or_default();
            let name = std::str::from_utf8(name).map_err(|_| Fail::errno(libc::ENOENT))?;
            SubflowOption::CongestionControl(name.parse::<Algorithm>().map_err(|_| Fail::errno(libc::ENOENT))?)
        }
        Opt::Info => return Err(Fail::NOPROTOOPT),
    })
}

/// Writes an `int` into `buf` (which needs 4 bytes); the length used.
pub(crate) fn put_int(buf: &mut [u8], v: i32) -> Res<usize> {
    if buf.put(0, &v.to_ne_bytes()) { Ok(4) } else { Err(Fail::short(4)) }
}

/// Copies as much of `data` as fits, as Linux does for TCP_INFO; the length copied.
pub(crate) fn put_prefix(buf: &mut [u8], data: &[u8]) -> usize {
    let n = buf.len().min(data.len());
    buf[..n].copy_from_slice(&data[..n]);
    n
}

/// getsockopt's bytes of `value` in `buf`; the length used.
pub(crate) fn put(buf: &mut [u8], value: SubflowOption) -> Res<usize> {
    match value {
        SubflowOption::NoDelay(b) | SubflowOption::Backup(b) => put_int(buf, b.into()),
        SubflowOption::MaxSegmentSize(mss) => put_int(buf, mss.into()),
        SubflowOption::TrafficClass(tc) => put_int(buf, tc.into()),
        SubflowOption::CongestionControl(alg) => {
            let mut name = [0u8; CA_NAME_MAX];
            name[..alg.name().len()].copy_from_slice(alg.name().as_bytes());
            Ok(put_prefix(buf, &name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse(Opt::NoDelay, &1i32.to_ne_bytes()), Ok(SubflowOption::NoDelay(true)));
        assert_eq!(parse(Opt::NoDelay, &[1]), Err(Fail::INVAL));
        assert_eq!(parse(Opt::MaxSeg, &(-1i32).to_ne_bytes()), Err(Fail::INVAL));
        assert_eq!(parse(Opt::MaxSeg, &70000i32.to_ne_bytes()), Err(Fail::INVAL));
        assert_eq!(parse(Opt::Tos, &0x128i32.to_ne_bytes()), Ok(SubflowOption::TrafficClass(0x28)));
        assert_eq!(parse(Opt::TClass, &(-1i32).to_ne_bytes()), Ok(SubflowOption::TrafficClass(0)));
        assert_eq!(parse(Opt::TClass, &256i32.to_ne_bytes()), Err(Fail::INVAL));
        assert_eq!(parse(Opt::Congestion, b"lia\0junk"), Ok(SubflowOption::CongestionControl(Algorithm::Lia)));
        assert_eq!(parse(Opt::Congestion, b"OLIA"), Ok(SubflowOption::CongestionControl(Algorithm::Olia)));
        assert_eq!(parse(Opt::Congestion, b"bbr"), Err(Fail::errno(libc::ENOENT)));
        let mut buf = [0xffu8; 20];
        assert_eq!(put(&mut buf, SubflowOption::CongestionControl(Algorithm::Cubic)), Ok(16));
        assert_eq!(&buf[..6], b"cubic\0");
        assert_eq!(put(&mut buf[..3], SubflowOption::NoDelay(true)), Err(Fail::short(4)));
        assert_eq!(put(&mut buf[..2], SubflowOption::CongestionControl(Algorithm::Reno)), Ok(2));
    }
}
