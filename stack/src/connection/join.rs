//! MP_JOIN in both roles (RFC 8684 §3.2): the handshake of every subflow after the first,
//! authenticated by HMACs over both keys and both nonces.
//!
//! Initiator: SYN with the peer's token and our nonce; the SYN/ACK's truncated HMAC must check
//! out; the third ACK carries our full HMAC and is sent again until the responder's first
//! DSS ACK arrives (the kernel waits for that "fourth ACK" and so do we: no data before it).
//! Responder: SYN/ACK with our truncated HMAC; the third ACK's HMAC must check out, then an ACK
//! with a DATA_ACK goes out at once. Anything wrong resets the subflow with MP_TCPRST
//! (§3.6); a join never falls back to TCP (§3.7).

use core::net::SocketAddr;
use core::time::Duration;

use super::path_manager::JoinRequest;
use super::{ConnEvent, Connection, Mode, Path};
use crate::crypto::{join_ack_hmac, join_synack_hmac, verify_join_ack_hmac, verify_join_synack_hmac};
use crate::subflow::{Subflow, SubflowEnd, SubflowId, SynInfo, TcpState};
use crate::time::Instant;
use crate::wire::mptcp::JoinRepr;
use crate::wire::{SegmentRepr, TcpFlags};

/// The third ACK is sent again after this long without the responder's DSS ACK (the kernel
/// uses twice the RTT, or its initial RTO before a sample).
const THIRD_ACK_RTO: Duration = Duration::from_millis(200);
/// Third-ACK retransmissions before the join is given up.
const THIRD_ACK_TRIES: u32 = 6;

/// Which side of the join we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JoinRole {
    Initiator,
    Responder,
}

/// The MP_JOIN state of a subflow (the initial, MP_CAPABLE subflow has none).
#[derive(Debug, Clone)]
pub(super) struct Join {
    pub(super) role: JoinRole,
    pub(super) local_nonce: u32,
    pub(super) remote_nonce: u32,
    /// §3.2: the handshake is complete at the MPTCP level (initiator: the responder's DSS ACK
    /// came; responder: the third ACK's HMAC checked out). Only then may data flow.
    pub(super) confirmed: bool,
    /// Initiator: when the third ACK goes out again.
    third_ack_due: Option<Instant>,
    third_ack_tries: u32,
}

/// Why a subflow could not be opened or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubflowError {
    /// The connection is not (or no longer) an established MPTCP connection.
    NotMptcp,
    /// The per-connection subflow limit is reached.
    TooManySubflows,
    /// Local and remote address families differ.
    AddressFamily,
    /// No subflow with that id.
    NoSuchSubflow,
    /// The connection is closing or closed.
    Closed,
    /// A subflow option's value is out of range.
    InvalidValue,
}

impl core::fmt::Display for SubflowError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SubflowError::NotMptcp => "the connection is not an established MPTCP connection",
            SubflowError::TooManySubflows => "subflow limit reached",
            SubflowError::AddressFamily => "local and remote address families differ",
            SubflowError::NoSuchSubflow => "no such subflow",
            SubflowError::Closed => "the connection is closed",
            SubflowError::InvalidValue => "invalid value for a subflow option",
        })
    }
}

impl core::error::Error for SubflowError {}

impl Connection {
    /// Subflows alive or about to be opened, for the limit.
    pub(super) fn subflow_count(&self) -> usize {
        self.paths.iter().filter(|p| p.in_use()).count() + self.join_requests.len()
    }

    /// Can a new subflow join now? MPTCP must be in use with both keys known, the connection
    /// open, and the subflow limit not reached (kernel `mptcp_can_accept_new_subflow()`).
    pub fn can_join(&self) -> bool {
        self.join_ready() && self.subflow_count() < self.config.max_subflows
    }

    /// MPTCP in use with both keys known and the connection open: joins are possible (§3.2).
    pub(super) fn join_ready(&self) -> bool {
        self.mode == Mode::Mptcp && self.remote_key.is_some() && self.fully_established && self.closed.is_none()
    }

