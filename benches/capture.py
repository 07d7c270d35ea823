#!/usr/bin/env python3
"""Benchmark `heapdiff capture` against Node's own v8.writeHeapSnapshot, on one live heap.

Starts benches/capture-target.js (a service-like heap whose snapshot is ~700 MB at scale 1)
under `node --inspect=127.0.0.1:0`, and a second one about 10x smaller, then interleaves R
rounds on each target of:

  capture  `heapdiff capture 127.0.0.1:PORT -n 1 --no-report --no-gc --out DIR -q`: wall time,
           heapdiff's CPU and peak RSS (os.wait4), the target's peak RSS during the capture
           (its VmHWM, reset before with `echo 5 > /proc/PID/clear_refs`) and its CPU;
  write    the target's own v8.writeHeapSnapshot(PATH), timed inside the target, with its peak
           RSS measured the same way and its CPU.

The side that goes first alternates from round to round. While each runs, a sampler thread
reads /proc every --sample-interval seconds: RSS of both processes, CPU per thread, and the
size of the file being written, so that the report can say where the time goes (heapdiff's
threads against the target's, and the bytes per second received).

Neither side collects garbage first (writeHeapSnapshot does not; V8 collects garbage itself
when it builds any snapshot); `--gc` instead gives heapdiff `--gc` and calls gc() in the
target before each write.

Prints a Markdown summary; raw results go to benches/results/capture-<UTC timestamp>.json
plus a .md copy. Python 3.9+, standard library only, Linux (/proc, ru_maxrss in KiB).

    python3 benches/capture.py [--runs 3] [--scale 1] [--small-scale 0.1] [--bin PATH]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (shared helpers: machine_info, loadavg, git_rev, fmt_mib)

BENCH_DIR = compare.BENCH_DIR
REPO = compare.REPO
TARGET_JS = BENCH_DIR / "capture-target.js"
CLK_TCK = os.sysconf("SC_CLK_TCK")
STDERR_TAIL = 2000


# ---------------------------------------------------------------------------
# /proc
# ---------------------------------------------------------------------------
def proc_status(pid: int) -> dict[str, int]:
    """Vm* fields of /proc/PID/status in KiB ({} once the process is gone)."""
    out = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        m = re.match(r"(Vm\w+):\s+(\d+) kB", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def reset_peak(pid: int) -> None:
    # 5 resets VmHWM to the current RSS (proc(5), /proc/PID/clear_refs).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) and name of each live thread of PID."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        # The name is in parentheses and may hold spaces: split after the last ')'.
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        out[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


class Sampler:
    """Polls RSS and per-thread CPU of some processes and the size of some files."""

    def __init__(self, interval: float):
        self.interval = interval
        self.pids: dict[str, int] = {}
        self.paths: dict[str, Path] = {}
        self.timeline: list[dict] = []
        # label -> tid -> [name, cpu_s last seen]; a thread's CPU after the last sample
        # before it exits is not seen, so these are lower bounds for short-lived threads.
        self.threads: dict[str, dict[int, list]] = {}
        # label -> VmHWM last seen (KiB): the peak RSS of the process since its exec.
        self.hwm: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = 0.0

    def start(self, t0: float) -> None:
        self.t0 = t0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()

    def _sample(self) -> None:
        row: dict = {"t": round(time.perf_counter() - self.t0, 3)}
        for label, pid in list(self.pids.items()):
            st = proc_status(pid)
            if st:
                row[f"{label}_rss_kib"] = st.get("VmRSS")
                self.hwm[label] = max(self.hwm.get(label, 0), st.get("VmHWM", 0))
            threads = thread_cpu(pid)
            if threads:
                row[f"{label}_cpu_s"] = round(sum(c for _, c in threads.values()), 2)
                row[f"{label}_main_cpu_s"] = threads.get(pid, ("", 0.0))[1]
            for tid, (comm, cpu) in threads.items():
                self.threads.setdefault(label, {})[tid] = [comm, cpu]
        for label, p in self.paths.items():
            try:
                row[f"{label}_bytes"] = p.stat().st_size
            except OSError:
                pass
        self.timeline.append(row)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)


def first_t(timeline: list[dict], pred) -> float | None:
    return next((r["t"] for r in timeline if pred(r)), None)


def stream_phase(timeline: list[dict], size_key: str) -> dict:
    """Split a run at the first bytes of its output on disk: before, V8 builds the snapshot;
    from then to the last growth of the file, it serializes and the bytes stream out."""
    rows = [r for r in timeline if r.get(size_key, 0) > 0]
    if len(rows) < 2:
        return {}
    first = rows[0]
    last = next(r for r in rows if r[size_key] == rows[-1][size_key])
    out = {"build_phase_s": first["t"], "stream_phase_s": last["t"] - first["t"]}
    for who in ("target_main", "target", "heapdiff"):
        k = f"{who}_cpu_s"
        if k in first and k in last:
            out[f"stream_{who}_cpu_s"] = last[k] - first[k]
    if "target_main_cpu_s" in first:
        out["build_target_main_cpu_s"] = first["target_main_cpu_s"] - timeline[0].get("target_main_cpu_s", 0)
    return out


# ---------------------------------------------------------------------------
# the target process
# ---------------------------------------------------------------------------
class Target:
    """One capture-target.js process: its inspector port and its command channel."""

    def __init__(self, label: str, scale: float, node: str, timeout: float):
        self.label = label
        self.timeout = timeout
        self.argv = [node, "--inspect=127.0.0.1:0", "--expose-gc", "--max-old-space-size=16384",
                     str(TARGET_JS), repr(scale)]
        self.proc = subprocess.Popen(self.argv, cwd=REPO, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        self.stderr_lines: list[str] = []
        self._port = queue.Queue()
        self._lines = queue.Queue()
        # Drain both pipes on threads: the inspector writes to stderr on each connection,
        # and a full pipe would stop the target.
        threading.Thread(target=self._read_stderr, daemon=True).start()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self.port = self._port.get(timeout=60)
        if self.port is None:
            raise RuntimeError(f"{label} target: no inspector port: {self.stderr_tail()}")
        self.ready = self._reply(timeout)
        if not self.ready.get("ready"):
            raise RuntimeError(f"{label} target did not get ready: {self.ready}")

    def _read_stderr(self) -> None:
        found = False
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))
            m = re.search(r"Debugger listening on ws://[^:/]+:(\d+)/", line)
            if m and not found:
                found = True
                self._port.put(int(m.group(1)))
        if not found:
            self._port.put(None)

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def stderr_tail(self) -> str:
        return "\n".join(self.stderr_lines)[-STDERR_TAIL:]

    def _reply(self, timeout: float) -> dict:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"{self.label} target: no answer in {timeout} s") from None
        if line is None:
            raise RuntimeError(f"{self.label} target exited: {self.stderr_tail()}")
        return json.loads(line)

    def command(self, text: str) -> dict:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self._reply(self.timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------
# the two sides
# ---------------------------------------------------------------------------
def snapshot_header(head: bytes) -> dict:
    m = re.search(rb'"node_count":(\d+),"edge_count":(\d+)', head)
    return {"node_count": int(m.group(1)), "edge_count": int(m.group(2))} if m else {}


def gunzip_stats(path: Path) -> dict:
    """Decompressed size and header of a .heapsnapshot.gz, read as a stream."""
    d = zlib.decompressobj(wbits=31)
    raw, head = 0, b""
    with open(path, "rb") as f:
        while True:
            buf = f.read(1 << 20)
            if not buf:
                break
            out = d.decompress(buf)
            if len(head) < 4096:
                head += out[:4096 - len(head)]
            raw += len(out)
    raw += len(d.flush())
    return {"raw_bytes": raw, **snapshot_header(head)}


def settle() -> None:
    # Write back the previous run's output now, so that its dirty pages are not flushed
    # during this run's timing.
    os.sync()
    time.sleep(1.0)


def run_capture(args, t: Target, work: Path, tag: str) -> dict:
    out_dir = work / f"capture-{tag}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    argv = [args.bin, "capture", f"127.0.0.1:{t.port}", "-n", "1", "--no-report",
            "--gc" if args.gc else "--no-gc", "--out", str(out_dir), "-q"]
    settle()
    la = compare.loadavg()
    rss_before = proc_status(t.pid).get("VmRSS")
    reset_peak(t.pid)
    cpu0 = thread_cpu(t.pid)
    sampler = Sampler(args.sample_interval)
    sampler.paths = {"partial": out_dir / ".1.heapsnapshot.gz.partial",
                     "gz": out_dir / "1.heapsnapshot.gz"}
    sampler.pids = {"target": t.pid}
    driver_rss = proc_status(os.getpid()).get("VmRSS")
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        sampler.pids["heapdiff"] = proc.pid
        sampler.start(t0)
        timer = threading.Timer(args.timeout, lambda: os.kill(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
        err.seek(0)
        stderr_tail = err.read()[-STDERR_TAIL:].decode("utf-8", "replace")
    target_after = proc_status(t.pid)
    cpu1 = thread_cpu(t.pid)
    res: dict = {
        "side": "capture", "target": t.label, "tag": tag, "command": argv,
        "ok": proc.returncode == 0, "exit_code": proc.returncode, "stderr_tail": stderr_tail,
        "wall_s": wall, "heapdiff_ru_maxrss_kib": ru.ru_maxrss,
        "driver_rss_kib_at_spawn": driver_rss,
        "heapdiff_user_s": ru.ru_utime, "heapdiff_sys_s": ru.ru_stime,
        "target_rss_before_kib": rss_before, "target_hwm_kib": target_after.get("VmHWM"),
        "target_rss_after_kib": target_after.get("VmRSS"),
        "loadavg": la,
    }
    res.update(target_cpu_split(t.pid, cpu0, cpu1))
    # heapdiff's threads as last seen: the main thread (session, JSON, channel) and the rest
    # (the compressing thread; with -q there is no progress bar thread).
    hd = sampler.threads.get("heapdiff", {})
    res["heapdiff_main_cpu_s_seen"] = sum(c for tid, (_, c) in hd.items() if tid == proc.pid)
    res["heapdiff_other_cpu_s_seen"] = sum(c for tid, (_, c) in hd.items() if tid != proc.pid)
    res["heapdiff_threads_seen"] = len(hd)
    tl = sampler.timeline
    res["t_partial_created_s"] = first_t(tl, lambda r: "partial_bytes" in r)
    res["t_partial_first_bytes_s"] = first_t(tl, lambda r: r.get("partial_bytes", 0) > 0)
    res["t_gz_renamed_s"] = first_t(tl, lambda r: "gz_bytes" in r)
    res["target_rss_peak_sampled_kib"] = max((r.get("target_rss_kib") or 0) for r in tl)
    # ru_maxrss is not heapdiff's own peak here: Linux carries the parent's RSS over the
    # vfork + exec into the child's maxrss (this script's, tens of MiB after a gunzip), which
    # hides a peak of ~10 MiB. VmHWM counts only the mm heapdiff exec'd into; the last one
    # seen misses at most one sample interval before the exit.
    res["heapdiff_maxrss_kib"] = sampler.hwm.get("heapdiff")
    res.update(stream_phase(tl, "partial_bytes"))
    res["timeline"] = tl
    gz = out_dir / "1.heapsnapshot.gz"
    if res["ok"] and gz.is_file():
        res["gz_bytes"] = gz.stat().st_size
        res.update(gunzip_stats(gz))
    elif res["ok"]:
        res["ok"] = False
        res["error"] = f"{gz} missing"
    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return res


def run_write(args, t: Target, work: Path, tag: str) -> dict:
    path = work / f"write-{tag}.heapsnapshot"
    if path.exists():
        path.unlink()
    if args.gc:
        t.command("gc")
    settle()
    la = compare.loadavg()
    cpu0 = thread_cpu(t.pid)
    sampler = Sampler(args.sample_interval)
    sampler.paths = {"file": path}
    sampler.pids = {"target": t.pid}
    t0 = time.perf_counter()
    sampler.start(t0)
    reply = t.command(f"write {path}")
    outer = time.perf_counter() - t0
    sampler.stop()
    cpu1 = thread_cpu(t.pid)
    res: dict = {"side": "write", "target": t.label, "tag": tag, "ok": "error" not in reply,
                 "loadavg": la, "outer_wall_s": outer}
    if not res["ok"]:
        res["error"] = reply.get("error")
    else:
        res.update({
            "wall_s": reply["wall_s"], "target_rss_before_kib": reply["rss_before_kib"],
            "target_hwm_kib": reply["hwm_kib"], "target_rss_after_kib": reply["rss_after_kib"],
            "target_self_user_s": reply["cpu_user_s"], "target_self_sys_s": reply["cpu_sys_s"],
            "raw_bytes": reply["bytes"],
        })
        with open(path, "rb") as f:
            res.update(snapshot_header(f.read(4096)))
    res.update(target_cpu_split(t.pid, cpu0, cpu1))
    tl = sampler.timeline
    res["t_file_first_bytes_s"] = first_t(tl, lambda r: r.get("file_bytes", 0) > 0)
    res["target_rss_peak_sampled_kib"] = max((r.get("target_rss_kib") or 0) for r in tl)
    res.update(stream_phase(tl, "file_bytes"))
    res["timeline"] = tl
    if not args.keep and path.exists():
        path.unlink()
    return res


def target_cpu_split(pid: int, before: dict, after: dict) -> dict:
    """The target's CPU during a run: its main (JavaScript) thread and all the others."""
    main = other = 0.0
    names: dict[str, float] = {}
    for tid, (comm, cpu) in after.items():
        d = cpu - before.get(tid, (comm, 0.0))[1]
        if tid == pid:
            main += d
        else:
            other += d
        if d > 0:
            names[comm] = names.get(comm, 0.0) + d
    return {"target_main_cpu_s": main, "target_other_cpu_s": other,
            "target_cpu_by_thread_name": names}


