//! An unmodified real program over the stack, in both roles: `iperf3 -c` under `mptcp run` (the
//! `LD_PRELOAD` library, two paths, the default fullmesh path manager) against `mptcpize run
//! iperf3 -s`, the Linux kernel's MPTCP, in its own namespace; and `iperf3 -s` under `mptcp run`
//! serving `mptcpize run iperf3 -c`. The transfer completes (iperf3's JSON: bytes sent, no
//! error) and the kernel saw MPTCP: its MP_CAPABLE counters grew, and the subflows joined.
//!
//! Needs root, `iperf3` and `mptcpize` (Debian packages `iperf3`, `mptcpd`); without them it
//! prints why and passes without running.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mptcp_tests::capi::{artifacts, in_netns, run_limited};
use mptcp_tests::netns::{Topology, mptcp_counters, skip_reason};

const PORT: &str = "5202";
const LIMIT: Duration = Duration::from_secs(90);

/// Why the programs this test runs are missing, or `None`.
fn missing_programs() -> Option<String> {
    for (program, arg) in [("iperf3", "--version"), ("mptcpize", "--help")] {
        if Command::new(program).arg(arg).output().is_err() {
            return Some(format!("{program} is missing (apt-get install iperf3 mptcpd)"));
        }
    }
    None
}

/// The number after `"key":` at the first occurrence of `key` after `from` in `json`.
fn number_after(json: &str, from: &str, key: &str) -> Option<f64> {
    let rest = &json[json.find(from)?..];
    let rest = &rest[rest.find(&format!("\"{key}\""))? + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '+' || c == '-'))?;
    rest[..end].parse().ok()
}

/// `ip netns exec NS ARGS...`.
fn in_netns_cmd(ns: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).args(args);
    cmd
}

/// Starts a one-off `iperf3 -s` command and waits until it says it listens.
fn listening_server(mut cmd: Command) -> Child {
    let mut server = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start the iperf3 server");
    let stdout = server.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Server listening") {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(20)).is_err() {
        let _ = server.kill();
        panic!("the iperf3 server did not start listening");
    }
    server
}

/// Did the one-off server exit (within 20 s)?
fn finished(mut server: Child) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(server.wait());
    });
    rx.recv_timeout(Duration::from_secs(20)).is_ok()
}

/// How much each of the kernel's `MPTcpExt` counters grew since `before` (printed as they are).
fn growth_since(topo: &Topology, before: &BTreeMap<String, u64>) -> impl Fn(&str) -> u64 {
    let after = mptcp_counters(&topo.kernel).expect("MPTcpExt");
    eprintln!("kernel MPTcpExt: {:?}", after.iter().filter(|(_, v)| **v != 0).collect::<Vec<_>>());
    let before = before.clone();
    move |n: &str| after.get(n).copied().unwrap_or(0) - before.get(n).copied().unwrap_or(0)
}

/// The iperf3 client's JSON report: its 16 MiB sent, received by the server, no error.
fn assert_transferred(out: &str) {
    assert!(!out.contains("\"error\""), "iperf3 reported an error:\n{out}");
    let sent = number_after(out, "\"sum_sent\"", "bytes").unwrap_or_else(|| panic!("no sum_sent.bytes in\n{out}"));
    let received =
        number_after(out, "\"sum_received\"", "bytes").unwrap_or_else(|| panic!("no sum_received.bytes in\n{out}"));
    let rate = number_after(out, "\"sum_received\"", "bits_per_second").unwrap_or(0.0);
    eprintln!("iperf3: sent {sent} bytes, the server received {received} bytes at {:.0} Mbit/s", rate / 1e6);
    assert!(sent >= 16.0 * 1024.0 * 1024.0, "iperf3 sent its 16 MiB");
    assert!(received > 0.0, "the server received data");
}

