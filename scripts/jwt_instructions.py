#!/usr/bin/env python3
"""Instruction counts of the JWT paths (issue 12), counted by callgrind: noise-free, so the
targets can be judged on a loaded machine.

    python3 scripts/jwt_instructions.py                 # build benches/jwt.rs, count every variant
    python3 scripts/jwt_instructions.py --binary PATH   # count an already built bench binary
    python3 scripts/jwt_instructions.py --requests 50   # n (default 100)

Each variant runs in its own process of the bench binary under valgrind's callgrind, in the
bench's instruction mode (`SEALED_SESSION_JWT_INSTRUCTIONS=n`, `SEALED_SESSION_JWT_ONLY=<id>`):
n calls to warm it, then a batch of n and one of 2n calls, each batch (and the warm-up) one call
of `callgrind_counted` (the only code counted) and one dump; requests are built in
`callgrind_uncounted`, which switches the count off. Per call = (count(2n) - count(n)) / n.

Printed: instructions per call, and the targets' ratios:
- uncached overhead over the floor (`jsonwebtoken::decode` alone on the same token), for
  `JwtHandler::verify` and for the whole request less the same request to a route without the
  layer: target under 15 %;
- a cached JWT request against the uncached `token_fn` over a HashMap: target at most 1.
Reported only, no gate. Valgrind runs SHA-256 and other primitives without some CPU extensions
(SHA-NI): counts are not times.
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
from pathlib import Path

from benchbuild import build_bench

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 900
PHASE = re.compile(r"^instructions-phase (\S+) (\d+)$")


def build() -> Path:
    return build_bench("jwt", "jwt")


def total(path: Path) -> int:
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    sys.exit(f"jwt_instructions: no total in {path}")


def count(binary: Path, symbol: str, toggle: str, vid: str, n: int, tmp: Path) -> float:
    out = tmp / vid / "callgrind.out"
    out.parent.mkdir()
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={toggle}",
           f"--dump-after={symbol}", f"--callgrind-out-file={out}", str(binary)]
    env = dict(os.environ, SEALED_SESSION_JWT_INSTRUCTIONS=str(n), SEALED_SESSION_JWT_ONLY=vid)
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=TIMEOUT_S, check=False)
    phases = [m.groups() for m in map(PHASE.match, proc.stdout.splitlines()) if m]
    dumps = sorted(
        (int(m.group(1)), total(p))
        for p in out.parent.iterdir()
        if (m := re.fullmatch(r"callgrind\.out\.(\d+)", p.name))
    )
    # Three dumps: after the warm-up (also one call of `callgrind_counted`), after n, after 2n.
    if proc.returncode != 0 or phases != [(vid, str(n)), (vid, str(2 * n))] or len(dumps) != 3:
        sys.stderr.write(proc.stderr[-3000:])
        sys.exit(f"jwt_instructions: {vid}: exit {proc.returncode}, phases {phases}, {len(dumps)} dumps")
    return (dumps[2][1] - dumps[1][1]) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path, help="count this bench binary instead of building it")
    ap.add_argument("--requests", type=int, default=100, help="n (default 100)")
    ap.add_argument("--save", type=Path, help="write the counts to this JSON file")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("jwt_instructions: valgrind is missing (Debian: apt-get install valgrind)")
    binary = args.binary or build()
    info = subprocess.run([str(binary)], env=dict(os.environ, SEALED_SESSION_JWT_INSTRUCTIONS="symbol"),
                          stdout=subprocess.PIPE, text=True, timeout=120, check=True).stdout.split()
    symbol, ids = info[0], info[2:]
    toggle = symbol.removesuffix("::callgrind_counted") + "::callgrind_*counted"
    with tempfile.TemporaryDirectory(prefix="jwt-callgrind-") as tmp:
        workers = max(1, min(os.cpu_count() or 1, 4))
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            runs = {v: pool.submit(count, binary, symbol, toggle, v, args.requests, Path(tmp)) for v in ids}
            per = {v: r.result() for v, r in runs.items()}
    print(f"Instructions per call (callgrind, (count({2 * args.requests}) - count({args.requests})) "
          f"/ {args.requests}, {binary.name}):\n")
    print("| variant | instructions |\n|---|---:|")
    for v in ids:
        print(f"| `{v}` | {per[v]:,.0f} |")
    print()
    bare = per.get("request_no_layer", 0.0)
    for alg in ("rs256", "es256"):
        floor = per[f"floor_{alg}"]
        verify = per[f"verify_{alg}"] / floor - 1
        request = (per[f"request_uncached_{alg}"] - bare) / floor - 1
        print(f"- {alg.upper()} uncached overhead over the floor (target < 15 %): "
              f"`JwtHandler::verify` {verify:+.1%}; request less the route without the layer {request:+.1%}")
    cached, target = per["request_cached_rs256"], per["request_token_fn_hashmap"]
    print(f"- cached JWT request / uncached `token_fn` HashMap request (target <= 1): "
          f"{cached:,.0f} / {target:,.0f} = {cached / target:.2f}")
    if args.save:
        args.save.write_text(json.dumps(per, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
