//! One MPTCP connection: MP_CAPABLE in both roles (RFC 8684 §3.1), data-sequence mapping
//! (§3.3.1), DATA_ACK and the shared receive window (§3.3.2, §3.3.4), DATA_FIN (§3.3.3),
//! fast close (§3.5), MP_TCPRST (§3.6), checksums and fallback to TCP (§3.7).
//!
//! The connection owns the data-level send and receive buffers and its subflows. What the
//! Linux kernel expects of a peer (`shared notes §3`) decides the details: a DSS with a
//! DATA_ACK on every segment after the handshake, the first data segment of the initiator
//! carrying MP_CAPABLE until a DATA_ACK arrives, 64-bit DSNs, DATA_FIN on every subflow.

mod in_flight;
mod input;
mod join;
mod limits;
mod options;
mod output;
pub mod path_manager;
mod pinned;
mod recv_buf;
mod rx_map;
mod send_buf;
mod signals;

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::VecDeque;

use crate::cc;
use crate::crypto::Key;
use crate::range_set::RangeSet;
use crate::scheduler::{Scheduler, SchedulerKind, new_scheduler};
use crate::subflow::{Subflow, SubflowEnd, SubflowId, SubflowStats, SynInfo, TcpConfig, TcpState};
use crate::time::Instant;
use crate::wire::mptcp::{AddAddrRepr, ResetReason};
use in_flight::InFlight;
use join::Join;
pub use join::SubflowError;
pub use options::{SubflowOption, SubflowOptionKind};
use path_manager::{AddressBook, LocalAddress, PathManagerKind};
use recv_buf::RecvBuffer;
use rx_map::{MapError, RxMaps};
use send_buf::SendBuffer;

/// MPTCP options on a data segment: DSS with 64-bit DATA_ACK and 64-bit mapping, plus a
/// checksum, padded: 28 bytes (RFC 8684 §3.3, Fig. 9).
const DSS_OVERHEAD: usize = 28;
/// DATA_FIN retransmission starts at this interval and backs off (RFC 8684 §3.3.3 leaves the
/// timer to the implementation; the kernel uses its MPTCP retransmit timer).
const DATA_FIN_RTO: Duration = Duration::from_millis(200);

/// Ended subflows kept for statistics; older ones are forgotten, so that a long-lived
/// connection whose paths fail and are retried does not grow without bound.
const MAX_ENDED_SUBFLOWS: usize = 16;

/// Which end opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the first SYN.
    Client,
    /// We answered it.
    Server,
}

/// Settings of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Send buffer in bytes.
    pub send_buffer: usize,
    /// Receive buffer in bytes: the connection-level receive window (RFC 8684 §3.3.4).
    pub recv_buffer: usize,
    /// Ask for DSS checksums (RFC 8684 §3.1 flag A); used when either side asks.
    pub checksum: bool,
    /// Offer MPTCP at all; with `false` the connection is plain TCP.
    pub mptcp: bool,
    /// SYN retransmissions after which the SYN goes without MP_CAPABLE (the kernel's
    /// `syn_retrans_before_tcp_fallback`, RFC 8684 §3.1 middlebox advice).
    pub syn_retries_before_fallback: u32,
    /// Subflow TCP settings.
    pub tcp: TcpConfig,
    /// Which subflows to open and which addresses to announce.
    pub path_manager: PathManagerKind,
    /// Most subflows at once, the initial one included (the kernel allows 8); a join SYN
    /// beyond it is refused with RST and MP_TCPRST "lack of resources" (RFC 8684 §3.6).
    pub max_subflows: usize,
    /// Most joins the peer opened whose third ACK has not come yet (MP_JOIN SYN answered,
    /// RFC 8684 §3.2); one more SYN resets the oldest of them (RFC 4987 §3.5).
    pub max_pending_joins: usize,
    /// Most bytes held out of order (received beyond a hole in the data sequence); a segment
    /// that would hold more is dropped before its subflow acknowledges it, so the peer sends it
    /// again. The window (`recv_buffer`) bounds it in any case; by default nothing tighter (a
    /// cap below the window costs throughput on paths of unequal delay).
    pub max_reorder_bytes: usize,
    /// Most addresses kept from the peer's ADD_ADDRs (its initial address not counted); further
    /// announcements are echoed but ignored (RFC 8684 §3.4.1; the kernel keeps 8).
    pub max_announced_addrs: usize,
    /// Which subflow carries the next segment.
    pub scheduler: SchedulerKind,
    /// Our addresses: the path manager opens subflows from them and announces them.
    pub addresses: Vec<LocalAddress>,
}

