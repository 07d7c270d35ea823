#!/usr/bin/env python3
"""The check of benches/jemalloc.sh: heapdiff's per-function cumulative deltas next to jeprof's.

usage: benches/jemalloc_check.py FUNCTIONS_JSON JEPROF_TEXT JEPROF_COLLAPSED HEAPDIFF_SECONDS JEPROF_SECONDS

FUNCTIONS_JSON holds {"totals": ..., "functions": [...]} from `heapdiff --format json`;
JEPROF_TEXT is `jeprof --text --cum --show_bytes --base=...`, JEPROF_COLLAPSED is
`jeprof --collapsed --base=...` on the same pair (jeprof's own stacks, symbolized by it).
Writes a Markdown summary to stdout and warnings to stderr.

Every function both tools name is compared, by cumulative delta:

- jeprof's cum is per *row*, each row counted once per stack, but one function can be several
  rows: `f`, `f (inline)` for its inlined frames, and `f@<address>` for each of several
  compiled copies (instances of one generic function, which demangle to one name). A stack
  holding two of them counts in both rows, so the rows do not add up to the function.
- So the comparison takes jeprof's stacks (`--collapsed`), puts each frame's name into
  heapdiff's spelling (the `[inline]` and `<address>` tags dropped; Rust names in the one
  spelling heapdiff gives both symbol manglings, `canonical` below, the same rules as
  src/symbolize/rust_names.rs) and counts each stack once per function: heapdiff's rule, on
  jeprof's symbolization. Equal means within rounding: heapdiff rounds each stack's
  un-sampled bytes to an integer, jeprof sums floats, so up to 1 B per stack apart.
- Rust's allocator glue (alloc::alloc::alloc, Global::allocate, ...) is left out: heapdiff
  trims it at the innermost end of stacks, which jeprof does not.
"""
import json, re, sys
from collections import defaultdict

funcs_path, jeprof_path, collapsed_path, hd_s, je_s = sys.argv[1:6]
hd = json.load(open(funcs_path))


def matching(s, i):
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "<":
            depth += 1
        elif s[j] == ">" and not (j > 0 and s[j - 1] == "-"):
            depth -= 1
            if depth == 0:
                return j
    return None


def split_top(s, sep):
    depth = 0
    for i, c in enumerate(s):
        if c in "<([":
            depth += 1
        elif c == ">" and i > 0 and s[i - 1] == "-":
            pass
        elif c in ">)]":
            depth -= 1
        elif depth == 0 and s.startswith(sep, i):
            return s[:i], s[i + len(sep):]
    return None


def canonical(s):
    """heapdiff's spelling of a demangled Rust name: generic arguments dropped, `<Type>::f`
    unwrapped, legacy `module::<impl Trait for Type>` as `<Type as Trait>`, v0's numbered
    closures as `{{closure}}`."""
    out, i = "", 0
    while i < len(s):
        c = s[i]
        if c == "<":
            end = matching(s, i)
            if end is None:
                return out + s[i:]
            inner = s[i + 1:end]
            if out == "" or out[-1] in "<([ ,&*" or (out.endswith("::") and inner.startswith("impl ")):
                q = canonical(inner)
                if q.startswith("impl "):
                    out = out[:max(out.rfind(ch) for ch in " <([,&*") + 1]
                    sp = split_top(q[5:], " for ")
                    q = f"{sp[1]} as {sp[0]}" if sp else q[5:]
                plain = bool(q) and (q[0].isalnum() or q[0] == "_")
                if s.startswith("::", end + 1) and plain and split_top(q, " as ") is None:
                    out += q
                else:
                    out += "<" + q + ">"
            elif out.endswith("::"):
                out = out[:-2]
            i = end + 1
        elif c == "{":
            m = re.match(r"\{(closure|constant)#\d+\}", s[i:])
            if m:
                out += "{{" + m.group(1) + "}}"
                i += m.end()
            else:
                out += "{"
                i += 1
        else:
            out += c
            i += 1
    return out


def jeprof_frame(name):
    name = re.sub(r"\[inline\]$", "", name)
    name = re.sub(r"<[0-9a-f]{16}>$", "", name)  # a copy's start address (nm)
    # C++ argument lists, as heapdiff's bare names
    return canonical(name) if "(" not in name or "::" in name.split("(")[0] else name.split("(")[0]


hd_cum = {f["name"]: f["cum_delta"] for f in hd["functions"]}
hd_total = hd["totals"]["size_delta"]

