'use strict';
// Child server processes: started on 127.0.0.1, waited for, and always killed. Every child
// is registered so that an error, Ctrl-C or an exception anywhere still kills it.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const { once } = require('node:events');
const os = require('node:os');

const HOST = '127.0.0.1';
const children = new Set();

function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

let hooked = false;
function hookProcessExit() {
  if (hooked) return;
  hooked = true;
  // 'exit' handlers may only do synchronous work; kill() is synchronous.
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      killAll();
      process.exit(128 + os.constants.signals[signal]);
    });
  }
}

/** A port the OS just handed out on 127.0.0.1 (free unless someone takes it first). */
async function freePort() {
  const server = net.createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: HOST });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function tail(file, lines = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Spawns `node script ...args` with `env` added, its output going to `logFile` (a pipe nobody
 * reads would fill and stall a chatty server), and resolves once the port accepts connections.
 */
async function startServer({ name, script, args = [], nodeArgs = [], env = {}, port, logFile, cwd, timeoutMs = 20000 }) {
  hookProcessExit();
  const log = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd,
    env: { ...process.env, ...env, PORT: String(port), HOST },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  children.add(child);
  child.once('exit', () => children.delete(child));

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before listening:\n${tail(logFile)}`);
    }
    if (await canConnect(port)) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await killServer(child);
  throw new Error(`${name} did not listen on ${HOST}:${port} within ${timeoutMs} ms:\n${tail(logFile)}`);
}

/** SIGKILL, like a crash or power loss from the server's point of view; resolves on exit. */
async function killServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

module.exports = { HOST, freePort, startServer, killServer, killAll, tail };
