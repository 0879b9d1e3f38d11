'use strict';
// Entry point of `npm run bench [-- --quick] [-- --only disk,single,bursts,http]`.
// Runs the suites in order, prints markdown tables, writes RESULTS.md and the HTTP chart
// (RESULTS-quick.md / http-chart-quick.svg for --quick, which are too short to publish).

const fs = require('node:fs');
const path = require('node:path');
const counter = require('./lib/fs-counter');

const SUITES = {
  disk: './suites/disk',
  single: './suites/single-writes',
  bursts: './suites/bursts',
  http: './suites/http',
};

function parseArgs(argv) {
  const options = { quick: false, only: Object.keys(SUITES) };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.quick = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg.includes('=') ? arg.slice('--only='.length) : argv[++i];
      options.only = String(value ?? '').split(',').filter(Boolean);
      const unknown = options.only.filter((name) => !SUITES[name]);
      if (unknown.length || !options.only.length) {
        throw new Error(`--only expects a comma-separated list of ${Object.keys(SUITES).join(', ')}; got "${value}"`);
      }
    } else if (arg === '--help' || arg === '-h') {
      options.help = true;
    } else throw new Error(`Unknown option ${arg} (try --help)`);
  }
  return options;
}

function header(ctx) {
  const m = ctx.machine;
  return [
    `# filekeep benchmarks${ctx.quick ? ' (quick run: short measurements, not for publishing)' : ''}`,
    '',
    `- Date: ${m.date}`,
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memory} memory; ${m.os}`,
    `- Node: ${m.node}; data files on ${m.filesystem}`,
    `- Load average (1 min): ${m.loadAtStart} at start, ${ctx.loadAtEnd} at end (${m.cores} cores; higher means other work shared the machine)`,
    '- Command: `npm run bench' + (ctx.quick ? ' -- --quick' : '') + '`',
    '',
    'Ratios compare with filekeep measured in the same run: on a shared machine absolute numbers drift between runs, ratios much less.',
    ...(ctx.filekeep.notes.length || Object.values(ctx.filekeep.missing).some(Boolean)
      ? ['', '**filekeep pieces missing or stale in this run:**', ...[...ctx.filekeep.notes, ...Object.values(ctx.filekeep.missing).filter(Boolean)].map((n) => `- ${n}`)]
      : []),
  ].join('\n');
}

function chart(ctx) {
  const http = ctx.results.http;
  if (!http) return null;
  const { groupedBarChart } = require('./lib/chart');
  return groupedBarChart({
    title: 'POST /expenses: requests per second (higher is better)',
    subtitle: `autocannon, 50 connections, ${require('./suites/http').durationFor(ctx)} s each; ${ctx.machine.cpu}, ${ctx.machine.cores} cores, Node ${ctx.machine.node}; ${ctx.machine.date.slice(0, 10)}`,
    yLabel: 'requests/s',
    series: http.recordCounts.map((n) => `${n.toLocaleString('en-US')} existing records`),
    groups: http.servers.map((server) => ({
      label: server.short ?? server.name,
      values: http.recordCounts.map((n) => http.results.get(`${server.key}:${n}`)?.reqPerSec ?? null),
    })),
  });
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.help) {
    console.log('Usage: npm run bench [-- --quick] [-- --only disk,single,bursts,http]');
    return 0;
  }
  // Before any library loads, so every fsync they make is counted (see lib/fs-counter.js).
  await counter.install();

  const { loadAnchors } = require('./lib/anchors');
  const { loadFilekeep } = require('./lib/filekeep');
  const { describeMachine } = require('./lib/machine');
  const { killAll } = require('./lib/servers');

  // Under the bench folder, so the data is on the filesystem the results describe.
  const workDir = fs.mkdtempSync(path.join(__dirname, '.work-'));
  // Also on Ctrl-C, where lib/servers.js exits from its signal handler and no finally runs.
  process.on('exit', () => fs.rmSync(workDir, { recursive: true, force: true }));
  let dirCount = 0;
  const started = Date.now();
  const ctx = {
    quick: options.quick,
    machine: describeMachine(workDir),
    filekeep: loadFilekeep(),
    anchors: await loadAnchors(),
    results: {},
    mkdir: (name) => {
      const dir = path.join(workDir, `${String(++dirCount).padStart(2, '0')}-${name.replace(/[^\w.-]+/g, '_')}`);
      fs.mkdirSync(dir, { recursive: true });
      return dir;
    },
    relative: (p) => path.relative(path.join(__dirname, '..'), p),
    progress: (message) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${message}\n`),
  };

  // A last-resort bound on the whole run, on top of the per-loop limits.
  const watchdog = setTimeout(() => {
    ctx.progress('run exceeded its time limit; killing servers and exiting');
    killAll();
    fs.rmSync(workDir, { recursive: true, force: true });
    process.exit(1);
  }, (options.quick ? 120 : 420) * 1000);
  watchdog.unref();

  const sections = [];
  let failed = false;
  try {
    for (const name of options.only) {
      ctx.progress(`suite ${name}…`);
      try {
        sections.push(await require(SUITES[name]).run(ctx));
      } catch (err) {
        failed = true;
        ctx.progress(`suite ${name} failed: ${err.stack}`);
        sections.push({ title: `${name} (failed)`, render: () => ({ notes: [`Failed: ${err.message}`], table: '' }) });
      }
    }
  } finally {
    killAll();
    fs.rmSync(workDir, { recursive: true, force: true });
  }

  ctx.loadAtEnd = require('./lib/machine').loadAverage();
  const body = sections.map((section) => {
    const { notes, table } = section.render();
    return [`## ${section.title}`, '', ...notes.map((n) => `- ${n}`), '', table].join('\n');
  });
  const markdown = `${[header(ctx), ...body].join('\n\n')}\n`;
  process.stdout.write(`\n${markdown}`);

  const suffix = options.quick ? '-quick' : '';
  // A partial run (--only) must not overwrite the published results with fewer tables.
  const complete = options.only.length === Object.keys(SUITES).length;
  if (complete) {
    fs.writeFileSync(path.join(__dirname, `RESULTS${suffix}.md`), markdown);
    const svg = chart(ctx);
    if (svg) fs.writeFileSync(path.join(__dirname, `http-chart${suffix}.svg`), svg);
    ctx.progress(`wrote bench/RESULTS${suffix}.md and bench/http-chart${suffix}.svg in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err.stack ?? err);
    process.exitCode = 1;
  },
);
