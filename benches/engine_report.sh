#!/usr/bin/env bash
# Runs the engine benchmark (benches/benches/engine.rs: a bulk transfer between two endpoints
# in memory, one core, no I/O) and prints, per wire mode, each implementation's payload
# throughput in Gbit/s, its throughput as a multiple of smoltcp's measured in the same round,
# and its CPU cost in ns per KiB of payload; then the heap memory of an idle established
# connection (benches/src/bin/idle_memory.rs).
#
# Usage: benches/engine_report.sh [--quick] [criterion args...]
#   The benchmark runs ROUNDS times (default 3), each round with --warm-up-time 1
#   --measurement-time 3 (10 samples of whole 64 MiB transfers per implementation). A ratio is
#   computed within each round, then the median over rounds is printed with its range, as
#   benches/report.sh does for the codec.
#   --quick   --warm-up-time 0.5 --measurement-time 1 per round (a fast look, noisier).
#   Anything else goes to criterion, e.g. a filter: benches/engine_report.sh immediate
#
# ns per KiB is the median time per iteration divided by the KiB moved. The loop runs on one
# thread and never sleeps or does I/O, so its wall time is its CPU time (both endpoints, both
# applications and the wire together), as long as the machine does not preempt it: on a
# shared machine that is what the ratios and the spread over rounds guard against.
#
# Benchmark ids are engine_bulk/<implementation>/<64MiB_wiremode>; criterion writes each to
# target/criterion/engine_bulk/<implementation>/<input>/new/{benchmark,estimates}.json.
# Implementations starting with "baseline" are the reference for their input.
set -euo pipefail

cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
args=(--warm-up-time 1 --measurement-time 3 --nresamples 10000)
if [[ "${1:-}" == "--quick" ]]; then
    args=(--warm-up-time 0.5 --measurement-time 1 --nresamples 10000)
    shift
fi

read -r -d '' py <<'EOF' || true
import json, os, statistics, sys
from collections import defaultdict

mode = sys.argv[1]
if mode == "collect":
    # collect ROOT MARKER ROUND OUT: append this round's medians to OUT (one JSON per line).
    root, marker, rnd, out = sys.argv[2:6]
    since = os.path.getmtime(marker)
    found = 0
    with open(out, "a") as o:
        for dirpath, _, files in os.walk(os.path.join(root, "engine_bulk")):
            if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
                continue
            est = os.path.join(dirpath, "estimates.json")
            if os.path.getmtime(est) < since:
                continue
            with open(os.path.join(dirpath, "benchmark.json")) as f:
                b = json.load(f)
            with open(est) as f:
                median = json.load(f)["median"]["point_estimate"]
            row = {"round": int(rnd), "impl": b.get("function_id") or "", "input": b.get("value_str") or "",
                   "bytes": (b.get("throughput") or {}).get("Bytes"), "ns": median}
            o.write(json.dumps(row) + "\n")
            found += 1
    if not found:
        sys.exit(f"no engine benchmark results from round {rnd} under {root}")
    sys.exit(0)

# table RESULTS
rows = [json.loads(line) for line in open(sys.argv[2])]
by_round = defaultdict(dict)  # (input, round) -> impl -> (ns, bytes)
for r in rows:
    by_round[(r["input"], r["round"])][r["impl"]] = (r["ns"], r["bytes"])
gbps = defaultdict(list)     # (input, impl) -> [Gbit/s per round]
ns_kib = defaultdict(list)   # (input, impl) -> [ns per KiB per round]
ratios = defaultdict(list)   # (input, impl) -> [throughput / baseline throughput, per round]
for (inp, _), impls in by_round.items():
    base = [ns / b for name, (ns, b) in impls.items() if name.startswith("baseline")]
    for name, (ns, b) in impls.items():
        gbps[(inp, name)].append(b * 8 / ns)
        ns_kib[(inp, name)].append(ns / (b / 1024))
        if len(base) == 1:
            ratios[(inp, name)].append(base[0] / (ns / b))

def rng(xs, fmt):
    return f"{fmt.format(min(xs))}-{fmt.format(max(xs))}" if len(xs) > 1 else "-"

n_rounds = len({r["round"] for r in rows})
order = ["baseline_smoltcp", "mptcp_stack", "mptcp_stack_tcp", "ref_smoltcp_loopback_64k", "ref_memcpy"]
rank = lambda name: (order.index(name) if name in order else len(order), name)
modes = ["window", "stretch_ack", "immediate"]
mode_rank = lambda i: next((k for k, m in enumerate(modes) if i.endswith(m)), len(modes))
for inp in sorted({k[0] for k in gbps}, key=lambda i: (mode_rank(i), i)):
    print(f"\n#### engine_bulk, {inp}\n")
    print("| implementation | Gbit/s | Gbit/s range | × smoltcp | ratio range | ns per KiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in sorted((k[1] for k in gbps if k[0] == inp), key=rank):
        key = (inp, name)
        rs = ratios.get(key, [])
        ratio = f"{statistics.median(rs):.2f}" if rs else "n/a"
        print(f"| {name} | {statistics.median(gbps[key]):.2f} | {rng(gbps[key], '{:.2f}')} | {ratio} | "
              f"{rng(rs, '{:.2f}')} | {statistics.median(ns_kib[key]):.0f} |")
print(f"\n({n_rounds} round(s); Gbit/s of payload, medians over rounds; each ratio is taken within one round."
      " ns per KiB = time per iteration / KiB moved; single-threaded loop without I/O, so CPU time = wall time.)")
EOF

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
results=$(mktemp)
marker=$(mktemp)
trap 'rm -f "$results" "$marker"' EXIT

if commit=$(git rev-parse --short HEAD 2>/dev/null); then
    git diff --quiet HEAD -- stack || commit="$commit (stack/ has uncommitted changes)"
else
    commit="unknown (not a git checkout)"
fi
echo "commit $commit, $(date -u +%Y-%m-%dT%H:%MZ)"
cargo bench -p mptcp-benches --bench engine --no-run >&2
cargo build --release -p mptcp-benches --bin idle_memory >&2
for ((round = 1; round <= rounds; round++)); do
    echo "== round $round of $rounds" >&2
    touch "$marker"
    sleep 1 # criterion's files must be strictly newer than the marker, even on coarse clocks
    cargo bench -p mptcp-benches --bench engine -- --noplot "${args[@]}" "$@" >&2
    python3 -c "$py" collect "$target_dir/criterion" "$marker" "$round" "$results"
done
python3 -c "$py" table "$results"
echo
"$target_dir/release/idle_memory"
