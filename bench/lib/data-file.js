'use strict';
// Reads back what a server or library left on disk, to count acknowledged records that are
// missing. Understands the two layouts in play: `{ "expenses": [...] }` (json-server, lowdb,
// steno and the hand-written servers) and filekeep's snapshot
// `{ "format": "filekeep/1", "collections": { "expenses": { "records": [...] } } }`.

const fs = require('node:fs');

function recordsOf(doc, collection) {
  if (Array.isArray(doc?.[collection])) return doc[collection];
  const records = doc?.collections?.[collection]?.records;
  if (Array.isArray(records)) return records;
  throw new Error(`no "${collection}" array in it`);
}

/**
 * The ids stored in `file`, or `corrupt` saying why it cannot be read (a torn write from
 * a kill, for instance).
 */
function readIds(file, collection = 'expenses') {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { ids: new Set(), corrupt: `cannot read: ${err.code}` };
  }
  try {
    const records = recordsOf(JSON.parse(text), collection);
    return { ids: new Set(records.map((r) => String(r.id))), corrupt: null };
  } catch (err) {
    return { ids: new Set(), corrupt: `not valid: ${err.message.slice(0, 80)}` };
  }
}

/**
 * The ids in `file` plus those appended as JSON lines to `file.log` (servers/append-log-sketch.js).
 * A torn last line is a batch the kill cut short, never acknowledged; a bad line before it is corruption.
 */
function readIdsWithLog(file, collection = 'expenses') {
  const base = readIds(file, collection);
  if (base.corrupt) return base;
  let lines;
  try {
    lines = fs.readFileSync(`${file}.log`, 'utf8').split('\n');
  } catch (err) {
    if (err.code === 'ENOENT') return base;
    return { ids: base.ids, corrupt: `log cannot be read: ${err.code}` };
  }
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    try {
      base.ids.add(String(JSON.parse(line).id));
    } catch {
      if (i < lines.length - 1) return { ids: base.ids, corrupt: `log line ${i + 1} is not JSON` };
    }
  }
  return base;
}

module.exports = { readIds, readIdsWithLog };
