import * as path from 'node:path';
import { FileExistsError, FilekeepError, WriteFailedError } from '../errors';
import { errnoCode, nodeFs, type FsSeam } from '../fs/seam';
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

const canOpenDirectories = process.platform !== 'win32';

/**
 * One atomic replacement of `target`: content goes to a unique temp file in the same directory,
 * which becomes the target only on `commit()`. Until then, and after `abort()` or any failure,
 * the target is untouched and the temp file is gone.
 */
export class AtomicFile {
  private fd: number | undefined;
  private done = false;

  private constructor(
    readonly target: string,
    readonly tempPath: string,
    fd: number,
    private readonly options: Required<Omit<AtomicWriteOptions, 'mode'>>,
  ) {
    this.fd = fd;
  }

  static async open(target: string, options: AtomicWriteOptions = {}): Promise<AtomicFile> {
    const resolved = {
      ensureDirectory: options.ensureDirectory ?? true,
      overwrite: options.overwrite ?? true,
      fsync: options.fsync ?? true,
      fs: options.fs ?? nodeFs,
    };
    const fs = resolved.fs;
    const absolute = path.resolve(target);
    let mode = options.mode;
    if (mode === undefined && resolved.overwrite) mode = await existingMode(fs, absolute);
    const tempPath = tempPathFor(absolute);
    let fd: number;
    try {
      fd = await openExclusive(fs, tempPath, mode, resolved.ensureDirectory);
    } catch (error) {
      throw new WriteFailedError(absolute, error, 'open temp file');
    }
    const file = new AtomicFile(absolute, tempPath, fd, resolved);
    if (mode !== undefined) {
      try {
        await fs.fchmod(fd, mode);
      } catch (error) {
        await file.abort();
        throw new WriteFailedError(absolute, error, 'chmod temp file');
      }
    }
    return file;
  }

  /** Write every byte of `chunk`, looping on short writes. */
  async write(chunk: Uint8Array): Promise<void> {
    const fd = this.openFd();
    let offset = 0;
    try {
      while (offset < chunk.byteLength) {
        const written = await this.options.fs.write(fd, chunk, offset, chunk.byteLength - offset);
        if (written <= 0) throw new Error(`write returned ${written}`);
        offset += written;
      }
    } catch (error) {
      await this.abort();
      throw new WriteFailedError(this.target, error, 'write');
    }
  }

  /** fsync the temp file, rename it over the target, fsync the directory. */
  async commit(): Promise<void> {
    const fd = this.openFd();
    const { fs, fsync, overwrite } = this.options;
    let step = 'fsync';
    let dirFd: number | undefined;
    try {
      if (fsync) await fs.fdatasync(fd);
      step = 'close';
      this.fd = undefined;
      await fs.close(fd);
      // Open the directory before touching the target, so a failure here changes nothing.
      step = 'open directory';
      if (fsync && canOpenDirectories) dirFd = await fs.open(path.dirname(this.target), 'r');
    } catch (error) {
      await this.abort();
      throw new WriteFailedError(this.target, error, step);
    }
    try {
      const undo = overwrite ? await this.replaceTarget() : await this.linkNewTarget();
      if (dirFd !== undefined) {
        try {
          await fs.fsync(dirFd);
        } catch (error) {
          // The rename is visible but not durable: put the old file back so the caller's
          // "failed" matches what a reader sees, then report.
          await undo.rollback();
          throw new WriteFailedError(this.target, error, 'fsync directory');
        }
      }
      await undo.release();
    } finally {
      this.done = true;
      if (dirFd !== undefined) await fs.close(dirFd).catch(() => undefined);
    }
  }

  /** Drop the temp file; the target stays as it was. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await this.options.fs.close(fd).catch(() => undefined);
    await this.options.fs.unlink(this.tempPath).catch(() => undefined);
  }

  private openFd(): number {
    if (this.fd === undefined || this.done) throw new FilekeepError('FK_WRITE_FAILED', `The atomic write of ${this.target} is already finished`);
    return this.fd;
  }

  private async replaceTarget(): Promise<Undo> {
    const { fs, fsync } = this.options;
    // A second name for the old content lets a failed directory fsync restore it. Without fsync
    // there is no such failure to undo, so skip the extra link.
    let backup: string | undefined;
    if (fsync) {
      backup = tempPathFor(this.target);
      try {
        await fs.link(this.target, backup);
      } catch (error) {
        if (errnoCode(error) !== 'ENOENT') {
          await this.abort();
          throw new WriteFailedError(this.target, error, 'link backup');
        }
        backup = undefined;
      }
    }
    try {
      await fs.rename(this.tempPath, this.target);
    } catch (error) {
      if (backup) await fs.unlink(backup).catch(() => undefined);
      await this.abort();
      throw new WriteFailedError(this.target, error, 'rename');
    }
    const target = this.target;
    return {
      rollback: async () => {
        if (backup) await fs.rename(backup, target).catch(() => undefined);
        else await fs.unlink(target).catch(() => undefined);
      },
      release: async () => {
        if (backup) await fs.unlink(backup).catch(() => undefined);
      },
    };
  }

  private async linkNewTarget(): Promise<Undo> {
    const { fs } = this.options;
    try {
      // link(2) fails with EEXIST atomically, where rename would replace.
      await fs.link(this.tempPath, this.target);
    } catch (error) {
      await this.abort();
      if (errnoCode(error) === 'EEXIST') throw new FileExistsError(this.target);
      throw new WriteFailedError(this.target, error, 'link');
    }
    await fs.unlink(this.tempPath).catch(() => undefined);
    const target = this.target;
    return {
      rollback: async () => void (await fs.unlink(target).catch(() => undefined)),
      release: async () => undefined,
    };
  }
}

interface Undo {
  rollback(): Promise<void>;
  release(): Promise<void>;
}

async function existingMode(fs: FsSeam, target: string): Promise<number | undefined> {
  try {
    return (await fs.stat(target)).mode & 0o7777;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw new WriteFailedError(target, error, 'stat');
  }
}

async function openExclusive(fs: FsSeam, tempPath: string, mode: number | undefined, ensureDirectory: boolean): Promise<number> {
  try {
    return await fs.open(tempPath, 'wx', mode ?? 0o666);
  } catch (error) {
    // Only create directories when the first open shows they are missing: no mkdir per write.
    if (errnoCode(error) !== 'ENOENT' || !ensureDirectory) throw error;
    await fs.mkdir(path.dirname(tempPath));
    return fs.open(tempPath, 'wx', mode ?? 0o666);
  }
}
