import type { default as Ajv, ErrorObject, SchemaValidateFunction } from 'ajv';
import { createAjv } from '@filekeep/core';

export const CATEGORIES = ['food', 'transport', 'entertainment', 'utilities', 'other'] as const;
export type Category = (typeof CATEGORIES)[number];

/** An expense as clients send it; the stored record adds `id`. */
export interface Expense {
  description: string;
  /** In the currency's main unit, with at most two decimals (cents). */
  amount: number;
  category: Category;
  /** A calendar date, `YYYY-MM-DD`. */
  date?: string;
}

/**
 * One schema for the request body and the repository. `format: 'date'` (ajv-formats) checks the
 * calendar too, so 2026-02-30 is refused. `decimalPlaces: 2` (see `createExpenseAjv`) keeps amounts
 * to whole cents; JSON Schema's `multipleOf: 0.01` cannot, in binary floating point: with an
 * absolute tolerance it refuses 1234567.89 and accepts 1e-12.
 */
export const expenseSchema = {
  type: 'object',
  properties: {
    description: { type: 'string', minLength: 1, maxLength: 500 },
    amount: { type: 'number', minimum: 0.01, maximum: 1_000_000_000, decimalPlaces: 2 },
    category: { type: 'string', enum: [...CATEGORIES] },
    date: { type: 'string', format: 'date' },
  },
  required: ['description', 'amount', 'category'],
  additionalProperties: false,
} as const;

/**
 * filekeep's ajv plus `decimalPlaces: n`: the number, written the shortest way, has at most n
 * digits after the point (`toFixed` round-trips it exactly).
 */
export function createExpenseAjv(): Ajv {
  const ajv = createAjv();
  const decimalPlaces: SchemaValidateFunction = (places: number, value: number) => {
    if (Number(value.toFixed(places)) === value) return true;
    // No instancePath: ajv fills in where the value is.
    const error: Partial<ErrorObject> = { keyword: 'decimalPlaces', message: `must have at most ${places} decimal places`, params: { decimalPlaces: places } };
    decimalPlaces.errors = [error as ErrorObject];
    return false;
  };
  ajv.addKeyword({ keyword: 'decimalPlaces', type: 'number', schemaType: 'number', validate: decimalPlaces, errors: true });
  return ajv;
}
