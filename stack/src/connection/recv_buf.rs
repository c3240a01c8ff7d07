//! The connection-level receive buffer: reassembles data from every subflow by data sequence
//! number (RFC 8684 §3.3.1) and hands it to the application in order. Its size is the
//! connection-level receive window, shared by all subflows (RFC 8684 §3.3.4).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

#[derive(Debug)]
pub(crate) struct RecvBuffer {
    /// The next in-order DSN (what the DATA_ACK says).
    next: u64,
    ready: VecDeque<Bytes>,
    ready_len: usize,
    /// Out-of-order data by starting DSN; entries never overlap.
    ooo: BTreeMap<u64, Bytes>,
    ooo_len: usize,
    capacity: usize,
}

impl RecvBuffer {
    pub(crate) fn new(next: u64, capacity: usize) -> RecvBuffer {
        RecvBuffer { next, ready: VecDeque::new(), ready_len: 0, ooo: BTreeMap::new(), ooo_len: 0, capacity }
    }

    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Bytes held, in order or not.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.ready_len + self.ooo_len
    }

    /// Bytes held beyond a hole, waiting for it to fill.
    pub(crate) fn out_of_order(&self) -> usize {
        self.ooo_len
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn readable(&self) -> usize {
        self.ready_len
    }

    /// Advances past a DATA_FIN (it takes one DSN and no buffer space).
    pub(crate) fn consume_fin(&mut self) {
        self.next += 1;
    }

    /// Places `data` at `dsn`. Bytes below `next` (duplicates) and beyond the buffer's
    /// capacity are discarded; returns how many new bytes were stored.
    pub(crate) fn insert(&mut self, mut dsn: u64, mut data: Bytes) -> usize {
        if dsn < self.next {
            let skip = (self.next - dsn).min(data.len() as u64) as usize;
            data = data.slice(skip..);
            dsn = self.next;
        }
        let limit = self.next + (self.capacity - self.ready_len) as u64;
        if dsn >= limit {
            return 0;
        }
        data.truncate((limit - dsn).min(data.len() as u64) as usize);
        if dsn == self.next && self.ooo.is_empty() {
            // The common case: in order, nothing waiting: straight to the ready queue.
            let n = data.len();
            self.ready_len += n;
            self.next += n as u64;
            if n > 0 {
                self.ready.push_back(data);
            }
            return n;
        }
        let mut stored = 0;
        // Trim against the entry before, then walk the entries that start inside `data`.
        if let Some((&s, b)) = self.ooo.range(..=dsn).next_back() {
            let end = s + b.len() as u64;
            if end > dsn {
                let skip = (end - dsn).min(data.len() as u64) as usize;
                data = data.slice(skip..);
                dsn = end;
            }
        }
        while !data.is_empty() {
            let end = dsn + data.len() as u64;
            let Some((s, blen)) = self.ooo.range(dsn..end).next().map(|(&s, b)| (s, b.len())) else {
                stored += data.len();
                self.ooo_len += data.len();
                self.ooo.insert(dsn, data);
                break;
            };
            let head = data.split_to((s - dsn) as usize);
            if !head.is_empty() {
                stored += head.len();
                self.ooo_len += head.len();
                self.ooo.insert(dsn, head);
            }
            let skip = blen.min(data.len());
            data = data.slice(skip..);
            dsn = s + skip as u64;
        }
        self.promote();
        stored
    }

    /// Moves newly in-order data from the out-of-order map to the ready queue.
    fn promote(&mut self) {
        while let Some(entry) = self.ooo.first_entry() {
            if *entry.key() != self.next {
                break;
            }
            let b = entry.remove();
            self.ooo_len -= b.len();
            self.ready_len += b.len();
            self.next += b.len() as u64;
            self.ready.push_back(b);
        }
    }

    /// Copies in-order bytes into `buf`; returns how many.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            let Some(front) = self.ready.front_mut() else { break };
            let take = front.len().min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&front[..take]);
            n += take;
            if take == front.len() {
                self.ready.pop_front();
            } else {
                *front = front.slice(take..);
            }
        }
        self.ready_len -= n;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(b: &mut RecvBuffer) -> Vec<u8> {
        let mut out = vec![0; b.readable()];
        let n = b.read(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn reorders_and_drops_duplicates_and_overlaps() {
        let mut b = RecvBuffer::new(10, 100);
        assert_eq!(b.insert(15, Bytes::from_static(b"fghij")), 5);
        assert_eq!(b.insert(13, Bytes::from_static(b"deFGH")), 2, "overlap with 15.. is dropped");
        assert_eq!(b.readable(), 0);
        assert_eq!(b.insert(8, Bytes::from_static(b"xxabc")), 3, "below next is a duplicate");
        assert_eq!(read_all(&mut b), b"abcdefghij");
        assert_eq!(b.next(), 20);
        assert_eq!(b.insert(12, Bytes::from_static(b"old")), 0);
    }

    #[test]
    fn an_insert_spanning_several_entries_fills_the_gaps() {
        let mut b = RecvBuffer::new(0, 100);
        b.insert(2, Bytes::from_static(b"C"));
        b.insert(5, Bytes::from_static(b"F"));
        assert_eq!(b.insert(0, Bytes::from_static(b"abcdefgh")), 6);
        assert_eq!(read_all(&mut b), b"abCdeFgh");
        assert_eq!(b.buffered(), 0);
    }

    #[test]
    fn capacity_bounds_what_is_stored() {
        let mut b = RecvBuffer::new(0, 4);
        assert_eq!(b.insert(2, Bytes::from_static(b"cdef")), 2);
        assert_eq!(b.insert(0, Bytes::from_static(b"ab")), 2);
        assert_eq!(b.buffered(), 4);
        assert_eq!(b.insert(4, Bytes::from_static(b"e")), 0, "full until read");
        assert_eq!(read_all(&mut b), b"abcd");
        assert_eq!(b.insert(4, Bytes::from_static(b"e")), 1);
    }
}
