#!/usr/bin/env python3
"""Instruction-count gate for sealed-session (issue 10): instructions per request, counted by
callgrind, for our routes and the floors, all from one run of one bench binary.

    python3 scripts/instructions.py                  # measure, check against benches/instructions.json
    python3 scripts/instructions.py --update         # measure, then record this run as the new truth
    python3 scripts/instructions.py --all            # also every other variant (peers, junk), reported only
    python3 scripts/instructions.py --save run.json  # also write this run's numbers to run.json
    python3 scripts/instructions.py --against run.json --max-growth 2   # compare with a saved run

How: `cargo bench --bench layer --no-run` builds the bench binary (release profile). Each
variant is then counted in its own process of that binary under valgrind's callgrind, in the
bench's instruction mode (`SEALED_SESSION_BENCH_INSTRUCTIONS=n`): on a fresh thread, n untimed
requests to warm it, then a batch of n and a batch of 2n requests, each batch one call of
`callgrind_counted`, the only code callgrind counts (`--toggle-collect`), with one dump after
each (`--dump-after`). Each request is built just before it is sent, in `callgrind_uncounted`,
which switches the count off. Per request = (count(2n) - count(n)) / n: what a batch costs once
(entering the runtime) cancels out. Two runs of one binary agree to a few instructions.

The gate: for each gated route, ratio = its instructions per request / its floor's (the floors
are measured in the same run: the bare handler, or the read / write floor). The check fails when
a ratio is more than `tolerance` (5 %) above the value recorded in benches/instructions.json.
Ratios measured in one run hold on any machine that runs the same code; the absolute counts move
with the compiler and the CPU features valgrind reports, and are recorded for reading only.
Change the recorded values on purpose only: run with `--update` and commit the file with the
change that explains it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchbuild import build_bench

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "benches" / "instructions.json"
TOLERANCE = 0.05
DEFAULT_REQUESTS = 500
# One counted process takes a few seconds (the junk variants of --all about 20 s). Bounded.
VALGRIND_TIMEOUT_S = 600

# Denominators, measured in the same run.
FLOORS = ["bare", "bare_with_cookie", "floor_read", "floor_write"]
# Gated route -> its floor.
GATED = {
    "ours_read": "floor_read",
    "ours_write": "floor_write",
    "ours_tampered": "floor_read",
    "ours_no_extractor": "bare_with_cookie",
    "ours_no_extractor_unfinalised": "bare_with_cookie",
    "ours_bearer_cached": "bare",
    "ours_bearer_uncached_map": "bare",
    "ours_bearer_uncached_apikeys": "bare",
    # Revocation on (issue 11): a read with the in-memory store, and a revoked cookie. (Not the
    # Redis store's: those variants are skipped where no redis-server runs.)
    "ours_read_memory": "floor_read",
    "ours_read_memory_revoked": "floor_read",
}

# Measured in every run and shown, not gated: what axum itself charges a layered route in a
# `Router` that is not finalised, next to ours; and the hand-written cookie layer doing what ours
# does, which issue 16 compares our read and write with.
REPORTED = ["noop_layer", "noop_layer_unfinalised", "hand_read", "hand_write"]

PHASE = re.compile(r"^instructions-phase (\S+) (\d+) (.*)$")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build() -> tuple[Path, float]:
    """Builds the bench binary (release profile) and returns its path and the build's seconds."""
    started = time.monotonic()
    # With `redis`: the revocation variants (issue 11) include the Redis store's mirror. The
    # feature adds nothing to the request path of a layer without a store.
    return build_bench("layer", "redis"), time.monotonic() - started


def dump_total(path: Path) -> tuple[str, int]:
    """(trigger, instructions) of one callgrind dump."""
    trigger, total = "", None
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("desc: Trigger:"):
                trigger = line.split(":", 2)[2].strip()
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
    if total is None:
        sys.exit(f"instructions: no total in {path}")
    return trigger, total


