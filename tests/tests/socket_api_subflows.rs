//! The paper's subflow operations through the Rust socket API, against the Linux kernel's MPTCP
//! as the peer: list the subflows (every status bit, ids that only grow), their endpoints, open
//! one (the id at once, then an event; the kernel counts the join), close one gracefully and one
//! abortively mid-transfer (an event; the kernel's count drops; the data arrives intact), with
//! the kernel as the server, and as the client joining an address we announce.
//!
//! Each test builds its own namespaces ([`topology`]: the kernel's K, the stack's S with a TUN
//! device per path), builds the [`mptcp_socket::Stack`] in S with the `manual` path manager, and
//! removes everything when it ends, also on failure. They need root; without it (or without
//! `/dev/net/tun`, `ip`, kernel MPTCP) each prints why and passes without running.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mptcp_socket::event::{CloseReason, ConnEvent, SubflowEnd};
use mptcp_socket::{CloseMode, PathManagerKind, SubflowId, SubflowOption, SubflowStatus};
use mptcp_tests::skip_unless_possible;
use mptcp_tests::socket_api::{
    CHUNK, EventLog, KernelPeer, KernelPlay, LIMIT, MIB, Outgoing, PORT, assert_kernel_clean, kernel_counter,
    kernel_on, nowhere_on, receive_all, stack, stack_on, topology, wait_until,
};

fn status(id: SubflowId, joined: bool, fully_established: bool, backup: bool) -> SubflowStatus {
    SubflowStatus {
        id,
        joined,
        fully_established,
        attached: fully_established,
        pre_established: !fully_established,
        backup,
    }
}

fn closed(id: SubflowId) -> impl Fn(&ConnEvent) -> bool {
    move |e| matches!(e, ConnEvent::SubflowClosed(s, _) if *s == id)
}

fn end_of(log: &EventLog, id: SubflowId) -> Option<SubflowEnd> {
    log.seen.iter().find_map(|e| match e.event {
        ConnEvent::SubflowClosed(s, end) if s == id => Some(end),
        _ => None,
    })
}

