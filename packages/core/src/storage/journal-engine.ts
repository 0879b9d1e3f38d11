import * as path from 'node:path';
import { CorruptDataError, WriteFailedError } from '../errors';
import { sweepTempFiles, tempPathFor } from '../atomic/temp-files';
import { canOpenDirectories, type FsSeam } from '../fs/seam';
import { compareIds, isValidId, type Id } from '../repository/ids';
import { deepFreeze, getOwn, isPlainObject } from '../repository/json-value';
import { newEntry, parseSnapshot, type CollectionState, type Entry, type RecordCheck, type SnapshotState } from '../repository/snapshot-format';
import { emptyState, fsyncDirectoryOf, readOptionalFile, type BatchChanges, type EngineContext, type StorageEngine } from './engine';
import { encodeRecord, scanJournal, type JournalRecord } from './journal-format';
import { journalPathOf, writeSnapshot } from './snapshot-engine';
import { forWorker, runJob } from '../worker/run-job';

export interface JournalEngineOptions {
  /** Compact once the journal holds at least this many bytes (after the commit that crossed it)... */
  compactAfterBytes: number;
  /** ...and at least this multiple of the snapshot's size (0: the byte count alone decides). */
  compactAfterRatio: number;
}

/**
 * The opt-in engine for large data: `NAME.json` (a snapshot carrying `"seq"`, the last batch it
 * holds) plus `NAME.json.journal`, where each commit appends one framed record (journal-format.ts)
 * and fdatasyncs it, so a commit costs the size of the change.
 *
 * - Commit: append every byte (looping on short writes) to a journal fd kept open, then fdatasync.
 *   The journal's directory is fsync'd once, when the file is created, never per commit.
 * - A failed append or fdatasync is never retried (fsyncgate): the journal is cut back to the last
 *   durable length and that is fdatasync'd, so the file equals the durable state, and the batch
 *   fails. Until such a repair succeeds every commit first retries the repair and fails if it
 *   cannot: nothing is ever appended after a tail of unknown content.
 * - Compaction (design rule 10) starts after the commit that took the journal past
 *   `compactAfterBytes` and past `compactAfterRatio` times the snapshot's size (so rewriting the
 *   snapshot costs about one byte per journal byte however large the data), and runs in the
 *   background: the snapshot (durable state plus that batch, carrying its seq S) is serialised at
 *   once, then written atomically on libuv's pool (temp file, fdatasync, rename, directory fsync)
 *   while commits keep appending through the fs worker. Only once the snapshot is durable, between
 *   two commits, the journal is replaced by a copy of the records after S (temp file, fdatasync,
 *   rename, directory fsync). Every step leaves a valid pair: the old snapshot with the whole
 *   journal, or the new one with records it already holds (recovery skips them), or the new one
 *   with the tail. A failed compaction only warns (`FK_COMPACTION_FAILED`) and is retried after
 *   as much journal again. If the directory fsync after the journal's rename fails, the new name
 *   may not survive a crash, so nothing is appended until a later replace succeeds.
 * - Recovery (load): the snapshot (seq S), then journal records with seq > S in order (records
 *   <= S, left by a crash between compaction's snapshot and the journal's replace, are skipped). A damaged
 *   last record is a crash trace: cut off, fdatasync'd, reported as an `FK_JOURNAL_TAIL_CUT`
 *   warning. A damaged record followed by a good one, a sequence gap or a record that fails its
 *   checks is corruption: CorruptDataError naming the journal, and no file is modified.
 */
export class JournalEngine implements StorageEngine {
  readonly journal: string;
  private fd: number | undefined;
  private mode = 0o644;
  /** Sequence number of the last durable batch. */
  private seq = 0;
  /** Length of the journal's durable, well-formed content. */
  private length = 0;
  /** Set while the journal's tail may differ from `length`: the failure that left it so. */
  private damage: { cause: unknown } | undefined;
  /** Journal bytes to gather between compactions (or attempts), from the snapshot's size. */
  private growth: number;
  /** The journal length that triggers the next compaction. */
  private compactAt: number;
  /** The journal's file operations, one at a time: commits and a compaction's journal replace. */
  private turn: Promise<unknown> = Promise.resolve();
  /** The compaction in flight, if any (never rejects: failures are warnings). */
  private compaction: Promise<void> | undefined;
  /** Set after a journal replace whose directory fsync failed: why. Cleared by a replace that syncs. */
  private unsynced: { cause: string } | undefined;

