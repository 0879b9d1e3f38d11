#!/usr/bin/env node
'use strict';
// `npm run torture`: everything that proves filekeep loses nothing it acknowledged, long form.
//   crash  SIGKILL a child running 24 concurrent writers on the core, restart, check (200 iterations)
//   journal the same with the journal engine, compacting every ~32 KB (200 iterations)
//   http   the same against the example app over HTTP (200 iterations; 100 more with ENGINE=journal)
//   suites the fault-matrix, model-based and two-process jest suites with long settings
//   soak   60 s of mixed autocannon load on the example app (127.0.0.1), then SIGKILL + check
// Options: --quick (short everything), --only=crash,journal,http,http-journal,suites,soak, --iterations=N,
// --http-iterations=N, --soak-seconds=N, --seed=N (or FK_TORTURE_SEED), --keep (keep data dirs).
// Prints one summary table and exits 1 if any guarantee failed.
const { spawn } = require('node:child_process');
const { existsSync } = require('node:fs');
const { mkdtemp, rename, rm } = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { crashIteration, emptyState } = require('./lib/crash-torture');
const { mulberry32 } = require('./lib/crash-model');

const ROOT = path.join(__dirname, '..');
const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v ?? 'true']));
const quick = args.has('quick') || process.env.FK_TORTURE_QUICK === '1';
const only = args.has('only') ? new Set(args.get('only').split(',')) : new Set(['crash', 'journal', 'http', 'http-journal', 'suites', 'soak']);
const numberArg = (name, fallback) => (args.has(name) ? Number(args.get(name)) : fallback);
const settings = {
  iterations: numberArg('iterations', quick ? 20 : 200),
  httpIterations: numberArg('http-iterations', quick ? 10 : 200),
  // 20 s in quick mode, so the RSS check's warm-up (a quarter of the run) covers the heap's growth
  // to its working size: at 3,000+ req/s it still grew 98 → 109 MiB at 6 s, then held 109-122 MiB
  // for 90 s. With 10 s the 2 s warm-up ended before that growth, and read it as a leak.
  soakSeconds: numberArg('soak-seconds', quick ? 20 : 60),
  modelRuns: quick ? 200 : 1000,
  lockRounds: quick ? 10 : 50,
  hostileRuns: quick ? 100 : 500,
  seed: numberArg('seed', Number(process.env.FK_TORTURE_SEED ?? Math.floor(Math.random() * 2 ** 31))),
};
const rand = mulberry32(settings.seed);
const rows = []; // [section, figure, value, required, ok]
let failed = false;
const row = (section, figure, value, required = '', ok = true) => {
  rows.push([section, figure, String(value), required, required === '' ? '' : ok ? 'ok' : 'FAILED']);
  if (!ok) failed = true;
};
const log = (message) => process.stderr.write(`${message}\n`);
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x) => `${Math.round(x)} ms`;

async function tempDir(name) {
  return mkdtemp(path.join(os.tmpdir(), `filekeep-torture-${name}-`));
}

/** Sum iteration results into the table rows for one crash section. */
function reportCrash(section, results, problems) {
  const sum = (key) => results.reduce((total, r) => total + (r[key] ?? 0), 0);
  const corrupt = results.filter((r) => r.corrupt).length;
  const restarts = results.map((r) => r.restartMs).filter(Number.isFinite);
  row(section, 'iterations (SIGKILL of the process group, restart)', results.length);
  row(section, 'acknowledged changes', sum('acknowledged'));
  row(section, 'unacknowledged changes that landed (whole)', sum('landedUnacknowledged'));
  row(section, 'lost acknowledged changes', sum('lost'), '= 0', sum('lost') === 0);
  row(section, 'corrupt opens', corrupt, '= 0', corrupt === 0);
  row(section, 'other problems (replay mismatch, dup ids, 5xx…)', problems.length, '= 0', problems.length === 0);
  row(section, 'restart time p50 / max', `${ms(percentile(restarts, 50))} / ${ms(Math.max(...restarts))}`);
  for (const p of problems.slice(0, 10)) log(`  ${section}: ${p}`);
}

