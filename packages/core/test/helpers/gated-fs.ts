import { FaultyFs } from '@filekeep/core';

/** A seam whose data fsyncs wait for `open()` while the gate is closed: a write held in flight. */
export class GatedFs extends FaultyFs {
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private arrived: (() => void) | undefined;
  /** Resolves when a fdatasync reaches the closed gate. */
  reached: Promise<void> = Promise.resolve();

  close_(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
    this.reached = new Promise((resolve) => (this.arrived = resolve));
  }

  open_(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  override async fdatasync(fd: number): Promise<void> {
    if (this.gate) {
      this.arrived?.();
      await this.gate;
    }
    return super.fdatasync(fd);
  }
}
