import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { sweepTempFiles } from '@filekeep/core';
import { useTempDir } from './helpers/temp-dir';

const tmp = useTempDir();

function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('sweepTempFiles()', () => {
  it('removes only our temp files for that basename whose process is dead', async () => {
    const dead = deadPid();
    const names = {
      stale: `.data.json.${dead}.ab12.tmp`,
      live: `.data.json.${process.ppid}.ab12.tmp`,
      ours: `.data.json.${process.pid}.cd34.tmp`,
      otherBase: `.other.json.${dead}.ab12.tmp`,
      foreign: `.data.json.tmp`,
      target: 'data.json',
    };
    for (const name of Object.values(names)) await writeFile(tmp.file(name), 'x');
    const removed = await sweepTempFiles(tmp.path, 'data.json');
    expect(removed).toEqual([tmp.file(names.stale)]);
    expect(await tmp.list()).toEqual([names.live, names.otherBase, names.ours, names.foreign, names.target].sort());
  });

  it('returns nothing for a directory that does not exist', async () => {
    expect(await sweepTempFiles(tmp.file('nope'), 'data.json')).toEqual([]);
  });
});
