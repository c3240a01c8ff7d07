//! Linux's `struct tcp_info` (the libc crate's layout, which is the kernel's) filled from the
//! stack's subflow snapshots: for one subflow (`MPTCP_SUB_GETSOCKOPT`) or for the connection.

use std::mem::{offset_of, size_of};
use std::time::Duration;

use libc::tcp_info;
use mptcp_tun_driver::stack::subflow::SubflowStats;

use super::abi::Bytes;
use crate::{SubflowSnapshot, TcpState};

/// Linux's `TCP_INFINITE_SSTHRESH`.
const INFINITE_SSTHRESH: u64 = 0x7fff_ffff;

/// Linux's TCP state numbers (`include/net/tcp_states.h`).
pub(crate) const TCP_CLOSE: u8 = 7;
pub(crate) const TCP_LISTEN: u8 = 10;

fn linux_state(s: TcpState) -> u8 {
    match s {
        TcpState::Established => 1,
        TcpState::SynSent => 2,
        TcpState::SynReceived => 3,
        TcpState::FinWait1 => 4,
        TcpState::FinWait2 => 5,
        TcpState::TimeWait => 6,
        TcpState::Closed => TCP_CLOSE,
        TcpState::CloseWait => 8,
        TcpState::LastAck => 9,
        TcpState::Closing => 11,
    }
}

/// A `struct tcp_info` as bytes, all zero but the fields set.
struct Info(Vec<u8>);

impl Info {
    fn new(state: u8) -> Info {
        let mut i = Info(vec![0; size_of::<tcp_info>()]);
        i.0[offset_of!(tcp_info, tcpi_state)] = state;
        i
    }

    // The offsets come from the struct itself, so every write fits.
    fn u32(&mut self, at: usize, v: u64) {
        self.0.put(at, &u32::try_from(v).unwrap_or(u32::MAX).to_ne_bytes());
    }

    fn u64(&mut self, at: usize, v: u64) {
        self.0.put(at, &v.to_ne_bytes());
    }

    fn micros(&mut self, at: usize, d: Duration) {
        self.u32(at, u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// State, timers and windows of `s`.
    fn estimates(&mut self, s: &SubflowSnapshot) {
        self.0[offset_of!(tcp_info, tcpi_state)] = linux_state(s.state);
        self.micros(offset_of!(tcp_info, tcpi_rto), s.rto);
        self.micros(offset_of!(tcp_info, tcpi_rtt), s.srtt.unwrap_or_default());
        self.micros(offset_of!(tcp_info, tcpi_rttvar), s.rttvar);
        let mss = u64::from(s.mss.max(1));
        self.u32(offset_of!(tcp_info, tcpi_snd_mss), mss);
        self.u32(offset_of!(tcp_info, tcpi_snd_cwnd), s.cwnd.div_ceil(mss));
        self.u32(offset_of!(tcp_info, tcpi_snd_ssthresh), (s.ssthresh / mss).min(INFINITE_SSTHRESH));
    }

    /// The counters of `subflows`, summed.
    fn counters<'a>(&mut self, subflows: impl Iterator<Item = &'a SubflowSnapshot>) {
        let mut sum = SubflowStats::default();
        for s in subflows {
            let t = &s.stats;
            sum.bytes_sent = sum.bytes_sent.saturating_add(t.bytes_sent);
            sum.bytes_retransmitted = sum.bytes_retransmitted.saturating_add(t.bytes_retransmitted);
            sum.retransmits = sum.retransmits.saturating_add(t.retransmits);
            sum.bytes_acked = sum.bytes_acked.saturating_add(t.bytes_acked);
            sum.bytes_received = sum.bytes_received.saturating_add(t.bytes_received);
            sum.segments_sent = sum.segments_sent.saturating_add(t.segments_sent);
            sum.segments_received = sum.segments_received.saturating_add(t.segments_received);
        }
        self.u32(offset_of!(tcp_info, tcpi_total_retrans), sum.retransmits);
        self.u64(offset_of!(tcp_info, tcpi_bytes_acked), sum.bytes_acked);
        self.u64(offset_of!(tcp_info, tcpi_bytes_received), sum.bytes_received);
        self.u64(offset_of!(tcp_info, tcpi_bytes_sent), sum.bytes_sent);
        self.u64(offset_of!(tcp_info, tcpi_bytes_retrans), sum.bytes_retransmitted);
        self.u32(offset_of!(tcp_info, tcpi_segs_out), sum.segments_sent);
        self.u32(offset_of!(tcp_info, tcpi_segs_in), sum.segments_received);
    }
}

/// One subflow.
pub(crate) fn of_subflow(s: &SubflowSnapshot) -> Vec<u8> {
    let mut i = Info::new(TCP_CLOSE);
    i.estimates(s);
    i.counters(std::iter::once(s));
    i.0
}

/// A connection: counters summed over `subflows`; state, timers and windows of the initial
/// subflow while it is established, else of the established one with the lowest smoothed RTT
/// (else of the initial one).
pub(crate) fn of_connection(subflows: &[SubflowSnapshot]) -> Vec<u8> {
    let mut i = Info::new(TCP_CLOSE);
    let established = |s: &&SubflowSnapshot| s.state == TcpState::Established;
    let initial = subflows.iter().find(|s| !s.joined);
    let chosen = initial
        .filter(established)
        .or_else(|| subflows.iter().filter(established).min_by_key(|s| s.srtt.unwrap_or(Duration::MAX)))
        .or(initial);
    if let Some(s) = chosen {
        i.estimates(s);
    }
    i.counters(subflows.iter());
    i.0
}

/// A socket without a connection, in Linux state `state`.
pub(crate) fn without_connection(state: u8) -> Vec<u8> {
    Info::new(state).0
}
