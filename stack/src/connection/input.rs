//! Received segments at the connection level: MP_CAPABLE keys and fallback decisions
//! (RFC 8684 §3.1, §3.7), mappings (§3.3.1), DATA_ACK and window (§3.3.2, §3.3.4),
//! DATA_FIN (§3.3.3), MP_FASTCLOSE (§3.5) and MP_TCPRST (§3.6).

use super::{CloseReason, ConnEvent, Connection, FallbackReason, MapError, Mode, RecvBuffer, Role};
use crate::crypto::Key;
use crate::time::Instant;
use crate::wire::mptcp::{CapablePhase, DssRepr, ResetReason, SeqNum};
use crate::wire::{SegmentRepr, TcpFlags};

impl Connection {
    /// Handles a segment that belongs to the subflow `(local, remote)` of this connection.
    pub fn handle_segment(&mut self, now: Instant, seg: &SegmentRepr<'_>) {
        let local = core::net::SocketAddr::new(seg.dst, seg.dst_port);
        let remote = core::net::SocketAddr::new(seg.src, seg.src_port);
        let Some(i) = self.paths.iter().position(|p| p.sf.local() == local && p.sf.remote() == remote) else {
            return;
        };
        let opts = seg.options.mptcp;
        // §3.5: MP_FASTCLOSE (on an ACK or a RST) carrying our key resets the connection.
        if self.mode == Mode::Mptcp
            && let Some(fc) = opts.fastclose
            && fc.receiver_key == self.local_key.to_wire()
        {
            for p in &mut self.paths {
                p.sf.abort();
            }
            self.close_with(CloseReason::FastClose);
            self.after_subflow_changes();
            return;
        }
        let reset_reason = opts.tcp_rst.map(|r| r.reason);
        let consumed =
            if self.paths[i].join.is_some() { !self.join_input(i, now, seg) } else { !self.handshake_options(i, seg) };
        if consumed {
            self.after_subflow_changes();
            return;
        }
        if self.mode == Mode::Mptcp && !self.register_mapping(i, seg) {
            self.after_subflow_changes();
            return;
        }
        if self.beyond_reorder_cap(i, seg) {
            return;
        }
        if self.mode == Mode::Mptcp
            && let Some(fail) = opts.fail
        {
            self.on_mp_fail(fail.dsn);
        }
        self.signals_input(i, &opts);
        self.refresh_coupling(i);
        let was_established = self.paths[i].sf.state().is_synchronized();
        let out = self.paths[i].sf.on_segment(now, seg);
        if out.ended.is_some() && seg.flags.contains(TcpFlags::RST) && self.paths.len() == 1 {
            self.close_with(CloseReason::Reset(reset_reason));
        }
        if out.dropped {
            self.after_subflow_changes();
            return;
        }
        if out.established && !was_established {
            self.on_established(i);
        }
        self.data_ack_of(i, seg);
        self.join_confirmed_by(i, seg);
        if let Some((ssn, data)) = out.data {
            self.receive_data(i, ssn, data);
        }
        if out.fin && matches!(self.mode, Mode::Fallback(_)) {
            // In fallback the subflow's FIN is the end of the stream (§3.7).
            self.remote_fin_done = true;
            self.events.push_back(ConnEvent::Readable);
        }
        self.consume_data_fin();
        let rcv_nxt = self.paths[i].sf.rcv_nxt();
        self.paths[i].rx_maps.release_below(rcv_nxt);
        self.join_progress(now);
        self.after_subflow_changes();
        if self.pm_due {
            self.run_path_manager(now);
        }
    }

