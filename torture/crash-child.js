// Crash-torture child: opens a repository with the core directly and runs WRITERS concurrent writers
// (inserts, updates, replaces, removes) until it is SIGKILLed. It prints `open <pid>` to stdout once
// the repository is open, and logs every operation to LOG_FILE, one line each:
//   I <n> <op json>        just before the call that stages op n (so line order = staging order)
//   A <n> <result json>    when op n's promise resolved (the change is durable)
//   F <n> <code>           when it rejected
// The log is a file written with writeSync, not stdout: a write to a pipe whose buffer is full
// (a slow reader on a loaded machine) is queued in this process and dies with it, which once made
// the check see fewer operations than the file held. A writeSync to a file is in the page cache
// when it returns, so a SIGKILL loses at most a torn last line, which the reader drops.
'use strict';
const fs = require('node:fs');
const { FileRepository } = require('@filekeep/core');
const { SCHEMA, COLLECTION, mulberry32 } = require('./lib/crash-model');

const [file, writersArg, seedArg, logFile, engine = 'snapshot', compactAfterBytes = '32768'] = process.argv.slice(2);
const logFd = fs.openSync(logFile, 'w');
const WRITERS = Number(writersArg ?? 24);
const rand = mulberry32(Number(seedArg ?? Date.now()) >>> 0);
const out = (line) => fs.writeSync(logFd, `${line}\n`);
const pick = (set) => {
  const ids = [...set];
  return ids[Math.floor(rand() * ids.length)];
};
const text = (max) => {
  const length = Math.floor(rand() * max);
  let s = '';
  while (s.length < length) s += Math.floor(rand() * 2 ** 31).toString(36);
  return s.slice(0, length);
};

(async () => {
  // The journal engine compacts every ~32 KB here (every commit or two), so kills also land mid-compaction.
  const options = engine === 'journal' ? { engine, compactAfterBytes: Number(compactAfterBytes), compactAfterRatio: 0, onWarning: () => undefined } : {};
  const repo = await FileRepository.open({ file, collections: { [COLLECTION]: { schema: SCHEMA } }, ...options });
  const items = repo.collection(COLLECTION);
  const known = new Set(items.list().map((r) => r.id));
  process.stdout.write(`open ${process.pid}\n`);
  let next = 0;
  const dataFor = (w, n) => ({ w, n, v: text(12), amount: Math.round(rand() * 100_000) / 100 + 0.01, ...(rand() < 0.5 ? { note: text(40) } : {}), pad: text(600) });

  async function writer(w) {
    for (let n = 0; ; n++) {
      const r = rand();
      const insertShare = known.size < 50 ? 0.7 : known.size > 250 ? 0.2 : 0.4;
      let op;
      if (known.size === 0 || r < insertShare) op = { t: 'insert', data: dataFor(w, n) };
      else if (r < insertShare + 0.3) op = { t: 'update', id: pick(known), patch: rand() < 0.3 ? { note: null, v: text(12) } : { v: text(12), amount: n + 1 } };
      else if (r < insertShare + 0.4) op = { t: 'replace', id: pick(known), data: dataFor(w, n) };
      else op = { t: 'remove', id: pick(known) };
      const k = next++;
      out(`I ${k} ${JSON.stringify(op)}`);
      try {
        let result;
        if (op.t === 'insert') result = await items.insert(op.data);
        else if (op.t === 'update') result = await items.update(op.id, op.patch);
        else if (op.t === 'replace') result = await items.replace(op.id, op.data);
        else result = await items.remove(op.id);
        out(`A ${k} ${JSON.stringify(result)}`);
        if (op.t === 'insert') known.add(result.id);
        if (op.t === 'remove') known.delete(op.id);
      } catch (error) {
        out(`F ${k} ${error.code ?? error.message}`);
        if (error.code === 'FK_NOT_FOUND') known.delete(op.id);
        else throw error;
      }
    }
  }
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
