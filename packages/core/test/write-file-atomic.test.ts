import { execFileSync } from 'node:child_process';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
  FaultyFs,
  FileExistsError,
  WriteFailedError,
  writeFileAtomic,
  writeJsonAtomic,
  type FsCall,
} from '@filekeep/core';
import { isTempName, useTempDir } from './helpers/temp-dir';

const tmp = useTempDir();

describe('writeFileAtomic()', () => {
  it('writes a string, a Buffer and a Uint8Array', async () => {
    await writeFileAtomic(tmp.file('a.txt'), 'héllo');
    await writeFileAtomic(tmp.file('b.bin'), Buffer.from([0, 1, 2, 255]));
    await writeFileAtomic(tmp.file('c.bin'), new Uint8Array([9, 8, 7]));
    expect(await readFile(tmp.file('a.txt'), 'utf8')).toBe('héllo');
    expect([...(await readFile(tmp.file('b.bin')))]).toEqual([0, 1, 2, 255]);
    expect([...(await readFile(tmp.file('c.bin')))]).toEqual([9, 8, 7]);
    expect(await tmp.list()).toEqual(['a.txt', 'b.bin', 'c.bin']);
  });

  it('writes large strings in any encoding byte for byte, also when the memory for them is reused', async () => {
    const text = 'é€x'.repeat(40_000); // 240,000 bytes of UTF-8, above the size written from shared memory
    const base64 = Buffer.alloc(150_000, 0xab).toString('base64');
    const middling = 'ü'.repeat(30_000); // long enough to be measured, 60,000 bytes: still below it
    for (let round = 0; round < 2; round++) {
      await writeFileAtomic(tmp.file('middling.txt'), middling);
      expect(await readFile(tmp.file('middling.txt'), 'utf8')).toBe(middling);
      await writeFileAtomic(tmp.file('utf8.txt'), text);
      await writeFileAtomic(tmp.file('b64.bin'), base64, { encoding: 'base64' });
      expect(await readFile(tmp.file('utf8.txt'), 'utf8')).toBe(text);
      expect((await readFile(tmp.file('b64.bin'))).equals(Buffer.alloc(150_000, 0xab))).toBe(true);
    }
  });

  it('gives each of many concurrent large writes its own bytes', async () => {
    // Equal sizes, so any memory handed back too early would be taken by another write in flight.
    const contents = Array.from({ length: 6 }, (_, i) => String.fromCharCode(97 + i).repeat(200_000));
    for (let round = 0; round < 3; round++) {
      await Promise.all(contents.map((text, i) => writeFileAtomic(tmp.file(`f${i}.txt`), i % 2 ? Buffer.from(text) : text)));
      for (const [i, text] of contents.entries()) expect(await readFile(tmp.file(`f${i}.txt`), 'utf8')).toBe(text);
    }
  });

  it("leaves the caller's buffer intact and usable, small or large", async () => {
    for (const size of [100, 300_000]) {
      const owned = new Uint8Array(size).fill(7);
      const view = Buffer.alloc(size + 10, 9).subarray(5, size + 5);
      await writeFileAtomic(tmp.file('owned.bin'), owned);
      await writeFileAtomic(tmp.file('view.bin'), view);
      expect(owned.byteLength).toBe(size);
      expect(owned.every((b) => b === 7)).toBe(true);
      expect(view.byteLength).toBe(size);
      expect(view.every((b) => b === 9)).toBe(true);
      expect((await readFile(tmp.file('owned.bin'))).equals(Buffer.from(owned))).toBe(true);
      expect((await readFile(tmp.file('view.bin'))).equals(view)).toBe(true);
    }
  });

  it('replaces an existing file and keeps its mode by default', async () => {
    const file = tmp.file('data.json');
    await writeFile(file, 'old');
    await chmod(file, 0o600);
    await writeFileAtomic(file, 'new');
    expect(await readFile(file, 'utf8')).toBe('new');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('applies an explicit mode regardless of the umask', async () => {
    const file = tmp.file('script.sh');
    await writeFileAtomic(file, '#!/bin/sh\n', { mode: 0o751 });
    expect((await stat(file)).mode & 0o777).toBe(0o751);
  });

  it('creates missing parent directories unless ensureDirectory is false', async () => {
    await writeFileAtomic(tmp.file('x/y/z.txt'), 'deep');
    expect(await readFile(tmp.file('x/y/z.txt'), 'utf8')).toBe('deep');
    await expect(writeFileAtomic(tmp.file('missing/z.txt'), 'no', { ensureDirectory: false })).rejects.toBeInstanceOf(WriteFailedError);
  });

  it('refuses an existing target with overwrite: false and leaves it untouched', async () => {
    const file = tmp.file('once.txt');
    await writeFileAtomic(file, 'first', { overwrite: false });
    const error = await writeFileAtomic(file, 'second', { overwrite: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileExistsError);
    expect((error as FileExistsError).code).toBe('FK_FILE_EXISTS');
    expect(await readFile(file, 'utf8')).toBe('first');
    expect(await tmp.list()).toEqual(['once.txt']);
  });

  it('fsyncs the temp file, then renames, then fsyncs the directory', async () => {
    const fs = new FaultyFs();
    const file = tmp.file('order.txt');
    await writeFile(file, 'old');
    await writeFileAtomic(file, 'new', { fs });
    const steps = fs.calls
      .filter((c) => ['fdatasync', 'fsync', 'rename'].includes(c.call))
      .map((c) => `${c.call}:${c.path === tmp.path ? 'dir' : c.path === file ? 'target' : isTempName(path.basename(c.path ?? '')) ? 'temp' : c.path}`);
    expect(steps).toEqual(['fdatasync:temp', 'rename:target', 'fsync:dir']);
  });

  it('still replaces the file when the old one cannot be opened to be held', async () => {
    const file = tmp.file('held.txt');
    await writeFile(file, 'old');
    const fs = new FaultyFs().fail({ call: 'open', code: 'EACCES', when: (p) => p === file });
    await writeFileAtomic(file, 'new', { fs });
    expect(fs.count('open', (p) => p === file)).toBe(1);
    expect(await readFile(file, 'utf8')).toBe('new');
    expect(await tmp.list()).toEqual(['held.txt']);
  });

  it('closes every fd it opened, including the old file it holds until after the answer', async () => {
    if (process.platform !== 'linux') return;
    const fdsOpen = async () => (await readdir('/proc/self/fd')).length;
    // A job that holds no fd (no fsync: no directory, no old file): once it is answered, the
    // worker has run every close it deferred for the jobs before it.
    const settled = () => writeFileAtomic(tmp.file('other.txt'), 'x', { fsync: false });
    const file = tmp.file('fds.txt');
    await writeFileAtomic(file, 'first');
    await settled();
    const before = await fdsOpen();
    for (let i = 0; i < 40; i++) await writeFileAtomic(file, `version ${i}`);
    await settled();
    expect(await fdsOpen()).toBe(before);
    expect(await readFile(file, 'utf8')).toBe('version 39');
  });

  it('replaces a FIFO at the target name without waiting for a writer to open it', async () => {
    if (process.platform === 'win32') return;
    const file = tmp.file('pipe');
    execFileSync('mkfifo', [file]);
    await writeFileAtomic(file, 'plain file now');
    expect((await stat(file)).isFile()).toBe(true);
    expect(await readFile(file, 'utf8')).toBe('plain file now');
  });

  it('makes no fsync at all with fsync: false, and is still atomic', async () => {
    const fs = new FaultyFs();
    await writeFileAtomic(tmp.file('fast.txt'), 'quick', { fs, fsync: false });
    expect(fs.count('fdatasync') + fs.count('fsync')).toBe(0);
    expect(fs.count('rename')).toBe(1);
    expect(await readFile(tmp.file('fast.txt'), 'utf8')).toBe('quick');
  });

  it('writes every byte when the OS writes fewer bytes than asked', async () => {
    const fs = new FaultyFs().fail({ call: 'write', shortWrite: 4096 });
    const big = 'x'.repeat(100_000) + 'END';
    await writeFileAtomic(tmp.file('big.txt'), big, { fs });
    expect(await readFile(tmp.file('big.txt'), 'utf8')).toBe(big);
    expect(fs.count('write')).toBeGreaterThan(20);
  });

  describe('a fault at any step', () => {
    const isDir = (p: string | undefined) => p === tmp.path;
    const isTemp = (p: string | undefined) => p !== undefined && isTempName(path.basename(p));
    const steps: Array<{ name: string; call: FsCall; when: (p: string | undefined) => boolean }> = [
      { name: 'open temp file', call: 'open', when: isTemp },
      { name: 'chmod temp file', call: 'fchmod', when: isTemp },
      { name: 'write', call: 'write', when: isTemp },
      { name: 'fsync temp file', call: 'fdatasync', when: isTemp },
      { name: 'close temp file', call: 'close', when: isTemp },
      { name: 'open directory', call: 'open', when: isDir },
      { name: 'rename', call: 'rename', when: () => true },
      { name: 'fsync directory', call: 'fsync', when: isDir },
    ];
    for (const step of steps) {
      for (const code of ['EIO', 'ENOSPC', 'EACCES', 'EMFILE']) {
        it(`leaves the old content and no temp file when ${step.name} fails with ${code}`, async () => {
          const file = tmp.file('data.json');
          await writeFile(file, '{"old":true}');
          const fs = new FaultyFs().fail({ call: step.call, code, when: step.when });
          const error = await writeFileAtomic(file, '{"new":true}', { fs }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(WriteFailedError);
          expect((error as WriteFailedError).code).toBe('FK_WRITE_FAILED');
          expect(((error as WriteFailedError).cause as NodeJS.ErrnoException).code).toBe(code);
          expect(fs.count(step.call, step.when)).toBeGreaterThan(0);
          expect(await readFile(file, 'utf8')).toBe('{"old":true}');
          expect(await tmp.list()).toEqual(['data.json']);
          // The fault gone, the next write works.
          fs.heal();
          await writeFileAtomic(file, '{"new":true}', { fs });
          expect(await readFile(file, 'utf8')).toBe('{"new":true}');
        });
      }
    }

    it('puts the old content and mode back by copying the held old file when the directory fsync fails', async () => {
      const file = tmp.file('big.bin');
      // Larger than one copy chunk (1 MiB), so the copy loops.
      const old = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
      await writeFile(file, old);
      await chmod(file, 0o640);
      const fs = new FaultyFs().fail({ call: 'fsync', when: isDir });
      await expect(writeFileAtomic(file, 'new', { fs })).rejects.toMatchObject({ code: 'FK_WRITE_FAILED', details: { step: 'fsync directory' } });
      expect((await readFile(file)).equals(old)).toBe(true);
      expect((await stat(file)).mode & 0o777).toBe(0o640);
      expect(fs.count('read')).toBeGreaterThan(3);
      expect(await tmp.list()).toEqual(['big.bin']);
    });

    it('makes no backup link when it can hold the old file open', async () => {
      const file = tmp.file('data.json');
      await writeFile(file, 'old');
      const fs = new FaultyFs();
      await writeFileAtomic(file, 'new', { fs });
      expect(fs.count('link')).toBe(0);
      expect(fs.count('open', (p) => p === file)).toBe(1);
    });

    describe('when the old file cannot be opened to be held', () => {
      const cannotHold = (fs: FaultyFs, file: string) => fs.fail({ call: 'open', code: 'EACCES', when: (p) => p === file });

      it('keeps a backup link instead and renames it back when the directory fsync fails', async () => {
        const file = tmp.file('data.json');
        await writeFile(file, 'old');
        const fs = cannotHold(new FaultyFs(), file).fail({ call: 'fsync', when: isDir });
        await expect(writeFileAtomic(file, 'new', { fs })).rejects.toMatchObject({ details: { step: 'fsync directory' } });
        expect(fs.count('link', isTemp)).toBe(1);
        expect(await readFile(file, 'utf8')).toBe('old');
        expect(await tmp.list()).toEqual(['data.json']);
      });

      it.each(['EIO', 'ENOSPC'])('fails before the rename, leaving the old content, when the backup link fails with %s', async (code) => {
        const file = tmp.file('data.json');
        await writeFile(file, 'old');
        const fs = cannotHold(new FaultyFs(), file).fail({ call: 'link', code, when: isTemp });
        await expect(writeFileAtomic(file, 'new', { fs })).rejects.toMatchObject({ details: { step: 'link backup' } });
        expect(fs.count('rename')).toBe(0);
        expect(await readFile(file, 'utf8')).toBe('old');
        expect(await tmp.list()).toEqual(['data.json']);
      });
    });

    it('reports the failed directory fsync and leaves no stray file when the old content cannot be copied back', async () => {
      const file = tmp.file('data.json');
      await writeFile(file, 'old');
      const fs = new FaultyFs().fail({ call: 'fsync', when: isDir }).fail({ call: 'read', code: 'EIO' });
      const error = (await writeFileAtomic(file, 'new', { fs }).catch((e: unknown) => e)) as WriteFailedError;
      expect(error).toBeInstanceOf(WriteFailedError);
      expect(error.details?.['step']).toBe('fsync directory');
      expect(await tmp.list()).toEqual(['data.json']);
    });

    it('removes a new target again when the directory fsync fails', async () => {
      const fs = new FaultyFs().fail({ call: 'fsync', when: isDir });
      await expect(writeFileAtomic(tmp.file('new.txt'), 'x', { fs })).rejects.toBeInstanceOf(WriteFailedError);
      expect(await tmp.list()).toEqual([]);
    });
  });
});

describe('writeJsonAtomic()', () => {
  it('writes indented JSON with a trailing newline', async () => {
    await writeJsonAtomic(tmp.file('v.json'), { a: [1, 2] });
    expect(await readFile(tmp.file('v.json'), 'utf8')).toBe('{\n  "a": [\n    1,\n    2\n  ]\n}\n');
    await writeJsonAtomic(tmp.file('c.json'), { a: 1 }, { indent: 0 });
    expect(await readFile(tmp.file('c.json'), 'utf8')).toBe('{"a":1}\n');
  });

  it('rejects a value that has no JSON form and writes nothing', async () => {
    await expect(writeJsonAtomic(tmp.file('u.json'), undefined)).rejects.toThrow(TypeError);
    expect(await tmp.list()).toEqual([]);
  });
});
