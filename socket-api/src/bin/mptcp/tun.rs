//! `mptcp server` and `mptcp client`: one bulk transfer (or, with `--keep-going`, one after
//! another) over TUN devices, against our own stack or any TCP/MPTCP peer such as the Linux
//! kernel. Each `--path DEV=IP` attaches (or creates) a TUN device; the first path carries the
//! initial subflow, and the path manager opens (client) or announces (server) the others.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use mptcp_tun_driver::emulator::Dir;
use mptcp_tun_driver::event_loop::{
    EventLoop, LoopConfig, LoopError, PathDevice, Progress, StopReason, endpoint_config, os_endpoint,
};
use mptcp_tun_driver::stack::connection::path_manager::LocalAddress;
use mptcp_tun_driver::stack::connection::{CloseReason, ConnectionStats};
use mptcp_tun_driver::stack::endpoint::EndpointConfig;
use mptcp_tun_driver::transfer::{Role, Transfer};
use serde::Serialize;

use crate::args::{ClientArgs, MultipathArgs, ServerArgs, TunPath};
use crate::emulation::Emulation;
use crate::observe::{self, ObserveArgs};
use crate::units::format_size;

/// Exit status when the program cannot run at all (device, permissions, signal handlers).
const CANNOT_RUN: u8 = 3;

/// Seed of the client's data (the server hashes what it gets, so any seed would do).
const SEED: u64 = 1;

/// One subflow in the report.
#[derive(Debug, Serialize)]
struct SubflowReport {
    id: u32,
    local: SocketAddr,
    remote: SocketAddr,
    /// Payload bytes sent, retransmissions included.
    bytes_sent: u64,
    bytes_received: u64,
    /// Segments retransmitted.
    retransmits: u64,
    srtt_us: Option<u64>,
    /// A backup subflow (our `--path ...,backup`, or the peer's MP_JOIN B flag / MP_PRIO).
    backup: bool,
    /// Opened by MP_JOIN (false for the initial subflow).
    joined: bool,
}

/// What one connection did.
#[derive(Debug, Serialize)]
struct TunReport {
    ok: bool,
    error: Option<String>,
    /// `client` or `server`.
    role: &'static str,
    /// The peer, once connected.
    remote: Option<SocketAddr>,
    /// The payload that counts: what the client sent (client), what the server received (server).
    bytes: u64,
    bytes_sent: u64,
    bytes_received: u64,
    /// From establishment to the peer's end of stream.
    seconds: f64,
    /// `bytes` over `seconds`.
    goodput_mbps: f64,
    /// SHA-256 of what the client sent (client) or of what the server received (server).
    sha256: String,
    /// SHA-256 of the other direction (the echo, at the client; what was echoed, at the server).
    sha256_other: String,
    /// MPTCP in use (false after fallback); null if never established.
    mptcp: Option<bool>,
    /// How the connection ended (`Normal`, `Reset(..)`, ...); null if still open.
    close: Option<String>,
    /// Stopped by SIGINT or SIGTERM.
    interrupted: bool,
    subflows: Vec<SubflowReport>,
}

/// `mptcp server`.
pub(crate) fn server(a: &ServerArgs) -> ExitCode {
    let role = Role::Server { listen: a.listen };
    let mut lp = match setup(&a.paths, role.clone(), a.echo, &a.multipath, a.emulation.as_ref()) {
        Ok(lp) => lp,
        Err(e) => return fail(&e),
    };
    if let Err(e) = a.observe.attach(&mut lp) {
        return fail(&e);
    }
    if !a.json {
        eprintln!("mptcp server: listening on {} ({})", a.listen, describe_paths(lp.paths()));
    }
    let mut worst = ExitCode::SUCCESS;
    let mut nth = 0;
    loop {
        nth += 1;
        let stop = match lp.run(|t| t.is_closed(), None, progress_printer(true)) {
            Ok(s) => s,
            Err(e) => return fail(&e),
        };
        end_progress();
        let signal = signal_of(stop);
        if lp.transfer().connection().is_none() && signal.is_some() {
            // Interrupted while waiting: nothing to report.
            return exit_for_signal(signal);
        }
        let r = report(&lp, false, signal.is_some(), None);
        print_report(&r, a.json);
        let last = signal.is_some() || !a.keep_going;
        if !r.ok || !write_observed(&mut lp, &a.observe, "mptcp server", nth, last) {
            worst = ExitCode::FAILURE;
        }
        if signal.is_some() {
            return exit_for_signal(signal);
        }
        if last {
            return worst;
        }
        let mut next = Transfer::new(role.clone(), a.echo);
        a.observe.prepare(&mut next);
        lp.replace_transfer(next);
        if let Err(e) = lp.start() {
            return fail(&e);
        }
    }
}

