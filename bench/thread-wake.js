'use strict';
// `node bench/thread-wake.js [--busy 700] [--count 2000]`: what a round trip to a worker thread
// costs over the work it does, for three jobs: one that returns at once, one that keeps the
// worker busy for `--busy` µs (this thread sleeps meanwhile), and a 1 KiB write + fdatasync on a
// file in bench/ (the worker sleeps in the kernel too, as filekeep's fs worker does). Each job also
// runs on this thread, synchronously, for reference. Two ways to hand the job over and back:
// postMessage both ways (filekeep's fs worker), and Atomics.wait/notify on shared memory with
// Atomics.waitAsync on this thread (no message events at all).
//
// Why: filekeep's `writeFileAtomic` runs its fs calls in a worker, so this thread never blocks
// on the disk. The hand-over and the wake of this thread afterwards are a cost on every single
// awaited write that no change to filekeep's fs calls removes; the single-writes table compares
// filekeep with the disk limit measured with synchronous calls on this thread, which pays none.

const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');

function parseArgs(argv) {
  const options = { busy: 700, count: 2000 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--busy') options.busy = Number(argv[++i]);
    else if (argv[i] === '--count') options.count = Number(argv[++i]);
    else throw new Error(`Unexpected argument ${argv[i]}`);
  }
  if (!(options.busy >= 0) || !(options.count > 0)) throw new Error('usage: node bench/thread-wake.js [--busy µs] [--count n]');
  return options;
}

// The job, here and in the worker: spin for \`us\` µs (us > 0), or write 1 KiB + fdatasync (us < 0).
const JOB = `
const jobFs = require('node:fs');
const kib = Buffer.alloc(1024, 120);
const block = (us, fd) => {
  if (us < 0) { jobFs.writeSync(fd, kib, 0, kib.length, 0); jobFs.fdatasyncSync(fd); return; }
  const until = process.hrtime.bigint() + BigInt(Math.round(us * 1000));
  while (process.hrtime.bigint() < until);
};
`;
// Control words: 0 replies counted, 1 jobs posted (shared-memory mode), 2 stop, 3 the job.
const WORKER = `${JOB}
const { parentPort, workerData } = require('node:worker_threads');
const control = new Int32Array(workerData.shared);
const fd = jobFs.openSync(workerData.file, 'r+');
parentPort.on('message', (message) => {
  if (message.mode === 'message') {
    block(message.us, fd);
    parentPort.postMessage(message.id);
    return;
  }
  // Shared memory: serve jobs until told to stop, blocked in Atomics.wait between them.
  let seen = Atomics.load(control, 1);
  parentPort.postMessage('serving');
  for (;;) {
    Atomics.wait(control, 1, seen);
    seen = Atomics.load(control, 1);
    if (Atomics.load(control, 2) === 1) return;
    block(Atomics.load(control, 3), fd);
    Atomics.add(control, 0, 1);
    Atomics.notify(control, 0);
  }
});
`;

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const shared = new SharedArrayBuffer(16);
  const control = new Int32Array(shared);
  const dir = fs.mkdtempSync(path.join(__dirname, '.work-wake-'));
  const file = path.join(dir, 'job');
  fs.writeFileSync(file, Buffer.alloc(1024));
  const fd = fs.openSync(file, 'r+');
  const { block } = new Function('require', `${JOB}; return { block };`)(require);
  const worker = new Worker(WORKER, { eval: true, workerData: { shared, file } });
  let nextId = 0;
  const byMessage = (us) =>
    new Promise((resolve) => {
      worker.once('message', resolve);
      worker.postMessage({ mode: 'message', id: nextId++, us });
    });
  const bySharedMemory = async (us) => {
    const replies = Atomics.load(control, 0);
    Atomics.store(control, 3, us);
    Atomics.add(control, 1, 1);
    Atomics.notify(control, 1);
    const waiting = Atomics.waitAsync(control, 0, replies);
    if (waiting.async) await waiting.value;
  };
  const blockHere = (us) => block(us, fd);

  const overhead = async (job, us) => {
    for (let i = 0; i < 100; i++) await job(us); // warm-up
    const started = process.hrtime.bigint();
    for (let i = 0; i < options.count; i++) await job(us);
    return Number(process.hrtime.bigint() - started) / 1e3 / options.count - Math.max(us, 0);
  };

  const rows = [];
  for (const us of [0, options.busy, -1]) {
    const here = await overhead(async (u) => blockHere(u), us);
    const message = await overhead(byMessage, us);
    worker.postMessage({ mode: 'shared' });
    await new Promise((resolve) => worker.once('message', resolve));
    const sharedMemory = await overhead(bySharedMemory, us);
    Atomics.store(control, 2, 1);
    Atomics.add(control, 1, 1);
    Atomics.notify(control, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    Atomics.store(control, 2, 0);
    rows.push({ us, here, message, sharedMemory });
  }
  await worker.terminate();
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });

  const f = (x) => `${x.toFixed(1)} µs`;
  const name = (us) => (us === 0 ? 'nothing' : us > 0 ? `busy ${us} µs` : '1 KiB write + fdatasync');
  console.log(`| job | on this thread | worker, postMessage both ways | worker, Atomics + waitAsync |`);
  console.log(`|---|---:|---:|---:|`);
  for (const row of rows) console.log(`| ${name(row.us)} | ${f(row.here)} | ${f(row.message)} | ${f(row.sharedMemory)} |`);
  console.log(`\nµs per job, one at a time (${options.count} each), minus the busy time; the fdatasync row is the whole job.`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
