/**
 * The one write queue of a data file (group commit). At most one batch is being written; every
 * change that arrives meanwhile joins the next batch, so N concurrent writers cost about one
 * durable write, not N. All callers of a batch share one promise (as steno's Writer does).
 */
export interface CommitterHooks<B> {
  /** Make the batch durable (it holds everything queued since the previous one). */
  persist(batch: B): Promise<void>;
  /** The batch is on disk: fold it into the durable state. Runs before any caller resolves. */
  durable(batch: B): void;
  /** The write failed: these batches (the one written and the one filling behind it) are dropped. */
  failed(batches: B[], error: unknown): void;
}

interface Slot<B> {
  batch: B;
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class Committer<B> {
  private filling: Slot<B> | undefined;
  private writing: Slot<B> | undefined;

  constructor(
    private readonly createBatch: () => B,
    private readonly hooks: CommitterHooks<B>,
  ) {}

  /** The batch that is filling (created on demand) and the promise its callers share. */
  join(): { batch: B; done: Promise<void> } {
    if (!this.filling) {
      this.filling = slot(this.createBatch());
      // setImmediate, not a microtask: requests parsed in the same turn of the event loop join too.
      if (!this.writing) setImmediate(() => this.writeNext());
    }
    return { batch: this.filling.batch, done: this.filling.promise };
  }

  /** Batches not yet durable, oldest first: what a new change must see. */
  pending(): B[] {
    const out: B[] = [];
    if (this.writing) out.push(this.writing.batch);
    if (this.filling) out.push(this.filling.batch);
    return out;
  }

  /** Resolves when everything queued so far is durable; rejects if any of it failed. */
  flush(): Promise<void> {
    return (this.filling ?? this.writing)?.promise ?? Promise.resolve();
  }

  get idle(): boolean {
    return !this.filling && !this.writing;
  }

  private writeNext(): void {
    if (this.writing || !this.filling) return;
    const current = (this.writing = this.filling);
    this.filling = undefined;
    this.hooks.persist(current.batch).then(
      () => {
        this.writing = undefined;
        this.hooks.durable(current.batch);
        current.resolve();
        this.writeNext();
      },
      (error: unknown) => {
        // The filling batch was built on top of the one that failed, so it fails with it.
        const next = this.filling;
        this.writing = undefined;
        this.filling = undefined;
        this.hooks.failed(next ? [current.batch, next.batch] : [current.batch], error);
        current.reject(error);
        next?.reject(error);
      },
    );
  }
}

function slot<B>(batch: B): Slot<B> {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Callers handle the rejection through their own derived promises; this one must not count as unhandled.
  promise.catch(() => undefined);
  return { batch, promise, resolve, reject };
}
