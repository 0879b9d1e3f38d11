'use strict';
// Crash torture and soak against the example app over HTTP (127.0.0.1 only).
const { readFile } = require('node:fs/promises');
const net = require('node:net');
const path = require('node:path');
const { startGroup, stateFromBytes } = require('./crash-torture');
const { canonical } = require('./crash-model');

const SERVER = path.join(__dirname, '..', '..', 'examples', 'expense-app', 'dist', 'server.js');
const DATA_FILE = 'expenses.json';
const CATEGORIES = ['food', 'transport', 'entertainment', 'utilities', 'other'];

/** A port nothing listens on right now (127.0.0.1). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Start the app as a user would (node dist/server.js with PORT, DATA_DIR and ENGINE), in its own
 * process group, and wait until it answers HTTP: readiness is a real request, not a log line
 * (the app's logger may buffer).
 */
async function startServer(dataDir, { engine = 'snapshot', timeoutMs = 20_000 } = {}) {
  const started = performance.now();
  const port = await freePort();
  const run = startGroup([SERVER], { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, ENGINE: engine });
  // Logs are not read; keep the pipe drained so the app never blocks on it.
  run.child.stdout.removeAllListeners('data');
  run.child.stdout.resume();
  const base = `http://127.0.0.1:${port}`;
  let exited;
  void run.closed.then((r) => (exited = r));
  for (;;) {
    if (exited) {
      const corrupt = /FK_CORRUPT_DATA/.test(run.stderr());
      return { run, error: `the app exited (${exited.signal ?? `code ${exited.code}`}) before answering; stderr: ${run.stderr().slice(-500)}`, corrupt, startMs: performance.now() - started };
    }
    if (performance.now() - started > timeoutMs) {
      await run.killGroup();
      return { run, error: `the app did not answer within ${timeoutMs} ms; stderr: ${run.stderr().slice(-500)}`, corrupt: false, startMs: performance.now() - started };
    }
    try {
      const res = await fetch(`${base}/expenses?_limit=0`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return { run, base, pid: run.child.pid, startMs: performance.now() - started };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function request(base, method, url, body) {
  const res = await fetch(base + url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** The recovered data: through the restarted app, and from the raw bytes (snapshot + journal). */
async function readBack(base, dataDir) {
  const problems = [];
  const listed = await request(base, 'GET', '/expenses');
  if (listed.status !== 200 || !Array.isArray(listed.json)) throw new Error(`GET /expenses answered ${listed.status}: ${listed.text.slice(0, 200)}`);
  const file = path.join(dataDir, DATA_FILE);
  const text = await readFile(file, 'utf8').catch((error) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)));
  const journal = await readFile(`${file}.journal`).catch((error) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)));
  const raw = stateFromBytes(text, journal, problems, 'expenses');
  const fromBytes = [...raw.records.values()].sort((a, b) => a.id - b.id);
  if (canonical(fromBytes) !== canonical(listed.json)) problems.push('GET /expenses differs from the bytes on disk');
  return { records: new Map(listed.json.map((r) => [r.id, r])), problems };
}

const cents = (rand) => Math.floor(rand() * 100_000 + 1) / 100;

/**
 * One iteration: 24 sequential writers, each on its own records (description `w<k>-…`), so each
 * has at most one request in flight when the server is SIGKILLed. After the restart, each
 * writer's records must be exactly its acknowledged state, or that state plus its one in-flight
 * change applied whole.
 */
async function httpCrashIteration({ dataDir, before, iteration, writers = 24, maxKillMs = 400, rand = Math.random, engine = 'snapshot' }) {
  const problems = [];
  const server = await startServer(dataDir, { engine });
  if (!server.base) return { corrupt: server.corrupt ? server.error : undefined, problems: server.corrupt ? problems : [...problems, `the app did not start: ${server.error}`], acknowledged: 0, lost: 0, restartMs: server.startMs, after: before };
  const seenIds = new Set(before.seenIds);
  const owned = Array.from({ length: writers }, () => new Map());
  for (const record of before.records.values()) {
    const w = /^w(\d+)-/.exec(record.description);
    if (w && Number(w[1]) < writers) owned[Number(w[1])].set(record.id, record);
    else problems.push(`record ${record.id} belongs to no writer: ${JSON.stringify(record)}`);
  }
  const inFlight = new Array(writers).fill(undefined);
  let stopping = false;
  let acknowledged = 0;
  let serverErrors = 0;

  async function writer(w) {
    const mine = owned[w];
    for (let n = 0; !stopping; n++) {
      const r = rand();
      const ids = [...mine.keys()];
      const target = ids[Math.floor(rand() * ids.length)];
      let op;
      // About 8 records per writer: the file (rewritten whole on every commit) stays the same size.
      const postShare = ids.length < 8 ? 0.45 : 0.25;
      if (ids.length < 3 || r < postShare) op = { method: 'POST', url: '/expenses', body: { description: `w${w}-i${iteration}-n${n}`, amount: cents(rand), category: CATEGORIES[n % 5] } };
      else if (r < 0.7) op = { method: 'PATCH', url: `/expenses/${target}`, id: target, body: rand() < 0.5 ? { amount: cents(rand) } : { amount: cents(rand), category: CATEGORIES[Math.floor(rand() * 5)], date: '2026-03-01' } };
      else op = { method: 'DELETE', url: `/expenses/${target}`, id: target };
      inFlight[w] = op;
      let res;
      try {
        res = await request(server.base, op.method, op.url, op.body);
      } catch {
        return; // no answer: the server is gone and `op` stays in flight
      }
      inFlight[w] = undefined;
      const expectStatus = op.method === 'POST' ? 201 : 200;
      if (res.status !== expectStatus) {
        if (res.status >= 500) serverErrors += 1;
        problems.push(`${op.method} ${op.url} answered ${res.status}: ${res.text.slice(0, 200)}`);
        return;
      }
      acknowledged += 1;
      if (op.method === 'DELETE') mine.delete(op.id);
      else mine.set(res.json.id, res.json);
      if (op.method === 'POST') {
        if (seenIds.has(res.json.id)) problems.push(`id ${res.json.id} was given out twice`);
        seenIds.add(res.json.id);
      }
    }
  }

  const writing = Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
  await new Promise((resolve) => setTimeout(resolve, 50 + Math.floor(rand() * maxKillMs)));
  stopping = true;
  await server.run.killGroup();
  await writing;

  const restarted = await startServer(dataDir, { engine });
  if (!restarted.base) return { corrupt: restarted.corrupt ? restarted.error : undefined, problems: restarted.corrupt ? problems : [...problems, `the app did not restart: ${restarted.error}`], acknowledged, lost: 0, restartMs: restarted.startMs, after: before, serverErrors };
  let recovered;
  try {
    recovered = await readBack(restarted.base, dataDir);
  } finally {
    await restarted.run.killGroup();
  }
  problems.push(...recovered.problems);

  let lost = 0;
  let landed = 0;
  const byWriter = Array.from({ length: writers }, () => new Map());
  for (const record of recovered.records.values()) {
    const w = /^w(\d+)-/.exec(record.description);
    if (w && Number(w[1]) < writers) byWriter[Number(w[1])].set(record.id, record);
    else problems.push(`recovered record ${record.id} belongs to no writer`);
  }
  for (let w = 0; w < writers; w++) {
    const acked = owned[w];
    const got = byWriter[w];
    const key = (m) => canonical([...m.values()].sort((a, b) => a.id - b.id));
    if (key(got) === key(acked)) continue;
    const op = inFlight[w];
    const withOp = new Map(acked);
    if (op?.method === 'DELETE') withOp.delete(op.id);
    else if (op?.method === 'PATCH') withOp.set(op.id, { ...acked.get(op.id), ...op.body });
    else if (op?.method === 'POST') {
      // Its id was never returned: take the recovered record with that description, if it is new.
      const created = [...got.values()].find((r) => r.description === op.body.description && !acked.has(r.id) && !seenIds.has(r.id));
      if (created) withOp.set(created.id, { id: created.id, ...op.body });
    }
    if (op && key(got) === key(withOp)) {
      landed += 1;
      continue;
    }
    for (const [id, record] of acked) {
      if (canonical(got.get(id)) !== canonical(record) && canonical(got.get(id)) !== canonical(withOp.get(id))) lost += 1;
    }
    problems.push(`writer ${w}: recovered ${key(got).slice(0, 300)} but acknowledged ${key(acked).slice(0, 300)} (in flight: ${JSON.stringify(op)})`);
  }
  for (const id of recovered.records.keys()) seenIds.add(id);
  return { corrupt: undefined, problems, acknowledged, lost, landedUnacknowledged: landed, restartMs: restarted.startMs, serverErrors, after: { records: recovered.records, seenIds } };
}

module.exports = { startServer, request, readBack, httpCrashIteration, SERVER, CATEGORIES, DATA_FILE, cents };
