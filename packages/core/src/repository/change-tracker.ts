import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Collects the commits that the changes queued inside `trackChanges()` belong to, across
 * repositories and async continuations, so a caller (an HTTP request) can wait for exactly its
 * own changes instead of for everything queued by anyone.
 */
export class ChangeTracker {
  private readonly commits = new Set<Promise<void>>();

  /** @internal Called by the repository when a change joins a commit. */
  record(commit: Promise<void>): void {
    this.commits.add(commit);
  }

  /** How many distinct commits hold the tracked changes. */
  get size(): number {
    return this.commits.size;
  }

  /** Resolves when every tracked change is durable; rejects if any of them failed. */
  durable(): Promise<void> {
    if (this.commits.size === 0) return Promise.resolve();
    return Promise.all(this.commits).then(() => undefined);
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
