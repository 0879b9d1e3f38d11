import * as fs from 'node:fs';
import type { FsSeam } from './seam';

/**
 * A sequence of fs calls written once as a generator that yields each call as data. The same
 * program runs on the async seam in this thread (tests inject faults and hold calls there) or
 * with synchronous calls in the fs worker (production: the whole sequence is one message round
 * trip instead of one thread-pool trip and one event-loop turn per call).
 *
 * Results and errors come back through `yield`, so a program's try/catch sees a failed call
 * exactly as `await` would.
 */
export type FsOp =
  | { call: 'open'; path: string; flags: string | number; mode: number }
  | { call: 'write'; fd: number; buffer: Uint8Array; offset: number; length: number }
  | { call: 'read'; fd: number; buffer: Uint8Array; position: number }
  | { call: 'writev'; fd: number; buffers: readonly Uint8Array[] }
  | { call: 'fdatasync' | 'fsync' | 'close' | 'closeAfterReply'; fd: number }
  | { call: 'fchmod'; fd: number; mode: number }
  | { call: 'rename' | 'link'; from: string; to: string }
  | { call: 'unlink' | 'mkdir'; path: string }
  | { call: 'statMode'; path: string }
  | { call: 'fstatMode'; fd: number };

export type FsProgram<T> = Generator<FsOp, T, unknown>;

export function* open(path: string, flags: string | number, mode = 0o666): FsProgram<number> {
  return (yield { call: 'open', path, flags, mode }) as number;
}
export function* write(fd: number, buffer: Uint8Array, offset: number, length: number): FsProgram<number> {
  return (yield { call: 'write', fd, buffer, offset, length }) as number;
}
/** pread(2) into the whole of `buffer` at `position`: the number of bytes read, 0 at the end. */
export function* read(fd: number, buffer: Uint8Array, position: number): FsProgram<number> {
  return (yield { call: 'read', fd, buffer, position }) as number;
}
/** writev(2): `buffers` in order at the fd's position; like write(2) it may write fewer bytes. */
export function* writev(fd: number, buffers: readonly Uint8Array[]): FsProgram<number> {
  return (yield { call: 'writev', fd, buffers }) as number;
}
export function* fdatasync(fd: number): FsProgram<void> {
  yield { call: 'fdatasync', fd };
}
export function* fsync(fd: number): FsProgram<void> {
  yield { call: 'fsync', fd };
}
export function* close(fd: number): FsProgram<void> {
  yield { call: 'close', fd };
}
/**
 * Close `fd` once the program's result has reached its caller: for an fd whose close is slow and
 * not part of what the caller waits for (the last reference to a replaced file, whose blocks the
 * kernel frees on close). Never fails the program. On a seam it closes before the result is returned.
 */
export function* closeAfterReply(fd: number): FsProgram<void> {
  yield { call: 'closeAfterReply', fd };
}
export function* fchmod(fd: number, mode: number): FsProgram<void> {
  yield { call: 'fchmod', fd, mode };
}
export function* rename(from: string, to: string): FsProgram<void> {
  yield { call: 'rename', from, to };
}
export function* link(from: string, to: string): FsProgram<void> {
  yield { call: 'link', from, to };
}
export function* unlink(path: string): FsProgram<void> {
  yield { call: 'unlink', path };
}
export function* mkdir(path: string): FsProgram<void> {
  yield { call: 'mkdir', path };
}
/** The permission bits of `path` (stat(2)); a Stats object never has to cross threads. */
export function* statMode(path: string): FsProgram<number> {
  return (yield { call: 'statMode', path }) as number;
}

/** The permission bits of an open file (fstat(2)). */
export function* fstatMode(fd: number): FsProgram<number> {
  return (yield { call: 'fstatMode', fd }) as number;
}

/** Run `body`, and swallow its failure (best-effort cleanup). */
export function* ignoringErrors(body: FsProgram<unknown>): FsProgram<void> {
  try {
    yield* body;
  } catch {
    // cleanup only: the caller reports the error that made it necessary
  }
}

/** Write every byte of `bytes` at the fd's position, looping on short writes like write(2) allows. */
export function* writeAll(fd: number, bytes: Uint8Array): FsProgram<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const written = yield* write(fd, bytes, offset, bytes.byteLength - offset);
    if (written <= 0) throw new Error(`write returned ${written}`);
    offset += written;
  }
}

/** Copying reads at most this much at a time: the source may be large. */
const COPY_CHUNK = 1 << 20;

/**
 * Copy bytes [from, to) of `source` (to its end when `to` is undefined) to `target` at its
 * position, with pread and full writes. A source that ends before `to` is an error.
 */
export function* copyBytes(source: number, target: number, from: number, to?: number): FsProgram<void> {
  const buffer = new Uint8Array(to === undefined ? COPY_CHUNK : Math.min(COPY_CHUNK, Math.max(to - from, 1)));
  for (let position = from; to === undefined || position < to; ) {
    const bytes = yield* read(source, to === undefined || to - position >= buffer.byteLength ? buffer : buffer.subarray(0, to - position), position);
    if (bytes === 0) {
      if (to === undefined) return;
      throw new Error(`the file ends at byte ${position}, before byte ${to}`);
    }
    yield* writeAll(target, buffer.subarray(0, bytes));
    position += bytes;
  }
}

