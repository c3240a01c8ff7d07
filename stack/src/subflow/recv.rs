//! The receiving half of a subflow: segment acceptance (RFC 9293 §3.10.7), RST and SYN
//! handling with RFC 5961's defences, PAWS (RFC 7323 §5), out-of-order tracking for SACK
//! (RFC 2018) and the ACK policy.

use core::ops::Range;

use bytes::{Bytes, BytesMut};

use super::{OutKind, Outgoing, RxOutcome, Subflow, SubflowEnd, SynInfo, TcpState};
use crate::time::Instant;
use crate::wire::{SegmentRepr, TcpFlags};

/// Bytes of one receive block: in-order payload is copied into it segment after segment.
const RX_BLOCK: usize = 64 * 1024;

/// SACK blocks remembered for reporting (RFC 2018 §4: at most 4 fit, 3 with timestamps).
const MAX_RECENT_SACKS: usize = 4;

impl Subflow {
    /// Processes one received segment addressed to this subflow.
    pub fn on_segment(&mut self, now: Instant, seg: &SegmentRepr<'_>) -> RxOutcome {
        let mut out = RxOutcome::default();
        if self.ended.is_some() {
            out.dropped = true;
            return out;
        }
        self.stats.segments_received += 1;
        let flags = seg.flags;
        if self.state == TcpState::SynSent {
            self.on_segment_syn_sent(now, seg, &mut out);
            return out;
        }
        // RFC 7323 §5.3 PAWS: a timestamp older than TS.Recent marks an old duplicate.
        if self.ts_ok
            && !flags.contains(TcpFlags::RST)
            && let Some(ts) = seg.options.timestamp
            && (ts.tsval.wrapping_sub(self.ts_recent) as i32) < 0
        {
            self.ack_now = true;
            out.dropped = true;
            return out;
        }
        let Some(seq) = super::unwrap_seq(self.irs, self.rcv_nxt, seg.seq) else {
            // Before the peer's initial sequence number: unacceptable (RFC 9293 §3.10.7.4).
            if !flags.contains(TcpFlags::RST) {
                self.ack_now = true;
            }
            out.dropped = true;
            return out;
        };
        if flags.contains(TcpFlags::SYN) {
            if seq + 1 == self.rcv_nxt && self.state == TcpState::SynReceived {
                // A retransmitted SYN: send our SYN/ACK again.
                if let Some(i) = self.tx.iter().position(|s| s.syn) {
                    self.mark_send(i);
                }
            } else if seq + 1 == self.rcv_nxt && self.active && flags.contains(TcpFlags::ACK) {
                // A retransmitted SYN/ACK: our third ACK was lost; send it again, as it was.
                self.handshake_ack_due = true;
                self.ack_now = true;
            } else {
                // RFC 5961 §4.2: any other SYN in a synchronized state gets a challenge ACK.
                self.challenge_ack(now);
            }
            out.dropped = true;
            return out;
        }
        let seg_len = seg.payload.len() as u64 + u64::from(flags.contains(TcpFlags::FIN));
        if !self.acceptable(seq, seg_len) {
            // RFC 9293 §3.10.7.4 first check: answer with an ACK unless it is a RST.
            if !flags.contains(TcpFlags::RST) {
                self.ack_now = true;
            }
            out.dropped = true;
            return out;
        }
        if flags.contains(TcpFlags::RST) {
            // RFC 5961 §3.2: only an exact match resets; anything else in the window gets a
            // challenge ACK.
            if seq == self.rcv_nxt {
                self.end(SubflowEnd::Reset);
                out.ended = Some(SubflowEnd::Reset);
            } else {
                self.challenge_ack(now);
            }
            out.dropped = true;
            return out;
        }
        if !flags.contains(TcpFlags::ACK) {
            out.dropped = true;
            return out;
        }
        if self.state == TcpState::SynReceived {
            let ack = super::unwrap_seq(self.iss, self.snd_una, seg.ack);
            if ack != Some(1) {
                // RFC 9293 §3.10.7.4: an unacceptable ACK in SYN-RECEIVED gets a RST.
                self.rst_pending = true;
                out.dropped = true;
                return out;
            }
            self.state = TcpState::Established;
            out.established = true;
        }
        match self.process_ack(now, seg) {
            Some(n) => out.newly_acked = n,
            None => {
                out.dropped = true;
                return out;
            }
        }
        self.after_ack_state(now, &mut out);
        if self.ts_ok
            && let Some(ts) = seg.options.timestamp
            && seq <= self.rcv_nxt
        {
            // RFC 7323 §4.3: TS.Recent follows the segment that covers the ACK point.
            self.ts_recent = ts.tsval;
        }
        self.receive_payload(now, seq, seg, &mut out);
        out
    }

