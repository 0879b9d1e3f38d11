import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import request from 'supertest';
import { createApp } from '../src/app';
import { openRepository, type ExpenseRepository } from '../src/repository';

/** A fresh DATA_DIR per test and an app over it; `restart()` reopens the same directory. */
export function useApp() {
  const ctx = {
    dataDir: '',
    repo: undefined as unknown as ExpenseRepository,
    app: undefined as unknown as ReturnType<typeof createApp>,
    get http() {
      return request(ctx.app);
    },
    get dataFile() {
      return path.join(ctx.dataDir, 'expenses.json');
    },
    async restart() {
      await ctx.repo.close();
      ctx.repo = await openRepository(ctx.dataDir);
      ctx.app = createApp({ repo: ctx.repo });
    },
  };
  beforeEach(async () => {
    ctx.dataDir = await mkdtemp(path.join(tmpdir(), 'expense-app-'));
    ctx.repo = await openRepository(ctx.dataDir);
    ctx.app = createApp({ repo: ctx.repo });
  });
  afterEach(async () => {
    await ctx.repo.close().catch(() => undefined);
    await rm(ctx.dataDir, { recursive: true, force: true });
  });
  return ctx;
}

export const lunch = { description: 'Lunch', amount: 12.5, category: 'food' } as const;
