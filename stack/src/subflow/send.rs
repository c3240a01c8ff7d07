//! The sending half of a subflow: the retransmission queue, ACK processing, loss recovery
//! (RFC 6675 with SACK, RFC 6582 NewReno without), the RTO (RFC 6298), zero-window probes,
//! and writing segments.

use core::ops::Range;
use core::time::Duration;

use bytes::Bytes;

use super::scoreboard::NextSeg;
use super::{EmitParams, OutKind, Outgoing, Subflow, SubflowEnd, TcpState};
use crate::cc::AckEvent;
use crate::time::Instant;
use crate::wire::tcp_options::{SackBlocks, Timestamp};
use crate::wire::{ChecksumMode, SegmentRepr, TcpFlags, TcpOptions};

/// RFC 5681 §3.2: fast retransmit after three duplicate ACKs.
const DUP_THRESH: u32 = 3;
/// RFC 5961 §7: challenge ACKs are rate-limited.
const CHALLENGE_ACK_INTERVAL: Duration = Duration::from_millis(100);
/// Zero-window probes back off up to this interval (RFC 9293 §3.8.6.1).
const MAX_PERSIST: Duration = Duration::from_secs(60);

/// The data-level mapping a segment's payload belongs to (RFC 8684 §3.3.1): `len` bytes at
/// relative subflow sequence `ssn` carry DSNs from `dsn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxMap {
    /// DSN of the first mapped byte.
    pub dsn: u64,
    /// Relative subflow sequence number of the first mapped byte.
    pub ssn: u64,
    /// Mapped bytes.
    pub len: u32,
    /// The mapping's DSS checksum, when checksums are in use (computed once, so that a
    /// partly acknowledged segment can be resent with it).
    pub checksum: Option<u16>,
}

/// A segment in the retransmission queue.
#[derive(Debug, Clone)]
pub(super) struct TxSeg {
    pub(super) seq: u64,
    pub(super) payload: Bytes,
    pub(super) syn: bool,
    pub(super) fin: bool,
    pub(super) map: Option<TxMap>,
    pub(super) sent_at: Option<Instant>,
    pub(super) retransmitted: bool,
    /// Waiting to be (re)sent by `poll_control`.
    pub(super) needs_send: bool,
}

impl TxSeg {
    fn end(&self) -> u64 {
        self.seq + self.payload.len() as u64 + u64::from(self.syn) + u64::from(self.fin)
    }
}

impl Subflow {
    /// Queues our SYN (or SYN/ACK): it occupies relative sequence number 0.
    pub(super) fn queue_syn(&mut self) {
        self.tx.push_back(TxSeg {
            seq: 0,
            payload: Bytes::new(),
            syn: true,
            fin: false,
            map: None,
            sent_at: None,
            retransmitted: false,
            needs_send: true,
        });
        self.to_send += 1;
        self.snd_nxt = 1;
    }

    fn flight(&self) -> u64 {
        if self.sack_ok {
            self.scoreboard.pipe(self.snd_una, self.snd_nxt, self.mss32())
        } else {
            self.snd_nxt - self.snd_una
        }
    }

    fn in_recovery(&self) -> bool {
        if self.sack_ok { self.scoreboard.in_recovery() } else { self.recovery.is_some() }
    }

    /// Marks the segment holding `seq` to be sent again by `poll_control`.
    fn mark_retransmit(&mut self, seq: u64) {
        if let Some(i) = self.tx_index(seq) {
            self.mark_send(i);
        }
    }

    /// Marks queue entry `i` for sending, keeping the count that spares `poll_control` a scan.
    pub(super) fn mark_send(&mut self, i: usize) {
        if !self.tx[i].needs_send {
            self.tx[i].needs_send = true;
            self.to_send += 1;
        }
    }

    fn mss32(&self) -> u32 {
        self.send_mss() as u32
    }

