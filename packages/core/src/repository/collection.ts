import * as crypto from 'node:crypto';
import type { AnySchema } from 'ajv';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import { isValidId, parseId, type Id } from './ids';
import { copyJson, deepFreeze, getOwn, isPlainObject, setOwn } from './json-value';
import { applyMergePatch, type MergePatch } from './merge-patch';
import type { ChangeTracker } from './change-tracker';
import type { RecordValidator } from './record-validator';
import { entryJson, newEntry, type Entry } from './snapshot-format';

/** A record as filekeep returns it: the data plus its `id`, deep-frozen. */
export type StoredRecord<T> = Readonly<T> & { readonly id: Id };

export interface ListQuery<T> {
  /** Field equality (`{ category: 'food' }`) or a predicate. */
  where?: Partial<T> | { id?: Id } | ((record: StoredRecord<T>) => boolean);
  /** Field to sort by. @default 'id' */
  sort?: (keyof T & string) | 'id';
  /** @default 'asc' */
  order?: 'asc' | 'desc';
  limit?: number;
  /** @default 0 */
  offset?: number;
}

export interface WriteOptions {
  /** Apply only if the record's current version (see `versionOf`) is this one; otherwise ConflictError. */
  ifVersion?: string;
}

export interface InsertOptions {
  /** Use this id instead of the next auto-increment integer. */
  id?: Id;
}

/** What a collection needs from its repository: the working view and the queue. */
export interface CollectionStore {
  assertOpen(): void;
  /** Durable state only (read-committed). */
  durable(collection: string): Map<Id, Entry>;
  /** The newest state including queued changes: what a new write builds on. */
  current(collection: string, id: Id): Entry | undefined;
  nextId(collection: string): number;
  stage(collection: string, id: Id, entry: Entry | null, nextId?: number): Promise<void>;
}

/**
 * A typed set of records inside a FileRepository. Reads are synchronous and see durable state;
 * writes validate, queue, and resolve once the change is on disk.
 */
export class Collection<T extends object> {
  /** Set on views made by `tracked()`: every change made through the view is recorded in it. */
  private tracker: ChangeTracker | undefined;

  /** @internal */
  constructor(
    readonly name: string,
    private readonly store: CollectionStore,
    private readonly validator: RecordValidator,
    /** The JSON Schema of a record's data (without `id`), as given to the repository. */
    readonly schema: AnySchema,
  ) {}

  /**
   * @example
   * const saved = await expenses.insert({ description: 'Lunch', amount: 12.5, category: 'food' });
   * saved.id; // 1
   */
  insert(data: T, options: InsertOptions = {}): Promise<StoredRecord<T>> {
    return this.attempt(() => {
      const copy = this.validData(data);
      let id: Id;
      let nextId = this.store.nextId(this.name);
      if (options.id !== undefined) {
        if (!isValidId(options.id)) throw invalidId(options.id);
        id = options.id;
        if (this.store.current(this.name, id)) throw new ConflictError(`${this.name} already has a record with id ${JSON.stringify(id)}`, { collection: this.name, id });
        if (typeof id === 'number' && id >= nextId) nextId = id + 1;
      } else {
        id = nextId++;
      }
      return this.write(id, copy, nextId);
    });
  }

  /** The durable record with this id, or undefined. */
  get(id: Id): StoredRecord<T> | undefined {
    this.store.assertOpen();
    return this.store.durable(this.name).get(id)?.record as StoredRecord<T> | undefined;
  }

  has(id: Id): boolean {
    return this.get(id) !== undefined;
  }

