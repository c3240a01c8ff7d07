//! The command line: which subcommand, and its options checked and converted. Errors are one
//! line (without the `mptcp: ` prefix, which `main` adds) naming the offending argument.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mptcp_tun_driver::stack::cc::Algorithm;
use mptcp_tun_driver::stack::connection::ConnectionConfig;
use mptcp_tun_driver::stack::connection::path_manager::PathManagerKind;
use mptcp_tun_driver::stack::scheduler::SchedulerKind;

use mptcp_socket::capi::config::PathArg;

use crate::emulation::{Emulation, RawEmulation};
use crate::observe::{ObserveArgs, RawObserve};
use crate::units::{parse_delay, parse_list, parse_loss, parse_rate, parse_size};

/// `--help` text.
pub(crate) const USAGE: &str = "\
mptcp: a userspace Multipath TCP (RFC 8684) stack

Usage:
  mptcp bench [options]  our stack against itself, then the kernel's MPTCP against itself, over
                         N paths between two network namespaces (root; else in the simulator)
  mptcp sim [options]    one transfer between two stack endpoints in the simulator
  mptcp server --listen IP:PORT --path DEV=IP [--path DEV=IP ...] [--echo] [--keep-going] [--json]
                         serve transfers over TUN devices (root or CAP_NET_ADMIN)
  mptcp client --connect IP:PORT --path DEV=IP [--path DEV=IP ...] [--send BYTES] [--json]
                         send BYTES over TUN devices to a server (ours or the kernel's)
  mptcp run --path DEV=IP [--path DEV=IP ...] [multipath options] -- PROGRAM [ARGS...]
                         run an unmodified program with its TCP sockets on this stack
                         (LD_PRELOAD of libmptcp_preload.so; root or CAP_NET_ADMIN)
  mptcp --help           this text

Options of `mptcp bench`:
  --paths N              paths (veth pairs, a TUN device per side) between the namespaces,
                         1 to 8 (default 2)
  --rate R[,R...]        rate of each path, both directions, with tbf (default: unshaped);
                         with any emulator option, the emulator's rate instead
  --delay D[,D...]       link emulator (both peers' paths, both directions): one-way delay
  --jitter J[,J...]      extra delay drawn from 0..=J per packet (never reorders by itself)
  --loss P[,P...]        random loss 1% or 0.01, or bursty gilbert:P/R (enter/leave the
                         lossy state per packet)
  --reorder P[,P...]     probability that a packet is held 10 ms and overtaken
  --schedule FILE        changes during the run, one per line: TIME PATH SETTING [VALUE],
                         e.g. `5s 1 cut`, `8s 1 restore`, `3s 0> rate 10mbit` (docs/cli.md)
  --at CHANGES           the same inline, `;`-separated: --at '5s 1 cut; 8s 1 restore'
  --bytes N              bytes each client sends (default 64M), or
  --time S               send for S seconds instead: 10, 10s, 500ms
  --peer stack|kernel|both  which transfers to run (default both)
  --simulate             run in the simulator even when the namespaces could be made
  --json                 print one JSON object with `stack` and `kernel` entries
Without root, /dev/net/tun or the `ip` command it says so and runs the simulator instead.

Options of `mptcp sim`:
  --paths N              paths between client and server, 1 to 8 (default 1)
  --rate R[,R...]        bottleneck rate per path: 100mbit, 1gbit, 500kbit, bit/s (default 100mbit)
  --delay D[,D...]       one-way delay per path: 10ms, 1.5ms, 2s, 250us (default 10ms)
  --loss P[,P...]        random loss per path and direction: 1% or 0.01 (default 0)
  --bytes N              bytes the client sends: 64M, 1G, 256K (powers of 1024), bytes (default 64M)
  --seed S               seed of the keys, the data and the link randomness (default 1)
  --json                 print one JSON object instead of the text report
A list with one value applies to every path; otherwise it needs one value per path.

Options of `mptcp server` and `mptcp client`:
  --path DEV=IP[,backup] TUN device DEV (attached, or created if absent) and this stack's
                         address IP on it; repeatable: the client opens subflows from every
                         path, the server announces them; `,backup`: subflows from this address
                         carry data only when no regular subflow can
  --listen IP:PORT       (server) where to accept connections; IP is a --path address or 0.0.0.0/::
  --echo                 (server) send back everything received
  --keep-going           (server) serve one connection after another instead of exiting
  --connect IP:PORT      (client) the server
  --send BYTES           (client) how much to send: 64M, 1G, 256K (default 64M)
  --json                 print one JSON object per connection instead of the text report
  --rate, --delay, --jitter, --loss, --reorder, --schedule, --at
                         the link emulator inside this stack's driver, per --path in order,
                         both directions (as for `mptcp bench`)
MPTCP_TUN_TRACE=1 prints every packet on the TUN devices to stderr.

Options of `mptcp run`:
  --path DEV=IP[,backup] as for `mptcp server`; the program's stack uses these paths
  -- PROGRAM [ARGS...]   the program and its arguments (its exit status is mptcp's);
                         the library is found next to this executable or at $MPTCP_PRELOAD

Multipath options of `sim`, `client`, `server`, `bench` and `run` (our stack only):
  --scheduler S          minrtt (default), roundrobin, redundant or blest
  --cc C                 congestion control: cubic (default), reno, lia or olia (coupled)
  --path-manager P       fullmesh (default: a subflow per local x remote address, the server
                         announces its addresses), ndiffports (several subflows over the first
                         address pair) or manual (no subflows beyond the first)
  --subflows N           with ndiffports: how many subflows, 1 to 8 (default 2)

Observability options of `sim`, `client`, `server` and `bench` (our stack's run; in `sim` and
`bench`, the client's side):
  --sample-interval D    how often the time series is sampled (default 100ms; virtual in `sim`)
  --timeseries FILE      per-subflow throughput, cwnd, srtt and bytes in flight, and the total:
                         CSV (.csv) or JSON lines (.json, .jsonl)
  --plot FILE            an SVG plot of that time series, the path events marked
  --pcap DIR             one pcap file per path (raw IP; Wireshark and tshark decode MPTCP)
  --events FILE          the connection's and subflows' events with timestamps, as JSON lines

Exit status: 0 transfer complete and intact, 1 transfer failed, 2 bad arguments,
3 cannot run (TUN device, permissions), 130/143 stopped by SIGINT/SIGTERM.
See docs/cli.md.
";

/// The synopsis in one-line errors about the command itself.
const SYNOPSIS: &str = "usage: mptcp bench|sim|server|client|run [options]; see mptcp --help";

/// The most paths `mptcp sim` sets up (the Linux kernel's default subflow limit is 8 too).
const MAX_PATHS: usize = 8;

/// What to do.
#[derive(Debug, PartialEq)]
pub(crate) enum Command {
    /// Print [`USAGE`].
    Help,
    /// `mptcp sim`.
    Sim(SimArgs),
    /// `mptcp server`.
    Server(ServerArgs),
    /// `mptcp client`.
    Client(ClientArgs),
    /// `mptcp bench`.
    Bench(BenchArgs),
    /// `mptcp run`.
    Run(RunArgs),
}

/// How much each client of `mptcp bench` sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Amount {
    /// This many bytes.
    Bytes(u64),
    /// For this long.
    Time(Duration),
}

/// Which transfers `mptcp bench` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Our stack against itself.
    Stack,
    /// The kernel's MPTCP against itself.
    Kernel,
    /// Both, the stack first.
    Both,
}

impl Peer {
    pub(crate) fn stack(self) -> bool {
        matches!(self, Peer::Stack | Peer::Both)
    }

    pub(crate) fn kernel(self) -> bool {
        matches!(self, Peer::Kernel | Peer::Both)
    }
}

/// The multipath choices `sim`, `client`, `server` and `bench` share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct MultipathArgs {
    pub(crate) scheduler: SchedulerKind,
    pub(crate) cc: Algorithm,
    pub(crate) path_manager: PathManagerKind,
}

impl MultipathArgs {
    /// Puts the choices into a connection's settings.
    pub(crate) fn apply(&self, config: &mut ConnectionConfig) {
        config.scheduler = self.scheduler;
        config.tcp.congestion_control = self.cc;
        config.path_manager = self.path_manager;
    }
}

/// The multipath options as given, before conversion.
#[derive(Debug, Default)]
struct RawMultipath<'a> {
    scheduler: Option<&'a str>,
    cc: Option<&'a str>,
    path_manager: Option<&'a str>,
    subflows: Option<&'a str>,
}

