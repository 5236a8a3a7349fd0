#!/usr/bin/env python3
"""Instruction counts for the growth bench (issue 16, "How cost grows"): instructions per request
of every row of `benches/growth`, counted by callgrind exactly as scripts/instructions.py counts
the layer bench (its `measure`, imported), and printed as a markdown table, merged with the last
time run of the bench when there is one.

    cargo bench --features jwt --bench growth      # time + memory (writes <target>/growth-last-run.json)
    python3 scripts/growth.py                      # instructions, merged with that run
    python3 scripts/growth.py --only size_100_read,size_3k_read --requests 100
    python3 scripts/growth.py --save growth.json   # also write this run's numbers

Each row is counted in its own process of the bench binary under callgrind, in the bench's
instruction mode (SEALED_SESSION_BENCH_INSTRUCTIONS=n, SEALED_SESSION_BENCH_ONLY=<row>): n
untimed requests to warm it, then batches of n and 2n requests; per request = (count(2n) -
count(n)) / n. Only the row counted is built, so the 10^6-entry rows fill their structure under
valgrind (the cache: about four minutes). Nothing is gated and nothing is recorded: the numbers are for
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchbuild import build_bench

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REQUESTS = 200


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def gate_module():
    """scripts/instructions.py, for its callgrind runner (`measure`)."""
    spec = importlib.util.spec_from_file_location("instructions", ROOT / "scripts" / "instructions.py")
    if spec is None or spec.loader is None:
        sys.exit("growth: cannot load scripts/instructions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build() -> Path:
    return build_bench("growth", "jwt")


def rows(binary: Path) -> list[tuple[str, str, str]]:
    """(id, group, case) of every row, in the bench's order."""
    env = dict(os.environ, SEALED_SESSION_GROWTH_LIST="1")
    for var in ("SEALED_SESSION_BENCH_INSTRUCTIONS", "SEALED_SESSION_BENCH_ONLY", "SEALED_SESSION_BENCH_PROFILE"):
        env.pop(var, None)
    out = subprocess.run([str(binary)], env=env, stdout=subprocess.PIPE, text=True, timeout=60,
                         check=True).stdout
    return [tuple(line.split("\t", 2)) for line in out.splitlines() if line.count("\t") == 2]


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")


def fmt(n: float) -> str:
    return f"{n:,.0f}"


def table(listed, counted: dict, timed: dict | None) -> str:
    head = "| what | case | instructions / request | × first of group |"
    rule = "|---|---|---:|---:|"
    if timed:
        head += " ns / request | × first of group | allocations / request | memory |"
        rule += "---:|---:|---:|---|"
    lines = [head, rule]
    first_group, first_i, first_t = None, None, None
    for vid, group, case in listed:
        if vid not in counted:
            continue
        i = counted.get(vid, {}).get("instructions")
        t = (timed or {}).get(vid, {})
        if group != first_group:
            first_group, first_i, first_t = group, i, t.get("ns")
        # The time run's case carries the measured sizes; the listing's is the bare name.
        shown = t.get("case") or case
        line = (f"| {group} | {shown} (`{vid}`) | {fmt(i) if i else '–'} | "
                f"{f'{i / first_i:.2f}' if i and first_i else '–'} |")
        if timed:
            ns = t.get("ns")
            line += (f" {fmt(ns) if ns else '–'} | {f'{ns / first_t:.2f}' if ns and first_t else '–'} | "
                     f"{t['allocations']:.1f} |" if "allocations" in t else " – | – | – |")
            line += f" {t.get('memory') or '–'} |"
        lines.append(line)
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help=f"n (default {DEFAULT_REQUESTS})")
    ap.add_argument("--only", help="comma-separated row ids (default: every row)")
    ap.add_argument("--binary", type=Path, help="use this bench binary instead of building it")
    ap.add_argument("--time", type=Path,
                    help="the time run to merge (default: <target>/growth-last-run.json, if present)")
    ap.add_argument("--no-time", action="store_true", help="do not merge a time run")
    ap.add_argument("--save", type=Path, help="write this run's counts to a JSON file")
    args = ap.parse_args()

    started = time.monotonic()
    binary = args.binary or build()
    listed = rows(binary)
    known = [vid for vid, _, _ in listed]
    ids = [v.strip() for v in args.only.split(",")] if args.only else known
    unknown = [v for v in ids if v not in known]
    if unknown:
        sys.exit(f"growth: the bench has no row {unknown}; rows: {', '.join(known)}")

    gate = gate_module()
    counted, run_s = gate.measure(binary, ids, args.requests)

    timed = None
    time_path = args.time or target_dir() / "growth-last-run.json"
    if not args.no_time and time_path.exists():
        saved = json.loads(time_path.read_text())
        timed = {r["id"]: r for r in saved.get("rows", [])}
        print(f"\nTime run merged from {time_path}: {saved.get('header', '?')}")

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, check=False).stdout.strip()
    print(f"\nInstructions per request (callgrind, (count({2 * args.requests}) - count({args.requests})) / "
          f"{args.requests} requests, one process per row), commit {commit}:\n")
    print(table(listed, counted, timed))
    odd = [v for v, r in counted.items() if abs(r["fixed"]) / args.requests > 0.002 * r["instructions"]]
    if odd:
        print(f"\nnote: count(2n) - 2 count(n) is large for {', '.join(odd)}: the count per request "
              "was not steady there (try a larger --requests)")
    print(f"\ncounted in {run_s:.0f} s, total {time.monotonic() - started:.0f} s")
    if args.save:
        args.save.write_text(json.dumps({"commit": commit, "requests": args.requests, "results": counted},
                                        indent=2, ensure_ascii=False) + "\n")
        print(f"saved this run to {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
