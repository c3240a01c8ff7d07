//! Packet scheduling: which subflow carries the next segment of new data.
//!
//! An MPTCP sender decides per segment which subflow to send new data on (RFC 8684 §3.3.5
//! leaves the policy to the implementation). This module holds the [`Scheduler`] trait and four
//! schedulers, chosen by [`SchedulerKind`] (and by name, `"minrtt"`, `"roundrobin"`,
//! `"redundant"`, `"blest"`, through `FromStr`).
//!
//! # Who calls it, and with what
//!
//! The *connection* calls [`Scheduler::pick`] each time it has new data to send, with one
//! [`Candidate`] per subflow that is established, fully established at the MPTCP level and not
//! known to be failing, plus a [`Context`] with the connection-level view (bytes waiting, room
//! in the peer's receive window). `pick` returns the [`Candidate::index`] of the subflow that
//! should carry the next segment (up to its MSS), or `None` to wait; the connection sends that
//! segment and calls again. The scheduler never sees segments or sequence numbers, only the
//! candidates' state, and it does not enforce the connection-level window itself (the connection
//! does, RFC 8684 §3.3.4); [`Context`] is there for schedulers that weigh it, such as BLEST.
//! Retransmissions (on the same or another subflow, RFC 8684 §3.3.6) are the connection's
//! business, not the scheduler's.
//!
//! # Rules every scheduler follows
//!
//! - **Backup subflows** (RFC 8684 §3.2 MP_JOIN B flag, §3.3.8 MP_PRIO, or our own choice)
//!   carry data only when no regular subflow is among the candidates at all. A regular subflow
//!   that is merely out of room (capacity 0, cwnd- or window-limited) still shuts the backups
//!   out: being full is not being unavailable (§3.3.8).
//! - Only a candidate with `capacity > 0` is ever returned.
//! - **Unsampled RTT.** A candidate whose `srtt` is `None` ranks *after* every candidate with a
//!   measurement, whatever its value. (The Linux kernel's default scheduler effectively ranks
//!   an unsampled subflow first, as RTT 0.) We prefer the known path so the bulk of the data
//!   does not go to a path of unknown speed; the unsampled subflow still gets data as soon as
//!   every measured one is out of room, which yields its first sample.
//! - Ties break on the lowest `index`, so a decision is a pure function of the candidates (and,
//!   for round robin, of the previous pick).
//!
//! # The schedulers
//!
//! - [`SchedulerKind::MinRtt`] ([`MinRtt`], the default, like Linux's): the lowest-srtt
//!   eligible candidate with capacity.
//! - [`SchedulerKind::RoundRobin`] ([`RoundRobin`]): rotates over the eligible candidates with
//!   capacity, one segment each, in `index` order.
//! - [`SchedulerKind::Redundant`] ([`Redundant`]): picks like MinRtt, and
//!   [`Scheduler::redundant`] is `true`: the connection then sends a copy of every segment on
//!   each other usable subflow too (lowest latency and loss resilience at the cost of capacity).
//! - [`SchedulerKind::Blest`] ([`Blest`]): MinRtt while the fastest subflow has room; when it
//!   is full, sends on the next-fastest subflow only if that would not leave the fast subflow
//!   blocked by the connection-level window (head-of-line blocking); otherwise waits.

mod blest;
mod min_rtt;
mod round_robin;

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

pub use blest::Blest;
pub use min_rtt::{MinRtt, Redundant};
pub use round_robin::RoundRobin;

/// A scheduler, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SchedulerKind {
    /// Lowest smoothed RTT first (`"minrtt"`, the default).
    #[default]
    MinRtt,
    /// One segment per subflow in turn (`"roundrobin"`).
    RoundRobin,
    /// Every segment on every usable subflow (`"redundant"`).
    Redundant,
    /// Blocking estimation, Ferlin et al., IFIP Networking 2016 (`"blest"`).
    Blest,
}

impl SchedulerKind {
    /// Every scheduler, in the order the names are listed in error messages.
    pub const ALL: [SchedulerKind; 4] =
        [SchedulerKind::MinRtt, SchedulerKind::RoundRobin, SchedulerKind::Redundant, SchedulerKind::Blest];

    /// The lowercase name, as accepted by `FromStr`.
    pub const fn name(self) -> &'static str {
        match self {
            SchedulerKind::MinRtt => "minrtt",
            SchedulerKind::RoundRobin => "roundrobin",
            SchedulerKind::Redundant => "redundant",
            SchedulerKind::Blest => "blest",
        }
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SchedulerKind {
    type Err = ParseSchedulerKindError;

    /// `"minrtt"`, `"roundrobin"`, `"redundant"` or `"blest"`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<SchedulerKind, ParseSchedulerKindError> {
        SchedulerKind::ALL
            .into_iter()
            .find(|kind| s.eq_ignore_ascii_case(kind.name()))
            .ok_or_else(|| ParseSchedulerKindError { name: s.into() })
    }
}

