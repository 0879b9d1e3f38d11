import { OutgoingMessage, ServerResponse } from 'node:http';

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
  /** Bits (BIT) of the methods whose original is running: a call back into the wrapper from there goes beneath it. */
  passing: number;
}

/**
 * Each held response's state, on the response under a symbol. Not a WeakMap: a WeakMap that
 * outlives its keys keeps its table in old space, and one entry per request grows that table
 * until a mark-compact clears it.
 */
const HOLD = Symbol('filekeep.hold');
type WithHold = ServerResponse & { [HOLD]?: Hold };

/**
 * Hold a response before any byte of its head is written: `writeHead`, `write`, `end` and
 * `flushHeaders` are queued from the handler's first call until `hooks.wait()` settles, then replayed
 * (or dropped for a replacement). Unlike proxying only `res.end` (expressjs/session), the status
 * line can still change when the wait fails.
 *
 * The wrappers stay installed and pass calls through once released, so middleware that wraps these
 * methods later (compression, on-headers) keeps working. They never become own properties of the
 * response (that measured 4-5 µs each) and come with a `headersSent` that says true while the
 * response is held:
 * - On an Express app's own response prototype (`app.response`) they are installed once, and
 *   that app's responses that are not held pass straight through them. A sub-app mounted on it
 *   inherits them (Express chains the sub-app's `response` to the parent's), so its responses stay
 *   held although Express swaps their prototype. Changing each response's prototype instead lost
 *   the wrappers in a sub-app, and gave every response a new hidden class (about 1 KiB that
 *   outlived the request), a cost a busy server paid in garbage collection.
 * - Under any other prototype (shared ones such as `http.ServerResponse.prototype` are never
 *   changed) the response gets a prototype inserted under it, cached per original prototype.
 * If earlier middleware already put its own wrappers on the response, those are wrapped on the
 * response itself, so nothing they send can bypass the hold.
 */
export function holdResponse(res: ServerResponse, hooks: HoldHooks): void {
  const proto = Object.getPrototypeOf(res) as object;
  const installed = WRAPPED.has(proto) || installOnApp(proto);
  (res as WithHold)[HOLD] = {
    state: OPEN,
    hooks,
    original: { writeHead: originalOf(res, 'writeHead'), write: originalOf(res, 'write'), end: originalOf(res, 'end'), flushHeaders: originalOf(res, 'flushHeaders') } as Originals,
    queue: [],
    status: undefined,
    owesDrain: false,
    passing: 0,
  };
  if (!installed) {
    let heldProto = HELD_PROTOTYPES.get(proto);
    if (!heldProto) {
      heldProto = Object.create(proto, HELD_PROPERTIES) as object;
      HELD_PROTOTYPES.set(proto, heldProto);
      WRAPPED.set(heldProto, methodsOf(proto));
    }
    Object.setPrototypeOf(res, heldProto);
  }
  for (const method of METHODS) {
    if (Object.hasOwn(res, method)) Object.defineProperty(res, method, { configurable: true, writable: true, value: HELD_PROPERTIES[method]!.value });
  }
}

/** The hooks `res` is held with, or undefined if `holdResponse` was never called on it. */
export function holdHooksOf(res: ServerResponse): HoldHooks | undefined {
  return (res as WithHold)[HOLD]?.hooks;
}

const METHODS: Method[] = ['writeHead', 'write', 'end', 'flushHeaders'];
const BIT: Record<Method, number> = { writeHead: 1, write: 2, end: 4, flushHeaders: 8 };
const HELD_PROTOTYPES = new WeakMap<object, object>();
/** Every prototype that carries the wrappers as its own properties, with the methods beneath them. */
const WRAPPED = new WeakMap<object, Originals>();

const methodsOf = (proto: object): Originals => {
  const { writeHead, write, end, flushHeaders } = proto as Originals;
  return { writeHead, write, end, flushHeaders };
};

/**
 * Install the wrappers on `proto` if it is an Express app's own response prototype (made per app,
 * with an own `app`); false for any other prototype, which is left alone.
 */
function installOnApp(proto: object): boolean {
  if (!Object.hasOwn(proto, 'app') || proto === ServerResponse.prototype) return false;
  WRAPPED.set(proto, methodsOf(proto));
  Object.defineProperties(proto, HELD_PROPERTIES);
  return true;
}

/** The method beneath the wrappers in the response's prototype chain. */
function beneath(res: ServerResponse, method: Method): Originals[Method] {
  for (let proto = Object.getPrototypeOf(res) as object | null; proto; proto = Object.getPrototypeOf(proto) as object | null) {
    const methods = WRAPPED.get(proto);
    if (methods) return methods[method];
  }
  // Unreachable: the wrappers are only found through a prototype that carries them.
  throw new Error('filekeep: a response wrapper was called on a response it is not installed for');
}

/** What `res[method]` is without this module's wrappers: what a released response calls. */
function originalOf(res: ServerResponse, method: Method): Originals[Method] {
  const found = res[method];
  return found === HELD_PROPERTIES[method]!.value ? beneath(res, method) : found;
}

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
      return (this as WithHold)[HOLD]?.state === HELD || (realHeadersSent.call(this) as boolean);
    },
  },
};

function passThrough(res: ServerResponse, hold: Hold, method: Method, args: unknown[]): unknown {
  const bit = BIT[method];
  hold.passing |= bit;
  try {
    return (hold.original[method] as (...a: unknown[]) => unknown).apply(res, args);
  } finally {
    hold.passing &= ~bit;
  }
}

function held(res: ServerResponse, method: Method, args: unknown[]): unknown {
  const hold = (res as WithHold)[HOLD];
  // Straight beneath the wrappers: a response that is not held (a GET on an app that carries them),
  // or a call from inside this method's original (middleware that wrapped it before the hold, on an
  // app that already carried the wrappers, captured them as its "original").
  if (hold === undefined || hold.passing & BIT[method]) return (beneath(res, method) as (...a: unknown[]) => unknown).apply(res, args);
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
