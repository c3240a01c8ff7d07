//! The C ABI's getsockopt/setsockopt buffers without a stack, for the fuzz target in
//! `socket-api/fuzz` (no TUN device, no root). Not an API: hidden from the docs.
//!
//! [`Connection`] is a double of an established MPTCP connection: subflows kept as the stack's
//! snapshots, opened, closed and configured in memory. [`getsockopt`] and [`setsockopt`] take
//! the caller's buffers as slices, as `ffi.rs` makes them from its pointers, and run them
//! through the code the real calls use: the outer-buffer check and `*optlen` write-back
//! ([`sockopt::exact`], [`optlen_back`]), the paper's options ([`paper`]: `struct
//! mptcp_sub_ids`, `mptcp_sub_tuple`, `mptcp_close_sub_id`, the inner options of
//! MPTCP_SUB_GETSOCKOPT / MPTCP_SUB_SETSOCKOPT), option values ([`value`]), socket addresses and
//! `struct tcp_info`. What differs is only the dispatch of a descriptor's state (`sockopt.rs`
//! looks the socket up in the table; here it is always a connected MPTCP socket) and that the
//! inner buffer of MPTCP_SUB_GETSOCKOPT / MPTCP_SUB_SETSOCKOPT is a slice, not the pointer in
//! the outer struct.

use std::cell::RefCell;
use std::io;
use std::mem::offset_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use libc::c_int;
use mptcp_tun_driver::stack::connection::SubflowError;

use super::abi::{Bytes, TCP_IS_MPTCP, mptcp_sub_getsockopt, mptcp_sub_setsockopt};
use super::fail::{Fail, Res, optlen_back};
use super::paper::{self, Subflows};
use super::sockopt;
use super::tcp_info;
use super::value::{self, Opt};
use crate::error::subflow_error;
use crate::{
    Algorithm, CloseMode, SubflowId, SubflowOption, SubflowOptionKind, SubflowSnapshot, SubflowStatus, TcpState,
};

/// The most subflows the double keeps (the stack has a limit too).
const MAX_SUBFLOWS: usize = 8;

/// An established MPTCP connection in memory.
#[derive(Debug, Clone)]
pub struct Connection {
    subflows: RefCell<Vec<SubflowSnapshot>>,
    next_id: RefCell<SubflowId>,
}

/// TCP states a subflow of the double can be in.
const STATES: [TcpState; 8] = [
    TcpState::SynSent,
    TcpState::SynReceived,
    TcpState::Established,
    TcpState::FinWait1,
    TcpState::FinWait2,
    TcpState::CloseWait,
    TcpState::LastAck,
    TcpState::Closed,
];

impl Connection {
    /// No subflows yet; the first gets stack id `next_id` (C id `next_id + 1`: ids past 254 do
    /// not fit the paper's 8 bits).
    pub fn new(next_id: SubflowId) -> Connection {
        Connection { subflows: RefCell::new(Vec::new()), next_id: RefCell::new(next_id) }
    }

