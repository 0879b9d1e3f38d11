import { readFile } from 'node:fs/promises';
import request from 'supertest';
import { resource } from '@filekeep/express';
import { createApp, expenseSchema, lunch, taxi, useRepository, type Expense, type ExpenseRepository } from './helpers/setup';

const store = useRepository();

function expensesApp(repo: ExpenseRepository) {
  return createApp(repo, (app) => app.use('/expenses', resource(repo.collection('expenses'), { schema: expenseSchema })));
}

async function seeded(records: Expense[]) {
  const repo = await store.open();
  for (const record of records) await repo.collection('expenses').insert(record);
  return { repo, app: expensesApp(repo) };
}

const coffee: Expense = { description: 'Coffee', amount: 3.2, category: 'food', paid: true };
const bus: Expense = { description: 'Bus', amount: 2.9, category: 'transport', paid: false };

describe('resource()', () => {
  describe('POST /', () => {
    it('answers 201 with the record, Location and ETag, once it is in the file', async () => {
      const { app } = await seeded([]);
      const res = await request(app).post('/expenses').send(lunch).expect(201);
      expect(res.body).toEqual({ id: 1, ...lunch });
      expect(res.headers['location']).toBe('/expenses/1');
      expect(res.headers['etag']).toMatch(/^"[^"]+"$/);
      expect(JSON.parse(await readFile(store.file, 'utf8')).collections.expenses.records).toEqual([{ id: 1, ...lunch }]);
      const got = await request(app).get('/expenses/1').expect(200, { id: 1, ...lunch });
      expect(got.headers['etag']).toBe(res.headers['etag']);
    });

    it('answers a body that fails the schema with a 422 and stores nothing', async () => {
      const { app, repo } = await seeded([]);
      const res = await request(app).post('/expenses').send({ description: 'x', amount: 0, category: 'food', id: 9 });
      expect(res.status).toBe(422);
      expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: expect.stringMatching(/^\/(amount|id)$/) })]));
      expect(repo.collection('expenses').count()).toBe(0);
    });

    it('answers a JSON body that is not an object with a 422', async () => {
      const { app } = await seeded([]);
      const res = await request(app).post('/expenses').send([lunch]);
      expect(res.status).toBe(422);
      expect(res.body.errors).toEqual([{ in: 'body', path: '', message: 'must be a JSON object' }]);
    });

    it('stores a __proto__ member as plain data or rejects it, never polluting Object.prototype', async () => {
      const { app } = await seeded([]);
      const res = await request(app).post('/expenses').set('Content-Type', 'application/json').send('{"description":"x","amount":1,"category":"food","__proto__":{"polluted":true}}');
      expect(res.status).toBe(422);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    });
  });

  describe('GET /', () => {
    it('lists records in id order with X-Total-Count', async () => {
      const { app } = await seeded([lunch, taxi, coffee]);
      const res = await request(app).get('/expenses').expect(200);
      expect(res.body.map((r: { id: number }) => r.id)).toEqual([1, 2, 3]);
      expect(res.headers['x-total-count']).toBe('3');
    });

    it('filters by field equality, coercing each value to the field type', async () => {
      const { app } = await seeded([lunch, taxi, coffee, bus]);
      const ids = async (query: string) => (await request(app).get(`/expenses?${query}`).expect(200)).body.map((r: { id: number }) => r.id);
      expect(await ids('category=food')).toEqual([1, 3]);
      expect(await ids('amount=23')).toEqual([2]);
      expect(await ids('amount=12.50')).toEqual([1]);
      expect(await ids('paid=true')).toEqual([2, 3]);
      expect(await ids('paid=false')).toEqual([4]);
      expect(await ids('category=food&paid=true')).toEqual([3]);
      expect(await ids('category=food&category=transport&paid=true')).toEqual([2, 3]);
      expect(await ids('id=2&id=4')).toEqual([2, 4]);
      expect(await ids('category=rent')).toEqual([]);
    });

    it('answers an unknown field or a value of the wrong type with a 422', async () => {
      const { app } = await seeded([lunch]);
      const res = await request(app).get('/expenses?colour=red&amount=lots&paid=yes&_page=2');
      expect(res.status).toBe(422);
      expect(res.body.errors).toEqual([
        { in: 'query', path: '/colour', message: 'is not a field of this collection' },
        { in: 'query', path: '/amount', message: 'must be number' },
        { in: 'query', path: '/paid', message: 'must be boolean' },
        { in: 'query', path: '/_page', message: 'is not a known query parameter' },
      ]);
    });

    it('sorts with _sort and _order', async () => {
      const { app } = await seeded([lunch, taxi, coffee, bus]);
      const amounts = async (query: string) => (await request(app).get(`/expenses?${query}`).expect(200)).body.map((r: Expense) => r.amount);
      expect(await amounts('_sort=amount')).toEqual([2.9, 3.2, 12.5, 23]);
      expect(await amounts('_sort=amount&_order=desc')).toEqual([23, 12.5, 3.2, 2.9]);
      expect(await amounts('_order=desc')).toEqual([2.9, 3.2, 23, 12.5]);
      const res = await request(app).get('/expenses?_sort=colour&_order=up');
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['/_sort', '/_order']);
    });

    it('pages with _limit and _offset; X-Total-Count counts every match', async () => {
      const { app } = await seeded([lunch, taxi, coffee, bus]);
      const res = await request(app).get('/expenses?category=food&category=transport&_sort=amount&_limit=2&_offset=1').expect(200);
      expect(res.body.map((r: Expense) => r.description)).toEqual(['Coffee', 'Lunch']);
      expect(res.headers['x-total-count']).toBe('4');
      const bad = await request(app).get('/expenses?_limit=-1&_offset=1.5');
      expect(bad.status).toBe(422);
      expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['/_limit', '/_offset']);
    });
  });

  describe('GET /:id', () => {
    it('answers 304 to a matching If-None-Match', async () => {
      const { app } = await seeded([lunch]);
      const { headers } = await request(app).get('/expenses/1').expect(200);
      await request(app).get('/expenses/1').set('If-None-Match', headers['etag']!).expect(304);
    });

    it.each(['2', 'abc', '__proto__', 'constructor', '..%2F..%2Fetc%2Fpasswd', '01', '1.0', '%00'])('answers %s with a 404 problem', async (id) => {
      const { app } = await seeded([lunch]);
      const res = await request(app).get(`/expenses/${id}`);
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    });
  });

  describe('PUT /:id', () => {
    it('replaces the data, accepting the record as GET returned it', async () => {
      const { app } = await seeded([lunch]);
      const { body } = await request(app).get('/expenses/1');
      const res = await request(app).put('/expenses/1').send({ ...body, amount: 14, note: 'with dessert' }).expect(200);
      expect(res.body).toEqual({ ...lunch, id: 1, amount: 14, note: 'with dessert' });
      const replaced = await request(app).put('/expenses/1').send(taxi).expect(200);
      expect(replaced.body).toEqual({ id: 1, ...taxi });
    });

    it('answers a different id in the body with a 422, a missing record with a 404', async () => {
      const { app } = await seeded([lunch]);
      expect((await request(app).put('/expenses/1').send({ ...taxi, id: 2 })).status).toBe(422);
      expect((await request(app).put('/expenses/7').send(taxi)).status).toBe(404);
    });

    it('answers a merge patch media type with a 415', async () => {
      const { app } = await seeded([lunch]);
      await request(app).put('/expenses/1').set('Content-Type', 'application/merge-patch+json').send(JSON.stringify(taxi)).expect(415);
    });
  });

  describe('PATCH /:id', () => {
    it('applies a JSON merge patch: null removes a field', async () => {
      const { app } = await seeded([{ ...lunch, note: 'team' }]);
      const res = await request(app).patch('/expenses/1').send({ amount: 13, note: null }).expect(200);
      expect(res.body).toEqual({ id: 1, ...lunch, amount: 13 });
      expect(res.headers['etag']).toMatch(/^"/);
    });

    it('accepts application/merge-patch+json', async () => {
      const { app } = await seeded([lunch]);
      const res = await request(app).patch('/expenses/1').set('Content-Type', 'application/merge-patch+json').send('{"paid":true}').expect(200);
      expect(res.body).toEqual({ id: 1, ...lunch, paid: true });
    });

    it('answers a patch whose result fails the schema with a 422 and leaves the record', async () => {
      const { app, repo } = await seeded([lunch]);
      const res = await request(app).patch('/expenses/1').send({ category: 'rent', description: null });
      expect(res.status).toBe(422);
      expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['/category', '/description']);
      expect(repo.collection('expenses').get(1)).toEqual({ id: 1, ...lunch });
    });

    it('answers a missing record with a 404', async () => {
      const { app } = await seeded([]);
      await request(app).patch('/expenses/1').send({ amount: 1 }).expect(404);
    });
  });

  describe('DELETE /:id', () => {
    it('answers 200 with the removed record; the id is gone and never reused', async () => {
      const { app } = await seeded([lunch, taxi]);
      await request(app).delete('/expenses/2').expect(200, { id: 2, ...taxi });
      await request(app).get('/expenses/2').expect(404);
      await request(app).delete('/expenses/2').expect(404);
      expect((await request(app).post('/expenses').send(coffee)).body.id).toBe(3);
    });
  });

  describe('If-Match', () => {
    it('applies a write whose If-Match is the current ETag', async () => {
      const { app } = await seeded([lunch]);
      const { headers } = await request(app).get('/expenses/1');
      const res = await request(app).patch('/expenses/1').set('If-Match', headers['etag']!).send({ amount: 20 }).expect(200);
      expect(res.headers['etag']).not.toBe(headers['etag']);
      await request(app).put('/expenses/1').set('If-Match', `"nope", ${res.headers['etag']}`).send(taxi).expect(200);
    });

    it('answers a stale ETag with a 412 and leaves the record', async () => {
      const { app, repo } = await seeded([lunch]);
      const stale = (await request(app).get('/expenses/1')).headers['etag']!;
      await request(app).patch('/expenses/1').send({ amount: 20 }).expect(200);
      for (const write of [
        request(app).patch('/expenses/1').send({ amount: 99 }),
        request(app).put('/expenses/1').send(taxi),
        request(app).delete('/expenses/1'),
      ]) {
        const res = await write.set('If-Match', stale);
        expect(res.status).toBe(412);
        expect(res.body.code).toBe('FK_PRECONDITION_FAILED');
      }
      expect(repo.collection('expenses').get(1)).toEqual({ id: 1, ...lunch, amount: 20 });
    });

    it('never matches a weak ETag', async () => {
      const { app } = await seeded([lunch]);
      const etag = (await request(app).get('/expenses/1')).headers['etag']!;
      await request(app).delete('/expenses/1').set('If-Match', `W/${etag}`).expect(412);
    });

    it('matches * for an existing record; a missing record stays a 404', async () => {
      const { app } = await seeded([lunch]);
      await request(app).patch('/expenses/1').set('If-Match', '*').send({ amount: 1 }).expect(200);
      await request(app).patch('/expenses/2').set('If-Match', '*').send({ amount: 1 }).expect(404);
    });

    it('lets exactly one of two concurrent writes with the same If-Match through', async () => {
      const { app, repo } = await seeded([lunch]);
      const etag = (await request(app).get('/expenses/1')).headers['etag']!;
      const statuses = await Promise.all(
        [30, 40].map((amount) => request(app).patch('/expenses/1').set('If-Match', etag).send({ amount }).then((r) => r.status)),
      );
      expect(statuses.sort()).toEqual([200, 412]);
      expect([30, 40]).toContain(repo.collection('expenses').get(1)?.amount);
    });
  });
});
