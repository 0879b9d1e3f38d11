import express, { type RequestHandler } from 'express';
import request from 'supertest';
import { compileSchema, problemDetails, validate } from '@filekeep/express';
import { expenseSchema } from './helpers/setup';

const dated = {
  type: 'object',
  properties: { description: { type: 'string', minLength: 1 }, date: { type: 'string', format: 'date' } },
  required: ['description'],
  additionalProperties: false,
} as const;

const listQuery = {
  type: 'object',
  properties: { limit: { type: 'integer', minimum: 1, default: 20 }, tag: { type: 'array', items: { type: 'string' } } },
  additionalProperties: false,
} as const;

function app(path: string, guard: RequestHandler) {
  const a = express();
  a.use(express.json());
  a.all(path, guard, (req, res) => res.json({ body: req.body, query: req.query, params: req.params }));
  a.use(problemDetails());
  return a;
}

describe('validate()', () => {
  it('passes a valid body through untouched', async () => {
    const body = { description: 'Lunch', amount: 12.5, category: 'food' };
    await request(app('/e', validate({ body: expenseSchema }))).post('/e').send(body).expect(200, { body, query: {}, params: {} });
  });

  it('answers every failing field at once with a 422', async () => {
    const res = await request(app('/e', validate({ body: expenseSchema }))).post('/e').send({ description: '', amount: '12', category: 'rent' });
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.body.code).toBe('FK_VALIDATION_FAILED');
    expect(res.body.errors).toEqual([
      { in: 'body', path: '/description', message: 'must NOT have fewer than 1 characters' },
      { in: 'body', path: '/amount', message: 'must be number' },
      { in: 'body', path: '/category', message: 'must be equal to one of the allowed values' },
    ]);
  });

  it('honours additionalProperties: false, naming each unknown field (__proto__ too)', async () => {
    const res = await request(app('/e', validate({ body: dated })))
      .post('/e')
      .set('Content-Type', 'application/json')
      .send('{"description":"x","__proto__":{"admin":true},"colour":"red"}');
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([
      { in: 'body', path: '/__proto__', message: 'must NOT have additional properties' },
      { in: 'body', path: '/colour', message: 'must NOT have additional properties' },
    ]);
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
  });

  it('checks formats with ajv-formats: 2026-02-30 is not a date', async () => {
    const guarded = app('/e', validate({ body: dated }));
    await request(guarded).post('/e').send({ description: 'x', date: '2024-02-29' }).expect(200);
    const res = await request(guarded).post('/e').send({ description: 'x', date: '2026-02-30' });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ in: 'body', path: '/date', message: 'must match format "date"' }]);
  });

  it('coerces the query string to the schema and applies defaults', async () => {
    const guarded = app('/q', validate({ query: listQuery }));
    await request(guarded).get('/q?limit=5&tag=a').expect(200).expect((res) => expect(res.body.query).toEqual({ limit: 5, tag: ['a'] }));
    await request(guarded).get('/q').expect(200).expect((res) => expect(res.body.query).toEqual({ limit: 20 }));
    const res = await request(guarded).get('/q?limit=zero&sort=x');
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([
      { in: 'query', path: '/sort', message: 'must NOT have additional properties' },
      { in: 'query', path: '/limit', message: 'must be integer' },
    ]);
  });

  it('coerces route params', async () => {
    const guarded = app('/items/:id', validate({ params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'] } }));
    await request(guarded).get('/items/12').expect(200).expect((res) => expect(res.body.params).toEqual({ id: 12 }));
    const res = await request(guarded).get('/items/abc');
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ in: 'params', path: '/id', message: 'must be integer' }]);
  });

  it('reports params, query and body failures together', async () => {
    const guarded = app('/items/:id', validate({ params: { type: 'object', properties: { id: { type: 'integer' } } }, query: listQuery, body: dated }));
    const res = await request(guarded).post('/items/x?limit=0').send({});
    expect(res.body.detail).toBe('Invalid request params and query and body');
    expect(res.body.errors.map((e: { in: string }) => e.in)).toEqual(['params', 'query', 'body']);
  });

  it('compiles each schema once', () => {
    expect(compileSchema(dated)).toBe(compileSchema(dated));
    expect(compileSchema(dated, true)).not.toBe(compileSchema(dated));
  });

  it('rejects a schema with an unknown keyword when the route is defined (strict mode)', () => {
    expect(() => validate({ body: { type: 'object', properties: {}, requried: ['x'] } })).toThrow(/unknown keyword: "requried"/);
  });
});
