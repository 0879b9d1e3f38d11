import { discard, openTemp, publish, replaceFile, writeTemp } from '../atomic/replace-program';
import { appendDurably, replaceJournal } from '../storage/journal-program';
import type { WireError } from './wire';

/**
 * Every fs program that may run in the fs worker, by name (functions cannot cross threads, names
 * and structured-clonable arguments can).
 */
export const JOBS = { openTemp, writeTemp, publish, discard, replaceFile, appendDurably, replaceJournal };

export type Jobs = typeof JOBS;
export type JobName = keyof Jobs;
export type JobResult<K extends JobName> = ReturnType<Jobs[K]> extends Generator<unknown, infer R, unknown> ? R : never;

export interface JobRequest {
  id: number;
  name: JobName;
  args: unknown[];
}

export type JobReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };
