import type { ServerResponse } from 'node:http';

type Method = 'writeHead' | 'write' | 'end' | 'flushHeaders';
const HELD: Method[] = ['writeHead', 'write', 'end', 'flushHeaders'];

export interface HoldHooks {
  /** Called once, when the handler starts its response; the response waits for the promise. */
  wait(): Promise<unknown>;
  /**
   * The wait failed. `status` is the status the handler meant to send. Return `true` after sending
   * a replacement response (the held one is dropped), `false` to send the held response anyway.
   */
  failed(error: unknown, status: number): boolean;
}

/**
 * Hold a response before any byte of its head is written: `writeHead`, `write`, `end` and
 * `flushHeaders` are queued from the handler's first call until `hooks.wait()` settles, then replayed
 * (or dropped for a replacement). Unlike proxying only `res.end` (expressjs/session), the status
 * line can still change when the wait fails.
 *
 * The wrappers stay installed and pass calls through once released, so middleware that wraps these
 * methods later (compression, on-headers) keeps working.
 */
export function holdResponse(res: ServerResponse, hooks: HoldHooks): void {
  const original = Object.fromEntries(HELD.map((name) => [name, res[name]])) as Pick<ServerResponse, Method>;
  const queue: Array<{ method: Method; args: unknown[] }> = [];
  let state: 'open' | 'held' | 'released' | 'replaced' = 'open';
  let status: number | undefined;
  let owesDrain = false;

  const passThrough = (method: Method, args: unknown[]): unknown =>
    (original[method] as (...a: unknown[]) => unknown).apply(res, args);

  function release(): void {
    state = 'released';
    // The head is written from here on; the real getter reports it again.
    delete (res as { headersSent?: boolean }).headersSent;
    for (const { method, args } of queue.splice(0)) passThrough(method, args);
    if (owesDrain && !res.writableEnded && !res.writableNeedDrain) res.emit('drain');
  }

  function begin(): void {
    state = 'held';
    // To the handler and error handlers the head is now fixed, as it would be without the hold.
    Object.defineProperty(res, 'headersSent', { configurable: true, get: () => true });
    hooks.wait().then(release, (error: unknown) => {
      const intended = status ?? res.statusCode;
      delete (res as { headersSent?: boolean }).headersSent;
      state = 'released';
      try {
        if (!hooks.failed(error, intended)) return release();
        state = 'replaced';
        queue.length = 0;
      } catch (sendError) {
        res.destroy(sendError instanceof Error ? sendError : undefined);
      }
    });
  }

  function wrap(method: Method) {
    return function held(this: ServerResponse, ...args: unknown[]): unknown {
      if (state === 'released') return passThrough(method, args);
      // The replacement response is out; what the handler still writes has nowhere to go.
      if (state === 'replaced') return method === 'write' ? false : res;
      if (method === 'writeHead' && typeof args[0] === 'number') status = args[0];
      queue.push({ method, args });
      if (state === 'open') begin();
      if (method === 'write') {
        owesDrain = true;
        return false;
      }
      return method === 'flushHeaders' ? undefined : res;
    };
  }

  for (const method of HELD) Object.defineProperty(res, method, { configurable: true, writable: true, value: wrap(method) });
}
