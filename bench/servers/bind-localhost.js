'use strict';
// Preloaded (`node --require`) into servers we run unchanged but that listen on every interface
// (the example app calls `listen(port)`): binds them to 127.0.0.1, so the benchmark never opens
// a port to the network.
const net = require('node:net');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || typeof args[0] === 'string') {
    const [port, maybeHost, ...rest] = args;
    const host = typeof maybeHost === 'string' ? maybeHost : '127.0.0.1';
    const tail = typeof maybeHost === 'string' ? rest : [maybeHost, ...rest].filter((a) => a !== undefined);
    return listen.call(this, port, host, ...tail);
  }
  if (args[0] && typeof args[0] === 'object' && args[0].host === undefined && args[0].path === undefined) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};
