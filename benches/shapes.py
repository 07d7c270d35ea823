#!/usr/bin/env python3
"""Benchmark heapdiff against its peers on every heap shape, at two sizes.

Shapes (generated into benches/data/shapes/<shape>-<size>/{a,b}.heapsnapshot, not
committed; b is a plus about a tenth more of the same):

  records   shallow: records in arrays, Maps, Sets (fixtures/make-large.js, scale 0.25 / 1)
  list      deep: one linked list of 2.5M / 10M objects (fixtures/make-shapes.js)
  context   deep: a chain of 400k / 1.6M configs through closure scopes
  fanout    wide: one array and one Map of 500k / 2M records each
  dom       DOM-heavy: a Chromium page with a table of 20k / 80k rows, a tenth detached
            (fixtures/shapes/dom.html through fixtures/zoo/chromium/lib/snap.js; needs
            Chromium)
  huge      past 4 GiB: six copies of records-large in one file (benches/tile-snapshot), one
            size

For each shape and size, benches/compare.py runs (interleaved, --runs each):
  summary   heapdiff --format json b          vs  v8-heap-parser b
  pair      heapdiff --format json a b        vs  memlab find-leaks a b b
and, with --no-huge-pages, heapdiff again with huge pages refused (HEAPDIFF_HUGE_PAGES=never).
A peer that exceeds --timeout is reported as "> timeout". Prints one Markdown table with
medians, ratios and peak RSS, and the size ratio per shape (large / small: time, input).

    python3 benches/shapes.py --make                  # generate what is missing, then run
    python3 benches/shapes.py --shapes list,context --sizes small --runs 3
    python3 benches/shapes.py --skip-peers            # heapdiff only (the size ratios)

Python 3.9+, standard library only, Linux.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DATA = BENCH / "data" / "shapes"
RESULTS = BENCH / "results"

SIZES = ("small", "large")
# (generator, argument per size)
SHAPES: dict[str, tuple[str, dict[str, object]]] = {
    "records": ("large", {"small": 0.25, "large": 1}),
    "list": ("shapes", {"small": 2_500_000, "large": 10_000_000}),
    "context": ("shapes", {"small": 400_000, "large": 1_600_000}),
    "fanout": ("shapes", {"small": 500_000, "large": 2_000_000}),
    "dom": ("dom", {"small": 20_000, "large": 80_000}),
    "huge": ("tile", {"large": 6}),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> None:
    log("$ " + " ".join(str(c) for c in cmd))
    subprocess.run(cmd, check=True, **kw)


def make(shape: str, size: str) -> Path:
    """The directory of (shape, size), generating its snapshots if missing."""
    d = DATA / f"{shape}-{size}"
    if (d / "a.heapsnapshot").exists() and (d / "b.heapsnapshot").exists():
        return d
    kind, arg = SHAPES[shape][0], SHAPES[shape][1][size]
    tmp = d.with_name(d.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if kind == "large":
        run(["node", str(REPO / "fixtures/make-large.js"), str(tmp), str(arg)])
        (tmp / "large-a.heapsnapshot").rename(tmp / "a.heapsnapshot")
        (tmp / "large-b.heapsnapshot").rename(tmp / "b.heapsnapshot")
    elif kind == "shapes":
        run(["node", str(REPO / "fixtures/make-shapes.js"), shape, str(arg), str(tmp)])
    elif kind == "dom":
        lib = REPO / "fixtures/zoo/chromium/lib/snap.js"
        page = (REPO / "fixtures/shapes/dom.html").as_uri() + f"?rows={arg}"
        env = dict(os.environ, SNAP_TIMEOUT_MS="1800000")
        run(["node", str(lib), "--driver", "cdp", "--port", "18398", "--url", page,
             "--snapshots", "2", str(tmp)], env=env)
        (tmp / "s1.heapsnapshot").rename(tmp / "a.heapsnapshot")
        (tmp / "s2.heapsnapshot").rename(tmp / "b.heapsnapshot")
    elif kind == "tile":
        src = make("records", "large")
        tool = BENCH / "tile-snapshot/target/release/tile-snapshot"
        run(["cargo", "build", "--release", "--manifest-path",
             str(BENCH / "tile-snapshot/Cargo.toml")])
        run([str(tool), str(arg), str(src / "a.heapsnapshot"), str(tmp / "a.heapsnapshot"),
             str(src / "b.heapsnapshot"), str(tmp / "b.heapsnapshot")])
    shutil.rmtree(d, ignore_errors=True)
    tmp.rename(d)
    return d


def compare(name: str, args: list[str], reuse: bool = False) -> dict:
    """Run benches/compare.py, return its saved JSON (with reuse, the latest saved one if
    there is one)."""
    before = set(RESULTS.glob(f"{name}-*.json")) if RESULTS.exists() else set()
    if reuse and before:
        log(f"{name}: reusing {sorted(before)[-1].name}")
        return json.loads(sorted(before)[-1].read_text())
    cmd = [sys.executable, str(BENCH / "compare.py"), "--name", name, *args]
    log("$ " + " ".join(cmd))
    # Exit 1 is a tool that failed or timed out on every run: a result, not an error.
    if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode not in (0, 1):
        raise SystemExit(f"{name}: compare.py failed")
    new = sorted(set(RESULTS.glob(f"{name}-*.json")) - before)
    return json.loads(new[-1].read_text())


def timed_out(runs: list[dict]) -> bool:
    """Whether a tool's runs ended at the timeout (compare.py's error text for it)."""
    return any("timed out" in str(r.get("error", "")) for r in runs)


def cell(result: dict, tool: str, timeout: float) -> tuple[str, float | None, float | None]:
    """A tool's median time as text, the median (s) and its peak RSS (MiB)."""
    s = result.get("summary", {}).get(tool)
    if not s:
        runs = result.get("raw", {}).get(tool)
        if not runs:
            return "–", None, None
        return (f"> {timeout:.0f} s" if timed_out(runs) else "failed"), None, None
    t = s["time_median_s"]
    return f"{t:.2f} s ({s['time_min_s']:.2f}–{s['time_max_s']:.2f})", t, s["rss_median_kib"] / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=900.0, help="per peer run (s)")
    ap.add_argument("--make", action="store_true", help="generate missing snapshots")
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--no-huge-pages", action="store_true",
                    help="also time heapdiff with huge pages refused")
    ap.add_argument("--only-summary", action="store_true")
    ap.add_argument("--reuse", action="store_true",
                    help="take each comparison's latest saved result where there is one")
    ap.add_argument("--only-pair", action="store_true")
    a = ap.parse_args()
    rows = []
    for shape in a.shapes.split(","):
        for size in a.sizes.split(","):
            if size not in SHAPES[shape][1]:
                continue
            d = DATA / f"{shape}-{size}"
            if a.make:
                try:
                    d = make(shape, size)
                except (subprocess.CalledProcessError, OSError) as e:
                    log(f"{shape}-{size}: not generated ({e}); skipped")
                    continue
            if not (d / "b.heapsnapshot").exists():
                log(f"{shape}-{size}: no snapshots in {d} (run with --make); skipped")
                continue
            a_file, b_file = d / "a.heapsnapshot", d / "b.heapsnapshot"
            mb = (a_file.stat().st_size / 1e6, b_file.stat().st_size / 1e6)
            common = ["--runs", str(a.runs), "--timeout", str(a.timeout)]
            tools_4k = []
            if a.no_huge_pages:
                tools_4k = ["--tool", "heapdiff-4k=env HEAPDIFF_HUGE_PAGES=never "
                            "target/release/heapdiff --format json {file}"]
            row = {"shape": shape, "size": size, "mb": mb}
            if not a.only_pair:
                only = "heapdiff" + ("" if a.skip_peers else ",v8-heap-parser")
                only += ",heapdiff-4k" if a.no_huge_pages else ""
                row["summary"] = compare(f"shape-{shape}-{size}-summary",
                                         ["--file", str(b_file), "--only", only, *tools_4k,
                                          *common], a.reuse)
            if not a.only_summary:
                only = "heapdiff-pair" + ("" if a.skip_peers else ",memlab-find-leaks")
                pair_4k = []
                if a.no_huge_pages:
                    only += ",heapdiff-pair-4k"
                    pair_4k = ["--tool", "heapdiff-pair-4k=env HEAPDIFF_HUGE_PAGES=never "
                               "target/release/heapdiff --format json {before} {after}"]
                row["pair"] = compare(f"shape-{shape}-{size}-pair",
                                      ["--before", str(a_file), "--file", str(b_file),
                                       "--only", only, *pair_4k, *common], a.reuse)
            rows.append(row)
    print("| shape, size | a → b | heapdiff summary | v8-heap-parser | ratio | heapdiff pair "
          "| memlab find-leaks | ratio | RSS summary / pair |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    def ratio(ours, peer, result, tool):
        if ours and peer:
            return f"{peer / ours:.1f}×"
        runs = result.get("raw", {}).get(tool) or []
        if ours and timed_out(runs):
            return f"> {a.timeout / ours:.0f}×"
        return "–"  # not run, or failed

    for r in rows:
        s, p = r.get("summary", {}), r.get("pair", {})
        hs, hst, hsr = cell(s, "heapdiff", a.timeout)
        vs, vst, _ = cell(s, "v8-heap-parser", a.timeout)
        hp, hpt, hpr = cell(p, "heapdiff-pair", a.timeout)
        ms, mst, _ = cell(p, "memlab-find-leaks", a.timeout)
        rss = f"{hsr or 0:.0f} / {hpr or 0:.0f} MiB"
        print(f"| {r['shape']}, {r['size']} | {r['mb'][0]:.0f} → {r['mb'][1]:.0f} MB | {hs} "
              f"| {vs} | {ratio(hst, vst, s, 'v8-heap-parser')} | {hp} | {ms} "
              f"| {ratio(hpt, mst, p, 'memlab-find-leaks')} | {rss} |")
        if a.no_huge_pages:
            k4, k4t, _ = cell(s, "heapdiff-4k", a.timeout)
            p4, p4t, _ = cell(p, "heapdiff-pair-4k", a.timeout)
            print(f"| ↳ 4 KiB pages | | {k4} | | {ratio(k4t, vst, s, 'v8-heap-parser')} "
                  f"| {p4} | | {ratio(p4t, mst, p, 'memlab-find-leaks')} | |")
    # Size ratios: how time grows with the input, per shape (huge: against records-large).
    print("\n| shape | input large/small | summary time large/small | pair time large/small |")
    print("|---|---:|---:|---:|")
    by = {(r["shape"], r["size"]): r for r in rows}
    for shape in a.shapes.split(","):
        sm, lg = by.get((shape, "small")), by.get((shape, "large"))
        if shape == "huge":  # six copies of records-large: against records-large itself
            sm = by.get(("records", "large"))
        if not sm or not lg:
            continue
        def t(r, part, tool):
            return r.get(part, {}).get("summary", {}).get(tool, {}).get("time_median_s")
        rs = [t(lg, "summary", "heapdiff"), t(sm, "summary", "heapdiff"),
              t(lg, "pair", "heapdiff-pair"), t(sm, "pair", "heapdiff-pair")]
        st = f"{rs[0] / rs[1]:.2f}" if rs[0] and rs[1] else "–"
        pt = f"{rs[2] / rs[3]:.2f}" if rs[2] and rs[3] else "–"
        print(f"| {shape} | {lg['mb'][1] / sm['mb'][1]:.2f} | {st} | {pt} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