impl Default for ConnectionConfig {
    fn default() -> ConnectionConfig {
        ConnectionConfig {
            send_buffer: 4 << 20,
            recv_buffer: 4 << 20,
            checksum: false,
            mptcp: true,
            syn_retries_before_fallback: 2,
            tcp: TcpConfig::default(),
            path_manager: PathManagerKind::default(),
            max_subflows: 8,
            max_pending_joins: 8,
            max_reorder_bytes: usize::MAX,
            max_announced_addrs: 8,
            scheduler: SchedulerKind::default(),
            addresses: Vec::new(),
        }
    }
}

/// Whether the connection speaks MPTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The handshake has not decided yet.
    Handshake,
    /// MPTCP.
    Mptcp,
    /// Plain TCP after fallback (RFC 8684 §3.7).
    Fallback(FallbackReason),
}

/// Why a connection fell back to TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    /// MPTCP was not offered (configuration).
    Disabled,
    /// The peer did not answer MP_CAPABLE (SYN/ACK or third ACK without it).
    PeerNotCapable,
    /// Our MP_CAPABLE SYNs went unanswered and a plain SYN got through.
    SynOptionsDropped,
    /// MPTCP options vanished after the handshake.
    OptionsStripped,
    /// A DSS checksum failed (MP_FAIL, infinite mapping).
    ChecksumFailed,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Both sides closed cleanly.
    Normal,
    /// The peer reset it (RST, with the MP_TCPRST reason if one came).
    Reset(Option<ResetReason>),
    /// The peer sent MP_FASTCLOSE (RFC 8684 §3.5).
    FastClose,
    /// Handshake or retransmissions timed out.
    TimedOut,
    /// We aborted it.
    Aborted,
    /// A protocol violation by the peer (we reset it with MP_TCPRST).
    ProtocolError,
}

/// Something that happened to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnEvent {
    /// The handshake completed; `mptcp` is false after fallback.
    Established {
        /// MPTCP in use?
        mptcp: bool,
    },
    /// It fell back to TCP after being established as MPTCP.
    FellBack(FallbackReason),
    /// A subflow completed its handshake (for a join: the MPTCP-level one, RFC 8684 §3.2).
    SubflowEstablished(SubflowId),
    /// A subflow ended.
    SubflowClosed(SubflowId, SubflowEnd),
    /// The peer announced an address (ADD_ADDR, RFC 8684 §3.4.1).
    AddressAnnounced {
        /// Its address id.
        id: u8,
        /// The address, with the port to join it on.
        addr: SocketAddr,
    },
    /// The peer withdrew an address (REMOVE_ADDR, RFC 8684 §3.4.2).
    AddressRemoved {
        /// Its address id.
        id: u8,
    },
    /// A subflow became backup (`true`) or regular, by our choice or the peer's MP_PRIO.
    PriorityChanged(SubflowId, bool),
    /// New data can be read (or the end of the stream reached).
    Readable,
    /// Send buffer space freed up.
    Writable,
    /// The connection ended.
    Closed(CloseReason),
}

/// Connection-level counters.
#[derive(Debug, Clone, Default)]
pub struct ConnectionStats {
    /// MPTCP token (ours), when MPTCP is in use.
    pub token: Option<u32>,
    /// Bytes written by the application and DATA_ACKed by the peer.
    pub bytes_acked: u64,
    /// Bytes delivered to the application.
    pub bytes_read: u64,
    /// Each subflow with its counters.
    pub subflows: Vec<SubflowSnapshot>,
    /// The scheduler in use.
    pub scheduler: SchedulerKind,
    /// The congestion control of new subflows (each subflow's own is in its snapshot).
    pub congestion_control: cc::Algorithm,
    /// Joins refused or failed (bad HMAC, missing option, no fourth ACK).
    pub join_failures: u64,
    /// ADD_ADDR options ignored for a bad HMAC.
    pub bad_add_addr: u64,
    /// Join SYNs refused because `max_subflows` was reached.
    pub subflows_refused: u64,
    /// Pending joins reset because `max_pending_joins` was reached.
    pub pending_joins_evicted: u64,
    /// ADD_ADDRs ignored because `max_announced_addrs` addresses are kept already.
    pub add_addr_ignored: u64,
    /// Bytes held out of order now.
    pub reorder_bytes: usize,
    /// The most bytes held out of order at any time.
    pub reorder_peak: usize,
    /// Segments dropped because they would have held more than `max_reorder_bytes` out of order.
    pub reorder_dropped: u64,
    /// Bytes sent again on another subflow (after a subflow failed or stalled, or to unblock
    /// the connection-level window).
    pub bytes_reinjected: u64,
}