  constructor(
    private readonly ctx: EngineContext,
    private readonly options: JournalEngineOptions,
  ) {
    this.journal = journalPathOf(ctx.file);
    this.growth = this.compactAt = options.compactAfterBytes;
  }

  /** Set the growth from a snapshot of `snapshotBytes` (read at open or written by a compaction). */
  private snapshotWritten(snapshotBytes: number): void {
    this.growth = Math.max(this.options.compactAfterBytes, Math.ceil(this.options.compactAfterRatio * snapshotBytes));
    this.compactAt = this.growth;
  }

  async load(): Promise<SnapshotState> {
    const { fs, file, collections, check } = this.ctx;
    // A replace of the journal that a crash interrupted leaves its temp file.
    await sweepTempFiles(path.dirname(this.journal), path.basename(this.journal), { fs });
    const [data, journal] = await Promise.all([readOptionalFile(fs, file), readOptionalFile(fs, this.journal)]);
    this.mode = this.ctx.mode ?? data.mode ?? journal.mode ?? 0o644;
    const state = data.bytes === undefined ? emptyState(collections) : parseSnapshot(file, data.bytes.toString('utf8'), collections, check);
    this.seq = state.seq;
    this.snapshotWritten(data.bytes?.length ?? 0);
    if (journal.bytes === undefined) return state;

    // Everything is checked before anything is modified: corrupt files stay byte-identical.
    const scan = scanJournal(this.journal, journal.bytes);
    const first = scan.records[0];
    if (first && first.seq > state.seq + 1) {
      throw new CorruptDataError(this.journal, `sequence gap: the journal starts at seq ${first.seq}, but ${file} holds batches up to seq ${state.seq}`);
    }
    replay(this.journal, state, scan.records.filter((r) => r.seq > state.seq), check);
    const last = scan.records[scan.records.length - 1];
    this.seq = Math.max(state.seq, last?.seq ?? 0);
    this.length = scan.goodLength;
    // Records the snapshot already holds (a crash between compaction's snapshot and the journal's replace)
    // stay: appends continue right after them, and the next compaction drops them. Only a journal
    // that ends below the snapshot's seq (not left by filekeep) is emptied, so no gap follows.
    const behind = last !== undefined && last.seq < state.seq;

    try {
      // Readable too: a compaction copies the records it keeps from this fd.
      this.fd = await fs.open(this.journal, 'a+');
    } catch (error) {
      throw new WriteFailedError(this.journal, error, 'open journal');
    }
    if (behind) {
      try {
        // The snapshot read here may be visible but not yet durable (its writer died between the
        // rename and the directory fsync): make it durable before dropping what it replaces.
        await fsyncFile(fs, file);
        await fsyncDirectoryOf(fs, file);
      } catch (error) {
        await fs.close(this.fd).catch(() => undefined);
        this.fd = undefined;
        throw new WriteFailedError(file, error, 'fsync snapshot');
      }
      this.length = 0;
    }
    if (this.length !== journal.bytes.length) {
      try {
        await this.repair();
      } catch (error) {
        await fs.close(this.fd).catch(() => undefined);
        this.fd = undefined;
        throw error;
      }
      if (scan.torn) {
        const cut = journal.bytes.length - scan.goodLength;
        this.ctx.warn({
          code: 'FK_JOURNAL_TAIL_CUT',
          message: `${this.journal}: cut off a damaged last record (${scan.torn.reason}, ${cut} bytes at byte ${scan.torn.offset}), the trace of a crash during a commit that was never acknowledged`,
          path: this.journal,
          details: { offset: scan.torn.offset, bytes: cut, reason: scan.torn.reason, seq: this.seq },
        });
      }
    }
    return state;
  }

  persist(batch: BatchChanges, durable: SnapshotState): Promise<number> {
    return this.exclusive(() => this.append(batch, durable));
  }

