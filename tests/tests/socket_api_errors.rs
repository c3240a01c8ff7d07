//! The subflow operations where the paper's kernel fails them with EOPNOTSUPP, through the Rust
//! socket API against the Linux kernel: before the connection is established, and after it fell
//! back to TCP (the kernel's peer a plain TCP socket), where the data still flows intact.
//!
//! Each test builds its own namespaces and removes them when it ends; they need root (see
//! `socket_api_subflows.rs`).

use std::io::{ErrorKind, Read};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use mptcp_socket::event::{ConnEvent, FallbackReason};
use mptcp_socket::{Algorithm, CloseMode, Mode, MptcpStream, PathManagerKind, SubflowOption, SubflowOptionKind};
use mptcp_tests::skip_unless_possible;
use mptcp_tests::socket_api::{
    EventLog, KernelPeer, KernelPlay, LIMIT, MIB, Outgoing, kernel_on, nowhere_on, receive_all, stack, stack_on,
    topology,
};

/// Every subflow operation fails with `Unsupported` (EOPNOTSUPP) on `stream`; `id` is a subflow
/// id it would otherwise know.
fn assert_all_unsupported(stream: &MptcpStream, topo: &mptcp_tests::netns::Topology, id: u32) {
    let kinds = [
        stream.subflows().map(drop),
        stream.subflow_endpoints(id).map(drop),
        stream.open_subflow(stack_on(topo, 1), kernel_on(topo, 1), false).map(drop),
        stream.close_subflow(id, CloseMode::Graceful),
        stream.set_subflow_option(id, SubflowOption::NoDelay(false)),
        stream.subflow_option(id, SubflowOptionKind::TrafficClass).map(drop),
        stream.subflow_info(id).map(drop),
        stream.announce_address(topo.stack_addr_on(1), None).map(drop),
        stream.withdraw_address(topo.stack_addr_on(1)),
        stream.write_on(id, b"pinned").map(drop),
    ]
    .map(|r| r.map_err(|e| e.kind()));
    assert_eq!(kinds, [Err(ErrorKind::Unsupported); 10]);
}

#[test]
fn subflow_operations_unsupported_before_establishment() {
    skip_unless_possible!();
    let topo = topology(2);
    let stack = stack(&topo, &[0, 1], PathManagerKind::Manual);
    // Nobody answers at this address: the handshake never completes.
    let mut stream = stack.connect_nonblocking(None, nowhere_on(0)).expect("connect_nonblocking");
    assert_eq!(stream.snapshot().expect("snapshot").mode, Mode::Handshake);
    assert!(!stream.is_mptcp());
    assert_all_unsupported(&stream, &topo, 0);
    // Waiting for the handshake times out; non-blocking, reads say WouldBlock.
    let started = Instant::now();
    assert_eq!(stream.established(Some(Duration::from_millis(200))).map_err(|e| e.kind()), Err(ErrorKind::TimedOut));
    assert!(started.elapsed() >= Duration::from_millis(200));
    stream.set_nonblocking(true);
    assert_eq!(stream.read(&mut [0; 16]).map_err(|e| e.kind()), Err(ErrorKind::WouldBlock));
}

#[test]
fn subflow_operations_unsupported_after_fallback_data_intact() {
    skip_unless_possible!();
    let topo = topology(2);
    let kernel = KernelPeer::server(&topo, KernelPlay::ReadThenReply(MIB), true);
    let stack = stack(&topo, &[0, 1], PathManagerKind::FullMesh);
    let mut stream = stack.connect_timeout(None, kernel_on(&topo, 0), LIMIT).expect("connects");
    assert_eq!(stream.established(None).ok(), Some(false), "fell back to TCP");
    let mut log = EventLog::default();
    log.wait_for(&stream, "Established", |e| *e == ConnEvent::Established { mptcp: false });
    let snapshot = stream.snapshot().expect("snapshot");
    assert_eq!(snapshot.mode, Mode::Fallback(FallbackReason::PeerNotCapable));
    let initial = snapshot.stats.subflows[0].id;
    assert_all_unsupported(&stream, &topo, initial);
    // Scheduler and congestion control still apply to the one TCP subflow.
    stream.set_congestion_control(Algorithm::Reno).expect("set_congestion_control");
    assert_eq!(stream.snapshot().expect("snapshot").stats.subflows[0].congestion_control, Algorithm::Reno);

    let mut out = Outgoing::new(2 * MIB);
    out.send_all(&mut stream, 2 * MIB, |_, _| {});
    let subflows = stream.snapshot().expect("snapshot").stats.subflows;
    assert_eq!(subflows.len(), 1, "no join was tried: {subflows:#?}");
    stream.shutdown(Shutdown::Write).expect("shutdown");
    let (received, sha256_received) = receive_all(&mut stream, |_, _| {});
    let k = kernel.finish();
    k.assert_intact(&out, received, &sha256_received);
}
