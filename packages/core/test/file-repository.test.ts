import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import Ajv from 'ajv';
import {
  ClosedError,
  ConflictError,
  CorruptDataError,
  FaultyFs,
  FileRepository,
  InvalidOptionError,
  LockedError,
  NotFoundError,
  ValidationError,
  WriteFailedError,
  type CommitEvent,
  type RepositoryWarning,
} from '@filekeep/core';
import { fixture, killHard, startChild } from './helpers/child';
import { expenseSchema, looseSchema, type Expense } from './helpers/expense-schema';
import { GatedFs } from './helpers/gated-fs';
import { isTempName, useTempDir } from './helpers/temp-dir';

const tmp = useTempDir();
const open = (options: { fs?: FaultyFs; file?: string } = {}) =>
  FileRepository.open<{ expenses: Expense; notes: Record<string, unknown> }>({
    file: options.file ?? tmp.file('db.json'),
    collections: { expenses: { schema: expenseSchema }, notes: { schema: looseSchema } },
    ...(options.fs ? { fs: options.fs } : {}),
  });
const readDoc = async (file = tmp.file('db.json')) => JSON.parse(await readFile(file, 'utf8'));
const lunch: Expense = { description: 'Lunch', amount: 12.5, category: 'food' };

let repos: FileRepository<never>[] = [];
const track = <R>(repo: R): R => (repos.push(repo as never), repo);
afterEach(async () => {
  await Promise.all(repos.map((r) => r.close().catch(() => undefined)));
  repos = [];
});

