'use strict';
// Seeded data files for the HTTP servers: the records are on disk before a server starts.

const fs = require('node:fs');
const { expense, expenseRecords, expenseSchema } = require('./data');

/** Writes `{ "expenses": [...] }`, the layout json-server and our hand-written servers read. */
function seedPlainFile(file, count) {
  fs.writeFileSync(file, JSON.stringify({ expenses: expenseRecords(count) }, null, 2));
}

/** Seeds `file` through filekeep itself (a snapshot, which both engines read); nothing for 0. */
async function seedFilekeepFile(FileRepository, file, count) {
  if (count === 0) return;
  const repo = await FileRepository.open({ file, collections: { expenses: { schema: expenseSchema } } });
  const expenses = repo.collection('expenses');
  await Promise.all(Array.from({ length: count }, (_, i) => expenses.insert(expense(i + 1))));
  await repo.close();
}

module.exports = { seedPlainFile, seedFilekeepFile };
