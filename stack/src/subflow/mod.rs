//! One TCP subflow: the RFC 9293 state machine with MSS and window scaling, timestamps
//! (RFC 7323), SACK (RFC 2018) with RFC 6675 loss recovery, RTO per RFC 6298, delayed ACKs,
//! zero-window probes and RFC 5961 challenge ACKs.
//!
//! The subflow knows nothing of MPTCP beyond carrying a data-level mapping with each segment
//! it sends: the connection decides what goes in the MPTCP options. Transmission is pulled in
//! three steps, which the connection calls in order: [`Subflow::poll_control`] (handshake,
//! retransmissions, FIN, probes), then [`Subflow::push_data`] for new data the scheduler gave
//! this subflow, then [`Subflow::poll_ack`]. Each yields an [`Outgoing`] that the connection
//! completes with MPTCP options and writes with [`Subflow::emit`].
//!
//! Sequence numbers are kept as `u64` offsets from the initial sequence number (the SYN is 0,
//! the first payload byte 1 — exactly the relative subflow sequence number of RFC 8684 §3.3.1)
//! and converted at the wire.

mod controls;
mod recv;
pub mod rtt;
pub mod scoreboard;
mod send;

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::cc::{self, CongestionControl};
use crate::range_set::RangeSet;
use crate::time::Instant;
use crate::wire::{MptcpOptions, TcpFlags};
use rtt::RttEstimator;
use scoreboard::Scoreboard;

pub use controls::MIN_MSS_CAP;
pub use send::TxMap;

/// Identifies a subflow within its connection; never reused (RFC 8684 leaves ids to the
/// implementation; the socket API promises uniqueness).
pub type SubflowId = u32;

/// RFC 9293 §3.3.2 connection states (LISTEN lives in the endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    /// SYN sent, waiting for SYN/ACK.
    SynSent,
    /// SYN received and answered.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// Our FIN sent, not yet acknowledged.
    FinWait1,
    /// Our FIN acknowledged, waiting for the peer's.
    FinWait2,
    /// The peer's FIN received; we may still send.
    CloseWait,
    /// Both FINs sent, ours not yet acknowledged.
    Closing,
    /// The peer closed first; our FIN sent.
    LastAck,
    /// Both closed; lingering to answer a retransmitted FIN.
    TimeWait,
    /// Gone.
    Closed,
}

impl TcpState {
    /// Can this subflow still send data?
    pub fn can_send(self) -> bool {
        matches!(self, TcpState::Established | TcpState::CloseWait)
    }

    /// Has the three-way handshake completed (in any later state)?
    pub fn is_synchronized(self) -> bool {
        !matches!(self, TcpState::SynSent | TcpState::SynReceived | TcpState::Closed)
    }
}

/// Per-subflow TCP settings.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// MSS we advertise (MTU less IP and TCP headers).
    pub mss: u16,
    /// Our window scale shift (RFC 7323 §2.3, at most 14).
    pub window_scale: u8,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Offer timestamps (RFC 7323).
    pub timestamps: bool,
    /// Congestion control algorithm.
    pub congestion_control: cc::Algorithm,
    /// Delayed-ACK timeout (RFC 9293 §3.8.6.3 allows up to 500 ms; Linux uses 40 ms).
    pub delayed_ack: Duration,
    /// How long TIME-WAIT lasts (2 MSL).
    pub time_wait: Duration,
    /// Retransmission timeouts in a row before the subflow is given up.
    pub max_retransmissions: u32,
    /// SYN retransmissions before a connection attempt fails.
    pub max_syn_retransmissions: u32,
    /// TCP_NODELAY: small segments go out at once; `false` is Nagle's algorithm (RFC 9293
    /// §3.7.4). See [`Subflow::set_nodelay`].
    pub nodelay: bool,
    /// TCP_MAXSEG: a cap on the segment size, under [`TcpConfig::mss`] (values below
    /// [`MIN_MSS_CAP`] count as it). See [`Subflow::set_mss_cap`].
    pub mss_cap: Option<u16>,
    /// IP_TOS / IPV6_TCLASS: the TOS / traffic-class byte of every packet (its ECN bits are
    /// ignored). See [`Subflow::set_traffic_class`].
    pub traffic_class: u8,
}

