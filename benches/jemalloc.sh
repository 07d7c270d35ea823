#!/usr/bin/env bash
# jemalloc benchmark: heapdiff vs. `jeprof --text --base` on a 20k-stack -> 200k-stack pair.
#
# usage: benches/jemalloc.sh [--runs N] [--no-build] [--regen] [--skip-check]
#
#   1. builds heapdiff (cargo build --release), unless --no-build;
#   2. generates benches/data/jemalloc-20k.heap and jemalloc-200k.heap (and the frozen copy
#      of the program they name, benches/data/jemalloc-app/heapdiff) with
#      fixtures/jemalloc/make-large.py when any is missing, or always with --regen;
#   3. check (skipped with --skip-check): runs heapdiff and jeprof once each, checks that
#      heapdiff's report is sane (stacks and functions named, not module+0xoffset) and
#      compares the per-function cumulative deltas of the two tools (top 5 of each side,
#      among the functions both report: heapdiff trims Rust's inlined allocator glue, such as
#      alloc::alloc::alloc, which jeprof keeps, so flat deltas move to the caller by design;
#      flat deltas are compared exactly on the C fixture by tests/jemalloc.rs);
#      writes benches/results/jemalloc-check-<UTC time>.md;
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

    echo "== check: heapdiff --format json (functions) and jeprof --text --show_bytes --base" >&2
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
    jeprof --text --show_bytes --base="$before" "$program" "$after" >"$jeprof_txt" 2>"$jeprof_txt.stderr"
    t2=$(now)
    hd_s=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
    je_s=$(python3 -c "print(f'{$t2 - $t1:.1f}')")
    echo "check run: heapdiff --format json (+ extracting functions) ${hd_s} s, jeprof --show_bytes ${je_s} s" >&2

    python3 - "$funcs" "$jeprof_txt" "$hd_s" "$je_s" >"$results/jemalloc-check-$stamp.md" <<'PY'
import json, re, sys
from collections import defaultdict

funcs_path, jeprof_path, hd_s, je_s = sys.argv[1:5]
hd = json.load(open(funcs_path))

def short_name(name: str) -> str:
    """jeprof's short function names: argument lists and template/generic arguments
    dropped (innermost first, repeatedly), then any leading return type."""
    prev = None
    while prev != name:
        prev, name = name, re.sub(r"\([^()]*\)(\s*const)?", "", name)
    prev = None
    while prev != name:
        prev, name = name, re.sub(r"<[^<>]*>", "", name)
    return re.sub(r"^.*\s+(\w+::)", r"\1", name)

# heapdiff: flat and cum by jeprof-style name (several heapdiff functions can share one)
hd_flat = defaultdict(int)
hd_cum = defaultdict(int)
hd_members = defaultdict(list)
for f in hd["functions"]:
    k = short_name(f["name"])
    hd_flat[k] += f["flat_delta"]
    hd_cum[k] += f["cum_delta"]
    hd_members[k].append(f)
hd_total = hd["totals"]["size_delta"]

# jeprof --text --show_bytes: flat flat% sum% cum cum% name
row = re.compile(r"^\s*(-?\d+)\s+(-?[\d.]+)%\s+(-?[\d.]+)%\s+(-?\d+)\s+(-?[\d.]+)%\s+(.+?)\s*$")
je_flat = defaultdict(int)
je_cum = defaultdict(int)
je_total = None
for line in open(jeprof_path):
    m = re.match(r"Total: (-?\d+) B", line)
    if m:
        je_total = int(m.group(1))
        continue
    m = row.match(line)
    if m:
        name = re.sub(r" \(inline\)$", "", m.group(6))
        je_flat[name] += int(m.group(1))
        je_cum[name] += int(m.group(4))

def pct(a, b):
    return "n/a" if not b else f"{100.0 * (a - b) / abs(b):+.2f}%"

def gb(x):
    return f"{x / 1e9:+,.3f} GB"

fallback = [f for f in hd["functions"] if re.search(r"\+0x[0-9a-f]+$", f["name"])]
raw_je = [n for n in je_flat if n.startswith("0x")]
out = []
out.append(f"Check run: heapdiff `--format json` {hd_s} s; jeprof `--text --show_bytes --base` {je_s} s.")
out.append("")
out.append(f"- heapdiff: {len(hd['functions'])} functions; {len(fallback)} fall back to "
           f"`module+0xoffset` (flat {sum(f['flat_delta'] for f in fallback):+,} B)")
out.append(f"- jeprof: {len(je_flat)} functions (after merging ` (inline)` rows); "
           f"{len(raw_je)} unsymbolized `0x…` rows")
out.append(f"- total growth: heapdiff {hd_total:+,} B, jeprof {je_total:+,} B "
           f"(heapdiff vs jeprof {pct(hd_total, je_total)})")
out.append("")
out.append("heapdiff's names are grouped the way jeprof shortens them (argument lists and "
           "`<…>` generic arguments dropped), so `<Box<LeafNode<…>>>::new_uninit_in` "
           "and `<Box<InternalNode<…>>>::new_uninit_in` both count as `::new_uninit_in`.")
out.append("")
# Compared one to one: a short name that several heapdiff functions share (`::clone`) has no
# meaningful summed cum (a stack holding two of them would count twice).
both = [n for n in je_cum if len(hd_members.get(n, [])) == 1]
out.append(f"Compared: cumulative deltas of the {len(both)} functions both tools name one to one "
           f"({len([n for n in je_cum if n not in hd_cum])} jeprof-only names, e.g. Rust's "
           "allocator glue that heapdiff trims at the innermost end of stacks; "
           f"{len([n for n in je_cum if len(hd_members.get(n, [])) > 1])} short names that "
           "several heapdiff functions share).")
out.append("")
for title, order in (("Top 5 by jeprof's cum delta", sorted(both, key=lambda n: -je_cum[n])),
                     ("Top 5 by heapdiff's cum delta", sorted(both, key=lambda n: -hd_cum[n]))):
    out.append(f"{title}:")
    out.append("")
    out.append("| # | function (jeprof's name) | jeprof cum Δ | heapdiff cum Δ | heapdiff vs jeprof | heapdiff's function(s) |")
    out.append("|---:|---|---:|---:|---:|---|")
    for i, n in enumerate(order[:5], 1):
        members = sorted(hd_members.get(n, []), key=lambda f: -f["cum_delta"])
        names = "; ".join(f"`{f['name']}`" for f in members[:2]) + (f" (+{len(members) - 2} more)" if len(members) > 2 else "")
        out.append(f"| {i} | `{n}` | {je_cum[n]:+,} B ({gb(je_cum[n])}) | "
                   f"{hd_cum[n]:+,} B ({gb(hd_cum[n])}) | "
                   f"{pct(hd_cum[n], je_cum[n])} | {names or '—'} |")
    out.append("")
worst = max((abs(hd_cum[n] - je_cum[n]) / abs(je_cum[n]) for n in
             sorted(both, key=lambda n: -je_cum[n])[:5] if je_cum[n]), default=0.0)
out.append(f"Largest relative difference in jeprof's top 5: {100 * worst:.3f}%.")
print("\n".join(out))
if fallback and sum(abs(f["flat_delta"]) for f in fallback) > 0.01 * abs(hd_total):
    print("WARNING: more than 1% of the growth is on unsymbolized frames", file=sys.stderr)
if worst > 0.01:
    print("WARNING: the top-5 cumulative deltas differ by more than 1%", file=sys.stderr)
PY
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
