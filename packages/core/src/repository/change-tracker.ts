import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Collects the commits that the changes queued inside `trackChanges()` belong to, across
 * repositories and async continuations, so a caller (an HTTP request) can wait for exactly its
 * own changes instead of for everything queued by anyone.
 */
export class ChangeTracker {
  // Nearly every request's changes share one commit: it is kept apart, so that case needs no Set
  // and its durable() is the commit's own promise, not a Promise.all over it.
  private first: Promise<void> | undefined;
  private others: Set<Promise<void>> | undefined;

  /** @internal Called by the repository when a change joins a commit. */
  record(commit: Promise<void>): void {
    if (this.first === undefined) this.first = commit;
    else if (commit !== this.first) (this.others ??= new Set()).add(commit);
  }

  /** How many distinct commits hold the tracked changes. */
  get size(): number {
    return this.first === undefined ? 0 : 1 + (this.others?.size ?? 0);
  }

  /** Resolves when every tracked change is durable; rejects if any of them failed. */
  durable(): Promise<void> {
    if (this.first === undefined) return Promise.resolve();
    if (this.others === undefined) return this.first;
    return Promise.all([this.first, ...this.others]).then(() => undefined);
  }
}

const storage = new AsyncLocalStorage<ChangeTracker>();

/**
 * Run `fn` so that every change it queues (also after awaits) is recorded in `tracker`.
 *
 * @example
 * const tracker = new ChangeTracker();
 * trackChanges(tracker, () => handle(request));
 * await tracker.durable();
 */
export function trackChanges<T>(tracker: ChangeTracker, fn: () => T): T {
  return storage.run(tracker, fn);
}

export function currentTracker(): ChangeTracker | undefined {
  return storage.getStore();
}
