'use strict';
// Finds the built filekeep pieces. They are written alongside the benchmarks, so each piece
// may be missing; suites then skip the filekeep rows and say why instead of failing the run.

const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLE_SERVER = path.join(ROOT, 'examples', 'expense-app', 'dist', 'server.js');

function newestMtime(dir) {
  let newest = 0;
  if (!fs.existsSync(dir)) return newest;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath ?? entry.path, entry.name);
    newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

function mtimeOf(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** A note when `src/` changed after `dist/` was built, so stale numbers are not published. */
function staleNote(pkgDir) {
  const src = newestMtime(path.join(pkgDir, 'src'));
  const dist = newestMtime(path.join(pkgDir, 'dist'));
  // `tsc -b` leaves dist/ alone when a newer source has the same content; it only touches the
  // build info then. Without it, a touched file reads as stale even after `npm run build`.
  const built = Math.max(dist, mtimeOf(path.join(pkgDir, 'tsconfig.tsbuildinfo')));
  if (dist > 0 && src > built) {
    return `${path.relative(ROOT, pkgDir)}/dist is older than src (run \`npm run build\` at the root)`;
  }
  return null;
}

function loadFilekeep() {
  const notes = [];
  let core = null;
  try {
    core = require('@filekeep/core');
  } catch (err) {
    notes.push(`@filekeep/core cannot be loaded (${err.code ?? err.message}); run \`npm run build\` at the root`);
  }
  for (const dir of ['packages/core', 'packages/express', 'examples/expense-app']) {
    const stale = staleNote(path.join(ROOT, dir));
    if (stale) notes.push(stale);
  }

  const writeFileAtomic = typeof core?.writeFileAtomic === 'function' ? core.writeFileAtomic : null;
  const FileRepository = typeof core?.FileRepository?.open === 'function' ? core.FileRepository : null;
  const exampleServer = fs.existsSync(EXAMPLE_SERVER) ? EXAMPLE_SERVER : null;
  return {
    writeFileAtomic,
    FileRepository,
    exampleServer,
    notes,
    missing: {
      writeFileAtomic: writeFileAtomic ? null : 'filekeep `writeFileAtomic` not built yet',
      FileRepository: FileRepository ? null : 'filekeep `FileRepository` not built yet',
      exampleServer: exampleServer ? null : 'examples/expense-app/dist/server.js not built yet',
    },
  };
}

module.exports = { loadFilekeep, ROOT };
