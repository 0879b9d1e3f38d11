import fc from 'fast-check';
import { entryJson, FORMAT, SnapshotSerializer, type Entry } from '../src/repository/snapshot-format';

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
});
