// Journal vs snapshot engine: 1,000 sequential awaited inserts and 1,000 concurrent inserts into a
// repository already holding 10,000 records. Uses the BUILT core (`npm run build` first).
// Usage: node packages/core/test/perf/engine-timing.js [rounds=5] [dir=os.tmpdir()]
const { mkdtemp, rm } = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { FileRepository } = require('@filekeep/core');

const rounds = Number(process.argv[2] ?? 5);
const base = process.argv[3] ?? os.tmpdir();
const collections = { expenses: { schema: { type: 'object' } } };
const record = (i) => ({ description: `expense number ${i}`, amount: (i % 9973) / 100 + 1, category: ['food', 'transport', 'rent'][i % 3] });

async function prepared(engine) {
  const dir = await mkdtemp(path.join(base, 'filekeep-timing-'));
  const file = path.join(dir, 'db.json');
  // Both engines start from the same 10,000-record snapshot.
  const seed = await FileRepository.open({ file, collections });
  await Promise.all(Array.from({ length: 10_000 }, (_, i) => seed.collection('expenses').insert(record(i))));
  await seed.close();
  const repo = await FileRepository.open({ file, collections, engine });
  return { dir, repo };
}

async function time(fn) {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

(async () => {
  const results = { snapshot: { sequential: [], concurrent: [], commits: [] }, journal: { sequential: [], concurrent: [], commits: [] } };
  for (let round = 0; round < rounds; round++) {
    for (const engine of round % 2 === 0 ? ['snapshot', 'journal'] : ['journal', 'snapshot']) {
      const { dir, repo } = await prepared(engine);
      const expenses = repo.collection('expenses');
      results[engine].sequential.push(await time(async () => {
        for (let i = 0; i < 1000; i++) await expenses.insert(record(i));
      }));
      let commits = 0;
      repo.on('commit', () => commits++);
      results[engine].concurrent.push(await time(() => Promise.all(Array.from({ length: 1000 }, (_, i) => expenses.insert(record(i))))));
      results[engine].commits.push(commits);
      await repo.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
  console.log(`node ${process.version}, ${os.cpus().length} cpus, dir ${base}, ${rounds} rounds, median (min-max) ms`);
  for (const [engine, r] of Object.entries(results)) {
    const fmt = (xs) => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;
    console.log(`${engine.padEnd(8)} 1,000 sequential: ${fmt(r.sequential)} ms   1,000 concurrent: ${fmt(r.concurrent)} ms in ${median(r.commits)} commits`);
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
