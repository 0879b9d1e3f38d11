import type { Request } from 'express';
import { NotFoundError, type Collection, type Id, type StoredRecord, type WriteOptions } from '@filekeep/core';
import { PreconditionFailedError } from './errors';

/** The strong ETag of a record: its repository version, quoted. */
export function etagOf<T extends object>(collection: Collection<T>, record: StoredRecord<T>): string {
  return `"${collection.versionOf(record)}"`;
}

/** The strong entity tags in an `If-Match` value; weak ones never match (RFC 9110 §13.1.1). */
export function strongTags(header: string): string[] {
  const tags: string[] = [];
  for (const match of header.matchAll(/(W\/)?"([^"]*)"/g)) if (!match[1]) tags.push(match[2]!);
  return tags;
}

/**
 * Evaluate `If-Match` for a write to `id`. Returns the write options that make the check atomic
 * with the write: the version the client matched is passed as `ifVersion`, so a change that lands
 * in between still fails. A missing record is a 404 whatever the header says (RFC 9110 §13.2.1:
 * preconditions apply only where the response would otherwise be 2xx).
 */
export function ifMatch<T extends object>(req: Request, collection: Collection<T>, id: Id): WriteOptions {
  const header = req.get('If-Match');
  if (header === undefined) return {};
  const current = collection.get(id);
  if (!current) throw new NotFoundError(collection.name, id);
  if (header.trim() === '*') return {};
  const version = collection.versionOf(current);
  if (!strongTags(header).includes(version)) throw new PreconditionFailedError();
  return { ifVersion: version };
}
