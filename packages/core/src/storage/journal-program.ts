import * as path from 'node:path';
import { WriteFailedError } from '../errors';
import { close, copyBytes, fchmod, fdatasync, fsync, ignoringErrors, open, rename, unlink, writeAll, type FsProgram } from '../fs/program';

/** Append one journal record and fdatasync it: one fs-worker job per commit. */
export function* appendDurably(journal: string, fd: number, bytes: Uint8Array): FsProgram<void> {
  let step = 'append';
  try {
    yield* writeAll(fd, bytes);
    step = 'fdatasync';
    yield* fdatasync(fd);
  } catch (error) {
    throw new WriteFailedError(journal, error, step);
  }
}

/** What `replaceJournal` copies where. */
export interface JournalReplace {
  journal: string;
  /** The current journal, readable (opened 'a+'); left open. */
  source: number;
  /** Bytes [from, to) of it are kept. */
  from: number;
  to: number;
  /** The new journal: an empty file just created at `tempPath` (O_APPEND, so it can take the next records); left open. */
  target: number;
  tempPath: string;
  mode: number;
  /** fsync the directory after the rename (false where directories cannot be opened). */
  syncDirectory: boolean;
}

/**
 * Replace the journal with bytes [from, to) of its current content (the records a new snapshot
 * does not hold), atomically: copied into the new file, fdatasync, rename over the journal, fsync
 * the directory. On any failure before the rename the temp file is removed and the old journal is
 * untouched (the error says which step failed). Both fds stay open: they were opened by the
 * caller's thread, which must close them (a worker thread tracks the fds it opens and closes).
 *
 * Resolves with the directory fsync's failure, if any: the new journal is then in place and holds
 * everything, but its name may not survive a crash, so the caller must not append to it before a
 * later replace (from 0) succeeds.
 */
export function* replaceJournal(job: JournalReplace): FsProgram<string | undefined> {
  const { journal, source, from, to, target } = job;
  let step = 'chmod journal';
  let dir = -1;
  try {
    // open(2) applied the umask.
    yield* fchmod(target, job.mode);
    step = 'copy journal';
    yield* copyBytes(source, target, from, to);
    step = 'fdatasync journal';
    yield* fdatasync(target);
    step = 'open directory';
    if (job.syncDirectory) dir = yield* open(path.dirname(journal), 'r');
    step = 'rename journal';
    yield* rename(job.tempPath, journal);
  } catch (error) {
    if (dir >= 0) yield* ignoringErrors(close(dir));
    yield* ignoringErrors(unlink(job.tempPath));
    throw new WriteFailedError(journal, error, step);
  }
  if (dir < 0) return undefined;
  let unsynced: string | undefined;
  try {
    yield* fsync(dir);
  } catch (error) {
    unsynced = error instanceof Error ? error.message : String(error);
  }
  yield* ignoringErrors(close(dir));
  return unsynced;
}