    /// How many bytes of new data this subflow may send now: limited by the congestion window
    /// and the peer's window (RFC 5681 §3, RFC 9293 §3.8.6).
    pub fn send_capacity(&self) -> usize {
        // The third ACK goes out on its own first, as the kernel sends it (it carries the
        // MP_CAPABLE keys; RFC 8684 §3.1).
        if !self.state.can_send() || self.fin_queued || self.rto_recovery.is_some() || self.handshake_ack_due {
            return 0;
        }
        let cwnd_room = self.cc.window().saturating_sub(self.flight());
        let wnd_room = (self.snd_una + self.snd_wnd).saturating_sub(self.snd_nxt);
        cwnd_room.min(wnd_room).min(usize::MAX as u64) as usize
    }

    /// Is the peer's window (not the congestion window) what stops new data?
    pub fn window_limited(&self) -> bool {
        self.state.can_send() && self.snd_nxt >= self.snd_una + self.snd_wnd
    }

    /// Nothing sent is waiting for an acknowledgment.
    pub fn idle(&self) -> bool {
        self.snd_una == self.snd_nxt
    }

    /// Sends new data: `payload` at the next sequence number, belonging to `map`.
    pub fn push_data(&mut self, now: Instant, payload: Bytes, map: Option<TxMap>) -> Outgoing {
        self.persist_deadline = None;
        self.persist_backoff = 0;
        let seq = self.snd_nxt;
        self.snd_nxt += payload.len() as u64;
        self.tx.push_back(TxSeg {
            seq,
            payload: payload.clone(),
            syn: false,
            fin: false,
            map,
            sent_at: Some(now),
            retransmitted: false,
            needs_send: false,
        });
        self.arm_rto(now);
        Outgoing { kind: OutKind::Data, seq, flags: TcpFlags::ACK | TcpFlags::PSH, payload, map, retransmission: false }
    }

    /// Closes our sending side: a FIN follows the data already queued (RFC 9293 §3.10.4).
    pub fn shutdown(&mut self) {
        if self.fin_queued || self.ended.is_some() {
            return;
        }
        match self.state {
            TcpState::Established | TcpState::SynReceived => self.state = TcpState::FinWait1,
            TcpState::CloseWait => self.state = TcpState::LastAck,
            TcpState::SynSent => {
                self.end(SubflowEnd::Closed);
                return;
            }
            _ => return,
        }
        self.fin_queued = true;
        self.tx.push_back(TxSeg {
            seq: self.snd_nxt,
            payload: Bytes::new(),
            syn: false,
            fin: true,
            map: None,
            sent_at: None,
            retransmitted: false,
            needs_send: true,
        });
        self.to_send += 1;
        self.snd_nxt += 1;
    }

