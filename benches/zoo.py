#!/usr/bin/env python3
"""Time heapdiff on every case of fixtures/zoo: the pair (s1 s2) and the series (s1 s2 s3).

Each run is `heapdiff --format json` on the committed gzipped snapshots, as a user runs
it (decompression included). The runs go round-robin over the cases (every case once,
then every case again, ...) so a noisy minute spreads over all of them. Prints a
Markdown table per case: median and max wall time and the median peak RSS of N runs,
then the slowest case. Python 3.9+, standard library only, Linux (ru_maxrss in KiB).

    python3 benches/zoo.py [--runs 5] [--bin target/release/heapdiff]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ZOO = REPO / "fixtures" / "zoo"


def cases() -> list[Path]:
    out = []
    for family in ("node", "chromium"):
        for d in sorted((ZOO / family).iterdir()):
            if (d / "truth.json").exists() and (d / "s3.heapsnapshot.gz").exists():
                out.append(d)
    return out


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child; raises if it fails."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    # 0: no finding at the gate's level, 1 cannot happen without --fail-on; 2 is an error.
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)}: exit {code}: {err.strip()}")
    return wall, usage.ru_maxrss


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", default=str(REPO / "target" / "release" / "heapdiff"))
    a = ap.parse_args()
    if not Path(a.bin).exists():
        print(f"{a.bin}: not built (cargo build --release)", file=sys.stderr)
        return 2
    jobs = []
    for d in cases():
        snaps = [str(d / f"s{i}.heapsnapshot.gz") for i in (1, 2, 3)]
        name = f"{d.parent.name}/{d.name}"
        jobs.append((name, "pair", [a.bin, "--format", "json", *snaps[:2]]))
        jobs.append((name, "series", [a.bin, "--format", "json", *snaps]))
    times: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for r in range(a.runs):
        print(f"round {r + 1}/{a.runs}", file=sys.stderr)
        for name, mode, cmd in jobs:
            times.setdefault((name, mode), []).append(run(cmd))
    print(f"heapdiff on fixtures/zoo, {a.runs} round-robin runs per row\n")
    print("| case | pair median (max) | series median (max) | peak RSS (series) |")
    print("|---|---:|---:|---:|")
    slowest = (0.0, "")
    for name in dict.fromkeys(n for n, _, _ in jobs):
        row = [name]
        for mode in ("pair", "series"):
            ts = [t for t, _ in times[(name, mode)]]
            row.append(f"{statistics.median(ts):.2f} s ({max(ts):.2f})")
            slowest = max(slowest, (max(ts), f"{name} {mode}"))
        rss = statistics.median(k for _, k in times[(name, "series")]) / 1024
        row.append(f"{rss:.0f} MiB")
        print("| " + " | ".join(row) + " |")
    print(f"\nslowest single run: {slowest[1]}, {slowest[0]:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
