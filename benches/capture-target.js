'use strict';
// The live Node process that benches/capture.py snapshots: a service-like heap, then idle.
//
//   node --inspect=127.0.0.1:0 --expose-gc benches/capture-target.js [SCALE]
//
//   SCALE  default 1: a heap whose snapshot is about 700 MB (Node v20); 0.1 gives about a
//          tenth of the records (the snapshot is a little more than a tenth: an empty
//          Node's snapshot alone is ~4 MB).
//
// The heap is fixtures/make-large.js's store (customers with addresses, invoices and line
// items, flat and concatenated strings, Maps, Sets, closures over records, heap numbers, an
// event window), built in one phase and then left alone, so that every snapshot of this
// process sees the same heap.
//
// Once built it prints one JSON line {"ready": ...} on stdout and then answers commands, one
// a line on stdin, each with one JSON line on stdout:
//   write PATH   v8.writeHeapSnapshot(PATH), timed here; the peak RSS is reset just before
//                (echo 5 > /proc/self/clear_refs) and read after (VmHWM), so it is the
//                peak during the write
//   status       RSS, peak RSS and heap use now
//   gc           a full garbage collection
//   quit         exit (so does the end of stdin)
// The inspector's address is on stderr ("Debugger listening on ws://127.0.0.1:PORT/...").

const v8 = require('v8');
const fs = require('fs');
const readline = require('readline');

if (typeof global.gc !== 'function') {
  process.stderr.write('capture-target.js: start it with node --expose-gc\n');
  process.exit(2);
}

const scale = Number(process.argv[2] || '1');
if (!(scale > 0)) {
  process.stderr.write('capture-target.js: SCALE must be a positive number\n');
  process.exit(2);
}

// Records at scale 1, calibrated on Node v20.20.2 for a snapshot of about 700 MB.
const RECORDS = Math.round(137_000 * scale);

// Fields of /proc/self/status in KiB, e.g. VmRSS, VmHWM.
function procStatus() {
  const out = {};
  for (const line of fs.readFileSync('/proc/self/status', 'latin1').split('\n')) {
    const m = /^(Vm\w+):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

function resetPeak() {
  // 5 = reset the peak RSS (VmHWM) to the current RSS (proc(5), /proc/PID/clear_refs).
  fs.writeFileSync('/proc/self/clear_refs', '5');
}

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function write(file) {
  const before = procStatus();
  resetPeak();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  v8.writeHeapSnapshot(file);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const after = procStatus();
  reply({
    wall_s: wall,
    cpu_user_s: cpu.user / 1e6,
    cpu_sys_s: cpu.system / 1e6,
    rss_before_kib: before.VmRSS,
    hwm_kib: after.VmHWM,
    rss_after_kib: after.VmRSS,
    bytes: fs.statSync(file).size,
  });
}

function main() {
  const { buildPhase, store } = require('../fixtures/make-large.js');
  const t0 = Date.now();
  buildPhase(RECORDS);
  // Collect the garbage left by building, so that the snapshots see the heap as it stays.
  global.gc();
  global.gc();
  const st = procStatus();
  const s = store();
  reply({
    ready: true,
    pid: process.pid,
    node: process.version,
    scale,
    records: RECORDS,
    customers: s.customers.length,
    build_s: (Date.now() - t0) / 1000,
    heap_used_bytes: process.memoryUsage().heapUsed,
    rss_kib: st.VmRSS,
  });

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd, ...rest] = line.trim().split(' ');
    try {
      if (cmd === 'write' && rest.length) write(rest.join(' '));
      else if (cmd === 'status') {
        const p = procStatus();
        reply({ rss_kib: p.VmRSS, hwm_kib: p.VmHWM, heap_used_bytes: process.memoryUsage().heapUsed });
      } else if (cmd === 'gc') {
        global.gc();
        reply({ ok: true });
      } else if (cmd === 'quit') process.exit(0);
      else reply({ error: `unknown command: ${line}` });
    } catch (e) {
      reply({ error: String(e && e.message || e) });
    }
  });
  rl.on('close', () => process.exit(0));
}

main();
