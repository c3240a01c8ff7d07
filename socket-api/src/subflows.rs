//! The paper's operations on one connection (Hesmans & Bonaventure, "An enhanced socket API for
//! Multipath TCP": list subflows, their endpoints, open one with chosen endpoints, close one,
//! get and set an option on one) and its next steps: address advertisement, scheduler and
//! congestion-control switches on a live connection, writes pinned to a subflow, and one
//! consistent snapshot of the connection.
//!
//! Like the paper's kernel, every operation fails with `Unsupported` (EOPNOTSUPP) until the
//! connection is established as MPTCP and after it fell back to TCP, and with `InvalidInput`
//! (EINVAL) for an unknown subflow id. Subflow ids are never reused within a connection.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mptcp_tun_driver::stack::cc::Algorithm;
use mptcp_tun_driver::stack::connection::{
    Connection, ConnectionStats, Mode, SubflowError, SubflowOption, SubflowOptionKind, SubflowSnapshot,
};
use mptcp_tun_driver::stack::scheduler::SchedulerKind;
use mptcp_tun_driver::stack::subflow::{SubflowId, TcpState};

use crate::error::subflow_error;
use crate::stream::{Attempt, MptcpStream};

/// One subflow in [`MptcpStream::subflows`] (the paper's `struct mptcp_sub_status`, every bit
/// filled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubflowStatus {
    /// Its id, never reused within the connection.
    pub id: SubflowId,
    /// Opened by MP_JOIN (the paper's `slave_sk`); `false` for the initial subflow.
    pub joined: bool,
    /// Its handshake completed at the MPTCP level: it may carry data (RFC 8684 §3.2).
    pub fully_established: bool,
    /// It takes part in the connection: established and not closing.
    pub attached: bool,
    /// Its handshake is under way.
    pub pre_established: bool,
    /// A backup subflow (ours or the peer's choice, RFC 8684 §3.3.8; the paper's `low_prio`).
    pub backup: bool,
}

impl SubflowStatus {
    pub(crate) fn of(s: &SubflowSnapshot) -> SubflowStatus {
        let handshaking = matches!(s.state, TcpState::SynSent | TcpState::SynReceived);
        SubflowStatus {
            id: s.id,
            joined: s.joined,
            fully_established: s.fully_established,
            attached: s.fully_established && matches!(s.state, TcpState::Established | TcpState::CloseWait),
            pre_established: handshaking || (s.state.is_synchronized() && !s.fully_established),
            backup: s.backup,
        }
    }
}

/// How [`MptcpStream::close_subflow`] ends a subflow. Either way its unacknowledged data is
/// sent again on the other subflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloseMode {
    /// FIN: the subflow finishes what it has in flight.
    #[default]
    Graceful,
    /// RST at once.
    Abort,
}

/// Everything about a connection at one instant, taken under one lock.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Time since the stack started.
    pub at: Duration,
    /// MPTCP, fallback, or still in the handshake.
    pub mode: Mode,
    /// Token, counters and every subflow (those that ended too, the latest 16).
    pub stats: ConnectionStats,
    /// Connection events dropped because nobody took them.
    pub events_dropped: u64,
}

/// Is this subflow still part of the connection (listed by `subflows`)?
fn listed(s: &SubflowSnapshot) -> bool {
    !matches!(s.state, TcpState::Closed | TcpState::TimeWait)
}

impl MptcpStream {
    /// Runs `f` on an established MPTCP connection.
    fn with_mptcp<R>(&self, f: impl FnOnce(&mut Connection) -> Result<R, SubflowError>) -> io::Result<R> {
        self.with_conn(|c| if c.mode() == Mode::Mptcp { f(c) } else { Err(SubflowError::NotMptcp) })?
            .map_err(subflow_error)
    }

    /// The current subflows (MPTCP_GET_SUB_IDS).
    pub fn subflows(&self) -> io::Result<Vec<SubflowStatus>> {
        self.with_mptcp(|c| Ok(c.stats().subflows.iter().filter(|s| listed(s)).map(SubflowStatus::of).collect()))
    }

    /// Subflow `id`'s local and remote endpoints (MPTCP_GET_SUB_TUPLE).
    pub fn subflow_endpoints(&self, id: SubflowId) -> io::Result<(SocketAddr, SocketAddr)> {
        let s = self.subflow_info(id)?;
        Ok((s.local, s.remote))
    }

