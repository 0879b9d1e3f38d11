import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FaultyFs, FileRepository, WriteFailedError, type FsCall, type RepositoryWarning } from '@filekeep/core';
import { HeldRenameFs, until } from './helpers/background';
import { looseSchema } from './helpers/expense-schema';
import { isTempName, useTempDir } from './helpers/temp-dir';
import { stateOnDisk } from './helpers/journal';
import { FAULT_CODES, isDataTempOf, pathMatcher, WRITE_PATH, type WritePathTarget } from './helpers/write-path';

type Notes = { notes: Record<string, unknown> };

const tmp = useTempDir();
const dataFile = () => tmp.file('db.json');
const open = (fs?: FaultyFs, file = dataFile()) =>
  FileRepository.open<Notes>({ file, collections: { notes: { schema: looseSchema } }, ...(fs ? { fs } : {}) });
const isDataTemp = (p: string | undefined) => isDataTempOf(dataFile())(p);
const matcher = (on: WritePathTarget) => pathMatcher(on, dataFile());
const temps = async (dir = tmp.path) => (await readdir(dir)).filter(isTempName);
const recordsOnDisk = async (file = dataFile()) =>
  (JSON.parse(await readFile(file, 'utf8')) as { collections: { notes: { records: unknown[] } } }).collections.notes.records;

/** Memory equals disk: what the repository lists is what a fresh open of the file lists. */
async function expectReopenedEqual(repo: FileRepository<Notes>, fs: FaultyFs): Promise<void> {
  const before = repo.collection('notes').list();
  await repo.close();
  const reopened = await open(fs);
  try {
    expect(reopened.collection('notes').list()).toEqual(before);
  } finally {
    await reopened.close();
  }
}

describe('FileRepository write path under injected faults', () => {
  describe.each(WRITE_PATH)('$call ($step)', ({ step, call, on }) => {
    it.each(FAULT_CODES)('rejects with FK_WRITE_FAILED on %s, keeps the last durable file, leaves no temp file, and recovers', async (code) => {
      const fs = new FaultyFs();
      const repo = await open(fs);
      const notes = repo.collection('notes');
      await notes.insert({ title: 'first' });
      await notes.insert({ title: 'second' });
      const durableBytes = await readFile(dataFile(), 'utf8');
      const durableList = notes.list();

      // Every matching call fails until heal(), so any retry or cleanup on the same call fails too.
      fs.fail({ call, code, when: matcher(on) });
      const results = await Promise.allSettled([notes.insert({ title: 'third' }), notes.update(1, { title: 'changed' }), notes.remove(2)]);
      expect(fs.count(call, matcher(on))).toBeGreaterThan(0);
      for (const result of results) {
        expect(result.status).toBe('rejected');
        const error = (result as PromiseRejectedResult).reason as WriteFailedError;
        expect(error).toBeInstanceOf(WriteFailedError);
        expect(error.code).toBe('FK_WRITE_FAILED');
        expect(error.details?.['step']).toBe(step);
        expect((error.cause as NodeJS.ErrnoException).code).toBe(code);
      }

      expect(await readFile(dataFile(), 'utf8')).toBe(durableBytes);
      expect(await temps()).toEqual([]);
      expect(notes.list()).toEqual(durableList);
      expect(await recordsOnDisk()).toEqual(durableList);

      fs.heal();
      const third = await notes.insert({ title: 'third' });
      expect(third.id).toBe(3);
      expect(await recordsOnDisk()).toEqual([...durableList, third]);
      expect(await temps()).toEqual([]);
      await expectReopenedEqual(repo, fs);
    });

    it('leaves no data file when the very first write fails, and recovers', async () => {
      const fs = new FaultyFs();
      const repo = await open(fs);
      fs.fail({ call, code: 'EIO', when: matcher(on) });
      await expect(repo.collection('notes').insert({ title: 'first' })).rejects.toMatchObject({ code: 'FK_WRITE_FAILED' });
      expect(await tmp.list()).toEqual(['db.json.lock']);
      expect(repo.collection('notes').list()).toEqual([]);
      fs.heal();
      expect(await repo.collection('notes').insert({ title: 'first' })).toEqual({ id: 1, title: 'first' });
      expect(await recordsOnDisk()).toEqual([{ id: 1, title: 'first' }]);
      await expectReopenedEqual(repo, fs);
    });
  });

  it('writes a complete file when every write(2) writes at most 100 bytes', async () => {
    const fs = new FaultyFs();
    const repo = await open(fs);
    const notes = repo.collection('notes');
    await notes.insert({ title: 'before' });
    fs.fail({ call: 'write', shortWrite: 100 });
    const writesBefore = fs.count('write', isDataTemp);
    const saved = await Promise.all(Array.from({ length: 20 }, (_, i) => notes.insert({ title: `note ${i}`, body: 'b'.repeat(500 + i) })));
    const text = await readFile(dataFile(), 'utf8');
    expect(fs.count('write', isDataTemp) - writesBefore).toBeGreaterThanOrEqual(Math.ceil(Buffer.byteLength(text) / 100));
    expect(await recordsOnDisk()).toEqual([{ id: 1, title: 'before' }, ...saved]);
    expect(text.endsWith('}\n')).toBe(true);
    await expectReopenedEqual(repo, fs);
  });
});

