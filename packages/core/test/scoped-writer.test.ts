import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createAtomicWriteStream, withAtomicFile } from '@filekeep/core';
import { useTempDir } from './helpers/temp-dir';

const tmp = useTempDir();

describe('withAtomicFile()', () => {
  it('commits what the callback wrote when it resolves', async () => {
    const file = tmp.file('report.csv');
    const result = await withAtomicFile(file, async (out) => {
      await out.write('a,b\n');
      await out.write(Buffer.from('1,2\n'));
      return 'done';
    });
    expect(result).toBe('done');
    expect(await readFile(file, 'utf8')).toBe('a,b\n1,2\n');
    expect(await tmp.list()).toEqual(['report.csv']);
  });

  it("writes views, small and large chunks byte for byte and leaves the caller's buffers intact", async () => {
    const file = tmp.file('data.bin');
    const big = Buffer.alloc(300_000, 1);
    const backing = Buffer.alloc(100_000, 2);
    const view = backing.subarray(10, 20); // ten bytes of a larger buffer
    await withAtomicFile(file, async (out) => {
      await out.write(view);
      await out.write(big);
      await out.write('tail');
    });
    expect((await readFile(file)).equals(Buffer.concat([Buffer.alloc(10, 2), big, Buffer.from('tail')]))).toBe(true);
    expect(big.byteLength).toBe(300_000);
    expect(big.every((b) => b === 1)).toBe(true);
    expect(backing.byteLength).toBe(100_000);
    expect(backing.every((b) => b === 2)).toBe(true);
  });

  it('leaves the target untouched and no temp file when the callback throws', async () => {
    const file = tmp.file('report.csv');
    await writeFile(file, 'old');
    await expect(
      withAtomicFile(file, async (out) => {
        await out.write('half of the new content');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(await tmp.list()).toEqual(['report.csv']);
  });
});

describe('createAtomicWriteStream()', () => {
  it('commits when the pipeline succeeds', async () => {
    const file = tmp.file('dump.ndjson');
    await pipeline(Readable.from(['{"a":1}\n', '{"a":2}\n']), createAtomicWriteStream(file));
    expect(await readFile(file, 'utf8')).toBe('{"a":1}\n{"a":2}\n');
    expect(await tmp.list()).toEqual(['dump.ndjson']);
  });

  it('leaves the target untouched and no temp file when the source fails', async () => {
    const file = tmp.file('dump.ndjson');
    await writeFile(file, 'old');
    async function* failing() {
      yield 'partial\n';
      throw new Error('source broke');
    }
    const stream = createAtomicWriteStream(file);
    await expect(pipeline(Readable.from(failing()), stream)).rejects.toThrow('source broke');
    // Clean-up finishes by 'close', which pipeline does not wait for.
    if (!stream.closed) await new Promise((resolve) => stream.once('close', resolve));
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(await tmp.list()).toEqual(['dump.ndjson']);
  });

  it('leaves the target untouched when destroyed before it finishes', async () => {
    const file = tmp.file('dump.ndjson');
    await writeFile(file, 'old');
    const stream = createAtomicWriteStream(file);
    await new Promise<void>((resolve) => stream.write('new', () => resolve()));
    stream.destroy();
    await new Promise((resolve) => stream.on('close', resolve));
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(await tmp.list()).toEqual(['dump.ndjson']);
  });
});
