'use strict';
// A burst of concurrent inserts, none awaited before the next starts: what an API sees when
// many requests arrive together. Group commit should turn 1,000 inserts into a few file writes.
//
// "A repository of 1 KiB and of 100 KiB" (issue 6) is read as the size of the data already in
// the file when the burst starts; the 1,000 inserted records are expense records (~140 bytes
// each, ~130 KiB in all). Bigger inserted records would make any whole-file engine cost
// O(n²) bytes written and are a different question (the journal engine's).

const fs = require('node:fs');
const path = require('node:path');
const { median, withTimeout, now } = require('../lib/measure');
const { expense, expenseRecords, recordsForSize, expenseSchema } = require('../lib/data');
const { readIds } = require('../lib/data-file');
const counter = require('../lib/fs-counter');
const { markdownTable, num, ms, ratio, kib } = require('../lib/table');

const INSERTS = 1000;
const SIZES = [1024, 100 * 1024];

/** Each contender's `open(file, seedCount)` returns `{ insert(data), commits(), close() }`. */
function contenders(ctx) {
  const { anchors, filekeep } = ctx;
  return [
    {
      name: 'filekeep `collection.insert`',
      key: 'filekeep',
      durable: 'yes',
      skip: filekeep.missing.FileRepository,
      async open(file, seedCount) {
        const repo = await filekeep.FileRepository.open({
          file,
          collections: { expenses: { schema: expenseSchema } },
        });
        const expenses = repo.collection('expenses');
        // Seeded through the API, so the file is in whatever format filekeep writes.
        await Promise.all(Array.from({ length: seedCount }, (_, i) => expenses.insert(expense(i + 1))));
        let commits = 0;
        repo.on('commit', () => commits++);
        return { insert: (data) => expenses.insert(data), commits: () => commits, close: () => repo.close() };
      },
    },
    {
      name: 'lowdb 7 `update`',
      durable: 'no (no fsync)',
      async open(file, seedCount) {
        const db = new anchors.Low(new anchors.JSONFile(file), { expenses: expenseRecords(seedCount) });
        await db.write();
        let nextId = seedCount + 1;
        const renames = counter.snapshot();
        return {
          insert: (data) => db.update((d) => d.expenses.push({ id: nextId++, ...data })),
          commits: () => counter.since(renames).renames,
          close: async () => {},
        };
      },
    },
    {
      name: 'steno 4 `Writer.write`',
      durable: 'no (no fsync)',
      async open(file, seedCount) {
        const writer = new anchors.Writer(file);
        const state = { expenses: expenseRecords(seedCount) };
        await writer.write(JSON.stringify(state, null, 2));
        let nextId = seedCount + 1;
        const renames = counter.snapshot();
        return {
          insert: (data) => {
            state.expenses.push({ id: nextId++, ...data });
            return writer.write(JSON.stringify(state, null, 2));
          },
          commits: () => counter.since(renames).renames,
          close: async () => {},
        };
      },
    },
  ];
}

async function burst(ctx, contender, dir, seedCount) {
  const file = path.join(dir, 'expenses.json');
  const target = await contender.open(file, seedCount);
  try {
    const syncs = counter.snapshot();
    const start = now();
    const inserts = Array.from({ length: INSERTS }, (_, i) => target.insert(expense(seedCount + i + 1)));
    await withTimeout(Promise.all(inserts), 60000, `${contender.name} burst`);
    const elapsed = now() - start;
    const c = counter.since(syncs);
    return {
      ms: elapsed,
      commits: target.commits(),
      fsyncs: c.fileSyncs + c.dirSyncs,
      stored: readIds(file).ids.size,
    };
  } finally {
    await target.close();
  }
}

async function run(ctx) {
  const reps = ctx.quick ? 2 : 5;
  const list = contenders(ctx);
  const rows = []; // { size, seedCount, contender, ms, commits, fsyncs, stored }

  for (const size of SIZES) {
    const seedCount = recordsForSize(size);
    for (const contender of list) {
      if (contender.skip) {
        rows.push({ size, seedCount, contender });
        continue;
      }
      // One untimed burst first, on its own file: the measured runs then see code the JIT has
      // already compiled, as a server does after its first requests (the same for every contender).
      // Not in quick mode, which has a minute for everything.
      if (!ctx.quick) {
        const warmDir = ctx.mkdir(`bursts-${size}-${contender.name.split(' ')[0]}-warm-up`);
        await burst(ctx, contender, warmDir, seedCount);
        fs.rmSync(warmDir, { recursive: true, force: true });
      }
      const runs = [];
      // Repeat only while the budget lasts: slow contenders get fewer runs, never a longer suite.
      const budget = now() + (ctx.quick ? 800 : 15000);
      for (let r = 0; r < reps && (r === 0 || now() < budget); r++) {
        const dir = ctx.mkdir(`bursts-${size}-${contender.name.split(' ')[0]}-${r}`);
        runs.push(await burst(ctx, contender, dir, seedCount));
        fs.rmSync(dir, { recursive: true, force: true });
      }
      const pick = (key) => median(runs.map((x) => x[key]));
      rows.push({ size, seedCount, contender, ms: pick('ms'), commits: pick('commits'), fsyncs: pick('fsyncs'), stored: pick('stored'), runs: runs.length });
      ctx.progress(`bursts: ${contender.name} @ ${kib(size)}: ${ms(pick('ms'))}, ${pick('commits')} commits`);
    }
  }

  return {
    title: '3. Bursts of 1,000 concurrent inserts',
    render: () => {
      const table = rows.map((row) => {
        const fk = rows.find((x) => x.size === row.size && x.contender.key === 'filekeep' && x.ms !== undefined);
        const label = `${kib(row.size)} (${num(row.seedCount)} records)`;
        if (row.ms === undefined) return [label, row.contender.name, '–', '–', '–', '–', '–', row.contender.skip];
        return [
          label,
          row.contender.name,
          ms(row.ms),
          fk ? ratio(row.ms, fk.ms) : '–',
          num(row.commits),
          num(row.fsyncs),
          `${num(row.stored)} / ${num(row.seedCount + INSERTS)}`,
          row.contender.durable,
        ];
      });
      return {
        notes: [
          `${num(INSERTS)} inserts started together (no await between them), timed until every promise resolved; median of up to ${reps} runs, each on a fresh file${ctx.quick ? ' (quick mode: no warm-up burst)' : ', after one untimed warm-up burst per contender and size'}.`,
          'Existing data: the file already holds about 1 KiB or 100 KiB of expense records; each insert adds one expense record (~140 bytes). For filekeep "resolved" means durable; lowdb and steno never fsync, so for them it only means written to the page cache.',
          'Commits: filekeep `commit` events; for lowdb and steno, renames of the temp file over the data file (each is one whole-file write).',
        ],
        table: markdownTable(
          ['existing data', 'library', 'time to all resolved', 'time ÷ filekeep', 'file commits', 'fsyncs', 'records in file after', 'durable'],
          table,
          'llrrrrrl',
        ),
      };
    },
  };
}

module.exports = { run };
