//! The `mptcp` binary end to end: `mptcp sim` transfers in the simulator, its JSON and text
//! reports, exit codes, and one-line errors for bad arguments; `mptcp bench` over namespaces
//! (as root: both peers, the kernel alone, Ctrl-C, nothing left behind) or its simulated
//! fallback (without root, and as root with the capability dropped).

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
        &["bench", "--paths", "9"],
        &["bench", "--bytes", "1M", "--time", "1"],
        &["bench", "--peer", "smoltcp"],
        &["bench", "--time", "0"],
        &["bench", "--rate", "1mbit,2mbit,3mbit"],
        &["bench", "--duplicate", "1%"],
        &["bench", "--loss", "200%"],
        &["bench", "--at", "1s 5 cut"],
        &["frob"],
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

// ---------------------------------------------------------------------------------------------
// mptcp bench

/// Whether this process can build the bench's namespaces: CAP_NET_ADMIN, `/dev/net/tun`, `ip`.
fn can_bench() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = status.lines().find_map(|l| l.strip_prefix("CapEff:")).map(str::trim).unwrap_or("0");
    let net_admin = u64::from_str_radix(caps, 16).is_ok_and(|c| c & (1 << 12) != 0);
    let ip = Command::new("ip").arg("-V").output().is_ok_and(|o| o.status.success());
    net_admin && std::path::Path::new("/dev/net/tun").exists() && ip
}

fn netns_list() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().map(|o| o.stdout).unwrap_or_default();
    String::from_utf8_lossy(&out).lines().filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect()
}

/// Runs `mptcp bench ARGS`; returns the output and the namespaces that appeared meanwhile and
/// belong to that process (other tests may make their own at the same time).
fn bench(args: &[&str]) -> (Output, Vec<String>) {
    let before = netns_list();
    let child = Command::new(env!("CARGO_BIN_EXE_mptcp"))
        .arg("bench")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let ours = format!("mptcp-bench-{}-", child.id());
    let out = child.wait_with_output().expect("runs");
    let left = netns_list().into_iter().filter(|n| !before.contains(n) && n.starts_with(&ours)).collect();
    (out, left)
}

fn bench_json(args: &[&str], code: i32) -> Value {
    let (out, left) = bench(&[args, &["--json"]].concat());
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}\nstdout: {stdout}\nstderr: {stderr}");
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not one JSON object ({e}): {stdout}"))
}

fn assert_peer(r: &Value, subflows: usize) {
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["goodput_mbps"].as_f64().is_some_and(|g| g > 0.0), "{r}");
    assert_eq!(r["bytes"], 4 << 20, "{r}");
    assert!(r["seconds"].as_f64().is_some_and(|s| s > 0.0), "{r}");
    assert_eq!(r["mptcp"], true, "{r}");
    let subs = r["subflows"].as_array().expect("subflows");
    assert_eq!(subs.len(), subflows, "{r}");
    let share: f64 = subs.iter().map(|s| s["share"].as_f64().expect("share")).sum();
    assert!((share - 1.0).abs() < 1e-6, "{r}");
}

/// The simulated fallback: the stack entry from the simulator, no kernel entry.
fn assert_simulated(r: &Value) {
    assert_eq!(r["simulated"], true, "{r}");
    assert!(r["simulated_because"].is_string(), "{r}");
    assert_eq!(r["kernel"], Value::Null, "{r}");
    assert_peer(&r["stack"], 1);
    assert_eq!(r["paths"].as_array().map(Vec::len), Some(2));
    assert_eq!(r["paths"][1]["rate_bps"], 20_000_000);
}

#[test]
fn bench_both_peers_one_path() {
    if !can_bench() {
        // Not root: the same command runs the stack in the simulator, labelled so.
        let (out, left) = bench(&["--paths", "1", "--bytes", "4M", "--json"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(left.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("simulator") && stderr.lines().count() == 1, "{stderr}");
        let r: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!(r["simulated"], true);
        assert_peer(&r["stack"], 1);
        return;
    }
    let r = bench_json(&["--paths", "1", "--bytes", "4M"], 0);
    assert_eq!(r["simulated"], false);
    assert_peer(&r["stack"], 1);
    assert_peer(&r["kernel"], 1);
    let names = r["namespaces"].as_array().expect("namespaces");
    assert_eq!(names.len(), 2);
    let now = netns_list();
    assert!(names.iter().all(|n| !now.iter().any(|m| n.as_str() == Some(m.as_str()))), "{names:?} still in {now:?}");
}

#[test]
fn bench_kernel_alone_uses_every_path() {
    if !can_bench() {
        // The kernel cannot be simulated: one line, status 3.
        let (out, _) = bench(&["--peer", "kernel"]);
        assert_eq!(out.status.code(), Some(3));
        assert!(out.stdout.is_empty());
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
        return;
    }
    // Shaped so that the transfer outlasts the kernel's join: unshaped, 4 MiB can be over
    // before its path manager opens the second subflow ("1 of 2 paths in use").
    let r = bench_json(&["--peer", "kernel", "--paths", "2", "--bytes", "4M", "--rate", "20mbit"], 0);
    assert_eq!(r["stack"], Value::Null);
    assert_peer(&r["kernel"], 2);
    let paths: Vec<_> = r["kernel"]["subflows"].as_array().unwrap().iter().map(|s| s["path"].clone()).collect();
    assert_eq!(paths, [Value::from(0), Value::from(1)]);
}

#[test]
fn bench_simulated_fallback() {
    let args = ["--paths", "2", "--rate", "100mbit,20mbit", "--bytes", "4M", "--json"];
    if !can_bench() {
        let (out, _) = bench(&args);
        assert_eq!(out.status.code(), Some(0));
        assert_simulated(&serde_json::from_slice(&out.stdout).expect("one JSON object"));
        return;
    }
    // As root: without CAP_NET_ADMIN (dropped from the bounding set, when setpriv exists) it
    // falls back as a normal user's run does; --simulate asks for the same.
    let setpriv = Command::new("setpriv")
        .args(["--bounding-set", "-net_admin", env!("CARGO_BIN_EXE_mptcp"), "bench"])
        .args(args)
        .output();
    if let Some(out) = setpriv.ok().filter(|o| o.status.code() != Some(127) && !o.stdout.is_empty()) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("not running as root") && stderr.lines().count() == 1, "{stderr}");
        assert_simulated(&serde_json::from_slice(&out.stdout).expect("one JSON object"));
    }
    assert_simulated(&bench_json(&[&args[..args.len() - 1], &["--simulate"]].concat(), 0));
}

#[test]
fn bench_ctrl_c_removes_everything() {
    if !can_bench() {
        eprintln!("skipped: needs root, /dev/net/tun and ip");
        return;
    }
    let before = netns_list();
    let child = Command::new(env!("CARGO_BIN_EXE_mptcp"))
        .args(["bench", "--paths", "2", "--rate", "10mbit", "--bytes", "64M", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let ours = format!("mptcp-bench-{}-", child.id());
    // Wait until the namespaces exist and the transfer runs, then Ctrl-C.
    let t0 = std::time::Instant::now();
    while !netns_list().iter().any(|n| n.starts_with(&ours)) && t0.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(kill.success());
    let out = child.wait_with_output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_str(&stdout).expect("the report of what ran");
    assert_eq!(r["stack"]["error"], "interrupted", "{r}");
    let left: Vec<_> = netns_list().into_iter().filter(|n| !before.contains(n) && n.starts_with(&ours)).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}
