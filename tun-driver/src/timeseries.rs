//! Per-subflow time series of one connection: every interval, one row per subflow and one for
//! the connection total, made from [`ConnectionStats`] snapshots. A [`crate::transfer::Transfer`]
//! records one when asked ([`crate::transfer::Transfer::record_timeseries`]); the simulator
//! samples in virtual time, the TUN event loop on its monotonic clock.
//!
//! Each row holds what happened during the interval that ends at its time (`*_bytes` are
//! deltas) and the state at that time (`cwnd`, `srtt`, `in_flight`):
//!
//! - `acked_bytes`: our payload the peer acknowledged on the subflow (the total row: DATA_ACKed
//!   at the connection level);
//! - `received_bytes`: payload received on the subflow (the total: delivered to the
//!   application);
//! - `sent_bytes`: payload sent, retransmissions included (the total: the subflows' sum);
//! - `throughput_mbps`: `acked_bytes + received_bytes` over the interval, so that a sender and a
//!   receiver both see their transfer;
//! - `in_flight`: payload sent for the first time and not yet cumulatively acknowledged
//!   (`bytes_sent - bytes_retransmitted - bytes_acked`; SACKed and lost bytes count).
//!
//! The total row sums `cwnd` and `in_flight` over the subflows and has no `srtt`. The sums of
//! the deltas over all rows of one subflow are its cumulative counters, so the total row's
//! `acked_bytes` add up to what the connection delivered.
//!
//! [`TimeSeries::write_file`] writes CSV (`.csv`) or JSON lines (`.json`, `.jsonl`).

use core::net::SocketAddr;
use core::time::Duration;
use std::io::{self, Write};
use std::path::Path;

use mptcp_stack::connection::{ConnectionStats, SubflowSnapshot};
use mptcp_stack::subflow::SubflowId;
use mptcp_stack::time::Instant;

use crate::jsonl::quote;

/// The CSV header line (without the newline).
pub const CSV_HEADER: &str =
    "time_s,subflow,local,remote,acked_bytes,received_bytes,sent_bytes,throughput_mbps,cwnd,srtt_ms,in_flight";

/// One row: a subflow, or the connection total, over one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The end of the interval.
    pub at: Instant,
    /// Its length (the first starts when sampling started; the last may be short).
    pub interval: Duration,
    /// The subflow, or `None` for the connection total.
    pub subflow: Option<SubflowId>,
    /// The subflow's endpoints (`None` for the total).
    pub endpoints: Option<(SocketAddr, SocketAddr)>,
    /// Payload acknowledged by the peer during the interval.
    pub acked_bytes: u64,
    /// Payload received during the interval.
    pub received_bytes: u64,
    /// Payload sent during the interval, retransmissions included.
    pub sent_bytes: u64,
    /// Congestion window at the end, in bytes.
    pub cwnd: u64,
    /// Smoothed RTT at the end.
    pub srtt: Option<Duration>,
    /// Payload in flight at the end.
    pub in_flight: u64,
}

impl Sample {
    /// `acked_bytes + received_bytes` over the interval, in Mbit/s.
    pub fn throughput_mbps(&self) -> f64 {
        let secs = self.interval.as_secs_f64();
        if secs > 0.0 { (self.acked_bytes + self.received_bytes) as f64 * 8.0 / secs / 1e6 } else { 0.0 }
    }

    /// The CSV line (without the newline).
    pub fn csv(&self) -> String {
        let (subflow, local, remote) = self.columns();
        format!(
            "{:.6},{subflow},{local},{remote},{},{},{},{:.6},{},{},{}",
            secs(self.at),
            self.acked_bytes,
            self.received_bytes,
            self.sent_bytes,
            self.throughput_mbps(),
            self.cwnd,
            self.srtt.map_or_else(String::new, |d| format!("{:.3}", d.as_secs_f64() * 1e3)),
            self.in_flight
        )
    }

