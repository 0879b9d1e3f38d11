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

module.exports = { readIds };
