//! getsockopt and setsockopt on a descriptor of the C ABI: the paper's options, the
//! connection-wide TCP and IP options, and SOL_SOCKET (passed to the socketpair, except the few
//! that describe the MPTCP socket).

use std::mem::size_of;
use std::os::fd::RawFd;
use std::sync::Arc;

use libc::c_int;

use super::abi::{MPTCP_SUB_GETSOCKOPT, MPTCP_SUB_SETSOCKOPT, TCP_IS_MPTCP};
use super::config;
use super::fail::{Fail, Res};
use super::inert;
use super::paper;
use super::socket;
use super::sys;
use super::table::{self, Socket, State};
use super::tcp_info;
use super::value::{self, Opt};
use crate::{MptcpStream, SubflowOption, SubflowOptionKind};

/// What an unconnected socket reports for TCP_MAXSEG (Linux's default MSS).
const DEFAULT_MSS: u16 = 536;

/// getsockopt(`fd`, `level`, `name`) into `buf`; the length to write back.
/// (MPTCP_SUB_GETSOCKOPT comes through [`sub_getsockopt`], which gets its inner buffer.)
pub(crate) fn get(fd: RawFd, level: c_int, name: c_int, buf: &mut [u8]) -> Res<usize> {
    let sock = table::get(fd)?;
    if level == libc::SOL_SOCKET {
        return socket_level(fd, &sock, name, buf);
    }
    if let Some(f) = paper::option::<MptcpStream>(level, name) {
        return f(&*mptcp(&sock)?, buf);
    }
    if (level, name) == (libc::IPPROTO_TCP, TCP_IS_MPTCP) {
        return value::put_int(buf, sock.stream().is_ok_and(|s| s.is_mptcp()).into());
    }
    if inert::is_inert(level, name) {
        return match sock.inert(level, name) {
            Some(v) => Ok(value::put_prefix(buf, &v)),
            None => value::put_int(buf, 0),
        };
    }
    match Opt::of(level, name) {
        None | Some(Opt::LowPrio) => Err(Fail::NOPROTOOPT),
        Some(Opt::Info) => Ok(value::put_prefix(buf, &connection_info(&sock)?)),
        Some(opt) => value::put(buf, connection_option(&sock, opt)?),
    }
}

/// setsockopt(`fd`, `level`, `name`, `bytes`). (MPTCP_SUB_SETSOCKOPT comes through
/// [`sub_setsockopt`].)
pub(crate) fn set(fd: RawFd, level: c_int, name: c_int, bytes: &[u8]) -> Res<()> {
    let sock = table::get(fd)?;
    if level == libc::SOL_SOCKET {
        return match name {
            libc::SO_ERROR | libc::SO_TYPE | libc::SO_DOMAIN | libc::SO_PROTOCOL | libc::SO_ACCEPTCONN => {
                Err(Fail::NOPROTOOPT)
            }
            _ => Ok(sys::setsockopt(fd, level, name, bytes)?),
        };
    }
    if inert::is_inert(level, name) {
        sock.set_inert(level, name, bytes);
        return Ok(());
    }
    let opt = match Opt::of(level, name) {
        None | Some(Opt::LowPrio | Opt::Info) => return Err(Fail::NOPROTOOPT),
        Some(opt) => opt,
    };
    let option = value::parse(opt, bytes)?;
    let stream = match &mut *sock.state() {
        State::Fresh { options, .. } | State::Listening { options, .. } => {
            options.retain(|o| o.kind() != option.kind());
            options.push(option);
            return Ok(());
        }
        State::Connected(c) => Arc::clone(&c.stream),
    };
    Ok(apply(&stream, option)?)
}

/// The stream of an established MPTCP connection, for the paper's options: EOPNOTSUPP before
/// anything else when it is none (not connected, handshake under way, fell back).
fn mptcp(sock: &Socket) -> Res<Arc<MptcpStream>> {
    sock.stream().ok().filter(|s| s.is_mptcp()).ok_or(Fail::errno(libc::EOPNOTSUPP))
}

fn mptcp_stream(fd: RawFd) -> Res<Arc<MptcpStream>> {
    mptcp(&*table::get(fd)?)
}

/// MPTCP_SUB_GETSOCKOPT: inner option (`level`, `name`) of subflow `id` into `buf`.
pub(crate) fn sub_getsockopt(fd: RawFd, id: u8, level: c_int, name: c_int, buf: &mut [u8]) -> Res<usize> {
    let stream = mptcp_stream(fd)?;
    paper::sub_get(&*stream, id, level, name, buf)
}

/// MPTCP_SUB_SETSOCKOPT: inner option (`level`, `name`) of subflow `id` to `bytes`.
pub(crate) fn sub_setsockopt(fd: RawFd, id: u8, level: c_int, name: c_int, bytes: &[u8]) -> Res<()> {
    let stream = mptcp_stream(fd)?;
    paper::sub_set(&*stream, id, level, name, bytes)
}

