'use strict';
// The in-memory ceiling's app (express.json() and one POST route, no logging, no ETags, no
// problem details) with filekeep underneath: a FileRepository on the journal engine and the
// filekeep() middleware that holds each response until its insert is durable. Set beside the
// example app, it separates what filekeep's durable path costs from what the example app's
// features cost (servers/append-log-sketch.js shows what group commit alone costs).
// Env: PORT, DATA_DIR, ENGINE (journal by default).
const path = require('node:path');
const express = require('express');
const { FileRepository } = require('@filekeep/core');
const { createServer, filekeep } = require('@filekeep/express');
const { expenseSchema } = require('../lib/data');

async function main() {
  const port = Number(process.env.PORT);
  const dir = process.env.DATA_DIR;
  if (!port || !dir) throw new Error('PORT and DATA_DIR must be set');
  const repo = await FileRepository.open({
    file: path.join(dir, 'expenses.json'),
    engine: process.env.ENGINE ?? 'journal',
    collections: { expenses: { schema: expenseSchema } },
  });
  const app = express();
  app.use(express.json(), filekeep(repo));
  app.get('/expenses', (req, res) => {
    res.json(req.repo.collection('expenses').list());
  });
  app.post('/expenses', async (req, res, next) => {
    try {
      res.status(201).json(await req.repo.collection('expenses').insert(req.body));
    } catch (error) {
      next(error);
    }
  });
  createServer(app).listen(port, '127.0.0.1'); // the example app's server
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
