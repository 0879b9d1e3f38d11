import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  CorruptDataError,
  FaultyFs,
  FileRepository,
  InvalidOptionError,
  WriteFailedError,
  type CommitEvent,
  type CompactionEvent,
  type RepositoryOptions,
  type RepositoryWarning,
} from '@filekeep/core';
import { HeldRenameFs, until } from './helpers/background';
import { fixture, killHard, startChild } from './helpers/child';
import { expenseSchema, looseSchema, type Expense } from './helpers/expense-schema';
import { frameLine, readJournal, stateOnDisk } from './helpers/journal';
import { useTempDir } from './helpers/temp-dir';

type Notes = { notes: Record<string, unknown>; expenses: Expense };

const tmp = useTempDir();
const dataFile = () => tmp.file('db.json');
const journalFile = () => tmp.file('db.json.journal');
const isJournal = (p: string | undefined) => p === journalFile();

let warnings: RepositoryWarning[] = [];
let repos: FileRepository<never>[] = [];
beforeEach(() => {
  warnings = [];
});
afterEach(async () => {
  await Promise.all(repos.map((r) => r.close().catch(() => undefined)));
  repos = [];
});

async function open(options: Partial<RepositoryOptions<Notes>> = {}): Promise<FileRepository<Notes>> {
  const repo = await FileRepository.open<Notes>({
    file: dataFile(),
    engine: 'journal',
    // Most tests here set compactAfterBytes to compact within a few commits, whatever the snapshot's size.
    compactAfterRatio: 0,
    collections: { notes: { schema: looseSchema }, expenses: { schema: expenseSchema } },
    onWarning: (w) => warnings.push(w),
    ...options,
  });
  repos.push(repo as never);
  return repo;
}

/** Memory equals disk: a fresh open (after close) lists what the repository listed. */
async function expectReopenedEqual(repo: FileRepository<Notes>, options: Partial<RepositoryOptions<Notes>> = {}): Promise<FileRepository<Notes>> {
  const before = { notes: repo.collection('notes').list(), expenses: repo.collection('expenses').list() };
  await repo.close();
  const reopened = await open(options);
  expect({ notes: reopened.collection('notes').list(), expenses: reopened.collection('expenses').list() }).toEqual(before);
  return reopened;
}

const exists = (file: string) => stat(file).then(() => true, () => false);

/** The next 'compaction' event of `repo`. */
const nextCompaction = (repo: FileRepository<Notes>): Promise<CompactionEvent> => once(repo, 'compaction').then(([event]) => event as CompactionEvent);