/// One subflow in [`ConnectionStats`].
#[derive(Debug, Clone)]
pub struct SubflowSnapshot {
    /// Its id.
    pub id: SubflowId,
    /// Local endpoint.
    pub local: SocketAddr,
    /// Remote endpoint.
    pub remote: SocketAddr,
    /// TCP state.
    pub state: TcpState,
    /// Smoothed RTT.
    pub srtt: Option<Duration>,
    /// RTT variation.
    pub rttvar: Duration,
    /// Congestion window.
    pub cwnd: u64,
    /// Slow-start threshold.
    pub ssthresh: u64,
    /// The payload one segment carries at most now (the send MSS, less the options).
    pub mss: u16,
    /// Retransmission timeout (RFC 6298).
    pub rto: Duration,
    /// The IPv4 TOS / IPv6 traffic class of its packets.
    pub traffic_class: u8,
    /// Small segments go out at once (`false`: Nagle's algorithm).
    pub nodelay: bool,
    /// Its congestion-control algorithm.
    pub congestion_control: cc::Algorithm,
    /// Counters.
    pub stats: SubflowStats,
    /// A backup subflow (our choice or the peer's).
    pub backup: bool,
    /// Our and the peer's address id (RFC 8684 §3.2); the peer's is unknown for some joins.
    pub address_ids: (u8, Option<u8>),
    /// Established at the MPTCP level: data may flow (RFC 8684 §3.2 for joins).
    pub fully_established: bool,
    /// Opened by MP_JOIN (not the initial MP_CAPABLE subflow).
    pub joined: bool,
}

/// A subflow and the connection's bookkeeping for it.
#[derive(Debug)]
struct Path {
    sf: Subflow,
    rx_maps: RxMaps,
    /// MP_JOIN state; `None` for the initial (MP_CAPABLE) subflow.
    join: Option<Join>,
    /// Address ids (RFC 8684 §3.2): ours, and the peer's when known.
    local_id: u8,
    remote_id: Option<u8>,
    /// Backup by our choice, or by the peer's (MP_JOIN B flag, MP_PRIO; §3.3.8).
    backup_local: bool,
    backup_remote: bool,
    /// MP_PRIO owed to the peer on this subflow.
    prio_due: bool,
    /// What it carries unacknowledged, for reinjection elsewhere.
    in_flight: InFlight,
    /// It had a retransmission timeout since it last made progress: its data was reinjected
    /// and it gets no new data until it recovers.
    stale: bool,
    rto_seen: u64,
    snd_una_seen: u64,
    /// The redundant scheduler has sent every DSN below this on this subflow.
    redundant_next: u64,
    /// Closed on purpose (REMOVE_ADDR, the application): not to be re-opened.
    retired: bool,
    /// DSNs written for this subflow only (`write_on`), until DATA_ACKed; `pin_queue` holds
    /// those of them not sent yet.
    pinned: RangeSet,
    pin_queue: RangeSet,
    /// The path manager has noted its end.
    failure_noted: bool,
    /// This subflow still owes the peer a pure ACK carrying our DATA_FIN.
    data_fin_due: bool,
    /// The MP_TCPRST reason for this subflow's RST.
    rst_reason: Option<ResetReason>,
    /// Its establishment and its end (see [`Path::left`]) were reported as events.
    established_reported: bool,
    end_reported: bool,
}

impl Path {
    /// A backup subflow: data only when no regular subflow can carry it (§3.3.8).
    fn is_backup(&self) -> bool {
        self.backup_local || self.backup_remote
    }

    /// Counts against the subflow limit and occupies its address pair: not ended, not being
    /// closed on purpose, not lingering in TIME-WAIT (the kernel stops counting a subflow once
    /// it closes).
    fn in_use(&self) -> bool {
        self.sf.ended().is_none() && !self.retired && self.sf.state() != TcpState::TimeWait
    }

    /// Gone for the application: ended, or closed with FINs and lingering in TIME-WAIT only to
    /// answer a retransmitted FIN (RFC 9293 §3.10.7.4).
    fn left(&self) -> bool {
        self.sf.ended().is_some() || self.sf.state() == TcpState::TimeWait
    }

    /// The initial subflow, or a join whose handshake completed at the MPTCP level (§3.2).
    fn joined_ok(&self) -> bool {
        self.join.as_ref().is_none_or(|j| j.confirmed)
    }

    fn snapshot(&self) -> SubflowSnapshot {
        let sf = &self.sf;
        SubflowSnapshot {
            id: sf.id(),
            local: sf.local(),
            remote: sf.remote(),
            state: sf.state(),
            srtt: sf.srtt(),
            rttvar: sf.rttvar(),
            cwnd: sf.cwnd(),
            ssthresh: sf.ssthresh(),
            mss: u16::try_from(sf.send_mss()).unwrap_or(u16::MAX),
            rto: sf.rto(),
            traffic_class: sf.traffic_class(),
            nodelay: sf.nodelay(),
            congestion_control: sf.congestion_control(),
            stats: sf.stats(),
            backup: self.is_backup(),
            address_ids: (self.local_id, self.remote_id),
            fully_established: sf.state().is_synchronized() && self.joined_ok(),
            joined: self.join.is_some(),
        }
    }
}

