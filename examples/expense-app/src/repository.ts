import { FileRepository } from '@filekeep/core';
import { createExpenseAjv, expenseSchema, type Expense } from './expense';

export interface ExpenseCollections {
  expenses: Expense;
}

export type ExpenseRepository = FileRepository<ExpenseCollections>;

export const DATA_FILE = 'expenses.json';

/** The app's data lives in `DATA_DIR/expenses.json`; the directory is created if missing. */
export function openRepository(dataDir: string): Promise<ExpenseRepository> {
  return FileRepository.open<ExpenseCollections>({
    directory: dataDir,
    file: DATA_FILE,
    collections: { expenses: { schema: expenseSchema } },
    ajv: createExpenseAjv(),
  });
}
