/**
 * Keyset paging (`$skiptoken`) over random `$orderby` lists: following `next` to the end yields the
 * full in-memory order (`compareForOrder`: nulls first ascending / last descending, strings by code
 * point, status by enum member number, ties by insertion order in the direction of the last key),
 * every matching action exactly once; and a deep page is served from the index, not by OFFSET.
 *
 * Reproduce a failure with `BULWARK_KEYSET_SEED=<seed printed in the message>`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompiledQuery, createQueryId, sql, type KyselyPlugin, type RootOperationNode } from 'kysely';
import type { FilterNode, OrderByKey } from '../../src/odata/ast.js';
import { evaluateFilter } from '../../src/odata/evaluate.js';
import { parseFilter } from '../../src/odata/filter-parser.js';
import { parseOrderBy } from '../../src/odata/orderby-parser.js';
import { BulwarkError } from '../../src/domain/errors.js';
import type { SecurityAction } from '../../src/domain/security-action.js';
import type { ActionStore, KeysetPosition } from '../../src/storage/ports.js';
import { createSqlActionStore } from '../../src/storage/sql/action-store.js';
import { backends } from '../helpers/backends.js';
import { generateFilter, seededRng, type Rng } from '../odata/filter-generator.js';
import {
  generateActions, insertAll, listAllPages, openStore, pick, sortableProperties, sortInMemory, sortValue, subjectOf,
  type OpenStore,
} from './store-fixture.js';

const seed = Number(process.env['BULWARK_KEYSET_SEED'] ?? 7331);
const tenantA = 'tenant-a';
const tenantB = 'tenant-b';
const pageSizes = [1, 2, 3, 5, 7, 10, 16, 33, 50, 100, 1000];

/** 1–3 distinct sortable keys, mixed directions; status, dates and nullable columns all come up. */
function randomOrderBy(rng: Rng): OrderByKey[] {
  const count = 1 + Math.floor(rng() * 3);
  const keys: OrderByKey[] = [];
  while (keys.length < count) {
    const property = pick(rng, sortableProperties);
    if (keys.some((k) => k.property === property)) continue;
    keys.push({ property, direction: rng() < 0.5 ? 'asc' : 'desc' });
  }
  return keys;
}

const show = (keys: readonly OrderByKey[]) => keys.map((k) => `${k.property} ${k.direction}`).join(', ') || '(default)';

/** Pages `query` to the end and compares with `expected`; returns a description of any difference. */
async function pageThrough(
  store: ActionStore,
  query: { filter?: FilterNode; orderBy: OrderByKey[]; top: number; skip?: number },
  expected: readonly SecurityAction[],
): Promise<string> {
  const { pages, items } = await listAllPages(store, tenantA, query, expected.length + 5);
  const ids = items.map((a) => a.id);
  const want = expected.map((a) => a.id);
  const problems: string[] = [];
  const seen = new Set<string>();
  const duplicates = ids.filter((id) => seen.has(id) || !seen.add(id));
  if (duplicates.length) problems.push(`returned twice: ${duplicates.slice(0, 5).join(', ')}`);
  const missing = want.filter((id) => !seen.has(id));
  if (missing.length) problems.push(`never returned: ${missing.slice(0, 5).join(', ')}`);
  const foreign = items.filter((a) => a.tenantId !== tenantA);
  if (foreign.length) problems.push(`other tenants' rows: ${foreign.map((a) => a.id).join(', ')}`);
  if (!problems.length && JSON.stringify(ids) !== JSON.stringify(want)) {
    const at = ids.findIndex((id, i) => id !== want[i]);
    const values = (id: string | undefined) => {
      const a = expected.find((x) => x.id === id);
      return a ? JSON.stringify(query.orderBy.map((k) => sortValue(a, k.property))) : 'none';
    };
    problems.push(`order differs at ${at}: got ${ids[at]} ${values(ids[at])}, want ${want[at]} ${values(want[at])}`);
  }
  // Every page but the last is full; the last is never empty unless the whole result is.
  const sizes = pages.map((p) => p.length);
  const last = sizes.at(-1) ?? 0;
  if (sizes.slice(0, -1).some((n) => n !== query.top) || last > query.top || (last === 0 && sizes.length > 1)) {
    problems.push(`page sizes ${JSON.stringify(sizes)} for top ${query.top}`);
  }
  return problems.join('; ');
}