    /// RFC 9293 §3.10.7.4 segment acceptability against our receive window.
    fn acceptable(&self, seq: u64, len: u64) -> bool {
        let wnd = self.rcv_adv.saturating_sub(self.rcv_nxt);
        let end = self.rcv_nxt + wnd;
        match (len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => seq >= self.rcv_nxt && seq < end.max(self.rcv_nxt + 1),
            (_, 0) => false,
            _ => {
                let last = seq + len - 1;
                (seq >= self.rcv_nxt && seq < end) || (last >= self.rcv_nxt && last < end)
            }
        }
    }

    fn on_segment_syn_sent(&mut self, now: Instant, seg: &SegmentRepr<'_>, out: &mut RxOutcome) {
        let flags = seg.flags;
        let ack_ok = flags.contains(TcpFlags::ACK) && seg.ack == self.iss.wrapping_add(1);
        if flags.contains(TcpFlags::ACK) && !ack_ok {
            // RFC 9293 §3.10.7.3: a bad ACK is answered with a RST (unless it is one).
            if !flags.contains(TcpFlags::RST) {
                self.rst_pending = true;
            }
            out.dropped = true;
            return;
        }
        if flags.contains(TcpFlags::RST) {
            if ack_ok {
                self.end(SubflowEnd::Reset);
                out.ended = Some(SubflowEnd::Reset);
            }
            out.dropped = true;
            return;
        }
        if !flags.contains(TcpFlags::SYN) {
            out.dropped = true;
            return;
        }
        self.take_syn(&SynInfo::from_segment(seg));
        if ack_ok {
            // RFC 7323 §2.2: the window field of a SYN/ACK is not scaled.
            self.snd_wl1 = 0;
            self.snd_wl2 = 1;
            self.snd_una = 1;
            if self.tx.pop_front().is_some_and(|syn| syn.needs_send) {
                self.to_send -= 1;
            }
            self.rto_deadline = None;
            if let Some(sent) = seg.options.timestamp.filter(|_| self.ts_ok).map(|t| t.tsecr)
                && sent != 0
            {
                let ms = self.tsval(now).wrapping_sub(sent);
                self.rtt.on_sample(core::time::Duration::from_millis(u64::from(ms)));
            }
            self.state = TcpState::Established;
            self.handshake_ack_due = true;
            self.ack_now = true;
            out.established = true;
        } else {
            // RFC 9293 §3.5 simultaneous open: SYN-SENT → SYN-RECEIVED, our SYN is resent as a
            // SYN/ACK.
            self.state = TcpState::SynReceived;
            if !self.tx.is_empty() {
                self.mark_send(0);
            }
        }
    }

    /// State changes that follow an acknowledgment of our FIN (RFC 9293 §3.10.7.4).
    fn after_ack_state(&mut self, now: Instant, out: &mut RxOutcome) {
        if !self.fin_acked() {
            return;
        }
        match self.state {
            TcpState::FinWait1 => self.state = TcpState::FinWait2,
            TcpState::Closing => self.enter_time_wait(now),
            TcpState::LastAck => {
                self.end(SubflowEnd::Closed);
                out.ended = Some(SubflowEnd::Closed);
            }
            _ => {}
        }
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = TcpState::TimeWait;
        self.rto_deadline = None;
        self.time_wait_deadline = Some(now + self.config.time_wait);
    }

    /// Accepts payload and FIN (RFC 9293 §3.10.7.4 seventh and eighth checks).
    fn receive_payload(&mut self, now: Instant, seq: u64, seg: &SegmentRepr<'_>, out: &mut RxOutcome) {
        let fin = seg.flags.contains(TcpFlags::FIN);
        let receiving = matches!(self.state, TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2);
        if !receiving {
            if fin || !seg.payload.is_empty() {
                self.ack_now = true; // A retransmitted FIN or data after ours: ACK it again.
            }
            return;
        }
        let mut data = seg.payload;
        let mut start = seq;
        if start < self.rcv_nxt {
            let skip = ((self.rcv_nxt - start) as usize).min(data.len());
            data = &data[skip..];
            start += skip as u64;
        }
        let edge = self.rcv_adv.max(self.rcv_nxt + 1);
        if start + data.len() as u64 > edge {
            // Beyond the window we advertised: trim (RFC 9293 §3.10.7.4).
            data = &data[..(edge.saturating_sub(start) as usize).min(data.len())];
        }
        if !data.is_empty() {
            let range = start..start + data.len() as u64;
            if start == self.rcv_nxt {
                let had_gap = !self.rcv_ooo.is_empty();
                self.rcv_nxt = range.end;
                if had_gap {
                    self.rcv_ooo.insert(range);
                    // Everything contiguous from RCV.NXT is now in order.
                    if let Some(r) = self.rcv_ooo.range_containing(self.rcv_nxt - 1) {
                        self.rcv_nxt = self.rcv_nxt.max(r.end);
                    }
                    self.rcv_ooo.remove_below(self.rcv_nxt);
                    self.recent_sacks.retain(|r| r.end > self.rcv_nxt);
                }
                self.stats.bytes_received += data.len() as u64;
                out.data = Some((start, self.rx_copy(data)));
                // RFC 5681 §4.2: ACK at least every second full segment; at once when filling a gap.
                self.unacked_segments += 1;
                if had_gap || self.unacked_segments >= 2 {
                    self.ack_now = true;
                } else if self.ack_deadline.is_none() {
                    self.ack_deadline = Some(now + self.config.delayed_ack);
                }
            } else {
                let new = self.rcv_ooo.insert(range.clone());
                if new > 0 {
                    self.stats.bytes_received += new;
                    // An allocation of its own: data held for a hole must not pin a whole block.
                    out.data = Some((start, Bytes::copy_from_slice(data)));
                }
                self.note_sack(range);
                // RFC 5681 §4.2: an out-of-order segment is acknowledged at once.
                self.ack_now = true;
            }
        }
        if fin {
            let fin_seq = seq + seg.payload.len() as u64;
            self.fin_received = Some(fin_seq);
        }
        if let Some(f) = self.fin_received
            && f == self.rcv_nxt
        {
            self.fin_received = None;
            self.rcv_nxt += 1;
            self.ack_now = true;
            out.fin = true;
            match self.state {
                TcpState::Established => self.state = TcpState::CloseWait,
                TcpState::FinWait1 if self.fin_acked() => self.enter_time_wait(now),
                TcpState::FinWait1 => self.state = TcpState::Closing,
                TcpState::FinWait2 => self.enter_time_wait(now),
                _ => {}
            }
        }
    }