impl<'a> RawMultipath<'a> {
    /// Where the value of option `name` goes, if it is a multipath option.
    fn slot(&mut self, name: &str) -> Option<&mut Option<&'a str>> {
        Some(match name {
            "--scheduler" => &mut self.scheduler,
            "--cc" => &mut self.cc,
            "--path-manager" => &mut self.path_manager,
            "--subflows" => &mut self.subflows,
            _ => return None,
        })
    }

    fn finish(&self) -> Result<MultipathArgs, String> {
        let scheduler = match self.scheduler {
            None => SchedulerKind::default(),
            Some(s) => s.parse().map_err(|e| format!("--scheduler: {e}"))?,
        };
        let cc = match self.cc {
            None => Algorithm::default(),
            Some(s) => s.parse().map_err(|e| format!("--cc: {e}"))?,
        };
        let path_manager = match (self.path_manager, self.subflows) {
            (None, None) => PathManagerKind::default(),
            (Some(s), None) => s.parse().map_err(|e| format!("--path-manager: {e}"))?,
            (Some(s), Some(n)) if s.eq_ignore_ascii_case("ndiffports") => {
                format!("ndiffports:{n}").parse().map_err(|e| format!("--subflows: {e}"))?
            }
            (_, Some(_)) => return Err("--subflows: only with --path-manager ndiffports".to_owned()),
        };
        Ok(MultipathArgs { scheduler, cc, path_manager })
    }
}

/// `mptcp bench`'s options.
#[derive(Debug, PartialEq)]
pub(crate) struct BenchArgs {
    /// Rate of each path (bit/s, both directions); `None`: unshaped. One entry per path.
    pub(crate) rates: Vec<Option<u64>>,
    pub(crate) amount: Amount,
    pub(crate) peer: Peer,
    /// Use the simulator even if the namespaces could be made.
    pub(crate) simulate: bool,
    pub(crate) json: bool,
    pub(crate) multipath: MultipathArgs,
    /// Time series, plot, pcap and events of the stack's run (its client).
    pub(crate) observe: ObserveArgs,
    /// The link emulator's settings, when any emulator option was given.
    pub(crate) emulation: Option<Emulation>,
}

