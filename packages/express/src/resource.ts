import express, { type Request, type Response, type Router } from 'express';
import type { AnySchema } from 'ajv';
import { ConflictError, NotFoundError, type Collection, type Id, type ListQuery as CoreListQuery, type StoredRecord, type WriteOptions } from '@filekeep/core';
import { PreconditionFailedError, RequestValidationError, UnsupportedMediaTypeError } from './errors';
import { jsonBody } from './json-body';
import { forRequest } from './middleware';
import { fieldTypes, parseListQuery } from './list-query';
import { etagOf, ifMatch } from './preconditions';

export interface ResourceOptions {
  /**
   * The collection's record schema. Used to coerce query
   * filters to the field's type (`?amount=12` matches `12`) and to reject unknown fields when the
   * schema has `additionalProperties: false`.
   * @default the schema the collection was opened with (`collection.schema`)
   */
  schema?: AnySchema;
  /**
   * Largest request body the resource parses itself (`express.json` `limit`), when the app has not
   * parsed it already.
   * @default '100kb'
   */
  bodyLimit?: number | string;
}

const DEFAULTS = { bodyLimit: '100kb' } satisfies ResourceOptions;

const JSON_TYPE = ['application/json'];
const PATCH_TYPES = ['application/json', 'application/merge-patch+json'];

/**
 * A REST router for one collection, json-server style: `GET /` (filters, `_sort`, `_order`,
 * `_limit`, `_offset`, `X-Total-Count`), `GET /:id`, `POST /`, `PUT /:id`, `PATCH /:id` (merge
 * patch), `DELETE /:id`. Single records carry an `ETag`; writes honour `If-Match`. With
 * `filekeep()` in front, every 2xx to a write is durable; errors go to `problemDetails()`.
 *
 * @example
 * app.use('/expenses', resource(repo.collection('expenses'), { schema: expenseSchema }));
 */
export function resource<T extends object>(collection: Collection<T>, options: ResourceOptions = {}): Router {
  const { schema = collection.schema, bodyLimit } = { ...DEFAULTS, ...options };
  const fields = fieldTypes(schema);
  const router = express.Router();
  router.use(jsonBody({ type: PATCH_TYPES, limit: bodyLimit }));

  const send = (res: Response, status: number, record: StoredRecord<T>) => res.status(status).set('ETag', etagOf(collection, record)).json(record);
  const idOf = (req: Request<{ id: string }>): Id => collection.parseId(req.params.id);

  // One route per path, its methods on it: a request walks two route layers, not six.
  const all = router.route('/');
  const one = router.route('/:id');

  all.get((req, res) => {
    const query = parseListQuery(req.query as Record<string, unknown>, fields);
    const where = query.where as CoreListQuery<T>['where'];
    res.set('X-Total-Count', String(collection.count(where)));
    res.json(collection.list({ where, sort: query.sort as CoreListQuery<T>['sort'], order: query.order, limit: query.limit, offset: query.offset }));
  });

  one.get((req: Request<{ id: string }>, res) => {
    const id = idOf(req);
    const record = collection.get(id);
    if (!record) throw new NotFoundError(collection.name, id);
    send(res, 200, record);
  });

  all.post(async (req, res) => {
    const saved = await forRequest(collection, req).insert(objectBody(req, JSON_TYPE) as T);
    res.location(`${req.baseUrl}/${encodeURIComponent(String(saved.id))}`);
    send(res, 201, saved);
  });

  one.put(async (req: Request<{ id: string }>, res) => {
    const id = idOf(req);
    const { id: bodyId, ...data } = objectBody(req, JSON_TYPE);
    // A record read from GET can be sent back as is; a different id is left for the repository to refuse.
    const body = bodyId === undefined || bodyId === id ? data : { id: bodyId, ...data };
    send(res, 200, await precondition(ifMatch(req, collection, id), (write) => forRequest(collection, req).replace(id, body as T, write)));
  });

  one.patch(async (req: Request<{ id: string }>, res) => {
    const id = idOf(req);
    const patch = objectBody(req, PATCH_TYPES);
    send(res, 200, await precondition(ifMatch(req, collection, id), (write) => forRequest(collection, req).update(id, patch as Partial<T>, write)));
  });

  one.delete(async (req: Request<{ id: string }>, res) => {
    const id = idOf(req);
    res.status(200).json(await precondition(ifMatch(req, collection, id), (write) => forRequest(collection, req).remove(id, write)));
  });

  return router;
}

/** A version mismatch found by the repository (the record changed after the check) is a 412 too. */
async function precondition<R>(write: WriteOptions, run: (write: WriteOptions) => Promise<R>): Promise<R> {
  try {
    return await run(write);
  } catch (error) {
    if (write.ifVersion !== undefined && error instanceof ConflictError) throw new PreconditionFailedError();
    throw error;
  }
}

/** The parsed JSON object body, or 415 for another media type / 422 for a non-object. */
function objectBody(req: Request, types: string[]): Record<string, unknown> {
  if (req.is(types) === false) throw new UnsupportedMediaTypeError(types);
  const body: unknown = req.body;
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  throw new RequestValidationError([{ in: 'body', instancePath: '', message: 'must be a JSON object', keyword: 'type', params: { type: 'object' } }]);
}
