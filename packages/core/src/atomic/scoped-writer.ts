import { Writable } from 'node:stream';
import { AtomicFile, type AtomicWriteOptions } from './atomic-file';

export interface AtomicFileHandle {
  /** Append a piece of the new content (strings are UTF-8). */
  write(chunk: string | Uint8Array): Promise<void>;
  /** The temp file being written; it becomes the target only if the callback succeeds. */
  readonly tempPath: string;
}

/**
 * Build a file piece by piece; it replaces `target` only if `fn` resolves. If `fn` throws, the
 * temp file is removed, the target is untouched, and the error is rethrown.
 *
 * @example
 * await withAtomicFile('report.csv', async (out) => {
 *   for (const row of rows) await out.write(`${row.join(',')}\n`);
 * });
 */
export async function withAtomicFile<T>(
  target: string,
  fn: (out: AtomicFileHandle) => Promise<T> | T,
  options: AtomicWriteOptions = {},
): Promise<T> {
  const file = await AtomicFile.open(target, options);
  const handle: AtomicFileHandle = {
    tempPath: file.tempPath,
    write: (chunk) => file.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk),
  };
  let result: T;
  try {
    result = await fn(handle);
  } catch (error) {
    await file.abort();
    throw error;
  }
  await file.commit();
  return result;
}

/**
 * A Writable that replaces `target` when it finishes; if it is destroyed first (a failed
 * `stream.pipeline`, an abort), the temp file is removed (by the stream's 'close' event) and the target is untouched.
 *
 * @example
 * await pipeline(source, createAtomicWriteStream('dump.ndjson'));
 */
export function createAtomicWriteStream(target: string, options: AtomicWriteOptions = {}): Writable {
  let file: AtomicFile | undefined;
  let committed = false;
  return new Writable({
    construct(callback) {
      AtomicFile.open(target, options).then(
        (opened) => {
          file = opened;
          callback();
        },
        (error: Error) => callback(error),
      );
    },
    write(chunk: Buffer, _encoding, callback) {
      file!.write(chunk).then(() => callback(), callback);
    },
    final(callback) {
      file!
        .commit()
        .then(() => {
          committed = true;
          callback();
        }, callback);
    },
    destroy(error, callback) {
      if (!file || committed) return callback(error);
      file.abort().then(() => callback(error), () => callback(error));
    },
  });
}
