//! The engine benchmark: a bulk transfer between two endpoints in memory, on one core, with
//! no I/O — how fast the protocol engine itself moves bytes. The harness (the "perfect wire"
//! loop, both applications) is `mptcp_benches::engine`; `benches/engine_report.sh` turns the
//! results into Gbit/s, ratios and ns per KiB.
//!
//! Every implementation moves `TRANSFER` bytes per iteration over a connection established
//! before timing starts (steady state: the handshake and slow start are not measured), once per
//! wire mode (`64MiB_window`: a full window in flight, an ACK every second segment arriving
//! after the flight, as over a path with a round-trip time; `64MiB_stretch_ack`: one ACK per
//! flight, as from a batching receiver; `64MiB_immediate`: every packet crosses at once both
//! ways — see `WireMode`):
//!
//! - `baseline_smoltcp`: smoltcp 0.14's TCP sockets, two interfaces, 1500-byte MTU, checksums
//!   filled and verified, 4 MiB buffers, timestamps — the same wire and work as ours;
//! - `mptcp_stack`: our endpoints, MPTCP (DSS on every segment), default settings;
//! - `mptcp_stack_tcp`: our endpoints with MPTCP off (plain TCP), to separate the MPTCP cost;
//! - `ref_smoltcp_loopback_64k`: smoltcp as in its own `loopback_benchmark` example (64 KiB
//!   MTU, checksums off, 64 KiB buffers): the setup its ~43 Gbit/s figure comes from;
//! - `ref_memcpy`: one copy of every byte, 64 KiB at a time, cache-resident.
//!
//! Naming: `<group>/<implementation>/<input>`, as in the codec benchmarks.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mptcp_benches::engine::{Memcpy, OursPair, SmolConfig, SmolPair, WireMode, ours_config};

/// Bytes per iteration.
const TRANSFER: u64 = 64 << 20;
const INPUT: &str = "64MiB";

fn bulk(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine_bulk");
    g.throughput(Throughput::Bytes(TRANSFER));
    // Tens to hundreds of milliseconds per iteration: a fixed number of iterations per sample.
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);

    for mode in WireMode::ALL {
        let input = format!("{INPUT}_{}", mode.name());
        let mut smol = SmolPair::established(SmolConfig::FAIR, mode);
        g.bench_function(BenchmarkId::new("baseline_smoltcp", &input), |b| {
            b.iter(|| smol.transfer(black_box(TRANSFER)))
        });
        drop(smol);
        for (name, mptcp) in [("mptcp_stack", true), ("mptcp_stack_tcp", false)] {
            let mut ours = OursPair::established(ours_config(mptcp), mode);
            g.bench_function(BenchmarkId::new(name, &input), |b| b.iter(|| ours.transfer(black_box(TRANSFER))));
        }
    }

    // References, in the window wire's group: smoltcp in its own example's setup, and memcpy.
    let input = format!("{INPUT}_{}", WireMode::Window.name());
    let mut smol = SmolPair::established(SmolConfig::LOOPBACK_EXAMPLE, WireMode::Window);
    g.bench_function(BenchmarkId::new("ref_smoltcp_loopback_64k", &input), |b| {
        b.iter(|| smol.transfer(black_box(TRANSFER)))
    });
    drop(smol);

    let mut copy = Memcpy::default();
    g.bench_function(BenchmarkId::new("ref_memcpy", &input), |b| b.iter(|| copy.transfer(black_box(TRANSFER))));
    g.finish();
}

criterion_group!(benches, bulk);
criterion_main!(benches);