/// The outer buffer of MPTCP_SUB_GET/SETSOCKOPT: exactly `sizeof(T)`, else EINVAL with that.
pub(crate) fn exact<T>(buf: &[u8]) -> Res<usize> {
    if buf.len() == size_of::<T>() { Ok(buf.len()) } else { Err(Fail::short(size_of::<T>())) }
}

/// Is (`level`, `name`) the option that needs its inner buffer from the caller's pointers?
pub(crate) fn is_sub_getsockopt(level: c_int, name: c_int) -> bool {
    (level, name) == (libc::IPPROTO_TCP, MPTCP_SUB_GETSOCKOPT)
}

/// Is it MPTCP_SUB_SETSOCKOPT?
pub(crate) fn is_sub_setsockopt(level: c_int, name: c_int) -> bool {
    (level, name) == (libc::IPPROTO_TCP, MPTCP_SUB_SETSOCKOPT)
}

/// SOL_SOCKET: what describes the MPTCP socket is answered here, the rest by the socketpair.
fn socket_level(fd: RawFd, sock: &Socket, name: c_int, buf: &mut [u8]) -> Res<usize> {
    let v = match name {
        libc::SO_ERROR => socket::take_error(sock)?,
        libc::SO_TYPE => libc::SOCK_STREAM,
        libc::SO_DOMAIN => sock.family.domain(),
        libc::SO_PROTOCOL => {
            if sock.protocol == 0 {
                libc::IPPROTO_TCP
            } else {
                sock.protocol
            }
        }
        libc::SO_ACCEPTCONN => matches!(&*sock.state(), State::Listening { .. }).into(),
        _ => return Ok(sys::getsockopt(fd, libc::SOL_SOCKET, name, buf)?),
    };
    value::put_int(buf, v)
}

/// Applies connection-wide `option` to every current and future subflow.
pub(crate) fn apply(stream: &MptcpStream, option: SubflowOption) -> std::io::Result<()> {
    stream.set_default_subflow_option(option)
}

/// Applies options set before the connection existed (failures were reported when they were
/// set: the values are valid).
pub(crate) fn apply_all(stream: &MptcpStream, options: &[SubflowOption]) {
    for o in options {
        let _ = apply(stream, *o);
    }
}

/// A connection-wide option's value: the initial subflow's (the connection's congestion
/// control); before a connection, what was set or the default.
fn connection_option(sock: &Socket, opt: Opt) -> Res<SubflowOption> {
    let kind = opt.kind().ok_or(Fail::NOPROTOOPT)?;
    let stream = match &*sock.state() {
        State::Fresh { options, .. } | State::Listening { options, .. } => {
            return Ok(options.iter().copied().find(|o| o.kind() == kind).unwrap_or_else(|| default(kind)));
        }
        State::Connected(c) => Arc::clone(&c.stream),
    };
    let value = stream.with_conn(|c| {
        let stats = c.stats();
        if kind == SubflowOptionKind::CongestionControl {
            return Some(SubflowOption::CongestionControl(stats.congestion_control));
        }
        let initial = stats.subflows.iter().find(|s| !s.joined)?.id;
        c.subflow_option(initial, kind).ok()
    })?;
    // The initial subflow ended: what a new one would have.
    Ok(value.unwrap_or_else(|| default(kind)))
}

/// The value of a setting nobody set.
fn default(kind: SubflowOptionKind) -> SubflowOption {
    match kind {
        SubflowOptionKind::NoDelay => SubflowOption::NoDelay(true),
        SubflowOptionKind::MaxSegmentSize => SubflowOption::MaxSegmentSize(DEFAULT_MSS),
        SubflowOptionKind::TrafficClass => SubflowOption::TrafficClass(0),
        SubflowOptionKind::Backup => SubflowOption::Backup(false),
        SubflowOptionKind::CongestionControl => SubflowOption::CongestionControl(config::default_cc()),
    }
}

/// TCP_INFO of the descriptor's connection (see [`tcp_info::of_connection`]).
fn connection_info(sock: &Socket) -> Res<Vec<u8>> {
    let stream = match &*sock.state() {
        State::Fresh { .. } => return Ok(tcp_info::without_connection(tcp_info::TCP_CLOSE)),
        State::Listening { .. } => return Ok(tcp_info::without_connection(tcp_info::TCP_LISTEN)),
        State::Connected(c) => Arc::clone(&c.stream),
    };
    match stream.snapshot() {
        Ok(s) => Ok(tcp_info::of_connection(&s.stats.subflows)),
        // Gone: closed, as Linux reports a socket whose connection ended.
        Err(_) => Ok(tcp_info::without_connection(tcp_info::TCP_CLOSE)),
    }
}
