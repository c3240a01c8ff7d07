//! An ordered set of disjoint half-open `u64` ranges.
//!
//! Used for receive-side out-of-order tracking and SACK block generation, the sender's SACK
//! scoreboard, and connection-level reassembly bookkeeping. Ranges are kept maximal: inserting
//! a range that overlaps or touches existing ones merges them, so no two stored ranges are
//! adjacent. Appending in order (the common case) costs O(log n).

use core::ops::Bound::{Excluded, Included};
use core::ops::Range;
use std::collections::BTreeMap;

/// A set of `u64` values stored as disjoint, non-adjacent half-open ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// start → end of each stored range.
    map: BTreeMap<u64, u64>,
    /// Sum of the lengths of all stored ranges.
    total: u64,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> RangeSet {
        RangeSet::default()
    }

    /// Adds `r`, merging with any range it overlaps or touches. Returns how many values were
    /// not covered before. An empty `r` is a no-op.
    pub fn insert(&mut self, r: Range<u64>) -> u64 {
        if r.is_empty() {
            return 0;
        }
        let (mut start, mut end) = (r.start, r.end);
        // Bytes of the ranges absorbed into the merged one.
        let mut absorbed = 0;
        if let Some((&s, &e)) = self.map.range(..=start).next_back() {
            if e >= r.end {
                return 0;
            }
            if e >= start {
                // Extends the range on the left (the in-order append case); the entry for
                // `s` is overwritten below.
                start = s;
                absorbed = e - s;
            }
        }
        while let Some((&s, &e)) = self.map.range((Excluded(start), Included(end))).next() {
            self.map.remove(&s);
            absorbed += e - s;
            end = end.max(e);
        }
        self.map.insert(start, end);
        let added = (end - start) - absorbed;
        self.total += added;
        added
    }

    /// Removes every value in `r`, splitting a range that straddles either end. Returns how
    /// many values were removed.
    pub fn remove(&mut self, r: Range<u64>) -> u64 {
        if r.is_empty() {
            return 0;
        }
        let before = self.total;
        if let Some((&s, &e)) = self.map.range(..r.start).next_back() {
            if e > r.start {
                self.map.insert(s, r.start);
                self.total -= e - r.start;
                if e > r.end {
                    self.map.insert(r.end, e);
                    self.total += e - r.end;
                }
            }
        }
        while let Some((&s, &e)) = self.map.range(r.start..r.end).next() {
            self.map.remove(&s);
            self.total -= e - s;
            if e > r.end {
                self.map.insert(r.end, e);
                self.total += e - r.end;
            }
        }
        before - self.total
    }

    /// Removes every value below `bound`, trimming a range that straddles it.
    pub fn remove_below(&mut self, bound: u64) {
        while let Some(entry) = self.map.first_entry() {
            let (s, e) = (*entry.key(), *entry.get());
            if s >= bound {
                break;
            }
            entry.remove();
            self.total -= e - s;
            if e > bound {
                self.map.insert(bound, e);
                self.total += e - bound;
                break;
            }
        }
    }

    /// Whether `x` is in the set.
    pub fn contains(&self, x: u64) -> bool {
        self.range_containing(x).is_some()
    }

    /// Whether every value of `r` is in the set (true for an empty `r`).
    pub fn covers(&self, r: Range<u64>) -> bool {
        r.is_empty() || self.range_containing(r.start).is_some_and(|c| c.end >= r.end)
    }

    /// The stored (maximal) range that contains `x`.
    pub fn range_containing(&self, x: u64) -> Option<Range<u64>> {
        self.map.range(..=x).next_back().filter(|&(_, &e)| e > x).map(|(&s, &e)| s..e)
    }

    /// The lowest range.
    pub fn first(&self) -> Option<Range<u64>> {
        self.map.first_key_value().map(|(&s, &e)| s..e)
    }

    /// The highest range.
    pub fn last(&self) -> Option<Range<u64>> {
        self.map.last_key_value().map(|(&s, &e)| s..e)
    }

    /// All ranges, ascending.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Range<u64>> + ExactSizeIterator + '_ {
        self.map.iter().map(|(&s, &e)| s..e)
    }

    /// All ranges, descending.
    pub fn iter_rev(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.iter().rev()
    }

    /// The parts of stored ranges that lie within `r`, ascending (each clipped to `r`).
    /// Costs O(log n) plus the number of ranges yielded.
    pub fn iter_within(&self, r: Range<u64>) -> impl DoubleEndedIterator<Item = Range<u64>> + '_ {
        // An empty `r` must not reach `BTreeMap::range`, which panics on start > end.
        let r = r.start..r.end.max(r.start);
        let head = self.map.range(..r.start).next_back().filter(|&(_, &e)| e > r.start && !r.is_empty());
        let rest = self.map.range(r.clone());
        head.into_iter().chain(rest).map(move |(&s, &e)| s.max(r.start)..e.min(r.end))
    }

    /// How many values of `r` are in the set.
    pub fn covered_bytes_in(&self, r: Range<u64>) -> u64 {
        self.iter_within(r).map(|c| c.end - c.start).sum()
    }

    /// The maximal sub-ranges of `r` not in the set, ascending.
    pub fn gaps_in(&self, r: Range<u64>) -> impl Iterator<Item = Range<u64>> + '_ {
        let end = r.end;
        let mut cursor = r.start;
        // Each covered piece closes the gap before it; the final `None` closes the tail gap.
        self.iter_within(r).map(Some).chain([None]).filter_map(move |covered| {
            let gap = cursor..covered.as_ref().map_or(end, |c| c.start);
            if let Some(c) = covered {
                cursor = c.end;
            }
            (!gap.is_empty()).then_some(gap)
        })
    }

    /// Number of stored ranges.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of values in the set, in O(1).
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.map.clear();
        self.total = 0;
    }
}