describe('FileRepository', () => {
  describe('.insert()', () => {
    it('resolves with the stored record once it is in the file', async () => {
      const repo = track(await open());
      const saved = await repo.collection('expenses').insert(lunch);
      expect(saved).toEqual({ id: 1, ...lunch });
      const doc = await readDoc();
      expect(doc.format).toBe('filekeep/1');
      expect(doc.collections.expenses).toEqual({ nextId: 2, records: [{ id: 1, ...lunch }] });
    });

    it('gives 1,000 concurrent inserts 1,000 distinct ids in far fewer than 1,000 file writes', async () => {
      const fs = new FaultyFs();
      const repo = track(await open({ fs }));
      const commits: CommitEvent[] = [];
      repo.on('commit', (event) => commits.push(event));
      const expenses = repo.collection('expenses');
      const saved = await Promise.all(Array.from({ length: 1000 }, (_, i) => expenses.insert({ description: `e${i}`, amount: i + 1 })));
      expect(new Set(saved.map((r) => r.id)).size).toBe(1000);
      const renames = fs.count('rename', (p) => p === tmp.file('db.json'));
      expect(renames).toBeLessThan(50);
      expect(commits).toHaveLength(renames);
      expect(commits.reduce((sum, c) => sum + c.batch.mutations, 0)).toBe(1000);
      expect((await readDoc()).collections.expenses.records).toHaveLength(1000);
    });

    it('resolves a durable commit whose commit listener throws, and reports the listener as an FK_LISTENER_FAILED warning', async () => {
      const warnings: RepositoryWarning[] = [];
      const repo = track(
        await FileRepository.open<{ expenses: Expense }>({ file: tmp.file('db.json'), collections: { expenses: { schema: expenseSchema } }, onWarning: (w) => void warnings.push(w) }),
      );
      repo.on('commit', () => {
        throw new Error('a bug in the listener');
      });
      const saved = await repo.collection('expenses').insert(lunch);
      expect(repo.collection('expenses').list()).toEqual([saved]);
      expect((await readDoc()).collections.expenses.records).toEqual([saved]);
      expect(warnings.map((w) => [w.code, w.details['event']])).toEqual([['FK_LISTENER_FAILED', 'commit']]);
      expect(warnings[0]!.message).toContain('a bug in the listener');
      expect(await repo.collection('expenses').insert(lunch)).toEqual({ id: 2, ...lunch });
    });

    it('rejects a record that fails the schema and queues nothing', async () => {
      const fs = new FaultyFs();
      const repo = track(await open({ fs }));
      const error = await repo.collection('expenses').insert({ description: '', amount: -1 } as Expense).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).code).toBe('FK_VALIDATION_FAILED');
      expect((error as ValidationError).errors.map((e) => e.instancePath).sort()).toEqual(['/amount', '/description']);
      await repo.flush();
      expect(fs.count('rename')).toBe(0);
      expect(repo.collection('expenses').count()).toBe(0);
    });

    it('refuses values that are not JSON data and nesting deeper than the limit', async () => {
      const repo = track(await open());
      const notes = repo.collection('notes');
      await expect(notes.insert({ when: new Date() })).rejects.toBeInstanceOf(ValidationError);
      await expect(notes.insert({ n: NaN })).rejects.toBeInstanceOf(ValidationError);
      let deep: Record<string, unknown> = {};
      for (let i = 0; i < 1000; i++) deep = { d: deep };
      await expect(notes.insert(deep)).rejects.toBeInstanceOf(ValidationError);
    });

    it('points at the offending value with a JSON pointer', async () => {
      const notes = track(await open()).collection('notes');
      const pointerOf = async (data: Record<string, unknown>) => {
        const error = await notes.insert(data).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        return (error as ValidationError).errors.map((e) => e.instancePath);
      };
      expect(await pointerOf({ ok: 1, a: { 'x/y~z': [1, Infinity] } })).toEqual(['/a/x~1y~0z/1']);
      expect(await pointerOf({ list: [0, undefined] })).toEqual(['/list/1']);
      expect(await pointerOf({ a: [{ when: new Date() }] })).toEqual(['/a/0/when']);
      // The stack of keys is per call: a later, valid record is unaffected.
      await expect(notes.insert({ a: { b: [1] } })).resolves.toMatchObject({ a: { b: [1] } });
    });

    it('does not let the caller change the stored record afterwards', async () => {
      const repo = track(await open());
      const notes = repo.collection('notes');
      const input = { list: [1, 2] };
      const saved = await notes.insert(input);
      input.list.push(3);
      expect(() => (saved['list'] as number[]).push(4)).toThrow(TypeError);
      expect(notes.get(saved.id)).toEqual({ id: 1, list: [1, 2] });
    });

    it('accepts a caller-chosen string id and refuses a duplicate with ConflictError', async () => {
      const repo = track(await open());
      const notes = repo.collection('notes');
      await notes.insert({ a: 1 }, { id: 'alpha' });
      await expect(notes.insert({ a: 2 }, { id: 'alpha' })).rejects.toBeInstanceOf(ConflictError);
      expect(notes.get('alpha')).toEqual({ id: 'alpha', a: 1 });
      await expect(notes.insert({ a: 3 }, { id: 0 })).rejects.toBeInstanceOf(ValidationError);
    });

    it('refuses an id inside the data', async () => {
      const repo = track(await open());
      await expect(repo.collection('notes').insert({ id: 7 })).rejects.toBeInstanceOf(ValidationError);
    });
  });

  describe('user keys', () => {
    it('keeps __proto__, constructor and toString as plain data, in ids and fields', async () => {
      const repo = track(await open());
      const notes = repo.collection('notes');
      const hostile = JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"toString":"x"}');
      for (const id of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) await notes.insert(hostile, { id });
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(notes.count()).toBe(4);
      const stored = notes.get('__proto__')!;
      expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
      expect(Object.hasOwn(stored, '__proto__')).toBe(true);
      expect(notes.list({ where: { toString: 'x' } as never })).toHaveLength(4);
      const before = notes.get('constructor');
      await repo.close();
      const reopened = track(await open());
      expect(reopened.collection('notes').get('constructor')).toEqual(before);
      expect(Object.keys(reopened.collection('notes').get('__proto__')!)).toEqual(['id', '__proto__', 'constructor', 'toString']);
    });
  });

  describe('.get() / .list() / .count()', () => {
    it('filters by field equality or predicate, sorts, and pages', async () => {
      const repo = track(await open());
      const expenses = repo.collection('expenses');
      await Promise.all([
        expenses.insert({ description: 'a', amount: 30, category: 'food' }),
        expenses.insert({ description: 'b', amount: 10, category: 'transport' }),
        expenses.insert({ description: 'c', amount: 20, category: 'food' }),
      ]);
      expect(expenses.list().map((r) => r.id)).toEqual([1, 2, 3]);
      expect(expenses.list({ where: { category: 'food' } }).map((r) => r.id)).toEqual([1, 3]);
      expect(expenses.list({ where: (r) => r.amount > 15 }).map((r) => r.id)).toEqual([1, 3]);
      expect(expenses.list({ sort: 'amount' }).map((r) => r.amount)).toEqual([10, 20, 30]);
      expect(expenses.list({ sort: 'amount', order: 'desc', limit: 2 }).map((r) => r.amount)).toEqual([30, 20]);
      expect(expenses.list({ offset: 1, limit: 1 }).map((r) => r.id)).toEqual([2]);
      expect(expenses.count({ category: 'food' })).toBe(2);
      expect(expenses.get(99)).toBeUndefined();
      expect(() => expenses.list({ limit: -1 })).toThrow(ValidationError);
    });

    it('does not show a change while its write is in flight, and shows it once resolved', async () => {
      const fs = new GatedFs();
      const repo = track(await open({ fs }));
      const expenses = repo.collection('expenses');
      fs.close_();
      const pending = expenses.insert(lunch);
      await fs.reached;
      expect(expenses.get(1)).toBeUndefined();
      expect(expenses.count()).toBe(0);
      fs.open_();
      await pending;
      expect(expenses.get(1)).toEqual({ id: 1, ...lunch });
    });

    it('lets a write build on changes that are still queued', async () => {
      const fs = new GatedFs();
      const repo = track(await open({ fs }));
      const expenses = repo.collection('expenses');
      fs.close_();
      const inserted = expenses.insert(lunch);
      await fs.reached;
      const updated = expenses.update(1, { amount: 20 });
      const removed = expenses.remove(1);
      fs.open_();
      await Promise.all([inserted, updated, removed]);
      expect(expenses.get(1)).toBeUndefined();
      expect((await readDoc()).collections.expenses).toEqual({ nextId: 2, records: [] });
    });
  });

  describe('.update() / .replace() / .remove()', () => {
    it('merge-patches, re-validates, and removes a field with null', async () => {
      const repo = track(await open());
      const expenses = repo.collection('expenses');
      await expenses.insert(lunch);
      expect(await expenses.update(1, { amount: 15, category: null })).toEqual({ id: 1, description: 'Lunch', amount: 15 });
      await expect(expenses.update(1, { amount: -5 })).rejects.toBeInstanceOf(ValidationError);
      await expect(expenses.update(1, { description: null })).rejects.toBeInstanceOf(ValidationError);
      expect(await expenses.replace(1, { description: 'Dinner', amount: 30 })).toEqual({ id: 1, description: 'Dinner', amount: 30 });
      expect((await readDoc()).collections.expenses.records).toEqual([{ id: 1, description: 'Dinner', amount: 30 }]);
    });

    it('rejects a missing record with NotFoundError', async () => {
      const repo = track(await open());
      const expenses = repo.collection('expenses');
      await expect(expenses.update(9, { amount: 1 })).rejects.toBeInstanceOf(NotFoundError);
      await expect(expenses.replace(9, lunch)).rejects.toBeInstanceOf(NotFoundError);
      await expect(expenses.remove(9)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('rejects a stale expected version with ConflictError and applies a current one', async () => {
      const repo = track(await open());
      const expenses = repo.collection('expenses');
      const v1 = expenses.versionOf(await expenses.insert(lunch));
      const updated = await expenses.update(1, { amount: 13 }, { ifVersion: v1 });
      const error = await expenses.update(1, { amount: 14 }, { ifVersion: v1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as ConflictError).code).toBe('FK_CONFLICT');
      await expect(expenses.remove(1, { ifVersion: v1 })).rejects.toBeInstanceOf(ConflictError);
      await expenses.remove(1, { ifVersion: expenses.versionOf(updated) });
      expect(expenses.count()).toBe(0);
    });

    it('gives a record the same version stored, reread, queued or removed, and a new one when its content changes', async () => {
      let repo = await open();
      let expenses = repo.collection('expenses');
      const saved = await expenses.insert(lunch);
      const version = expenses.versionOf(saved);
      expect(version).toMatch(/^[\w-]{20}$/);
      expect(expenses.versionOf(expenses.get(1)!)).toBe(version);
      // A record object that is not (or no longer) stored: computed from its content alike.
      expect(expenses.versionOf({ ...saved })).toBe(version);
      const queued = expenses.update(1, { amount: 13 });
      expect(expenses.versionOf(saved)).toBe(version);
      const updated = await queued;
      expect(expenses.versionOf(updated)).not.toBe(version);
      expect(expenses.versionOf(await expenses.remove(1))).toBe(expenses.versionOf(updated));
      await repo.close();
      repo = track(await open());
      expenses = repo.collection('expenses');
      expect(expenses.versionOf(await expenses.insert(lunch, { id: 1 }))).toBe(version);
    });

    it('never reuses an id, also after remove and reopen', async () => {
      let repo = await open();
      await repo.collection('expenses').insert(lunch);
      await repo.collection('expenses').insert(lunch);
      await repo.collection('expenses').remove(2);
      await repo.close();
      repo = track(await open());
      expect((await repo.collection('expenses').insert(lunch)).id).toBe(3);
    });
  });

  describe('a failed write', () => {
    it('rejects exactly its callers and the ones queued after, leaves file and reads unchanged, then recovers', async () => {
      const fs = new GatedFs();
      const repo = track(await open({ fs }));
      const expenses = repo.collection('expenses');
      await expenses.insert(lunch);
      const before = await readFile(tmp.file('db.json'), 'utf8');
      const errors: unknown[] = [];
      repo.on('error', (e) => errors.push(e));

      fs.close_();
      const failing = [expenses.insert({ description: 'x', amount: 1 }), expenses.update(1, { amount: 99 })];
      await fs.reached; // this batch is in flight; the next two queue behind it
      fs.fail({ call: 'rename', code: 'ENOSPC', nth: 1 });
      const behind = [expenses.insert({ description: 'y', amount: 2 }), expenses.remove(1)];
      fs.open_();
      const results = await Promise.allSettled([...failing, ...behind]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
      for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WriteFailedError);
      expect(errors).toHaveLength(1);

      expect(await readFile(tmp.file('db.json'), 'utf8')).toBe(before);
      expect(expenses.list()).toEqual([{ id: 1, ...lunch }]);
      expect((await tmp.list()).filter(isTempName)).toEqual([]);

      fs.heal();
      expect((await expenses.insert({ description: 'z', amount: 3 })).id).toBe(2);
      expect((await readDoc()).collections.expenses.records.map((r: { id: number }) => r.id)).toEqual([1, 2]);
    });

    it('never writes a failed update later, when the next commit only inserts', async () => {
      const fs = new FaultyFs();
      const repo = track(await open({ fs }));
      const expenses = repo.collection('expenses');
      await Promise.all([expenses.insert(lunch), expenses.insert(lunch)]);
      fs.fail({ call: 'fdatasync', code: 'EIO', nth: 1 });
      await expect(expenses.update(1, { amount: 99 })).rejects.toBeInstanceOf(WriteFailedError);
      fs.heal();
      await expenses.insert({ ...lunch, amount: 3 });
      expect((await readDoc()).collections.expenses.records.map((r: Expense) => r.amount)).toEqual([12.5, 12.5, 3]);
      expect(expenses.list().map((r) => r.amount)).toEqual([12.5, 12.5, 3]);
    });

    it('makes flush() reject when the queued changes could not be written', async () => {
      const fs = new FaultyFs();
      const repo = track(await open({ fs }));
      fs.fail({ call: 'fdatasync', code: 'EIO' });
      const insert = repo.collection('expenses').insert(lunch);
      await expect(repo.flush()).rejects.toBeInstanceOf(WriteFailedError);
      await expect(insert).rejects.toBeInstanceOf(WriteFailedError);
      fs.heal();
      await expect(repo.flush()).resolves.toBeUndefined();
    });
  });

  describe('.open()', () => {
    const corrupt: Array<[string, string, string]> = [
      ['text that is not JSON', '{"format":"filekeep/1","collections":{', 'invalid JSON'],
      ['an empty file', '', 'empty'],
      ['JSON of the wrong shape', '[1,2,3]', 'top level'],
      ['an unknown format', '{"format":"other","collections":{}}', 'unknown format'],
      ['a records field that is not an array', '{"format":"filekeep/1","collections":{"expenses":{"nextId":1,"records":{}}}}', 'records'],
      ['duplicate ids', '{"format":"filekeep/1","collections":{"expenses":{"nextId":3,"records":[{"id":1,"description":"a","amount":1},{"id":1,"description":"b","amount":2}]}}}', 'duplicate id 1'],
      ['an id at or above nextId', '{"format":"filekeep/1","collections":{"expenses":{"nextId":2,"records":[{"id":2,"description":"a","amount":1}]}}}', 'nextId'],
      ['a record that fails the schema', '{"format":"filekeep/1","collections":{"expenses":{"nextId":2,"records":[{"id":1,"description":"a","amount":-1}]}}}', 'fails the schema'],
    ];
    for (const [what, content, reason] of corrupt) {
      it(`refuses ${what} with CorruptDataError naming the file, and leaves it byte-identical`, async () => {
        const file = tmp.file('db.json');
        await writeFile(file, content);
        const error = await open().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CorruptDataError);
        expect((error as CorruptDataError).message).toContain(file);
        expect((error as CorruptDataError).message).toContain(reason);
        expect(await readFile(file, 'utf8')).toBe(content);
        expect(await tmp.list()).toEqual(['db.json']); // lock released, nothing written
      });
    }

    it('keeps collections it does not declare, verbatim', async () => {
      await writeFile(tmp.file('db.json'), '{"format":"filekeep/1","collections":{"legacy":{"nextId":2,"records":[{"id":1,"x":true}]}}}');
      const repo = track(await open());
      await repo.collection('expenses').insert(lunch);
      expect((await readDoc()).collections.legacy).toEqual({ nextId: 2, records: [{ id: 1, x: true }] });
    });

    it('refuses a second owner in the same process with LockedError naming the lock', async () => {
      track(await open());
      const error = await open().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockedError);
      expect((error as LockedError).message).toContain(`${tmp.file('db.json')}.lock`);
    });

    it('refuses a second process with LockedError naming the lock and pid', async () => {
      const holder = startChild(fixture('repo-holder.js'), [tmp.file('db.json')]);
      try {
        await holder.waitFor(/^open/);
        const error = await open().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(LockedError);
        expect((error as LockedError).message).toContain(`pid ${holder.child.pid}`);
      } finally {
        await killHard(holder);
      }
    });

    it('opens at once after the previous owner was SIGKILLed', async () => {
      const holder = startChild(fixture('repo-holder.js'), [tmp.file('db.json')]);
      await holder.waitFor(/^open/);
      await killHard(holder);
      const started = Date.now();
      track(await open());
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it('sweeps temp files left by a dead writer', async () => {
      await writeFile(tmp.file('.db.json.999999999.ab.tmp'), 'half');
      track(await open());
      expect(await tmp.list()).toEqual(['db.json.lock']);
    });

    it('compiles a schema once, however often repositories are opened with it', async () => {
      const schema = { type: 'object', properties: { n: { type: 'integer' } }, additionalProperties: false };
      const compile = jest.spyOn(Ajv.prototype, 'compile');
      try {
        for (const name of ['a.json', 'b.json', 'a.json']) {
          const repo = await FileRepository.open({ file: tmp.file(name), collections: { things: { schema } } });
          await expect(repo.collection('things').insert({ n: 1.5 })).rejects.toBeInstanceOf(ValidationError);
          await repo.close();
        }
        expect(compile.mock.calls.filter(([compiled]) => compiled === schema)).toHaveLength(1);
      } finally {
        compile.mockRestore();
      }
    });

    it('keeps schemas that share an $id apart', async () => {
      const numbers = { $id: 'thing', type: 'object', properties: { v: { type: 'number' } } };
      const strings = { $id: 'thing', type: 'object', properties: { v: { type: 'string' } } };
      const a = track(await FileRepository.open({ file: tmp.file('a.json'), collections: { things: { schema: numbers } } }));
      const b = track(await FileRepository.open({ file: tmp.file('b.json'), collections: { things: { schema: strings } } }));
      await a.collection('things').insert({ v: 1 });
      await b.collection('things').insert({ v: 'one' });
      await expect(a.collection('things').insert({ v: 'one' })).rejects.toBeInstanceOf(ValidationError);
      await expect(b.collection('things').insert({ v: 1 })).rejects.toBeInstanceOf(ValidationError);
    });

    it('refuses a data file outside its directory', async () => {
      const options = { directory: tmp.path, collections: { notes: { schema: looseSchema } } };
      for (const file of ['../escape.json', '/etc/passwd', '.', 'a/../../b.json']) {
        await expect(FileRepository.open({ ...options, file })).rejects.toBeInstanceOf(InvalidOptionError);
      }
      // Names that merely start with dots are inside.
      for (const file of ['..data.json', '...']) await (await FileRepository.open({ ...options, file })).close();
      const repo = track(await FileRepository.open({ ...options, file: 'sub/inside.json' }));
      await repo.collection('notes').insert({ ok: true });
      expect(await readDoc(path.join(tmp.path, 'sub/inside.json'))).toBeTruthy();
    });
  });

  describe('.close()', () => {
    it('flushes, releases the lock, and rejects later calls with ClosedError', async () => {
      const repo = await open();
      const pending = repo.collection('expenses').insert(lunch);
      await repo.close();
      await expect(pending).resolves.toMatchObject({ id: 1 });
      expect(await tmp.list()).toEqual(['db.json']);
      await expect(repo.collection('expenses').insert(lunch)).rejects.toBeInstanceOf(ClosedError);
      expect(() => repo.collection('expenses').list()).toThrow(ClosedError);
    });
  });

  describe('under SIGKILL', () => {
    it('keeps every insert whose promise resolved, and the file parses', async () => {
      const file = tmp.file('db.json');
      for (let round = 0; round < 5; round++) {
        const child = startChild(fixture('inserter.js'), [file]);
        await child.waitFor(/^ok /);
        await new Promise((resolve) => setTimeout(resolve, 30 + Math.random() * 200));
        await killHard(child);
        const acknowledged = child.lines.filter((l) => l.startsWith('ok ')).map((l) => l.split(' '));
        const repo = await FileRepository.open<{ items: { n: number } }>({ file, collections: { items: { schema: looseSchema } } });
        const items = repo.collection('items');
        for (const [, id, n] of acknowledged) expect(items.get(Number(id))?.n).toBe(Number(n));
        const ids = items.list().map((r) => r.id);
        expect(new Set(ids).size).toBe(ids.length);
        await repo.close();
      }
    });
  });
});
