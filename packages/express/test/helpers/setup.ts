import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import express, { type Express } from 'express';
import { FaultyFs, FileRepository, type FsCall } from '@filekeep/core';
import { filekeep, notFound, problemDetails } from '@filekeep/express';

export interface Expense {
  description: string;
  amount: number;
  category: 'food' | 'transport' | 'other';
  paid?: boolean;
  note?: string;
}

export const expenseSchema = {
  type: 'object',
  properties: {
    description: { type: 'string', minLength: 1, maxLength: 500 },
    amount: { type: 'number', exclusiveMinimum: 0 },
    category: { enum: ['food', 'transport', 'other'] },
    paid: { type: 'boolean' },
    note: { type: 'string' },
  },
  required: ['description', 'amount', 'category'],
  additionalProperties: false,
} as const;

export const lunch: Expense = { description: 'Lunch', amount: 12.5, category: 'food' };
export const taxi: Expense = { description: 'Taxi', amount: 23, category: 'transport', paid: true };

export type ExpenseRepository = FileRepository<{ expenses: Expense }>;

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/**
 * A fault-injecting seam that can also hold one kind of call at a gate (a write in flight) and
 * logs when each durable step completes, so a test can order them against socket writes.
 */
export class GatedFs extends FaultyFs {
  private gate: Deferred | undefined;
  private arrived: Deferred | undefined;

  constructor(private readonly events: string[] = []) {
    super();
  }

  /** Hold every `fdatasync` until `release()`; resolves `reached` when the first one arrives. */
  hold(): { reached: Promise<void>; release(): void } {
    const gate = (this.gate = deferred());
    const arrived = (this.arrived = deferred());
    return {
      reached: arrived.promise,
      release: () => {
        this.gate = undefined;
        gate.resolve();
      },
    };
  }

  override async fdatasync(fd: number): Promise<void> {
    if (this.gate) {
      this.arrived?.resolve();
      await this.gate.promise;
    }
    await super.fdatasync(fd);
    this.log('fdatasync');
  }

  override async fsync(fd: number): Promise<void> {
    await super.fsync(fd);
    this.log('fsync');
  }

  override async rename(from: string, to: string): Promise<void> {
    await super.rename(from, to);
    this.log('rename');
  }

  private log(call: FsCall): void {
    this.events.push(`${call} done`);
  }
}

/** One temp dir and repository per test, closed and removed afterwards. */
export function useRepository() {
  let dir = '';
  const repos: ExpenseRepository[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'filekeep-express-'));
  });
  afterEach(async () => {
    await Promise.all(repos.splice(0).map((repo) => repo.close().catch(() => undefined)));
    await rm(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    get file() {
      return path.join(dir, 'expenses.json');
    },
    async open(fs?: FaultyFs): Promise<ExpenseRepository> {
      const repo = await FileRepository.open<{ expenses: Expense }>({
        file: path.join(dir, 'expenses.json'),
        collections: { expenses: { schema: expenseSchema } },
        ...(fs ? { fs } : {}),
      });
      repos.push(repo);
      return repo;
    },
  };
}

export const quiet = { log: () => undefined };

/** An app with JSON parsing, `filekeep(repo)`, the routes `mount` adds, `notFound()` and `problemDetails()`. */
export function createApp(repo: ExpenseRepository, mount: (app: Express) => void, log: (error: unknown) => void = () => undefined): Express {
  const app = express();
  app.use(express.json());
  app.use(filekeep(repo, { log }));
  mount(app);
  app.use(notFound());
  app.use(problemDetails({ log }));
  return app;
}

export async function listen(app: Express): Promise<Listening> {
  return listenOn(createHttpServer(app));
}

export interface Listening {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** Listen on a free loopback port; `close()` also drops keep-alive connections. */
export async function listenOn(server: Server): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
