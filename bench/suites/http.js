'use strict';
// POST /expenses under autocannon against each server in its own child process, at 0 and
// 10,000 existing records; then SIGKILL the server and count the records it acknowledged
// (2xx with an id in the body) that are not in its data file.

const fs = require('node:fs');
const path = require('node:path');
const autocannon = require('autocannon');
const { HOST, freePort, startServer, killServer } = require('../lib/servers');
const { expense } = require('../lib/data');
const { seedPlainFile, seedFilekeepFile } = require('../lib/seed');
const { readIds, readIdsWithLog } = require('../lib/data-file');
const { withTimeout } = require('../lib/measure');
const { threadCpu } = require('../lib/thread-cpu');
const { markdownTable, num, ms, ratio } = require('../lib/table');

const RECORD_COUNTS = [0, 10000];
const CONNECTIONS = 50;
const BODY = JSON.stringify(expense(1));

/**
 * The snapshot is read directly, like any other data file. Only when a journal sits next to
 * it (journal engine) is filekeep's own recovery needed to see the acknowledged records.
 */
async function readFilekeepIds(ctx, file) {
  const { FileRepository } = ctx.filekeep;
  if (!fs.existsSync(`${file}.journal`) || !FileRepository) return readIds(file);
  try {
    const repo = await FileRepository.open({ file, engine: 'journal', collections: { expenses: { schema: { type: 'object' } } } });
    const ids = new Set(repo.collection('expenses').list().map((r) => String(r.id)));
    await repo.close();
    return { ids, corrupt: null };
  } catch (err) {
    return { ids: new Set(), corrupt: `does not open: ${err.message.slice(0, 80)}` };
  }
}

function servers(ctx) {
  const { filekeep } = ctx;
  const local = (name) => path.join(__dirname, '..', 'servers', name);
  const plain = (script) => async (dir, count) => {
    const file = path.join(dir, 'db.json');
    seedPlainFile(file, count);
    return { script: local(script), env: { DATA_FILE: file }, dataFile: file };
  };
  const seedFilekeep = async (dir, count) => {
    const file = path.join(dir, 'expenses.json');
    await seedFilekeepFile(filekeep.FileRepository, file, count);
    return file;
  };
  const exampleApp = (engine) => ({
    key: engine === 'snapshot' ? 'filekeep' : `filekeep-${engine}`,
    name: `filekeep example app (${engine} engine)`,
    short: `filekeep\n${engine}`,
    skip: filekeep.missing.exampleServer,
    skipSeeded: filekeep.missing.FileRepository,
    async prepare(dir, count) {
      const file = await seedFilekeep(dir, count);
      return {
        script: filekeep.exampleServer,
        env: { DATA_DIR: dir, HOST, ENGINE: engine },
        dataFile: file,
        readIds: (f) => readFilekeepIds(ctx, f),
      };
    },
  });
  // Not a product: the ceiling's own app with filekeep underneath, to tell what filekeep's durable
  // path costs from what the example app's own features cost (request log, mounted router, ETags,
  // Location).
  const ceilingAppOnFilekeep = {
    key: 'filekeep-minimal',
    name: "filekeep journal under the ceiling's app (diagnostic)",
    diagnostic: true,
    short: "filekeep journal\nceiling's app",
    skip: filekeep.missing.FileRepository,
    async prepare(dir, count) {
      const file = await seedFilekeep(dir, count);
      return {
        script: local('filekeep-minimal.js'),
        env: { DATA_DIR: dir, ENGINE: 'journal' },
        dataFile: file,
        readIds: (f) => readFilekeepIds(ctx, f),
      };
    },
  };
  // Not a product either: the issue's reference point, group commit written by hand in 40 lines.
  const appendLogSketch = {
    key: 'sketch',
    name: 'append log with group commit, by hand (diagnostic)',
    diagnostic: true,
    short: 'append-log\nsketch',
    skip: filekeep.missing.FileRepository, // it serves through @filekeep/express's createServer
    async prepare(dir, count) {
      const file = path.join(dir, 'db.json');
      seedPlainFile(file, count);
      return { script: local('append-log-sketch.js'), env: { DATA_FILE: file }, dataFile: file, readIds: readIdsWithLog };
    },
  };
  return [
    exampleApp('snapshot'),
    exampleApp('journal'),
    ceilingAppOnFilekeep,
    appendLogSketch,
    { key: 'naive', name: 'naive `writeFileSync` per request (seed style)', short: 'naive\nwriteFileSync', prepare: plain('naive.js') },
    { key: 'wfa', name: 'write-file-atomic per request', short: 'write-file-atomic\nper request', prepare: plain('wfa.js') },
    {
      key: 'json-server',
      name: 'json-server 0.17.4',
      short: 'json-server\n0.17.4',
      async prepare(dir, count) {
        const file = path.join(dir, 'db.json');
        seedPlainFile(file, count);
        const bin = path.join(path.dirname(require.resolve('json-server/package.json')), 'lib', 'cli', 'bin.js');
        // --snapshots: json-server checks the directory exists; keep its snapshot files in ours.
        return { script: bin, args: [file, '--host', HOST, '--quiet', '--snapshots', dir], passPort: true, env: {}, dataFile: file };
      },
    },
    { key: 'memory', name: 'in-memory Express (ceiling)', short: 'in-memory\n(ceiling)', persisted: false, prepare: plain('memory.js') },
    // The ceiling on the server every filekeep row, the minimal app and the sketch use: what
    // durability costs on equal servers.
    {
      key: 'memory-same-server',
      name: 'in-memory Express on `createServer` (ceiling, same server)',
      short: 'in-memory on\ncreateServer',
      persisted: false,
      skip: filekeep.missing.FileRepository,
      prepare: plain('memory-same-server.js'),
    },
  ];
}