describe('FileRepository with the journal engine', () => {
  describe('a commit', () => {
    it('appends one checksummed line with the next seq and the change, and leaves the snapshot alone', async () => {
      const repo = await open();
      const notes = repo.collection('notes');
      await notes.insert({ title: 'a' });
      await Promise.all([notes.insert({ title: 'b' }), notes.update(1, { title: 'A' })]);
      await notes.remove(2);
      expect(await exists(dataFile())).toBe(false);
      const lines = await readJournal(journalFile());
      expect(lines.map((l) => l.payload)).toEqual([
        { seq: 1, collections: { notes: { nextId: 2, put: [{ id: 1, title: 'a' }] } } },
        { seq: 2, collections: { notes: { nextId: 3, put: [{ id: 2, title: 'b' }, { id: 1, title: 'A' }] } } },
        { seq: 3, collections: { notes: { remove: [2] } } },
      ]);
    });

    it('keeps every change across close and reopen, ids and nextId included', async () => {
      let repo = await open();
      const notes = repo.collection('notes');
      await notes.insert({ n: 1 });
      await notes.insert({ n: 2 }, { id: 10 });
      await notes.insert({ n: 3 }, { id: 'b' });
      await notes.insert({ n: 4 }, { id: 'a' });
      await notes.insert({ n: 5 }, { id: 5 });
      await notes.update(10, { extra: [1, 2] });
      await notes.remove(1);
      await repo.collection('expenses').insert({ description: 'Taxi', amount: 23 });
      repo = await expectReopenedEqual(repo);
      expect(repo.collection('notes').list().map((r) => r.id)).toEqual([5, 10, 'a', 'b']);
      expect((await repo.collection('notes').insert({ n: 6 })).id).toBe(11);
      repo = await expectReopenedEqual(repo);
      expect(warnings).toEqual([]);
    });

    it('gives 1,000 concurrent inserts distinct ids in far fewer than 1,000 appends', async () => {
      const fs = new FaultyFs();
      const repo = await open({ fs });
      const commits: CommitEvent[] = [];
      repo.on('commit', (event) => commits.push(event));
      const notes = repo.collection('notes');
      const saved = await Promise.all(Array.from({ length: 1000 }, (_, i) => notes.insert({ i })));
      expect(new Set(saved.map((r) => r.id)).size).toBe(1000);
      const syncs = fs.count('fdatasync', isJournal);
      expect(syncs).toBeLessThan(50);
      const lines = await readJournal(journalFile());
      expect(lines).toHaveLength(syncs);
      expect(commits).toHaveLength(syncs);
      expect(commits.map((c) => c.batch.bytes)).toEqual(lines.map((l) => l.line.length));
      expect(commits.reduce((sum, c) => sum + c.batch.mutations, 0)).toBe(1000);
      expect((await stateOnDisk(dataFile())).collections['notes']!.records).toHaveLength(1000);
    });

    it('fsyncs the directory once, when it creates the journal, and never per commit', async () => {
      const fs = new FaultyFs();
      const repo = await open({ fs });
      const isDir = (p: string | undefined) => p === tmp.path;
      const dirSyncs = fs.count('fsync', isDir); // the lock's own
      for (let i = 0; i < 5; i++) await repo.collection('notes').insert({ i });
      expect(fs.count('fsync', isDir) - dirSyncs).toBe(1);
      expect(fs.count('open', isJournal)).toBe(1);
      expect(fs.count('fdatasync', isJournal)).toBe(5);
      await repo.close();
      const reopened = await open({ fs });
      const reopenSyncs = fs.count('fsync', isDir);
      await reopened.collection('notes').insert({ i: 5 });
      expect(fs.count('fsync', isDir)).toBe(reopenSyncs);
    });

    it('gives a new journal the data file mode, whatever the umask', async () => {
      const repo = await open({ mode: 0o666 });
      await repo.collection('notes').insert({ secret: true });
      expect((await stat(journalFile())).mode & 0o777).toBe(0o666);
    });
  });

  describe('compaction', () => {
    /** Holds the snapshot's rename, the last step before it becomes visible. */
    const heldSnapshotFs = () => new HeldRenameFs(dataFile());

    it('writes the snapshot in the background while commits go on, then keeps only the later records in the journal', async () => {
      const fs = heldSnapshotFs();
      const repo = await open({ fs, compactAfterBytes: 300 });
      const notes = repo.collection('notes');
      const compacted = nextCompaction(repo);
      fs.hold();
      let seq = 0;
      do await notes.insert({ body: 'x'.repeat(40), seq: ++seq });
      while ((await readFile(journalFile())).length < 300);
      // The commit that crossed 300 bytes started the compaction; two more commit while its snapshot waits.
      await until(() => fs.reached);
      const during = [await notes.insert({ during: 1 }), await notes.insert({ during: 2 })];
      expect(await exists(dataFile())).toBe(false);
      expect((await readJournal(journalFile())).map((l) => l.payload.seq)).toEqual(Array.from({ length: seq + 2 }, (_, i) => i + 1));

      fs.let();
      const event = await compacted;
      const doc = JSON.parse(await readFile(dataFile(), 'utf8'));
      expect(doc.seq).toBe(seq);
      expect(doc.collections.notes.records).toEqual(notes.list().slice(0, seq));
      expect(doc.collections.notes.nextId).toBe(seq + 1);
      const kept = await readJournal(journalFile());
      expect(kept.map((l) => l.payload.seq)).toEqual([seq + 1, seq + 2]);
      expect(kept.flatMap((l) => l.payload.collections['notes']!.put)).toEqual(during);
      expect(event).toEqual({ seq, snapshotBytes: (await stat(dataFile())).size, journalBytes: (await stat(journalFile())).size, durationMs: expect.any(Number) });
      // Snapshot first (rule 10), then the journal; it is replaced, never truncated in place.
      const order = fs.calls.filter((c) => c.call === 'rename' && (c.path === dataFile() || c.path === journalFile())).map((c) => path.basename(c.path!));
      expect(order).toEqual(['db.json', 'db.json.journal']);
      expect(fs.count('ftruncate')).toBe(0);

      await notes.insert({ after: true });
      expect((await readJournal(journalFile())).map((l) => l.payload.seq)).toEqual([seq + 1, seq + 2, seq + 3]);
      await expectReopenedEqual(repo, { fs, compactAfterBytes: 300 });
      expect(await tmp.list()).toEqual(['db.json', 'db.json.journal', 'db.json.lock']);
      expect(warnings).toEqual([]);
    });

    it('waits by default until the journal is as large as the snapshot, so large data is not rewritten every few bytes', async () => {
      let repo = await open({ compactAfterBytes: 0 });
      // One commit, so its compaction leaves an empty journal.
      await Promise.all(Array.from({ length: 20 }, (_, i) => repo.collection('notes').insert({ body: 'x'.repeat(60), i })));
      await repo.close();
      expect((await readFile(journalFile())).length).toBe(0);
      // Reopened with the default ratio (1): the snapshot read at open sets the first mark.
      repo = await open({ compactAfterBytes: 0, compactAfterRatio: undefined });
      const snapshotBytes = (await stat(dataFile())).size;
      const snapshotSeq = JSON.parse(await readFile(dataFile(), 'utf8')).seq as number;
      const appended: number[] = [];
      repo.on('commit', (e) => appended.push(e.batch.bytes));
      const compacted = nextCompaction(repo);
      let seq = snapshotSeq;
      while (appended.reduce((a, b) => a + b, 0) < snapshotBytes) await repo.collection('notes').insert({ body: 'y'.repeat(60), i: ++seq });
      // The commit that took the journal to the snapshot's size started it, not one before it.
      const event = await compacted;
      expect(event.seq).toBe(seq);
      expect(appended.slice(0, -1).reduce((a, b) => a + b, 0)).toBeLessThan(snapshotBytes);
      expect(seq - snapshotSeq).toBeGreaterThan(5);
      expect(JSON.parse(await readFile(dataFile(), 'utf8')).seq).toBe(seq);
      // The next mark is the new, larger snapshot: one more insert does not compact again.
      await repo.collection('notes').insert({ i: 'next' });
      await repo.close();
      expect(JSON.parse(await readFile(dataFile(), 'utf8')).seq).toBe(seq);
      expect((await readJournal(journalFile())).map((l) => l.payload.seq)).toEqual([seq + 1]);
      await expectReopenedEqual(await open(), {});
      expect(warnings).toEqual([]);
    });

    it('compacts after every commit with compactAfterBytes: 0, and a reopen sees the same records', async () => {
      let repo = await open({ compactAfterBytes: 0 });
      for (let i = 0; i < 3; i++) {
        const compacted = nextCompaction(repo);
        await repo.collection('notes').insert({ i });
        expect((await compacted).seq).toBe(i + 1);
      }
      expect(JSON.parse(await readFile(dataFile(), 'utf8')).seq).toBe(3);
      expect((await readFile(journalFile())).length).toBe(0);
      repo = await expectReopenedEqual(repo, { compactAfterBytes: 0 });
      expect((await repo.collection('notes').insert({ i: 3 })).id).toBe(4);
    });

    it('waits at close() for a compaction in flight, and writes nothing after it resolves', async () => {
      const fs = heldSnapshotFs();
      const repo = await open({ fs, compactAfterBytes: 0 });
      fs.hold();
      await repo.collection('notes').insert({ i: 1 });
      await until(() => fs.reached);
      let closed = false;
      const closing = repo.close().then(() => (closed = true));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(closed).toBe(false);
      fs.let();
      await closing;
      const calls = fs.calls.length;
      expect(JSON.parse(await readFile(dataFile(), 'utf8')).seq).toBe(1);
      expect((await readFile(journalFile())).length).toBe(0);
      expect(await tmp.list()).toEqual(['db.json', 'db.json.journal']); // the lock is released
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(fs.calls.length).toBe(calls);
    });

    it('recovers the latest state after a crash between the snapshot and the journal replace, and drops the stale records at the next compaction', async () => {
      const fs = new FaultyFs();
      const repo = await open({ fs, compactAfterBytes: 200 });
      const notes = repo.collection('notes');
      fs.fail({ call: 'rename', code: 'EIO', when: isJournal, nth: 1 });
      while (warnings.length === 0) {
        await notes.insert({ body: 'y'.repeat(50) });
        await new Promise((resolve) => setImmediate(resolve));
      }
      // The warning says the journal was not replaced. On disk: a snapshot with seq N and a journal
      // holding records 1..M (M >= N: some may have committed while the snapshot was written).
      expect(warnings.map((w) => [w.code, w.details['step']])).toEqual([['FK_COMPACTION_FAILED', 'replace journal']]);
      const { seq: snapshotSeq } = JSON.parse(await readFile(dataFile(), 'utf8')) as { seq: number };
      const stale = await readJournal(journalFile());
      const seq = stale.length;
      expect(stale.map((l) => l.payload.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
      expect(seq).toBeGreaterThanOrEqual(snapshotSeq);
      expect(notes.list()).toHaveLength(seq);
      expect(await tmp.list()).toEqual(['db.json', 'db.json.journal', 'db.json.lock']); // no temp file left

      // What a restart at this moment sees (a copy: the original is still locked by `repo`).
      const copy = copyDir(tmp.path);
      try {
        const reopenCopy = () =>
          FileRepository.open<Notes>({ file: path.join(copy, 'db.json'), engine: 'journal', collections: { notes: { schema: looseSchema }, expenses: { schema: expenseSchema } } });
        const restarted = await reopenCopy();
        expect(restarted.collection('notes').list()).toEqual(notes.list());
        // The records the snapshot holds stay; the next one follows them in sequence.
        const added = await restarted.collection('notes').insert({ in: 'copy' });
        expect((await readJournal(path.join(copy, 'db.json.journal'))).map((l) => l.payload.seq)).toEqual([...stale.map((l) => l.payload.seq), seq + 1]);
        await restarted.close();
        const again = await reopenCopy();
        expect(again.collection('notes').list()).toEqual([...notes.list(), added]);
        await again.close();
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }

      // Here too appends follow the stale records, and the next compaction (after another 200 bytes) drops them.
      const next = await notes.insert({ after: true });
      expect(next.id).toBe(seq + 1);
      expect((await readJournal(journalFile())).map((l) => l.payload.seq)).toEqual([...stale.map((l) => l.payload.seq), seq + 1]);
      let done = false;
      const compacted = nextCompaction(repo).finally(() => (done = true));
      while (!done) {
        await notes.insert({ body: 'z'.repeat(50) });
        await new Promise((resolve) => setImmediate(resolve));
      }
      const event = await compacted;
      expect((await readJournal(journalFile())).every((l) => l.payload.seq > event.seq)).toBe(true);
      await expectReopenedEqual(repo, { compactAfterBytes: 200 });
    });

    it('keeps the journal and warns when the snapshot cannot be written, and compacts later', async () => {
      const fs = new FaultyFs();
      const repo = await open({ fs, compactAfterBytes: 100 });
      const notes = repo.collection('notes');
      fs.fail({ call: 'rename', code: 'ENOSPC', when: (p) => p === dataFile() });
      const first = await notes.insert({ body: 'z'.repeat(120) });
      expect(first.id).toBe(1);
      await until(() => warnings.length > 0);
      expect(warnings.map((w) => [w.code, w.details['step']])).toEqual([['FK_COMPACTION_FAILED', 'snapshot']]);
      expect(await exists(dataFile())).toBe(false);
      expect(await tmp.list()).toEqual(['db.json.journal', 'db.json.lock']);
      expect((await readJournal(journalFile())).map((l) => l.payload.seq)).toEqual([1]);
      fs.heal();
      await notes.insert({ small: 1 }); // below another 100 bytes: no retry yet
      await repo.close();
      expect(await exists(dataFile())).toBe(false);
      const reopened = await open({ fs, compactAfterBytes: 100 });
      const compacted = nextCompaction(reopened);
      await reopened.collection('notes').insert({ body: 'z'.repeat(120) });
      expect((await compacted).seq).toBe(3);
      expect(JSON.parse(await readFile(dataFile(), 'utf8')).seq).toBe(3);
      expect((await readFile(journalFile())).length).toBe(0);
      await expectReopenedEqual(reopened);
    });

    it('after a failed compaction, waits for as much journal again as the snapshot before it retries', async () => {
      let repo = await open({ compactAfterBytes: 0 });
      for (let i = 0; i < 20; i++) await repo.collection('notes').insert({ body: 'x'.repeat(60), i });
      await repo.close();
      const snapshotBytes = (await stat(dataFile())).size;
      const fs = new FaultyFs().fail({ call: 'rename', code: 'ENOSPC', when: (p) => p === dataFile() });
      // The journal's length when each attempt started: the rename comes after the snapshot's writes,
      // so record it when the temp file is opened.
      const attemptsAt: number[] = [];
      class AttemptsFs extends FaultyFs {
        override async open(p: string, flags: string, mode?: number) {
          if (/^\.db\.json\.\d+\./.test(path.basename(p))) attemptsAt.push(statSync(journalFile()).size);
          return super.open(p, flags, mode);
        }
      }
      const seam = new AttemptsFs(fs);
      // Default ratio (1), no minimum: without the wait, a lasting failure would retry at every commit.
      repo = await open({ fs: seam, compactAfterBytes: 0, compactAfterRatio: undefined });
      const notes = repo.collection('notes');
      for (let i = 0; warnings.length < 2; i++) {
        await notes.insert({ body: 'y'.repeat(60), i });
        await new Promise((resolve) => setImmediate(resolve));
        expect(i).toBeLessThan(200);
      }
      expect(attemptsAt).toHaveLength(2);
      expect(fs.count('rename', (p) => p === dataFile())).toBe(2);
      // The second attempt started after at least a snapshot's worth more journal (records are under
      // 300 bytes, and a few more may have committed while the first attempt was failing).
      expect(attemptsAt[1]! - attemptsAt[0]!).toBeGreaterThanOrEqual(snapshotBytes);
      expect(attemptsAt[1]! - attemptsAt[0]!).toBeLessThan(snapshotBytes + 1500);
      expect(warnings[1]!.message).toContain(`retrying after ${snapshotBytes} more journal bytes`);
      fs.heal();
      let done = false;
      const compacted = nextCompaction(repo).finally(() => (done = true));
      while (!done) {
        await notes.insert({ after: true });
        await new Promise((resolve) => setImmediate(resolve));
      }
      await repo.close();
      expect(JSON.parse(await readFile(dataFile(), 'utf8')).seq).toBe((await compacted).seq);
      await expectReopenedEqual(await open());
    });

    it('appends nothing after a journal replace whose directory fsync failed until a new replace is synced', async () => {
      // Fails every directory fsync from the journal's rename on (the snapshot's own fsync came before it).
      class JournalDirFs extends FaultyFs {
        armed = true;
        override async rename(from: string, to: string) {
          if (to === journalFile() && this.armed) {
            this.armed = false;
            this.fail({ call: 'fsync', code: 'EIO', when: (p) => p === tmp.path });
          }
          return super.rename(from, to);
        }
      }
      const fs = new JournalDirFs();
      const repo = await open({ fs, compactAfterBytes: 0 });
      const notes = repo.collection('notes');
      await notes.insert({ i: 1 });
      await until(() => warnings.length > 0);
      expect(warnings.map((w) => [w.code, w.details['step']])).toEqual([['FK_COMPACTION_FAILED', 'fsync directory']]);
      const journal = await readFile(journalFile());

      // The next commit first replaces the journal again; while that cannot sync, nothing is appended.
      const error = await notes.insert({ i: 'lost' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WriteFailedError);
      expect((error as WriteFailedError).details?.['step']).toBe('fsync directory');
      expect(await readFile(journalFile())).toEqual(journal);
      expect(notes.list()).toEqual([{ id: 1, i: 1 }]);

      fs.heal();
      const renames = fs.count('rename', isJournal);
      await notes.insert({ i: 2 });
      expect(fs.count('rename', isJournal) - renames).toBe(1);
      expect(notes.list().map((r) => r['i'])).toEqual([1, 2]);
      await expectReopenedEqual(repo);
    });

    it('leaves files that reopen to the acknowledged state at every fs call of a compaction', async () => {
      // A seam that copies the directory before each call: each copy is the disk at that instant,
      // with the inserts acknowledged by then and the one in flight.
      const acknowledged: number[] = [];
      let inFlight: number | undefined;
      const copies: Array<{ before: string; dir: string; acknowledged: number[]; inFlight: number | undefined }> = [];
      class CapturingFs extends FaultyFs {
        capturing = false;
        private capture(call: string) {
          if (this.capturing) copies.push({ before: call, dir: copyDir(tmp.path), acknowledged: [...acknowledged], inFlight });
        }
        override async open(p: string, flags: string, mode?: number) {
          this.capture(`open ${path.basename(p)}`);
          return super.open(p, flags, mode);
        }
        override async write(fd: number, b: Uint8Array, o: number, l: number) {
          this.capture('write');
          return super.write(fd, b, o, l);
        }
        override async fdatasync(fd: number) {
          this.capture('fdatasync');
          return super.fdatasync(fd);
        }
        override async fsync(fd: number) {
          this.capture('fsync');
          return super.fsync(fd);
        }
        override async fchmod(fd: number, mode: number) {
          this.capture('fchmod');
          return super.fchmod(fd, mode);
        }
        override async close(fd: number) {
          this.capture('close');
          return super.close(fd);
        }
        override async rename(from: string, to: string) {
          this.capture(`rename ${path.basename(to)}`);
          return super.rename(from, to);
        }
        override async unlink(p: string) {
          this.capture('unlink');
          return super.unlink(p);
        }
      }
      const fs = new CapturingFs();
      const repo = await open({ fs, compactAfterBytes: 250 });
      const notes = repo.collection('notes');
      const insert = async (i: number) => {
        inFlight = i;
        await notes.insert({ body: 'w'.repeat(50), i });
        inFlight = undefined;
        acknowledged.push(i);
      };
      for (let i = 0; i < 3; i++) await insert(i); // below the mark
      const compacted = nextCompaction(repo);
      fs.capturing = true;
      await insert(3); // appends, then starts the compaction
      for (let i = 4; i < 6; i++) await insert(i); // while it runs, or after
      await compacted;
      fs.capturing = false;
      const calls = copies.map((c) => c.before);
      expect(calls).toEqual(expect.arrayContaining(['rename db.json', 'rename db.json.journal', 'fsync', 'fdatasync']));
      try {
        for (const { before, dir, acknowledged: acked, inFlight: maybe } of copies) {
          const restarted = await FileRepository.open<Notes>({ file: path.join(dir, 'db.json'), engine: 'journal', collections: { notes: { schema: looseSchema }, expenses: { schema: expenseSchema } }, onWarning: () => undefined });
          const list = restarted.collection('notes').list().map((r) => r['i']);
          await restarted.close();
          // Everything acknowledged is there; the insert in flight may or may not be.
          const allowed = maybe === undefined ? [acked] : [acked, [...acked, maybe]];
          expect({ before, list: allowed.some((a) => JSON.stringify(a) === JSON.stringify(list)) ? 'ok' : list }).toEqual({ before, list: 'ok' });
        }
      } finally {
        for (const { dir } of copies) rmSync(dir, { recursive: true, force: true });
      }
      await expectReopenedEqual(repo);
    });
  });

  describe('.open() recovery', () => {
    async function threeRecords(): Promise<Buffer> {
      const repo = await open();
      for (let i = 1; i <= 3; i++) await repo.collection('notes').insert({ i });
      await repo.close();
      return readFile(journalFile());
    }

    it.each([
      ['a torn last record (a prefix of its line)', (good: Buffer) => Buffer.concat([good, frameLine('{"seq":4,"collections":{"notes":{"nextId":5,"put":[{"id":4}]}}}').subarray(0, 20)])],
      ['a last record without its newline', (good: Buffer) => Buffer.concat([good, frameLine('{"seq":4,"collections":{"notes":{"nextId":5,"put":[{"id":4}]}}}').subarray(0, -1)])],
      ['a last record that fails its checksum', (good: Buffer) => Buffer.concat([good, Buffer.from('00000000 5 {"a":\n')])],
      ['a zero-filled tail', (good: Buffer) => Buffer.concat([good, Buffer.alloc(4096)])],
    ])('cuts %s back to the last good record, fsyncs, warns, and appends after it', async (_what, damage) => {
      const good = await threeRecords();
      await writeFile(journalFile(), damage(good));
      const fs = new FaultyFs();
      const repo = await open({ fs });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ code: 'FK_JOURNAL_TAIL_CUT', path: journalFile(), details: { offset: good.length } });
      expect(warnings[0]!.message).toContain(journalFile());
      expect(fs.count('ftruncate', isJournal)).toBe(1);
      expect(fs.count('fdatasync', isJournal)).toBe(1);
      expect(await readFile(journalFile())).toEqual(good);
      expect(repo.collection('notes').list().map((r) => r['i'])).toEqual([1, 2, 3]);
      expect((await repo.collection('notes').insert({ i: 4 })).id).toBe(4);
      expect((await readJournal(journalFile())).map((l) => l.payload.seq)).toEqual([1, 2, 3, 4]);
      await expectReopenedEqual(repo);
      expect(warnings).toHaveLength(1);
    });

    const corrupt: Array<[string, (lines: Buffer[]) => Buffer, string]> = [
      ['a damaged record followed by good ones', (l) => Buffer.concat([l[0]!, flipLastPayloadByte(l[1]!), l[2]!]), 'a valid record follows'],
      ['a sequence gap', (l) => Buffer.concat([l[0]!, l[2]!]), 'sequence gap'],
      ['a repeated record', (l) => Buffer.concat([l[0]!, l[1]!, l[1]!, l[2]!]), 'sequence gap'],
      ['a record that fails the schema', (l) => Buffer.concat([...l, frameLine('{"seq":4,"collections":{"expenses":{"nextId":2,"put":[{"id":1,"amount":-1}]}}}')]), 'fails the schema'],
      ['a record that is checksummed but not a batch', (l) => Buffer.concat([...l, frameLine('[4]')]), 'not an object'],
      ['a record id at or above nextId', (l) => Buffer.concat([...l, frameLine('{"seq":4,"collections":{"notes":{"put":[{"id":9}]}}}')]), 'nextId'],
      ['a journal that starts after the snapshot', (l) => Buffer.concat([l[1]!, l[2]!]), 'starts at seq 2'],
    ];
    it.each(corrupt)('refuses %s with CorruptDataError naming the journal, and leaves both files byte-identical', async (_what, damage, reason) => {
      await threeRecords();
      const snapshot = '{"format":"filekeep/1","collections":{"notes":{"nextId":1,"records":[]}}}';
      await writeFile(dataFile(), snapshot);
      const lines = (await readJournal(journalFile())).map((l) => Buffer.from(l.line));
      const bytes = damage(lines);
      await writeFile(journalFile(), bytes);
      const error = await open().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CorruptDataError);
      expect((error as CorruptDataError).path).toBe(journalFile());
      expect((error as CorruptDataError).message).toContain(journalFile());
      expect((error as CorruptDataError).message).toContain(reason);
      expect(await readFile(journalFile())).toEqual(bytes);
      expect(await readFile(dataFile(), 'utf8')).toBe(snapshot);
      expect(await tmp.list()).toEqual(['db.json', 'db.json.journal']);
    });

    it('skips records the snapshot already holds and replays only the later ones', async () => {
      await threeRecords();
      const lines = await readJournal(journalFile());
      await writeFile(dataFile(), '{"format":"filekeep/1","seq":2,"collections":{"notes":{"nextId":3,"records":[{"id":1,"i":1},{"id":2,"i":"from the snapshot"}]}}}');
      const repo = await open();
      expect(repo.collection('notes').list()).toEqual([{ id: 1, i: 1 }, { id: 2, i: 'from the snapshot' }, { id: 3, i: 3 }]);
      expect(lines).toHaveLength(3);
    });

    it('empties a journal that ends below the snapshot’s seq, after fsyncing the snapshot, so appends continue the snapshot’s sequence', async () => {
      await threeRecords();
      await writeFile(dataFile(), '{"format":"filekeep/1","seq":7,"collections":{"notes":{"nextId":8,"records":[{"id":7,"i":7}]}}}');
      const fs = new FaultyFs();
      const repo = await open({ fs });
      expect(repo.collection('notes').list()).toEqual([{ id: 7, i: 7 }]);
      expect(fs.count('fsync', (p) => p === dataFile())).toBe(1);
      expect((await readFile(journalFile())).length).toBe(0);
      await repo.collection('notes').insert({ i: 8 });
      expect((await readJournal(journalFile())).map((l) => l.payload.seq)).toEqual([8]);
      await expectReopenedEqual(repo);
      expect(warnings).toEqual([]);
    });

    it('keeps the changes to a collection it does not declare', async () => {
      await threeRecords();
      const repo = await FileRepository.open<{ expenses: Expense }>({ file: dataFile(), engine: 'journal', compactAfterBytes: 0, compactAfterRatio: 0, collections: { expenses: { schema: expenseSchema } } });
      await repo.collection('expenses').insert({ description: 'Tea', amount: 2 });
      await repo.close();
      expect(JSON.parse(await readFile(dataFile(), 'utf8')).collections.notes).toEqual({ nextId: 4, records: [{ id: 1, i: 1 }, { id: 2, i: 2 }, { id: 3, i: 3 }] });
      const full = await open();
      expect(full.collection('notes').list().map((r) => r.id)).toEqual([1, 2, 3]);
    });
  });

  describe('a failed commit', () => {
    const cases: Array<{ name: string; inject: (fs: FaultyFs, code: string) => void; step: string; laterStep: string; fileIntact: boolean }> = [
      {
        name: 'append write (after a short write)',
        // The first write lands 5 bytes, the next one fails: a partial record is on disk until cut back.
        inject: (fs, code) => fs.fail({ call: 'write', shortWrite: 5, nth: 1, when: isJournal }).fail({ call: 'write', code, when: isJournal }),
        step: 'append',
        laterStep: 'append',
        fileIntact: true,
      },
      { name: 'fdatasync', inject: (fs, code) => fs.fail({ call: 'fdatasync', code, when: isJournal }), step: 'fdatasync', laterStep: 'repair journal', fileIntact: true },
      {
        name: 'ftruncate (the repair after a failed fdatasync)',
        inject: (fs, code) => fs.fail({ call: 'fdatasync', code, when: isJournal, nth: 1 }).fail({ call: 'ftruncate', code, when: isJournal }),
        step: 'fdatasync',
        laterStep: 'repair journal',
        fileIntact: false,
      },
    ];
    describe.each(cases)('in $name', ({ inject, step, laterStep, fileIntact }) => {
      it.each(['EIO', 'ENOSPC'])('rejects every caller with WriteFailedError on %s, keeps the durable state, never appends after an unknown tail, and recovers', async (code) => {
        const fs = new FaultyFs();
        const repo = await open({ fs });
        const notes = repo.collection('notes');
        await notes.insert({ title: 'first' });
        await notes.insert({ title: 'second' });
        const durableBytes = await readFile(journalFile());
        const durableList = notes.list();

        inject(fs, code);
        const results = await Promise.allSettled([notes.insert({ title: 'third' }), notes.update(1, { title: 'changed' }), notes.remove(2)]);
        for (const result of results) {
          expect(result.status).toBe('rejected');
          const error = (result as PromiseRejectedResult).reason as WriteFailedError;
          expect(error).toBeInstanceOf(WriteFailedError);
          expect(error.path).toBe(journalFile());
          expect(error.details?.['step']).toBe(step);
          expect((error.cause as NodeJS.ErrnoException).code).toBe(code);
        }
        expect(notes.list()).toEqual(durableList);
        if (fileIntact) expect(await readFile(journalFile())).toEqual(durableBytes);

        // While the fault lasts, later commits fail too, and nothing is written after the tail.
        const writes = fs.count('write', isJournal);
        const later = await notes.insert({ title: 'later' }).catch((e: unknown) => e);
        expect(later).toBeInstanceOf(WriteFailedError);
        expect((later as WriteFailedError).details?.['step']).toBe(laterStep);
        expect((later as WriteFailedError).message).toContain(journalFile());
        if (laterStep === 'repair journal') expect(fs.count('write', isJournal)).toBe(writes);
        if (fileIntact) expect(await readFile(journalFile())).toEqual(durableBytes);

        fs.heal();
        const third = await notes.insert({ title: 'third' });
        expect(third.id).toBe(3);
        const after = await readFile(journalFile());
        expect(after.subarray(0, durableBytes.length)).toEqual(durableBytes);
        expect((await readJournal(journalFile())).map((l) => l.payload.seq)).toEqual([1, 2, 3]);
        expect((await stateOnDisk(dataFile())).collections['notes']!.records).toEqual([...durableList, third]);
        await expectReopenedEqual(repo, { fs });
        expect(warnings).toEqual([]);
      });
    });

    it('cuts the journal back at close() when the last repair failed and the cause is gone', async () => {
      const fs = new FaultyFs();
      const repo = await open({ fs });
      await repo.collection('notes').insert({ title: 'first' });
      const durableBytes = await readFile(journalFile());
      fs.fail({ call: 'fdatasync', when: isJournal, nth: 1 }).fail({ call: 'ftruncate', when: isJournal, nth: 1 });
      await expect(repo.collection('notes').insert({ title: 'lost' })).rejects.toBeInstanceOf(WriteFailedError);
      expect((await readFile(journalFile())).length).toBeGreaterThan(durableBytes.length); // the unsynced record
      await repo.close();
      expect(await readFile(journalFile())).toEqual(durableBytes);
      const reopened = await open();
      expect(reopened.collection('notes').list()).toEqual([{ id: 1, title: 'first' }]);
    });

    it('fails the first commit and leaves no journal when the directory fsync after creating it fails, then recovers', async () => {
      const fs = new FaultyFs();
      const repo = await open({ fs });
      const dirSyncs = fs.count('fsync', (p) => p === tmp.path);
      fs.fail({ call: 'fsync', when: (p) => p === tmp.path, nth: 1 });
      const error = await repo.collection('notes').insert({ title: 'first' }).catch((e: unknown) => e);
      expect((error as WriteFailedError).details?.['step']).toBe('fsync directory');
      expect(await tmp.list()).toEqual(['db.json.lock']);
      await repo.collection('notes').insert({ title: 'first' });
      expect(fs.count('fsync', (p) => p === tmp.path) - dirSyncs).toBe(2);
      await expectReopenedEqual(repo);
    });
  });

  describe('and the snapshot engine', () => {
    it('read each other’s snapshots', async () => {
      const repo = await open({ compactAfterBytes: 0 });
      await repo.collection('notes').insert({ by: 'journal' });
      await repo.close();
      expect(JSON.parse(await readFile(dataFile(), 'utf8')).seq).toBe(1);
      const snapshotRepo = await FileRepository.open<Notes>({ file: dataFile(), collections: { notes: { schema: looseSchema }, expenses: { schema: expenseSchema } } });
      expect(snapshotRepo.collection('notes').list()).toEqual([{ id: 1, by: 'journal' }]);
      await snapshotRepo.collection('notes').insert({ by: 'snapshot' });
      await snapshotRepo.close();
      expect(JSON.parse(await readFile(dataFile(), 'utf8')).seq).toBeUndefined();
      const again = await open();
      expect(again.collection('notes').list()).toEqual([{ id: 1, by: 'journal' }, { id: 2, by: 'snapshot' }]);
      await again.collection('notes').insert({ by: 'journal again' });
      expect((await readJournal(journalFile())).map((l) => l.payload.seq)).toEqual([1]);
      await expectReopenedEqual(again);
    });

    it('refuses, in the snapshot engine, a data file whose journal holds changes', async () => {
      const repo = await open();
      await repo.collection('notes').insert({ by: 'journal' });
      await repo.close();
      const error = await FileRepository.open<Notes>({ file: dataFile(), collections: { notes: { schema: looseSchema }, expenses: { schema: expenseSchema } } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toContain(journalFile());
    });

    it('rejects an unknown engine and a bad compactAfterBytes or compactAfterRatio, naming the option', async () => {
      await expect(open({ engine: 'wal' as never })).rejects.toThrow(/`engine`.*"wal"/);
      await expect(open({ compactAfterBytes: -1 })).rejects.toThrow(/`compactAfterBytes`.*-1/);
      await expect(open({ compactAfterRatio: -0.5 })).rejects.toThrow(/`compactAfterRatio`.*-0.5/);
      await expect(open({ compactAfterRatio: Number.POSITIVE_INFINITY })).rejects.toThrow(/`compactAfterRatio`/);
    });
  });

  describe('under SIGKILL', () => {
    it.each([
      ['compacting after every commit', 1, 6],
      ['compacting every few kilobytes', 4096, 6],
    ])('keeps every acknowledged insert while %s', async (_what, compactAfterBytes, rounds) => {
      const file = dataFile();
      const seen: string[] = [];
      for (let round = 0; round < rounds; round++) {
        const child = startChild(fixture('journal-inserter.js'), [file, String(compactAfterBytes)]);
        await child.waitFor(/^ok /);
        await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 200));
        await killHard(child);
        seen.push(...child.lines.filter((l) => l.startsWith('warning ')));
        const acknowledged = child.lines.filter((l) => l.startsWith('ok ')).map((l) => l.split(' '));
        const repo = await FileRepository.open<{ items: { n: number } }>({
          file,
          engine: 'journal',
          compactAfterBytes,
          collections: { items: { schema: looseSchema } },
          onWarning: (w) => seen.push(w.code),
        });
        const items = repo.collection('items');
        for (const [, id, n] of acknowledged) expect({ id, n: items.get(Number(id))?.n }).toEqual({ id, n: Number(n) });
        const ids = items.list().map((r) => r.id);
        expect(new Set(ids).size).toBe(ids.length);
        await repo.close();
      }
      // Torn tails are expected; a failed compaction is not.
      expect(seen.filter((w) => !w.includes('FK_JOURNAL_TAIL_CUT'))).toEqual([]);
    }, 60_000);
  });
});

function flipLastPayloadByte(line: Buffer): Buffer {
  const copy = Buffer.from(line);
  copy[copy.length - 3] = copy[copy.length - 3]! ^ 0x01;
  return copy;
}

/** A copy of `dir` without the lock file (whose holder, this process, is alive). */
function copyDir(dir: string): string {
  const copy = mkdtempSync(path.join(tmpdir(), 'filekeep-copy-'));
  for (const name of readdirSync(dir)) if (!name.endsWith('.lock')) cpSync(path.join(dir, name), path.join(copy, name));
  return copy;
}