    /// Copies received payload out of the packet into the receive block, which amortises one
    /// allocation over many segments; a new block is taken when the current one is full (or
    /// it is reused once everything cut from it was consumed).
    fn rx_copy(&mut self, data: &[u8]) -> Bytes {
        if self.rx_block.capacity() < data.len() && !self.rx_block.try_reclaim(RX_BLOCK) {
            self.rx_block = BytesMut::with_capacity(RX_BLOCK.max(data.len()));
        }
        self.rx_block.extend_from_slice(data);
        self.rx_block.split().freeze()
    }

    /// The relative sequence number of wire sequence number `seq` (`None` before the peer's
    /// initial one).
    pub(crate) fn relative_seq(&self, seq: u32) -> Option<u64> {
        super::unwrap_seq(self.irs, self.rcv_nxt, seq)
    }

    /// Lets go of the receive block (the connection's receive buffer is empty, so nothing
    /// waits to reuse it), so that an idle subflow holds no memory for data it no longer has.
    pub fn release_rx_block(&mut self) {
        self.rx_block = BytesMut::new();
    }

    fn note_sack(&mut self, range: Range<u64>) {
        let merged = self.rcv_ooo.range_containing(range.start).unwrap_or(range);
        self.recent_sacks.retain(|r| r.end < merged.start || r.start > merged.end);
        self.recent_sacks.push_front(merged);
        self.recent_sacks.truncate(MAX_RECENT_SACKS);
    }

    /// SACK blocks to report, most recent first (RFC 2018 §4), as wire sequence numbers.
    pub(super) fn sack_blocks_to_send(&self) -> Vec<(u32, u32)> {
        if self.recent_sacks.is_empty() {
            return Vec::new();
        }
        self.recent_sacks
            .iter()
            .filter_map(|r| self.rcv_ooo.range_containing(r.start))
            .filter(|r| r.start > self.rcv_nxt)
            .map(|r| (self.irs.wrapping_add(r.start as u32), self.irs.wrapping_add(r.end as u32)))
            .collect()
    }

    /// A pure ACK when one is due (immediately, or the delayed-ACK timer fired).
    pub fn poll_ack(&mut self) -> Option<Outgoing> {
        if !self.ack_now || self.ended.is_some() || self.state == TcpState::SynSent {
            return None;
        }
        let kind = if self.handshake_ack_due { OutKind::HandshakeAck } else { OutKind::Ack };
        Some(Outgoing {
            kind,
            seq: self.snd_nxt,
            flags: TcpFlags::ACK,
            payload: Bytes::new(),
            map: None,
            retransmission: false,
        })
    }

    /// Asks for an immediate ACK (a window update or a DATA_ACK the connection wants sent). Not
    /// in TIME-WAIT: both sides closed, and only a retransmitted FIN gets an ACK there (RFC 9293
    /// §3.10.7.4); anything else would go to a peer that may have forgotten the subflow and
    /// answers with a RST.
    pub fn request_ack(&mut self) {
        let open = self.state.is_synchronized() && self.state != TcpState::TimeWait;
        if open || self.state == TcpState::SynReceived {
            self.ack_now = true;
        }
    }

    /// Sends the ACK that completed our active open again (MP_JOIN's third ACK, RFC 8684
    /// §3.2, goes again until the responder acknowledges it at the MPTCP level).
    pub fn resend_handshake_ack(&mut self) {
        if self.state.is_synchronized() && self.active {
            self.handshake_ack_due = true;
            self.ack_now = true;
        }
    }

    /// The relative sequence number we expect next.
    pub fn rcv_nxt(&self) -> u64 {
        self.rcv_nxt
    }
}
