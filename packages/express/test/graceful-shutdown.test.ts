import { existsSync } from 'node:fs';
import * as http from 'node:http';
import { FaultyFs } from '@filekeep/core';
import { gracefulShutdown, type GracefulShutdownOptions } from '@filekeep/express';
import { createApp, deferred, listen, lunch, useRepository, type ExpenseRepository } from './helpers/setup';

const store = useRepository();

/** A GET over a keep-alive agent; resolves with the status and whether the server kept the connection. */
function get(port: number, path: string, agent: http.Agent): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get({ port, host: '127.0.0.1', path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      })
      .on('error', reject);
  });
}

async function start(repo: ExpenseRepository, options: GracefulShutdownOptions = {}, route = deferred()) {
  const app = createApp(repo, (a) => {
    a.get('/fast', (_req, res) => res.json({ ok: true }));
    a.post('/slow', async (_req, res) => {
      await route.promise;
      res.status(201).json(await repo.collection('expenses').insert(lunch));
    });
  });
  const server = await listen(app);
  const exited = deferred<number>();
  const handle = gracefulShutdown(server.server, repo, { log: () => undefined, gracePeriod: 60_000, forceExitAfter: 60_000, exit: exited.resolve, ...options });
  return { server, handle, exited, route };
}

describe('gracefulShutdown()', () => {
  let agent: http.Agent;
  beforeEach(() => (agent = new http.Agent({ keepAlive: true })));
  afterEach(() => agent.destroy());

  it('does not wait for an idle keep-alive connection, closes the repository and exits 0', async () => {
    const repo = await store.open();
    const { server, handle, exited } = await start(repo);
    expect(await get(server.port, '/fast', agent)).toEqual({ status: 200, connection: 'keep-alive' });
    // gracePeriod is a minute: only closing the idle connection lets this finish.
    await handle.shutdown('SIGTERM');
    expect(await exited.promise).toBe(0);
    expect(server.server.listening).toBe(false);
    expect(repo.closed).toBe(true);
    expect(existsSync(`${store.file}.lock`)).toBe(false);
  });

  it('lets an in-flight request finish, makes its change durable, then closes its connection', async () => {
    const repo = await store.open();
    const { server, handle, exited, route } = await start(repo);
    const entered = deferred();
    server.server.once('request', () => entered.resolve());
    const slow = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = http.request({ port: server.port, host: '127.0.0.1', path: '/slow', method: 'POST', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      });
      req.on('error', reject).end();
    });
    await entered.promise;
    const stopped = handle.shutdown('SIGTERM');
    route.resolve();
    expect(await slow).toEqual({ status: 201, connection: 'close' });
    expect(await stopped).toBe(0);
    expect(await exited.promise).toBe(0);
    expect(existsSync(`${store.file}.lock`)).toBe(false);
    const reopened = await store.open();
    expect(reopened.collection('expenses').list()).toEqual([{ id: 1, ...lunch }]);
  });

  it('closes a connection still busy after the grace period', async () => {
    const repo = await store.open();
    const { server, handle, exited } = await start(repo, { gracePeriod: 10 });
    const entered = deferred();
    server.server.once('request', () => entered.resolve());
    const cut = new Promise<string>((resolve) => {
      const req = http.request({ port: server.port, host: '127.0.0.1', path: '/slow', method: 'POST', agent }, () => resolve('answered'));
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error')).end();
    });
    await entered.promise;
    await handle.shutdown();
    expect(await cut).toBe('ECONNRESET');
    expect(await exited.promise).toBe(0);
  });

  it('shuts down on SIGTERM and SIGINT, and a second signal exits at once with 1', async () => {
    const repo = await store.open();
    const codes: number[] = [];
    const before = process.listeners('SIGTERM').length;
    const done = deferred();
    const { handle } = await start(repo, {
      exit: (code) => {
        codes.push(code);
        if (codes.length === 2) done.resolve();
      },
    });
    const onTerm = process.listeners('SIGTERM').at(-1)!;
    expect(process.listeners('SIGTERM')).toHaveLength(before + 1);
    expect(process.listeners('SIGINT')).toContain(onTerm);
    // Call the registered listener: emitting a real SIGTERM would reach jest's own handlers too.
    onTerm('SIGTERM');
    onTerm('SIGINT');
    await done.promise;
    expect(codes).toEqual([1, 0]);
    expect(process.listeners('SIGTERM')).toHaveLength(before);
    handle.dispose();
  });

  it('exits 1 when the repository cannot be closed', async () => {
    const fs = new FaultyFs();
    const repo = await store.open(fs);
    const log = jest.fn();
    const { handle, exited } = await start(repo, { log });
    fs.fail({ call: 'unlink', when: (p) => p === `${store.file}.lock` });
    await handle.shutdown();
    expect(await exited.promise).toBe(1);
    expect(log).toHaveBeenCalledWith('could not close the repository', expect.any(Error));
  });

  it('rejects a negative grace period, naming the option', () => {
    expect(() => gracefulShutdown(http.createServer(), { close: async () => undefined }, { gracePeriod: -1 })).toThrow(
      'Expected `gracePeriod` to be a finite number >= 0, got -1',
    );
  });
});