    /// Adds a subflow as the stack would have one: IPv6 with `v6`; `bits` bit 0 joined, bit 1
    /// backup, bit 2 fully established, bits 3–5 its TCP state, bits 6–7 its congestion control.
    /// Its id, or `None` when the double is full.
    pub fn add(&self, v6: bool, bits: u8) -> Option<SubflowId> {
        let n = self.subflows.borrow().len();
        let (local, remote) = if v6 {
            let ip = |last| IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last));
            (SocketAddr::new(ip(2 + 16 * n as u16), 40000 + n as u16), SocketAddr::new(ip(1), 443))
        } else {
            let ip = |last| IpAddr::V4(Ipv4Addr::new(10, 0, n as u8, last));
            (SocketAddr::new(ip(2), 40000 + n as u16), SocketAddr::new(ip(1), 443))
        };
        let id = self.open(local, remote, bits & 2 != 0).ok()?;
        let mut subflows = self.subflows.borrow_mut();
        let s = subflows.last_mut()?;
        s.joined = bits & 1 != 0;
        s.fully_established = bits & 4 != 0;
        s.state = STATES[usize::from(bits >> 3 & 7)];
        s.congestion_control = Algorithm::ALL[usize::from(bits >> 6)];
        s.srtt = Some(Duration::from_micros(u64::from(bits) * 997));
        Some(id)
    }

    /// The subflows as MPTCP_GET_SUB_IDS lists them.
    pub fn statuses(&self) -> Vec<SubflowStatus> {
        self.subflows.borrow().iter().map(SubflowStatus::of).collect()
    }

    /// Subflow `id` (stack id) as the stack reports it.
    pub fn snapshot(&self, id: SubflowId) -> Option<SubflowSnapshot> {
        self.subflows.borrow().iter().find(|s| s.id == id).cloned()
    }

    fn open(&self, local: SocketAddr, remote: SocketAddr, backup: bool) -> Result<SubflowId, SubflowError> {
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(SubflowError::AddressFamily);
        }
        let mut subflows = self.subflows.borrow_mut();
        if subflows.len() >= MAX_SUBFLOWS {
            return Err(SubflowError::TooManySubflows);
        }
        let mut next = self.next_id.borrow_mut();
        let id = *next;
        *next = next.checked_add(1).ok_or(SubflowError::TooManySubflows)?;
        subflows.push(SubflowSnapshot {
            id,
            local,
            remote,
            state: TcpState::SynSent,
            srtt: None,
            rttvar: Duration::from_millis(50),
            cwnd: 14_600,
            ssthresh: u64::MAX,
            mss: 1440,
            rto: Duration::from_secs(1),
            traffic_class: 0,
            nodelay: true,
            congestion_control: Algorithm::default(),
            stats: Default::default(),
            backup,
            address_ids: (0, None),
            fully_established: false,
            joined: true,
        });
        Ok(id)
    }

    fn with<R>(&self, id: SubflowId, f: impl FnOnce(&mut SubflowSnapshot) -> R) -> io::Result<R> {
        let mut subflows = self.subflows.borrow_mut();
        let s = subflows.iter_mut().find(|s| s.id == id).ok_or(subflow_error(SubflowError::NoSuchSubflow))?;
        Ok(f(s))
    }

    /// A connection-wide option's value: the initial subflow's, else the default.
    fn connection_option(&self, kind: SubflowOptionKind) -> SubflowOption {
        let initial = self.subflows.borrow().iter().find(|s| !s.joined).map(|s| s.id);
        initial.and_then(|id| self.subflow_option(id, kind).ok()).unwrap_or(match kind {
            SubflowOptionKind::NoDelay => SubflowOption::NoDelay(true),
            SubflowOptionKind::MaxSegmentSize => SubflowOption::MaxSegmentSize(536),
            SubflowOptionKind::TrafficClass => SubflowOption::TrafficClass(0),
            SubflowOptionKind::Backup => SubflowOption::Backup(false),
            SubflowOptionKind::CongestionControl => SubflowOption::CongestionControl(Algorithm::default()),
        })
    }
}

impl Subflows for Connection {
    fn subflows(&self) -> io::Result<Vec<SubflowStatus>> {
        Ok(self.statuses())
    }

    fn subflow_info(&self, id: SubflowId) -> io::Result<SubflowSnapshot> {
        self.snapshot(id).ok_or(subflow_error(SubflowError::NoSuchSubflow))
    }

    fn close_subflow(&self, id: SubflowId, _: CloseMode) -> io::Result<()> {
        let mut subflows = self.subflows.borrow_mut();
        let before = subflows.len();
        subflows.retain(|s| s.id != id);
        if subflows.len() == before { Err(subflow_error(SubflowError::NoSuchSubflow)) } else { Ok(()) }
    }

    fn open_subflow(&self, local: SocketAddr, remote: SocketAddr, backup: bool) -> io::Result<SubflowId> {
        self.open(local, remote, backup).map_err(subflow_error)
    }

    fn subflow_option(&self, id: SubflowId, kind: SubflowOptionKind) -> io::Result<SubflowOption> {
        self.with(id, |s| match kind {
            SubflowOptionKind::NoDelay => SubflowOption::NoDelay(s.nodelay),
            SubflowOptionKind::MaxSegmentSize => SubflowOption::MaxSegmentSize(s.mss),
            SubflowOptionKind::TrafficClass => SubflowOption::TrafficClass(s.traffic_class),
            SubflowOptionKind::Backup => SubflowOption::Backup(s.backup),
            SubflowOptionKind::CongestionControl => SubflowOption::CongestionControl(s.congestion_control),
        })
    }

    fn set_subflow_option(&self, id: SubflowId, option: SubflowOption) -> io::Result<()> {
        if option == SubflowOption::MaxSegmentSize(0) {
            return Err(subflow_error(SubflowError::InvalidValue));
        }
        self.with(id, |s| match option {
            SubflowOption::NoDelay(b) => s.nodelay = b,
            SubflowOption::MaxSegmentSize(mss) => s.mss = mss,
            SubflowOption::TrafficClass(tc) => s.traffic_class = tc,
            SubflowOption::Backup(b) => s.backup = b,
            SubflowOption::CongestionControl(alg) => s.congestion_control = alg,
        })
    }
}

