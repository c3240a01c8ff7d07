//! 64 MiB each way over one path, with random loss, reordering and duplication: every byte
//! arrives intact (hashes compared end to end).

use std::time::Duration;

use mptcp_stack::connection::CloseReason;
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_tests::{assert_intact, conn_stats, link, run_to_close, secs, transfer_sim};

const BYTES: u64 = 64 << 20;

fn bulk_each_way(loss: f64, seed: u64) {
    let mut l = link(100, 10);
    l.loss = loss;
    l.reorder = 0.01;
    l.duplicate = 0.005;
    let cfg = EndpointConfig::default();
    let mut sim = transfer_sim(&[l], BYTES, seed, cfg.clone(), cfg, true);
    run_to_close(&mut sim, Duration::from_secs(3600));
    assert_intact(&sim, BYTES, true);
    let (c, s) = (sim.a().transfer.report(), sim.b().transfer.report());
    assert_eq!((c.mptcp, s.mptcp), (Some(true), Some(true)));
    assert_eq!(c.closed.map(|x| x.1), Some(CloseReason::Normal));
    assert_eq!(s.closed.map(|x| x.1), Some(CloseReason::Normal));
    let stats = conn_stats(sim.a()).expect("client connection");
    eprintln!(
        "loss {loss}: {:.1} s virtual, {} retransmits, {:?}",
        secs(c.closed.unwrap().0),
        stats.subflows[0].stats.retransmits,
        sim.link_stats(0, mptcp_tun_driver::sim::Direction::AToB)
    );
}

#[test]
fn bulk_64mib_each_way_no_loss() {
    bulk_each_way(0.0, 21);
}

#[test]
fn bulk_64mib_each_way_1_percent_loss() {
    bulk_each_way(0.01, 22);
}

#[test]
fn bulk_64mib_each_way_5_percent_loss() {
    bulk_each_way(0.05, 23);
}
