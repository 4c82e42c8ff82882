/**
 * `$filter` values reach SQL only as bound parameters (issue 2 §6): hostile string literals come
 * back as literal values, matching exactly the stored rows that hold those strings, and every
 * table is still there afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { BulwarkError } from '../../src/domain/errors.js';
import type { SecurityAction } from '../../src/domain/security-action.js';
import { actionFields } from '../../src/storage/sql/action-rows.js';
import { parseFilter } from '../../src/odata/filter-parser.js';
import { backends } from '../helpers/backends.js';
import { buildAction, insertAll, listAllPages, openStore, type OpenStore } from './store-fixture.js';

const tenant = 'injection-tenant';

const hostile = [
  "'; drop table actions; --",
  "' or '1'='1",
  "x' or 1=1 --",
  "\\'; drop table action_parameters; --",
  "Robert'); DROP TABLE actions;--",
  '"; drop table apps; --',
  "' union select * from apps --",
  "%' --",
  "E'\\x27' || chr(39)",
  '$1',
  '?',
  ':tenant',
  '\\',
  "\\\\''",
  "''",
  '/* */',
  '\u2019 or \u20181\u2019=\u20181',
];

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;

function rows(): SecurityAction[] {
  const plain = ['plain-1', 'plain-2'].map((id) => buildAction({ tenantId: tenant, id, name: 'BlockIp', user: 'alice', clientContext: 'ctx' }));
  const attacks = hostile.map((h, i) =>
    buildAction({
      tenantId: tenant,
      id: `inj-${i}`,
      name: h,
      user: h,
      clientContext: `<${h}>`,
      parameters: [{ name: 'comment', value: h }, { name: 'IP', value: '203.0.113.7' }],
    }),
  );
  return [...plain, ...attacks];
}

for (const backend of backends()) {
  describe(`hostile $filter literals on ${backend.name}`, () => {
    let db: OpenStore;
    let stored: SecurityAction[];

    const ids = async (filterText: string, expectedLiteral: string): Promise<string[]> => {
      const filter = parseFilter(filterText);
      // The literal survives parsing unchanged, wherever it sits in the AST.
      expect(JSON.stringify(filter)).toContain(JSON.stringify(expectedLiteral));
      const { items } = await listAllPages(db.store, tenant, { filter, orderBy: [], top: 1000 });
      const count = await db.store.count(tenant, filter);
      expect(count).toBe(items.length);
      return items.map((a) => a.id);
    };
    const idsWhere = (predicate: (a: SecurityAction) => boolean) => stored.filter(predicate).map((a) => a.id);

    beforeAll(async () => {
      db = await openStore(backend);
      stored = rows();
      await insertAll(db.store, stored);
    }, 60_000);

    afterAll(async () => {
      await db?.close();
    });

    it.each(hostile.map((h, i) => [JSON.stringify(h), h, i] as const))('%s matches only as a literal value', async (_label, h, i) => {
      const own = [`inj-${i}`];
      expect(await ids(`name eq ${quote(h)}`, h)).toEqual(own);
      expect(await ids(`${quote(h)} eq user`, h)).toEqual(own);
      expect(await ids(`user in (${quote(h)}, 'nobody')`, h)).toEqual(own);
      expect(await ids(`parameters/any(p: p/value eq ${quote(h)})`, h)).toEqual(own);
      expect(await ids(`not (name ne ${quote(h)})`, h)).toEqual(own);
      expect(await ids(`name ne ${quote(h)}`, h)).toEqual(idsWhere((a) => a.name !== h));
      expect(await ids(`contains(clientContext, ${quote(h)})`, h)).toEqual(idsWhere((a) => a.clientContext!.includes(h)));
      expect(await ids(`startswith(user, ${quote(h)})`, h)).toEqual(idsWhere((a) => a.user!.startsWith(h)));
      expect(await ids(`endswith(clientContext, ${quote(`${h}>`)})`, `${h}>`)).toEqual(idsWhere((a) => a.clientContext!.endsWith(`${h}>`)));
    });

    it('rejects NUL and whole-statement injections with a 400 before any SQL runs', () => {
      for (const text of ["name eq 'a\u0000b'", "name eq 'x'; drop table actions", "name eq 'x' or 1=1", "name eq 'x' --"]) {
        let error: unknown;
        try {
          parseFilter(text);
        } catch (e) {
          error = e;
        }
        expect(error, text).toBeInstanceOf(BulwarkError);
        expect((error as BulwarkError).kind, text).toBe('badRequest');
      }
    });

    it('leaves every table and row in place', async () => {
      const { items } = await listAllPages(db.store, tenant, { orderBy: [], top: 1000 });
      expect(items.map(actionFields)).toEqual(stored);
      const { db: kysely, caps } = db.handle;
      const tables =
        caps.dialect === 'sqlite'
          ? await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(kysely)
          : await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(kysely);
      expect(tables.rows.map((r) => r.name)).toEqual(expect.arrayContaining(['actions', 'action_parameters', 'apps', 'meta']));
      const parameters = await kysely.selectFrom('action_parameters').select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
      expect(Number(parameters.n)).toBe(stored.reduce((n, a) => n + a.parameters.length, 0));
      await expect(kysely.selectFrom('apps').select('client_id').execute()).resolves.toEqual([]);
    });
  });
}
