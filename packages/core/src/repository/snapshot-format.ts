import { CorruptDataError } from '../errors';
import { compareIds, isValidId, type Id } from './ids';
import { deepFreeze, isPlainObject } from './json-value';

export const FORMAT = 'filekeep/1';

/**
 * A stored record and, once computed, its JSON text and its version (records are immutable, so
 * neither ever changes). Kept here rather than in WeakMaps keyed by record: a WeakMap entry per
 * stored record is an ephemeron the garbage collector revisits on every full collection.
 */
export interface Entry {
  readonly record: Readonly<Record<string, unknown>> & { readonly id: Id };
  json: string | undefined;
  version?: string | undefined;
}

/** A new entry for a (deep-frozen) record; every entry gets the same shape. */
export function newEntry(record: Entry['record']): Entry {
  return { record, json: undefined, version: undefined };
}

export interface CollectionState {
  nextId: number;
  /** Kept in id order (see `compareIds`). */
  records: Map<Id, Entry>;
  /**
   * A cache of the last id in `records` (Maps have no O(1) last key), kept by the repository.
   * Never lower than the true last id, but may be higher after a removal; absent: unknown.
   */
  lastId?: Id | undefined;
}

export interface SnapshotState {
  collections: Map<string, CollectionState>;
  /**
   * The journal sequence number of the last batch this snapshot contains (top-level `"seq"`, written
   * by the journal engine's compaction; 0 when absent). The snapshot engine reads and ignores it.
   */
  seq: number;
  /** Collections in the file that this repository does not declare: written back verbatim. */
  foreign: Map<string, string>;
}

export function entryJson(entry: Entry): string {
  return (entry.json ??= JSON.stringify(entry.record));
}

const RECORD_SEPARATOR = ',\n        ';
const SEPARATOR_BYTES = Buffer.from(RECORD_SEPARATOR);
/** Records per cached chunk: small enough that a change rebuilds little, large enough to be few. */
const CHUNK = 256;

interface CachedChunk {
  entries: Entry[];
  bytes: Uint8Array;
}

/**
 * `text` as UTF-8 in shared memory: posting it to the fs worker shares it instead of copying it.
 * Safe because a chunk's bytes are never changed once written (a changed chunk gets new bytes).
 */
function sharedBytes(text: string): Uint8Array {
  const bytes = Buffer.from(new SharedArrayBuffer(Buffer.byteLength(text)));
  bytes.write(text);
  return bytes;
}

/**
 * A collection's records for `serialize`: all of them in id order, or (when `canAppend` says the
 * cache holds exactly the rest) only those appended after the ones it serialized last.
 */
export type SectionRecords = Entry[] | { appended: Entry[] };

/**
 * The snapshot document: human-readable, one record per line in id order, so a person can read and
 * diff it. `seq` (journal engine only) goes after `"format"`; without it the output is what the
 * snapshot engine always wrote.
 *
 * Nothing unchanged is encoded again: each record's JSON is cached on its entry, and the records of
 * each collection are encoded in chunks of 256 whose bytes are reused while their entries are the
 * same objects (records are immutable). An insert at the end re-encodes one chunk. The document is
 * returned as its pieces, never joined: the chunks live in shared memory, so handing them to the
 * fs worker copies nothing, and the worker writes them in order.
 */
export class SnapshotSerializer {
  private readonly cache = new Map<string, CachedChunk[]>();

  /**
   * Whether the records of `name` serialized last are exactly `count` records ending with `last`, so
   * that the next call may pass only the records appended since. The caller vouches that the ones
   * before are the same entries (see `reset`).
   */
  canAppend(name: string, count: number, last: Entry | undefined): boolean {
    const chunks = this.cache.get(name);
    const tail = chunks?.[chunks.length - 1];
    if (!chunks || !tail) return false;
    return (chunks.length - 1) * CHUNK + tail.entries.length === count && tail.entries[tail.entries.length - 1] === last;
  }

  /** Forget every cached chunk: after a failed write they may hold records that never became durable. */
  reset(): void {
    this.cache.clear();
  }

