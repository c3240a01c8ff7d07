//! The path manager: which subflows a connection opens and which addresses it announces
//! (RFC 8684 §3.2, §3.4). Addresses carry ids; id 0 is the initial subflow's address on each
//! side (§3.2). Three policies, chosen per connection:
//!
//! - `fullmesh` (default): the client opens a subflow from every local address to every remote
//!   address (the peer's initial one and those it announced), pairs on the same index first;
//!   the server announces its other addresses with ADD_ADDR (§3.4.1). A pair whose subflow
//!   failed is tried again with backoff, so a path that comes back is used again.
//! - `ndiffports`: the client opens N subflows over the initial address pair, each from its own
//!   port.
//! - `manual`: nothing automatic; the application opens, closes and announces.

use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::str::FromStr;
use core::time::Duration;

use crate::time::Instant;

/// First wait before a failed subflow's pair is tried again; it doubles per failure.
const RETRY_BASE: Duration = Duration::from_secs(1);
/// Longest wait between attempts on one pair.
const RETRY_MAX: Duration = Duration::from_secs(30);
/// ADD_ADDR is sent again until echoed (§3.4.1), at this interval (the kernel waits
/// `add_addr_timeout`, 120 s, for lossy signalling; we are quicker and keep going longer).
pub(super) const ADD_ADDR_RTO: Duration = Duration::from_secs(1);
/// Give up re-announcing after this many tries (the kernel's `ADD_ADDR_RETRANS_MAX` is 3).
const ADD_ADDR_TRIES: u32 = 5;

/// Which path manager a connection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PathManagerKind {
    /// A subflow per local × remote address pair; the server announces its addresses.
    #[default]
    FullMesh,
    /// This many subflows in all over the initial address pair, from different ports.
    NDiffPorts(u8),
    /// Only what the application asks for.
    Manual,
}

impl fmt::Display for PathManagerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathManagerKind::FullMesh => f.write_str("fullmesh"),
            PathManagerKind::NDiffPorts(n) => write!(f, "ndiffports:{n}"),
            PathManagerKind::Manual => f.write_str("manual"),
        }
    }
}

impl FromStr for PathManagerKind {
    type Err = String;

    /// `fullmesh`, `manual`, `ndiffports` (2 subflows) or `ndiffports:N` (1 ≤ N ≤ 8).
    fn from_str(s: &str) -> Result<PathManagerKind, String> {
        let lower = s.to_ascii_lowercase();
        match lower.split_once(':') {
            None if lower == "fullmesh" => Ok(PathManagerKind::FullMesh),
            None if lower == "manual" => Ok(PathManagerKind::Manual),
            None if lower == "ndiffports" => Ok(PathManagerKind::NDiffPorts(2)),
            Some(("ndiffports", n)) => match n.parse::<u8>() {
                Ok(n @ 1..=8) => Ok(PathManagerKind::NDiffPorts(n)),
                _ => Err(format!("ndiffports takes 1 to 8 subflows, not {n:?}")),
            },
            _ => Err(format!("unknown path manager {s:?} (expected fullmesh, ndiffports[:N] or manual)")),
        }
    }
}

/// One of this endpoint's addresses, as configured: subflows may start from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAddress {
    /// The address.
    pub ip: IpAddr,
    /// Subflows from it are backups (RFC 8684 §3.2 flag B, §3.3.8): they carry data only when
    /// no regular subflow can.
    pub backup: bool,
}

impl LocalAddress {
    /// A regular (non-backup) address.
    pub fn new(ip: IpAddr) -> LocalAddress {
        LocalAddress { ip, backup: false }
    }
}

/// One of our addresses as this connection knows it.
#[derive(Debug, Clone)]
pub(super) struct LocalAddr {
    pub(super) id: u8,
    pub(super) ip: IpAddr,
    pub(super) backup: bool,
    /// Announcement state: `None` not announced (or not to be), else tries so far and when to
    /// send it again; `echoed` once the peer echoed it.
    pub(super) announce: Option<Announce>,
}

