#!/usr/bin/env python3
"""Top functions of a callgrind profile by instructions, aggregated by function name.

callgrind_annotate splits a function's cost by the source file of each inlined line, which
scatters one hot function over many rows; this sums them back per function and also lists,
for the top functions, who calls them (inclusive cost of the calls) and the heaviest chain of
callers a few levels up.

Usage: benches/callgrind_top.py CALLGRIND_OUT [N (default 10)] [--callers]
"""
import re
import sys
from collections import defaultdict


def parse(path):
    names = {}  # compressed id -> name, for fn/cfn

    def name(spec):
        m = re.match(r"\((\d+)\)(?:\s+(.*))?$", spec.strip())
        if not m:
            return spec.strip()
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), spec.strip())

    self_cost = defaultdict(int)
    edges = defaultdict(int)  # (caller, callee) -> inclusive cost of the calls
    total = 0
    fn = None
    cfn = None
    in_call = False
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                fn = name(line[3:])
            elif line.startswith("cfn="):
                cfn = name(line[4:])
            elif line.startswith("calls="):
                in_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) < 2:
                    continue
                cost = int(parts[1])
                if in_call:
                    edges[(fn, cfn)] += cost
                    in_call = False
                else:
                    self_cost[fn] += cost
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
    return self_cost, edges, total or sum(self_cost.values())


def short(fn):
    fn = re.sub(r"^<?mptcp_stack::", "", fn)
    return fn if len(fn) < 110 else fn[:107] + "..."


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    callers = "--callers" in sys.argv
    path = args[0]
    n = int(args[1]) if len(args) > 1 else 10
    self_cost, edges, total = parse(path)
    print(f"total instructions: {total:,}\n")
    print("| # | function | instructions (self) | share |")
    print("|---:|---|---:|---:|")
    top = sorted(self_cost.items(), key=lambda kv: -kv[1])[:n]
    for i, (fn, cost) in enumerate(top, 1):
        print(f"| {i} | `{short(fn)}` | {cost:,} | {100 * cost / total:.1f}% |")
    if callers:
        def calls_into(fn):
            return sorted(((c, v) for (c, callee), v in edges.items() if callee == fn), key=lambda kv: -kv[1])

        for fn, _ in top:
            calls = calls_into(fn)
            print(f"\n{short(fn)} <- " + "; ".join(f"{short(c)} ({100 * v / total:.1f}%)" for c, v in calls[:4]))
            # The heaviest chain of callers, a few levels up (library wrappers hide the caller).
            chain, seen = [], {fn}
            while calls and len(chain) < 4 and calls[0][0] not in seen:
                chain.append(calls[0][0])
                seen.add(calls[0][0])
                calls = calls_into(calls[0][0])
            if len(chain) > 1:
                print("  heaviest chain: " + " <- ".join(short(c) for c in chain))


if __name__ == "__main__":
    main()
