'use strict';
// Sequential awaited writes of one whole document: the latency a caller sees for one durable
// save, and how many fsyncs each library spends on it (measured by lib/fs-counter).

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { loop, median } = require('../lib/measure');
const { durableReplace } = require('./disk');
const { documentOfSize } = require('../lib/data');
const counter = require('../lib/fs-counter');
const { markdownTable, num, ratio } = require('../lib/table');

const SIZES = [1024, 100 * 1024, 10 * 1024 * 1024];
const LABELS = ['1 KiB', '100 KiB', '10 MiB'];

/**
 * Write back every dirty page before a writer's turn (untimed): what the non-durable writers
 * leave in the page cache (up to a gigabyte at 10 MiB) is otherwise flushed during the next
 * writer's fsyncs, which then pay for another library's data.
 */
function settleDisk() {
  try {
    execFileSync('sync', { stdio: 'ignore' });
  } catch {
    // no sync(1) here: the turns still alternate, only less evenly
  }
}

/** Each writer: `prepare(file)` returns `write(doc)`; `doc` has the value and its text. */
function writers(ctx) {
  const { anchors, filekeep } = ctx;
  return [
    {
      name: 'filekeep `writeFileAtomic`',
      key: 'filekeep',
      skip: filekeep.missing.writeFileAtomic,
      prepare: (file) => (doc) => filekeep.writeFileAtomic(file, doc.text),
    },
    {
      name: 'write-file-atomic 7',
      prepare: (file) => (doc) => anchors.writeFileAtomic(file, doc.text),
    },
    {
      name: 'atomically 2',
      prepare: (file) => (doc) => anchors.atomically.writeFile(file, doc.text),
    },
    {
      name: 'steno 4 `Writer`',
      prepare: (file) => {
        const writer = new anchors.Writer(file);
        return (doc) => writer.write(doc.text);
      },
    },
    {
      // lowdb serialises its own data on every write, as its users pay for it.
      name: 'lowdb 7 `JSONFile` `write()`',
      prepare: (file) => {
        const db = new anchors.Low(new anchors.JSONFile(file), {});
        return (doc) => {
          db.data = doc.value;
          return db.write();
        };
      },
    },
    {
      name: 'naive `fs.writeFileSync`',
      prepare: (file) => async (doc) => fs.writeFileSync(file, doc.text),
    },
    {
      name: 'disk limit: sync durable replace',
      key: 'disk',
      prepare: (file) => async (doc) => durableReplace(path.dirname(file), file, Buffer.from(doc.text)),
    },
  ];
}