  serialize(collections: Iterable<[string, number, SectionRecords]>, foreign: Map<string, string>, seq?: number): Uint8Array[] {
    const steps = this.build(collections, foreign, seq);
    let step = steps.next();
    while (!step.done) step = steps.next();
    return step.value;
  }

  /**
   * `serialize`, giving the event loop a turn whenever it has worked `sliceMs`: a large snapshot
   * written in the background (a compaction) does not block requests for the whole of it. The
   * records must not change meanwhile: pass Entry arrays built for this call (entries are immutable).
   */
  async serializeInSlices(collections: Iterable<[string, number, SectionRecords]>, foreign: Map<string, string>, seq: number | undefined, sliceMs: number): Promise<Uint8Array[]> {
    const steps = this.build(collections, foreign, seq);
    // The first slice waits a turn too: the caller (a commit that crossed the compaction mark)
    // answers its own batch first.
    await new Promise((resolve) => setImmediate(resolve));
    let sliceStarted = performance.now();
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
      if (performance.now() - sliceStarted >= sliceMs) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStarted = performance.now();
      }
    }
  }

  /** The serialization, yielding after each chunk of records (a point where it may pause). */
  private *build(collections: Iterable<[string, number, SectionRecords]>, foreign: Map<string, string>, seq: number | undefined): Generator<void, Uint8Array[], void> {
    const pieces: Uint8Array[] = [];
    const text = (value: string) => pieces.push(Buffer.from(value));
    const seqLine = seq === undefined ? '' : `\n  "seq": ${seq},`;
    text(`{\n  "format": "${FORMAT}",${seqLine}\n  "collections": {\n`);
    let first = true;
    for (const [name, nextId, entries] of collections) {
      text(`${first ? '' : ',\n'}    ${JSON.stringify(name)}: {\n      "nextId": ${nextId},\n      "records": `);
      first = false;
      // Appended records follow cached ones, so that form is never empty.
      if (Array.isArray(entries) && entries.length === 0) text('[]');
      else {
        text('[\n        ');
        yield* this.records(name, entries, pieces);
        text('\n      ]');
      }
      text('\n    }');
    }
    for (const [name, raw] of foreign) {
      text(`${first ? '' : ',\n'}    ${JSON.stringify(name)}: ${raw}`);
      first = false;
    }
    text('\n  }\n}\n');
    return pieces;
  }

  private *records(name: string, records: SectionRecords, pieces: Uint8Array[]): Generator<void, void, void> {
    const chunks = Array.isArray(records) ? yield* this.compared(name, records) : this.appended(name, records.appended);
    for (let i = 0; i < chunks.length; i++) {
      if (i > 0) pieces.push(SEPARATOR_BYTES);
      pieces.push(chunks[i]!.bytes);
    }
    this.cache.set(name, chunks);
  }

  /** Chunks for all `entries`: a cached chunk is reused where it holds the same entry objects. */
  private *compared(name: string, entries: Entry[]): Generator<void, CachedChunk[], void> {
    const previous = this.cache.get(name) ?? [];
    const chunks: CachedChunk[] = [];
    for (let start = 0, i = 0; start < entries.length; start += CHUNK, i++) {
      const end = Math.min(start + CHUNK, entries.length);
      const cached = previous[i];
      chunks.push(cached && sameEntries(cached.entries, entries, start, end) ? cached : chunkOf(entries.slice(start, end)));
      yield;
    }
    return chunks;
  }

  /**
   * The cached chunks plus `appended`: only the last, partly filled chunk and the new ones are
   * encoded, and nothing is compared or copied per record, so an insert-only commit does not cost
   * the size of the collection on this thread.
   */
  private appended(name: string, appended: Entry[]): CachedChunk[] {
    const chunks = this.cache.get(name)!.slice();
    if (appended.length === 0) return chunks;
    const tail = chunks[chunks.length - 1]!;
    let rest = appended;
    if (tail.entries.length < CHUNK) {
      chunks.pop();
      rest = tail.entries.concat(appended);
    }
    for (let start = 0; start < rest.length; start += CHUNK) chunks.push(chunkOf(rest.slice(start, start + CHUNK)));
    return chunks;
  }
}