impl Default for TcpConfig {
    fn default() -> TcpConfig {
        TcpConfig {
            mss: 1460,
            window_scale: 7,
            sack: true,
            timestamps: true,
            congestion_control: cc::Algorithm::default(),
            delayed_ack: Duration::from_millis(40),
            time_wait: Duration::from_secs(30),
            max_retransmissions: 15,
            max_syn_retransmissions: 6,
            nodelay: true,
            mss_cap: None,
            traffic_class: 0,
        }
    }
}

/// Why a subflow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubflowEnd {
    /// Both FINs exchanged.
    Closed,
    /// The peer sent RST.
    Reset,
    /// Retransmissions or SYNs ran out.
    TimedOut,
    /// We reset it.
    Aborted,
}

/// Counters and estimates of one subflow, as reported in statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubflowStats {
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes retransmitted.
    pub bytes_retransmitted: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Payload bytes cumulatively acknowledged by the peer.
    pub bytes_acked: u64,
    /// Payload bytes received (new, in or out of order).
    pub bytes_received: u64,
    /// Segments sent.
    pub segments_sent: u64,
    /// Segments received.
    pub segments_received: u64,
    /// Retransmission timeouts.
    pub rto_count: u64,
    /// Fast-recovery episodes.
    pub fast_recoveries: u64,
}

/// What kind of segment an [`Outgoing`] is; the connection picks MPTCP options by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    /// Our SYN.
    Syn,
    /// Our SYN/ACK.
    SynAck,
    /// The ACK that completes our active open (the "third ACK").
    HandshakeAck,
    /// A segment with payload.
    Data,
    /// A pure ACK (or window update, or probe).
    Ack,
    /// A FIN, possibly retransmitted.
    Fin,
    /// A reset.
    Rst,
}

/// A segment the subflow wants to send; the connection adds MPTCP options and calls
/// [`Subflow::emit`].
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// What it is.
    pub kind: OutKind,
    /// Relative sequence number of the first byte (or of the SYN/FIN).
    pub seq: u64,
    /// TCP flags.
    pub flags: TcpFlags,
    /// Payload.
    pub payload: Bytes,
    /// The data-level mapping the payload belongs to.
    pub map: Option<TxMap>,
    /// A retransmission?
    pub retransmission: bool,
}

/// What one received segment did, for the connection.
#[derive(Debug, Default)]
pub struct RxOutcome {
    /// New payload accepted at this relative sequence number (possibly out of order at the
    /// subflow level; possibly overlapping bytes received before out of order).
    pub data: Option<(u64, Bytes)>,
    /// The peer's FIN is now in order.
    pub fin: bool,
    /// Bytes newly acknowledged cumulatively.
    pub newly_acked: u64,
    /// The handshake completed with this segment.
    pub established: bool,
    /// The subflow ended with this segment.
    pub ended: Option<SubflowEnd>,
    /// The segment was dropped (out of window, bad ACK, PAWS): nothing else in it counts.
    pub dropped: bool,
}

