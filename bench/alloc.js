'use strict';
// `node bench/alloc.js [--seconds 4] [--engine journal] SERVER.js`: bytes a server allocates per
// POST /expenses under the HTTP suite's load, by module and by function (V8's sampling heap
// profiler, collected objects included). For deciding one change at a time: unlike req/s on a
// shared machine, it repeats within 1-2%, so a change of 1 KB per request shows. Fewer bytes
// mean fewer scavenges, but not always less CPU: check a change with `bench/ab.js` too.

const fs = require('node:fs');
const path = require('node:path');
const { freePort, startServer, killAll } = require('./lib/servers');
const { runAutocannon } = require('./suites/http');

function parseArgs(argv) {
  const options = { seconds: 4, engine: 'journal', script: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--seconds') options.seconds = Number(argv[++i]);
    else if (arg === '--engine') options.engine = argv[++i];
    else if (options.script === undefined) options.script = path.resolve(arg);
    else throw new Error(`Unexpected argument ${arg}`);
  }
  if (!options.script || !(options.seconds > 0)) throw new Error('usage: node bench/alloc.js [--seconds S] [--engine snapshot|journal] SERVER.js');
  return options;
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const work = fs.mkdtempSync(path.join(__dirname, '.work-alloc-'));
  try {
    const out = path.join(work, 'alloc.json');
    const port = await freePort();
    const child = await startServer({
      name: options.script,
      script: options.script,
      nodeArgs: ['--require', path.join(__dirname, 'lib', 'alloc-sampler.js')],
      env: { DATA_DIR: work, DATA_FILE: path.join(work, 'expenses.json'), ENGINE: options.engine, ALLOC_OUT: out },
      port,
      logFile: path.join(work, 'server.log'),
    });
    await runAutocannon(port, 1); // warm-up, not sampled
    child.kill('SIGUSR2');
    await runAutocannon(port, options.seconds);
    child.kill('SIGUSR2');
    const deadline = Date.now() + 10_000;
    while (!fs.existsSync(out) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (!fs.existsSync(out)) throw new Error('the server wrote no allocation profile (is it a Node script that listens on PORT?)');
    const { requests, bytes, byModule, byFunction } = JSON.parse(fs.readFileSync(out, 'utf8'));
    console.log(`${path.relative(process.cwd(), options.script)}: ${requests} requests, ${kib(bytes / requests)} allocated per request`);
    console.log('\nby module:');
    for (const [name, size] of byModule) console.log(`${kib(size / requests).padStart(10)}  ${name}`);
    console.log('\nby function:');
    for (const [name, size] of byFunction) console.log(`${kib(size / requests).padStart(10)}  ${name}`);
  } finally {
    killAll();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