  private async append(batch: BatchChanges, durable: SnapshotState): Promise<number> {
    if (this.unsynced) await this.resync();
    if (this.damage) await this.repair();
    if (this.fd === undefined) await this.create();
    const fd = this.fd!;
    const seq = this.seq + 1;
    let line: Buffer;
    try {
      line = encodeRecord(seq, batch);
    } catch (error) {
      throw new WriteFailedError(this.journal, error, 'serialize');
    }
    // The line's memory moves to the fs worker: only its length is used after this.
    const size = line.length;
    const posted = forWorker(line, true);
    try {
      await runJob(this.ctx.fs, 'appendDurably', [this.journal, fd, posted.bytes], posted.transfer);
    } catch (error) {
      // Never retry the fdatasync: the kernel may have dropped the pages it failed to write.
      this.damage = { cause: error };
      await this.repair().catch(() => undefined);
      throw error instanceof WriteFailedError ? error : new WriteFailedError(this.journal, error, 'append');
    }
    this.seq = seq;
    this.length += size;
    if (this.length >= this.compactAt && !this.compaction) this.compaction = this.compact(durable, batch);
    return size;
  }

  /** Run `task` after every journal operation queued before it. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.turn.then(task);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /**
   * Waits for a compaction in flight; repairs a damaged tail (or a journal name not yet durable) if
   * it can; rejects (after closing the fd) if the journal stays damaged.
   */
  async close(): Promise<void> {
    await this.compaction;
    return this.exclusive(() => this.closeNow());
  }

  private async closeNow(): Promise<void> {
    const fd = this.fd;
    if (fd === undefined) return;
    let failure: unknown;
    if (this.unsynced) await this.resync().catch((error: unknown) => (failure = error));
    else if (this.damage) await this.repair().catch((error: unknown) => (failure = error));
    const closing = this.fd ?? fd;
    this.fd = undefined;
    await this.ctx.fs.close(closing).catch(() => undefined);
    if (failure !== undefined) throw failure;
  }

  /** Cut the journal back to its durable length and make that durable. */
  private async repair(): Promise<void> {
    const { fs } = this.ctx;
    const fd = this.fd!;
    try {
      await fs.ftruncate(fd, this.length);
      await fs.fdatasync(fd);
    } catch (error) {
      this.damage = { cause: error };
      throw new WriteFailedError(this.journal, error, 'repair journal');
    }
    this.damage = undefined;
  }

  /** Create the journal with the data file's mode and fsync its directory, once per file. */
  private async create(): Promise<void> {
    const { fs } = this.ctx;
    let fd: number;
    try {
      fd = await fs.open(this.journal, 'a+', this.mode);
    } catch (error) {
      throw new WriteFailedError(this.journal, error, 'create journal');
    }
    let step = 'chmod journal';
    try {
      // open(2) applies the umask.
      await fs.fchmod(fd, this.mode);
      step = 'fsync directory';
      await fsyncDirectoryOf(fs, this.journal);
    } catch (error) {
      // Start over next time: a new name needs a new directory fsync, not a retried one.
      await fs.close(fd).catch(() => undefined);
      await fs.unlink(this.journal).catch(() => undefined);
      throw new WriteFailedError(this.journal, error, step);
    }
    this.fd = fd;
    this.length = 0;
  }

  /**
   * Snapshot first (rule 10), in the background, then the journal replaced by the records after
   * it. Never rejects and never fails a batch: every batch it covers is already durable.
   */
  private async compact(durable: SnapshotState, batch: BatchChanges): Promise<void> {
    const { fs, file } = this.ctx;
    const started = performance.now();
    const seq = this.seq;
    // The journal bytes up to `seq`: what the new snapshot makes redundant.
    const covered = this.length;
    // Serialised before the first await: later commits change `durable` in place.
    const writing = writeSnapshot(file, fs, this.mode, durable, batch, { seq, where: 'beside' });
    try {
      await this.finishCompaction(writing, seq, covered, started);
    } finally {
      // Only now: a second compaction must not start before this one has replaced the journal.
      this.compaction = undefined;
    }
  }

