import { replaceFileAtomic, replaceFileAtomicBeside } from '../atomic/atomic-file';
import { FilekeepError, InvalidOptionError, WriteFailedError } from '../errors';
import { errnoCode, type FsSeam } from '../fs/seam';
import { compareIds, type Id } from '../repository/ids';
import { parseSnapshot, SnapshotSerializer, type CollectionState, type Entry, type SectionRecords, type SnapshotState } from '../repository/snapshot-format';
import { emptyState, readOptionalFile, type BatchChanges, type EngineContext, type StorageEngine } from './engine';

export const journalPathOf = (file: string): string => `${file}.journal`;

/**
 * The default engine: every commit rewrites the whole document atomically (replaceFileAtomic: temp file,
 * fdatasync, rename, directory fsync). Cost per commit grows with the file.
 */
export class SnapshotEngine implements StorageEngine {
  private mode = 0o644;
  private readonly serializer = new SnapshotSerializer();

  constructor(private readonly ctx: EngineContext) {}

  async load(): Promise<SnapshotState> {
    const { fs, file } = this.ctx;
    const [data, journalSize] = await Promise.all([readOptionalFile(fs, file), fileSize(fs, journalPathOf(file))]);
    // A journal left by the journal engine holds changes this engine would silently drop.
    if (journalSize > 0) {
      throw new InvalidOptionError('engine', `'journal': ${journalPathOf(file)} holds changes the snapshot engine does not read`, 'snapshot');
    }
    this.mode = this.ctx.mode ?? data.mode ?? 0o644;
    if (data.bytes === undefined) return emptyState(this.ctx.collections);
    return parseSnapshot(file, data.bytes.toString('utf8'), this.ctx.collections, this.ctx.check);
  }

  async persist(batch: BatchChanges, durable: SnapshotState): Promise<number> {
    try {
      return await writeSnapshot(this.ctx.file, this.ctx.fs, this.mode, durable, batch, { serializer: this.serializer });
    } catch (error) {
      // The cache now holds this batch's records, which are not durable: the next commit starts over.
      this.serializer.reset();
      throw error;
    }
  }

  async close(): Promise<void> {}
}

export interface SnapshotWrite {
  /** The last journal batch the snapshot holds (journal engine), recorded in the document. */
  seq?: number;
  /** Reused across commits, so unchanged chunks of records are not encoded again. @default a new one */
  serializer?: SnapshotSerializer;
  /**
   * 'beside' (a background compaction): build the JSON in slices that let the event loop run, and
   * write on libuv's pool instead of the fs worker. @default 'worker'
   */
  where?: 'worker' | 'beside';
}

/**
 * Serialise `durable` with `batch` applied and replace `file` with it atomically. Resolves with the
 * byte length once it is durable. The records are captured before this returns its promise, so the
 * caller may change `durable` right after.
 */
export async function writeSnapshot(
  file: string,
  fs: FsSeam,
  mode: number,
  durable: SnapshotState,
  batch: BatchChanges | undefined,
  { seq, serializer = new SnapshotSerializer(), where = 'worker' }: SnapshotWrite = {},
): Promise<number> {
  const sections: Array<[string, number, SectionRecords]> = [];
  for (const [name, state] of durable.collections) {
    const changes = batch?.changes.get(name);
    // The serializer last wrote exactly the durable records (a failed write resets it): an
    // insert-only batch needs only its own records, not a merged copy of the whole collection.
    const lastId = 'lastId' in state ? state.lastId : undefined;
    const appended = serializer.canAppend(name, state.records.size, lastId === undefined ? undefined : state.records.get(lastId)) ? appendedOnly(state, changes) : undefined;
    sections.push([name, batch?.nextIds.get(name) ?? state.nextId, appended ? { appended } : mergedEntries(state, changes)]);
  }
  try {
    // Each record's JSON is cached on its entry, and unchanged chunks of records as bytes. In the
    // background the JSON is built in slices of 10 ms, between which commits go on.
    const chunks = where === 'worker' ? serializer.serialize(sections, durable.foreign, seq) : await serializer.serializeInSlices(sections, new Map(durable.foreign), seq, 10);
    await (where === 'worker' ? replaceFileAtomic : replaceFileAtomicBeside)(file, chunks, { mode, fs });
    return chunks.reduce((size, chunk) => size + chunk.byteLength, 0);
  } catch (error) {
    throw error instanceof FilekeepError ? error : new WriteFailedError(file, error, 'serialize');
  }
}

/** A batch's new records in id order if it only adds ids after the last durable one; else undefined. */
function appendedOnly(state: CollectionState, changes: Map<Id, Entry | null> | undefined): Entry[] | undefined {
  if (!changes) return [];
  const added: Entry[] = [];
  for (const [id, entry] of changes) {
    if (!entry || state.records.has(id)) return undefined;
    added.push(entry);
  }
  added.sort((a, b) => compareIds(a.record.id, b.record.id));
  const last = state.lastId;
  if (added.length > 0 && (last === undefined || compareIds(added[0]!.record.id, last) <= 0)) return undefined;
  return added;
}

/** Durable records with a batch's changes applied, in id order. */
function mergedEntries(state: CollectionState, changes: Map<Id, Entry | null> | undefined): Entry[] {
  const durable = state.records;
  if (!changes) return [...durable.values()];
  const added: Entry[] = [];
  let changesExisting = false;
  for (const [id, entry] of changes) {
    if (durable.has(id)) changesExisting = true;
    else if (entry) added.push(entry);
  }
  added.sort((a, b) => compareIds(a.record.id, b.record.id));
  // The usual batch only appends new ids after the last one: no per-record lookups needed.
  const last = state.lastId;
  if (!changesExisting && (durable.size === 0 || (last !== undefined && added.length > 0 && compareIds(added[0]!.record.id, last) > 0))) {
    const out = [...durable.values()];
    for (const entry of added) out.push(entry);
    return out;
  }
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

async function fileSize(fs: FsSeam, file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return 0;
    throw error;
  }
}
