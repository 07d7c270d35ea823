#!/usr/bin/env python3
"""Benchmark heapdiff against peer tools in one invocation.

Runs every selected tool N times on the same input, interleaved
(A B A B ...), measuring each child's wall time and peak RSS (ru_maxrss from
os.wait4, KiB on Linux). Prints a Markdown table (median/min/max time, median
peak RSS, throughput, ratios against the baseline tool) and writes the raw
results as JSON (plus the Markdown) to benches/results/<name>-<timestamp>.*.

The tools are the TOOLS table just below: edit it, or add/override entries
from the command line with --tool NAME='TEMPLATE'. Templates are split like a
shell command line (shlex) and then these placeholders are substituted in each
argument:
    {file}    --file    (default benches/data/large-b.heapsnapshot)
    {before}  --before  (default benches/data/large-a.heapsnapshot)
    {after}   --after   (default: same as --file)
    {repo}    the repository root (the parent of benches/)
Commands run with the repository root as the working directory.

Python 3.9+, standard library only. Linux only (/proc, ru_maxrss in KiB).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PEER_DIR = BENCH_DIR / "peer-v8-heap-parser"


def _peer_version() -> str:
    """Version of the v8-heap-parser crate the peer binary is locked to."""
    lock = PEER_DIR / "Cargo.lock"
    try:
        text = lock.read_text()
    except OSError:
        return "v8-heap-parser (Cargo.lock missing: build the peer first)"
    m = re.search(r'name = "v8-heap-parser"\nversion = "([^"]+)"', text)
    pet = re.search(r'name = "petgraph"\nversion = "([^"]+)"', text)
    sj = re.search(r'name = "serde_json"\nversion = "([^"]+)"', text)
    parts = [f"v8-heap-parser {m.group(1) if m else '?'}"]
    if pet:
        parts.append(f"petgraph {pet.group(1)}")
    if sj:
        parts.append(f"serde_json {sj.group(1)}")
    return ", ".join(parts) + " (peer-v8-heap-parser, opt-level 3)"


MEMLAB_DIR = BENCH_DIR / "memlab"


def _memlab_version() -> str:
    """Versions of the memlab packages installed in benches/memlab, and node's."""
    mods = MEMLAB_DIR / "node_modules"
    parts = []
    for pkg in ("memlab", "@memlab/core", "@memlab/cli", "@memlab/heap-analysis"):
        try:
            v = json.loads((mods / pkg / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            v = "missing"
        parts.append(f"{pkg} {v}")
    if all(p.endswith(" missing") for p in parts):
        return ("memlab not installed (cd benches/memlab && "
                "PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts)")
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        node = "?"
    heap = os.environ.get("MEMLAB_MAX_OLD_SPACE_MB", "16384")
    return ", ".join(parts) + f"; node {node}; --max-old-space-size={heap}"


# ---------------------------------------------------------------------------
# The tool table. Keys:
#   cmd       command template (string, shlex-split; placeholders as above)
#   version   command template whose first output line is the version, or a
#             callable returning a string
#   stdout    "null" (discard) or "capture" (keep the head of the first
#             successful run's stdout in the JSON)
#   peer      True for peer tools (dropped by --skip-peer)
#   enabled   False = only run when named with --only
#   build     command template that builds the tool (used by --build)
#   describe  one line for the Markdown/JSON saying what the tool computes
# The first enabled tool is the baseline for ratios unless --baseline is given.
# ---------------------------------------------------------------------------
TOOLS: dict[str, dict] = {
    "heapdiff": {
        "cmd": "target/release/heapdiff --format json {file}",
        "version": "target/release/heapdiff --version",
        "stdout": "null",
        "build": "cargo build --release --bin heapdiff",
        "describe": "heapdiff: load snapshot, dominators, retained sizes, class summary (JSON)",
    },
    "v8-heap-parser": {
        "cmd": "benches/peer-v8-heap-parser/target/release/peer-v8-heap-parser {file}",
        "version": _peer_version,
        "stdout": "capture",
        "peer": True,
        "build": "cargo build --release --manifest-path benches/peer-v8-heap-parser/Cargo.toml",
        "describe": "v8-heap-parser 1.1: decode_slice + Graph::get_class_groups(false) "
        "(class groups with retained sizes, topmost instances)",
    },
    # Pair tools: before -> after (default large-a -> large-b, two snapshots of
    # one process). Disabled by default (they read two inputs, the entries above
    # one); run them with --only, e.g.
    #   python3 benches/compare.py --only heapdiff-pair,memlab-find-leaks --runs 3
    "heapdiff-pair": {
        "cmd": "target/release/heapdiff --format json {before} {after}",
        "version": "target/release/heapdiff --version",
        "stdout": "null",
        "enabled": False,
        "build": "cargo build --release --bin heapdiff",
        "describe": "heapdiff before after: load both snapshots, match ids, dominators and "
        "retained sizes, growth by class and by retaining path, leak findings (JSON)",
    },
    "memlab-find-leaks": {
        # memlab needs a baseline, a target and a final snapshot; with two
        # snapshots the fair use is baseline=before, target=final=after (see
        # benches/README.md). The wrapper gives each run a fresh temp --work-dir
        # and raises V8's heap limit (MEMLAB_MAX_OLD_SPACE_MB, default 16384).
        "cmd": "benches/memlab/run-memlab.sh find-leaks "
        "--baseline {before} --target {after} --final {after}",
        "version": _memlab_version,
        "stdout": "capture",
        "peer": True,
        "enabled": False,
        "build": "env PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix benches/memlab --ignore-scripts",
        "describe": "memlab find-leaks (Meta, Node): ids of baseline and target, full parse of "
        "final, shortest paths, dominators and retained sizes, leak filter, trace clustering",
    },
}

STDERR_TAIL = 2000
STDOUT_HEAD = 4000


# ---------------------------------------------------------------------------
# machine / environment
# ---------------------------------------------------------------------------
def machine_info() -> dict:
    info: dict = {
        "nproc": os.cpu_count(),
        "nproc_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info.setdefault("cpu_model", platform.processor() or "unknown")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                info["mem_total_kib"] = kib
                info["mem_total_gib"] = round(kib / 1024 / 1024, 1)
                break
    except OSError:
        pass
    info["env"] = {k: os.environ[k] for k in ("RAYON_NUM_THREADS", "MALLOC_CONF", "RUSTFLAGS", "NODE_OPTIONS", "MEMLAB_MAX_OLD_SPACE_MB") if k in os.environ}
    return info


def loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def rustc_version() -> str | None:
    try:
        return subprocess.run(["rustc", "--version"], capture_output=True, text=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def git_rev() -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return None
        rev = r.stdout.strip()
        d = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True, timeout=30)
        return rev + ("-dirty" if d.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------
def expand(template: str, subst: dict[str, str]) -> list[str]:
    out = []
    for arg in shlex.split(template):
        for key, val in subst.items():
            arg = arg.replace("{" + key + "}", val)
        out.append(arg)
    return out


def placeholders_used(template: str) -> list[str]:
    return [k for k in ("file", "before", "after") if "{" + k + "}" in template]


def tool_version(spec: dict, subst: dict[str, str]) -> str:
    v = spec.get("version")
    if v is None:
        return "unknown"
    if callable(v):
        try:
            return v()
        except Exception as e:  # noqa: BLE001 - version is informational only
            return f"unknown ({e})"
    argv = expand(v, subst)
    try:
        r = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return f"unavailable ({e.__class__.__name__}: {e})"
    line = (r.stdout.strip() or r.stderr.strip()).splitlines()
    text = line[0] if line else ""
    return text if r.returncode == 0 and text else f"unavailable (exit {r.returncode}: {text[:200]})"


def resolve_exe(argv0: str) -> str | None:
    """Path of the executable, or None if it cannot be found."""
    if "/" in argv0:
        p = Path(argv0) if os.path.isabs(argv0) else REPO / argv0
        return str(p) if p.is_file() and os.access(p, os.X_OK) else None
    from shutil import which
    return which(argv0)


def exe_fingerprint(argv0: str) -> dict | None:
    """Path, size and mtime of the executable, to detect a rebuild mid-benchmark."""
    exe = resolve_exe(argv0)
    if exe is None:
        return None
    st = os.stat(exe)
    return {"path": exe, "size": st.st_size,
            "mtime": _dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc).isoformat(timespec="seconds")}


def warm_page_cache(paths: list[Path]) -> None:
    """Read inputs once so the first timed run doesn't pay for cold disk I/O."""
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.read(1 << 24):
                pass


def run_once(argv: list[str], stdout_mode: str, timeout: float) -> dict:
    """Run one child; return wall time, rusage and exit status."""
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        stdout = out if stdout_mode == "capture" else subprocess.DEVNULL
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err)
        except OSError as e:
            return {"ok": False, "error": f"spawn failed: {e}"}
        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, _kill)
        timer.start()
        try:
            while True:
                try:
                    _, status, ru = os.wait4(proc.pid, 0)
                    break
                except InterruptedError:
                    continue
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
        code = proc.returncode
        err.seek(0)
        stderr_tail = err.read()[-STDERR_TAIL:].decode("utf-8", "replace")
        out.seek(0)
        stdout_head = out.read(STDOUT_HEAD).decode("utf-8", "replace") if stdout_mode == "capture" else None

    res = {
        "ok": code == 0 and not timed_out.is_set(),
        "exit_code": code,
        "wall_s": wall,
        "maxrss_kib": ru.ru_maxrss,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "majflt": ru.ru_majflt,
        "stderr_tail": stderr_tail,
    }
    if stdout_head is not None:
        res["stdout_head"] = stdout_head
    if code < 0:
        res["signal"] = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else -code
    if timed_out.is_set():
        res["error"] = f"timed out after {timeout}s"
    return res


# ---------------------------------------------------------------------------
# summary / output
# ---------------------------------------------------------------------------
def summarize(runs: list[dict], input_bytes: int) -> dict | None:
    ok = [r for r in runs if r["ok"]]
    if not ok:
        return None
    t = [r["wall_s"] for r in ok]
    rss = [r["maxrss_kib"] for r in ok]
    cpu = [r["user_s"] + r["sys_s"] for r in ok]
    med = statistics.median(t)
    return {
        "n_ok": len(ok),
        "n_failed": len(runs) - len(ok),
        "time_median_s": med,
        "time_min_s": min(t),
        "time_max_s": max(t),
        "time_spread_pct": 100.0 * (max(t) - min(t)) / med if med else None,
        "rss_median_kib": statistics.median(rss),
        "rss_max_kib": max(rss),
        "cpu_median_s": statistics.median(cpu),
        "throughput_mb_s": (input_bytes / 1e6) / med if med else None,
    }


def failure_reason(r: dict) -> str:
    if r.get("error"):
        return r["error"]
    if "signal" in r:
        return f"killed by {r['signal']}"
    return f"exit {r.get('exit_code')}"


def fmt_mib(kib: float) -> str:
    return f"{kib / 1024:,.0f}"


def markdown(result: dict) -> str:
    base = result["baseline"]
    s = result["summary"]
    b = s.get(base)
    lines = []
    inputs = ", ".join(f"`{Path(p).name}` ({sz / 1e6:,.1f} MB)" for p, sz in result["inputs"].items())
    lines.append(f"Input: {inputs or 'none'}; {result['runs']} runs per tool, interleaved; "
                 f"medians unless noted.")
    lines.append("")
    lines.append("| tool | median time (s) | min (s) | max (s) | throughput (MB/s) "
                 f"| median peak RSS (MiB) | time vs {base} (tool/{base}) "
                 f"| RSS vs {base} ({base}/tool) | ok runs |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in result["tools"]:
        m = s.get(name)
        if m is None:
            first_err = next((r for r in result["raw"][name] if not r["ok"]), {})
            why = failure_reason(first_err)
            lines.append(f"| {name} | FAILED ({why}) | | | | | | | 0/{len(result['raw'][name])} |")
            continue
        if b and name != base:
            tr = f"{m['time_median_s'] / b['time_median_s']:.2f}x"
            rr = f"{b['rss_median_kib'] / m['rss_median_kib']:.2f}x"
        elif name == base:
            tr = rr = "1.00x"
        else:
            tr = rr = "n/a"
        lines.append(
            f"| {name} | {m['time_median_s']:.3f} | {m['time_min_s']:.3f} | {m['time_max_s']:.3f} "
            f"| {m['throughput_mb_s']:,.1f} | {fmt_mib(m['rss_median_kib'])} | {tr} | {rr} "
            f"| {m['n_ok']}/{m['n_ok'] + m['n_failed']} |"
        )
    mach = result["machine"]
    lines.append("")
    lines.append(f"Machine: {mach.get('cpu_model')}, {mach.get('nproc')} CPUs, "
                 f"{mach.get('mem_total_gib')} GiB RAM, Linux {mach.get('kernel')}; "
                 f"load avg before/after: {result.get('loadavg_before')} / {result.get('loadavg_after')}.")
    lines.append("")
    lines.append("Versions:")
    for name in result["tools"]:
        lines.append(f"- {name}: {result['versions'].get(name)}")
    if result.get("rustc"):
        lines.append(f"- rustc: {result['rustc']}")
    if result.get("git"):
        lines.append(f"- heapdiff git: {result['git']}")
    lines.append("")
    lines.append("Commands:")
    for name in result["tools"]:
        lines.append(f"- {name}: `{shlex.join(result['commands'][name])}`")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Tools: " + ", ".join(TOOLS))
    p.add_argument("--file", default=str(BENCH_DIR / "data" / "large-b.heapsnapshot"),
                   help="input for {file} (default: benches/data/large-b.heapsnapshot)")
    p.add_argument("--before", default=str(BENCH_DIR / "data" / "large-a.heapsnapshot"),
                   help="input for {before} (default: benches/data/large-a.heapsnapshot)")
    p.add_argument("--after", default=None, help="input for {after} (default: --file)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per tool (default 5)")
    p.add_argument("--warmup", type=int, default=0,
                   help="untimed runs per tool before timing (default 0; inputs are always "
                        "read once beforehand to warm the page cache)")
    p.add_argument("--skip-peer", action="store_true", help="do not run peer tools")
    p.add_argument("--only", default=None,
                   help="comma-separated tool names to run (also enables disabled entries)")
    p.add_argument("--tool", action="append", default=[], metavar="NAME=TEMPLATE",
                   help="add a tool, or replace the command of an existing one; repeatable. "
                        "e.g. --tool 'heapdiff=target/release/heapdiff --format json {file}'")
    p.add_argument("--peer", action="append", default=[], metavar="NAME=TEMPLATE",
                   help="like --tool, but marks the tool as a peer (dropped by --skip-peer)")
    p.add_argument("--baseline", default=None, help="tool that ratios are relative to (default: first)")
    p.add_argument("--build", action="store_true", help="run each tool's build command first")
    p.add_argument("--timeout", type=float, default=3600.0, help="per-run timeout in seconds (default 3600)")
    p.add_argument("--name", default=None, help="results file prefix (default: input file stem)")
    p.add_argument("--results-dir", default=str(BENCH_DIR / "results"))
    p.add_argument("--no-save", action="store_true", help="do not write results files")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.runs < 1:
        print("--runs must be >= 1", file=sys.stderr)
        return 2
    tools = {k: dict(v) for k, v in TOOLS.items()}
    for opt, is_peer in [(args.tool, False), (args.peer, True)]:
        for item in opt:
            name, sep, tmpl = item.partition("=")
            if not sep or not name or not tmpl.strip():
                print(f"bad --tool/--peer value {item!r}: expected NAME=TEMPLATE", file=sys.stderr)
                return 2
            if name in tools:
                spec = tools[name]
                if not callable(spec.get("version")):
                    # the table's version command may not match the new command
                    spec["version"] = None
            else:
                spec = tools[name] = {"stdout": "null", "version": None}
            spec["cmd"] = tmpl
            spec["enabled"] = True
            spec["describe"] = f"command given on the command line: {tmpl}"
            if is_peer:
                spec["peer"] = True

    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in tools]
        if unknown:
            print(f"unknown tool(s): {', '.join(unknown)}; known: {', '.join(tools)}", file=sys.stderr)
            return 2
        selected = wanted
    else:
        selected = [n for n, s in tools.items() if s.get("enabled", True)]
    if args.skip_peer:
        selected = [n for n in selected if not tools[n].get("peer")]
    if not selected:
        print("no tools selected", file=sys.stderr)
        return 2
    baseline = args.baseline or selected[0]
    if baseline not in selected:
        print(f"baseline {baseline!r} is not among the selected tools {selected}", file=sys.stderr)
        return 2

    files = {"file": Path(args.file), "before": Path(args.before), "after": Path(args.after or args.file)}
    files = {k: (v if v.is_absolute() else Path.cwd() / v) for k, v in files.items()}
    subst = {k: str(v) for k, v in files.items()}
    subst["repo"] = str(REPO)

    if args.build:
        for name in selected:
            b = tools[name].get("build")
            if b:
                print(f"building {name}: {b}", file=sys.stderr)
                r = subprocess.run(expand(b, subst), cwd=REPO)
                if r.returncode != 0:
                    print(f"build of {name} failed (exit {r.returncode})", file=sys.stderr)
                    return 1

    # Inputs each tool reads, their total size (for throughput), and checks.
    commands, tool_inputs, missing = {}, {}, []
    used_inputs: dict[str, int] = {}
    for name in selected:
        tmpl = tools[name]["cmd"]
        commands[name] = expand(tmpl, subst)
        keys = placeholders_used(tmpl)
        tool_inputs[name] = [files[k] for k in dict.fromkeys(keys)]
        for p in tool_inputs[name]:
            if not p.is_file():
                missing.append(f"{name}: input {p} does not exist")
            else:
                used_inputs[str(p)] = p.stat().st_size
        if resolve_exe(commands[name][0]) is None:
            hint = f" (build it: {tools[name]['build']}, or pass --build)" if tools[name].get("build") else ""
            missing.append(f"{name}: executable {commands[name][0]!r} not found{hint}")
    if missing:
        for m in missing:
            print("error: " + m, file=sys.stderr)
        if any("does not exist" in m for m in missing) and not Path(args.file).exists():
            print("hint: generate the large inputs with `node fixtures/make-large.js`, "
                  "or pass --file PATH", file=sys.stderr)
        return 2

    versions = {n: tool_version(tools[n], subst) for n in selected}
    exes_before = {n: exe_fingerprint(commands[n][0]) for n in selected}
    machine = machine_info()
    print(f"machine: {machine.get('cpu_model')}, {machine.get('nproc')} CPUs, "
          f"{machine.get('mem_total_gib')} GiB", file=sys.stderr)
    for n in selected:
        print(f"{n}: {versions[n]}\n    $ {shlex.join(commands[n])}", file=sys.stderr)

    warm_page_cache([Path(p) for p in used_inputs])
    for w in range(args.warmup):
        for n in selected:
            r = run_once(commands[n], tools[n].get("stdout", "null"), args.timeout)
            print(f"warmup {w + 1}/{args.warmup} {n}: {'ok' if r['ok'] else 'FAILED'} "
                  f"{r.get('wall_s', 0):.3f}s", file=sys.stderr)

    started = _dt.datetime.now(_dt.timezone.utc)
    la_before = loadavg()
    raw: dict[str, list[dict]] = {n: [] for n in selected}
    timed_out: set[str] = set()
    for i in range(args.runs):
        for n in selected:  # interleaved: A B A B ...
            if n in timed_out:
                # One run past the timeout says what is needed; more would only burn time.
                continue
            r = run_once(commands[n], tools[n].get("stdout", "null"), args.timeout)
            if "timed out" in str(r.get("error", "")):
                timed_out.add(n)
            r["round"] = i + 1
            raw[n].append(r)
            if r["ok"]:
                print(f"[{i + 1}/{args.runs}] {n:>16}: {r['wall_s']:8.3f} s  "
                      f"{r['maxrss_kib'] / 1024:9,.0f} MiB", file=sys.stderr)
            else:
                why = failure_reason(r)
                print(f"[{i + 1}/{args.runs}] {n:>16}: FAILED ({why}); not counted", file=sys.stderr)
                tail = r.get("stderr_tail", "").strip()
                if tail:
                    print("    stderr: " + tail[-500:].replace("\n", "\n    "), file=sys.stderr)
    la_after = loadavg()
    exes_after = {n: exe_fingerprint(commands[n][0]) for n in selected}
    rebuilt = [n for n in selected if exes_after[n] != exes_before[n]]
    for n in rebuilt:
        print(f"WARNING: the executable of {n} changed during the benchmark "
              f"({exes_before[n]} -> {exes_after[n]}); results mix two builds", file=sys.stderr)

    summary = {}
    for n in selected:
        size = sum(p.stat().st_size for p in tool_inputs[n])
        sm = summarize(raw[n], size)
        if sm is not None:
            summary[n] = sm
    # ratios (stored too, so the JSON is self-contained)
    if baseline in summary:
        b = summary[baseline]
        for n, m in summary.items():
            m[f"time_ratio_vs_{baseline}"] = m["time_median_s"] / b["time_median_s"]
            m[f"rss_ratio_{baseline}_over_tool"] = b["rss_median_kib"] / m["rss_median_kib"]

    samples = {}
    for n in selected:
        sample = next((r.get("stdout_head") for r in raw[n] if r["ok"] and r.get("stdout_head")), None)
        if sample:
            samples[n] = sample
        for r in raw[n]:
            r.pop("stdout_head", None)
            if r["ok"] and not r.get("stderr_tail"):
                r.pop("stderr_tail", None)

    result = {
        "started_utc": started.isoformat(timespec="seconds"),
        "runs": args.runs,
        "warmup": args.warmup,
        "interleaved": True,
        "baseline": baseline,
        "tools": selected,
        "descriptions": {n: tools[n].get("describe") for n in selected},
        "commands": commands,
        "versions": versions,
        "executables": exes_before,
        "rebuilt_during_run": rebuilt,
        "rustc": rustc_version(),
        "git": git_rev(),
        "inputs": used_inputs,
        "machine": machine,
        "loadavg_before": la_before,
        "loadavg_after": la_after,
        "summary": summary,
        "sample_stdout": samples,
        "raw": raw,
    }
    md = markdown(result)
    print(md)

    if not args.no_save:
        outdir = Path(args.results_dir)
        outdir.mkdir(parents=True, exist_ok=True)
        name = args.name or Path(args.file).name.split(".")[0]
        stamp = started.strftime("%Y%m%d-%H%M%S")
        jpath = outdir / f"{name}-{stamp}.json"
        jpath.write_text(json.dumps(result, indent=2) + "\n")
        (outdir / f"{name}-{stamp}.md").write_text(md + "\n")
        print(f"\nraw results: {jpath.relative_to(REPO) if jpath.is_relative_to(REPO) else jpath}",
              file=sys.stderr)

    return 0 if all(n in summary and summary[n].get("n_ok") for n in selected) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
