/**
 * `rowsTable` binds many rows as one derived table: on PostgreSQL as arrays (`unnest`), whose
 * elements node-postgres must quote and escape; on SQLite as a union of selects. Every value comes
 * back exactly as bound, on both stores — stored JSON states go through it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSql, rowsTable, type RowsColumn } from '../../src/storage/sql/raw-sql.js';
import { backends } from '../helpers/backends.js';
import { openStore, type OpenStore } from './store-fixture.js';

const columns: RowsColumn[] = [['n', 'bigint'], ['t', 'text'], ['x', 'bigint']];
const awkward = [
  '', 'plain', 'with,comma', '{braces}', '"quoted"', 'back\\slash', '\\"', 'NULL', 'null', ' spaced ', 'ü 🛡️ 中文',
  '[{"appId":null,"status":"Completed","updatedDateTime":"2026-11-24T12:00:00.000Z","user":"a\\"b","reason":"x, {y}"}]',
  'line\nbreak\ttab',
];

for (const backend of backends()) {
  describe(`rowsTable (${backend.name})`, () => {
    let s: OpenStore;
    beforeAll(async () => {
      s = await openStore(backend);
    });
    afterAll(async () => s?.close());

    it('returns every bound value unchanged, nulls included', async () => {
      const rows = awkward.map((t, i) => [i, t, i % 3 === 0 ? null : 9_007_199_254_740_991 - i]);
      rows.push([awkward.length, null, -1]);
      const v = rowsTable(s.handle.caps, columns, rows);
      const got = await runSql<{ n: number | string; t: string | null; x: number | string | null }>(s.handle.db, s.handle.caps, `select n, t, x from ${v.sql} order by n`, v.parameters);
      expect(got.rows.map((r) => [Number(r.n), r.t, r.x === null ? null : Number(r.x)])).toEqual(rows);
    });

    it('takes one row, and the same statement text for any number of rows on PostgreSQL', () => {
      const one = rowsTable(s.handle.caps, columns, [[1, 'a', 2]]);
      const many = rowsTable(s.handle.caps, columns, [[1, 'a', 2], [3, 'b', 4]]);
      if (backend.name === 'postgres') expect(many.sql).toBe(one.sql);
      else expect(many.sql).not.toBe(one.sql);
    });
  });
}
