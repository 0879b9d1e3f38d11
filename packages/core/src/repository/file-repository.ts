import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import type Ajv from 'ajv';
import type { AnySchema } from 'ajv';
import { AtomicFile } from '../atomic/atomic-file';
import { sweepTempFiles } from '../atomic/temp-files';
import { ClosedError, FilekeepError, InvalidOptionError, WriteFailedError } from '../errors';
import { errnoCode, nodeFs, type FsSeam } from '../fs/seam';
import { PidLock } from '../lock/pid-lock';
import { Collection, type CollectionStore } from './collection';
import { currentTracker } from './change-tracker';
import { Committer } from './committer';
import { compareIds, type Id } from './ids';
import { createAjv, RecordValidator } from './record-validator';
import { parseSnapshot, serializeSnapshot, type CollectionState, type Entry, type SnapshotState } from './snapshot-format';

export interface CollectionOptions {
  /** JSON Schema (ajv) of a record's data, without `id`: the same schema can check request bodies. */
  schema: AnySchema;
}

/** Collection name → record data type. An interface works too (no index signature needed). */
export type CollectionTypes<M> = { [K in keyof M]: object };

export interface RepositoryOptions<M extends CollectionTypes<M>> {
  /** The data file, e.g. `'data/app.json'`; relative to `directory` when that is given. */
  file: string;
  /** If given, `file` must stay inside it (`../` is refused). */
  directory?: string;
  collections: { [K in keyof M]: CollectionOptions };
  /** How long `open()` waits for another live process holding the file, in ms. @default 0 */
  lockTimeout?: number;
  /** Mode of a newly created data file. @default the existing file's mode, else 0o644 */
  mode?: number;
  /** Bring your own ajv instance (custom formats, keywords). @default ajv with allErrors + ajv-formats */
  ajv?: Ajv;
  fs?: FsSeam;
}

export interface CommitEvent {
  batch: { mutations: number; bytes: number };
  durationMs: number;
}

interface Batch {
  changes: Map<string, Map<Id, Entry | null>>;
  nextIds: Map<string, number>;
  mutations: number;
  bytes: number;
}

/**
 * Typed collections kept in memory and persisted to one JSON file. Every change goes through one
 * queue (group commit) and resolves only once it is fsync'd; reads see durable state only.
 *
 * @example
 * const repo = await FileRepository.open<{ expenses: Expense }>({
 *   file: 'data/expenses.json',
 *   collections: { expenses: { schema: expenseSchema } },
 * });
 * const saved = await repo.collection('expenses').insert({ description: 'Taxi', amount: 23, category: 'transport' });
 */
export class FileRepository<M extends CollectionTypes<M> = Record<string, object>> extends EventEmitter {
  private readonly committer: Committer<Batch>;
  private readonly collectionsByName = new Map<string, Collection<object>>();
  private closing: Promise<void> | undefined;

  private constructor(
    readonly file: string,
    private readonly state: SnapshotState,
    validators: Map<string, RecordValidator>,
    schemas: Map<string, AnySchema>,
    private readonly lock: PidLock,
    private readonly mode: number,
    private readonly fs: FsSeam,
  ) {
    super();
    this.committer = new Committer<Batch>(() => ({ changes: new Map(), nextIds: new Map(), mutations: 0, bytes: 0 }), {
      persist: (batch) => this.persist(batch),
      durable: (batch) => this.applyDurable(batch),
      failed: (_batches, error) => {
        if (this.listenerCount('error') > 0) this.emit('error', error);
      },
    });
    const store = this.store();
    for (const [name, validator] of validators) this.collectionsByName.set(name, new Collection(name, store, validator, schemas.get(name)!));
  }