def counted_run(binary: Path, symbol: str, toggle: str, env: dict, vid: str, requests: int,
                tmp: Path) -> dict:
    """One process of the binary under callgrind, counting variant `vid`."""
    out = tmp / vid / "callgrind.out"
    out.parent.mkdir()
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--collect-atstart=no",
        # One pattern for both (callgrind keeps only the last --toggle-collect), matching
        # neither their closures nor their drop glue.
        f"--toggle-collect={toggle}",
        f"--dump-after={symbol}",
        f"--callgrind-out-file={out}",
        str(binary),
    ]
    proc = subprocess.run(
        cmd, env=dict(env, SEALED_SESSION_BENCH_ONLY=vid), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, timeout=VALGRIND_TIMEOUT_S, check=False,
    )
    if proc.returncode != 0:
        log("$ " + " ".join(cmd))
        log(proc.stderr[-4000:])
        sys.exit(f"instructions: the counted run of {vid} failed (exit {proc.returncode})")
    phases = []
    for line in proc.stdout.splitlines():
        m = PHASE.match(line)
        if m:
            phases.append((m.group(1), int(m.group(2)), m.group(3)))
    dumps = []
    for path in out.parent.iterdir():
        m = re.fullmatch(r"callgrind\.out\.(\d+)", path.name)
        if m:
            trigger, total = dump_total(path)
            if trigger == f"--dump-after={symbol}":
                dumps.append((int(m.group(1)), total))
    dumps.sort()
    expected = [(vid, requests), (vid, 2 * requests)]
    if [(p[0], p[1]) for p in phases] != expected or len(dumps) != 2:
        sys.exit(f"instructions: {vid}: phases {phases}, {len(dumps)} dumps (expected {expected})")
    once, twice = dumps[0][1], dumps[1][1]
    return {
        "label": phases[0][2],
        "instructions": round((twice - once) / requests, 1),
        # What one counted call costs besides its requests: small and positive when the count
        # per request is steady.
        "fixed": 2 * once - twice,
    }


def measure(binary: Path, ids: list[str] | None, requests: int) -> tuple[dict, float]:
    """Counts every variant in `ids` (None: all of them), each in its own process of the same
    binary under callgrind, so that no variant's count depends on the heap another one left (the
    allocator's free lists move a count by up to 1 % otherwise). Returns {id: {...}}, seconds."""
    if not shutil.which("valgrind"):
        sys.exit("instructions: valgrind is missing (Debian: apt-get install valgrind)")
    env = dict(os.environ, SEALED_SESSION_BENCH_INSTRUCTIONS=str(requests))
    env.pop("SEALED_SESSION_BENCH_PROFILE", None)
    env.pop("SEALED_SESSION_BENCH_ONLY", None)
    # The counted function's symbol and the variant ids, from the binary itself (callgrind's
    # --dump-after needs the symbol exactly; a wildcard also matches its closures' drop glue).
    info = subprocess.run(
        [str(binary)], env=dict(env, SEALED_SESSION_BENCH_INSTRUCTIONS="symbol"),
        stdout=subprocess.PIPE, text=True, timeout=120, check=True,
    ).stdout.split()
    symbol, uncounted, known = info[0], info[1], info[2:]
    module = symbol.removesuffix("::callgrind_counted")
    if symbol == module or uncounted != f"{module}::callgrind_uncounted":
        sys.exit(f"instructions: unexpected symbols {symbol!r}, {uncounted!r} from the bench binary")
    toggle = f"{module}::callgrind_*counted"
    unknown = [v for v in ids or [] if v not in known]
    if unknown:
        sys.exit(f"instructions: the bench has no variant {unknown}")
    log(f"$ valgrind --tool=callgrind --collect-atstart=no --toggle-collect='{toggle}' "
        f"--dump-after={symbol} {binary}   # once per variant, SEALED_SESSION_BENCH_ONLY=<id>")
    started = time.monotonic()
    results = {}
    # One process per variant, as many at once as there are cores: callgrind's counts do not
    # depend on what else runs.
    workers = max(1, min(os.cpu_count() or 1, 4))
    with tempfile.TemporaryDirectory(prefix="sealed-session-callgrind-") as tmp:
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            runs = {
                vid: pool.submit(counted_run, binary, symbol, toggle, env, vid, requests, Path(tmp))
                for vid in ids or known
            }
            results = {vid: run.result() for vid, run in runs.items()}
    return results, time.monotonic() - started


def ratios(results: dict) -> dict:
    out = {}
    for route, floor in GATED.items():
        if route in results and floor in results and results[floor]["instructions"] > 0:
            out[route] = results[route]["instructions"] / results[floor]["instructions"]
    return out


