import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import express, { type RequestHandler } from 'express';
import { HttpError } from './errors';

export interface JsonBodyOptions {
  /** Largest body accepted; a larger one is a 413. @default '100kb' */
  limit?: number | string;
  /** Media types parsed. @default 'application/json' */
  type?: string | string[];
}

/**
 * `express.json()` that refuses bytes that are not UTF-8 with a 400. express.json decodes them
 * with U+FFFD replacement characters, so a corrupted or hostile body would otherwise be stored as
 * different text than the client sent, without anyone noticing.
 *
 * @example
 * app.use(jsonBody({ limit: '1mb' }));
 */
export function jsonBody(options: JsonBodyOptions = {}): RequestHandler {
  return express.json({ limit: options.limit ?? '100kb', type: options.type ?? 'application/json', verify: rejectInvalidUtf8 });
}

function rejectInvalidUtf8(_req: IncomingMessage, _res: unknown, body: Buffer, encoding: string): void {
  // JSON may also come as UTF-16/32 (an explicit charset); only UTF-8 is checked here.
  if (/^utf-?8$/i.test(encoding) && !isUtf8(body)) {
    throw new HttpError(400, 'The request body is not valid UTF-8');
  }
}
