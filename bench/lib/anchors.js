'use strict';
// The libraries filekeep is compared with. lowdb 7, steno 4 and atomically 2 are ESM-only, so
// they come in through dynamic import(); load this after fs-counter is installed.

async function loadAnchors() {
  const [lowdb, lowdbNode, steno, atomically] = await Promise.all([
    import('lowdb'),
    import('lowdb/node'),
    import('steno'),
    import('atomically'),
  ]);
  return {
    writeFileAtomic: require('write-file-atomic'),
    Low: lowdb.Low,
    JSONFile: lowdbNode.JSONFile,
    Writer: steno.Writer,
    atomically: { writeFile: atomically.writeFile },
  };
}

module.exports = { loadAnchors };
