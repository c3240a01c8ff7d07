//! How a blocking call of the Rust socket API ends, against the Linux kernel: a read that finds
//! no data times out after the read timeout; in non-blocking mode reads, event waits and writes to
//! a full send buffer fail with `WouldBlock`. The data written around them arrives intact. And a
//! stack built with the link emulator delays its path as asked.
//!
//! The test builds its own namespaces and removes them when it ends; it needs root (see
//! `socket_api_subflows.rs`).

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use mptcp_socket::{PathManagerKind, Stack};
use mptcp_tests::netns::Topology;
use mptcp_tests::skip_unless_possible;
use mptcp_tests::socket_api::{
    CHUNK, KernelPeer, KernelPlay, LIMIT, MIB, Outgoing, kernel_on, receive_all, stack, topology,
};
use mptcp_tun_driver::emulator::Schedule;
use mptcp_tun_driver::link::LinkConfig;

const READ_TIMEOUT: Duration = Duration::from_millis(150);

#[test]
fn read_timeout_and_non_blocking_mode() {
    skip_unless_possible!();
    let topo = topology(1);
    // The kernel sends nothing before our end of stream.
    let kernel = KernelPeer::server(&topo, KernelPlay::ReadThenReply(MIB), false);
    let stack = stack(&topo, &[0], PathManagerKind::FullMesh);
    let mut stream = stack.connect_timeout(None, kernel_on(&topo, 0), LIMIT).expect("connects");
    let mut buf = [0u8; 64];

    // A read with nothing to read times out.
    assert_eq!(stream.set_read_timeout(Some(Duration::ZERO)).map_err(|e| e.kind()), Err(ErrorKind::InvalidInput));
    stream.set_read_timeout(Some(READ_TIMEOUT)).expect("set_read_timeout");
    let started = Instant::now();
    assert_eq!(stream.read(&mut buf).map_err(|e| e.kind()), Err(ErrorKind::TimedOut));
    assert!(started.elapsed() >= READ_TIMEOUT, "after {:?}", started.elapsed());

    // Non-blocking: no data, no event, then a send buffer that fills up.
    stream.set_nonblocking(true);
    assert!(stream.is_nonblocking());
    assert_eq!(stream.read(&mut buf).map_err(|e| e.kind()), Err(ErrorKind::WouldBlock));
    while stream.poll_event().is_some() {}
    assert_eq!(stream.next_event(None).map_err(|e| e.kind()), Err(ErrorKind::WouldBlock));
    let mut out = Outgoing::new(16 * MIB);
    let mut would_block = false;
    while !would_block {
        assert!(out.sent < 12 * MIB, "the 4 MiB send buffer never filled up");
        // The chunk the buffer refused goes on in blocking mode, so that the stream stays whole.
        out.send(CHUNK, |d| match stream.write(d) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                would_block = true;
                stream.set_nonblocking(false);
                Ok(0)
            }
            r => r,
        })
        .expect("write");
    }
    assert!(out.sent >= 4 * MIB, "WouldBlock only once the send buffer is full: {}", out.sent);

    // Blocking again: the rest, our end of stream, then the kernel's reply.
    assert!(!stream.is_nonblocking());
    stream.flush().expect("flush");
    out.send_all(&mut stream, 2 * MIB, |_, _| {});
    stream.shutdown(Shutdown::Write).expect("shutdown");
    stream.set_read_timeout(Some(LIMIT)).expect("set_read_timeout");
    let (received, sha256_received) = receive_all(&mut stream, |_, _| {});
    let k = kernel.finish();
    k.assert_intact(&out, received, &sha256_received);
}

#[test]
fn an_emulated_path_delays_both_directions() {
    skip_unless_possible!();
    const DELAY: Duration = Duration::from_millis(25);
    let topo = topology(1);
    let kernel = KernelPeer::server(&topo, KernelPlay::ReadThenReply(MIB), false);
    // 25 ms each way in the stack's own driver: no netem needed.
    let link = LinkConfig { delay: DELAY, ..LinkConfig::default() };
    let builder = Stack::builder().path(&Topology::tun(0), topo.stack_addr_on(0)).emulate(
        vec![[Some(link.clone()), Some(link)]],
        Schedule::default(),
        7,
    );
    let stack = topo.stack.run(move || builder.build()).expect("entered the namespace").expect("the stack starts");
    let mut stream = stack.connect_timeout(None, kernel_on(&topo, 0), LIMIT).expect("connects");
    let mut out = Outgoing::new(MIB);
    out.send_all(&mut stream, MIB, |_, _| {});
    stream.shutdown(Shutdown::Write).expect("shutdown");
    let (received, sha256_received) = receive_all(&mut stream, |_, _| {});
    let srtt = stream.snapshot().expect("snapshot").stats.subflows[0].srtt.expect("an RTT sample");
    let k = kernel.finish();
    k.assert_intact(&out, received, &sha256_received);
    assert!(srtt >= 2 * DELAY && srtt < 2 * DELAY + Duration::from_millis(40), "srtt {srtt:?} for 2 x {DELAY:?}");
}