async function crashSection(engine) {
  const section = engine === 'journal' ? 'crash (core, journal)' : 'crash (core, snapshot)';
  const dir = await tempDir(`crash-${engine}`);
  const file = path.join(dir, 'db.json');
  const results = [];
  const problems = [];
  let before = emptyState();
  log(`${section}: ${settings.iterations} iterations in ${dir}`);
  for (let i = 0; i < settings.iterations; i++) {
    try {
      const r = await crashIteration({ file, before, writers: 24, maxKillMs: 500, rand, engine });
      results.push(r);
      for (const p of r.problems) problems.push(`iteration ${i}: ${p}`);
      if (r.corrupt) {
        problems.push(`iteration ${i}: ${r.corrupt}`);
        await rename(file, `${file}.corrupt-${i}`);
        await rename(`${file}.journal`, `${file}.journal.corrupt-${i}`).catch(() => undefined);
        before = emptyState();
      } else {
        before = r.after;
      }
    } catch (error) {
      problems.push(`iteration ${i}: ${error.stack ?? error}`);
      break;
    }
    if ((i + 1) % 20 === 0) log(`  ${i + 1}/${settings.iterations}, ${before.records.size} records`);
  }
  reportCrash(section, results, problems);
  if (engine === 'journal') {
    row(section, 'kills that landed mid-compaction', results.filter((r) => r.midCompaction).length);
    row(section, 'kills that left a torn journal tail (cut at restart)', results.filter((r) => r.tornTail).length);
  }
  if (!args.has('keep') && problems.length === 0) await rm(dir, { recursive: true, force: true });
}

async function httpSection(engine) {
  const section = engine === 'journal' ? 'crash (HTTP app, journal)' : 'crash (HTTP app)';
  const iterations = engine === 'journal' ? Math.ceil(settings.httpIterations / 2) : settings.httpIterations;
  const { httpCrashIteration, SERVER } = require('./lib/http-torture');
  if (!existsSync(SERVER)) {
    row(section, `${path.relative(ROOT, SERVER)} missing (npm run build)`, 'not run', 'run', false);
    return;
  }
  const dir = await tempDir(`http-${engine}`);
  const results = [];
  const problems = [];
  let before = { records: new Map(), seenIds: new Set() };
  log(`${section}: ${iterations} iterations in ${dir}`);
  for (let i = 0; i < iterations; i++) {
    try {
      const r = await httpCrashIteration({ dataDir: dir, before, iteration: i, writers: 24, maxKillMs: 500, rand, engine });
      results.push(r);
      for (const p of r.problems) problems.push(`iteration ${i}: ${p}`);
      if (r.corrupt || r.problems.some((p) => p.startsWith('the app did not'))) {
        if (r.corrupt) problems.push(`iteration ${i}: ${r.corrupt}`);
        break;
      }
      before = r.after;
    } catch (error) {
      problems.push(`iteration ${i}: ${error.stack ?? error}`);
      break;
    }
    if ((i + 1) % 20 === 0) log(`  ${i + 1}/${iterations}, ${before.records.size} records`);
  }
  reportCrash(section, results, problems);
  if (!args.has('keep') && problems.length === 0) await rm(dir, { recursive: true, force: true });
}

function runJest(files, env) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', '--runTestsByPath', ...files], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('close', (code) => resolve({ code, output, seconds: (performance.now() - started) / 1000 }));
  });
}