#[test]
fn subflows_listed_opened_and_closed_against_kernel_server() {
    skip_unless_possible!();
    let topo = topology(2);
    let mut kernel = KernelPeer::server(&topo, KernelPlay::ReadThenReply(8 * MIB), false);
    let stack = stack(&topo, &[0, 1], PathManagerKind::Manual);
    let mut stream = stack.connect_timeout(None, kernel_on(&topo, 0), LIMIT).expect("connects");
    assert!(stream.is_mptcp());
    let mut log = EventLog::default();
    let established = log.wait_for(&stream, "Established", |e| *e == ConnEvent::Established { mptcp: true });

    // The initial subflow alone, every bit filled; its endpoints are the connection's.
    let list = stream.subflows().expect("subflows");
    let [initial] = list[..] else { panic!("one subflow: {list:?}") };
    assert_eq!(initial, status(initial.id, false, true, false));
    let local = stream.local_addr().expect("local address");
    assert_eq!(local.ip(), topo.stack_addr);
    assert_eq!(stream.subflow_endpoints(initial.id).expect("endpoints"), (local, kernel_on(&topo, 0)));

    // A subflow toward an address nobody has: its id at once. RFC 8684 §3.1: a client joins
    // only once fully established, at the kernel's first DATA_ACK, which answers our first
    // bytes; until then the join waits, unlisted. Then it is listed as pre-established while
    // its SYN goes unanswered, and an abortive close ends it.
    let lost = stream.open_subflow(stack_on(&topo, 1), nowhere_on(1), false).expect("open_subflow");
    assert!(lost > initial.id, "ids grow: {lost} after {}", initial.id);
    assert_eq!(stream.subflows().expect("subflows"), [initial], "the join waits for the first DATA_ACK");
    let mut out = Outgoing::new(CHUNK as u64 + 8 * MIB);
    out.send_all(&mut stream, CHUNK as u64, |_, _| {});
    let listed = wait_until("the join in the list", LIMIT, || {
        stream.subflows().expect("subflows").into_iter().find(|s| s.id == lost)
    });
    assert_eq!(listed, status(lost, true, false, false));
    stream.close_subflow(lost, CloseMode::Abort).expect("close_subflow");
    let lost_closed = log.wait_for(&stream, "the lost subflow's end", closed(lost));
    assert_eq!(end_of(&log, lost), Some(SubflowEnd::Aborted));
    assert!(stream.subflows().expect("subflows").iter().all(|s| s.id != lost), "no longer listed");

    // A subflow to the kernel's second address: the kernel counts the join.
    let second = stream.open_subflow(stack_on(&topo, 1), kernel_on(&topo, 1), false).expect("open_subflow");
    assert!(second > lost, "ids are never reused: {second} after {lost}");
    let second_up = log.wait_for(&stream, "the second subflow", |e| *e == ConnEvent::SubflowEstablished(second));
    kernel.wait_subflows(1);
    let list = stream.subflows().expect("subflows");
    assert_eq!(list, vec![initial, status(second, true, true, false)]);
    let (second_local, second_remote) = stream.subflow_endpoints(second).expect("endpoints");
    assert_eq!((second_local.ip(), second_remote), (topo.stack_addr_on(1), kernel_on(&topo, 1)));
    assert_ne!(second_local.port(), 0);

    // Upload 8 MiB, the first 256 KiB on the second subflow. Mid-stream the second subflow
    // closes gracefully once they were acknowledged (the kernel's count drops), and a third
    // opens on the same pair of addresses.
    let early = stream.subflow_info(initial.id).expect("subflow_info");
    for _ in 0..4 {
        out.send(CHUNK, |d| stream.write_on(second, d)).expect("write_on");
    }
    let (mut second_at_close, mut third) = (None, None);
    out.send_all(&mut stream, 8 * MIB - 4 * CHUNK as u64, |s, sent| {
        log.drain(s);
        if second_at_close.is_none() && sent >= 2 * MIB {
            let info = s.subflow_info(second).expect("subflow_info");
            if info.stats.bytes_acked >= 4 * CHUNK as u64 {
                s.close_subflow(second, CloseMode::Graceful).expect("close_subflow");
                second_at_close = Some((sent, info));
            }
        }
        if third.is_none() && log.position(closed(second)).is_some() {
            kernel.wait_subflows(0);
            third = Some(s.open_subflow(stack_on(&topo, 1), kernel_on(&topo, 1), false).expect("open_subflow"));
        }
    });
    let (closed_after, _) = second_at_close.expect("the second subflow closed mid-upload");
    assert!(closed_after < out.sent, "closed at {closed_after} of {}", out.sent);
    let second_closed = log.wait_for(&stream, "the second subflow's end", closed(second));
    assert_eq!(end_of(&log, second), Some(SubflowEnd::Closed), "a graceful close");
    let third = third.unwrap_or_else(|| {
        kernel.wait_subflows(0);
        stream.open_subflow(stack_on(&topo, 1), kernel_on(&topo, 1), false).expect("open_subflow")
    });
    assert!(third > second, "ids are never reused: {third} after {second}");
    let third_up = log.wait_for(&stream, "the third subflow", |e| *e == ConnEvent::SubflowEstablished(third));
    kernel.wait_subflows(1);
    let list = stream.subflows().expect("subflows");
    assert_eq!(list.iter().map(|s| s.id).collect::<Vec<_>>(), [initial.id, third], "{list:?}");

    // TCP_INFO-like counters of the initial subflow.
    let late = stream.subflow_info(initial.id).expect("subflow_info");
    assert!(late.srtt.is_some_and(|d| !d.is_zero()), "srtt: {late:#?}");
    assert!(late.cwnd > 0 && late.mss > 0 && !late.rto.is_zero(), "{late:#?}");
    assert!(late.stats.bytes_acked > early.stats.bytes_acked, "bytes_acked grows: {early:#?} then {late:#?}");

    // Download the kernel's 8 MiB reply. The initial subflow is made a backup first, so that the
    // kernel sends on the third one only; mid-stream the third is reset once it carried 1 MiB
    // (the kernel's count drops again) and the kernel goes on over the backup.
    let prio_rx = kernel_counter(&topo, "MPPrioRx");
    stream.set_subflow_option(initial.id, SubflowOption::Backup(true)).expect("set_subflow_option");
    wait_until("MPTcpExtMPPrioRx", LIMIT, || (kernel_counter(&topo, "MPPrioRx") > prio_rx).then_some(()));
    stream.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut third_at_abort = None;
    let (received, sha256_received) = receive_all(&mut stream, |s, got| {
        if third_at_abort.is_none() {
            let info = s.subflow_info(third).expect("subflow_info");
            if info.stats.bytes_received >= MIB {
                s.close_subflow(third, CloseMode::Abort).expect("close_subflow");
                kernel.wait_subflows(0);
                third_at_abort = Some(got);
            }
        }
    });
    let aborted_after = third_at_abort.expect("the third subflow was reset mid-download");
    assert!(aborted_after < received, "reset at {aborted_after} of {received}");
    let third_closed = log.wait_for(&stream, "the third subflow's end", closed(third));
    assert_eq!(end_of(&log, third), Some(SubflowEnd::Aborted));

    // The data arrived intact both ways.
    let k = kernel.finish();
    k.assert_intact(&out, received, &sha256_received);

    // The events came in order, their times never going back.
    let end = log.wait_for(&stream, "the connection's end", |e| matches!(e, ConnEvent::Closed(_)));
    assert_eq!(log.seen[end].event, ConnEvent::Closed(CloseReason::Normal), "{:#?}", log.seen);
    let order = [established, lost_closed, second_up, second_closed, third_up, third_closed, end];
    assert!(order.is_sorted(), "events out of order {order:?}: {:#?}", log.seen);
    log.assert_monotonic();

    // The kernel took both joins at the first try, and counted nothing wrong but our reset.
    assert_eq!((kernel_counter(&topo, "MPJoinSynRx"), kernel_counter(&topo, "MPJoinAckRx")), (2, 2));
    assert_kernel_clean(&topo, &["MPRstRx"]);
}

