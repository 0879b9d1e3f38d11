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
}): Promise<IterationResult>;

export function emptyState(): TortureState;