    /// The JSON object, on one line; the same fields as the CSV (`srtt_ms` null when unknown).
    pub fn json(&self) -> String {
        let (subflow, local, remote) = self.columns();
        let subflow = if self.subflow.is_some() { subflow } else { quote(&subflow) };
        let addr = |a: String| if a.is_empty() { "null".to_owned() } else { quote(&a) };
        format!(
            "{{\"time_s\":{:.6},\"subflow\":{subflow},\"local\":{},\"remote\":{},\"acked_bytes\":{},\
             \"received_bytes\":{},\"sent_bytes\":{},\"throughput_mbps\":{:.6},\"cwnd\":{},\"srtt_ms\":{},\
             \"in_flight\":{}}}",
            secs(self.at),
            addr(local),
            addr(remote),
            self.acked_bytes,
            self.received_bytes,
            self.sent_bytes,
            self.throughput_mbps(),
            self.cwnd,
            self.srtt.map_or_else(|| "null".to_owned(), |d| format!("{:.3}", d.as_secs_f64() * 1e3)),
            self.in_flight
        )
    }

    /// `subflow` (an id or `total`), `local` and `remote` as text (empty for the total).
    fn columns(&self) -> (String, String, String) {
        match (self.subflow, self.endpoints) {
            (Some(id), Some((l, r))) => (id.to_string(), l.to_string(), r.to_string()),
            (Some(id), None) => (id.to_string(), String::new(), String::new()),
            (None, _) => ("total".to_owned(), String::new(), String::new()),
        }
    }
}

/// Cumulative counters of one subflow at the previous sample.
#[derive(Debug, Clone, Copy)]
struct Seen {
    id: SubflowId,
    acked: u64,
    received: u64,
    sent: u64,
}

/// The samples of one connection, taken every `interval`.
#[derive(Debug, Clone)]
pub struct TimeSeries {
    interval: Duration,
    /// When sampling started (the interval of the first sample starts there).
    started: Option<Instant>,
    last_at: Option<Instant>,
    next_at: Option<Instant>,
    seen: Vec<Seen>,
    /// The connection's `(bytes_acked, bytes_read)` at the previous sample.
    seen_total: (u64, u64),
    samples: Vec<Sample>,
}

impl TimeSeries {
    /// An empty series sampled every `interval` (at least a microsecond).
    pub fn new(interval: Duration) -> TimeSeries {
        TimeSeries {
            interval: interval.max(Duration::from_micros(1)),
            started: None,
            last_at: None,
            next_at: None,
            seen: Vec::new(),
            seen_total: (0, 0),
            samples: Vec::new(),
        }
    }

    /// The sampling interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Starts the clock of the series at `now` (the connection's counters start at zero); later
    /// calls do nothing.
    pub fn start(&mut self, now: Instant) {
        if self.started.is_none() {
            self.started = Some(now);
            self.next_at = Some(now + self.interval);
        }
    }

    /// When the next sample is due (`None` before [`start`](Self::start)).
    pub fn next_at(&self) -> Option<Instant> {
        self.next_at
    }

