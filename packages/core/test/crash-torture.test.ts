import { crashIteration, emptyState } from '../../../torture/lib/crash-torture';
import { useTempDir } from './helpers/temp-dir';

// The light version of `npm run torture` (which runs 200 iterations): the same child, the same check.
const ITERATIONS = Number(process.env['FK_CRASH_ITERATIONS'] ?? 10);
const tmp = useTempDir();

describe('FileRepository under SIGKILL with 24 concurrent writers', () => {
  it(`recovers, ${ITERATIONS} times over, exactly a prefix of the write queue that holds every acknowledged change`, async () => {
    const file = tmp.file('db.json');
    let before = emptyState();
    let acknowledged = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const result = await crashIteration({ file, before, writers: 24, maxKillMs: 300 });
      expect({ iteration: i, corrupt: result.corrupt, lost: result.lost, problems: result.problems }).toEqual({ iteration: i, corrupt: undefined, lost: 0, problems: [] });
      acknowledged += result.acknowledged;
      before = result.after;
    }
    expect(acknowledged).toBeGreaterThan(ITERATIONS * 10);
  }, 60_000 + ITERATIONS * 5_000);
});
