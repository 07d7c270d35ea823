#!/usr/bin/env bash
# jemalloc benchmark: heapdiff vs. `jeprof --text --base` on a 20k-stack -> 200k-stack pair.
#
# usage: benches/jemalloc.sh [--runs N] [--no-build] [--regen] [--skip-check]
#
#   1. builds heapdiff (cargo build --release), unless --no-build;
#   2. generates benches/data/jemalloc-20k.heap and jemalloc-200k.heap (and the frozen copy
#      of the program they name, benches/data/jemalloc-app/heapdiff) with
#      fixtures/jemalloc/make-large.py when any is missing, or always with --regen;
#   3. check (skipped with --skip-check): runs heapdiff once and jeprof twice (--text --cum,
#      and --collapsed for its stacks), checks that heapdiff's report is sane (stacks and
#      functions named, not module+0xoffset) and compares the cumulative delta of every
#      function both tools name (benches/jemalloc_check.py says how; Rust's allocator glue,
#      which heapdiff trims, is left out); writes benches/results/jemalloc-check-<UTC time>.md;
#   4. times both tools with benches/compare.py (interleaved runs, medians, peak RSS):
#      3 runs per tool, or 1 when the check's jeprof run took more than 2 minutes
#      (--runs N overrides); results in benches/results/jemalloc-<UTC time>.{json,md}.
#
# Tools timed (commands run from the repository root):
#   heapdiff-jemalloc        target/release/heapdiff --format json BEFORE AFTER   (full JSON report)
#   heapdiff-jemalloc-table  target/release/heapdiff BEFORE AFTER                 (default table)
#   jeprof                   jeprof --text --base=BEFORE PROGRAM AFTER
# Each writes its report to /dev/null.
#
# Needs: cargo, python3, binutils (objdump, readelf, nm, addr2line), jeprof:
#   apt-get update && apt-get install -y libjemalloc2 libjemalloc-dev binutils
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

runs=""
build=1
regen=0
check=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --regen) regen=1; shift ;;
        --skip-check) check=0; shift ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "jemalloc.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in jeprof objdump readelf nm addr2line python3 cargo; do
    if ! command -v "$tool" >/dev/null; then
        echo "jemalloc.sh: $tool not found; apt-get install -y libjemalloc2 libjemalloc-dev binutils" >&2
        exit 3
    fi
done

data=benches/data
before=$data/jemalloc-20k.heap
after=$data/jemalloc-200k.heap
program=$repo/$data/jemalloc-app/heapdiff
results=benches/results
stamp=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$results"

if [[ $build == 1 ]]; then
    cargo build --release --bin heapdiff
fi
heapdiff=target/release/heapdiff

if [[ $regen == 1 || ! -f $before || ! -f $after || ! -x $program ]]; then
    python3 fixtures/jemalloc/make-large.py --out-dir "$data"
fi
ls -l "$before" "$after" "$program" >&2

now() { date +%s.%N; }

if [[ $check == 1 ]]; then
    echo "== check: heapdiff (table) on the pair" >&2
    table=$results/jemalloc-check-$stamp.heapdiff.txt
    "$heapdiff" --top 10 "$before" "$after" >"$table" 2>"$table.stderr"
    head -c 6000 "$table" | cut -c1-220 >&2
    if [[ -s $table.stderr ]]; then
        echo "heapdiff stderr:" >&2
        cat "$table.stderr" >&2
    fi

    echo "== check: heapdiff --format json (functions), jeprof --text --cum and --collapsed" >&2
    funcs=$results/jemalloc-check-$stamp.heapdiff-functions.json
    t0=$(now)
    "$heapdiff" --format json "$before" "$after" | python3 -c '
import json, sys
# keep the head (totals) and the "functions" array at the end; the stacks in between are
# hundreds of MB and not needed here
marker = b"\n  \"functions\": ["
head, tail, found = b"", b"", False
while True:
    chunk = sys.stdin.buffer.read(1 << 22)
    if not chunk:
        break
    if len(head) < 4096:
        head += chunk[: 4096 - len(head)]
    tail = (tail + chunk)
    i = tail.rfind(marker)
    if i >= 0:
        tail, found = tail[i:], True
    elif not found:
        tail = tail[-len(marker):]
if not found:
    sys.exit("no functions array in heapdiff JSON")
functions = json.loads(b"{" + tail)["functions"]
i = head.find(b"\"totals\": ")
totals, _ = json.JSONDecoder().raw_decode(head[i + 10:].decode())
json.dump({"totals": totals, "functions": functions}, sys.stdout)
' >"$funcs"
    t1=$(now)
    jeprof_txt=$results/jemalloc-check-$stamp.jeprof.txt
    jeprof --text --cum --show_bytes --base="$before" "$program" "$after" >"$jeprof_txt" 2>"$jeprof_txt.stderr"
    t2=$(now)
    jeprof_stacks=$results/jemalloc-check-$stamp.jeprof-collapsed.txt
    jeprof --collapsed --base="$before" "$program" "$after" >"$jeprof_stacks" 2>"$jeprof_stacks.stderr"
    hd_s=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
    je_s=$(python3 -c "print(f'{$t2 - $t1:.1f}')")
    echo "check run: heapdiff --format json (+ extracting functions) ${hd_s} s, jeprof --text ${je_s} s" >&2

    python3 benches/jemalloc_check.py "$funcs" "$jeprof_txt" "$jeprof_stacks" "$hd_s" "$je_s" \
        >"$results/jemalloc-check-$stamp.md"
    cat "$results/jemalloc-check-$stamp.md" >&2
    if [[ -z $runs ]]; then
        runs=$(python3 -c "print(1 if $je_s > 120 else 3)")
        echo "jeprof took ${je_s} s in the check run: $runs timed run(s) per tool" >&2
    fi
fi
runs=${runs:-3}

echo "== benchmark: $runs run(s) per tool, interleaved" >&2
python3 benches/compare.py \
    --only heapdiff-jemalloc,heapdiff-jemalloc-table,jeprof \
    --tool "heapdiff-jemalloc=$heapdiff --format json {before} {after}" \
    --tool "heapdiff-jemalloc-table=$heapdiff {before} {after}" \
    --peer "jeprof=jeprof --text --base={before} $program {after}" \
    --before "$before" --after "$after" --file "$after" \
    --runs "$runs" --name jemalloc --results-dir "$results"
