import * as path from 'node:path';
import { FilekeepError } from '../errors';
import { canOpenDirectories, nodeFs, type FsSeam } from '../fs/seam';
import { runJob, runJobBeside } from '../worker/run-job';
import { bytesForWorker } from '../worker/worker-bytes';
import type { TempFile } from './replace-program';
import { tempPathFor } from './temp-files';

export interface AtomicWriteOptions {
  /**
   * File mode of the result, applied to the temp file before the rename (so umask does not apply).
   * @default the existing target's mode; for a new file, 0o666 minus the umask
   */
  mode?: number;
  /** Create missing parent directories. @default true */
  ensureDirectory?: boolean;
  /** `false`: fail with `FileExistsError` if the target exists, never replacing it. @default true */
  overwrite?: boolean;
  /**
   * `false` skips every fsync: still atomic (old or new content, never a mix), but a power loss
   * may take the new content back. For callers who knowingly trade durability for speed.
   * @default true
   */
  fsync?: boolean;
  /** The fs seam; tests inject faults here. @default node's fs */
  fs?: FsSeam;
}

/** The temp file's plan: names chosen here (per process), options resolved. */
export function tempFileFor(target: string, options: AtomicWriteOptions = {}): TempFile {
  const absolute = path.resolve(target);
  const fsync = options.fsync ?? true;
  return {
    target: absolute,
    tempPath: tempPathFor(absolute),
    backupPath: tempPathFor(absolute),
    mode: options.mode,
    ensureDirectory: options.ensureDirectory ?? true,
    overwrite: options.overwrite ?? true,
    fsync,
    syncDirectory: fsync && canOpenDirectories,
  };
}

/**
 * One atomic replacement of `target`, written in pieces: content goes to a unique temp file in
 * the same directory, which becomes the target only on `commit()`. Until then, and after
 * `abort()` or any failure, the target is untouched and the temp file is gone.
 *
 * Each step is a program from replace-program.ts, run by the fs worker (or on a test seam).
 * For a whole buffer, `writeFileAtomic` runs the entire replace as a single job instead.
 */
export class AtomicFile {
  private fd: number | undefined;

  private constructor(
    private readonly file: TempFile,
    fd: number,
    private readonly fs: FsSeam,
  ) {
    this.fd = fd;
  }

  get target(): string {
    return this.file.target;
  }

  get tempPath(): string {
    return this.file.tempPath;
  }

  static async open(target: string, options: AtomicWriteOptions = {}): Promise<AtomicFile> {
    const file = tempFileFor(target, options);
    const fs = options.fs ?? nodeFs;
    return new AtomicFile(file, await runJob(fs, 'openTemp', [file]), fs);
  }

  /** Write every byte of `chunk` (a copy goes to the worker: the caller keeps its buffer). */
  async write(chunk: Uint8Array): Promise<void> {
    const fd = this.openFd();
    // Not posted as it is: structured clone would copy the whole memory under a view (a stream's
    // chunk is usually a slice of a pooled 8-64 KiB buffer), and copy it twice.
    const posted = bytesForWorker(chunk);
    try {
      await runJob(this.fs, 'writeTemp', [this.file, fd, [posted.bytes]], posted.transfer);
    } catch (error) {
      this.fd = undefined;
      throw error;
    } finally {
      posted.release();
    }
  }

  /** fsync the temp file, rename it over the target, fsync the directory: resolves once durable. */
  async commit(): Promise<void> {
    const fd = this.openFd();
    this.fd = undefined;
    await runJob(this.fs, 'publish', [this.file, fd]);
  }

  /** Drop the temp file; the target stays as it was. Safe to call more than once. */
  async abort(): Promise<void> {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    await runJob(this.fs, 'discard', [this.file, fd]);
  }

  private openFd(): number {
    if (this.fd === undefined) throw new FilekeepError('FK_WRITE_FAILED', `The atomic write of ${this.file.target} is already finished`);
    return this.fd;
  }
}

/**
 * Replace `target` with `chunks` (written in order) durably, in one fs-worker job. `transfer`:
 * memory of the chunks the caller gives up, moved to the worker instead of copied.
 */
export function replaceFileAtomic(target: string, chunks: readonly Uint8Array[], options: AtomicWriteOptions = {}, transfer: ArrayBuffer[] = []): Promise<void> {
  return runJob(options.fs ?? nodeFs, 'replaceFile', [tempFileFor(target, options), chunks], transfer);
}

/**
 * The same replace on libuv's thread pool, beside the fs worker (see `runJobBeside`): for a
 * background snapshot, so commits queued to the worker do not wait for it. The chunks are written
 * in place, never copied.
 */
export function replaceFileAtomicBeside(target: string, chunks: readonly Uint8Array[], options: AtomicWriteOptions = {}): Promise<void> {
  return runJobBeside(options.fs ?? nodeFs, 'replaceFile', [tempFileFor(target, options), chunks]);
}
