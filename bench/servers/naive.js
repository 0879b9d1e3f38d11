'use strict';
// The seed app's approach: rewrite the whole file synchronously on every request. Not atomic
// (a crash mid-write leaves a torn file) and not durable (no fsync), and it blocks the event loop.
const fs = require('node:fs');
const { startExpenseServer } = require('./expense-server');

startExpenseServer((file, db) => {
  fs.writeFileSync(file, JSON.stringify(db, null, 2));
});
