import { bytesForWorker } from '../worker/worker-bytes';
import { replaceFileAtomic, type AtomicWriteOptions } from './atomic-file';

export type { AtomicWriteOptions } from './atomic-file';

export interface WriteFileAtomicOptions extends AtomicWriteOptions {
  /** Encoding of string data. @default 'utf8' */
  encoding?: BufferEncoding;
}

/**
 * Replace `target` with `data` atomically and durably: a reader or a restart sees the old file or
 * the new one, never a mix, and once the promise resolves the new content survives a power loss.
 *
 * @example
 * await writeFileAtomic('settings.json', JSON.stringify(settings));
 */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const posted = bytesForWorker(data, options.encoding);
  try {
    await replaceFileAtomic(target, [posted.bytes], options, posted.transfer);
  } finally {
    posted.release();
  }
}

export interface WriteJsonAtomicOptions extends AtomicWriteOptions {
  /** Spaces of indentation; 0 for compact output. @default 2 */
  indent?: number;
}

/**
 * `JSON.stringify(value)` plus a trailing newline, written with `writeFileAtomic`.
 *
 * @example
 * await writeJsonAtomic('state.json', { runs: 3 });
 */
export async function writeJsonAtomic(target: string, value: unknown, options: WriteJsonAtomicOptions = {}): Promise<void> {
  const { indent = 2, ...rest } = options;
  const text = JSON.stringify(value, null, indent);
  if (text === undefined) throw new TypeError(`writeJsonAtomic: ${typeof value} cannot be written as JSON`);
  await writeFileAtomic(target, `${text}\n`, rest);
}
