#!/usr/bin/env bash
# Fuzzes each target for a time budget, on a stable toolchain (no sanitizer).
#
#   stack/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 30 s, all targets)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a C++ compiler for libFuzzer.
# Works from any directory. For each target it first replays regressions/<target>/* (each
# file once), then copies seeds/<target> into the scratch corpus corpus/<target> (gitignored)
# and fuzzes. Crash inputs land in artifacts/<target>/. Exits non-zero if any target crashed,
# timed out or ran out of memory, or a regression input failed.
set -uo pipefail

budget=${1:-30}
shift $(( $# > 0 ? 1 : 0 ))
if ! [[ "$budget" =~ ^[0-9]+$ ]] || (( budget < 1 )); then
    echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here" || exit 2

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: cargo-fuzz not found; install it with: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

if (( $# > 0 )); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# Build everything once so the budget is spent fuzzing, not compiling.
cargo fuzz build -s none || { echo "run.sh: build failed" >&2; exit 2; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()
declare -A execs verdict

for t in "${targets[@]}"; do
    echo "=== $t: ${budget}s ==="
    verdict[$t]=ok
    execs[$t]=?

    shopt -s nullglob
    regressions=(regressions/"$t"/*)
    shopt -u nullglob
    if (( ${#regressions[@]} > 0 )); then
        if ! cargo fuzz run -s none "$t" "${regressions[@]}" >"$logs/$t.regressions" 2>&1; then
            grep -m1 -A2 "panicked at" "$logs/$t.regressions" >&2
            echo "run.sh: $t: a regression input fails (log above)" >&2
            verdict[$t]="REGRESSION FAILED"
            failed+=("$t")
        fi
    fi

    mkdir -p corpus/"$t" artifacts/"$t"
    if [[ -d seeds/$t ]]; then
        cp -n seeds/"$t"/* corpus/"$t"/ 2>/dev/null || true
    else
        mkdir -p seeds/"$t"
    fi
    before=$(ls artifacts/"$t" | wc -l)

    cargo fuzz run -s none "$t" corpus/"$t" seeds/"$t" -- \
        -max_total_time="$budget" -print_final_stats=1 >"$logs/$t.log" 2>&1
    rc=$?

    n=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$logs/$t.log" | tail -1)
    # No final stats after a crash: take the last "#N ..." status line.
    [[ -n "$n" ]] || n=$(grep -oE '^#[0-9]+' "$logs/$t.log" | tail -1 | tr -d '#')
    execs[$t]=${n:-?}

    if (( rc != 0 )); then
        sed -n '/panicked at\|==[0-9]*== ERROR\|SUMMARY\|Test unit written/p' "$logs/$t.log" | head -20 >&2
        new=$(ls -t artifacts/"$t" | head -n $(( $(ls artifacts/"$t" | wc -l) - before )))
        echo "run.sh: $t FAILED (exit $rc); new artifacts:" >&2
        for a in $new; do echo "  $here/artifacts/$t/$a" >&2; done
        [[ ${verdict[$t]} == ok ]] && failed+=("$t")
        verdict[$t]="CRASH (exit $rc)"
    fi
    echo "$t: ${execs[$t]} executions, corpus $(ls corpus/"$t" | wc -l) files, ${verdict[$t]}"
done

echo
echo "=== summary (${budget}s per target) ==="
for t in "${targets[@]}"; do
    printf '%-14s %12s execs  %s\n' "$t" "${execs[$t]}" "${verdict[$t]}"
done
if (( ${#failed[@]} > 0 )); then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
