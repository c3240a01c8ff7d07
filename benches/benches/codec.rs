//! Wire codec and crypto benchmarks. Each group measures a baseline and our code on the same
//! input in the same run; `benches/report.sh` turns the medians into ratios.
//!
//! Naming: `<group>/<implementation>/<input>`. Implementations whose name starts with
//! `baseline` are the reference for every other implementation with the same group and input.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mptcp_benches::{
    BUF_LEN, PAYLOAD_LEN, Shape, option_block, packet, payload, payload_for, segment_repr, smoltcp_emit, smoltcp_parse,
    smoltcp_reprs, smoltcp_walk_options,
};
use mptcp_stack::crypto::{Key, dss_checksum, join_ack_hmac, join_synack_hmac};
use mptcp_stack::wire::{ChecksumMode, SegmentRepr, TcpOptions};
use sha2::{Digest, Sha256};

const OURS: &str = "mptcp_stack";
const BASELINE_SMOLTCP: &str = "baseline_smoltcp";

fn segment_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("segment_parse");
    for shape in Shape::ALL {
        let packet = packet(shape);
        g.bench_with_input(BenchmarkId::new(BASELINE_SMOLTCP, shape.name()), &packet[..], |b, p| {
            b.iter(|| smoltcp_parse(black_box(p)).expect("fixture parses"))
        });
        g.bench_with_input(BenchmarkId::new(OURS, shape.name()), &packet[..], |b, p| {
            b.iter(|| SegmentRepr::parse(black_box(p), ChecksumMode::Full).expect("fixture parses"))
        });
    }
    g.finish();
}

fn segment_emit(c: &mut Criterion) {
    let mut g = c.benchmark_group("segment_emit");
    let mut buf = vec![0u8; BUF_LEN];
    for shape in Shape::ALL {
        let payload = payload_for(shape);
        let (ip, tcp) = smoltcp_reprs(shape, &payload);
        g.bench_function(BenchmarkId::new(BASELINE_SMOLTCP, shape.name()), |b| {
            b.iter(|| smoltcp_emit(black_box(&ip), black_box(&tcp), &mut buf))
        });
        // The same bytes as the baseline (timestamps only), then what we really send.
        for (name, with_mptcp) in [("mptcp_stack_no_dss", false), (OURS, true)] {
            let repr = segment_repr(shape, &payload, with_mptcp);
            g.bench_function(BenchmarkId::new(name, shape.name()), |b| {
                b.iter(|| black_box(&repr).emit(&mut buf, ChecksumMode::Full).expect("fixture fits"))
            });
        }
    }
    g.finish();
}

fn option_block_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("option_block");
    let shape = Shape::Data;
    let block = option_block(shape);
    let input = "ts_dss_40B";
    g.bench_with_input(BenchmarkId::new(BASELINE_SMOLTCP, input), &block[..], |b, block| {
        b.iter(|| smoltcp_walk_options(black_box(block)).expect("fixture walks"))
    });
    g.bench_with_input(BenchmarkId::new(OURS, input), &block[..], |b, block| {
        b.iter(|| TcpOptions::parse(black_box(block), shape.option_context()).expect("fixture parses"))
    });
    g.finish();
}

fn crypto(c: &mut Criterion) {
    let mut g = c.benchmark_group("crypto");

    let data = payload(PAYLOAD_LEN);
    let input = "1448B";
    g.bench_with_input(BenchmarkId::new("baseline_smoltcp_checksum", input), &data[..], |b, d| {
        b.iter(|| smoltcp::wire::checksum::data(black_box(d)))
    });
    g.bench_with_input(BenchmarkId::new("dss_checksum", input), &data[..], |b, d| {
        b.iter(|| dss_checksum(black_box(0x0099_aabb_ccdd_eeff), black_box(1), PAYLOAD_LEN as u16, black_box(d)))
    });

    // Key-derived values: absolute time matters here, the ratio counts SHA-256 compressions.
    let input = "key";
    let (own, peer) = (Key::from_wire(0x0123_4567_89ab_cdef).unwrap(), Key::from_wire(0xfedc_ba98_7654_3210).unwrap());
    let (own_nonce, peer_nonce) = (0x1122_3344, 0x5566_7788);
    g.bench_function(BenchmarkId::new("baseline_sha256_8B", input), |b| {
        b.iter(|| Sha256::digest(black_box(own.to_wire()).to_be_bytes()))
    });
    g.bench_function(BenchmarkId::new("token", input), |b| b.iter(|| black_box(own).token()));
    g.bench_function(BenchmarkId::new("join_synack_hmac", input), |b| {
        b.iter(|| join_synack_hmac(black_box(own), black_box(peer), black_box(own_nonce), black_box(peer_nonce)))
    });
    g.bench_function(BenchmarkId::new("join_ack_hmac", input), |b| {
        b.iter(|| join_ack_hmac(black_box(own), black_box(peer), black_box(own_nonce), black_box(peer_nonce)))
    });
    g.finish();
}

criterion_group!(benches, segment_parse, segment_emit, option_block_parse, crypto);
criterion_main!(benches);
