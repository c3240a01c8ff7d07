//! `mptcp bench`: our stack against itself, then the Linux kernel's MPTCP against itself, over
//! the same N paths between two network namespaces ([`crate::topology`]), side by side.
//!
//! The stack's two endpoints run in this process, each on a thread that entered its namespace,
//! each with its own [`EventLoop`] over one TUN device per path. The kernel's run uses
//! `IPPROTO_MPTCP` sockets on threads in the same namespaces ([`crate::kernel`]), with the
//! in-kernel path manager set to open a subflow per path. Everything made is inside the two
//! namespaces, which are deleted when the topology drops: at the end, on failure, and on
//! SIGINT/SIGTERM (caught by a [`SignalCatcher`] for the whole run).
//!
//! Without CAP_NET_ADMIN, `/dev/net/tun` or the `ip` command (or with `--simulate`), the stack's
//! run goes through the simulator (`mptcp sim`'s code) with the same paths, rates and bytes,
//! labelled as simulated.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use mptcp_tun_driver::emulator::bridge::Bridge;
use mptcp_tun_driver::emulator::{Dir, Emulator, Schedule};
use mptcp_tun_driver::event_loop::{EventLoop, LoopConfig, PathDevice, StopHandle, endpoint_config, os_endpoint};
use mptcp_tun_driver::netns::has_net_admin;
use mptcp_tun_driver::path_io::Clock;
use mptcp_tun_driver::signals::SignalCatcher;
use mptcp_tun_driver::stack::connection::{CloseReason, ConnectionStats};
use mptcp_tun_driver::stack::endpoint::EndpointConfig;
use mptcp_tun_driver::stack::time::Instant;
use mptcp_tun_driver::transfer::{Role, Transfer, TransferReport};
use serde::Serialize;

use crate::args::{Amount, BenchArgs, MultipathArgs, PathArgs, SimArgs};
use crate::emulation::Emulation;
use crate::kernel::{self, KernelOutcome};
use crate::observe::{self, ObserveArgs};
use crate::report::SimReport;
use crate::topology::{self, Topology, kernel_client, kernel_server, stack_client, stack_server, tun};
use crate::units::{format_rate, format_size};

/// Exit status when the bench cannot run (namespaces, devices, commands).
const CANNOT_RUN: u8 = 3;
/// The servers' port.
const PORT: u16 = 5201;
/// Seed of the stack client's data.
const SEED: u64 = 1;
/// What an unshaped path is simulated as.
const SIM_UNSHAPED_BPS: u64 = 1_000_000_000;
/// One-way delay of a simulated path (a veth and a TUN device take tens of microseconds).
const SIM_DELAY: Duration = Duration::from_micros(50);
/// How long one side may take to close after the other finished.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Said whenever the stack has more than one path to use.
/// What the kernel side runs with (the namespaces' defaults plus a `subflow` endpoint per path).
const KERNEL_SETUP: &str = "in-kernel path manager (a subflow endpoint per path), default scheduler, cubic";

/// One subflow of a client, ours or the kernel's.
#[derive(Debug, Serialize)]
pub(crate) struct BenchSubflow {
    pub(crate) id: u32,
    /// The path it used (by its client-side address); null if unknown.
    pub(crate) path: Option<usize>,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) remote: Option<SocketAddr>,
    /// Payload bytes sent, retransmissions included.
    pub(crate) bytes_sent: u64,
    /// `bytes_sent` over all subflows' (0 to 1).
    pub(crate) share: f64,
    /// Payload bytes retransmitted.
    pub(crate) bytes_retransmitted: u64,
    /// Segments retransmitted.
    pub(crate) retransmits: u64,
    pub(crate) srtt_us: Option<u64>,
}

