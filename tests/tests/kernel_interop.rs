//! The stack against the Linux kernel's own MPTCP, over a TUN device.
//!
//! Each test builds its own pair of network namespaces ([`Topology`]: K for the kernel's
//! sockets, S forwarding between a veth to K and the stack's TUN device) and removes them when
//! it ends, also on failure. The stack runs in this process, on a thread that entered S, through
//! the TUN event loop; the kernel side is an `IPPROTO_MPTCP` socket made on a thread that entered
//! K. After each case the kernel's `MPTcpExt` counters in K must show no fallback, no mapping or
//! checksum error and no reset, unless the case expects a fallback.
//!
//! They need root; without it (or without `/dev/net/tun`, `ip`, kernel MPTCP) each prints why
//! and passes without running. `MPTCP_TUN_TRACE=1` prints every packet on the TUN device.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mptcp_stack::connection::CloseReason;
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_tests::interop::{
    KernelHooks, KernelSide, MUST_BE_ZERO, StackPlan, StackSide, kernel_client, kernel_server, print_subflows,
};
use mptcp_tests::netns::{TUN, Topology, mptcp_counters, skip_reason};
use mptcp_tun_driver::event_loop::StopReason;
use mptcp_tun_driver::transfer::{ClosePolicy, Role};

const PORT: u16 = 5201;
const MIB: u64 = 1 << 20;
/// Seed of the data the stack sends; the kernel's data uses `SEED + 1`.
const SEED: u64 = 42;
/// Time allowed for one whole case.
const LIMIT: Duration = Duration::from_secs(90);

