import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import express from 'express';
import request from 'supertest';
import { ERROR_CODES, FaultyFs, LockedError, NotFoundError } from '@filekeep/core';
import { PreconditionFailedError, problemDetails, resource, STATUS_BY_CODE, notFound } from '@filekeep/express';
import { createApp, expenseSchema, lunch, useRepository } from './helpers/setup';

const store = useRepository();
const PROBLEM_JSON = 'application/problem+json; charset=utf-8';

/** An app whose one route throws `error` (after `express.json()` parsed the body). */
function throwing(error: unknown, log: (error: unknown) => void = () => undefined) {
  const app = express();
  app.use(express.json({ limit: 64 }));
  app.all('/boom', () => {
    throw error;
  });
  app.post('/echo', (req, res) => res.json(req.body));
  app.use(problemDetails({ log }));
  return app;
}

function expectProblem(res: request.Response, status: number): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe(PROBLEM_JSON);
  expect(res.body).toMatchObject({ type: 'about:blank', status, title: expect.any(String), detail: expect.any(String) });
  expect(res.text).not.toMatch(/<html|\bat .+:\d+:\d+/i);
}

describe('problemDetails()', () => {
  it('answers malformed JSON with a 400', async () => {
    const res = await request(throwing(null)).post('/echo').set('Content-Type', 'application/json').send('{"amount": ');
    expectProblem(res, 400);
    expect(res.body.title).toBe('Bad Request');
    expect(res.body.detail).toMatch(/^The request body is not valid JSON/);
  });

  it('answers a repository ValidationError with a 422 listing each failing field', async () => {
    const repo = await store.open();
    const app = createApp(repo, (a) => a.post('/expenses', async (req, res) => res.status(201).json(await repo.collection('expenses').insert(req.body))));
    const res = await request(app).post('/expenses').send({ amount: -1, category: 'food', extra: 1 });
    expectProblem(res, 422);
    expect(res.body.code).toBe('FK_VALIDATION_FAILED');
    expect(res.body.errors).toEqual(
      expect.arrayContaining([
        { path: '/description', message: "must have required property 'description'" },
        { path: '/amount', message: 'must be > 0' },
        { path: '/extra', message: 'must NOT have additional properties' },
      ]),
    );
    expect(res.body.errors).toHaveLength(3);
  });

  it('answers NotFoundError with a 404', async () => {
    const res = await request(throwing(new NotFoundError('expenses', 7))).get('/boom');
    expectProblem(res, 404);
    expect(res.body).toMatchObject({ code: 'FK_NOT_FOUND', detail: 'No record with id 7 in expenses' });
  });

  it('answers ConflictError (a duplicate id) with a 409', async () => {
    const repo = await store.open();
    await repo.collection('expenses').insert(lunch, { id: 5 });
    const app = createApp(repo, (a) => a.post('/again', async (_req, res) => res.json(await repo.collection('expenses').insert(lunch, { id: 5 }))));
    const res = await request(app).post('/again');
    expectProblem(res, 409);
    expect(res.body.code).toBe('FK_CONFLICT');
  });

  it('answers a failed If-Match with a 412', async () => {
    const res = await request(throwing(new PreconditionFailedError())).put('/boom');
    expectProblem(res, 412);
    expect(res.body.code).toBe('FK_PRECONDITION_FAILED');
  });

  it('answers a body over the limit with a 413', async () => {
    const res = await request(throwing(null)).post('/echo').send({ description: 'x'.repeat(100) });
    expectProblem(res, 413);
  });

  it('answers an unsupported media type with a 415', async () => {
    const repo = await store.open();
    const app = createApp(repo, (a) => a.use('/expenses', resource(repo.collection('expenses'), { schema: expenseSchema })));
    const res = await request(app).post('/expenses').set('Content-Type', 'text/plain').send('Lunch, 12.50');
    expectProblem(res, 415);
    expect(res.body.accept).toEqual(['application/json']);
  });

  it('answers an unsupported charset with a 415', async () => {
    const res = await request(throwing(null)).post('/echo').set('Content-Type', 'application/json; charset=latin1').send('{}');
    expectProblem(res, 415);
  });

  it('answers an ajv ValidationError (async validation) with a 422', async () => {
    const error = new Ajv.ValidationError([{ instancePath: '', keyword: 'required', params: { missingProperty: 'amount' }, message: "must have required property 'amount'", schemaPath: '#/required' }]);
    const res = await request(throwing(error)).post('/boom');
    expectProblem(res, 422);
    expect(res.body.errors).toEqual([{ path: '/amount', message: "must have required property 'amount'" }]);
  });

  it('answers a failed write with a 503 and logs it', async () => {
    const fs = new FaultyFs().fail({ call: 'rename', code: 'ENOSPC' });
    const repo = await store.open(fs);
    const log = jest.fn();
    const app = createApp(repo, (a) => a.post('/expenses', async (req, res) => res.status(201).json(await repo.collection('expenses').insert(req.body))), log);
    const res = await request(app).post('/expenses').send(lunch);
    expectProblem(res, 503);
    expect(res.body.code).toBe('FK_WRITE_FAILED');
    expect(res.text).not.toContain(store.dir);
    expect(res.text).not.toContain('ENOSPC');
    expect(log).toHaveBeenCalledWith(expect.objectContaining({ code: 'FK_WRITE_FAILED' }), expect.anything());
  });

  it('answers a closed repository with a 503', async () => {
    const repo = await store.open();
    const app = createApp(repo, (a) => a.post('/expenses', async (req, res) => res.status(201).json(await repo.collection('expenses').insert(req.body))));
    await repo.close();
    const res = await request(app).post('/expenses').send(lunch);
    expectProblem(res, 503);
    expect(res.body.code).toBe('FK_CLOSED');
  });

  it('answers a locked data file with a 503 that does not name the lock', async () => {
    const res = await request(throwing(new LockedError('/srv/data/app.json.lock', { pid: 42 }))).get('/boom');
    expectProblem(res, 503);
    expect(res.body.code).toBe('FK_LOCKED');
    expect(res.text).not.toContain('/srv/data');
  });

  it('answers anything else with a generic 500 and logs the detail', async () => {
    const log = jest.fn();
    const secret = new Error('password=hunter2 at /srv/app.js:12:3');
    const res = await request(throwing(secret, log)).get('/boom');
    expectProblem(res, 500);
    expect(res.body).toEqual({ type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'An unexpected error occurred.' });
    expect(log).toHaveBeenCalledWith(secret, expect.anything());
  });

  it('answers a thrown non-error with a 500', async () => {
    expectProblem(await request(throwing('just a string')).get('/boom'), 500);
  });

  it('drops headers set for the success response but keeps CORS headers', async () => {
    const app = express();
    app.get('/half', (_req, res) => {
      res.set({ ETag: '"abc"', Location: '/x/1', 'Access-Control-Allow-Origin': '*' });
      throw new NotFoundError('x', 1);
    });
    app.use(problemDetails());
    const res = await request(app).get('/half');
    expectProblem(res, 404);
    expect(res.headers['etag']).toBeUndefined();
    expect(res.headers['location']).toBeUndefined();
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });

  it('has a status for every error code, and a README row for each', () => {
    const readme = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    for (const code of ERROR_CODES) {
      expect(STATUS_BY_CODE[code]).toEqual(expect.any(Number));
      expect(readme).toMatch(new RegExp(`\\| \`${code}\` +\\| ${STATUS_BY_CODE[code]} `));
    }
  });
});

describe('notFound()', () => {
  it('answers an unmatched route with a JSON 404', async () => {
    const app = express();
    app.use(notFound());
    app.use(problemDetails());
    const res = await request(app).get('/nothing/here');
    expectProblem(res, 404);
    expect(res.body.detail).toBe('No route for GET /nothing/here');
  });
});
