//! `mptcp sim`: one bulk transfer between two stack endpoints in the deterministic simulator.
//!
//! Host A is the client and sends `--bytes` of seeded data; host B is the server and reads to
//! the end. Path `i` joins `10.0.{i+1}.1` (client) and `10.0.{i+1}.2` (server) with the same
//! link settings in both directions; the connection starts on path 0. The run has two phases:
//! up to the server's end of stream (the measured transfer), then the close of both sides.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use mptcp_tun_driver::link::LinkConfig;
use mptcp_tun_driver::sim::{Direction, EndpointHost, Limits, PathConfig, SimError, Simulator};
use mptcp_tun_driver::stack::connection::path_manager::LocalAddress;
use mptcp_tun_driver::stack::connection::{CloseReason, ConnectionStats, SubflowSnapshot};
use mptcp_tun_driver::stack::endpoint::EndpointConfig;
use mptcp_tun_driver::stack::time::Instant;
use mptcp_tun_driver::transfer::{Role, TransferReport};

use crate::args::{PathArgs, SimArgs};
use crate::observe;
use crate::report::{self, LinkReport, PathReport, SimReport, SubflowReport};
use crate::units::format_size;

/// The server's port.
const PORT: u16 = 5000;

/// Virtual time allowed for closing both sides after the end of stream.
const CLOSE_LIMIT: Duration = Duration::from_secs(60);

type Sim = Simulator<EndpointHost, EndpointHost>;

/// Runs the subcommand: prints the report and returns the exit status (1 on failure).
pub(crate) fn main(args: &SimArgs) -> ExitCode {
    let limit = time_limit(args);
    if !args.json {
        print!("{}", report::header(&path_reports(args), args.bytes, args.seed, limit.as_secs_f64()));
    }
    let r = run(args, limit);
    if args.json {
        println!("{}", report::json(&r));
    } else {
        print!("\n{}", report::text(&r));
    }
    if r.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

pub(crate) fn client_addr(path: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, path as u8 + 1, 1))
}

fn server_addr(path: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, path as u8 + 1, 2))
}

/// Twenty times the ideal transfer time at the slowest path's rate, plus a minute.
pub(crate) fn time_limit(args: &SimArgs) -> Duration {
    let slowest = args.paths.iter().map(|p| p.rate_bps).min().unwrap_or(1);
    Duration::from_secs_f64(20.0 * (args.bytes as f64 * 8.0 / slowest as f64) + 60.0)
}

fn path_reports(args: &SimArgs) -> Vec<PathReport> {
    let path = |(i, p): (usize, &PathArgs)| PathReport {
        client: client_addr(i),
        server: server_addr(i),
        rate_bps: p.rate_bps,
        delay_us: p.delay.as_micros() as u64,
        loss: p.loss,
    };
    args.paths.iter().enumerate().map(path).collect()
}

/// The two hosts and the paths, set up as the end-to-end tests do (`tests/src/lib.rs`).
fn network(args: &SimArgs) -> Sim {
    let (bytes, seed) = (args.bytes, args.seed);
    let remote = SocketAddr::new(server_addr(0), PORT);
    // Each side knows its address on every path, so that the path managers use them all.
    let config = |addr: fn(usize) -> IpAddr| {
        let mut c = EndpointConfig::default();
        args.multipath.apply(&mut c.connection);
        c.connection.addresses = (0..args.paths.len()).map(|i| LocalAddress::new(addr(i))).collect();
        c
    };
    let role = Role::Client { local: client_addr(0), remote, bytes, seed };
    let mut a = EndpointHost::new(config(client_addr), seed ^ 0xa, role, false);
    args.observe.prepare(&mut a.transfer);
    let b = EndpointHost::new(config(server_addr), seed ^ 0xb, Role::Server { listen: remote }, false);
    let mut sim = Simulator::new(a, b, seed);
    for (i, p) in args.paths.iter().enumerate() {
        let link = LinkConfig { loss: p.loss, ..LinkConfig::new(Some(p.rate_bps), p.delay) };
        sim.add_path(PathConfig::symmetric(client_addr(i), server_addr(i), link));
    }
    // A step is a packet sent or delivered or a timer: allow fifty per full-sized segment.
    let max_steps = Limits::default().max_steps.max(bytes / 1000 * 50);
    sim.set_limits(Limits { max_steps, ..sim.limits() });
    sim
}