/// Counters of the connection's own decisions.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    bad_add_addr: u64,
    bytes_reinjected: u64,
    subflows_refused: u64,
    pending_joins_evicted: u64,
    add_addr_ignored: u64,
    reorder_peak: usize,
    reorder_dropped: u64,
    /// Segments dropped for the endpoint's budget (`reorder_budget`), not yet reported to it.
    budget_dropped: u64,
}

/// One MPTCP connection.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    mode: Mode,
    config: ConnectionConfig,
    local_key: Key,
    remote_key: Option<Key>,
    checksum: bool,
    /// Client: a DATA_ACK arrived, so MP_CAPABLE stops riding on data (RFC 8684 §3.1).
    fully_established: bool,
    paths: Vec<Path>,
    next_subflow_id: SubflowId,
    send: SendBuffer,
    /// Next new DSN to send.
    snd_nxt: u64,
    /// Highest DATA_ACK received.
    data_una: u64,
    /// The peer's window right edge at data level (RFC 8684 §3.3.4), never moved left.
    peer_edge: u64,
    recv: RecvBuffer,
    /// The right edge of the window we advertise, never moved left (RFC 8684 §3.3.4).
    rcv_edge: u64,
    /// Our DATA_FIN's DSN, once the application shut down.
    local_fin: Option<u64>,
    local_fin_acked: bool,
    data_fin_deadline: Option<Instant>,
    data_fin_backoff: u32,
    /// The peer's DATA_FIN DSN, once known; `remote_fin_done` once consumed in order.
    remote_fin: Option<u64>,
    remote_fin_done: bool,
    /// Fallback: our bytes map linearly from this (ssn, dsn).
    tx_linear: Option<(u64, u64)>,
    /// A checksum failed at this DSN: MP_FAIL goes on our ACKs until the peer's infinite
    /// mapping arrives (RFC 8684 §3.7).
    mp_fail_to_send: Option<u64>,
    /// The peer sent MP_FAIL: the next data segment carries the infinite mapping (§3.7).
    send_infinite: bool,
    closed: Option<CloseReason>,
    events: VecDeque<ConnEvent>,
    bytes_read: u64,
    round_robin: usize,
    scheduler: Box<dyn Scheduler>,
    /// Addresses, announcements and retries of the path manager.
    addrs: AddressBook,
    /// Subflows the endpoint is to open.
    join_requests: VecDeque<path_manager::JoinRequest>,
    /// ADD_ADDR echoes and announcements waiting for a pure ACK (§3.4.1).
    echoes: VecDeque<AddAddrRepr>,
    announce_now: Vec<(u8, core::net::IpAddr, Option<u16>)>,
    /// DSN ranges to send again on another subflow (§3.3.6).
    reinject: RangeSet,
    /// The DSN last reinjected to unblock the window, and when the slow subflow was last
    /// penalised (Raiciu et al., NSDI 2012).
    unblocked_at: Option<u64>,
    last_penalty: Option<Instant>,
    stats_join_failures: u64,
    counters: Counters,
    /// When the path manager last ran (its retry timer only wakes for later retries).
    pm_ran_at: Instant,
    /// Something the path manager reacts to happened (establishment, a subflow's end, an
    /// address announced or removed); timers run it anyway.
    pm_due: bool,
    /// The scheduler's candidates, a buffer reused for every segment.
    candidate_buf: Vec<crate::scheduler::Candidate>,
    /// Ranges written with `write_on` that the data stream has not reached yet, in DSN order,
    /// each with its subflow.
    pending_pins: VecDeque<(core::ops::Range<u64>, SubflowId)>,
    /// Out-of-order bytes the endpoint lets this connection hold at most (its share of the
    /// endpoint-wide cap), and what the endpoint last accounted for.
    reorder_budget: usize,
    reorder_reported: usize,
}

impl Connection {
    /// A connection we open: one subflow in SYN-SENT.
    #[allow(clippy::too_many_arguments)]
    pub fn connect(
        config: ConnectionConfig,
        local_key: Key,
        local: SocketAddr,
        remote: SocketAddr,
        iss: u32,
        ts_offset: u32,
    ) -> Connection {
        let mut c = Connection::new(Role::Client, config, local_key, local, remote);
        let sf = Subflow::connect(0, local, remote, c.config.tcp.clone(), iss, ts_offset);
        c.add_path(sf, None, 0, Some(0));
        if !c.config.mptcp {
            c.fall_back(FallbackReason::Disabled);
        }
        c
    }

