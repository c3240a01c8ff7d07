//! The stack against the Linux kernel's MPTCP as a multipath peer, over TUN devices: MP_JOIN in
//! both roles, ADD_ADDR (with and without a port), REMOVE_ADDR and MP_PRIO both ways, four
//! subflows, and a path that dies mid-transfer.
//!
//! Each test builds its own namespaces with several paths ([`Topology::with_paths`]: K for the
//! kernel's sockets, S forwarding between one veth per path and one TUN device per path of the
//! stack) and removes them when it ends, also on failure. The stack runs in this process on a
//! thread that entered S; the kernel side is an `IPPROTO_MPTCP` socket on a thread that entered
//! K, and the kernel's path manager is driven with `ip mptcp` in K. After each case the data must
//! be intact (SHA-256 both ends) and the kernel's `MPTcpExt` counters must show the joins it
//! took part in, and no fallback, reset, bad HMAC or refused join.
//!
//! They need root; without it (or without `/dev/net/tun`, `ip`, kernel MPTCP) each prints why
//! and passes without running. `MPTCP_TUN_TRACE=1` prints every packet on the TUN devices.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mptcp_stack::connection::{CloseReason, ConnectionStats, SubflowSnapshot};
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_tests::interop::{
    DoneHook, KernelHooks, KernelSide, MUST_BE_ZERO, ProgressHook, StackPlan, StackSide, kernel_client, kernel_server,
    print_subflows, run_stack,
};
use mptcp_tests::netns::{Topology, mptcp_counters, skip_reason};
use mptcp_tun_driver::event_loop::{EventLoop, StopReason};
use mptcp_tun_driver::transfer::Role;

const PORT: u16 = 5201;
const MIB: u64 = 1 << 20;
/// Seed of the data the stack sends; the kernel's data uses `SEED + 1`.
const SEED: u64 = 42;
/// Time allowed for one whole case.
const LIMIT: Duration = Duration::from_secs(60);

