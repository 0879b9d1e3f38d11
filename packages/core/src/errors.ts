/**
 * Every error filekeep throws is a `FilekeepError` with a stable `code`. Callers branch on `code`,
 * never on message text.
 */
export const ERROR_CODES = [
  'FK_WRITE_FAILED',
  'FK_FILE_EXISTS',
  'FK_LOCKED',
  'FK_LOCK_TIMEOUT',
  'FK_CORRUPT_DATA',
  'FK_VALIDATION_FAILED',
  'FK_NOT_FOUND',
  'FK_CONFLICT',
  'FK_CLOSED',
  'FK_INVALID_OPTION',
] as const;

export type FilekeepErrorCode = (typeof ERROR_CODES)[number];

export interface FilekeepErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class FilekeepError extends Error {
  readonly code: FilekeepErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: FilekeepErrorCode, message: string, options: FilekeepErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details;
  }
}

/** A durable write did not complete; the target file is as it was before the write. */
export class WriteFailedError extends FilekeepError {
  readonly path: string;
  constructor(path: string, cause: unknown, step?: string) {
    // Duck-typed: an errno error from another realm (a vm context, jest) is not `instanceof Error` here.
    const message = (cause as { message?: unknown } | null)?.message;
    const reason = typeof message === 'string' ? message : String(cause);
    super('FK_WRITE_FAILED', `Could not write ${path}${step ? ` (${step})` : ''}: ${reason}`, {
      cause,
      details: step ? { step } : undefined,
    });
    this.path = path;
  }
}

/** `overwrite: false` and the target already exists. */
export class FileExistsError extends FilekeepError {
  readonly path: string;
  constructor(path: string) {
    super('FK_FILE_EXISTS', `Refusing to overwrite ${path}: it already exists (overwrite: false)`);
    this.path = path;
  }
}

export interface LockHolder {
  pid: number;
  hostname?: string;
}

/** Another live process owns the lock. */
export class LockedError extends FilekeepError {
  readonly lockPath: string;
  readonly holder: LockHolder | undefined;
  constructor(lockPath: string, holder: LockHolder | undefined) {
    super('FK_LOCKED', `${lockPath} is held by ${describeHolder(holder)}`, {
      details: { lockPath, pid: holder?.pid },
    });
    this.lockPath = lockPath;
    this.holder = holder;
  }
}

/** The lock stayed held by a live process for longer than `timeout`. */
export class LockTimeoutError extends FilekeepError {
  readonly lockPath: string;
  readonly holder: LockHolder | undefined;
  constructor(lockPath: string, holder: LockHolder | undefined, timeoutMs: number) {
    super('FK_LOCK_TIMEOUT', `Timed out after ${timeoutMs} ms waiting for ${lockPath}, held by ${describeHolder(holder)}`, {
      details: { lockPath, pid: holder?.pid, timeoutMs },
    });
    this.lockPath = lockPath;
    this.holder = holder;
  }
}

function describeHolder(holder: LockHolder | undefined): string {
  if (!holder) return 'another process';
  return `pid ${holder.pid}${holder.hostname ? ` on ${holder.hostname}` : ''}`;
}

/** The data file does not parse or fails its structural checks. filekeep never modifies it. */
export class CorruptDataError extends FilekeepError {
  readonly path: string;
  constructor(path: string, reason: string, cause?: unknown) {
    super('FK_CORRUPT_DATA', `${path} is not a valid filekeep data file: ${reason}. It was left untouched.`, {
      cause,
      details: { path, reason },
    });
    this.path = path;
  }
}

/** One failure reported by ajv (or by filekeep's own JSON checks). */
export interface ValidationIssue {
  /** JSON Pointer to the failing value, e.g. `/amount`; `''` for the record itself. */
  instancePath: string;
  message: string;
  keyword: string;
  params: Record<string, unknown>;
}

/** A record (or a query) failed validation; nothing was queued. */
export class ValidationError extends FilekeepError {
  readonly errors: ValidationIssue[];
  constructor(message: string, errors: ValidationIssue[]) {
    super('FK_VALIDATION_FAILED', message, { details: { errors } });
    this.errors = errors;
  }
}

export class NotFoundError extends FilekeepError {
  constructor(collection: string, id: unknown) {
    super('FK_NOT_FOUND', `No record with id ${JSON.stringify(id)} in ${collection}`, { details: { collection, id } });
  }
}

/** A duplicate id, or an expected version that no longer matches (optimistic concurrency). */
export class ConflictError extends FilekeepError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('FK_CONFLICT', message, { details });
  }
}

export class ClosedError extends FilekeepError {
  constructor(path: string) {
    super('FK_CLOSED', `The repository for ${path} is closed`);
  }
}

export class InvalidOptionError extends FilekeepError {
  constructor(option: string, expected: string, received: unknown) {
    super('FK_INVALID_OPTION', `Expected \`${option}\` to be ${expected}, got ${formatValue(received)}`);
  }
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return typeof value;
}

export function isFilekeepError(error: unknown): error is FilekeepError {
  return error instanceof FilekeepError;
}
