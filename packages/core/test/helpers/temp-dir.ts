import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** One fresh directory per test on the real filesystem, removed afterwards. */
export function useTempDir(): { readonly path: string; file(name: string): string; list(): Promise<string[]> } {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'filekeep-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return {
    get path() {
      return dir;
    },
    file: (name) => path.join(dir, name),
    list: async () => (await readdir(dir)).sort(),
  };
}

export const isTempName = (name: string): boolean => /\.tmp$/.test(name);