    /// MP_CAPABLE on the handshake segments; returns false when the segment is consumed.
    fn handshake_options(&mut self, i: usize, seg: &SegmentRepr<'_>) -> bool {
        let capable = seg.options.mptcp.capable;
        let state = self.paths[i].sf.state();
        match (self.role, self.mode) {
            (Role::Client, Mode::Handshake) if seg.flags.contains(TcpFlags::SYN | TcpFlags::ACK) => {
                // §3.1: a SYN/ACK with MP_CAPABLE carries the server's key; without it, fall back.
                match capable.map(|c| (c.flags, c.phase)) {
                    Some((flags, CapablePhase::SynAck { sender_key })) => match Key::from_wire(sender_key) {
                        Some(k) => {
                            self.remote_key = Some(k);
                            self.checksum |= flags.checksum_required;
                            // §3.1 flag C: no joins to the server's initial address and port.
                            self.addrs.deny_join_id0 = flags.deny_join_id0;
                            self.mode = Mode::Mptcp;
                            self.init_receive(k);
                        }
                        None => self.fall_back(FallbackReason::PeerNotCapable),
                    },
                    _ => self.fall_back(FallbackReason::PeerNotCapable),
                }
            }
            (Role::Server, Mode::Handshake)
                if state == crate::subflow::TcpState::SynReceived && !seg.flags.contains(TcpFlags::SYN) =>
            {
                // §3.1: the third ACK (or first data) echoes both keys; without MP_CAPABLE the
                // kernel falls back, and so do we.
                let keys = match capable.map(|c| c.phase) {
                    Some(CapablePhase::Ack { sender_key, receiver_key })
                    | Some(CapablePhase::Data { sender_key, receiver_key, .. }) => Some((sender_key, receiver_key)),
                    _ => None,
                };
                match keys {
                    Some((sender, receiver)) if receiver == self.local_key.to_wire() => match Key::from_wire(sender) {
                        Some(k) => {
                            self.remote_key = Some(k);
                            self.checksum |= capable.is_some_and(|c| c.flags.checksum_required);
                            self.mode = Mode::Mptcp;
                            self.fully_established = true;
                            self.pm_due = true;
                            self.init_receive(k);
                        }
                        None => self.fall_back(FallbackReason::PeerNotCapable),
                    },
                    Some(_) if !seg.flags.contains(TcpFlags::RST) => {
                        // The echoed key is not ours: not our handshake.
                        self.protocol_error(i);
                        return false;
                    }
                    _ => self.fall_back(FallbackReason::PeerNotCapable),
                }
            }
            // The kernel client falls back when the first segment after the SYN/ACK has no
            // MPTCP option at all (shared notes §3.2); we do the same.
            (Role::Client, Mode::Mptcp)
                if !self.fully_established
                    && state.is_synchronized()
                    && !seg.flags.contains(TcpFlags::RST)
                    && seg.options.mptcp.is_empty()
                    && !seg.payload.is_empty() =>
            {
                self.fall_back(FallbackReason::OptionsStripped);
            }
            // §3.7: once established, every segment of an MPTCP peer carries a DSS (the kernel
            // puts a DATA_ACK on all of them). A segment with no MPTCP option at all means a
            // middlebox strips them, or the peer fell back: with one subflow, fall back too.
            (_, Mode::Mptcp)
                if self.fully_established
                    && self.paths.len() == 1
                    && state.is_synchronized()
                    && !seg.flags.contains(TcpFlags::RST)
                    && !seg.flags.contains(TcpFlags::SYN)
                    && seg.options.mptcp.is_empty() =>
            {
                self.fall_back(FallbackReason::OptionsStripped);
            }
            _ => {}
        }
        true
    }

    fn init_receive(&mut self, remote: Key) {
        // §3.1: the first data byte from the peer has DSN = IDSN + 1.
        let next = remote.idsn().wrapping_add(1);
        self.recv = RecvBuffer::new(next, self.recv.capacity());
        self.rcv_edge = next;
    }

    pub(super) fn fall_back(&mut self, reason: FallbackReason) {
        if matches!(self.mode, Mode::Fallback(_)) {
            return;
        }
        let was_mptcp = self.mode == Mode::Mptcp;
        self.mode = Mode::Fallback(reason);
        self.unpin_all();
        // §3.7: a connection that fell back has no other subflows; none is opened any more.
        self.drop_join_requests();
        // Our bytes were sent in DSN order on the one subflow: they map linearly (§3.7).
        self.tx_linear = Some((1, self.local_key.idsn().wrapping_add(1)));
        if let Some(p) = self.paths.first_mut() {
            let rcv = p.sf.rcv_nxt().max(1);
            p.rx_maps.fall_back_at(rcv, self.recv.next());
            p.sf.set_option_overhead(0);
        }
        if was_mptcp && self.fully_established_or_data() {
            self.events.push_back(ConnEvent::FellBack(reason));
        }
    }

    fn fully_established_or_data(&self) -> bool {
        self.paths.first().is_some_and(|p| p.sf.state().is_synchronized())
    }

