import { STATUS_CODES } from 'node:http';
import type { Response } from 'express';
import { FilekeepError, ValidationError, type FilekeepErrorCode, type ValidationIssue } from '@filekeep/core';
import { HttpError, PreconditionFailedError, type RequestPart, type RequestValidationIssue } from './errors';

/**
 * The HTTP status for every filekeep error code. A `Record` over the code union, so adding a code
 * to core without a status here fails to compile.
 */
export const STATUS_BY_CODE: Record<FilekeepErrorCode, number> = {
  FK_VALIDATION_FAILED: 422,
  FK_NOT_FOUND: 404,
  FK_CONFLICT: 409,
  FK_FILE_EXISTS: 409,
  FK_WRITE_FAILED: 503,
  FK_CLOSED: 503,
  FK_LOCKED: 503,
  FK_LOCK_TIMEOUT: 503,
  FK_CORRUPT_DATA: 500,
  FK_INVALID_OPTION: 500,
};

/**
 * What a client may read instead of the message, for codes whose message names server paths or
 * internals. The error itself is only logged.
 */
const PUBLIC_DETAIL: Partial<Record<FilekeepErrorCode, string>> = {
  FK_FILE_EXISTS: 'The resource already exists.',
  FK_WRITE_FAILED: 'The change could not be stored durably and was not applied. Try again later.',
  FK_CLOSED: 'The service is shutting down. Try again later.',
  FK_LOCKED: 'The data store is held by another process. Try again later.',
  FK_LOCK_TIMEOUT: 'The data store is held by another process. Try again later.',
};
const GENERIC_DETAIL = 'An unexpected error occurred.';

/** One failing field in a 422 problem. */
export interface ProblemIssue {
  /** JSON Pointer to the failing field, e.g. `/amount`; for a missing or unknown property, that property. */
  path: string;
  message: string;
  /** Which part of the request, when the error came from `validate()`. */
  in?: RequestPart;
}

/** An RFC 9457 problem details object. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The filekeep error code, when a filekeep error caused the problem. */
  code?: string;
  errors?: ProblemIssue[];
  [extension: string]: unknown;
}

/** Build the problem for `status` with the standard title (`type: about:blank`, RFC 9457 §4.2.1). */
export function problem(status: number, detail: string, extensions: Record<string, unknown> = {}): Problem {
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, ...extensions };
}

/** Translate anything thrown into a problem. Server errors (5xx) get a generic detail. */
export function toProblem(error: unknown): Problem {
  if (error instanceof FilekeepError) {
    const status = STATUS_BY_CODE[error.code];
    const detail = PUBLIC_DETAIL[error.code] ?? (status >= 500 ? GENERIC_DETAIL : undefined);
    if (detail !== undefined) return problem(status, detail, { code: error.code });
    if (error instanceof ValidationError) return problem(status, error.message, { code: error.code, errors: error.errors.map(toIssue) });
    return problem(status, error.message, { code: error.code });
  }
  if (error instanceof PreconditionFailedError) return problem(412, error.message, { code: error.code });
  if (error instanceof HttpError) return problem(error.status, error.expose ? error.message : GENERIC_DETAIL, error.extensions);
  if (isAjvValidationError(error)) {
    return problem(422, 'The request is not valid', { errors: error.errors.map(toIssue) });
  }
  const status = httpStatusOf(error);
  if (status !== undefined) {
    const { type, message, expose } = error as { type?: unknown; message?: unknown; expose?: unknown };
    if (type === 'entity.parse.failed') return problem(400, `The request body is not valid JSON: ${String(message)}`);
    if (expose === true && typeof message === 'string' && status < 500) return problem(status, message);
    return problem(status, status < 500 ? (STATUS_CODES[status] ?? 'Error') : GENERIC_DETAIL);
  }
  return problem(500, GENERIC_DETAIL);
}

/**
 * The path of a failing field: ajv's `instancePath`, extended with the property's name where ajv
 * reports the parent (`required`, `additionalProperties`, `dependentRequired`).
 */
export function issuePath(issue: Pick<ValidationIssue, 'instancePath' | 'params'>): string {
  const { missingProperty, additionalProperty, propertyName } = issue.params;
  const property = [missingProperty, additionalProperty, propertyName].find((p) => typeof p === 'string');
  return typeof property === 'string' ? `${issue.instancePath}/${property.replace(/~/g, '~0').replace(/\//g, '~1')}` : issue.instancePath;
}

function toIssue(issue: ValidationIssue | RequestValidationIssue): ProblemIssue {
  const out: ProblemIssue = { path: issuePath(issue), message: issue.message };
  if ('in' in issue) out.in = issue.in;
  return out;
}

/** `http-errors`-style status (body-parser, express), if it is a valid 4xx/5xx. */
function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
  const value = typeof status === 'number' ? status : statusCode;
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 599 ? value : undefined;
}

function isAjvValidationError(error: unknown): error is { errors: ValidationIssue[] } {
  if (typeof error !== 'object' || error === null) return false;
  const { ajv, validation, errors } = error as { ajv?: unknown; validation?: unknown; errors?: unknown };
  return ajv === true && validation === true && Array.isArray(errors);
}

/** Headers that stay on an error response: CORS, so browsers can read it, and Vary. */
const KEPT_HEADER = /^(access-control-|vary$)/;

/**
 * Send `body` as `application/problem+json`, dropping headers meant for the success response
 * (ETag, Location, …) that a handler may have set before it failed.
 */
export function sendProblem(res: Response, body: Problem): void {
  for (const name of res.getHeaderNames()) if (!KEPT_HEADER.test(name)) res.removeHeader(name);
  res.status(body.status);
  res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(body));
}
