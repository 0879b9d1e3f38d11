import * as fs from 'node:fs';

/**
 * The handful of file-system calls filekeep makes. Everything durable goes through one of these,
 * so tests (and users' own tests) can wrap the real implementation and fail a single call.
 */
export interface FsSeam {
  /** `flags`: as fs.open takes them, a string like 'wx' or a number of `fs.constants.O_*` bits. */
  open(path: string, flags: string | number, mode?: number): Promise<number>;
  /** May write fewer bytes than asked, like write(2); callers loop. */
  write(fd: number, buffer: Uint8Array, offset: number, length: number): Promise<number>;
  /**
   * writev(2) at the fd's position, returning the bytes written (maybe fewer, like write). Optional:
   * a seam without it gets one `write` per buffer, so its write faults apply to each.
   */
  writev?(fd: number, buffers: readonly Uint8Array[]): Promise<number>;
  /** pread(2): up to `length` bytes at `position` into `buffer` at `offset`; 0 at the end of the file. */
  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  fchmod(fd: number, mode: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  close(fd: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  readdir(path: string): Promise<string[]>;
  stat(path: string): Promise<fs.Stats>;
  fstat(fd: number): Promise<fs.Stats>;
}

export type FsCall = keyof FsSeam;

/** Wrap a callback-style fs function in a promise without the cost of util.promisify's lookup. */
function call<T>(fn: (done: (error: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((error, value) => (error ? reject(error) : resolve(value))));
}

export const nodeFs: FsSeam = {
  open: (path, flags, mode = 0o666) => call((done) => fs.open(path, flags, mode, done)),
  write: (fd, buffer, offset, length) => call((done) => fs.write(fd, buffer, offset, length, null, done)),
  // One trip to libuv's pool for up to IOV_MAX buffers: a background snapshot is thousands of chunks.
  writev: (fd, buffers) => call((done) => fs.writev(fd, buffers as Uint8Array[], null, done)),
  read: (fd, buffer, offset, length, position) => call((done) => fs.read(fd, buffer, offset, length, position, done)),
  fdatasync: (fd) => call<void>((done) => fs.fdatasync(fd, (e) => done(e, undefined))),
  fsync: (fd) => call<void>((done) => fs.fsync(fd, (e) => done(e, undefined))),
  fchmod: (fd, mode) => call<void>((done) => fs.fchmod(fd, mode, (e) => done(e, undefined))),
  ftruncate: (fd, length) => call<void>((done) => fs.ftruncate(fd, length, (e) => done(e, undefined))),
  close: (fd) => call<void>((done) => fs.close(fd, (e) => done(e, undefined))),
  rename: (from, to) => call<void>((done) => fs.rename(from, to, (e) => done(e, undefined))),
  link: (existing, newPath) => call<void>((done) => fs.link(existing, newPath, (e) => done(e, undefined))),
  unlink: (path) => call<void>((done) => fs.unlink(path, (e) => done(e, undefined))),
  mkdir: (path) => call<void>((done) => fs.mkdir(path, { recursive: true }, (e) => done(e, undefined))),
  readFile: (path) => call((done) => fs.readFile(path, done)),
  readdir: (path) => call((done) => fs.readdir(path, done)),
  stat: (path) => call((done) => fs.stat(path, done)),
  fstat: (fd) => call((done) => fs.fstat(fd, done)),
};

/** Windows cannot open a directory, so there is no directory fsync there. */
export const canOpenDirectories = process.platform !== 'win32';

export function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}
