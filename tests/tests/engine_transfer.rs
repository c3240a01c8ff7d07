//! End-to-end transfers between two stack endpoints in the simulator: data integrity by hash,
//! MPTCP negotiated, and a clean close on both sides.

use std::time::Duration;

use mptcp_stack::connection::CloseReason;
use mptcp_stack::endpoint::EndpointConfig;
use mptcp_tests::{link, run_to_close, transfer_sim};

#[test]
fn one_mebibyte_over_one_clean_path() {
    let cfg = EndpointConfig::default();
    let mut sim = transfer_sim(&[link(100, 10)], 1 << 20, 1, cfg.clone(), cfg, false);
    run_to_close(&mut sim, Duration::from_secs(30));
    let (c, s) = (sim.a().transfer.report(), sim.b().transfer.report());
    assert_eq!(c.bytes_sent, 1 << 20);
    assert_eq!(s.bytes_received, 1 << 20);
    assert_eq!(c.sha256_sent, s.sha256_received);
    assert_eq!((c.mptcp, s.mptcp), (Some(true), Some(true)));
    assert_eq!(c.closed.map(|x| x.1), Some(CloseReason::Normal));
    assert_eq!(s.closed.map(|x| x.1), Some(CloseReason::Normal));
}