    /// Asks for a subflow from `local` (port 0: any) to `remote`; returns its id at once. The
    /// endpoint opens it (see [`Connection::take_join_request`]); events tell how it went. A
    /// client whose handshake chose MPTCP but that is not fully established yet (no DATA_ACK
    /// came, §3.1) keeps the request until it is: MP_JOIN needs that (§3.2). Should the
    /// connection fall back or close first, the request ends with
    /// [`ConnEvent::SubflowClosed`] ([`SubflowEnd::Aborted`]).
    pub fn open_subflow(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        backup: bool,
    ) -> Result<SubflowId, super::SubflowError> {
        if self.closed.is_some() || self.local_fin.is_some() {
            return Err(SubflowError::Closed);
        }
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(SubflowError::AddressFamily);
        }
        // §3.1: MPTCP is chosen once the SYN/ACK (client) or the third ACK (server) carried the
        // peer's key.
        if self.mode != Mode::Mptcp || self.remote_key.is_none() {
            return Err(SubflowError::NotMptcp);
        }
        if self.subflow_count() >= self.config.max_subflows {
            return Err(SubflowError::TooManySubflows);
        }
        self.addrs.closed_on_purpose.retain(|pair| *pair != (local.ip(), remote));
        Ok(self.queue_join(local.ip(), (local.port() != 0).then_some(local.port()), remote, backup))
    }

    pub(super) fn queue_join(
        &mut self,
        local: core::net::IpAddr,
        local_port: Option<u16>,
        remote: SocketAddr,
        backup: bool,
    ) -> SubflowId {
        let id = self.next_subflow_id;
        self.next_subflow_id += 1;
        self.join_requests.push_back(JoinRequest { id, local, local_port, remote, backup });
        id
    }

    /// Are subflows waiting to be opened by the endpoint now? Not before the connection is
    /// fully established (§3.2: MP_JOIN needs both keys confirmed, §3.1).
    pub fn has_join_requests(&self) -> bool {
        self.fully_established && !self.join_requests.is_empty()
    }

    /// The next subflow the endpoint should open, with [`Connection::start_join`]; none while
    /// [`Connection::has_join_requests`] is false.
    pub fn take_join_request(&mut self) -> Option<JoinRequest> {
        if self.fully_established { self.join_requests.pop_front() } else { None }
    }

    /// The endpoint could not open requested subflow `id` (no free port).
    pub fn join_request_failed(&mut self, id: SubflowId) {
        self.stats_join_failures += 1;
        self.events.push_back(ConnEvent::SubflowClosed(id, SubflowEnd::Aborted));
    }

    /// Gives up every subflow not opened yet (the connection fell back or closed): each ends
    /// with [`SubflowEnd::Aborted`].
    pub(super) fn drop_join_requests(&mut self) {
        for req in self.join_requests.drain(..) {
            self.events.push_back(ConnEvent::SubflowClosed(req.id, SubflowEnd::Aborted));
        }
    }

    /// Withdraws the request for subflow `id` before the endpoint opened it: it ends with
    /// `end` at once. False when no such request waits.
    pub(super) fn cancel_join_request(&mut self, id: SubflowId, end: SubflowEnd) -> bool {
        let Some(at) = self.join_requests.iter().position(|r| r.id == id) else { return false };
        self.join_requests.remove(at);
        self.events.push_back(ConnEvent::SubflowClosed(id, end));
        true
    }

    /// Opens the requested subflow from `local` (with the port the endpoint chose): SYN with
    /// MP_JOIN (§3.2).
    pub fn start_join(&mut self, req: &JoinRequest, local: SocketAddr, iss: u32, ts_offset: u32, nonce: u32) {
        let sf = Subflow::connect(req.id, local, req.remote, self.config.tcp.clone(), iss, ts_offset);
        let local_id = self.addrs.local_id(local.ip());
        let remote_id = self.addrs.remote_id(req.remote);
        let backup = req.backup || self.addrs.locals.iter().any(|l| l.ip == local.ip() && l.backup);
        let join = Join {
            role: JoinRole::Initiator,
            local_nonce: nonce,
            remote_nonce: 0,
            confirmed: false,
            third_ack_due: None,
            third_ack_tries: 0,
        };
        self.add_path(sf, Some(join), local_id, remote_id);
        if let Some(p) = self.paths.last_mut() {
            p.backup_local = backup;
        }
    }

    /// A SYN with MP_JOIN for this connection arrived (the endpoint checked the token and
    /// admitted the join): a new subflow answers it with a SYN/ACK (§3.2). `None` (and
    /// nothing done) when `join` is not the SYN form.
    #[allow(clippy::too_many_arguments)]
    pub fn accept_join(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        iss: u32,
        ts_offset: u32,
        nonce: u32,
        syn: &SynInfo,
        join: &JoinRepr,
    ) -> Option<SubflowId> {
        let JoinRepr::Syn { backup, addr_id, nonce: remote_nonce, .. } = *join else {
            return None;
        };
        let id = self.next_subflow_id;
        let sf = Subflow::accept(id, local, remote, self.config.tcp.clone(), iss, ts_offset, syn);
        let local_id = self.addrs.local_id(local.ip());
        let state = Join {
            role: JoinRole::Responder,
            local_nonce: nonce,
            remote_nonce,
            confirmed: false,
            third_ack_due: None,
            third_ack_tries: 0,
        };
        self.add_path(sf, Some(state), local_id, Some(addr_id));
        if let Some(p) = self.paths.last_mut() {
            // §3.2: B in the SYN asks us to treat this subflow as a backup.
            p.backup_remote = backup;
            p.backup_local = self.addrs.locals.iter().any(|l| l.ip == local.ip() && l.backup);
        }
        Some(id)
    }

    /// MP_JOIN checks on a segment of a join subflow, before the subflow sees it; false when the
    /// segment is consumed (the subflow was reset).
    pub(super) fn join_input(&mut self, i: usize, now: Instant, seg: &SegmentRepr<'_>) -> bool {
        let (Some(local_key), Some(remote_key)) = (Some(self.local_key), self.remote_key) else {
            return true;
        };
        let state = self.paths[i].sf.state();
        let Some(join) = self.paths[i].join.as_mut() else { return true };
        if seg.flags.contains(TcpFlags::RST) {
            return true;
        }
        match (join.role, state) {
            (JoinRole::Initiator, TcpState::SynSent) if seg.flags.contains(TcpFlags::SYN | TcpFlags::ACK) => {
                // §3.2: the SYN/ACK carries the responder's truncated HMAC and nonce.
                let ok = match seg.options.mptcp.join {
                    Some(JoinRepr::SynAck { backup, addr_id, truncated_hmac, nonce }) => {
                        join.remote_nonce = nonce;
                        let valid =
                            verify_join_synack_hmac(remote_key, local_key, nonce, join.local_nonce, truncated_hmac);
                        if valid {
                            self.paths[i].remote_id = Some(addr_id);
                            self.paths[i].backup_remote = backup;
                        }
                        valid
                    }
                    _ => false,
                };
                if !ok {
                    // Let the subflow take the SYN/ACK, so that the RST it sends is in window.
                    self.paths[i].sf.on_segment(now, seg);
                    self.join_failed(i);
                    return false;
                }
                true
            }
            (JoinRole::Responder, TcpState::SynReceived) if !seg.flags.contains(TcpFlags::SYN) => {
                // §3.2: the third ACK carries the initiator's full HMAC.
                let ok = matches!(seg.options.mptcp.join, Some(JoinRepr::Ack { hmac })
                    if verify_join_ack_hmac(remote_key, local_key, join.remote_nonce, join.local_nonce, &hmac));
                if !ok {
                    self.join_failed(i);
                    return false;
                }
                join.confirmed = true;
                // The responder answers at once with a DSS ACK (the kernel's "fourth ACK").
                self.paths[i].sf.request_ack();
                true
            }
            _ => true,
        }
    }

    /// The initiator's join is complete once a DSS with a DATA_ACK arrives on it (§3.2).
    pub(super) fn join_confirmed_by(&mut self, i: usize, seg: &SegmentRepr<'_>) {
        let has_data_ack = seg.options.mptcp.dss.is_some_and(|d| d.data_ack.is_some());
        let p = &mut self.paths[i];
        if let Some(join) = p.join.as_mut()
            && join.role == JoinRole::Initiator
            && !join.confirmed
            && has_data_ack
            && p.sf.state().is_synchronized()
        {
            join.confirmed = true;
            join.third_ack_due = None;
        }
    }

    /// Resets a join subflow with MP_TCPRST "MPTCP-specific error" (§3.6): the connection
    /// continues on its other subflows.
    fn join_failed(&mut self, i: usize) {
        self.stats_join_failures += 1;
        self.protocol_error(i);
    }

    /// Reports subflows whose join just completed, and arms the initiator's third-ACK timer.
    pub(super) fn join_progress(&mut self, now: Instant) {
        for p in &mut self.paths {
            let Some(join) = p.join.as_mut() else { continue };
            if join.confirmed && !p.established_reported {
                p.established_reported = true;
                self.events.push_back(ConnEvent::SubflowEstablished(p.sf.id()));
            }
            if join.role == JoinRole::Initiator
                && !join.confirmed
                && p.sf.state().is_synchronized()
                && join.third_ack_due.is_none()
            {
                let rto = p.sf.srtt().map_or(THIRD_ACK_RTO, |s| (2 * s).max(THIRD_ACK_RTO));
                join.third_ack_due = Some(now + rto);
            }
        }
    }

    /// The initiator's third-ACK timer (§3.2: sent again until the responder's DSS ACK).
    pub(super) fn join_timers(&mut self, now: Instant) {
        let mut give_up = Vec::new();
        for (i, p) in self.paths.iter_mut().enumerate() {
            let Some(join) = p.join.as_mut() else { continue };
            if p.sf.ended().is_some() {
                join.third_ack_due = None;
                continue;
            }
            if join.third_ack_due.is_some_and(|t| t <= now) {
                join.third_ack_tries += 1;
                if join.third_ack_tries > THIRD_ACK_TRIES {
                    join.third_ack_due = None;
                    give_up.push(i);
                    continue;
                }
                join.third_ack_due = Some(now + THIRD_ACK_RTO * (1 << join.third_ack_tries.min(6)));
                p.sf.resend_handshake_ack();
            }
        }
        for i in give_up {
            self.join_failed(i);
        }
    }

    /// The earliest third-ACK retransmission.
    pub(super) fn join_deadline(&self) -> Option<Instant> {
        self.paths.iter().filter(|p| p.sf.ended().is_none()).filter_map(|p| p.join.as_ref()?.third_ack_due).min()
    }

    /// The MP_JOIN option for a handshake segment of join subflow `i`, by kind.
    pub(super) fn join_option(&self, p: &Path, kind: crate::subflow::OutKind) -> Option<JoinRepr> {
        use crate::subflow::OutKind;
        let join = p.join.as_ref()?;
        let remote_key = self.remote_key?;
        match kind {
            OutKind::Syn => Some(JoinRepr::Syn {
                backup: p.backup_local,
                addr_id: p.local_id,
                token: remote_key.token().0,
                nonce: join.local_nonce,
            }),
            OutKind::SynAck => Some(JoinRepr::SynAck {
                backup: p.backup_local,
                addr_id: p.local_id,
                truncated_hmac: join_synack_hmac(self.local_key, remote_key, join.local_nonce, join.remote_nonce),
                nonce: join.local_nonce,
            }),
            OutKind::HandshakeAck if join.role == JoinRole::Initiator && !join.confirmed => Some(JoinRepr::Ack {
                hmac: join_ack_hmac(self.local_key, remote_key, join.local_nonce, join.remote_nonce),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use core::net::{Ipv4Addr, SocketAddr};

    use super::*;
    use crate::connection::{CloseReason, ConnectionConfig, FallbackReason};
    use crate::crypto::Key;

    fn addr(net: u8, host: u8, port: u16) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::new(10, 0, net, host).into(), port)
    }

    /// A client whose SYN/ACK chose MPTCP (the server's key came, §3.1) and that no DATA_ACK
    /// reached yet: not fully established. Before that, no subflow may be asked for.
    fn client() -> Connection {
        let key = Key::from_wire(0x0123_4567_89ab_cdef).expect("non-zero");
        let mut c = Connection::connect(ConnectionConfig::default(), key, addr(0, 1, 40000), addr(0, 2, 80), 1, 0);
        let early = c.open_subflow(addr(1, 1, 0), addr(1, 2, 80), false);
        assert_eq!(early, Err(SubflowError::NotMptcp), "during the handshake");
        c.remote_key = Key::from_wire(0xfedc_ba98_7654_3210);
        c.mode = Mode::Mptcp;
        c
    }

    #[test]
    fn a_subflow_asked_for_before_full_establishment_waits_for_it() {
        let mut c = client();
        let id = c.open_subflow(addr(1, 1, 0), addr(1, 2, 80), true).expect("accepted at once");
        assert!(!c.has_join_requests() && c.take_join_request().is_none(), "MP_JOIN waits (§3.2)");
        assert_eq!(c.subflow_count(), 2, "it counts against the limit");
        c.config.max_subflows = 2;
        assert_eq!(c.open_subflow(addr(1, 1, 0), addr(0, 2, 80), false), Err(SubflowError::TooManySubflows));
        // The first DATA_ACK makes the connection fully established (§3.1).
        c.fully_established = true;
        assert!(c.has_join_requests());
        let req = c.take_join_request().expect("now");
        assert_eq!((req.id, req.local, req.remote, req.backup), (id, addr(1, 1, 0).ip(), addr(1, 2, 80), true));
        assert_eq!(c.poll_event(), None);
    }

    #[test]
    fn waiting_subflows_end_with_a_fallback_a_close_or_when_closed_themselves() {
        let mut c = client();
        let id = c.open_subflow(addr(1, 1, 0), addr(1, 2, 80), false).expect("accepted");
        c.fall_back(FallbackReason::OptionsStripped);
        assert_eq!(c.poll_event(), Some(ConnEvent::SubflowClosed(id, SubflowEnd::Aborted)));
        assert_eq!(c.open_subflow(addr(1, 1, 0), addr(1, 2, 80), false), Err(SubflowError::NotMptcp));
        assert_eq!(c.subflow_count(), 1);

        let mut c = client();
        let id = c.open_subflow(addr(1, 1, 0), addr(1, 2, 80), false).expect("accepted");
        c.abort();
        let events: Vec<_> = core::iter::from_fn(|| c.poll_event()).collect();
        assert_eq!(
            events,
            [ConnEvent::SubflowClosed(id, SubflowEnd::Aborted), ConnEvent::Closed(CloseReason::Aborted)]
        );

        let mut c = client();
        let graceful = c.open_subflow(addr(1, 1, 0), addr(1, 2, 80), false).expect("accepted");
        let abort = c.open_subflow(addr(1, 1, 0), addr(0, 2, 80), false).expect("accepted");
        assert_eq!(c.close_subflow(graceful, false, Instant::ZERO), Ok(()));
        assert_eq!(c.poll_event(), Some(ConnEvent::SubflowClosed(graceful, SubflowEnd::Closed)), "within the call");
        assert_eq!(c.close_subflow(abort, true, Instant::ZERO), Ok(()));
        assert_eq!(c.poll_event(), Some(ConnEvent::SubflowClosed(abort, SubflowEnd::Aborted)));
        assert_eq!(c.close_subflow(abort, true, Instant::ZERO), Err(SubflowError::NoSuchSubflow));
        c.fully_established = true;
        assert!(c.take_join_request().is_none(), "withdrawn");
        assert_eq!(c.poll_event(), None);
    }
}
