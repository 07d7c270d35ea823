#!/usr/bin/env bash
# What heapdiff's own allocator (src/arena.rs) gains over the system allocator, on the large
# single snapshot and the large pair: three binaries' runs interleaved by compare.py, time
# and peak RSS, medians and ranges.
#
#   arena      the default build; the region probes and picks its pages
#   arena-4k   the same binary with HEAPDIFF_HUGE_PAGES=never: a host that refuses huge pages
#   system     built with --no-default-features: glibc's malloc with its defaults
#
# On a host whose transparent huge pages are `madvise` (this project's VMs) glibc never asks
# for huge pages, so `system` is on base pages too; on an `always` host, compare with THP
# off system-wide instead. Every run passes --timings, so the JSON keeps, per run, the pages
# the region chose (the last stderr line).
#
#   benches/allocator.sh [--runs N] [--no-build] [--only single|pair]
#
# Needs benches/data/large-a.heapsnapshot and large-b.heapsnapshot (node fixtures/make-large.js).
# Binaries go to target/alloc-bench/, results to benches/results/alloc-{single,pair}-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5
build=1
only="single pair"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --only) only="$2"; shift 2 ;;
    *) echo "usage: benches/allocator.sh [--runs N] [--no-build] [--only single|pair]" >&2; exit 2 ;;
  esac
done

target="${CARGO_TARGET_DIR:-target}"
out=target/alloc-bench
mkdir -p "$out"
if [ "$build" = 1 ]; then
  # The system build first, so that target/release/heapdiff is the default build afterwards.
  cargo build --release --no-default-features --bin heapdiff
  cp "$target/release/heapdiff" "$out/heapdiff-system"
  cargo build --release --bin heapdiff
  cp "$target/release/heapdiff" "$out/heapdiff-arena"
fi

for what in $only; do
  case "$what" in
    single) inputs="{file}" ;;
    pair) inputs="{before} {after}" ;;
    *) echo "--only: single or pair" >&2; exit 2 ;;
  esac
  python3 benches/compare.py --runs "$runs" --name "alloc-$what" --baseline system \
    --only arena,arena-4k,system \
    --tool "arena=$out/heapdiff-arena --timings --format json $inputs" \
    --tool "arena-4k=env HEAPDIFF_HUGE_PAGES=never $out/heapdiff-arena --timings --format json $inputs" \
    --tool "system=$out/heapdiff-system --timings --format json $inputs"
  latest=$(ls -t benches/results/alloc-"$what"-*.json | head -1)
  # Per round (one run of each binary, back to back): each binary's time against the
  # system allocator's, and the pages the region chose.
  python3 - "$latest" <<'EOF'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
raw = r["raw"]
print(f"\n{sys.argv[1]}: time / system's time, per round")
ratios = {"arena": [], "arena-4k": []}
for i, sys_run in enumerate(raw["system"]):
    line = []
    for n in ("arena", "arena-4k"):
        run = raw[n][i]
        if run["ok"] and sys_run["ok"]:
            ratios[n].append(run["wall_s"] / sys_run["wall_s"])
            pages = (run.get("stderr_tail") or "").strip().splitlines()[-1:]
            pages = pages[0].split("MB, ", 1)[-1] if pages else "?"
            line.append(f"{n} {ratios[n][-1]:.2f} ({pages})")
    print(f"  round {i + 1}: " + "; ".join(line))
for n, v in ratios.items():
    if v:
        s = r["summary"]
        print(f"{n}: median {s[n]['time_median_s']:.3f} s vs system {s['system']['time_median_s']:.3f} s"
              f" = {s[n]['time_median_s'] / s['system']['time_median_s']:.2f}"
              f" (per round {min(v):.2f}-{max(v):.2f}, median {statistics.median(v):.2f});"
              f" peak RSS {s[n]['rss_median_kib'] / 1024:,.0f} vs {s['system']['rss_median_kib'] / 1024:,.0f} MiB")
EOF
done
