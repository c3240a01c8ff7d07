#!/usr/bin/env bash
# Runs the wire codec benchmarks and prints, per group, each benchmark's median time and its
# ratio to the baseline measured in the same run. The machine is shared and noisy: absolute
# times drift with the load, so the ratios are what we report.
#
# Usage: benches/report.sh [--quick] [criterion args...]
#   The benchmarks run ROUNDS times (default 3), each round with a short warm-up and
#   measurement (--warm-up-time 0.5 --measurement-time 1.5, 100 samples per benchmark).
#   A ratio is computed within each round, then the median over rounds is printed with the
#   range it came from: a load burst during one benchmark of one round shows up as a wide
#   range instead of a wrong number.
#   --quick   criterion's quick mode per round (stops once two samples agree within 5%).
#   Anything else goes to criterion, e.g. a filter: benches/report.sh crypto
#
# Benchmark ids are <group>/<implementation>/<input>, so criterion writes each result to
# target/criterion/<group>/<implementation>/<input>/new/{benchmark,estimates}.json. An
# implementation whose name starts with "baseline" is the reference for the others with the
# same group and input. Only results written by the current round are read.
set -euo pipefail

cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
args=(--warm-up-time 0.5 --measurement-time 1.5 --nresamples 10000)
if [[ "${1:-}" == "--quick" ]]; then
    args=(--quick --nresamples 10000)
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
        for dirpath, _, files in os.walk(root):
            if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
                continue
            est = os.path.join(dirpath, "estimates.json")
            if os.path.getmtime(est) < since:
                continue
            with open(os.path.join(dirpath, "benchmark.json")) as f:
                b = json.load(f)
            with open(est) as f:
                median = json.load(f)["median"]["point_estimate"]
            row = {"round": int(rnd), "group": b["group_id"], "impl": b.get("function_id") or "",
                   "input": b.get("value_str") or "", "ns": median}
            o.write(json.dumps(row) + "\n")
            found += 1
    if not found:
        sys.exit(f"no benchmark results from round {rnd} under {root}")
    sys.exit(0)

# table RESULTS
rows = [json.loads(line) for line in open(sys.argv[2])]
by_round = defaultdict(dict)  # (group, input, round) -> impl -> ns
for r in rows:
    by_round[(r["group"], r["input"], r["round"])][r["impl"]] = r["ns"]
times = defaultdict(list)   # (group, input, impl) -> [ns per round]
ratios = defaultdict(list)  # (group, input, impl) -> [ratio per round]
for (group, inp, _), impls in by_round.items():
    base = [ns for name, ns in impls.items() if name.startswith("baseline")]
    for name, ns in impls.items():
        times[(group, inp, name)].append(ns)
        if len(base) == 1:
            ratios[(group, inp, name)].append(ns / base[0])

order = ["segment_parse", "segment_emit", "option_block", "crypto"]
rank = lambda g: (order.index(g) if g in order else len(order), g)
n_rounds = len({r["round"] for r in rows})
for group in sorted({k[0] for k in times}, key=rank):
    print(f"\n#### {group}\n")
    print("| input | implementation | median ns | ratio vs baseline | ratio range |")
    print("|---|---|---:|---:|---:|")
    keys = sorted((k for k in times if k[0] == group), key=lambda k: (k[1], not k[2].startswith("baseline"), k[2]))
    for key in keys:
        _, inp, name = key
        ns = statistics.median(times[key])
        rs = ratios.get(key, [])
        ratio = f"{statistics.median(rs):.2f}" if rs else "n/a"
        spread = f"{min(rs):.2f}-{max(rs):.2f}" if len(rs) > 1 else "-"
        print(f"| {inp} | {name} | {ns:.1f} | {ratio} | {spread} |")
print(f"\n({n_rounds} round(s); median ns and ratio are medians over rounds, each ratio taken within one round)")
EOF

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
results=$(mktemp)
marker=$(mktemp)
trap 'rm -f "$results" "$marker"' EXIT

cargo bench -p mptcp-benches --bench codec --no-run >&2
for ((round = 1; round <= rounds; round++)); do
    echo "== round $round of $rounds" >&2
    touch "$marker"
    sleep 1 # criterion's files must be strictly newer than the marker, even on coarse clocks
    cargo bench -p mptcp-benches --bench codec -- --noplot "${args[@]}" "$@" >&2
    python3 -c "$py" collect "$target_dir/criterion" "$marker" "$round" "$results"
done
python3 -c "$py" table "$results"
