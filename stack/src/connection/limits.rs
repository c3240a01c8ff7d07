//! Resource limits of one connection: the joins it takes (RFC 8684 §3.2) and the data it holds
//! out of order (§3.3.4). The caps are in [`ConnectionConfig`](super::ConnectionConfig); the
//! endpoint adds its own across connections (`EndpointConfig`).

use super::join::JoinRole;
use super::{Connection, Mode, Role};
use crate::subflow::TcpState;
use crate::wire::SegmentRepr;
use crate::wire::mptcp::ResetReason;

impl Connection {
    /// May a join SYN open a subflow now? RFC 8684 §3.2: only on an established MPTCP connection
    /// (else MP_TCPRST "MPTCP-specific error"). Should `max_pending_joins` joins wait for their
    /// third ACK already, or the subflows fill `max_subflows`, the oldest pending join is reset
    /// to make room (RFC 4987 §3.5, as the endpoint does with half-open connections: a flood of
    /// joins with our token cannot lock out the peer's own). With no pending join to recycle, at
    /// `max_subflows` the SYN is refused with "lack of resources" (§3.6).
    pub(crate) fn admit_join(&mut self) -> Result<(), ResetReason> {
        if !self.join_ready() {
            return Err(ResetReason::MptcpError);
        }
        let pending: Vec<usize> = (0..self.paths.len()).filter(|&i| self.is_pending_join(i)).collect();
        let full = pending.len() >= self.config.max_pending_joins || self.subflow_count() >= self.config.max_subflows;
        if full && let Some(&oldest) = pending.first() {
            self.counters.pending_joins_evicted += 1;
            self.paths[oldest].rst_reason = Some(ResetReason::Resource);
            self.paths[oldest].sf.abort();
            self.after_subflow_changes();
        }
        if self.can_join() {
            return Ok(());
        }
        self.counters.subflows_refused += 1;
        Err(ResetReason::Resource)
    }

    /// Is subflow `i` a join the peer opened whose handshake has not completed (§3.2)?
    fn is_pending_join(&self, i: usize) -> bool {
        let p = &self.paths[i];
        p.join.as_ref().is_some_and(|j| j.role == JoinRole::Responder && !j.confirmed)
            && p.sf.state() == TcpState::SynReceived
            && p.sf.ended().is_none()
    }

    /// A connection a listener created whose handshake has not completed (SYN received).
    pub fn is_half_open(&self) -> bool {
        self.role == Role::Server
            && self.closed.is_none()
            && self.paths.first().is_some_and(|p| p.sf.state() == TcpState::SynReceived)
    }

    /// Sets the out-of-order bytes the endpoint allows this connection (its share of the
    /// endpoint-wide cap) for the next segment.
    pub(crate) fn set_reorder_budget(&mut self, bytes: usize) {
        self.reorder_budget = bytes;
    }

    /// The out-of-order bytes the endpoint last accounted for (see [`Connection::reorder_report`]).
    pub(crate) fn reorder_accounted(&self) -> usize {
        self.reorder_reported
    }

    /// For the endpoint's accounting: the out-of-order bytes it last accounted for and those
    /// held now (which it now accounts for), and the segments dropped for its budget since.
    pub(crate) fn reorder_report(&mut self) -> (usize, usize, u64) {
        let now = self.recv.out_of_order();
        let before = core::mem::replace(&mut self.reorder_reported, now);
        (before, now, core::mem::take(&mut self.counters.budget_dropped))
    }

    /// Would segment `seg` of subflow `i` make the connection hold more out of order than it may
    /// (`max_reorder_bytes`, or the endpoint's budget)? Then it is dropped before its subflow
    /// takes it, as if the network had lost it: unacknowledged, it is sent again (RFC 9293
    /// §3.10.7.4 lets a receiver drop what it cannot buffer; RFC 8684 §3.3.4 has the sender
    /// retransmit what is not DATA_ACKed). Never the bytes that fill the hole (they start at
    /// the next expected DSN), so the connection always progresses; never a segment the subflow
    /// received already (it must be acknowledged again).
    pub(super) fn beyond_reorder_cap(&mut self, i: usize, seg: &SegmentRepr<'_>) -> bool {
        let cap = self.config.max_reorder_bytes.min(self.reorder_budget);
        // The receive window bounds what is held already (RFC 8684 §3.3.4): a cap at least as
        // large changes nothing.
        if seg.payload.is_empty() || self.mode == Mode::Handshake || cap >= self.recv.capacity() {
            return false;
        }
        let p = &self.paths[i];
        let (Some(ssn), rcv_nxt) = (p.sf.relative_seq(seg.seq), p.sf.rcv_nxt()) else { return false };
        let end = ssn + seg.payload.len() as u64;
        let first_new = ssn.max(rcv_nxt);
        if end <= first_new || !p.sf.state().is_synchronized() {
            return false;
        }
        let Some(dsn) = p.rx_maps.dsn_of(first_new) else { return false };
        if dsn <= self.recv.next() {
            return false;
        }
        let held = self.recv.out_of_order() + (end - first_new) as usize;
        if held <= cap {
            return false;
        }
        if held > self.config.max_reorder_bytes {
            self.counters.reorder_dropped += 1;
        } else {
            self.counters.budget_dropped += 1;
        }
        true
    }

    /// Notes the out-of-order high-water mark after data was stored.
    pub(super) fn note_reorder_peak(&mut self) {
        self.counters.reorder_peak = self.counters.reorder_peak.max(self.recv.out_of_order());
    }
}
