import { WriteFailedError } from '../errors';
import { fdatasync, writeAll, type FsProgram } from '../fs/program';

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