/// One TCP subflow.
#[derive(Debug)]
pub struct Subflow {
    id: SubflowId,
    local: SocketAddr,
    remote: SocketAddr,
    state: TcpState,
    /// We sent the first SYN (active open).
    active: bool,
    /// Its settings; the application's controls (see `controls`) change some of them live.
    config: TcpConfig,
    iss: u32,
    irs: u32,
    // --- send side ---
    snd_una: u64,
    snd_nxt: u64,
    /// Peer's window in bytes (already scaled), and the segment that set it (RFC 9293
    /// §3.10.7.4 SND.WL1/WL2, relative).
    snd_wnd: u64,
    snd_wl1: u64,
    snd_wl2: u64,
    max_snd_wnd: u64,
    snd_wscale: u8,
    peer_mss: u16,
    /// Bytes of MPTCP options the connection puts on a data segment (reduces the payload).
    option_overhead: usize,
    tx: VecDeque<send::TxSeg>,
    /// How many queued segments are marked `needs_send`.
    to_send: usize,
    fin_queued: bool,
    rtt: RttEstimator,
    cc: Box<dyn CongestionControl>,
    scoreboard: Scoreboard,
    /// RFC 6675 fast recovery: the recovery point while active.
    recovery: Option<u64>,
    dupacks: u32,
    /// After an RTO: retransmit everything below this point again, in order (go-back, with
    /// SACKed segments skipped).
    rto_recovery: Option<u64>,
    rto_cursor: u64,
    rto_deadline: Option<Instant>,
    consecutive_rtos: u32,
    syn_retransmits: u32,
    persist_deadline: Option<Instant>,
    persist_backoff: u32,
    probe_due: bool,
    /// The connection has unsent data (for RFC 6675 NextSeg).
    app_pending: bool,
    /// RACK.xmit_ts (RFC 8985 §6.1): when the most recently sent delivered segment was sent.
    rack_xmit_ts: Option<Instant>,
    /// Retransmissions sent in fast recovery, watched for loss (RFC 8985 §6.2).
    retx_watch: VecDeque<u64>,
    // --- receive side ---
    rcv_nxt: u64,
    /// Received out of order, above `rcv_nxt`.
    rcv_ooo: RangeSet,
    /// Where in-order payload is copied (see `Subflow::rx_copy`).
    rx_block: BytesMut,
    /// Most recently received out-of-order ranges first, for SACK block order (RFC 2018 §4).
    recent_sacks: VecDeque<core::ops::Range<u64>>,
    rcv_wscale: u8,
    /// The right edge we last advertised (relative), never moved left (RFC 9293 §3.8.6.2.2).
    rcv_adv: u64,
    fin_received: Option<u64>,
    ack_now: bool,
    ack_deadline: Option<Instant>,
    unacked_segments: u32,
    handshake_ack_due: bool,
    last_challenge_ack: Option<Instant>,
    // --- options negotiated ---
    sack_ok: bool,
    ts_ok: bool,
    ts_recent: u32,
    ts_offset: u32,
    time_wait_deadline: Option<Instant>,
    rst_pending: bool,
    ended: Option<SubflowEnd>,
    stats: SubflowStats,
}

/// Wire sequence number `wire` as a relative offset near `reference` (relative); `None` when it
/// lies before the initial sequence number (no segment of this subflow can be there).
fn unwrap_seq(base: u32, reference: u64, wire: u32) -> Option<u64> {
    let ref_wire = base.wrapping_add(reference as u32);
    let delta = wire.wrapping_sub(ref_wire) as i32;
    reference.checked_add_signed(i64::from(delta))
}

impl Subflow {
    fn new(
        id: SubflowId,
        local: SocketAddr,
        remote: SocketAddr,
        state: TcpState,
        config: TcpConfig,
        iss: u32,
        ts_offset: u32,
    ) -> Subflow {
        let cc = cc::new_controller(config.congestion_control, u32::from(config.mss));
        let rcv_wscale = config.window_scale.min(14);
        Subflow {
            id,
            local,
            remote,
            state,
            active: state == TcpState::SynSent,
            config,
            iss,
            irs: 0,
            snd_una: 0,
            snd_nxt: 0,
            snd_wnd: 0,
            snd_wl1: 0,
            snd_wl2: 0,
            max_snd_wnd: 0,
            snd_wscale: 0,
            peer_mss: 536,
            option_overhead: 0,
            tx: VecDeque::new(),
            to_send: 0,
            fin_queued: false,
            rtt: RttEstimator::new(),
            cc,
            scoreboard: Scoreboard::new(),
            recovery: None,
            dupacks: 0,
            rto_recovery: None,
            rto_cursor: 0,
            rto_deadline: None,
            consecutive_rtos: 0,
            syn_retransmits: 0,
            persist_deadline: None,
            persist_backoff: 0,
            probe_due: false,
            app_pending: false,
            rack_xmit_ts: None,
            retx_watch: VecDeque::new(),
            rcv_nxt: 0,
            rcv_ooo: RangeSet::new(),
            rx_block: BytesMut::new(),
            recent_sacks: VecDeque::new(),
            rcv_wscale,
            rcv_adv: 0,
            fin_received: None,
            ack_now: false,
            ack_deadline: None,
            unacked_segments: 0,
            handshake_ack_due: false,
            last_challenge_ack: None,
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_offset,
            time_wait_deadline: None,
            rst_pending: false,
            ended: None,
            stats: SubflowStats::default(),
        }
    }

