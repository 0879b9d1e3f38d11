import * as zlib from 'node:zlib';
import { CorruptDataError } from '../errors';
import { isPlainObject } from '../repository/json-value';
import { entryJson } from '../repository/snapshot-format';
import type { BatchChanges } from './engine';

/*
 * One journal record per committed batch, one line each:
 *
 *   <crc32: 8 lowercase hex digits> <payload byte length, decimal> <payload JSON>\n
 *
 * The CRC-32 (zlib's, as in gzip and PNG) covers the payload bytes. The payload never holds a raw
 * newline (JSON escapes them), so every record ends at the first '\n' after its header.
 * Payload:
 *
 *   {"seq":12,"collections":{"notes":{"nextId":5,"put":[{"id":4,...}],"remove":[2]}}}
 *
 * `seq` rises by exactly 1 per record. Per collection: `nextId` if the batch changed it, `put` the
 * complete new records (ids inside), `remove` the removed ids; each key only when non-empty.
 */

// zlib.crc32 arrived in Node 20.15; engines says >= 20, so keep a table-driven fallback.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
let table: Uint32Array | undefined;
function crc32(data: Uint8Array): number {
  if (nativeCrc32) return nativeCrc32(data);
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/** The framed line for one batch. Records reuse their cached JSON (`entryJson`), so nothing is serialised twice. */
export function encodeRecord(seq: number, batch: BatchChanges): Buffer {
  const sections: string[] = [];
  const names = new Set([...batch.changes.keys(), ...batch.nextIds.keys()]);
  for (const name of names) {
    const fields: string[] = [];
    const nextId = batch.nextIds.get(name);
    if (nextId !== undefined) fields.push(`"nextId":${nextId}`);
    const put: string[] = [];
    const remove: string[] = [];
    for (const [id, entry] of batch.changes.get(name) ?? []) {
      if (entry) put.push(entryJson(entry));
      else remove.push(JSON.stringify(id));
    }
    if (put.length > 0) fields.push(`"put":[${put.join(',')}]`);
    if (remove.length > 0) fields.push(`"remove":[${remove.join(',')}]`);
    sections.push(`${JSON.stringify(name)}:{${fields.join(',')}}`);
  }
  // Encoded once, straight into the line after room for its header (whose width depends only on
  // the payload's length), rather than into a buffer of its own that is then copied.
  const payload = `{"seq":${seq},"collections":{${sections.join(',')}}}`;
  const length = Buffer.byteLength(payload);
  const lengthField = String(length);
  const start = 8 + 1 + lengthField.length + 1;
  const line = Buffer.allocUnsafe(start + length + 1);
  line.write(payload, start);
  line.write(`${hex8(crc32(line.subarray(start, start + length)))} ${lengthField} `, 0, 'latin1');
  line[line.length - 1] = 0x0a;
  return line;
}

export interface JournalRecord {
  seq: number;
  /** Byte offset of the record's first byte. */
  offset: number;
  /** `{ name: { nextId?, put?, remove? } }`, unchecked beyond being an object. */
  collections: Record<string, unknown>;
}

export interface JournalScan {
  /** Every complete, checksummed record, in file order, with consecutive sequence numbers. */
  records: JournalRecord[];
  /** Bytes up to the end of the last good record. */
  goodLength: number;
  /** A damaged last record (the trace of a crash mid-append), cut off by recovery. */
  torn: { offset: number; reason: string } | undefined;
}

type Frame = { ok: true; end: number; payload: Buffer } | { ok: false; reason: string };

const SPACE = 0x20;
const NEWLINE = 0x0a;
const MAX_LENGTH_DIGITS = 15;

function isHexDigit(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66);
}

/** Read one frame at `offset`: header, payload of the stated length, newline, matching CRC. */
function readFrame(bytes: Buffer, offset: number): Frame {
  const size = bytes.length;
  if (size - offset < 11) return { ok: false, reason: 'truncated header' };
  for (let i = offset; i < offset + 8; i++) if (!isHexDigit(bytes[i]!)) return { ok: false, reason: 'malformed checksum field' };
  if (bytes[offset + 8] !== SPACE) return { ok: false, reason: 'malformed header' };
  let p = offset + 9;
  let length = 0;
  const digitsStart = p;
  while (p < size && bytes[p]! >= 0x30 && bytes[p]! <= 0x39 && p - digitsStart < MAX_LENGTH_DIGITS) length = length * 10 + (bytes[p++]! - 0x30);
  if (p === size) return { ok: false, reason: 'truncated header' };
  if (p === digitsStart || bytes[p] !== SPACE) return { ok: false, reason: 'malformed length field' };
  const start = p + 1;
  if (start + length + 1 > size) return { ok: false, reason: `truncated: ${length} payload bytes announced, ${Math.max(0, size - start - 1)} present` };
  if (bytes[start + length] !== NEWLINE) return { ok: false, reason: 'no newline after the payload' };
  const payload = bytes.subarray(start, start + length);
  const expected = parseInt(bytes.toString('latin1', offset, offset + 8), 16);
  if (crc32(payload) !== expected) return { ok: false, reason: 'checksum mismatch' };
  return { ok: true, end: start + length + 1, payload };
}

/** Offset of a good frame starting after any newline at or beyond `from`, if there is one. */
function goodFrameAfter(bytes: Buffer, from: number): number | undefined {
  for (let nl = bytes.indexOf(NEWLINE, from); nl >= 0 && nl + 1 < bytes.length; nl = bytes.indexOf(NEWLINE, nl + 1)) {
    if (readFrame(bytes, nl + 1).ok) return nl + 1;
  }
  return undefined;
}

/**
 * Split a journal into records. A damaged record with no good record after it is a torn tail
 * (reported, not thrown). A damaged record followed by a good one, a payload that is not a record,
 * or a sequence number that does not follow the previous one is corruption: CorruptDataError.
 */
export function scanJournal(file: string, bytes: Buffer): JournalScan {
  const records: JournalRecord[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const frame = readFrame(bytes, offset);
    if (!frame.ok) {
      const next = goodFrameAfter(bytes, offset);
      if (next !== undefined) {
        throw new CorruptDataError(file, `the record at byte ${offset} is damaged (${frame.reason}), but a valid record follows at byte ${next}`);
      }
      return { records, goodLength: offset, torn: { offset, reason: frame.reason } };
    }
    const at = `the record at byte ${offset}`;
    let payload: unknown;
    try {
      payload = JSON.parse(frame.payload.toString('utf8'));
    } catch (error) {
      throw new CorruptDataError(file, `${at} has a valid checksum but is not JSON (${(error as Error).message})`, error);
    }
    if (!isPlainObject(payload)) throw new CorruptDataError(file, `${at} is not an object`);
    const { seq, collections } = payload;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw new CorruptDataError(file, `${at} has an invalid seq ${JSON.stringify(seq)}`);
    if (!isPlainObject(collections)) throw new CorruptDataError(file, `${at} has no "collections" object`);
    const previous = records[records.length - 1];
    if (previous && seq !== previous.seq + 1) {
      throw new CorruptDataError(file, `sequence gap: ${at} has seq ${seq} after seq ${previous.seq}`);
    }
    records.push({ seq, offset, collections });
    offset = frame.end;
  }
  return { records, goodLength: offset, torn: undefined };
}
