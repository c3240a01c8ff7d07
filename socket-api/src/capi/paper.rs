//! The paper's options on a connection, on the application's buffer as bytes:
//! MPTCP_GET_SUB_IDS, MPTCP_CLOSE_SUB_ID, MPTCP_GET_SUB_TUPLE, MPTCP_OPEN_SUB_TUPLE, and the
//! inner options of MPTCP_SUB_GETSOCKOPT / MPTCP_SUB_SETSOCKOPT on one subflow. Each returns the
//! length to write back to `*optlen`; a buffer too short fails with the length it needs.
//!
//! They work on any [`Subflows`]: an [`MptcpStream`], or the stack-less double of
//! [`super::fuzzing`], through which `socket-api/fuzz` feeds them arbitrary buffers.

use std::io;
use std::mem::size_of;
use std::net::SocketAddr;

use libc::{c_int, sockaddr_in};

use super::abi::{
    Bytes, CLOSE_HOW, CLOSE_LEN, MPTCP_CLOSE_FIN, MPTCP_CLOSE_RST, MPTCP_CLOSE_SUB_ID, MPTCP_GET_SUB_IDS,
    MPTCP_GET_SUB_TUPLE, MPTCP_OPEN_SUB_TUPLE, SUB_ATTACHED, SUB_FULLY_ESTABLISHED, SUB_IDS_HEADER, SUB_LOW_PRIO,
    SUB_PRE_ESTABLISHED, SUB_SLAVE_SK, SUB_STATUS_LEN, TUPLE_ADDRS, TUPLE_PRIO,
};
use super::addr::{self, Family};
use super::fail::{Fail, Res};
use super::ids;
use super::tcp_info;
use super::value::{self, Opt};
use crate::{CloseMode, MptcpStream, SubflowId, SubflowOption, SubflowOptionKind, SubflowSnapshot, SubflowStatus};

/// The subflow operations the paper's options need: [`MptcpStream`]'s, by the same names.
pub(crate) trait Subflows {
    fn subflows(&self) -> io::Result<Vec<SubflowStatus>>;
    fn subflow_info(&self, id: SubflowId) -> io::Result<SubflowSnapshot>;
    fn close_subflow(&self, id: SubflowId, mode: CloseMode) -> io::Result<()>;
    fn open_subflow(&self, local: SocketAddr, remote: SocketAddr, backup: bool) -> io::Result<SubflowId>;
    fn subflow_option(&self, id: SubflowId, kind: SubflowOptionKind) -> io::Result<SubflowOption>;
    fn set_subflow_option(&self, id: SubflowId, option: SubflowOption) -> io::Result<()>;
}

impl Subflows for MptcpStream {
    fn subflows(&self) -> io::Result<Vec<SubflowStatus>> {
        MptcpStream::subflows(self)
    }
    fn subflow_info(&self, id: SubflowId) -> io::Result<SubflowSnapshot> {
        MptcpStream::subflow_info(self, id)
    }
    fn close_subflow(&self, id: SubflowId, mode: CloseMode) -> io::Result<()> {
        MptcpStream::close_subflow(self, id, mode)
    }
    fn open_subflow(&self, local: SocketAddr, remote: SocketAddr, backup: bool) -> io::Result<SubflowId> {
        MptcpStream::open_subflow(self, local, remote, backup)
    }
    fn subflow_option(&self, id: SubflowId, kind: SubflowOptionKind) -> io::Result<SubflowOption> {
        MptcpStream::subflow_option(self, id, kind)
    }
    fn set_subflow_option(&self, id: SubflowId, option: SubflowOption) -> io::Result<()> {
        MptcpStream::set_subflow_option(self, id, option)
    }
}

/// One of the paper's options on a connection.
pub(crate) type PaperOption<S> = fn(&S, &mut [u8]) -> Res<usize>;

/// The getsockopt of the paper's option (`level`, `name`), if it is one (not the
/// MPTCP_SUB_GETSOCKOPT / MPTCP_SUB_SETSOCKOPT pair, whose buffers hold pointers).
pub(crate) fn option<S: Subflows + ?Sized>(level: c_int, name: c_int) -> Option<PaperOption<S>> {
    match (level, name) {
        (libc::IPPROTO_TCP, MPTCP_GET_SUB_IDS) => Some(get_sub_ids::<S>),
        (libc::IPPROTO_TCP, MPTCP_CLOSE_SUB_ID) => Some(close_sub_id::<S>),
        (libc::IPPROTO_TCP, MPTCP_GET_SUB_TUPLE) => Some(get_sub_tuple::<S>),
        (libc::IPPROTO_TCP, MPTCP_OPEN_SUB_TUPLE) => Some(open_sub_tuple::<S>),
        _ => None,
    }
}

