'use strict';
// write-file-atomic on every request: atomic and fsync'd, but one full rewrite per request and
// no directory fsync after the rename.
const writeFileAtomic = require('write-file-atomic');
const { startExpenseServer } = require('./expense-server');

startExpenseServer((file, db) => writeFileAtomic(file, JSON.stringify(db, null, 2)));
