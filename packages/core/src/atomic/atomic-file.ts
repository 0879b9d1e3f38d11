import * as path from 'node:path';
import { FileExistsError, FilekeepError, WriteFailedError } from '../errors';
import { canOpenDirectories, errnoCode, nodeFs, type FsSeam } from '../fs/seam';
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

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Start an operation now, await its outcome later, and never leave a rejection unhandled. */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

function unwrap<T>(settled: Settled<T>): T {
  if (!settled.ok) throw settled.error;
  return settled.value;
}

const nothing = Promise.resolve({ ok: true as const, value: undefined });

/**
 * One atomic replacement of `target`: content goes to a unique temp file in the same directory,
 * which becomes the target only on `commit()`. Until then, and after `abort()` or any failure,
 * the target is untouched and the temp file is gone.
 *
 * Steps that do not depend on each other (chmod of the temp file, opening the directory, the
 * backup link of the old target) run while the content is written: each sequential step costs
 * a trip through the thread pool and an event-loop turn, which a busy server feels.
 */
export class AtomicFile {
  private fd: number | undefined;
  private done = false;
  private cleaned: Promise<void> | undefined;

  private constructor(
    readonly target: string,
    readonly tempPath: string,
    fd: number,
    private readonly options: Required<Omit<AtomicWriteOptions, 'mode'>>,
    private readonly chmod: Promise<Settled<void>>,
    private readonly directory: Promise<Settled<number | undefined>>,
    /** A second name for the old content, so a failed directory fsync can put it back. */
    private readonly backup: Promise<Settled<string | undefined>>,
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
    const tempPath = tempPathFor(absolute);
    // The existing file's mode is looked up while the temp file is created, not before it.
    const [opened, existing] = await Promise.all([
      settle(openExclusive(fs, tempPath, options.mode, resolved.ensureDirectory)),
      options.mode === undefined && resolved.overwrite ? settle(existingMode(fs, absolute)) : nothing,
    ]);
    if (!opened.ok) throw new WriteFailedError(absolute, opened.error, 'open temp file');
    const fd = opened.value;
    const mode = options.mode ?? (existing.ok ? existing.value : undefined);
    return new AtomicFile(
      absolute,
      tempPath,
      fd,
      resolved,
      // An explicit chmod, because open(2) applies the umask to the mode.
      !existing.ok ? Promise.resolve(existing) : mode === undefined ? nothing : settle(fs.fchmod(fd, mode)),
      resolved.fsync && canOpenDirectories ? settle(fs.open(path.dirname(absolute), 'r')) : nothing,
      // Without fsync there is no directory-fsync failure to undo, so no backup.
      resolved.overwrite && resolved.fsync ? settle(linkBackup(fs, absolute)) : nothing,
    );
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

  /**
   * fsync the temp file, rename it over the target, fsync the directory. Resolves once the new
   * content is durable; closing the directory and dropping the backup name go on after that
   * (`cleanedUp()` resolves when they are done).
   */
  async commit(): Promise<void> {
    const fd = this.openFd();
    const { fs, fsync, overwrite } = this.options;
    let step = 'chmod temp file';
    let dirFd: number | undefined;
    let backup: string | undefined;
    try {
      unwrap(await this.chmod);
      step = 'fsync';
      if (fsync) await fs.fdatasync(fd);
      // Everything that can fail without touching the target is done before the rename.
      step = 'open directory';
      dirFd = unwrap(await this.directory);
      step = 'link backup';
      backup = unwrap(await this.backup);
    } catch (error) {
      await this.abort();
      throw new WriteFailedError(this.target, error, step);
    }
    this.fd = undefined;
    this.done = true;
    // The data is synced, so close and rename go together (one trip through the thread pool, not
    // two); a failed close after a rename is undone like a failed directory fsync.
    const [closed, published] = await Promise.all([
      settle(fs.close(fd)),
      settle(overwrite ? fs.rename(this.tempPath, this.target) : linkNew(fs, this.tempPath, this.target)),
    ]);
    if (!published.ok) {
      await fs.unlink(this.tempPath).catch(() => undefined);
      void this.cleanup();
      if (published.error instanceof FileExistsError) throw published.error;
      throw new WriteFailedError(this.target, published.error, overwrite ? 'rename' : 'link');
    }
    try {
      if (!closed.ok) throw new WriteFailedError(this.target, closed.error, 'close');
      if (dirFd !== undefined) {
        try {
          await fs.fsync(dirFd);
        } catch (error) {
          throw new WriteFailedError(this.target, error, 'fsync directory');
        }
      }
    } catch (error) {
      // The new file is visible but not known durable: put the old one back so the caller's
      // "failed" matches what a reader sees, then report.
      if (backup) await fs.rename(backup, this.target).catch(() => undefined);
      else await fs.unlink(this.target).catch(() => undefined);
      await this.cleanup();
      throw error;
    }
    void this.cleanup();
  }

  /** Resolves when the directory fd is closed and the backup name removed. */
  cleanedUp(): Promise<void> {
    return this.cleanup();
  }

  /** Drop the temp file; the target stays as it was. Safe to call more than once. */
  async abort(): Promise<void> {
    if (!this.done) {
      this.done = true;
      const fd = this.fd;
      this.fd = undefined;
      if (fd !== undefined) await this.options.fs.close(fd).catch(() => undefined);
      await this.options.fs.unlink(this.tempPath).catch(() => undefined);
    }
    await this.cleanup();
  }

  private openFd(): number {
    if (this.fd === undefined || this.done) throw new FilekeepError('FK_WRITE_FAILED', `The atomic write of ${this.target} is already finished`);
    return this.fd;
  }

  /** Close the directory and drop the backup name, whatever happened. */
  private cleanup(): Promise<void> {
    const { fs } = this.options;
    this.cleaned ??= Promise.all([
      this.directory.then((d) => (d.ok && d.value !== undefined ? fs.close(d.value).catch(() => undefined) : undefined)),
      this.backup.then((b) => (b.ok && b.value !== undefined ? fs.unlink(b.value).catch(() => undefined) : undefined)),
    ]).then(() => undefined);
    return this.cleaned;
  }
}

async function linkBackup(fs: FsSeam, target: string): Promise<string | undefined> {
  const backup = tempPathFor(target);
  try {
    await fs.link(target, backup);
    return backup;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined; // a new file: nothing to restore
    throw error;
  }
}

/** For `overwrite: false`: link(2) fails with EEXIST atomically, where rename would replace. */
async function linkNew(fs: FsSeam, tempPath: string, target: string): Promise<void> {
  try {
    await fs.link(tempPath, target);
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') throw new FileExistsError(target);
    throw error;
  }
  await fs.unlink(tempPath).catch(() => undefined);
}

async function existingMode(fs: FsSeam, target: string): Promise<number | undefined> {
  try {
    return (await fs.stat(target)).mode & 0o7777;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
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