    /// Opens a subflow from `local` to `remote` (MPTCP_OPEN_SUB_TUPLE), a backup one if
    /// `backup`; returns its id at once. An unspecified local IP means this stack's first path
    /// of the remote's family, local port 0 any port; an unspecified remote IP or port 0 means
    /// the initial subflow's. A `SubflowEstablished` or `SubflowClosed` event tells how it went.
    pub fn open_subflow(&self, local: SocketAddr, remote: SocketAddr, backup: bool) -> io::Result<SubflowId> {
        let initial = self.peer_addr()?;
        let remote_ip = if remote.ip().is_unspecified() { initial.ip() } else { remote.ip() };
        let remote_port = if remote.port() == 0 { initial.port() } else { remote.port() };
        let remote = SocketAddr::new(remote_ip, remote_port);
        let local_ip = if local.ip().is_unspecified() {
            let locals = self.runtime.shared.lock().locals.clone();
            locals.into_iter().find(|a| a.is_ipv4() == remote.is_ipv4()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::AddrNotAvailable, format!("no path of this stack can reach {remote}"))
            })?
        } else {
            local.ip()
        };
        if !self.runtime.shared.lock().locals.contains(&local_ip) {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{local_ip} is not the address of any path of this stack"),
            ));
        }
        let local = SocketAddr::new(local_ip, local.port());
        self.with_mptcp(|c| c.open_subflow(local, remote, backup))
    }

    /// Closes subflow `id` (MPTCP_CLOSE_SUB_ID); its unacknowledged data moves to the others.
    pub fn close_subflow(&self, id: SubflowId, mode: CloseMode) -> io::Result<()> {
        let now = self.runtime.shared.now();
        self.with_mptcp(|c| c.close_subflow(id, mode == CloseMode::Abort, now))
    }

    /// Sets one option on subflow `id` (MPTCP_SUB_SETSOCKOPT).
    pub fn set_subflow_option(&self, id: SubflowId, option: SubflowOption) -> io::Result<()> {
        self.with_mptcp(|c| c.set_subflow_option(id, option))
    }

    /// Reads one option of subflow `id` (MPTCP_SUB_GETSOCKOPT).
    pub fn subflow_option(&self, id: SubflowId, kind: SubflowOptionKind) -> io::Result<SubflowOption> {
        self.with_mptcp(|c| c.subflow_option(id, kind))
    }

    /// Sets `option` (not `Backup`) on every current subflow and every later one: the
    /// connection-wide TCP_NODELAY, TCP_MAXSEG, IP_TOS / IPV6_TCLASS and TCP_CONGESTION.
    pub fn set_default_subflow_option(&self, option: SubflowOption) -> io::Result<()> {
        self.with_conn(|c| c.set_default_subflow_option(option))?.map_err(subflow_error)
    }

    /// Subflow `id`'s state and counters, like `TCP_INFO` (state, srtt, rttvar, rto, cwnd,
    /// ssthresh, MSS, bytes sent, acknowledged and received, retransmissions).
    pub fn subflow_info(&self, id: SubflowId) -> io::Result<SubflowSnapshot> {
        self.with_mptcp(|c| c.subflow_snapshot(id).ok_or(SubflowError::NoSuchSubflow))
    }

    /// Announces one of this stack's addresses to the peer (ADD_ADDR, RFC 8684 §3.4.1);
    /// returns its address id.
    pub fn announce_address(&self, ip: IpAddr, port: Option<u16>) -> io::Result<u8> {
        let now = self.runtime.shared.now();
        self.with_mptcp(|c| c.announce_address(ip, port, now))
    }

    /// Withdraws an address (REMOVE_ADDR, RFC 8684 §3.4.2); its subflows close.
    pub fn withdraw_address(&self, ip: IpAddr) -> io::Result<()> {
        let now = self.runtime.shared.now();
        self.with_mptcp(|c| c.withdraw_address(ip, now))
    }

    /// Switches the scheduler of this live connection.
    pub fn set_scheduler(&self, kind: SchedulerKind) -> io::Result<()> {
        self.with_conn(|c| c.set_scheduler(kind))
    }

    /// Switches the congestion control of every subflow of this live connection (each keeps
    /// its window).
    pub fn set_congestion_control(&self, algorithm: Algorithm) -> io::Result<()> {
        self.with_conn(|c| c.set_congestion_control(algorithm))
    }

    /// Writes `data` to go out on subflow `id` only; returns how much the send buffer took,
    /// waiting like `write` when it is full. If that subflow ends first, the bytes go on the
    /// others.
    pub fn write_on(&self, id: SubflowId, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        self.blocking(None, |core, h| {
            let r = core.endpoint.with_connection(h, |c| c.write_on(id, data));
            match r {
                None => Err(io::ErrorKind::NotConnected.into()),
                Some(Ok(0)) => Ok(Attempt::Pending),
                Some(Ok(n)) => Ok(Attempt::Ready(n)),
                Some(Err(e)) => Err(subflow_error(e)),
            }
        })
    }

    /// The whole connection at one instant: mode, token, counters, every subflow.
    pub fn snapshot(&self) -> io::Result<Snapshot> {
        let at = Duration::from_micros(self.runtime.shared.now().as_micros());
        let core = self.core()?;
        let c = core.endpoint.connection(self.handle).ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let events_dropped = core.conns.get(&self.handle).map_or(0, |s| s.events_dropped);
        Ok(Snapshot { at, mode: c.mode(), stats: c.stats(), events_dropped })
    }
}
