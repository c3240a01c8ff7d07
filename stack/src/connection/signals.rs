//! Address signalling and subflow priorities (RFC 8684 §3.4 ADD_ADDR / REMOVE_ADDR, §3.3.8
//! MP_PRIO), the path manager's decisions, and the application's subflow operations.

use core::net::{IpAddr, SocketAddr};

use super::path_manager::{Announce, PathManagerKind};
use super::{ConnEvent, Connection, Mode, Role, SubflowError};
use crate::crypto::{add_addr_hmac, verify_add_addr_hmac};
use crate::subflow::{SubflowEnd, SubflowId};
use crate::time::Instant;
use crate::wire::MptcpOptions;
use crate::wire::mptcp::{AddAddrRepr, PrioRepr, RemoveAddrRepr};

impl Connection {
    /// ADD_ADDR, REMOVE_ADDR and MP_PRIO on a received segment of subflow `i`.
    pub(super) fn signals_input(&mut self, i: usize, opts: &MptcpOptions) {
        if self.mode != Mode::Mptcp {
            return;
        }
        if let Some(a) = opts.add_addr {
            self.on_add_addr(&a);
        }
        if let Some(r) = opts.remove_addr {
            self.on_remove_addr(r.ids());
        }
        if let Some(prio) = opts.prio {
            // §3.3.8: MP_PRIO (v1, no address id) applies to the subflow it arrives on.
            let p = &mut self.paths[i];
            if p.backup_remote != prio.backup {
                p.backup_remote = prio.backup;
                self.events.push_back(ConnEvent::PriorityChanged(p.sf.id(), p.is_backup()));
            }
        }
    }

    fn on_add_addr(&mut self, a: &AddAddrRepr) {
        let (Some(remote_key), Some(hmac)) = (self.remote_key, a.hmac) else {
            if a.is_echo() {
                self.addrs.echoed(a.addr_id, a.addr);
            }
            return;
        };
        // §3.4.1: an announcement whose HMAC does not check out is ignored.
        if !verify_add_addr_hmac(remote_key, self.local_key, a.addr_id, a.addr, a.port, hmac) {
            self.counters.bad_add_addr += 1;
            return;
        }
        // §3.4.1: echo it, so that the peer stops sending it.
        self.echoes.push_back(AddAddrRepr { hmac: None, ..*a });
        self.request_signal_ack();
        let port = a.port.unwrap_or_else(|| self.paths[0].sf.remote().port());
        let addr = SocketAddr::new(a.addr, port);
        // §3.4.1: a host may ignore an announcement (here: beyond `max_announced_addrs` kept); it
        // is echoed all the same, as the kernel does, so that the peer stops repeating it.
        if !self.addrs.knows_remote(a.addr_id) && self.addrs.announced() >= self.config.max_announced_addrs {
            self.counters.add_addr_ignored += 1;
            return;
        }
        // An address announced (again) may be joined again.
        self.addrs.closed_on_purpose.retain(|(_, r)| *r != addr);
        if self.addrs.add_remote(a.addr_id, addr) {
            self.pm_due = true;
            self.events.push_back(ConnEvent::AddressAnnounced { id: a.addr_id, addr });
        }
    }

    fn on_remove_addr(&mut self, ids: &[u8]) {
        self.pm_due = true;
        for &id in ids {
            let before = self.addrs.remotes.len();
            self.addrs.remotes.retain(|r| r.id != id);
            if self.addrs.remotes.len() != before || self.paths.iter().any(|p| p.remote_id == Some(id)) {
                self.events.push_back(ConnEvent::AddressRemoved { id });
            }
            // §3.4.2: the subflows using that address are closed; their data moves elsewhere.
            for i in 0..self.paths.len() {
                if self.paths[i].remote_id == Some(id) && self.paths[i].sf.ended().is_none() {
                    self.retire_path(i, false);
                }
            }
        }
    }

    /// Stops using subflow `i`: its unacknowledged data goes to the other subflows (§3.3.6),
    /// and it closes with a FIN (or a RST with `abort`).
    pub(super) fn retire_path(&mut self, i: usize, abort: bool) {
        self.unpin(i);
        self.reinject_from(i);
        let p = &mut self.paths[i];
        p.retired = true;
        let pair = (p.sf.local().ip(), p.sf.remote());
        if !self.addrs.closed_on_purpose.contains(&pair) {
            self.addrs.closed_on_purpose.push(pair);
        }
        if abort {
            p.rst_reason = Some(crate::wire::mptcp::ResetReason::Unspecified);
            p.sf.abort();
        } else {
            p.sf.shutdown();
        }
    }