describe('FileRepository with the journal engine under injected faults', () => {
  let warnings: RepositoryWarning[] = [];
  const openJournal = (fs: FaultyFs, compactAfterBytes = 1 << 20) =>
    FileRepository.open<Notes>({ file: dataFile(), engine: 'journal', compactAfterBytes, compactAfterRatio: 0, fs, collections: { notes: { schema: looseSchema } }, onWarning: (w) => void warnings.push(w) });
  beforeEach(() => {
    warnings = [];
  });
  const notesOnDisk = async () => (await stateOnDisk(dataFile())).collections['notes']?.records ?? [];
  async function expectJournalReopenedEqual(repo: FileRepository<Notes>, fs: FaultyFs): Promise<void> {
    const before = repo.collection('notes').list();
    await repo.close();
    const reopened = await openJournal(fs);
    try {
      expect(reopened.collection('notes').list()).toEqual(before);
    } finally {
      await reopened.close();
    }
  }

  // A commit appends to the journal and fdatasyncs it; the first one also creates the journal.
  const COMMIT: Array<{ step: string; call: FsCall; on: WritePathTarget; first: boolean }> = [
    { step: 'append', call: 'write', on: 'journal', first: false },
    { step: 'fdatasync', call: 'fdatasync', on: 'journal', first: false },
    { step: 'create journal', call: 'open', on: 'journal', first: true },
    { step: 'chmod journal', call: 'fchmod', on: 'journal', first: true },
    { step: 'fsync directory', call: 'fsync', on: 'dir', first: true },
  ];
  describe.each(COMMIT)('$call ($step)', ({ step, call, on, first }) => {
    it.each(FAULT_CODES)('rejects with FK_WRITE_FAILED on %s, keeps the durable state on disk and in memory, and recovers', async (code) => {
      const fs = new FaultyFs();
      const repo = await openJournal(fs);
      const notes = repo.collection('notes');
      if (!first) {
        await notes.insert({ title: 'first' });
        await notes.insert({ title: 'second' });
      }
      const durableList = notes.list();
      fs.fail({ call, code, when: pathMatcher(on, dataFile()) });
      const results = await Promise.allSettled([notes.insert({ title: 'third' }), notes.insert({ title: 'fourth' })]);
      for (const result of results) {
        expect(result.status).toBe('rejected');
        const error = (result as PromiseRejectedResult).reason as WriteFailedError;
        expect(error).toBeInstanceOf(WriteFailedError);
        expect(error.code).toBe('FK_WRITE_FAILED');
        expect(error.details?.['step']).toBe(step);
        expect((error.cause as NodeJS.ErrnoException).code).toBe(code);
      }
      expect(notes.list()).toEqual(durableList);
      expect(await notesOnDisk()).toEqual(durableList);
      expect(await temps()).toEqual([]);

      fs.heal();
      const next = await notes.insert({ title: 'third' });
      expect(await notesOnDisk()).toEqual([...durableList, next]);
      await expectJournalReopenedEqual(repo, fs);
      expect(warnings).toEqual([]);
    });
  });

  it('appends a complete record when every write(2) writes at most 7 bytes', async () => {
    const fs = new FaultyFs();
    const repo = await openJournal(fs);
    const notes = repo.collection('notes');
    await notes.insert({ title: 'before' });
    fs.fail({ call: 'write', shortWrite: 7 });
    const saved = await Promise.all(Array.from({ length: 10 }, (_, i) => notes.insert({ title: `note ${i}`, body: 'b'.repeat(100 + i) })));
    expect(await notesOnDisk()).toEqual([{ id: 1, title: 'before' }, ...saved]);
    await expectJournalReopenedEqual(repo, fs);
  });

  // Compaction runs in the background after the crossing commit is durable: a failure there only
  // warns. `warned`: the step its warning names (the failing call's own step is in its cause).
  const COMPACTION: Array<{ step: string; call: FsCall; on: WritePathTarget; nth?: number; warned: string }> = [
    ...WRITE_PATH.map((s) => ({ ...s, warned: 'snapshot' })),
    { step: 'create journal', call: 'open', on: 'journalTemp', warned: 'replace journal' },
    { step: 'chmod journal', call: 'fchmod', on: 'journalTemp', warned: 'replace journal' },
    { step: 'copy journal', call: 'read', on: 'journal', warned: 'replace journal' },
    { step: 'copy journal', call: 'write', on: 'journalTemp', warned: 'replace journal' },
    { step: 'fdatasync journal', call: 'fdatasync', on: 'journalTemp', warned: 'replace journal' },
    // The snapshot opens and fsyncs the directory first, the journal's replace second.
    { step: 'open directory', call: 'open', on: 'dir', nth: 2, warned: 'replace journal' },
    { step: 'rename journal', call: 'rename', on: 'journal', warned: 'replace journal' },
    { step: 'fsync directory', call: 'fsync', on: 'dir', nth: 2, warned: 'fsync directory' },
  ];
  describe.each(COMPACTION)('compaction: $call ($step)', ({ step, call, on, nth, warned }) => {
    it.each(FAULT_CODES)('on %s resolves the already durable commits, warns, loses nothing, and compacts later', async (code) => {
      const fs = new HeldRenameFs(dataFile());
      const repo = await openJournal(fs, 300);
      const notes = repo.collection('notes');
      const small = await notes.insert({ title: 'small' });
      fs.fail({ call, code, when: pathMatcher(on, dataFile()), ...(nth ? { nth } : {}) });
      fs.hold();
      const crossing = await notes.insert({ body: 'c'.repeat(300) });
      // One more commit while the snapshot is written (or after it failed), so the journal keeps a record.
      await until(() => fs.reached || warnings.length > 0);
      const during = await notes.insert({ title: 'during' });
      fs.let();
      await until(() => warnings.length > 0);
      expect(warnings.map((w) => [w.code, w.details['step']])).toEqual([['FK_COMPACTION_FAILED', warned]]);
      if (warned !== 'fsync directory') expect((warnings[0]!.cause as WriteFailedError).details?.['step']).toBe(step);
      expect(notes.list()).toEqual([small, crossing, during]);
      expect(await notesOnDisk()).toEqual(notes.list());
      expect(await temps()).toEqual([]);

      fs.heal();
      const compacted = once(repo, 'compaction');
      const later = await notes.insert({ body: 'd'.repeat(300) });
      await compacted;
      expect(warnings).toHaveLength(1);
      const snapshot = JSON.parse(await readFile(dataFile(), 'utf8')) as { seq: number; collections: { notes: { records: unknown[] } } };
      expect(snapshot.collections.notes.records).toEqual([small, crossing, during, later]);
      expect((await readFile(`${dataFile()}.journal`)).length).toBe(0);
      expect(await notesOnDisk()).toEqual(notes.list());
      expect(await temps()).toEqual([]);
      await expectJournalReopenedEqual(repo, fs);
    });
  });
});

