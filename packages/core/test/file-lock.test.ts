import { readFile, writeFile } from 'node:fs/promises';
import { LockedError, LockTimeoutError, PidLock, updateJsonAtomic, withFileLock } from '@filekeep/core';
import { hostname } from 'node:os';
import { fixture, killHard, startChild } from './helpers/child';
import { useTempDir } from './helpers/temp-dir';

const tmp = useTempDir();

describe('withFileLock()', () => {
  it('runs the callback and removes the lock afterwards, also when it throws', async () => {
    const lock = tmp.file('a.lock');
    expect(await withFileLock(lock, () => 42)).toBe(42);
    await expect(withFileLock(lock, () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(await tmp.list()).toEqual([]);
  });

  it('serialises holders in one process', async () => {
    const lock = tmp.file('a.lock');
    const order: string[] = [];
    let release!: () => void;
    const first = withFileLock(lock, async () => {
      order.push('first in');
      await new Promise<void>((resolve) => (release = resolve));
      order.push('first out');
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = withFileLock(lock, () => void order.push('second'), { pollInterval: 5 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first in', 'first out', 'second']);
  });

  it('times out with LockTimeoutError naming the lock file and the live holder pid', async () => {
    const lock = tmp.file('held.lock');
    const holder = startChild(fixture('lock-holder.js'), [lock]);
    try {
      await holder.waitFor(/^locked/);
      const error = await withFileLock(lock, () => 'never', { timeout: 200, pollInterval: 20 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockTimeoutError);
      expect((error as LockTimeoutError).code).toBe('FK_LOCK_TIMEOUT');
      expect((error as LockTimeoutError).message).toContain(lock);
      expect((error as LockTimeoutError).message).toContain(`pid ${holder.child.pid}`);
      expect((error as LockTimeoutError).holder?.pid).toBe(holder.child.pid);
    } finally {
      await killHard(holder);
    }
  });

  it('takes over a lock left by a SIGKILLed process at once', async () => {
    const lock = tmp.file('stale.lock');
    const holder = startChild(fixture('lock-holder.js'), [lock]);
    await holder.waitFor(/^locked/);
    await killHard(holder);
    const started = Date.now();
    const acquired = await PidLock.acquire(lock, { timeout: 0 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(JSON.parse(await readFile(lock, 'utf8')).pid).toBe(process.pid);
    await acquired.release();
  });

  it('takes over a lock whose pid was reused by another process (start time differs)', async () => {
    const lock = tmp.file('reused.lock');
    await writeFile(lock, JSON.stringify({ pid: process.pid, hostname: hostname(), startTime: '1' }));
    const acquired = await PidLock.acquire(lock, { timeout: 0 });
    await acquired.release();
  });

  it('treats a lock held by this same process as held (LockedError with timeout 0)', async () => {
    const lock = tmp.file('mine.lock');
    const first = await PidLock.acquire(lock);
    const error = await PidLock.acquire(lock, { timeout: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockedError);
    expect((error as LockedError).message).toContain(`pid ${process.pid}`);
    await first.release();
  });

  it('rejects a negative timeout naming the option', async () => {
    await expect(PidLock.acquire(tmp.file('x.lock'), { timeout: -1 })).rejects.toThrow('Expected `timeout` to be a finite number >= 0, got -1');
  });
});

describe('updateJsonAtomic()', () => {
  it('ends at exactly 1,000 when ten processes each increment a counter 100 times', async () => {
    const file = tmp.file('counter.json');
    const children = Array.from({ length: 10 }, () => startChild(fixture('counter.js'), [file, '100']));
    const results = await Promise.all(children.map((c) => c.exited));
    // A failing child's own error says why; the exit code alone does not.
    expect(results.map((r, i) => (r.code === 0 ? 'ok' : `exit ${r.code ?? r.signal}: ${children[i]!.stderr()}`))).toEqual(children.map(() => 'ok'));
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ count: 1000 });
    expect(await tmp.list()).toEqual(['counter.json']);
  }, 120_000);

  it('starts from defaultData and returns what it wrote', async () => {
    const file = tmp.file('list.json');
    expect(await updateJsonAtomic(file, (list: string[]) => [...list, 'a'], { defaultData: [] })).toEqual(['a']);
    expect(await updateJsonAtomic(file, (list: string[]) => [...list, 'b'], { defaultData: [] })).toEqual(['a', 'b']);
  });

  it('refuses to overwrite a file that is not JSON', async () => {
    const file = tmp.file('broken.json');
    await writeFile(file, '{"count": 1');
    await expect(updateJsonAtomic(file, () => ({}), { defaultData: {} })).rejects.toMatchObject({ code: 'FK_CORRUPT_DATA' });
    expect(await readFile(file, 'utf8')).toBe('{"count": 1');
  });
});
