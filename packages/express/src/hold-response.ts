import { OutgoingMessage, type ServerResponse } from 'node:http';

type Method = 'writeHead' | 'write' | 'end' | 'flushHeaders';
type Originals = Pick<ServerResponse, Method>;

export interface HoldHooks {
  /** Called once, when the handler starts its response; the response waits for the promise. */
  wait(): Promise<unknown>;
  /**
   * The wait failed. `status` is the status the handler meant to send. Return `true` after sending
   * a replacement response (the held one is dropped), `false` to send the held response anyway.
   */
  failed(error: unknown, status: number): boolean;
}

const OPEN = 0;
const HELD = 1;
const RELEASED = 2;
const REPLACED = 3;

interface Hold {
  state: typeof OPEN | typeof HELD | typeof RELEASED | typeof REPLACED;
  readonly hooks: HoldHooks;
  readonly original: Originals;
  queue: Array<[Method, unknown[]]>;
  status: number | undefined;
  owesDrain: boolean;
}

const HOLD = Symbol('filekeep.hold');
type HeldResponse = ServerResponse & { [HOLD]: Hold };

/**
 * Hold a response before any byte of its head is written: `writeHead`, `write`, `end` and
 * `flushHeaders` are queued from the handler's first call until `hooks.wait()` settles, then replayed
 * (or dropped for a replacement). Unlike proxying only `res.end` (expressjs/session), the status
 * line can still change when the wait fails.
 *
 * The wrappers stay installed and pass calls through once released, so middleware that wraps these
 * methods later (compression, on-headers) keeps working. They are shared functions that find their
 * state on the response, and `headersSent` is redefined once and never deleted: per-request
 * closures and a deleted property (which turns the response into a slow dictionary object) cost
 * a busy server more than the hold itself.
 */
export function holdResponse(res: ServerResponse, hooks: HoldHooks): void {
  const hold: Hold = {
    state: OPEN,
    hooks,
    original: { writeHead: res.writeHead, write: res.write, end: res.end, flushHeaders: res.flushHeaders },
    queue: [],
    status: undefined,
    owesDrain: false,
  };
  (res as HeldResponse)[HOLD] = hold;
  res.writeHead = heldWriteHead as ServerResponse['writeHead'];
  res.write = heldWrite as ServerResponse['write'];
  res.end = heldEnd as ServerResponse['end'];
  res.flushHeaders = heldFlushHeaders;
  // A prototype that adds only the headersSent accessor: cheaper than defining it on every
  // response (Express itself swaps each response's prototype the same way).
  const proto = Object.getPrototypeOf(res) as object;
  let heldProto = HELD_PROTOTYPES.get(proto);
  if (!heldProto) HELD_PROTOTYPES.set(proto, (heldProto = Object.create(proto, { headersSent: HEADERS_SENT }) as object));
  Object.setPrototypeOf(res, heldProto);
}

const HELD_PROTOTYPES = new WeakMap<object, object>();

const realHeadersSent = Object.getOwnPropertyDescriptor(OutgoingMessage.prototype, 'headersSent')!.get!;

/** To the handler and error handlers the head is fixed from the first call, as without the hold. */
const HEADERS_SENT: PropertyDescriptor = {
  configurable: true,
  get(this: HeldResponse): boolean {
    return this[HOLD].state === HELD || (realHeadersSent.call(this) as boolean);
  },
};

function passThrough(res: HeldResponse, method: Method, args: unknown[]): unknown {
  return (res[HOLD].original[method] as (...a: unknown[]) => unknown).apply(res, args);
}

function held(res: HeldResponse, method: Method, args: unknown[]): unknown {
  const hold = res[HOLD];
  if (hold.state === RELEASED) return passThrough(res, method, args);
  // The replacement response is out; what the handler still writes has nowhere to go.
  if (hold.state === REPLACED) return method === 'write' ? false : res;
  if (method === 'writeHead' && typeof args[0] === 'number') hold.status = args[0];
  hold.queue.push([method, args]);
  if (hold.state === OPEN) begin(res, hold);
  if (method === 'write') {
    hold.owesDrain = true;
    return false;
  }
  return method === 'flushHeaders' ? undefined : res;
}

function heldWriteHead(this: HeldResponse, ...args: unknown[]): unknown {
  return held(this, 'writeHead', args);
}
function heldWrite(this: HeldResponse, ...args: unknown[]): unknown {
  return held(this, 'write', args);
}
function heldEnd(this: HeldResponse, ...args: unknown[]): unknown {
  return held(this, 'end', args);
}
function heldFlushHeaders(this: HeldResponse): void {
  held(this, 'flushHeaders', []);
}

function begin(res: HeldResponse, hold: Hold): void {
  hold.state = HELD;
  hold.hooks.wait().then(
    () => release(res, hold),
    (error: unknown) => {
      const intended = hold.status ?? res.statusCode;
      hold.state = RELEASED;
      try {
        if (!hold.hooks.failed(error, intended)) return release(res, hold);
        hold.state = REPLACED;
        hold.queue = [];
      } catch (sendError) {
        res.destroy(sendError instanceof Error ? sendError : undefined);
      }
    },
  );
}

function release(res: HeldResponse, hold: Hold): void {
  hold.state = RELEASED;
  const queue = hold.queue;
  hold.queue = [];
  for (const [method, args] of queue) passThrough(res, method, args);
  if (hold.owesDrain && !res.writableEnded && !res.writableNeedDrain) res.emit('drain');
}