    fn arm_rto(&mut self, now: Instant) {
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.rtt.rto());
        }
    }

    /// Control segments and retransmissions, before any new data.
    pub fn poll_control(&mut self, now: Instant) -> Option<Outgoing> {
        if self.rst_pending {
            self.rst_pending = false;
            let (seq, flags) = if self.state == TcpState::SynSent && self.snd_una == 0 {
                (self.snd_nxt, TcpFlags::RST)
            } else {
                (self.snd_nxt, TcpFlags::RST | TcpFlags::ACK)
            };
            return Some(Outgoing {
                kind: OutKind::Rst,
                seq,
                flags,
                payload: Bytes::new(),
                map: None,
                retransmission: false,
            });
        }
        if self.ended.is_some() {
            return None;
        }
        // Segments marked for sending: SYN, FIN, fast retransmissions.
        if self.to_send > 0
            && let Some(seq) = self.tx.iter().find(|s| s.needs_send).map(|s| s.seq)
            && let Some(i) = self.resend_index(seq)
        {
            return Some(self.send_queued(now, i));
        }
        if let Some(out) = self.poll_retransmission(now) {
            return Some(out);
        }
        if self.probe_due {
            self.probe_due = false;
            // RFC 9293 §3.8.6.1 / Linux: a probe is an ACK with an old sequence number that the
            // peer must answer with its current window.
            return Some(Outgoing {
                kind: OutKind::Ack,
                seq: self.snd_una.saturating_sub(1),
                flags: TcpFlags::ACK,
                payload: Bytes::new(),
                map: None,
                retransmission: false,
            });
        }
        None
    }

    fn send_queued(&mut self, now: Instant, i: usize) -> Outgoing {
        let state = self.state;
        let seg = &mut self.tx[i];
        let retransmission = seg.sent_at.is_some();
        seg.retransmitted |= retransmission;
        if seg.needs_send {
            seg.needs_send = false;
            self.to_send -= 1;
        }
        seg.sent_at = Some(now);
        let (kind, flags) = if seg.syn {
            if state == TcpState::SynSent {
                (OutKind::Syn, TcpFlags::SYN)
            } else {
                (OutKind::SynAck, TcpFlags::SYN | TcpFlags::ACK)
            }
        } else if seg.fin {
            (OutKind::Fin, TcpFlags::FIN | TcpFlags::ACK)
        } else {
            (OutKind::Data, TcpFlags::ACK | TcpFlags::PSH)
        };
        let out = Outgoing { kind, seq: seg.seq, flags, payload: seg.payload.clone(), map: seg.map, retransmission };
        if retransmission {
            self.stats.retransmits += 1;
            self.stats.bytes_retransmitted += out.payload.len() as u64;
            if self.rto_recovery.is_none() {
                self.retx_watch.push_back(out.seq);
            }
        }
        self.arm_rto(now);
        out
    }

    /// The next segment that loss recovery wants sent again, if the window allows.
    fn poll_retransmission(&mut self, now: Instant) -> Option<Outgoing> {
        let mss = self.mss32();
        if let Some(high) = self.rto_recovery {
            // After an RTO everything outstanding is resent in order, cwnd permitting; SACKed
            // segments are skipped except the one at SND.UNA (RFC 2018 §5).
            self.rto_cursor = self.rto_cursor.max(self.snd_una);
            while self.rto_cursor < high {
                let i = self.resend_index(self.rto_cursor)?;
                let range = self.tx[i].seq..self.tx[i].end();
                if self.sack_ok && range.start != self.snd_una && self.scoreboard.is_sacked(range.clone()) {
                    self.rto_cursor = range.end;
                    continue;
                }
                let sent_since = self.rto_cursor - self.snd_una;
                if sent_since > 0 && sent_since >= self.cc.window() {
                    return None;
                }
                self.rto_cursor = range.end;
                return Some(self.send_queued(now, i));
            }
            self.rto_recovery = None;
            return None;
        }
        if !self.sack_ok || !self.scoreboard.in_recovery() {
            return None; // NewReno marks its retransmissions from the ACK path.
        }
        // RFC 6675 §5 (C): while cwnd - pipe >= 1 SMSS, send what NextSeg() names.
        if self.cc.window().saturating_sub(self.flight()) < u64::from(mss) {
            return None;
        }
        let new_data_ok = self.app_pending && (self.snd_una + self.snd_wnd) > self.snd_nxt;
        match self.scoreboard.next_seg(self.snd_una, self.snd_nxt, mss, new_data_ok) {
            NextSeg::Retransmit(r) => {
                let i = self.resend_index(r.start)?;
                self.scoreboard.on_retransmit(self.tx[i].seq..self.tx[i].end());
                Some(self.send_queued(now, i))
            }
            NextSeg::Rescue(r) => {
                // RFC 6675 §4 rule 4: the segment holding the highest unSACKed octet.
                let i = self.resend_index(r.end - 1)?;
                self.scoreboard.on_rescue();
                Some(self.send_queued(now, i))
            }
            NextSeg::NewData | NextSeg::Nothing => None,
        }
    }

    /// Tells loss recovery whether the connection has new data for this subflow (RFC 6675
    /// NextSeg rule 3 only retransmits when there is none).
    pub fn set_app_pending(&mut self, pending: bool) {
        self.app_pending = pending;
    }

    fn tx_index(&self, seq: u64) -> Option<usize> {
        let i = self.tx.partition_point(|s| s.end() <= seq);
        (i < self.tx.len() && self.tx[i].seq <= seq).then_some(i)
    }

    /// [`tx_index`](Self::tx_index) for a segment about to be sent again: one longer than the
    /// current send MSS (the application lowered it, TCP_MAXSEG, as for a smaller path MTU) is
    /// first cut into pieces that fit, each with the segment's mapping (RFC 8684 §3.3.1: a
    /// mapping may span segments), send time and marks.
    fn resend_index(&mut self, seq: u64) -> Option<usize> {
        let mut j = self.tx_index(seq)?;
        let mss = self.send_mss();
        while self.tx[j].payload.len() > mss {
            let seg = &mut self.tx[j];
            let payload = seg.payload.split_off(mss);
            let tail = TxSeg { seq: seg.seq + mss as u64, payload, ..seg.clone() };
            if tail.needs_send {
                self.to_send += 1;
            }
            j += 1;
            self.tx.insert(j, tail);
        }
        self.tx_index(seq)
    }

    /// Processes the ACK field and SACK blocks of an acceptable segment (RFC 9293 §3.10.7.4
    /// fifth check). Returns bytes newly acknowledged, or `None` when the ACK is not
    /// acceptable and the segment must be dropped.
    pub(super) fn process_ack(&mut self, now: Instant, seg: &SegmentRepr<'_>) -> Option<u64> {
        // RFC 5961 §5.2: an ACK for data never sent, or far below SND.UNA (before our initial
        // sequence number, too), is answered with a challenge ACK and the segment dropped.
        let ack = super::unwrap_seq(self.iss, self.snd_una, seg.ack)
            .filter(|&ack| ack <= self.snd_nxt && ack.saturating_add(self.max_snd_wnd.max(1 << 16)) >= self.snd_una);
        let (Some(ack), Some(seq)) = (ack, super::unwrap_seq(self.irs, self.rcv_nxt, seg.seq)) else {
            self.challenge_ack(now);
            return None;
        };
        let window = u64::from(seg.window) << self.snd_wscale;
        // RFC 9293 §3.10.7.4: update the send window from the newest segment.
        if self.snd_wl1 < seq || (self.snd_wl1 == seq && self.snd_wl2 <= ack) {
            let was_closed = self.snd_wnd == 0;
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            if was_closed && window > 0 {
                self.persist_deadline = None;
                self.persist_backoff = 0;
            }
        }
        let blocks = self.sack_blocks_of(seg);
        let mss = self.mss32();
        let sent_at = if ack > self.snd_una { self.rtt_candidate(ack) } else { None };
        self.note_delivered(ack, &blocks);
        let info = self.scoreboard.on_ack(ack.max(self.snd_una), self.snd_nxt, &blocks, mss);
        if info.reneged {
            // The peer dropped SACKed data; Linux retransmits soon: max(SRTT/2, 10 ms).
            let short = (self.rtt.srtt().unwrap_or_default() / 2).max(Duration::from_millis(10));
            self.rto_deadline = Some(now + short);
        }
        if ack < self.snd_una {
            return Some(0);
        }
        let newly = ack - self.snd_una;
        let flight_before = self.snd_nxt - self.snd_una;
        if newly == 0 {
            // RFC 5681 §2 duplicate ACK: no data, no window change, outstanding data.
            let dup = seg.payload.is_empty()
                && flight_before > 0
                && window == self.snd_wnd
                && !seg.flags.contains(TcpFlags::SYN)
                && !seg.flags.contains(TcpFlags::FIN);
            if !self.sack_ok && dup {
                self.dupacks += 1;
                if self.dupacks == DUP_THRESH && self.recovery.is_none() && self.scoreboard.may_enter_recovery() {
                    self.enter_recovery(now);
                }
            }
            if self.sack_ok && info.enter_recovery {
                self.enter_recovery(now);
            }
            self.detect_lost_retransmissions(now);
            return Some(0);
        }
        self.dupacks = 0;
        self.consecutive_rtos = 0;
        let rtt_sample = self.sample_rtt(now, sent_at, seg);
        self.drop_acked(ack);
        self.snd_una = ack;
        self.stats.bytes_acked += newly;
        self.rto_deadline = None;
        if self.snd_una < self.snd_nxt {
            self.arm_rto(now);
        }
        let was_in_recovery = self.in_recovery() || info.recovery_ended;
        if self.sack_ok {
            if info.recovery_ended {
                self.cc.on_recovery_exit(now, mss);
            }
        } else if let Some(point) = self.recovery {
            if ack >= point {
                // RFC 6582 §3.2 step 6: a full ACK ends recovery.
                self.recovery = None;
                self.cc.on_recovery_exit(now, mss);
            } else {
                // RFC 6582 §3.2 step 5: a partial ACK retransmits the next unacknowledged segment.
                self.mark_retransmit(self.snd_una);
            }
        }
        if !was_in_recovery {
            self.cc.on_ack(&AckEvent {
                now,
                bytes_acked: newly,
                bytes_in_flight: flight_before,
                srtt: self.rtt.srtt(),
                min_rtt: self.rtt.min_rtt(),
                rtt_sample,
                mss,
                // Linux `tcp_is_cwnd_limited()` in spirit: less than half the window in use.
                app_limited: flight_before * 2 < self.cc.window(),
            });
        }
        if self.sack_ok && info.enter_recovery {
            self.enter_recovery(now);
        }
        self.detect_lost_retransmissions(now);
        Some(newly)
    }

    /// RACK (RFC 8985 §6.1): remembers when the most recently sent of the segments this ACK
    /// delivers was sent — the newest cumulatively acknowledged one, or the one ending the first
    /// SACK block (RFC 2018 §4: it holds the most recently received segment).
    fn note_delivered(&mut self, ack: u64, blocks: &[Range<u64>]) {
        let acked = self.tx.iter().take_while(|s| s.end() <= ack).filter_map(|s| s.sent_at).max();
        let sacked = blocks.first().and_then(|b| self.tx_index(b.end - 1)).and_then(|i| self.tx[i].sent_at);
        let newest = acked.max(sacked);
        if newest > self.rack_xmit_ts {
            self.rack_xmit_ts = newest;
        }
    }

    /// RACK for retransmissions (RFC 8985 §6.2): a retransmission is lost when something sent
    /// after it was delivered and an RTT plus a reordering window (min RTT / 4, §6.2 step 4)
    /// has passed. RFC 6675 alone cannot see this; without it only the RTO would.
    fn detect_lost_retransmissions(&mut self, now: Instant) {
        if !self.sack_ok || self.retx_watch.is_empty() {
            return;
        }
        let (Some(latest), Some(srtt)) = (self.rack_xmit_ts, self.rtt.srtt()) else { return };
        let wait = srtt + self.rtt.min_rtt().unwrap_or_default() / 4;
        let mut i = 0;
        while i < self.retx_watch.len() {
            let seq = self.retx_watch[i];
            let Some(j) = self.tx_index(seq).filter(|_| seq >= self.snd_una) else {
                self.retx_watch.swap_remove_back(i);
                continue;
            };
            let seg = &self.tx[j];
            let range = seg.seq..seg.end();
            if self.scoreboard.is_sacked(range) {
                self.retx_watch.swap_remove_back(i);
                continue;
            }
            if !seg.needs_send && seg.sent_at.is_some_and(|t| t < latest && now - t >= wait) {
                self.mark_send(j);
                self.retx_watch.swap_remove_back(i);
                continue;
            }
            i += 1;
        }
    }

    /// RFC 6675 §5 step 4 / RFC 6582 §3.2: enter loss recovery and retransmit the first
    /// unacknowledged segment.
    fn enter_recovery(&mut self, now: Instant) {
        if self.in_recovery() || self.rto_recovery.is_some() || self.snd_una == self.snd_nxt {
            return;
        }
        self.stats.fast_recoveries += 1;
        self.cc.on_congestion_event(now, self.snd_nxt - self.snd_una, self.mss32());
        if self.sack_ok {
            self.scoreboard.enter_recovery(self.snd_nxt);
            if let Some(i) = self.tx_index(self.snd_una) {
                self.scoreboard.on_retransmit(self.tx[i].seq..self.tx[i].end());
            }
        } else {
            self.recovery = Some(self.snd_nxt);
        }
        self.mark_retransmit(self.snd_una);
    }

    fn sack_blocks_of(&self, seg: &SegmentRepr<'_>) -> Vec<Range<u64>> {
        if !self.sack_ok || seg.options.sack.is_empty() {
            return Vec::new();
        }
        seg.options
            .sack
            .as_slice()
            .iter()
            .filter_map(|&(l, r)| {
                let l = super::unwrap_seq(self.iss, self.snd_una, l)?;
                let r = super::unwrap_seq(self.iss, self.snd_una, r)?;
                Some(l..r)
            })
            .filter(|r| r.start < r.end && r.start >= self.snd_una && r.end <= self.snd_nxt)
            .collect()
    }

    /// RTT sample (RFC 6298 §3, Karn): from the newest fully acknowledged segment sent once,
    /// else from the timestamp echo (RFC 7323 §4).
    /// When the newest segment this ACK newly covers was sent, if that segment was sent once
    /// and not SACKed before (a segment SACKed long ago would measure the hole, not the path;
    /// Linux skips those too). Call before the scoreboard forgets the SACKs.
    fn rtt_candidate(&self, ack: u64) -> Option<Instant> {
        let any_sacked = self.sack_ok && self.scoreboard.sacked_bytes() > 0;
        self.tx
            .iter()
            .take_while(|s| s.end() <= ack)
            .filter(|s| !(s.retransmitted || any_sacked && self.scoreboard.is_sacked(s.seq..s.end())))
            .filter_map(|s| s.sent_at)
            .last()
    }

    fn sample_rtt(&mut self, now: Instant, exact: Option<Instant>, seg: &SegmentRepr<'_>) -> Option<Duration> {
        let sample = match exact {
            Some(sent) => Some(now - sent),
            None => match seg.options.timestamp {
                Some(ts) if self.ts_ok && ts.tsecr != 0 => {
                    let ms = self.tsval(now).wrapping_sub(ts.tsecr);
                    (ms < 60_000).then(|| Duration::from_millis(u64::from(ms)))
                }
                _ => None,
            },
        };
        if let Some(s) = sample {
            self.rtt.on_sample(s);
        }
        sample
    }

    fn drop_acked(&mut self, ack: u64) {
        while let Some(front) = self.tx.front_mut() {
            if front.end() <= ack {
                if front.needs_send {
                    self.to_send -= 1;
                }
                self.tx.pop_front();
            } else {
                if front.seq < ack && !front.payload.is_empty() {
                    // A partial ACK inside a segment: keep the rest (its mapping is unchanged).
                    let cut = ((ack - front.seq) as usize).min(front.payload.len());
                    front.payload = front.payload.slice(cut..);
                    front.seq += cut as u64;
                }
                break;
            }
        }
    }

    /// Our FIN is acknowledged when SND.UNA passes it (and stays so after the subflow ended).
    pub fn fin_acked(&self) -> bool {
        self.fin_queued && self.snd_una == self.snd_nxt
    }

    /// RFC 5961 §3-5: answer a suspicious segment with an ACK, at a limited rate.
    pub(super) fn challenge_ack(&mut self, now: Instant) {
        if self.last_challenge_ack.is_none_or(|t| now - t >= CHALLENGE_ACK_INTERVAL) {
            self.last_challenge_ack = Some(now);
            self.ack_now = true;
        }
    }

    /// Fires due timers: RTO (RFC 6298 §5), delayed ACK, persist, TIME-WAIT.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.time_wait_deadline.is_some_and(|d| d <= now) {
            self.end(SubflowEnd::Closed);
            return;
        }
        if self.ack_deadline.is_some_and(|d| d <= now) {
            self.ack_deadline = None;
            self.ack_now = true;
        }
        if self.persist_deadline.is_some_and(|d| d <= now) {
            self.persist_backoff += 1;
            self.probe_due = true;
            let wait = (self.rtt.rto() * (1 << self.persist_backoff.min(10))).min(MAX_PERSIST);
            self.persist_deadline = Some(now + wait);
        }
        if self.rto_deadline.is_some_and(|d| d <= now) {
            self.rto_deadline = None;
            self.on_rto(now);
        }
    }

    fn on_rto(&mut self, now: Instant) {
        if self.snd_una == self.snd_nxt {
            return;
        }
        self.consecutive_rtos += 1;
        self.stats.rto_count += 1;
        let syn_phase = matches!(self.state, TcpState::SynSent | TcpState::SynReceived);
        if syn_phase {
            self.syn_retransmits += 1;
        }
        let limit = if syn_phase { self.config.max_syn_retransmissions } else { self.config.max_retransmissions };
        if self.consecutive_rtos > limit {
            self.rst_pending = !syn_phase;
            self.end(SubflowEnd::TimedOut);
            return;
        }
        // RFC 6298 §5.5: back off; RFC 5681 §3.1: the loss window; RFC 6675 §5.1: SACK state
        // is kept, recovery is left, and everything outstanding is sent again.
        self.rtt.on_timeout();
        self.cc.on_rto(now, self.snd_nxt - self.snd_una, self.mss32());
        self.recovery = None;
        self.retx_watch.clear();
        self.scoreboard.on_rto(self.snd_nxt);
        self.dupacks = 0;
        self.rto_recovery = Some(self.snd_nxt);
        self.rto_cursor = self.snd_una;
        self.arm_rto(now);
    }

    /// Arms the zero-window probe timer: the peer's window (the subflow's, or the shared
    /// connection-level one) holds back queued data and nothing is in flight to bring a window
    /// update (RFC 9293 §3.8.6.1).
    pub fn arm_persist(&mut self, now: Instant) {
        if self.persist_deadline.is_none() && self.idle() && self.state.can_send() {
            self.persist_deadline = Some(now + self.rtt.rto());
        }
    }

    /// Writes `out` with the TCP options this subflow owns and the connection's MPTCP options.
    pub fn emit(&mut self, now: Instant, out: &Outgoing, params: &EmitParams, buf: &mut [u8]) -> Option<usize> {
        let syn = out.flags.contains(TcpFlags::SYN);
        let acking = out.flags.contains(TcpFlags::ACK);
        // Built in place and filled in below: the option block is large to move.
        let mut seg = SegmentRepr {
            src: self.local.ip(),
            dst: self.remote.ip(),
            tos: self.traffic_class(),
            hop_limit: 64,
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: self.iss.wrapping_add(out.seq as u32),
            ack: if acking { self.irs.wrapping_add(self.rcv_nxt as u32) } else { 0 },
            flags: out.flags,
            window: 0,
            options: TcpOptions { mptcp: params.mptcp, ..Default::default() },
            payload: &out.payload,
        };
        let options = &mut seg.options;
        if syn {
            options.mss = Some(self.max_segment_size());
            if self.state == TcpState::SynSent || self.snd_wscale > 0 || self.rcv_wscale > 0 {
                options.window_scale = Some(self.rcv_wscale);
            }
            options.sack_permitted = self.config.sack && (self.state == TcpState::SynSent || self.sack_ok);
        }
        let send_ts =
            if syn { self.config.timestamps && (self.state == TcpState::SynSent || self.ts_ok) } else { self.ts_ok };
        if send_ts && !out.flags.contains(TcpFlags::RST) {
            let tsecr = if self.state == TcpState::SynSent { 0 } else { self.ts_recent };
            options.timestamp = Some(Timestamp { tsval: self.tsval(now), tsecr });
        }
        if acking && self.sack_ok {
            options.sack = SackBlocks::from_slice(&self.sack_blocks_to_send());
        }
        let window = if syn {
            // RFC 7323 §2.2: the window in a SYN is not scaled.
            let w = params.window.min(u64::from(u16::MAX));
            self.rcv_adv = self.rcv_adv.max(self.rcv_nxt + w);
            w
        } else {
            // RFC 9293 §3.8.6.2.2: never move the right edge left.
            let edge = (self.rcv_nxt + params.window).max(self.rcv_adv);
            self.rcv_adv = edge;
            ((edge - self.rcv_nxt) >> self.rcv_wscale).min(u64::from(u16::MAX))
        };
        seg.window = window as u16;
        let (len, _) = seg.emit(buf, ChecksumMode::Full).ok()?;
        self.stats.segments_sent += 1;
        self.stats.bytes_sent += out.payload.len() as u64;
        if acking {
            self.ack_now = false;
            self.ack_deadline = None;
            self.unacked_segments = 0;
            if out.kind == OutKind::HandshakeAck || out.kind == OutKind::Data {
                self.handshake_ack_due = false;
            }
        }
        Some(len)
    }
}