# ---------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------
def stats(values: list) -> dict | None:
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


SUMMARY_KEYS = [
    "wall_s", "heapdiff_maxrss_kib", "heapdiff_cpu_s", "heapdiff_main_cpu_s_seen",
    "heapdiff_other_cpu_s_seen", "target_rss_before_kib", "target_hwm_kib",
    "target_peak_over_before_kib", "target_main_cpu_s", "target_other_cpu_s", "gz_bytes",
    "raw_bytes", "node_count", "raw_mb_per_s", "t_partial_first_bytes_s", "t_gz_renamed_s",
    "t_file_first_bytes_s", "outer_wall_s", "heapdiff_ru_maxrss_kib", "driver_rss_kib_at_spawn",
    "build_phase_s", "stream_phase_s", "stream_mb_per_s", "stream_target_main_cpu_s",
    "stream_target_cpu_s", "stream_heapdiff_cpu_s", "build_target_main_cpu_s",
]


def summarize(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["ok"]]
    for r in ok:
        if r.get("stream_phase_s") and r.get("raw_bytes"):
            r["stream_mb_per_s"] = r["raw_bytes"] / 1e6 / r["stream_phase_s"]
        if "heapdiff_user_s" in r:
            r["heapdiff_cpu_s"] = r["heapdiff_user_s"] + r["heapdiff_sys_s"]
        if r.get("target_hwm_kib") and r.get("target_rss_before_kib"):
            r["target_peak_over_before_kib"] = r["target_hwm_kib"] - r["target_rss_before_kib"]
        r["raw_mb_per_s"] = r["raw_bytes"] / 1e6 / r["wall_s"] if r.get("raw_bytes") else None
    out = {"n_ok": len(ok), "n_failed": len(runs) - len(ok)}
    for k in SUMMARY_KEYS:
        s = stats([r.get(k) for r in ok])
        if s:
            out[k] = s
    return out