  /**
   * Take the owner lock (`FILE.lock`), sweep stale temp files, load the data file. A file that does
   * not parse or fails its checks rejects with CorruptDataError and is never modified.
   */
  static async open<M extends CollectionTypes<M>>(options: RepositoryOptions<M>): Promise<FileRepository<M>> {
    const fs = options.fs ?? nodeFs;
    const file = resolveDataFile(options);
    const names = Object.keys(options.collections ?? {});
    if (names.length === 0) throw new InvalidOptionError('collections', 'an object with at least one collection', options.collections);
    const ajv = options.ajv ?? createAjv();
    const validators = new Map<string, RecordValidator>();
    for (const name of names) {
      const config = (options.collections as Record<string, CollectionOptions | undefined>)[name];
      if (!config || typeof config.schema !== 'object') throw new InvalidOptionError(`collections.${name}.schema`, 'a JSON Schema object', config?.schema);
      validators.set(name, new RecordValidator(ajv, name, config.schema));
    }

    await fs.mkdir(path.dirname(file));
    const lock = await PidLock.acquire(`${file}.lock`, { timeout: options.lockTimeout ?? 0, fs });
    try {
      await sweepTempFiles(path.dirname(file), path.basename(file), { fs });
      const { text, mode } = await readDataFile(fs, file);
      const state: SnapshotState =
        text === undefined
          ? { collections: new Map(names.map((n) => [n, { nextId: 1, records: new Map() }])), foreign: new Map() }
          : parseSnapshot(file, text, names, (name, record) => {
              const { id: _id, ...data } = record;
              return validators.get(name)!.problem(data);
            });
      const schemas = new Map(names.map((name) => [name, (options.collections as Record<string, CollectionOptions>)[name]!.schema]));
      return new FileRepository<M>(file, state, validators, schemas, lock, options.mode ?? mode ?? 0o644, fs);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  collection<K extends keyof M & string>(name: K): Collection<M[K]> {
    const collection = this.collectionsByName.get(name);
    if (!collection) throw new InvalidOptionError('collection name', `one of ${[...this.collectionsByName.keys()].join(', ')}`, name);
    return collection as Collection<M[K]>;
  }

  /** Resolves when every change queued before the call is durable; rejects if any of them failed. */
  flush(): Promise<void> {
    return this.committer.flush();
  }

  /** Flush, then release the lock. Later calls reject (or throw) with ClosedError. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.committer.flush();
      } finally {
        await this.lock.release();
      }
    })();
    return this.closing;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  override on(event: 'commit', listener: (event: CommitEvent) => void): this;
  override on(event: 'error', listener: (error: WriteFailedError) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  private store(): CollectionStore {
    return {
      assertOpen: () => {
        if (this.closing) throw new ClosedError(this.file);
      },
      durable: (name) => this.collectionState(name).records,
      current: (name, id) => {
        const pending = this.committer.pending();
        for (let i = pending.length - 1; i >= 0; i--) {
          const change = pending[i]!.changes.get(name)?.get(id);
          if (change !== undefined) return change ?? undefined;
        }
        return this.collectionState(name).records.get(id);
      },
      nextId: (name) => {
        const pending = this.committer.pending();
        for (let i = pending.length - 1; i >= 0; i--) {
          const next = pending[i]!.nextIds.get(name);
          if (next !== undefined) return next;
        }
        return this.collectionState(name).nextId;
      },
      stage: (name, id, entry, nextId) => {
        const { batch, done } = this.committer.join();
        let changes = batch.changes.get(name);
        if (!changes) batch.changes.set(name, (changes = new Map()));
        changes.set(id, entry);
        if (nextId !== undefined) batch.nextIds.set(name, nextId);
        batch.mutations += 1;
        currentTracker()?.record(done);
        return done;
      },
    };
  }

  private collectionState(name: string): CollectionState {
    return this.state.collections.get(name)!;
  }

  private async persist(batch: Batch): Promise<void> {
    const started = performance.now();
    const sections: Array<[string, number, Entry[]]> = [];
    for (const [name, state] of this.state.collections) {
      sections.push([name, batch.nextIds.get(name) ?? state.nextId, mergedEntries(state.records, batch.changes.get(name))]);
    }
    let bytes: Buffer;
    try {
      // Serialised once per commit; each record's JSON is cached on its entry.
      bytes = Buffer.from(serializeSnapshot(sections, this.state.foreign));
      const file = await AtomicFile.open(this.file, { mode: this.mode, fs: this.fs });
      await file.write(bytes);
      await file.commit();
    } catch (error) {
      throw error instanceof FilekeepError ? error : new WriteFailedError(this.file, error, 'serialize');
    }
    batch.bytes = bytes.length;
    if (this.listenerCount('commit') > 0) {
      this.emit('commit', { batch: { mutations: batch.mutations, bytes: bytes.length }, durationMs: performance.now() - started } satisfies CommitEvent);
    }
  }

  private applyDurable(batch: Batch): void {
    for (const [name, changes] of batch.changes) {
      const state = this.collectionState(name);
      let lastId = lastKey(state.records);
      let outOfOrder = false;
      for (const [id, entry] of changes) {
        if (entry === null) {
          state.records.delete(id);
        } else {
          if (!state.records.has(id)) {
            if (lastId !== undefined && compareIds(id, lastId) < 0) outOfOrder = true;
            lastId = id;
          }
          state.records.set(id, entry);
        }
      }
      if (outOfOrder) state.records = new Map([...state.records].sort((a, b) => compareIds(a[0], b[0])));
    }
    for (const [name, nextId] of batch.nextIds) this.collectionState(name).nextId = nextId;
  }
}

/** Durable records with a batch's changes applied, in id order. */
function mergedEntries(durable: Map<Id, Entry>, changes: Map<Id, Entry | null> | undefined): Entry[] {
  if (!changes) return [...durable.values()];
  const added: Entry[] = [];
  for (const [id, entry] of changes) if (entry && !durable.has(id)) added.push(entry);
  added.sort((a, b) => compareIds(a.record.id, b.record.id));
  const out: Entry[] = [];
  let i = 0;
  for (const [id, entry] of durable) {
    while (i < added.length && compareIds(added[i]!.record.id, id) < 0) out.push(added[i++]!);
    const change = changes.get(id);
    if (change === undefined) out.push(entry);
    else if (change !== null) out.push(change);
  }
  while (i < added.length) out.push(added[i++]!);
  return out;
}

function lastKey(map: Map<Id, Entry>): Id | undefined {
  let last: Id | undefined;
  // Maps have no O(1) last key; this runs once per collection per commit, only when it has changes.
  for (const key of map.keys()) last = key;
  return last;
}

function resolveDataFile(options: { file: string; directory?: string }): string {
  if (typeof options.file !== 'string' || options.file === '') throw new InvalidOptionError('file', 'a non-empty path', options.file);
  if (options.directory === undefined) return path.resolve(options.file);
  const directory = path.resolve(options.directory);
  const file = path.resolve(directory, options.file);
  const relative = path.relative(directory, file);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new InvalidOptionError('file', `a file name inside ${directory}`, options.file);
  }
  return file;
}

async function readDataFile(fs: FsSeam, file: string): Promise<{ text: string | undefined; mode: number | undefined }> {
  try {
    const [buffer, stat] = await Promise.all([fs.readFile(file), fs.stat(file)]);
    return { text: buffer.toString('utf8'), mode: stat.mode & 0o7777 };
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { text: undefined, mode: undefined };
    throw error;
  }
}
