'use strict';
// The ceiling on the example app's server: the same in-memory app as memory.js, served through
// @filekeep/express's createServer (requests born with the app's prototypes). Set beside
// memory.js, it shows what that server alone is worth; set beside filekeep's rows, which all use
// it, what durability costs on equal servers.
const { startExpenseServer } = require('./expense-server');

startExpenseServer(() => {}, { server: 'filekeep' });
