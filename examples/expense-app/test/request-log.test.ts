import { Writable } from 'node:stream';
import express from 'express';
import { pino } from 'pino';
import request from 'supertest';
import { requestLog } from '../src/request-log';

/** A pino logger whose lines land in `lines`, parsed. */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

describe('requestLog()', () => {
  it('logs one line per completed request with method, url, status and duration', async () => {
    const { lines, logger } = capture();
    const app = express().use(requestLog(logger));
    app.post('/things', (_req, res) => void res.status(201).json({ ok: true }));
    await request(app).post('/things?x=1').send({}).expect(201);
    await request(app).get('/missing').expect(404);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map(({ level, msg, method, url, statusCode }) => ({ level, msg, method, url, statusCode }))).toEqual([
      { level: 30, msg: 'request completed', method: 'POST', url: '/things?x=1', statusCode: 201 },
      { level: 30, msg: 'request completed', method: 'GET', url: '/missing', statusCode: 404 },
    ]);
    expect(typeof lines[0]!['responseTime']).toBe('number');
  });

  it('logs a request whose client went away before the response at warn', async () => {
    const { lines, logger } = capture();
    const app = express().use(requestLog(logger));
    let abort: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => {
      app.get('/slow', (req, res) => {
        req.socket.on('close', () => setTimeout(() => { res.end(); resolve(); }, 10));
        abort();
      });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as { port: number };
    const controller = new AbortController();
    abort = () => controller.abort();
    await fetch(`http://127.0.0.1:${port}/slow`, { signal: controller.signal }).catch(() => undefined);
    await answered;
    await new Promise((resolve) => server.close(resolve));
    expect(lines).toEqual([expect.objectContaining({ level: 40, msg: 'request aborted', method: 'GET', url: '/slow' })]);
  });
});
