//! Connection events as `struct mptcp_event`.

use std::net::SocketAddr;

use libc::{in_addr, in6_addr, sockaddr_in, sockaddr_in6};

use super::abi::{
    MPTCP_EVENT_ADDRESS_ANNOUNCED, MPTCP_EVENT_ADDRESS_REMOVED, MPTCP_EVENT_CLOSED, MPTCP_EVENT_ESTABLISHED,
    MPTCP_EVENT_FELL_BACK, MPTCP_EVENT_PRIORITY_CHANGED, MPTCP_EVENT_SUBFLOW_CLOSED, MPTCP_EVENT_SUBFLOW_ESTABLISHED,
    mptcp_event, mptcp_event_addr,
};
use super::ids;
use crate::TimedEvent;
use crate::event::{CloseReason, ConnEvent, FallbackReason, SubflowEnd};

fn sockaddr(addr: Option<SocketAddr>) -> mptcp_event_addr {
    let none = sockaddr_in6 {
        sin6_family: libc::AF_UNSPEC as u16,
        sin6_port: 0,
        sin6_flowinfo: 0,
        sin6_addr: in6_addr { s6_addr: [0; 16] },
        sin6_scope_id: 0,
    };
    match addr {
        None => mptcp_event_addr { v6: none },
        Some(SocketAddr::V4(a)) => mptcp_event_addr {
            v4: sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: a.port().to_be(),
                sin_addr: in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            },
        },
        Some(SocketAddr::V6(a)) => mptcp_event_addr {
            v6: sockaddr_in6 {
                sin6_family: libc::AF_INET6 as u16,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            },
        },
    }
}

fn close_reason(r: CloseReason) -> i32 {
    match r {
        CloseReason::Normal => 0,
        CloseReason::Reset(_) => 1,
        CloseReason::FastClose => 2,
        CloseReason::TimedOut => 3,
        CloseReason::Aborted => 4,
        CloseReason::ProtocolError => 5,
    }
}

fn subflow_end(e: SubflowEnd) -> i32 {
    match e {
        SubflowEnd::Closed => 0,
        SubflowEnd::Reset => 1,
        SubflowEnd::TimedOut => 2,
        SubflowEnd::Aborted => 3,
    }
}

fn fallback(r: FallbackReason) -> i32 {
    match r {
        FallbackReason::Disabled => 0,
        FallbackReason::PeerNotCapable => 1,
        FallbackReason::SynOptionsDropped => 2,
        FallbackReason::OptionsStripped => 3,
        FallbackReason::ChecksumFailed => 4,
    }
}

/// The C form of `e`; `None` for the events never delivered (readable, writable).
pub(crate) fn to_c(e: &TimedEvent) -> Option<mptcp_event> {
    let (ty, subflow_id, reason, value, addr_id, addr) = match e.event {
        ConnEvent::Established { mptcp } => (MPTCP_EVENT_ESTABLISHED, 0, 0, mptcp.into(), 0, None),
        ConnEvent::FellBack(r) => (MPTCP_EVENT_FELL_BACK, 0, fallback(r), 0, 0, None),
        ConnEvent::SubflowEstablished(id) => (MPTCP_EVENT_SUBFLOW_ESTABLISHED, ids::to_c32(id), 0, 0, 0, None),
        ConnEvent::SubflowClosed(id, end) => {
            (MPTCP_EVENT_SUBFLOW_CLOSED, ids::to_c32(id), subflow_end(end), 0, 0, None)
        }
        ConnEvent::AddressAnnounced { id, addr } => (MPTCP_EVENT_ADDRESS_ANNOUNCED, 0, 0, 0, id, Some(addr)),
        ConnEvent::AddressRemoved { id } => (MPTCP_EVENT_ADDRESS_REMOVED, 0, 0, 0, id, None),
        ConnEvent::PriorityChanged(id, backup) => {
            (MPTCP_EVENT_PRIORITY_CHANGED, ids::to_c32(id), 0, backup.into(), 0, None)
        }
        ConnEvent::Closed(r) => (MPTCP_EVENT_CLOSED, 0, close_reason(r), 0, 0, None),
        ConnEvent::Readable | ConnEvent::Writable => return None,
    };
    Some(mptcp_event {
        at_us: u64::try_from(e.at.as_micros()).unwrap_or(u64::MAX),
        r#type: ty,
        subflow_id,
        reason,
        value,
        addr_id,
        reserved: 0,
        addr: sockaddr(addr),
    })
}
