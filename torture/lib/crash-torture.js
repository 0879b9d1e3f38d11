'use strict';
// One crash-torture iteration: start the child on the data file, SIGKILL its process group at a
// random moment, reopen the file (timed: the restart), and check it against the child's log.
const { spawn } = require('node:child_process');
const { readdir, readFile, rm } = require('node:fs/promises');
const zlib = require('node:zlib');
const path = require('node:path');
const { FileRepository } = require('@filekeep/core');
const { COLLECTION, SCHEMA, verifyRun } = require('./crash-model');

const CHILD = path.join(__dirname, '..', 'crash-child.js');

/** Start a node script in its own process group, collecting stdout lines. */
function startGroup(args, env = {}) {
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines = [];
  let buffered = '';
  let stderr = '';
  const watchers = [];
  child.stdout.on('data', (chunk) => {
    buffered += chunk.toString('utf8');
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      lines.push(line);
      for (const w of watchers.splice(0)) if (!w(line)) watchers.push(w);
    }
  });
  child.stderr.on('data', (chunk) => (stderr += chunk.toString('utf8')));
  const closed = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    lines,
    stderr: () => stderr,
    closed,
    /** Resolves with the first line matching `pattern`; rejects if the child ends first. */
    waitFor(pattern, timeoutMs = 20_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        watchers.push((line) => {
          if (!pattern.test(line)) return false;
          clearTimeout(timer);
          resolve(line);
          return true;
        });
        closed.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`child ended (${code ?? signal}) before ${pattern}; stderr: ${stderr}`));
        });
      });
    },
    async killGroup() {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch (error) {
        if (error.code !== 'ESRCH') throw error;
      }
      return closed;
    },
  };
}

/**
 * The state on disk computed without the core: the snapshot, then (journal engine) every complete,
 * checksummed journal record with a higher seq. A damaged record followed by a good one, or a seq
 * gap, is reported as a problem; a damaged last record is the normal trace of a kill.
 */
function stateFromBytes(text, journal, problems, collection = COLLECTION) {
  const doc = text === undefined ? { seq: 0, collections: {} } : JSON.parse(text);
  const section = doc.collections[collection] ?? { nextId: 1, records: [] };
  const ids = section.records.map((r) => r.id);
  if (new Set(ids).size !== ids.length) problems.push('duplicate ids in the snapshot');
  const state = { seq: doc.seq ?? 0, nextId: section.nextId, records: new Map(section.records.map((r) => [r.id, r])), tornTail: false, staleRecords: 0 };
  if (journal === undefined) return state;
  let offset = 0;
  while (offset < journal.length) {
    const end = journal.indexOf(0x0a, offset);
    const header = /^([0-9a-f]{8}) (\d+) /.exec(journal.toString('latin1', offset, Math.min(journal.length, offset + 30)));
    const payload = header && end > 0 ? journal.subarray(offset + header[0].length, end) : undefined;
    if (!payload || payload.length !== Number(header[2]) || zlib.crc32(payload) !== parseInt(header[1], 16)) {
      if (end >= 0 && end + 1 < journal.length) problems.push(`a damaged journal record at byte ${offset} is followed by more records`);
      state.tornTail = true;
      break;
    }
    const record = JSON.parse(payload.toString('utf8'));
    offset = end + 1;
    if (record.seq <= state.seq) {
      state.staleRecords += 1; // already in the snapshot: the kill came between compaction's snapshot and the journal's replace
      continue;
    }
    if (record.seq !== state.seq + 1) problems.push(`journal seq ${record.seq} follows ${state.seq}`);
    state.seq = record.seq;
    const change = record.collections[collection];
    if (!change) continue;
    if (change.nextId !== undefined) state.nextId = change.nextId;
    for (const r of change.put ?? []) state.records.set(r.id, r);
    for (const id of change.remove ?? []) state.records.delete(id);
  }
  return state;
}

