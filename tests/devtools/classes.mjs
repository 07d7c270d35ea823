// Chrome DevTools' numbers for heap snapshots, computed by DevTools' own heap snapshot worker
// (bundled by build.mjs), called as the Memory panel calls it:
//
//   node classes.mjs [--keep SWITCH]... SNAPSHOT [SNAPSHOT]
//
// One snapshot: its Summary view (`aggregatesWithFilter`): per class, count, self size,
// retained size. Two: both summaries, and the Comparison view of the second against the
// first (`aggregatesForDiff` on the base, then `calculateSnapshotDiff`): per class, # New,
// # Deleted, Alloc. Size, Freed Size. Prints JSON:
//
//   {"summaries": [{"CLASS": [count, self, retained], ...}, ...],
//    "diff": {"CLASS": [new, deleted, alloc_size, freed_size], ...}}
//
// heapdiff differs from DevTools on purpose in a few documented ways (README, "How it
// counts"). Each difference is a named switch below that makes DevTools' worker count
// heapdiff's way, by replacing one of its steps; all are on unless `--keep NAME` keeps
// DevTools' own behaviour, which shows what a difference is worth. Everything else,
// including the dominators, retained sizes, the DOM state and the comparison by id, is
// DevTools' code as published.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {fileURLToPath} from 'node:url';
import {MessageChannel} from 'node:worker_threads';

// The worker is written for Chrome; Node 20 lacks this one ES2024 helper.
Promise.withResolvers ??= function() {
  let resolve, reject;
  const promise = new this((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return {promise, resolve, reject};
};

const here = path.dirname(fileURLToPath(import.meta.url));
const {HeapSnapshot: HS, HeapSnapshotLoader: HSL} = await import(path.join(here, 'dist', 'heap-snapshot.mjs'));

// Class names heapdiff gives nodes that DevTools names otherwise, applied after DevTools'
// own naming step (`calculateObjectNames`). Each returns the new name or null.
const RENAMES = {
  // Closures by function (`onResize()`), not all in one `Function` row.
  'closures-by-name': (s, type, name) => type === s.nodeClosureType ? `${name || '(anonymous)'}()` : null,
  // Synthetic nodes by their own names (`(GC roots)`, Node's sized `Node / Environment`).
  'synthetic-by-name': (s, type, name) => type === s.nodeSyntheticType && name ? name : null,
  // Chromium's per-process scope names (`system / Context / scope @46959`) as one class.
  'scopes-as-context':
      (s, type, name) => /^system \/ Context \/ scope @\d+$/.test(name) && (type === s.nodeObjectType || type === s.nodeNativeType) ?
      'system / Context' :
      null,
};

const SWITCHES = {
  // V8's own self sizes: DevTools moves the size of `(system)`, `(array)` and
  // `system / ExternalStringData` nodes with a single owner into that owner.
  'v8-self-sizes': () => {
    HS.JSHeapSnapshot.prototype.calculateShallowSizes = function() {};
  },
  // Plain objects keep their constructor's name, not a property-set name (`{a, b, c}`).
  'no-property-set-names': () => {
    HS.JSHeapSnapshot.prototype.inferInterfaceDefinitions = function() {
      return [];
    };
  },
  // Classes keyed by name alone: DevTools splits objects by constructor location
  // (script, line, column), which differs between processes and builds.
  'classes-by-name': () => {
    HS.HeapSnapshotNode.prototype.classKeyInternal = function() {
      return this.classIndex();
    };
  },
  'closures-by-name': () => {},
  'synthetic-by-name': () => {},
  'scopes-as-context': () => {},
};

function parseArgs(argv) {
  const keep = new Set();
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--keep') {
      const name = argv[++i];
      if (!(name in SWITCHES)) {
        throw new Error(`unknown switch ${name}; known: ${Object.keys(SWITCHES).join(', ')}`);
      }
      keep.add(name);
    } else {
      files.push(argv[i]);
    }
  }
  if (files.length < 1 || files.length > 2) {
    throw new Error('usage: node classes.mjs [--keep SWITCH]... SNAPSHOT [SNAPSHOT]');
  }
  return {keep, files};
}

function installSwitches(keep) {
  const renames = [];
  for (const [name, install] of Object.entries(SWITCHES)) {
    if (keep.has(name)) {
      continue;
    }
    install();
    if (RENAMES[name]) {
      renames.push(RENAMES[name]);
    }
  }
  const byName = !keep.has('classes-by-name');
  if (!renames.length && !byName) {
    return;
  }
  const calculateObjectNames = HS.JSHeapSnapshot.prototype.calculateObjectNames;
  HS.JSHeapSnapshot.prototype.calculateObjectNames = function() {
    calculateObjectNames.call(this);
    // One class index per distinct class name: the names DevTools adds are not interned
    // with the file's strings, and keying by index alone would split or overwrite a class.
    const indexOf = new Map();
    const intern = name => {
      let i = indexOf.get(name);
      if (i === undefined) {
        i = this.addString(name);
        indexOf.set(name, i);
      }
      return i;
    };
    const node = this.createNode(0);
    for (let i = 0; i < this.nodeCount; i++) {
      node.nodeIndex = i * this.nodeFieldCount;
      const type = this.nodes.getValue(node.nodeIndex + this.nodeTypeOffset);
      const name = this.strings[this.nodes.getValue(node.nodeIndex + this.nodeNameOffset)];
      let renamed = null;
      for (const rename of renames) {
        renamed ??= rename(this, type, name);
      }
      if (renamed !== null || byName) {
        node.setClassIndex(intern(renamed ?? node.className()));
      }
    }
  };
}

async function load(file) {
  let bytes = fs.readFileSync(file);
  if (file.endsWith('.gz')) {
    bytes = zlib.gunzipSync(bytes);
  }
  const text = bytes.toString('utf8');
  const loader = new HSL.HeapSnapshotLoader(undefined);
  // In chunks, as DevTools receives a snapshot from the protocol.
  const chunk = 1 << 20;
  for (let i = 0; i < text.length; i += chunk) {
    loader.write(text.slice(i, i + chunk));
  }
  loader.close();
  // The worker's second thread, here on the same thread through a message channel.
  const {port1, port2} = new MessageChannel();
  new HS.SecondaryInitManager(port2);
  const snapshot = await loader.buildSnapshot(port1);
  port1.close();
  return snapshot;
}

// Rows by class name; DevTools' own class key (`script,line,column,name`) tells apart two
// rows of one name, which it shows when classes are split by location.
function byName(rows, values) {
  const out = {};
  for (const [key, row] of Object.entries(rows)) {
    out[row.name in out ? `${row.name} @${key}` : row.name] = values(row);
  }
  return out;
}

function summary(snapshot) {
  return byName(snapshot.aggregatesWithFilter({}), a => [a.count, a.self, a.maxRet]);
}

const {keep, files} = parseArgs(process.argv.slice(2));
installSwitches(keep);
const snapshots = [];
for (const f of files) {
  snapshots.push(await load(f));
}
const result = {summaries: snapshots.map(summary)};
if (snapshots.length === 2) {
  const [base, target] = snapshots;
  const forDiff = base.aggregatesForDiff(target.interfaceDefinitions());
  result.diff = byName(
      target.calculateSnapshotDiff(1, forDiff), d => [d.addedCount, d.removedCount, d.addedSize, d.removedSize]);
}
process.stdout.write(JSON.stringify(result) + '\n');
