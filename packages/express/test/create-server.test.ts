import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import express, { type Express } from 'express';
import { createServer, type AppServerOptions } from '@filekeep/express';
import { createApp, listen, listenOn, lunch, useRepository } from './helpers/setup';

const store = useRepository();

const serve = (app: Express, options?: AppServerOptions) => listenOn(createServer(app, options));

function send(port: number, method: string, path: string, options: { json?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers, ...(options.json === undefined ? {} : { 'content-type': 'application/json' }) };
    const req = http.request({ port, host: '127.0.0.1', path, method, agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.json === undefined ? undefined : JSON.stringify(options.json));
  });
}

/** The prototypes a request and its response have before the app sees them. */
function prototypesOnArrival(server: http.Server): Array<{ req: object | null; res: object | null }> {
  const seen: Array<{ req: object | null; res: object | null }> = [];
  server.prependListener('request', (req, res) => seen.push({ req: Object.getPrototypeOf(req) as object, res: Object.getPrototypeOf(res) as object }));
  return seen;
}

describe('createServer()', () => {
  it("creates each request and response with the app's own prototypes, which app.listen() does not", async () => {
    const app = express();
    app.get('/', (_req, res) => void res.json({ ok: true }));

    const ours = await serve(app);
    const plain = await listen(app);
    try {
      const oursSeen = prototypesOnArrival(ours.server);
      const plainSeen = prototypesOnArrival(plain.server);
      expect(await send(ours.port, 'GET', '/')).toEqual({ status: 200, body: '{"ok":true}' });
      expect(await send(plain.port, 'GET', '/')).toEqual({ status: 200, body: '{"ok":true}' });

      expect(oursSeen).toEqual([{ req: app.request, res: app.response }]);
      expect(plainSeen).toEqual([{ req: http.IncomingMessage.prototype, res: http.ServerResponse.prototype }]);
    } finally {
      await ours.close();
      await plain.close();
    }
  });

  it('serves a filekeep app: the insert is durable and the response carries it', async () => {
    const repo = await store.open();
    const app = createApp(repo, (a) => {
      a.post('/expenses', async (req, res) => void res.status(201).json(await req.repo.collection('expenses').insert(req.body)));
    });
    const { port, close } = await serve(app);
    try {
      const res = await send(port, 'POST', '/expenses', { json: lunch });
      expect(res.status).toBe(201);
      expect(JSON.parse(res.body)).toMatchObject({ ...lunch, id: 1 });
      expect(JSON.parse(await readFile(store.file, 'utf8'))).toMatchObject({ collections: { expenses: { records: [{ ...lunch, id: 1 }] } } });
    } finally {
      await close();
    }
  });

  it("still moves a request into a mounted sub-app's own prototypes", async () => {
    const sub = express();
    Object.defineProperty(sub.request, 'fromSubApp', { value: 'yes' });
    sub.get('/', (req, res) => void res.json({ fromSubApp: (req as unknown as { fromSubApp?: string }).fromSubApp ?? 'no' }));
    const app = express();
    app.use('/sub', sub);
    app.get('/', (req, res) => void res.json({ fromSubApp: (req as unknown as { fromSubApp?: string }).fromSubApp ?? 'no' }));
    const { port, close } = await serve(app);
    try {
      expect(JSON.parse((await send(port, 'GET', '/sub')).body)).toEqual({ fromSubApp: 'yes' });
      expect(JSON.parse((await send(port, 'GET', '/')).body)).toEqual({ fromSubApp: 'no' });
    } finally {
      await close();
    }
  });

  it("serves a bare request listener with Node's own request and response", async () => {
    const seen: string[] = [];
    const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
      seen.push(Object.getPrototypeOf(req) === http.IncomingMessage.prototype && Object.getPrototypeOf(res) === http.ServerResponse.prototype ? 'node' : 'other');
      res.end('plain');
    };
    const { port, close } = await serve(listener as unknown as Express);
    try {
      expect(await send(port, 'GET', '/')).toEqual({ status: 200, body: 'plain' });
      expect(seen).toEqual(['node']);
    } finally {
      await close();
    }
  });

  it("passes the server options through to Node's server", async () => {
    const app = express();
    app.get('/', (_req, res) => void res.json({ ok: true }));
    const { port, close } = await serve(app, { maxHeaderSize: 1024 });
    try {
      expect((await send(port, 'GET', '/', { headers: { 'x-big': 'a'.repeat(2000) } })).status).toBe(431);
      expect((await send(port, 'GET', '/')).status).toBe(200);
    } finally {
      await close();
    }
  });
});
