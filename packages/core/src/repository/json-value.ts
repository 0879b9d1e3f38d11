import { ValidationError, type ValidationIssue } from '../errors';

/** Deeper than this is refused: real records are shallow, and recursion must stay bounded. */
export const MAX_DEPTH = 64;

/**
 * Copy a caller's value into plain JSON data that filekeep owns: plain objects, arrays, strings,
 * finite numbers, booleans and null. Anything else (undefined in arrays, NaN, Dates, class
 * instances, cycles, deep nesting) is a ValidationError. Keys such as `__proto__` stay plain data.
 */
export function copyJson(value: unknown): unknown {
  return copy(value, []);
}

/**
 * `keys` is the path from the root to `value`, pushed and popped on the way down: the JSON pointer
 * of an error is built only when one is thrown, not as a string per key of every record.
 */
function copy(value: unknown, keys: Array<string | number>): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw invalid(keys, 'must be a finite number');
      return value;
    case 'object': {
      if (value === null) return null;
      if (keys.length >= MAX_DEPTH) throw invalid(keys, `must not nest deeper than ${MAX_DEPTH} levels`);
      if (Array.isArray(value)) {
        const out: unknown[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          keys.push(i);
          if (value[i] === undefined) throw invalid(keys, 'must not be undefined');
          out[i] = copy(value[i], keys);
          keys.pop();
        }
        return out;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw invalid(keys, 'must be a plain JSON object');
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined) continue; // as JSON.stringify does
        keys.push(key);
        setOwn(out, key, copy(item, keys));
        keys.pop();
      }
      return out;
    }
    default:
      throw invalid(keys, `must be JSON data, not ${typeof value}`);
  }
}

/** `obj[key] = value` that never invokes the `__proto__` setter. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

export function getOwn(obj: object, key: string): unknown {
  return Object.hasOwn(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

export function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function invalid(keys: ReadonlyArray<string | number>, message: string): ValidationError {
  const path = keys.map((key) => `/${escapePointer(String(key))}`).join('');
  const issue: ValidationIssue = { instancePath: path, message, keyword: 'json', params: {} };
  return new ValidationError(`Invalid record: ${path || 'value'} ${message}`, [issue]);
}
