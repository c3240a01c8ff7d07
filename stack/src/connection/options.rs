//! The application's settings of one subflow (the socket API's MPTCP_SUB_SETSOCKOPT and
//! MPTCP_SUB_GETSOCKOPT), and the connection-wide defaults of its current and future subflows
//! (the congestion control among them).

use super::{Connection, Mode, SubflowError};
use crate::cc;
use crate::subflow::{MIN_MSS_CAP, Subflow, SubflowId};

/// One setting of one subflow (the paper's MPTCP_SUB_SETSOCKOPT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubflowOption {
    /// TCP_NODELAY: `false` turns Nagle's algorithm on for this subflow (RFC 9293 §3.7.4): a
    /// segment smaller than the MSS waits while this subflow has unacknowledged data. `true`
    /// (the default) sends it at once.
    NoDelay(bool),
    /// TCP_MAXSEG: caps the segment size this subflow sends with (under the peer's MSS and the
    /// path's, less the options); on a subflow whose SYN is still to be sent, also the MSS it
    /// advertises. Below 64 ([`MIN_MSS_CAP`]) it is [`SubflowError::InvalidValue`]. Read back,
    /// the size in force from our side: the path's MSS under the cap.
    MaxSegmentSize(u16),
    /// IP_TOS / IPV6_TCLASS: the TOS / traffic-class byte of every packet this subflow sends.
    /// Its ECN bits stay Not-ECT (RFC 3168 §6.1.1: this stack does not negotiate ECN), as Linux
    /// keeps them for TCP; read back, the byte as sent.
    TrafficClass(u8),
    /// Backup priority (RFC 8684 §3.3.8): as [`Connection::set_backup`] (sends MP_PRIO). Read
    /// back, our own choice (the peer's is in the subflow's snapshot).
    Backup(bool),
    /// TCP_CONGESTION for this subflow only: a new controller of that algorithm starts from the
    /// subflow's current window and slow-start threshold, so that a switch mid-transfer does not
    /// collapse the window. Coupled algorithms (LIA, OLIA) couple only with the connection's
    /// other coupled subflows.
    CongestionControl(cc::Algorithm),
}

/// Which setting [`Connection::subflow_option`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubflowOptionKind {
    /// [`SubflowOption::NoDelay`].
    NoDelay,
    /// [`SubflowOption::MaxSegmentSize`].
    MaxSegmentSize,
    /// [`SubflowOption::TrafficClass`].
    TrafficClass,
    /// [`SubflowOption::Backup`].
    Backup,
    /// [`SubflowOption::CongestionControl`].
    CongestionControl,
}

impl SubflowOption {
    /// Which setting this is.
    pub fn kind(&self) -> SubflowOptionKind {
        match self {
            SubflowOption::NoDelay(_) => SubflowOptionKind::NoDelay,
            SubflowOption::MaxSegmentSize(_) => SubflowOptionKind::MaxSegmentSize,
            SubflowOption::TrafficClass(_) => SubflowOptionKind::TrafficClass,
            SubflowOption::Backup(_) => SubflowOptionKind::Backup,
            SubflowOption::CongestionControl(_) => SubflowOptionKind::CongestionControl,
        }
    }
}

impl Connection {
    /// Sets one option on subflow `id`. Errors: [`SubflowError::NoSuchSubflow`] for an id that
    /// is unknown or whose subflow left the connection (ended, or in TIME-WAIT),
    /// [`SubflowError::InvalidValue`], and [`SubflowError::NotMptcp`] for
    /// [`SubflowOption::Backup`] after fallback to TCP.
    pub fn set_subflow_option(&mut self, id: SubflowId, option: SubflowOption) -> Result<(), SubflowError> {
        let i = self.live_path(id)?;
        match option {
            SubflowOption::MaxSegmentSize(mss) if mss < MIN_MSS_CAP => Err(SubflowError::InvalidValue),
            // §3.3.8: MP_PRIO is an MPTCP option; a connection that fell back has no priorities.
            SubflowOption::Backup(_) if matches!(self.mode, Mode::Fallback(_)) => Err(SubflowError::NotMptcp),
            SubflowOption::Backup(backup) => self.set_backup(id, backup),
            _ => {
                set_tcp_option(&mut self.paths[i].sf, option);
                Ok(())
            }
        }
    }

    /// Sets one option on every subflow that has not left the connection and makes it the
    /// default of every subflow opened from now on (joins in both roles), as the `nodelay`,
    /// `mss_cap`, `traffic_class` and `congestion_control` of
    /// [`TcpConfig`](crate::subflow::TcpConfig) do from the start.
    /// [`SubflowOption::Backup`] is [`SubflowError::InvalidValue`] here: a subflow's priority is
    /// its own (RFC 8684 §3.2 flag B, §3.3.8 MP_PRIO), for a new one `open_subflow`'s `backup`
    /// or its address's ([`LocalAddress`](super::path_manager::LocalAddress)).
    pub fn set_default_subflow_option(&mut self, option: SubflowOption) -> Result<(), SubflowError> {
        match option {
            SubflowOption::MaxSegmentSize(mss) if mss < MIN_MSS_CAP => Err(SubflowError::InvalidValue),
            SubflowOption::Backup(_) => Err(SubflowError::InvalidValue),
            _ => {
                self.set_default(option);
                Ok(())
            }
        }
    }