for (const backend of backends()) {
  describe(`keyset paging on ${backend.name}`, () => {
    let db: OpenStore;
    let actions: SecurityAction[];

    beforeAll(async () => {
      db = await openStore(backend);
      const rng = seededRng(seed);
      actions = generateActions(rng, 180, tenantA, 'a');
      const others = generateActions(rng, 45, tenantB, 'b');
      for (let i = 0; i < actions.length; i++) {
        await db.store.create(actions[i]!, null);
        if (i % 4 === 0) await insertAll(db.store, others.slice(i / 4, i / 4 + 1));
      }
    }, 120_000);

    afterAll(async () => {
      await db?.close();
    });

    it('pages the default order (seq) and status by member number, not by name', async () => {
      expect(await pageThrough(db.store, { orderBy: [], top: 7 }, actions)).toBe('');
      const byStatus = sortInMemory(actions, [{ property: 'status', direction: 'asc' }]);
      // Member order NotStarted < Running < Completed < Failed, which alphabetical order is not.
      expect([...new Set(byStatus.map((a) => a.status))]).toEqual(['NotStarted', 'Running', 'Completed', 'Failed']);
      expect(await pageThrough(db.store, { orderBy: parseOrderBy('status'), top: 10 }, byStatus)).toBe('');
      const desc = sortInMemory(actions, parseOrderBy('status desc, user'));
      expect(await pageThrough(db.store, { orderBy: parseOrderBy('status desc, user'), top: 9 }, desc)).toBe('');
      // Ties on the last key are broken by insertion order in that key's direction.
      const byName = sortInMemory(actions, parseOrderBy('name desc'));
      const firstTie = byName.findIndex((a, i) => i > 0 && a.name === byName[i - 1]!.name);
      expect(firstTie).toBeGreaterThan(0);
      expect(actions.indexOf(byName[firstTie]!)).toBeLessThan(actions.indexOf(byName[firstTie - 1]!));
      expect(await pageThrough(db.store, { orderBy: parseOrderBy('name desc'), top: 4 }, byName)).toBe('');
    });

    it('pages NULLs first ascending and last descending on nullable keys', async () => {
      for (const text of ['user', 'user desc', 'completedDateTime asc, vendorInformation/provider desc', 'expirationDateTime desc, appId asc']) {
        const keys = parseOrderBy(text);
        const expected = sortInMemory(actions, keys);
        const values = expected.map((a) => sortValue(a, keys[0]!.property));
        const nulls = values.filter((v) => v === null).length;
        expect(nulls).toBeGreaterThan(10);
        if (keys[0]!.direction === 'asc') expect(values.slice(0, nulls).every((v) => v === null)).toBe(true);
        else expect(values.slice(-nulls).every((v) => v === null)).toBe(true);
        expect(await pageThrough(db.store, { orderBy: keys, top: 6 }, expected), text).toBe('');
      }
    });

    it('pages random $orderby lists with random page sizes to exactly the in-memory order', async () => {
      const rng = seededRng(seed + 1);
      const failures: string[] = [];
      const keysUsed = new Set<string>();
      for (let i = 0; i < 45; i++) {
        const orderBy = randomOrderBy(rng);
        const top = pick(rng, pageSizes);
        orderBy.forEach((k) => keysUsed.add(k.property));
        const problem = await pageThrough(db.store, { orderBy, top }, sortInMemory(actions, orderBy));
        if (problem) failures.push(`seed ${seed}, case ${i}: $orderby=${show(orderBy)} $top=${top}: ${problem}`);
      }
      expect(failures.join('\n')).toBe('');
      expect([...keysUsed].sort()).toEqual([...sortableProperties].sort());
    }, 60_000);

    it('pages random $orderby lists under generated filters', async () => {
      const rng = seededRng(seed + 2);
      const failures: string[] = [];
      let nonTrivial = 0;
      for (let i = 0; i < 35; i++) {
        const text = generateFilter(rng, 1 + (i % 3));
        const filter = parseFilter(text);
        const orderBy = randomOrderBy(rng);
        const top = pick(rng, pageSizes);
        const matching = actions.filter((a) => evaluateFilter(filter, subjectOf(a)));
        if (matching.length > top && matching.length < actions.length) nonTrivial++;
        const problem = await pageThrough(db.store, { filter, orderBy, top }, sortInMemory(matching, orderBy));
        if (problem) failures.push(`seed ${seed}, case ${i}: $filter=${JSON.stringify(text)} $orderby=${show(orderBy)} $top=${top}: ${problem}`);
      }
      expect(failures.join('\n')).toBe('');
      expect(nonTrivial, 'filters that need several pages and exclude something').toBeGreaterThan(8);
    }, 60_000);

    it('applies $skip to the first page only, then follows the keyset', async () => {
      const rng = seededRng(seed + 3);
      const failures: string[] = [];
      for (let i = 0; i < 25; i++) {
        const orderBy = rng() < 0.2 ? [] : randomOrderBy(rng);
        const top = pick(rng, pageSizes.slice(1));
        const skip = pick(rng, [0, 1, 2, top - 1, top, top + 1, 37, actions.length - 1, actions.length, actions.length + 3].filter((n) => n >= 0));
        const expected = sortInMemory(actions, orderBy).slice(skip);
        // `skip` is repeated on every page, as @odata.nextLink repeats every original option.
        const problem = await pageThrough(db.store, { orderBy, top, skip }, expected);
        if (problem) failures.push(`seed ${seed}, case ${i}: $orderby=${show(orderBy)} $top=${top} $skip=${skip}: ${problem}`);
      }
      expect(failures.join('\n')).toBe('');
    }, 60_000);

    it('refuses a forged position with a 400 instead of a database error or a wrong page', async () => {
      // The $skiptoken's fingerprint is an unkeyed hash of the query, so a client can forge one.
      const forged: Array<[string, OrderByKey[], KeysetPosition]> = [
        ['a string for a date', parseOrderBy('createdDateTime'), { values: ['abc'], seq: 1 }],
        ['a fraction for a date', parseOrderBy('createdDateTime'), { values: [1704067200000.5], seq: 1 }],
        ['a number beyond BIGINT for a date', parseOrderBy('completedDateTime desc'), { values: [1e300], seq: 1 }],
        ['a status name instead of its member number', parseOrderBy('status'), { values: ['Running'], seq: 1 }],
        ['a member number that does not exist', parseOrderBy('status'), { values: [7], seq: 1 }],
        ['a number for a string', parseOrderBy('name'), { values: [5], seq: 1 }],
        ['a NUL in a string', parseOrderBy('user'), { values: ['a\u0000b'], seq: 1 }],
        ['a lone surrogate in a string', parseOrderBy('user'), { values: ['\uD800'], seq: 1 }],
        ['too few values', parseOrderBy('name, user'), { values: ['a'], seq: 1 }],
        ['too many values', [], { values: ['a'], seq: 1 }],
        ['a fractional seq', [], { values: [], seq: 1.5 }],
      ];
      for (const [label, orderBy, after] of forged) {
        const outcome = await db.store.list(tenantA, { orderBy, top: 5, after }).then(
          () => 'accepted',
          (e: unknown) => (e instanceof BulwarkError ? e.kind : `other error: ${String(e)}`),
        );
        expect(outcome, label).toBe('badRequest');
      }
      // A genuine position holding a NULL still passes the check and continues the order.
      const orderBy = parseOrderBy('completedDateTime desc, user');
      const expected = sortInMemory(actions, orderBy);
      const at = expected.findIndex((a) => a.completedAt === null && a.user !== null);
      const first = await db.store.list(tenantA, { orderBy, top: at + 1 });
      expect(first.next?.values).toEqual([null, expected[at]!.user]);
      const second = await db.store.list(tenantA, { orderBy, top: 3, after: first.next });
      expect(second.items.map((a) => a.id)).toEqual(expected.slice(at + 1, at + 4).map((a) => a.id));
    });

    it('fetches a deep page by keyset from a (tenant_id, seq) index, without OFFSET', async () => {
      const captured: RootOperationNode[] = [];
      const capture: KyselyPlugin = {
        transformQuery: ({ node }) => (captured.push(node), node),
        transformResult: async ({ result }) => result,
      };
      const store = createSqlActionStore({ db: db.handle.db.withPlugin(capture), caps: db.handle.caps, notifier: db.handle.notifier });
      let page = await store.list(tenantA, { orderBy: [], top: 10 });
      for (let n = 2; n <= 12; n++) page = await store.list(tenantA, { orderBy: [], top: 10, after: page.next });
      expect(page.items.map((a) => a.id)).toEqual(actions.slice(110, 120).map((a) => a.id));
      const deep = db.handle.db.getExecutor().compileQuery(captured.at(-1)!, createQueryId());
      expect(deep.sql).toMatch(/^select /i);
      expect(deep.sql).not.toMatch(/\boffset\b/i);
      expect(deep.sql).toMatch(/\blimit\b/i);

      if (db.handle.caps.dialect === 'sqlite') {
        const plan = await db.handle.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${deep.sql}`, [...deep.parameters]));
        const details = plan.rows.map((r) => r.detail);
        // The scan starts inside the index at (tenant, last seq) and needs no sort.
        expect(details.join(' | ')).toMatch(/SEARCH actions USING (?:COVERING )?INDEX \w+ \(tenant_id=\? AND seq>\?\)/);
        expect(details.join(' | ')).not.toMatch(/TEMP B-TREE/);
      } else {
        const plan = await db.handle.db.transaction().execute(async (trx) => {
          // On a table this small a sequential scan is cheaper; forbid it (and bitmap scans, which
          // lose the order) so the plan shows whether an ordered index scan CAN serve the page.
          await sql`set local enable_seqscan = off`.execute(trx);
          await sql`set local enable_bitmapscan = off`.execute(trx);
          const result = await trx.executeQuery<{ 'QUERY PLAN': unknown }>(
            CompiledQuery.raw(`explain (format json) ${deep.sql}`, [...deep.parameters]),
          );
          return JSON.stringify(result.rows[0]?.['QUERY PLAN']);
        });
        expect(plan).toMatch(/"Node Type":"Index Scan"/);
        // Parameters may be shown bound ('tenant-a'::text) or as $n, depending on the plan kind.
        expect(plan).toMatch(/"Index Cond":"\(\(tenant_id = [^()]+\) AND \(seq > [^()]+\)\)"/);
        expect(plan).not.toMatch(/"Node Type":"Sort"/);
      }
    });
  });
}
