/**
 * The SQL compilation of `$filter` returns exactly what the in-memory evaluator (the oracle,
 * `src/odata/evaluate.ts`) accepts, on every backend: same ids, same order, same count, and never a
 * row of another tenant (house style §2; issue 2 "Tests that must exist").
 *
 * Reproduce a failure with `BULWARK_ORACLE_SEED=<seed printed in the message>`;
 * `BULWARK_ORACLE_FILTERS=<n>` runs more generated filters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FilterNode } from '../../src/odata/ast.js';
import { evaluateFilter } from '../../src/odata/evaluate.js';
import { parseFilter } from '../../src/odata/filter-parser.js';
import type { SecurityAction } from '../../src/domain/security-action.js';
import { actionFields } from '../../src/storage/sql/action-rows.js';
import { backends } from '../helpers/backends.js';
import { generateFilter, seededRng } from '../odata/filter-generator.js';
import {
  buildAction, filterableProperties, generateActions, insertAll, listAllPages, openStore, propertyValue, subjectOf,
  type OpenStore,
} from './store-fixture.js';

const seed = Number(process.env['BULWARK_ORACLE_SEED'] ?? 20240601);
const filterCount = Number(process.env['BULWARK_ORACLE_FILTERS'] ?? 1200);

// Tenant ids are vocabulary strings, so `azureTenantId` filters match too; the second tenant
// differs only in case and must never appear.
const tenantA = 'Microsoft';
const tenantB = 'microsoft';
const tenantT = 'targeted';

interface Outcome {
  expected: string[];
  listed: string[];
  count: number;
  foreign: SecurityAction[];
}

async function runFilter(db: OpenStore, tenantId: string, actions: readonly SecurityAction[], filter: FilterNode): Promise<Outcome> {
  const expected = actions.filter((a) => evaluateFilter(filter, subjectOf(a))).map((a) => a.id);
  const { items } = await listAllPages(db.store, tenantId, { filter, orderBy: [], top: 1000 });
  const count = await db.store.count(tenantId, filter);
  return { expected, listed: items.map((a) => a.id), count, foreign: items.filter((a) => a.tenantId !== tenantId) };
}

/** Empty when SQL and the oracle agree; otherwise a readable account of the difference. */
function disagreement(o: Outcome, actions: readonly SecurityAction[]): string {
  const problems: string[] = [];
  if (o.foreign.length > 0) problems.push(`rows of other tenants: ${JSON.stringify(o.foreign.map((a) => [a.tenantId, a.id]))}`);
  if (JSON.stringify(o.listed) !== JSON.stringify(o.expected)) {
    const listed = new Set(o.listed);
    const expected = new Set(o.expected);
    const describe = (id: string) => {
      const a = actions.find((x) => x.id === id);
      if (!a) return JSON.stringify(id);
      const values = Object.fromEntries(filterableProperties.map((p) => [p, propertyValue(a, p)]));
      return JSON.stringify({ ...values, parameters: a.parameters });
    };
    const onlySql = o.listed.filter((id) => !expected.has(id));
    const onlyMemory = o.expected.filter((id) => !listed.has(id));
    problems.push(`list: ${o.listed.length} ids, oracle: ${o.expected.length}`);
    if (onlySql.length) problems.push(`only SQL (${onlySql.length}):\n  ${onlySql.slice(0, 3).map(describe).join('\n  ')}`);
    if (onlyMemory.length) problems.push(`only oracle (${onlyMemory.length}):\n  ${onlyMemory.slice(0, 3).map(describe).join('\n  ')}`);
    if (!onlySql.length && !onlyMemory.length) problems.push('same ids in a different order or with duplicates');
  }
  if (o.count !== o.expected.length) problems.push(`count: ${o.count}, oracle: ${o.expected.length}`);
  return problems.join('\n');
}