/// One side of the comparison.
#[derive(Debug, Serialize)]
pub(crate) struct PeerReport {
    pub(crate) ok: bool,
    pub(crate) error: Option<String>,
    /// `bytes` × 8 / `seconds` / 10^6.
    pub(crate) goodput_mbps: f64,
    /// What the server read.
    pub(crate) bytes: u64,
    /// From the server's establishment (accept) to its end of stream, or to the stop with `--time`.
    pub(crate) seconds: f64,
    /// MPTCP in use at the end (false after fallback); null if never established.
    pub(crate) mptcp: Option<bool>,
    /// Segments retransmitted, all subflows together.
    pub(crate) retransmits: u64,
    /// The kernel's data-level retransmissions (`mptcpi_retransmits`); null for the stack.
    pub(crate) mptcp_retransmits: Option<u64>,
    /// How this side ran (e.g. simulated) or what to keep in mind reading it.
    pub(crate) note: Option<String>,
    /// The client's subflows.
    pub(crate) subflows: Vec<BenchSubflow>,
}

/// One path of the bench.
#[derive(Debug, Serialize)]
struct PathInfo {
    path: usize,
    /// tbf rate in both directions (the emulator's with `emulated`); null: unshaped (or,
    /// simulated, 1 Gbit/s).
    rate_bps: Option<u64>,
    /// The link emulator's settings of this path, if emulated.
    emulated: Option<String>,
    stack_client: IpAddr,
    stack_server: IpAddr,
    kernel_client: IpAddr,
    kernel_server: IpAddr,
}

/// The whole result.
#[derive(Debug, Serialize)]
struct BenchReport {
    /// The stack ran in the simulator (virtual time), not over TUN devices.
    simulated: bool,
    /// Why it was simulated.
    simulated_because: Option<String>,
    /// The two namespaces (removed again by the end).
    namespaces: Option<[String; 2]>,
    paths: Vec<PathInfo>,
    /// `--bytes` (null with `--time`).
    bytes: Option<u64>,
    /// `--time` (null with `--bytes`).
    time_seconds: Option<f64>,
    stack: Option<PeerReport>,
    kernel: Option<PeerReport>,
}

/// `mptcp bench`.
pub(crate) fn main(a: &BenchArgs) -> ExitCode {
    let catcher = match SignalCatcher::install() {
        Ok(c) => c,
        Err(e) => return cannot_run(&format!("cannot install SIGINT/SIGTERM handlers: {e}")),
    };
    let interrupted = || catcher.caught().is_some();
    let mut report = BenchReport {
        simulated: false,
        simulated_because: None,
        namespaces: None,
        paths: path_infos(a),
        bytes: match a.amount {
            Amount::Bytes(b) => Some(b),
            Amount::Time(_) => None,
        },
        time_seconds: match a.amount {
            Amount::Time(t) => Some(t.as_secs_f64()),
            Amount::Bytes(_) => None,
        },
        stack: None,
        kernel: None,
    };
    if let Some(why) = why_simulated(a) {
        if !a.peer.stack() {
            return cannot_run(&format!("bench: {why}: the kernel's MPTCP cannot run in the simulator"));
        }
        eprintln!("mptcp bench: {why}; running the same experiment in the simulator instead (simulated)");
        report.simulated = true;
        report.simulated_because = Some(why);
        report.stack = Some(simulated(a));
        return finish(&report, a, catcher.caught());
    }
    let limit = time_limit(a);
    let topo = match Topology::build(&a.rates, a.emulation.is_some(), &interrupted) {
        Ok(t) => t,
        Err(_) if interrupted() => {
            eprintln!("mptcp bench: interrupted while setting up; what was made is removed");
            return exit_for_signal(catcher.caught());
        }
        Err(e) => return cannot_run(&format!("bench: setting up the namespaces: {e}")),
    };
    report.namespaces = Some([topo.a.name().to_owned(), topo.b.name().to_owned()]);
    if !a.json {
        print!("{}", header(a, &topo));
    }
    if a.peer.stack() && !interrupted() {
        let run = || run_stack(&topo, a, limit, &interrupted);
        report.stack = Some(bridged(&topo, a.emulation.as_ref(), false, run));
    }
    if a.peer.kernel() && !interrupted() {
        report.kernel = Some(match topo.kernel_path_manager() {
            Ok(()) => {
                let listen = SocketAddr::new(kernel_server(0), PORT);
                let run = || kernel_report(kernel::run(&topo, listen, a.amount, limit, &interrupted), topo.paths);
                bridged(&topo, a.emulation.as_ref(), true, run)
            }
            Err(e) => failed(format!("configuring the kernel's path manager: {e}")),
        });
    }
    drop(topo);
    finish(&report, a, catcher.caught())
}