    /// Asks for a pure ACK on the subflow that carries connection-level signals.
    fn request_signal_ack(&mut self) {
        if let Some(i) = self.signal_carrier() {
            self.paths[i].sf.request_ack();
        }
    }

    /// The subflow that carries ADD_ADDR, their echoes and REMOVE_ADDR: established at both
    /// levels and not being closed, preferably not stalled (the kernel's
    /// `mptcp_pm_addr_send_ack()` picks the same way). Never the subflow of an address being
    /// withdrawn: §3.4.2 announces addresses that became unusable, and its path may be gone.
    fn signal_carrier(&self) -> Option<usize> {
        let ok = |p: &super::Path| p.sf.state().can_send() && p.joined_ok() && !p.retired && p.sf.ended().is_none();
        self.paths.iter().position(|p| ok(p) && !p.stale).or_else(|| self.paths.iter().position(ok))
    }

    /// A subflow that owes the peer a signal now, on a pure ACK: MP_PRIO on itself (§3.3.8), or
    /// the connection's ADD_ADDR, echo or REMOVE_ADDR (§3.4) on the carrier.
    pub(super) fn signal_due(&self) -> Option<usize> {
        if self.mode != Mode::Mptcp {
            return None;
        }
        let prio = self.paths.iter().position(|p| p.prio_due && p.sf.state().can_send() && p.joined_ok());
        prio.or_else(|| if self.signals_pending() { self.signal_carrier() } else { None })
    }

    /// Signalling for a pure ACK on subflow `i`; true when it must go alone (ADD_ADDR goes on a
    /// dedicated ACK without DSS, as the kernel sends it, §3.4.1).
    pub(super) fn signals_output(&mut self, i: usize, o: &mut MptcpOptions) -> bool {
        let carrier = self.signal_carrier() == Some(i);
        if carrier && let Some(echo) = self.echoes.pop_front() {
            o.add_addr = Some(echo);
            return true;
        }
        if carrier && let Some((id, ip, port)) = self.announce_now.pop() {
            let hmac = self.remote_key.map(|k| add_addr_hmac(self.local_key, k, id, ip, port));
            o.add_addr = Some(AddAddrRepr { addr_id: id, addr: ip, port, hmac });
            return true;
        }
        if carrier && !self.addrs.removals.is_empty() {
            let n = self.addrs.removals.len().min(8);
            o.remove_addr = RemoveAddrRepr::new(&self.addrs.removals[..n]);
            self.addrs.removals.drain(..n);
        }
        let p = &mut self.paths[i];
        if p.prio_due {
            p.prio_due = false;
            o.prio = Some(PrioRepr { backup: p.backup_local });
        }
        false
    }

    /// Are signals waiting for a pure ACK?
    fn signals_pending(&self) -> bool {
        !self.echoes.is_empty() || !self.announce_now.is_empty() || !self.addrs.removals.is_empty()
    }

    /// The path manager's turn (see [`path_manager`](super::path_manager)): announcements due,
    /// failed pairs noted, subflows to open.
    pub(super) fn run_path_manager(&mut self, now: Instant) {
        if self.mode != Mode::Mptcp || !self.fully_established || self.remote_key.is_none() {
            return;
        }
        self.pm_ran_at = now;
        self.pm_due = false;
        while let Some(a) = self.addrs.take_due_announcement(now) {
            self.announce_now.push(a);
        }
        if self.signals_pending() {
            self.request_signal_ack();
        }
        for i in 0..self.paths.len() {
            let p = &mut self.paths[i];
            if let Some(end) = p.sf.ended()
                && !p.failure_noted
            {
                p.failure_noted = true;
                if !p.retired && end != SubflowEnd::Closed {
                    let (local, remote, worked) = (p.sf.local().ip(), p.sf.remote(), p.established_reported);
                    self.addrs.note_failure(local, remote, worked, now);
                }
            }
        }
        if self.closed.is_some() || self.local_fin.is_some() || self.remote_fin.is_some() {
            return;
        }
        match (self.config.path_manager, self.role) {
            (PathManagerKind::FullMesh, Role::Server) => self.addrs.announce_all(now),
            (PathManagerKind::FullMesh, Role::Client) => {
                for (local, remote) in self.addrs.mesh_pairs() {
                    if self.subflow_count() >= self.config.max_subflows {
                        break;
                    }
                    if !self.pair_in_use(local, remote) && self.addrs.may_try(local, remote, now) {
                        self.queue_join(local, None, remote, false);
                    }
                }
            }
            (PathManagerKind::NDiffPorts(n), Role::Client) if !self.addrs.deny_join_id0 => {
                let (local, remote) = (self.paths[0].sf.local().ip(), self.paths[0].sf.remote());
                let live = self.paths.iter().filter(|p| p.in_use()).count() + self.join_requests.len();
                let mut missing = usize::from(n).saturating_sub(live);
                while missing > 0
                    && self.subflow_count() < self.config.max_subflows
                    && self.addrs.may_try(local, remote, now)
                {
                    self.queue_join(local, None, remote, false);
                    missing -= 1;
                }
            }
            _ => {}
        }
    }

