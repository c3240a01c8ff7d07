//! The paper's slides 19–21 as a C program (`examples/c/slides.c`), compiled with gcc against
//! `socket-api/include/mptcp_socket.h`, run unmodified under `mptcp run --path-manager manual`
//! (the `LD_PRELOAD` library) against the Linux kernel's MPTCP over two paths: it lists subflow
//! 1 and its endpoints, opens a subflow on the second path (the kernel takes the join), lists it,
//! and its data arrives intact.
//!
//! Needs root and gcc; without them it prints why and passes without running.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::time::Duration;

use mptcp_tests::capi::{artifacts, compile_example, in_netns, missing_gcc, pattern, run_limited};
use mptcp_tests::interop::{KernelHooks, kernel_server};
use mptcp_tests::netns::{Topology, mptcp_counters, skip_reason};

const PORT: u16 = 5201;
const BYTES: usize = 4 << 20;
const REPLY: u64 = 64 * 1024;
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn slides_program_lists_and_opens_subflows_under_mptcp_run() {
    if let Some(why) = skip_reason().or_else(missing_gcc) {
        eprintln!("skipped: {why}");
        return;
    }
    let built = artifacts();
    let slides = compile_example("slides");
    let topo = Topology::with_paths(false, 2).expect("namespaces and devices");
    topo.kernel.ip("mptcp limits set subflows 8 add_addr_accepted 8").expect("ip mptcp limits");
    let (ready_tx, ready_rx) = mpsc::channel();
    let any = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), PORT);
    let kernel =
        topo.kernel.spawn(move || kernel_server(any, REPLY, false, 7, LIMIT, KernelHooks::default(), ready_tx));
    ready_rx.recv_timeout(Duration::from_secs(10)).expect("the kernel server listens");

    let (server, local2, remote2) = (topo.kernel_addr.to_string(), topo.stack_addr_on(1), topo.kernel_addr_on(1));
    let paths = [format!("--path=mtun0={}", topo.stack_addr_on(0)), format!("--path=mtun1={local2}")];
    let (local2, remote2, port, bytes) = (local2.to_string(), remote2.to_string(), PORT.to_string(), BYTES.to_string());
    let mut args = vec!["run", &paths[0], &paths[1], "--path-manager", "manual", "--"];
    let slides = slides.to_str().expect("UTF-8 path");
    args.extend([slides, &server, &port, &local2, &remote2, &bytes]);
    let (out, err, code) = run_limited(in_netns(&topo.stack, &built.mptcp, &args), LIMIT);
    let _ = std::fs::remove_file(slides);
    eprintln!("slides stdout:\n{out}\nslides stderr:\n{err}");
    assert_eq!(code, Some(0), "the slides program succeeded");

    let kernel = kernel.join().expect("kernel thread").expect("entered the namespace").expect("kernel side");
    let lines: Vec<&str> = out.lines().collect();
    let at = |line: &str| lines.iter().position(|l| *l == line).unwrap_or_else(|| panic!("no line {line:?}"));
    let first = at("Subflow id : 1");
    assert!(lines[first + 1].starts_with(&format!("\tip src : {} src port : ", topo.stack_addr_on(0))));
    assert_eq!(lines[first + 2], format!("\tip dst : {server} dst port : {PORT}"));
    let opened = at("opened subflow 2");
    assert!(opened > first);
    let listed =
        lines[opened..].iter().position(|l| *l == "Subflow id : 2").expect("the new subflow is listed") + opened;
    let endpoints = &lines[listed..];
    assert!(endpoints.contains(&format!("\tip src : {local2} src port : 12345").as_str()), "{endpoints:?}");
    assert!(endpoints.contains(&format!("\tip dst : {remote2} dst port : {PORT}").as_str()), "{endpoints:?}");
    at("subflow 2 established");
    at(&format!("sent {BYTES} bytes"));
    at(&format!("received {REPLY} bytes"));

    let (_, sha) = pattern(BYTES);
    assert_eq!(kernel.bytes_received, BYTES as u64, "the kernel received everything");
    assert_eq!(kernel.sha256_received, sha, "data intact");
    assert!(kernel.is_mptcp, "the kernel kept MPTCP");
    let counters = mptcp_counters(&topo.kernel).expect("MPTcpExt");
    let get = |n: &str| counters.get(n).copied().unwrap_or(0);
    assert!(get("MPJoinSynRx") >= 1 && get("MPJoinAckRx") >= 1, "the kernel took the join: {counters:?}");
}
