import { crc32 } from 'node:zlib';
import { readFile } from 'node:fs/promises';

export interface JournalPayload {
  seq: number;
  collections: Record<string, { nextId?: number; put?: Array<Record<string, unknown>>; remove?: unknown[] }>;
}

/** A line framed as the journal engine frames it, written here independently of the core. */
export function frameLine(payload: string): Buffer {
  const bytes = Buffer.from(payload);
  return Buffer.concat([Buffer.from(`${crc32(bytes).toString(16).padStart(8, '0')} ${bytes.length} `), bytes, Buffer.from('\n')]);
}

/** Split a journal into its lines and check each frame strictly; throws on anything damaged. */
export function parseJournal(bytes: Buffer): Array<{ line: Buffer; payload: JournalPayload }> {
  const out: Array<{ line: Buffer; payload: JournalPayload }> = [];
  let offset = 0;
  while (offset < bytes.length) {
    const end = bytes.indexOf(0x0a, offset);
    if (end < 0) throw new Error(`unterminated line at byte ${offset}`);
    const line = bytes.subarray(offset, end + 1);
    const match = /^([0-9a-f]{8}) (\d+) /.exec(line.toString('latin1', 0, Math.min(line.length, 30)));
    if (!match) throw new Error(`bad header at byte ${offset}`);
    const payload = line.subarray(match[0].length, line.length - 1);
    if (payload.length !== Number(match[2])) throw new Error(`bad length at byte ${offset}`);
    if (crc32(payload) !== parseInt(match[1]!, 16)) throw new Error(`bad checksum at byte ${offset}`);
    out.push({ line, payload: JSON.parse(payload.toString('utf8')) as JournalPayload });
    offset = end + 1;
  }
  return out;
}

export async function readJournal(file: string): Promise<Array<{ line: Buffer; payload: JournalPayload }>> {
  return parseJournal(await readFile(file));
}

type Doc = { seq?: number; collections: Record<string, { nextId: number; records: Array<Record<string, unknown>> }> };

/**
 * What a restart must see, computed from the bytes on disk without the core: the snapshot, then
 * every journal record with a higher seq. Returns each collection's nextId and records in id order.
 */
export async function stateOnDisk(file: string): Promise<{ seq: number; collections: Doc['collections'] }> {
  let doc: Doc = { collections: {} };
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as Doc;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  let seq = doc.seq ?? 0;
  const collections = new Map(Object.entries(doc.collections).map(([name, c]) => [name, { nextId: c.nextId, records: new Map(c.records.map((r) => [r['id'], r])) }]));
  let lines: Array<{ payload: JournalPayload }> = [];
  try {
    lines = await readJournal(`${file}.journal`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const { payload } of lines) {
    if (payload.seq <= seq) continue;
    if (payload.seq !== seq + 1) throw new Error(`sequence gap: ${payload.seq} after ${seq}`);
    seq = payload.seq;
    for (const [name, change] of Object.entries(payload.collections)) {
      let c = collections.get(name);
      if (!c) collections.set(name, (c = { nextId: 1, records: new Map() }));
      if (change.nextId !== undefined) c.nextId = change.nextId;
      for (const r of change.put ?? []) c.records.set(r['id'], r);
      for (const id of change.remove ?? []) c.records.delete(id);
    }
  }
  const byId = (a: unknown, b: unknown) =>
    typeof a === 'number' ? (typeof b === 'number' ? a - b : -1) : typeof b === 'number' ? 1 : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  return {
    seq,
    collections: Object.fromEntries(
      [...collections].map(([name, c]) => [name, { nextId: c.nextId, records: [...c.records].sort((x, y) => byId(x[0], y[0])).map(([, r]) => r) }]),
    ),
  };
}