/// Runs `run` with the emulator's bridge between the namespaces when the paths are bridged
/// (`emulation`): through the emulated links (`emulate`, the kernel's run), or passing packets
/// through untouched (the stack's run, which emulates its links in its own driver), so that both
/// runs cross the same devices and the emulation happens once.
fn bridged(
    topo: &Topology,
    emulation: Option<&Emulation>,
    emulate: bool,
    run: impl FnOnce() -> PeerReport,
) -> PeerReport {
    let Some(e) = emulation else { return run() };
    let clock = Clock::new();
    let emulator = if emulate {
        e.emulator(&Dir::BOTH, clock.now())
    } else {
        Emulator::new(vec![[None, None]; topo.paths], Schedule::default(), 0, clock.now())
    };
    let mut bridge = match topo.bridge_pairs().and_then(|pairs| Bridge::new(pairs, emulator, clock)) {
        Ok(b) => b,
        Err(e) => return failed(format!("starting the emulator's bridge: {e}")),
    };
    let stop = bridge.stop_handle();
    let thread = std::thread::spawn(move || bridge.run());
    let mut report = run();
    stop.stop();
    let error = match thread.join() {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("the emulator's bridge failed: {e}")),
        Err(_) => Some("the emulator's bridge panicked".to_owned()),
    };
    if let Some(e) = error.filter(|_| report.ok) {
        report.ok = false;
        report.error = Some(e);
    }
    report
}

