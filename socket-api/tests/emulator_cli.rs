//! `mptcp bench` with the link emulator (as root; each test prints `skipped: <why>` otherwise):
//! both peers cross the emulated links (the stack through its own driver, the kernel through the
//! TUN-to-TUN bridge), a delay shows in both peers' round-trip times, and a scheduled cut moves
//! the transfer onto the other path. Each run makes and removes its own namespaces.

use std::process::Command;

use mptcp_tun_driver::netns::has_net_admin;
use serde_json::Value;

fn skip_reason() -> Option<&'static str> {
    if has_net_admin() != Some(true) {
        return Some("not root (CAP_NET_ADMIN is needed for namespaces and TUN devices)");
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing");
    }
    None
}

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_mptcp")).arg("bench").args(args).arg("--json").output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: not one JSON object ({e}): {stderr}"))
}

fn subflows<'a>(r: &'a Value, peer: &str) -> &'a [Value] {
    assert_eq!(r[peer]["ok"], true, "{peer}: {}", r[peer]);
    r[peer]["subflows"].as_array().map(Vec::as_slice).unwrap_or_default()
}

#[test]
fn delay_shows_in_both_peers_rtt() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let r = bench(&["--paths", "1", "--delay", "20ms", "--bytes", "1M"]);
    assert!(r["paths"][0]["emulated"].as_str().is_some_and(|s| s.contains("delay 20 ms")), "{}", r["paths"]);
    for peer in ["stack", "kernel"] {
        for s in subflows(&r, peer) {
            let srtt = s["srtt_us"].as_u64().unwrap_or(0);
            // 20 ms each way; queueing and the hosts add, never remove.
            assert!((40_000..200_000).contains(&srtt), "{peer}: srtt {srtt} us with 40 ms of emulated RTT");
        }
    }
}

#[test]
fn scheduled_cut_moves_the_transfer_to_the_other_path() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let r = bench(&["--paths", "2", "--rate", "50mbit", "--delay", "5ms", "--bytes", "12M", "--at", "0.4s 1 cut"]);
    for peer in ["stack", "kernel"] {
        let by_path = |p: u64| -> u64 {
            subflows(&r, peer).iter().filter(|s| s["path"] == p).map(|s| s["bytes_sent"].as_u64().unwrap_or(0)).sum()
        };
        let (zero, one) = (by_path(0), by_path(1));
        // Path 1 carries at most 0.4 s at 50 Mbit/s (2.5 MB); path 0 carries the rest.
        assert!(one < 2_600_000 && zero > 9_000_000, "{peer}: {zero} bytes on path 0, {one} on path 1");
    }
}