    /// Registers the segment's mapping before its data is processed; false on a violation.
    fn register_mapping(&mut self, i: usize, seg: &SegmentRepr<'_>) -> bool {
        let opts = &seg.options.mptcp;
        // §3.1: MP_CAPABLE on the first data packet is a mapping at DSN = IDSN+1, SSN = 1.
        if let Some(CapablePhase::Data { data_len, checksum, .. }) = opts.capable.map(|c| c.phase)
            && let Some(dsn) = self.remote_key.map(|k| k.idsn().wrapping_add(1))
        {
            return self.add_mapping(i, 1, dsn, u64::from(data_len), checksum, false);
        }
        let Some(DssRepr { mapping: Some(map), data_fin, .. }) = opts.dss else {
            return true;
        };
        // §3.3.1: checksums are present exactly when negotiated; otherwise RST.
        if map.checksum.is_some() != self.checksum {
            self.protocol_error(i);
            return false;
        }
        let dsn = map.dsn.expand(self.recv.next());
        let ssn = SeqNum::Short(map.ssn).expand(self.paths[i].sf.rcv_nxt());
        if map.is_infinite() {
            // §3.7: an infinite mapping turns the connection into TCP from this point.
            self.fall_back(FallbackReason::ChecksumFailed);
            self.paths[i].rx_maps.set_linear(ssn, dsn);
            self.mp_fail_to_send = None;
            return true;
        }
        let mut len = u64::from(map.data_len);
        if data_fin {
            // §3.3.3: the DATA_FIN takes the last DSN of the mapping.
            self.note_remote_fin(dsn + len - 1);
            len -= 1;
            if map.ssn == 0 {
                return true; // A DATA_FIN alone (SSN 0, length 1) maps no subflow bytes.
            }
        }
        self.add_mapping(i, ssn, dsn, len, map.checksum, data_fin)
    }

    fn add_mapping(&mut self, i: usize, ssn: u64, dsn: u64, len: u64, checksum: Option<u16>, fin: bool) -> bool {
        match self.paths[i].rx_maps.add(ssn, dsn, len, checksum, fin) {
            Ok(()) => true,
            Err(MapError::Conflict | MapError::TooMany) => {
                // §3.3.1 (kernel `validate_mapping()`): a different mapping over mapped bytes.
                self.protocol_error(i);
                false
            }
        }
    }

    fn note_remote_fin(&mut self, fin: u64) {
        if self.remote_fin.is_none() {
            self.remote_fin = Some(fin);
        }
    }

    /// Resets subflow `i` with MP_TCPRST "MPTCP-specific error" (§3.6); with no subflow left
    /// the connection ends.
    pub(super) fn protocol_error(&mut self, i: usize) {
        let p = &mut self.paths[i];
        p.rst_reason = Some(ResetReason::MptcpError);
        p.sf.abort();
        if self.paths.iter().all(|p| p.sf.ended().is_some()) {
            self.close_with(CloseReason::ProtocolError);
        }
    }

    fn on_established(&mut self, i: usize) {
        let overhead = if self.mode == Mode::Mptcp { super::DSS_OVERHEAD } else { 0 };
        if self.paths[i].join.is_some() {
            // A join counts as established once its MPTCP handshake completes (join_progress).
            self.paths[i].sf.set_option_overhead(overhead);
            return;
        }
        let id = self.paths[i].sf.id();
        self.paths[i].established_reported = true;
        self.events.push_back(ConnEvent::SubflowEstablished(id));
        if i == 0 {
            // §3.3.8: MP_CAPABLE has no backup flag; a backup initial subflow says so with MP_PRIO.
            self.paths[i].prio_due = self.paths[i].backup_local && self.mode != Mode::Handshake;
            if self.mode == Mode::Handshake {
                // A plain-TCP peer completed the handshake without ever sending MP_CAPABLE.
                self.fall_back(FallbackReason::PeerNotCapable);
            }
            let overhead = if self.mode == Mode::Mptcp { overhead } else { 0 };
            self.paths[i].sf.set_option_overhead(overhead);
            // The window from the handshake opens the data-level window (§3.3.4; the kernel
            // sets `wnd_end` the same way).
            self.peer_edge = self.peer_edge.max(self.data_una + self.paths[i].sf.snd_wnd());
            self.events.push_back(ConnEvent::Established { mptcp: self.mode == Mode::Mptcp });
        }
    }

