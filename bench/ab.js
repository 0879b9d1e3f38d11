'use strict';
// `node bench/ab.js [--rounds 8] [--seconds 3] [--engine journal] [--records 0] A.js B.js`: is server B faster
// than server A? For deciding one change at a time, not for publishing (that is `npm run bench`).
//
// Both servers are started together and loaded with POST /expenses in alternating rounds (A B,
// B A, ...), so the machine's drift falls on both alike; each round prints req/s and the server's
// CPU per request from /proc (main thread apart from the others: GC helpers, fs worker, libuv).
// A and B are server scripts taking PORT, HOST, DATA_DIR, DATA_FILE and ENGINE from the
// environment, e.g. examples/expense-app/dist/server.js of two checkouts, or servers/memory.js.
// `--records N` seeds N records first, as the HTTP suite does: DATA_FILE (db.json, the plain
// layout) for the hand-written servers, DATA_DIR/expenses.json (a filekeep snapshot) for filekeep's.
// Run an A/A comparison first: on a noisy machine it shows how far apart equal servers land.

const fs = require('node:fs');
const path = require('node:path');
const { median } = require('./lib/measure');
const { freePort, startServer, killAll } = require('./lib/servers');
const { seedPlainFile, seedFilekeepFile } = require('./lib/seed');
// The HTTP suite's own load: the same body, connections and response handling.
const { runAutocannon } = require('./suites/http');
const { threadCpu } = require('./lib/thread-cpu');

function parseArgs(argv) {
  const options = { rounds: 8, seconds: 3, engine: 'journal', records: 0, scripts: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--rounds') options.rounds = Number(argv[++i]);
    else if (arg === '--seconds') options.seconds = Number(argv[++i]);
    else if (arg === '--engine') options.engine = argv[++i];
    else if (arg === '--records') options.records = Number(argv[++i]);
    else options.scripts.push(path.resolve(arg));
  }
  if (options.scripts.length !== 2 || !(options.rounds > 0) || !(options.seconds > 0) || !Number.isSafeInteger(options.records) || options.records < 0) {
    throw new Error('usage: node bench/ab.js [--rounds N] [--seconds S] [--engine snapshot|journal] [--records N] A.js B.js');
  }
  return options;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const work = fs.mkdtempSync(path.join(__dirname, '.work-ab-'));
  try {
    const servers = [];
    for (const [i, script] of options.scripts.entries()) {
      const dir = path.join(work, String(i));
      fs.mkdirSync(dir);
      const port = await freePort();
      const env = { DATA_DIR: dir, DATA_FILE: path.join(dir, 'db.json'), ENGINE: options.engine };
      seedPlainFile(env.DATA_FILE, options.records);
      await seedFilekeepFile(require('@filekeep/core').FileRepository, path.join(dir, 'expenses.json'), options.records);
      const child = await startServer({ name: script, script, env, port, logFile: path.join(work, `${i}.log`) });
      servers.push({ label: 'AB'[i], port, child, rates: [] });
    }
    for (const server of servers) await runAutocannon(server.port, 1); // warm-up, not counted

    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? servers : [...servers].reverse();
      const line = [];
      for (const server of order) {
        const before = threadCpu(server.child.pid);
        const { result } = await runAutocannon(server.port, options.seconds);
        const after = threadCpu(server.child.pid);
        const n = result.requests.total;
        const rate = n / options.seconds;
        server.rates.push(rate);
        const failed = result.errors + result.non2xx ? `, ${result.errors} errors, ${result.non2xx} non-2xx` : '';
        line.push(`${server.label} ${Math.round(rate)} req/s (µs/req: main ${Math.round((after.main - before.main) / n)}, other threads ${Math.round((after.other - before.other) / n)}${failed})`);
      }
      const [a, b] = servers.map((s) => s.rates[round]);
      console.log(`round ${round + 1}: ${line.join('  ')}  B/A ${(b / a).toFixed(3)}`);
    }
    const [a, b] = servers.map((s) => median(s.rates));
    const wins = servers[1].rates.filter((rate, i) => rate > servers[0].rates[i]).length;
    console.log(`median A ${Math.round(a)} req/s, B ${Math.round(b)} req/s, B/A ${(b / a).toFixed(3)}; B ahead in ${wins} of ${options.rounds} rounds`);
  } finally {
    killAll();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