macro_rules! skip_unless_possible {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// Counters that must stay zero in every multipath case, beside [`MUST_BE_ZERO`]: a join whose
/// HMAC failed, or that the kernel refused (its path manager's limits are set so that every
/// join the cases make is allowed), or that named an unknown token.
const JOIN_MUST_BE_ZERO: &[&str] =
    &["MPJoinAckHMacFailure", "MPJoinSynAckHMacFailure", "MPJoinRejected", "MPJoinNoTokenFound", "AddAddrDrop"];

// ---------------------------------------------------------------------------------------------
// Running a case.

/// The kernel's part in a case.
#[derive(Debug, Clone, Copy)]
enum Kernel {
    /// A server listening on `bind` (the unspecified address, so that joins to any of its
    /// addresses find the listener) that sends `reply` bytes after the stack's end of stream.
    Server { bind: SocketAddr, reply: u64 },
    /// A client sending `bytes` to `connect`.
    Client { connect: SocketAddr, bytes: u64 },
}

impl Kernel {
    /// A server on any address of `topo`'s family, port [`PORT`], replying `reply` bytes.
    fn server(topo: &Topology, reply: u64) -> Kernel {
        let ip: IpAddr = if topo.v6 { "::".parse().expect("valid") } else { "0.0.0.0".parse().expect("valid") };
        Kernel::Server { bind: SocketAddr::new(ip, PORT), reply }
    }

    /// A client sending `bytes` to the stack's first address, port [`PORT`].
    fn client(topo: &Topology, bytes: u64) -> Kernel {
        Kernel::Client { connect: SocketAddr::new(topo.stack_addr, PORT), bytes }
    }
}

/// The outcome, for the assertions.
#[derive(Debug)]
struct Outcome {
    stack: StackSide,
    kernel: KernelSide,
    counters: BTreeMap<String, u64>,
}

impl Outcome {
    fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    fn stats(&self) -> &ConnectionStats {
        self.stack.stats.as_ref().expect("the stack's connection statistics")
    }

    /// The stack's subflow between our `local` and the kernel's `remote` address.
    fn subflow(&self, local: IpAddr, remote: IpAddr) -> &SubflowSnapshot {
        self.stats()
            .subflows
            .iter()
            .find(|s| s.local.ip() == local && s.remote.ip() == remote)
            .unwrap_or_else(|| panic!("no subflow {local} -> {remote}: {:#?}", self.stats()))
    }
}

/// The stack on the TUN devices of `stack_paths`, with its address on each, in `role`.
fn stack_plan(topo: &Topology, stack_paths: &[usize], role: Role) -> StackPlan {
    StackPlan {
        paths: stack_paths.iter().map(|&i| (Topology::tun(i), topo.stack_addr_on(i))).collect(),
        base: EndpointConfig::default(),
        role,
        close: None,
        steps: Vec::new(),
        limit: LIMIT,
    }
}

/// A stack client sending `bytes` from its first path's address to the kernel's first address,
/// port [`PORT`].
fn stack_client(topo: &Topology, stack_paths: &[usize], bytes: u64) -> StackPlan {
    let remote = SocketAddr::new(topo.kernel_addr, PORT);
    let local = topo.stack_addr_on(stack_paths[0]);
    stack_plan(topo, stack_paths, Role::Client { local, remote, bytes, seed: SEED })
}

/// A stack server listening on its first path's address.
fn stack_server(topo: &Topology, stack_paths: &[usize]) -> StackPlan {
    stack_plan(topo, stack_paths, Role::Server { listen: SocketAddr::new(topo.stack_addr_on(stack_paths[0]), PORT) })
}

/// Runs one case: the stack as `plan` says, the kernel as `kernel` says with `hooks`.
fn run_case(name: &str, topo: &Topology, plan: StackPlan, kernel: Kernel, hooks: KernelHooks) -> Outcome {
    let (ready_tx, ready_rx) = mpsc::channel();
    let started = Instant::now();
    let (stack, kernel) = match kernel {
        Kernel::Server { bind, reply } => {
            let kernel = topo.kernel.spawn(move || kernel_server(bind, reply, false, SEED + 1, LIMIT, hooks, ready_tx));
            ready_rx.recv_timeout(Duration::from_secs(10)).expect("the kernel server listens");
            let (tx, _rx) = mpsc::channel();
            let stack = topo.stack.run(move || run_stack(plan, tx));
            (stack, kernel.join().unwrap_or_else(|_| Err(io::Error::other("kernel thread panicked"))))
        }
        Kernel::Client { connect, bytes } => {
            let stack = topo.stack.spawn(move || run_stack(plan, ready_tx));
            ready_rx.recv_timeout(Duration::from_secs(10)).expect("the stack server listens");
            let kernel = topo.kernel.run(move || kernel_client(connect, bytes, SEED + 1, LIMIT, hooks));
            (stack.join().unwrap_or_else(|_| Err(io::Error::other("stack thread panicked"))), kernel)
        }
    };
    let stack = stack.expect("entered the stack namespace").unwrap_or_else(|e| panic!("stack side: {e}"));
    let counters = mptcp_counters(&topo.kernel).expect("MPTcpExt counters");
    let nonzero: BTreeMap<_, _> = counters.iter().filter(|(_, v)| **v != 0).collect();
    eprintln!(
        "{name}: {:.3} s from start to close on the stack's clock ({:.3} s wall), {:.0} Mbit/s of payload \
         both ways; kernel MPTcpExt: {nonzero:?}",
        stack.seconds,
        started.elapsed().as_secs_f64(),
        (stack.report.bytes_sent + stack.report.bytes_received) as f64 * 8.0 / stack.seconds / 1e6,
    );
    eprintln!("{name}: stack loop: {:?}", stack.loop_stats);
    print_subflows(stack.stats.as_ref());
    let kernel = kernel
        .expect("entered the kernel namespace")
        .unwrap_or_else(|e| panic!("kernel side: {e}\nstack side: {stack:#?}"));
    eprintln!("{name}: kernel side: {kernel:?}");
    Outcome { stack, kernel, counters }
}

/// The connection closed normally in both MPTCP stacks, the data arrived intact both ways, the
/// kernel counted no fallback, reset, checksum error or failed join, and took part in a join
/// (every case has one): as the server it received and accepted it (MP_JOIN SYN and third
/// ACK), as the client it got our SYN/ACK.
fn assert_clean(o: &Outcome, kernel: Kernel) {
    assert_clean_but(o, kernel, &[]);
}

/// [`assert_clean`], except for the counters in `allowed`, which the case checks itself.
fn assert_clean_but(o: &Outcome, kernel: Kernel, allowed: &[&str]) {
    let s = &o.stack;
    assert_eq!(s.stop, StopReason::Done, "the stack's connection closed in time: {s:#?}");
    assert_eq!(s.report.closed.map(|c| c.1), Some(CloseReason::Normal), "normal close: {s:#?}");
    assert_eq!(s.report.mptcp, Some(true), "the stack kept MPTCP");
    assert!(o.kernel.is_mptcp, "the kernel kept MPTCP (TCP_IS_MPTCP)");
    for name in MUST_BE_ZERO.iter().chain(JOIN_MUST_BE_ZERO).filter(|n| !allowed.contains(n)) {
        assert_eq!(o.counter(name), 0, "MPTcpExt{name} in {:?}", o.counters);
    }
    let joins = match kernel {
        Kernel::Server { .. } => ["MPJoinSynRx", "MPJoinAckRx"],
        Kernel::Client { .. } => ["MPJoinSynTx", "MPJoinSynAckRx"],
    };
    for name in joins {
        assert!(o.counter(name) >= 1, "MPTcpExt{name} counted: {:?}", o.counters);
    }
    let (r, k) = (&s.report, &o.kernel);
    match kernel {
        Kernel::Server { reply, .. } => {
            assert_eq!(k.bytes_received, r.bytes_sent, "the kernel received everything the stack sent");
            assert_eq!(k.sha256_received, r.sha256_sent, "data intact stack -> kernel");
            assert_eq!((k.bytes_sent, r.bytes_received), (reply, reply), "the stack received the reply");
            assert_eq!(r.sha256_received, k.sha256_sent, "reply intact kernel -> stack");
        }
        Kernel::Client { bytes, .. } => {
            assert_eq!(k.bytes_sent, bytes, "the kernel sent everything");
            assert_eq!(r.bytes_received, bytes, "the stack received everything");
            assert_eq!(r.sha256_received, k.sha256_sent, "data intact kernel -> stack");
        }
    }
}

/// The kernel announced its address once and got our echo before it would send it again (it
/// does after about an RTO, RFC 8684 §3.4.1).
fn assert_echoed_once(o: &Outcome) {
    assert_eq!((o.counter("AddAddrTx"), o.counter("EchoAdd")), (1, 1), "ADD_ADDR echoed at once: {:?}", o.counters);
}

/// Namespaces with two paths, and `ip mptcp limits set subflows 8 add_addr_accepted 8` in K:
/// the kernel accepts (and, as a client, opens) every subflow the cases make.
fn two_paths(v6: bool) -> Topology {
    let topo = Topology::with_paths(v6, 2).expect("namespaces and devices");
    topo.kernel.ip("mptcp limits set subflows 8 add_addr_accepted 8").expect("ip mptcp limits");
    topo
}

/// `ip mptcp endpoint add` in K for the kernel's address on its second path, id 1, with `flags`
/// (`signal`, `signal port N`, `subflow`); returns that address.
fn kernel_endpoint(topo: &Topology, flags: &str) -> IpAddr {
    let addr = topo.kernel_addr_on(1);
    let cmd = format!("mptcp endpoint add {addr} dev {} id 1 {flags}", Topology::kernel_dev(1));
    topo.kernel.ip(&cmd).unwrap_or_else(|e| panic!("ip {cmd}: {e}"));
    addr
}

/// Two paths, the kernel limited to one extra subflow (`ip mptcp limits set subflows 2
/// add_addr_accepted 0`) and with a `subflow` endpoint on its second path: as a client it joins
/// from there. Returns the topology and that address.
fn kernel_joins_from_second_address() -> (Topology, IpAddr) {
    let topo = Topology::with_paths(false, 2).expect("namespaces and devices");
    topo.kernel.ip("mptcp limits set subflows 2 add_addr_accepted 0").expect("limits");
    let extra = kernel_endpoint(&topo, "subflow");
    (topo, extra)
}

// ---------------------------------------------------------------------------------------------
// 1. Our client joins the kernel server's initial address from a second path.

fn join_initial_address(v6: bool) {
    let topo = two_paths(v6);
    let bytes = 64 * MIB;
    let kernel = Kernel::server(&topo, MIB);
    let plan = stack_client(&topo, &[0, 1], bytes);
    let o = run_case("join_initial_address", &topo, plan, kernel, KernelHooks::default());
    assert_clean(&o, kernel);
    assert_eq!(o.stack.report.bytes_sent, bytes);
    let initial = o.subflow(topo.stack_addr_on(0), topo.kernel_addr);
    let joined = o.subflow(topo.stack_addr_on(1), topo.kernel_addr);
    assert!(joined.joined && !initial.joined);
    for sf in [initial, joined] {
        assert!(sf.stats.bytes_sent > 0, "subflow {} -> {} carried data: {:#?}", sf.local, sf.remote, o.stats());
    }
    let joins = (o.counter("MPJoinSynRx"), o.counter("MPJoinAckRx"));
    assert_eq!(joins, (1, 1), "the kernel took one join, the first try: {:?}", o.counters);
}

#[test]
fn stack_client_joins_kernel_initial_address_v4() {
    skip_unless_possible!();
    join_initial_address(false);
}

#[test]
fn stack_client_joins_kernel_initial_address_v6() {
    skip_unless_possible!();
    join_initial_address(true);
}

// ---------------------------------------------------------------------------------------------
// Helpers for the cases below.

/// One kernel subflow as `ss -tni` shows it.
#[derive(Debug, Clone)]
struct KernelSubflow {
    local: IpAddr,
    peer: IpAddr,
    /// `tcp-ulp-mptcp flags:` letters: `M`/`m` MP_CAPABLE, `J`/`j` MP_JOIN (remote/local),
    /// `B` backup asked by the peer, `b` local backup, `e` fully established, `c` connected.
    flags: String,
}

/// The address part of `ss`'s `ADDR%DEV:PORT` or `[ADDR]:PORT`.
fn ss_ip(column: &str) -> Option<IpAddr> {
    let (addr, _port) = column.rsplit_once(':')?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    addr.split('%').next()?.parse().ok()
}

/// The kernel's established MPTCP subflows in K (`ss -tniH state established`).
fn kernel_subflows(ns: &str) -> Vec<KernelSubflow> {
    let text = mptcp_tests::netns::output_in(ns, "ss", &["-tniH", "state", "established"]).expect("ss");
    let mut out: Vec<KernelSubflow> = Vec::new();
    let mut current: Option<(IpAddr, IpAddr)> = None;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            current = match cols[..] {
                [_, _, local, peer, ..] => ss_ip(local).zip(ss_ip(peer)),
                _ => None,
            };
        } else if let (Some((local, peer)), Some(flags)) =
            (current, line.split_whitespace().find_map(|w| w.strip_prefix("flags:")))
        {
            out.push(KernelSubflow { local, peer, flags: flags.to_owned() });
        }
    }
    out
}

