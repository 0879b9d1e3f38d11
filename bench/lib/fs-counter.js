'use strict';
// Counts the fsync-family and rename calls every library makes in this process, so the
// "fsyncs per write" and "commits" columns are measured, not quoted from documentation.
//
// It must be installed before any library is loaded: stubborn-fs (used by atomically) binds
// `promisify(fs.fsync)` at import time. ESM libraries that import named bindings
// (`import { rename } from 'node:fs/promises'`, as steno does) see the wrappers thanks to
// `syncBuiltinESMExports()`.

const fs = require('node:fs');
const { syncBuiltinESMExports } = require('node:module');

const counts = { fileSyncs: 0, dirSyncs: 0, renames: 0 };

// A directory fsync is what makes a rename durable; telling it apart from a file fsync
// costs one fstat (about a microsecond) per sync, negligible next to the sync itself.
function tally(fd) {
  let isDir = false;
  try {
    isDir = fs.fstatSync(fd).isDirectory();
  } catch {
    // A bad fd makes the real call fail too; count it as a file sync.
  }
  if (isDir) counts.dirSyncs++;
  else counts.fileSyncs++;
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
  for (const name of ['rename', 'renameSync']) wrap(fs, name, () => counts.renames++);
  wrap(fs.promises, 'rename', () => counts.renames++);

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

function snapshot() {
  return { ...counts };
}

function since(before) {
  return {
    fileSyncs: counts.fileSyncs - before.fileSyncs,
    dirSyncs: counts.dirSyncs - before.dirSyncs,
    renames: counts.renames - before.renames,
  };
}

module.exports = { install, snapshot, since };
