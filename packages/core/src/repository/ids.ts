export type Id = number | string;

export const MAX_STRING_ID_LENGTH = 256;

export function isValidId(id: unknown): id is Id {
  if (typeof id === 'number') return Number.isSafeInteger(id) && id > 0;
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_STRING_ID_LENGTH;
}

/** Numbers first, ascending; then strings in code-unit order. The order records are stored in. */
export function compareIds(a: Id, b: Id): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

const CANONICAL_INTEGER = /^[1-9][0-9]{0,15}$/;

/** An id from a URL segment: canonical positive integers become numbers, anything else stays text. */
export function parseId(raw: string): Id {
  if (CANONICAL_INTEGER.test(raw)) {
    const n = Number(raw);
    if (Number.isSafeInteger(n)) return n;
  }
  return raw;
}