/// Prints the report; the exit status.
fn finish(report: &BenchReport, a: &BenchArgs, signal: Option<i32>) -> ExitCode {
    if a.json {
        println!("{}", serde_json::to_string(report).expect("a report of plain numbers and strings serializes"));
    } else {
        print!("{}", text(report));
    }
    if signal.is_some() {
        return exit_for_signal(signal);
    }
    let ok = [&report.stack, &report.kernel].iter().all(|r| r.as_ref().is_none_or(|r| r.ok));
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn cannot_run(msg: &str) -> ExitCode {
    eprintln!("mptcp: {msg}");
    ExitCode::from(CANNOT_RUN)
}

/// 128 + the signal, as shells report a process killed by it.
fn exit_for_signal(signal: Option<i32>) -> ExitCode {
    ExitCode::from(128u8.saturating_add(signal.unwrap_or(2) as u8))
}

/// Why the namespaces cannot be made here, or `--simulate`.
fn why_simulated(a: &BenchArgs) -> Option<String> {
    if a.simulate {
        return Some("--simulate given".to_owned());
    }
    if has_net_admin() != Some(true) {
        return Some("not running as root (CAP_NET_ADMIN is needed for namespaces and TUN devices)".to_owned());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".to_owned());
    }
    let works =
        |cmd: &str, arg: &str| std::process::Command::new(cmd).arg(arg).output().is_ok_and(|o| o.status.success());
    if !works("ip", "-V") {
        return Some("the `ip` command (iproute2) is missing".to_owned());
    }
    if a.rates.iter().any(Option::is_some) && a.emulation.is_none() && !works("tc", "-V") {
        return Some("the `tc` command (iproute2) is missing".to_owned());
    }
    None
}

fn path_infos(a: &BenchArgs) -> Vec<PathInfo> {
    let info = |(i, rate): (usize, &Option<u64>)| PathInfo {
        path: i,
        rate_bps: *rate,
        emulated: a.emulation.as_ref().map(|e| e.describe(i)),
        stack_client: stack_client(i),
        stack_server: stack_server(i),
        kernel_client: kernel_client(i),
        kernel_server: kernel_server(i),
    };
    a.rates.iter().enumerate().map(info).collect()
}

/// Twenty times the ideal transfer time at the slowest path's rate (unshaped: 100 Mbit/s) plus
/// 30 s, for each of the two transfers; with `--time`, that time plus 30 s.
fn time_limit(a: &BenchArgs) -> Duration {
    match a.amount {
        Amount::Time(t) => t + Duration::from_secs(30),
        Amount::Bytes(b) => {
            let slowest = a.rates.iter().map(|r| r.unwrap_or(100_000_000)).min().unwrap_or(100_000_000);
            Duration::from_secs_f64(20.0 * b as f64 * 8.0 / slowest as f64 + 30.0)
        }
    }
}

fn header(a: &BenchArgs, topo: &Topology) -> String {
    let what = match a.amount {
        Amount::Bytes(b) => format!("{} ({b} bytes)", format_size(b)),
        Amount::Time(t) => format!("{:.1} s", t.as_secs_f64()),
    };
    let mut out = format!(
        "mptcp bench: {what} client to server over {} path(s), namespaces {} (client) and {} (server)\n",
        topo.paths,
        topo.a.name(),
        topo.b.name()
    );
    for (i, rate) in a.rates.iter().enumerate() {
        let rate = match &a.emulation {
            Some(e) => e.describe(i),
            None => rate.map_or_else(|| "unshaped".to_owned(), |r| format!("{} each way (tbf)", format_rate(r))),
        };
        let _ = writeln!(
            out,
            "  path {i}  stack {} -> {}, kernel {} -> {}, {rate}",
            stack_client(i),
            stack_server(i),
            kernel_client(i),
            kernel_server(i)
        );
    }
    if a.peer.stack() {
        let _ = writeln!(out, "stack: {}", describe(&a.multipath));
    }
    if a.peer.kernel() {
        let _ = writeln!(out, "kernel: {KERNEL_SETUP}");
    }
    out
}

/// The stack's multipath settings in words.
fn describe(m: &MultipathArgs) -> String {
    format!("scheduler {}, congestion control {}, path manager {}", m.scheduler, m.cc, m.path_manager)
}

fn failed(error: String) -> PeerReport {
    PeerReport {
        ok: false,
        error: Some(error),
        goodput_mbps: 0.0,
        bytes: 0,
        seconds: 0.0,
        mptcp: None,
        retransmits: 0,
        mptcp_retransmits: None,
        note: None,
        subflows: Vec::new(),
    }
}

fn goodput(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 { bytes as f64 * 8.0 / seconds / 1e6 } else { 0.0 }
}

/// Fills in each subflow's share of the bytes sent.
fn with_shares(mut subflows: Vec<BenchSubflow>) -> Vec<BenchSubflow> {
    let total: u64 = subflows.iter().map(|s| s.bytes_sent).sum();
    for s in &mut subflows {
        s.share = if total > 0 { s.bytes_sent as f64 / total as f64 } else { 0.0 };
    }
    subflows
}

// ---------------------------------------------------------------------------------------------
// The stack over TUN devices.

/// What one of the stack's endpoints did.
#[derive(Debug)]
struct StackEnd {
    report: TransferReport,
    stats: Option<ConnectionStats>,
    /// The loop's clock when it stopped.
    now: Instant,
}

/// Runs one endpoint over `paths` (device, address) on the calling thread (which entered its
/// namespace) until its connection closes, `limit` passes, or it is stopped. Sends its stop
/// handle once it listens or connects.
fn stack_end(
    paths: Vec<(String, IpAddr)>,
    role: Role,
    limit: Duration,
    multipath: MultipathArgs,
    observe: Option<ObserveArgs>,
    emulation: Option<(Emulation, Dir)>,
    handle: mpsc::Sender<StopHandle>,
) -> Result<StackEnd, String> {
    let devices = paths
        .iter()
        .map(|(dev, ip)| PathDevice::open(dev, *ip))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut base = EndpointConfig::default();
    multipath.apply(&mut base.connection);
    let config = endpoint_config(base, &devices);
    let endpoint = os_endpoint(config).map_err(|e| e.to_string())?;
    let mut lp = EventLoop::new(endpoint, Transfer::new(role, false), devices, LoopConfig::default())
        .map_err(|e| e.to_string())?;
    // Each end emulates the direction it sends; its peer emulates the other.
    if let Some((e, outbound)) = &emulation {
        lp.set_emulator(e.emulator(&[*outbound], lp.now()), *outbound);
    }
    if let Some(o) = &observe {
        o.attach(&mut lp)?;
    }
    lp.start().map_err(|e| e.to_string())?;
    let _ = handle.send(lp.stop_handle());
    lp.run(|t| t.is_closed(), Some(limit), |_| {}).map_err(|e| e.to_string())?;
    if let Some(o) = &observe {
        observe::finish_capture(lp.take_capture())?;
        o.write(lp.transfer(), "mptcp bench: our stack's client", 1)?;
    }
    let t = lp.transfer();
    Ok(StackEnd { report: t.report(), stats: t.stats(lp.endpoint()), now: lp.now() })
}

type EndThread = JoinHandle<std::io::Result<Result<StackEnd, String>>>;

/// Waits for a thread's stop handle; `None` if it ended first (then it failed) or on a signal.
fn wait_for_handle(
    rx: &mpsc::Receiver<StopHandle>,
    thread: &EndThread,
    interrupted: &dyn Fn() -> bool,
) -> Option<StopHandle> {
    loop {
        if let Ok(h) = rx.recv_timeout(Duration::from_millis(10)) {
            return Some(h);
        }
        if thread.is_finished() || interrupted() {
            return None;
        }
    }
}

fn join_end(thread: EndThread, who: &str) -> Result<StackEnd, String> {
    match thread.join() {
        Ok(Ok(Ok(end))) => Ok(end),
        Ok(Ok(Err(e))) => Err(format!("stack {who}: {e}")),
        Ok(Err(e)) => Err(format!("stack {who}: cannot enter its namespace: {e}")),
        Err(_) => Err(format!("stack {who}: the thread panicked")),
    }
}

fn run_stack(topo: &Topology, a: &BenchArgs, limit: Duration, interrupted: &dyn Fn() -> bool) -> PeerReport {
    let (n, amount, multipath) = (topo.paths, a.amount, a.multipath);
    let listen = SocketAddr::new(stack_server(0), PORT);
    let (tx, rx) = mpsc::channel();
    let server_paths = (0..n).map(|i| (tun(i), stack_server(i))).collect();
    let server_tx = tx.clone();
    let server_emulation = a.emulation.clone().map(|e| (e, Dir::Reverse));
    let server = topo.b.spawn(move || {
        stack_end(server_paths, Role::Server { listen }, limit, multipath, None, server_emulation, server_tx)
    });
    let Some(server_stop) = wait_for_handle(&rx, &server, interrupted) else {
        if !server.is_finished() {
            // Interrupted while the server was starting: it sends its handle soon after.
            if let Ok(h) = rx.recv_timeout(Duration::from_secs(5)) {
                h.stop();
            }
        }
        return failed(join_end(server, "server").err().unwrap_or_else(|| "interrupted".to_owned()));
    };
    let (bytes, client_limit) = match amount {
        Amount::Bytes(b) => (b, limit),
        Amount::Time(t) => (u64::MAX / 2, t),
    };
    let client_paths = (0..n).map(|i| (tun(i), stack_client(i))).collect();
    let role = Role::Client { local: stack_client(0), remote: listen, bytes, seed: SEED };
    let observe = a.observe.clone();
    let client_emulation = a.emulation.clone().map(|e| (e, Dir::Forward));
    let client = topo
        .a
        .spawn(move || stack_end(client_paths, role, client_limit, multipath, Some(observe), client_emulation, tx));
    let client_stop = wait_for_handle(&rx, &client, interrupted);
    let mut was_interrupted = false;
    let mut first_done: Option<std::time::Instant> = None;
    loop {
        let stop_all = |server_stop: &StopHandle| {
            server_stop.stop();
            if let Some(c) = &client_stop {
                c.stop();
            }
        };
        if interrupted() && !was_interrupted {
            was_interrupted = true;
            stop_all(&server_stop);
        }
        let (c, s) = (client.is_finished(), server.is_finished());
        if c && s {
            break;
        }
        if c || s {
            let since = *first_done.get_or_insert_with(std::time::Instant::now);
            // With --time the client stops at its deadline and the server must be stopped.
            if matches!(amount, Amount::Time(_)) || since.elapsed() > CLOSE_GRACE {
                stop_all(&server_stop);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (server, client) = (join_end(server, "server"), join_end(client, "client"));
    let (s, c) = match (server, client) {
        (Ok(s), Ok(c)) => (s, c),
        (Err(e), _) | (_, Err(e)) => return failed(e),
    };
    stack_report(&s, &c, amount, was_interrupted, n)
}

fn stack_report(s: &StackEnd, c: &StackEnd, amount: Amount, interrupted: bool, paths: usize) -> PeerReport {
    let (sr, cr) = (&s.report, &c.report);
    let seconds = match sr.established_at {
        Some(at) => sr.eof_at.unwrap_or(s.now).saturating_duration_since(at).as_secs_f64(),
        None => 0.0,
    };
    let normal = |r: &TransferReport| r.closed.is_some_and(|(_, reason)| reason == CloseReason::Normal);
    let abnormal = |r: &TransferReport| r.closed.is_some_and(|(_, reason)| reason != CloseReason::Normal);
    let error = if interrupted {
        Some("interrupted".to_owned())
    } else if sr.established_at.is_none() {
        Some("the connection was not established".to_owned())
    } else {
        match amount {
            Amount::Bytes(b) if sr.bytes_received != b || sr.eof_at.is_none() => {
                Some(format!("the server received {} of {b} bytes", sr.bytes_received))
            }
            Amount::Bytes(_) if cr.sha256_sent != sr.sha256_received => {
                Some("the data arrived corrupted (sha256 mismatch)".to_owned())
            }
            Amount::Bytes(_) if !(normal(cr) && normal(sr)) => Some(format!(
                "the connection did not close normally (client {:?}, server {:?})",
                cr.closed.map(|c| c.1),
                sr.closed.map(|c| c.1)
            )),
            Amount::Time(_) if abnormal(cr) || abnormal(sr) => Some("the connection ended abnormally".to_owned()),
            Amount::Time(_) if sr.bytes_received == 0 => Some("nothing arrived".to_owned()),
            _ => None,
        }
    };
    let subflows = c.stats.as_ref().map(|st| st.subflows.as_slice()).unwrap_or_default();
    let subflows: Vec<BenchSubflow> = subflows
        .iter()
        .map(|sf| BenchSubflow {
            id: sf.id,
            path: topology::path_of(sf.local.ip(), paths),
            local: Some(sf.local),
            remote: Some(sf.remote),
            bytes_sent: sf.stats.bytes_sent,
            bytes_retransmitted: sf.stats.bytes_retransmitted,
            share: 0.0,
            retransmits: sf.stats.retransmits,
            srtt_us: sf.srtt.map(|d| d.as_micros() as u64),
        })
        .collect();
    PeerReport {
        ok: error.is_none(),
        error,
        goodput_mbps: goodput(sr.bytes_received, seconds),
        bytes: sr.bytes_received,
        seconds,
        mptcp: cr.mptcp,
        retransmits: subflows.iter().map(|s| s.retransmits).sum(),
        mptcp_retransmits: None,
        note: None,
        subflows: with_shares(subflows),
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel.

fn kernel_report(k: KernelOutcome, paths: usize) -> PeerReport {
    let subflows: Vec<BenchSubflow> = k
        .subflows
        .iter()
        .enumerate()
        .map(|(i, sf)| BenchSubflow {
            id: i as u32,
            path: sf.local.and_then(|a| topology::path_of(a.ip(), paths)),
            local: sf.local,
            remote: sf.remote,
            bytes_sent: sf.bytes_sent,
            bytes_retransmitted: sf.bytes_retransmitted,
            share: 0.0,
            retransmits: sf.retransmits,
            srtt_us: Some(sf.srtt_us),
        })
        .collect();
    let mut error = k.error;
    if error.is_none() && k.bytes_received != k.bytes_sent {
        error = Some(format!("the server received {} of {} bytes", k.bytes_received, k.bytes_sent));
    }
    if error.is_none() && k.mptcp == Some(false) {
        error = Some("the kernel fell back to TCP".to_owned());
    }
    let used = subflows.len();
    PeerReport {
        ok: error.is_none(),
        error,
        goodput_mbps: goodput(k.bytes_received, k.seconds),
        bytes: k.bytes_received,
        seconds: k.seconds,
        mptcp: k.mptcp,
        retransmits: subflows.iter().map(|s| s.retransmits).sum(),
        mptcp_retransmits: k.mptcp_retransmits,
        note: (used < paths).then(|| format!("{used} of {paths} paths in use")),
        subflows: with_shares(subflows),
    }
}

// ---------------------------------------------------------------------------------------------
// The simulator.

/// The stack's run in the simulator: the same paths and rates (unshaped ones at 1 Gbit/s, 50 µs
/// one way), the same bytes (with `--time`, what the paths' rates carry in that time).
fn simulated(a: &BenchArgs) -> PeerReport {
    let paths: Vec<PathArgs> = a
        .rates
        .iter()
        .enumerate()
        .map(|(i, r)| {
            // The simulator's paths take the emulator's delay and random loss (not its jitter,
            // bursty loss, reordering or schedule).
            let link = a.emulation.as_ref().and_then(|e| e.links.get(i));
            let delay = link.map_or(SIM_DELAY, |l| l.delay.max(SIM_DELAY));
            PathArgs { rate_bps: r.unwrap_or(SIM_UNSHAPED_BPS), delay, loss: link.map_or(0.0, |l| l.loss) }
        })
        .collect();
    let bytes = match a.amount {
        Amount::Bytes(b) => b,
        Amount::Time(t) => {
            let bps: u64 = paths.iter().map(|p| p.rate_bps).sum();
            ((bps as f64 / 8.0 * t.as_secs_f64()) as u64).max(1)
        }
    };
    let args = SimArgs { paths, bytes, seed: SEED, json: a.json, multipath: a.multipath, observe: a.observe.clone() };
    let r: SimReport = crate::sim::run(&args, crate::sim::time_limit(&args));
    let n = a.rates.len();
    let subflows = r
        .subflows
        .iter()
        .map(|s| BenchSubflow {
            id: s.id,
            path: (0..n).find(|&i| s.local.ip() == crate::sim::client_addr(i)),
            local: Some(s.local),
            remote: Some(s.remote),
            bytes_sent: s.bytes_sent,
            bytes_retransmitted: s.bytes_retransmitted,
            share: 0.0,
            retransmits: s.retransmits,
            srtt_us: s.srtt_us,
        })
        .collect();
    let note = Some("simulated".to_owned());
    PeerReport {
        ok: r.ok,
        error: r.error,
        goodput_mbps: r.goodput_mbps,
        bytes: r.bytes_received,
        seconds: r.seconds,
        mptcp: r.mptcp,
        retransmits: r.retransmits,
        mptcp_retransmits: None,
        note,
        subflows: with_shares(subflows),
    }
}

// ---------------------------------------------------------------------------------------------
// Text.

fn text(r: &BenchReport) -> String {
    let mut out = String::new();
    if r.simulated {
        let what = match (r.bytes, r.time_seconds) {
            (Some(b), _) => format!("{} ({b} bytes)", format_size(b)),
            (None, Some(t)) => format!("what the paths carry in {t:.1} s"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "mptcp bench (SIMULATED, virtual time): {what} client to server over {} path(s)",
            r.paths.len()
        );
        for p in &r.paths {
            let rate = p.rate_bps.map_or_else(|| format!("{} (unshaped)", format_rate(SIM_UNSHAPED_BPS)), format_rate);
            let _ = writeln!(out, "  path {}  {rate}, {} us one way", p.path, SIM_DELAY.as_micros());
        }
        let _ = writeln!(out, "kernel: not run (the kernel's MPTCP cannot run in the simulator)");
    }
    let peers: Vec<(&str, &PeerReport)> = [("stack", &r.stack), ("kernel", &r.kernel)]
        .into_iter()
        .filter_map(|(n, p)| p.as_ref().map(|p| (n, p)))
        .collect();
    if peers.is_empty() {
        return out;
    }
    out.push('\n');
    let row = |out: &mut String, name: &str, cells: Vec<String>| {
        let _ = write!(out, "{name:<14}");
        for c in cells {
            let _ = write!(out, "  {c:<22}");
        }
        out.push('\n');
    };
    let label = |n: &str| if r.simulated { format!("{n} (simulated)") } else { n.to_owned() };
    row(&mut out, "", peers.iter().map(|(n, _)| label(n)).collect());
    row(&mut out, "goodput", peers.iter().map(|(_, p)| format!("{:.2} Mbit/s", p.goodput_mbps)).collect());
    row(&mut out, "bytes", peers.iter().map(|(_, p)| p.bytes.to_string()).collect());
    row(&mut out, "time", peers.iter().map(|(_, p)| format!("{:.3} s", p.seconds)).collect());
    let protocol = |p: &PeerReport| match p.mptcp {
        Some(true) => "MPTCP",
        Some(false) => "fallback to TCP",
        None => "not established",
    };
    row(&mut out, "protocol", peers.iter().map(|(_, p)| protocol(p).to_owned()).collect());
    row(&mut out, "subflows", peers.iter().map(|(_, p)| p.subflows.len().to_string()).collect());
    let retrans = |p: &PeerReport| match p.mptcp_retransmits {
        Some(m) => format!("{} segments, {m} data-level", p.retransmits),
        None => format!("{} segments", p.retransmits),
    };
    row(&mut out, "retransmits", peers.iter().map(|(_, p)| retrans(p)).collect());
    let result = |p: &PeerReport| match &p.error {
        None => "ok".to_owned(),
        Some(e) => format!("FAILED: {e}"),
    };
    row(&mut out, "result", peers.iter().map(|(_, p)| result(p)).collect());
    for (name, p) in &peers {
        let _ = writeln!(
            out,
            "\n{} client's subflows{}",
            label(name),
            p.note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "{:>7}  {:>4}  {:<21}  {:<21}  {:>12}  {:>6}  {:>11}  {:>8}",
            "subflow", "path", "local", "remote", "bytes sent", "share", "retransmits", "srtt ms"
        );
        for s in &p.subflows {
            let opt = |a: Option<SocketAddr>| a.map_or_else(|| "-".to_owned(), |a| a.to_string());
            let srtt = s.srtt_us.map_or_else(|| "-".to_owned(), |us| format!("{:.2}", us as f64 / 1e3));
            let path = s.path.map_or_else(|| "-".to_owned(), |p| p.to_string());
            let _ = writeln!(
                out,
                "{:>7}  {path:>4}  {:<21}  {:<21}  {:>12}  {:>5.1}%  {:>11}  {srtt:>8}",
                s.id,
                opt(s.local),
                opt(s.remote),
                s.bytes_sent,
                s.share * 100.0,
                s.retransmits
            );
        }
    }
    out
}
