import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { errnoCode, nodeFs, type FsSeam } from '../fs/seam';
import { isAlive } from '../lock/process-identity';
import { hostname } from 'node:os';

// A per-process random prefix plus a counter: unique across processes (pid) and calls, and
// cheaper than fresh random bytes for every write.
const processTag = randomBytes(4).toString('hex');
let counter = 0;

/** `.NAME.<pid>.<random>.tmp` beside the target, so the rename stays within one filesystem. */
export function tempPathFor(target: string): string {
  counter = (counter + 1) % 0x100000000;
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${processTag}${counter.toString(16)}.tmp`);
}

const TEMP_PATTERN = /^\.(.+)\.(\d+)\.([0-9a-f]+)\.tmp$/;

export interface SweepOptions {
  fs?: FsSeam;
}

/**
 * Remove temp files that filekeep left beside `dir/basename` when a process died mid-write:
 * only names matching our own pattern for that basename, and only if their pid is not alive.
 * Returns the paths removed.
 */
export async function sweepTempFiles(dir: string, basename: string, options: SweepOptions = {}): Promise<string[]> {
  const fs = options.fs ?? nodeFs;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  const host = hostname();
  for (const name of names) {
    const match = TEMP_PATTERN.exec(name);
    if (!match || match[1] !== basename) continue;
    const pid = Number(match[2]);
    // The temp name carries no start time, so a reused pid keeps its files until that process ends.
    if (pid === process.pid || (await isAlive({ pid, hostname: host, startTime: null }))) continue;
    const file = path.join(dir, name);
    try {
      await fs.unlink(file);
      removed.push(file);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
  }
  return removed;
}
