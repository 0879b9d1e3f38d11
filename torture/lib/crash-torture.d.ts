export interface TortureState {
  nextId: number;
  records: Map<number, Record<string, unknown> & { id: number }>;
}

export interface IterationResult {
  issued: number;
  acknowledged: number;
  landedUnacknowledged: number;
  notLanded: number;
  lost: number;
  problems: string[];
  corrupt: string | undefined;
  restartMs: number;
  /** Journal engine: the journal ended in a damaged record (cut off at the restart). */
  tornTail?: boolean;
  /** Journal engine: the kill came during a compaction (a snapshot temp file, or journal records the snapshot holds). */
  midCompaction?: boolean;
  after: TortureState;
  seed: number;
  delay: number;
}

export function crashIteration(options: {
  file: string;
  before: TortureState;
  writers?: number;
  maxKillMs?: number;
  rand?: () => number;
  engine?: 'snapshot' | 'journal';
  compactAfterBytes?: number;
}): Promise<IterationResult>;

export function emptyState(): TortureState;
