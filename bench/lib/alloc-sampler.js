'use strict';
// Preloaded into a server by `bench/alloc.js` (`node --require`): on SIGUSR2 it starts V8's
// sampling heap profiler, on the next SIGUSR2 it stops and writes, to ALLOC_OUT, the bytes
// allocated in between (collected objects included) by module and by function, and how many
// requests the server received meanwhile.

const fs = require('node:fs');
const http = require('node:http');
const inspector = require('node:inspector');

const out = process.env.ALLOC_OUT;
if (!out) throw new Error('alloc-sampler: ALLOC_OUT must be set');

let requests = 0;
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function countRequests(event, ...args) {
  if (event === 'request') requests++;
  return emit.call(this, event, ...args);
};

const session = new inspector.Session();
session.connect();
let startedAt;

process.on('SIGUSR2', () => {
  if (startedAt === undefined) {
    startedAt = requests;
    session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    return;
  }
  const served = requests - startedAt;
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (error) throw error;
    const byModule = new Map();
    const byFunction = new Map();
    let total = 0;
    const walk = (node) => {
      const { url, functionName, lineNumber } = node.callFrame;
      if (node.selfSize > 0) {
        total += node.selfSize;
        const where = moduleOf(url);
        byModule.set(where, (byModule.get(where) ?? 0) + node.selfSize);
        const fn = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
        byFunction.set(fn, (byFunction.get(fn) ?? 0) + node.selfSize);
      }
      for (const child of node.children) walk(child);
    };
    walk(result.profile.head);
    const top = (map) => [...map].sort((a, b) => b[1] - a[1]).slice(0, 15);
    fs.writeFileSync(out, JSON.stringify({ requests: served, bytes: total, byModule: top(byModule), byFunction: top(byFunction) }));
  });
});

/** The package (or node: module) a frame belongs to; filekeep's own packages by name. */
function moduleOf(url) {
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return url;
  if (url.includes('/packages/core/')) return '@filekeep/core';
  if (url.includes('/packages/express/')) return '@filekeep/express';
  if (url.includes('/examples/expense-app/')) return 'expense-app';
  const parts = url.split('node_modules/').pop().split('/');
  return url.includes('node_modules/') ? (parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]) : url.split('/').slice(-2).join('/');
}
