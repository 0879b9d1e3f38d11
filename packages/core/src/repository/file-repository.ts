import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import type Ajv from 'ajv';
import type { AnySchema } from 'ajv';
import { sweepTempFiles } from '../atomic/temp-files';
import { ClosedError, InvalidOptionError, type WriteFailedError } from '../errors';
import { nodeFs, type FsSeam } from '../fs/seam';
import { PidLock } from '../lock/pid-lock';
import type { BatchChanges, CompactionEvent, EngineContext, RepositoryWarning, StorageEngine } from '../storage/engine';
import { JournalEngine } from '../storage/journal-engine';
import { SnapshotEngine } from '../storage/snapshot-engine';
import { Collection, type CollectionStore } from './collection';
import { currentTracker, type ChangeTracker } from './change-tracker';
import { Committer } from './committer';
import { compareIds, type Id } from './ids';
import { RecordValidator } from './record-validator';
import type { CollectionState, Entry, SnapshotState } from './snapshot-format';
import { prestartFsWorker } from '../worker/run-job';

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
  /** Bring your own ajv instance (custom formats, keywords). @default ajv with allErrors + ajv-formats, each schema object compiled once per process */
  ajv?: Ajv;
  fs?: FsSeam;
  /**
   * How commits reach the disk. `'snapshot'`: each commit rewrites `FILE` atomically (cost grows
   * with the file). `'journal'`: each commit appends one checksummed line to `FILE.journal` and
   * fdatasyncs it (cost is the size of the change); `FILE` is rewritten only by compaction.
   * A snapshot written by either engine is readable by both; the snapshot engine refuses a file
   * whose journal is not empty.
   * @default 'snapshot'
   */
  engine?: 'snapshot' | 'journal';
  /**
   * Journal engine: once the journal holds this many bytes (and `compactAfterRatio` allows), the
   * commit that crossed the mark also writes a new snapshot and empties the journal (its callers
   * resolve after that; commits queued meanwhile form the next batch). Smaller means a faster
   * open, larger means fewer rewrites.
   * @default 4 MiB (4_194_304)
   */
  compactAfterBytes?: number;
  /**
   * Journal engine: compact only once the journal also holds this multiple of the snapshot's size
   * (as read at open or written by the last compaction). At 1, rewriting the snapshot costs about
   * one byte per journal byte however large the data grows, and an open replays at most a
   * snapshot's worth of journal; 0 leaves the decision to `compactAfterBytes` alone. A compaction
   * that fails is retried once the journal has grown by the same amount again.
   * @default 1
   */
  compactAfterRatio?: number;
  /**
   * Called for problems that lose nothing: a torn last journal record cut off at open (the trace of
   * a crash, `FK_JOURNAL_TAIL_CUT`), or a compaction that failed and will be retried
   * (`FK_COMPACTION_FAILED`). An exception thrown by the handler is ignored.
   * @default process.emitWarning
   */
  onWarning?: (warning: RepositoryWarning) => void;
}

export const DEFAULT_COMPACT_AFTER_BYTES = 4 * 1024 * 1024;

export interface CommitEvent {
  batch: { mutations: number; bytes: number };
  durationMs: number;
}

interface Batch extends BatchChanges {
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
    private readonly engine: StorageEngine,
    private readonly warn: (warning: RepositoryWarning) => void,
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
    const engineName = options.engine ?? 'snapshot';
    if (engineName !== 'snapshot' && engineName !== 'journal') throw new InvalidOptionError('engine', "'snapshot' or 'journal'", engineName);
    const compactAfterBytes = options.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES;
    if (!Number.isSafeInteger(compactAfterBytes) || compactAfterBytes < 0) {
      throw new InvalidOptionError('compactAfterBytes', 'a non-negative integer', compactAfterBytes);
    }
    const compactAfterRatio = options.compactAfterRatio ?? 1;
    if (typeof compactAfterRatio !== 'number' || !Number.isFinite(compactAfterRatio) || compactAfterRatio < 0) {
      throw new InvalidOptionError('compactAfterRatio', 'a non-negative finite number', compactAfterRatio);
    }
    if (options.onWarning !== undefined && typeof options.onWarning !== 'function') throw new InvalidOptionError('onWarning', 'a function', options.onWarning);
    // Boots beside the schema compiles and the reads below, so the first commit does not wait for it.
    prestartFsWorker(fs);
    const validators = new Map<string, RecordValidator>();
    for (const name of names) {
      const config = (options.collections as Record<string, CollectionOptions | undefined>)[name];
      if (!config || typeof config.schema !== 'object') throw new InvalidOptionError(`collections.${name}.schema`, 'a JSON Schema object', config?.schema);
      validators.set(name, new RecordValidator(options.ajv, name, config.schema));
    }