    /// Whether a sample is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.next_at.is_some_and(|t| now >= t)
    }

    /// Records one row per subflow of `stats` and the total, at `now`, and moves the next
    /// sample to the first interval boundary after `now`. Does nothing before
    /// [`start`](Self::start) or twice at one instant.
    pub fn record(&mut self, now: Instant, stats: &ConnectionStats) {
        let (Some(started), Some(next)) = (self.started, self.next_at) else { return };
        let from = self.last_at.unwrap_or(started);
        if self.last_at == Some(now) {
            return;
        }
        let interval = now.saturating_duration_since(from);
        let mut total = Sample {
            at: now,
            interval,
            subflow: None,
            endpoints: None,
            acked_bytes: stats.bytes_acked.saturating_sub(self.seen_total.0),
            received_bytes: stats.bytes_read.saturating_sub(self.seen_total.1),
            sent_bytes: 0,
            cwnd: 0,
            srtt: None,
            in_flight: 0,
        };
        let mut seen = Vec::with_capacity(stats.subflows.len());
        for s in &stats.subflows {
            let row = self.subflow_row(now, interval, s);
            total.sent_bytes += row.sent_bytes;
            total.cwnd += row.cwnd;
            total.in_flight += row.in_flight;
            self.samples.push(row);
            seen.push(Seen {
                id: s.id,
                acked: s.stats.bytes_acked,
                received: s.stats.bytes_received,
                sent: s.stats.bytes_sent,
            });
        }
        self.samples.push(total);
        self.seen = seen;
        self.seen_total = (stats.bytes_acked, stats.bytes_read);
        self.last_at = Some(now);
        let behind = now.saturating_duration_since(next).as_micros() / self.interval.as_micros();
        self.next_at = Some(next + self.interval * (behind as u32).saturating_add(1));
    }

    fn subflow_row(&self, now: Instant, interval: Duration, s: &SubflowSnapshot) -> Sample {
        let prev = self.seen.iter().find(|p| p.id == s.id).copied();
        let (acked, received, sent) = prev.map_or((0, 0, 0), |p| (p.acked, p.received, p.sent));
        let st = &s.stats;
        Sample {
            at: now,
            interval,
            subflow: Some(s.id),
            endpoints: Some((s.local, s.remote)),
            acked_bytes: st.bytes_acked.saturating_sub(acked),
            received_bytes: st.bytes_received.saturating_sub(received),
            sent_bytes: st.bytes_sent.saturating_sub(sent),
            cwnd: s.cwnd,
            srtt: s.srtt,
            in_flight: st.bytes_sent.saturating_sub(st.bytes_retransmitted).saturating_sub(st.bytes_acked),
        }
    }

    /// Every row so far, in time order (each instant's subflows, then its total).
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Writes the rows as CSV, header first.
    pub fn write_csv(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "{CSV_HEADER}")?;
        self.samples.iter().try_for_each(|s| writeln!(out, "{}", s.csv()))
    }

    /// Writes the rows as JSON lines.
    pub fn write_jsonl(&self, out: &mut impl Write) -> io::Result<()> {
        self.samples.iter().try_for_each(|s| writeln!(out, "{}", s.json()))
    }

    /// Writes the rows to `path`: CSV for `.csv`, JSON lines for `.json` and `.jsonl`.
    pub fn write_file(&self, path: &Path) -> io::Result<()> {
        let format = Format::of(path)?;
        let mut out = io::BufWriter::new(std::fs::File::create(path)?);
        match format {
            Format::Csv => self.write_csv(&mut out)?,
            Format::JsonLines => self.write_jsonl(&mut out)?,
        }
        out.flush()
    }
}

/// How a time series file is written, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.csv`.
    Csv,
    /// `.json` or `.jsonl`: one JSON object per line.
    JsonLines,
}

impl Format {
    /// The format `path`'s extension names; an error for any other.
    pub fn of(path: &Path) -> io::Result<Format> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("json" | "jsonl") => Ok(Format::JsonLines),
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "the file name must end in .csv, .json or .jsonl")),
        }
    }
}