  private async finishCompaction(writing: Promise<number>, seq: number, covered: number, started: number): Promise<void> {
    const { file } = this.ctx;
    let snapshotBytes: number;
    try {
      snapshotBytes = await writing;
    } catch (error) {
      this.compactionFailed(error, seq, 'snapshot', `Could not compact ${this.journal} into ${file}`);
      return;
    }
    await this.exclusive(async () => {
      this.snapshotWritten(snapshotBytes);
      if (this.fd === undefined) return;
      try {
        await this.replaceJournal(covered);
      } catch (error) {
        // The journal keeps records the snapshot holds; recovery skips them, the next compaction drops them.
        this.compactionFailed(error, seq, 'replace journal', `Compacted ${this.journal} into ${file} (seq ${seq}) but could not drop the records it holds from the journal`);
        return;
      }
      if (this.unsynced) {
        this.ctx.warn({
          code: 'FK_COMPACTION_FAILED',
          message: `Compacted ${this.journal} into ${file} (seq ${seq}), but the directory fsync after replacing the journal failed: ${this.unsynced.cause}. Nothing is lost; the next commit replaces the journal again first`,
          path: this.journal,
          details: { step: 'fsync directory', seq },
        });
        return;
      }
      this.ctx.compacted({ seq, snapshotBytes, journalBytes: this.length, durationMs: performance.now() - started });
    });
  }

  /** Warn, and retry after as much journal again as a compaction waits for. */
  private compactionFailed(error: unknown, seq: number, step: string, what: string): void {
    // A lasting failure (a full disk) then costs a snapshot's worth of writes per snapshot's worth
    // of journal, as success does.
    this.compactAt = this.length + this.growth;
    this.ctx.warn({
      code: 'FK_COMPACTION_FAILED',
      message: `${what}: ${(error as Error).message}. Nothing is lost; retrying after ${this.growth} more journal bytes`,
      path: step === 'snapshot' ? this.ctx.file : this.journal,
      details: { step, seq },
      cause: error,
    });
  }

  /**
   * Replace the journal by its bytes from `from` to its durable length (a fresh file, which also
   * drops a damaged tail). Throws with the old journal and fd untouched; a failed directory fsync
   * afterwards sets `unsynced` instead.
   */
  private async replaceJournal(from: number): Promise<void> {
    const { fs } = this.ctx;
    const tempPath = tempPathFor(this.journal);
    let target: number;
    try {
      // Opened here, not in the fs worker: this thread keeps the fd (see replaceJournal's program).
      target = await fs.open(tempPath, 'ax+', this.mode);
    } catch (error) {
      throw new WriteFailedError(this.journal, error, 'create journal');
    }
    let unsynced: string | undefined;
    try {
      unsynced = await runJob(fs, 'replaceJournal', [
        { journal: this.journal, source: this.fd!, from, to: this.length, target, tempPath, mode: this.mode, syncDirectory: canOpenDirectories },
      ]);
    } catch (error) {
      await fs.close(target).catch(() => undefined);
      throw error;
    }
    const old = this.fd!;
    this.fd = target;
    this.length -= from;
    this.damage = undefined;
    this.unsynced = unsynced === undefined ? undefined : { cause: unsynced };
    // The old journal's last reference: nobody needs to wait while the kernel frees its blocks.
    void fs.close(old).catch(() => undefined);
  }

  /** After a failed directory fsync: a new copy of the journal under its name, synced, or a rejection. */
  private async resync(): Promise<void> {
    await this.replaceJournal(0);
    if (this.unsynced) throw new WriteFailedError(this.journal, new Error(this.unsynced.cause), 'fsync directory');
  }
}

interface ForeignCollection {
  nextId: number;
  records: Map<Id, unknown>;
}

