//! The connection-level send buffer: bytes written by the application, addressed by data
//! sequence number (DSN), kept until DATA_ACKed (RFC 8684 §3.3.2). Subflows hold their own
//! reference-counted slices of it for TCP-level retransmission, so freeing here never takes
//! bytes a subflow still needs.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Largest chunk the buffer keeps.
const CHUNK: usize = 64 * 1024;
/// A tail chunk smaller than this is merged with the next write, so that small writes still
/// make full-sized segments.
const MERGE_BELOW: usize = 16 * 1024;

#[derive(Debug)]
pub(crate) struct SendBuffer {
    /// The bytes held, in DSN order, each chunk with the DSN of its first byte.
    chunks: VecDeque<(u64, Bytes)>,
    /// Index of the chunk the last slice started in: segments are cut one after another, so
    /// the next one mostly starts in the same chunk or the one after.
    hint: usize,
    /// DSN of the first byte held.
    start: u64,
    len: usize,
    capacity: usize,
}

impl SendBuffer {
    pub(crate) fn new(start: u64, capacity: usize) -> SendBuffer {
        SendBuffer { chunks: VecDeque::new(), hint: 0, start, len: 0, capacity }
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
        if let Some((_, last)) = self.chunks.back_mut()
            && last.len() < MERGE_BELOW
            && !rest.is_empty()
        {
            let take = rest.len().min(CHUNK - last.len());
            let mut merged = BytesMut::with_capacity(last.len() + take);
            merged.extend_from_slice(last);
            merged.extend_from_slice(&rest[..take]);
            *last = merged.freeze();
            rest = &rest[take..];
        }
        let mut dsn = self.end() + (n - rest.len()) as u64;
        for piece in rest.chunks(CHUNK) {
            self.chunks.push_back((dsn, Bytes::copy_from_slice(piece)));
            dsn += piece.len() as u64;
        }
        self.len += n;
        n
    }

    /// Up to `max` bytes starting at `dsn`; empty when `dsn` is not held. A slice inside one
    /// chunk shares its memory; one that crosses into the next chunk (once per chunk, so that
    /// every segment can be full-sized) is copied.
    pub(crate) fn slice(&mut self, dsn: u64, max: usize) -> Bytes {
        if dsn < self.start || dsn >= self.end() {
            return Bytes::new();
        }
        let holds = |i: usize| self.chunks.get(i).is_some_and(|(s, c)| *s <= dsn && dsn < s + c.len() as u64);
        let i = match self.hint {
            h if holds(h) => h,
            h if holds(h + 1) => h + 1,
            _ => self.chunks.partition_point(|(s, c)| s + c.len() as u64 <= dsn),
        };
        self.hint = i;
        let (s, c) = &self.chunks[i];
        let off = (dsn - s) as usize;
        let len = max.min((self.end() - dsn) as usize);
        if off + len <= c.len() {
            return c.slice(off..off + len);
        }
        let mut out = BytesMut::with_capacity(len);
        out.extend_from_slice(&c[off..]);
        for (_, c) in self.chunks.range(i + 1..) {
            let take = (len - out.len()).min(c.len());
            out.extend_from_slice(&c[..take]);
            if out.len() == len {
                break;
            }
        }
        out.freeze()
    }

    /// Frees everything below `dsn` (it was DATA_ACKed).
    pub(crate) fn release_below(&mut self, dsn: u64) {
        while dsn > self.start {
            let Some((front_dsn, front)) = self.chunks.front_mut() else { break };
            let drop = ((dsn - self.start) as usize).min(front.len());
            if drop == front.len() {
                self.chunks.pop_front();
                self.hint = self.hint.saturating_sub(1);
            } else {
                *front = front.slice(drop..);
                *front_dsn += drop as u64;
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
    }

    #[test]
    fn slices_cross_chunk_boundaries() {
        let big: Vec<u8> = (0..3 * CHUNK).map(|i| i as u8).collect();
        let mut b = SendBuffer::new(1000, 4 * CHUNK);
        assert_eq!(b.write(&big[..CHUNK + 10]), CHUNK + 10);
        assert_eq!(b.write(&big[CHUNK + 10..]), 2 * CHUNK - 10);
        assert_eq!(b.chunks.len(), 3, "the small tail was merged: three 64 KiB chunks");
        assert_eq!(&b.slice(1000, usize::MAX)[..], &big[..], "one slice over every chunk");
        let at = CHUNK - 100;
        assert_eq!(&b.slice(1000 + at as u64, 1400)[..], &big[at..at + 1400], "across a boundary");
        assert_eq!(&b.slice(1000 + at as u64, 50)[..], &big[at..at + 50], "inside a chunk");
        b.release_below(1000 + CHUNK as u64 + 5);
        let at = CHUNK + 5;
        assert_eq!(&b.slice(1000 + at as u64, CHUNK)[..], &big[at..at + CHUNK]);
        assert!(b.slice(1000 + at as u64 - 1, 10).is_empty(), "released");
        assert_eq!(b.slice(1000 + 3 * CHUNK as u64 - 3, 10).len(), 3, "up to the end");
    }
}