/// The name given to [`SchedulerKind::from_str`] is not a known scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSchedulerKindError {
    name: String,
}

impl fmt::Display for ParseSchedulerKindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown scheduler {:?} (expected \"minrtt\", \"roundrobin\", \"redundant\" or \"blest\")", self.name)
    }
}

impl core::error::Error for ParseSchedulerKindError {}

/// One subflow that may carry data, as the scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Candidate {
    /// Opaque to the scheduler; returned by [`Scheduler::pick`] to name this subflow.
    pub index: usize,
    /// Smoothed RTT (RFC 6298), if there is a sample yet.
    pub srtt: Option<Duration>,
    /// RTT variation (RFC 6298).
    pub rttvar: Duration,
    /// Congestion window, in bytes.
    pub cwnd: u64,
    /// Bytes sent and not yet acknowledged on this subflow.
    pub in_flight: u64,
    /// Bytes it may send right now (within both its congestion window and its TCP window).
    pub capacity: u64,
    /// Payload bytes per segment.
    pub mss: u32,
    /// A backup subflow (RFC 8684 §3.3.8 MP_PRIO / §3.2 MP_JOIN B flag, or our own choice).
    pub backup: bool,
}

/// The connection-level view handed to [`Scheduler::pick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    /// Bytes of new data waiting at the connection level.
    pub unsent: u64,
    /// Room left in the peer's connection-level receive window (RFC 8684 §3.3.4), in bytes.
    pub window_room: u64,
}

/// A packet scheduler: picks the subflow for each segment of new data (see the module docs).
pub trait Scheduler: fmt::Debug + Send {
    /// Which scheduler this is.
    fn kind(&self) -> SchedulerKind;

    /// The subflow (its [`Candidate::index`]) to carry the next segment of new data, or `None`
    /// to wait. Only a candidate with `capacity > 0` is returned, and a backup only when no
    /// regular subflow is among `candidates`.
    fn pick(&mut self, candidates: &[Candidate], ctx: &Context) -> Option<usize>;

    /// Every segment is sent on every usable subflow (the redundant scheduler); default `false`.
    fn redundant(&self) -> bool {
        false
    }
}

/// A new scheduler of `kind`.
pub fn new_scheduler(kind: SchedulerKind) -> Box<dyn Scheduler> {
    match kind {
        SchedulerKind::MinRtt => Box::new(MinRtt::new()),
        SchedulerKind::RoundRobin => Box::new(RoundRobin::new()),
        SchedulerKind::Redundant => Box::new(Redundant::new()),
        SchedulerKind::Blest => Box::new(Blest::new()),
    }
}

// ---- rules shared by the schedulers ----

/// The candidates allowed to carry data, with or without room: the regular ones, or the backups
/// when there is no regular one at all (RFC 8684 §3.3.8: backups only if no other subflow is
/// available; a full regular subflow is still available).
fn usable(candidates: &[Candidate]) -> impl Iterator<Item = &Candidate> + Clone {
    let any_regular = candidates.iter().any(|c| !c.backup);
    candidates.iter().filter(move |c| !(any_regular && c.backup))
}

/// The usable candidates that can send right now (`capacity > 0`).
fn sendable(candidates: &[Candidate]) -> impl Iterator<Item = &Candidate> + Clone {
    usable(candidates).filter(|c| c.capacity > 0)
}

/// Ordering key for "fastest": measured srtt before unmeasured, then lower srtt, then lower index.
fn rtt_key(c: &Candidate) -> (bool, Duration, usize) {
    (c.srtt.is_none(), c.srtt.unwrap_or(Duration::ZERO), c.index)
}