/// A call as its C caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// `Ok` (the call returned 0) or the errno (it returned -1).
    pub result: Result<(), c_int>,
    /// `*optlen` afterwards (getsockopt; for setsockopt the length given).
    pub optlen: usize,
    /// MPTCP_SUB_GETSOCKOPT: the inner `*optlen` afterwards, if the call got to the inner buffer.
    pub inner_optlen: Option<usize>,
}

/// The subflow id and inner (`level`, `name`) of a checked MPTCP_SUB_GET/SETSOCKOPT struct (the
/// two structs share these offsets, checked in `abi.rs`).
fn sub_header(buf: &[u8]) -> (u8, c_int, c_int) {
    let at = |o| buf.i32_at(o).unwrap_or_default();
    (buf[0], at(offset_of!(mptcp_sub_getsockopt, level)), at(offset_of!(mptcp_sub_getsockopt, optname)))
}

/// getsockopt(`level`, `name`) on `conn` with the `buf.len()` bytes of `buf` (for
/// MPTCP_SUB_GETSOCKOPT, `buf` is the outer struct and `inner` the buffer it points to).
pub fn getsockopt(conn: &Connection, level: c_int, name: c_int, buf: &mut [u8], inner: &mut [u8]) -> Outcome {
    let mut out = Outcome { result: Ok(()), optlen: buf.len(), inner_optlen: None };
    let outer = if sockopt::is_sub_getsockopt(level, name) {
        sockopt::exact::<mptcp_sub_getsockopt>(buf)
    } else {
        get(conn, level, name, buf)
    };
    if let Some(n) = optlen_back(&outer) {
        out.optlen = n;
    }
    if let Err(fail) = outer {
        out.result = Err(fail.errno);
        return out;
    }
    if sockopt::is_sub_getsockopt(level, name) {
        let (id, level, name) = sub_header(buf);
        let r = paper::sub_get(conn, id, level, name, inner);
        out.inner_optlen = Some(optlen_back(&r).unwrap_or(inner.len()));
        out.result = r.map(drop).map_err(|f| f.errno);
    }
    out
}

/// What `sockopt::get` does on a connected MPTCP socket.
fn get(conn: &Connection, level: c_int, name: c_int, buf: &mut [u8]) -> Res<usize> {
    if let Some(f) = paper::option::<Connection>(level, name) {
        return f(conn, buf);
    }
    if (level, name) == (libc::IPPROTO_TCP, TCP_IS_MPTCP) {
        return value::put_int(buf, 1);
    }
    match Opt::of(level, name) {
        None | Some(Opt::LowPrio) => Err(Fail::NOPROTOOPT),
        Some(Opt::Info) => Ok(value::put_prefix(buf, &tcp_info::of_connection(&conn.subflows.borrow()))),
        Some(opt) => value::put(buf, conn.connection_option(opt.kind().ok_or(Fail::NOPROTOOPT)?)),
    }
}

/// setsockopt(`level`, `name`, `bytes`) on `conn` (for MPTCP_SUB_SETSOCKOPT, `bytes` is the
/// outer struct and `inner` the value it points to); `Err` holds the errno.
pub fn setsockopt(conn: &Connection, level: c_int, name: c_int, bytes: &[u8], inner: &[u8]) -> Result<(), c_int> {
    set(conn, level, name, bytes, inner).map_err(|f| f.errno)
}

fn set(conn: &Connection, level: c_int, name: c_int, bytes: &[u8], inner: &[u8]) -> Res<()> {
    if sockopt::is_sub_setsockopt(level, name) {
        sockopt::exact::<mptcp_sub_setsockopt>(bytes)?;
        let (id, level, name) = sub_header(bytes);
        return paper::sub_set(conn, id, level, name, inner);
    }
    let opt = match Opt::of(level, name) {
        None | Some(Opt::LowPrio | Opt::Info) => return Err(Fail::NOPROTOOPT),
        Some(opt) => opt,
    };
    // Connection-wide: every subflow (`MptcpStream::set_default_subflow_option`).
    let option = value::parse(opt, bytes)?;
    for s in conn.statuses() {
        conn.set_subflow_option(s.id, option)?;
    }
    Ok(())
}
