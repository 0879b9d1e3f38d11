'use strict';
// Counts the fsync-family and rename calls every library makes in this process, so the
// "fsyncs per write" and "commits" columns are measured, not quoted from documentation.
//
// It must be installed before any library is loaded: stubborn-fs (used by atomically) binds
// `promisify(fs.fsync)` at import time. ESM libraries that import named bindings
// (`import { rename } from 'node:fs/promises'`, as steno does) see the wrappers thanks to
// `syncBuiltinESMExports()`.

//
// Worker threads count too (filekeep runs its durable writes in an fs worker): every Worker made
// after install() preloads this file with the same shared counters, so the totals are per process.

const fs = require('node:fs');
const { syncBuiltinESMExports } = require('node:module');
const workerThreads = require('node:worker_threads');

const SHARED_KEY = '__fkFsCounter';
const FILE_SYNCS = 0;
const DIR_SYNCS = 1;
const RENAMES = 2;
const inWorker = !workerThreads.isMainThread && workerThreads.workerData?.[SHARED_KEY] instanceof SharedArrayBuffer;
const shared = inWorker ? workerThreads.workerData[SHARED_KEY] : new SharedArrayBuffer(3 * 4);
const slots = new Int32Array(shared);
const bump = (slot) => Atomics.add(slots, slot, 1);

// A directory fsync is what makes a rename durable; telling it apart from a file fsync
// costs one fstat (about a microsecond) per sync, negligible next to the sync itself.
function tally(fd) {
  let isDir = false;
  try {
    isDir = fs.fstatSync(fd).isDirectory();
  } catch {
    // A bad fd makes the real call fail too; count it as a file sync.
  }
  bump(isDir ? DIR_SYNCS : FILE_SYNCS);
}

function wrap(obj, name, before) {
  const original = obj[name];
  if (typeof original !== 'function' || original.__fkCounted) return;
  const wrapped = function (...args) {
    before.call(this, args);
    return original.apply(this, args);
  };
  wrapped.__fkCounted = true;
  Object.defineProperty(wrapped, 'name', { value: name });
  obj[name] = wrapped;
}

let installed = false;

async function install() {
  if (installed) return;
  installed = true;
  for (const name of ['fsync', 'fdatasync', 'fsyncSync', 'fdatasyncSync']) {
    wrap(fs, name, (args) => tally(args[0]));
  }
  for (const name of ['rename', 'renameSync']) wrap(fs, name, () => bump(RENAMES));
  wrap(fs.promises, 'rename', () => bump(RENAMES));
  if (!inWorker) countInWorkers();

  // FileHandle is not exported; take its prototype from a handle we open and close.
  const handle = await fs.promises.open(__filename, 'r');
  const proto = Object.getPrototypeOf(handle);
  await handle.close();
  for (const name of ['sync', 'datasync']) {
    wrap(proto, name, function () {
      tally(this.fd);
    });
  }
  syncBuiltinESMExports();
}

/** Every Worker created from now on preloads this file and counts into the same slots. */
function countInWorkers() {
  const Original = workerThreads.Worker;
  workerThreads.Worker = class CountingWorker extends Original {
    constructor(filename, options = {}) {
      super(filename, {
        ...options,
        execArgv: [...(options.execArgv ?? process.execArgv), '--require', __filename],
        workerData: { ...options.workerData, [SHARED_KEY]: shared },
      });
    }
  };
}

function snapshot() {
  return { fileSyncs: Atomics.load(slots, FILE_SYNCS), dirSyncs: Atomics.load(slots, DIR_SYNCS), renames: Atomics.load(slots, RENAMES) };
}

function since(before) {
  const now = snapshot();
  return { fileSyncs: now.fileSyncs - before.fileSyncs, dirSyncs: now.dirSyncs - before.dirSyncs, renames: now.renames - before.renames };
}

module.exports = { install, snapshot, since };

// Preloaded into a worker by countInWorkers(): wrap this thread's fs right away.
if (inWorker) install();