/// One `--path DEV=IP`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TunPath {
    /// The TUN device.
    pub(crate) device: String,
    /// This stack's address on it.
    pub(crate) addr: IpAddr,
    /// Subflows from it are backups (`DEV=IP,backup`).
    pub(crate) backup: bool,
}

/// `mptcp server`'s options.
#[derive(Debug, PartialEq)]
pub(crate) struct ServerArgs {
    pub(crate) listen: SocketAddr,
    pub(crate) paths: Vec<TunPath>,
    pub(crate) echo: bool,
    pub(crate) keep_going: bool,
    pub(crate) json: bool,
    pub(crate) multipath: MultipathArgs,
    pub(crate) observe: ObserveArgs,
    /// The link emulator in this stack's driver, if asked for.
    pub(crate) emulation: Option<Emulation>,
}

/// `mptcp client`'s options.
#[derive(Debug, PartialEq)]
pub(crate) struct ClientArgs {
    pub(crate) connect: SocketAddr,
    pub(crate) paths: Vec<TunPath>,
    pub(crate) send: u64,
    pub(crate) json: bool,
    pub(crate) multipath: MultipathArgs,
    pub(crate) observe: ObserveArgs,
    /// The link emulator in this stack's driver, if asked for.
    pub(crate) emulation: Option<Emulation>,
}

/// `mptcp run`'s options.
#[derive(Debug, PartialEq)]
pub(crate) struct RunArgs {
    pub(crate) paths: Vec<TunPath>,
    pub(crate) multipath: MultipathArgs,
    /// The program and its arguments.
    pub(crate) program: Vec<String>,
}

/// One path of `mptcp sim`; both directions get these settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PathArgs {
    /// Bottleneck rate in bit/s.
    pub(crate) rate_bps: u64,
    /// One-way delay.
    pub(crate) delay: Duration,
    /// Loss probability.
    pub(crate) loss: f64,
}

/// `mptcp sim`'s options.
#[derive(Debug, PartialEq)]
pub(crate) struct SimArgs {
    /// One entry per path.
    pub(crate) paths: Vec<PathArgs>,
    /// Bytes the client sends.
    pub(crate) bytes: u64,
    /// Seed of everything random.
    pub(crate) seed: u64,
    /// JSON instead of text.
    pub(crate) json: bool,
    /// Scheduler, congestion control, path manager.
    pub(crate) multipath: MultipathArgs,
    /// Time series, plot, pcap and events (of the client).
    pub(crate) observe: ObserveArgs,
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: &[String]) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        None => Err(format!("missing command ({SYNOPSIS})")),
        Some("-h" | "--help") => Ok(Command::Help),
        Some("sim") => parse_sim(&args[1..]),
        Some(cmd @ ("server" | "client")) => parse_tun(cmd, &args[1..]),
        Some("bench") => parse_bench(&args[1..]),
        Some("run") => parse_run(&args[1..]),
        Some(other) => Err(format!("unknown command {other:?} ({SYNOPSIS})")),
    }
}

/// `mptcp sim`'s option values as given, before conversion.
#[derive(Debug, Default)]
struct RawSim<'a> {
    paths: Option<&'a str>,
    rate: Option<&'a str>,
    delay: Option<&'a str>,
    loss: Option<&'a str>,
    bytes: Option<&'a str>,
    seed: Option<&'a str>,
    json: bool,
    multipath: RawMultipath<'a>,
    observe: RawObserve<'a>,
}

impl<'a> RawSim<'a> {
    /// Where the value of option `name` goes, if it is one that takes a value.
    fn slot(&mut self, name: &str) -> Option<&mut Option<&'a str>> {
        Some(match name {
            "--paths" => &mut self.paths,
            "--rate" => &mut self.rate,
            "--delay" => &mut self.delay,
            "--loss" => &mut self.loss,
            "--bytes" => &mut self.bytes,
            "--seed" => &mut self.seed,
            _ => return self.multipath.slot(name).or_else(|| self.observe.slot(name)),
        })
    }
}

fn parse_sim(args: &[String]) -> Result<Command, String> {
    let mut raw = RawSim::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        match name {
            "-h" | "--help" => return Ok(Command::Help),
            "--json" if inline.is_some() => return Err("--json: takes no value".to_owned()),
            "--json" => raw.json = true,
            _ if !name.starts_with('-') => return Err(format!("sim: unexpected argument {arg:?}")),
            _ => {
                let slot = raw.slot(name).ok_or_else(|| format!("sim: unknown option {name:?}"))?;
                if slot.is_some() {
                    return Err(format!("{name}: given more than once"));
                }
                let value = inline.or_else(|| rest.next().map(String::as_str)).filter(|v| !v.is_empty());
                *slot = Some(value.ok_or_else(|| format!("{name}: missing value"))?);
            }
        }
    }
    sim_args(&raw).map(Command::Sim)
}

/// The longest `mptcp bench --time`.
const MAX_TIME: Duration = Duration::from_secs(3600);

