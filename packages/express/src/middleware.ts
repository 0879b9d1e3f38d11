import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ChangeTracker, type Collection, type CollectionTypes, type FileRepository } from '@filekeep/core';
import { holdHooksOf, holdResponse, type HoldHooks } from './hold-response';
import { problem, sendProblem, toProblem } from './problem';

/**
 * Your collections, to type `req.repo`. Augment it once in your app:
 *
 * @example
 * declare module '@filekeep/express' {
 *   interface FilekeepCollections { expenses: Expense }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface FilekeepCollections {}

/** The collections map `req.repo` is typed with: yours, or any collection until you augment it. */
export type RegisteredCollections = keyof FilekeepCollections extends never
  ? Record<string, object>
  : // A mapped type, because an interface lacks the implicit index signature FileRepository's bound needs.
    { [K in keyof FilekeepCollections]: FilekeepCollections[K] };

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The repository given to `filekeep()`. */
      repo: FileRepository<RegisteredCollections>;
    }
  }
}

export interface FilekeepOptions {
  /**
   * Called when the repository could not make a request's changes durable and the response was
   * replaced by a 503.
   * @default (error) => console.error(error)
   */
  log?: (error: unknown, req: Request) => void;
}

const DEFAULTS: Required<FilekeepOptions> = {
  log: (error) => console.error(error),
};

/** Methods that do not change state (RFC 9110 §9.2.1); their responses are never held. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/**
 * Puts the repository on `req.repo` and makes every other method's response wait until the
 * repository is durable: when the handler starts its response, the head and body are held until
 * `repo.flush()` resolves. If the flush fails, a success (< 400) becomes a 503 problem instead;
 * an error response the handler chose is sent as it was.
 *
 * @example
 * app.use(express.json(), filekeep(repo));
 * app.post('/expenses', async (req, res) => {
 *   res.status(201).json(await req.repo.collection('expenses').insert(req.body));
 * });
 */
export function filekeep<M extends CollectionTypes<M>>(repo: FileRepository<M>, options: FilekeepOptions = {}): RequestHandler {
  const { log } = { ...DEFAULTS, ...options };
  // The repository's type is the one your app registered in FilekeepCollections.
  const injected = repo as unknown as FileRepository<RegisteredCollections>;
  return function filekeep(req: Request, res: Response, next: NextFunction): void {
    if (SAFE_METHODS.has(req.method)) {
      req.repo = injected;
      return next();
    }
    // Changes made through req.repo (and through resource()) are recorded in the request's
    // tracker, so the response waits for exactly those commits. A request that changed nothing
    // through them (or used a collection captured elsewhere) waits for everything queued so far.
    // An explicit view, not AsyncLocalStorage: on Node 20 that costs a quarter of the throughput.
    const tracker = new ChangeTracker();
    const hooks: RequestHooks = {
      // The view carries the tracker (see forRequest).
      repo: injected.tracked(tracker),
      wait: () => (tracker.size > 0 ? tracker.durable() : repo.flush()),
      failed(error, status) {
        log(error, req);
        if (status >= 400) return false;
        const replacement = toProblem(error);
        sendProblem(res, replacement.status === 503 ? replacement : problem(503, 'The change could not be stored durably. Try again later.'));
        return true;
      },
    };
    holdResponse(res, hooks);
    // Found through the hold by the accessor on the app's request prototype; a plain property
    // where there is none, or where one set before would shadow it.
    if (Object.hasOwn(req, 'repo') || !installRepoAccessor(req)) req.repo = hooks.repo;
    next();
  };
}

/** What a held request's response waits with, and the repository view its `req.repo` returns. */
interface RequestHooks extends HoldHooks {
  readonly repo: FileRepository<RegisteredCollections>;
}

/** Request prototypes (Express apps' `app.request`) that carry the `repo` accessor. */
const WITH_REPO_ACCESSOR = new WeakSet<object>();

/**
 * Install the `repo` accessor on the request's prototype if it is an Express app's own request
 * prototype (one with an own `app`; sub-apps inherit it) and none is there yet; returns whether
 * `req.repo` reads through such an accessor. The accessor
 * returns the view held with the request's response, so a mutating request needs no property of
 * its own: Express 5 moves each request to its app's prototype, after which every property added
 * costs the request a new hidden class (1.3 KB each, measured). Assigning `req.repo` (an app may)
 * defines a plain property, as before.
 */
function installRepoAccessor(req: Request): boolean {
  for (let proto = Object.getPrototypeOf(req) as object | null; proto; proto = Object.getPrototypeOf(proto) as object | null) {
    if (WITH_REPO_ACCESSOR.has(proto)) return true;
  }
  const proto = Object.getPrototypeOf(req) as object | null;
  if (!proto || !Object.hasOwn(proto, 'app') || 'repo' in proto) return false;
  Object.defineProperty(proto, 'repo', {
    configurable: true,
    get(this: Request): FileRepository<RegisteredCollections> | undefined {
      return (this.res && (holdHooksOf(this.res) as RequestHooks | undefined))?.repo;
    },
    set(this: Request, value: FileRepository<RegisteredCollections>) {
      Object.defineProperty(this, 'repo', { value, writable: true, enumerable: true, configurable: true });
    },
  });
  WITH_REPO_ACCESSOR.add(proto);
  return true;
}

/**
 * `collection` as seen by this request: its changes are what the response waits for. The request's
 * tracker is the one its `req.repo` view carries; if the app replaced `req.repo`, changes are not
 * tracked and the response waits for everything queued before it, which is durable too.
 */
export function forRequest<T extends object>(collection: Collection<T>, req: Request): Collection<T> {
  const tracker = (req.repo as FileRepository<RegisteredCollections> | undefined)?.tracker;
  return tracker ? collection.tracked(tracker) : collection;
}
