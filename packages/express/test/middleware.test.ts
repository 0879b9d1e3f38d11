import * as http from 'node:http';
import { readFile } from 'node:fs/promises';
import request from 'supertest';
import { FaultyFs } from '@filekeep/core';
import { createServer, filekeep, resource } from '@filekeep/express';
import express, { type Express, type RequestHandler } from 'express';
import { createApp, deferred, GatedFs, listen, listenOn, lunch, taxi, useRepository, type Listening } from './helpers/setup';

const store = useRepository();
const noop = () => undefined;

/** The hold must work whichever way the app is served: Express's own server, or filekeep's createServer. */
const SERVERS: Array<[string, (app: Express) => Promise<Listening>]> = [
  ['app.listen()', listen],
  ['createServer()', (app) => listenOn(createServer(app))],
];

/** POST with a raw client, so the test sees exactly when the response starts to arrive. */
function post(port: number, path: string, json?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = json === undefined ? {} : { 'content-type': 'application/json' };
    const req = http.request({ port, host: '127.0.0.1', path, method: 'POST', agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(json);
  });
}

/** A handler that queues an insert without awaiting it and answers 201 at once: only the hold can keep the 201 back. */
function queueAndAnswer(events: string[]): RequestHandler {
  return (req, res) => {
    req.repo.collection('expenses').insert(lunch).catch(noop);
    res.status(201).json({ queued: true });
    events.push('handler responded');
  };
}

/** Push 'socket write' to `events` whenever the server writes to a client socket. */
function logSocketWrites(server: http.Server, events: string[]): void {
  server.on('connection', (socket) => {
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    socket.write = ((...args: unknown[]) => (events.push('socket write'), write(...args))) as typeof socket.write;
  });
}

/**
 * POST to `path` while the data fsync is held: once the handler has responded, not one byte may be
 * on the socket until the gate opens. Resolves with the events before the first socket write.
 */
async function postThroughGate(port: number, fs: GatedFs, events: string[], path = '/expenses'): Promise<{ before: string[]; body: unknown }> {
  const gate = fs.hold();
  try {
    const response = post(port, path);
    await gate.reached;
    expect(events).toEqual(['handler responded']);
    gate.release();
    const { status, body } = await response;
    expect(status).toBe(201);
    return { before: events.slice(0, events.indexOf('socket write')), body: JSON.parse(body) };
  } finally {
    gate.release();
  }
}