    /// A connection created by a SYN on a listener; `remote_capable` is the SYN's MP_CAPABLE
    /// (with the checksum flag), `None` when the SYN had none.
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        config: ConnectionConfig,
        local_key: Key,
        local: SocketAddr,
        remote: SocketAddr,
        iss: u32,
        ts_offset: u32,
        syn: &SynInfo,
        remote_capable: Option<bool>,
    ) -> Connection {
        let mut c = Connection::new(Role::Server, config, local_key, local, remote);
        let sf = Subflow::accept(0, local, remote, c.config.tcp.clone(), iss, ts_offset, syn);
        c.add_path(sf, None, 0, Some(0));
        match remote_capable {
            // RFC 8684 §3.1: checksums are used when either side sets A.
            Some(wants_checksum) if c.config.mptcp => c.checksum = c.checksum || wants_checksum,
            Some(_) => c.fall_back(FallbackReason::Disabled),
            None => c.fall_back(FallbackReason::PeerNotCapable),
        }
        c
    }

    fn new(role: Role, config: ConnectionConfig, local_key: Key, local: SocketAddr, remote: SocketAddr) -> Connection {
        let idsn = local_key.idsn().wrapping_add(1);
        Connection {
            scheduler: new_scheduler(config.scheduler),
            addrs: AddressBook::new(local, remote, &config.addresses),
            join_requests: VecDeque::new(),
            echoes: VecDeque::new(),
            announce_now: Vec::new(),
            reinject: RangeSet::new(),
            unblocked_at: None,
            last_penalty: None,
            stats_join_failures: 0,
            counters: Counters::default(),
            pm_ran_at: Instant::ZERO,
            candidate_buf: Vec::new(),
            pm_due: false,
            pending_pins: VecDeque::new(),
            reorder_budget: usize::MAX,
            reorder_reported: 0,
            role,
            mode: Mode::Handshake,
            checksum: config.checksum,
            send: SendBuffer::new(idsn, config.send_buffer),
            recv: RecvBuffer::new(0, config.recv_buffer),
            config,
            local_key,
            remote_key: None,
            fully_established: false,
            paths: Vec::new(),
            next_subflow_id: 0,
            snd_nxt: idsn,
            data_una: idsn,
            peer_edge: idsn,
            rcv_edge: 0,
            local_fin: None,
            local_fin_acked: false,
            data_fin_deadline: None,
            data_fin_backoff: 0,
            remote_fin: None,
            remote_fin_done: false,
            tx_linear: None,
            mp_fail_to_send: None,
            send_infinite: false,
            closed: None,
            events: VecDeque::new(),
            bytes_read: 0,
            round_robin: 0,
        }
    }

    fn add_path(&mut self, sf: Subflow, join: Option<Join>, local_id: u8, remote_id: Option<u8>) {
        self.next_subflow_id = self.next_subflow_id.max(sf.id() + 1);
        let backup_local = join.is_none() && self.addrs.locals.first().is_some_and(|l| l.backup);
        self.paths.push(Path {
            sf,
            rx_maps: RxMaps::default(),
            join,
            local_id,
            remote_id,
            backup_local,
            backup_remote: false,
            prio_due: false,
            in_flight: InFlight::default(),
            stale: false,
            rto_seen: 0,
            snd_una_seen: 0,
            redundant_next: 0,
            retired: false,
            pinned: RangeSet::new(),
            pin_queue: RangeSet::new(),
            failure_noted: false,
            data_fin_due: false,
            rst_reason: None,
            established_reported: false,
            end_reported: false,
        });
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// MPTCP, fallback, or still deciding.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Our key (for the endpoint's token table).
    pub fn local_key(&self) -> Key {
        self.local_key
    }

    /// Why it ended, once it has.
    pub fn closed(&self) -> Option<CloseReason> {
        self.closed
    }

    /// The 4-tuples of this connection's subflows, for the endpoint's demultiplexer.
    pub fn subflow_addrs(&self) -> impl Iterator<Item = (SocketAddr, SocketAddr)> + '_ {
        self.paths.iter().map(|p| (p.sf.local(), p.sf.remote()))
    }

    /// Forgets the oldest fully closed subflows beyond [`MAX_ENDED_SUBFLOWS`] (never the
    /// initial one); returns their 4-tuples, for the endpoint's table.
    pub fn prune_ended(&mut self) -> Vec<(SocketAddr, SocketAddr)> {
        if self.paths.len() <= MAX_ENDED_SUBFLOWS + 1 {
            return Vec::new();
        }
        let gone = |p: &Path| p.sf.state() == TcpState::Closed && !p.sf.rst_pending() && p.end_reported;
        let mut excess = self.paths.iter().skip(1).filter(|p| gone(p)).count().saturating_sub(MAX_ENDED_SUBFLOWS);
        let mut tuples = Vec::new();
        let mut i = 1;
        while i < self.paths.len() && excess > 0 {
            if gone(&self.paths[i]) {
                let p = self.paths.remove(i);
                tuples.push((p.sf.local(), p.sf.remote()));
                excess -= 1;
            } else {
                i += 1;
            }
        }
        tuples
    }

    /// Can every subflow and this connection be forgotten? Not while the application has
    /// data left to read.
    pub fn is_drained(&self) -> bool {
        self.closed.is_some()
            && self.recv.readable() == 0
            && self.paths.iter().all(|p| p.sf.state() == TcpState::Closed && !p.sf.rst_pending())
    }

    /// The next connection event.
    pub fn poll_event(&mut self) -> Option<ConnEvent> {
        self.events.pop_front()
    }

    /// Counters and every subflow.
    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            token: matches!(self.mode, Mode::Mptcp).then(|| self.local_key.token().0),
            bytes_acked: self.data_una - self.local_key.idsn().wrapping_add(1),
            bytes_read: self.bytes_read,
            subflows: self.paths.iter().map(Path::snapshot).collect(),
            scheduler: self.scheduler.kind(),
            congestion_control: self.config.tcp.congestion_control,
            join_failures: self.stats_join_failures,
            bad_add_addr: self.counters.bad_add_addr,
            bytes_reinjected: self.counters.bytes_reinjected,
            subflows_refused: self.counters.subflows_refused,
            pending_joins_evicted: self.counters.pending_joins_evicted,
            add_addr_ignored: self.counters.add_addr_ignored,
            reorder_bytes: self.recv.out_of_order(),
            reorder_peak: self.counters.reorder_peak,
            reorder_dropped: self.counters.reorder_dropped,
        }
    }

    /// One subflow's snapshot, as in [`ConnectionStats::subflows`]; `None` for an id this
    /// connection does not know (or has forgotten).
    pub fn subflow_snapshot(&self, id: SubflowId) -> Option<SubflowSnapshot> {
        self.paths.iter().find(|p| p.sf.id() == id).map(Path::snapshot)
    }

    // ----- application side -----

    /// Queues as much of `data` as the send buffer takes.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.local_fin.is_some() || self.closed.is_some() {
            return 0;
        }
        self.send.write(data)
    }

    /// Reads in-order data; `Some(0)` at the end of the stream, `None` when nothing is ready.
    pub fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        let n = self.recv.read(buf);
        self.bytes_read += n as u64;
        if self.recv.readable() == 0 {
            for p in &mut self.paths {
                p.sf.release_rx_block();
            }
        }
        if n > 0 {
            self.maybe_window_update();
            return Some(n);
        }
        if self.remote_fin_done || self.closed.is_some() { Some(0) } else { None }
    }

    /// Bytes that can be read now.
    pub fn readable(&self) -> usize {
        self.recv.readable()
    }

    /// Send buffer space.
    pub fn writable(&self) -> usize {
        if self.local_fin.is_some() { 0 } else { self.send.free_space() }
    }

    /// Ends our sending side: a DATA_FIN follows the data (RFC 8684 §3.3.3).
    pub fn shutdown(&mut self) {
        if self.local_fin.is_none() && self.closed.is_none() {
            self.local_fin = Some(self.send.end());
        }
    }

    /// Aborts: RST with MP_FASTCLOSE on every subflow (RFC 8684 §3.5).
    pub fn abort(&mut self) {
        if self.closed.is_some() {
            return;
        }
        for p in &mut self.paths {
            p.rst_reason = Some(ResetReason::Unspecified);
            p.sf.abort();
        }
        self.close_with(CloseReason::Aborted);
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.closed.is_none() {
            // RFC 8684 §3.3.3: once both DATA_FINs are exchanged and acknowledged the connection
            // has closed normally; a subflow reset, a fast close or a timeout after that (a RST
            // answering a segment to a subflow in TIME-WAIT, say) does not change it. Only our
            // own abort still counts as one.
            let reason =
                if self.close_completed() && reason != CloseReason::Aborted { CloseReason::Normal } else { reason };
            self.drop_join_requests();
            self.closed = Some(reason);
            self.events.push_back(ConnEvent::Closed(reason));
        }
    }

    fn maybe_window_update(&mut self) {
        // RFC 9293 §3.8.6.2.2 receiver SWS avoidance: announce when the window grew by at
        // least a quarter of the buffer.
        let edge = self.recv.next() + (self.recv.capacity() - self.recv.readable()) as u64;
        if edge >= self.rcv_edge + (self.recv.capacity() / 4) as u64 {
            for p in &mut self.paths {
                p.sf.request_ack();
            }
        }
    }

    // ----- timers -----

    /// The earliest instant this connection needs [`Connection::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retry = self.next_retry();
        self.paths
            .iter()
            .filter_map(|p| p.sf.poll_timeout())
            .chain(self.data_fin_deadline)
            .chain(self.join_deadline())
            .chain(self.addrs.next_deadline())
            .chain(retry)
            .min()
    }

    /// When the path manager may next retry a failed pair it still wants.
    fn next_retry(&self) -> Option<Instant> {
        if self.mode != Mode::Mptcp || self.closed.is_some() || self.config.path_manager == PathManagerKind::Manual {
            return None;
        }
        self.addrs.retries.iter().filter(|r| r.not_before > self.pm_ran_at).map(|r| r.not_before).min()
    }

    /// Switches the scheduler of a live connection.
    pub fn set_scheduler(&mut self, kind: SchedulerKind) {
        if self.scheduler.kind() != kind {
            self.scheduler = new_scheduler(kind);
        }
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for p in &mut self.paths {
            if p.sf.poll_timeout().is_some_and(|t| t <= now) {
                p.sf.handle_timeout(now);
            }
        }
        if self.data_fin_deadline.is_some_and(|t| t <= now) {
            // Resend the DATA_FIN on every subflow until it is DATA_ACKed (RFC 8684 §3.3.3).
            self.data_fin_backoff += 1;
            self.data_fin_deadline = Some(now + DATA_FIN_RTO * (1 << self.data_fin_backoff.min(8)));
            for p in &mut self.paths {
                p.data_fin_due = true;
                p.sf.request_ack();
            }
        }
        self.check_handshake_fallback();
        self.join_timers(now);
        self.after_subflow_changes();
        self.run_path_manager(now);
    }

    /// After a few unanswered MP_CAPABLE SYNs, try once more without it.
    fn check_handshake_fallback(&mut self) {
        if self.role == Role::Client
            && self.mode == Mode::Handshake
            && self.paths.first().is_some_and(|p| {
                p.sf.state() == TcpState::SynSent && p.sf.syn_retransmits() >= self.config.syn_retries_before_fallback
            })
        {
            self.fall_back(FallbackReason::SynOptionsDropped);
        }
    }

    /// Follows each subflow's progress: what it carries, whether it stalled (a retransmission
    /// timeout: its data is reinjected on the others, §3.3.6) or recovered, whether it ended.
    fn track_subflows(&mut self) {
        for i in 0..self.paths.len() {
            let p = &mut self.paths[i];
            let una = p.sf.snd_una();
            p.in_flight.release(una);
            if una > p.snd_una_seen {
                p.snd_una_seen = una;
                p.stale = false;
            }
            let rtos = p.sf.rto_count();
            if p.sf.ended().is_some() {
                self.unpin(i);
                self.reinject_from(i);
            } else if rtos > p.rto_seen {
                p.rto_seen = rtos;
                p.stale = true;
                if (0..self.paths.len()).any(|j| j != i && self.usable(j)) {
                    self.reinject_from(i);
                }
            }
        }
    }

    /// May subflow `i` carry data now (established at both levels, not stalled or retired)?
    fn usable(&self, i: usize) -> bool {
        let p = &self.paths[i];
        p.sf.state().can_send() && p.joined_ok() && !p.stale && !p.retired && p.sf.ended().is_none()
    }

    /// Before subflow `i` takes an ACK: a coupled controller (RFC 6356 LIA, OLIA) gets the
    /// current view of every subflow that carries data (backups count only while in use) and is
    /// coupled too (the application may run some subflows uncoupled).
    fn refresh_coupling(&mut self, i: usize) {
        if !self.paths[i].sf.is_coupled() {
            return;
        }
        let member = |j: usize| self.usable(j) && !self.paths[j].is_backup() && self.paths[j].sf.is_coupled();
        let members: Vec<usize> = (0..self.paths.len()).filter(|&j| j == i || member(j)).collect();
        let snaps: Vec<_> = members.iter().map(|&j| self.paths[j].sf.coupling_snapshot()).collect();
        let this = members.iter().position(|&j| j == i).unwrap_or(0);
        self.paths[i].sf.coupling_update(&crate::cc::CouplingInfo { subflows: &snaps, this });
    }

    /// Queues what subflow `i` carries unacknowledged for sending on the others, but for the
    /// bytes pinned to it (it retransmits those itself; see [`pinned`]).
    fn reinject_from(&mut self, i: usize) {
        let una = self.data_una;
        let p = &mut self.paths[i];
        for r in p.in_flight.dsn_ranges() {
            if r.end > una {
                for gap in p.pinned.gaps_in(r.start.max(una)..r.end) {
                    self.reinject.insert(gap);
                }
            }
        }
        p.in_flight.retain_within(&p.pinned);
    }

    fn after_subflow_changes(&mut self) {
        self.track_subflows();
        for p in &mut self.paths {
            if p.left() && !p.end_reported {
                p.end_reported = true;
                // In TIME-WAIT both FINs were exchanged.
                let end = p.sf.ended().unwrap_or(SubflowEnd::Closed);
                self.events.push_back(ConnEvent::SubflowClosed(p.sf.id(), end));
                self.pm_due = true;
            }
        }
        if self.closed.is_some() {
            return;
        }
        let alive = self.paths.iter().any(|p| p.sf.ended().is_none()) || self.has_join_requests();
        if !alive {
            // A connection that completed its close ends normally whatever its subflows did
            // (`close_with`); otherwise the last subflow to end says why.
            let reason = match self.paths.iter().filter_map(|p| p.sf.ended()).next_back() {
                Some(SubflowEnd::TimedOut) => CloseReason::TimedOut,
                _ => CloseReason::Reset(None),
            };
            self.close_with(reason);
            return;
        }
        self.close_half_closed_subflows();
        // Both DATA_FINs done: close the subflows with TCP FINs (the kernel waits for this).
        let data_level_done = match self.mode {
            Mode::Fallback(_) => false,
            _ => self.local_fin_acked && self.remote_fin_done,
        };
        if data_level_done {
            for p in &mut self.paths {
                p.sf.shutdown();
            }
        }
        // A subflow stalled on a dead path does not hold up a connection whose data-level close
        // is complete; it ends by itself (RST after its retransmissions, or TIME-WAIT).
        let all_quiet = self.paths.iter().all(|p| {
            p.stale && self.mode == Mode::Mptcp
                || matches!(p.sf.state(), TcpState::TimeWait | TcpState::Closed | TcpState::FinWait2)
        });
        let finished = match self.mode {
            Mode::Fallback(_) => self.remote_fin_done && self.local_fin.is_some() && self.all_fins_acked(),
            _ => data_level_done,
        };
        if finished && all_quiet {
            self.close_with(CloseReason::Normal);
        }
    }

    /// Has the connection completed its close? RFC 8684 §3.3.3: both DATA_FINs exchanged, ours
    /// DATA_ACKed and the peer's received in order. After a fallback the subflow's FINs are the
    /// connection's (§3.7): ours acknowledged, the peer's received.
    fn close_completed(&self) -> bool {
        self.remote_fin_done
            && match self.mode {
                Mode::Fallback(_) => self.local_fin.is_some() && self.paths.iter().any(|p| p.sf.fin_acked()),
                _ => self.local_fin_acked,
            }
    }

    /// Closes our side of the subflows the peer closed with a FIN while the connection is
    /// open. RFC 8684 §3.3.3: a subflow FIN closes that subflow only; the connection ends with
    /// the DATA_FIN. The peer closed this one for good (its application did, or it withdrew the
    /// address without a REMOVE_ADDR reaching us), so, as the Linux kernel does
    /// (`subflow_sched_work_if_closed()`: a subflow in CLOSE-WAIT while the MPTCP socket is
    /// ESTABLISHED), we close it too: its unacknowledged data moves to the other subflows and
    /// our FIN follows what it still holds, so that it ends rather than lingers in CLOSE-WAIT
    /// until the connection does. Not once the connection is closing (our application shut
    /// down, or the peer's DATA_FIN came: its close then closes every subflow), not after a
    /// fallback (there the FIN is the end of the stream, §3.7), and not while no other subflow
    /// carries the connection both ways (we can still send on this one).
    fn close_half_closed_subflows(&mut self) {
        if self.mode != Mode::Mptcp || self.local_fin.is_some() || self.remote_fin.is_some() {
            return;
        }
        for i in 0..self.paths.len() {
            let p = &self.paths[i];
            if p.sf.state() != TcpState::CloseWait || p.retired {
                continue;
            }
            let other = (0..self.paths.len())
                .any(|j| j != i && self.usable(j) && self.paths[j].sf.state() == TcpState::Established);
            if other {
                self.retire_path(i, false);
            }
        }
    }

    fn all_fins_acked(&self) -> bool {
        self.paths.iter().all(|p| matches!(p.sf.state(), TcpState::TimeWait | TcpState::Closed | TcpState::FinWait2))
    }
}