/// An ADD_ADDR we owe the peer until it is echoed (RFC 8684 §3.4.1).
#[derive(Debug, Clone, Copy)]
pub(super) struct Announce {
    pub(super) port: Option<u16>,
    pub(super) tries: u32,
    pub(super) due: Option<Instant>,
    pub(super) echoed: bool,
}

/// A peer address: its initial one (id 0) or one it announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RemoteAddr {
    pub(super) id: u8,
    pub(super) addr: SocketAddr,
}

/// A subflow the endpoint should open for the connection (it owns ports and randomness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinRequest {
    /// The id the subflow will have.
    pub id: crate::subflow::SubflowId,
    /// Our address, and a port (`None`: an ephemeral one).
    pub local: IpAddr,
    /// The port, when the application chose one.
    pub local_port: Option<u16>,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// Ask for a backup subflow (MP_JOIN flag B, RFC 8684 §3.2).
    pub backup: bool,
}

/// A pair the path manager tried, and when it may try again.
#[derive(Debug, Clone, Copy)]
pub(super) struct PairRetry {
    pub(super) local: IpAddr,
    pub(super) remote: SocketAddr,
    pub(super) failures: u32,
    pub(super) not_before: Instant,
}

/// Addresses and retry state of one connection's path manager.
#[derive(Debug, Default)]
pub(super) struct AddressBook {
    pub(super) locals: Vec<LocalAddr>,
    pub(super) remotes: Vec<RemoteAddr>,
    pub(super) retries: Vec<PairRetry>,
    /// Local ids whose REMOVE_ADDR is owed to the peer (§3.4.2).
    pub(super) removals: Vec<u8>,
    /// The peer set flag C in its MP_CAPABLE (§3.1): its initial address (id 0) takes no joins.
    pub(super) deny_join_id0: bool,
    /// Pairs whose subflow was closed on purpose: the path manager does not open them again.
    pub(super) closed_on_purpose: Vec<(IpAddr, SocketAddr)>,
}

impl AddressBook {
    /// Our addresses for a connection whose initial subflow uses `initial` (id 0); the others
    /// get ids by their position in `all`, so they are the same on every connection.
    pub(super) fn new(initial: SocketAddr, remote: SocketAddr, all: &[LocalAddress]) -> AddressBook {
        let initial_backup = all.iter().any(|a| a.ip == initial.ip() && a.backup);
        let mut locals = vec![LocalAddr { id: 0, ip: initial.ip(), backup: initial_backup, announce: None }];
        for (i, a) in all.iter().enumerate() {
            if a.ip != initial.ip() && !locals.iter().any(|l| l.ip == a.ip) {
                locals.push(LocalAddr { id: (i + 1).min(255) as u8, ip: a.ip, backup: a.backup, announce: None });
            }
        }
        AddressBook { locals, remotes: vec![RemoteAddr { id: 0, addr: remote }], ..AddressBook::default() }
    }

    /// The id of local address `ip`, adding it if new (§3.2: ids are unique per connection).
    pub(super) fn local_id(&mut self, ip: IpAddr) -> u8 {
        if let Some(l) = self.locals.iter().find(|l| l.ip == ip) {
            return l.id;
        }
        let id = (1..=255u8).find(|id| !self.locals.iter().any(|l| l.id == *id)).unwrap_or(255);
        self.locals.push(LocalAddr { id, ip, backup: false, announce: None });
        id
    }

    /// Records an address the peer announced; false when nothing changed.
    pub(super) fn add_remote(&mut self, id: u8, addr: SocketAddr) -> bool {
        if let Some(r) = self.remotes.iter_mut().find(|r| r.id == id) {
            let changed = r.addr != addr;
            r.addr = addr;
            return changed;
        }
        self.remotes.push(RemoteAddr { id, addr });
        true
    }

    /// Is peer address `id` known (its initial one, or one it announced)?
    pub(super) fn knows_remote(&self, id: u8) -> bool {
        self.remotes.iter().any(|r| r.id == id)
    }

    /// How many addresses the peer announced are kept (its initial one, id 0, not counted).
    pub(super) fn announced(&self) -> usize {
        self.remotes.iter().filter(|r| r.id != 0).count()
    }

