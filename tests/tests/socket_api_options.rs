//! Per-subflow options (the paper's MPTCP_SUB_SETSOCKOPT / MPTCP_SUB_GETSOCKOPT) and the
//! operations beyond the paper, through the Rust socket API against the Linux kernel's MPTCP:
//! the traffic class and the segment-size cap of one subflow as a capture in the kernel's
//! namespace sees them on the wire, backup priority as the kernel's MP_PRIO counter sees it,
//! writes pinned to one subflow, the scheduler and congestion control switched on the live
//! connection, and the errors for unknown subflows and bad values.
//!
//! Each test builds its own namespaces and removes them when it ends; they need root (see
//! `socket_api_subflows.rs`).

use std::io::ErrorKind;

use mptcp_socket::event::ConnEvent;
use mptcp_socket::{
    Algorithm, CloseMode, MptcpStream, PathManagerKind, SchedulerKind, SubflowId, SubflowOption, SubflowOptionKind,
};
use mptcp_tests::skip_unless_possible;
use mptcp_tests::socket_api::{
    CHUNK, Capture, EventLog, KernelPeer, KernelPlay, LIMIT, MIB, Outgoing, assert_kernel_clean, kernel_counter,
    kernel_on, receive_all, stack, stack_on, topology, wait_until,
};

/// DSCP AF11, ECN bits Not-ECT.
const TOS: u8 = 0x28;
/// The segment-size cap of the second subflow.
const MSS_CAP: u16 = 536;

fn get(stream: &MptcpStream, id: SubflowId, kind: SubflowOptionKind) -> SubflowOption {
    stream.subflow_option(id, kind).expect("subflow_option")
}

/// Waits until the kernel acknowledged the first `bytes` we wrote.
fn acknowledged(stream: &MptcpStream, bytes: u64) {
    let what = format!("{bytes} bytes acknowledged");
    wait_until(&what, LIMIT, || (stream.snapshot().ok()?.stats.bytes_acked >= bytes).then_some(()));
}

fn kind<T: std::fmt::Debug>(r: std::io::Result<T>) -> ErrorKind {
    r.expect_err("an error").kind()
}