def load_range(raw: dict) -> list[float] | None:
    """Lowest and highest 1-minute load average seen at the start of a timed run."""
    la = [r["loadavg"][0] for sides in raw.values() for runs in sides.values() for r in runs
          if r.get("loadavg")]
    return [min(la), max(la)] if la else None


def med(s: dict, side: str, key: str) -> float | None:
    v = s.get(side, {}).get(key)
    return v["median"] if v else None


def rng(s: dict, side: str, key: str, fmt: str) -> str:
    v = s.get(side, {}).get(key)
    if not v:
        return "–"
    return f"{v['median']:{fmt}} ({v['min']:{fmt}}–{v['max']:{fmt}})"


def mib(kib: float | None) -> str:
    return "–" if kib is None else compare.fmt_mib(kib)


def markdown(result: dict) -> str:
    L = []
    cfg = result["config"]
    L.append(f"`heapdiff capture -n 1 --no-report {'--gc' if cfg['gc'] else '--no-gc'}` against the "
             f"target's own `v8.writeHeapSnapshot`, same process, {cfg['runs']} interleaved rounds "
             f"per target (first side alternating), after {cfg['warmup']} untimed round(s); "
             f"medians (min–max). {result['started']}, heapdiff {result['git']}.")
    L.append("")
    L.append("| heap | side | runs | wall s | raw MB/s | heapdiff CPU s | heapdiff peak RSS MiB "
             "| target CPU s (main + other) | target RSS before MiB | target peak RSS MiB | output MB |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, s in result["summary"].items():
        ready = result["targets"][label]
        heap = f"{label} (scale {ready['scale']}, {ready['records']:,} records)"
        for side in ("capture", "write"):
            ss = s.get(side, {})
            if not ss.get("n_ok"):
                L.append(f"| {heap} | {side} | 0/{ss.get('n_failed', 0)} | FAILED | | | | | | | |")
                continue
            if side == "capture":
                out = f"{med(s, side, 'gz_bytes') / 1e6:,.1f} .gz ({med(s, side, 'raw_bytes') / 1e6:,.1f} raw)"
                hcpu = f"{med(s, side, 'heapdiff_cpu_s'):.2f}"
                hrss = mib(med(s, side, "heapdiff_maxrss_kib"))
            else:
                out = f"{med(s, side, 'raw_bytes') / 1e6:,.1f} raw"
                hcpu = hrss = "–"
            L.append(
                f"| {heap} | {side} | {ss['n_ok']} | {rng(s, side, 'wall_s', '.2f')} "
                f"| {med(s, side, 'raw_mb_per_s'):.0f} | {hcpu} | {hrss} "
                f"| {med(s, side, 'target_main_cpu_s'):.2f} + {med(s, side, 'target_other_cpu_s'):.2f} "
                f"| {mib(med(s, side, 'target_rss_before_kib'))} | {mib(med(s, side, 'target_hwm_kib'))} "
                f"| {out} |")
    L.append("")
    L.append("Ratios (medians):")
    for label, s in result["summary"].items():
        r = result["ratios"].get(label, {})
        parts = []
        if r.get("time_capture_over_write") is not None:
            parts.append(f"capture / write time {r['time_capture_over_write']:.2f}×")
        if r.get("target_peak_capture_over_write") is not None:
            parts.append(f"target peak RSS capture / write {r['target_peak_capture_over_write']:.2f}×")
        if r.get("gz_over_raw") is not None:
            parts.append(f".gz / raw {r['gz_over_raw']:.3f}")
        L.append(f"- {label}: " + "; ".join(parts))
    if result["ratios"].get("heapdiff_rss_large_over_small") is not None:
        L.append(f"- heapdiff peak RSS, large / small heap: "
                 f"{result['ratios']['heapdiff_rss_large_over_small']:.2f}× "
                 f"(snapshot {result['ratios']['raw_large_over_small']:.1f}× larger)")
    L.append("")
    L.append("Where the time goes (medians). Each run splits at the first bytes of its output on "
             "disk: before, V8 builds the snapshot in the target (the same work for both sides); "
             "from then to the file's last growth, V8 serializes it and the bytes stream out "
             "(to the file directly, or through the inspector, the WebSocket and heapdiff's "
             "gzip thread). CPU from /proc every "
             f"{cfg['sample_interval_s']} s; heapdiff's compressor thread as last seen.")
    L.append("")
    L.append("| heap | side | build s | stream s | stream raw MB/s | target main CPU in stream s "
             "| target all CPU in stream s | heapdiff CPU in stream s | heapdiff main / compressor CPU s "
             "| wall s |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, s in result["summary"].items():
        for side in ("capture", "write"):
            if not s.get(side, {}).get("n_ok"):
                continue
            f = lambda k, d=2: "–" if med(s, side, k) is None else f"{med(s, side, k):.{d}f}"  # noqa: E731
            threads = (f"{f('heapdiff_main_cpu_s_seen')} / {f('heapdiff_other_cpu_s_seen')}"
                       if side == "capture" else "–")
            L.append(f"| {label} | {side} | {f('build_phase_s', 1)} | {f('stream_phase_s', 1)} "
                     f"| {f('stream_mb_per_s', 0)} | {f('stream_target_main_cpu_s', 1)} "
                     f"| {f('stream_target_cpu_s', 1)} "
                     f"| {f('stream_heapdiff_cpu_s', 1) if side == 'capture' else '–'} | {threads} "
                     f"| {f('wall_s')} |")
    L.append("")
    L.append("heapdiff's peak RSS is its VmHWM, last seen before it exits; `os.wait4`'s ru_maxrss "
             "(in the JSON) also counts this script's RSS, which Linux carries into a child over "
             "vfork + exec.")
    if any(ss.get("n_ok") for s in result["fresh_summary"].values() for ss in s.values()):
        L.append("")
        L.append("Each side's first snapshot in a new target process (the rounds above run after "
                 "earlier snapshots, whose memory stays resident in the target):")
        L.append("")
        L.append("| heap | side | runs | wall s | target RSS before MiB | target peak RSS MiB "
                 "| peak − before MiB | heapdiff peak RSS MiB |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for label, s in result["fresh_summary"].items():
            for side in ("capture", "write"):
                if not s.get(side, {}).get("n_ok"):
                    continue
                L.append(f"| {label} | {side} | {s[side]['n_ok']} | {rng(s, side, 'wall_s', '.2f')} "
                         f"| {mib(med(s, side, 'target_rss_before_kib'))} | {mib(med(s, side, 'target_hwm_kib'))} "
                         f"| {mib(med(s, side, 'target_peak_over_before_kib'))} "
                         f"| {mib(med(s, side, 'heapdiff_maxrss_kib'))} |")
    mach = result["machine"]
    L.append("")
    L.append(f"Machine: {mach.get('cpu_model')}, {mach.get('nproc')} CPUs, "
             f"{mach.get('mem_total_gib')} GiB; load average before/after: "
             f"{result['loadavg_before']} / {result['loadavg_after']} "
             f"(per run: {result['loadavg_runs']}).")
    L.append(f"Versions: {result['heapdiff_version']}; node {result['node_version']}; "
             f"binary {result['bin']['path']} ({result['bin']['mtime']}).")
    return "\n".join(L)


# ---------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    default_bin = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "heapdiff"
    p.add_argument("--bin", default=str(default_bin),
                   help="heapdiff binary (default: $CARGO_TARGET_DIR or target/, release)")
    p.add_argument("--node", default="node")
    p.add_argument("--runs", type=int, default=3, help="timed rounds per target (default 3)")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed rounds per target first (default 1): a process's first snapshot "
                        "also builds V8's object-id map and leaves its RSS higher")
    p.add_argument("--fresh", type=int, default=1,
                   help="after the rounds, each side this many times more on a new target "
                        "process each (its first snapshot: the peak RSS over idle; default 1)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="the large target's scale (1 = ~700 MB snapshot)")
    p.add_argument("--small-scale", type=float, default=0.1,
                   help="the small target's scale (default 0.1; 0 = no small target)")
    p.add_argument("--gc", action="store_true",
                   help="heapdiff --gc, and gc() in the target before each write (default: neither)")
    p.add_argument("--sample-interval", type=float, default=0.1, help="seconds (default 0.1)")
    p.add_argument("--timeout", type=float, default=900.0, help="per run, seconds (default 900)")
    p.add_argument("--work-dir", default=None, help="where outputs go (default: a new temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the snapshots written")
    p.add_argument("--name", default="capture", help="results file prefix")
    p.add_argument("--results-dir", default=str(BENCH_DIR / "results"))
    p.add_argument("--no-save", action="store_true")
    return p.parse_args(argv)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def describe(r: dict) -> str:
    if not r["ok"]:
        return f"FAILED ({r.get('error') or 'exit ' + str(r.get('exit_code'))}) {r.get('stderr_tail', '')[-300:]}"
    s = f"{r['wall_s']:.2f} s, target peak {mib(r.get('target_hwm_kib'))} MiB"
    if r["side"] == "capture":
        s += (f", heapdiff {mib(r['heapdiff_maxrss_kib'])} MiB, "
              f"CPU {r['heapdiff_user_s'] + r['heapdiff_sys_s']:.2f} s, {r.get('gz_bytes', 0) / 1e6:.1f} MB .gz")
    return s + f", {r.get('raw_bytes', 0) / 1e6:.1f} MB raw, load {r['loadavg']}"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.runs < 1:
        log("--runs must be >= 1")
        return 2
    args.bin = str(Path(args.bin).resolve())
    if compare.resolve_exe(args.bin) is None:
        log(f"error: {args.bin} not found (cargo build --release, or --bin PATH)")
        return 2
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="heapdiff-capture-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    version = subprocess.run([args.bin, "--version"], capture_output=True, text=True).stdout.strip()
    node_version = subprocess.run([args.node, "--version"], capture_output=True, text=True).stdout.strip()
    machine = compare.machine_info()
    log(f"machine: {machine.get('cpu_model')}, {machine.get('nproc')} CPUs; {version}; node {node_version}; "
        f"work dir {work}")

    sizes = [("large", args.scale)] + ([("small", args.small_scale)] if args.small_scale > 0 else [])
    targets: dict[str, Target] = {}
    try:
        for label, scale in sizes:
            log(f"starting the {label} target (scale {scale}) ...")
            t = Target(label, scale, args.node, args.timeout)
            targets[label] = t
            log(f"  pid {t.pid}, port {t.port}: {t.ready}")

        def one_round(tag_prefix: str, i: int, raw: dict) -> None:
            # The first side alternates, so that neither always runs after the other.
            order = ("capture", "write") if i % 2 == 0 else ("write", "capture")
            for label, t in targets.items():
                for side in order:
                    fn = run_capture if side == "capture" else run_write
                    r = fn(args, t, work, f"{label}-{tag_prefix}{i + 1}")
                    r["round"] = i + 1
                    r["order"] = list(order)
                    log(f"{tag_prefix}{i + 1} {label} {side}: {describe(r)}")
                    raw[label][side].append(r)
                    if tag_prefix == "warmup" and not r["ok"]:
                        raise RuntimeError(f"warm-up {side} failed on {label}: {describe(r)}")

        warm = {label: {"capture": [], "write": []} for label in targets}
        for w in range(args.warmup):
            one_round("warmup", w, warm)
        started = _dt.datetime.now(_dt.timezone.utc)
        la_before = compare.loadavg()
        raw = {label: {"capture": [], "write": []} for label in targets}
        for i in range(args.runs):
            one_round("round", i, raw)
        la_after = compare.loadavg()
        ready = {label: t.ready for label, t in targets.items()}
        target_argv = {label: t.argv for label, t in targets.items()}
        for t in targets.values():
            t.close()
        # A process's first snapshot is the one that raises its RSS: afterwards the memory
        # V8 used for a snapshot stays resident (freed to malloc, not to the kernel), so the
        # rounds above measure peaks over that. Each side once more, in a new process each.
        fresh = {label: {"capture": [], "write": []} for label, _ in sizes}
        for k in range(args.fresh):
            for label, scale in sizes:
                for side in ("capture", "write"):
                    t = Target(label, scale, args.node, args.timeout)
                    try:
                        fn = run_capture if side == "capture" else run_write
                        r = fn(args, t, work, f"{label}-fresh{k + 1}")
                    finally:
                        t.close()
                    r["fresh"] = True
                    fresh[label][side].append(r)
                    log(f"fresh{k + 1} {label} {side}: {describe(r)}")
    finally:
        for t in targets.values():
            t.close()
        if not args.keep and not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)

    summary = {label: {side: summarize(runs) for side, runs in sides.items()} for label, sides in raw.items()}
    fresh_summary = {label: {side: summarize(runs) for side, runs in sides.items()}
                     for label, sides in fresh.items()}
    ratios: dict = {}
    for label, s in summary.items():
        r = {}
        cw, ww = med(s, "capture", "wall_s"), med(s, "write", "wall_s")
        if cw and ww:
            r["time_capture_over_write"] = cw / ww
        ch, wh = med(s, "capture", "target_hwm_kib"), med(s, "write", "target_hwm_kib")
        if ch and wh:
            r["target_peak_capture_over_write"] = ch / wh
        gz, rawb = med(s, "capture", "gz_bytes"), med(s, "capture", "raw_bytes")
        if gz and rawb:
            r["gz_over_raw"] = gz / rawb
        ratios[label] = r
    if "small" in summary:
        hl = med(summary["large"], "capture", "heapdiff_maxrss_kib")
        hs = med(summary["small"], "capture", "heapdiff_maxrss_kib")
        rl = med(summary["large"], "capture", "raw_bytes")
        rs = med(summary["small"], "capture", "raw_bytes")
        if hl and hs and rl and rs:
            ratios["heapdiff_rss_large_over_small"] = hl / hs
            ratios["raw_large_over_small"] = rl / rs

    result = {
        "benchmark": "heapdiff capture vs v8.writeHeapSnapshot",
        "started": started.isoformat(timespec="seconds"),
        "config": {"runs": args.runs, "warmup": args.warmup, "gc": args.gc,
                   "scales": dict(sizes), "sample_interval_s": args.sample_interval},
        "machine": machine,
        "loadavg_before": la_before, "loadavg_after": la_after,
        "loadavg_runs": load_range(raw),
        "git": compare.git_rev(),
        "heapdiff_version": version,
        "node_version": node_version,
        "bin": compare.exe_fingerprint(args.bin),
        "target_argv": target_argv,
        "targets": ready,
        "summary": summary,
        "fresh_summary": fresh_summary,
        "ratios": ratios,
        "raw": raw,
        "warmup_raw": warm,
        "fresh_raw": fresh,
    }
    md = markdown(result)
    print(md)
    if not args.no_save:
        rd = Path(args.results_dir)
        rd.mkdir(parents=True, exist_ok=True)
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        (rd / f"{args.name}-{stamp}.json").write_text(json.dumps(result, indent=1) + "\n")
        (rd / f"{args.name}-{stamp}.md").write_text(md + "\n")
        log(f"results: {rd / (args.name + '-' + stamp)}.json / .md")
    ok = all(s[side]["n_ok"] for s in summary.values() for side in s)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