    /// The remote id of `addr`: exact match first, then by IP (an announcement without a port
    /// means the initial subflow's port).
    pub(super) fn remote_id(&self, addr: SocketAddr) -> Option<u8> {
        self.remotes
            .iter()
            .find(|r| r.addr == addr)
            .or_else(|| self.remotes.iter().find(|r| r.addr.ip() == addr.ip()))
            .map(|r| r.id)
    }

    /// Starts announcing every local address but the initial one.
    pub(super) fn announce_all(&mut self, now: Instant) {
        for l in self.locals.iter_mut().filter(|l| l.id != 0 && l.announce.is_none()) {
            l.announce = Some(Announce { port: None, tries: 0, due: Some(now), echoed: false });
        }
    }

    /// The next ADD_ADDR due at `now`, if any; counts the try and schedules the next.
    pub(super) fn take_due_announcement(&mut self, now: Instant) -> Option<(u8, IpAddr, Option<u16>)> {
        let l = self
            .locals
            .iter_mut()
            .find(|l| l.announce.is_some_and(|a| !a.echoed && a.due.is_some_and(|d| d <= now)))?;
        let a = l.announce.as_mut()?;
        a.tries += 1;
        a.due = (a.tries < ADD_ADDR_TRIES).then(|| now + ADD_ADDR_RTO * a.tries);
        Some((l.id, l.ip, a.port))
    }

    /// The peer echoed our ADD_ADDR for `id` (§3.4.1): stop sending it.
    pub(super) fn echoed(&mut self, id: u8, ip: IpAddr) {
        if let Some(a) = self.locals.iter_mut().filter(|l| l.id == id && l.ip == ip).find_map(|l| l.announce.as_mut()) {
            a.echoed = true;
            a.due = None;
        }
    }

