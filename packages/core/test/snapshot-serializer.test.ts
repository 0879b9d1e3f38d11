import fc from 'fast-check';
import { entryJson, FORMAT, SnapshotSerializer, type Entry, type SectionRecords } from '../src/repository/snapshot-format';

/** The format written the plain way, a string join of everything: the oracle for the cached bytes. */
function serializeSnapshot(collections: Array<[string, number, Entry[]]>, foreign: Map<string, string>, seq?: number): string {
  const parts: string[] = [];
  for (const [name, nextId, entries] of collections) {
    const lines = entries.map(entryJson);
    const records = lines.length === 0 ? '[]' : `[\n        ${lines.join(',\n        ')}\n      ]`;
    parts.push(`    ${JSON.stringify(name)}: {\n      "nextId": ${nextId},\n      "records": ${records}\n    }`);
  }
  for (const [name, raw] of foreign) parts.push(`    ${JSON.stringify(name)}: ${raw}`);
  const seqLine = seq === undefined ? '' : `\n  "seq": ${seq},`;
  return `{\n  "format": "${FORMAT}",${seqLine}\n  "collections": {\n${parts.join(',\n')}\n  }\n}\n`;
}

const entry = (id: number, value: unknown): Entry => ({ record: Object.freeze({ id, value }), json: undefined });

describe('SnapshotSerializer', () => {
  it('builds a large snapshot in slices that let the event loop run, to exactly the same bytes', async () => {
    const records = Array.from({ length: 5000 }, (_, i) => entry(i + 1, `value ${i}`));
    const sections: Array<[string, number, Entry[]]> = [['items', 5001, records], ['empty', 1, []]];
    const foreign = new Map([['legacy', '{"nextId":1,"records":[]}']]);
    // Counts the event loop's turns while it works: sliceMs 0 gives one after every chunk of 256 records.
    let turns = 0;
    let working = true;
    const tick = () => {
      turns++;
      if (working) setImmediate(tick);
    };
    setImmediate(tick);
    const sliced = await new SnapshotSerializer().serializeInSlices(sections, foreign, 7, 0);
    working = false;
    expect(Buffer.concat(sliced).toString('utf8')).toBe(serializeSnapshot(sections, foreign, 7));
    expect(turns).toBeGreaterThanOrEqual(Math.floor(5000 / 256));
  });

  it('returns to its caller before encoding any record when building in slices', async () => {
    const records = Array.from({ length: 10 }, (_, i) => entry(i + 1, `value ${i}`));
    const building = new SnapshotSerializer().serializeInSlices([['items', 11, records]], new Map(), 1, 10);
    // Each record's JSON is cached on its entry as it is encoded.
    expect(records.every((r) => r.json === undefined)).toBe(true);
    await building;
    expect(records.every((r) => r.json !== undefined)).toBe(true);
  });

  it('writes exactly the bytes of serializeSnapshot while reusing unchanged chunks across commits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ inserts: fc.nat(700), updates: fc.array(fc.nat(2000), { maxLength: 5 }), removes: fc.array(fc.nat(2000), { maxLength: 5 }) }), { minLength: 1, maxLength: 6 }),
        fc.option(fc.nat(1000), { nil: undefined }),
        (commits, seq) => {
          const serializer = new SnapshotSerializer();
          let records: Entry[] = [];
          let nextId = 1;
          for (const commit of commits) {
            for (let i = 0; i < commit.inserts; i++) records.push(entry(nextId, `v${nextId++}`));
            for (const at of commit.updates) if (records.length > 0) records[at % records.length] = entry(records[at % records.length]!.record.id as number, `u${at}`);
            for (const at of commit.removes) if (records.length > 0) records = records.filter((_, i) => i !== at % records.length);
            const sections: Array<[string, number, Entry[]]> = [['items', nextId, records], ['empty', 1, []]];
            const foreign = new Map([['legacy', '{"nextId":1,"records":[]}']]);
            expect(Buffer.concat(serializer.serialize(sections, foreign, seq)).toString('utf8')).toBe(serializeSnapshot(sections, foreign, seq));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('writes the same bytes when an insert-only commit passes only its new records, and after a failed commit is reset', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ inserts: fc.nat(600), update: fc.boolean(), fails: fc.boolean() }), { minLength: 1, maxLength: 8 }),
        (commits) => {
          const serializer = new SnapshotSerializer();
          const foreign = new Map<string, string>();
          let durable: Entry[] = [];
          let nextId = 1;
          for (const commit of commits) {
            const added = Array.from({ length: commit.inserts }, (_, i) => entry(nextId + i, `v${nextId + i}`));
            let next = durable.concat(added);
            if (commit.update && next.length > 0) next = next.map((e, i) => (i === 0 ? entry(e.record.id as number, 'changed') : e));
            const insertOnly = !commit.update;
            const canAppend = serializer.canAppend('items', durable.length, durable[durable.length - 1]);
            const records: SectionRecords = insertOnly && canAppend ? { appended: added } : next;
            const bytes = Buffer.concat(serializer.serialize([['items', nextId + commit.inserts, records]], foreign)).toString('utf8');
            expect(bytes).toBe(serializeSnapshot([['items', nextId + commit.inserts, next]], foreign));
            if (commit.fails) {
              // The write failed: the durable state stays, and the engine resets the serializer.
              serializer.reset();
              expect(serializer.canAppend('items', durable.length, durable[durable.length - 1])).toBe(false);
            } else {
              durable = next;
              nextId += commit.inserts;
            }
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('reuses the full chunks and encodes only the tail when given appended records', () => {
    const serializer = new SnapshotSerializer();
    const first = Array.from({ length: 300 }, (_, i) => entry(i + 1, i));
    const before = serializer.serialize([['items', 301, first]], new Map());
    expect(serializer.canAppend('items', 300, first[299])).toBe(true);
    expect(serializer.canAppend('items', 299, first[298])).toBe(false);
    const added = [entry(301, 'new')];
    const after = serializer.serialize([['items', 302, { appended: added }]], new Map());
    expect(Buffer.concat(after).toString()).toBe(serializeSnapshot([['items', 302, [...first, ...added]]], new Map()));
    // The first chunk (records 1-256) is the very same bytes object; the tail was encoded again.
    const chunkOf256 = before.find((piece) => piece.toString().startsWith('{"id":1,') && piece.toString().includes('{"id":256,'));
    expect(chunkOf256).toBeDefined();
    expect(after).toContain(chunkOf256);
    expect(serializer.canAppend('items', 301, added[0])).toBe(true);
  });
});