#[test]
fn kernel_client_joins_announced_address_stack_closes_it() {
    skip_unless_possible!();
    let topo = topology(2);
    let stack = stack(&topo, &[0, 1], PathManagerKind::Manual);
    let listener = stack.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).expect("bind");
    let server = SocketAddr::new(topo.stack_addr, PORT);
    let mut kernel = KernelPeer::client(&topo, server, KernelPlay::Duplex(16 * MIB));
    let (mut stream, peer) = listener.accept_timeout(Some(LIMIT)).expect("accept");
    assert_eq!(peer.ip(), topo.kernel_addr);
    // `accept` can return before the third ACK arrived.
    assert_eq!(stream.established(Some(LIMIT)).ok(), Some(true), "MPTCP");
    let mut log = EventLog::default();

    let list = stream.subflows().expect("subflows");
    let [initial] = list[..] else { panic!("one subflow: {list:?}") };
    assert_eq!(initial, status(initial.id, false, true, false));
    assert_eq!(stream.subflow_endpoints(initial.id).expect("endpoints"), (server, peer));

    // ADD_ADDR for our second address: the kernel takes it and joins it.
    let addr_id = stream.announce_address(topo.stack_addr_on(1), None).expect("announce_address");
    assert_ne!(addr_id, 0, "the initial address has id 0");
    let up = log.wait_for(
        &stream,
        "the kernel's join",
        |e| matches!(e, ConnEvent::SubflowEstablished(id) if *id != initial.id),
    );
    let ConnEvent::SubflowEstablished(joined) = log.seen[up].event else { unreachable!() };
    assert!(joined > initial.id);
    let (local, remote) = stream.subflow_endpoints(joined).expect("endpoints");
    assert_eq!(local, SocketAddr::new(topo.stack_addr_on(1), PORT), "the join came to the announced address");
    assert_eq!(remote.ip(), topo.kernel_addr_on(1), "from the kernel's address routed to it");
    assert_eq!(stream.subflows().expect("subflows"), vec![initial, status(joined, true, true, false)]);
    kernel.wait_subflows(1);
    assert!(kernel_counter(&topo, "AddAddr") >= 1, "MPTcpExtAddAddr counted our ADD_ADDR");

    // Read the kernel's 16 MiB; mid-stream close the kernel's join gracefully once it carried
    // data (the kernel's count drops).
    let mut at_close = None;
    let (received, sha256_received) = receive_all(&mut stream, |s, got| {
        log.drain(s);
        if at_close.is_none() && got >= 4 * MIB {
            let info = s.subflow_info(joined).expect("subflow_info");
            if info.stats.bytes_received > 0 || got >= 8 * MIB {
                s.close_subflow(joined, CloseMode::Graceful).expect("close_subflow");
                at_close = Some((got, info));
            }
        }
    });
    let (closed_after, info) = at_close.expect("the join closed mid-stream");
    assert!(closed_after < received && info.stats.bytes_received > 0, "it carried data first: {info:#?}");
    let down = log.wait_for(&stream, "the join's end", closed(joined));
    assert_eq!(end_of(&log, joined), Some(SubflowEnd::Closed), "a graceful close: {:#?}", log.seen);
    kernel.wait_subflows(0);
    assert_eq!(stream.subflows().expect("subflows"), vec![initial]);

    // Our 8 MiB reply, then both ends close.
    let mut out = Outgoing::new(8 * MIB);
    out.send_all(&mut stream, 8 * MIB, |_, _| {});
    stream.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let k = kernel.finish();
    assert_eq!((received, &sha256_received), (k.sent, &k.sha256_sent), "kernel -> stack intact");
    assert_eq!((k.received, &k.sha256_received), (out.sent, &out.sha256()), "stack -> kernel intact");
    let end = log.wait_for(&stream, "the connection's end", |e| matches!(e, ConnEvent::Closed(_)));
    assert_eq!(log.seen[end].event, ConnEvent::Closed(CloseReason::Normal), "{:#?}", log.seen);
    assert!(up < down && down < end, "events out of order: {:#?}", log.seen);
    log.assert_monotonic();
    assert_kernel_clean(&topo, &[]);
}