/** At most this many buffers per writev(2) call (Linux's IOV_MAX). */
const IOV_MAX = 1024;

/**
 * Write every byte of `buffers`, in order, at the fd's position: one writev(2) for up to IOV_MAX
 * buffers instead of one write(2) per buffer (a snapshot is hundreds of cached chunks), looping on
 * short writes.
 */
export function* writevAll(fd: number, buffers: readonly Uint8Array[]): FsProgram<void> {
  let pending = buffers.filter((buffer) => buffer.byteLength > 0);
  while (pending.length > 0) {
    const written = yield* writev(fd, pending.length > IOV_MAX ? pending.slice(0, IOV_MAX) : pending);
    if (written <= 0) throw new Error(`writev returned ${written}`);
    pending = after(pending, written);
  }
}

/** What is left of `buffers` once their first `bytes` bytes are written. */
function after(buffers: readonly Uint8Array[], bytes: number): Uint8Array[] {
  let i = 0;
  while (i < buffers.length && bytes >= buffers[i]!.byteLength) bytes -= buffers[i++]!.byteLength;
  const rest = buffers.slice(i);
  if (bytes > 0) rest[0] = rest[0]!.subarray(bytes);
  return rest;
}

function performAsync(seam: FsSeam, op: FsOp): Promise<unknown> {
  switch (op.call) {
    case 'open': return seam.open(op.path, op.flags, op.mode);
    case 'write': return seam.write(op.fd, op.buffer, op.offset, op.length);
    case 'read': return seam.read(op.fd, op.buffer, 0, op.buffer.byteLength, op.position);
    // A seam without writev: a writev that writes only (part of) its first buffer is a legal
    // short one, and a seam's write faults apply to it.
    case 'writev': return seam.writev ? seam.writev(op.fd, op.buffers) : seam.write(op.fd, op.buffers[0]!, 0, op.buffers[0]!.byteLength);
    case 'fdatasync': return seam.fdatasync(op.fd);
    case 'fsync': return seam.fsync(op.fd);
    case 'close': return seam.close(op.fd);
    case 'closeAfterReply': return seam.close(op.fd).catch(() => undefined);
    case 'fchmod': return seam.fchmod(op.fd, op.mode);
    case 'rename': return seam.rename(op.from, op.to);
    case 'link': return seam.link(op.from, op.to);
    case 'unlink': return seam.unlink(op.path);
    case 'mkdir': return seam.mkdir(op.path);
    case 'statMode': return seam.stat(op.path).then((stats) => stats.mode & 0o7777);
    case 'fstatMode': return seam.fstat(op.fd).then((stats) => stats.mode & 0o7777);
  }
}

function performSync(op: FsOp, afterReply: number[]): unknown {
  switch (op.call) {
    case 'closeAfterReply': return void afterReply.push(op.fd);
    case 'open': return fs.openSync(op.path, op.flags, op.mode);
    case 'write': return fs.writeSync(op.fd, op.buffer, op.offset, op.length);
    case 'read': return fs.readSync(op.fd, op.buffer, 0, op.buffer.byteLength, op.position);
    case 'writev': return fs.writevSync(op.fd, op.buffers as Uint8Array[]);
    case 'fdatasync': return fs.fdatasyncSync(op.fd);
    case 'fsync': return fs.fsyncSync(op.fd);
    case 'close': return fs.closeSync(op.fd);
    case 'fchmod': return fs.fchmodSync(op.fd, op.mode);
    case 'rename': return fs.renameSync(op.from, op.to);
    case 'link': return fs.linkSync(op.from, op.to);
    case 'unlink': return fs.unlinkSync(op.path);
    case 'mkdir': return fs.mkdirSync(op.path, { recursive: true });
    case 'statMode': return fs.statSync(op.path).mode & 0o7777;
    case 'fstatMode': return fs.fstatSync(op.fd).mode & 0o7777;
  }
}

/** Run a program call by call on an async seam (in this thread). */
export async function runOnSeam<T>(program: FsProgram<T>, seam: FsSeam): Promise<T> {
  let step = program.next();
  while (!step.done) {
    let result: unknown;
    try {
      result = await performAsync(seam, step.value);
    } catch (error) {
      step = program.throw(error);
      continue;
    }
    step = program.next(result);
  }
  return step.value;
}

/**
 * Run a program with synchronous fs calls. Only the fs worker does this: a synchronous call on
 * the main thread would stall every request while the disk syncs. The fds of `closeAfterReply`
 * are pushed to `afterReply` for the worker to close once it has answered.
 */
export function runSync<T>(program: FsProgram<T>, afterReply: number[]): T {
  let step = program.next();
  while (!step.done) {
    let result: unknown;
    try {
      result = performSync(step.value, afterReply);
    } catch (error) {
      step = program.throw(error);
      continue;
    }
    step = program.next(result);
  }
  return step.value;
}
