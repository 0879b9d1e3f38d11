import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { fixture, killHard, startChild, type RunningChild } from './helpers/child';
import { useTempDir } from './helpers/temp-dir';

// `npm run torture` runs 50 rounds (FK_ROUNDS=50).
const ROUNDS = Number(process.env['FK_ROUNDS'] ?? 10);
const tmp = useTempDir();
const racer = fixture('racer.js');

interface Opened {
  pid: number;
  records: number;
  ms: number;
}
type Answer = { kind: 'open'; open: Opened } | { kind: 'locked'; lockPath: string; pid: number; message: string };

async function answerOf(child: RunningChild): Promise<Answer> {
  const line = await child.waitFor(/^(open|locked|error) /);
  const [kind, ...rest] = line.split(' ');
  if (kind === 'open') {
    const [pid, records, ms] = rest.map(Number);
    return { kind, open: { pid: pid!, records: records!, ms: ms! } };
  }
  if (kind === 'locked') return { kind, ...(JSON.parse(rest.join(' ')) as { lockPath: string; pid: number; message: string }) };
  throw new Error(`unexpected answer: ${line}`);
}

/** Start a racer that opens at once, with a long lock timeout: a live-looking holder would make it wait. */
async function openNow(file: string, env: NodeJS.ProcessEnv = {}): Promise<{ child: RunningChild; answer: Answer }> {
  const child = startChild(racer, [file], { FK_GO_NOW: '1', FK_LOCK_TIMEOUT: '10000', ...env });
  return { child, answer: await answerOf(child) };
}

async function ownStartTime(): Promise<string> {
  const stat = await readFile(`/proc/${process.pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

const describeOnProc = process.platform === 'linux' ? describe : describe.skip;

describe('FileRepository.open() from two processes', () => {
  it(`lets exactly one of two racing processes win, ${ROUNDS} times, also when they race over the lock of a SIGKILLed winner`, async () => {
    const file = tmp.file('db.json');
    const lockPath = `${file}.lock`;
    const startPair = async () => {
      const pair = [startChild(racer, [file], { FK_INSERT: '1' }), startChild(racer, [file], { FK_INSERT: '1' })];
      await Promise.all(pair.map((r) => r.waitFor(/^ready$/)));
      return pair;
    };
    let racers = await startPair();
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // From round 1 on, the lock names the previous winner, SIGKILLed: with lockTimeout 0, a
        // racer that took it for live would fail at once, and then nobody would win.
        for (const r of racers) r.child.kill('SIGUSR2');
        const answers = await Promise.all(racers.map(answerOf));
        const winners = answers.filter((a): a is Extract<Answer, { kind: 'open' }> => a.kind === 'open');
        const losers = answers.filter((a): a is Extract<Answer, { kind: 'locked' }> => a.kind === 'locked');
        expect({ round, winners: winners.length, losers: losers.length }).toEqual({ round, winners: 1, losers: 1 });
        const winner = winners[0]!.open;
        expect(winner.records).toBe(round + 1); // every earlier winner's insert survived its SIGKILL
        expect(winner.ms).toBeLessThan(1_000);
        expect(losers[0]).toMatchObject({ lockPath, pid: winner.pid });
        expect(losers[0]!.message).toContain(lockPath);
        expect(losers[0]!.message).toContain(`pid ${winner.pid}`);
        const next = round + 1 < ROUNDS ? await startPair() : [];
        await Promise.all(racers.map(killHard));
        racers = next;
      }
    } finally {
      await Promise.all(racers.map(killHard));
    }
    // A restart willing to wait 10 s for a live holder does not wait for a dead one.
    const restart = await openNow(file);
    try {
      expect(restart.answer).toMatchObject({ kind: 'open', open: { records: ROUNDS } });
      if (restart.answer.kind === 'open') expect(restart.answer.open.ms).toBeLessThan(1_000);
    } finally {
      await killHard(restart.child);
    }
  }, 30_000 + ROUNDS * 3_000);
});

describeOnProc('FileRepository.open() and pid reuse', () => {
  it('takes over at once a lock naming a live pid whose start time differs (another process reused the pid)', async () => {
    const file = tmp.file('db.json');
    // This jest worker is alive; the lock claims a start time it never had.
    await writeFile(`${file}.lock`, JSON.stringify({ pid: process.pid, hostname: hostname(), startTime: '1' }));
    const { child, answer } = await openNow(file);
    try {
      expect(answer.kind).toBe('open');
      if (answer.kind === 'open') expect(answer.open.ms).toBeLessThan(1_000);
    } finally {
      await killHard(child);
    }
  });

  it("takes over at once a lock naming the new process's own pid with a stale start time", async () => {
    const file = tmp.file('db.json');
    const { child, answer } = await openNow(file, { FK_STALE_OWN_LOCK: '1' });
    try {
      expect(answer.kind).toBe('open');
      if (answer.kind === 'open') expect(answer.open.ms).toBeLessThan(1_000);
      expect(JSON.parse(await readFile(`${file}.lock`, 'utf8'))).toMatchObject({ pid: child.child.pid });
    } finally {
      await killHard(child);
    }
  });

  it('refuses a lock naming a live pid with its true start time, naming lock and pid', async () => {
    const file = tmp.file('db.json');
    await writeFile(`${file}.lock`, JSON.stringify({ pid: process.pid, hostname: hostname(), startTime: await ownStartTime() }));
    const { child, answer } = await openNow(file, { FK_LOCK_TIMEOUT: '0' });
    await child.exited;
    expect(answer).toMatchObject({ kind: 'locked', lockPath: `${file}.lock`, pid: process.pid });
  });
});
