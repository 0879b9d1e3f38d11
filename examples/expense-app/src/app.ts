import express, { type Express } from 'express';
import { filekeep, notFound, problemDetails, resource } from '@filekeep/express';
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
  app.use(filekeep(repo, { log: (error) => logger?.error({ err: error }, 'change not durable') }));

  // resource() parses its own JSON bodies (json and merge-patch+json), so no app-wide parser:
  // one middleware layer less on every request.
  app.use('/expenses', resource(repo.collection('expenses'), { bodyLimit: '1mb' }));
  app.get('/summary', (req, res) => {
    res.json(summarize(req.repo.collection('expenses').list()));
  });

  app.use(notFound());
  app.use(problemDetails({ log: (error) => logger?.error({ err: error }, 'request failed') }));
  return app;
}