/// The stack's connection statistics, live.
fn live_stats(lp: &EventLoop) -> Option<ConnectionStats> {
    lp.transfer().stats(lp.endpoint())
}

/// Runs `f` on the stack's connection with the loop's clock.
fn with_conn<R>(
    lp: &mut EventLoop,
    f: impl FnOnce(&mut mptcp_stack::connection::Connection, mptcp_stack::time::Instant) -> R,
) -> Option<R> {
    let h = lp.transfer().connection()?;
    let now = lp.now();
    lp.endpoint_mut().with_connection(h, |c| f(c, now))
}

/// The subflow between our `local` and the kernel's `remote` address, once established at the
/// MPTCP level, when the kernel has acknowledged (or the stack read) at least `moved` bytes.
fn ready_subflow(lp: &EventLoop, local: IpAddr, remote: IpAddr, moved: u64) -> Option<SubflowSnapshot> {
    let stats = live_stats(lp)?;
    if stats.bytes_acked + stats.bytes_read < moved {
        return None;
    }
    stats.subflows.into_iter().find(|s| s.local.ip() == local && s.remote.ip() == remote && s.fully_established)
}

/// Adds a step to `plan` that waits for [`ready_subflow`] and runs `act` on the connection with
/// that subflow; the returned channel gets the subflow as it was then.
fn at_subflow(
    plan: &mut StackPlan,
    local: IpAddr,
    remote: IpAddr,
    moved: u64,
    act: impl FnOnce(&mut EventLoop, &SubflowSnapshot) + Send + 'static,
) -> mpsc::Receiver<SubflowSnapshot> {
    let (seen, seen_rx) = mpsc::channel();
    let mut act = Some(act);
    plan.steps.push(Box::new(move |lp: &mut EventLoop| {
        let Some(sf) = ready_subflow(lp, local, remote, moved) else { return false };
        if let Some(act) = act.take() {
            act(lp, &sf);
        }
        let _ = seen.send(sf);
        true
    }));
    seen_rx
}

