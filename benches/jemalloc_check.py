#!/usr/bin/env python3
"""The check of benches/jemalloc.sh: heapdiff's per-function deltas next to jeprof's.

usage: benches/jemalloc_check.py FUNCTIONS_JSON JEPROF_TEXT HEAPDIFF_SECONDS JEPROF_SECONDS

FUNCTIONS_JSON holds {"totals": ..., "functions": [...]} from `heapdiff --format json`;
JEPROF_TEXT is `jeprof --text --show_bytes --base=...`. Writes a Markdown summary to stdout and
warnings to stderr. Cumulative deltas are compared, one to one, for the functions both tools
name: heapdiff trims Rust's allocator glue (alloc::alloc::alloc, Global::allocate, ...) at the
innermost end of stacks, which jeprof keeps, so flat deltas move to the caller by design and
the glue's own rows are left out (flat deltas are compared exactly on the C fixture by
tests/jemalloc.rs).
"""
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
GLUE = ("alloc::alloc::", "<alloc::alloc::Global", "__rust", "__rdl_", "__rg_")
glue = [n for n in je_cum if any(f["name"].startswith(GLUE) for f in hd_members.get(n, []))]
both = [n for n in je_cum if len(hd_members.get(n, [])) == 1 and n not in glue]
out.append(f"Compared: cumulative deltas of the {len(both)} functions both tools name one to one "
           f"({len([n for n in je_cum if n not in hd_cum])} jeprof-only names, e.g. Rust's "
           f"allocator glue that heapdiff trims at the innermost end of stacks; {len(glue)} "
           "glue names left out; "
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
big = [n for n in both if abs(je_cum[n]) >= 0.001 * abs(je_total or 1)]
worst_all = max((abs(hd_cum[n] - je_cum[n]) / abs(je_cum[n]) for n in big), default=0.0)
out.append(f"Over all {len(big)} compared functions whose cum delta is at least 0.1% of the "
           f"growth: largest relative difference {100 * worst_all:.3f}%.")
print("\n".join(out))
if fallback and sum(abs(f["flat_delta"]) for f in fallback) > 0.01 * abs(hd_total):
    print("WARNING: more than 1% of the growth is on unsymbolized frames", file=sys.stderr)
if worst > 0.01:
    print("WARNING: the top-5 cumulative deltas differ by more than 1%", file=sys.stderr)
