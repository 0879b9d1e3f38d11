import * as path from 'node:path';
import { InvalidOptionError, LockedError, LockTimeoutError, WriteFailedError, type LockHolder } from '../errors';
import { errnoCode, nodeFs, type FsSeam } from '../fs/seam';
import { tempPathFor } from '../atomic/temp-files';
import { currentProcess, isAlive, type ProcessIdentity } from './process-identity';

export interface FileLockOptions {
  /** How long to wait for a live holder, in ms; 0 fails at once with `LockedError`. @default 10000 */
  timeout?: number;
  /** How often to look again while a live process holds the lock, in ms. @default 50 */
  pollInterval?: number;
  fs?: FsSeam;
}

const DEFAULTS = { timeout: 10_000, pollInterval: 50 };

/**
 * A pid lock file, like PostgreSQL's postmaster.pid: the file names its holder, and a holder that
 * is no longer alive (checked by pid and process start time) is taken over at once, so a restart
 * after kill -9 never waits for a stale timeout.
 */
export class PidLock {
  private released = false;

  private constructor(
    readonly lockPath: string,
    private readonly content: string,
    private readonly fs: FsSeam,
  ) {}

  static async acquire(lockPath: string, options: FileLockOptions = {}): Promise<PidLock> {
    const { timeout, pollInterval } = { ...DEFAULTS, ...options };
    if (!Number.isFinite(timeout) || timeout < 0) throw new InvalidOptionError('timeout', 'a finite number >= 0', timeout);
    if (!Number.isFinite(pollInterval) || pollInterval <= 0) throw new InvalidOptionError('pollInterval', 'a finite number > 0', pollInterval);
    const fs = options.fs ?? nodeFs;
    const absolute = path.resolve(lockPath);
    const me = await currentProcess();
    const content = `${JSON.stringify({ pid: me.pid, hostname: me.hostname, startTime: me.startTime })}\n`;
    const deadline = Date.now() + timeout;
    for (;;) {
      if (await tryCreate(fs, absolute, content)) return new PidLock(absolute, content, fs);
      const held = await readHolder(fs, absolute);
      if (held === 'gone') continue;
      if (held.identity === undefined || !(await isAlive(held.identity))) {
        await removeStale(fs, absolute, held.raw);
        continue;
      }
      const holder: LockHolder = { pid: held.identity.pid, hostname: held.identity.hostname };
      if (timeout === 0) throw new LockedError(absolute, holder);
      if (Date.now() >= deadline) throw new LockTimeoutError(absolute, holder, timeout);
      await sleep(Math.min(pollInterval, Math.max(1, deadline - Date.now())));
    }
  }

  /** Remove the lock file if it is still ours. Safe to call more than once. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      const current = (await this.fs.readFile(this.lockPath)).toString('utf8');
      if (current === this.content) await this.fs.unlink(this.lockPath);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
  }
}

/**
 * Run `fn` while holding a cross-process lock on `lockPath`; the lock is released however `fn` ends.
 *
 * @example
 * await withFileLock('jobs.json.lock', async () => { ...read, change, write... });
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T> | T, options: FileLockOptions = {}): Promise<T> {
  const lock = await PidLock.acquire(lockPath, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** Create the lock with its full content in one step: write a temp file, then link(2) it into place. */
async function tryCreate(fs: FsSeam, lockPath: string, content: string): Promise<boolean> {
  const temp = tempPathFor(lockPath);
  try {
    const fd = await fs.open(temp, 'wx', 0o644);
    try {
      const bytes = Buffer.from(content);
      let offset = 0;
      while (offset < bytes.length) offset += await fs.write(fd, bytes, offset, bytes.length - offset);
    } finally {
      await fs.close(fd);
    }
    try {
      await fs.link(temp, lockPath);
      return true;
    } catch (error) {
      if (errnoCode(error) === 'EEXIST') return false;
      throw error;
    }
  } catch (error) {
    throw new WriteFailedError(lockPath, error, 'create lock');
  } finally {
    await fs.unlink(temp).catch(() => undefined);
  }
}

type Held = 'gone' | { raw: string; identity: ProcessIdentity | undefined };

async function readHolder(fs: FsSeam, lockPath: string): Promise<Held> {
  let raw: string;
  try {
    raw = (await fs.readFile(lockPath)).toString('utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return 'gone';
    throw error;
  }
  return { raw, identity: parseIdentity(raw) };
}

function parseIdentity(raw: string): ProcessIdentity | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== 'object' || value === null) return undefined;
    const { pid, hostname, startTime } = value as Record<string, unknown>;
    if (typeof pid !== 'number' || typeof hostname !== 'string') return undefined;
    return { pid, hostname, startTime: typeof startTime === 'string' ? startTime : null };
  } catch {
    // Locks are created whole (link of a complete file), so unreadable content is a remnant of a
    // crash or a foreign file: treat it as stale.
    return undefined;
  }
}

/**
 * Move the stale lock aside, then check that what we moved is the stale content we judged: if a
 * racing process had already replaced it with a live lock, put that back.
 */
async function removeStale(fs: FsSeam, lockPath: string, staleRaw: string): Promise<void> {
  const aside = tempPathFor(lockPath);
  try {
    await fs.rename(lockPath, aside);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw error;
  }
  const moved = (await fs.readFile(aside)).toString('utf8');
  if (moved !== staleRaw) await fs.link(aside, lockPath).catch(() => undefined);
  await fs.unlink(aside).catch(() => undefined);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
