import { mkdir, readdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import fc from 'fast-check';
import { FileRepository, InvalidOptionError } from '@filekeep/core';
import { looseSchema } from './helpers/expense-schema';
import { useTempDir } from './helpers/temp-dir';

const tmp = useTempDir();
const RUNS = Number(process.env['FK_RUNS'] ?? 100);

/** Every file under `dir`, relative, depth-first. */
async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = path.join(prefix, entry.name);
    out.push(entry.isDirectory() ? `${rel}/` : rel);
    if (entry.isDirectory()) out.push(...(await tree(path.join(dir, entry.name), rel)));
  }
  return out.sort();
}

describe('FileRepository.open({ directory, file })', () => {
  it('refuses, or keeps inside the directory, any file name built from hostile path segments', async () => {
    const segment = fc.constantFrom('..', '.', '', 'a', 'b.json', '...', '..\\..', '%2e%2e', '~', '\u0000', ' ', '/', '//', 'x/../..');
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.boolean(), async (segments, absolute) => {
        // The data directory sits one level down, so an escape would land in `outside` where we can see it.
        const outside = tmp.path;
        const directory = path.join(outside, 'data');
        await rm(outside, { recursive: true, force: true });
        await mkdir(directory, { recursive: true });
        const file = `${absolute ? '/' : ''}${segments.join('/')}`;
        let repo: FileRepository | undefined;
        try {
          repo = await FileRepository.open({ directory, file, collections: { notes: { schema: looseSchema } } });
        } catch (error) {
          // Refused up front as an option error, or by the file system (a NUL byte, a name that is
          // a directory); either way nothing is written outside.
          if (!(error instanceof InvalidOptionError)) expect((error as NodeJS.ErrnoException).code).toMatch(/^(ERR_INVALID_ARG_VALUE|ERR_INVALID_ARG_TYPE|EISDIR|ENOTDIR|EEXIST|FK_WRITE_FAILED)$/);
        }
        if (repo) {
          const relative = path.relative(directory, repo.file);
          const escapes = relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
          expect({ file, resolved: repo.file, escapes }).toEqual({ file, resolved: repo.file, escapes: false });
          await repo.collection('notes').insert({ n: 1 });
          await repo.close();
        }
        expect((await tree(outside)).filter((p) => !p.startsWith('data/') && p !== 'data/')).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});