/** Node types and properties a filter AST uses, to prove the generated set covers the grammar. */
function collect(node: FilterNode, into: Set<string>): void {
  switch (node.type) {
    case 'compare':
      into.add(`${node.type}:${node.op}${node.value === null ? ':null' : ''}`).add(`property:${node.property}`);
      return;
    case 'in':
    case 'function':
      into.add(node.type === 'function' ? `function:${node.name}` : 'in').add(`property:${node.property}`);
      return;
    case 'and':
    case 'or':
      into.add(node.type);
      collect(node.left, into);
      collect(node.right, into);
      return;
    case 'not':
      into.add('not');
      collect(node.operand, into);
      return;
    case 'any':
      into.add('any');
      collect(node.predicate, into);
      return;
    case 'anyNonEmpty':
      into.add('anyNonEmpty');
      return;
    default:
      return node satisfies never;
  }
}

const all = ['null', 'alice', 'Alice', 'percent', 'underscore', 'quote', 'backslash', 'pua', 'emoji', 'empty'];
const except = (...ids: string[]) => all.filter((id) => !ids.includes(id));

/** Hand-built rows whose answers are written out below, independently of the oracle. */
function targetedActions(): SecurityAction[] {
  const t = (id: string, o: Partial<SecurityAction>) => buildAction({ tenantId: tenantT, id, ...o });
  return [
    t('null', {}),
    t('alice', {
      user: 'alice', clientContext: 'ctx', appId: 'app', completedAt: Date.parse('2024-01-01T00:00:00Z'),
      parameters: [{ name: 'IP', value: '203.0.113.7' }],
    }),
    t('Alice', { user: 'Alice', clientContext: 'Ctx', completedAt: Date.parse('2024-06-01T00:00:00Z'), parameters: [{ name: 'ip', value: null }] }),
    t('percent', { user: '100%', clientContext: 'a_b', parameters: [{ name: 'comment', value: '50%_off' }, { name: 'IP', value: '198.51.100.0/24' }] }),
    t('underscore', { user: '_x', clientContext: 'a%b' }),
    t('quote', { user: "O'Brien", clientContext: "it''s" }),
    t('backslash', { user: 'C:\\x\\', clientContext: '\\%' }),
    t('pua', { user: '\uE000', clientContext: 'z\uE000' }),
    t('emoji', { user: '😀', clientContext: 'z😀' }),
    t('empty', { user: '', clientContext: '' }),
  ];
}

