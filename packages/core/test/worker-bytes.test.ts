import { bytesForWorker } from '../src/worker/worker-bytes';

describe('bytesForWorker()', () => {
  it('posts a view into a large buffer as exactly its own bytes, not the memory under it', () => {
    const backing = Buffer.alloc(50 * 1024 * 1024, 1);
    for (const view of [backing.subarray(100, 200), backing.subarray(0, 300_000)]) {
      const posted = bytesForWorker(view);
      // Structured clone would have copied (twice) all 50 MiB under the view.
      expect(posted.bytes.buffer.byteLength).toBeLessThan(2 * view.byteLength);
      expect(Buffer.from(posted.bytes).equals(view)).toBe(true);
      expect(posted.transfer.every((memory) => memory !== backing.buffer)).toBe(true);
      posted.release();
    }
    expect(backing.byteLength).toBe(50 * 1024 * 1024);
  });

  it('moves the memory of a string it encoded, and shares large data instead of copying it again', () => {
    const small = bytesForWorker('héllo');
    expect(Buffer.from(small.bytes).toString()).toBe('héllo');
    expect(small.transfer).toEqual([small.bytes.buffer]);
    const large = bytesForWorker('x'.repeat(100_000));
    expect(large.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(large.bytes.byteLength).toBe(100_000);
    expect(large.transfer).toEqual([]);
    large.release();
  });

  it('reuses the memory of a released large write, and never memory still in use', () => {
    // Sizes no earlier test used, so the spare they left cannot serve these.
    const first = bytesForWorker('a'.repeat(1_000_000));
    const second = bytesForWorker('b'.repeat(1_000_000));
    expect(second.bytes.buffer).not.toBe(first.bytes.buffer);
    first.release();
    const third = bytesForWorker('c'.repeat(900_000));
    expect(third.bytes.buffer).toBe(first.bytes.buffer);
    expect(Buffer.from(second.bytes).every((b) => b === 'b'.charCodeAt(0))).toBe(true);
    second.release();
    third.release();
  });
});
