'use strict';
// The disk's own limits, measured with synchronous calls so no library or thread-pool overhead
// is included: what any durable write on this directory can at best reach.

const fs = require('node:fs');
const path = require('node:path');
const { loop } = require('../lib/measure');
const { markdownTable, num, ratio } = require('../lib/table');

const KIB = Buffer.alloc(1024, 'x');

/** 1 KiB overwrite at offset 0 of one open file, then fdatasync: the cost of a journal append. */
async function writeAndSync(dir, limits) {
  const fd = fs.openSync(path.join(dir, 'datasync.bin'), 'w');
  try {
    return await loop(() => {
      fs.writeSync(fd, KIB, 0, KIB.length, 0);
      fs.fdatasyncSync(fd);
    }, limits);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The full durable replace of rules 1–6 in design.md, once per op: open a new temp file, write,
 * fdatasync, close, rename over the target, open the directory and fsync it.
 */
function durableReplace(dir, target, data) {
  const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  const fd = fs.openSync(temp, 'wx');
  try {
    let offset = 0;
    while (offset < data.length) offset += fs.writeSync(fd, data, offset, data.length - offset);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, target);
  const dirFd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

async function run(ctx) {
  const dir = ctx.mkdir('disk');
  const limits = { maxOps: 100000, maxMs: ctx.quick ? 500 : 2000, minOps: 5 };
  const target = path.join(dir, 'replace.json');
  const fdatasync = await writeAndSync(dir, limits);
  const replace = await loop(() => durableReplace(dir, target, KIB), limits);
  ctx.disk = { fdatasyncPerSec: fdatasync.perSec, replacePerSec: replace.perSec };

  const rows = [
    ['1 KiB write + fdatasync (same fd, overwrite)', num(fdatasync.perSec), num(1e6 / fdatasync.perSec), num(fdatasync.ops)],
    ['1 KiB durable atomic replace (temp, write, fdatasync, close, rename, fsync dir)', num(replace.perSec), num(1e6 / replace.perSec), num(replace.ops)],
  ];
  const fk = ctx.results.singleFilekeep1k;
  const notes = [
    `Synchronous fs calls on \`${ctx.relative(dir)}\` (${ctx.machine.filesystem}), the same filesystem as every data file below.`,
    `Ratio row: fdatasync rate / durable replace rate = ${ratio(fdatasync.perSec, replace.perSec)}; a journal append can be that much cheaper than a whole-file replace.`,
  ];
  if (fk) notes.push(`filekeep \`writeFileAtomic\` at 1 KiB (table 2) reached ${ratio(fk, replace.perSec)} of the durable replace rate.`);
  return {
    title: '1. Disk limit',
    notes,
    table: markdownTable(['operation', 'ops/s', 'µs/op', 'ops measured'], rows, 'lrrr'),
  };
}

module.exports = { run, durableReplace };