  list(query: ListQuery<T> = {}): StoredRecord<T>[] {
    this.store.assertOpen();
    const { limit, offset = 0, order = 'asc', sort = 'id' } = query;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) throw invalidQuery('limit', limit);
    if (!Number.isSafeInteger(offset) || offset < 0) throw invalidQuery('offset', offset);
    if (order !== 'asc' && order !== 'desc') throw invalidQuery('order', order);
    let records = this.matching(query.where);
    if (sort !== 'id') {
      records.sort((a, b) => compareValues(getOwn(a, sort), getOwn(b, sort)));
    }
    if (order === 'desc') records.reverse();
    if (offset > 0 || limit !== undefined) records = records.slice(offset, limit === undefined ? undefined : offset + limit);
    return records;
  }

  count(where?: ListQuery<T>['where']): number {
    this.store.assertOpen();
    if (where === undefined) return this.store.durable(this.name).size;
    return this.matching(where).length;
  }

  /** Apply a JSON merge patch (RFC 7396: `null` removes a field); the result is validated. */
  update(id: Id, patch: MergePatch<T>, options: WriteOptions = {}): Promise<StoredRecord<T>> {
    return this.attempt(() => {
      const current = this.existing(id, options);
      const copy = copyJson(patch);
      if (!isPlainObject(copy)) throw new ValidationError('A patch must be a JSON object', [{ instancePath: '', message: 'must be object', keyword: 'type', params: { type: 'object' } }]);
      if (Object.hasOwn(copy, 'id') && copy['id'] !== id) throw idIsNotData();
      delete copy['id'];
      const merged = applyMergePatch(dataOf(current.record), copy);
      this.validator.check(merged);
      return this.write(id, merged as Record<string, unknown>);
    });
  }

  /** Replace all of a record's data (its id stays). */
  replace(id: Id, data: T, options: WriteOptions = {}): Promise<StoredRecord<T>> {
    return this.attempt(() => {
      this.existing(id, options);
      return this.write(id, this.validData(data));
    });
  }

  /** Remove a record; resolves with it once the removal is durable. Ids are never reused. */
  remove(id: Id, options: WriteOptions = {}): Promise<StoredRecord<T>> {
    return this.attempt(() => {
      const current = this.existing(id, options);
      return this.stage(id, null).then(() => current.record as StoredRecord<T>);
    });
  }

  /** An opaque version of a record's content, usable as a strong ETag. */
  versionOf(record: StoredRecord<T>): string {
    // A stored record's version is kept on its entry and hashes the JSON the write already made.
    const entry = this.entryOf(record);
    if (entry) return (entry.version ??= hashOf(entryJson(entry)));
    return hashOf(JSON.stringify(record));
  }

  /**
   * A view of this collection that records the commit of every change made through it in
   * `tracker` (reads and everything else are the collection's own). Cheap: one object.
   *
   * @example
   * const tracker = new ChangeTracker();
   * await expenses.tracked(tracker).insert(data);
   * await tracker.durable();
   */
  tracked(tracker: ChangeTracker): Collection<T> {
    const view = Object.create(this) as Collection<T>;
    view.tracker = tracker;
    return view;
  }

  /** An id from a URL segment: `'12'` becomes 12, anything else stays a string. */
  parseId(raw: string): Id {
    return parseId(raw);
  }

  private matching(where: ListQuery<T>['where']): StoredRecord<T>[] {
    const all = [...this.store.durable(this.name).values()].map((e) => e.record as StoredRecord<T>);
    if (where === undefined) return all;
    if (typeof where === 'function') return all.filter(where);
    const pairs = Object.keys(where).map((key) => [key, (where as Record<string, unknown>)[key]] as const);
    return all.filter((record) => pairs.every(([key, value]) => Object.hasOwn(record, key) && getOwn(record, key) === value));
  }

  /** The entry holding this very record object (durable or queued), if it is still stored. */
  private entryOf(record: StoredRecord<T>): Entry | undefined {
    const durable = this.store.durable(this.name).get(record.id);
    if (durable?.record === record) return durable;
    const current = this.store.current(this.name, record.id);
    return current?.record === record ? current : undefined;
  }

  private existing(id: Id, options: WriteOptions): Entry {
    const current = this.store.current(this.name, id);
    if (!current) throw new NotFoundError(this.name, id);
    if (options.ifVersion !== undefined) {
      const version = this.versionOf(current.record as StoredRecord<T>);
      if (version !== options.ifVersion) {
        throw new ConflictError(`${this.name} record ${JSON.stringify(id)} has changed (version ${version}, expected ${options.ifVersion})`, {
          collection: this.name,
          id,
          currentVersion: version,
        });
      }
    }
    return current;
  }

  private validData(data: unknown): Record<string, unknown> {
    const copy = copyJson(data);
    if (isPlainObject(copy) && Object.hasOwn(copy, 'id')) throw idIsNotData();
    this.validator.check(copy);
    return copy as Record<string, unknown>;
  }

  private write(id: Id, data: Record<string, unknown>, nextId?: number): Promise<StoredRecord<T>> {
    // Spread defines own properties (a `__proto__` key stays data) and sizes the object once,
    // where adding the fields one by one grew its property store twice per record.
    const record: Record<string, unknown> = { id, ...data };
    const entry = newEntry(deepFreeze(record) as Entry['record']);
    return this.stage(id, entry, nextId).then(() => entry.record as StoredRecord<T>);
  }

  private stage(id: Id, entry: Entry | null, nextId?: number): Promise<void> {
    const done = this.store.stage(this.name, id, entry, nextId);
    this.tracker?.record(done);
    return done;
  }

  /** Turn a synchronous failure (validation, conflict, closed) into a rejection; nothing was queued. */
  private attempt<R>(fn: () => Promise<R>): Promise<R> {
    try {
      this.store.assertOpen();
      return fn();
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

// crypto.hash (Node 20.12+) hashes in one call, without a Hash object per record.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }).hash;

function hashOf(json: string): string {
  const digest = oneShotHash ? oneShotHash('sha1', json, 'base64url') : crypto.createHash('sha1').update(json).digest('base64url');
  return digest.slice(0, 20);
}

function dataOf(record: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const key of Object.keys(record)) if (key !== 'id') setOwn(data, key, record[key]);
  return data;
}

function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return 1;
  if (b === undefined || b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const sa = typeof a === 'string' ? a : JSON.stringify(a);
  const sb = typeof b === 'string' ? b : JSON.stringify(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

function idIsNotData(): ValidationError {
  return new ValidationError('`id` is assigned by filekeep and cannot be set or changed in the data', [
    { instancePath: '/id', message: 'must not be set in the data', keyword: 'readOnly', params: {} },
  ]);
}

function invalidId(id: unknown): ValidationError {
  return new ValidationError(`Invalid id ${JSON.stringify(id)}: use a positive safe integer or a non-empty string of at most 256 characters`, [
    { instancePath: '/id', message: 'must be a positive integer or a non-empty string', keyword: 'id', params: {} },
  ]);
}

function invalidQuery(option: string, value: unknown): ValidationError {
  return new ValidationError(`Invalid list query: ${option} ${JSON.stringify(value)}`, [
    { instancePath: `/${option}`, message: option === 'order' ? "must be 'asc' or 'desc'" : 'must be a non-negative integer', keyword: 'query', params: {} },
  ]);
}