function runAutocannon(port, durationSec) {
  const acked = [];
  let unreadable = 0;
  const onResponse = (status, body) => {
    if (status < 200 || status >= 300) return;
    try {
      acked.push(String(JSON.parse(body).id));
    } catch {
      unreadable++;
    }
  };
  const done = new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://${HOST}:${port}`,
        connections: CONNECTIONS,
        duration: durationSec,
        timeout: 10,
        requests: [{ method: 'POST', path: '/expenses', headers: { 'content-type': 'application/json' }, body: BODY, onResponse }],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    // autocannon stops itself after `duration`; this only guards against it never finishing.
    const guard = setTimeout(() => instance.stop(), (durationSec + 15) * 1000);
    instance.once('done', () => clearTimeout(guard));
  });
  return withTimeout(done, (durationSec + 30) * 1000, 'autocannon').then((result) => ({ result, acked, unreadable }));
}

/** Seeds `server`'s data at `count` records and starts it; `stop()` SIGKILLs it and reads its file. */
async function launch(ctx, server, count) {
  const dir = ctx.mkdir(`http-${server.key}-${count}`);
  const setup = await server.prepare(dir, count);
  const port = await freePort();
  const child = await startServer({
    name: server.name,
    script: setup.script,
    args: [...(setup.args ?? []), ...(setup.passPort ? ['--port', String(port)] : [])],
    nodeArgs: setup.nodeArgs,
    env: setup.env,
    port,
    cwd: dir,
    logFile: path.join(dir, 'server.log'),
  });
  return {
    port,
    pid: child.pid,
    stop: async () => {
      await killServer(child);
      return (setup.readIds ?? readIds)(setup.dataFile);
    },
  };
}

/** Accumulates a server's autocannon slices into one row. */
function newTally() {
  return { requests: 0, seconds: 0, p50s: [], p99: 0, errors: 0, non2xx: 0, acked: [], unreadable: 0, cpu: { main: 0, other: 0 } };
}

/** `timed: false` (a warm-up): only its acknowledged ids count, for the loss check. */
function addSlice(tally, { result, acked, unreadable }, timed, cpu) {
  tally.acked.push(...acked);
  tally.unreadable += unreadable;
  if (!timed) return;
  tally.cpu.main += cpu.main;
  tally.cpu.other += cpu.other;
  tally.requests += result.requests.total;
  tally.seconds += result.duration;
  tally.p50s.push(result.latency.p50);
  tally.p99 = Math.max(tally.p99, result.latency.p99);
  tally.errors += result.errors + result.timeouts;
  tally.non2xx += result.non2xx;
}

function rowOf(tally, onDisk) {
  return {
    reqPerSec: tally.requests / tally.seconds,
    p50: tally.p50s.reduce((sum, v) => sum + v, 0) / tally.p50s.length,
    p99: tally.p99,
    errors: tally.errors,
    non2xx: tally.non2xx,
    acked: tally.acked.length,
    unreadable: tally.unreadable,
    missing: tally.acked.filter((id) => !onDisk.ids.has(id)).length,
    cpuMain: tally.cpu.main / tally.requests,
    cpuOther: tally.cpu.other / tally.requests,
    corrupt: onDisk.corrupt,
  };
}