def git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, check=False)
    return proc.stdout.strip()


def version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def fmt(n: float) -> str:
    return f"{n:,.0f}"


def table(results: dict, measured_ratios: dict, recorded: dict | None) -> str:
    rec_routes = (recorded or {}).get("routes", {})
    lines = [
        "| variant | instructions / request | floor | ratio to floor | recorded ratio | change |",
        "|---|---:|---|---:|---:|---:|",
    ]
    order = FLOORS + list(GATED) + REPORTED + sorted(set(results) - set(FLOORS) - set(GATED) - set(REPORTED))
    for vid in order:
        if vid not in results:
            continue
        r = results[vid]
        floor = GATED.get(vid)
        ratio = measured_ratios.get(vid)
        rec = rec_routes.get(vid, {}).get("ratio")
        change = f"{(ratio / rec - 1) * 100:+.1f} %" if ratio and rec else "–"
        lines.append(
            f"| {r['label']} (`{vid}`) | {fmt(r['instructions'])} | {f'`{floor}`' if floor else '–'} | "
            f"{f'{ratio:.3f}' if ratio else '–'} | {f'{rec:.3f}' if rec else '–'} | {change} |"
        )
    return "\n".join(lines)


def check(measured_ratios: dict, recorded: dict) -> list[str]:
    tolerance = recorded.get("tolerance", TOLERANCE)
    failures = []
    for route, floor in GATED.items():
        rec = recorded.get("routes", {}).get(route)
        got = measured_ratios.get(route)
        if rec is None:
            failures.append(f"{route}: no recorded value in {RECORDED.relative_to(ROOT)} (run with --update)")
        elif rec.get("floor") != floor:
            failures.append(f"{route}: recorded against {rec.get('floor')}, measured against {floor} (run with --update)")
        elif got is None:
            failures.append(f"{route}: not measured")
        elif got > rec["ratio"] * (1 + tolerance):
            failures.append(
                f"{route}: ratio to {floor} {got:.3f}, recorded {rec['ratio']:.3f} "
                f"(+{(got / rec['ratio'] - 1) * 100:.1f} %, more than +{tolerance * 100:.0f} %)"
            )
    return failures


