'use strict';
// The hand-written Express server the comparison servers share: POST /expenses appends to an
// in-memory array and calls `persist(db)` before answering 201, the way seed apps and tutorials
// do it. Each variant only supplies `persist`. Env: PORT, DATA_FILE (JSON `{ "expenses": [...] }`,
// the same file layout json-server reads).
//
// `options.server`: 'express' (default) listens with `app.listen()`, as the servers do;
// 'filekeep' with @filekeep/express's `createServer(app)`, the server the example app uses, so a
// diagnostic row differs from it only in what it persists.

const fs = require('node:fs');
const express = require('express');

function startExpenseServer(persist, options = {}) {
  const port = Number(process.env.PORT);
  const file = process.env.DATA_FILE;
  if (!port || !file) throw new Error('PORT and DATA_FILE must be set');

  const db = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : { expenses: [] };
  let nextId = db.expenses.reduce((max, e) => Math.max(max, e.id), 0) + 1;

  const app = express();
  app.use(express.json());
  app.get('/expenses', (_req, res) => {
    res.json(db.expenses);
  });
  app.post('/expenses', async (req, res) => {
    const record = { id: nextId++, ...req.body };
    db.expenses.push(record);
    await persist(file, db);
    res.status(201).json(record);
  });
  if (options.server === 'filekeep') require('@filekeep/express').createServer(app).listen(port, '127.0.0.1');
  else app.listen(port, '127.0.0.1');
}

module.exports = { startExpenseServer };
