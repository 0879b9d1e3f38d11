import { CorruptDataError } from '../errors';
import { errnoCode, nodeFs, type FsSeam } from '../fs/seam';
import { withFileLock } from '../lock/pid-lock';
import { writeJsonAtomic } from './write-file-atomic';

export interface UpdateJsonAtomicOptions<T> {
  /** The value `fn` receives when the file does not exist yet. */
  defaultData?: T;
  /** How long to wait for another process holding the lock, in ms. @default 10000 */
  lockTimeout?: number;
  /** @default 2 */
  indent?: number;
  fs?: FsSeam;
}

/**
 * Multi-process-safe read-modify-write of a JSON file: take the `PATH.lock` pid lock, read the file
 * (or `defaultData`), apply `fn`, write the result atomically and durably, release the lock.
 * Resolves with the value written.
 *
 * @example
 * await updateJsonAtomic('counter.json', (n) => n + 1, { defaultData: 0 });
 */
export async function updateJsonAtomic<T>(
  file: string,
  fn: (current: T) => T | Promise<T>,
  options: UpdateJsonAtomicOptions<T> = {},
): Promise<T> {
  const fs = options.fs ?? nodeFs;
  return withFileLock(
    `${file}.lock`,
    async () => {
      const current = await readJson<T>(fs, file, options);
      const next = await fn(current);
      await writeJsonAtomic(file, next, { indent: options.indent ?? 2, fs });
      return next;
    },
    { timeout: options.lockTimeout ?? 10_000, fs },
  );
}

async function readJson<T>(fs: FsSeam, file: string, options: UpdateJsonAtomicOptions<T>): Promise<T> {
  let text: string;
  try {
    text = (await fs.readFile(file)).toString('utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' && 'defaultData' in options) return structuredClone(options.defaultData as T);
    throw error;
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new CorruptDataError(file, `invalid JSON (${(error as Error).message})`, error);
  }
}
