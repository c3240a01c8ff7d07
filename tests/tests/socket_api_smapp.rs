//! The SMAPP-style controller of the examples (`mptcp_examples::smapp`, run by
//! `examples/rust/smapp_backup.rs`) against the Linux kernel: the primary path goes down
//! mid-transfer, the primary subflow's retransmission timeout makes the controller open a backup
//! subflow on the second path, which carries the data; the path comes back, the primary's
//! acknowledgements advance again and the controller closes the backup. The data arrives intact.
//!
//! The test builds its own namespaces and removes them when it ends; it needs root (see
//! `socket_api_subflows.rs`).

use std::io::{ErrorKind, Write};
use std::net::Shutdown;
use std::time::Duration;

use mptcp_examples::smapp::{Action, BackupController};
use mptcp_socket::event::ConnEvent;
use mptcp_socket::{MptcpStream, PathManagerKind};
use mptcp_tests::netns::Topology;
use mptcp_tests::skip_unless_possible;
use mptcp_tests::socket_api::{
    CHUNK, EventLog, KernelPeer, KernelPlay, LIMIT, MIB, Outgoing, kernel_on, receive_all, stack, stack_on, topology,
    wait_until,
};

/// The controller looks at the primary at least this often while writes wait.
const TICK: Duration = Duration::from_millis(50);
const BYTES: u64 = 24 * MIB;
/// The primary's path goes down once this much was written.
const CUT_AT: u64 = 2 * MIB;
/// It comes back once the backup subflow carried this much.
const BACKUP_CARRIES: u64 = MIB;

/// The controller and what the test does to the primary's path.
struct Run<'a> {
    topo: &'a Topology,
    controller: BackupController,
    log: EventLog,
    actions: Vec<(Action, u64)>,
    cut: bool,
    restored: bool,
}

impl Run<'_> {
    /// Takes the events, lets the controller look, and cuts or restores the primary's path
    /// (`s0`, between the kernel's first address and S) when it is time.
    fn tick(&mut self, stream: &MptcpStream, sent: u64) {
        let seen = self.log.seen.len();
        self.log.drain(stream);
        for e in &self.log.seen[seen..] {
            self.controller.on_event(&e.event);
        }
        if let Some(action) = self.controller.tick(stream).expect("the controller's look") {
            self.actions.push((action, sent));
        }
        if !self.cut && sent >= CUT_AT {
            self.topo.stack.ip(&format!("link set {} down", Topology::stack_dev(0))).expect("link down");
            self.cut = true;
        }
        let backup_carried = |id| stream.subflow_info(id).is_ok_and(|s| s.stats.bytes_acked >= BACKUP_CARRIES);
        if self.cut && !self.restored && self.controller.backup().is_some_and(backup_carried) {
            self.topo.stack.ip(&format!("link set {} up", Topology::stack_dev(0))).expect("link up");
            self.restored = true;
        }
    }
}

#[test]
fn smapp_controller_opens_backup_on_timeout_and_closes_it_on_recovery() {
    skip_unless_possible!();
    let topo = topology(2);
    let kernel = KernelPeer::server(&topo, KernelPlay::ReadThenReply(MIB), false);
    let stack = stack(&topo, &[0, 1], PathManagerKind::Manual);
    let mut stream = stack.connect_timeout(None, kernel_on(&topo, 0), LIMIT).expect("connects");
    let primary = stream.subflows().expect("subflows")[0].id;
    let controller = BackupController::new(&stream, primary, stack_on(&topo, 1), kernel_on(&topo, 1)).expect("new");
    let mut run =
        Run { topo: &topo, controller, log: EventLog::default(), actions: Vec::new(), cut: false, restored: false };

    // Write with a timeout, so that the controller looks while writes wait for a stalled path.
    stream.set_write_timeout(Some(TICK)).expect("set_write_timeout");
    let mut out = Outgoing::new(BYTES);
    while out.sent < BYTES {
        let sent = out.sent;
        out.send(CHUNK, |d| match stream.write(d) {
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                run.tick(&stream, sent);
                Ok(0)
            }
            r => r,
        })
        .expect("write");
        run.tick(&stream, out.sent);
    }
    // The primary may still be recovering: the controller keeps looking.
    wait_until("the backup closed", LIMIT, || {
        run.tick(&stream, out.sent);
        (run.actions.len() >= 2).then_some(())
    });
    assert!(run.cut && run.restored, "the path went down and came back");

    let primary_info = stream.subflow_info(primary).expect("info");
    eprintln!("controller: {:?}; primary: {:?}", run.actions, primary_info.stats);
    let (opened, open_at) = run.actions[0];
    let Action::Opened(backup) = opened else { panic!("first a backup opened: {:?}", run.actions) };
    assert!(open_at >= CUT_AT, "after the path went down: {:?}", run.actions);
    assert_eq!(run.actions[1].0, Action::Closed(backup), "then it closed: {:?}", run.actions);
    assert!(primary_info.stats.rto_count >= 1, "{primary_info:#?}");
    let up = run.log.wait_for(&stream, "the backup up", |e| *e == ConnEvent::SubflowEstablished(backup));
    let down = run.log.wait_for(
        &stream,
        "the backup's end",
        |e| matches!(e, ConnEvent::SubflowClosed(id, _) if *id == backup),
    );
    assert!(up < down);
    let carried = stream.subflow_info(backup).expect("info").stats.bytes_acked;
    assert!(carried >= BACKUP_CARRIES, "the backup carried data while the primary was down: {carried}");

    stream.set_write_timeout(None).expect("set_write_timeout");
    stream.flush().expect("flush");
    stream.shutdown(Shutdown::Write).expect("shutdown");
    stream.set_read_timeout(Some(LIMIT)).expect("set_read_timeout");
    let (received, sha256_received) = receive_all(&mut stream, |_, _| {});
    let k = kernel.finish();
    k.assert_intact(&out, received, &sha256_received);
}