/// Runs the transfer and then the close; reports what happened.
pub(crate) fn run(args: &SimArgs, limit: Duration) -> SimReport {
    let mut sim = network(args);
    let names: Vec<String> = (0..args.paths.len()).map(|i| format!("path{i}")).collect();
    let (stats, end, error) = match args.observe.capture(&names) {
        Ok(capture) => {
            if let Some(c) = capture {
                sim.set_capture(c);
            }
            drive(&mut sim, limit)
        }
        Err(e) => (None, sim.now(), Some(e)),
    };
    // Written even when the run failed: they show why.
    let written = write_observed(&mut sim, args);
    let (c, s) = (sim.a().transfer.report(), sim.b().transfer.report());
    let error = error.or_else(|| check(&c, &s)).or(written.err());
    let start = c.established_at.unwrap_or(Instant::ZERO);
    let seconds = s.eof_at.unwrap_or(end).saturating_duration_since(start).as_secs_f64();
    let goodput_mbps = if seconds > 0.0 { s.bytes_received as f64 * 8.0 / seconds / 1e6 } else { 0.0 };
    let subflows = stats.map(subflow_reports).unwrap_or_default();
    let close = |r: &TransferReport| r.closed.map(|(_, reason)| format!("{reason:?}"));
    SimReport {
        ok: error.is_none(),
        error,
        seed: args.seed,
        paths: path_reports(args),
        bytes: args.bytes,
        bytes_sent: c.bytes_sent,
        bytes_received: s.bytes_received,
        seconds,
        goodput_mbps,
        time_limit_seconds: limit.as_secs_f64(),
        mptcp: c.mptcp,
        close_client: close(&c),
        close_server: close(&s),
        sha256_sent: c.sha256_sent,
        sha256_received: s.sha256_received,
        retransmits: subflows.iter().map(|s| s.retransmits).sum(),
        subflows,
        links: link_reports(&sim),
        scheduler: args.multipath.scheduler.to_string(),
        congestion_control: args.multipath.cc.to_string(),
        path_manager: args.multipath.path_manager.to_string(),
    }
}

/// Runs up to the server's end of stream (within `limit`), then until both sides have closed.
/// Returns the client's connection statistics and the virtual time at the end of stream (or
/// when the first phase failed), and why the run failed.
fn drive(sim: &mut Sim, limit: Duration) -> (Option<ConnectionStats>, Instant, Option<String>) {
    let deadline = sim.now() + limit;
    let transfer =
        sim.run_until(|a, b, _| b.transfer.is_complete() || a.transfer.is_closed() || b.transfer.is_closed(), deadline);
    let (stats, end) = (connection_stats(sim.a()), sim.now());
    let error = match transfer {
        Err(SimError::TimeLimit { .. }) => Some(format!("no end of stream within {:.0} s", limit.as_secs_f64())),
        Err(e) => Some(e.to_string()),
        Ok(_) if !sim.b().transfer.is_complete() => Some("the connection ended before the end of stream".to_owned()),
        Ok(_) => {
            let closed = sim.run_until(|a, b, _| a.transfer.is_closed() && b.transfer.is_closed(), end + CLOSE_LIMIT);
            closed.err().map(|e| format!("the connection did not close: {e}"))
        }
    };
    (stats, end, error)
}

/// Writes the capture, the client's time series, plot and events (those asked for).
fn write_observed(sim: &mut Sim, args: &SimArgs) -> Result<(), String> {
    observe::finish_capture(sim.take_capture())?;
    let (bytes, paths) = (format_size(args.bytes), args.paths.len());
    let title = format!("mptcp sim: {bytes} over {paths} path(s), the client's subflows (virtual time)");
    args.observe.write(&sim.a().transfer, &title, 1)
}

/// What is wrong with a run that reached its end: corrupted data or an abnormal close.
fn check(client: &TransferReport, server: &TransferReport) -> Option<String> {
    let normal = |r: &TransferReport| r.closed.is_some_and(|(_, reason)| reason == CloseReason::Normal);
    if client.sha256_sent != server.sha256_received {
        Some("the data arrived corrupted (sha256 mismatch)".to_owned())
    } else if !(normal(client) && normal(server)) {
        Some("the connection did not close normally".to_owned())
    } else {
        None
    }
}

fn link_reports(sim: &Sim) -> Vec<LinkReport> {
    let dirs = [(Direction::AToB, "client_to_server"), (Direction::BToA, "server_to_client")];
    let link = |path, (dir, direction)| {
        let stats = sim.link_stats(path, dir);
        LinkReport {
            path,
            direction,
            packets: stats.offered.packets,
            dropped_queue_full: stats.dropped_queue_full.packets,
            dropped_loss: stats.dropped_loss.packets,
        }
    };
    (0..sim.paths().len()).flat_map(|p| dirs.map(|d| link(p, d))).collect()
}

/// The statistics of a host's connection, while the endpoint still has it.
fn connection_stats(host: &EndpointHost) -> Option<ConnectionStats> {
    host.transfer.connection().and_then(|h| host.endpoint.connection(h)).map(|c| c.stats())
}

fn subflow_reports(stats: ConnectionStats) -> Vec<SubflowReport> {
    let subflow = |s: SubflowSnapshot| SubflowReport {
        id: s.id,
        local: s.local,
        remote: s.remote,
        bytes_sent: s.stats.bytes_sent,
        bytes_retransmitted: s.stats.bytes_retransmitted,
        retransmits: s.stats.retransmits,
        rto_count: s.stats.rto_count,
        srtt_us: s.srtt.map(|d| d.as_micros() as u64),
        cwnd: s.cwnd,
        backup: s.backup,
        joined: s.joined,
    };
    stats.subflows.into_iter().map(subflow).collect()
}
