import { FaultyFs } from '@filekeep/core';

/** Resolves once `condition()` holds (checked every few ms, for background work); fails after 5 s. */
export async function until(condition: () => boolean): Promise<void> {
  for (const started = Date.now(); !condition(); ) {
    if (Date.now() - started > 5000) throw new Error(`timed out waiting for ${condition.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * A fault-injecting seam that can hold the rename onto `target` (a compaction's snapshot, just
 * before it becomes visible) until `let()`: what happens meanwhile is what a slow snapshot allows.
 */
export class HeldRenameFs extends FaultyFs {
  private release: (() => void) | undefined;
  private held: Promise<void> | undefined;
  /** The held rename has been called. */
  reached = false;

  constructor(private readonly target: string) {
    super();
  }

  hold(): void {
    this.reached = false;
    this.held = new Promise((resolve) => (this.release = resolve));
  }

  let(): void {
    this.release?.();
    this.held = undefined;
  }

  override async rename(from: string, to: string): Promise<void> {
    if (to === this.target && this.held) {
      this.reached = true;
      await this.held;
    }
    return super.rename(from, to);
  }
}
