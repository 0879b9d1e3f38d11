import type { AnySchema, ValidateFunction } from 'ajv';
import { createAjv } from '@filekeep/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RequestValidationError, type RequestPart, type RequestValidationIssue } from './errors';

export interface RequestSchemas {
  /** JSON body; validated as parsed, without type coercion. */
  body?: AnySchema;
  /**
   * Query string. Values are coerced to the schema's types (`?limit=10` → `10`, a single value →
   * `[value]` for an array) and defaults applied; the result replaces `req.query`.
   */
  query?: AnySchema;
  /** Route parameters, coerced like `query`; the result replaces `req.params`. */
  params?: AnySchema;
}


// Two instances because coercion is an instance option: JSON bodies keep their types, strings from
// the URL are coerced. Each caches one compiled validator per schema object.
// Built by core's createAjv, so a request body and the stored record are judged alike.
const strictAjv = createAjv();
const coercingAjv = createAjv({ coerceTypes: 'array', useDefaults: true });
const compiled = { strict: new WeakMap<object, ValidateFunction>(), coercing: new WeakMap<object, ValidateFunction>() };

/** The compiled validator for `schema`, compiled once per schema object. */
export function compileSchema(schema: AnySchema, coerce = false): ValidateFunction {
  const cache = coerce ? compiled.coercing : compiled.strict;
  const key = schema as object;
  let validator = cache.get(key);
  if (!validator) {
    validator = (coerce ? coercingAjv : strictAjv).compile(schema);
    cache.set(key, validator);
  }
  return validator;
}

const PARTS: RequestPart[] = ['params', 'query', 'body'];

/**
 * Validate the request's `params`, `query` and `body` against JSON Schemas (ajv, all errors,
 * strict mode, ajv-formats). Every failure is reported at once as a `RequestValidationError`,
 * which `problemDetails()` turns into a 422. Schemas are compiled when `validate()` is called, so
 * a bad schema fails at start-up, not at the first request.
 *
 * @example
 * app.get('/expenses', validate({ query: { type: 'object', properties: { limit: { type: 'integer' } } } }), list);
 */
export function validate(schemas: RequestSchemas): RequestHandler {
  const validators = PARTS.flatMap((part) => {
    const schema = schemas[part];
    return schema === undefined ? [] : [{ part, check: compileSchema(schema, part !== 'body') }];
  });
  return function validate(req: Request, _res: Response, next: NextFunction): void {
    const issues: RequestValidationIssue[] = [];
    for (const { part, check } of validators) {
      // req.query is a getter that parses the URL on every read (express 5), so coerce a copy and
      // shadow the getter with it.
      const value = part === 'query' ? { ...req.query } : part === 'params' ? { ...req.params } : req.body;
      if (check(value)) {
        if (part === 'query') Object.defineProperty(req, 'query', { value, writable: true, enumerable: true, configurable: true });
        if (part === 'params') req.params = value as Request['params'];
      } else {
        for (const error of check.errors ?? []) {
          issues.push({ in: part, instancePath: error.instancePath, message: error.message ?? 'is invalid', keyword: error.keyword, params: error.params });
        }
      }
    }
    next(issues.length > 0 ? new RequestValidationError(issues) : undefined);
  };
}
