//! A SMAPP-style controller (Hesmans et al., "SMAPP: Towards Smart Multipath TCP-enabled
//! APPlications", CoNEXT 2015): the application, not the stack's path manager, decides when a
//! second path is worth its cost. It watches its primary subflow and opens a backup subflow on
//! another path when the primary suffers a retransmission timeout; once the primary's
//! acknowledgements advance again, it closes the backup.
//!
//! The backup subflow is opened as a backup (RFC 8684 §3.3.8): it carries data only while no
//! regular subflow can, which is the case while the primary waits out its timeout.

use std::io;
use std::net::SocketAddr;

use mptcp_socket::event::ConnEvent;
use mptcp_socket::{CloseMode, MptcpStream, SubflowId};

/// What [`BackupController::tick`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Opened this backup subflow: the primary had a retransmission timeout.
    Opened(SubflowId),
    /// Closed this backup subflow: the primary recovered.
    Closed(SubflowId),
}

/// Watches a primary subflow and keeps a backup subflow open while it is in trouble.
#[derive(Debug)]
pub struct BackupController {
    primary: SubflowId,
    local: SocketAddr,
    remote: SocketAddr,
    /// The primary's retransmission timeouts and acknowledged bytes at the last look.
    rto_seen: u64,
    acked_seen: u64,
    backup: Option<SubflowId>,
}

impl BackupController {
    /// Watches subflow `primary` of `stream`; a backup goes from `local` to `remote` (port 0:
    /// any local port, the connection's remote port).
    pub fn new(
        stream: &MptcpStream,
        primary: SubflowId,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> io::Result<BackupController> {
        let s = stream.subflow_info(primary)?.stats;
        Ok(BackupController { primary, local, remote, rto_seen: s.rto_count, acked_seen: s.bytes_acked, backup: None })
    }

    /// The backup subflow, while one is open.
    pub fn backup(&self) -> Option<SubflowId> {
        self.backup
    }

    /// Looks at the primary once: a new retransmission timeout opens the backup; once the
    /// backup is open, acknowledgements that advanced since the last look close it (the path
    /// delivers again: nothing is acknowledged over a dead one, and the retransmission that
    /// gets through may come with its own timeout). Call it often (every write, and at least
    /// every few hundred milliseconds while writes wait).
    pub fn tick(&mut self, stream: &MptcpStream) -> io::Result<Option<Action>> {
        let s = stream.subflow_info(self.primary)?.stats;
        let timed_out = s.rto_count > self.rto_seen;
        let recovered = s.bytes_acked > self.acked_seen;
        (self.rto_seen, self.acked_seen) = (s.rto_count, s.bytes_acked);
        Ok(match self.backup {
            None if timed_out => {
                let id = stream.open_subflow(self.local, self.remote, true)?;
                self.backup = Some(id);
                Some(Action::Opened(id))
            }
            Some(id) if recovered => {
                stream.close_subflow(id, CloseMode::Graceful)?;
                self.backup = None;
                Some(Action::Closed(id))
            }
            _ => None,
        })
    }

    /// Takes note of a connection event: a backup that failed is forgotten (the next timeout
    /// opens another).
    pub fn on_event(&mut self, event: &ConnEvent) {
        if matches!(event, ConnEvent::SubflowClosed(id, _) if self.backup == Some(*id)) {
            self.backup = None;
        }
    }
}
