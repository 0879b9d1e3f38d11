import { FileExistsError, WriteFailedError } from '../errors';

/**
 * Errors as plain data for postMessage, and back. Structured clone keeps an Error's message but
 * drops `code`, `syscall` and our classes, which callers and tests rely on.
 */
export type WireError =
  | { kind: 'write-failed'; path: string; step: string | undefined; cause: WireCause }
  | { kind: 'file-exists'; path: string }
  | { kind: 'other'; cause: WireCause };

interface WireCause {
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

function toCause(error: unknown): WireCause {
  if (typeof error !== 'object' || error === null || typeof (error as Error).message !== 'string') return { message: String(error) };
  const { message, code, errno, syscall, path } = error as NodeJS.ErrnoException;
  return { message, code, errno, syscall, path };
}

function fromCause(cause: WireCause): Error {
  const error: Error & Partial<NodeJS.ErrnoException> = new Error(cause.message);
  for (const key of ['code', 'errno', 'syscall', 'path'] as const) {
    if (cause[key] !== undefined) Object.assign(error, { [key]: cause[key] });
  }
  return error;
}

export function toWire(error: unknown): WireError {
  if (error instanceof FileExistsError) return { kind: 'file-exists', path: error.path };
  if (error instanceof WriteFailedError) {
    const step = error.details?.['step'];
    return { kind: 'write-failed', path: error.path, step: typeof step === 'string' ? step : undefined, cause: toCause(error.cause) };
  }
  return { kind: 'other', cause: toCause(error) };
}

export function fromWire(wire: WireError): Error {
  switch (wire.kind) {
    case 'file-exists': return new FileExistsError(wire.path);
    case 'write-failed': return new WriteFailedError(wire.path, fromCause(wire.cause), wire.step);
    case 'other': return fromCause(wire.cause);
  }
}
