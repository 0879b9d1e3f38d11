import { getOwn, isPlainObject, setOwn } from './json-value';

/** A JSON merge patch (RFC 7396) of T: fields to set, `null` to remove one. */
export type MergePatch<T> = { [K in keyof T]?: T[K] | null };

/** RFC 7396: objects merge recursively, `null` removes a member, anything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const result: Record<string, unknown> = {};
  if (isPlainObject(target)) for (const key of Object.keys(target)) setOwn(result, key, target[key]);
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) delete result[key];
    else setOwn(result, key, applyMergePatch(getOwn(result, key), value));
  }
  return result;
}