/** Apply journal records to the loaded snapshot; anything malformed is CorruptDataError. */
function replay(journal: string, state: SnapshotState, records: JournalRecord[], check: RecordCheck): void {
  const touched = new Set<CollectionState>();
  // Collections the repository does not declare are kept, changes included (as the snapshot keeps them).
  const foreign = new Map<string, ForeignCollection>();
  for (const { seq, collections } of records) {
    for (const name of Object.keys(collections)) {
      const where = `the record with seq ${seq}, collection ${JSON.stringify(name)}`;
      const corrupt = (what: string) => new CorruptDataError(journal, `${where}: ${what}`);
      const change = getOwn(collections, name);
      if (!isPlainObject(change)) throw corrupt('not an object');
      const nextId = getOwn(change, 'nextId');
      const put = getOwn(change, 'put') ?? [];
      const remove = getOwn(change, 'remove') ?? [];
      if (!Array.isArray(put) || !Array.isArray(remove)) throw corrupt('"put" and "remove" must be arrays');
      const declared = state.collections.get(name);
      const target: CollectionState | ForeignCollection = declared ?? foreignCollection(journal, state, foreign, name);
      if (nextId !== undefined) {
        if (typeof nextId !== 'number' || !Number.isSafeInteger(nextId) || nextId < target.nextId) throw corrupt(`invalid nextId ${JSON.stringify(nextId)}`);
        target.nextId = nextId;
      }
      for (const record of put as unknown[]) {
        if (!isPlainObject(record)) throw corrupt('a record is not an object');
        const id = getOwn(record, 'id');
        if (!Object.hasOwn(record, 'id') || !isValidId(id)) throw corrupt(`a record has an invalid id ${JSON.stringify(id)}`);
        if (typeof id === 'number' && id >= target.nextId) throw corrupt(`record id ${id} is not below nextId ${target.nextId}`);
        if (declared) {
          const problem = check(name, record);
          if (problem) throw corrupt(`record id ${JSON.stringify(id)} fails the schema: ${problem}`);
          declared.records.set(id, newEntry(deepFreeze(record) as Entry['record']));
        } else {
          (target as ForeignCollection).records.set(id, record);
        }
      }
      for (const id of remove as unknown[]) {
        if (!isValidId(id)) throw corrupt(`an invalid removed id ${JSON.stringify(id)}`);
        target.records.delete(id);
      }
      if (declared) touched.add(declared);
    }
  }
  for (const collection of touched) {
    if (!idsSorted(collection.records.keys())) collection.records = new Map([...collection.records].sort((a, b) => compareIds(a[0], b[0])));
  }
  for (const [name, { nextId, records }] of foreign) {
    const sorted = [...records].sort((a, b) => compareIds(a[0], b[0])).map(([, record]) => record);
    state.foreign.set(name, JSON.stringify({ nextId, records: sorted }));
  }
}

function foreignCollection(journal: string, state: SnapshotState, foreign: Map<string, ForeignCollection>, name: string): ForeignCollection {
  let collection = foreign.get(name);
  if (collection) return collection;
  collection = { nextId: 1, records: new Map() };
  const raw = state.foreign.get(name);
  if (raw !== undefined) {
    const parsed: unknown = JSON.parse(raw);
    const nextId = isPlainObject(parsed) ? getOwn(parsed, 'nextId') : undefined;
    const records = isPlainObject(parsed) ? getOwn(parsed, 'records') : undefined;
    if (typeof nextId !== 'number' || !Array.isArray(records)) {
      throw new CorruptDataError(journal, `it changes collection ${JSON.stringify(name)}, which the snapshot holds in an unknown shape`);
    }
    collection.nextId = nextId;
    for (const record of records as unknown[]) {
      const id = isPlainObject(record) ? getOwn(record, 'id') : undefined;
      if (!isValidId(id)) throw new CorruptDataError(journal, `it changes collection ${JSON.stringify(name)}, whose snapshot has a record with an invalid id`);
      collection.records.set(id, record);
    }
  }
  foreign.set(name, collection);
  return collection;
}

async function fsyncFile(fs: FsSeam, file: string): Promise<void> {
  const fd = await fs.open(file, 'r');
  try {
    await fs.fsync(fd);
  } finally {
    await fs.close(fd).catch(() => undefined);
  }
}

function idsSorted(ids: Iterable<Id>): boolean {
  let previous: Id | undefined;
  for (const id of ids) {
    if (previous !== undefined && compareIds(previous, id) > 0) return false;
    previous = id;
  }
  return true;
}
