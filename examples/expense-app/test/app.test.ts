import { readFile } from 'node:fs/promises';
import { lunch, useApp } from './helpers';

const ctx = useApp();
const PROBLEM = /application\/problem\+json/;

async function post(body: unknown) {
  return ctx.http.post('/expenses').send(body as object);
}

describe('expense app', () => {
  describe('POST /expenses', () => {
    it('creates an expense: 201, the record, a Location, and it is in the file', async () => {
      const res = await post({ ...lunch, date: '2026-11-22' });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ id: 1, ...lunch, date: '2026-11-22' });
      expect(res.headers['location']).toBe('/expenses/1');
      const doc = JSON.parse(await readFile(ctx.dataFile, 'utf8'));
      expect(doc.collections.expenses.records).toEqual([{ id: 1, ...lunch, date: '2026-11-22' }]);
    });

    const invalid: Array<[string, Record<string, unknown>, string]> = [
      ['an empty description', { ...lunch, description: '' }, '/description'],
      ['a description over 500 characters', { ...lunch, description: 'x'.repeat(501) }, '/description'],
      ['a zero amount', { ...lunch, amount: 0 }, '/amount'],
      ['a negative amount', { ...lunch, amount: -3 }, '/amount'],
      ['an amount that is a string', { ...lunch, amount: '12' }, '/amount'],
      ['an amount with fractions of a cent', { ...lunch, amount: 1.005 }, '/amount'],
      ['an unknown category', { ...lunch, category: 'rent' }, '/category'],
      ['a date that is not YYYY-MM-DD', { ...lunch, date: '22/11/2026' }, '/date'],
      ['a date that is not on the calendar', { ...lunch, date: '2026-02-30' }, '/date'],
      ['an unknown field', { ...lunch, note: 'x' }, ''],
      ['an id in the body', { ...lunch, id: 7 }, ''],
      ['a missing category', { description: 'x', amount: 1 }, ''],
    ];
    for (const [what, body, field] of invalid) {
      it(`refuses ${what} with 422 naming the field`, async () => {
        const res = await post(body);
        expect(res.status).toBe(422);
        expect(res.headers['content-type']).toMatch(PROBLEM);
        expect(res.body.status).toBe(422);
        expect(Array.isArray(res.body.errors)).toBe(true);
        if (field) expect(JSON.stringify(res.body.errors)).toContain(field.slice(1));
        expect(ctx.repo.collection('expenses').count()).toBe(0);
      });
    }

    it('accepts 0.1 and 0.2 (whole cents) and a leap day', async () => {
      expect((await post({ ...lunch, amount: 0.29, date: '2028-02-29' })).status).toBe(201);
    });

    it('answers malformed JSON with a 400 problem', async () => {
      const res = await ctx.http.post('/expenses').set('content-type', 'application/json').send('{"description": ');
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(PROBLEM);
    });

    it('answers a body over 1 MiB with a 413 problem', async () => {
      const res = await post({ ...lunch, description: 'x'.repeat(1024 * 1024 + 10) });
      expect(res.status).toBe(413);
      expect(res.headers['content-type']).toMatch(PROBLEM);
    });
  });

  describe('GET /expenses', () => {
    it('lists every expense in id order, and filters by category', async () => {
      await post({ ...lunch, description: 'a' });
      await post({ ...lunch, description: 'b', category: 'transport' });
      await post({ ...lunch, description: 'c' });
      const all = await ctx.http.get('/expenses');
      expect(all.status).toBe(200);
      expect(all.body.map((e: { id: number }) => e.id)).toEqual([1, 2, 3]);
      const food = await ctx.http.get('/expenses?category=food');
      expect(food.body.map((e: { description: string }) => e.description)).toEqual(['a', 'c']);
    });
  });

  describe('GET /expenses/:id', () => {
    it('returns the expense or a 404 problem', async () => {
      await post(lunch);
      expect((await ctx.http.get('/expenses/1')).body).toEqual({ id: 1, ...lunch });
      const missing = await ctx.http.get('/expenses/2');
      expect(missing.status).toBe(404);
      expect(missing.headers['content-type']).toMatch(PROBLEM);
    });

    for (const id of ['abc', '__proto__', 'constructor', '-1', '1e309', '0', '1.5', '%2e%2e%2f%2e%2e%2fetc%2fpasswd']) {
      it(`answers the id ${id} with a 404 or 422 problem, never a 500`, async () => {
        await post(lunch);
        const res = await ctx.http.get(`/expenses/${id}`);
        expect([404, 422]).toContain(res.status);
        expect(res.headers['content-type']).toMatch(PROBLEM);
      });
    }
  });

  describe('PATCH /expenses/:id', () => {
    it('updates the given fields and returns the record', async () => {
      await post({ ...lunch, date: '2026-01-01' });
      const res = await ctx.http.patch('/expenses/1').send({ amount: 20 });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: 1, ...lunch, amount: 20, date: '2026-01-01' });
      expect(ctx.repo.collection('expenses').get(1)?.amount).toBe(20);
    });

    it('refuses an invalid change with 422 and keeps the record', async () => {
      await post(lunch);
      const res = await ctx.http.patch('/expenses/1').send({ category: 'rent' });
      expect(res.status).toBe(422);
      expect(ctx.repo.collection('expenses').get(1)).toEqual({ id: 1, ...lunch });
    });

    it('answers an unknown id with 404', async () => {
      expect((await ctx.http.patch('/expenses/9').send({ amount: 1 })).status).toBe(404);
    });
  });

  describe('DELETE /expenses/:id', () => {
    it('returns the deleted record, and the deletion is in the file', async () => {
      await post(lunch);
      const res = await ctx.http.delete('/expenses/1');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: 1, ...lunch });
      const doc = JSON.parse(await readFile(ctx.dataFile, 'utf8'));
      expect(doc.collections.expenses.records).toEqual([]);
      expect((await ctx.http.delete('/expenses/1')).status).toBe(404);
    });
  });

  describe('GET /summary', () => {
    it('totals every category exactly to the cent', async () => {
      await post({ ...lunch, amount: 0.1 });
      await post({ ...lunch, amount: 0.2 });
      await post({ ...lunch, amount: 5, category: 'utilities' });
      const res = await ctx.http.get('/summary');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ food: 0.3, transport: 0, entertainment: 0, utilities: 5, other: 0 });
    });
  });

  describe('persistence', () => {
    it('keeps every record across a restart and never reuses an id after delete', async () => {
      await post(lunch);
      await post(lunch);
      await ctx.http.delete('/expenses/2');
      await ctx.restart();
      expect((await ctx.http.get('/expenses')).body).toEqual([{ id: 1, ...lunch }]);
      expect((await post(lunch)).body.id).toBe(3);
    });
  });

  describe('hostile bodies', () => {
    it('never pollutes Object.prototype and stores nothing from a __proto__ body', async () => {
      const res = await ctx.http
        .post('/expenses')
        .set('content-type', 'application/json')
        .send('{"description":"x","amount":1,"category":"food","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}');
      expect(res.status).toBe(422);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(ctx.repo.collection('expenses').count()).toBe(0);
    });

    it('answers unknown routes with a 404 problem', async () => {
      const res = await ctx.http.get('/nope');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(PROBLEM);
    });
  });
});