/// Parses `mptcp bench`.
fn parse_bench(args: &[String]) -> Result<Command, String> {
    let (mut paths, mut rate, mut bytes, mut time, mut peer) = (None, None, None, None, None);
    let (mut simulate, mut json) = (false, false);
    let mut multipath = RawMultipath::default();
    let mut observe = RawObserve::default();
    let mut emulation = RawEmulation::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        let flag = match name {
            "-h" | "--help" => return Ok(Command::Help),
            "--json" => Some(&mut json),
            "--simulate" => Some(&mut simulate),
            _ => None,
        };
        if let Some(flag) = flag {
            if inline.is_some() {
                return Err(format!("{name}: takes no value"));
            }
            *flag = true;
            continue;
        }
        if !name.starts_with('-') {
            return Err(format!("bench: unexpected argument {arg:?}"));
        }
        let slot = match name {
            "--paths" => &mut paths,
            "--rate" => &mut rate,
            "--bytes" => &mut bytes,
            "--time" => &mut time,
            "--peer" => &mut peer,
            _ => multipath
                .slot(name)
                .or_else(|| observe.slot(name))
                .or_else(|| emulation.slot(name))
                .ok_or_else(|| format!("bench: unknown option {name:?}"))?,
        };
        if slot.is_some() {
            return Err(format!("{name}: given more than once"));
        }
        let value = inline.or_else(|| rest.next().map(String::as_str)).filter(|v| !v.is_empty());
        *slot = Some(value.ok_or_else(|| format!("{name}: missing value"))?);
    }
    let n = match paths {
        None => 2,
        Some(s) => parse_paths(s)?,
    };
    let rates = match rate {
        None => vec![None; n],
        Some(s) => per_path("--rate", s, n, parse_rate)?.into_iter().map(Some).collect(),
    };
    let amount = match (bytes, time) {
        (Some(_), Some(_)) => return Err("--bytes and --time: give one or the other".to_owned()),
        (Some(b), None) => Amount::Bytes(parse_size(b).map_err(|e| format!("--bytes: {e}"))?),
        (None, Some(t)) => Amount::Time(parse_time(t)?),
        (None, None) => Amount::Bytes(64 << 20),
    };
    let peer = match peer.unwrap_or("both") {
        "stack" => Peer::Stack,
        "kernel" => Peer::Kernel,
        "both" => Peer::Both,
        other => return Err(format!("--peer: expected stack, kernel or both, got {other:?}")),
    };
    let (multipath, observe) = (multipath.finish()?, observe.finish()?);
    let emulation = emulation.finish(n, &rates, emulation.given())?;
    Ok(Command::Bench(BenchArgs { rates, amount, peer, simulate, json, multipath, observe, emulation }))
}

/// `--time`: seconds (`10`, `1.5`) or a duration with a unit (`10s`, `500ms`), above 0.
fn parse_time(s: &str) -> Result<Duration, String> {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let with_unit = if plain { format!("{s}s") } else { s.to_owned() };
    match parse_delay(&with_unit) {
        Ok(d) if d.is_zero() => Err(format!("--time: must be above 0, got {s:?}")),
        Ok(d) if d > MAX_TIME => Err(format!("--time: at most {} s, got {s:?}", MAX_TIME.as_secs())),
        Ok(d) => Ok(d),
        Err(_) => Err(format!("--time: expected seconds like 10 or 10s or 500ms, got {s:?}")),
    }
}

/// `--paths`: 1 to [`MAX_PATHS`].
fn parse_paths(s: &str) -> Result<usize, String> {
    s.parse()
        .ok()
        .filter(|n| (1..=MAX_PATHS).contains(n) && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("--paths: expected a number from 1 to {MAX_PATHS}, got {s:?}"))
}

/// Parses `mptcp server` or `mptcp client` (`cmd`).
fn parse_tun(cmd: &str, args: &[String]) -> Result<Command, String> {
    let server = cmd == "server";
    let (mut paths, mut addr, mut send) = (Vec::new(), None, None);
    let (mut echo, mut keep_going, mut json) = (false, false, false);
    let addr_opt = if server { "--listen" } else { "--connect" };
    let mut multipath = RawMultipath::default();
    let mut observe = RawObserve::default();
    let (mut emulation, mut rate) = (RawEmulation::default(), None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        let flag = match name {
            "-h" | "--help" => return Ok(Command::Help),
            "--json" => Some(&mut json),
            "--echo" if server => Some(&mut echo),
            "--keep-going" if server => Some(&mut keep_going),
            _ => None,
        };
        if let Some(flag) = flag {
            if inline.is_some() {
                return Err(format!("{name}: takes no value"));
            }
            *flag = true;
            continue;
        }
        if !name.starts_with('-') {
            return Err(format!("{cmd}: unexpected argument {arg:?}"));
        }
        let known = name == "--path" || name == addr_opt || (!server && name == "--send");
        let multipath_slot = match name {
            "--rate" => Some(&mut rate),
            _ => multipath.slot(name).or_else(|| observe.slot(name)).or_else(|| emulation.slot(name)),
        };
        if !known && multipath_slot.is_none() {
            return Err(format!("{cmd}: unknown option {name:?}"));
        }
        let value = inline.or_else(|| rest.next().map(String::as_str)).filter(|v| !v.is_empty());
        let value = value.ok_or_else(|| format!("{name}: missing value"))?;
        if let Some(slot) = multipath_slot {
            if slot.replace(value).is_some() {
                return Err(format!("{name}: given more than once"));
            }
            continue;
        }
        match name {
            "--path" => paths.push(parse_path(value)?),
            "--send" if send.is_some() => return Err("--send: given more than once".to_owned()),
            "--send" => send = Some(parse_size(value).map_err(|e| format!("--send: {e}"))?),
            _ if addr.is_some() => return Err(format!("{name}: given more than once")),
            _ => {
                let a: SocketAddr = value.parse().map_err(|_| {
                    format!("{name}: expected IP:PORT (like 10.0.0.1:5000 or [fd00::1]:5000), got {value:?}")
                })?;
                if a.port() == 0 {
                    return Err(format!("{name}: the port must not be 0, got {value:?}"));
                }
                addr = Some(a);
            }
        }
    }
    let addr = addr.ok_or_else(|| format!("{cmd}: {addr_opt} IP:PORT is required"))?;
    check_paths(cmd, &paths)?;
    let (multipath, observe) = (multipath.finish()?, observe.finish()?);
    let rates = match rate {
        None => vec![None; paths.len()],
        Some(s) => per_path("--rate", s, paths.len(), parse_rate)?.into_iter().map(Some).collect(),
    };
    let emulation = emulation.finish(paths.len(), &rates, rate.is_some() || emulation.given())?;
    if server {
        let ip = addr.ip();
        if !ip.is_unspecified() && !paths.iter().any(|p| p.addr == ip) {
            return Err(format!("--listen: {ip} is not the address of any --path"));
        }
        Ok(Command::Server(ServerArgs { listen: addr, paths, echo, keep_going, json, multipath, observe, emulation }))
    } else {
        let first = paths[0].addr;
        if first.is_ipv4() != addr.is_ipv4() {
            return Err(format!(
                "--connect: {} and the first --path address {first} are of different IP versions",
                addr.ip()
            ));
        }
        let send = send.unwrap_or(64 << 20);
        Ok(Command::Client(ClientArgs { connect: addr, paths, send, json, multipath, observe, emulation }))
    }
}