def against(results: dict, measured_ratios: dict, saved: dict, max_growth: float) -> list[str]:
    """Each route within +max_growth % of a saved run in instructions, and no ratio worse."""
    failures = []
    lines = [
        "| variant | before | after | change | ratio before | ratio after |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    if "results" in saved:  # a run saved with --save
        before = saved["results"]
        before_ratios = saved.get("ratios", {})
    else:  # a recorded file (benches/instructions.json, from any commit)
        before = {f: {"instructions": n} for f, n in saved.get("floors", {}).items()}
        before.update({v: {"instructions": n} for v, n in saved.get("reported", {}).items()})
        before.update({r: {"instructions": v["instructions"]} for r, v in saved.get("routes", {}).items()})
        before_ratios = {r: v["ratio"] for r, v in saved.get("routes", {}).items()}
    for vid in FLOORS + list(GATED) + REPORTED:
        if vid not in results or vid not in before:
            continue
        b, a = before[vid]["instructions"], results[vid]["instructions"]
        change = (a / b - 1) * 100
        rb, ra = before_ratios.get(vid), measured_ratios.get(vid)
        lines.append(
            f"| `{vid}` | {fmt(b)} | {fmt(a)} | {change:+.1f} % | "
            f"{f'{rb:.3f}' if rb else '–'} | {f'{ra:.3f}' if ra else '–'} |"
        )
        if vid in GATED and change > max_growth:
            failures.append(f"{vid}: {fmt(b)} -> {fmt(a)} instructions ({change:+.1f} %, more than +{max_growth} %)")
        if rb and ra and ra > rb * 1.001:
            failures.append(f"{vid}: ratio to {GATED[vid]} {rb:.3f} -> {ra:.3f} (worse)")
    for what, fin, unfin in [
        ("never asks: not finalised - finalised", "ours_no_extractor", "ours_no_extractor_unfinalised"),
        ("no-op layer: not finalised - finalised", "noop_layer", "noop_layer_unfinalised"),
    ]:
        def gap(r: dict) -> str:
            if fin in r and unfin in r:
                return fmt(r[unfin]["instructions"] - r[fin]["instructions"])
            return "–"
        lines.append(f"| {what} | {gap(before)} | {gap(results)} | | | |")
    print("\n".join(lines))
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--update", action="store_true", help="record this run in benches/instructions.json")
    ap.add_argument("--all", action="store_true", help="count every variant of the bench (reported only)")
    ap.add_argument("--requests", type=int, help=f"n (default: the recorded value, else {DEFAULT_REQUESTS})")
    ap.add_argument("--binary", type=Path, help="use this bench binary instead of building it")
    ap.add_argument("--save", type=Path, help="write this run's numbers to a JSON file")
    ap.add_argument("--against", type=Path, help="compare with a run saved with --save")
    ap.add_argument("--max-growth", type=float, default=2.0, help="with --against: allowed growth, %% (2)")
    args = ap.parse_args()

    recorded = json.loads(RECORDED.read_text()) if RECORDED.exists() else None
    requests = args.requests or (recorded or {}).get("requests", DEFAULT_REQUESTS)

    started = time.monotonic()
    if args.binary:
        binary, build_s = args.binary, 0.0
    else:
        binary, build_s = build()
    ids = None if args.all else FLOORS + list(GATED) + REPORTED
    results, run_s = measure(binary, ids, requests)
    measured_ratios = ratios(results)

    print()
    print(f"Instructions per request (callgrind, (count({2 * requests}) - count({requests})) / {requests} "
          f"requests, one run of {binary.name}):")
    print()
    print(table(results, measured_ratios, recorded))
    print()
    # A batch's own cost (entering the runtime) is a few hundred instructions; more, either way,
    # means the count per request was not steady over the batches.
    odd = [v for v, r in results.items() if abs(r["fixed"]) / requests > 0.002 * r["instructions"]]
    if odd:
        print(f"note: count(2n) - 2 count(n) is large for {', '.join(odd)}: "
              "the count per request was not steady there (try a larger --requests)")
    print(f"build {build_s:.0f} s, counted run {run_s:.0f} s, total {time.monotonic() - started:.0f} s")

    run = {
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".",
                          ":!benches/instructions.json")),
        "rustc": version(["rustc", "-V"]),
        "valgrind": version(["valgrind", "--version"]),
        "requests": requests,
        "results": results,
        "ratios": measured_ratios,
    }
    if args.save:
        args.save.write_text(json.dumps(run, indent=2, ensure_ascii=False) + "\n")
        print(f"saved this run to {args.save}")

    failures = []
    if args.against:
        print()
        failures += against(results, measured_ratios, json.loads(args.against.read_text()), args.max_growth)

    if args.update:
        missing = [v for v in FLOORS + list(GATED) if v not in results]
        if missing:
            sys.exit(f"instructions: not recorded, missing {missing}")
        RECORDED.write_text(json.dumps({
            "about": "Recorded by `python3 scripts/instructions.py --update`; the CI gate fails when a "
                     "route's ratio to its floor grows more than `tolerance` above `ratio`. "
                     "`instructions` are for reading only (they depend on the compiler and the CPU).",
            "tolerance": (recorded or {}).get("tolerance", TOLERANCE),
            "requests": requests,
            "measured_on": {k: run[k] for k in ("commit", "dirty", "rustc", "valgrind")},
            "floors": {f: results[f]["instructions"] for f in FLOORS},
            # Counted in every run, not gated (see REPORTED in the script).
            "reported": {v: results[v]["instructions"] for v in REPORTED if v in results},
            "routes": {
                route: {
                    "floor": floor,
                    "ratio": round(measured_ratios[route], 4),
                    "instructions": results[route]["instructions"],
                }
                for route, floor in GATED.items()
            },
        }, indent=2, ensure_ascii=False) + "\n")
        print(f"recorded this run in {RECORDED.relative_to(ROOT)}")
    elif recorded is None:
        failures.append(f"no recorded values in {RECORDED.relative_to(ROOT)} (run with --update)")
    else:
        failures += check(measured_ratios, recorded)

    if failures:
        print("\nINSTRUCTION GATE FAILED:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("\ninstruction gate passed" if not args.update else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
