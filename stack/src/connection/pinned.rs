//! Writes pinned to one subflow ([`Connection::write_on`]): their bytes go out on that subflow
//! only.
//!
//! A pinned range waits in the data stream until everything written before it has been
//! scheduled; then it moves to its subflow's queue and the stream goes on past it, so that the
//! other subflows carry later data while the pinned bytes wait for their subflow. Until they are
//! DATA_ACKed no other subflow carries them: no redundant copies, no reinjection when their
//! subflow stalls (it retransmits them itself), no opportunistic reinjection. When their
//! subflow ends or is closed the pin is dropped and they are sent on the others like any data
//! of a failed subflow (RFC 8684 §3.3.6): data integrity first.

use core::ops::Range;

use super::{Connection, Mode, SubflowError};
use crate::scheduler::Candidate;
use crate::subflow::{Outgoing, SubflowId};
use crate::time::Instant;

impl Connection {
    /// Queues as much of `data` as the send buffer takes, to go out on subflow `id` only, and
    /// returns how much that was. Errors: [`SubflowError::Closed`] once the connection is
    /// closing, [`SubflowError::NotMptcp`] before it is established as MPTCP and after a
    /// fallback, [`SubflowError::NoSuchSubflow`] for an unknown subflow or one that ended or is
    /// being closed.
    pub fn write_on(&mut self, id: SubflowId, data: &[u8]) -> Result<usize, SubflowError> {
        if self.local_fin.is_some() || self.closed.is_some() {
            return Err(SubflowError::Closed);
        }
        if self.mode != Mode::Mptcp {
            return Err(SubflowError::NotMptcp);
        }
        let i = self.live_path(id)?;
        if self.paths[i].retired {
            return Err(SubflowError::NoSuchSubflow);
        }
        let start = self.send.end();
        let n = self.send.write(data);
        if n > 0 {
            let range = start..start + n as u64;
            match self.pending_pins.back_mut() {
                Some((last, to)) if *to == id && last.end == range.start => last.end = range.end,
                _ => self.pending_pins.push_back((range, id)),
            }
            self.assign_pins();
        }
        Ok(n)
    }

    /// Where the unpinned data stream stops for now: at the next pinned range, or at the end of
    /// what was written.
    pub(super) fn stream_end(&self) -> u64 {
        self.pending_pins.front().map_or(self.send.end(), |(r, _)| r.start)
    }

    /// Hands the pinned ranges the data stream has reached to their subflows and moves the
    /// stream past them.
    pub(super) fn assign_pins(&mut self) {
        while let Some((r, id)) = self.pending_pins.front().cloned()
            && r.start == self.snd_nxt
        {
            self.pending_pins.pop_front();
            // A pin whose subflow was forgotten stays in the stream as ordinary data.
            if let Ok(i) = self.path_index(id) {
                self.paths[i].pinned.insert(r.clone());
                self.paths[i].pin_queue.insert(r.clone());
                self.snd_nxt = r.end;
            }
        }
    }

    /// Pinned bytes wait for their subflows to send them.
    pub(super) fn pins_queued(&self) -> bool {
        self.paths.iter().any(|p| !p.pin_queue.is_empty())
    }

    /// The next pinned bytes, on the first subflow among `candidates` that has some and room to
    /// send them (the scheduler is not asked: the application chose the subflow).
    pub(super) fn schedule_pinned(&mut self, now: Instant, candidates: &[Candidate]) -> Option<(usize, Outgoing)> {
        for c in candidates.iter().filter(|c| c.capacity > 0) {
            let Some(r) = self.paths[c.index].pin_queue.first() else { continue };
            // §3.3.4: they are new data, within the peer's window.
            let room = self.peer_edge.saturating_sub(r.start);
            if room == 0 {
                self.paths[c.index].sf.arm_persist(now);
                continue;
            }
            let len = (r.end - r.start).min(u64::from(c.mss)).min(c.capacity).min(room) as usize;
            let out = self.send_on(c.index, now, r.start, len)?;
            self.paths[c.index].pin_queue.remove(r.start..r.start + out.payload.len() as u64);
            return Some((c.index, out));
        }
        None
    }

    /// The first stretch of `range` pinned to no subflow (the redundant scheduler copies only
    /// those).
    pub(super) fn first_unpinned(&self, range: Range<u64>) -> Range<u64> {
        let mut start = range.start;
        while start < range.end
            && let Some(pinned) = self.paths.iter().find_map(|p| p.pinned.range_containing(start))
        {
            start = pinned.end;
        }
        let start = start.min(range.end);
        let next_pin = self.paths.iter().filter_map(|p| p.pinned.iter_within(start..range.end).next());
        start..next_pin.map(|r| r.start).min().unwrap_or(range.end)
    }

    /// Subflow `i` ended or is being closed: nothing is held for it any more. Its pinned bytes
    /// not sent yet go to the others (§3.3.6); those the stream has not reached stay in it.
    pub(super) fn unpin(&mut self, i: usize) {
        let id = self.paths[i].sf.id();
        self.pending_pins.retain(|(_, to)| *to != id);
        let p = &mut self.paths[i];
        for r in p.pin_queue.iter() {
            self.reinject.insert(r);
        }
        p.pin_queue.clear();
        p.pinned.clear();
    }

    /// Drops every pin, for a connection that goes on as one subflow carrying the stream in
    /// order (fallback to TCP, or an infinite mapping, §3.7): the stream resumes at the first
    /// pinned byte not sent yet.
    pub(super) fn unpin_all(&mut self) {
        if let Some(first) = self.paths.iter().filter_map(|p| p.pin_queue.first()).map(|r| r.start).min() {
            self.snd_nxt = self.snd_nxt.min(first);
        }
        for p in &mut self.paths {
            p.pin_queue.clear();
            p.pinned.clear();
        }
        self.pending_pins.clear();
    }
}
