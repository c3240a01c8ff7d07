//! The connection and subflow events a [`crate::transfer::Transfer`] saw, with their times and,
//! for subflow events, the subflow's endpoints: written as JSON lines (`mptcp ... --events`)
//! and marked on plots ([`crate::plot`]).
//!
//! One object per line: `time_s`, `event` (`Established`, `FellBack`, `SubflowEstablished`,
//! `SubflowClosed`, `AddressAnnounced`, `AddressRemoved`, `PriorityChanged`, `Closed`) and the
//! event's fields: `mptcp`; `reason`; `subflow`, `local`, `remote`; `address_id`, `address`;
//! `backup`.

use core::net::SocketAddr;
use std::io::{self, Write};
use std::path::Path;

use mptcp_stack::connection::ConnEvent;
use mptcp_stack::time::Instant;

use crate::jsonl::quote;

/// One event of the connection.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// When the application side saw it.
    pub at: Instant,
    /// What happened.
    pub event: ConnEvent,
    /// For subflow events, the subflow's `(local, remote)` when known.
    pub endpoints: Option<(SocketAddr, SocketAddr)>,
}

impl EventRecord {
    /// Whether the event log keeps `event` (everything but readiness).
    pub fn is_logged(event: &ConnEvent) -> bool {
        !matches!(event, ConnEvent::Readable | ConnEvent::Writable)
    }

    /// The event's name.
    pub fn name(&self) -> &'static str {
        match self.event {
            ConnEvent::Established { .. } => "Established",
            ConnEvent::FellBack(_) => "FellBack",
            ConnEvent::SubflowEstablished(_) => "SubflowEstablished",
            ConnEvent::SubflowClosed(..) => "SubflowClosed",
            ConnEvent::AddressAnnounced { .. } => "AddressAnnounced",
            ConnEvent::AddressRemoved { .. } => "AddressRemoved",
            ConnEvent::PriorityChanged(..) => "PriorityChanged",
            ConnEvent::Readable => "Readable",
            ConnEvent::Writable => "Writable",
            ConnEvent::Closed(_) => "Closed",
        }
    }

    /// The subflow it concerns, if any.
    pub fn subflow(&self) -> Option<u32> {
        match self.event {
            ConnEvent::SubflowEstablished(id) | ConnEvent::SubflowClosed(id, _) | ConnEvent::PriorityChanged(id, _) => {
                Some(id)
            }
            _ => None,
        }
    }

    /// A short label for a plot: `+sf 2`, `-sf 2 (Reset)`, `ADD_ADDR 1`, ...
    pub fn label(&self) -> String {
        match self.event {
            ConnEvent::Established { mptcp: true } => "established".to_owned(),
            ConnEvent::Established { mptcp: false } => "established (TCP)".to_owned(),
            ConnEvent::FellBack(r) => format!("fallback ({r:?})"),
            ConnEvent::SubflowEstablished(id) => format!("+sf {id}"),
            ConnEvent::SubflowClosed(id, end) => format!("-sf {id} ({end:?})"),
            ConnEvent::AddressAnnounced { id, addr } => format!("ADD_ADDR {id} {}", addr.ip()),
            ConnEvent::AddressRemoved { id } => format!("RM_ADDR {id}"),
            ConnEvent::PriorityChanged(id, true) => format!("sf {id} backup"),
            ConnEvent::PriorityChanged(id, false) => format!("sf {id} regular"),
            ConnEvent::Readable | ConnEvent::Writable | ConnEvent::Closed(_) => self.name().to_ascii_lowercase(),
        }
    }

    /// The JSON object, on one line.
    pub fn json(&self) -> String {
        let mut fields = vec![
            format!("\"time_s\":{:.6}", self.at.as_micros() as f64 / 1e6),
            format!("\"event\":{}", quote(self.name())),
        ];
        let reason = |r: &dyn core::fmt::Debug| format!("\"reason\":{}", quote(&format!("{r:?}")));
        match self.event {
            ConnEvent::Established { mptcp } => fields.push(format!("\"mptcp\":{mptcp}")),
            ConnEvent::FellBack(r) => fields.push(reason(&r)),
            ConnEvent::SubflowClosed(_, end) => fields.push(reason(&end)),
            ConnEvent::Closed(r) => fields.push(reason(&r)),
            ConnEvent::AddressAnnounced { id, addr } => {
                fields.push(format!("\"address_id\":{id}"));
                fields.push(format!("\"address\":{}", quote(&addr.to_string())));
            }
            ConnEvent::AddressRemoved { id } => fields.push(format!("\"address_id\":{id}")),
            ConnEvent::PriorityChanged(_, backup) => fields.push(format!("\"backup\":{backup}")),
            ConnEvent::SubflowEstablished(_) | ConnEvent::Readable | ConnEvent::Writable => {}
        }
        if let Some(id) = self.subflow() {
            fields.push(format!("\"subflow\":{id}"));
            if let Some((local, remote)) = self.endpoints {
                fields.push(format!("\"local\":{}", quote(&local.to_string())));
                fields.push(format!("\"remote\":{}", quote(&remote.to_string())));
            }
        }
        format!("{{{}}}", fields.join(","))
    }
}

/// Writes `events` to `path` as JSON lines.
pub fn write_file(events: &[EventRecord], path: &Path) -> io::Result<()> {
    let mut out = io::BufWriter::new(std::fs::File::create(path)?);
    events.iter().try_for_each(|e| writeln!(out, "{}", e.json()))?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use mptcp_stack::connection::CloseReason;
    use mptcp_stack::subflow::SubflowEnd;

    use super::*;

    fn record(ms: u64, event: ConnEvent) -> EventRecord {
        let endpoints = Some(("10.0.2.1:40000".parse().unwrap(), "10.0.2.2:5000".parse().unwrap()));
        EventRecord { at: Instant::from_millis(ms), event, endpoints }
    }

    #[test]
    fn json_lines() {
        let e = record(12, ConnEvent::Established { mptcp: true });
        assert_eq!(e.json(), r#"{"time_s":0.012000,"event":"Established","mptcp":true}"#);
        let e = record(1500, ConnEvent::SubflowClosed(2, SubflowEnd::Reset));
        assert_eq!(
            e.json(),
            r#"{"time_s":1.500000,"event":"SubflowClosed","reason":"Reset","subflow":2,"local":"10.0.2.1:40000","remote":"10.0.2.2:5000"}"#
        );
        let e = record(3, ConnEvent::AddressAnnounced { id: 1, addr: "10.0.2.2:5000".parse().unwrap() });
        assert_eq!(
            e.json(),
            r#"{"time_s":0.003000,"event":"AddressAnnounced","address_id":1,"address":"10.0.2.2:5000"}"#
        );
        let e = record(4, ConnEvent::PriorityChanged(1, true));
        assert!(e.json().contains(r#""backup":true,"subflow":1"#));
        assert_eq!(record(9, ConnEvent::Closed(CloseReason::Normal)).json().matches("Normal").count(), 1);
    }

    #[test]
    fn labels_and_filter() {
        assert_eq!(record(0, ConnEvent::SubflowEstablished(1)).label(), "+sf 1");
        assert_eq!(record(0, ConnEvent::AddressRemoved { id: 2 }).label(), "RM_ADDR 2");
        assert_eq!(record(0, ConnEvent::Closed(CloseReason::Normal)).label(), "closed");
        assert!(!EventRecord::is_logged(&ConnEvent::Readable));
        assert!(EventRecord::is_logged(&ConnEvent::SubflowEstablished(0)));
    }
}