    /// DATA_ACK and the peer's window (§3.3.2, §3.3.4); in fallback, the TCP ACK.
    fn data_ack_of(&mut self, i: usize, seg: &SegmentRepr<'_>) {
        let window = self.paths[i].sf.peer_window_of(seg);
        let ack = match self.mode {
            Mode::Mptcp => match seg.options.mptcp.dss.and_then(|d| d.data_ack) {
                Some(a) => {
                    // The client is fully established once a DATA_ACK arrives (§3.1).
                    if !self.fully_established {
                        self.fully_established = true;
                        self.pm_due = true;
                    }
                    a.expand(self.data_una)
                }
                None => return,
            },
            Mode::Fallback(_) => {
                let (ssn, dsn) = self.tx_linear.unwrap_or((1, self.data_una));
                let acked = self.paths[i].sf.snd_una().saturating_sub(ssn);
                (dsn + acked).min(self.snd_nxt)
            }
            Mode::Handshake => return,
        };
        // §3.3.2: a DATA_ACK beyond what we sent is ignored (kernel `ack_update_msk()`).
        let highest = self.snd_nxt + u64::from(self.local_fin.is_some_and(|f| f == self.snd_nxt));
        if ack > highest {
            return;
        }
        if ack > self.data_una {
            self.data_una = ack;
            self.reinject.remove_below(ack);
            for p in &mut self.paths {
                p.pinned.remove_below(ack);
            }
            self.send.release_below(ack.min(self.send.end()));
            self.events.push_back(ConnEvent::Writable);
            if self.local_fin.is_some_and(|f| ack > f) {
                self.local_fin_acked = true;
                self.data_fin_deadline = None;
            }
        }
        self.peer_edge = self.peer_edge.max(ack + window);
    }

    fn receive_data(&mut self, i: usize, ssn: u64, data: bytes::Bytes) {
        let mut r = self.paths[i].rx_maps.resolve(ssn, data);
        if let Some((at, rest)) = r.unmapped.take() {
            // §3.7: data without a mapping. While one subflow carries everything and nothing
            // was reinjected, fall back with the data intact; otherwise reset.
            if self.mode == Mode::Mptcp && self.paths.len() == 1 {
                let base = self.recv.next();
                self.fall_back(FallbackReason::OptionsStripped);
                self.paths[i].rx_maps.fall_back_at(at, base);
                r.deliver.extend(self.paths[i].rx_maps.resolve(at, rest).deliver);
            } else if self.mode == Mode::Mptcp {
                self.protocol_error(i);
                return;
            }
        }
        if let Some(dsn) = r.checksum_failed {
            if self.mode == Mode::Mptcp && self.paths.len() == 1 {
                // §3.7: with one subflow, MP_FAIL names the failed mapping; the peer answers
                // with an infinite mapping from there and both continue as TCP. The failed
                // bytes are not DATA_ACKed, so they come again.
                self.mp_fail_to_send.get_or_insert(dsn);
                self.paths[i].sf.request_ack();
            } else {
                // With other subflows the failing one is reset (§3.7, "middlebox interference").
                self.paths[i].rst_reason = Some(ResetReason::Middlebox);
                self.paths[i].sf.abort();
                if self.paths.iter().all(|p| p.sf.ended().is_some()) {
                    self.close_with(CloseReason::ProtocolError);
                }
                return;
            }
        }
        let mut any = false;
        for (dsn, bytes) in r.deliver {
            any |= self.recv.insert(dsn, bytes) > 0;
        }
        self.note_reorder_peak();
        if any && self.recv.readable() > 0 {
            self.events.push_back(ConnEvent::Readable);
        }
    }

    /// §3.7: the peer's checksum failed for the mapping at `dsn`: send again from there under
    /// an infinite mapping.
    fn on_mp_fail(&mut self, dsn: u64) {
        if self.paths.len() == 1 && dsn >= self.data_una && dsn <= self.snd_nxt && !self.send_infinite {
            self.unpin_all();
            self.snd_nxt = dsn;
            self.send_infinite = true;
        }
    }

    /// §3.3.3: the peer's DATA_FIN counts once every byte before it has arrived.
    fn consume_data_fin(&mut self) {
        if let Some(f) = self.remote_fin
            && !self.remote_fin_done
            && self.recv.next() == f
        {
            self.recv.consume_fin();
            self.remote_fin_done = true;
            self.events.push_back(ConnEvent::Readable);
            for p in &mut self.paths {
                p.sf.request_ack();
            }
        }
    }
}