    /// A subflow that opens actively: it will send a SYN.
    pub fn connect(
        id: SubflowId,
        local: SocketAddr,
        remote: SocketAddr,
        config: TcpConfig,
        iss: u32,
        ts_offset: u32,
    ) -> Subflow {
        let mut sf = Subflow::new(id, local, remote, TcpState::SynSent, config, iss, ts_offset);
        sf.queue_syn();
        sf
    }

    /// A subflow created by a SYN received on a listener; it will answer with a SYN/ACK.
    /// `syn` is the received SYN's sequence number, window and options.
    pub fn accept(
        id: SubflowId,
        local: SocketAddr,
        remote: SocketAddr,
        config: TcpConfig,
        iss: u32,
        ts_offset: u32,
        syn: &SynInfo,
    ) -> Subflow {
        let mut sf = Subflow::new(id, local, remote, TcpState::SynReceived, config, iss, ts_offset);
        sf.take_syn(syn);
        sf.queue_syn();
        sf
    }

    /// This subflow's id.
    pub fn id(&self) -> SubflowId {
        self.id
    }

    /// Our address and port.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The peer's address and port.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The TCP state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// A RST is waiting to be sent.
    pub fn rst_pending(&self) -> bool {
        self.rst_pending
    }

    /// Why it ended, once it has.
    pub fn ended(&self) -> Option<SubflowEnd> {
        self.ended
    }

    /// Counters.
    pub fn stats(&self) -> SubflowStats {
        self.stats
    }

    /// Retransmission timeouts so far.
    pub fn rto_count(&self) -> u64 {
        self.stats.rto_count
    }

    /// Smoothed RTT, once sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// RTT variation.
    pub fn rttvar(&self) -> Duration {
        self.rtt.rttvar()
    }

    /// Congestion window in bytes.
    pub fn cwnd(&self) -> u64 {
        self.cc.window()
    }

    /// Slow-start threshold in bytes.
    pub fn ssthresh(&self) -> u64 {
        self.cc.ssthresh()
    }

    /// Whether the congestion controller is coupled (RFC 6356) and wants
    /// [`Subflow::coupling_update`] before each ACK.
    pub fn is_coupled(&self) -> bool {
        self.cc.is_coupled()
    }

    /// This subflow as a coupled controller sees it.
    pub fn coupling_snapshot(&self) -> cc::SubflowSnapshot {
        cc::snapshot(self.cc.as_ref(), self.rtt.srtt(), self.send_mss() as u32)
    }

    /// Hands the connection-wide view to a coupled controller.
    pub fn coupling_update(&mut self, info: &cc::CouplingInfo<'_>) {
        self.cc.on_coupling_update(info);
    }

    /// Halves the congestion window without loss recovery: this subflow holds up the
    /// connection-level window (Raiciu et al., NSDI 2012).
    pub fn penalize(&mut self, now: Instant) {
        let mss = self.send_mss() as u32;
        self.cc.penalize(now, mss);
    }

    /// SND.UNA, relative.
    pub fn snd_una(&self) -> u64 {
        self.snd_una
    }

    /// The peer's current window in bytes.
    pub fn snd_wnd(&self) -> u64 {
        self.snd_wnd
    }

    /// SND.NXT, relative: the SSN the next new byte gets.
    pub fn snd_nxt(&self) -> u64 {
        self.snd_nxt
    }

    /// The window a received segment advertises, in bytes (scaled unless it is a SYN,
    /// RFC 7323 §2.3).
    pub fn peer_window_of(&self, seg: &crate::wire::SegmentRepr<'_>) -> u64 {
        if seg.flags.contains(TcpFlags::SYN) { u64::from(seg.window) } else { u64::from(seg.window) << self.snd_wscale }
    }

