//! Changes to the emulated links during a run: "cut path 1 at 5 s, restore it at 8 s", "path 0
//! drops to 10 Mbit/s at 3 s". A [`Schedule`] is pure data, sorted by time; the text format
//! (`docs/cli.md`) is parsed by the command line, which knows the units.

use core::time::Duration;

use crate::link::{GilbertElliott, LinkConfig};

/// One direction of a path: forward is from the client's side (namespace A, host A) to the
/// server's (B), reverse the other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Client side to server side.
    Forward,
    /// Server side to client side.
    Reverse,
}

impl Dir {
    /// Both directions, forward first.
    pub const BOTH: [Dir; 2] = [Dir::Forward, Dir::Reverse];

    /// 0 for forward, 1 for reverse.
    pub fn index(self) -> usize {
        match self {
            Dir::Forward => 0,
            Dir::Reverse => 1,
        }
    }

    /// The other direction.
    pub fn reversed(self) -> Dir {
        match self {
            Dir::Forward => Dir::Reverse,
            Dir::Reverse => Dir::Forward,
        }
    }
}

/// What a change sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Setting {
    /// Drop every packet from now on (blackhole).
    Cut,
    /// End a cut.
    Restore,
    /// The rate in bit/s; `None`: unlimited.
    Rate(Option<u64>),
    /// The one-way delay.
    Delay(Duration),
    /// The jitter.
    Jitter(Duration),
    /// Random loss probability.
    Loss(f64),
    /// Gilbert-Elliott bursty loss; `None` turns it off.
    BurstLoss(Option<GilbertElliott>),
    /// Reordering probability.
    Reorder(f64),
    /// Duplication probability.
    Duplicate(f64),
}

impl Setting {
    /// Applies this setting to `config`.
    pub fn apply(self, config: &mut LinkConfig) {
        match self {
            Setting::Cut => config.blackhole = true,
            Setting::Restore => config.blackhole = false,
            Setting::Rate(r) => config.rate_bps = r,
            Setting::Delay(d) => config.delay = d,
            Setting::Jitter(j) => config.jitter = j,
            Setting::Loss(p) => config.loss = p,
            Setting::BurstLoss(ge) => config.loss_burst = ge,
            Setting::Reorder(p) => config.reorder = p,
            Setting::Duplicate(p) => config.duplicate = p,
        }
    }
}

/// One change: at `at` after the start of the run, `setting` on `path` (`None`: every path) in
/// `dirs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Time since the start of the run.
    pub at: Duration,
    /// The path's index; `None` for all paths.
    pub path: Option<usize>,
    /// The directions it applies to (one or both).
    pub dirs: Vec<Dir>,
    /// What it sets.
    pub setting: Setting,
}

impl Change {
    /// Does this change apply to direction `dir` of path `path`?
    pub fn applies_to(&self, path: usize, dir: Dir) -> bool {
        self.path.is_none_or(|p| p == path) && self.dirs.contains(&dir)
    }
}

/// Changes in time order (equal times keep the order they were given in).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    changes: Vec<Change>,
}

impl Schedule {
    /// A schedule of `changes`, sorted by time (stably).
    pub fn new(mut changes: Vec<Change>) -> Schedule {
        changes.sort_by_key(|c| c.at);
        Schedule { changes }
    }

    /// The changes, in time order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Is it empty?
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The highest path index a change names, to check against the number of paths.
    pub fn max_path(&self) -> Option<usize> {
        self.changes.iter().filter_map(|c| c.path).max()
    }

    /// This schedule followed by `other`'s changes, sorted again.
    pub fn merged(self, other: Schedule) -> Schedule {
        Schedule::new(self.changes.into_iter().chain(other.changes).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_stably_and_applied() {
        let change =
            |at: u64, path, setting| Change { at: Duration::from_secs(at), path, dirs: Dir::BOTH.to_vec(), setting };
        let s = Schedule::new(vec![change(8, Some(1), Setting::Restore), change(5, Some(1), Setting::Cut)])
            .merged(Schedule::new(vec![change(5, None, Setting::Rate(Some(10)))]));
        let settings: Vec<_> = s.changes().iter().map(|c| c.setting).collect();
        assert_eq!(settings, [Setting::Cut, Setting::Rate(Some(10)), Setting::Restore]);
        assert_eq!(s.max_path(), Some(1));
        assert!(s.changes()[0].applies_to(1, Dir::Reverse) && !s.changes()[0].applies_to(0, Dir::Forward));
        assert!(s.changes()[1].applies_to(7, Dir::Forward));
        let mut config = LinkConfig::default();
        for c in s.changes() {
            c.setting.apply(&mut config);
        }
        assert_eq!((config.blackhole, config.rate_bps), (false, Some(10)));
        assert_eq!(Dir::Forward.reversed().index(), 1);
    }
}