function chunkOf(entries: Entry[]): CachedChunk {
  return { entries, bytes: sharedBytes(entries.map(entryJson).join(RECORD_SEPARATOR)) };
}

/** Whether `cached` holds the same entry objects as `entries[start, end)` (compared without a copy). */
function sameEntries(cached: Entry[], entries: Entry[], start: number, end: number): boolean {
  if (cached.length !== end - start) return false;
  for (let i = 0; i < cached.length; i++) if (cached[i] !== entries[start + i]) return false;
  return true;
}

export type RecordCheck = (collection: string, record: Record<string, unknown>) => string | undefined;

/** Parse and check a data file; anything wrong is a CorruptDataError naming the file and the reason. */
export function parseSnapshot(file: string, text: string, declared: readonly string[], check: RecordCheck): SnapshotState {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new CorruptDataError(file, text.trim() === '' ? 'the file is empty' : `invalid JSON (${(error as Error).message})`, error);
  }
  if (!isPlainObject(doc)) throw new CorruptDataError(file, 'the top level is not an object');
  if (doc['format'] !== FORMAT) throw new CorruptDataError(file, `unknown format ${JSON.stringify(doc['format'])} (expected "${FORMAT}")`);
  const raw = doc['collections'];
  if (!isPlainObject(raw)) throw new CorruptDataError(file, '"collections" is not an object');
  const seq = Object.hasOwn(doc, 'seq') ? doc['seq'] : 0;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new CorruptDataError(file, `"seq" is not a non-negative integer (${JSON.stringify(seq)})`);

  const state: SnapshotState = { collections: new Map(), foreign: new Map(), seq };
  for (const name of Object.keys(raw)) {
    if (!declared.includes(name)) state.foreign.set(name, JSON.stringify(raw[name]));
  }
  for (const name of declared) {
    state.collections.set(name, Object.hasOwn(raw, name) ? parseCollection(file, name, raw[name], check) : { nextId: 1, records: new Map() });
  }
  return state;
}

function parseCollection(file: string, name: string, value: unknown, check: RecordCheck): CollectionState {
  const where = `collection ${JSON.stringify(name)}`;
  if (!isPlainObject(value)) throw new CorruptDataError(file, `${where} is not an object`);
  const { nextId, records } = value;
  if (typeof nextId !== 'number' || !Number.isSafeInteger(nextId) || nextId < 1) {
    throw new CorruptDataError(file, `${where} has an invalid nextId ${JSON.stringify(nextId)}`);
  }
  if (!Array.isArray(records)) throw new CorruptDataError(file, `${where} has no records array`);
  const entries: Entry[] = [];
  const seen = new Set<Id>();
  records.forEach((record: unknown, index) => {
    const at = `${where}, record ${index}`;
    if (!isPlainObject(record)) throw new CorruptDataError(file, `${at} is not an object`);
    const id = record['id'];
    if (!Object.hasOwn(record, 'id') || !isValidId(id)) throw new CorruptDataError(file, `${at} has an invalid id ${JSON.stringify(id)}`);
    if (seen.has(id)) throw new CorruptDataError(file, `${where} has a duplicate id ${JSON.stringify(id)}`);
    if (typeof id === 'number' && id >= nextId) throw new CorruptDataError(file, `${where} has id ${id} but nextId ${nextId}`);
    seen.add(id);
    const problem = check(name, record);
    if (problem) throw new CorruptDataError(file, `${where}, record id ${JSON.stringify(id)} fails the schema: ${problem}`);
    entries.push(newEntry(deepFreeze(record) as Entry['record']));
  });
  if (!isSorted(entries)) entries.sort((a, b) => compareIds(a.record.id, b.record.id));
  return { nextId, records: new Map(entries.map((e) => [e.record.id, e])) };
}

function isSorted(entries: Entry[]): boolean {
  for (let i = 1; i < entries.length; i++) if (compareIds(entries[i - 1]!.record.id, entries[i]!.record.id) > 0) return false;
  return true;
}