/// `ip -n <ns> <args>` (arguments split on whitespace), from any thread.
fn ip_in(ns: &str, args: &str) {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    mptcp_tun_driver::netns::run_command("ip", &all).unwrap_or_else(|e| panic!("ip -n {ns} {args}: {e}"));
}

/// Kernel hooks that run `act` once, as soon as `moved` bytes went through and the kernel's
/// connection has an extra subflow.
fn once_kernel_joined(moved: u64, act: impl FnOnce() + Send + 'static) -> KernelHooks {
    let mut act = Some(act);
    let progress: ProgressHook = Box::new(move |sock, total| {
        if act.is_none() || total < moved || mptcp_tests::interop::mptcp_info(sock).is_none_or(|i| i.subflows == 0) {
            return;
        }
        if let Some(act) = act.take() {
            act();
        }
    });
    KernelHooks { progress: Some(progress), done: None }
}

/// Kernel hooks that run `ip -n K mptcp <cmd>` once ([`once_kernel_joined`]).
fn kernel_mptcp_command_after(topo: &Topology, moved: u64, cmd: &str) -> KernelHooks {
    let (ns, cmd) = (topo.kernel.name().to_owned(), format!("mptcp {cmd}"));
    once_kernel_joined(moved, move || ip_in(&ns, &cmd))
}

/// Kernel hooks that take the kernel's subflows ([`kernel_subflows`]) at the end of the
/// stream; the returned channel gets them.
fn kernel_subflows_at_end(topo: &Topology) -> (KernelHooks, mpsc::Receiver<Vec<KernelSubflow>>) {
    let (tx, rx) = mpsc::channel();
    let ns = topo.kernel.name().to_owned();
    let done: DoneHook = Box::new(move |_| {
        let _ = tx.send(kernel_subflows(&ns));
    });
    (KernelHooks { progress: None, done: Some(done) }, rx)
}

