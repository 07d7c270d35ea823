// A process whose heap takes a while to snapshot (about 2.5 million objects): the target
// tests/capture.rs kills in the middle of a capture. Prints `ready` when built.
'use strict';
const rows = [];
for (let i = 0; i < 800000; i++) {
  rows.push({id: i, name: `row-${i}`, tags: [i % 7, i % 11]});
}
globalThis.rows = rows;
console.log('ready');
setInterval(() => {}, 1 << 30);
