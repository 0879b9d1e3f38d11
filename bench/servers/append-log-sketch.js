'use strict';
// The "append-log sketch with group commit", written the short way a reader would: the
// ceiling's app, each new record appended as one JSON line to `DATA_FILE.log`, and every request
// that arrives while a write is in flight joining the next one (one write + fdatasync per batch,
// on libuv's thread pool). Answers 201 once its batch is durable. Not crash-safe as a product
// (a torn last line is not handled on restart): it measures what group commit alone costs.
const fs = require('node:fs');
const path = require('node:path');
const { startExpenseServer } = require('./expense-server');

// Opened before the server listens, and its directory fsync'd once, so that a new log's name is
// as durable as its lines (and no request pays a synchronous open).
let fd;
if (process.env.DATA_FILE) {
  fd = fs.openSync(`${process.env.DATA_FILE}.log`, 'a');
  const dir = fs.openSync(path.dirname(path.resolve(process.env.DATA_FILE)), 'r');
  fs.fsyncSync(dir);
  fs.closeSync(dir);
}
let filling; // { lines: string[], promise, resolve, reject }
let writing = false;

function batch() {
  let resolve, reject;
  const promise = new Promise((res, rej) => ((resolve = res), (reject = rej)));
  return { lines: [], promise, resolve, reject };
}

function writeNext() {
  if (writing || !filling) return;
  const current = filling;
  filling = undefined;
  writing = true;
  const text = current.lines.join('');
  fs.write(fd, text, (writeError, written) => {
    const done = (error) => {
      writing = false;
      if (error) current.reject(error);
      else current.resolve();
      writeNext();
    };
    if (writeError) return done(writeError);
    if (written !== Buffer.byteLength(text)) return done(new Error(`short write: ${written} bytes`));
    fs.fdatasync(fd, done);
  });
}

startExpenseServer((file, db) => {
  if (!filling) {
    filling = batch();
    setImmediate(writeNext);
  }
  filling.lines.push(`${JSON.stringify(db.expenses[db.expenses.length - 1])}\n`);
  return filling.promise;
}, { server: 'filekeep' }); // the example app's server, so the rows differ only in what persists
