import type { FsCall, FsSeam } from './seam';
import { nodeFs } from './seam';

export interface RecordedCall {
  call: FsCall;
  /** The path argument, or for fd calls the path the fd was opened on. */
  path: string | undefined;
}

export interface FaultRule {
  call: FsCall;
  /** errno code to throw, e.g. `'EIO'`. Default `'EIO'`. */
  code?: string;
  /** Only calls whose path (or fd's path) satisfies this. */
  when?: (path: string | undefined) => boolean;
  /** Fail only the nth matching call (1-based); default: every matching call. */
  nth?: number;
  /** Instead of failing, a `write` writes at most this many bytes (a short write). */
  shortWrite?: number;
}

/**
 * A seam over real fs that records every call and fails the ones a rule matches. Faults are
 * switched with `fail()` / `heal()` so a test can break one step and then check recovery.
 *
 * @example
 * const fs = new FaultyFs();
 * fs.fail({ call: 'fdatasync', code: 'EIO' });
 * await expect(writeFileAtomic(file, 'x', { fs })).rejects.toThrow(WriteFailedError);
 */
export class FaultyFs implements FsSeam {
  readonly calls: RecordedCall[] = [];
  private rules: Array<FaultRule & { seen: number }> = [];
  private readonly fdPaths = new Map<number, string>();

  constructor(private readonly base: FsSeam = nodeFs) {}

  fail(rule: FaultRule): this {
    this.rules.push({ ...rule, seen: 0 });
    return this;
  }

  heal(): this {
    this.rules = [];
    return this;
  }

  count(call: FsCall, when?: (path: string | undefined) => boolean): number {
    return this.calls.filter((c) => c.call === call && (!when || when(c.path))).length;
  }

  private check(call: FsCall, path: string | undefined): FaultRule | undefined {
    this.calls.push({ call, path });
    for (const rule of this.rules) {
      if (rule.call !== call || (rule.when && !rule.when(path))) continue;
      rule.seen += 1;
      if (rule.nth !== undefined && rule.seen !== rule.nth) continue;
      if (rule.shortWrite !== undefined) return rule;
      const code = rule.code ?? 'EIO';
      throw Object.assign(new Error(`${code}: injected fault in ${call}${path ? ` (${path})` : ''}`), { code, syscall: call });
    }
    return undefined;
  }

  async open(path: string, flags: string | number, mode?: number): Promise<number> {
    this.check('open', path);
    const fd = await this.base.open(path, flags, mode);
    this.fdPaths.set(fd, path);
    return fd;
  }
  async write(fd: number, buffer: Uint8Array, offset: number, length: number): Promise<number> {
    const rule = this.check('write', this.fdPaths.get(fd));
    const len = rule?.shortWrite !== undefined ? Math.min(length, rule.shortWrite) : length;
    return this.base.write(fd, buffer, offset, len);
  }
  async read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.check('read', this.fdPaths.get(fd));
    return this.base.read(fd, buffer, offset, length, position);
  }
  async fdatasync(fd: number): Promise<void> {
    this.check('fdatasync', this.fdPaths.get(fd));
    return this.base.fdatasync(fd);
  }
  async fsync(fd: number): Promise<void> {
    this.check('fsync', this.fdPaths.get(fd));
    return this.base.fsync(fd);
  }
  async fchmod(fd: number, mode: number): Promise<void> {
    this.check('fchmod', this.fdPaths.get(fd));
    return this.base.fchmod(fd, mode);
  }
  async ftruncate(fd: number, length: number): Promise<void> {
    this.check('ftruncate', this.fdPaths.get(fd));
    return this.base.ftruncate(fd, length);
  }
  async close(fd: number): Promise<void> {
    const path = this.fdPaths.get(fd);
    this.fdPaths.delete(fd);
    // The fd is closed even when the fault fires, as close(2) does: a failed close must not leak.
    try {
      this.check('close', path);
    } catch (error) {
      await this.base.close(fd);
      throw error;
    }
    return this.base.close(fd);
  }
  async rename(from: string, to: string): Promise<void> {
    this.check('rename', to);
    await this.base.rename(from, to);
    // An fd opened on the old name now belongs to the file at the new one (a replaced journal).
    for (const [fd, path] of this.fdPaths) if (path === from) this.fdPaths.set(fd, to);
  }
  async link(existing: string, newPath: string): Promise<void> {
    this.check('link', newPath);
    return this.base.link(existing, newPath);
  }
  async unlink(path: string) {
    this.check('unlink', path);
    return this.base.unlink(path);
  }
  async mkdir(path: string) {
    this.check('mkdir', path);
    return this.base.mkdir(path);
  }
  async readFile(path: string) {
    this.check('readFile', path);
    return this.base.readFile(path);
  }
  async readdir(path: string) {
    this.check('readdir', path);
    return this.base.readdir(path);
  }
  async stat(path: string) {
    this.check('stat', path);
    return this.base.stat(path);
  }
  async fstat(fd: number) {
    this.check('fstat', this.fdPaths.get(fd));
    return this.base.fstat(fd);
  }
}