/// A closure that sets the device `dev` in the stack's namespace down.
fn stack_link_down(topo: &Topology, dev: String) -> impl FnOnce() + Send + 'static {
    let ns = topo.stack.name().to_owned();
    move || ip_in(&ns, &format!("link set {dev} down"))
}

// ---------------------------------------------------------------------------------------------
// 2. The kernel server announces an extra address (ADD_ADDR, with and without a port); our
// client joins it.

fn join_announced_address(v6: bool, port: Option<u16>) {
    let topo = two_paths(v6);
    let port_arg = port.map(|p| format!(" port {p}")).unwrap_or_default();
    let announced = kernel_endpoint(&topo, &format!("signal{port_arg}"));
    let bytes = 16 * MIB;
    let kernel = Kernel::server(&topo, MIB);
    // One path for the stack: its only join is the one to the announced address.
    let plan = stack_client(&topo, &[0], bytes);
    let o = run_case("join_announced_address", &topo, plan, kernel, KernelHooks::default());
    assert_clean(&o, kernel);
    let joined = o.subflow(topo.stack_addr, announced);
    assert!(joined.joined, "{joined:#?}");
    assert_eq!(joined.remote.port(), port.unwrap_or(PORT), "joined on the announced port");
    assert_eq!(joined.address_ids.1, Some(1), "the kernel's address id for the announced address");
    assert!(joined.stats.bytes_sent > 0, "the join carried data: {:#?}", o.stats());
    assert_eq!(o.stats().subflows.len(), 2, "{:#?}", o.stats());
    assert_echoed_once(&o);
    let c = |n| o.counter(n);
    assert_eq!((c("MPJoinSynRx"), c("MPJoinAckRx")), (1, 1), "the kernel took one join: {:?}", o.counters);
    if port.is_some() {
        assert!(c("MPJoinPortSynRx") >= 1 && c("MPJoinPortAckRx") >= 1, "join on the port: {:?}", o.counters);
        assert_eq!(c("MismatchPortSynRx") + c("MismatchPortAckRx"), 0, "{:?}", o.counters);
    }
}

#[test]
fn kernel_server_announces_address_stack_joins_v4() {
    skip_unless_possible!();
    join_announced_address(false, None);
}

#[test]
fn kernel_server_announces_address_with_port_stack_joins_v4() {
    skip_unless_possible!();
    join_announced_address(false, Some(10100));
}

#[test]
fn kernel_server_announces_address_stack_joins_v6() {
    skip_unless_possible!();
    join_announced_address(true, None);
}

// ---------------------------------------------------------------------------------------------
// 3. The kernel client joins our server: from a `subflow` endpoint, or after our ADD_ADDR.

#[test]
fn kernel_client_joins_stack_server_from_subflow_endpoint() {
    skip_unless_possible!();
    let (topo, extra) = kernel_joins_from_second_address();
    let bytes = 16 * MIB;
    let kernel = Kernel::client(&topo, bytes);
    let o = run_case("kernel_subflow_endpoint", &topo, stack_server(&topo, &[0]), kernel, KernelHooks::default());
    assert_clean(&o, kernel);
    let joined = o.subflow(topo.stack_addr, extra);
    assert!(joined.joined && joined.stats.bytes_received > 0, "the join carried data: {:#?}", o.stats());
    assert_eq!(joined.address_ids.1, Some(1), "the kernel's endpoint id");
    let c = |n| o.counter(n);
    assert_eq!((c("MPJoinSynTx"), c("MPJoinSynAckRx")), (1, 1), "the kernel joined once: {:?}", o.counters);
    assert_eq!(o.kernel.info.map(|i| i.subflows), Some(1), "one extra subflow at the kernel");
}

#[test]
fn kernel_client_joins_stack_server_after_add_addr() {
    skip_unless_possible!();
    let topo = Topology::with_paths(false, 2).expect("namespaces and devices");
    // Without add_addr_accepted the kernel echoes our ADD_ADDR but does not use it.
    topo.kernel.ip("mptcp limits set subflows 2 add_addr_accepted 2").expect("limits");
    let bytes = 16 * MIB;
    let kernel = Kernel::client(&topo, bytes);
    // Two paths: the server announces its second address.
    let o =
        run_case("kernel_joins_after_add_addr", &topo, stack_server(&topo, &[0, 1]), kernel, KernelHooks::default());
    assert_clean(&o, kernel);
    let announced = topo.stack_addr_on(1);
    let joined = o
        .stats()
        .subflows
        .iter()
        .find(|s| s.local.ip() == announced)
        .unwrap_or_else(|| panic!("no subflow to our announced address: {:#?}", o.stats()));
    assert!(joined.joined && joined.stats.bytes_received > 0, "the join carried data: {:#?}", o.stats());
    assert_eq!(joined.local.port(), PORT);
    let c = |n| o.counter(n);
    // Our ADD_ADDR went once: the kernel's echo came before we would send it again.
    assert_eq!((c("AddAddr"), c("EchoAddTx")), (1, 1), "the kernel took and echoed ADD_ADDR: {:?}", o.counters);
    assert_eq!((c("MPJoinSynTx"), c("MPJoinSynAckRx")), (1, 1), "the kernel joined once: {:?}", o.counters);
    assert_eq!(o.kernel.info.map(|i| i.add_addr_accepted), Some(1), "{:?}", o.kernel.info);
}

