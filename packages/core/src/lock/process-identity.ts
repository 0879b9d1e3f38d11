import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';

/** What identifies a process across pid reuse on this host: its pid plus its start time. */
export interface ProcessIdentity {
  pid: number;
  hostname: string;
  /** Start time in clock ticks since boot from /proc/PID/stat; null where /proc is not available. */
  startTime: string | null;
}

interface ProcStat {
  state: string;
  startTime: string;
}

async function readProcStat(pid: number): Promise<ProcStat | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses; the fields after the last ')' are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [state, startTime] = [fields[0], fields[19]]; // fields 3 and 22 overall
    return state && startTime ? { state, startTime } : null;
  } catch {
    return null;
  }
}

export async function processStartTime(pid: number): Promise<string | null> {
  return (await readProcStat(pid))?.startTime ?? null;
}

let self: Promise<ProcessIdentity> | undefined;

export function currentProcess(): Promise<ProcessIdentity> {
  self ??= processStartTime(process.pid).then((startTime) => ({ pid: process.pid, hostname: hostname(), startTime }));
  return self;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Is the process that wrote `identity` still running? A holder on another host cannot be checked
 * and counts as alive. A live pid whose start time differs is a different process that reused the
 * pid (a restarted container gets the same low pids), so the holder is dead.
 */
export async function isAlive(identity: ProcessIdentity): Promise<boolean> {
  if (identity.hostname !== hostname()) return true;
  if (!Number.isInteger(identity.pid) || identity.pid <= 0 || !pidExists(identity.pid)) return false;
  const stat = await readProcStat(identity.pid);
  if (stat === null) return true; // no /proc: the pid exists, so assume it is the holder
  // A zombie (killed, not yet reaped by its parent) answers kill(pid, 0) but holds nothing.
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return identity.startTime === null || stat.startTime === identity.startTime;
}
