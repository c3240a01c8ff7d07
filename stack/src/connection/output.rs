//! Sending at the connection level: which subflow sends what, the MPTCP options on every
//! segment (RFC 8684 §3.1, §3.3), DATA_FIN on every subflow (§3.3.3), and MP_FASTCLOSE /
//! MP_TCPRST on resets (§3.5, §3.6).

use super::{CloseReason, Connection, DATA_FIN_RTO, FallbackReason, Mode, Role};
use crate::crypto::dss_checksum;
use crate::scheduler::{Candidate, Context};
use crate::subflow::{EmitParams, OutKind, Outgoing, TxMap};
use crate::time::Instant;
use crate::wire::MptcpOptions;
use crate::wire::mptcp::{
    CapableFlags, CapablePhase, CapableRepr, DssRepr, FailRepr, FastCloseRepr, Mapping, SeqNum, TcpRstRepr,
};

/// The DSS mapping of a segment's [`TxMap`] (length 0 is the infinite mapping).
fn dss_mapping(map: TxMap) -> Mapping {
    Mapping { dsn: SeqNum::Long(map.dsn), ssn: map.ssn as u32, data_len: map.len as u16, checksum: map.checksum }
}

impl Connection {
    /// Writes the next segment this connection wants sent into `buf`; returns its length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.check_handshake_fallback();
        self.start_local_fin(now);
        let pending = self.send.end() > self.snd_nxt || !self.reinject.is_empty();
        for p in &mut self.paths {
            p.sf.set_app_pending(pending || !p.pin_queue.is_empty());
        }
        let n = self.paths.len();
        for k in 0..n {
            let i = (self.round_robin + k) % n;
            if let Some(out) = self.paths[i].sf.poll_control(now) {
                return self.emit(i, now, out, buf);
            }
        }
        // §3.4.1, §3.4.2, §3.3.8: ADD_ADDR (and its echo), REMOVE_ADDR and MP_PRIO do not fit
        // beside a data mapping and the timestamps in 40 bytes of options; they go on a pure ACK
        // of their own ahead of new data. Behind a bulk transfer they would wait for its end,
        // and the kernel sends an ADD_ADDR again after about an RTO until it is echoed.
        if let Some(i) = self.signal_due() {
            self.paths[i].sf.request_ack();
            // A pure ACK of that subflow always takes a signal (signals_output), so this ends.
            if let Some(out) = self.paths[i].sf.poll_ack().filter(|o| o.kind == OutKind::Ack) {
                return self.emit(i, now, out, buf);
            }
        }
        if let Some((i, out)) = self.schedule_data(now) {
            self.round_robin = (i + 1) % n.max(1);
            return self.emit(i, now, out, buf);
        }
        for i in 0..n {
            if let Some(out) = self.paths[i].sf.poll_ack() {
                return self.emit(i, now, out, buf);
            }
        }
        None
    }

    /// Once all data is sent after a shutdown: DATA_FIN on every subflow (§3.3.3), or in
    /// fallback the subflow's FIN.
    fn start_local_fin(&mut self, now: Instant) {
        let Some(fin) = self.local_fin else { return };
        if self.snd_nxt != fin || self.closed.is_some() || self.pins_queued() {
            return;
        }
        match self.mode {
            Mode::Fallback(_) => {
                for p in &mut self.paths {
                    p.sf.shutdown();
                }
            }
            Mode::Mptcp if !self.local_fin_acked && self.data_fin_deadline.is_none() => {
                self.data_fin_deadline = Some(now + DATA_FIN_RTO);
                for p in &mut self.paths {
                    p.data_fin_due = true;
                    p.sf.request_ack();
                }
            }
            _ => {}
        }
    }

    /// The subflows that may carry data now, as the scheduler sees them. A subflow with data in
    /// flight whose room is less than a full segment (or what is left to send) shows none:
    /// sender SWS avoidance (RFC 9293 §3.8.6.2.1) keeps it waiting for the ACK clock. Neither
    /// does one with Nagle's algorithm on, data in flight and less than a full segment to send
    /// (RFC 9293 §3.7.4).
    fn candidates(&self, out: &mut Vec<Candidate>) {
        let waiting = (self.stream_end().saturating_sub(self.snd_nxt)).max(self.reinject.total_bytes()).max(1);
        out.clear();
        for i in (0..self.paths.len()).filter(|&i| self.usable(i)) {
            let sf = &self.paths[i].sf;
            let (room, mss) = (sf.send_capacity() as u64, sf.send_mss() as u64);
            let waiting = waiting.max(self.paths[i].pin_queue.total_bytes());
            let nagle = !sf.nodelay() && !sf.idle() && waiting < mss;
            let capacity = if !nagle && (room >= waiting.min(mss) || sf.idle()) { room } else { 0 };
            out.push(Candidate {
                index: i,
                srtt: sf.srtt(),
                rttvar: sf.rttvar(),
                cwnd: sf.cwnd(),
                in_flight: sf.snd_nxt() - sf.snd_una(),
                capacity,
                mss: sf.send_mss() as u32,
                backup: self.paths[i].is_backup(),
            });
        }
    }

    /// Picks a subflow and cuts a segment: first data to send again elsewhere (§3.3.6), then
    /// the redundant scheduler's copies, then new data.
    fn schedule_data(&mut self, now: Instant) -> Option<(usize, Outgoing)> {
        if self.closed.is_some() || self.mode == Mode::Handshake && self.role == Role::Server {
            return None;
        }
        self.assign_pins();
        let copies_due = self.scheduler.redundant() && self.snd_nxt > self.data_una;
        if self.reinject.is_empty() && self.send.end() == self.snd_nxt && !copies_due && !self.pins_queued() {
            return None;
        }
        // One buffer for the candidates, kept across calls: this runs for every segment.
        let mut candidates = core::mem::take(&mut self.candidate_buf);
        self.candidates(&mut candidates);
        let out = self.schedule_among(now, &candidates);
        self.candidate_buf = candidates;
        out
    }

    fn schedule_among(&mut self, now: Instant, candidates: &[Candidate]) -> Option<(usize, Outgoing)> {
        if let Some(out) = self.schedule_reinjection(now, candidates) {
            return Some(out);
        }
        if self.scheduler.redundant() {
            for c in candidates.iter().filter(|c| c.capacity > 0) {
                // Pinned bytes are not copied (see `pinned`).
                let copy = self.first_unpinned(self.paths[c.index].redundant_next.max(self.data_una)..self.snd_nxt);
                if !copy.is_empty() {
                    let len = (copy.end - copy.start).min(u64::from(c.mss)) as usize;
                    let out = self.send_on(c.index, now, copy.start, len)?;
                    self.paths[c.index].redundant_next = copy.start + out.payload.len() as u64;
                    return Some((c.index, out));
                }
            }
        }
        if let Some(out) = self.schedule_pinned(now, candidates) {
            return Some(out);
        }
        let unsent = self.stream_end().saturating_sub(self.snd_nxt);
        if unsent == 0 {
            return None;
        }
        // §3.3.4: the peer's window is shared and relative to the DATA_ACK.
        let conn_room = match self.mode {
            Mode::Mptcp => self.peer_edge.saturating_sub(self.snd_nxt),
            _ => u64::MAX,
        };
        let ctx = Context { unsent, window_room: conn_room };
        let Some(i) = self.scheduler.pick(candidates, &ctx) else {
            // Data waits and no subflow may send: if it is the peer's window, probe it.
            for p in &mut self.paths {
                p.sf.arm_persist(now);
            }
            return None;
        };
        let sf = &mut self.paths[i].sf;
        let mss = sf.send_mss() as u64;
        let room = (sf.send_capacity() as u64).min(conn_room);
        let want = mss.min(unsent);
        if room < want && conn_room < want && self.unblock_window(i, now) {
            return self.schedule_reinjection(now, candidates);
        }
        let sf = &mut self.paths[i].sf;
        if room < want && !sf.idle() {
            // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): wait for a full segment.
            return None;
        }
        if room == 0 {
            sf.arm_persist(now);
            return None;
        }
        let dsn = self.snd_nxt;
        let out = self.send_on(i, now, dsn, want.min(room) as usize)?;
        self.snd_nxt += out.payload.len() as u64;
        if self.scheduler.redundant() {
            self.paths[i].redundant_next = self.snd_nxt;
        }
        self.assign_pins();
        if self.send_infinite {
            self.send_infinite = false;
            self.fall_back(FallbackReason::ChecksumFailed);
            self.tx_linear = Some((out.seq, dsn));
        }
        Some((i, out))
    }

    /// Data queued for another subflow (§3.3.6), on the subflow the scheduler picks for it.
    fn schedule_reinjection(&mut self, now: Instant, candidates: &[Candidate]) -> Option<(usize, Outgoing)> {
        while let Some(r) = self.reinject.first() {
            if r.end <= self.data_una || self.send.slice(r.start, 1).is_empty() {
                self.reinject.remove(r);
                continue;
            }
            // §3.3.4: data sent before lies within the peer's window; the bytes pinned to a
            // subflow that ended before sending them may not.
            let window_room = match self.mode {
                Mode::Mptcp => self.peer_edge.saturating_sub(r.start),
                _ => u64::MAX,
            };
            if window_room == 0 {
                for p in &mut self.paths {
                    p.sf.arm_persist(now);
                }
                return None;
            }
            let ctx = Context { unsent: r.end - r.start, window_room };
            let i = self.scheduler.pick(candidates, &ctx)?;
            let len = (r.end - r.start).min(self.paths[i].sf.send_mss() as u64).min(window_room) as usize;
            let out = self.send_on(i, now, r.start, len)?;
            let sent = out.payload.len() as u64;
            self.reinject.remove(r.start..r.start + sent);
            self.counters.bytes_reinjected += sent;
            return Some((i, out));
        }
        None
    }

    /// The connection-level window blocks new data while subflow `fast` could send: the
    /// segment at the window's left edge sits on a slower subflow. Send it again on `fast` and
    /// halve the slow subflow's window, at most once per its RTT (opportunistic reinjection and
    /// penalisation, Raiciu et al., NSDI 2012). True when something was queued.
    fn unblock_window(&mut self, fast: usize, now: Instant) -> bool {
        if self.mode != Mode::Mptcp || self.unblocked_at == Some(self.data_una) {
            return false;
        }
        let una = self.data_una;
        let Some(slow) = (0..self.paths.len()).find(|&j| j != fast && self.paths[j].in_flight.holds(una)) else {
            return false;
        };
        let mss = self.paths[fast].sf.send_mss() as u64;
        // Pinned bytes stay on their subflow (see `pinned`).
        let copy = self.first_unpinned(una..(una + mss).min(self.snd_nxt));
        if copy.start != una {
            return false;
        }
        self.unblocked_at = Some(una);
        self.reinject.insert(copy);
        let rtt = self.paths[slow].sf.srtt().unwrap_or_default();
        if self.last_penalty.is_none_or(|t| now - t >= rtt) {
            self.last_penalty = Some(now);
            self.paths[slow].sf.penalize(now);
        }
        true
    }

    /// Sends up to `len` bytes from DSN `dsn` on subflow `i`, with their mapping.
    pub(super) fn send_on(&mut self, i: usize, now: Instant, dsn: u64, len: usize) -> Option<Outgoing> {
        let payload = self.send.slice(dsn, len);
        if payload.is_empty() {
            return None;
        }
        let sf = &mut self.paths[i].sf;
        let ssn = sf.snd_nxt();
        let map = if self.send_infinite {
            // §3.7: the infinite mapping (length 0, checksum field 0) starts at this byte.
            TxMap { dsn, ssn, len: 0, checksum: self.checksum.then_some(0) }
        } else {
            let checksum = self.checksum.then(|| dss_checksum(dsn, ssn as u32, payload.len() as u16, &payload));
            TxMap { dsn, ssn, len: payload.len() as u32, checksum }
        };
        self.paths[i].in_flight.push(dsn, ssn, payload.len() as u64);
        Some(self.paths[i].sf.push_data(now, payload, Some(map)))
    }

    fn emit(&mut self, i: usize, now: Instant, out: Outgoing, buf: &mut [u8]) -> Option<usize> {
        let mptcp = self.options_for(i, &out);
        let edge = (self.recv.next() + (self.recv.capacity() - self.recv.readable()) as u64).max(self.rcv_edge);
        // §3.3.4: the right edge of the connection-level window never moves left.
        self.rcv_edge = edge;
        let window = edge - self.recv.next();
        self.paths[i].sf.emit(now, &out, &EmitParams { mptcp, window }, buf)
    }

    /// The MPTCP options for one outgoing segment.
    fn options_for(&mut self, i: usize, out: &Outgoing) -> MptcpOptions {
        let mut o = MptcpOptions::default();
        let local = self.local_key.to_wire();
        let flags = CapableFlags { checksum_required: self.config.checksum, deny_join_id0: false };
        if let Some(join) = self.join_option(&self.paths[i], out.kind) {
            // §3.2: MP_JOIN on the handshake segments of a join subflow.
            o.join = Some(join);
            return o;
        }
        match (self.mode, out.kind) {
            (Mode::Fallback(FallbackReason::ChecksumFailed), OutKind::Data) if out.map.is_some_and(|m| m.len == 0) => {
                // A retransmission of the segment that carries the infinite mapping keeps it.
                o.dss = Some(DssRepr { data_ack: None, mapping: out.map.map(dss_mapping), data_fin: false });
            }
            (Mode::Fallback(_), _) => {}
            (_, OutKind::Syn) => o.capable = Some(CapableRepr::new(flags, CapablePhase::Syn)),
            (_, OutKind::SynAck) => {
                o.capable = Some(CapableRepr::new(flags, CapablePhase::SynAck { sender_key: local }));
            }
            (Mode::Handshake, _) => {}
            (Mode::Mptcp, kind) => {
                let remote = self.remote_key.map_or(0, |k| k.to_wire());
                let data_ack = Some(SeqNum::Long(self.recv.next()));
                match (kind, out.map) {
                    (OutKind::Rst, _) => {
                        let reason = self.paths[i].rst_reason.unwrap_or(crate::wire::mptcp::ResetReason::Unspecified);
                        o.tcp_rst = Some(TcpRstRepr { flags: 0, reason });
                        if self.closed == Some(CloseReason::Aborted) {
                            o.fastclose = Some(FastCloseRepr { receiver_key: remote });
                        }
                    }
                    (OutKind::HandshakeAck, _) if !self.fully_established => {
                        // §3.1: the third ACK echoes both keys.
                        let phase = CapablePhase::Ack { sender_key: local, receiver_key: remote };
                        o.capable = Some(CapableRepr::new(flags, phase));
                    }
                    (OutKind::Data, Some(map))
                        if self.role == Role::Client && !self.fully_established && map.ssn == 1 =>
                    {
                        // §3.1: the first data segment carries MP_CAPABLE with the data-level
                        // length, until a DATA_ACK shows the server has the keys.
                        let phase = CapablePhase::Data {
                            sender_key: local,
                            receiver_key: remote,
                            data_len: map.len as u16,
                            checksum: map.checksum,
                        };
                        o.capable = Some(CapableRepr::new(flags, phase));
                    }
                    (OutKind::Data, Some(map)) => {
                        o.dss = Some(DssRepr { data_ack, mapping: Some(dss_mapping(map)), data_fin: false });
                    }
                    _ => {
                        if self.signals_output(i, &mut o) {
                            return o;
                        }
                        // A 4-byte DATA_ACK on segments without a mapping leaves room for a second
                        // SACK block beside the timestamps (§3.3: the peer expands it, as the
                        // kernel's `mptcp_expand_seq()` does).
                        let short_ack = Some(SeqNum::Short(self.recv.next() as u32));
                        o.dss = Some(self.pure_ack_dss(i, short_ack));
                        // §3.7: MP_FAIL rides on pure ACKs (beside a data mapping it would not fit).
                        o.fail = self.mp_fail_to_send.map(|dsn| FailRepr { dsn });
                    }
                }
            }
        }
        o
    }

    /// DSS for a segment without payload: the DATA_ACK, and our DATA_FIN while it is owed
    /// (§3.3.3: DSN of the DATA_FIN, SSN 0, length 1).
    fn pure_ack_dss(&mut self, i: usize, data_ack: Option<SeqNum>) -> DssRepr {
        let p = &mut self.paths[i];
        match self.local_fin {
            Some(fin) if p.data_fin_due && !self.local_fin_acked => {
                p.data_fin_due = false;
                let checksum = self.checksum.then(|| dss_checksum(fin, 0, 1, &[]));
                DssRepr {
                    data_ack,
                    mapping: Some(Mapping { dsn: SeqNum::Long(fin), ssn: 0, data_len: 1, checksum }),
                    data_fin: true,
                }
            }
            _ => DssRepr { data_ack, mapping: None, data_fin: false },
        }
    }
}