macro_rules! skip_unless_possible {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// Runs the stack in `role` over the TUN device of the topology (on the calling thread, which
/// must be in the stack's namespace) until its connection closes. Sends on `ready` once it
/// listens or connects.
fn run_stack(
    local: IpAddr,
    role: Role,
    close: Option<ClosePolicy>,
    checksum: bool,
    ready: mpsc::Sender<()>,
) -> Result<StackSide, String> {
    let mut base = EndpointConfig::default();
    base.connection.checksum = checksum;
    let plan = StackPlan { paths: vec![(TUN.to_owned(), local)], base, role, close, steps: Vec::new(), limit: LIMIT };
    mptcp_tests::interop::run_stack(plan, ready)
}

// ---------------------------------------------------------------------------------------------
// Cases.

/// How a case is set up.
#[derive(Debug, Clone, Copy)]
struct Case {
    v6: bool,
    /// The stack is the client (else the kernel is).
    stack_client: bool,
    /// Client to server.
    bytes: u64,
    /// Server to client after the end of stream (kernel server only).
    reply: u64,
    /// `net.mptcp.checksum_enabled=1` in K.
    kernel_checksum: bool,
    /// The stack asks for checksums (MP_CAPABLE flag A).
    stack_checksum: bool,
    /// `net.mptcp.enabled=0` in K (expect fallback to TCP).
    kernel_mptcp_off: bool,
    /// The stack (client) aborts once this much was acknowledged.
    abort_after: Option<u64>,
    /// The kernel server sends its reply and closes before reading the stack's data; the stack
    /// client closes only after the kernel's end of stream.
    kernel_closes_first: bool,
}

impl Case {
    fn new(v6: bool, stack_client: bool, bytes: u64) -> Case {
        Case {
            v6,
            stack_client,
            bytes,
            reply: 0,
            kernel_checksum: false,
            stack_checksum: false,
            kernel_mptcp_off: false,
            abort_after: None,
            kernel_closes_first: false,
        }
    }
}

/// The outcome, for the assertions.
#[derive(Debug)]
struct Outcome {
    stack: StackSide,
    kernel: KernelSide,
    counters: BTreeMap<String, u64>,
}

fn run_case(case: Case) -> Outcome {
    let topo = Topology::new(case.v6).expect("namespaces and devices");
    if case.kernel_checksum {
        topo.kernel.sysctl("net.mptcp.checksum_enabled", "1").expect("sysctl");
    }
    if case.kernel_mptcp_off {
        topo.kernel.sysctl("net.mptcp.enabled", "0").expect("sysctl");
    }
    let kernel_at = SocketAddr::new(topo.kernel_addr, PORT);
    let stack_at = SocketAddr::new(topo.stack_addr, PORT);
    let (ready_tx, ready_rx) = mpsc::channel();
    let started = Instant::now();
    let (stack, kernel) = if case.stack_client {
        let Case { bytes, reply, kernel_closes_first, .. } = case;
        let kernel = topo.kernel.spawn(move || {
            kernel_server(kernel_at, reply, kernel_closes_first, SEED + 1, LIMIT, KernelHooks::default(), ready_tx)
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("the kernel server listens");
        let role = Role::Client { local: topo.stack_addr, remote: kernel_at, bytes, seed: SEED };
        let (tx, _rx) = mpsc::channel();
        let local = topo.stack_addr;
        let close = match case.abort_after {
            Some(n) => Some(ClosePolicy::AbortAfter(n)),
            None if kernel_closes_first => Some(ClosePolicy::AfterEof),
            None => None,
        };
        let checksum = case.stack_checksum;
        let stack = topo.stack.run(move || run_stack(local, role, close, checksum, tx));
        (stack, kernel.join())
    } else {
        let local = topo.stack_addr;
        let checksum = case.stack_checksum;
        let stack =
            topo.stack.spawn(move || run_stack(local, Role::Server { listen: stack_at }, None, checksum, ready_tx));
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("the stack server listens");
        let bytes = case.bytes;
        let kernel = topo.kernel.run(move || kernel_client(stack_at, bytes, SEED + 1, LIMIT, KernelHooks::default()));
        (stack.join().unwrap_or_else(|_| Err(io::Error::other("stack thread panicked"))), Ok(kernel))
    };
    let stack = stack.expect("entered the stack namespace").unwrap_or_else(|e| panic!("stack side: {e}"));
    let kernel = kernel
        .unwrap_or_else(|_| panic!("kernel thread panicked"))
        .expect("entered the kernel namespace")
        .unwrap_or_else(|e| panic!("kernel side: {e}\nstack side: {stack:#?}"));
    let counters = mptcp_counters(&topo.kernel).expect("MPTcpExt counters");
    let wall = started.elapsed().as_secs_f64();
    let nonzero: BTreeMap<_, _> = counters.iter().filter(|(_, v)| **v != 0).collect();
    eprintln!(
        "case {case:?}: {:.3} s from start to close on the stack's clock ({wall:.3} s wall), \
         {:.0} Mbit/s of payload both ways; kernel MPTcpExt: {nonzero:?}",
        stack.seconds,
        (stack.report.bytes_sent + stack.report.bytes_received) as f64 * 8.0 / stack.seconds / 1e6,
    );
    eprintln!("stack loop: {:?}", stack.loop_stats);
    print_subflows(stack.stats.as_ref());
    Outcome { stack, kernel, counters }
}

fn assert_clean_mptcp(o: &Outcome, case: Case) {
    let s = &o.stack;
    assert_eq!(s.stop, StopReason::Done, "the stack's connection closed in time: {s:#?}");
    assert_eq!(s.report.closed.map(|c| c.1), Some(CloseReason::Normal), "normal close: {s:#?}");
    assert_eq!(s.report.mptcp, Some(true), "the stack kept MPTCP");
    assert!(o.kernel.is_mptcp, "the kernel kept MPTCP (TCP_IS_MPTCP)");
    for name in MUST_BE_ZERO {
        assert_eq!(o.counters.get(*name).copied().unwrap_or(0), 0, "MPTcpExt{name} in {:?}", o.counters);
    }
    let capable = if case.stack_client { "MPCapableSYNRX" } else { "MPCapableSYNACKRX" };
    assert!(o.counters.get(capable).copied().unwrap_or(0) >= 1, "MPTcpExt{capable} counted: {:?}", o.counters);
    assert_data(o, case);
}

fn assert_data(o: &Outcome, case: Case) {
    let (s, k) = (&o.stack.report, &o.kernel);
    if case.stack_client {
        assert_eq!(s.bytes_sent, case.bytes, "the stack sent everything");
        assert_eq!(k.bytes_received, case.bytes, "the kernel received everything");
        assert_eq!(k.sha256_received, s.sha256_sent, "data intact stack -> kernel");
        assert_eq!((k.bytes_sent, s.bytes_received), (case.reply, case.reply), "the stack received the reply");
        assert_eq!(s.sha256_received, k.sha256_sent, "reply intact kernel -> stack");
    } else {
        assert_eq!(k.bytes_sent, case.bytes, "the kernel sent everything");
        assert_eq!(s.bytes_received, case.bytes, "the stack received everything");
        assert_eq!(s.sha256_received, k.sha256_sent, "data intact kernel -> stack");
        assert_eq!(k.bytes_received, 0);
    }
}

#[test]
fn stack_client_to_kernel_server_v4() {
    skip_unless_possible!();
    let case = Case { reply: 8 * MIB, ..Case::new(false, true, 8 * MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
    assert_eq!(o.kernel.csum_enabled, Some(false));
}

#[test]
fn kernel_client_to_stack_server_v4() {
    skip_unless_possible!();
    let case = Case::new(false, false, 8 * MIB);
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
}

#[test]
fn stack_client_to_kernel_server_v6() {
    skip_unless_possible!();
    let case = Case { reply: MIB, ..Case::new(true, true, 8 * MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
}

#[test]
fn kernel_client_to_stack_server_v6() {
    skip_unless_possible!();
    let case = Case::new(true, false, 8 * MIB);
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
}

#[test]
fn kernel_checksums_on() {
    skip_unless_possible!();
    let case = Case { reply: 8 * MIB, kernel_checksum: true, ..Case::new(false, true, 8 * MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
    assert_eq!(o.kernel.csum_enabled, Some(true), "the kernel uses DSS checksums");
}

#[test]
fn stack_checksums_on_kernel_client() {
    skip_unless_possible!();
    // Only the stack (here the server) asks for checksums: the kernel must use them too.
    let case = Case { stack_checksum: true, ..Case::new(false, false, 8 * MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
    assert_eq!(o.kernel.csum_enabled, Some(true), "the kernel uses DSS checksums");
}

#[test]
fn kernel_mptcp_disabled_stack_client_falls_back() {
    skip_unless_possible!();
    let case = Case { reply: MIB, kernel_mptcp_off: true, ..Case::new(false, true, 4 * MIB) };
    let o = run_case(case);
    assert!(o.kernel.plain_tcp, "the kernel side had to use plain TCP");
    assert_eq!(o.stack.stop, StopReason::Done, "closed in time: {:#?}", o.stack);
    assert_eq!(o.stack.report.mptcp, Some(false), "the stack fell back to TCP");
    assert_eq!(o.stack.report.closed.map(|c| c.1), Some(CloseReason::Normal));
    assert_data(&o, case);
}

#[test]
fn kernel_mptcp_disabled_kernel_client_falls_back() {
    skip_unless_possible!();
    let case = Case { kernel_mptcp_off: true, ..Case::new(false, false, 4 * MIB) };
    let o = run_case(case);
    assert!(o.kernel.plain_tcp, "the kernel side had to use plain TCP");
    assert_eq!(o.stack.stop, StopReason::Done, "closed in time: {:#?}", o.stack);
    assert_eq!(o.stack.report.mptcp, Some(false), "the stack fell back to TCP");
    assert_eq!(o.stack.report.closed.map(|c| c.1), Some(CloseReason::Normal));
    assert_data(&o, case);
}

#[test]
fn stack_client_to_kernel_server_64mib_each_way() {
    skip_unless_possible!();
    let case = Case { reply: 64 * MIB, ..Case::new(false, true, 64 * MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
}

#[test]
fn kernel_server_closes_first() {
    skip_unless_possible!();
    let case = Case { reply: 4 * MIB, kernel_closes_first: true, ..Case::new(false, true, MIB) };
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
    let (eof, closed) = (o.stack.report.eof_at, o.stack.report.closed.map(|c| c.0));
    assert!(eof.is_some() && eof <= closed, "the kernel's DATA_FIN came first: {:#?}", o.stack.report);
}

#[test]
fn kernel_client_to_stack_server_64mib() {
    skip_unless_possible!();
    let case = Case::new(false, false, 64 * MIB);
    let o = run_case(case);
    assert_clean_mptcp(&o, case);
}

#[test]
fn stack_client_abort_is_a_fast_close_for_the_kernel() {
    skip_unless_possible!();
    let case = Case { abort_after: Some(2 * MIB), ..Case::new(false, true, 64 * MIB) };
    let o = run_case(case);
    assert_eq!(o.stack.stop, StopReason::Done, "the stack's connection ended: {:#?}", o.stack);
    assert_eq!(o.stack.report.closed.map(|c| c.1), Some(CloseReason::Aborted));
    assert!(o.kernel.reset, "the kernel's read ended with ECONNRESET: {:?}", o.kernel);
    assert!(o.kernel.bytes_received >= 2 * MIB && o.kernel.bytes_received < 64 * MIB, "{:?}", o.kernel);
    let rx = |name: &str| o.counters.get(name).copied().unwrap_or(0);
    assert!(rx("MPFastcloseRx") >= 1, "MPTcpExtMPFastcloseRx counted: {:?}", o.counters);
    assert_eq!(rx("MPCapableFallbackACK") + rx("DSSNotMatching") + rx("DataCsumErr"), 0, "{:?}", o.counters);
}
