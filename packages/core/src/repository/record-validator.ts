import Ajv, { type Options as AjvOptions, type AnySchema, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { ValidationError, type ValidationIssue } from '../errors';

/**
 * The ajv instance a repository compiles its schemas with, unless the caller brings one: all
 * errors, strict, ajv-formats. `options` are merged on top (e.g. `coerceTypes` for query strings).
 */
export function createAjv(options: AjvOptions = {}): Ajv {
  // multipleOfPrecision: so `multipleOf: 0.01` accepts 0.29 despite binary floating point.
  const ajv = new Ajv({ allErrors: true, strict: true, multipleOfPrecision: 9, ...options });
  addFormats(ajv);
  return ajv;
}

export function toIssues(errors: ErrorObject[] | null | undefined): ValidationIssue[] {
  return (errors ?? []).map((e) => ({
    instancePath: e.instancePath,
    message: e.message ?? 'is invalid',
    keyword: e.keyword,
    params: { ...e.params },
  }));
}

/** A record schema compiled once; `check` throws a ValidationError carrying ajv's errors. */
export class RecordValidator {
  private readonly validateFn: ValidateFunction;

  constructor(
    ajv: Ajv,
    readonly collection: string,
    schema: AnySchema,
  ) {
    this.validateFn = ajv.compile(schema);
  }

  check(data: unknown): void {
    if (this.validateFn(data)) return;
    const issues = toIssues(this.validateFn.errors);
    const first = issues[0];
    throw new ValidationError(
      `Invalid ${this.collection} record: ${first ? `${first.instancePath || 'record'} ${first.message}` : 'fails the schema'}`,
      issues,
    );
  }

  /** For checks at open: the first problem as text, or undefined. */
  problem(data: unknown): string | undefined {
    if (this.validateFn(data)) return undefined;
    return toIssues(this.validateFn.errors)
      .map((i) => `${i.instancePath || 'record'} ${i.message}`)
      .join('; ');
  }
}
