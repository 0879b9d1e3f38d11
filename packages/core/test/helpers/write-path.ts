import * as path from 'node:path';
import type { FsCall } from '@filekeep/core';

export type WritePathTarget = 'temp' | 'dir' | 'file' | 'journal' | 'journalTemp';

/** The fs calls of one snapshot commit, in order, with the step name WriteFailedError reports. */
export const WRITE_PATH: ReadonlyArray<{ step: string; call: FsCall; on: WritePathTarget }> = [
  { step: 'open temp file', call: 'open', on: 'temp' },
  { step: 'chmod temp file', call: 'fchmod', on: 'temp' },
  { step: 'write', call: 'write', on: 'temp' },
  { step: 'fsync', call: 'fdatasync', on: 'temp' },
  { step: 'close', call: 'close', on: 'temp' },
  { step: 'open directory', call: 'open', on: 'dir' },
  { step: 'rename', call: 'rename', on: 'file' },
  { step: 'fsync directory', call: 'fsync', on: 'dir' },
];

/** The fs calls of one journal-engine commit that can fail it (compaction's calls only warn). */
export const JOURNAL_WRITE_PATH: ReadonlyArray<{ step: string; call: FsCall; on: WritePathTarget }> = [
  { step: 'append', call: 'write', on: 'journal' },
  { step: 'fdatasync', call: 'fdatasync', on: 'journal' },
];

export const FAULT_CODES = ['ENOSPC', 'EIO', 'EACCES', 'EMFILE'] as const;

/** The data file's own temp files (`.NAME.<pid>.<hex>.tmp`), not the lock's (`.NAME.lock.…`). */
export function isDataTempOf(dataFile: string): (p: string | undefined) => boolean {
  const prefix = `.${path.basename(dataFile)}.`;
  return (p) => {
    if (p === undefined || path.dirname(p) !== path.dirname(dataFile)) return false;
    const name = path.basename(p);
    return name.startsWith(prefix) && /^\d+\.[0-9a-f]+\.tmp$/.test(name.slice(prefix.length));
  };
}

/** A FaultRule `when` that matches the path one write-path call is made on. */
export function pathMatcher(on: WritePathTarget, dataFile: string): (p: string | undefined) => boolean {
  if (on === 'temp') return isDataTempOf(dataFile);
  if (on === 'journalTemp') return isDataTempOf(`${dataFile}.journal`);
  const wanted = on === 'dir' ? path.dirname(dataFile) : on === 'journal' ? `${dataFile}.journal` : dataFile;
  return (p) => p === wanted;
}
