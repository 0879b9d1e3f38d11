'use strict';
// A bounded soak: autocannon against the example app on 127.0.0.1 with a mix of creates, patches,
// reads and deletes; the app's RSS sampled every second; then SIGKILL, restart, and every
// acknowledged write checked.
const { readFile } = require('node:fs/promises');
const autocannon = require('autocannon');
const { startServer, readBack, CATEGORIES } = require('./http-torture');

async function rssKiB(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  } catch {
    return NaN;
  }
}
const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
};

/**
 * @returns {Promise<{ seconds:number, requests:number, rps:number, p99:number, status5xx:number, non2xx:number, errors:number,
 *   timeouts:number, acknowledgedWrites:number, lost:number, staleReads:number, rssWarmMiB:number, rssEndMiB:number,
 *   rssGrowth:number, records:number, problems:string[] }>}
 */
async function soak({ dataDir, seconds = 60, connections = 8, warmupSeconds = Math.min(15, Math.floor(seconds / 4)) }) {
  const problems = [];
  const server = await startServer(dataDir);
  if (!server.base) throw new Error(`the app did not start: ${server.error}`);
  const port = Number(new URL(server.base).port);

  // What the clients were told. Each cycle of five requests runs on one connection, in order.
  const records = new Map(); // id -> { amount, deleted }
  const pool = []; // ids whose cycle is over: any connection may delete one (taken out first)
  const pending = new Set(); // writes sent and not answered yet
  let acknowledgedWrites = 0;
  let staleReads = 0;
  let n = 0;
  const track = (context, op) => {
    context.op = op;
    if (op.write) pending.add(op);
  };
  const answered = (context) => {
    const op = context.op;
    context.op = undefined;
    if (op) pending.delete(op);
    return op;
  };
  const json = (body) => {
    try {
      return JSON.parse(body);
    } catch {
      return undefined;
    }
  };

  const requests = [
    {
      method: 'POST',
      path: '/expenses',
      headers: { 'content-type': 'application/json' },
      setupRequest(req, context) {
        const body = { description: `soak ${n++}`, amount: ((n % 5000) + 1) / 100, category: CATEGORIES[n % 5] };
        track(context, { write: true, kind: 'create', description: body.description });
        return { ...req, body: JSON.stringify(body) };
      },
      onResponse(status, body, context) {
        answered(context);
        const record = status === 201 ? json(body) : undefined;
        if (!record) return;
        acknowledgedWrites += 1;
        records.set(record.id, { amount: record.amount, deleted: false });
        context.id = record.id;
      },
    },
    {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      setupRequest(req, context) {
        if (context.id === undefined) return undefined; // the create failed: start over
        const amount = Math.floor(Math.random() * 100_000 + 1) / 100;
        track(context, { write: true, kind: 'patch', id: context.id, amount });
        return { ...req, path: `/expenses/${context.id}`, body: JSON.stringify({ amount }) };
      },
      onResponse(status, body, context) {
        const op = answered(context);
        if (status !== 200 || !op) return;
        acknowledgedWrites += 1;
        records.get(op.id).amount = op.amount;
      },
    },
    {
      method: 'GET',
      setupRequest(req, context) {
        track(context, { write: false, id: context.id });
        return { ...req, path: `/expenses/${context.id}` };
      },
      onResponse(status, body, context) {
        const op = answered(context);
        // Read-committed and durable-before-acknowledged: the patch answered 200, so it is visible.
        if (status === 200 && op && json(body)?.amount !== records.get(op.id)?.amount) staleReads += 1;
      },
    },
    {
      method: 'GET',
      setupRequest(req, context) {
        track(context, { write: false });
        return { ...req, path: n % 2 === 0 ? '/summary' : '/expenses?category=food&_sort=amount&_limit=20' };
      },
      onResponse(_status, _body, context) {
        answered(context);
      },
    },
    {
      method: 'DELETE',
      setupRequest(req, context) {
        // Keep about 200 records: delete one whose cycle is over once the pool is that large.
        if (pool.length > 200) {
          const id = pool.shift();
          track(context, { write: true, kind: 'delete', id, done: context.id });
          return { ...req, method: 'DELETE', path: `/expenses/${id}` };
        }
        track(context, { write: false, done: context.id });
        return { ...req, method: 'GET', path: `/expenses/${context.id}` };
      },
      onResponse(status, _body, context) {
        const op = answered(context);
        if (!op) return;
        pool.push(op.done);
        if (op.kind === 'delete' && status === 200) {
          acknowledgedWrites += 1;
          records.get(op.id).deleted = true;
        }
      },
    },
  ];

  // The app must stay up for the whole run: note it if it ends (crash, or a signal from outside).
  let ended;
  void server.run.closed.then(({ code, signal }) => {
    ended ??= `the app ended during the soak (${signal ?? `exit ${code}`}); stderr: ${server.run.stderr().slice(-500)}`;
  });
  const samples = [];
  const sampler = setInterval(() => void rssKiB(server.pid).then((kib) => samples.push({ t: samples.length + 1, kib })), 1_000);
  let result;
  try {
    result = await autocannon({ url: `http://127.0.0.1:${port}`, connections, pipelining: 1, duration: seconds, timeout: 10, requests });
  } finally {
    clearInterval(sampler);
  }
  const warm = median(samples.filter((s) => s.t > warmupSeconds && s.t <= warmupSeconds + 5).map((s) => s.kib));
  const end = median(samples.slice(-5).map((s) => s.kib));

  const endedDuringRun = ended;
  if (endedDuringRun) problems.push(endedDuringRun);
  // SIGKILL, not a graceful stop: every acknowledged write must already be on disk.
  await server.run.killGroup();
  const restarted = await startServer(dataDir);
  if (!restarted.base) throw new Error(`the app did not restart: ${restarted.error}`);
  let recovered;
  try {
    recovered = await readBack(restarted.base, dataDir);
  } finally {
    await restarted.run.killGroup();
  }
  problems.push(...recovered.problems);
  const unsure = new Set([...pending].filter((op) => op.id !== undefined).map((op) => op.id));
  const pendingCreates = [...pending].filter((op) => op.kind === 'create').map((op) => op.description);
  let lost = 0;
  for (const [id, expected] of records) {
    const got = recovered.records.get(id);
    if (unsure.has(id)) continue; // a write to it was in flight when the run stopped
    if (expected.deleted ? got !== undefined : got?.amount !== expected.amount) {
      lost += 1;
      if (lost <= 5) problems.push(`record ${id}: acknowledged ${JSON.stringify(expected)}, recovered ${JSON.stringify(got)}`);
    }
  }
  for (const [id, got] of recovered.records) {
    if (!records.has(id) && !pendingCreates.includes(got.description)) problems.push(`record ${id} was never acknowledged: ${JSON.stringify(got)}`);
  }
  return {
    seconds,
    connections,
    requests: result.requests.total,
    rps: result.requests.average,
    p99: result.latency.p99,
    status5xx: result['5xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    acknowledgedWrites,
    lost,
    staleReads,
    rssWarmMiB: warm / 1024,
    rssEndMiB: end / 1024,
    rssGrowth: (end - warm) / warm,
    appEnded: endedDuringRun,
    records: recovered.records.size,
    restartMs: restarted.startMs,
    problems,
  };
}

module.exports = { soak };
