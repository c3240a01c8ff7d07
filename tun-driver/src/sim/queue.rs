//! The virtual-time event queue: a min-heap on `(time, sequence)`.
//!
//! The sequence number is assigned at insertion and grows by one each time, so events due at
//! the same instant come out in the order they were scheduled (FIFO), which keeps a run
//! deterministic and packets of one link in order.

use core::cmp::Ordering;
use std::collections::BinaryHeap;

use mptcp_stack::time::Instant;

#[derive(Debug)]
struct Entry<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest, then lowest sequence.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Items due at instants, popped earliest first, FIFO among equal instants.
#[derive(Debug)]
pub(crate) struct EventQueue<T> {
    heap: BinaryHeap<Entry<T>>,
    next_seq: u64,
}

impl<T> EventQueue<T> {
    pub(crate) fn new() -> EventQueue<T> {
        EventQueue { heap: BinaryHeap::new(), next_seq: 0 }
    }

    pub(crate) fn push(&mut self, at: Instant, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { at, seq, item });
    }

    /// When the next item is due.
    pub(crate) fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    pub(crate) fn pop(&mut self) -> Option<(Instant, T)> {
        self.heap.pop().map(|e| (e.at, e.item))
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_fifo_among_equals() {
        let mut q = EventQueue::new();
        q.push(Instant::from_micros(5), "c");
        q.push(Instant::from_micros(1), "a");
        q.push(Instant::from_micros(5), "d");
        q.push(Instant::from_micros(1), "b");
        q.push(Instant::from_micros(5), "e");
        assert_eq!(q.next_at(), Some(Instant::from_micros(1)));
        let order: Vec<_> = core::iter::from_fn(|| q.pop().map(|(_, x)| x)).collect();
        assert_eq!(order, ["a", "b", "c", "d", "e"]);
        assert_eq!(q.len(), 0);
    }
}
