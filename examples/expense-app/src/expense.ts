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
 * calendar too, so 2026-02-30 is refused; `multipleOf: 0.01` keeps amounts to whole cents.
 */
export const expenseSchema = {
  type: 'object',
  properties: {
    description: { type: 'string', minLength: 1, maxLength: 500 },
    amount: { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000_000, multipleOf: 0.01 },
    category: { type: 'string', enum: [...CATEGORIES] },
    date: { type: 'string', format: 'date' },
  },
  required: ['description', 'amount', 'category'],
  additionalProperties: false,
} as const;
