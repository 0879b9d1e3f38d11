import * as path from 'node:path';
import { canOpenDirectories, errnoCode, type FsSeam } from '../fs/seam';
import type { Id } from '../repository/ids';
import type { Entry, RecordCheck, SnapshotState } from '../repository/snapshot-format';

/** What one commit changes: per collection, id → new entry or `null` (removed), and new nextIds. */
export interface BatchChanges {
  changes: Map<string, Map<Id, Entry | null>>;
  nextIds: Map<string, number>;
}

export type WarningCode = 'FK_JOURNAL_TAIL_CUT' | 'FK_COMPACTION_FAILED' | 'FK_LISTENER_FAILED';

/** Something went wrong that lost nothing: a crash trace was cleaned up, a compaction must wait, or an event listener threw. */
export interface RepositoryWarning {
  code: WarningCode;
  message: string;
  /** The file concerned. */
  path: string;
  details: Record<string, unknown>;
  cause?: unknown;
}

/** A compaction finished: the snapshot holds every batch up to `seq`, the journal only later ones. */
export interface CompactionEvent {
  /** The last batch the new snapshot holds. */
  seq: number;
  /** Size of the new snapshot. */
  snapshotBytes: number;
  /** Size of the journal kept (the records committed while the snapshot was written). */
  journalBytes: number;
  /** From the commit that started it to the journal's replacement. */
  durationMs: number;
}

/** What the repository hands an engine: where the data lives and how to check a stored record. */
export interface EngineContext {
  /** `NAME.json`, absolute. */
  file: string;
  fs: FsSeam;
  /** The declared collections; others found on disk are kept verbatim. */
  collections: readonly string[];
  check: RecordCheck;
  /** The `mode` option; undefined means the existing file's mode, else 0o644. */
  mode: number | undefined;
  warn(warning: RepositoryWarning): void;
  /** A background compaction finished (journal engine). */
  compacted(event: CompactionEvent): void;
}

/**
 * How a repository's durable state reaches the disk. The repository owns the committer, the pending
 * overlays and the durable state; an engine only loads that state at open and persists one batch
 * at a time (the committer never calls `persist` again before the previous call settled, and folds
 * the batch into `durable` only after it resolved).
 */
export interface StorageEngine {
  /** Read (and, for a crash trace, repair) what is on disk. Corrupt data: CorruptDataError, files untouched. */
  load(): Promise<SnapshotState>;
  /**
   * Make `batch` durable on top of `durable`. Resolves with the bytes written; rejects with a
   * FilekeepError (WriteFailedError) when nothing of the batch may be taken as durable.
   */
  persist(batch: BatchChanges, durable: SnapshotState): Promise<number>;
  /** Release file descriptors; called once, after the last persist settled. */
  close(): Promise<void>;
}

export function emptyState(collections: readonly string[]): SnapshotState {
  return { collections: new Map(collections.map((n) => [n, { nextId: 1, records: new Map() }])), foreign: new Map(), seq: 0 };
}

/** The file's content and mode, or undefined for both when it does not exist. */
export async function readOptionalFile(fs: FsSeam, file: string): Promise<{ bytes: Buffer | undefined; mode: number | undefined }> {
  try {
    const [bytes, stat] = await Promise.all([fs.readFile(file), fs.stat(file)]);
    return { bytes, mode: stat.mode & 0o7777 };
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { bytes: undefined, mode: undefined };
    throw error;
  }
}

/** fsync the directory holding `file`, so a newly created name in it survives power loss. */
export async function fsyncDirectoryOf(fs: FsSeam, file: string): Promise<void> {
  if (!canOpenDirectories) return;
  const fd = await fs.open(path.dirname(file), 'r');
  try {
    await fs.fsync(fd);
  } finally {
    await fs.close(fd).catch(() => undefined);
  }
}