describe('filekeep()', () => {
  it('puts the repository on req.repo', async () => {
    const repo = await store.open();
    const app = createApp(repo, (a) => a.get('/same', (req, res) => res.json(req.repo === (repo as unknown))));
    await request(app).get('/same').expect(200, 'true');
  });

  it("gives a write request a view of the repository that tracks the request's changes, and lets the app replace it", async () => {
    const repo = await store.open();
    const app = createApp(repo, (a) =>
      a.post('/views', async (req, res) => {
        const view = req.repo;
        await view.collection('expenses').insert(lunch);
        const tracking = view.tracker !== undefined && view !== (repo as unknown);
        req.repo = repo as unknown as typeof req.repo;
        res.status(201).json({ tracking, replaced: req.repo === (repo as unknown), count: view.collection('expenses').count() });
      }),
    );
    await request(app).post('/views').expect(201, { tracking: true, replaced: true, count: 1 });
    await request(app).post('/views').expect(201, { tracking: true, replaced: true, count: 2 });
  });

  it('replaces a req.repo set before it on a write request with its own view', async () => {
    const repo = await store.open();
    const app = express();
    app.use((req, _res, next) => {
      req.repo = 'stale' as unknown as typeof req.repo;
      next();
    });
    app.use(express.json(), filekeep(repo));
    app.post('/views', (req, res) => {
      res.status(201).json({ tracking: req.repo.tracker !== undefined });
    });
    await request(app).post('/views').expect(201, { tracking: true });
  });

  it('holds a write response and gives req.repo under a bare node http server too', async () => {
    const fs = new GatedFs();
    const repo = await store.open(fs);
    const middleware = filekeep(repo);
    const server = http.createServer((req, res) =>
      middleware(req as express.Request, res as express.Response, () => {
        const repoOf = (req as express.Request).repo;
        repoOf.collection('expenses').insert(lunch).catch(noop);
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ tracking: repoOf.tracker !== undefined }));
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const gate = fs.hold();
    try {
      let arrived = false;
      const response = post((server.address() as { port: number }).port, '/').finally(() => (arrived = true));
      await gate.reached; // the handler has answered; the response waits for the commit
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(arrived).toBe(false);
      gate.release();
      const { status, body } = await response;
      expect(status).toBe(201);
      expect(JSON.parse(body)).toEqual({ tracking: true });
      expect(repo.collection('expenses').count()).toBe(1);
    } finally {
      gate.release();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it.each(SERVERS)('holds a mutation response until the change is fsynced, renamed and the directory fsynced (%s)', async (_server, serve) => {
    const events: string[] = [];
    const fs = new GatedFs(events);
    const repo = await store.open(fs);
    const expenses = repo.collection('expenses');
    const app = createApp(repo, (a) =>
      a.post('/expenses', (_req, res) => {
        // Not awaited on purpose: the middleware alone must keep the 201 back until it is durable.
        expenses.insert(lunch).catch(noop);
        res.status(201).json({ queued: true });
        events.push('handler responded');
      }),
    );
    const server = await serve(app);
    logSocketWrites(server.server, events);
    try {
      const { before, body } = await postThroughGate(server.port, fs, events);
      expect(body).toEqual({ queued: true });
      expect(before).toEqual(['handler responded', 'fdatasync done', 'rename done', 'fsync done']);
      expect(JSON.parse(await readFile(store.file, 'utf8')).collections.expenses.records).toEqual([{ id: 1, ...lunch }]);
    } finally {
      await server.close();
    }
  });

  it.each(SERVERS)('holds the response too when middleware before it wrapped writeHead, write and end (compression style), on every request, and lets GETs through (%s)', async (_server, serve) => {
    const events: string[] = [];
    const fs = new GatedFs(events);
    const repo = await store.open(fs);
    const app = express();
    app.use((_req, res, next) => {
      // Own-property wrappers that call the methods they captured, as compression and on-headers do.
      // From the second request on, what they capture is what filekeep left on the app.
      for (const method of ['writeHead', 'write', 'end'] as const) {
        const original = res[method] as (...args: unknown[]) => unknown;
        (res as unknown as Record<string, unknown>)[method] = function (this: unknown, ...args: unknown[]) {
          events.push(`wrapped ${method}`);
          return original.apply(this, args);
        };
      }
      next();
    });
    app.use(express.json(), filekeep(repo));
    app.post('/expenses', queueAndAnswer(events));
    app.get('/expenses', (req, res) => {
      res.json(req.repo.collection('expenses').count());
    });
    const server = await serve(app);
    logSocketWrites(server.server, events);
    try {
      for (let round = 1; round <= 3; round++) {
        events.length = 0;
        const { before, body } = await postThroughGate(server.port, fs, events);
        expect(body).toEqual({ queued: true });
        expect(before).toEqual(['handler responded', 'fdatasync done', 'rename done', 'fsync done', 'wrapped end', 'wrapped writeHead']);
      }
      events.length = 0;
      await request(server.server).get('/expenses').expect(200, '3');
      expect(events.filter((e) => e.startsWith('wrapped'))).toEqual(['wrapped end', 'wrapped writeHead']);
    } finally {
      await server.close();
    }
  });

  it.each(SERVERS)('holds a response sent by a sub-app mounted after it, whose prototype Express swaps (%s)', async (_server, serve) => {
    const events: string[] = [];
    const fs = new GatedFs(events);
    const repo = await store.open(fs);
    const api = express();
    api.post('/expenses', queueAndAnswer(events));
    const app = express();
    app.use(express.json(), filekeep(repo));
    app.use('/api', api);
    const server = await serve(app);
    logSocketWrites(server.server, events);
    try {
      for (let round = 1; round <= 2; round++) {
        events.length = 0;
        const { before, body } = await postThroughGate(server.port, fs, events, '/api/expenses');
        expect(body).toEqual({ queued: true });
        expect(before).toEqual(['handler responded', 'fdatasync done', 'rename done', 'fsync done']);
      }
    } finally {
      await server.close();
    }
  });

  it('waits for its own changes only: a later commit failing does not turn its 201 into a 503', async () => {
    const fs = new GatedFs();
    const repo = await store.open(fs);
    const expenses = repo.collection('expenses');
    const respond = deferred();
    const app = createApp(repo, (a) =>
      a.post('/expenses', async (req, res) => {
        req.repo.collection('expenses').insert(lunch).catch(noop); // joins the first commit
        await respond.promise;
        res.status(201).json({ queued: true });
      }),
    );
    const server = await listen(app);
    const gate = fs.hold();
    try {
      const response = post(server.port, '/expenses');
      await gate.reached; // the request's commit is being written
      fs.fail({ call: 'rename', code: 'EIO', nth: 2 }); // the second commit (someone else's) fails
      const other = expenses.insert(taxi);
      respond.resolve();
      await new Promise((resolve) => setImmediate(resolve));
      gate.release();
      await expect(other).rejects.toMatchObject({ code: 'FK_WRITE_FAILED' });
      expect((await response).status).toBe(201);
      expect(expenses.list()).toEqual([{ id: 1, ...lunch }]);
    } finally {
      gate.release();
      await server.close();
    }
  });

  it('tracks resource() writes too: another commit failing does not turn its 201 into a 503', async () => {
    const fs = new GatedFs();
    const repo = await store.open(fs);
    const expenses = repo.collection('expenses');
    const app = createApp(repo, (a) => a.use('/expenses', resource(expenses)));
    const server = await listen(app);
    const gate = fs.hold();
    try {
      const response = post(server.port, '/expenses', JSON.stringify(lunch));
      await gate.reached; // the request's insert is being written
      fs.fail({ call: 'rename', code: 'EIO', nth: 2 }); // the next commit (not the request's) fails
      const other = expenses.insert(taxi);
      other.catch(noop);
      gate.release();
      await expect(other).rejects.toMatchObject({ code: 'FK_WRITE_FAILED' });
      const { status, body } = await response;
      expect(status).toBe(201);
      expect(JSON.parse(body)).toEqual({ id: 1, ...lunch });
    } finally {
      gate.release();
      await server.close();
    }
  });

  it('turns a 201 into a 503 problem when the flush fails', async () => {
    const fs = new FaultyFs().fail({ call: 'fdatasync', code: 'EIO' });
    const repo = await store.open(fs);
    const expenses = repo.collection('expenses');
    const log = jest.fn();
    const app = createApp(
      repo,
      (a) =>
        a.post('/expenses', (_req, res) => {
          expenses.insert(lunch).catch(noop);
          res.status(201).set('Location', '/expenses/1').json({ queued: true });
        }),
      log,
    );
    const res = await request(app).post('/expenses').expect(503);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.headers['location']).toBeUndefined();
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: expect.any(String),
      code: 'FK_WRITE_FAILED',
    });
    expect(JSON.stringify(res.body)).not.toContain(store.dir);
    expect(log).toHaveBeenCalledWith(expect.objectContaining({ code: 'FK_WRITE_FAILED' }), expect.anything());
    expect(expenses.count()).toBe(0);

    fs.heal();
    await request(app).post('/expenses').expect(201);
    expect(expenses.list()).toEqual([{ id: 1, ...lunch }]);
  });

  it('turns an explicit writeHead(201, headers) into a 503 without those headers', async () => {
    const fs = new FaultyFs().fail({ call: 'fdatasync' });
    const repo = await store.open(fs);
    const app = createApp(repo, (a) =>
      a.put('/raw', (_req, res) => {
        repo.collection('expenses').insert(taxi).catch(noop);
        res.writeHead(201, { 'X-Created': 'yes' });
        res.write('part one, ');
        res.end('part two');
      }),
    );
    const res = await request(app).put('/raw').expect(503);
    expect(res.headers['x-created']).toBeUndefined();
    expect(res.body.status).toBe(503);
  });

  it('sends an error response the handler chose as it was when the flush fails', async () => {
    const fs = new FaultyFs().fail({ call: 'fdatasync' });
    const repo = await store.open(fs);
    const app = createApp(repo, (a) =>
      a.delete('/expenses/:id', (_req, res) => {
        repo.collection('expenses').insert(lunch).catch(noop);
        res.status(409).json({ mine: true });
      }),
    );
    await request(app).delete('/expenses/1').expect(409, { mine: true });
  });

  it('replays a streamed body in order once the change is durable', async () => {
    const fs = new GatedFs();
    const repo = await store.open(fs);
    const app = createApp(repo, (a) =>
      a.patch('/stream', (_req, res) => {
        repo.collection('expenses').insert(lunch).catch(noop);
        res.setHeader('Content-Type', 'text/plain');
        expect(res.write('a')).toBe(false);
        res.write(Buffer.from('b'));
        res.end('c');
      }),
    );
    const gate = fs.hold();
    const response = request(app).patch('/stream');
    const done = response.then((r) => r);
    await gate.reached;
    gate.release();
    const res = await done;
    expect(res.status).toBe(200);
    expect(res.text).toBe('abc');
  });

  it('reports headersSent to the handler while the response is held', async () => {
    const fs = new GatedFs();
    const repo = await store.open(fs);
    const seen = deferred<boolean[]>();
    const app = createApp(repo, (a) =>
      a.post('/seen', (_req, res) => {
        repo.collection('expenses').insert(lunch).catch(noop);
        const before = res.headersSent;
        res.status(201).end();
        seen.resolve([before, res.headersSent]);
      }),
    );
    const gate = fs.hold();
    const response = request(app).post('/seen').then((r) => r.status);
    await gate.reached;
    expect(await seen.promise).toEqual([false, true]);
    gate.release();
    expect(await response).toBe(201);
  });

  it('does not delay GET while a write is in flight', async () => {
    const fs = new GatedFs();
    const repo = await store.open(fs);
    const expenses = repo.collection('expenses');
    const app = createApp(repo, (a) => {
      a.get('/expenses', (_req, res) => res.json(expenses.list()));
      a.post('/expenses', async (req, res) => res.status(201).json(await expenses.insert(req.body)));
    });
    const gate = fs.hold();
    const posted = request(app).post('/expenses').send(lunch).then((r) => r.status);
    await gate.reached;
    // The write is stuck in fdatasync; a read answers at once, with durable state only.
    await request(app).get('/expenses').expect(200, []);
    await request(app).head('/expenses').expect(200);
    gate.release();
    expect(await posted).toBe(201);
    await request(app).get('/expenses').expect(200, [{ id: 1, ...lunch }]);
  });
});
