export interface Expense {
  description: string;
  amount: number;
  category?: string;
  tags?: Record<string, unknown>;
}

export const expenseSchema = {
  type: 'object',
  properties: {
    description: { type: 'string', minLength: 1 },
    amount: { type: 'number', exclusiveMinimum: 0 },
    category: { type: 'string' },
    tags: { type: 'object' },
  },
  required: ['description', 'amount'],
  additionalProperties: false,
} as const;

export const looseSchema = { type: 'object' } as const;
