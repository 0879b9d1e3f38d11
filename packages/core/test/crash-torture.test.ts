import { crashIteration, emptyState } from '../../../torture/lib/crash-torture';
import { useTempDir } from './helpers/temp-dir';

// The light version of `npm run torture` (which runs 200 iterations): the same child, the same check.
const ITERATIONS = Number(process.env['FK_CRASH_ITERATIONS'] ?? 10);
const tmp = useTempDir();

describe('FileRepository under SIGKILL with 24 concurrent writers', () => {
  it.each([
    ['snapshot', ITERATIONS],
    // Compacting every ~32 KB: kills also land between a compaction's snapshot and its truncate.
    ['journal', Math.ceil(ITERATIONS / 2)],
  ] as const)('with the %s engine recovers, %i times over, exactly a prefix of the write queue that holds every acknowledged change', async (engine, iterations) => {
    const file = tmp.file('db.json');
    let before = emptyState();
    let acknowledged = 0;
    // The kill lands at a random moment, on a slow host sometimes before the first commits: then
    // up to 4x the kills run until more than 10 changes per planned kill were acknowledged, so a
    // run proves as much as it claims instead of failing on timing.
    for (let i = 0; i < iterations || (acknowledged <= iterations * 10 && i < iterations * 4); i++) {
      const result = await crashIteration({ file, before, writers: 24, maxKillMs: 300, engine });
      expect({ iteration: i, corrupt: result.corrupt, lost: result.lost, problems: result.problems }).toEqual({ iteration: i, corrupt: undefined, lost: 0, problems: [] });
      acknowledged += result.acknowledged;
      before = result.after;
    }
    expect(acknowledged).toBeGreaterThan(iterations * 10);
  }, 60_000 + ITERATIONS * 5_000);
});
