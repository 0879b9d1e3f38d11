'use strict';
// Bounded measurement loops: every loop stops at a count and at a time limit, so a slow
// disk or a hung library makes a row smaller, never the run endless.

const { performance } = require('node:perf_hooks');

/**
 * Calls `fn` sequentially (awaiting each call) until `maxOps` calls, or `maxMs` elapsed once
 * at least `minOps` calls were made, or `hardMs` elapsed whatever the count.
 */
async function loop(fn, { maxOps, maxMs, minOps = 1, hardMs = maxMs * 10 }) {
  const start = performance.now();
  let ops = 0;
  for (;;) {
    const elapsed = performance.now() - start;
    if (ops >= maxOps || elapsed >= hardMs) break;
    if (ops >= minOps && elapsed >= maxMs) break;
    await fn(ops);
    ops++;
  }
  const ms = performance.now() - start;
  return { ops, ms, perSec: ops > 0 ? (ops / ms) * 1000 : 0 };
}

function median(values) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Rejects with a clear message if `promise` does not settle within `ms`. */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

module.exports = { loop, median, withTimeout, now: () => performance.now() };