// ---------------------------------------------------------------------------------------------
// 4. 64 MiB over four subflows: two stack addresses × two kernel addresses.

#[test]
fn four_subflows_64mib() {
    skip_unless_possible!();
    let topo = two_paths(false);
    kernel_endpoint(&topo, "signal");
    let bytes = 64 * MIB;
    let kernel = Kernel::server(&topo, 16 * MIB);
    let plan = stack_client(&topo, &[0, 1], bytes);
    let o = run_case("four_subflows", &topo, plan, kernel, KernelHooks::default());
    assert_clean(&o, kernel);
    let subflows = &o.stats().subflows;
    assert_eq!(subflows.len(), 4, "a subflow per address pair: {subflows:#?}");
    for l in 0..2 {
        for k in 0..2 {
            let sf = o.subflow(topo.stack_addr_on(l), topo.kernel_addr_on(k));
            assert!(sf.stats.bytes_sent > 0, "subflow {} -> {} carried data: {subflows:#?}", sf.local, sf.remote);
        }
    }
    let joins = (o.counter("MPJoinSynRx"), o.counter("MPJoinAckRx"));
    assert_eq!(joins, (3, 3), "three joins, each the first try: {:?}", o.counters);
    assert_echoed_once(&o);
    assert_eq!(o.kernel.info.map(|i| i.subflows), Some(3), "{:?}", o.kernel.info);
}

// ---------------------------------------------------------------------------------------------
// 5. MP_PRIO both ways.

#[test]
fn stack_sets_backup_kernel_sees_it() {
    skip_unless_possible!();
    let topo = two_paths(false);
    let bytes = 32 * MIB;
    let kernel = Kernel::server(&topo, 4 * MIB);
    let mut plan = stack_client(&topo, &[0, 1], bytes);
    let backup_addr = topo.stack_addr_on(1);
    let seen_rx = at_subflow(&mut plan, backup_addr, topo.kernel_addr, 4 * MIB, |lp, sf| {
        let r = with_conn(lp, |c, _| c.set_backup(sf.id, true)).expect("connection");
        r.expect("set_backup");
    });
    // At the end of the stack's stream the kernel's subflow from our second address must say
    // that we asked for backup (`B` in `ss`'s MPTCP flags).
    let (hooks, flags_rx) = kernel_subflows_at_end(&topo);
    let o = run_case("stack_sets_backup", &topo, plan, kernel, hooks);
    assert_clean(&o, kernel);
    let at_set = seen_rx.try_recv().expect("the stack set the subflow to backup");
    let ks = flags_rx.try_recv().expect("the kernel's subflows at the end of the stream");
    eprintln!("kernel subflows at the end of the stream: {ks:?}");
    let k = ks
        .iter()
        .find(|s| s.local == topo.kernel_addr && s.peer == backup_addr)
        .unwrap_or_else(|| panic!("no kernel subflow: {ks:?}"));
    assert!(k.flags.contains('B'), "the kernel marks the subflow backup at our request: {k:?}");
    assert!(o.counter("MPPrioRx") >= 1, "MPTcpExtMPPrioRx: {:?}", o.counters);
    let end = o.subflow(backup_addr, topo.kernel_addr);
    assert!(end.backup, "{end:#?}");
    // No new data on the backup subflow after MP_PRIO, in either direction: from us at most
    // what was in flight then, sent again; the kernel sends new data only on a regular subflow
    // while one is active (`mptcp_subflow_get_send()`), so the regular one carried every byte
    // of its reply (which came after MP_PRIO). Its MPTCP-level retransmissions may still use the
    // backup when the regular subflow shows no progress for two retransmission timer periods
    // (`mptcp_subflow_get_retrans()`; our debug build can be that slow to acknowledge).
    assert!(end.stats.bytes_sent < at_set.stats.bytes_sent + MIB, "{at_set:#?} then {end:#?}");
    let regular = o.subflow(topo.stack_addr, topo.kernel_addr);
    assert!(regular.stats.bytes_received >= 4 * MIB, "the kernel's reply went on the regular subflow: {regular:#?}");
    assert!(end.stats.bytes_received < MIB / 4, "at most a few reinjected bytes on the backup: {end:#?}");
}

