import * as path from 'node:path';
import { FilekeepError } from '@filekeep/core';
import { answerClientErrors, createServer, gracefulShutdown } from '@filekeep/express';
import { pino } from 'pino';
import { createApp } from './app';
import { openRepository } from './repository';

// Asynchronous log writes: a synchronous write(2) per request line costs a busy server
// more than its durable commits do. pino flushes the buffer when the process exits.
const logger = pino({ name: 'expense-app' }, pino.destination({ sync: false }));

async function main(): Promise<void> {
  const port = Number(process.env['PORT'] ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${process.env['PORT']}`);
  // Loopback by default: a development server should not be reachable from the network unless asked.
  const host = process.env['HOST'] ?? '127.0.0.1';
  const dataDir = path.resolve(process.env['DATA_DIR'] ?? 'data');

  const engine = process.env['ENGINE'] ?? 'snapshot';
  if (engine !== 'snapshot' && engine !== 'journal') throw new Error(`ENGINE must be snapshot or journal, got ${engine}`);

  const repo = await openRepository(dataDir, { engine, onWarning: (warning) => logger.warn(warning, warning.message) });
  // createServer, not app.listen: requests are born with the app's prototypes (2× the req/s, see its doc).
  const server = createServer(createApp({ repo, logger })).listen(port, host, () => {
    const address = server.address();
    logger.info({ host, port: typeof address === 'object' && address ? address.port : port, dataDir }, 'expense-app listening');
  });
  answerClientErrors(server);
  gracefulShutdown(server, repo, { log: (message, error) => (error ? logger.error({ err: error }, message) : logger.info(message)) });
}

main().catch((error: unknown) => {
  // A corrupt or locked data file: say which file and why, leave it untouched, exit non-zero.
  const message = error instanceof FilekeepError ? `${error.code}: ${error.message}` : String(error);
  logger.fatal({ err: error }, message);
  process.stderr.write(`expense-app could not start: ${message}\n`);
  process.exitCode = 1;
});
