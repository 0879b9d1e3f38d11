'use strict';
// Test data shaped like the example app's: expense records, and documents of a given size
// made of them, so every library serialises the same kind of JSON.

// The example app's categories (examples/expense-app/src/expense.ts), so its validation passes.
const CATEGORIES = ['food', 'transport', 'entertainment', 'utilities', 'other'];

/** The body every HTTP client and burst insert sends (the record without its id). */
function expense(i) {
  return {
    description: `expense number ${i}`,
    amount: Math.round(((i * 37) % 10000) + 1) / 100,
    category: CATEGORIES[i % CATEGORIES.length],
    date: '2026-11-22',
  };
}

/** Records with ids 1..count, as every seeded data file stores them. */
function expenseRecords(count) {
  return Array.from({ length: count }, (_, i) => ({ id: i + 1, ...expense(i + 1) }));
}

/** How many records make a pretty-printed `{ expenses: [...] }` of about `bytes` bytes. */
function recordsForSize(bytes) {
  const sample = 1000;
  const overhead = JSON.stringify({ expenses: [] }, null, 2).length;
  const perRecord = (JSON.stringify({ expenses: expenseRecords(sample) }, null, 2).length - overhead) / sample;
  return Math.max(1, Math.round((bytes - overhead) / perRecord));
}

/**
 * A JSON document of about `bytes` bytes, both as the object (lowdb serialises its own data)
 * and as the exact string the other libraries write.
 */
function documentOfSize(bytes) {
  const value = { expenses: expenseRecords(recordsForSize(bytes)) };
  const text = JSON.stringify(value, null, 2);
  return { value, text, bytes: Buffer.byteLength(text) };
}

/**
 * The example app's schema of an expense without its id, so bursts pay the same validation
 * cost per insert as the app does.
 */
const expenseSchema = {
  type: 'object',
  properties: {
    description: { type: 'string', minLength: 1, maxLength: 500 },
    amount: { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000_000, multipleOf: 0.01 },
    category: { type: 'string', enum: CATEGORIES },
    date: { type: 'string', format: 'date' },
  },
  required: ['description', 'amount', 'category'],
  additionalProperties: false,
};

module.exports = { expense, expenseRecords, recordsForSize, documentOfSize, expenseSchema };
