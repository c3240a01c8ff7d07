//! What `mptcp sim` measured, and its two renderings: the text report for people and one JSON
//! object for programs. `docs/cli.md` lists the fields.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::units::{format_delay, format_loss, format_rate, format_size};

/// One simulated path; both directions have these settings.
#[derive(Debug, Serialize)]
pub(crate) struct PathReport {
    /// The client's address on it.
    pub(crate) client: IpAddr,
    /// The server's address on it.
    pub(crate) server: IpAddr,
    /// Bottleneck rate.
    pub(crate) rate_bps: u64,
    /// One-way delay.
    pub(crate) delay_us: u64,
    /// Loss probability.
    pub(crate) loss: f64,
}

/// The counters of one direction of one path at the end of the run.
#[derive(Debug, Serialize)]
pub(crate) struct LinkReport {
    pub(crate) path: usize,
    /// `client_to_server` or `server_to_client`.
    pub(crate) direction: &'static str,
    /// Packets offered to the link.
    pub(crate) packets: u64,
    /// Dropped because the drop-tail queue was full.
    pub(crate) dropped_queue_full: u64,
    /// Dropped by random loss.
    pub(crate) dropped_loss: u64,
}

/// One of the client's subflows when the server reached the end of stream (or the run ended).
#[derive(Debug, Serialize)]
pub(crate) struct SubflowReport {
    pub(crate) id: u32,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// Payload bytes sent, retransmissions included.
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_retransmitted: u64,
    /// Segments retransmitted.
    pub(crate) retransmits: u64,
    /// Retransmission timeouts.
    pub(crate) rto_count: u64,
    /// Smoothed RTT, absent before the first sample.
    pub(crate) srtt_us: Option<u64>,
    /// Congestion window in bytes.
    pub(crate) cwnd: u64,
    /// A backup subflow.
    pub(crate) backup: bool,
    /// Opened by MP_JOIN (false for the initial subflow).
    pub(crate) joined: bool,
}

/// The outcome of one `mptcp sim` run.
#[derive(Debug, Serialize)]
pub(crate) struct SimReport {
    /// Complete, intact and cleanly closed: `error` is `None`.
    pub(crate) ok: bool,
    /// Why the run failed.
    pub(crate) error: Option<String>,
    pub(crate) seed: u64,
    pub(crate) paths: Vec<PathReport>,
    /// What the client was to send.
    pub(crate) bytes: u64,
    /// What it wrote into the connection.
    pub(crate) bytes_sent: u64,
    /// What the server read.
    pub(crate) bytes_received: u64,
    /// Virtual time from establishment to the server's end of stream (or to the end of a failed
    /// run; from the start if the connection never got established).
    pub(crate) seconds: f64,
    /// `bytes_received` over `seconds`.
    pub(crate) goodput_mbps: f64,
    /// The time limit the run had (virtual).
    pub(crate) time_limit_seconds: f64,
    /// MPTCP in use (false after fallback; absent if never established).
    pub(crate) mptcp: Option<bool>,
    pub(crate) sha256_sent: String,
    pub(crate) sha256_received: String,
    /// How each side's connection ended, if it did.
    pub(crate) close_client: Option<String>,
    pub(crate) close_server: Option<String>,
    /// Segments the client retransmitted, over all subflows.
    pub(crate) retransmits: u64,
    pub(crate) subflows: Vec<SubflowReport>,
    pub(crate) links: Vec<LinkReport>,
    /// The stack's scheduler, congestion control and path manager.
    pub(crate) scheduler: String,
    pub(crate) congestion_control: String,
    pub(crate) path_manager: String,
}

/// The lines printed before the run: what is being simulated.
pub(crate) fn header(paths: &[PathReport], bytes: u64, seed: u64, time_limit_seconds: f64) -> String {
    let mut out = format!(
        "mptcp sim: {} ({bytes} bytes) client to server, seed {seed}, time limit {time_limit_seconds:.0} s\n",
        format_size(bytes),
    );
    for (i, p) in paths.iter().enumerate() {
        let delay = format_delay(std::time::Duration::from_micros(p.delay_us));
        let (rate, loss) = (format_rate(p.rate_bps), format_loss(p.loss));
        let _ = writeln!(out, "  path {i}  {} <-> {}  {rate}, {delay} one way, {loss} loss", p.client, p.server);
    }
    out
}

/// How a report names the connection's protocol: MPTCP, fallback, or never established.
pub(crate) fn protocol_label(mptcp: Option<bool>) -> &'static str {
    match mptcp {
        Some(true) => "MPTCP",
        Some(false) => "fallback to TCP",
        None => "not established",
    }
}

/// The text report after the run.
pub(crate) fn text(r: &SimReport) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<12} {value}");
    };
    line("bytes", format!("{} of {} received", r.bytes_received, r.bytes));
    line("time", format!("{:.3} s virtual (establishment to end of stream)", r.seconds));
    line("goodput", format!("{:.2} Mbit/s", r.goodput_mbps));
    line("protocol", protocol_label(r.mptcp).to_owned());
    line(
        "multipath",
        format!(
            "scheduler {}, {} congestion control, path manager {}",
            r.scheduler, r.congestion_control, r.path_manager
        ),
    );
    let data = if r.sha256_sent == r.sha256_received { "sha256 match" } else { "sha256 MISMATCH" };
    line("data", data.to_owned());
    let ended = |c: &Option<String>| c.as_deref().unwrap_or("open").to_owned();
    line("close", format!("client {}, server {}", ended(&r.close_client), ended(&r.close_server)));
    line("retransmits", format!("{} segments", r.retransmits));
    let result = match &r.error {
        None => "ok".to_owned(),
        Some(e) => format!("FAILED: {e}"),
    };
    out.push('\n');
    out.push_str(&subflow_table(&r.subflows));
    out.push('\n');
    out.push_str(&link_table(&r.links));
    let _ = writeln!(out, "\nresult       {result}");
    out
}

fn subflow_table(subflows: &[SubflowReport]) -> String {
    if subflows.is_empty() {
        return "no subflow figures (the client's connection is gone)\n".to_owned();
    }
    let mut out = format!(
        "{:>7}  {:<21}  {:<21}  {:>12}  {:>11}  {:>8}\n",
        "subflow", "local", "remote", "bytes sent", "retransmits", "srtt ms"
    );
    for s in subflows {
        let srtt = s.srtt_us.map_or_else(|| "-".to_owned(), |us| format!("{:.2}", us as f64 / 1e3));
        let _ = writeln!(
            out,
            "{:>7}  {:<21}  {:<21}  {:>12}  {:>11}  {srtt:>8}",
            s.id,
            s.local.to_string(),
            s.remote.to_string(),
            s.bytes_sent,
            s.retransmits
        );
    }
    out
}

fn link_table(links: &[LinkReport]) -> String {
    let mut out =
        format!("{:>7}  {:<16}  {:>10}  {:>11}  {:>10}\n", "path", "direction", "packets", "queue drops", "loss drops");
    for l in links {
        let _ = writeln!(
            out,
            "{:>7}  {:<16}  {:>10}  {:>11}  {:>10}",
            l.path, l.direction, l.packets, l.dropped_queue_full, l.dropped_loss
        );
    }
    out
}

/// The JSON object, on one line.
pub(crate) fn json(r: &SimReport) -> String {
    serde_json::to_string(r).expect("a report of plain numbers and strings serializes")
}
