'use strict';
// One crash-torture iteration: start the child on the data file, SIGKILL its process group at a
// random moment, reopen the file (timed: the restart), and check it against the child's log.
const { spawn } = require('node:child_process');
const { readFile, rm } = require('node:fs/promises');
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
 * Open the data file as a restart would, timed; read it back raw as well.
 * @returns {{ state?: {nextId:number, records:Map}, restartMs: number, corrupt: string|undefined, problems: string[] }}
 */
async function recover(file) {
  const problems = [];
  const started = performance.now();
  let repo;
  try {
    repo = await FileRepository.open({ file, collections: { [COLLECTION]: { schema: SCHEMA } } });
  } catch (error) {
    return { restartMs: performance.now() - started, corrupt: `${error.code}: ${error.message}`, problems };
  }
  const restartMs = performance.now() - started;
  const listed = repo.collection(COLLECTION).list();
  await repo.close();
  let nextId = 1;
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  if (text !== undefined) {
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (error) {
      return { restartMs, corrupt: `the file does not parse: ${error.message}`, problems };
    }
    const section = doc.collections[COLLECTION];
    nextId = section.nextId;
    const ids = section.records.map((r) => r.id);
    if (new Set(ids).size !== ids.length) problems.push('duplicate ids in the file');
    if (ids.some((id) => !(id < nextId))) problems.push(`an id at or above nextId ${nextId}`);
    if (JSON.stringify(section.records) !== JSON.stringify(listed)) problems.push('the repository lists something else than the file holds');
  }
  return { state: { nextId, records: new Map(listed.map((r) => [r.id, r])) }, restartMs, corrupt: undefined, problems };
}

/**
 * Run one iteration against `file`, starting from `before` (the state recovered last time).
 * @returns the verification, restartMs, corrupt, and `after` for the next iteration
 */
async function crashIteration({ file, before, writers = 24, maxKillMs = 400, rand = Math.random }) {
  const seed = Math.floor(rand() * 2 ** 31);
  const logFile = `${file}-ops.log`;
  const run = startGroup([CHILD, file, String(writers), String(seed), logFile]);
  await run.waitFor(/^open /);
  const delay = Math.floor(rand() * maxKillMs);
  await new Promise((resolve) => setTimeout(resolve, delay));
  const { code, signal } = await run.killGroup();
  const problems = [];
  if (signal !== 'SIGKILL') problems.push(`the child ended by itself (${code}) before the kill: ${run.stderr()}`);
  const recovered = await recover(file);
  problems.push(...recovered.problems);
  if (recovered.corrupt) return { acknowledged: 0, issued: 0, lost: 0, landedUnacknowledged: 0, notLanded: 0, problems, corrupt: recovered.corrupt, restartMs: recovered.restartMs, after: before, seed, delay };
  // Only complete lines: the kill may tear the last one.
  const logged = (await readFile(logFile, 'utf8')).split('\n').slice(0, -1);
  await rm(logFile, { force: true });
  const verdict = verifyRun(before, logged, recovered.state);
  problems.push(...verdict.problems);
  return { ...verdict, problems, corrupt: undefined, restartMs: recovered.restartMs, after: recovered.state, seed, delay };
}

/** The state a fresh file starts from. */
const emptyState = () => ({ nextId: 1, records: new Map() });

module.exports = { crashIteration, recover, emptyState, startGroup };
