import { forWorker } from './run-job';

/** Below this, Node's own allocations are cheap and reused; above, they are fresh pages. */
const LARGE_BYTES = 64 * 1024;
/** A spare is kept this long after its last use, then left to the garbage collector. */
const SPARE_IDLE_MS = 10_000;

/** Bytes to post with a job, and what to do once that job has settled. */
export interface WorkerBytes {
  bytes: Uint8Array;
  /** Buffers among `bytes` to move (not copy) to the worker. */
  transfer: ArrayBuffer[];
  /** Call once the job settled (either way): the worker no longer reads `bytes`. */
  release(): void;
}

/**
 * `data` (a caller's string or buffer, which stays the caller's) as bytes for one fs-worker job.
 *
 * Large data goes into reused shared memory, which the worker reads in place. Memory fresh from
 * the OS costs a page fault per 4 KiB on first touch (encoding 10 MiB took 35-38 ms instead of
 * 2.5 ms on a 2-core VM), and memory moved to the worker is freed there, so every large write
 * used to pay those faults again. One spare buffer is kept, and dropped after 10 s unused.
 */
export function bytesForWorker(data: string | Uint8Array, encoding: BufferEncoding = 'utf8'): WorkerBytes {
  if (typeof data === 'string') {
    // No encoding makes more than 3 bytes of a UTF-16 unit: most strings are known small unscanned.
    const size = data.length < LARGE_BYTES / 3 ? 0 : Buffer.byteLength(data, encoding);
    if (size < LARGE_BYTES) return { ...forWorker(Buffer.from(data, encoding), true), release: noop };
    const memory = takeShared(size);
    const written = Buffer.from(memory).write(data, 0, memory.byteLength, encoding);
    return shared(memory, written);
  }
  if (data.byteLength < LARGE_BYTES || data.buffer instanceof SharedArrayBuffer) return { ...forWorker(data, false), release: noop };
  const memory = takeShared(data.byteLength);
  new Uint8Array(memory, 0, data.byteLength).set(data);
  return shared(memory, data.byteLength);
}

let spare: SharedArrayBuffer | undefined;
let dropSpare: NodeJS.Timeout | undefined;

/** The spare if it fits without wasting most of it, else new memory with room to grow by a quarter. */
function takeShared(size: number): SharedArrayBuffer {
  const candidate = spare;
  if (candidate && candidate.byteLength >= size && candidate.byteLength <= 4 * size) {
    spare = undefined;
    return candidate;
  }
  return new SharedArrayBuffer(size + Math.ceil(size / 4));
}

function shared(memory: SharedArrayBuffer, size: number): WorkerBytes {
  let released = false;
  return {
    bytes: new Uint8Array(memory, 0, size),
    transfer: [],
    release() {
      if (released) return;
      released = true;
      spare = memory;
      if (dropSpare) clearTimeout(dropSpare);
      dropSpare = setTimeout(() => (spare = undefined), SPARE_IDLE_MS);
      dropSpare.unref();
    },
  };
}

function noop(): void {}
