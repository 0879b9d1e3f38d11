import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { runOnSeam } from '../fs/program';
import { nodeFs, type FsSeam } from '../fs/seam';
import { JOBS, type JobName, type JobReply, type JobResult, type Jobs } from './jobs';
import { fromWire } from './wire';

/**
 * Run a job's fs program: on node's fs, in the fs worker (one message round trip for the whole
 * sequence, and no synchronous call on this thread); on any other seam (tests, fault injection),
 * call by call in this thread. Either way the program is the same code.
 *
 * `transfer`: buffers among the arguments whose memory the caller gives up, so they are moved to
 * the worker instead of copied.
 */
export function runJob<K extends JobName>(fs: FsSeam, name: K, args: Parameters<Jobs[K]>, transfer: ArrayBuffer[] = []): Promise<JobResult<K>> {
  if (fs !== nodeFs) return runJobBeside(fs, name, args);
  return fsWorker.run(name, args, transfer) as Promise<JobResult<K>>;
}

/**
 * Run a job's fs program call by call with the seam's async calls (for node's fs: libuv's thread
 * pool), beside the fs worker: for long background work (a compaction's snapshot) that must not
 * hold the worker's queue, where every commit waits. The buffers are used in place, not posted.
 */
export function runJobBeside<K extends JobName>(fs: FsSeam, name: K, args: Parameters<Jobs[K]>): Promise<JobResult<K>> {
  const program = (JOBS[name] as (...a: unknown[]) => Generator<never, JobResult<K>, unknown>)(...args);
  return runOnSeam(program, fs);
}

/**
 * `bytes` ready to post to the worker. `giveUp`: the caller will not use `bytes` again, so a buffer
 * that owns its memory is moved (transferred). Anything else is first copied to exactly its range
 * and the copy moved: structured clone would copy a view's whole ArrayBuffer (a small Buffer is a
 * view into an 8 KiB pool), and copies twice (serialize, then deserialize in the worker).
 */
export function forWorker(bytes: Uint8Array, giveUp: boolean): { bytes: Uint8Array; transfer: ArrayBuffer[] } {
  const memory = bytes.buffer;
  if (memory instanceof SharedArrayBuffer) return { bytes, transfer: [] }; // shared, not copied
  if (giveUp && bytes.byteOffset === 0 && bytes.byteLength === memory.byteLength) return { bytes, transfer: [memory] };
  const copy = Uint8Array.prototype.slice.call(bytes);
  return { bytes: copy, transfer: [copy.buffer as ArrayBuffer] };
}

// The worker runs the built JavaScript; under ts-jest this file is TypeScript in src/, so point
// at dist/ (npm test builds first).
const WORKER_FILE = __filename.endsWith('.ts')
  ? path.resolve(__dirname, '../../dist/worker/fs-worker.js')
  : path.join(__dirname, 'fs-worker.js');

class FsWorkerClient {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  /** Callers of `stop` waiting for the jobs in flight to settle. */
  private readonly whenIdle: Array<() => void> = [];

  /** Start the thread if it is not running, without a job (see `prestartFsWorker`). */
  prestart(): void {
    this.worker ?? this.start();
  }

  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Terminate the thread once the jobs in flight have settled; the next job starts a new one. */
  async stop(): Promise<void> {
    while (this.pending.size > 0) await new Promise<void>((resolve) => this.whenIdle.push(resolve));
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    await worker.terminate();
  }

  run(name: JobName, args: unknown[], transfer: ArrayBuffer[]): Promise<unknown> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Keep the process alive while a job is in flight; an idle worker must not.
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, name, args }, transfer);
    });
  }

  private start(): Worker {
    const worker = new Worker(WORKER_FILE, { workerData: { filekeepFsWorker: true } });
    worker.on('message', (reply: JobReply) => {
      const job = this.pending.get(reply.id);
      if (!job) return;
      this.pending.delete(reply.id);
      if (reply.ok) job.resolve(reply.value);
      else job.reject(fromWire(reply.error));
      if (this.pending.size === 0) this.idle(worker);
    });
    // A worker that dies (or fails to start) fails what it held; the next job starts a new one.
    const fail = (error: unknown) => {
      // A stopped worker held no jobs, and one that already failed has settled its own: the jobs
      // pending now belong to its successor.
      if (this.worker !== worker) return;
      this.worker = undefined;
      const jobs = [...this.pending.values()];
      this.pending.clear();
      for (const job of jobs) job.reject(error);
      this.idle(worker);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`filekeep's fs worker exited (code ${code})`)));
    // After the listeners: adding a 'message' listener refs the worker again. An idle worker must
    // not keep the process alive; run() refs it while a job is in flight.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private idle(worker: Worker): void {
    worker.unref();
    for (const wake of this.whenIdle.splice(0)) wake();
  }
}

const fsWorker = new FsWorkerClient();

/**
 * Start the fs worker now if `fs` is node's: a thread takes 60-90 ms to boot here, which the
 * first durable write would otherwise wait for. Started while a repository opens, it boots beside
 * the open's own work. An idle worker never keeps the process alive; one that fails to start is
 * started again by the next job.
 */
export function prestartFsWorker(fs: FsSeam): void {
  if (fs === nodeFs) fsWorker.prestart();
}

/**
 * Stop filekeep's fs worker thread once the writes in flight have finished; the next durable write
 * starts it again. An idle worker never keeps a process alive, so an app need not call this. It is
 * for test runners that load a fresh copy of filekeep for each test file (jest): each copy starts
 * its own thread, and threads left running pile up until the runner's process exits.
 *
 * @example
 * afterAll(() => stopFsWorker());
 */
export function stopFsWorker(): Promise<void> {
  return fsWorker.stop();
}

/** @internal For tests: whether the fs worker thread of this module instance has been started. */
export function fsWorkerRunning(): boolean {
  return fsWorker.running;
}