    /// [`Connection::set_default_subflow_option`] of a valid option other than `Backup`.
    fn set_default(&mut self, option: SubflowOption) {
        let tcp = &mut self.config.tcp;
        match option {
            SubflowOption::NoDelay(nodelay) => tcp.nodelay = nodelay,
            SubflowOption::MaxSegmentSize(mss) => tcp.mss_cap = Some(mss),
            SubflowOption::TrafficClass(tos) => tcp.traffic_class = tos,
            SubflowOption::CongestionControl(algorithm) => tcp.congestion_control = algorithm,
            SubflowOption::Backup(_) => return,
        }
        for p in self.paths.iter_mut().filter(|p| !p.left()) {
            set_tcp_option(&mut p.sf, option);
        }
    }

    /// Reads the current value of one option of subflow `id` ([`SubflowError::NoSuchSubflow`]
    /// for an id that is unknown or whose subflow left the connection).
    pub fn subflow_option(&self, id: SubflowId, kind: SubflowOptionKind) -> Result<SubflowOption, SubflowError> {
        let p = &self.paths[self.live_path(id)?];
        Ok(match kind {
            SubflowOptionKind::NoDelay => SubflowOption::NoDelay(p.sf.nodelay()),
            SubflowOptionKind::MaxSegmentSize => SubflowOption::MaxSegmentSize(p.sf.max_segment_size()),
            SubflowOptionKind::TrafficClass => SubflowOption::TrafficClass(p.sf.traffic_class()),
            SubflowOptionKind::Backup => SubflowOption::Backup(p.backup_local),
            SubflowOptionKind::CongestionControl => SubflowOption::CongestionControl(p.sf.congestion_control()),
        })
    }

    /// Switches the congestion control of every current and future subflow; each current one
    /// keeps its window, as with [`SubflowOption::CongestionControl`]. The same as
    /// [`Connection::set_default_subflow_option`] with that option, which cannot fail.
    pub fn set_congestion_control(&mut self, algorithm: cc::Algorithm) {
        self.set_default(SubflowOption::CongestionControl(algorithm));
    }

    /// The index of subflow `id`, which has not left the connection (ended, or in TIME-WAIT).
    pub(super) fn live_path(&self, id: SubflowId) -> Result<usize, SubflowError> {
        let i = self.path_index(id)?;
        if self.paths[i].left() { Err(SubflowError::NoSuchSubflow) } else { Ok(i) }
    }
}

/// Sets a valid option of the subflow's TCP (any but `Backup`, which is the connection's).
fn set_tcp_option(sf: &mut Subflow, option: SubflowOption) {
    match option {
        SubflowOption::NoDelay(nodelay) => sf.set_nodelay(nodelay),
        SubflowOption::MaxSegmentSize(mss) => sf.set_mss_cap(mss),
        SubflowOption::TrafficClass(tos) => sf.set_traffic_class(tos),
        SubflowOption::CongestionControl(algorithm) => sf.set_congestion_control(algorithm),
        SubflowOption::Backup(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use core::net::{Ipv4Addr, SocketAddr};

    use super::*;
    use crate::connection::ConnectionConfig;
    use crate::crypto::Key;
    use crate::subflow::SynInfo;
    use crate::wire::mptcp::JoinRepr;

    /// A client connection whose SYN is not sent yet: subflow 0 in SYN-SENT.
    fn connection() -> Connection {
        let local = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).into(), 40000);
        let remote = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 2).into(), 80);
        let key = Key::from_wire(0x0123_4567_89ab_cdef).expect("non-zero");
        Connection::connect(ConnectionConfig::default(), key, local, remote, 1, 0)
    }

    #[test]
    fn every_option_reads_back_what_was_set() {
        let mut c = connection();
        let defaults = [
            SubflowOption::NoDelay(true),
            SubflowOption::MaxSegmentSize(1460),
            SubflowOption::TrafficClass(0),
            SubflowOption::Backup(false),
            SubflowOption::CongestionControl(cc::Algorithm::Cubic),
        ];
        for option in defaults {
            assert_eq!(c.subflow_option(0, option.kind()), Ok(option));
        }
        let set = [
            SubflowOption::NoDelay(false),
            SubflowOption::MaxSegmentSize(600),
            SubflowOption::TrafficClass(0x88),
            SubflowOption::Backup(true),
            SubflowOption::CongestionControl(cc::Algorithm::Reno),
        ];
        for option in set {
            assert_eq!(c.set_subflow_option(0, option), Ok(()), "{option:?}");
            assert_eq!(c.subflow_option(0, option.kind()), Ok(option));
        }
        let s = c.subflow_snapshot(0).expect("subflow 0");
        assert_eq!((s.nodelay, s.traffic_class, s.congestion_control), (false, 0x88, cc::Algorithm::Reno));
        assert!(s.backup);
        // A cap above the path's MSS leaves the path's.
        c.set_subflow_option(0, SubflowOption::MaxSegmentSize(9000)).expect("valid");
        assert_eq!(c.subflow_option(0, SubflowOptionKind::MaxSegmentSize), Ok(SubflowOption::MaxSegmentSize(1460)));
    }

    #[test]
    fn the_connection_wide_algorithm_covers_current_and_later_subflows() {
        let mut c = connection();
        assert_eq!(c.stats().congestion_control, cc::Algorithm::Cubic);
        c.set_congestion_control(cc::Algorithm::Lia);
        assert_eq!(c.stats().congestion_control, cc::Algorithm::Lia);
        assert_eq!(c.config.tcp.congestion_control, cc::Algorithm::Lia, "what new subflows get");
        assert_eq!(c.subflow_snapshot(0).map(|s| s.congestion_control), Some(cc::Algorithm::Lia));
    }

    #[test]
    fn defaults_reach_live_subflows_and_joins_opened_later_in_both_roles() {
        let mut c = connection();
        let defaults = [
            SubflowOption::NoDelay(false),
            SubflowOption::MaxSegmentSize(600),
            SubflowOption::TrafficClass(0x88),
            SubflowOption::CongestionControl(cc::Algorithm::Reno),
        ];
        for option in defaults {
            assert_eq!(c.set_default_subflow_option(option), Ok(()), "{option:?}");
            assert_eq!(c.subflow_option(0, option.kind()), Ok(option), "the live subflow takes {option:?}");
        }
        assert_eq!(c.set_default_subflow_option(SubflowOption::Backup(true)), Err(SubflowError::InvalidValue));
        assert_eq!(c.set_default_subflow_option(SubflowOption::MaxSegmentSize(63)), Err(SubflowError::InvalidValue));
        assert_eq!(c.subflow_option(0, SubflowOptionKind::MaxSegmentSize), Ok(SubflowOption::MaxSegmentSize(600)));
        assert_eq!(c.subflow_option(0, SubflowOptionKind::Backup), Ok(SubflowOption::Backup(false)));
        // A join we open, and one the peer opens.
        let remote = SocketAddr::new(Ipv4Addr::new(10, 0, 1, 2).into(), 80);
        let id = c.queue_join(Ipv4Addr::new(10, 0, 1, 1).into(), None, remote, false);
        let req = c.join_requests.pop_front().expect("queued");
        c.start_join(&req, SocketAddr::new(Ipv4Addr::new(10, 0, 1, 1).into(), 40001), 7, 0, 9);
        let syn = SynInfo {
            seq: 5,
            window: 65535,
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            tsval: None,
        };
        let join = JoinRepr::Syn { backup: false, addr_id: 1, token: 0, nonce: 3 };
        let local = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).into(), 40000);
        let peer = SocketAddr::new(Ipv4Addr::new(10, 0, 2, 2).into(), 5555);
        let accepted = c.accept_join(local, peer, 11, 0, 13, &syn, &join).expect("a SYN");
        for id in [id, accepted] {
            for option in defaults {
                assert_eq!(c.subflow_option(id, option.kind()), Ok(option), "subflow {id}: {option:?}");
            }
        }
    }

    #[test]
    fn bad_ids_values_and_states_are_refused() {
        let mut c = connection();
        assert_eq!(c.set_subflow_option(7, SubflowOption::NoDelay(false)), Err(SubflowError::NoSuchSubflow));
        assert_eq!(c.subflow_option(7, SubflowOptionKind::NoDelay), Err(SubflowError::NoSuchSubflow));
        assert!(c.subflow_snapshot(7).is_none());
        assert_eq!(c.write_on(7, b"x"), Err(SubflowError::NotMptcp), "before establishment first");
        for mss in [0, 1, 63] {
            let r = c.set_subflow_option(0, SubflowOption::MaxSegmentSize(mss));
            assert_eq!(r, Err(SubflowError::InvalidValue), "{mss}");
        }
        assert_eq!(c.set_subflow_option(0, SubflowOption::MaxSegmentSize(64)), Ok(()));
        assert_eq!(SubflowError::InvalidValue.to_string(), "invalid value for a subflow option");
        // Pins make no sense before the handshake decided MPTCP.
        assert_eq!(c.write_on(0, b"x"), Err(SubflowError::NotMptcp));
        c.shutdown();
        assert_eq!(c.write_on(0, b"x"), Err(SubflowError::Closed));
        // A subflow that ended is gone for its options, not for its statistics.
        c.abort();
        assert_eq!(c.set_subflow_option(0, SubflowOption::NoDelay(false)), Err(SubflowError::NoSuchSubflow));
        assert_eq!(c.subflow_option(0, SubflowOptionKind::NoDelay), Err(SubflowError::NoSuchSubflow));
        assert!(c.subflow_snapshot(0).is_some());
    }
}
