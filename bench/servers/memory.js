'use strict';
// The ceiling: the same Express app with no persistence at all (reads DATA_FILE at start only).
const { startExpenseServer } = require('./expense-server');

startExpenseServer(() => {});