    /// Is a subflow over `(local, remote)` alive, or about to be opened?
    fn pair_in_use(&self, local: IpAddr, remote: SocketAddr) -> bool {
        self.paths.iter().any(|p| p.in_use() && p.sf.local().ip() == local && p.sf.remote() == remote)
            || self.join_requests.iter().any(|r| r.local == local && r.remote == remote)
    }

    // ----- the application's operations -----

    /// Closes subflow `id`: gracefully (FIN) or with a RST; its unacknowledged data moves to
    /// the other subflows. A subflow that leaves the connection at once (a RST, or a SYN not
    /// answered yet) reports [`ConnEvent::SubflowClosed`] before this returns; so does one still
    /// waiting to be opened, which is withdrawn ([`SubflowEnd::Aborted`] with `abort`, else
    /// [`SubflowEnd::Closed`]).
    pub fn close_subflow(&mut self, id: SubflowId, abort: bool, now: Instant) -> Result<(), SubflowError> {
        let end = if abort { SubflowEnd::Aborted } else { SubflowEnd::Closed };
        if self.cancel_join_request(id, end) {
            return Ok(());
        }
        let i = self.path_index(id)?;
        self.retire_path(i, abort);
        self.after_subflow_changes();
        // The path manager notes the pair as closed on purpose and does not reopen it.
        self.run_path_manager(now);
        Ok(())
    }

    /// Marks subflow `id` as backup or regular and tells the peer with MP_PRIO (§3.3.8).
    pub fn set_backup(&mut self, id: SubflowId, backup: bool) -> Result<(), SubflowError> {
        let i = self.path_index(id)?;
        let p = &mut self.paths[i];
        if p.backup_local != backup {
            p.backup_local = backup;
            p.prio_due = true;
            p.sf.request_ack();
            self.events.push_back(ConnEvent::PriorityChanged(id, self.paths[i].is_backup()));
        }
        Ok(())
    }

    /// Announces one of our addresses to the peer (ADD_ADDR, §3.4.1), repeated until echoed;
    /// returns its address id.
    pub fn announce_address(&mut self, ip: IpAddr, port: Option<u16>, now: Instant) -> Result<u8, SubflowError> {
        if self.mode != Mode::Mptcp {
            return Err(SubflowError::NotMptcp);
        }
        let id = self.addrs.local_id(ip);
        self.addrs.closed_on_purpose.retain(|(l, _)| *l != ip);
        if let Some(l) = self.addrs.locals.iter_mut().find(|l| l.id == id) {
            l.announce = Some(Announce { port, tries: 0, due: Some(now), echoed: false });
        }
        self.run_path_manager(now);
        Ok(id)
    }

    /// Withdraws one of our addresses (REMOVE_ADDR, §3.4.2) and closes the subflows using it.
    pub fn withdraw_address(&mut self, ip: IpAddr, now: Instant) -> Result<(), SubflowError> {
        let Some(id) = self.addrs.locals.iter().find(|l| l.ip == ip).map(|l| l.id) else {
            return Err(SubflowError::NoSuchSubflow);
        };
        self.addrs.locals.retain(|l| l.id != id);
        self.addrs.removals.push(id);
        for i in 0..self.paths.len() {
            if self.paths[i].local_id == id && self.paths[i].sf.ended().is_none() {
                self.retire_path(i, false);
            }
        }
        // A subflow whose SYN was not answered yet is gone at once: report it now.
        self.after_subflow_changes();
        // The REMOVE_ADDR goes out on a pure ACK of a subflow that stays.
        self.run_path_manager(now);
        Ok(())
    }

    pub(super) fn path_index(&self, id: SubflowId) -> Result<usize, SubflowError> {
        self.paths.iter().position(|p| p.sf.id() == id).ok_or(SubflowError::NoSuchSubflow)
    }
}