/// The fastest of `candidates` by [`rtt_key`].
fn fastest<'a>(candidates: impl Iterator<Item = &'a Candidate>) -> Option<&'a Candidate> {
    candidates.min_by_key(|c| rtt_key(c))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A regular candidate with a measured RTT and room for `capacity` bytes.
    pub(crate) fn cand(index: usize, srtt_ms: u64, capacity: u64) -> Candidate {
        Candidate {
            index,
            srtt: Some(Duration::from_millis(srtt_ms)),
            rttvar: Duration::from_millis(srtt_ms / 4),
            cwnd: 14_600,
            in_flight: 14_600 - capacity.min(14_600),
            capacity,
            mss: 1460,
            backup: false,
        }
    }

    pub(crate) fn backup(c: Candidate) -> Candidate {
        Candidate { backup: true, ..c }
    }

    pub(crate) const AMPLE: Context = Context { unsent: 1 << 30, window_room: 1 << 30 };

    #[test]
    fn kind_names_round_trip() {
        assert_eq!(SchedulerKind::default(), SchedulerKind::MinRtt);
        for kind in SchedulerKind::ALL {
            assert_eq!(kind.to_string().parse::<SchedulerKind>(), Ok(kind));
            assert_eq!(kind.name().to_ascii_uppercase().parse::<SchedulerKind>(), Ok(kind));
        }
        assert_eq!("MinRtt".parse(), Ok(SchedulerKind::MinRtt));
        assert_eq!("roundrobin".parse(), Ok(SchedulerKind::RoundRobin));
        assert_eq!("REDUNDANT".parse(), Ok(SchedulerKind::Redundant));
        assert_eq!("Blest".parse(), Ok(SchedulerKind::Blest));
        assert_eq!(SchedulerKind::Blest.to_string(), "blest");
    }

    #[test]
    fn bad_kind_name_errors_listing_valid_names() {
        for bad in ["", "min-rtt", "round robin", "rr", "blest "] {
            let err = bad.parse::<SchedulerKind>().unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
            for kind in SchedulerKind::ALL {
                assert!(msg.contains(&format!("\"{}\"", kind.name())), "{msg} lacks {kind}");
            }
        }
    }

    #[test]
    fn new_scheduler_reports_its_kind() {
        for kind in SchedulerKind::ALL {
            let sched = new_scheduler(kind);
            assert_eq!(sched.kind(), kind);
            assert_eq!(sched.redundant(), kind == SchedulerKind::Redundant);
        }
    }

    #[test]
    fn no_candidates_or_no_capacity_gives_none() {
        let full = [cand(0, 10, 0), cand(1, 20, 0), backup(cand(2, 5, 0))];
        for kind in SchedulerKind::ALL {
            let mut sched = new_scheduler(kind);
            assert_eq!(sched.pick(&[], &AMPLE), None, "{kind}: no candidates");
            assert_eq!(sched.pick(&full, &AMPLE), None, "{kind}: nobody has room");
        }
    }

    #[test]
    fn backups_excluded_while_a_regular_subflow_exists_even_if_full() {
        // The regular subflow is cwnd-limited; the backups have room and are faster.
        let set = [backup(cand(0, 1, 50_000)), cand(1, 100, 0), backup(cand(2, 2, 50_000))];
        for kind in SchedulerKind::ALL {
            let mut sched = new_scheduler(kind);
            for _ in 0..4 {
                assert_eq!(sched.pick(&set, &AMPLE), None, "{kind}");
            }
        }
    }

    #[test]
    fn regular_subflow_preferred_over_faster_backup() {
        let set = [backup(cand(0, 1, 50_000)), cand(1, 100, 50_000)];
        for kind in SchedulerKind::ALL {
            let mut sched = new_scheduler(kind);
            for _ in 0..4 {
                assert_eq!(sched.pick(&set, &AMPLE), Some(1), "{kind}");
            }
        }
    }

    #[test]
    fn backups_used_when_no_regular_subflow_exists() {
        let set = [backup(cand(3, 40, 50_000)), backup(cand(1, 20, 50_000))];
        for kind in [SchedulerKind::MinRtt, SchedulerKind::Redundant, SchedulerKind::Blest] {
            assert_eq!(new_scheduler(kind).pick(&set, &AMPLE), Some(1), "{kind}");
        }
        let mut rr = new_scheduler(SchedulerKind::RoundRobin);
        let picks: Vec<_> = (0..4).map(|_| rr.pick(&set, &AMPLE)).collect();
        assert_eq!(picks, [Some(1), Some(3), Some(1), Some(3)]);
    }

    #[test]
    fn usable_filters_only_on_backup_flag() {
        let set = [backup(cand(0, 1, 1)), cand(1, 2, 0), cand(2, 3, 1)];
        let usable: Vec<_> = usable(&set).map(|c| c.index).collect();
        assert_eq!(usable, [1, 2]);
        let sendable: Vec<_> = sendable(&set).map(|c| c.index).collect();
        assert_eq!(sendable, [2]);
    }

    #[test]
    fn fastest_ranks_unsampled_last_and_ties_on_index() {
        let unsampled = Candidate { srtt: None, ..cand(0, 0, 1000) };
        let set = [unsampled, cand(5, 30, 1000), cand(2, 30, 1000), cand(1, 40, 1000)];
        assert_eq!(fastest(set.iter()).map(|c| c.index), Some(2));
        assert_eq!(fastest([unsampled, Candidate { index: 7, ..unsampled }].iter()).map(|c| c.index), Some(0));
        assert_eq!(fastest([].iter()), None);
    }
}
