/**
 * The API's reads (get, list, count) see committed data only, and never wait for a write
 * transaction that is open: on SQLite they go through a read-only connection of their own
 * (src/storage/sql/sqlite-reader.ts), on PostgreSQL through another pooled connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionFields, actionSelection, actionToRow, rowFromValues } from '../../src/storage/sql/action-rows.js';
import { backends } from '../helpers/backends.js';
import { buildAction, insertAll, openStore, type OpenStore } from './store-fixture.js';

const tenant = '11111111-2222-4333-8444-555555555555';
const committed = buildAction({ tenantId: tenant, id: '0f000000-0000-4000-8000-000000000001', status: 'Completed' });
const pending = buildAction({ tenantId: tenant, id: '0f000000-0000-4000-8000-000000000002', status: 'Completed', createdAt: 1704067300000 });

for (const backend of backends()) {
  describe(`reads during an open write transaction on ${backend.name}`, () => {
    let db: OpenStore;

    beforeAll(async () => {
      db = await openStore(backend);
      await insertAll(db.store, [committed]);
    });

    afterAll(async () => {
      await db?.close();
    });

    it('answer at once with the committed rows, and see the new row once it commits', async () => {
      const seenInside = await db.handle.db.transaction().execute(async (trx) => {
        await trx.insertInto('actions').values(actionToRow(pending)).execute();
        // Bounded: a read that queued behind this transaction would never answer before it ends.
        const reads = Promise.all([
          db.store.get(tenant, pending.id),
          db.store.get(tenant, committed.id),
          db.store.list(tenant, { orderBy: [], top: 10 }),
          db.store.count(tenant),
        ]);
        const timeout = new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 3000));
        return Promise.race([reads, timeout]);
      });
      expect(seenInside, 'a read waited for the open write transaction').not.toBe('waited');
      const [uncommitted, old, page, n] = seenInside as Exclude<typeof seenInside, 'waited'>;
      expect(uncommitted).toBeUndefined();
      expect(old && actionFields(old)).toEqual(committed);
      expect(page.items.map((a) => a.id)).toEqual([committed.id]);
      expect(n).toBe(1);

      const after = await db.store.get(tenant, pending.id);
      expect(after && actionFields(after)).toEqual(pending);
      expect((await db.store.list(tenant, { orderBy: [], top: 10 })).items.map((a) => a.id)).toEqual([committed.id, pending.id]);
      expect(await db.store.count(tenant)).toBe(2);
    });
  });
}

describe('rowFromValues', () => {
  it('maps each value to the column at the same position of actionSelection', () => {
    const values = actionSelection.map((_, i) => `value ${i}`);
    const row = rowFromValues(values) as unknown as Record<string, unknown>;
    expect(Object.keys(row).sort()).toEqual([...actionSelection].sort());
    actionSelection.forEach((column, i) => expect(row[column], column).toBe(`value ${i}`));
  });
});