#[test]
fn kernel_sets_backup_stack_sees_it() {
    skip_unless_possible!();
    let (topo, extra) = kernel_joins_from_second_address();
    let bytes = 32 * MIB;
    let kernel = Kernel::client(&topo, bytes);
    let hooks = kernel_mptcp_command_after(&topo, 4 * MIB, "endpoint change id 1 backup");
    let o = run_case("kernel_sets_backup", &topo, stack_server(&topo, &[0]), kernel, hooks);
    assert_clean(&o, kernel);
    let sf = o.subflow(topo.stack_addr, extra);
    assert!(sf.backup, "the peer's MP_PRIO made the subflow a backup: {sf:#?}");
    assert!(o.counter("MPPrioTx") >= 1, "MPTcpExtMPPrioTx: {:?}", o.counters);
}

// ---------------------------------------------------------------------------------------------
// 6. REMOVE_ADDR both ways.

#[test]
fn kernel_removes_address_stack_subflow_closes() {
    skip_unless_possible!();
    let topo = two_paths(false);
    let announced = kernel_endpoint(&topo, "signal");
    let bytes = 32 * MIB;
    let kernel = Kernel::server(&topo, MIB);
    let plan = stack_client(&topo, &[0], bytes);
    let hooks = kernel_mptcp_command_after(&topo, 8 * MIB, "endpoint delete id 1");
    let o = run_case("kernel_removes_address", &topo, plan, kernel, hooks);
    // The kernel closes its subflow to a deleted endpoint at once; with our data still unread
    // in that subflow it resets it (RST with MP_TCPRST, as tcp_close() does with unread data)
    // instead of a FIN. The connection itself must stay clean.
    assert_clean_but(&o, kernel, &["MPRstTx"]);
    assert!(o.counter("MPRstTx") <= 1, "at most the removed subflow was reset: {:?}", o.counters);
    let gone = o.subflow(topo.stack_addr, announced);
    assert!(gone.joined && gone.stats.bytes_sent > 0, "the join carried data before: {gone:#?}");
    assert!(gone.stats.bytes_sent < bytes / 2, "and stopped: {:#?}", o.stats());
    let to_announced = o.stats().subflows.iter().filter(|s| s.remote.ip() == announced).count();
    assert_eq!(to_announced, 1, "not opened again after REMOVE_ADDR: {:#?}", o.stats());
    assert!(o.counter("RmAddrTx") >= 1, "the kernel sent REMOVE_ADDR: {:?}", o.counters);
    assert_echoed_once(&o);
    assert_eq!(o.kernel.info.map(|i| i.subflows), Some(0), "the kernel's subflow is gone: {:?}", o.kernel.info);
}

#[test]
fn stack_withdraws_address_kernel_subflow_closes() {
    skip_unless_possible!();
    let topo = two_paths(false);
    let bytes = 32 * MIB;
    let kernel = Kernel::server(&topo, MIB);
    let mut plan = stack_client(&topo, &[0, 1], bytes);
    let withdrawn = topo.stack_addr_on(1);
    let seen_rx = at_subflow(&mut plan, withdrawn, topo.kernel_addr, 8 * MIB, move |lp, _| {
        let r = with_conn(lp, |c, now| c.withdraw_address(withdrawn, now)).expect("connection");
        r.expect("withdraw_address");
    });
    let (hooks, subflows_rx) = kernel_subflows_at_end(&topo);
    let o = run_case("stack_withdraws_address", &topo, plan, kernel, hooks);
    assert_clean(&o, kernel);
    let at = seen_rx.try_recv().expect("the stack withdrew its address");
    assert!(o.counter("RmAddr") >= 1, "MPTcpExtRmAddr: {:?}", o.counters);
    let ks = subflows_rx.try_recv().expect("the kernel's subflows at the end of the stream");
    assert!(ks.iter().all(|s| s.peer != withdrawn), "the kernel's subflow to {withdrawn} closed: {ks:?}");
    assert_eq!(o.kernel.info.map(|i| i.subflows), Some(0), "{:?}", o.kernel.info);
    let end = o.subflow(withdrawn, topo.kernel_addr);
    assert!(end.stats.bytes_sent < at.stats.bytes_sent + MIB, "no new data after: {at:#?} then {end:#?}");
    assert_eq!(o.stats().subflows.iter().filter(|s| s.local.ip() == withdrawn).count(), 1, "not reopened");
}

// ---------------------------------------------------------------------------------------------
// 7. A path goes down mid-transfer.

