import type { AnySchema } from 'ajv';
import { parseId, type Id } from '@filekeep/core';
import { RequestValidationError, type RequestValidationIssue } from './errors';

type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'null';
type Scalar = string | number | boolean | null;

/** What the record schema says about its top-level fields. */
export interface FieldTypes {
  /** Types per field, for the fields the schema describes with a `type`, `enum` or `const`. */
  types: Map<string, Set<JsonType>>;
  /** `additionalProperties: false`: no other field can exist, so filtering on one is an error. */
  closed: boolean;
}

export function fieldTypes(schema: AnySchema | undefined): FieldTypes | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const { properties, additionalProperties } = schema as { properties?: unknown; additionalProperties?: unknown };
  if (typeof properties !== 'object' || properties === null) return undefined;
  const types = new Map<string, Set<JsonType>>();
  for (const [field, property] of Object.entries(properties)) types.set(field, typesOf(property));
  return { types, closed: additionalProperties === false };
}

function typesOf(property: unknown): Set<JsonType> {
  const out = new Set<JsonType>();
  if (typeof property !== 'object' || property === null) return out;
  const { type, enum: values, const: constant } = property as { type?: unknown; enum?: unknown; const?: unknown };
  for (const t of Array.isArray(type) ? type : [type]) if (isJsonType(t)) out.add(t);
  const examples = [...(Array.isArray(values) ? values : []), ...('const' in property ? [constant] : [])];
  for (const value of examples) {
    if (value === null) out.add('null');
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out.add(typeof value as JsonType);
  }
  return out;
}

function isJsonType(value: unknown): value is JsonType {
  return value === 'string' || value === 'number' || value === 'integer' || value === 'boolean' || value === 'null';
}

export interface ListQuery {
  where: ((record: object) => boolean) | undefined;
  sort: string | undefined;
  order: 'asc' | 'desc' | undefined;
  limit: number | undefined;
  offset: number | undefined;
}

const RESERVED = new Set(['_sort', '_order', '_limit', '_offset']);

/**
 * Read `?field=value` filters (repeat a field to match any of the values) and `_sort`, `_order`,
 * `_limit`, `_offset`. Values are coerced to the field's schema type; a field the schema does not
 * describe matches on its text (`String(value)`).
 */
export function parseListQuery(query: Record<string, unknown>, fields: FieldTypes | undefined): ListQuery {
  const issues: RequestValidationIssue[] = [];
  const issue = (name: string, message: string, keyword: string, params: Record<string, unknown> = {}) =>
    issues.push({ in: 'query', instancePath: `/${name}`, message, keyword, params });
  // As ajv reports it: the parent's path, the property in params (issuePath joins them).
  const unknown = (name: string, message: string) =>
    issues.push({ in: 'query', instancePath: '', message, keyword: 'additionalProperties', params: { additionalProperty: name } });

  const filters: Array<{ field: string; matches: (value: unknown) => boolean }> = [];
  for (const name of Object.keys(query)) {
    const raw = query[name];
    if (RESERVED.has(name)) continue;
    if (name.startsWith('_')) {
      unknown(name, 'is not a known query parameter');
      continue;
    }
    const values = (Array.isArray(raw) ? raw : [raw]) as unknown[];
    if (!values.every((v): v is string => typeof v === 'string')) {
      issue(name, 'must be a plain value', 'type', { type: 'string' });
      continue;
    }
    if (name === 'id') {
      const ids = new Set<Id>(values.map(parseId));
      filters.push({ field: name, matches: (value) => ids.has(value as Id) });
      continue;
    }
    const types = fields?.types.get(name);
    if (types === undefined && fields?.closed) {
      unknown(name, 'is not a field of this collection');
      continue;
    }
    if (types === undefined || types.size === 0) {
      filters.push({ field: name, matches: (value) => isScalar(value) && values.includes(String(value)) });
      continue;
    }
    const wanted: Scalar[] = [];
    for (const text of values) {
      const value = coerce(text, types);
      if (value === undefined) issue(name, `must be ${[...types].join(' or ')}`, 'type', { type: [...types] });
      else wanted.push(value);
    }
    filters.push({ field: name, matches: (value) => wanted.includes(value as Scalar) });
  }

  const sort = single(query, '_sort', issue);
  if (sort !== undefined && sort !== 'id' && fields && !fields.types.has(sort) && fields.closed) {
    issue('_sort', 'must be a field of this collection', 'enum', { allowedValues: ['id', ...fields.types.keys()] });
  }
  const order = single(query, '_order', issue);
  if (order !== undefined && order !== 'asc' && order !== 'desc') issue('_order', "must be 'asc' or 'desc'", 'enum', { allowedValues: ['asc', 'desc'] });
  const limit = count(query, '_limit', issue);
  const offset = count(query, '_offset', issue);
  if (issues.length > 0) throw new RequestValidationError(issues);

  return {
    where: filters.length === 0 ? undefined : (record) => filters.every(({ field, matches }) => matches(Object.hasOwn(record, field) ? (record as Record<string, unknown>)[field] : undefined)),
    sort,
    order: order as 'asc' | 'desc' | undefined,
    limit,
    offset,
  };
}

type Report = (name: string, message: string, keyword: string, params?: Record<string, unknown>) => void;

function single(query: Record<string, unknown>, name: string, issue: Report): string | undefined {
  const raw = query[name];
  if (raw === undefined) return undefined;
  if (typeof raw === 'string') return raw;
  issue(name, 'must be given once', 'type', { type: 'string' });
  return undefined;
}

function count(query: Record<string, unknown>, name: string, issue: Report): number | undefined {
  const raw = single(query, name, issue);
  if (raw === undefined) return undefined;
  const n = /^[0-9]{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (Number.isSafeInteger(n)) return n;
  issue(name, 'must be a non-negative integer', 'type', { type: 'integer' });
  return undefined;
}

const DECIMAL = /^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/;

/** The value `text` stands for under `types`, or undefined if it fits none. */
function coerce(text: string, types: Set<JsonType>): Scalar | undefined {
  if (types.has('integer') && /^-?[0-9]+$/.test(text) && Number.isSafeInteger(Number(text))) return Number(text);
  if (types.has('number') && DECIMAL.test(text) && Number.isFinite(Number(text))) return Number(text);
  if (types.has('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  if (types.has('null') && text === 'null') return null;
  if (types.has('string')) return text;
  return undefined;
}

function isScalar(value: unknown): value is Scalar {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}