    /// SYN retransmissions so far (the connection drops MP_CAPABLE after a few, RFC 8684 §3.1).
    pub fn syn_retransmits(&self) -> u32 {
        self.syn_retransmits
    }

    /// The payload that fits one segment, given `option_overhead` bytes of MPTCP options.
    pub fn send_mss(&self) -> usize {
        let ts = if self.ts_ok { 12 } else { 0 };
        // RFC 9293 §3.7.1: the peer's MSS, within what we can send (ours, under the
        // application's cap), less the options every segment carries.
        let mss = self.peer_mss.min(self.max_segment_size());
        usize::from(mss).saturating_sub(ts + self.option_overhead).max(64)
    }

    /// Sets the MPTCP option bytes every data segment carries (0 after fallback).
    pub fn set_option_overhead(&mut self, bytes: usize) {
        self.option_overhead = bytes;
    }

    /// The peer's SYN options, as the endpoint read them from a SYN.
    fn take_syn(&mut self, syn: &SynInfo) {
        self.irs = syn.seq;
        self.rcv_nxt = 1;
        self.rcv_adv = 1;
        self.peer_mss = syn.mss.unwrap_or(536);
        // RFC 7323 §2.2: scaling is on only if both SYNs carry the option; §2.3: at most 14.
        match syn.window_scale {
            Some(ws) => self.snd_wscale = ws.min(14),
            None => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        // RFC 9293 §3.10.7.3: the window in a SYN is never scaled.
        self.snd_wnd = u64::from(syn.window);
        self.max_snd_wnd = self.snd_wnd;
        self.sack_ok = self.config.sack && syn.sack_permitted;
        self.ts_ok = self.config.timestamps && syn.tsval.is_some();
        if let Some(tsval) = syn.tsval {
            self.ts_recent = tsval;
        }
    }

    fn tsval(&self, now: Instant) -> u32 {
        // RFC 7323 §5.4: a 1 ms clock, offset by a per-subflow random value.
        ((now.as_micros() / 1000) as u32).wrapping_add(self.ts_offset)
    }

    /// The earliest instant this subflow needs [`Subflow::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.rto_deadline, self.ack_deadline, self.persist_deadline, self.time_wait_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Aborts: queue a RST and end.
    pub fn abort(&mut self) {
        // RFC 9293 §3.10.5: a RST only where the peer may hold state for us.
        let peer_has_state = self.state.is_synchronized() || self.state == TcpState::SynReceived;
        if peer_has_state && self.state != TcpState::TimeWait && self.ended.is_none() {
            self.rst_pending = true;
        }
        self.end(SubflowEnd::Aborted);
    }

    fn end(&mut self, why: SubflowEnd) {
        if self.ended.is_none() {
            self.ended = Some(why);
        }
        self.state = TcpState::Closed;
        self.tx.clear();
        self.to_send = 0;
        self.rto_deadline = None;
        self.ack_deadline = None;
        self.persist_deadline = None;
        self.time_wait_deadline = None;
    }
}

/// The fields of a received SYN that a new passive subflow needs.
#[derive(Debug, Clone, Copy)]
pub struct SynInfo {
    /// The SYN's sequence number.
    pub seq: u32,
    /// Its window field.
    pub window: u16,
    /// MSS option.
    pub mss: Option<u16>,
    /// Window scale option.
    pub window_scale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// Timestamp value, when the option was present.
    pub tsval: Option<u32>,
}

impl SynInfo {
    /// Reads the fields from a parsed SYN.
    pub fn from_segment(seg: &crate::wire::SegmentRepr<'_>) -> SynInfo {
        let o = &seg.options;
        SynInfo {
            seq: seg.seq,
            window: seg.window,
            mss: o.mss,
            window_scale: o.window_scale,
            sack_permitted: o.sack_permitted,
            tsval: o.timestamp.map(|t| t.tsval),
        }
    }
}

/// The MPTCP options to put on an outgoing segment, and the receive window to advertise
/// (connection-level, in bytes, RFC 8684 §3.3.4).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmitParams {
    /// MPTCP options.
    pub mptcp: MptcpOptions,
    /// Receive window in bytes from the ACK point.
    pub window: u64,
}
