//! The observability options end to end, in the simulator (no root): `--timeseries`, `--plot`,
//! `--pcap` and `--events` each produce a file whose content is checked — CSV rows per subflow
//! and totals that add up to the transfer, JSON lines, a well-formed SVG with a line per subflow
//! and event markers, pcap files of MPTCP segments (and, when tshark is installed, tshark
//! decodes them as MPTCP).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use mptcp_tun_driver::pcap::{self, LINKTYPE_RAW};
use serde_json::Value;

/// Enough for the client to open its further subflows (it opens none once all its data is written).
const BYTES: u64 = 8 << 20;

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mptcp-observe-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `mptcp sim` over two paths with `extra` options; it must succeed.
fn sim(extra: &[&str]) -> Value {
    let args = ["sim", "--paths", "2", "--rate", "50mbit,20mbit", "--delay", "5ms,20ms", "--bytes", "8M", "--json"];
    let out = Command::new(env!("CARGO_BIN_EXE_mptcp")).args(args).args(extra).output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{extra:?}\nstdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(r["ok"], true, "{r}");
    r
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn timeseries_csv_plot_pcap_and_events() {
    let dir = scratch("all");
    let (csv, svg, pcaps, events) = (dir.join("ts.csv"), dir.join("plot.svg"), dir.join("pcap"), dir.join("ev.jsonl"));
    let options = ["--sample-interval", "50ms", "--timeseries", arg(&csv), "--plot", arg(&svg)];
    let r = sim(&[&options[..], &["--pcap", arg(&pcaps), "--events", arg(&events)]].concat());
    let subflows = check_csv(&std::fs::read_to_string(&csv).expect("csv"), r["subflows"].as_array().unwrap().len());
    let events = check_events(&std::fs::read_to_string(&events).expect("events"));
    check_svg(&std::fs::read_to_string(&svg).expect("svg"), subflows, events);
    for path in ["path0", "path1"] {
        check_pcap(&pcaps.join(format!("{path}.pcap")));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn timeseries_as_json_lines() {
    let dir = scratch("jsonl");
    let file = dir.join("ts.json");
    sim(&["--timeseries", arg(&file)]);
    let rows: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let totals: Vec<&Value> = rows.iter().filter(|r| r["subflow"] == "total").collect();
    assert!(totals.len() >= 2, "{} samples", totals.len());
    assert_eq!(totals.iter().map(|r| r["acked_bytes"].as_u64().unwrap()).sum::<u64>(), BYTES);
    for r in rows.iter().filter(|r| r["subflow"].is_u64()) {
        assert!(r["local"].is_string() && r["cwnd"].as_u64().unwrap() > 0, "{r}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_observability_options_exit_2_with_one_line() {
    for (args, expected) in [
        (&["sim", "--timeseries", "ts.txt"][..], "--timeseries: the file name must end in .csv, .json or .jsonl"),
        (&["sim", "--sample-interval", "0"][..], "--sample-interval: "),
        (&["client", "--connect", "10.0.0.1:5", "--path", "t0=10.0.0.2", "--events"][..], "--events: missing value"),
        (&["bench", "--plot", "a.svg", "--plot", "b.svg"][..], "--plot: given more than once"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mptcp")).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(&format!("mptcp: {expected}")), "{stderr}");
    }
}

/// The header, a row per subflow at every instant plus the total, times rising, and totals that
/// add up to the bytes sent. Returns the subflow ids.
fn check_csv(csv: &str, subflows_in_report: usize) -> BTreeSet<u64> {
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "time_s,subflow,local,remote,acked_bytes,received_bytes,sent_bytes,throughput_mbps,cwnd,srtt_ms,in_flight"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.iter().all(|r| r.len() == 11), "{csv}");
    let time = |r: &Vec<&str>| r[0].parse::<f64>().unwrap();
    assert!(rows.windows(2).all(|w| time(&w[0]) <= time(&w[1])), "time goes back");
    let totals: Vec<&Vec<&str>> = rows.iter().filter(|r| r[1] == "total").collect();
    assert!(totals.len() >= 5, "{} samples", totals.len());
    // 50 ms apart, on the grid, except the last (at the close).
    for w in totals[..totals.len() - 1].windows(2) {
        assert!((time(w[1]) - time(w[0]) - 0.05).abs() < 1e-6, "{:?} {:?}", w[0], w[1]);
    }
    let acked: u64 = totals.iter().map(|r| r[4].parse::<u64>().unwrap()).sum();
    assert_eq!(acked, BYTES, "the totals add up to the transfer");
    let ids: BTreeSet<u64> = rows.iter().filter(|r| r[1] != "total").map(|r| r[1].parse().unwrap()).collect();
    assert!(ids.len() >= 2 && ids.len() >= subflows_in_report, "subflows {ids:?}");
    // Each instant: its subflow rows, then one total whose sent bytes are theirs summed.
    let mut at = 0;
    for total in &totals {
        let group: Vec<&Vec<&str>> = rows[at..].iter().take_while(|r| r[1] != "total").collect();
        assert!(group.iter().all(|r| r[0] == total[0] && !r[2].is_empty() && !r[3].is_empty()));
        let sent: u64 = group.iter().map(|r| r[6].parse::<u64>().unwrap()).sum();
        assert_eq!(sent, total[6].parse::<u64>().unwrap());
        at += group.len() + 1;
    }
    // The data-level acknowledgements come in bursts (a hole on one subflow holds them up), so
    // only the mean is bounded by the paths' rates.
    let mean = BYTES as f64 * 8.0 / time(totals[totals.len() - 1]) / 1e6;
    assert!(mean > 10.0 && mean < 70.0, "mean total throughput {mean} Mbit/s over 50 + 20 Mbit/s paths");
    ids
}

/// Every line JSON with a time and an event; times rising; Established before any
/// SubflowEstablished; the last one Closed normally. Returns how many there are.
fn check_events(text: &str) -> usize {
    let events: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    let times: Vec<f64> = events.iter().map(|e| e["time_s"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{text}");
    let established = names.iter().position(|n| *n == "Established").expect("Established");
    let first_subflow = names.iter().position(|n| *n == "SubflowEstablished").expect("SubflowEstablished");
    assert!(established < first_subflow || events[first_subflow]["subflow"] == 0, "{names:?}");
    assert!(names.iter().filter(|n| **n == "SubflowEstablished").count() >= 2, "{names:?}");
    for e in events.iter().filter(|e| e["event"] == "SubflowEstablished") {
        assert!(e["subflow"].is_u64() && e["local"].is_string() && e["remote"].is_string(), "{e}");
    }
    assert!(names.contains(&"AddressAnnounced"), "{names:?}");
    assert_eq!(events.last().map(|e| (&e["event"], &e["reason"])), Some((&"Closed".into(), &"Normal".into())));
    events.len()
}

/// Well-formed XML, a throughput line per subflow and the total, a cwnd line per subflow, and an
/// event marker per event.
fn check_svg(svg: &str, subflows: BTreeSet<u64>, events: usize) {
    well_formed(svg);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_eq!(svg.matches("<polyline class=\"throughput\"").count(), subflows.len());
    assert_eq!(svg.matches("<polyline class=\"throughput total\"").count(), 1);
    assert_eq!(svg.matches("<polyline class=\"cwnd\"").count(), subflows.len());
    assert_eq!(svg.matches("<line class=\"event\"").count(), events);
    assert!(svg.contains("+sf 1") && svg.contains("time (s)") && svg.contains("throughput (Mbit/s)"));
}

/// Tags balance, attributes are quoted, no stray `<` or `&` in text.
fn well_formed(xml: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        let text = &rest[..start];
        assert!(!text.contains('>'), "stray > in {text:?}");
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
            assert!(["&amp;", "&lt;", "&gt;", "&quot;"].contains(&entity), "bad entity {entity:?}");
        }
        let end = start + rest[start..].find('>').expect("unclosed tag");
        let tag = &rest[start + 1..end];
        assert!(tag.matches('"').count() % 2 == 0, "unbalanced quotes in <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name.trim()), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().expect("tag name"));
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert!(rest.trim().is_empty());
}

/// Raw-IP pcap of IPv4 TCP segments, each with an MPTCP option (kind 30); tshark, when
/// installed, decodes MPTCP in every one of them.
fn check_pcap(file: &Path) {
    let (linktype, records) = pcap::read(&std::fs::read(file).expect("pcap file")).expect("parses");
    assert_eq!(linktype, LINKTYPE_RAW);
    assert!(records.len() > 10, "{} records in {}", records.len(), file.display());
    assert!(records.windows(2).all(|w| w[0].micros <= w[1].micros));
    let with_mptcp = records.iter().filter(|r| has_mptcp_option(&r.data)).count();
    assert_eq!(with_mptcp, records.len(), "every segment of an MPTCP connection carries an MPTCP option");
    match Command::new("tshark").args(["-r", arg(file), "-Y", "mptcp", "-T", "fields", "-e", "frame.number"]).output() {
        Err(e) => println!("tshark not run ({e}): install tshark to check that Wireshark decodes the captures"),
        Ok(out) => {
            assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
            let decoded = String::from_utf8_lossy(&out.stdout).lines().count();
            assert_eq!(decoded, records.len(), "frames tshark decodes as MPTCP in {}", file.display());
        }
    }
}

/// Whether an IPv4 TCP packet carries a TCP option of kind 30.
fn has_mptcp_option(ip: &[u8]) -> bool {
    assert_eq!(ip[0] >> 4, 4, "IPv4");
    assert_eq!(ip[9], 6, "TCP");
    let tcp = &ip[usize::from(ip[0] & 0x0f) * 4..];
    let options = &tcp[20..usize::from(tcp[12] >> 4) * 4];
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => return false,
            1 => i += 1,
            30 => return true,
            _ => i += usize::from(options.get(i + 1).copied().unwrap_or(0)).max(2),
        }
    }
    false
}
