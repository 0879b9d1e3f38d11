// How long commits and the event loop stall while the journal engine compacts: a journal
// repository holding 200,000 records (23 MB), then 250,000 inserts in batches of 25, each batch
// awaited. Prints µs per insert, the slowest batches, the event loop's longest delay and the
// compactions. Uses the BUILT core (`npm run build` first); FILEKEEP_CORE=path/to/dist/index.js
// measures another build (an older checkout) the same way.
// Usage: node packages/core/test/perf/compaction-pause.js [compactAfterRatio=1] [dir=os.tmpdir()]
const { mkdtemp, rm, stat } = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { FileRepository } = require(process.env.FILEKEEP_CORE ?? '@filekeep/core');

const ratio = Number(process.argv[2] ?? 1);
const base = process.argv[3] ?? os.tmpdir();
const collections = { expenses: { schema: { type: 'object' } } };
const record = (i) => ({ description: `expense number ${i}`, amount: (i % 9973) / 100 + 1, category: ['food', 'transport', 'rent'][i % 3] });
const SEEDED = 200_000;
const INSERTS = 250_000;
const BATCH = 25;

(async () => {
  const dir = await mkdtemp(path.join(base, 'filekeep-pause-'));
  const file = path.join(dir, 'db.json');
  try {
    const seed = await FileRepository.open({ file, collections });
    for (let i = 0; i < SEEDED; i += 10_000) await Promise.all(Array.from({ length: 10_000 }, (_, j) => seed.collection('expenses').insert(record(i + j))));
    await seed.close();
    const seededBytes = (await stat(file)).size;

    const repo = await FileRepository.open({ file, collections, engine: 'journal', compactAfterRatio: ratio });
    const compactions = [];
    repo.on('compaction', (event) => compactions.push(event));
    const expenses = repo.collection('expenses');
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const batches = [];
    const started = process.hrtime.bigint();
    for (let i = 0; i < INSERTS; i += BATCH) {
      const t = process.hrtime.bigint();
      await Promise.all(Array.from({ length: BATCH }, (_, j) => expenses.insert(record(SEEDED + i + j))));
      batches.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const totalMs = Number(process.hrtime.bigint() - started) / 1e6;
    loop.disable();
    await repo.close();

    const sorted = [...batches].sort((a, b) => a - b);
    const mb = (bytes) => `${(bytes / 1e6).toFixed(0)} MB`;
    console.log(`node ${process.version}, ${os.cpus().length} cpus, dir ${base}, compactAfterRatio ${ratio}, core ${process.env.FILEKEEP_CORE ?? '@filekeep/core'}`);
    console.log(`${INSERTS.toLocaleString('en')} inserts in batches of ${BATCH} into ${SEEDED.toLocaleString('en')} records (${mb(seededBytes)}): ${((totalMs * 1000) / INSERTS).toFixed(1)} µs each`);
    console.log(`batch: median ${sorted[sorted.length >> 1].toFixed(2)} ms, p99 ${sorted[Math.floor(sorted.length * 0.99)].toFixed(1)} ms, longest ${sorted[sorted.length - 1].toFixed(0)} ms; over 100 ms: ${batches.filter((b) => b > 100).length}, over 20 ms: ${batches.filter((b) => b > 20).length}`);
    console.log(`event loop: longest delay ${(loop.max / 1e6).toFixed(0)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms`);
    console.log(`compactions finished: ${compactions.length}${compactions.length ? ` (snapshots ${compactions.map((c) => mb(c.snapshotBytes)).join(', ')}; ${compactions.map((c) => `${c.durationMs.toFixed(0)} ms`).join(', ')} each)` : ''}, final snapshot ${mb((await stat(file)).size)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