/** A real 256 KiB tmpfs, so ENOSPC comes from the kernel, not from the seam. Needs root and mount(8). */
function mountTinyTmpfs(): { dir: string | undefined; reason: string } {
  if (process.platform !== 'linux') return { dir: undefined, reason: `platform is ${process.platform}` };
  const dir = mkdtempSync(path.join(tmpdir(), 'filekeep-tmpfs-'));
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir], { encoding: 'utf8' });
  if (result.status === 0) return { dir, reason: '' };
  rmdirSync(dir);
  return { dir: undefined, reason: (result.error?.message ?? result.stderr.trim()) || `mount exited with ${result.status}` };
}

describe('FileRepository on a full filesystem', () => {
  // Mounted in beforeAll, not while collecting: a run filtered with -t skips this block's hooks,
  // and a mount made outside them would never be unmounted.
  let tiny: { dir: string | undefined; reason: string } = { dir: undefined, reason: 'not mounted' };
  beforeAll(() => {
    tiny = mountTinyTmpfs();
  });
  afterAll(() => {
    if (!tiny.dir) return;
    const result = spawnSync('umount', [tiny.dir], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`umount ${tiny.dir} failed: ${result.stderr}`);
    rmdirSync(tiny.dir);
  });

  it('fails cleanly with ENOSPC from the kernel, keeps the last durable file, and recovers once space is freed', async () => {
    if (!tiny.dir) {
      console.warn(`Skipping the real-ENOSPC test: cannot mount a tmpfs (${tiny.reason})`);
      return;
    }
    const dir = tiny.dir;
    const file = path.join(dir, 'db.json');
    const filler = path.join(dir, 'filler');
    await writeFile(filler, Buffer.alloc(96 * 1024));
    const repo = await open(undefined, file);
    const notes = repo.collection('notes');
    let failure: unknown;
    const body = 'x'.repeat(2_000);
    for (let i = 0; i < 200 && failure === undefined; i++) {
      // Several changes per batch, so a failing batch rejects more than one caller.
      const results = await Promise.allSettled([notes.insert({ i, body }), notes.insert({ i, body })]);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (rejected.length > 0) {
        expect(rejected).toHaveLength(2);
        failure = rejected[0]!.reason;
      }
    }
    expect(failure).toBeInstanceOf(WriteFailedError);
    expect(((failure as WriteFailedError).cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
    const durable = notes.list();
    expect(durable.length).toBeGreaterThan(0);
    expect(await recordsOnDisk(file)).toEqual(durable);
    expect(await temps(dir)).toEqual([]);

    await rm(filler);
    const next = await notes.insert({ i: -1, body: 'after' });
    expect(await recordsOnDisk(file)).toEqual([...durable, next]);
    await repo.close();
    const reopened = await open(undefined, file);
    expect(reopened.collection('notes').list()).toEqual([...durable, next]);
    await reopened.close();
  });
});
