import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { FaultyFs, FileExistsError, FileRepository, WriteFailedError, writeFileAtomic } from '@filekeep/core';
import { looseSchema } from './helpers/expense-schema';
import { useTempDir } from './helpers/temp-dir';

// With node's own fs, durable writes run in filekeep's fs worker thread; with any other seam the
// same fs programs run call by call in this thread. These tests pin down that the two agree.
const tmp = useTempDir();

const describeError = (error: unknown) => {
  const e = error as WriteFailedError;
  return { class: e.constructor.name, code: e.code, step: e.details?.['step'], message: e.message.replace(/\.[0-9a-f]+\.tmp/, '.<n>.tmp'), cause: (e.cause as NodeJS.ErrnoException | undefined)?.code };
};

/** Module instances of their own, with no fs worker yet: in this file's, earlier tests started it. */
function freshModules(): {
  runJob: typeof import('../src/worker/run-job');
  repository: typeof import('../src/repository/file-repository');
  write: typeof import('../src/atomic/write-file-atomic');
} {
  let modules!: ReturnType<typeof freshModules>;
  jest.isolateModules(() => {
    modules = { runJob: require('../src/worker/run-job'), repository: require('../src/repository/file-repository'), write: require('../src/atomic/write-file-atomic') };
  });
  return modules;
}

describe('the fs worker', () => {
  it('reports a failed write with the same class, code, step, message and errno as the in-thread run', async () => {
    const target = tmp.file('missing/data.json');
    const inWorker = await writeFileAtomic(target, 'x', { ensureDirectory: false }).catch((e: unknown) => e);
    const inThread = await writeFileAtomic(target, 'x', { ensureDirectory: false, fs: new FaultyFs() }).catch((e: unknown) => e);
    expect(inWorker).toBeInstanceOf(WriteFailedError);
    expect(describeError(inWorker)).toEqual({ class: 'WriteFailedError', code: 'FK_WRITE_FAILED', step: 'open temp file', message: expect.stringContaining('ENOENT'), cause: 'ENOENT' });
    expect(describeError(inWorker)).toEqual(describeError(inThread));
  });

  it('reports an existing target with overwrite: false as FileExistsError from the worker', async () => {
    const target = tmp.file('once.json');
    await writeFile(target, 'first');
    const error = await writeFileAtomic(target, 'second', { overwrite: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileExistsError);
    expect(await readFile(target, 'utf8')).toBe('first');
    expect(await tmp.list()).toEqual(['once.json']);
  });

  it("leaves the caller's buffer intact (it is copied to the worker, not moved)", async () => {
    const bytes = Buffer.from('x'.repeat(64 * 1024));
    const copy = Buffer.from(bytes);
    await writeFileAtomic(tmp.file('big.bin'), bytes);
    expect(bytes.equals(copy)).toBe(true);
    expect((await readFile(tmp.file('big.bin'))).equals(copy)).toBe(true);
  });

  it('writes exactly the bytes of a view into a larger buffer, and of a small pooled Buffer', async () => {
    const large = Buffer.from('a'.repeat(1000) + 'MIDDLE' + 'b'.repeat(1000));
    await writeFileAtomic(tmp.file('view.txt'), large.subarray(1000, 1006));
    await writeFileAtomic(tmp.file('pooled.txt'), Buffer.from('small'));
    expect(await readFile(tmp.file('view.txt'), 'utf8')).toBe('MIDDLE');
    expect(await readFile(tmp.file('pooled.txt'), 'utf8')).toBe('small');
    expect(large.length).toBe(2006);
  });

  it('keeps a script alive until its write is durable, and lets it exit afterwards', () => {
    const target = tmp.file('script.json');
    // No timer or handle of its own: only the pending job keeps this process running.
    const script = `require(${JSON.stringify(require.resolve('../dist'))}).writeFileAtomic(${JSON.stringify(target)}, 'done').then(() => process.stdout.write('resolved'))`;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(result.stdout).toBe('resolved');
    expect(result.status).toBe(0);
    expect(spawnSync('cat', [target], { encoding: 'utf8' }).stdout).toBe('done');
  });

  it('commits a repository through the worker: concurrent inserts share commits and survive a reopen', async () => {
    const file = tmp.file('db.json');
    const repo = await FileRepository.open<{ notes: Record<string, unknown> }>({ file, collections: { notes: { schema: looseSchema } } });
    let commits = 0;
    repo.on('commit', () => commits++);
    const inserted = await Promise.all(Array.from({ length: 200 }, (_, i) => repo.collection('notes').insert({ title: `n${i}` })));
    expect(new Set(inserted.map((r) => r.id)).size).toBe(200);
    expect(commits).toBeLessThan(10);
    await repo.close();
    const reopened = await FileRepository.open<{ notes: Record<string, unknown> }>({ file, collections: { notes: { schema: looseSchema } } });
    expect(reopened.collection('notes').count()).toBe(200);
    await reopened.close();
  });

  it('starts while a repository opens, so the first commit does not wait for a thread to boot', async () => {
    const { runJob, repository } = freshModules();
    expect(runJob.fsWorkerRunning()).toBe(false);
    const repo = await repository.FileRepository.open({ file: tmp.file('db.json'), collections: { notes: { schema: looseSchema } } });
    expect(runJob.fsWorkerRunning()).toBe(true);
    await repo.close();
    await runJob.stopFsWorker();
  });

  it('is not started for a repository on another fs seam', async () => {
    const { runJob, repository } = freshModules();
    const repo = await repository.FileRepository.open({ file: tmp.file('db.json'), collections: { notes: { schema: looseSchema } }, fs: new FaultyFs() });
    await repo.collection('notes').insert({ title: 'in this thread' });
    expect(runJob.fsWorkerRunning()).toBe(false);
    await repo.close();
  });

  it('stops only after the writes in flight are durable, and the next write starts it again', async () => {
    const { runJob, write } = freshModules();
    const target = tmp.file('stop.json');
    const writing = write.writeFileAtomic(target, 'one');
    const stopping = runJob.stopFsWorker();
    await expect(writing).resolves.toBeUndefined();
    await stopping;
    expect(runJob.fsWorkerRunning()).toBe(false);
    expect(await readFile(target, 'utf8')).toBe('one');
    await write.writeFileAtomic(target, 'two');
    expect(runJob.fsWorkerRunning()).toBe(true);
    expect(await readFile(target, 'utf8')).toBe('two');
    await runJob.stopFsWorker();
  });

  it("does not fail a write started right after a stop when the stopped thread's exit arrives", async () => {
    const { runJob, write } = freshModules();
    const target = tmp.file('restart.json');
    await write.writeFileAtomic(target, 'one');
    const stopping = runJob.stopFsWorker();
    // Posted to a new thread while the old one is still terminating.
    const next = write.writeFileAtomic(target, 'two');
    await stopping;
    await expect(next).resolves.toBeUndefined();
    expect(await readFile(target, 'utf8')).toBe('two');
    await runJob.stopFsWorker();
  });

  it('lets a script that opened a repository and never wrote exit by itself', () => {
    const file = tmp.file('idle.json');
    // The worker started at open is idle: like a finished job, it must not hold the process.
    const script = `require(${JSON.stringify(require.resolve('../dist'))}).FileRepository.open({ file: ${JSON.stringify(file)}, collections: { notes: { schema: { type: 'object' } } } }).then(() => process.stdout.write('open'))`;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(result.stdout).toBe('open');
    expect(result.status).toBe(0);
  });
});