const targetedCases: Record<string, Array<[filter: string, expected: string[]]>> = {
  'NULL semantics under not': [
    ['user eq null', ['null']],
    ['user ne null', except('null')],
    ['not (user eq null)', except('null')],
    ['not (user ne null)', ['null']],
    ["not (user eq 'alice')", except('alice')],
    ["not (user ne 'alice')", ['alice']],
    ["not (not (user eq 'alice'))", ['alice']],
    ["not (user gt 'a')", ['null', 'Alice', 'percent', 'underscore', 'quote', 'backslash', 'empty']],
    ["not (user le 'a' or user gt 'b')", ['null', 'alice']],
    ['not (completedDateTime lt 2030-01-01T00:00:00Z)', except('alice', 'Alice')],
    ['not (completedDateTime ge 2024-01-01T00:00:00Z and completedDateTime le 2024-12-31T00:00:00Z)', except('alice', 'Alice')],
    ["user eq 'alice' or not (clientContext ne 'Ctx')", ['alice', 'Alice']],
    ["startswith(user,'a') eq false", except('alice')],
    ["contains(user,'%') ne true", except('percent')],
  ],
  'ne on nullable columns': [
    ["user ne 'alice'", except('alice')],
    ["clientContext ne 'ctx'", except('alice')],
    ["appId ne 'app'", except('alice')],
    ['appId ne null', ['alice']],
    ['completedDateTime ne 2024-01-01T00:00:00Z', except('alice')],
    ["'alice' ne user", except('alice')],
    ["vendorInformation/provider ne 'x'", all],
  ],
  'in with nullable columns': [
    ["user in ('alice', 'Alice', 'nobody')", ['alice', 'Alice']],
    ["not (user in ('alice', 'Alice'))", except('alice', 'Alice')],
    ["user in ('')", ['empty']],
    ["not (appId in ('app'))", except('alice')],
    ['completedDateTime in (2024-01-01T00:00:00Z, 2024-06-01T01:00:00+01:00)', ['alice', 'Alice']],
    ['not (completedDateTime in (2024-01-01T00:00:00Z))', except('alice')],
  ],
  'string functions with LIKE metacharacters, quotes and case': [
    ["contains(user,'%')", ['percent']],
    ["startswith(user,'_')", ['underscore']],
    ["contains(clientContext,'_')", ['percent']],
    ["contains(clientContext,'%')", ['underscore', 'backslash']],
    ["endswith(clientContext,'%')", ['backslash']],
    ["startswith(clientContext,'\\%')", ['backslash']],
    ["contains(user,'\\')", ['backslash']],
    ["endswith(user,'\\')", ['backslash']],
    ["contains(user,'''')", ['quote']],
    ["clientContext eq 'it''''s'", ['quote']],
    ["startswith(user,'a')", ['alice']],
    ["startswith(user,'A')", ['Alice']],
    ["contains(clientContext,'tx')", ['alice', 'Alice']],
    ["contains(clientContext,'C')", ['Alice']],
    ["endswith(user,'Brien')", ['quote']],
    ["startswith(user,'')", except('null')],
    ["endswith(user,'')", except('null')],
    ["not contains(user,'')", ['null']],
    ["not startswith(user,'a')", except('alice')],
    ["endswith(user,'x\\\\')", []],
  ],
  'code-point ordering': [
    ["user gt '\uE000'", ['emoji']],
    ["user ge '\uE000' and user lt '😀'", ['pua']],
    ["user lt '\uE000'", except('null', 'pua', 'emoji')],
    ["user gt 'z'", ['pua', 'emoji']],
    ["clientContext gt 'z\uE000'", ['emoji']],
    ["'z😀' gt clientContext and clientContext ge 'z'", ['pua']],
    ["endswith(clientContext,'😀')", ['emoji']],
    ["startswith(user,'😀')", ['emoji']],
    ["contains(clientContext,'\uE000')", ['pua']],
    ["user lt 'B'", ['Alice', 'percent', 'empty']],
  ],
  'parameters lambda': [
    ['parameters/any(p: p/value eq null)', ['Alice']],
    ["parameters/any(p: p/value ne '203.0.113.7')", ['Alice', 'percent']],
    ["not parameters/any(p: p/name eq 'IP')", except('alice', 'percent')],
    ["parameters/any(p: p/name eq 'IP' and p/value eq '203.0.113.7')", ['alice']],
    ["parameters/any(p: p/name eq 'comment' and p/value eq '203.0.113.7')", []],
    ["parameters/any(p: p/name eq 'comment') and parameters/any(p: startswith(p/value, '198.'))", ['percent']],
    ["parameters/any(p: contains(p/value, '%_'))", ['percent']],
    ['parameters/any(p: not (p/value eq null))', ['alice', 'percent']],
    ["parameters/any(p: p/name in ('ip', 'IP'))", ['alice', 'Alice', 'percent']],
    ["parameters/any(p: p/name eq 'ip')", ['Alice']],
    ["parameters/any(p: p/value gt '3')", ['percent']],
    ["parameters/any(x: not (x/value in ('203.0.113.7')))", ['Alice', 'percent']],
  ],
  'parameters/any() (anyNonEmpty)': [
    ['parameters/any()', ['alice', 'Alice', 'percent']],
    ['not parameters/any()', except('alice', 'Alice', 'percent')],
    ['parameters/any() and user eq null', []],
    ['not parameters/any() and user eq null', ['null']],
    ['parameters/any() eq false', except('alice', 'Alice', 'percent')],
  ],
  'tenant scoping': [
    [`azureTenantId eq '${tenantT}'`, all],
    [`azureTenantId ne '${tenantT}'`, []],
    [`azureTenantId eq '${tenantA}'`, []],
    ["startswith(azureTenantId,'t')", all],
  ],
};