async function run(ctx) {
  const dir = ctx.mkdir('single-writes');
  const docs = SIZES.map((size) => documentOfSize(size));
  const list = writers(ctx);
  // results[writerIndex][sizeIndex] = { perSec, fileSyncs, dirSyncs } per write
  const results = list.map(() => []);

  // Rounds interleave the writers, and each cell reports its median round: load from other
  // work on the machine then spreads over every writer instead of sinking whichever ran then.
  const rounds = ctx.quick ? 1 : 5;
  const fkIndex = list.findIndex((w) => w.key === 'filekeep');
  const limitIndex = list.findIndex((w) => w.key === 'disk');
  // filekeep and the disk limit run back to back in each round, in alternating order, and their
  // target ratio is the median of the rounds' ratios: with the other writers between them, the
  // two were timed seconds apart, and this host's disk drifts by 20-30% within seconds.
  const order = (round) => {
    const pair = round % 2 === 0 ? [fkIndex, limitIndex] : [limitIndex, fkIndex];
    return [...pair, ...list.keys()].filter((w, i, all) => w >= 0 && all.indexOf(w) === i);
  };
  const pairRatios1k = [];
  for (const [s, doc] of docs.entries()) {
    const limits = {
      maxOps: 5000,
      maxMs: (ctx.quick ? (s === 2 ? 400 : 250) : s === 2 ? 4000 : 1500) / rounds,
      minOps: ctx.quick ? 2 : s === 2 ? 2 : 3,
    };
    const warmUp = s === 2 ? 1 : 5;
    const prepared = list.map((writer, w) => {
      if (writer.skip) return null;
      const file = path.join(dir, `w${w}-s${s}.json`);
      return { file, write: writer.prepare(file), rates: [], ops: 0, fileSyncs: 0, dirSyncs: 0 };
    });
    for (const p of prepared) if (p) await p.write(doc); // every measured write replaces a file
    for (let round = 0; round < rounds; round++) {
      for (const w of order(round)) {
        const p = prepared[w];
        if (!p) continue;
        settleDisk();
        // Untimed, as the HTTP suite's warm-up: the first writes after the sync and the other
        // writers' turns run cold (filekeep's first one after 1.5 s idle took ~4 ms against
        // ~1.7 ms warm on the AMD EPYC VM), and a 0.3 s turn would weigh that start heavily.
        for (let i = 0; i < warmUp; i++) await p.write(doc);
        const before = counter.snapshot();
        const m = await loop(() => p.write(doc), limits);
        const c = counter.since(before);
        p.rates.push(m.perSec);
        p.ops += m.ops;
        p.fileSyncs += c.fileSyncs;
        p.dirSyncs += c.dirSyncs;
      }
      const fk = prepared[fkIndex];
      const limit = prepared[limitIndex];
      if (s === 0 && fk && limit) pairRatios1k.push(fk.rates[round] / limit.rates[round]);
    }
    for (const [w, p] of prepared.entries()) {
      if (!p) continue;
      results[w][s] = { perSec: median(p.rates), fileSyncs: p.fileSyncs / p.ops, dirSyncs: p.dirSyncs / p.ops };
      fs.rmSync(p.file, { force: true });
      ctx.progress(`single writes: ${list[w].name} @ ${LABELS[s]}: ${num(results[w][s].perSec)}/s`);
    }
  }

  ctx.results.singleWrites = {
    filekeep1k: results[fkIndex][0]?.perSec ?? null,
    limit1k: results[limitIndex]?.[0]?.perSec ?? null,
    pairRatio1k: pairRatios1k.length ? median(pairRatios1k) : null,
    rounds,
  };

  return {
    title: '2. Single awaited writes',
    render: () => {
      const headers = ['library', ...LABELS.map((label) => `${label} writes/s (÷ filekeep)`), 'fsyncs per write (file + dir)'];
      const rows = list.map((writer, w) => {
        if (writer.skip) return [writer.name, ...docs.map(() => '–'), writer.skip];
        const cells = docs.map((_, s) => {
          const r = results[w][s];
          const fk = results[fkIndex][s];
          return fk ? `${num(r.perSec)} (${ratio(r.perSec, fk.perSec)})` : num(r.perSec);
        });
        const syncs = results[w].map((r) => `${num(r.fileSyncs)} + ${num(r.dirSyncs)}`);
        return [writer.name, ...cells, [...new Set(syncs)].join(' / ')];
      });
      return {
        notes: [
          `Documents: pretty-printed \`{ "expenses": [...] }\` of ${docs.map((d) => num(d.bytes)).join(', ')} bytes.`,
          'One writer at a time, each write awaited before the next, each replacing an existing file in the same directory.',
          'Every library writes the same pretty-printed JSON text; lowdb is handed the object and serialises it itself (its API).',
          'fsyncs are counted by wrapping `fs.fsync`/`fdatasync` (callback, sync and FileHandle forms) in this process; a "dir" sync is one whose fd is a directory. 0 + 0 means a crash can lose the write, 1 + 0 that the rename itself is not yet durable.',
          `Per cell: ${ctx.quick ? 'quick mode, one round of ≤ 0.25 s (0.4 s at 10 MiB)' : `the median of ${rounds} rounds of ≤ 0.3 s (0.8 s at 10 MiB), the writers taking turns in each round, filekeep and the disk limit back to back (in alternating order)`}; before each turn, untimed, dirty pages are written back (sync) and the writer makes 5 warm-up writes (1 at 10 MiB).`,
        ],
        table: markdownTable(headers, rows, 'lrrrr'),
      };
    },
  };
}

module.exports = { run };
