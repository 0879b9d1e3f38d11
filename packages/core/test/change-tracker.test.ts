import { ChangeTracker, FaultyFs, FileRepository, trackChanges } from '@filekeep/core';
import { looseSchema } from './helpers/expense-schema';
import { useTempDir } from './helpers/temp-dir';

const tmp = useTempDir();

describe('.tracked()', () => {
  it('records the commits of changes made through the view only, and the view reads like the collection', async () => {
    const repo = await FileRepository.open({ file: tmp.file('db.json'), collections: { notes: { schema: looseSchema } } });
    const tracker = new ChangeTracker();
    const view = repo.tracked(tracker);
    const viaView = view.collection('notes').insert({ a: 1 });
    expect(tracker.size).toBe(1);
    await repo.collection('notes').insert({ a: 2 }); // not through the view
    await viaView;
    expect(tracker.size).toBe(1);
    const tracked = repo.collection('notes').tracked(tracker);
    await tracked.remove(1);
    expect(tracker.size).toBe(2);
    expect(view.collection('notes').list()).toEqual([{ id: 2, a: 2 }]);
    expect(tracked.count()).toBe(1);
    await tracker.durable();
    await repo.close();
  });

  it('carries its tracker on the repository view, and the repository itself carries none', async () => {
    const repo = await FileRepository.open({ file: tmp.file('db.json'), collections: { notes: { schema: looseSchema } } });
    const tracker = new ChangeTracker();
    expect(repo.tracked(tracker).tracker).toBe(tracker);
    expect(repo.tracker).toBeUndefined();
    await repo.close();
  });
});

describe('trackChanges()', () => {
  it('records the commits of changes queued inside it, also after awaits, and nothing outside', async () => {
    const repo = await FileRepository.open({ file: tmp.file('db.json'), collections: { notes: { schema: looseSchema } } });
    const notes = repo.collection('notes');
    const tracker = new ChangeTracker();
    await trackChanges(tracker, async () => {
      await notes.insert({ a: 1 });
      await new Promise((resolve) => setTimeout(resolve, 1));
      void notes.insert({ a: 2 });
    });
    const outside = notes.insert({ a: 3 });
    expect(tracker.size).toBe(2);
    await tracker.durable();
    expect(notes.get(2)).toEqual({ id: 2, a: 2 });
    await outside;
    await repo.close();
  });

  it('rejects durable() when a tracked change failed', async () => {
    const fs = new FaultyFs().fail({ call: 'fdatasync', code: 'EIO' });
    const repo = await FileRepository.open({ file: tmp.file('db.json'), collections: { notes: { schema: looseSchema } }, fs });
    const tracker = new ChangeTracker();
    trackChanges(tracker, () => void repo.collection('notes').insert({ a: 1 }).catch(() => undefined));
    await expect(tracker.durable()).rejects.toMatchObject({ code: 'FK_WRITE_FAILED' });
    fs.heal();
    await repo.close();
  });

  it('resolves at once when nothing was queued', async () => {
    await expect(new ChangeTracker().durable()).resolves.toBeUndefined();
  });
});
