//! The connection-level send buffer: bytes written by the application, addressed by data
//! sequence number (DSN), kept until DATA_ACKed (RFC 8684 §3.3.2). Subflows hold their own
//! reference-counted slices of it for TCP-level retransmission, so freeing here never takes
//! bytes a subflow still needs.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Largest chunk the buffer keeps; a segment never spans two chunks.
const CHUNK: usize = 64 * 1024;
/// A tail chunk smaller than this is merged with the next write, so that small writes still
/// make full-sized segments.
const MERGE_BELOW: usize = 16 * 1024;

#[derive(Debug)]
pub(crate) struct SendBuffer {
    chunks: VecDeque<Bytes>,
    /// DSN of the first byte held.
    start: u64,
    len: usize,
    capacity: usize,
}

impl SendBuffer {
    pub(crate) fn new(start: u64, capacity: usize) -> SendBuffer {
        SendBuffer { chunks: VecDeque::new(), start, len: 0, capacity }
    }

    pub(crate) fn free_space(&self) -> usize {
        self.capacity.saturating_sub(self.len)
    }

    /// DSN one past the last byte written.
    pub(crate) fn end(&self) -> u64 {
        self.start + self.len as u64
    }

    /// Copies as much of `data` as fits; returns how much.
    pub(crate) fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free_space());
        let mut rest = &data[..n];
        if let Some(last) = self.chunks.back()
            && last.len() < MERGE_BELOW
            && !rest.is_empty()
        {
            let take = rest.len().min(CHUNK - last.len());
            let mut merged = BytesMut::with_capacity(last.len() + take);
            merged.extend_from_slice(last);
            merged.extend_from_slice(&rest[..take]);
            *self.chunks.back_mut().expect("checked") = merged.freeze();
            rest = &rest[take..];
        }
        for piece in rest.chunks(CHUNK) {
            self.chunks.push_back(Bytes::copy_from_slice(piece));
        }
        self.len += n;
        n
    }

    /// Up to `max` bytes starting at `dsn`, never crossing a chunk boundary. Empty when `dsn`
    /// is not held.
    pub(crate) fn slice(&self, dsn: u64, max: usize) -> Bytes {
        if dsn < self.start || dsn >= self.end() {
            return Bytes::new();
        }
        let mut off = (dsn - self.start) as usize;
        for c in &self.chunks {
            if off < c.len() {
                let end = c.len().min(off + max);
                return c.slice(off..end);
            }
            off -= c.len();
        }
        Bytes::new()
    }

    /// Frees everything below `dsn` (it was DATA_ACKed).
    pub(crate) fn release_below(&mut self, dsn: u64) {
        while dsn > self.start {
            let Some(front) = self.chunks.front_mut() else { break };
            let drop = ((dsn - self.start) as usize).min(front.len());
            if drop == front.len() {
                self.chunks.pop_front();
            } else {
                *front = front.slice(drop..);
            }
            self.start += drop as u64;
            self.len -= drop;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_writes_merge_and_slices_follow_dsns() {
        let mut b = SendBuffer::new(100, 1 << 20);
        assert_eq!(b.write(b"abc"), 3);
        assert_eq!(b.write(b"defg"), 4);
        assert_eq!(b.end(), 107);
        assert_eq!(&b.slice(100, 100)[..], b"abcdefg", "merged into one chunk");
        assert_eq!(&b.slice(104, 2)[..], b"ef");
        b.release_below(103);
        assert_eq!(&b.slice(103, 10)[..], b"defg");
        assert!(b.slice(102, 10).is_empty(), "released");
    }

    #[test]
    fn capacity_limits_writes() {
        let mut b = SendBuffer::new(0, 10);
        assert_eq!(b.write(&[1; 25]), 10);
        assert_eq!(b.free_space(), 0);
        b.release_below(4);
        assert_eq!(b.write(&[2; 25]), 4);
        let big = vec![7u8; 3 * CHUNK];
        let mut b = SendBuffer::new(0, 4 * CHUNK);
        b.write(&big);
        assert_eq!(b.slice(0, usize::MAX).len(), CHUNK, "a slice stays inside one chunk");
        b.release_below(CHUNK as u64 + 5);
        assert_eq!(b.slice(CHUNK as u64 + 5, usize::MAX).len(), CHUNK - 5);
    }
}
