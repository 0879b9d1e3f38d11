import { readFile } from 'node:fs/promises';
import { openSync, closeSync, writeFileSync } from 'node:fs';
import { copyBytes, runSync, writevAll, type FsOp } from '../src/fs/program';
import { replaceFileAtomic } from '../src/atomic/atomic-file';
import { FaultyFs } from '@filekeep/core';
import { useTempDir } from './helpers/temp-dir';

const tmp = useTempDir();
const text = (buffers: readonly Uint8Array[]) => Buffer.concat(buffers).toString();

describe('copyBytes', () => {
  const copy = async (from: number, to?: number) => {
    writeFileSync(tmp.file('source'), 'abcdefghij');
    const source = openSync(tmp.file('source'), 'r');
    const target = openSync(tmp.file('target'), 'w');
    try {
      runSync(copyBytes(source, target, from, to), []);
    } finally {
      closeSync(source);
      closeSync(target);
    }
    return readFile(tmp.file('target'), 'utf8');
  };

  it('copies a byte range, or from an offset to the end of the file', async () => {
    expect(await copy(3, 7)).toBe('defg');
    expect(await copy(4)).toBe('efghij');
    expect(await copy(10, 10)).toBe('');
  });

  it('fails when the file ends before the range does', async () => {
    await expect(copy(8, 12)).rejects.toThrow('the file ends at byte 10, before byte 12');
  });
});

describe('writevAll', () => {
  it('continues after a short writev from the exact byte where it stopped, across buffer boundaries', () => {
    const program = writevAll(3, [Buffer.from('abc'), Buffer.alloc(0), Buffer.from('defgh'), Buffer.from('ij')]);
    const asked: string[] = [];
    let step = program.next();
    for (const written of [4, 2, 4]) {
      const op = step.value as Extract<FsOp, { call: 'writev' }>;
      expect(op).toMatchObject({ call: 'writev', fd: 3 });
      asked.push(text(op.buffers));
      step = program.next(written);
    }
    expect(step.done).toBe(true);
    expect(asked).toEqual(['abcdefghij', 'efghij', 'ghij']);
  });

  it('fails instead of looping when writev writes nothing', () => {
    const program = writevAll(3, [Buffer.from('abc')]);
    program.next();
    expect(() => program.next(0)).toThrow('writev returned 0');
  });

  it('passes at most 1024 buffers to one writev', () => {
    const program = writevAll(3, Array.from({ length: 1500 }, () => Buffer.from('x')));
    const first = program.next().value as Extract<FsOp, { call: 'writev' }>;
    expect(first.buffers).toHaveLength(1024);
    const second = program.next(1024).value as Extract<FsOp, { call: 'writev' }>;
    expect(second.buffers).toHaveLength(476);
    expect(program.next(476).done).toBe(true);
  });

  it('writes thousands of buffers in order with real writev calls', async () => {
    const buffers = Array.from({ length: 3000 }, (_, i) => Buffer.from(`${i},`));
    const fd = openSync(tmp.file('many.txt'), 'w');
    try {
      runSync(writevAll(fd, buffers), []);
    } finally {
      closeSync(fd);
    }
    expect(await readFile(tmp.file('many.txt'), 'utf8')).toBe(text(buffers));
  });

  it('replaces a file with many chunks the same through the fs worker and, with short writes, on a seam', async () => {
    const chunks = Array.from({ length: 700 }, (_, i) => Buffer.from(`chunk ${i}\n`));
    await replaceFileAtomic(tmp.file('worker.txt'), chunks);
    await replaceFileAtomic(tmp.file('seam.txt'), chunks, { fs: new FaultyFs().fail({ call: 'write', shortWrite: 3 }) });
    expect(await readFile(tmp.file('worker.txt'), 'utf8')).toBe(text(chunks));
    expect(await readFile(tmp.file('seam.txt'), 'utf8')).toBe(text(chunks));
  });
});
