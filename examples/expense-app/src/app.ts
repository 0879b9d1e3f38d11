import express, { type Express } from 'express';
import { filekeep, jsonBody, notFound, problemDetails, resource } from '@filekeep/express';
import type { Logger } from 'pino';
import type { ExpenseCollections, ExpenseRepository } from './repository';
import { requestLog } from './request-log';
import { summarize } from './summary';

declare module '@filekeep/express' {
  interface FilekeepCollections extends ExpenseCollections {}
}

export interface AppOptions {
  repo: ExpenseRepository;
  /** pino logger for requests and errors; omit for none (tests). */
  logger?: Logger;
}

/**
 * The expense API, without listening: `server.ts` listens, tests drive it with supertest.
 *
 * POST/GET /expenses, GET/PATCH/PUT/DELETE /expenses/:id (see README), GET /summary.
 */
export function createApp({ repo, logger }: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  if (logger) app.use(requestLog(logger));
  app.use(jsonBody({ limit: '1mb' }));
  app.use(filekeep(repo, { log: (error) => logger?.error({ err: error }, 'change not durable') }));

  app.use('/expenses', resource(repo.collection('expenses')));
  app.get('/summary', (req, res) => {
    res.json(summarize(req.repo.collection('expenses').list()));
  });

  app.use(notFound());
  app.use(problemDetails({ log: (error) => logger?.error({ err: error }, 'request failed') }));
  return app;
}