/// `DEV=IP` or `DEV=IP,backup` (the syntax of the C ABI's and `mptcp run`'s paths).
fn parse_path(s: &str) -> Result<TunPath, String> {
    let p: PathArg = s.parse().map_err(|e| format!("--path: {e}"))?;
    Ok(TunPath { device: p.device, addr: p.addr, backup: p.backup })
}

/// Parses `mptcp run`: paths and multipath options, then the program after `--` (or from the
/// first argument that is not an option).
fn parse_run(args: &[String]) -> Result<Command, String> {
    let mut paths = Vec::new();
    let mut multipath = RawMultipath::default();
    let mut rest = args.iter();
    let mut program = Vec::new();
    while let Some(arg) = rest.next() {
        if arg == "--" || !arg.starts_with('-') {
            program.extend(std::iter::once(arg).filter(|a| *a != "--").chain(rest.by_ref()).cloned());
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        if matches!(name, "-h" | "--help") {
            return Ok(Command::Help);
        }
        let multipath_slot = multipath.slot(name);
        if name != "--path" && multipath_slot.is_none() {
            return Err(format!("run: unknown option {name:?}"));
        }
        let value = inline.or_else(|| rest.next().map(String::as_str)).filter(|v| !v.is_empty());
        let value = value.ok_or_else(|| format!("{name}: missing value"))?;
        match multipath_slot {
            Some(slot) => {
                if slot.replace(value).is_some() {
                    return Err(format!("{name}: given more than once"));
                }
            }
            None => paths.push(parse_path(value)?),
        }
    }
    check_paths("run", &paths)?;
    if program.is_empty() {
        return Err("run: no program given (mptcp run --path DEV=IP -- PROGRAM [ARGS...])".to_owned());
    }
    Ok(Command::Run(RunArgs { paths, multipath: multipath.finish()?, program }))
}

/// At least one path; no device or address twice.
fn check_paths(cmd: &str, paths: &[TunPath]) -> Result<(), String> {
    if paths.is_empty() {
        return Err(format!("{cmd}: at least one --path DEV=IP is required"));
    }
    for (i, p) in paths.iter().enumerate() {
        if paths[..i].iter().any(|q| q.device == p.device) {
            return Err(format!("--path: device {} given more than once", p.device));
        }
        if paths[..i].iter().any(|q| q.addr == p.addr) {
            return Err(format!("--path: address {} given more than once", p.addr));
        }
    }
    Ok(())
}

/// Converts and checks the values, filling in defaults.
fn sim_args(raw: &RawSim<'_>) -> Result<SimArgs, String> {
    let n = match raw.paths {
        None => 1,
        Some(s) => parse_paths(s)?,
    };
    let rates = per_path("--rate", raw.rate.unwrap_or("100mbit"), n, parse_rate)?;
    let delays = per_path("--delay", raw.delay.unwrap_or("10ms"), n, parse_delay)?;
    let losses = per_path("--loss", raw.loss.unwrap_or("0"), n, parse_loss)?;
    let bytes = parse_size(raw.bytes.unwrap_or("64M")).map_err(|e| format!("--bytes: {e}"))?;
    let seed = match raw.seed {
        None => 1,
        Some(s) => s
            .parse()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("--seed: expected a whole number from 0 to {}, got {s:?}", u64::MAX))?,
    };
    let paths = (0..n).map(|i| PathArgs { rate_bps: rates[i], delay: delays[i], loss: losses[i] }).collect();
    let (multipath, observe) = (raw.multipath.finish()?, raw.observe.finish()?);
    Ok(SimArgs { paths, bytes, seed, json: raw.json, multipath, observe })
}

