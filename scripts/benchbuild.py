"""Builds one of the crate's bench binaries (release profile) and returns its path: the one
build step of scripts/instructions.py, scripts/growth.py and scripts/jwt_instructions.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_bench(bench: str, features: str) -> Path:
    """`cargo bench --bench <bench> --features <features> --no-run` (with `--locked` when there
    is a lock file), and the executable cargo reports for it. Exits with a message on failure."""
    cmd = ["cargo", "bench", "--bench", bench, "--features", features, "--no-run",
           "--message-format=json-render-diagnostics"]
    if (ROOT / "Cargo.lock").exists():
        cmd.insert(2, "--locked")
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{bench}: the bench build failed (exit {proc.returncode})")
    binary = None
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == bench:
            binary = msg.get("executable") or binary
    if not binary:
        sys.exit(f"{bench}: cargo did not report the bench binary")
    return Path(binary)