/**
 * Runs `group` side by side: every server is started, then each gets `durationSec` of load in
 * `slices` turns, round robin, so drift of a shared machine falls on all of them alike (one 10 s
 * run of the same server here moved by 40% within a bench run, 4,451 vs 6,181 req/s). An idle
 * server waits while another is loaded.
 */
async function measureGroup(ctx, group, count, { durationSec, slices, warmUpSec }, results) {
  const running = [];
  for (const server of group) {
    const id = `${server.key}:${count}`;
    const skipped = server.skip ?? (count > 0 ? server.skipSeeded : null);
    if (skipped) {
      results.set(id, { skipped });
      continue;
    }
    try {
      running.push({ server, id, handle: await launch(ctx, server, count), tally: newTally(), failed: null, done: false });
    } catch (err) {
      results.set(id, { failed: firstLine(err) });
      ctx.progress(`http: ${server.name} @ ${num(count)} records failed to start: ${err.message}`);
    }
  }
  // Killed right after its last turn, so a server that acknowledges before it writes has no idle
  // time to catch up before the "crash".
  const finish = async (entry) => {
    if (entry.done) return;
    entry.done = true;
    const onDisk = await entry.handle.stop();
    const { server, id, tally, failed } = entry;
    if (failed) {
      results.set(id, { failed });
      ctx.progress(`http: ${server.name} @ ${num(count)} records failed: ${failed}`);
      return;
    }
    const row = rowOf(tally, onDisk);
    results.set(id, row);
    ctx.progress(`http: ${server.name} @ ${num(count)} records: ${num(row.reqPerSec)} req/s, ${row.missing} missing${row.corrupt ? ` (file ${row.corrupt})` : ''}`);
  };
  /** One turn of load; a server whose turn fails, or that has had its last turn, is finished. */
  const turn = async (entry, seconds, { timed, last }) => {
    if (entry.done) return;
    try {
      const before = threadCpu(entry.handle.pid);
      const slice = await runAutocannon(entry.handle.port, seconds);
      const after = threadCpu(entry.handle.pid);
      addSlice(entry.tally, slice, timed, { main: after.main - before.main, other: after.other - before.other });
    } catch (err) {
      entry.failed = firstLine(err);
    }
    if (entry.failed || last) await finish(entry);
  };
  try {
    // An untimed warm-up each first: with the load in turns, a cold start would otherwise fall on
    // the first turn alone and set that server's worst p99. Quick mode skips it to fit its minute.
    if (warmUpSec) for (const entry of running) await turn(entry, warmUpSec, { timed: false, last: false });
    for (let slice = 0; slice < slices; slice++) {
      for (const entry of running) await turn(entry, durationSec / slices, { timed: true, last: slice === slices - 1 });
    }
  } finally {
    for (const entry of running) await finish(entry);
  }
}

const firstLine = (err) => String(err?.message ?? err).split('\n')[0];

