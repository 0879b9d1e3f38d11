import { closeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { runSync } from '../fs/program';
import { JOBS, type JobReply, type JobRequest } from './jobs';
import { toWire } from './wire';

/**
 * The fs worker's thread: runs one job at a time with synchronous fs calls and answers with its
 * result. Jobs queue in the message port in the order they were posted.
 */
// Only as filekeep's own worker: imported anywhere else (a user's worker), it must do nothing.
const port = (workerData as { filekeepFsWorker?: boolean } | null)?.filekeepFsWorker === true ? parentPort : null;

port?.on('message', ({ id, name, args }: JobRequest) => {
  let reply: JobReply;
  const afterReply: number[] = [];
  try {
    const program = (JOBS[name] as (...a: unknown[]) => Generator<never, unknown, unknown>)(...args);
    reply = { id, ok: true, value: runSync(program, afterReply) };
  } catch (error) {
    reply = { id, ok: false, error: toWire(error) };
  }
  port!.postMessage(reply);
  // The caller is answered; the next job waits behind these closes, the caller does not.
  for (const fd of afterReply) {
    try {
      closeSync(fd);
    } catch {
      // nothing to report: the result is already delivered
    }
  }
});