#[test]
fn subflow_options_seen_on_the_wire_and_by_the_kernel() {
    skip_unless_possible!();
    let topo = topology(2);
    let capture = Capture::start(&topo, vec![topo.stack_addr_on(0), topo.stack_addr_on(1)]);
    let kernel = KernelPeer::server(&topo, KernelPlay::ReadThenReply(4 * MIB), false);
    let stack = stack(&topo, &[0, 1], PathManagerKind::Manual);
    let mut stream = stack.connect_timeout(None, kernel_on(&topo, 0), LIMIT).expect("connects");
    let mut log = EventLog::default();
    let initial = stream.subflows().expect("subflows")[0].id;
    // A first chunk brings the DATA_ACK that fully establishes the connection (a join waits for
    // it); the second subflow opens once it is all acknowledged, so that no data goes on the
    // second subflow before its options are set.
    let mut out = Outgoing::new(CHUNK as u64 + 8 * MIB);
    out.send_all(&mut stream, CHUNK as u64, |_, _| {});
    acknowledged(&stream, out.sent);
    let second = stream.open_subflow(stack_on(&topo, 1), kernel_on(&topo, 1), false).expect("open_subflow");
    log.wait_for(&stream, "the second subflow", |e| *e == ConnEvent::SubflowEstablished(second));
    let (second_local, _) = stream.subflow_endpoints(second).expect("endpoints");
    let local = stream.local_addr().expect("local address");

    // Unknown ids and bad values: InvalidInput (EINVAL).
    let unknown: SubflowId = second + 100;
    assert_eq!(kind(stream.subflow_info(unknown)), ErrorKind::InvalidInput);
    assert_eq!(kind(stream.subflow_endpoints(unknown)), ErrorKind::InvalidInput);
    assert_eq!(kind(stream.close_subflow(unknown, CloseMode::Abort)), ErrorKind::InvalidInput);
    assert_eq!(kind(stream.set_subflow_option(unknown, SubflowOption::NoDelay(true))), ErrorKind::InvalidInput);
    assert_eq!(kind(stream.subflow_option(unknown, SubflowOptionKind::NoDelay)), ErrorKind::InvalidInput);
    assert_eq!(kind(stream.write_on(unknown, b"x")), ErrorKind::InvalidInput);
    let tiny = SubflowOption::MaxSegmentSize(10);
    assert_eq!(kind(stream.set_subflow_option(second, tiny)), ErrorKind::InvalidInput);

    // Set on the second subflow before it carries data; read back; the initial one keeps its own.
    for option in
        [SubflowOption::TrafficClass(TOS), SubflowOption::MaxSegmentSize(MSS_CAP), SubflowOption::NoDelay(false)]
    {
        stream.set_subflow_option(second, option).expect("set_subflow_option");
    }
    assert_eq!(get(&stream, second, SubflowOptionKind::TrafficClass), SubflowOption::TrafficClass(TOS));
    assert_eq!(get(&stream, second, SubflowOptionKind::NoDelay), SubflowOption::NoDelay(false));
    let SubflowOption::MaxSegmentSize(mss) = get(&stream, second, SubflowOptionKind::MaxSegmentSize) else {
        unreachable!()
    };
    assert!(mss > 0 && mss <= MSS_CAP, "the cap is in force: {mss}");
    assert_eq!(get(&stream, initial, SubflowOptionKind::TrafficClass), SubflowOption::TrafficClass(0));
    assert_eq!(get(&stream, initial, SubflowOptionKind::NoDelay), SubflowOption::NoDelay(true));

    // 2 MiB written on the second subflow only.
    let before = (stream.subflow_info(initial).expect("info"), stream.subflow_info(second).expect("info"));
    let pinned_end = out.sent + 2 * MIB;
    while out.sent < pinned_end {
        out.send(CHUNK, |d| stream.write_on(second, d)).expect("write_on");
    }
    acknowledged(&stream, pinned_end);
    let after = (stream.subflow_info(initial).expect("info"), stream.subflow_info(second).expect("info"));
    let sent_on =
        |b: &mptcp_socket::SubflowSnapshot, a: &mptcp_socket::SubflowSnapshot| a.stats.bytes_sent - b.stats.bytes_sent;
    assert!(sent_on(&before.1, &after.1) >= 2 * MIB, "the second subflow carried them: {before:#?} {after:#?}");
    assert!(sent_on(&before.0, &after.0) < 64 * 1024, "the initial one did not: {before:#?} {after:#?}");
    assert!(after.1.mss <= MSS_CAP, "{:#?}", after.1);

    // The scheduler and the congestion control switched mid-transfer; then one subflow's own.
    let (mut switched, mut own_cc) = (None, false);
    let switch_at = out.sent + 2 * MIB;
    out.send_all(&mut stream, 6 * MIB, |s, sent| {
        if switched.is_none() && sent >= switch_at {
            s.set_scheduler(SchedulerKind::RoundRobin).expect("set_scheduler");
            s.set_congestion_control(Algorithm::Reno).expect("set_congestion_control");
            let snap = s.snapshot().expect("snapshot");
            assert_eq!(
                (snap.stats.scheduler, snap.stats.congestion_control),
                (SchedulerKind::RoundRobin, Algorithm::Reno)
            );
            for id in [initial, second] {
                assert_eq!(s.subflow_info(id).expect("info").congestion_control, Algorithm::Reno);
            }
            switched = Some((s.subflow_info(second).expect("info").stats.bytes_sent, sent));
        } else if switched.is_some() && !own_cc && sent >= switch_at + 2 * MIB {
            let olia = SubflowOption::CongestionControl(Algorithm::Olia);
            s.set_subflow_option(second, olia).expect("set_subflow_option");
            assert_eq!(s.subflow_option(second, SubflowOptionKind::CongestionControl).expect("get"), olia);
            assert_eq!(s.subflow_info(initial).expect("info").congestion_control, Algorithm::Reno);
            own_cc = true;
        }
    });
    assert!(own_cc);
    let (at_switch, switched_at) = switched.expect("switched mid-transfer");
    acknowledged(&stream, out.sent);
    let rr = stream.subflow_info(second).expect("info");
    let share = (rr.stats.bytes_sent - at_switch) as f64 / (out.sent - switched_at) as f64;
    assert!(share > 0.125, "round robin gave it segments in turn: {share:.2} of the bytes after the switch");

    // Backup: MP_PRIO reaches the kernel, which then sends its reply on the regular subflow.
    let prio_rx = kernel_counter(&topo, "MPPrioRx");
    stream.set_subflow_option(second, SubflowOption::Backup(true)).expect("set_subflow_option");
    log.wait_for(&stream, "the priority change", |e| *e == ConnEvent::PriorityChanged(second, true));
    assert_eq!(get(&stream, second, SubflowOptionKind::Backup), SubflowOption::Backup(true));
    let listed = stream.subflows().expect("subflows");
    assert!(listed.iter().any(|s| s.id == second && s.backup), "{listed:?}");
    wait_until("MPTcpExtMPPrioRx", LIMIT, || (kernel_counter(&topo, "MPPrioRx") > prio_rx).then_some(()));
    let at_backup = stream.subflow_info(second).expect("info");
    stream.shutdown(std::net::Shutdown::Write).expect("shutdown");
    // The connection may be gone once the stream ends: the last look is during the reads.
    let mut end = at_backup.clone();
    let (received, sha256_received) = receive_all(&mut stream, |s, _| {
        if let Ok(info) = s.subflow_info(second) {
            end = info;
        }
    });
    let on_backup = end.stats.bytes_received - at_backup.stats.bytes_received;
    assert!(on_backup < MIB / 4, "at most a few reinjected bytes on the backup: {on_backup}");

    let k = kernel.finish();
    k.assert_intact(&out, received, &sha256_received);

    // On the wire: the second subflow's segments carry the traffic class and respect the cap,
    // the initial subflow's neither.
    let seen = capture.finish();
    let s = seen.get(&second_local).unwrap_or_else(|| panic!("no segment from {second_local}: {seen:#?}"));
    assert!(s.segments > 1000, "{s:?}");
    assert_eq!(s.tos.iter().copied().collect::<Vec<_>>(), [TOS], "{s:?}");
    assert!(s.max_payload <= usize::from(MSS_CAP), "{s:?}");
    let s = seen.get(&local).unwrap_or_else(|| panic!("no segment from {local}: {seen:#?}"));
    assert_eq!(s.tos.iter().copied().collect::<Vec<_>>(), [0], "{s:?}");
    assert!(s.max_payload > usize::from(MSS_CAP), "{s:?}");
    assert_kernel_clean(&topo, &[]);
}