    /// The earliest ADD_ADDR retransmission or pair retry.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let announce = self.locals.iter().filter_map(|l| l.announce.filter(|a| !a.echoed).and_then(|a| a.due));
        announce.min()
    }

    /// May a subflow over `(local, remote)` be attempted at `now`?
    pub(super) fn may_try(&self, local: IpAddr, remote: SocketAddr, now: Instant) -> bool {
        !self.closed_on_purpose.contains(&(local, remote))
            && self.retries.iter().find(|r| r.local == local && r.remote == remote).is_none_or(|r| r.not_before <= now)
    }

    /// A subflow over `(local, remote)` failed; `had_worked` resets the backoff (the path
    /// worked, so it is likely to come back soon).
    pub(super) fn note_failure(&mut self, local: IpAddr, remote: SocketAddr, had_worked: bool, now: Instant) {
        let idx = match self.retries.iter().position(|r| r.local == local && r.remote == remote) {
            Some(i) => i,
            None => {
                self.retries.push(PairRetry { local, remote, failures: 0, not_before: now });
                self.retries.len() - 1
            }
        };
        let r = &mut self.retries[idx];
        if had_worked {
            r.failures = 0;
        }
        let wait = (RETRY_BASE * (1u32 << r.failures.min(5))).min(RETRY_MAX);
        r.failures += 1;
        r.not_before = now + wait;
    }

    /// The peer addresses subflows may join: all, or all but its initial one (§3.1 flag C).
    pub(super) fn joinable(&self) -> impl Iterator<Item = &RemoteAddr> + '_ {
        self.remotes.iter().filter(|r| !(self.deny_join_id0 && r.id == 0))
    }

    /// Fullmesh's pairs in the order they are opened: same index first, then the rest.
    pub(super) fn mesh_pairs(&self) -> Vec<(IpAddr, SocketAddr)> {
        let mut pairs = Vec::new();
        for (i, r) in self.remotes.iter().enumerate().filter(|(_, r)| !(self.deny_join_id0 && r.id == 0)) {
            if let Some(l) = self.locals.get(i).filter(|l| l.ip.is_ipv4() == r.addr.is_ipv4()) {
                pairs.push((l.ip, r.addr));
            }
        }
        for r in self.joinable() {
            for l in self.locals.iter().filter(|l| l.ip.is_ipv4() == r.addr.is_ipv4()) {
                if !pairs.contains(&(l.ip, r.addr)) {
                    pairs.push((l.ip, r.addr));
                }
            }
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_parse() {
        assert_eq!("fullmesh".parse(), Ok(PathManagerKind::FullMesh));
        assert_eq!("Manual".parse(), Ok(PathManagerKind::Manual));
        assert_eq!("ndiffports".parse(), Ok(PathManagerKind::NDiffPorts(2)));
        assert_eq!("ndiffports:4".parse(), Ok(PathManagerKind::NDiffPorts(4)));
        assert!("ndiffports:0".parse::<PathManagerKind>().is_err());
        assert!("mesh".parse::<PathManagerKind>().unwrap_err().contains("fullmesh"));
        for k in [PathManagerKind::FullMesh, PathManagerKind::Manual, PathManagerKind::NDiffPorts(3)] {
            assert_eq!(k.to_string().parse(), Ok(k));
        }
    }

    #[test]
    fn ids_and_mesh_order() {
        let all: Vec<IpAddr> = ["10.0.1.1", "10.0.2.1", "10.0.3.1"].iter().map(|s| s.parse().unwrap()).collect();
        let locals: Vec<LocalAddress> = all.iter().map(|ip| LocalAddress::new(*ip)).collect();
        let mut book = AddressBook::new(sa("10.0.2.1:40000"), sa("10.0.2.2:80"), &locals);
        let ids: Vec<(u8, IpAddr)> = book.locals.iter().map(|l| (l.id, l.ip)).collect();
        assert_eq!(ids, vec![(0, all[1]), (1, all[0]), (3, all[2])]);
        assert!(book.add_remote(5, sa("10.0.1.2:80")));
        assert!(!book.add_remote(5, sa("10.0.1.2:80")), "a repeated announcement changes nothing");
        assert_eq!((book.announced(), book.knows_remote(5), book.knows_remote(6)), (1, true, false));
        let pairs = book.mesh_pairs();
        assert_eq!(pairs.len(), 6);
        assert_eq!(pairs[0], (all[1], sa("10.0.2.2:80")));
        assert_eq!(pairs[1], (all[0], sa("10.0.1.2:80")), "same-index pairs come first");
        assert_eq!(book.local_id("10.0.9.1".parse().unwrap()), 2, "the first free id");
        book.deny_join_id0 = true;
        assert!(book.mesh_pairs().iter().all(|(_, r)| *r != sa("10.0.2.2:80")), "flag C: no joins to id 0");
        assert_eq!(book.mesh_pairs().len(), 4);
    }

    #[test]
    fn retry_backoff_and_reset() {
        let mut book = AddressBook::default();
        let (l, r) = ("10.0.1.1".parse().unwrap(), sa("10.0.1.2:80"));
        let t0 = Instant::ZERO;
        assert!(book.may_try(l, r, t0));
        book.note_failure(l, r, false, t0);
        assert!(!book.may_try(l, r, t0));
        assert!(book.may_try(l, r, t0 + Duration::from_secs(1)));
        book.note_failure(l, r, false, t0);
        assert!(!book.may_try(l, r, t0 + Duration::from_secs(1)), "backoff doubles");
        book.note_failure(l, r, true, t0);
        assert!(book.may_try(l, r, t0 + Duration::from_secs(1)), "a path that worked is retried soon");
    }

    #[test]
    fn announcements_repeat_until_echoed() {
        let all: Vec<IpAddr> = ["10.0.1.2", "10.0.2.2"].iter().map(|s| s.parse().unwrap()).collect();
        let locals: Vec<LocalAddress> = all.iter().map(|ip| LocalAddress::new(*ip)).collect();
        let mut book = AddressBook::new(sa("10.0.1.2:80"), sa("10.0.1.1:4000"), &locals);
        let t0 = Instant::ZERO;
        book.announce_all(t0);
        assert_eq!(book.take_due_announcement(t0), Some((2, all[1], None)));
        assert_eq!(book.take_due_announcement(t0), None);
        assert_eq!(book.next_deadline(), Some(t0 + ADD_ADDR_RTO));
        assert!(book.take_due_announcement(t0 + ADD_ADDR_RTO).is_some());
        book.echoed(2, all[1]);
        assert_eq!(book.next_deadline(), None);
    }
}