async function run(ctx) {
  const durationSec = durationFor(ctx);
  // The diagnostic rows explain a full run's ratios; quick mode, a smoke test that must fit its
  // minute, leaves them out.
  const list = servers(ctx).filter((s) => !(ctx.quick && s.diagnostic));
  const results = new Map(); // `${key}:${count}` → result, or { skipped } / { failed }

  // filekeep's servers, the sketch and both ceilings share their time in slices (see measureGroup):
  // their ratios are the targets. The other servers are each run alone, in one piece.
  const sideBySide = list.filter((s) => s.key.startsWith('memory') || s.key === 'sketch' || s.key.startsWith('filekeep'));
  const alone = list.filter((s) => !sideBySide.includes(s));
  const slices = ctx.quick ? 2 : 5;
  const warmUpSec = ctx.quick ? 0 : 1;
  for (const count of RECORD_COUNTS) {
    await measureGroup(ctx, sideBySide, count, { durationSec, slices, warmUpSec }, results);
    for (const server of alone) await measureGroup(ctx, [server], count, { durationSec, slices: 1, warmUpSec }, results);
  }

  ctx.results.http = { servers: list, results, recordCounts: RECORD_COUNTS };

  return {
    title: '4. HTTP: POST /expenses',
    render: () => {
      const rows = [];
      for (const count of RECORD_COUNTS) {
        const fk = results.get(`filekeep:${count}`);
        const mem = results.get(`memory:${count}`);
        const same = results.get(`memory-same-server:${count}`);
        for (const server of list) {
          const r = results.get(`${server.key}:${count}`);
          const head = [num(count), server.name];
          if (r.skipped || r.failed) {
            rows.push([...head, '–', '–', '–', '–', '–', '–', '–', '–', r.skipped ?? `failed: ${r.failed}`]);
            continue;
          }
          let lost;
          if (server.persisted === false) lost = `all ${num(r.acked)} (never written)`;
          else if (r.corrupt) lost = `${num(r.missing)} of ${num(r.acked)}: file ${r.corrupt}`;
          else lost = `${num(r.missing)} of ${num(r.acked)}`;
          rows.push([
            ...head,
            num(r.reqPerSec),
            fk?.reqPerSec ? ratio(r.reqPerSec, fk.reqPerSec) : '–',
            mem?.reqPerSec ? ratio(r.reqPerSec, mem.reqPerSec) : '–',
            same?.reqPerSec ? ratio(r.reqPerSec, same.reqPerSec) : '–',
            ms(r.p50),
            ms(r.p99),
            `${num(r.errors)} / ${num(r.non2xx)}`,
            Number.isFinite(r.cpuMain) && r.cpuMain + r.cpuOther > 0 ? `${num(r.cpuMain)} / ${num(r.cpuOther)}` : '–',
            lost,
          ]);
        }
      }
      return {
        notes: [
          `autocannon in the bench process, ${CONNECTIONS} connections, ${durationSec} s per server${ctx.quick ? ' (quick mode)' : ''}; each server in its own child process on ${HOST}. On a 2-core machine the load generator and the server share the CPU.`,
          `filekeep's servers${ctx.quick ? '' : ', the sketch'} and both in-memory ceilings ran side by side: all started${warmUpSec ? ` and warmed up (${warmUpSec} s of the same load each, untimed)` : ''}, then loaded in turns of ${num(durationSec / slices)} s, round robin, ${slices} turns each (${durationSec} s in all), so that the machine's drift falls on them alike; their req/s is requests over the time loaded, p50 the mean of the turns', p99 the worst turn's. The other servers ran alone: ${warmUpSec ? 'the same warm-up, then ' : ''}${durationSec} s in one piece.`,
          "Two ceilings, both the same in-memory Express app: the issue's, listening with `app.listen()`, and the same app on `createServer` from `@filekeep/express`, which creates each request and response with the app's prototypes so that Express does not move them with `Object.setPrototypeOf` (see that package's README). The example app and both diagnostic rows use `createServer`: the last ratio compares them with a ceiling on the same server, what durability costs; the one before it with the issue's ceiling.",
          ...(ctx.quick
            ? ['Quick mode leaves out the two diagnostic rows (`npm run bench` has them).']
            : [
              "The diagnostic row runs the ceiling's own app (`express.json()` and one POST route: no request log, no ETag, no problem details) on a filekeep repository with the journal engine and the `filekeep()` middleware (`servers/filekeep-minimal.js`): what is left between it and the ceiling is what filekeep's durable path costs, what is between it and the example app is the example app's features.",
              "The second diagnostic row is the issue's own reference point, an append log with group commit written by hand (`servers/append-log-sketch.js`): the ceiling's app appends each new record as a JSON line and answers once the batch it joined is written and fdatasync'd (libuv's `fs.write` and `fs.fdatasync`). It is durable but no product (no validation, no atomic snapshot, no recovery of a torn last line); what is between it and the first diagnostic row is what filekeep's repository and middleware cost over the least that group commit needs.",
            ]),
          'Body: one expense record (`description`, `amount`, `category`, `date`). The seeded records are in the data file before the server starts.',
          "Server CPU: the server process's CPU time over its timed turns (from /proc), per request answered, its main thread apart from its other threads (V8's garbage-collector and compiler helpers, libuv's pool, filekeep's fs worker). It drifts far less than req/s, and the difference between two rows is what one server spends beyond the other.",
          'Lost: ids of 2xx responses received by autocannon that are not in the data file after the server is SIGKILLed at the end of the run (a crash, as far as the server can tell).',
        ],
        table: markdownTable(
          ['existing records', 'server', 'req/s', '÷ filekeep', '÷ in-memory', '÷ in-memory, same server', 'p50', 'p99', 'errors / non-2xx', 'server CPU µs/req (main / other threads)', 'acknowledged but lost'],
          rows,
          'rlrrrrrrrrl',
        ),
      };
    },
  };
}

/** Seconds per autocannon run: 16 runs must fit the quick mode's minute with the other suites. */
function durationFor(ctx) {
  return ctx.quick ? 2 : 10;
}

module.exports = { run, durationFor, runAutocannon };
