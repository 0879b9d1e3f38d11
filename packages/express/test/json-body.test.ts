import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { jsonBody, problemDetails } from '@filekeep/express';

function app() {
  const a = express();
  a.post('/', jsonBody({ limit: '1kb' }), (req, res) => res.json(req.body));
  a.use(problemDetails({ log: () => undefined }));
  return a;
}

describe('jsonBody()', () => {
  it('parses a UTF-8 JSON body', async () => {
    await request(app()).post('/').set('content-type', 'application/json').send('{"name":"café ☕"}').expect(200, { name: 'café ☕' });
  });

  it('refuses bytes that are not UTF-8 with a 400 problem instead of storing U+FFFD', async () => {
    const body = Buffer.concat([Buffer.from('{"name":"caf'), Buffer.from([0xe9, 0xff]), Buffer.from('"}')]);
    // Raw bytes over a real socket: superagent would JSON-encode a Buffer.
    const server = app().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(((await res.json()) as { detail: string }).detail).toBe('The request body is not valid UTF-8');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('keeps the limit: a larger body is a 413', async () => {
    const res = await request(app()).post('/').set('content-type', 'application/json').send(JSON.stringify({ x: 'y'.repeat(2000) }));
    expect(res.status).toBe(413);
  });
});