/// A list for option `name` stretched to `n` paths: one value for all, or exactly `n`.
pub(crate) fn per_path<T: Clone>(
    name: &str,
    s: &str,
    n: usize,
    item: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let values = parse_list(s, item).map_err(|e| format!("{name}: {e}"))?;
    match values.len() {
        1 => Ok(vec![values[0].clone(); n]),
        len if len == n => Ok(values),
        len => Err(format!("{name}: {len} values for {n} path(s); give one value for all paths or one per path")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Command, String> {
        parse(&line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    fn sim(line: &str) -> SimArgs {
        match parse_str(line) {
            Ok(Command::Sim(s)) => s,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let s = sim("sim");
        let path = PathArgs { rate_bps: 100_000_000, delay: Duration::from_millis(10), loss: 0.0 };
        let multipath = MultipathArgs::default();
        let observe = ObserveArgs::default();
        assert_eq!(s, SimArgs { paths: vec![path], bytes: 64 << 20, seed: 1, json: false, multipath, observe });
    }

    #[test]
    fn per_path_lists() {
        let s = sim("sim --paths 2 --rate 100mbit,10mbit --delay=5ms --loss 1%,0 --bytes 1G --seed 7 --json");
        assert_eq!(s.paths.len(), 2);
        assert_eq!((s.paths[0].rate_bps, s.paths[1].rate_bps), (100_000_000, 10_000_000));
        assert_eq!((s.paths[0].delay, s.paths[1].delay), (Duration::from_millis(5), Duration::from_millis(5)));
        assert_eq!((s.paths[0].loss, s.paths[1].loss), (0.01, 0.0));
        assert_eq!((s.bytes, s.seed, s.json), (1 << 30, 7, true));
        // The order of options does not matter: --paths may come after the lists.
        assert_eq!(sim("sim --rate 1mbit,2mbit --paths 2").paths.len(), 2);
    }

    #[test]
    fn help() {
        assert_eq!(parse_str("--help"), Ok(Command::Help));
        assert_eq!(parse_str("-h"), Ok(Command::Help));
        assert_eq!(parse_str("sim --rate fast --help"), Ok(Command::Help));
    }

    #[test]
    fn errors() {
        let err = |line: &str| parse_str(line).expect_err(line);
        assert_eq!(err("sim --rate fast"), r#"--rate: expected a rate like 100mbit, got "fast""#);
        assert_eq!(
            err("sim --paths 2 --rate 1mbit,2mbit,3mbit"),
            "--rate: 3 values for 2 path(s); give one value for all paths or one per path"
        );
        assert_eq!(err("sim --delay 5ms,,5ms"), r#"--delay: empty item in list "5ms,,5ms""#);
        assert_eq!(err("sim --delay 10xs"), r#"--delay: expected a delay like 10ms, got "10xs""#);
        assert_eq!(err("sim --delay -1ms"), r#"--delay: expected a delay like 10ms, got "-1ms""#);
        assert!(err("sim --loss 150%").starts_with("--loss: "));
        assert_eq!(err("sim --paths 0"), r#"--paths: expected a number from 1 to 8, got "0""#);
        assert!(err("sim --paths 9").starts_with("--paths: "));
        assert!(err("sim --paths +2").starts_with("--paths: "));
        assert!(err("sim --seed -1").starts_with("--seed: "));
        assert_eq!(err("sim --rate"), "--rate: missing value");
        assert_eq!(parse(&["sim".to_owned(), "--rate=".to_owned()]), Err("--rate: missing value".to_owned()));
        assert_eq!(err("sim --rate 1mbit --rate 2mbit"), "--rate: given more than once");
        assert_eq!(err("sim --frobnicate 3"), r#"sim: unknown option "--frobnicate""#);
        assert_eq!(err("sim extra"), r#"sim: unexpected argument "extra""#);
        assert_eq!(err("sim --json=yes"), "--json: takes no value");
        assert_eq!(
            err("frob"),
            r#"unknown command "frob" (usage: mptcp bench|sim|server|client|run [options]; see mptcp --help)"#
        );
        assert_eq!(err(""), "missing command (usage: mptcp bench|sim|server|client|run [options]; see mptcp --help)");
    }

    #[test]
    fn server_and_client() {
        let s = match parse_str(
            "server --listen 10.0.1.2:5000 --path mtun0=10.0.1.2 --path=mtun1=10.0.2.2 --echo --json",
        ) {
            Ok(Command::Server(s)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(s.listen, "10.0.1.2:5000".parse().unwrap());
        assert_eq!(s.paths.len(), 2);
        assert_eq!(s.paths[1], TunPath { device: "mtun1".into(), addr: "10.0.2.2".parse().unwrap(), backup: false });
        assert!(s.echo && s.json && !s.keep_going);
        let c = match parse_str("client --connect [fd00::1]:5000 --path t0=fd00::2 --send 1M") {
            Ok(Command::Client(c)) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!((c.send, c.connect.port(), c.json), (1 << 20, 5000, false));
        let c = match parse_str("client --connect 10.0.0.1:80 --path t0=10.0.0.2") {
            Ok(Command::Client(c)) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(c.send, 64 << 20);
        assert!(matches!(parse_str("server --listen 0.0.0.0:1 --path t0=10.0.0.2"), Ok(Command::Server(_))));
    }

    #[test]
    fn server_and_client_errors() {
        let err = |line: &str| parse_str(line).expect_err(line);
        assert_eq!(err("server --path t0=10.0.0.2"), "server: --listen IP:PORT is required");
        assert_eq!(err("client --connect 10.0.0.1:80"), "client: at least one --path DEV=IP is required");
        assert_eq!(
            err("server --listen 10.0.0.9:80 --path t0=10.0.0.2"),
            "--listen: 10.0.0.9 is not the address of any --path"
        );
        assert_eq!(
            err("client --connect 10.0.0.1 --path t0=10.0.0.2"),
            r#"--connect: expected IP:PORT (like 10.0.0.1:5000 or [fd00::1]:5000), got "10.0.0.1""#
        );
        assert_eq!(
            err("client --connect 10.0.0.1:0 --path t0=10.0.0.2"),
            r#"--connect: the port must not be 0, got "10.0.0.1:0""#
        );
        assert_eq!(
            err("client --connect 10.0.0.1:80 --path t0"),
            r#"--path: expected DEV=IP[,backup] (like mtun0=10.0.1.2), got "t0""#
        );
        assert_eq!(
            err("client --connect 10.0.0.1:80 --path t0=fd00::2"),
            "--connect: 10.0.0.1 and the first --path address fd00::2 are of different IP versions"
        );
        assert!(err("client --connect 10.0.0.1:80 --path a234567890123456=10.0.0.2").starts_with("--path: "));
        assert_eq!(
            err("client --connect 10.0.0.1:80 --path t0=10.0.0.2 --path t0=10.0.0.3"),
            "--path: device t0 given more than once"
        );
        assert_eq!(err("client --connect 10.0.0.1:80 --path t0=10.0.0.2 --echo"), r#"client: unknown option "--echo""#);
        assert_eq!(
            err("client --connect 10.0.0.1:80 --path t0=10.0.0.2 --send 0"),
            r#"--send: a size must be at least 1 byte, got "0""#
        );
        assert_eq!(err("server --listen 10.0.0.2:80 --path t0=10.0.0.2 --json=1"), "--json: takes no value");
        assert_eq!(
            err("server --listen 10.0.0.2:80 --listen 10.0.0.2:81 --path t0=10.0.0.2"),
            "--listen: given more than once"
        );
    }

    #[test]
    fn run() {
        let r =
            match parse_str("run --path t0=10.0.0.2 --path=t1=10.0.1.2,backup --cc lia -- iperf3 -c 10.0.0.1 --json") {
                Ok(Command::Run(r)) => r,
                other => panic!("{other:?}"),
            };
        assert_eq!(r.paths.len(), 2);
        assert!(r.paths[1].backup);
        assert_eq!(r.multipath.cc, Algorithm::Lia);
        assert_eq!(r.program, ["iperf3", "-c", "10.0.0.1", "--json"]);
        let r = match parse_str("run --path t0=10.0.0.2 prog -x") {
            Ok(Command::Run(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(r.program, ["prog", "-x"]);
        let err = |line: &str| parse_str(line).expect_err(line);
        assert_eq!(
            err("run --path t0=10.0.0.2"),
            "run: no program given (mptcp run --path DEV=IP -- PROGRAM [ARGS...])"
        );
        assert_eq!(err("run -- prog"), "run: at least one --path DEV=IP is required");
        assert_eq!(err("run --path t0=10.0.0.2 --echo -- prog"), r#"run: unknown option "--echo""#);
        assert_eq!(err("run --path t0 -- prog"), r#"--path: expected DEV=IP[,backup] (like mtun0=10.0.1.2), got "t0""#);
    }

    #[test]
    fn observability_options_in_every_transfer_command() {
        let o = |cmd: Command| match cmd {
            Command::Sim(a) => a.observe,
            Command::Bench(a) => a.observe,
            Command::Client(a) => a.observe,
            Command::Server(a) => a.observe,
            other => panic!("{other:?}"),
        };
        let flags = "--sample-interval 20ms --timeseries t.csv --plot p.svg --pcap d --events e.jsonl";
        for cmd in [
            "sim",
            "bench",
            "client --connect 10.0.0.1:5 --path t0=10.0.0.2",
            "server --listen 0.0.0.0:5 --path t0=10.0.0.2",
        ] {
            let got = o(parse_str(&format!("{cmd} {flags}")).unwrap());
            assert_eq!(got.sample_interval, Duration::from_millis(20), "{cmd}");
            let files = [&got.timeseries, &got.plot, &got.pcap, &got.events].map(|p| p.clone().unwrap());
            assert_eq!(files.map(|p| p.display().to_string()), ["t.csv", "p.svg", "d", "e.jsonl"], "{cmd}");
        }
        assert!(parse_str("run --path t0=10.0.0.2 --plot p.svg -- prog").is_err());
    }

    fn bench(line: &str) -> BenchArgs {
        match parse_str(line) {
            Ok(Command::Bench(b)) => b,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn multipath_options() {
        let Command::Sim(s) =
            parse_str("sim --scheduler blest --cc olia --path-manager ndiffports --subflows 4").unwrap()
        else {
            panic!("sim")
        };
        assert_eq!(s.multipath.scheduler, SchedulerKind::Blest);
        assert_eq!(s.multipath.cc, Algorithm::Olia);
        assert_eq!(s.multipath.path_manager, PathManagerKind::NDiffPorts(4));
        let Command::Client(c) =
            parse_str("client --connect 10.0.0.1:5 --path t0=10.0.0.2 --path t1=10.0.1.2,backup --path-manager manual")
                .unwrap()
        else {
            panic!("client")
        };
        assert_eq!(c.multipath.path_manager, PathManagerKind::Manual);
        assert!(!c.paths[0].backup && c.paths[1].backup);
        assert_eq!(bench("bench --scheduler roundrobin").multipath.scheduler, SchedulerKind::RoundRobin);
        let err = |line: &str| parse_str(line).unwrap_err();
        assert!(err("sim --scheduler fastest").starts_with("--scheduler: "));
        assert!(err("sim --cc bbr").starts_with("--cc: "));
        assert_eq!(err("sim --subflows 3"), "--subflows: only with --path-manager ndiffports");
        assert!(err("sim --path-manager ndiffports --subflows 9").starts_with("--subflows: "));
        assert!(err("server --listen 10.0.0.2:5 --path t0=10.0.0.2,primary").starts_with("--path: "));
        assert_eq!(
            err("server --listen 10.0.0.2:5 --path t0=10.0.0.2 --cc reno --cc lia"),
            "--cc: given more than once"
        );
    }

    #[test]
    fn bench_options() {
        let b = bench("bench");
        let expected = BenchArgs {
            rates: vec![None, None],
            amount: Amount::Bytes(64 << 20),
            peer: Peer::Both,
            simulate: false,
            json: false,
            multipath: MultipathArgs::default(),
            observe: ObserveArgs::default(),
            emulation: None,
        };
        assert_eq!(b, expected);
        let b = bench("bench --paths 3 --rate 100mbit,10mbit,1gbit --time 2.5 --peer=kernel --json --simulate");
        assert_eq!(b.rates, vec![Some(100_000_000), Some(10_000_000), Some(1_000_000_000)]);
        assert_eq!(b.amount, Amount::Time(Duration::from_millis(2500)));
        assert!(b.peer.kernel() && !b.peer.stack() && b.json && b.simulate);
        assert_eq!(bench("bench --paths 1 --rate 5mbit --bytes 4M").rates, vec![Some(5_000_000)]);
        assert_eq!(bench("bench --time 500ms").amount, Amount::Time(Duration::from_millis(500)));
        assert_eq!(bench("bench --peer stack").peer, Peer::Stack);
    }

    #[test]
    fn emulator_options() {
        let words = "bench --paths 2 --rate 10mbit --delay 10ms,50ms --loss gilbert:1%/25% --at".split_whitespace();
        let argv: Vec<String> = words.chain(["5s 1 cut"]).map(str::to_owned).collect();
        let Ok(Command::Bench(b)) = parse(&argv) else { panic!("{argv:?}") };
        let e = b.emulation.expect("emulated");
        assert_eq!((e.links[0].rate_bps, e.links[1].delay), (Some(10_000_000), Duration::from_millis(50)));
        assert!(e.links[1].loss_burst.is_some() && e.schedule.changes().len() == 1);
        assert!(bench("bench --rate 10mbit").emulation.is_none(), "--rate alone stays tbf");
        let Command::Client(c) = parse_str("client --connect 10.0.0.1:5 --path t0=10.0.0.2 --rate 5mbit").unwrap()
        else {
            panic!("client")
        };
        assert_eq!(c.emulation.map(|e| e.links[0].rate_bps), Some(Some(5_000_000)), "--rate alone emulates");
        let Command::Server(s) =
            parse_str("server --listen 0.0.0.0:5 --path t0=10.0.0.2 --path t1=10.0.1.2 --delay 1ms,2ms --reorder 1%")
                .unwrap()
        else {
            panic!("server")
        };
        assert_eq!(s.emulation.map(|e| (e.links[1].delay, e.links[0].reorder)), Some((Duration::from_millis(2), 0.01)));
        let err = |line: &str| parse_str(line).expect_err(line);
        assert!(
            err("client --connect 10.0.0.1:5 --path t0=10.0.0.2 --delay 1ms,2ms")
                .starts_with("--delay: 2 values for 1")
        );
        let argv =
            ["client", "--connect", "10.0.0.1:5", "--path", "t0=10.0.0.2", "--at", "1s 1 cut"].map(str::to_owned);
        assert!(parse(&argv).unwrap_err().contains("path 1 does not exist"));
    }

    #[test]
    fn bench_errors() {
        let err = |line: &str| parse_str(line).expect_err(line);
        assert_eq!(err("bench --paths 0"), r#"--paths: expected a number from 1 to 8, got "0""#);
        assert_eq!(err("bench --bytes 1M --time 2"), "--bytes and --time: give one or the other");
        assert_eq!(err("bench --time 0"), r#"--time: must be above 0, got "0""#);
        assert_eq!(err("bench --time soon"), r#"--time: expected seconds like 10 or 10s or 500ms, got "soon""#);
        assert_eq!(err("bench --peer smoltcp"), r#"--peer: expected stack, kernel or both, got "smoltcp""#);
        assert_eq!(
            err("bench --rate 1mbit,2mbit,3mbit"),
            "--rate: 3 values for 2 path(s); give one value for all paths or one per path"
        );
        assert_eq!(err("bench --duplicate 1%"), r#"bench: unknown option "--duplicate""#);
        assert_eq!(err("bench --delay 1ms --delay 2ms"), "--delay: given more than once");
        assert!(err("bench --paths 2 --at 1s_2_cut").starts_with("--at: line 1: "));
        assert_eq!(err("bench --json=1"), "--json: takes no value");
        assert_eq!(err("bench now"), r#"bench: unexpected argument "now""#);
    }
}