async function readOptional(file, encoding) {
  try {
    return await readFile(file, encoding);
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Open the data file as a restart would, timed; and compute the state from the raw bytes as well.
 * @returns {{ state?: {nextId:number, records:Map}, restartMs: number, corrupt: string|undefined, tornTail?: boolean, problems: string[] }}
 */
async function recover(file, engine = 'snapshot') {
  const problems = [];
  // Read the bytes before the open: the journal engine cuts a torn tail off at open.
  const text = await readOptional(file, 'utf8');
  const journal = engine === 'journal' ? await readOptional(`${file}.journal`) : undefined;
  const base = path.basename(file);
  // Our temp names: `.NAME.<pid>.<hex>.tmp`, for the snapshot and for a replaced journal (NAME.journal).
  const isTempOf = (name) => (n) => n.startsWith(`.${name}.`) && /^\d+\.[0-9a-f]+\.tmp$/.test(n.slice(name.length + 2));
  const names = await readdir(path.dirname(file));
  const leftTemp = names.some(isTempOf(base)) || names.some(isTempOf(`${base}.journal`));
  const started = performance.now();
  let repo;
  try {
    const options = engine === 'journal' ? { engine, onWarning: () => undefined } : {};
    repo = await FileRepository.open({ file, collections: { [COLLECTION]: { schema: SCHEMA } }, ...options });
  } catch (error) {
    return { restartMs: performance.now() - started, corrupt: `${error.code}: ${error.message}`, problems };
  }
  const restartMs = performance.now() - started;
  const listed = repo.collection(COLLECTION).list();
  await repo.close();
  let raw;
  try {
    raw = stateFromBytes(text, journal, problems);
  } catch (error) {
    return { restartMs, corrupt: `the files do not parse: ${error.message}`, problems };
  }
  const ids = listed.map((r) => r.id);
  if (new Set(ids).size !== ids.length) problems.push('duplicate ids after the restart');
  if (ids.some((id) => !(id < raw.nextId))) problems.push(`an id at or above nextId ${raw.nextId}`);
  const fromBytes = [...raw.records.values()].sort((a, b) => a.id - b.id);
  if (JSON.stringify(fromBytes) !== JSON.stringify(listed)) problems.push('the repository lists something else than the bytes on disk hold');
  // Mid-compaction: a snapshot's or journal's temp file left behind, or journal records the new snapshot already holds.
  const midCompaction = engine === 'journal' && (leftTemp || raw.staleRecords > 0);
  return { state: { nextId: raw.nextId, records: new Map(listed.map((r) => [r.id, r])) }, restartMs, corrupt: undefined, tornTail: raw.tornTail, midCompaction, leftTemp, problems };
}

/**
 * Run one iteration against `file`, starting from `before` (the state recovered last time).
 * @returns the verification, restartMs, corrupt, and `after` for the next iteration
 */
async function crashIteration({ file, before, writers = 24, maxKillMs = 400, rand = Math.random, engine = 'snapshot', compactAfterBytes = 32_768 }) {
  const seed = Math.floor(rand() * 2 ** 31);
  const logFile = `${file}-ops.log`;
  const run = startGroup([CHILD, file, String(writers), String(seed), logFile, engine, String(compactAfterBytes)]);
  await run.waitFor(/^open /);
  const delay = Math.floor(rand() * maxKillMs);
  await new Promise((resolve) => setTimeout(resolve, delay));
  const { code, signal } = await run.killGroup();
  const problems = [];
  if (signal !== 'SIGKILL') problems.push(`the child ended by itself (${code}) before the kill: ${run.stderr()}`);
  const recovered = await recover(file, engine);
  problems.push(...recovered.problems);
  if (recovered.corrupt) return { acknowledged: 0, issued: 0, lost: 0, landedUnacknowledged: 0, notLanded: 0, problems, corrupt: recovered.corrupt, restartMs: recovered.restartMs, after: before, seed, delay };
  // Only complete lines: the kill may tear the last one.
  const logged = (await readFile(logFile, 'utf8')).split('\n').slice(0, -1);
  await rm(logFile, { force: true });
  const verdict = verifyRun(before, logged, recovered.state);
  problems.push(...verdict.problems);
  return { ...verdict, problems, corrupt: undefined, restartMs: recovered.restartMs, tornTail: recovered.tornTail, midCompaction: recovered.midCompaction, leftTemp: recovered.leftTemp, after: recovered.state, seed, delay };
}

/** The state a fresh file starts from. */
const emptyState = () => ({ nextId: 1, records: new Map() });

module.exports = { crashIteration, recover, emptyState, startGroup, stateFromBytes };