# jeprof's stacks, each counted once per function
je_cum = defaultdict(int)
je_stacks = defaultdict(int)
canon_cache = {}
for line in open(collapsed_path):
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack:
        continue
    c = int(count)
    names = set()
    for f in stack.split(";"):
        k = canon_cache.get(f)
        if k is None:
            k = canon_cache[f] = jeprof_frame(f)
        names.add(k)
    for k in names:
        je_cum[k] += c
        je_stacks[k] += 1

# jeprof's own rows (--text --cum): how many rows each function is split into
row = re.compile(r"^\s*(-?\d+)\s+(-?[\d.]+)%\s+(-?[\d.]+)%\s+(-?\d+)\s+(-?[\d.]+)%\s+(.+?)\s*$")
je_rows = defaultdict(dict)
je_total = None
for line in open(jeprof_path):
    m = re.match(r"Total: (-?\d+) B", line)
    if m:
        je_total = int(m.group(1))
        continue
    m = row.match(line)
    if m:
        name = m.group(6)
        base = re.sub(r"@[0-9a-f]+$", "", re.sub(r" \(inline\)$", "", name))
        je_rows[base][name] = int(m.group(4))

GLUE = ("alloc::alloc::", "<alloc::alloc::Global", "__rustc::__rust_alloc", "__rustc::__rust_dealloc",
        "__rustc::__rust_realloc", "__rust_alloc", "__rdl_", "__rg_")


def pct(a, b):
    return "n/a" if not b else f"{100.0 * (a - b) / abs(b):+.4f}%"


both = sorted(k for k in je_cum if k in hd_cum)
glue = [k for k in both if k.startswith(GLUE)]
compared = [k for k in both if k not in glue]
equal = [k for k in compared if abs(hd_cum[k] - je_cum[k]) <= je_stacks[k]]
diff = sorted((k for k in compared if k not in equal), key=lambda k: -abs(hd_cum[k] - je_cum[k]))
fallback = [f for f in hd["functions"] if re.search(r"\+0x[0-9a-f]+$", f["name"])]
split_rows = [k for k, v in je_rows.items() if len(v) > 1]

out = []
out.append(f"Check run: heapdiff `--format json` {hd_s} s; jeprof `--text --cum` and `--collapsed` {je_s} s.")
out.append("")
out.append(f"- total growth: heapdiff {hd_total:+,} B, jeprof {je_total:+,} B ({pct(hd_total, je_total)})")
out.append(f"- heapdiff: {len(hd_cum)} functions, {len(fallback)} named `module+0xoffset`; "
           f"jeprof: {len(je_cum)} functions in its stacks, {sum(len(v) for v in je_rows.values())} "
           f"`--text` rows ({len(split_rows)} functions split into several rows: `f`, `f (inline)`, "
           "`f@address` per compiled copy)")
out.append(f"- compared: {len(compared)} functions both name ({len(glue)} allocator-glue names left out); "
           f"{len(equal)} equal (within 1 B per stack); {len(diff)} differ")
if compared:
    worst = max(compared, key=lambda k: abs(hd_cum[k] - je_cum[k]))
    out.append(f"- largest difference: `{worst}` {hd_cum[worst] - je_cum[worst]:+,} B "
               f"(heapdiff {hd_cum[worst]:+,}, jeprof's stacks {je_cum[worst]:+,})")
out.append("")
if diff:
    out.append("Functions that differ (heapdiff's cum − jeprof's stacks counted once per function):")
    out.append("")
    out.append("| function | heapdiff cum Δ | jeprof stacks cum Δ | difference | jeprof rows summed |")
    out.append("|---|---:|---:|---:|---:|")
    for k in diff[:25]:
        rows = sum(v for base, r in je_rows.items() if jeprof_frame(base) == k for v in r.values()) if len(diff) < 200 else 0
        out.append(f"| `{k}` | {hd_cum[k]:+,} | {je_cum[k]:+,} | {hd_cum[k] - je_cum[k]:+,} | {rows:+,} |")
    out.append("")
print("\n".join(out))
if fallback and sum(abs(f["flat_delta"]) for f in fallback) > 0.01 * abs(hd_total):
    print("WARNING: more than 1% of the growth is on unsymbolized frames", file=sys.stderr)
if len(equal) < 0.95 * len(compared):
    print("WARNING: fewer than 95% of the compared functions agree", file=sys.stderr)