#[test]
fn path_down_mid_transfer_data_completes_on_the_other() {
    skip_unless_possible!();
    let topo = two_paths(false);
    let other = kernel_endpoint(&topo, "signal");
    // The stack on one address: a subflow over each veth, to each kernel address.
    let bytes = 32 * MIB;
    let kernel = Kernel::server(&topo, 4 * MIB);
    let mut plan = stack_client(&topo, &[0], bytes);
    // Cut the initial subflow's path (veth 0) once the join to the other address is up.
    let down = stack_link_down(&topo, Topology::stack_dev(0));
    let seen_rx = at_subflow(&mut plan, topo.stack_addr, other, 8 * MIB, move |_, _| down());
    let o = run_case("path_down", &topo, plan, kernel, KernelHooks::default());
    assert_clean(&o, kernel);
    let at = seen_rx.try_recv().expect("the path went down mid-transfer");
    let survivor = o.subflow(topo.stack_addr, other);
    assert!(
        survivor.stats.bytes_sent > at.stats.bytes_sent,
        "the other path carried the rest: {at:#?} then {survivor:#?}"
    );
    assert!(survivor.stats.bytes_received > 0, "and the kernel's reply");
    assert_echoed_once(&o);
}

#[test]
fn tun_device_down_mid_transfer_data_completes_on_the_other() {
    skip_unless_possible!();
    // The stack's own device of the joined path goes down: writes to it fail (EIO), which the
    // driver counts as drops on a dead path; the initial subflow carries the rest.
    let topo = two_paths(false);
    let bytes = 32 * MIB;
    let kernel = Kernel::server(&topo, MIB);
    let mut plan = stack_client(&topo, &[0, 1], bytes);
    let down = stack_link_down(&topo, Topology::tun(1));
    let seen_rx = at_subflow(&mut plan, topo.stack_addr_on(1), topo.kernel_addr, 4 * MIB, move |_, _| down());
    let o = run_case("tun_down", &topo, plan, kernel, KernelHooks::default());
    assert_clean(&o, kernel);
    let at = seen_rx.try_recv().expect("the device went down mid-transfer");
    let initial = o.subflow(topo.stack_addr_on(0), topo.kernel_addr);
    let dead = o.subflow(topo.stack_addr_on(1), topo.kernel_addr);
    // After the device goes down the subflow may still fill its window (every packet dropped
    // at the device) before its first retransmission timeout stalls it; little beyond that.
    let bound = at.stats.bytes_sent + at.cwnd + MIB;
    assert!(dead.stats.bytes_sent < bound, "the dead path carried little more than a window: {at:#?} then {dead:#?}");
    assert!(initial.stats.bytes_sent > bytes / 4, "the initial subflow carried the rest: {:#?}", o.stats());
}

#[test]
fn path_down_under_kernel_client_data_completes_on_the_other() {
    skip_unless_possible!();
    // The kernel sends: when the initial subflow's path dies, the kernel reinjects what that
    // subflow carried on its join (MPTCP-level retransmission with new subflow sequence numbers),
    // and the stack must take it.
    let (topo, extra) = kernel_joins_from_second_address();
    let bytes = 32 * MIB;
    let kernel = Kernel::client(&topo, bytes);
    let hooks = once_kernel_joined(8 * MIB, stack_link_down(&topo, Topology::stack_dev(0)));
    let o = run_case("path_down_kernel_client", &topo, stack_server(&topo, &[0]), kernel, hooks);
    assert_clean(&o, kernel);
    let survivor = o.subflow(topo.stack_addr, extra);
    let initial = o.subflow(topo.stack_addr, topo.kernel_addr);
    assert!(survivor.stats.bytes_received > bytes / 2, "the join carried the rest: {:#?}", o.stats());
    assert!(initial.stats.bytes_received < bytes - MIB, "the initial path died mid-transfer: {initial:#?}");
}

// ---------------------------------------------------------------------------------------------
// The kernel server denies joins to its initial address (MP_CAPABLE flag C).

#[test]
fn kernel_server_denies_joins_to_initial_address() {
    skip_unless_possible!();
    // RFC 8684 §3.1: with `allow_join_initial_addr_port=0` the kernel sets C in its SYN/ACK; our
    // client joins only the address it announced, from both of its addresses.
    let topo = two_paths(false);
    topo.kernel.sysctl("net.mptcp.allow_join_initial_addr_port", "0").expect("sysctl");
    let announced = kernel_endpoint(&topo, "signal");
    let bytes = 16 * MIB;
    let kernel = Kernel::server(&topo, MIB);
    let plan = stack_client(&topo, &[0, 1], bytes);
    let o = run_case("kernel_denies_join_id0", &topo, plan, kernel, KernelHooks::default());
    assert_clean(&o, kernel);
    assert_echoed_once(&o);
    let subflows = &o.stats().subflows;
    let to_initial: Vec<_> = subflows.iter().filter(|s| s.remote.ip() == topo.kernel_addr).collect();
    assert_eq!(to_initial.len(), 1, "no join to the initial address: {subflows:#?}");
    for l in 0..2 {
        assert!(o.subflow(topo.stack_addr_on(l), announced).joined);
    }
    let joins = (o.counter("MPJoinSynRx"), o.counter("MPJoinAckRx"));
    assert_eq!(joins, (2, 2), "two joins, both to the announced address: {:?}", o.counters);
}