/// Writes what `--timeseries`, `--plot` and `--events` ask for about the loop's connection (the
/// `nth`), and with `last` ends the `--pcap` capture; an error goes to stderr (false).
fn write_observed(lp: &mut EventLoop, o: &ObserveArgs, title: &str, nth: usize, last: bool) -> bool {
    let mut written = o.write(lp.transfer(), title, nth);
    if last {
        written = written.and(observe::finish_capture(lp.take_capture()));
    }
    written.map_err(|e| eprintln!("mptcp: {e}")).is_ok()
}

/// `mptcp client`.
pub(crate) fn client(a: &ClientArgs) -> ExitCode {
    let role = Role::Client { local: a.paths[0].addr, remote: a.connect, bytes: a.send, seed: SEED };
    let mut lp = match setup(&a.paths, role, false, &a.multipath, a.emulation.as_ref()) {
        Ok(lp) => lp,
        Err(e) => return fail(&e),
    };
    if let Err(e) = a.observe.attach(&mut lp) {
        return fail(&e);
    }
    if !a.json {
        eprintln!(
            "mptcp client: {} ({} bytes) to {} ({})",
            format_size(a.send),
            a.send,
            a.connect,
            describe_paths(lp.paths())
        );
    }
    let stop = match lp.run(|t| t.is_closed(), None, progress_printer(false)) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    end_progress();
    let signal = signal_of(stop);
    let r = report(&lp, true, signal.is_some(), Some(a.send));
    print_report(&r, a.json);
    let written = write_observed(&mut lp, &a.observe, "mptcp client", 1, true);
    if signal.is_some() {
        exit_for_signal(signal)
    } else if r.ok && written {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn describe_paths(paths: &[PathDevice]) -> String {
    let one = |p: &PathDevice| {
        let how = if p.device.created() { "created" } else { "attached" };
        format!("{} {} {how}, MTU {}", p.device.name(), p.local, p.device.mtu())
    };
    paths.iter().map(one).collect::<Vec<_>>().join("; ")
}

/// Opens the devices and builds the endpoint, the application and the loop, and starts it.
/// With `emulation`, the link emulator sits between the endpoint and the devices, emulating both
/// directions (what this side sends travels forward from a client, in reverse from a server).
fn setup(
    paths: &[TunPath],
    role: Role,
    echo: bool,
    multipath: &MultipathArgs,
    emulation: Option<&Emulation>,
) -> Result<EventLoop, LoopError> {
    let devices = paths.iter().map(|p| PathDevice::open(&p.device, p.addr)).collect::<Result<Vec<_>, _>>()?;
    let mut base = EndpointConfig::default();
    multipath.apply(&mut base.connection);
    base.connection.addresses = paths.iter().map(|p| LocalAddress { ip: p.addr, backup: p.backup }).collect();
    let config = endpoint_config(base, &devices);
    let endpoint = os_endpoint(config)?;
    let config = LoopConfig { handle_signals: true, ..LoopConfig::default() };
    let outbound = if matches!(role, Role::Server { .. }) { Dir::Reverse } else { Dir::Forward };
    let mut lp = EventLoop::new(endpoint, Transfer::new(role, echo), devices, config)?;
    if let Some(e) = emulation {
        lp.set_emulator(e.emulator(&Dir::BOTH, lp.now()), outbound);
    }
    lp.start()?;
    Ok(lp)
}

fn fail(e: &impl std::fmt::Display) -> ExitCode {
    eprintln!("mptcp: {e}");
    ExitCode::from(CANNOT_RUN)
}

fn signal_of(stop: StopReason) -> Option<i32> {
    match stop {
        StopReason::Signal(s) => Some(s),
        StopReason::Stopped => Some(2),
        StopReason::Done | StopReason::Deadline => None,
    }
}

/// 128 + the signal, as shells report a process killed by it.
fn exit_for_signal(signal: Option<i32>) -> ExitCode {
    ExitCode::from(128u8.saturating_add(signal.unwrap_or(2) as u8))
}

/// Prints a progress line on stderr when it is a terminal.
fn progress_printer(server: bool) -> impl FnMut(&Progress) {
    let tty = std::io::stderr().is_terminal();
    let mut last = (0u64, 0.0f64);
    move |p: &Progress| {
        if !tty {
            return;
        }
        let secs = p.elapsed.as_secs_f64();
        let moved = if server { p.bytes_received } else { p.bytes_sent };
        let rate = if secs > last.1 { (moved - last.0.min(moved)) as f64 * 8.0 / (secs - last.1) / 1e6 } else { 0.0 };
        last = (moved, secs);
        let state = match p.mptcp {
            None => "connecting",
            Some(true) => "MPTCP",
            Some(false) => "TCP (fallback)",
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[K{secs:8.1} s  {state}  sent {}  received {}  {rate:.1} Mbit/s",
            format_size(p.bytes_sent),
            format_size(p.bytes_received)
        );
        let _ = err.flush();
    }
}

fn end_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}

/// The report of the loop's current connection. `expected`: what the client was to send.
fn report(lp: &EventLoop, client: bool, interrupted: bool, expected: Option<u64>) -> TunReport {
    let t = lp.transfer();
    let r = t.report();
    let stats = t.stats(lp.endpoint());
    let remote = stats.as_ref().and_then(|s| s.subflows.first()).map(|s| s.remote);
    let bytes = if client { r.bytes_sent } else { r.bytes_received };
    let seconds = match (r.established_at, r.eof_at.or(r.closed.map(|c| c.0))) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
        (Some(a), None) => lp.now().saturating_duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let goodput_mbps = if seconds > 0.0 { bytes as f64 * 8.0 / seconds / 1e6 } else { 0.0 };
    let close = r.closed.map(|(_, reason)| reason);
    let error = if interrupted {
        Some("interrupted".to_owned())
    } else {
        match close {
            None => Some("the connection is still open".to_owned()),
            Some(CloseReason::Normal) => None,
            Some(CloseReason::TimedOut) if r.established_at.is_none() => {
                Some("the peer did not answer (connection timed out)".to_owned())
            }
            Some(CloseReason::Reset(_)) if r.established_at.is_none() => {
                Some("connection refused (the peer answered with a reset)".to_owned())
            }
            Some(CloseReason::Reset(reason)) => Some(match reason {
                Some(reason) => format!("the peer reset the connection ({reason:?})"),
                None => "the peer reset the connection".to_owned(),
            }),
            Some(CloseReason::FastClose) => Some("the peer aborted the connection (MP_FASTCLOSE)".to_owned()),
            Some(CloseReason::TimedOut) => Some("the connection timed out (the peer stopped answering)".to_owned()),
            Some(other) => Some(format!("the connection ended abnormally ({other:?})")),
        }
    };
    let error = error.or_else(|| match expected {
        Some(n) if r.bytes_sent != n => Some(format!("only {} of {n} bytes were sent", r.bytes_sent)),
        // With --echo at the server, what comes back must be what went out.
        _ if client && r.bytes_received > 0 && r.sha256_received != r.sha256_sent => {
            Some("the echo differs from what was sent (sha256 mismatch)".to_owned())
        }
        _ => None,
    });
    let (sha256, sha256_other) =
        if client { (r.sha256_sent, r.sha256_received) } else { (r.sha256_received, r.sha256_sent) };
    TunReport {
        ok: error.is_none(),
        error,
        role: if client { "client" } else { "server" },
        remote,
        bytes,
        bytes_sent: r.bytes_sent,
        bytes_received: r.bytes_received,
        seconds,
        goodput_mbps,
        sha256,
        sha256_other,
        mptcp: r.mptcp,
        close: close.map(|c| format!("{c:?}")),
        interrupted,
        subflows: stats.map(subflow_reports).unwrap_or_default(),
    }
}

fn subflow_reports(stats: ConnectionStats) -> Vec<SubflowReport> {
    let subflow = |s: mptcp_tun_driver::stack::connection::SubflowSnapshot| SubflowReport {
        id: s.id,
        local: s.local,
        remote: s.remote,
        bytes_sent: s.stats.bytes_sent,
        bytes_received: s.stats.bytes_received,
        retransmits: s.stats.retransmits,
        srtt_us: s.srtt.map(|d| d.as_micros() as u64),
        backup: s.backup,
        joined: s.joined,
    };
    stats.subflows.into_iter().map(subflow).collect()
}

fn print_report(r: &TunReport, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).expect("a report of plain numbers and strings serializes"));
        return;
    }
    let line = |name: &str, value: String| println!("{name:<12} {value}");
    if let Some(remote) = r.remote {
        line("peer", remote.to_string());
    }
    line("bytes", format!("{} sent, {} received", r.bytes_sent, r.bytes_received));
    line("time", format!("{:.3} s (establishment to end of stream)", r.seconds));
    line("goodput", format!("{:.2} Mbit/s", r.goodput_mbps));
    line("protocol", crate::report::protocol_label(r.mptcp).to_owned());
    line(if r.role == "client" { "sha256 sent" } else { "sha256 recv" }, r.sha256.clone());
    line("close", r.close.clone().unwrap_or_else(|| "open".to_owned()));
    if !r.subflows.is_empty() {
        println!(
            "\n{:>7}  {:<40}  {:<40}  {:>12}  {:>12}  {:>11}  {:>8}",
            "subflow", "local", "remote", "bytes sent", "bytes recv", "retransmits", "srtt ms"
        );
        for s in &r.subflows {
            let srtt = s.srtt_us.map_or_else(|| "-".to_owned(), |us| format!("{:.2}", us as f64 / 1e3));
            println!(
                "{:>7}  {:<40}  {:<40}  {:>12}  {:>12}  {:>11}  {srtt:>8}",
                s.id,
                s.local.to_string(),
                s.remote.to_string(),
                s.bytes_sent,
                s.bytes_received,
                s.retransmits
            );
        }
        println!();
    }
    match &r.error {
        None => line("result", "ok".to_owned()),
        Some(e) => line("result", format!("FAILED: {e}")),
    }
}
