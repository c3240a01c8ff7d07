//! The `mptcp` binary end to end: `mptcp sim` transfers in the simulator, its JSON and text
//! reports, exit codes, and one-line errors for bad arguments.

use std::process::{Command, Output};

use serde_json::Value;

fn mptcp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mptcp")).args(args).output().expect("runs")
}

/// Runs `mptcp` with `--json`, expecting exit status `code`; the whole of stdout must be one
/// JSON object.
fn json(args: &[&str], code: i32) -> Value {
    let out = mptcp(&[args, &["--json"]].concat());
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not one JSON object ({e}): {stdout}"))
}

#[test]
fn small_transfer_json() {
    let r = json(&["sim", "--bytes", "256K"], 0);
    assert_eq!(r["ok"], true);
    assert_eq!(r["error"], Value::Null);
    assert_eq!(r["bytes"], 256 * 1024);
    assert_eq!(r["bytes_received"], 256 * 1024);
    assert_eq!(r["mptcp"], true);
    assert_eq!(r["seed"], 1);
    assert_eq!(r["sha256_sent"], r["sha256_received"]);
    assert_eq!(r["sha256_sent"].as_str().map(str::len), Some(64));
    assert!(r["seconds"].as_f64().is_some_and(|s| s > 0.0));
    assert!(r["goodput_mbps"].as_f64().is_some_and(|g| g > 0.0 && g <= 100.0));
    assert_eq!(r["paths"][0]["rate_bps"], 100_000_000);
    assert_eq!(r["paths"][0]["delay_us"], 10_000);
    assert_eq!(r["paths"][0]["loss"], 0.0);
    let subflows = r["subflows"].as_array().expect("subflows");
    assert!(!subflows.is_empty());
    for s in subflows {
        for field in ["id", "bytes_sent", "retransmits", "srtt_us"] {
            assert!(s[field].is_u64(), "{field} in {s}");
        }
    }
    assert!(subflows.iter().map(|s| s["bytes_sent"].as_u64().unwrap()).sum::<u64>() >= 256 * 1024);
}

#[test]
fn two_paths_with_lists() {
    let args = ["sim", "--paths", "2", "--rate", "50mbit,20mbit", "--delay", "5ms,20ms", "--loss", "0,1%"];
    let r = json(&[&args[..], &["--bytes", "256K", "--seed", "3"]].concat(), 0);
    assert_eq!(r["ok"], true);
    assert_eq!(r["seed"], 3);
    assert_eq!(r["sha256_sent"], r["sha256_received"]);
    let paths = r["paths"].as_array().expect("paths");
    assert_eq!(paths.len(), 2);
    assert_eq!((&paths[0]["rate_bps"], &paths[1]["rate_bps"]), (&Value::from(50_000_000), &Value::from(20_000_000)));
    assert_eq!((&paths[0]["delay_us"], &paths[1]["delay_us"]), (&Value::from(5_000), &Value::from(20_000)));
    assert_eq!((&paths[0]["loss"], &paths[1]["loss"]), (&Value::from(0.0), &Value::from(0.01)));
    assert_eq!(paths[1]["client"], "10.0.2.1");
    assert_eq!(r["links"].as_array().map(Vec::len), Some(4));
}

#[test]
fn same_seed_same_run() {
    let args = ["sim", "--bytes", "128K", "--loss", "2%", "--seed", "9"];
    let (a, b) = (json(&args, 0), json(&args, 0));
    assert_eq!(a["seconds"], b["seconds"]);
    assert_eq!(a["retransmits"], b["retransmits"]);
}

#[test]
fn text_report() {
    let out = mptcp(&["sim", "--bytes", "64K", "--delay", "1.5ms"]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for needle in ["path 0  10.0.1.1 <-> 10.0.1.2  100 Mbit/s, 1.5 ms one way, 0% loss", "goodput", "MPTCP"] {
        assert!(stdout.contains(needle), "{needle:?} missing from:\n{stdout}");
    }
    for needle in ["sha256 match", "srtt ms", "result       ok"] {
        assert!(stdout.contains(needle), "{needle:?} missing from:\n{stdout}");
    }
    assert!(out.stderr.is_empty());
}

#[test]
fn failed_transfer_exits_1() {
    let r = json(&["sim", "--loss", "100%", "--bytes", "1K"], 1);
    assert_eq!(r["ok"], false);
    assert!(r["error"].is_string());
    assert_eq!(r["bytes_received"], 0);
    assert_eq!(r["mptcp"], Value::Null);
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let cases: &[&[&str]] = &[
        &[],
        &["bench"],
        &["--frobnicate"],
        &["sim", "--rate", "fast"],
        &["sim", "--rate", "0"],
        &["sim", "--delay", "10xs"],
        &["sim", "--delay", "-1ms"],
        &["sim", "--loss", "150%"],
        &["sim", "--bytes", "64X"],
        &["sim", "--bytes", "0"],
        &["sim", "--seed", "one"],
        &["sim", "--paths", "0"],
        &["sim", "--paths", "9"],
        &["sim", "--paths", "2", "--rate", "1mbit,2mbit,3mbit"],
        &["sim", "--paths", "3", "--delay", "1ms,2ms"],
        &["sim", "--rate", "1mbit,,2mbit"],
        &["sim", "--loss", "1%,"],
        &["sim", "--rate"],
        &["sim", "--rate", "1mbit", "--rate", "2mbit"],
        &["sim", "--json=yes"],
        &["sim", "--colour"],
        &["sim", "extra"],
    ];
    for args in cases {
        let out = mptcp(args);
        let stderr = String::from_utf8(out.stderr).expect("utf-8");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("mptcp: "), "{args:?}: {stderr}");
    }
    let out = mptcp(&["sim", "--rate", "fast"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "mptcp: --rate: expected a rate like 100mbit, got \"fast\"\n");
}

#[test]
fn help_exits_0() {
    for args in [&["--help"][..], &["-h"], &["sim", "--help"]] {
        let out = mptcp(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        assert!(stdout.contains("mptcp sim [options]") && stdout.contains("--rate"), "{stdout}");
    }
}

#[test]
fn server_and_client_argument_errors_exit_2() {
    for (args, msg) in [
        (&["client", "--connect", "10.0.0.1:5000"][..], "mptcp: client: at least one --path DEV=IP is required"),
        (&["server", "--path", "t0=10.0.0.2"][..], "mptcp: server: --listen IP:PORT is required"),
        (&["client", "--connect", "10.0.0.1:5000", "--path", "t0"][..], "mptcp: --path: expected DEV=IP"),
    ] {
        let out = mptcp(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with(msg) && err.lines().count() == 1, "{args:?}: {err}");
    }
}

#[test]
fn a_device_that_cannot_be_used_is_one_line_and_exit_3() {
    // `lo` exists and is no TUN device: as root that is the error; without root it is the
    // permission (or a missing /dev/net/tun). Each is one line, status 3, nothing on stdout.
    let out = mptcp(&["client", "--connect", "10.99.0.1:5000", "--path", "lo=10.99.0.2", "--send", "1K"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.starts_with("mptcp: ") && err.lines().count() == 1, "{err}");
}