#[test]
fn iperf3_client_under_mptcp_run_against_kernel_mptcp_server() {
    if let Some(why) = skip_reason().or_else(missing_programs) {
        eprintln!("skipped: {why}");
        return;
    }
    let built = artifacts();
    let topo = Topology::with_paths(false, 2).expect("namespaces and devices");
    topo.kernel.ip("mptcp limits set subflows 8 add_addr_accepted 8").expect("ip mptcp limits");
    let before = mptcp_counters(&topo.kernel).expect("MPTcpExt");

    // The kernel's server: a one-off iperf3 with its sockets made MPTCP by mptcpize.
    let server = listening_server(in_netns_cmd(
        topo.kernel.name(),
        &["mptcpize", "run", "iperf3", "-s", "-1", "--forceflush", "-p", PORT],
    ));
    let paths = [format!("--path=mtun0={}", topo.stack_addr_on(0)), format!("--path=mtun1={}", topo.stack_addr_on(1))];
    let server_ip = topo.kernel_addr.to_string();
    let args = ["run", &paths[0], &paths[1], "--", "iperf3", "-c", &server_ip, "-p", PORT, "-n", "16M", "--json"];
    let (out, err, code) = run_limited(in_netns(&topo.stack, &built.mptcp, &args), LIMIT);
    if code != Some(0) {
        panic!("iperf3 -c under mptcp run failed ({code:?})\nstdout:\n{out}\nstderr:\n{err}");
    }
    assert!(finished(server), "the one-off iperf3 server finished");
    assert_transferred(&out);

    let grew = growth_since(&topo, &before);
    assert!(grew("MPCapableSYNRX") >= 2, "the kernel took MP_CAPABLE SYNs (control and data connections)");
    assert_eq!(grew("MPCapableFallbackACK") + grew("MPCapableFallbackSYNACK"), 0, "no fallback");
    assert!(grew("MPJoinSynRx") >= 1, "the kernel took a join from the second path");
}

#[test]
fn iperf3_server_under_mptcp_run_serves_kernel_mptcp_client() {
    if let Some(why) = skip_reason().or_else(missing_programs) {
        eprintln!("skipped: {why}");
        return;
    }
    let built = artifacts();
    let topo = Topology::with_paths(false, 2).expect("namespaces and devices");
    // The kernel client opens a subflow from its second address toward the stack.
    topo.kernel.ip("mptcp limits set subflows 8 add_addr_accepted 8").expect("ip mptcp limits");
    let second = topo.kernel_addr_on(1);
    topo.kernel.ip(&format!("mptcp endpoint add {second} dev {} subflow", Topology::kernel_dev(1))).expect("endpoint");
    let before = mptcp_counters(&topo.kernel).expect("MPTcpExt");

    // Our server: iperf3 under mptcp run, listening on every path's address.
    let paths = [format!("--path=mtun0={}", topo.stack_addr_on(0)), format!("--path=mtun1={}", topo.stack_addr_on(1))];
    let mptcp = built.mptcp.to_string_lossy().into_owned();
    let args = ["run", &paths[0], &paths[1], "--", "iperf3", "-s", "-1", "--forceflush", "-p", PORT];
    let server = listening_server(in_netns_cmd(topo.stack.name(), &[&[mptcp.as_str()][..], &args[..]].concat()));

    let stack_ip = topo.stack_addr.to_string();
    let client = ["mptcpize", "run", "iperf3", "-c", &stack_ip, "-p", PORT, "-n", "16M", "--json"];
    let (out, err, code) = run_limited(in_netns_cmd(topo.kernel.name(), &client), LIMIT);
    if code != Some(0) {
        panic!("the kernel's iperf3 -c failed ({code:?})\nstdout:\n{out}\nstderr:\n{err}");
    }
    assert!(finished(server), "the one-off iperf3 server under mptcp run finished");
    assert_transferred(&out);

    let grew = growth_since(&topo, &before);
    assert!(grew("MPCapableSYNACKRX") >= 2, "our SYN/ACKs carried MP_CAPABLE (control and data connections)");
    assert_eq!(grew("MPCapableFallbackSYNACK"), 0, "no fallback");
    assert!(grew("MPJoinSynAckRx") >= 1, "the kernel's join from its second address got our SYN/ACK");
}
