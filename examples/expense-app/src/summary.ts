import { CATEGORIES, type Category, type Expense } from './expense';

/**
 * Total per category, exact to the cent: amounts are summed as integer cents, so 0.1 + 0.2 is 0.3.
 * Every category is present (0 when it has no expenses), so clients see a stable shape.
 */
export function summarize(expenses: Iterable<Readonly<Expense>>): Record<Category, number> {
  const cents = new Map<Category, number>(CATEGORIES.map((c) => [c, 0]));
  for (const expense of expenses) cents.set(expense.category, (cents.get(expense.category) ?? 0) + Math.round(expense.amount * 100));
  const totals = {} as Record<Category, number>;
  for (const category of CATEGORIES) totals[category] = (cents.get(category) ?? 0) / 100;
  return totals;
}
