import { readFile } from 'node:fs/promises';
import { fixture, killHard, startChild } from './helpers/child';
import { useTempDir } from './helpers/temp-dir';

const tmp = useTempDir();
const payloadFor = (n: number) => 'x'.repeat((n * 7919) % 200_000);

describe('writeJsonAtomic() under SIGKILL', () => {
  it('always leaves a file that parses and holds a version at least as new as the last acknowledged', async () => {
    const file = tmp.file('doc.json');
    for (let round = 0; round < 8; round++) {
      const log = tmp.file('acknowledged.log');
      const child = startChild(fixture('json-writer.js'), [file, log]);
      await child.waitFor(/^started/);
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 150));
      await killHard(child);
      const lines = (await readFile(log, 'utf8')).split('\n').slice(0, -1); // a torn last line is dropped
      const acknowledged = Math.max(...lines.map((l) => Number(l.slice(6))));
      const doc = JSON.parse(await readFile(file, 'utf8')) as { version: number; payload: string };
      expect(doc.version).toBeGreaterThanOrEqual(acknowledged);
      // The kill can land after a write became visible but before its line was printed.
      expect(doc.version).toBeLessThanOrEqual(acknowledged + 1);
      expect(doc.payload).toBe(payloadFor(doc.version));
    }
  });
});
