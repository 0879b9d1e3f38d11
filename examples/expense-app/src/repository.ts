import { FileRepository, type RepositoryWarning } from '@filekeep/core';
import { createExpenseAjv, expenseSchema, type Expense } from './expense';

export interface ExpenseCollections {
  expenses: Expense;
}

export type ExpenseRepository = FileRepository<ExpenseCollections>;

export const DATA_FILE = 'expenses.json';

export interface StorageOptions {
  /** `'snapshot'` (one readable file, rewritten per commit) or `'journal'` (append per commit). */
  engine?: 'snapshot' | 'journal';
  onWarning?: (warning: RepositoryWarning) => void;
}

/** The app's data lives in `DATA_DIR/expenses.json`; the directory is created if missing. */
export function openRepository(dataDir: string, options: StorageOptions = {}): Promise<ExpenseRepository> {
  return FileRepository.open<ExpenseCollections>({
    directory: dataDir,
    file: DATA_FILE,
    collections: { expenses: { schema: expenseSchema } },
    ajv: createExpenseAjv(),
    ...options,
  });
}