impl FromIterator<Range<u64>> for RangeSet {
    fn from_iter<I: IntoIterator<Item = Range<u64>>>(iter: I) -> RangeSet {
        let mut set = RangeSet::new();
        for r in iter {
            set.insert(r);
        }
        set
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // expected range lists with one range
mod tests {
    use super::*;

    fn ranges(set: &RangeSet) -> Vec<Range<u64>> {
        set.iter().collect()
    }

    #[test]
    fn insert_merges_overlapping_and_adjacent() {
        let mut s = RangeSet::new();
        assert_eq!(s.insert(10..20), 10);
        assert_eq!(s.insert(30..40), 10);
        assert_eq!(s.insert(20..30), 10); // touches both: one range
        assert_eq!(ranges(&s), [10..40]);
        assert_eq!(s.insert(5..45), 10);
        assert_eq!(s.insert(12..18), 0);
        assert_eq!(s.insert(7..7), 0);
        assert_eq!(ranges(&s), [5..45]);
        assert_eq!(s.total_bytes(), 40);
    }

    #[test]
    fn in_order_append_keeps_one_range() {
        let mut s = RangeSet::new();
        for i in 0..10_000u64 {
            assert_eq!(s.insert(i * 100..(i + 1) * 100), 100);
        }
        assert_eq!(s.len(), 1);
        assert_eq!(s.total_bytes(), 1_000_000);
    }

    #[test]
    fn insert_spanning_many_ranges() {
        let mut s: RangeSet = (0..100u64).map(|i| i * 10..i * 10 + 5).collect();
        assert_eq!(s.len(), 100);
        // [3, 997) holds 2 octets of 0..5 and all of the 99 ranges from 10..15 on.
        assert_eq!(s.insert(3..997), 994 - 2 - 99 * 5);
        assert_eq!(ranges(&s), [0..997]);
    }

    #[test]
    fn remove_splits_and_trims() {
        let mut s: RangeSet = [0..10, 20..30, 40..50].into_iter().collect();
        assert_eq!(s.remove(5..45), 5 + 10 + 5);
        assert_eq!(ranges(&s), [0..5, 45..50]);
        assert_eq!(s.remove(1..2), 1);
        assert_eq!(ranges(&s), [0..1, 2..5, 45..50]);
        assert_eq!(s.remove(100..200), 0);
        assert_eq!(s.total_bytes(), 9);
    }

    #[test]
    fn remove_below_trims_straddling_range() {
        let mut s: RangeSet = [0..10, 20..30, 40..50].into_iter().collect();
        s.remove_below(25);
        assert_eq!(ranges(&s), [25..30, 40..50]);
        s.remove_below(30);
        assert_eq!(ranges(&s), [40..50]);
        s.remove_below(10);
        assert_eq!(ranges(&s), [40..50]);
        assert_eq!(s.total_bytes(), 10);
    }

    #[test]
    fn queries() {
        let s: RangeSet = [10..20, 30..40].into_iter().collect();
        assert!(s.contains(10) && s.contains(19) && !s.contains(20) && !s.contains(9));
        assert!(s.covers(12..20) && !s.covers(15..31) && s.covers(50..50));
        assert_eq!(s.range_containing(35), Some(30..40));
        assert_eq!(s.range_containing(25), None);
        assert_eq!((s.first(), s.last()), (Some(10..20), Some(30..40)));
        assert_eq!(s.iter_rev().collect::<Vec<_>>(), [30..40, 10..20]);
        assert_eq!(s.iter_within(15..35).collect::<Vec<_>>(), [15..20, 30..35]);
        assert_eq!(s.covered_bytes_in(15..35), 10);
        assert_eq!(s.gaps_in(0..50).collect::<Vec<_>>(), [0..10, 20..30, 40..50]);
        assert_eq!(s.gaps_in(12..38).collect::<Vec<_>>(), [20..30]);
        assert_eq!(s.gaps_in(12..18).count(), 0);
        let reversed = Range { start: 40, end: 30 };
        assert_eq!(s.gaps_in(reversed.clone()).count(), 0);
        assert_eq!(s.iter_within(reversed).count(), 0);
        assert_eq!(s.covered_bytes_in(15..15), 0);
    }

    /// xorshift64*: a small deterministic generator, so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }
    }

    /// Random operations against a `Vec<bool>` model over a small universe.
    #[test]
    fn matches_naive_model() {
        const N: u64 = 64;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            let mut set = RangeSet::new();
            let mut model = [false; N as usize];
            for _ in 0..40 {
                let (a, b) = (rng.below(N + 1), rng.below(N + 1));
                let r = a.min(b)..a.max(b);
                let in_model = |m: &[bool], r: Range<u64>| r.filter(|&x| m[x as usize]).count() as u64;
                match rng.below(3) {
                    0 => {
                        let fresh = r.end - r.start - in_model(&model, r.clone());
                        assert_eq!(set.insert(r.clone()), fresh);
                        r.for_each(|x| model[x as usize] = true);
                    }
                    1 => {
                        assert_eq!(set.remove(r.clone()), in_model(&model, r.clone()));
                        r.for_each(|x| model[x as usize] = false);
                    }
                    _ => {
                        set.remove_below(a);
                        (0..a).for_each(|x| model[x as usize] = false);
                    }
                }
                // Structure: sorted, disjoint, non-adjacent, non-empty; counter exact.
                let rs = ranges(&set);
                assert!(rs.iter().all(|r| r.start < r.end));
                assert!(rs.windows(2).all(|w| w[0].end < w[1].start));
                assert_eq!(set.total_bytes(), in_model(&model, 0..N));
                // Every query agrees with the model.
                let (c, d) = (rng.below(N + 1), rng.below(N + 1));
                let q = c.min(d)..c.max(d);
                assert_eq!(set.covered_bytes_in(q.clone()), in_model(&model, q.clone()));
                assert_eq!(set.covers(q.clone()), in_model(&model, q.clone()) == q.end - q.start);
                let gaps: Vec<u64> = set.gaps_in(q.clone()).flatten().collect();
                assert_eq!(gaps, q.clone().filter(|&x| !model[x as usize]).collect::<Vec<_>>());
                for x in 0..N {
                    assert_eq!(set.contains(x), model[x as usize]);
                }
            }
        }
    }
}