fn secs(t: Instant) -> f64 {
    t.as_micros() as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use mptcp_stack::subflow::SubflowStats;

    use super::*;

    fn snapshot(id: SubflowId, acked: u64, sent: u64) -> SubflowSnapshot {
        SubflowSnapshot {
            id,
            local: "10.0.1.1:4000".parse().unwrap(),
            remote: "10.0.1.2:5000".parse().unwrap(),
            state: mptcp_stack::subflow::TcpState::Established,
            srtt: Some(Duration::from_millis(20)),
            rttvar: Duration::ZERO,
            cwnd: 14_600,
            ssthresh: u64::MAX,
            mss: 1460,
            rto: Duration::from_millis(200),
            traffic_class: 0,
            nodelay: true,
            congestion_control: Default::default(),
            stats: SubflowStats { bytes_acked: acked, bytes_sent: sent, ..SubflowStats::default() },
            backup: false,
            address_ids: (0, Some(0)),
            fully_established: true,
            joined: id != 0,
        }
    }

    fn stats(acked: u64, subflows: Vec<SubflowSnapshot>) -> ConnectionStats {
        ConnectionStats { bytes_acked: acked, subflows, ..ConnectionStats::default() }
    }

    #[test]
    fn deltas_add_up_and_samples_stay_on_the_grid() {
        let mut ts = TimeSeries::new(Duration::from_millis(100));
        ts.record(Instant::from_millis(50), &stats(1, vec![]));
        assert!(ts.samples().is_empty(), "nothing before start");
        ts.start(Instant::from_millis(10));
        assert_eq!(ts.next_at(), Some(Instant::from_millis(110)));
        assert!(!ts.is_due(Instant::from_millis(109)) && ts.is_due(Instant::from_millis(110)));
        ts.record(Instant::from_millis(110), &stats(1000, vec![snapshot(0, 1000, 3000)]));
        // A late sample: the next one stays on the grid.
        ts.record(Instant::from_millis(335), &stats(5000, vec![snapshot(0, 3000, 4000), snapshot(1, 2000, 2500)]));
        assert_eq!(ts.next_at(), Some(Instant::from_millis(410)));
        let s = ts.samples();
        assert_eq!(s.len(), 5);
        assert_eq!((s[0].subflow, s[0].acked_bytes, s[0].sent_bytes, s[0].in_flight), (Some(0), 1000, 3000, 2000));
        assert_eq!((s[1].subflow, s[1].acked_bytes, s[1].cwnd), (None, 1000, 14_600));
        assert_eq!((s[2].acked_bytes, s[2].sent_bytes, s[2].interval), (2000, 1000, Duration::from_millis(225)));
        assert_eq!((s[3].subflow, s[3].acked_bytes), (Some(1), 2000));
        assert_eq!((s[4].acked_bytes, s[4].sent_bytes, s[4].cwnd), (4000, 3500, 29_200));
        assert_eq!(s.iter().filter(|r| r.subflow.is_none()).map(|r| r.acked_bytes).sum::<u64>(), 5000);
        assert!((s[1].throughput_mbps() - 0.08).abs() < 1e-9);
    }

    #[test]
    fn csv_and_json_lines() {
        let mut ts = TimeSeries::new(Duration::from_millis(100));
        ts.start(Instant::ZERO);
        ts.record(Instant::from_millis(100), &stats(1250, vec![snapshot(3, 1250, 1250)]));
        let mut csv = Vec::new();
        ts.write_csv(&mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[1], "0.100000,3,10.0.1.1:4000,10.0.1.2:5000,1250,0,1250,0.100000,14600,20.000,0");
        assert_eq!(lines[2], "0.100000,total,,,1250,0,1250,0.100000,14600,,0");
        let mut json = Vec::new();
        ts.write_jsonl(&mut json).unwrap();
        let json = String::from_utf8(json).unwrap();
        assert!(json.lines().next().unwrap().starts_with(r#"{"time_s":0.100000,"subflow":3,"local":"10.0.1.1:4000""#));
        assert!(json.lines().nth(1).unwrap().contains(r#""subflow":"total","local":null"#));
        assert!(json.lines().nth(1).unwrap().contains(r#""srtt_ms":null"#));
    }

    #[test]
    fn format_by_extension() {
        assert_eq!(Format::of(Path::new("a/b.CSV")).unwrap(), Format::Csv);
        assert_eq!(Format::of(Path::new("x.jsonl")).unwrap(), Format::JsonLines);
        assert_eq!(Format::of(Path::new("x.json")).unwrap(), Format::JsonLines);
        assert!(Format::of(Path::new("x.txt")).is_err());
        assert!(Format::of(Path::new("x")).is_err());
    }
}
