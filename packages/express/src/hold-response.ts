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

/** Each held response's state; a WeakMap because adding a property to a response is slow. */
const HOLDS = new WeakMap<ServerResponse, Hold>();
const stateOf = (res: ServerResponse): Hold => HOLDS.get(res)!;

/**
 * Hold a response before any byte of its head is written: `writeHead`, `write`, `end` and
 * `flushHeaders` are queued from the handler's first call until `hooks.wait()` settles, then replayed
 * (or dropped for a replacement). Unlike proxying only `res.end` (expressjs/session), the status
 * line can still change when the wait fails.
 *
 * The wrappers stay installed and pass calls through once released, so middleware that wraps these
 * methods later (compression, on-headers) keeps working. They live on a prototype inserted under
 * the response (cached per original prototype; Express swaps every response's prototype the same
 * way), together with a `headersSent` that says true while the response is held: adding own
 * properties to a ServerResponse measured 4-5 µs each, the whole hold 20 µs per request.
 * If earlier middleware already put its own wrappers on the response, those are wrapped on the
 * response itself, so nothing they send can bypass the hold.
 */
export function holdResponse(res: ServerResponse, hooks: HoldHooks): void {
  HOLDS.set(res, {
    state: OPEN,
    hooks,
    original: { writeHead: res.writeHead, write: res.write, end: res.end, flushHeaders: res.flushHeaders },
    queue: [],
    status: undefined,
    owesDrain: false,
  });
  const proto = Object.getPrototypeOf(res) as object;
  let heldProto = HELD_PROTOTYPES.get(proto);
  if (!heldProto) HELD_PROTOTYPES.set(proto, (heldProto = Object.create(proto, HELD_PROPERTIES) as object));
  Object.setPrototypeOf(res, heldProto);
  for (const method of METHODS) {
    if (Object.hasOwn(res, method)) Object.defineProperty(res, method, { configurable: true, writable: true, value: HELD_PROPERTIES[method]!.value });
  }
}

const METHODS: Method[] = ['writeHead', 'write', 'end', 'flushHeaders'];
const HELD_PROTOTYPES = new WeakMap<object, object>();

const realHeadersSent = Object.getOwnPropertyDescriptor(OutgoingMessage.prototype, 'headersSent')!.get!;

const HELD_PROPERTIES: PropertyDescriptorMap = {
  writeHead: { configurable: true, writable: true, value: function writeHead(this: ServerResponse, ...args: unknown[]) { return held(this, 'writeHead', args); } },
  write: { configurable: true, writable: true, value: function write(this: ServerResponse, ...args: unknown[]) { return held(this, 'write', args); } },
  end: { configurable: true, writable: true, value: function end(this: ServerResponse, ...args: unknown[]) { return held(this, 'end', args); } },
  flushHeaders: { configurable: true, writable: true, value: function flushHeaders(this: ServerResponse) { held(this, 'flushHeaders', []); } },
  // To the handler and error handlers the head is fixed from the first call, as without the hold.
  headersSent: {
    configurable: true,
    get(this: ServerResponse): boolean {
      return stateOf(this).state === HELD || (realHeadersSent.call(this) as boolean);
    },
  },
};

function passThrough(res: ServerResponse, hold: Hold, method: Method, args: unknown[]): unknown {
  return (hold.original[method] as (...a: unknown[]) => unknown).apply(res, args);
}

function held(res: ServerResponse, method: Method, args: unknown[]): unknown {
  const hold = stateOf(res);
  if (hold.state === RELEASED) return passThrough(res, hold, method, args);
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

function begin(res: ServerResponse, hold: Hold): void {
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

function release(res: ServerResponse, hold: Hold): void {
  hold.state = RELEASED;
  const queue = hold.queue;
  hold.queue = [];
  for (const [method, args] of queue) passThrough(res, hold, method, args);
  if (hold.owesDrain && !res.writableEnded && !res.writableNeedDrain) res.emit('drain');
}
