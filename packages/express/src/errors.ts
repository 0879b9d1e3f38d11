import { ValidationError, type ValidationIssue } from '@filekeep/core';

/**
 * An error that carries its own HTTP status, shaped like the `http-errors` objects body-parser
 * throws (`status`, `expose`), so the problem-details handler treats both the same way.
 */
export class HttpError extends Error {
  readonly status: number;
  /** Whether `message` may be sent to the client. */
  readonly expose: boolean;
  /** Extra members for the problem body. */
  readonly extensions: Record<string, unknown>;

  constructor(status: number, message: string, extensions: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.expose = status < 500;
    this.extensions = extensions;
  }
}

/**
 * An `If-Match` precondition did not hold: the record changed since the client read it.
 * `code` mirrors core's codes; core has no `FK_PRECONDITION_FAILED` yet, so this lives here.
 */
export class PreconditionFailedError extends HttpError {
  readonly code = 'FK_PRECONDITION_FAILED';
  constructor(message = 'The record has changed since it was read (If-Match does not match its ETag)') {
    super(412, message);
  }
}

/** The request body is not in a media type the route accepts. */
export class UnsupportedMediaTypeError extends HttpError {
  constructor(accepted: readonly string[]) {
    super(415, `Content-Type must be ${accepted.join(' or ')}`, { accept: accepted });
  }
}

export type RequestPart = 'body' | 'query' | 'params';

export interface RequestValidationIssue extends ValidationIssue {
  /** Which part of the request failed. */
  in: RequestPart;
}

/** `validate()` rejected the request: a `ValidationError` (so it maps to 422) that says where. */
export class RequestValidationError extends ValidationError {
  declare readonly errors: RequestValidationIssue[];
  constructor(errors: RequestValidationIssue[]) {
    const parts = [...new Set(errors.map((issue) => issue.in))];
    super(`Invalid request ${parts.join(' and ')}`, errors);
  }
}
