//! One bulk transfer of the engine benchmark, outside criterion: for profilers (callgrind,
//! perf) and a quick look at the wire.
//!
//! Usage: engine_profile [ours|ours_tcp|smoltcp|smoltcp_loopback_64k] [MiB (default 64)] [window|stretch_ack|immediate]
//!
//! Establishes and warms up the connection as the benchmark does (`engine::WARMUP`), then
//! times one transfer and prints the throughput and what crossed the wire during it. The
//! timed transfer runs inside `measured_ours` / `measured_smoltcp`, so that a profiler can
//! count only it:
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='engine_profile::measured_*' \
//!     target/release/engine_profile ours 16 window
//! ```

use std::time::Instant;

use mptcp_benches::engine::{OursPair, SmolConfig, SmolPair, WireMode, WireStats, ours_config};

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "ours".into());
    let mib: u64 = args.next().map_or(64, |s| s.parse().expect("MiB is a number"));
    let bytes = mib << 20;
    let mode = match args.next() {
        None => WireMode::Window,
        Some(name) => WireMode::from_name(&name).unwrap_or_else(|| panic!("unknown wire mode {name:?}")),
    };
    let (secs, wire) = match which.as_str() {
        "ours" | "ours_tcp" => {
            let mut p = OursPair::established(ours_config(which == "ours"), mode);
            let before = p.wire;
            let t = Instant::now();
            measured_ours(&mut p, bytes);
            let elapsed = t.elapsed().as_secs_f64();
            if let Some(s) = p.client_stats() {
                println!("  client subflow cwnd {} bytes, srtt {:?}", s.subflows[0].cwnd, s.subflows[0].srtt);
            }
            (elapsed, diff(p.wire, before))
        }
        "smoltcp" | "smoltcp_loopback_64k" => {
            let config = if which == "smoltcp" { SmolConfig::FAIR } else { SmolConfig::LOOPBACK_EXAMPLE };
            let mut p = SmolPair::established(config, mode);
            let before = p.wire();
            let t = Instant::now();
            measured_smoltcp(&mut p, bytes);
            (t.elapsed().as_secs_f64(), diff(p.wire(), before))
        }
        other => panic!("unknown implementation {other:?}"),
    };
    println!(
        "{which} ({}): {mib} MiB in {:.1} ms: {:.2} Gbit/s, {:.0} ns/KiB",
        mode.name(),
        secs * 1e3,
        bytes as f64 * 8.0 / secs / 1e9,
        secs * 1e9 / (bytes as f64 / 1024.0)
    );
    println!(
        "  wire: {} data-direction packets ({:.0} IP bytes each), {} return packets ({:.0} bytes each), {} rounds, {} timer jumps",
        wire.packets_to_server,
        wire.bytes_to_server as f64 / wire.packets_to_server.max(1) as f64,
        wire.packets_to_client,
        wire.bytes_to_client as f64 / wire.packets_to_client.max(1) as f64,
        wire.rounds,
        wire.timer_jumps
    );
}

#[inline(never)]
fn measured_ours(p: &mut OursPair, bytes: u64) {
    p.transfer(bytes);
}

#[inline(never)]
fn measured_smoltcp(p: &mut SmolPair, bytes: u64) {
    p.transfer(bytes);
}

fn diff(after: WireStats, before: WireStats) -> WireStats {
    WireStats {
        packets_to_server: after.packets_to_server - before.packets_to_server,
        packets_to_client: after.packets_to_client - before.packets_to_client,
        bytes_to_server: after.bytes_to_server - before.bytes_to_server,
        bytes_to_client: after.bytes_to_client - before.bytes_to_client,
        rounds: after.rounds - before.rounds,
        timer_jumps: after.timer_jumps - before.timer_jumps,
    }
}
