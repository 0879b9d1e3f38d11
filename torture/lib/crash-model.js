'use strict';
// What a crash-torture run may recover, and the check that it recovered exactly that.
//
// "Every acknowledged change is present exactly" made precise. The child logs each operation just
// before the call that stages it (`I`), so the log order is the order of the write queue. The
// committer writes that queue as consecutive batches, each one atomic, in order. So whatever a
// SIGKILL interrupts, the file must hold the result of replaying the first p logged operations on
// the state the run started from, for some p that covers every acknowledged one (`A`). Operations
// after the last acknowledged one were in flight: each may or may not have landed, but only as part
// of a whole prefix. Replaying the prefix (not checking records one by one) is what rules out a
// half-applied batch, a change applied out of order, a lost removal, a resurrected record, a
// reused id or a nextId that went backwards. The replay also checks what the child was told: the
// record (and id) each `A` returned, and that each `F` was a legitimate FK_NOT_FOUND.

const COLLECTION = 'items';
const SCHEMA = {
  type: 'object',
  properties: {
    w: { type: 'integer', minimum: 0 },
    n: { type: 'integer', minimum: 0 },
    v: { type: 'string' },
    amount: { type: 'number', exclusiveMinimum: 0 },
    note: { type: 'string' },
    pad: { type: 'string' },
  },
  required: ['w', 'n', 'v', 'amount', 'pad'],
  additionalProperties: false,
};

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7396 merge patch, independent of the core's implementation. */
function mergePatch(target, patch) {
  if (!isObject(patch)) return patch;
  const out = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** JSON with sorted keys: two records are the same data whatever their key order. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isObject(value)) return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  return JSON.stringify(value);
}

/** `{ nextId, records: Map<id, record> }` */
const cloneState = (s) => ({ nextId: s.nextId, records: new Map(s.records) });
const stateKey = (s) => `${s.nextId}|${[...s.records.keys()].sort((a, b) => a - b).map((id) => canonical(s.records.get(id))).join('\n')}`;

/** Apply one logged operation to the model, as the repository would; returns what it must answer. */
function apply(state, op) {
  if (op.t === 'insert') {
    const record = { id: state.nextId++, ...op.data };
    state.records.set(record.id, record);
    return { ok: true, result: record };
  }
  const current = state.records.get(op.id);
  if (!current) return { ok: false, code: 'FK_NOT_FOUND' };
  if (op.t === 'remove') {
    state.records.delete(op.id);
    return { ok: true, result: current };
  }
  const { id: _id, ...data } = current;
  const record = { id: op.id, ...(op.t === 'update' ? mergePatch(data, op.patch) : op.data) };
  state.records.set(op.id, record);
  return { ok: true, result: record };
}

/** Parse the child's stdout lines. */
function parseLog(lines) {
  const issued = [];
  const outcome = new Map();
  for (const line of lines) {
    const space = line.indexOf(' ');
    const tag = line.slice(0, space);
    if (tag !== 'I' && tag !== 'A' && tag !== 'F') continue;
    const rest = line.slice(space + 1);
    const space2 = rest.indexOf(' ');
    const n = Number(rest.slice(0, space2));
    const payload = rest.slice(space2 + 1);
    if (tag === 'I') issued.push({ n, op: JSON.parse(payload) });
    else outcome.set(n, tag === 'A' ? { ok: true, result: JSON.parse(payload) } : { ok: false, code: payload });
  }
  return { issued, outcome };
}

/**
 * Check a recovered state against the log of the run that produced it.
 * @returns {{ acknowledged: number, landedUnacknowledged: number, notLanded: number, lost: number, problems: string[] }}
 */
function verifyRun(before, lines, after) {
  const { issued, outcome } = parseLog(lines);
  const problems = [];
  let lastAcked = -1;
  issued.forEach(({ n }, i) => {
    if (outcome.get(n)?.ok) lastAcked = i;
  });
  const target = stateKey(after);
  const state = cloneState(before);
  const candidates = [];
  let matched = -1;
  let staged = 0;
  const stagedBefore = []; // staged ops among the first i
  for (let i = 0; i <= issued.length; i++) {
    stagedBefore.push(staged);
    if (i > lastAcked) {
      candidates.push(cloneState(state));
      if (matched < 0 && stateKey(state) === target) matched = i;
    }
    if (i === issued.length) break;
    const { n, op } = issued[i];
    const expected = apply(state, op);
    if (expected.ok) staged += 1;
    const actual = outcome.get(n);
    if (!actual) continue;
    if (actual.ok !== expected.ok) problems.push(`op ${n} ${JSON.stringify(op)}: the child got ${actual.ok ? 'success' : actual.code}, the replay says ${expected.ok ? 'success' : expected.code}`);
    else if (actual.ok && canonical(actual.result) !== canonical(expected.result)) problems.push(`op ${n}: acknowledged ${canonical(actual.result)}, the replay says ${canonical(expected.result)}`);
    else if (!actual.ok && actual.code !== expected.code) problems.push(`op ${n}: failed with ${actual.code}`);
  }
  const acknowledged = [...outcome.values()].filter((o) => o.ok).length;
  let lost = 0;
  if (matched < 0) {
    // No prefix explains the file. Count, per record an acknowledged change touched, whether the
    // recovered value is one that some admissible prefix would give; anything else is lost.
    const touched = new Set();
    for (const { n, op } of issued) {
      const o = outcome.get(n);
      if (o?.ok) touched.add(op.t === 'insert' ? o.result.id : op.id);
    }
    for (const id of touched) {
      const got = after.records.has(id) ? canonical(after.records.get(id)) : 'absent';
      const admissible = new Set(candidates.map((c) => (c.records.has(id) ? canonical(c.records.get(id)) : 'absent')));
      if (!admissible.has(got)) {
        lost += 1;
        if (lost <= 5) problems.push(`record ${id}: recovered ${got.slice(0, 200)}, admissible: ${[...admissible].map((a) => a.slice(0, 200)).join(' | ')}`);
      }
    }
    const last = candidates[candidates.length - 1];
    for (const id of after.records.keys()) {
      if (!candidates.some((c) => c.records.has(id))) problems.push(`record ${id} is in the file but no admissible prefix has it`);
    }
    problems.push(`no prefix of the ${issued.length} logged operations (from ${lastAcked + 1} on) gives the recovered state (nextId ${after.nextId}, ${after.records.size} records; the full replay has nextId ${last?.nextId}, ${last?.records.size} records)`);
  }
  return {
    issued: issued.length,
    acknowledged,
    landedUnacknowledged: matched < 0 ? 0 : stagedBefore[matched] - [...issued.slice(0, matched)].filter(({ n }) => outcome.get(n)?.ok).length,
    notLanded: matched < 0 ? 0 : staged - stagedBefore[matched],
    matchedPrefix: matched,
    lost,
    problems,
  };
}

module.exports = { COLLECTION, SCHEMA, mulberry32, mergePatch, canonical, verifyRun, parseLog, apply, cloneState };