/// The status byte of one subflow.
fn flags(s: &SubflowStatus) -> u8 {
    [
        (s.joined, SUB_SLAVE_SK),
        (s.fully_established, SUB_FULLY_ESTABLISHED),
        (s.attached, SUB_ATTACHED),
        (s.backup, SUB_LOW_PRIO),
        (s.pre_established, SUB_PRE_ESTABLISHED),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .fold(0, |acc, (_, bit)| acc | bit)
}

/// `struct mptcp_sub_ids` for `subflows` into `buf`.
pub(crate) fn encode_sub_ids(subflows: &[SubflowStatus], buf: &mut [u8]) -> Res<usize> {
    let count = u8::try_from(subflows.len()).map_err(|_| Fail::errno(libc::EOVERFLOW))?;
    let c_ids = subflows.iter().map(|s| ids::to_c(s.id)).collect::<Res<Vec<u8>>>()?;
    let needed = SUB_IDS_HEADER + SUB_STATUS_LEN * subflows.len();
    if buf.len() < needed {
        return Err(Fail::short(needed));
    }
    buf[..SUB_IDS_HEADER].fill(0);
    buf[0] = count;
    for (i, (s, id)) in subflows.iter().zip(c_ids).enumerate() {
        buf.put(SUB_IDS_HEADER + i * SUB_STATUS_LEN, &[id, flags(s)]);
    }
    Ok(needed)
}

/// MPTCP_GET_SUB_IDS.
pub(crate) fn get_sub_ids<S: Subflows + ?Sized>(stream: &S, buf: &mut [u8]) -> Res<usize> {
    encode_sub_ids(&stream.subflows()?, buf)
}

/// The subflow named in byte 0 of `buf`, which needs at least `header` bytes to be worth
/// reading.
fn id_in(buf: &[u8], header: usize) -> Res<SubflowId> {
    ids::from_c(buf.first().copied().ok_or(Fail::short(header))?)
}

/// MPTCP_CLOSE_SUB_ID: `how` is read only if the buffer holds the whole struct.
pub(crate) fn close_sub_id<S: Subflows + ?Sized>(stream: &S, buf: &mut [u8]) -> Res<usize> {
    let id = id_in(buf, CLOSE_LEN)?;
    let mode = match buf.i32_at(CLOSE_HOW).filter(|_| buf.len() >= CLOSE_LEN) {
        None | Some(MPTCP_CLOSE_RST) => CloseMode::Abort,
        Some(MPTCP_CLOSE_FIN) => CloseMode::Graceful,
        Some(_) => return Err(Fail::INVAL),
    };
    stream.close_subflow(id, mode)?;
    Ok(buf.len().min(CLOSE_LEN))
}

/// Writes the tuple header and both addresses in `family`; the length used.
fn encode_tuple(buf: &mut [u8], backup: bool, local: SocketAddr, remote: SocketAddr) -> Res<usize> {
    let family = Family::of(&local);
    let len = family.sockaddr_len();
    let needed = TUPLE_ADDRS + 2 * len;
    if buf.len() < needed {
        return Err(Fail::short(needed));
    }
    buf[TUPLE_PRIO..TUPLE_ADDRS].fill(0);
    buf[TUPLE_PRIO] = backup.into();
    for (i, a) in [local, remote].into_iter().enumerate() {
        let (bytes, n) = addr::encode(a, family);
        buf.put(TUPLE_ADDRS + i * len, &bytes[..n]);
    }
    Ok(needed)
}

/// MPTCP_GET_SUB_TUPLE.
pub(crate) fn get_sub_tuple<S: Subflows + ?Sized>(stream: &S, buf: &mut [u8]) -> Res<usize> {
    let id = id_in(buf, TUPLE_ADDRS)?;
    let s = stream.subflow_info(id)?;
    encode_tuple(buf, s.backup, s.local, s.remote)
}

/// The smallest tuple: IPv4.
const MIN_TUPLE: usize = TUPLE_ADDRS + 2 * size_of::<sockaddr_in>();

/// MPTCP_OPEN_SUB_TUPLE: opens the subflow and writes its id back into `id`.
pub(crate) fn open_sub_tuple<S: Subflows + ?Sized>(stream: &S, buf: &mut [u8]) -> Res<usize> {
    let family = addr::family_of(buf.get(TUPLE_ADDRS..).ok_or(Fail::short(MIN_TUPLE))?)?;
    let len = family.sockaddr_len();
    let needed = TUPLE_ADDRS + 2 * len;
    if buf.len() < needed {
        return Err(Fail::short(needed));
    }
    let local = addr::decode(&buf[TUPLE_ADDRS..TUPLE_ADDRS + len], family)?;
    let remote = addr::decode(&buf[TUPLE_ADDRS + len..needed], family)?;
    let id = stream.open_subflow(local, remote, buf[TUPLE_PRIO] != 0)?;
    match ids::to_c(id) {
        Ok(b) => buf[0] = b,
        Err(e) => {
            // An id the application cannot name would be a subflow it cannot control.
            let _ = stream.close_subflow(id, CloseMode::Abort);
            return Err(e);
        }
    }
    Ok(needed)
}

/// getsockopt of inner option (`level`, `name`) on subflow `id` (MPTCP_SUB_GETSOCKOPT).
pub(crate) fn sub_get<S: Subflows + ?Sized>(
    stream: &S,
    id: u8,
    level: c_int,
    name: c_int,
    buf: &mut [u8],
) -> Res<usize> {
    let opt = Opt::of(level, name).ok_or(Fail::NOPROTOOPT)?;
    let id = ids::from_c(id)?;
    match opt.kind() {
        None => Ok(value::put_prefix(buf, &tcp_info::of_subflow(&stream.subflow_info(id)?))),
        Some(kind) => value::put(buf, stream.subflow_option(id, kind)?),
    }
}

/// setsockopt of inner option (`level`, `name`) on subflow `id` (MPTCP_SUB_SETSOCKOPT).
pub(crate) fn sub_set<S: Subflows + ?Sized>(stream: &S, id: u8, level: c_int, name: c_int, bytes: &[u8]) -> Res<()> {
    let opt = Opt::of(level, name).ok_or(Fail::NOPROTOOPT)?;
    Ok(stream.set_subflow_option(ids::from_c(id)?, value::parse(opt, bytes)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: SubflowId, joined: bool, backup: bool) -> SubflowStatus {
        SubflowStatus { id, joined, fully_established: true, attached: true, pre_established: false, backup }
    }

    #[test]
    fn sub_ids_layout_and_lengths() {
        let subs = [status(0, false, false), status(1, true, true)];
        let mut buf = [0xaau8; 6];
        assert_eq!(encode_sub_ids(&subs, &mut buf[..5]), Err(Fail::short(6)));
        assert_eq!(encode_sub_ids(&subs, &mut buf), Ok(6));
        assert_eq!(buf, [2, 0, 1, 0b0110, 2, 0b1111]);
        assert_eq!(encode_sub_ids(&[status(255, true, false)], &mut buf), Err(Fail::errno(libc::EOVERFLOW)));
    }

    #[test]
    fn tuple_layout() {
        let mut buf = [0xaau8; 60];
        let (l, r) = ("10.0.0.2:40000".parse().unwrap(), "10.0.0.1:80".parse().unwrap());
        assert_eq!(encode_tuple(&mut buf[..35], false, l, r), Err(Fail::short(36)));
        assert_eq!(encode_tuple(&mut buf, true, l, r), Ok(36));
        assert_eq!(buf[1..4], [1, 0, 0]);
        assert_eq!(addr::decode(&buf[4..20], Family::V4), Ok(l));
        assert_eq!(addr::decode(&buf[20..36], Family::V4), Ok(r));
        let (l, r) = ("[fd00::2]:40000".parse().unwrap(), "[fd00::1]:80".parse().unwrap());
        assert_eq!(encode_tuple(&mut buf, false, l, r), Ok(60));
        assert_eq!(addr::decode(&buf[32..60], Family::V6), Ok(r));
    }
}