    await fs.mkdir(path.dirname(file));
    let repository: FileRepository<M> | undefined;
    const lock = await PidLock.acquire(`${file}.lock`, { timeout: options.lockTimeout ?? 0, fs });
    try {
      await sweepTempFiles(path.dirname(file), path.basename(file), { fs });
      const warn = guarded(options.onWarning ?? emitWarning);
      const context: EngineContext = {
        file,
        fs,
        collections: names,
        check: (name, record) => {
          const { id: _id, ...data } = record;
          return validators.get(name)!.problem(data);
        },
        mode: options.mode,
        warn,
        // A compaction starts only from a commit, so after the repository exists.
        compacted: (event) => repository?.notify('compaction', event),
      };
      const engine = engineName === 'journal' ? new JournalEngine(context, { compactAfterBytes, compactAfterRatio }) : new SnapshotEngine(context);
      const state = await engine.load();
      const schemas = new Map(names.map((name) => [name, (options.collections as Record<string, CollectionOptions>)[name]!.schema]));
      repository = new FileRepository<M>(file, state, validators, schemas, lock, engine, warn);
      return repository;
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

  /**
   * A view of this repository whose collections record every change made through them in
   * `tracker` (see `Collection.tracked`). `@filekeep/express` gives each request one as `req.repo`.
   */
  tracked(tracker: ChangeTracker): FileRepository<M> {
    // Plain assignments on a fresh object: defining the properties with descriptors cost a busy
    // server (one view per request) noticeably more.
    const view = Object.create(this) as { -readonly [P in keyof FileRepository<M>]: FileRepository<M>[P] };
    view.tracker = tracker;
    view.collection = <K extends keyof M & string>(name: K): Collection<M[K]> => this.collection(name).tracked(tracker);
    return view as FileRepository<M>;
  }

  /** The tracker of a view made by `tracked()`; undefined on the repository itself. */
  readonly tracker: ChangeTracker | undefined;

  /** Resolves when every change queued before the call is durable; rejects if any of them failed. */
  flush(): Promise<void> {
    return this.committer.flush();
  }

  /** Flush, close the engine's files, then release the lock. Later calls reject (or throw) with ClosedError. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.committer.flush();
      } finally {
        try {
          await this.engine.close();
        } finally {
          await this.lock.release();
        }
      }
    })();
    return this.closing;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  override on(event: 'commit', listener: (event: CommitEvent) => void): this;
  /** Journal engine: a background compaction finished (the snapshot is durable, the journal replaced). */
  override on(event: 'compaction', listener: (event: CompactionEvent) => void): this;
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
    batch.bytes = await this.engine.persist(batch, this.state);
    if (this.listenerCount('commit') > 0) this.notify('commit', { batch: { mutations: batch.mutations, bytes: batch.bytes }, durationMs: performance.now() - started });
  }

  /**
   * Emit an event about work that is already durable. A listener that throws must not turn it
   * into a failure (a durable batch reported failed would leave memory behind the disk): its
   * error becomes an `FK_LISTENER_FAILED` warning.
   */
  private notify(event: 'commit', payload: CommitEvent): void;
  private notify(event: 'compaction', payload: CompactionEvent): void;
  private notify(event: string, payload: unknown): void {
    try {
      this.emit(event, payload);
    } catch (error) {
      this.warn({
        code: 'FK_LISTENER_FAILED',
        message: `A '${event}' listener of the repository of ${this.file} threw: ${error instanceof Error ? error.message : String(error)}. What it reported is durable; nothing is lost`,
        path: this.file,
        details: { event },
        cause: error,
      });
    }
  }

  private applyDurable(batch: Batch): void {
    for (const [name, changes] of batch.changes) {
      const state = this.collectionState(name);
      let lastId = 'lastId' in state ? state.lastId : lastKey(state.records);
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
      if (outOfOrder) {
        state.records = new Map([...state.records].sort((a, b) => compareIds(a[0], b[0])));
        lastId = lastKey(state.records);
      }
      // Removals may leave it higher than the real last id: a later insert below it only costs a sort.
      state.lastId = lastId;
    }
    for (const [name, nextId] of batch.nextIds) this.collectionState(name).nextId = nextId;
  }
}

function lastKey(map: Map<Id, Entry>): Id | undefined {
  let last: Id | undefined;
  // Maps have no O(1) last key; this runs once per collection, then CollectionState.lastId caches it.
  for (const key of map.keys()) last = key;
  return last;
}

function resolveDataFile(options: { file: string; directory?: string }): string {
  if (typeof options.file !== 'string' || options.file === '') throw new InvalidOptionError('file', 'a non-empty path', options.file);
  if (options.directory === undefined) return path.resolve(options.file);
  const directory = path.resolve(options.directory);
  const file = path.resolve(directory, options.file);
  const relative = path.relative(directory, file);
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw new InvalidOptionError('file', `a file name inside ${directory}`, options.file);
  }
  return file;
}

/** A warning reports something that lost nothing; a throwing handler must not turn it into a failed commit. */
function guarded(handler: (warning: RepositoryWarning) => void): (warning: RepositoryWarning) => void {
  return (warning) => {
    try {
      handler(warning);
    } catch {
      // Ignored on purpose: see above.
    }
  };
}

function emitWarning(warning: RepositoryWarning): void {
  process.emitWarning(warning.message, { type: 'FilekeepWarning', code: warning.code });
}