for (const backend of backends()) {
  describe(`$filter on ${backend.name}: SQL equals the in-memory oracle`, () => {
    let db: OpenStore;
    let actionsA: SecurityAction[];
    let actionsB: SecurityAction[];
    let targeted: SecurityAction[];

    beforeAll(async () => {
      // SQLite: a list query that examines more than 100 rows moves to the read worker, so the
      // generated filters run both ways (sqlite-reader.ts), and both must equal the oracle.
      db = await openStore(backend, { scanBudgetRows: 100 });
      const rng = seededRng(seed);
      actionsA = generateActions(rng, 320, tenantA, 'a');
      actionsB = generateActions(rng, 64, tenantB, 'b');
      targeted = targetedActions();
      // Interleaved, so the other tenants' rows sit between tenant A's in `seq` order.
      for (let i = 0; i < actionsA.length; i++) {
        await db.store.create(actionsA[i]!, null);
        if (i % 5 === 0) await insertAll(db.store, actionsB.slice(i / 5, i / 5 + 1));
        if (i % 32 === 0) await insertAll(db.store, targeted.slice(i / 32, i / 32 + 1));
      }
    }, 120_000);

    afterAll(async () => {
      await db?.close();
    });

    it('stores every generated action, and each tenant sees only its own', async () => {
      expect(actionsA.map((a) => propertyValue(a, 'azureTenantId'))).toEqual(actionsA.map(() => tenantA));
      for (const [tenant, actions] of [[tenantA, actionsA], [tenantB, actionsB], [tenantT, targeted]] as const) {
        const { items } = await listAllPages(db.store, tenant, { orderBy: [], top: 1000 });
        expect(items.map((a) => a.id)).toEqual(actions.map((a) => a.id));
        expect(items.map(actionFields)).toEqual(actions); // what went in comes back, field for field
        expect(await db.store.count(tenant)).toBe(actions.length);
      }
      // Nullable columns really hold NULLs, and the lambda has several parameters to choose from.
      expect(actionsA.filter((a) => a.user === null).length).toBeGreaterThan(30);
      expect(actionsA.filter((a) => a.completedAt === null).length).toBeGreaterThan(30);
      expect(actionsA.filter((a) => a.parameters.length >= 2).length).toBeGreaterThan(100);
    });

    it(`agrees on ${filterCount} generated filters (seed ${seed})`, async () => {
      const rng = seededRng(seed);
      const failures: string[] = [];
      const covered = new Set<string>();
      let none = 0;
      let every = 0;
      for (let i = 0; i < filterCount && failures.length < 5; i++) {
        const text = generateFilter(rng, i % 5);
        let filter: FilterNode;
        try {
          filter = parseFilter(text);
        } catch (e) {
          failures.push(`seed ${seed}, filter #${i} ${JSON.stringify(text)}: the generator's filter does not parse: ${String(e)}`);
          continue;
        }
        collect(filter, covered);
        const outcome = await runFilter(db, tenantA, actionsA, filter);
        const problem = disagreement(outcome, actionsA);
        if (problem) failures.push(`seed ${seed}, filter #${i} ${JSON.stringify(text)}:\n${problem}`);
        if (outcome.expected.length === 0) none++;
        if (outcome.expected.length === actionsA.length) every++;
      }
      expect(failures.join('\n\n'), `seed ${seed}`).toBe('');
      if (db.handle.reader) expect(db.handle.reader.offloaded, 'no list query went to the read worker').toBeGreaterThan(0);
      // The comparison is only worth something if the filters select real, partial subsets.
      expect(none + every, `seed ${seed}: too many trivial filters`).toBeLessThan(filterCount * 0.5);
      for (const p of filterableProperties) expect(covered, `seed ${seed}: no generated filter uses ${p}`).toContain(`property:${p}`);
      for (const kind of ['in', 'not', 'and', 'or', 'any', 'anyNonEmpty', 'function:startswith', 'function:endswith', 'function:contains', 'compare:eq:null', 'compare:ne:null', 'compare:ne', 'compare:lt']) {
        expect(covered, `seed ${seed}: no generated filter uses ${kind}`).toContain(kind);
      }
    }, 120_000);

    for (const [group, cases] of Object.entries(targetedCases)) {
      describe(group, () => {
        it.each(cases)('%s', async (text, expected) => {
          const filter = parseFilter(text);
          const outcome = await runFilter(db, tenantT, targeted, filter);
          expect(outcome.expected, 'the oracle disagrees with the hand-written answer').toEqual(expected);
          expect(disagreement(outcome, targeted)).toBe('');
        });
      });
    }
  });
}