async function suitesSection() {
  const suites = [
    ['fault matrix (each fs call of a commit and of a compaction × 4 errnos, short writes, real ENOSPC)', 'packages/core/test/fault-matrix.test.ts', {}],
    [`model-based (fast-check, ${settings.modelRuns} runs)`, 'packages/core/test/model-based.test.ts', { FK_RUNS: String(settings.modelRuns) }],
    [`two processes, one file (${settings.lockRounds} races)`, 'packages/core/test/two-processes.test.ts', { FK_ROUNDS: String(settings.lockRounds) }],
    [`data file names vs path traversal (${settings.modelRuns} runs)`, 'packages/core/test/path-traversal.test.ts', { FK_RUNS: String(settings.modelRuns) }],
    [`hostile input at the HTTP edge (${settings.hostileRuns} runs per property)`, 'examples/expense-app/test/hostile-input.test.ts', { FK_HOSTILE_RUNS: String(settings.hostileRuns) }],
  ];
  for (const [name, file, env] of suites) {
    log(`suites: ${name}`);
    const { code, output, seconds } = await runJest([file], env);
    const tests = /Tests:\s+(.*)/.exec(output)?.[1] ?? 'no summary';
    const failedNames = [...output.matchAll(/✕ (.*?)(?: \(\d+ ms\))?$/gm)].map((m) => m[1]);
    row('suites', name, `${tests} (${seconds.toFixed(0)} s)`, 'pass', code === 0);
    if (code !== 0) log(`  ${name} failed:\n${failedNames.map((n) => `    ✕ ${n}`).join('\n')}\n${output.split('\n').slice(-40).join('\n')}`);
  }
}

async function soakSection() {
  const { SERVER } = require('./lib/http-torture');
  if (!existsSync(SERVER)) {
    row('soak', `${path.relative(ROOT, SERVER)} missing (npm run build)`, 'not run', 'run', false);
    return;
  }
  const { soak } = require('./lib/soak');
  const dir = await tempDir('soak');
  log(`soak: ${settings.soakSeconds} s of autocannon against the app in ${dir}`);
  const r = await soak({ dataDir: dir, seconds: settings.soakSeconds, connections: 8 });
  row('soak', 'duration, connections', `${r.seconds} s, ${r.connections}`);
  row('soak', 'requests, mean req/s, p99 latency', `${r.requests}, ${Math.round(r.rps)}/s, ${r.p99} ms`);
  row('soak', 'acknowledged writes (POST/PATCH/DELETE)', r.acknowledgedWrites);
  row('soak', '5xx responses', r.status5xx, '= 0', r.status5xx === 0);
  row('soak', 'other non-2xx, socket errors, timeouts', `${r.non2xx - r.status5xx}, ${r.errors}, ${r.timeouts}`, '= 0', r.non2xx === 0 && r.errors === 0 && r.timeouts === 0);
  row('soak', 'stale reads after an acknowledged PATCH', r.staleReads, '= 0', r.staleReads === 0);
  row('soak', 'the app stayed up for the whole run', r.appEnded ?? 'yes', 'yes', r.appEnded === undefined);
  row('soak', 'lost acknowledged writes (after SIGKILL + restart)', r.lost, '= 0', r.lost === 0 && r.problems.length === 0);
  const growth = r.rssGrowth * 100;
  row('soak', 'RSS after warm-up → end', `${r.rssWarmMiB.toFixed(1)} → ${r.rssEndMiB.toFixed(1)} MiB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)}%)`, '< +10%', growth < 10);
  for (const p of r.problems.slice(0, 10)) log(`  soak: ${p}`);
  if (!args.has('keep') && r.problems.length === 0) await rm(dir, { recursive: true, force: true });
}

function printTable() {
  const header = ['run', 'figure', 'value', 'required', 'result'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  process.stdout.write(`\nfilekeep torture — ${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} CPUs, seed ${settings.seed}${quick ? ', --quick' : ''}\n`);
  process.stdout.write(`${out.join('\n')}\n${failed ? 'FAILED: a guarantee did not hold (details above)\n' : 'All guarantees held.\n'}`);
}

(async () => {
  const started = performance.now();
  log(`filekeep torture, seed ${settings.seed} (replay kill timings and child ops with --seed=${settings.seed})`);
  if (only.has('crash')) await crashSection('snapshot');
  if (only.has('journal')) await crashSection('journal');
  if (only.has('http')) await httpSection('snapshot');
  if (only.has('http-journal')) await httpSection('journal');
  if (only.has('suites')) await suitesSection();
  if (only.has('soak')) await soakSection();
  row('total', 'wall time', `${((performance.now() - started) / 1000).toFixed(0)} s`);
  printTable();
  process.exitCode = failed ? 1 : 0;
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
